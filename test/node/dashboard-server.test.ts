import { expect } from "chai";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Address } from "viem";
import type { ChainReads } from "../../node/dashboard/chain-reads.ts";
import type { EventIndex, IndexedLog } from "../../node/dashboard/indexer.ts";
import { metricByLabel, probeRunner, type Fetch } from "../../node/dashboard/runner-probe.ts";
import { startDashboardServer, type DevVoter } from "../../node/dashboard/server.ts";
import { createSnapshotter } from "../../node/dashboard/snapshot.ts";
import { silentLogger } from "../../node/log.ts";
import { testDir } from "../helpers/temp-dir.ts";

const P1 = "0x0000000000000000000000000000000000000001" as Address;

function staticDir(): string {
  const dir = testDir("dashboard-static-");
  mkdirSync(path.join(dir, "assets"));
  writeFileSync(path.join(dir, "index.html"), "<!doctype html><title>t</title>");
  writeFileSync(path.join(dir, "assets", "a.js"), "console.log(1)");
  return dir;
}

describe("dashboard server", function () {
  it("serves the page, the latest snapshot and each new one over Server-Sent Events; nothing outside its folder", async function () {
    let snapshot: string | null = null;
    const listeners = new Set<(s: string) => void>();
    const server = await startDashboardServer({
      host: "127.0.0.1",
      port: 0,
      staticDir: staticDir(),
      log: silentLogger,
      handlers: {
        snapshot: () => snapshot,
        subscribe: (fn) => (listeners.add(fn), () => listeners.delete(fn)),
        devVoter: null,
      },
    });
    try {
      expect((await fetch(server.url)).headers.get("content-type")).to.match(/text\/html/);
      expect((await fetch(`${server.url}assets/a.js`)).headers.get("content-type")).to.match(/javascript/);
      expect((await fetch(`${server.url}..%2Fpackage.json`)).status).to.equal(404);
      expect((await fetch(`${server.url}api/state`)).status).to.equal(503);
      snapshot = JSON.stringify({ head: 1 });
      expect(await (await fetch(`${server.url}api/state`)).json()).to.deep.equal({ head: 1 });
      const res = await fetch(`${server.url}api/events`);
      const reader = res.body!.getReader();
      const read = async () => new TextDecoder().decode((await reader.read()).value);
      expect(await read()).to.equal(`event: state\ndata: {"head":1}\n\n`);
      for (const l of listeners) l(JSON.stringify({ head: 2 }));
      expect(await read()).to.equal(`event: state\ndata: {"head":2}\n\n`);
      await reader.cancel();
      expect((await fetch(`${server.url}api/dev-vote`, { method: "POST", body: "{}" })).status).to.equal(404);
    } finally {
      await server.close();
    }
  });

  it("signs development votes only for well-formed requests", async function () {
    const votes: [number, bigint, number][] = [];
    const devVoter: DevVoter = { vote: async (a, id, s) => (votes.push([a, id, s]), { txHash: "0xabc" }) };
    const server = await startDashboardServer({
      host: "127.0.0.1",
      port: 0,
      staticDir: staticDir(),
      log: silentLogger,
      handlers: { snapshot: () => null, subscribe: () => () => undefined, devVoter },
    });
    const post = (body: string) =>
      fetch(`${server.url}api/dev-vote`, { method: "POST", headers: { "content-type": "application/json" }, body });
    try {
      expect((await post("not json")).status).to.equal(400);
      // Another site's page: no JSON content type, or a foreign origin.
      expect(
        (
          await fetch(`${server.url}api/dev-vote`, {
            method: "POST",
            headers: { "content-type": "text/plain" },
            body: JSON.stringify({ account: 2, proposalId: "12", support: 1 }),
          })
        ).status,
      ).to.equal(403);
      expect(
        (
          await fetch(`${server.url}api/dev-vote`, {
            method: "POST",
            headers: { "content-type": "application/json", origin: "http://evil.example" },
            body: JSON.stringify({ account: 2, proposalId: "12", support: 1 }),
          })
        ).status,
      ).to.equal(403);
      expect((await post(JSON.stringify({ account: 1, proposalId: "12", support: 7 }))).status).to.equal(400);
      expect((await post(JSON.stringify({ account: 1, proposalId: 12, support: 1 }))).status).to.equal(400);
      const ok = await post(JSON.stringify({ account: 2, proposalId: "12", support: 1 }));
      expect(await ok.json()).to.deep.equal({ txHash: "0xabc" });
      expect(votes).to.deep.equal([[2, 12n, 1]]);
    } finally {
      await server.close();
    }
  });
});

