import { expect } from "chai";
import { readFileSync, writeFileSync } from "node:fs";
import { parseEther } from "viem";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { requestInference, waitForJob } from "../../node/client/jobs.ts";
import { mined } from "../../node/dao/proposals.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { cliFor, expectFailure, expectOk, type CliRun } from "../helpers/cli-process.ts";
import { runnerConfig, spawnRunner, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { testDir } from "../helpers/temp-dir.ts";

interface FleetJson {
  block: number;
  providers: {
    address: string;
    status: string;
    eligible: boolean;
    served: number;
    disagreed: number;
    results: number;
    runner: {
      url: string;
      source: string;
      reachable: boolean;
      ready: boolean | null;
      blocksBehind: number | null;
      versions: { model: string; version: number; held: boolean; warm: boolean; role: string | null }[];
    } | null;
  }[];
  summary: { providers: number; eligible: number; runners: number; reachable: number; ready: number };
  notReady: string[];
}

/**
 * `conclave fleet` against a local network with two runners (issue 12): one found through the
 * deployment file's `runners` list, the other through its provider's metadata URI (an http URL it
 * set on-chain). Versions held and warm, readiness, blocks behind and the chain's job counts;
 * `--check` exits 3 once a runner is gone.
 */
describe("conclave fleet: providers and their runners at a glance", function () {
  this.timeout(300_000);
  let net: Devnet;
  const runners: RunnerProcess[] = [];
  let conclave: (args: string[], env?: Record<string, string>) => Promise<CliRun>;
  const sample = sampleModel("tiny-mlp");
  const fleet = async (args: string[] = []) => expectOk(await conclave(["fleet", ...args])) as unknown as FleetJson;
  const byAddress = (f: FleetJson, r: RunnerProcess) =>
    f.providers.find((p) => p.address.toLowerCase() === r.address.toLowerCase())!;

  before(async function () {
    net = await startDevnet({ providers: [4, 5], models: [sample] });
    for (const i of [4, 5])
      runners.push(await spawnRunner(net, i, runnerConfig(net, i, { models: { allow: ["tiny-mlp"] } })));
    // Runner 4 is listed in the deployment file, as `npm start` lists its runners.
    const record = JSON.parse(readFileSync(net.deploymentFile, "utf8")) as Record<string, unknown>;
    writeFileSync(
      net.deploymentFile,
      JSON.stringify({ ...record, runners: [{ address: runners[0]!.address, http: runners[0]!.http }] }),
    );
    // Provider 5 publishes its runner's URL as its metadata URI.
    const p5 = conclaveContracts(net.record, net.wallet(5));
    const current = await p5.providers.read.getProvider([runners[1]!.address]);
    await mined(
      net.publicClient,
      p5.providers.write.updateCapabilities([
        { memoryMB: current.memoryMB, accelerator: current.accelerator, region: current.region, tags: current.tags },
        `${runners[1]!.http}/`,
      ]),
    );
    conclave = cliFor({
      rpc: net.node.rpcUrl,
      deployment: net.deploymentFile,
      cwd: testDir("conclave-fleet-"),
    });
  });
  after(async function () {
    await Promise.all(runners.map((r) => r.stop()));
    await net?.stop();
  });

  it("lists both providers with their runners: versions held and warm, ready, blocks behind", async function () {
    let f: FleetJson | undefined;
    for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
      f = await fleet();
      if (
        f.summary.ready === 2 &&
        runners.every((r) => byAddress(f!, r).runner?.versions.some((v) => v.model === "tiny-mlp" && v.warm))
      )
        break;
    }
    expect(f!.summary).to.deep.equal({ providers: 2, eligible: 2, runners: 2, reachable: 2, ready: 2 });
    expect(f!.notReady).to.deep.equal([]);
    const [a, b] = [byAddress(f!, runners[0]!), byAddress(f!, runners[1]!)];
    expect(a.runner).to.include({ url: runners[0]!.http, source: "deployment", reachable: true, ready: true });
    expect(b.runner).to.include({ url: runners[1]!.http, source: "metadata", reachable: true, ready: true });
    for (const p of [a, b]) {
      expect(p).to.include({ status: "Approved", eligible: true });
      expect(p.runner!.blocksBehind).to.be.a("number").and.at.least(0);
      expect(p.runner!.versions.find((v) => v.model === "tiny-mlp" && v.version === 1)).to.include({
        held: true,
        warm: true,
        role: "active",
      });
    }
  });

  it("counts the results a provider delivered, from the chain", async function () {
    const { jobId, block } = await requestInference(net.publicClient, net.record, net.wallet(7), {
      model: "tiny-mlp",
      inputs: sample.exampleInputs(),
      feePerProvider: parseEther("0.001"),
    });
    const outcome = await waitForJob(net.publicClient, net.record, jobId, { timeoutMs: 60_000, fromBlock: block });
    expect(outcome.status).to.equal("delivered");
    const f = await fleet();
    const deliverer = f.providers.find(
      (p) => p.address.toLowerCase() === outcome.deliveries[0]!.provider.toLowerCase(),
    )!;
    expect(deliverer.results).to.equal(1);
    expect(f.providers.reduce((n, p) => n + p.results, 0)).to.equal(1);
  });

  it("--check exits 3 when a provider taking jobs has no ready runner; plain fleet still exits 0", async function () {
    expect((await conclave(["fleet", "--check"])).code).to.equal(0);
    await runners[1]!.stop();
    const checked = await conclave(["fleet", "--check", "--timeout", "500"]);
    expect(checked.code, checked.stderr).to.equal(3);
    expect(checked.stderr.split("\n").filter((l) => l.startsWith("conclave: "))).to.have.length(1);
    expect((checked.json as unknown as FleetJson).notReady.map((a) => a.toLowerCase())).to.deep.equal([
      runners[1]!.address.toLowerCase(),
    ]);
    const f = await fleet(["--timeout", "500"]);
    expect(byAddress(f, runners[1]!).runner).to.include({ reachable: false, ready: null });
    expect(f.summary).to.include({ reachable: 1, ready: 1 });
  });

  it("help, and one-line errors with exit 1", async function () {
    const help = await conclave(["fleet", "--help"]);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.contain("Usage: conclave fleet");
    expectFailure(await conclave(["fleet", "--timeout", "soon"]), /--timeout must be an integer/, "REQUEST_INVALID");
    expectFailure(await conclave(["fleet", "extra"]), /takes 0 argument/, "USAGE");
    expectFailure(await conclave(["fleet", "--bogus"]), /Unknown option/, "USAGE");
  });
});
