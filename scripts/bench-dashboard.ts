#!/usr/bin/env node
// Benchmarks the dashboard against a local network holding --jobs jobs (default 1,000): the
// serving process's backfill of the event index, the page's first paint in headless Chromium, and
// how long after a new block the page shows it. Prints each figure against its target; never
// fails on a miss.
import path from "node:path";
import { parseArgs } from "node:util";
import { parseEther, type Hex } from "viem";
import { jobRequestOf } from "../node/client/jobs.ts";
import { conclaveContracts } from "../node/chain/contracts.ts";
import { ensureDashboardBuilt } from "../node/dashboard/assets.ts";
import { startDashboard } from "../node/dashboard/dashboard.ts";
import { DEV_ROLES } from "../node/devnet/accounts.ts";
import { startDevnet } from "../node/devnet/network.ts";
import { oneLine } from "../node/errors.ts";
import { silentLogger } from "../node/log.ts";
import { sampleModel } from "../node/models/samples.ts";
import { parseJsonTensors } from "../node/tensors/json-tensors.ts";
import { readFileSync } from "node:fs";
import { artifactsDir, browserMissing, launchChromium } from "../test/helpers/browser.ts";

const HELP = `Usage: npm run bench:dashboard [-- --jobs <n>] [--paints <n>] [--blocks <n>]

Starts a local network (a block a second), requests --jobs jobs (default 1000), starts the
dashboard and measures in headless Chromium (/usr/bin/chromium):
  backfill       the dashboard process indexing every event from the deployment blocks
  first paint    navigation to the first render of the page with its data (median of --paints, default 3)
  block update   a new block (seen by polling the node) to the page rendering it (median and
                 max of --blocks, default 8; a job is requested in each)`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const row = (name: string, value: number, target: number | null) =>
  console.log(
    `  ${name.padEnd(28)} ${`${value.toFixed(0)} ms`.padStart(10)}   ${target === null ? "" : `target ≤ ${target} ms  ${value <= target ? "PASS" : "MISS"}`}`,
  );

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: "string", default: "1000" },
      paints: { type: "string", default: "3" },
      blocks: { type: "string", default: "8" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(HELP);
  const jobs = Number(values.jobs);
  const missing = browserMissing();
  if (missing) throw new Error(missing);
  const staticDir = await ensureDashboardBuilt(console.log);
  console.log("starting a local network ...");
  const net = await startDevnet({ providers: [4], models: [sampleModel("tiny-mlp")], blockTimeSeconds: 1 });
  const browser = await launchChromium();
  try {
    const inputs = parseJsonTensors(
      readFileSync(path.join(import.meta.dirname, "..", "examples", "tiny-mlp.input.json"), "utf8"),
    );
    const { request, value } = await jobRequestOf(net.publicClient, net.record, {
      model: "tiny-mlp",
      inputs,
      feePerProvider: parseEther("0.001"),
      redundancy: 1,
      deadlineInSeconds: 3_600,
    });
    const clients = DEV_ROLES.clients.map((i) => net.wallet(i));
    const nonces = await Promise.all(
      clients.map((c) => net.publicClient.getTransactionCount({ address: c.account.address, blockTag: "pending" })),
    );
    const market = conclaveContracts(net.record, net.publicClient).market;
    const request1 = async (i: number): Promise<Hex> => {
      const c = i % clients.length;
      return clients[c]!.writeContract({
        address: market.address,
        abi: market.abi,
        functionName: "requestJob",
        args: [request],
        value,
        nonce: nonces[c]!++,
        gas: 1_000_000n,
      });
    };
    console.log(`requesting ${jobs} jobs ...`);
    const t0 = Date.now();
    const hashes: Hex[] = [];
    for (let i = 0; i < jobs; i++) hashes.push(await request1(i));
    await net.publicClient.waitForTransactionReceipt({ hash: hashes.at(-1)!, timeout: 300_000 });
    while (Number(await market.read.nextJobId()) - 1 < jobs) await new Promise((r) => setTimeout(r, 200));
    console.log(
      `  ${jobs} jobs on-chain in ${((Date.now() - t0) / 1000).toFixed(1)} s, head ${await net.publicClient.getBlockNumber()}`,
    );

    const tIndex = Date.now();
    const dashboard = await startDashboard({
      publicClient: net.publicClient,
      chain: net.chain,
      rpcUrl: net.node.rpcUrl,
      record: net.record,
      staticDir,
      log: silentLogger,
    });
    const backfill = Date.now() - tIndex;
    const snapshotBytes = dashboard.snapshot()!.length;

    const paints: number[] = [];
    const loads: number[] = [];
    for (let i = 0; i < Number(values.paints); i++) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const start = Date.now();
      await page.goto(dashboard.url);
      await page.waitForSelector("tr[data-job-id]");
      loads.push(Date.now() - start);
      paints.push(Number(await page.evaluate("window.conclave.firstRender")));
      await page.close();
    }

    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(dashboard.url);
    await page.waitForSelector("tr[data-job-id]");
    const updates: number[] = [];
    for (let i = 0; i < Number(values.blocks); i++) {
      const before = Number(await net.publicClient.getBlockNumber({ cacheTime: 0 }));
      await request1(jobs + i);
      let head = before;
      while (head <= before) head = Number(await net.publicClient.getBlockNumber({ cacheTime: 0 }));
      const seen = Date.now();
      await page.waitForFunction(`Number(document.body.dataset.head) >= ${head}`, undefined, { polling: "raf" });
      const at = Number(await page.evaluate(`window.conclave.renders.find((r) => r.head >= ${head}).at`));
      updates.push(at - seen);
    }
    await page.screenshot({ path: path.join(artifactsDir("bench-dashboard"), "1000-jobs.png"), fullPage: false });
    const shown = await page.locator("[data-testid=total-jobs]").textContent();
    await dashboard.close();

    console.log(
      `\ndashboard with ${jobs} jobs on-chain (page lists ${shown} jobs; snapshot ${(snapshotBytes / 1024).toFixed(0)} KiB):`,
    );
    row("backfill (index + snapshot)", backfill, null);
    row("first paint (median)", median(paints), 1_000);
    row("load to jobs listed (median)", median(loads), null);
    row("block → page (median)", median(updates), 1_000);
    row("block → page (max)", Math.max(...updates), 1_000);
    console.log(`  screenshot: ${path.join(artifactsDir("bench-dashboard"), "1000-jobs.png")}`);
  } finally {
    await browser.close();
    await net.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench:dashboard: ${oneLine(error)}`);
    process.exit(1);
  },
);