describe("dashboard snapshot (fake chain reads)", function () {
  const logs: IndexedLog[] = [
    {
      blockNumber: 1,
      blockHash: "0x01",
      logIndex: 0,
      transactionHash: "0x01",
      address: P1,
      eventName: "ProposalCreated",
      args: { proposalId: 5n, proposer: P1, voteStart: 100, voteEnd: 200, description: "p" },
      timestamp: 99,
    },
    {
      blockNumber: 2,
      blockHash: "0x02",
      logIndex: 0,
      transactionHash: "0x02",
      address: P1,
      eventName: "ProviderRegistered",
      args: { provider: P1, metadataURI: "m" },
      timestamp: 99,
    },
  ];
  const index = { head: 2, logs: () => logs } as unknown as EventIndex;

  it("reads a proposal's state until it is final, its quorum once voting started, and each provider's record", async function () {
    const calls: string[] = [];
    let state = 1;
    let now = 150;
    const reads: ChainReads = {
      headTime: async () => ({ number: 2, timestamp: now }),
      proposalState: async () => (calls.push("state"), state),
      quorum: async () => (calls.push("quorum"), 40n),
      provider: async () => (
        calls.push("provider"),
        {
          status: 2,
          stake: 10n,
          locked: 1n,
          frozenUntil: 0,
          disagreed: 0,
          missed: 1,
          tags: 1n,
          grantedTags: 1n,
          memoryMB: 64,
          accelerator: "cpu",
          region: "eu",
        }
      ),
      token: async () => ({ symbol: "ETH", decimals: 18 }),
    };
    const snapshotter = createSnapshotter({
      index,
      reads,
      runner: () => null,
      chainId: 31337,
      governor: P1,
      devAccounts: [],
      log: silentLogger,
    });
    const a = await snapshotter.make();
    expect(a.proposals[0]).to.deep.include({ state: "Active", quorum: "40", timeLeft: 50 });
    expect(a.providers[0]).to.deep.include({ status: "Approved", stake: "10", missed: 1, region: "eu" });
    state = 7;
    now = 300;
    const b = await snapshotter.make();
    expect(b.proposals[0]).to.deep.include({ state: "Executed", timeLeft: null });
    await snapshotter.make();
    expect(calls.filter((c) => c === "state")).to.have.length(2);
    expect(calls.filter((c) => c === "quorum")).to.have.length(1);
    expect(calls.filter((c) => c === "provider")).to.have.length(3);
  });
});

describe("dashboard runner probe", function () {
  it("reads readiness, journal counts, held versions and job outcomes; an unreachable runner is marked so", async function () {
    const pages: Record<string, { status: number; body: string }> = {
      "http://r/ready": { status: 503, body: JSON.stringify({ ready: false, details: { blocksBehind: 7 } }) },
      "http://r/status": {
        status: 200,
        body: JSON.stringify({
          provider: P1,
          jobs: { done: 2 },
          models: [
            { model: "tiny-mlp", modelId: `0x${"ab".repeat(32)}`, version: 2, held: true, warm: true },
            { model: null, modelId: `0x${"cd".repeat(32)}`, version: 1, held: true, warm: false },
          ],
        }),
      },
      "http://r/metrics": {
        status: 200,
        body: '# HELP x\nconclave_jobs_total{outcome="paid"} 4\nconclave_jobs_total{outcome="failed"} 1\n',
      },
    };
    const fake: Fetch = async (url) => {
      const p = pages[url];
      if (!p) throw new Error("ECONNREFUSED");
      return { ok: p.status === 200, status: p.status, text: async () => p.body };
    };
    const h = await probeRunner("http://r", { fetch: fake, now: () => 1 });
    expect(h).to.deep.equal({
      url: "http://r",
      reachable: true,
      ready: false,
      blocksBehind: 7,
      jobs: { paid: 4, failed: 1 },
      journal: { done: 2 },
      versions: ["tiny-mlp v2 (warm)", "0xcdcdcdcd… v1"],
      provider: P1,
      checkedAt: 1,
    });
    const down = await probeRunner("http://gone", { fetch: fake });
    expect(down).to.deep.include({ reachable: false, ready: null, provider: null });
    expect(metricByLabel('conclave_jobs_total{outcome="x",a="b"} 2', "conclave_jobs_total", "outcome")).to.deep.equal({
      x: 2,
    });
  });
});
