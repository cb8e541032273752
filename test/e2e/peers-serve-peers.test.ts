import { expect } from "chai";
import { parseEther } from "viem";
import { requestInference, waitForJob } from "../../node/client/jobs.ts";
import { sampleModel } from "../../node/models/samples.ts";
import type { VersionView } from "../../node/models/versions-view.ts";
import { runnerConfig, spawnRunner, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { runnerMetric } from "../helpers/runner-metrics.ts";
import { until } from "../helpers/until.ts";

const tinyOf = async (r: RunnerProcess): Promise<VersionView | undefined> =>
  ((await (await fetch(`${r.http}/ready`)).json()) as { details: { models: VersionView[] } }).details.models.find(
    (v) => v.model === "tiny-mlp" && v.version === 1,
  );

/**
 * Peers serve peers (issue 12, must-show 3), on one host with explicit peer addresses: runner A
 * fetches tiny-mlp from the publisher's IPFS node and keeps it pinned (models.provide); the
 * publisher's node stops; runner B, started later with A's multiaddr (and the dead publisher's)
 * as its peers, still fetches, verifies and warms the weights — from A — and serves a job alone.
 * Runner C knows no IPFS peer at all, only A's trustless gateway (A's ipfs.gateway, C's
 * ipfs.gateways): it gets the weights over HTTP, checked block by block against their CIDs.
 * (Separate network namespaces per host are not used here: see the fleet notes.)
 */
describe("peers serve peers: a runner fetches weights from another runner once the publisher is gone", function () {
  this.timeout(300_000);
  let net: Devnet;
  let a: RunnerProcess;
  let b: RunnerProcess | undefined;
  let c: RunnerProcess | undefined;
  const sample = sampleModel("tiny-mlp");

  before(async function () {
    net = await startDevnet({ providers: [4, 5, 6], models: [sample] });
  });
  after(async function () {
    await c?.stop();
    await b?.stop();
    await a?.stop();
    await net?.stop();
  });

  it("runner A holds the weights, warm, and provides them to peers", async function () {
    a = await spawnRunner(
      net,
      4,
      runnerConfig(net, 4, {
        models: { allow: ["tiny-mlp"] },
        ipfs: { peers: net.publisher.multiaddrs(), fetchTimeoutMs: 20_000, gateway: "127.0.0.1:0" },
      }),
    );
    expect(a.gateway).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    await until("runner A: tiny-mlp v1 warm", async () => (await tinyOf(a))?.warm === true);
    await until("runner A: pinned for peers", () => a.logs.some((l) => l.includes("providing weights to peers")));
  });

  it("with the publisher gone, runner B gets them from A, verifies them and serves a job alone", async function () {
    const publisherAddrs = net.publisher.multiaddrs();
    await net.publisher.stop();
    b = await spawnRunner(
      net,
      5,
      runnerConfig(net, 5, {
        models: { allow: ["tiny-mlp"] },
        ipfs: { peers: [...publisherAddrs, ...a.ipfs], fetchTimeoutMs: 20_000 },
      }),
    );
    await until("runner B: tiny-mlp v1 warm", async () => (await tinyOf(b!))?.warm === true);
    expect(await tinyOf(b)).to.include({ held: true, warm: true, downloads: 1 });
    expect(await runnerMetric(b, "conclave_ipfs_bytes_fetched_total")).to.be.greaterThan(0);
    expect(await runnerMetric(b, "conclave_weights_rejected_total")).to.equal(0);

    // C: no IPFS peer to dial, only A's gateway; debug logs show where the weights came from.
    c = await spawnRunner(
      net,
      6,
      runnerConfig(net, 6, {
        models: { allow: ["tiny-mlp"] },
        ipfs: { peers: [], gateways: [a.gateway!], fetchTimeoutMs: 20_000 },
      }),
      { env: { CONCLAVE_LOG_LEVEL: "debug" } },
    );
    await until("runner C: tiny-mlp v1 warm", async () => (await tinyOf(c!))?.warm === true);
    expect(await tinyOf(c)).to.include({ held: true, warm: true, downloads: 1 });
    expect(await runnerMetric(c, "conclave_weights_rejected_total")).to.equal(0);
    expect(c.logs.some((l) => l.includes('"ipfs.fetched"') && l.includes(a.gateway!))).to.equal(true);
    await c.stop();

    // A goes too: the job can only be B's.
    await a.stop();
    const { jobId, block } = await requestInference(net.publicClient, net.record, net.wallet(7), {
      model: "tiny-mlp",
      inputs: sample.exampleInputs(),
      feePerProvider: parseEther("0.001"),
    });
    const outcome = await waitForJob(net.publicClient, net.record, jobId, { timeoutMs: 90_000, fromBlock: block });
    expect(outcome.status).to.equal("delivered");
    expect(outcome.deliveries[0]!.provider.toLowerCase()).to.equal(b.address.toLowerCase());
  });
});
