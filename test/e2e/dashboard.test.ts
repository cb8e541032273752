import { expect } from "chai";
import { spawn } from "node:child_process";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { encodeFunctionData, type Address } from "viem";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { readDeployment, writeDeployment } from "../../node/chain/deployment.ts";
import { ensureDashboardBuilt } from "../../node/dashboard/assets.ts";
import { startDashboard, type Dashboard } from "../../node/dashboard/dashboard.ts";
import { passOnLocalChain, propose } from "../../node/dao/proposals.ts";
import { silentLogger } from "../../node/log.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { artifactsDir, browserMissing, launchChromium } from "../helpers/browser.ts";
import { runCli } from "../helpers/cli-process.ts";
import {
  devAccount,
  publishSample,
  spawnRunner,
  startDevnet,
  type Devnet,
  type RunnerProcess,
} from "../helpers/devnet.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** Runs `conclave <args> --json` as its own process, as a user would. */
const conclave = (args: string[]) => runCli([...args, "--json"]);

describe("conclave dashboard: usage and errors", function () {
  this.timeout(60_000);

  it("explains itself and fails with one line and a non-zero exit on bad input", async function () {
    const help = await conclave(["dashboard", "--help"]);
    expect(help.code).to.equal(0);
    const port = await conclave(["dashboard", "--port", "http"]);
    expect(port.code).to.equal(1);
    expect(port.json.code).to.equal("REQUEST_INVALID");
    expect(port.stderr.trim().split("\n")).to.have.length(1);
    const rpc = await conclave(["dashboard", "--rpc", "http://127.0.0.1:9", "--port", "0"]);
    expect(rpc.code).to.equal(1);
    expect(rpc.json.code).to.equal("RPC_UNREACHABLE");
    expect(rpc.stderr.trim().split("\n")).to.have.length(1);
  });
});

/**
 * The dashboard in a real browser against a local network: Anvil with a block a second, the
 * contracts, one provider with its runner, the dashboard process; Debian's Chromium headless.
 * Every wait is for a state on the page or the chain, never a fixed time.
 */
