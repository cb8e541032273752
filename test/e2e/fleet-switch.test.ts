import { expect } from "chai";
import { existsSync } from "node:fs";
import path from "node:path";
import onnxProto from "onnx-proto";
import { encodeFunctionData, parseEther, type Abi, type Address, type Hex } from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { requestInference, waitForJob, type JobOutcome } from "../../node/client/jobs.ts";
import { passOnLocalChain } from "../../node/dao/proposals.ts";
import { publishModel, type Published } from "../../node/dao/publish.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { versionKey } from "../../node/models/store.ts";
import { tinyMlpOnnx } from "../../node/models/tiny-onnx.ts";
import type { VersionView } from "../../node/models/versions-view.ts";
import { runnerConfig, spawnRunner, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";

/** Five providers: the three of the default roles and two more development accounts. */
const PROVIDERS = [4, 5, 6, 10, 11];
/** Clients of the stream: each sends one request at a time, so nonces never collide. */
const CLIENTS = [7, 8, 9];

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

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe().catch(() => null);
    if (got) return got;
    if (Date.now() > end) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(100);
  }
}

const modelsOf = async (r: RunnerProcess): Promise<VersionView[]> => ((await (await fetch(`${r.http}/ready`)).json()) as { details: { models: VersionView[] } }).details.models;

