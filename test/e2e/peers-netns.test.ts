import { expect } from "chai";
import { parseEther } from "viem";
import { requestInference, waitForJob } from "../../node/client/jobs.ts";
import { sampleModel } from "../../node/models/samples.ts";
import type { VersionView } from "../../node/models/versions-view.ts";
import { runnerConfig, spawnRunner, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { createNetnsNetwork, netnsUnavailable, type NetnsNetwork } from "../helpers/netns.ts";
import { until } from "../helpers/until.ts";

const tinyOf = async (r: RunnerProcess): Promise<VersionView | undefined> =>
  ((await (await fetch(`${r.http}/ready`)).json()) as { details: { models: VersionView[] } }).details.models.find(
    (v) => v.model === "tiny-mlp" && v.version === 1,
  );

/**
 * Peers serve peers across hosts (issue 12): runners A and B each in a network namespace of its
 * own, with its own address on a bridge; the chain and the publisher's IPFS node are the test
 * process's (the root namespace), reached through the bridge. A fetches the weights from the
 * publisher; the publisher stops; B, given A's address, fetches them from A and serves a job
 * alone. Skipped, with the reason, where namespaces are not available (not root, not Linux).
 */
describe("peers serve peers across network namespaces", function () {
  this.timeout(300_000);
  const sample = sampleModel("tiny-mlp");
  let net: Devnet | undefined;
  let hosts: NetnsNetwork | undefined;
  let a: RunnerProcess | undefined;
  let b: RunnerProcess | undefined;

  before(function () {
    const reason = netnsUnavailable();
    if (reason) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
  });
  after(async function () {
    await b?.stop();
    await a?.stop();
    await net?.stop();
    await hosts?.cleanup();
  });

  it("runner B on its own host gets the weights from runner A's host after the publisher is gone", async function () {
    net = await startDevnet({ providers: [4, 5], models: [sample] });
    hosts = createNetnsNetwork(["a", "b"]);
    const [hostA, hostB] = hosts.hosts as [NetnsNetwork["hosts"][0], NetnsNetwork["hosts"][0]];
    const rpcPort = await hosts.forward(Number(new URL(net.node.rpcUrl).port));
    const [publisherAddr] = net.publisher.multiaddrs();
    const m = /^\/ip4\/127\.0\.0\.1\/tcp\/(\d+)\/p2p\/(\w+)$/.exec(publisherAddr!);
    expect(m, publisherAddr).to.not.equal(null);
    const publisher = `/ip4/${hosts.gateway}/tcp/${await hosts.forward(Number(m![1]))}/p2p/${m![2]}`;
    const on = (host: { address: string }, peers: string[]) => ({
      rpcUrl: `http://${hosts!.gateway}:${rpcPort}`,
      http: { host: host.address },
      ipfs: { listen: [`/ip4/${host.address}/tcp/0`], peers, fetchTimeoutMs: 20_000 },
      models: { allow: ["tiny-mlp"] },
    });

    a = await spawnRunner(net, 4, runnerConfig(net, 4, on(hostA, [publisher])), { prefix: hostA.exec });
    expect(a.http).to.contain(hostA.address);
    expect(
      a.ipfs.every((addr) => addr.startsWith(`/ip4/${hostA.address}/`)),
      a.ipfs.join(" "),
    ).to.equal(true);
    await until("runner A: tiny-mlp v1 warm", async () => (await tinyOf(a!))?.warm === true, 90_000);
    await until(
      "runner A: pinned for peers",
      async () => a!.logs.some((l) => l.includes("providing weights to peers")),
      90_000,
    );

    await net.publisher.stop();
    b = await spawnRunner(net, 5, runnerConfig(net, 5, on(hostB, [publisher, ...a.ipfs])), { prefix: hostB.exec });
    await until("runner B: tiny-mlp v1 warm", async () => (await tinyOf(b!))?.warm === true, 90_000);
    expect(await tinyOf(b)).to.include({ held: true, warm: true, downloads: 1 });

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
