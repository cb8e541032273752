import { expect } from "chai";
import { connect } from "../../node/chain/clients.ts";
import { startAnvil, type AnvilNode } from "../../node/devnet/anvil-node.ts";
import { startRpcProxy, type RpcProxy } from "../../node/devnet/chaos/rpc-proxy.ts";
import { RpcUnreachableError } from "../../node/errors.ts";
import { seededRandom } from "../../node/devnet/chaos/random.ts";
import { until } from "../helpers/until.ts";

/** Polls `check` until it holds (a state, not a time); fails after `timeoutMs`. */
describe("RPC fallback endpoints (ranked by pings, through the chaos proxy)", function () {
  let node: AnvilNode;
  let primary: RpcProxy;
  let backup: RpcProxy;

  before(async function () {
    node = await startAnvil();
    primary = await startRpcProxy({ upstream: node.rpcUrl, random: seededRandom(1) });
    backup = await startRpcProxy({ upstream: node.rpcUrl, random: seededRandom(2) });
  });
  afterEach(function () {
    primary?.setFault({ kind: "none" });
    backup?.setFault({ kind: "none" });
  });
  after(async function () {
    await primary?.close();
    await backup?.close();
    await node?.stop();
  });

  it("answers every call through the backup while the primary rate-limits or drops every call, with no retry of the call", async function () {
    const c = await connect(primary.url, { fallbackUrls: [backup.url], retryCount: 0 });
    try {
      for (const fault of [
        { kind: "429", share: 1 },
        { kind: "drop", share: 1 },
      ] as const) {
        primary.setFault(fault);
        const before = backup.counters().forwarded;
        // One after the other: viem would merge concurrent identical reads into one call.
        for (let i = 0; i < 20; i++) await c.publicClient.getBlockNumber({ cacheTime: 0 });
        expect(backup.counters().forwarded - before).to.be.at.least(20);
      }
    } finally {
      c.close();
    }
  });

  it("tells its caller of every request each endpoint was sent, by method: the calls an RPC provider bills", async function () {
    const counts = new Map<string, number>();
    const onCall = (method: string, endpoint: number, count: number) =>
      counts.set(`${endpoint} ${method}`, (counts.get(`${endpoint} ${method}`) ?? 0) + count);
    const before = primary.counters().forwarded;
    const c = await connect(primary.url, { retryCount: 0, onCall });
    try {
      for (let i = 0; i < 5; i++) await c.publicClient.getBlockNumber({ cacheTime: 0 });
      await c.publicClient.getChainId();
    } finally {
      c.close();
    }
    expect(Object.fromEntries(counts)).to.deep.equal({ "0 eth_chainId": 2, "0 eth_blockNumber": 5 });
    expect(primary.counters().forwarded - before).to.equal(7);

    counts.clear();
    const f = await connect(primary.url, { fallbackUrls: [backup.url], retryCount: 0, onCall });
    try {
      primary.setFault({ kind: "429", share: 1 });
      for (let i = 0; i < 5; i++) await f.publicClient.getBlockNumber({ cacheTime: 0 });
    } finally {
      f.close();
    }
    // Each endpoint was asked its chain id once at connect; every block number reached the backup.
    expect(counts.get("0 eth_chainId")).to.equal(1);
    expect(counts.get("1 eth_chainId")).to.equal(1);
    expect(counts.get("1 eth_blockNumber")).to.be.at.least(5);
  });

  it("counts each of viem's retries of a rate-limited call with one endpoint, as the provider does", async function () {
    const counts = new Map<string, number>();
    const onCall = (method: string, endpoint: number, count: number) =>
      counts.set(`${endpoint} ${method}`, (counts.get(`${endpoint} ${method}`) ?? 0) + count);
    const c = await connect(primary.url, { retryCount: 2, onCall });
    try {
      const limited = primary.counters().limited;
      primary.setFault({ kind: "429", share: 1 });
      const failed = await c.publicClient.getBlockNumber({ cacheTime: 0 }).then(
        () => false,
        () => true,
      );
      expect(failed).to.equal(true);
      // The call and its two retries each reached the endpoint and each was answered 429.
      expect(primary.counters().limited - limited).to.equal(3);
      expect(counts.get("0 eth_blockNumber")).to.equal(3);
    } finally {
      c.close();
    }
  });

  it("moves calls to the backup while the primary is slow, and back once it recovers", async function () {
    const c = await connect(primary.url, { fallbackUrls: [backup.url], retryCount: 0 });
    try {
      primary.setFault({ kind: "latency", minMs: 1_500, maxMs: 1_500 });
      // Ranked by pings once a second: calls go to the backup once it ranks first.
      await until(
        "calls to reach the backup",
        async () => {
          const before = backup.counters().forwarded;
          await c.publicClient.getBlockNumber({ cacheTime: 0 });
          return backup.counters().forwarded > before;
        },
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      primary.setFault({ kind: "none" });
      backup.setFault({ kind: "latency", minMs: 1_500, maxMs: 1_500 });
      await until(
        "calls to come back to the primary",
        async () => {
          const before = primary.counters().forwarded;
          await c.publicClient.getBlockNumber({ cacheTime: 0 });
          return primary.counters().forwarded > before;
        },
        { timeoutMs: 20_000, intervalMs: 50 },
      );
    } finally {
      c.close();
    }
  });

  it("stops pinging once closed", async function () {
    const c = await connect(primary.url, { fallbackUrls: [backup.url] });
    await until("the first pings", () => primary.counters().forwarded > 0 && backup.counters().forwarded > 0, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    c.close();
    // A ping round in flight when closed still lands (1 s timeout); after it, no new round sends.
    await new Promise((r) => setTimeout(r, 3_000));
    const settled = primary.counters().forwarded + backup.counters().forwarded;
    await new Promise((r) => setTimeout(r, 3_000));
    expect(primary.counters().forwarded + backup.counters().forwarded).to.equal(settled);
  });

  it("refuses a fallback on another chain and names an unreachable one", async function () {
    const other = await startAnvil({ chainId: 999 });
    try {
      const error = await connect(primary.url, { fallbackUrls: [other.rpcUrl] }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(RpcUnreachableError);
      expect(String(error)).to.match(/is chain 999, but .* is chain 31337/);
    } finally {
      await other.stop();
    }
    const c = await connect(primary.url, { fallbackUrls: ["http://127.0.0.1:9"], timeoutMs: 2_000 });
    try {
      expect(c.unreachableFallbacks).to.deep.equal(["http://127.0.0.1:9"]);
      expect(Number(await c.publicClient.getBlockNumber({ cacheTime: 0 }))).to.be.at.least(0);
    } finally {
      c.close();
    }
  });
});