/**
 * Switch on the block (issue 12, must-show 1): five runners serve v1 of tiny-mlp under a steady
 * stream of jobs; v2 is published and every runner prefetches and warms it; the DAO activates it.
 * Every job requested after the activating block is served with v2, every earlier one with v1
 * (the version each job pinned, read from its JobRequested event, and the result hash each
 * delivery put on-chain: the two versions' outputs differ); no job fails. For each runner it
 * prints the blocks and milliseconds from the activating block to its first v2 result (printed,
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
    runners.push(...(await Promise.all(PROVIDERS.map((i) => spawnRunner(net, i, runnerConfig(net, i, overrides))))));
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
          const { jobId, job, block } = await requestInference(net.publicClient, net.record, wallet, { model: "tiny-mlp", inputs: sample.exampleInputs(), feePerProvider: parseEther("0.001"), deadlineInSeconds: 3600 });
          sent.push({ jobId, block, version: Number(job.version) });
        } catch (error) {
          streamErrors.push(error);
          await sleep(200);
        }
      }
    };
    streams = CLIENTS.map((i) => client(i)());
    const first = await until("ten v1 jobs requested", async () => sent.length >= 10 && sent, 60_000);
    const outcome = await waitForJob(net.publicClient, net.record, first[0]!.jobId, { timeoutMs: 60_000, fromBlock: first[0]!.block });
    expect(outcome.status).to.equal("delivered");
    expect(first.every((s) => s.version === 1)).to.equal(true);
  });

  it("every runner prefetches and warms v2 once it is published", async function () {
    v2 = await publishModel({
      publicClient: net.publicClient,
      record: net.record,
      publisher: net.members[0]!,
      content: net.publisher,
      model: { name: "tiny-mlp", weights: tinyMlpV2(), schema: sample.schema, runtime: sample.runtime, outputQuantum: sample.outputQuantum, minMemoryMB: sample.minMemoryMB, minFee: 0n },
    });
    expect(v2.version).to.equal(2);
    for (const r of runners) {
      await until(`runner ${r.index}: v2 warm`, async () => (await modelsOf(r)).some((v) => v.model === "tiny-mlp" && v.version === 2 && v.warm), 120_000);
    }
  });

  it("after the activating block every new job is served with v2, every earlier one with v1, none fails", async function () {
    await passOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members: net.members,
      description: "Activate tiny-mlp v2",
      actions: [{ target: net.record.contracts.ModelRegistry!.address, data: encodeFunctionData({ abi: loadArtifact("ModelRegistry").abi as Abi, functionName: "activateVersion", args: [v2.modelId, 2] }) }],
    });
    const { models, market } = conclaveContracts(net.record, net.publicClient);
    const [activated] = await net.publicClient.getContractEvents({ address: models.address, abi: models.abi, eventName: "VersionActivated", args: { modelId: v2.modelId }, fromBlock: BigInt(net.record.contracts.ModelRegistry!.block) }).then((ls) => ls.filter((l) => Number((l.args as { version: number }).version) === 2));
    expect(activated, "VersionActivated(v2)").to.not.equal(undefined);
    const activation = { block: activated!.blockNumber, index: activated!.transactionIndex };

    // The stream goes on until every runner has delivered a v2 result (each job is assigned to one).
    const v2ResultsBy = async () => {
      const logs = await net.publicClient.getContractEvents({ address: market.address, abi: market.abi, eventName: "ResultSubmitted", fromBlock: activation.block });
      const v2Jobs = new Set(sent.filter((s) => s.version === 2).map((s) => s.jobId));
      const by = new Set(logs.filter((l) => v2Jobs.has((l.args as { jobId: bigint }).jobId)).map((l) => (l.args as { provider: Address }).provider.toLowerCase()));
      return runners.every((r) => by.has(r.address.toLowerCase()));
    };
    await until("a v2 result from every runner", v2ResultsBy, 180_000);
    streaming = false;
    await Promise.all(streams);
    expect(streamErrors.map((e) => (e as Error).message.split("\n")[0]), "requests that failed").to.deep.equal([]);

    // Every job ends delivered; its pinned version follows the activating block.
    const outcomes = new Map<bigint, JobOutcome>();
    for (const s of sent) outcomes.set(s.jobId, await waitForJob(net.publicClient, net.record, s.jobId, { timeoutMs: 120_000, fromBlock: s.block }));
    const requested = await net.publicClient.getContractEvents({ address: market.address, abi: market.abi, eventName: "JobRequested", fromBlock: sent[0]!.block });
    const pinned = new Map(requested.map((l) => [(l.args as { jobId: bigint }).jobId, { version: Number((l.args as { job: { version: number } }).job.version), block: l.blockNumber, index: l.transactionIndex }]));
    const hashOf: Record<number, Set<Hex>> = { 1: new Set(), 2: new Set() };
    for (const s of sent) {
      const p = pinned.get(s.jobId)!;
      const after = p.block > activation.block || (p.block === activation.block && p.index > activation.index);
      expect(p.version, `job ${s.jobId} requested in block ${p.block} (activation: ${activation.block})`).to.equal(after ? 2 : 1);
      const o = outcomes.get(s.jobId)!;
      // Delivered; or already paid (settled) when the governance fast-forward passed its challenge window.
      expect(o.status, `job ${s.jobId}`).to.be.oneOf(["delivered", "settled"]);
      expect(o.deliveries).to.have.length(1);
      hashOf[p.version]!.add(o.deliveries[0]!.resultHash);
    }
    // Same input, one result per version, and the versions' results differ: each job ran the bytes it pinned.
    expect(hashOf[1]!.size, "v1 results").to.equal(1);
    expect(hashOf[2]!.size, "v2 results").to.equal(1);
    expect([...hashOf[1]!][0]).to.not.equal([...hashOf[2]!][0]);
    const v1Jobs = sent.filter((s) => pinned.get(s.jobId)!.version === 1).length;
    const v2Jobs = sent.length - v1Jobs;
    expect(v1Jobs).to.be.greaterThan(0);
    expect(v2Jobs).to.be.greaterThan(0);

    // Per runner: from the activating block to its first v2 result (printed, not asserted).
    const results = await net.publicClient.getContractEvents({ address: market.address, abi: market.abi, eventName: "ResultSubmitted", fromBlock: activation.block });
    const t0 = seenAt.get(activation.block);
    const lines = [`activation: block ${activation.block}; ${sent.length} jobs (${v1Jobs} on v1, ${v2Jobs} on v2), none failed`];
    for (const r of runners) {
      const first = results.find((l) => (l.args as { provider: Address }).provider.toLowerCase() === r.address.toLowerCase() && pinned.get((l.args as { jobId: bigint }).jobId)?.version === 2)!;
      const job = pinned.get((first.args as { jobId: bigint }).jobId)!;
      const seen = seenAt.get(first.blockNumber);
      const ms = t0 !== undefined && seen !== undefined ? `${seen - t0} ms` : "ms unknown";
      lines.push(
        `runner ${r.index} (${r.address}): first v2 result in block ${first.blockNumber}: ${first.blockNumber - activation.block} block(s), ${ms} after the activating block; ` +
          `that job was requested in block ${job.block} and answered ${first.blockNumber - job.block} block(s) later`,
      );
    }
    console.log(`      fleet switch (target: every runner within 1 block)\n${lines.map((l) => `        ${l}`).join("\n")}`);
  });

  it("retiring v1 evicts it from every runner: its cached file and its sessions in the worker processes", async function () {
    await passOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members: net.members,
      description: "Retire tiny-mlp v1",
      actions: [{ target: net.record.contracts.ModelRegistry!.address, data: encodeFunctionData({ abi: loadArtifact("ModelRegistry").abi as Abi, functionName: "retireVersion", args: [v2.modelId, 1] }) }],
    });
    for (const r of runners) {
      const views = await until(`runner ${r.index}: v1 evicted`, async () => {
        const vs = await modelsOf(r);
        return !vs.some((v) => v.model === "tiny-mlp" && v.version === 1) && vs;
      }, 60_000);
      expect(views.find((v) => v.model === "tiny-mlp" && v.version === 2)).to.include({ held: true, warm: true, role: "active" });
      expect(existsSync(path.join(r.dataDir, "models", `${versionKey({ modelId: v2.modelId, version: 1 })}.onnx`)), `runner ${r.index}: v1's cached file`).to.equal(false);
      const evictions = (await (await fetch(`${r.http}/metrics`)).text()).split("\n").find((l) => l.startsWith("conclave_model_evictions_total{") && l.includes('reason="retired"'));
      expect(Number(evictions?.split(" ").at(-1)), `runner ${r.index}: retired evictions`).to.be.at.least(1);
    }
  });
});