describe("dashboard in headless Chromium against a local network", function () {
  this.timeout(300_000);
  let net: Devnet;
  let runner: RunnerProcess;
  let dashboard: Dashboard;
  let browser: Browser;
  let page: Page;
  let deployment = "";
  let proposalId = 0n;
  const shots = artifactsDir("dashboard");

  before(async function () {
    const missing = browserMissing();
    if (missing) {
      console.log(`    skipped: ${missing}`);
      this.skip();
    }
    const staticDir = await ensureDashboardBuilt();
    net = await startDevnet({ providers: [4], models: [sampleModel("tiny-mlp")] });
    runner = await spawnRunner(net, 4);
    // The CLI finds the IPFS node and the runner through the deployment file, as after npm start.
    deployment = writeDeployment(path.dirname(net.deploymentFile), {
      ...readDeployment(net.deploymentFile),
      ipfs: { peers: [...net.publisher.multiaddrs(), ...runner.ipfs] },
      runners: [{ address: runner.address, http: runner.http }],
    });
    dashboard = await startDashboard({
      publicClient: net.publicClient,
      chain: net.chain,
      rpcUrl: net.node.rpcUrl,
      record: readDeployment(deployment),
      staticDir,
      runners: [{ address: runner.address, http: runner.http }],
      log: silentLogger,
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    await page.goto(dashboard.url);
    await page.waitForSelector("[data-testid=head]");
    console.log(`    screenshots: ${shots}`);
  });

  after(async function () {
    await browser?.close();
    await dashboard?.close();
    await runner?.stop();
    await net?.stop();
  });

  it("shows the network: models, the provider with its runner, a live head", async function () {
    await page.locator('[data-model="tiny-mlp"]').waitFor();
    await page.locator(`tr[data-provider="${runner.address}"]`).getByText("ready").waitFor();
    const head = Number(await page.getAttribute("body", "data-head"));
    await page.waitForFunction(`Number(document.body.dataset.head) > ${head}`);
    expect(await page.locator("[data-testid=rollouts]").textContent()).to.match(/no rollout/);
  });

  it("is served by `conclave dashboard` as its own process, which prints its URL and stops on SIGTERM", async function () {
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, "node", "cli.ts"),
        "dashboard",
        "--port",
        "0",
        "--rpc",
        net.node.rpcUrl,
        "--deployment",
        deployment,
      ],
      { env: { ...process.env, NODE_NO_WARNINGS: "1" } },
    );
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    let stdout = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) =>
        reject(new Error(`conclave dashboard exited (${code}) before printing its URL: ${stdout}`)),
      );
    });
    const state = (await (await fetch(`${url}api/state`)).json()) as { chainId: number; models: { name: string }[] };
    expect(state.chainId).to.equal(31337);
    expect(state.models.map((m) => m.name)).to.deep.equal(["tiny-mlp"]);
    expect((await fetch(url)).headers.get("content-type")).to.match(/text\/html/);
    child.kill("SIGTERM");
    expect(await exited).to.equal(0);
  });

  it("shows a job requested from the CLI, then its result", async function () {
    const run = conclave([
      "infer",
      "tiny-mlp",
      "--input",
      path.join(ROOT, "examples", "tiny-mlp.input.json"),
      "--redundancy",
      "1",
      "--dev-account",
      "7",
      "--rpc",
      net.node.rpcUrl,
      "--deployment",
      deployment,
    ]);
    // The job is listed while the CLI still waits for its result.
    const row = page.locator("tr[data-job-id]").first();
    await row.waitFor();
    const jobId = await row.getAttribute("data-job-id");
    const r = await run;
    expect(r.code, r.stderr).to.equal(0);
    expect(String(r.json.jobId)).to.equal(jobId);
    const resultHash = r.json.resultHash as string;
    const done = page.locator(`tr[data-job-id="${jobId}"]`);
    await done.locator(`td[title="${resultHash}"]`).waitFor();
    expect(await done.locator(".stage").textContent()).to.match(/delivered|claimed/);
    await page.locator("[data-testid=total-jobs]", { hasText: "1" }).waitFor();
    await page.screenshot({ path: path.join(shots, "job.png"), fullPage: true });
  });

  it("casts a vote from the page (development account) that shows in the tally and on-chain", async function () {
    const [member] = net.members;
    const { governor } = conclaveContracts(net.record, net.publicClient);
    const p = await propose(
      net.publicClient,
      net.record,
      member!,
      [{ target: governor.address, data: "0x" }],
      "Dashboard test proposal",
    );
    const card = page.locator(`article[data-proposal-id="${p.id}"]`);
    await card.and(page.locator('[data-state="Active"]')).waitFor();
    const voter = devAccount(2).address as Address;
    await page.selectOption("[data-testid=dev-account]", "2");
    await card.locator('button[data-vote="1"]:not([disabled])').click();
    await page.locator("[data-testid=vote-status]", { hasText: "vote sent" }).waitFor();
    await card.locator("[data-testid=votes-for]", { hasText: "300000" }).waitFor();
    expect(await governor.read.hasVoted([p.id, voter])).to.equal(true);
    const [against, forVotes] = await governor.read.proposalVotes([p.id]);
    expect(forVotes).to.equal(300_000n * 10n ** 18n);
    expect(against).to.equal(0n);
    await page.screenshot({ path: path.join(shots, "vote.png"), fullPage: true });
    proposalId = p.id;
  });

  it("casts a vote with a browser wallet (an injected EIP-1193 provider) that shows in the tally and on-chain", async function () {
    // A minimal injected wallet: accounts and transactions go to the Anvil node, which holds the
    // development keys unlocked and signs eth_sendTransaction for them.
    const account = devAccount(3).address;
    const walletPage = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    await walletPage.addInitScript(
      ([rpc, from]) => {
        let id = 0;
        (globalThis as unknown as { ethereum: unknown }).ethereum = {
          async request({ method, params }: { method: string; params?: unknown[] }) {
            if (method === "eth_requestAccounts" || method === "eth_accounts") return [from];
            const res = await fetch(rpc, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: params ?? [] }),
            });
            const body = (await res.json()) as { result?: unknown; error?: { message: string } };
            if (body.error) throw new Error(body.error.message);
            return body.result;
          },
        };
      },
      [net.node.rpcUrl, account] as const,
    );
    await walletPage.goto(dashboard.url);
    await walletPage.getByText("Connect browser wallet").click();
    await walletPage.locator("[data-testid=voter]", { hasText: "wallet 0x" }).waitFor();
    const card = walletPage.locator(`article[data-proposal-id="${proposalId}"]`);
    await card.locator('button[data-vote="0"]:not([disabled])').click();
    await walletPage.locator("[data-testid=vote-status]", { hasText: "vote sent" }).waitFor();
    await card.locator("[data-testid=votes-against]", { hasText: "300000" }).waitFor();
    const { governor } = conclaveContracts(net.record, net.publicClient);
    expect(await governor.read.hasVoted([proposalId, account])).to.equal(true);
    await walletPage.screenshot({ path: path.join(shots, "wallet-vote.png"), fullPage: true });
    await walletPage.close();
  });

  it("shows a staged rollout with its plan, counters and rule verdict, then how it ended", async function () {
    const sample = sampleModel("tiny-mlp");
    const v2 = await publishSample(net, sample);
    const { models } = conclaveContracts(net.record, net.publicClient);
    const plan = {
      candidate: v2.version,
      canaryBps: 1_000,
      minDuration: 3_600,
      promoteAfterJobs: 5,
      abortAfterJobs: 3,
      maxDisputedBps: 1_000,
      maxFailedBps: 500,
    };
    await passOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members: net.members,
      description: "Roll out tiny-mlp v2",
      actions: [
        {
          target: models.address,
          data: encodeFunctionData({ abi: models.abi, functionName: "startRollout", args: [v2.modelId, plan] }),
        },
      ],
    });
    const row = page.locator(`tr[data-rollout="tiny-mlp-${v2.version}"]`);
    await row.and(page.locator('[data-status="Running"]')).waitFor();
    expect(await row.textContent()).to.match(/canary 10% · ≥ 3600 s · promote after 5/);
    expect(await row.locator("[data-testid=rollout-verdict]").textContent()).to.match(/minimum duration/);
    await page.screenshot({ path: path.join(shots, "rollout.png"), fullPage: true });

    const aborted = await conclave([
      "rollout",
      "abort",
      "tiny-mlp",
      "--dev-account",
      "24",
      "--rpc",
      net.node.rpcUrl,
      "--deployment",
      deployment,
    ]);
    expect(aborted.code, aborted.stderr).to.equal(0);
    await row.and(page.locator('[data-status="Aborted"]')).waitFor();
    expect(await row.textContent()).to.match(/aborted by the guardian or the DAO/);
  });
});
