import { expect } from "chai";
import { existsSync } from "node:fs";
import path from "node:path";
import onnxProto from "onnx-proto";
import { encodeFunctionData, parseEther, parseGwei, type Abi, type Address, type Hex } from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { jobRequestOf, requestedJob, requestInference, waitForJob, type JobOutcome } from "../../node/client/jobs.ts";
import { passOnLocalChain, queueOnLocalChain, type Proposal } from "../../node/dao/proposals.ts";
import type { Published } from "../../node/dao/publish.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { versionKey } from "../../node/models/store.ts";
import { tinyMlpOnnx } from "../../node/models/tiny-onnx.ts";
import type { VersionView } from "../../node/models/versions-view.ts";
import {
  activateAction,
  publishSample,
  spawnRunners,
  startDevnet,
  type Devnet,
  type RunnerProcess,
} from "../helpers/devnet.ts";
import { until } from "../helpers/until.ts";
import { jobOfWords } from "../../node/attest/job-words.ts";

/** Five providers: the three of the default roles and two more development accounts. */
const PROVIDERS = [4, 5, 6, 10, 11];
/** Clients of the stream: each sends one request at a time, so nonces never collide. */
const CLIENTS = [7, 8, 9];
/** The client of the k = 5 job requested in the activating block. */
const QUORUM_CLIENT = 12;

interface Sent {
  jobId: bigint;
  block: bigint;
  version: number;
}

/**
 * tiny-mlp v2 whose outputs differ from v1's (tinyMlpOnnx(2) alone computes the same outputs):
 * the output bias B2 shifted, so a job's result hash tells which version served it.
 */
