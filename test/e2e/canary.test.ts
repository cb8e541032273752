import { expect } from "chai";
import onnxProto from "onnx-proto";
import { encodeFunctionData, getAddress, parseEther, zeroAddress, type Address, type Hex } from "viem";
import type { Job } from "../../node/attest/attestation.ts";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { requestInference, waitForJob } from "../../node/client/jobs.ts";
import { fastForward, mined, passOnLocalChain } from "../../node/dao/proposals.ts";
import type { Published } from "../../node/dao/publish.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { tinyMlpOnnx } from "../../node/models/tiny-onnx.ts";
import type { VersionView } from "../../node/models/versions-view.ts";
import type { RolloutPlan } from "../../node/rollouts/rules.ts";
import { publishSample, spawnRunners, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { until } from "../helpers/until.ts";
import { jobOfWords, jobWords } from "../../node/attest/job-words.ts";

/** Three providers (the default roles) and five clients, each sending one request at a time. */
const PROVIDERS = [4, 5, 6];
const CLIENTS = [7, 8, 9, 13, 14];
/** Version-0 requests sent while the good canary runs (the sample its share is measured on). */
const N_CANARY = 100;
const FEE = parseEther("0.001");
/** A k = 1 delivery may be challenged for this long before its runner claims it (and the job is counted). */
const CHALLENGE_WINDOW = 3;
const ROLLOUT_STATUS = { None: 0, Running: 1, Promoted: 2, Aborted: 3 } as const;
/** IInferenceMarketTypes.JobStatus values of an ended job. */
const SETTLED = 3;
const REFUNDED = 4;
const OPEN = 1;
const REVEALING = 2;

const { onnx } = onnxProto;

/** tiny-mlp with the output bias B2 shifted: a good candidate whose result hash tells it from v1. */
function shiftedTinyMlp(): Uint8Array {
  const model = onnx.ModelProto.decode(tinyMlpOnnx(2));
  model.graph!.initializer!.find((t) => t.name === "B2")!.rawData = new Uint8Array(new Float32Array([1, 0, -1]).buffer);
  return onnx.ModelProto.encode(model).finish();
}

/**
 * A bad candidate: tiny-mlp with uniform noise in [0, 4) added to its logits (ONNX
 * RandomUniformLike, no seed). onnxruntime seeds it per process from the clock, so every runner
 * computes other probabilities for the same input: a k = 3 job never reaches a quorum.
 */
function noisyTinyMlp(): Uint8Array {
  const model = onnx.ModelProto.decode(tinyMlpOnnx(3));
  const g = model.graph!;
  const softmax = g.node!.find((n) => n.opType === "Softmax")!;
  softmax.input = ["noisy"];
  g.node!.splice(
    g.node!.indexOf(softmax),
    0,
    {
      name: "noise",
      opType: "RandomUniformLike",
      input: ["logits"],
      output: ["noise"],
      attribute: [{ name: "high", type: onnx.AttributeProto.AttributeType.FLOAT, f: 4 }],
    },
    { name: "add_noise", opType: "Add", input: ["logits", "noise"], output: ["noisy"] },
  );
  return onnx.ModelProto.encode(model).finish();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const modelsOf = async (r: RunnerProcess): Promise<VersionView[]> =>
  ((await (await fetch(`${r.http}/ready`)).json()) as { details: { models: VersionView[] } }).details.models;

/** A job as its JobRequested event pinned it, and where that event is in the chain. */
interface Requested {
  jobId: bigint;
  job: Job;
  block: bigint;
  index: number;
}

/** Position of an event in the chain: (block, transaction index). */
interface At {
  block: bigint;
  index: number;
}
const isAfter = (a: At, b: At) => a.block > b.block || (a.block === b.block && a.index > b.index);

/**
 * Staged rollouts through the real market (issue 12, must-show "canary test"): three runner
 * processes, clients sending version-0 jobs, and the runners' rollout service acting on the
 * counters the market reports. A good 20 % canary is drawn for about a fifth of the requests
 * (binomial bounds), every job is served, and the runners promote it once its rule holds; a bad
 * candidate (outputs that differ between runners: k = 3 jobs without a quorum) is aborted by the
 * runners, every later request goes to the champion, every candidate job ends with its escrow
 * credited, the market's ETH balance is exactly what it owes, and no provider is slashed.
 */
describe("canary: staged rollouts through the market, promoted and aborted by the runners", function () {
  this.timeout(600_000);
  let net: Devnet;
  const runners: RunnerProcess[] = [];
  const sample = sampleModel("tiny-mlp");
  const modelId = () => net.models[sample.name]!.modelId;
  const contracts = () => conclaveContracts(net.record, net.publicClient);

  const publish = (weights: Uint8Array): Promise<Published> => publishSample(net, sample, weights);

  const startRollout = (plan: RolloutPlan) =>
    passOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members: net.members,
      description: `Roll out tiny-mlp v${plan.candidate} (canary ${plan.canaryBps / 100}%)`,
      actions: [
        {
          target: contracts().models.address,
          data: encodeFunctionData({
            abi: contracts().models.abi,
            functionName: "startRollout",
            args: [modelId(), plan],
          }),
        },
      ],
    });

  const rolloutStatus = async () => (await contracts().models.read.rolloutOf([modelId()]))[0].status;

  /**
   * Clients send version-0 requests, each one at a time: exactly `limit` of them, or until `limit`
   * says so. Returns the jobs in the order the chain holds them (from their JobRequested events).
   */
  async function stream(
    redundancy: number,
    limit: number | ((sent: bigint[]) => Promise<boolean>),
  ): Promise<Requested[]> {
    const sent: bigint[] = [];
    const errors: unknown[] = [];
    let streaming = true;
    let issued = 0;
    const fromBlock = await net.publicClient.getBlockNumber();
    const client = async (i: number) => {
      const wallet = net.wallet(i);
      while (streaming && (typeof limit !== "number" || issued < limit)) {
        issued++;
        try {
          const { jobId } = await requestInference(net.publicClient, net.record, wallet, {
            model: sample.name,
            inputs: sample.exampleInputs(),
            redundancy,
            feePerProvider: FEE,
            deadlineInSeconds: 3600,
          });
          sent.push(jobId);
        } catch (error) {
          errors.push(error);
          await sleep(200);
        }
      }
    };
    const clients = CLIENTS.map(client);
    try {
      if (typeof limit === "number") await Promise.all(clients);
      else await until("the stream's end condition", () => limit(sent), 300_000);
    } finally {
      streaming = false;
      await Promise.all(clients);
    }
    expect(
      errors.map((e) => (e as Error).message.split("\n")[0]),
      "requests that failed",
    ).to.deep.equal([]);
    const { market } = contracts();
    const logs = await net.publicClient.getContractEvents({
      address: market.address,
      abi: market.abi,
      eventName: "JobRequested",
      fromBlock,
    });
    const mine = new Set(sent);
    const jobs = logs
      .filter((l) => mine.has(l.args.jobId!))
      .map((l) => ({
        jobId: l.args.jobId!,
        job: jobOfWords(l.args.job!),
        block: l.blockNumber,
        index: l.transactionIndex,
      }));
    expect(jobs).to.have.length(sent.length);
    return jobs;
  }

  /** Waits until the job has ended on-chain (settled or refunded); finalizes it as its client would once it is stale. */
  async function ended(r: Requested): Promise<number> {
    const { market } = contracts();
    return until(
      `job ${r.jobId} ended`,
      async () => {
        const [status] = await market.read.jobState([r.jobId]);
        if (status === SETTLED || status === REFUNDED) return status;
        const block = await net.publicClient.getBlock();
        const last = r.job.redundancy === 1 ? r.job.deadline : r.job.commitDeadline;
        if ((status === OPEN || status === REVEALING) && block.timestamp > BigInt(last)) {
          const client = CLIENTS.find((i) => getAddress(net.wallet(i).account.address) === getAddress(r.job.client))!;
          await mined(
            net.publicClient,
            conclaveContracts(net.record, net.wallet(client)).market.write.finalize([r.jobId, jobWords(r.job)]),
          );
          console.log(`        finalized stale job ${r.jobId} as its client`);
        }
        return null;
      },
      240_000,
    );
  }

  let v2: Published;
  let v3: Published;

  before(async function () {
    // A short challenge window: k = 1 jobs are claimed, and counted, seconds after delivery.
    net = await startDevnet({ providers: PROVIDERS, models: [sample], params: { challengeWindow: CHALLENGE_WINDOW } });
    const overrides = {
      models: { allow: [sample.name], prefetch: true },
      // The bad candidate's probabilities are random: no abstaining near rounding boundaries.
      inference: { workers: 1, boundaryEpsilon: 0 },
      rollouts: { intervalMs: 500 },
    };
    runners.push(...(await spawnRunners(net, PROVIDERS, overrides)));
  });
  after(async function () {
    await Promise.all(runners.map((r) => r.stop()));
    await net?.stop();
  });

  it("a good 20 % canary gets a binomial share of version-0 jobs, every job is served, and the runners promote it", async function () {
    v2 = await publish(shiftedTinyMlp());
    expect(v2.version).to.equal(2);
    for (const r of runners)
      await until(
        `runner ${r.index}: v2 warm`,
        async () => (await modelsOf(r)).some((v) => v.version === 2 && v.warm),
        120_000,
      );
    // The minimum duration holds the promotion back until the sample of N requests is complete:
    // its size is fixed beforehand, not by when the rule happened to hold (no optional stopping).
    const plan: RolloutPlan = {
      candidate: 2,
      canaryBps: 2_000,
      minDuration: 600,
      promoteAfterJobs: 5,
      abortAfterJobs: 5,
      maxDisputedBps: 0,
      maxFailedBps: 0,
    };
    await startRollout(plan);
    const { models } = contracts();
    expect(await rolloutStatus()).to.equal(ROLLOUT_STATUS.Running);

    // N version-0 k = 1 jobs while the rollout runs: each goes to v2 with probability 20 %.
    const jobs = await stream(1, N_CANARY);
    expect(jobs).to.have.length(N_CANARY);
    const canary = jobs.filter((j) => j.job.version === 2);
    for (const j of jobs) {
      expect(j.job.version, `job ${j.jobId}`).to.be.oneOf([1, 2]);
      expect(j.job.counted, `job ${j.jobId} counted`).to.equal(j.job.version === 2);
    }
    const p = plan.canaryBps / 10_000;
    const sd = Math.sqrt((p * (1 - p)) / N_CANARY);
    const share = canary.length / N_CANARY;
    const [low, high] = [p - 4.5 * sd, p + 4.5 * sd];
    console.log(
      `        canary: ${canary.length} of ${N_CANARY} version-0 jobs went to v2: ${(share * 100).toFixed(1)} % (plan 20 %; 4.5 sd bounds ${(low * 100).toFixed(1)}-${(high * 100).toFixed(1)} %)`,
    );
    expect(share, "canary share").to.be.within(low, high);

    // Every job is served and paid (claimed after its challenge window); each version's result is its own.
    const hashes: Record<number, Set<Hex>> = { 1: new Set(), 2: new Set() };
    for (const j of jobs) {
      const outcome = await waitForJob(net.publicClient, net.record, j.jobId, {
        timeoutMs: 120_000,
        fromBlock: j.block,
      });
      expect(outcome.deliveries, `job ${j.jobId}`).to.have.length(1);
      hashes[j.job.version]!.add(outcome.deliveries[0]!.resultHash);
      expect(await ended(j), `job ${j.jobId}`).to.equal(SETTLED);
    }
    expect(hashes[1]!.size).to.equal(1);
    expect(hashes[2]!.size).to.equal(1);
    expect([...hashes[1]!][0]).to.not.equal([...hashes[2]!][0]);
    // The market counted every candidate job as settled; only the minimum duration is unmet.
    const [, counters] = await models.read.rolloutOf([modelId()]);
    expect({ settled: counters.settled, disputed: counters.disputed, failed: counters.failed }).to.deep.equal({
      settled: canary.length,
      disputed: 0,
      failed: 0,
    });
    expect(canary.length).to.be.at.least(plan.promoteAfterJobs);
    expect(await rolloutStatus()).to.equal(ROLLOUT_STATUS.Running);

    // Once the minimum duration is over, the runners promote v2 by themselves (no event: their timer).
    await fastForward(net.publicClient, plan.minDuration);
    await until("the runners to promote v2", async () => (await rolloutStatus()) === ROLLOUT_STATUS.Promoted, 60_000);
    const [promoted] = await models.getEvents.RolloutPromoted({ modelId: modelId() }, { fromBlock: 0n });
    expect(promoted!.args.candidate).to.equal(2);
    expect(
      runners.map((r) => r.address),
      "promoted by a runner",
    ).to.include(getAddress(promoted!.args.by!));
    expect((await models.read.getModel([modelId()])).activeVersion).to.equal(2);
    const at: At = { block: promoted!.blockNumber, index: promoted!.transactionIndex };

    // Later version-0 requests all resolve to v2 (not counted any more) and are served by it.
    const later = await stream(1, 2 * CLIENTS.length);
    for (const j of later) {
      expect(isAfter({ block: j.block, index: j.index }, at)).to.equal(true);
      expect({ job: j.jobId, version: j.job.version, counted: j.job.counted }).to.deep.equal({
        job: j.jobId,
        version: 2,
        counted: false,
      });
      const outcome = await waitForJob(net.publicClient, net.record, j.jobId, {
        timeoutMs: 120_000,
        fromBlock: j.block,
      });
      expect(outcome.deliveries.map((d) => d.resultHash)).to.deep.equal([...hashes[2]!]);
    }
    for (const j of later) expect(await ended(j), `job ${j.jobId}`).to.equal(SETTLED);
    console.log(
      `        promoted by ${promoted!.args.by} in block ${at.block}; ${later.length} later version-0 jobs, all served by v2`,
    );
  });

  it("a candidate whose outputs differ between runners is aborted by the runners; later jobs go to the champion; nothing is stranded, nobody slashed", async function () {
    v3 = await publish(noisyTinyMlp());
    expect(v3.version).to.equal(3);
    for (const r of runners)
      await until(
        `runner ${r.index}: v3 warm`,
        async () => (await modelsOf(r)).some((v) => v.version === 3 && v.warm),
        120_000,
      );
    const plan: RolloutPlan = {
      candidate: 3,
      canaryBps: 5_000,
      minDuration: 0,
      promoteAfterJobs: 10,
      abortAfterJobs: 2,
      maxDisputedBps: 0,
      maxFailedBps: 0,
    };
    await startRollout(plan);
    const { models, market } = contracts();

    // k = 3 jobs until the runners abort v3, then until some jobs were requested after that.
    let abortedAt: At | null = null;
    const jobs = await stream(3, async (sent) => {
      if (abortedAt === null) {
        if ((await rolloutStatus()) !== ROLLOUT_STATUS.Aborted) return false;
        const [event] = await models.getEvents.RolloutAborted({ modelId: modelId() }, { fromBlock: 0n });
        abortedAt = { block: event!.blockNumber, index: event!.transactionIndex };
      }
      const head = await net.publicClient.getBlockNumber();
      return sent.length > 0 && head > abortedAt.block + 3n;
    });
    const [aborted] = await models.getEvents.RolloutAborted({ modelId: modelId() }, { fromBlock: 0n });
    expect(aborted!.args).to.include({ candidate: 3, reason: "failed share above the plan's maximum" });
    expect(
      runners.map((r) => r.address),
      "aborted by a runner",
    ).to.include(getAddress(aborted!.args.by!));
    expect((await models.read.getModel([modelId()])).activeVersion).to.equal(2);
    const at: At = { block: aborted!.blockNumber, index: aborted!.transactionIndex };

    const candidate = jobs.filter((j) => j.job.version === 3);
    const later = jobs.filter((j) => isAfter({ block: j.block, index: j.index }, at));
    expect(candidate.length, "candidate jobs").to.be.at.least(plan.abortAfterJobs);
    expect(later.length).to.be.greaterThan(0);
    for (const j of candidate)
      expect(
        isAfter({ block: j.block, index: j.index }, at),
        `candidate job ${j.jobId} requested after the abort`,
      ).to.equal(false);
    for (const j of later)
      expect({ job: j.jobId, version: j.job.version, counted: j.job.counted }).to.deep.equal({
        job: j.jobId,
        version: 2,
        counted: false,
      });

    // Every job ends; the candidate's without a quorum (refunded in full), the champion's settled.
    const escrow = await market.read.escrowOf([3, FEE, Number(jobs[0]!.job.protocolFeeBps)]);
    for (const j of jobs) await ended(j);
    const all = await net.publicClient.getContractEvents({
      address: market.address,
      abi: market.abi,
      fromBlock: jobs[0]!.block,
    });
    const of = (jobId: bigint, name: string) =>
      all.filter((l) => l.eventName === name && (l.args as { jobId?: bigint }).jobId === jobId) as unknown as {
        args: Record<string, unknown>;
      }[];
    let refunded = 0;
    for (const j of jobs) {
      const settled = of(j.jobId, "JobSettled");
      const refunds = of(j.jobId, "JobRefunded");
      expect(settled.length + refunds.length, `job ${j.jobId}: one end`).to.equal(1);
      if (refunds.length === 1) {
        // Nothing kept back: the whole escrow is credited to the client.
        expect(refunds[0]!.args.amount, `job ${j.jobId} refund`).to.equal(escrow);
        refunded++;
      } else {
        const { agreeing, clientRefund } = settled[0]!.args as { agreeing: number; clientRefund: bigint };
        const paid = BigInt(agreeing) * FEE;
        expect(
          paid + (paid * BigInt(j.job.protocolFeeBps)) / 10_000n + clientRefund,
          `job ${j.jobId}: fees, protocol fee and refund`,
        ).to.equal(escrow);
      }
      if (j.job.version === 3)
        expect(
          refunds.map((l) => l.args.noQuorum),
          `candidate job ${j.jobId} refunded for no quorum`,
        ).to.deep.equal([true]);
      else expect(settled.length, `champion job ${j.jobId} settled`).to.equal(1);
    }
    const [, counters] = await models.read.rolloutOf([modelId()]);
    expect({ settled: counters.settled, disputed: counters.disputed, failed: counters.failed }).to.deep.equal({
      settled: 0,
      disputed: 0,
      failed: candidate.length,
    });
    console.log(
      `        bad candidate: ${candidate.length} of ${jobs.length} k = 3 jobs went to v3, all refunded without a quorum; aborted in block ${at.block} by ${aborted!.args.by}; ${later.length} later jobs, all on v2 (${refunded} refunds in all)`,
    );

    // Every counted job of the test was counted: no report was refused.
    const deployedAt = BigInt(net.record.contracts.InferenceMarket!.block);
    expect(
      await net.publicClient.getContractEvents({
        address: market.address,
        abi: market.abi,
        eventName: "RolloutCountFailed",
        fromBlock: deployedAt,
      }),
      "RolloutCountFailed events",
    ).to.deep.equal([]);

    // No provider was slashed, by any job of this test.
    const seatsSlashed = await net.publicClient.getContractEvents({
      address: market.address,
      abi: market.abi,
      eventName: "SeatSlashed",
      fromBlock: deployedAt,
    });
    expect(seatsSlashed, "SeatSlashed events").to.deep.equal([]);
    const { providers } = contracts();
    const slashed = await net.publicClient.getContractEvents({
      address: providers.address,
      abi: providers.abi,
      eventName: "ProviderSlashed",
      fromBlock: deployedAt,
    });
    expect(slashed, "ProviderSlashed events").to.deep.equal([]);

    // Nothing stranded: with every job ended, the market holds in ETH exactly the credits of the
    // clients and providers plus the protocol fees.
    const accounts: Address[] = [...CLIENTS.map((i) => net.wallet(i).account.address), ...net.providers];
    const credited = (await Promise.all(accounts.map((a) => market.read.balanceOf([a, zeroAddress])))).reduce(
      (a, b) => a + b,
      0n,
    );
    const fees = await market.read.protocolFees([zeroAddress]);
    const held = await net.publicClient.getBalance({ address: market.address });
    expect(held, "the market's ETH").to.equal(credited + fees);
  });
});
