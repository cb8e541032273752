import { expect } from "chai";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { sampleModel } from "../../node/models/samples.ts";
import type { VersionView } from "../../node/models/versions-view.ts";
import { runnerConfig, spawnRunner, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { runnerMetric } from "../helpers/runner-metrics.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function tinyWarm(r: RunnerProcess, timeoutMs = 60_000): Promise<VersionView> {
  for (const end = Date.now() + timeoutMs; ; await sleep(100)) {
    const views = await fetch(`${r.http}/ready`).then(
      async (res) => ((await res.json()) as { details: { models: VersionView[] } }).details.models,
      () => [],
    );
    const v = views.find((x) => x.model === "tiny-mlp" && x.version === 1);
    if (v?.warm) return v;
    if (Date.now() > end) throw new Error(`runner ${r.index}: tiny-mlp v1 not warm: ${JSON.stringify(views)}`);
  }
}

/**
 * The weights cache across runner restarts (issue 12): a restarted runner loads its cached file
 * without downloading; a cached file whose bytes changed on disk while it was down is caught by
 * its sha256 and fetched again.
 */
describe("runner weights cache: restarts, and a corrupted cached file", function () {
  this.timeout(300_000);
  let net: Devnet;
  let runner: RunnerProcess | undefined;
  const config = () => runnerConfig(net, 4, { models: { allow: ["tiny-mlp"] } }, dataDir);
  let dataDir: string;

  before(async function () {
    net = await startDevnet({ providers: [4], models: [sampleModel("tiny-mlp")] });
    dataDir = runnerConfig(net, 4).dataDir;
  });
  after(async function () {
    await runner?.stop();
    await net?.stop();
  });

  it("a restart reads the cached file: nothing downloaded", async function () {
    runner = await spawnRunner(net, 4, config());
    expect(await tinyWarm(runner)).to.include({ downloads: 1 });
    await runner.stop();
    runner = await spawnRunner(net, 4, config());
    expect(await tinyWarm(runner)).to.include({ held: true, downloads: 0 });
    expect(await runnerMetric(runner, "conclave_model_weight_downloads_total")).to.equal(0);
    await runner.stop();
  });

  it("bytes changed on disk are caught by the sha256 after a restart and fetched again", async function () {
    const dir = path.join(dataDir, "models");
    const [file] = readdirSync(dir).filter((f) => f.endsWith(".onnx"));
    const bytes = readFileSync(path.join(dir, file!));
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x55;
    writeFileSync(path.join(dir, file!), bytes);

    runner = await spawnRunner(net, 4, config());
    expect(await tinyWarm(runner)).to.include({ held: true, downloads: 1 });
    expect(await runnerMetric(runner, "conclave_model_cache_corrupt_total")).to.equal(1);
    expect(await runnerMetric(runner, "conclave_weights_rejected_total"), "the fetched bytes were fine").to.equal(0);
    expect(readFileSync(path.join(dir, file!)).equals(bytes)).to.equal(false);
  });
});
