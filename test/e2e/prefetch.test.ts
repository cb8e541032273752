import { expect } from "chai";
import { parseEther } from "viem";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { requestInference, waitForJob } from "../../node/client/jobs.ts";
import { passOnLocalChain } from "../../node/dao/proposals.ts";
import type { Published } from "../../node/dao/publish.ts";
import { sampleModel } from "../../node/models/samples.ts";
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
import { runnerMetric } from "../helpers/runner-metrics.ts";
import { jobOfWords } from "../../node/attest/job-words.ts";

interface Ready {
  ready: boolean;
  details: { models: VersionView[] };
}

const readyOf = async (r: RunnerProcess): Promise<Ready> => (await fetch(`${r.http}/ready`)).json() as Promise<Ready>;

/** Polls a runner's /ready until `test` holds for its model versions (the state, not a sleep). */
async function waitForVersions(
  r: RunnerProcess,
  what: string,
  test: (views: VersionView[]) => boolean,
  timeoutMs = 60_000,
): Promise<VersionView[]> {
  const end = Date.now() + timeoutMs;
  let last: VersionView[] = [];
  while (Date.now() < end) {
    last = (await readyOf(r).catch(() => null))?.details.models ?? last;
    if (test(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `runner ${r.index}: ${what} not reached within ${timeoutMs} ms; /ready models: ${JSON.stringify(last)}`,
  );
}

/** The sum of a Prometheus series on a runner's /metrics, over the lines with these labels. */
const find = (views: VersionView[], version: number) =>
  views.find((v) => v.model === "tiny-mlp" && v.version === version);

/**
 * Prefetch and warm (issue 12): a runner fetches, verifies and warms a newly published version of
 * a model it serves before the DAO activates it, so the activation downloads nothing; a runner
 * started later, whose backfill replays the whole history, prefetches only what is current.
 */
describe("runners prefetch and warm published versions before activation", function () {
  this.timeout(300_000);
  let net: Devnet;
  let runner: RunnerProcess;
  let late: RunnerProcess | undefined;
  let v2: Published;
  const sample = sampleModel("tiny-mlp");
  // Served by config: tiny-mlp only; silero is never fetched.
  const overrides = { models: { allow: ["tiny-mlp"], prefetch: true, prefetchConcurrency: 1 } };

  before(async function () {
    net = await startDevnet({ providers: [4, 5] });
    runner = (await spawnRunners(net, [4], overrides))[0]!;
  });
  after(async function () {
    await late?.stop();
    await runner?.stop();
    await net?.stop();
  });

  it("holds the active version of the models it serves, warm, from the start (and nothing else)", async function () {
    const views = await waitForVersions(runner, "tiny-mlp v1 warm", (vs) => find(vs, 1)?.warm === true);
    expect(find(views, 1)).to.include({ held: true, warm: true, role: "active", prefetch: "warm", downloads: 1 });
    expect(views.map((v) => v.modelId)).to.not.include(net.models["silero-vad-v5"]!.modelId);
  });

  it("fetches, verifies and warms v2 once it is published, before any activation", async function () {
    const downloadsBefore = await runnerMetric(runner, "conclave_model_weight_downloads_total");
    v2 = await publishSample(net, sample, tinyMlpOnnx(2));
    expect(v2.version).to.equal(2);
    const views = await waitForVersions(runner, "tiny-mlp v2 warm", (vs) => find(vs, 2)?.warm === true);
    expect(find(views, 2)).to.include({ held: true, warm: true, role: "candidate", prefetch: "warm", downloads: 1 });
    expect(find(views, 1)).to.include({ role: "active", warm: true });
    expect(await runnerMetric(runner, "conclave_model_weight_downloads_total")).to.equal(downloadsBefore + 1);
    expect(await runnerMetric(runner, "conclave_model_versions", { state: "warm" })).to.be.at.least(2);
    const status = (await conclaveContracts(net.record, net.publicClient).models.read.getVersion([v2.modelId, 2]))
      .status;
    expect(status, "v2 is still only Published").to.equal(1);
  });

  it("after the activation the first v2 job is served without fetching anything", async function () {
    const downloadsBefore = await runnerMetric(runner, "conclave_model_weight_downloads_total");
    const bytesBefore = await runnerMetric(runner, "conclave_ipfs_bytes_fetched_total");
    await passOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members: net.members,
      description: "Activate tiny-mlp v2",
      actions: [activateAction(net.record, v2.modelId, 2)],
    });
    const { jobId } = await requestInference(net.publicClient, net.record, net.wallet(7), {
      model: "tiny-mlp",
      inputs: sample.exampleInputs(),
      feePerProvider: parseEther("0.01"),
    });
    const requested = await net.publicClient.getContractEvents({
      address: net.record.contracts.InferenceMarket!.address,
      abi: conclaveContracts(net.record, net.publicClient).market.abi,
      eventName: "JobRequested",
      args: { jobId },
      fromBlock: 0n,
    });
    expect(jobOfWords(requested[0]!.args.job!).version, "the job is pinned to the new active version").to.equal(2);
    const outcome = await waitForJob(net.publicClient, net.record, jobId, { timeoutMs: 60_000 });
    expect(outcome.status).to.equal("delivered");
    expect(outcome.deliveries[0]!.provider.toLowerCase()).to.equal(runner.address.toLowerCase());
    expect(
      await runnerMetric(runner, "conclave_model_weight_downloads_total"),
      "no weights fetched by the activation or the job",
    ).to.equal(downloadsBefore);
    expect(
      await runnerMetric(runner, "conclave_ipfs_bytes_fetched_total"),
      "no IPFS bytes at all (the input is inline)",
    ).to.equal(bytesBefore);
    const views = (await readyOf(runner)).details.models;
    expect(find(views, 2)).to.include({ role: "active", warm: true, downloads: 1 });
    // v1 is deprecated now: still held for jobs pinned to it, no longer prefetched.
    expect(find(views, 1)).to.include({ held: true, role: null });
  });

  it("a runner started later prefetches only what is current, not the history its backfill replays", async function () {
    late = (await spawnRunners(net, [5], overrides))[0]!;
    const views = await waitForVersions(late, "tiny-mlp v2 warm", (vs) => find(vs, 2)?.warm === true);
    expect(find(views, 2)).to.include({ role: "active", downloads: 1 });
    // The backfill saw v1 published and activated: it is deprecated now, so it is not fetched.
    expect(find(views, 1)).to.equal(undefined);
    expect(await runnerMetric(late, "conclave_model_weight_downloads_total")).to.equal(1);
    expect(await runnerMetric(late, "conclave_model_prefetches_total", { outcome: "warm" })).to.equal(1);
  });
});