function tinyMlpV2(): Uint8Array {
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(tinyMlpOnnx(2));
  const b2 = model.graph!.initializer!.find((t) => t.name === "B2")!;
  b2.rawData = new Uint8Array(new Float32Array([1, 0, -1]).buffer);
  return onnx.ModelProto.encode(model).finish();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const modelsOf = async (r: RunnerProcess): Promise<VersionView[]> =>
  ((await (await fetch(`${r.http}/ready`)).json()) as { details: { models: VersionView[] } }).details.models;

/**
 * Switch on the block (issue 12, must-show 1): five runners serve v1 of tiny-mlp under a steady
 * stream of jobs; v2 is published and every runner prefetches and warms it; the DAO activates it.
 * Every job requested after the activating block is served with v2, every earlier one with v1
 * (the version each job pinned, read from its JobRequested event, and the result hash each
 * delivery put on-chain: the two versions' outputs differ); no job fails. For each runner it
 * prints the blocks and milliseconds from the activating block to its first v2 output (printed,
 * not asserted: the CI machine has two cores for the chain, five runners and this client).
 */
describe("fleet: every runner switches to a newly activated version on the block", function () {
  this.timeout(600_000);
  let net: Devnet;
  const runners: RunnerProcess[] = [];
  const sample = sampleModel("tiny-mlp");
  let v2: Published;
  /** Wall time at which this test first saw each block (polled every 20 ms). */
  const seenAt = new Map<bigint, number>();
  let watching = true;
  let streaming = true;
  const sent: Sent[] = [];
  const streamErrors: unknown[] = [];
  let streams: Promise<void>[] = [];

  before(async function () {
    net = await startDevnet({ providers: PROVIDERS, models: [sample] });
    const overrides = { models: { allow: ["tiny-mlp"], prefetch: true }, inference: { workers: 1 } };
    runners.push(...(await spawnRunners(net, PROVIDERS, overrides)));
    void (async () => {
      while (watching) {
        const head = await net.publicClient.getBlockNumber({ cacheTime: 0 }).catch(() => null);
        if (head !== null && !seenAt.has(head)) seenAt.set(head, Date.now());
        await sleep(20);
      }
    })();
  });
  after(async function () {
    streaming = false;
    watching = false;
    await Promise.allSettled(streams);
    await Promise.all(runners.map((r) => r.stop()));
    await net?.stop();
  });

  it("serves v1 under a steady stream of jobs", async function () {
    const client = (i: number) => async () => {
      const wallet = net.wallet(i);
      while (streaming) {
        try {
          const { jobId, job, block } = await requestInference(net.publicClient, net.record, wallet, {
            model: "tiny-mlp",
            inputs: sample.exampleInputs(),
            feePerProvider: parseEther("0.001"),
            deadlineInSeconds: 3600,
          });
          sent.push({ jobId, block, version: Number(job.version) });
        } catch (error) {
          streamErrors.push(error);
          await sleep(200);
        }
      }
    };
    streams = CLIENTS.map((i) => client(i)());
    const first = await until("ten v1 jobs requested", async () => sent.length >= 10 && sent, 60_000);
    const outcome = await waitForJob(net.publicClient, net.record, first[0]!.jobId, {
      timeoutMs: 60_000,
      fromBlock: first[0]!.block,
    });
    expect(outcome.status).to.equal("delivered");
    expect(first.every((s) => s.version === 1)).to.equal(true);
  });

  it("every runner prefetches and warms v2 once it is published", async function () {
    v2 = await publishSample(net, sample, tinyMlpV2());
    expect(v2.version).to.equal(2);
    for (const r of runners) {
      await until(
        `runner ${r.index}: v2 warm`,
        async () => (await modelsOf(r)).some((v) => v.model === "tiny-mlp" && v.version === 2 && v.warm),
        120_000,
      );
    }
  });

  it("after the activating block every new job is served with v2, every earlier one with v1, none fails", async function () {
    const p = await queueOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members: net.members,
      description: "Activate tiny-mlp v2",
      actions: [activateAction(net.record, v2.modelId, 2)],
    });
    // A k = 1 job goes to the one runner its seed ranks first, so which runner gets a v2 job in
    // the activating block is chance. A k = 5 job in that same block, after the activation, seats
    // all five: each runner's first v2 output then shows how soon it switched, not its luck.
    const quorum = await activateWithQuorumJobAfter(p);
    expect(quorum.job.version, "the k = 5 job requested after the activation in its block").to.equal(2);
    const { market } = conclaveContracts(net.record, net.publicClient);
    const activation = quorum.activation;

    // The stream goes on until every runner has put a v2 output on-chain: a k = 1 result, or its
    // commitment to a k = 5 job (a commitment is the hash of the result it computed).
    const v2OutputsBy = async (): Promise<Map<string, { block: bigint; jobId: bigint }>> => {
      const v2Jobs = new Set([...sent.filter((s) => s.version === 2).map((s) => s.jobId), quorum.jobId]);
      const [results, commits] = await Promise.all([
        net.publicClient.getContractEvents({
          address: market.address,
          abi: market.abi,
          eventName: "ResultSubmitted",
          fromBlock: activation.block,
        }),
        net.publicClient.getContractEvents({
          address: market.address,
          abi: market.abi,
          eventName: "SeatCommitted",
          fromBlock: activation.block,
        }),
      ]);
      const first = new Map<string, { block: bigint; jobId: bigint }>();
      for (const l of [...results, ...commits].sort((a, b) => Number(a.blockNumber - b.blockNumber))) {
        const { jobId, provider } = l.args as { jobId: bigint; provider: Address };
        if (v2Jobs.has(jobId) && !first.has(provider.toLowerCase()))
          first.set(provider.toLowerCase(), { block: l.blockNumber, jobId });
      }
      return first;
    };
    const firstV2 = await until(
      "a v2 output from every runner",
      async () => {
        const by = await v2OutputsBy();
        return runners.every((r) => by.has(r.address.toLowerCase())) && by;
      },
      180_000,
    );
    streaming = false;
    await Promise.all(streams);
    expect(
      streamErrors.map((e) => (e as Error).message.split("\n")[0]),
      "requests that failed",
    ).to.deep.equal([]);

    // Every job ends delivered; its pinned version follows the activating block.
    const outcomes = new Map<bigint, JobOutcome>();
    for (const s of sent)
      outcomes.set(
        s.jobId,
        await waitForJob(net.publicClient, net.record, s.jobId, { timeoutMs: 120_000, fromBlock: s.block }),
      );
    const requested = await net.publicClient.getContractEvents({
      address: market.address,
      abi: market.abi,
      eventName: "JobRequested",
      fromBlock: sent[0]!.block,
    });
    const pinned = new Map(
      requested.map((l) => [
        (l.args as { jobId: bigint }).jobId,
        { version: jobOfWords(l.args.job!).version, block: l.blockNumber, index: l.transactionIndex },
      ]),
    );
    const hashOf: Record<number, Set<Hex>> = { 1: new Set(), 2: new Set() };
    for (const s of sent) {
      const p = pinned.get(s.jobId)!;
      const after = p.block > activation.block || (p.block === activation.block && p.index > activation.index);
      expect(p.version, `job ${s.jobId} requested in block ${p.block} (activation: ${activation.block})`).to.equal(
        after ? 2 : 1,
      );
      const o = outcomes.get(s.jobId)!;
      // Delivered; or already paid (settled) when the governance fast-forward passed its challenge window.
      expect(o.status, `job ${s.jobId}`).to.be.oneOf(["delivered", "settled"]);
      expect(o.deliveries).to.have.length(1);
      hashOf[p.version]!.add(o.deliveries[0]!.resultHash);
    }
    // The k = 5 job settles on the v2 result, revealed by all five.
    const quorumOutcome = await waitForJob(net.publicClient, net.record, quorum.jobId, {
      timeoutMs: 180_000,
      fromBlock: activation.block,
    });
    expect(quorumOutcome.status, "the k = 5 job").to.equal("settled");
    expect(quorumOutcome.deliveries, "the k = 5 job's reveals").to.have.length(PROVIDERS.length);
    hashOf[2]!.add(quorumOutcome.resultHash!);
    // Same input, one result per version, and the versions' results differ: each job ran the bytes it pinned.
    expect(hashOf[1]!.size, "v1 results").to.equal(1);
    expect(hashOf[2]!.size, "v2 results").to.equal(1);
    expect([...hashOf[1]!][0]).to.not.equal([...hashOf[2]!][0]);
    const v1Jobs = sent.filter((s) => pinned.get(s.jobId)!.version === 1).length;
    const v2Jobs = sent.length - v1Jobs;
    expect(v1Jobs).to.be.greaterThan(0);
    expect(v2Jobs).to.be.greaterThan(0);

    // Per runner: from the activating block to its first v2 output (printed, not asserted).
    const t0 = seenAt.get(activation.block);
    const lines = [
      `activation: block ${activation.block}; ${sent.length} k = 1 jobs (${v1Jobs} on v1, ${v2Jobs} on v2) and one k = 5 job on v2 in the activating block, none failed`,
    ];
    for (const r of runners) {
      const first = firstV2.get(r.address.toLowerCase())!;
      const job =
        first.jobId === quorum.jobId
          ? { block: activation.block, k: 5 }
          : { block: pinned.get(first.jobId)!.block, k: 1 };
      const seen = seenAt.get(first.block);
      const ms = t0 !== undefined && seen !== undefined ? `${seen - t0} ms` : "ms unknown";
      lines.push(
        `runner ${r.index} (${r.address}): first v2 output in block ${first.block}: ${first.block - activation.block} block(s), ${ms} after the activating block ` +
          `(a k = ${job.k} job requested in block ${job.block}, answered ${first.block - job.block} block(s) later)`,
      );
    }
    console.log(
      `      fleet switch (target: every runner within 1 block)\n${lines.map((l) => `        ${l}`).join("\n")}`,
    );
  });

  /**
   * Executes the queued activation and, in the same block after it, requests a k = 5 job: interval
   * mining pauses while both wait in the pool, the activation with the higher tip (mined first),
   * then one block is mined and interval mining resumes.
   */
  async function activateWithQuorumJobAfter(p: Proposal) {
    const rpc = (method: string, params: unknown[]) =>
      net.publicClient.request({ method: method as never, params: params as never });
    const member = net.members[0]!;
    const client = net.wallet(QUORUM_CLIENT);
    const { governor } = conclaveContracts(net.record, member);
    const { market } = conclaveContracts(net.record, client);
    const { request, value } = await jobRequestOf(net.publicClient, net.record, {
      model: "tiny-mlp",
      inputs: sample.exampleInputs(),
      redundancy: PROVIDERS.length,
      feePerProvider: parseEther("0.001"),
      deadlineInSeconds: 3600,
    });
    const base = (await net.publicClient.getBlock()).baseFeePerGas ?? 0n;
    const fees = (tip: bigint) => ({ maxPriorityFeePerGas: tip, maxFeePerGas: base * 4n + tip });
    const blockTime = net.node.blockTimeSeconds;
    await rpc("evm_setIntervalMining", [0]);
    try {
      const executeHash = await governor.write.execute([p.targets, p.values, p.calldatas, p.descriptionHash], {
        ...fees(parseGwei("5")),
        gas: 1_000_000n,
      });
      const requestHash = await market.write.requestJob([request], { value, ...fees(parseGwei("1")), gas: 1_000_000n });
      await until(
        "both transactions in the pool",
        async () =>
          (
            await Promise.all([executeHash, requestHash].map((hash) => net.publicClient.getTransaction({ hash })))
          ).every((t) => t.blockHash === null),
        10_000,
      );
      await rpc("evm_mine", []);
      const [executed, requested] = await Promise.all(
        [executeHash, requestHash].map((hash) => net.publicClient.waitForTransactionReceipt({ hash })),
      );
      expect(executed!.status, "execute").to.equal("success");
      expect(requested!.status, "the k = 5 request").to.equal("success");
      expect(requested!.blockNumber, "the k = 5 job's block").to.equal(executed!.blockNumber);
      expect(requested!.transactionIndex, "the k = 5 job's place in the block").to.be.greaterThan(
        executed!.transactionIndex,
      );
      return {
        ...requestedJob(requested!.logs),
        activation: { block: executed!.blockNumber, index: executed!.transactionIndex },
      };
    } finally {
      await net.node.setBlockTime(blockTime);
    }
  }

  it("retiring v1 evicts it from every runner: its cached file and its sessions in the worker processes", async function () {
    await passOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members: net.members,
      description: "Retire tiny-mlp v1",
      actions: [
        {
          target: net.record.contracts.ModelRegistry!.address,
          data: encodeFunctionData({
            abi: loadArtifact("ModelRegistry").abi as Abi,
            functionName: "retireVersion",
            args: [v2.modelId, 1],
          }),
        },
      ],
    });
    for (const r of runners) {
      const views = await until(
        `runner ${r.index}: v1 evicted`,
        async () => {
          const vs = await modelsOf(r);
          return !vs.some((v) => v.model === "tiny-mlp" && v.version === 1) && vs;
        },
        60_000,
      );
      expect(views.find((v) => v.model === "tiny-mlp" && v.version === 2)).to.include({
        held: true,
        warm: true,
        role: "active",
      });
      expect(
        existsSync(path.join(r.dataDir, "models", `${versionKey({ modelId: v2.modelId, version: 1 })}.onnx`)),
        `runner ${r.index}: v1's cached file`,
      ).to.equal(false);
      const evictions = (await (await fetch(`${r.http}/metrics`)).text())
        .split("\n")
        .find((l) => l.startsWith("conclave_model_evictions_total{") && l.includes('reason="retired"'));
      expect(Number(evictions?.split(" ").at(-1)), `runner ${r.index}: retired evictions`).to.be.at.least(1);
    }
  });
});
