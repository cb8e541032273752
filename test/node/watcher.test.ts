import path from "node:path";
import { expect } from "chai";
import { RetryableError } from "../../node/errors.ts";
import {
  AdaptiveRange,
  classifyLogError,
  getLogsAdaptive,
  LogQueryTooLargeError,
  RpcFailedError,
  RpcRateLimitedError,
} from "../../node/chain/logs.ts";
import {
  createChainWatcher,
  retryWaitMs,
  type ChainSource,
  type ChainWatcher,
  type DecodedLog,
  type WatcherOptions,
} from "../../node/chain/watcher.ts";
import { openJournal, type Journal } from "../../node/journal/journal.ts";
import { silentLogger } from "../../node/log.ts";
import { rejection } from "../helpers/errors.ts";
import { until } from "../helpers/until.ts";
import { bloomOf, FakeChain, failing, FULL_BLOOM, PING_ADDRESS, pingAbi, rpcErrors } from "../helpers/fake-chain.ts";
import { Bloom } from "ox";
import { testDir } from "../helpers/temp-dir.ts";

const journalFile = () => path.join(testDir("conclave-watcher-"), "journal.sqlite");

interface Harness {
  chain: FakeChain;
  journal: Journal;
  watcher: ChainWatcher;
  /** Every event handed over, in order (re-deliveries after a rewind included). */
  delivered: bigint[];
  reorgs: { ancestor: number; jobIds: bigint[] }[];
  rpcErrors: unknown[];
}

function harness(chain: FakeChain, opts: Partial<WatcherOptions> = {}): Harness {
  const journal = openJournal(journalFile());
  const h: Harness = {
    chain,
    journal,
    delivered: [],
    reorgs: [],
    rpcErrors: [],
    watcher: null as unknown as ChainWatcher,
  };
  h.watcher = createChainWatcher({
    chain,
    journal,
    addresses: [PING_ADDRESS],
    abi: pingAbi,
    confirmations: 0,
    pollIntervalMs: 1,
    maxBackoffMs: 2,
    startBlock: 1,
    log: silentLogger,
    onLogs: async (logs: DecodedLog[]) => {
      h.delivered.push(...logs.map((l) => l.args.id as bigint));
    },
    onReorg: (ancestor, jobIds) => h.reorgs.push({ ancestor, jobIds }),
    onRpcError: (error) => h.rpcErrors.push(error),
    ...opts,
  });
  return h;
}

/** Polls until the watcher has processed the confirmed head. */
async function catchUp(h: Harness): Promise<void> {
  for (let i = 0; i < 10_000; i++) if (await h.watcher.pollOnce()) return;
  throw new Error("never caught up");
}

describe("chain watcher", function () {
  this.timeout(30_000);

  describe("an RPC failure while checking stored block hashes never rewinds (finding 4)", function () {
    const cases: { name: string; error: () => unknown }[] = [
      { name: "HTTP 500", error: rpcErrors.http500 },
      { name: "HTTP 429", error: rpcErrors.http429 },
      { name: "a timeout", error: rpcErrors.timeout },
      { name: "JSON-RPC internal error", error: rpcErrors.internal },
    ];
    for (const c of cases) {
      it(`${c.name}: the poll fails retryably, the cursor stays, nothing is delivered twice`, async function () {
        const h = harness(new FakeChain(300));
        await catchUp(h);
        const cursor = h.journal.cursor();
        h.chain.mine(2);
        // Every block read fails while the provider is down: the old code read each failure as
        // "not on the chain" and rewound to the deployment block.
        h.chain.faults.getBlock = () => c.error();
        const error = await rejection(() => h.watcher.pollOnce());
        expect(error).to.be.instanceOf(RpcFailedError);
        expect((error as RetryableError).retryable).to.equal(true);
        expect(h.reorgs).to.deep.equal([]);
        expect(h.journal.cursor()).to.deep.equal(cursor);
        expect(h.rpcErrors.length).to.be.greaterThan(0);
        h.chain.faults = {};
        await catchUp(h);
        expect(h.reorgs).to.deep.equal([]);
        expect(h.delivered).to.deep.equal(h.chain.pingsFrom(1));
      });
    }

    it("the run loop retries with backoff until the RPC answers, and never rewinds", async function () {
      const h = harness(new FakeChain(100));
      await catchUp(h);
      h.chain.mine(5);
      h.chain.faults.getBlock = failing(6, rpcErrors.http500);
      h.watcher.start();
      try {
        while (h.watcher.processed < h.chain.head) await new Promise((r) => setTimeout(r, 5));
      } finally {
        await h.watcher.stop();
      }
      expect(h.reorgs).to.deep.equal([]);
      expect(h.delivered).to.deep.equal(h.chain.pingsFrom(1));
    });
  });

  describe("a definite answer rewinds only as deep as the reorg went (finding 4)", function () {
    const cases: { name: string; blocks: number; depth: number; confirmations: number; maxLogRange?: number }[] = [
      // Right after a backfill of 2,000-block ranges: the old code kept one hash per range and
      // rewound to the deployment block.
      { name: "depth 3 right after a 2,000-block backfill", blocks: 4_000, depth: 3, confirmations: 0 },
      { name: "depth 3 right after a backfill, 2 confirmations", blocks: 4_002, depth: 3 + 2, confirmations: 2 },
      { name: "depth 1 while following the head", blocks: 50, depth: 1, confirmations: 0 },
      { name: "depth 20 after a 500-block backfill", blocks: 1_500, depth: 20, confirmations: 0, maxLogRange: 500 },
    ];
    for (const c of cases) {
      it(c.name, async function () {
        const h = harness(new FakeChain(c.blocks, (n) => (n % 3 === 0 ? 1 : 0)), {
          confirmations: c.confirmations,
          maxLogRange: c.maxLogRange,
        });
        await catchUp(h);
        const processed = h.watcher.processed;
        expect(processed).to.equal(c.blocks - c.confirmations);
        const before = h.delivered.length;
        h.chain.reorg(c.depth);
        await catchUp(h);
        const ancestor = c.blocks - c.depth;
        expect(h.reorgs.map((r) => r.ancestor)).to.deep.equal([ancestor]);
        // Events of the new fork are handed over, and only those above the ancestor again.
        expect(h.delivered.slice(before)).to.deep.equal(h.chain.pingsFrom(ancestor + 1, h.watcher.processed));
        expect(h.journal.cursor()!.hash).to.equal(h.chain.headers[h.watcher.processed]!.hash);
      });
    }

    it("a block the node says it no longer has (shorter chain) counts as a reorg after three polls that say so", async function () {
      const h = harness(new FakeChain(60));
      await catchUp(h);
      h.chain.reorg(4);
      h.chain.headers.length -= 2; // the new fork is two blocks shorter
      // Its head is below the cursor: nothing to scan, nothing concluded.
      expect(await h.watcher.pollOnce()).to.equal(true);
      expect(h.reorgs).to.deep.equal([]);
      // A node that says its head is at the cursor but has no block there: asked again twice.
      h.chain.headLag = -2;
      for (let i = 0; i < 2; i++) expect(await rejection(() => h.watcher.pollOnce())).to.be.instanceOf(RpcFailedError);
      expect(h.reorgs).to.deep.equal([]);
      h.chain.headLag = 0;
      h.chain.mine(2);
      await catchUp(h);
      expect(h.reorgs.map((r) => r.ancestor)).to.deep.equal([56]);
    });

    it("a shorter chain that stays shorter is rewound once three polls in a row, over 3 blocks of head, find no block at the cursor", async function () {
      const h = harness(new FakeChain(60));
      await catchUp(h);
      h.chain.reorg(4);
      h.chain.headers.length -= 2;
      // Head reads at or above the cursor (60, then rising), block reads that have nothing there.
      for (const lag of [-2, -3, -4]) {
        h.chain.headLag = lag;
        expect(await rejection(() => h.watcher.pollOnce())).to.be.instanceOf(RpcFailedError);
      }
      expect(h.reorgs).to.deep.equal([]);
      h.chain.headLag = -5;
      await h.watcher.pollOnce().catch(() => false);
      expect(h.reorgs.map((r) => r.ancestor)).to.deep.equal([56]);
    });

    it("quick polls at one head whose block reads all go to a node behind never rewind (chaos seed 61, lag)", async function () {
      const h = harness(new FakeChain(60));
      await catchUp(h);
      h.chain.mine(1);
      h.chain.blockLag = 2; // the head (61) from a node in step, the cursor's block (60) asked of one at 59
      for (let i = 0; i < 5; i++) expect(await rejection(() => h.watcher.pollOnce())).to.be.instanceOf(RpcFailedError);
      expect(h.reorgs).to.deep.equal([]);
      h.chain.blockLag = 0;
      await catchUp(h);
      expect(h.reorgs).to.deep.equal([]);
      expect(h.delivered).to.deep.equal(h.chain.pingsFrom(1));
    });

    it("a load-balanced provider whose nodes are not in step (heads and blocks from a node behind) never rewinds", async function () {
      const h = harness(new FakeChain(60));
      await catchUp(h);
      // The whole answer from a node two blocks behind: its head is below our cursor.
      h.chain.headLag = 2;
      h.chain.blockLag = 2;
      expect(await h.watcher.pollOnce()).to.equal(true);
      // The head from a node in step, the cursor's block from one behind: asked again, not a reorg.
      h.chain.headLag = 0;
      for (let i = 0; i < 2; i++) expect(await rejection(() => h.watcher.pollOnce())).to.be.instanceOf(RpcFailedError);
      h.chain.blockLag = 0;
      h.chain.mine(3);
      await catchUp(h);
      expect(h.reorgs).to.deep.equal([]);
      expect(h.delivered).to.deep.equal(h.chain.pingsFrom(1));
    });

    it("the head from a node in step, the newest headers from one 2 blocks behind: the poll scans the blocks that node has instead of failing", async function () {
      const h = harness(new FakeChain(60));
      await catchUp(h);
      h.chain.mine(5);
      h.chain.blockLag = 2;
      // Before, the missing headers failed the whole poll (and the run loop doubled its backoff).
      expect(await h.watcher.pollOnce()).to.equal(false);
      expect(h.watcher.processed).to.equal(63);
      expect(h.delivered).to.deep.equal(h.chain.pingsFrom(1, 63));
      h.chain.blockLag = 0;
      await catchUp(h);
      expect(h.reorgs).to.deep.equal([]);
      expect(h.delivered).to.deep.equal(h.chain.pingsFrom(1));
    });

    it("the head from a node in step, not even the next block from the node asked: nothing to scan yet, not a failure", async function () {
      const h = harness(new FakeChain(60));
      await catchUp(h);
      h.chain.mine(1);
      h.chain.blockLag = 1;
      expect(await h.watcher.pollOnce()).to.equal(true);
      expect(h.watcher.processed).to.equal(60);
      h.chain.blockLag = 0;
      await catchUp(h);
      expect(h.watcher.processed).to.equal(61);
      expect(h.reorgs).to.deep.equal([]);
    });

    it("a race between the provider's nodes is polled again at the usual pace; other failures double the wait", async function () {
      const h = harness(new FakeChain(60));
      await catchUp(h);
      // The cursor's block asked of a node that lacks it.
      h.chain.blockLag = 2;
      const race = await rejection(() => h.watcher.pollOnce());
      expect(race).to.be.instanceOf(RpcFailedError);
      expect(retryWaitMs(race, 2_000, 250, 5_000)).to.equal(250);
      h.chain.blockLag = 0;
      h.chain.faults.getBlock = failing(1, rpcErrors.http500);
      const failure = await rejection(() => h.watcher.pollOnce());
      expect(failure).to.be.instanceOf(RpcFailedError);
      expect(retryWaitMs(failure, 2_000, 250, 5_000)).to.equal(4_000);
      expect(retryWaitMs(failure, 4_000, 250, 5_000)).to.equal(5_000);
    });

    it("an RPC failure during the ancestor search fails the poll instead of rewinding further", async function () {
      const h = harness(new FakeChain(200));
      await catchUp(h);
      h.chain.reorg(5);
      // The cursor check answers (a different hash), then the provider goes down mid-search.
      h.chain.faults.getBlock = (() => {
        let calls = 0;
        return () => (++calls > 2 ? rpcErrors.http500() : undefined);
      })();
      await rejection(() => h.watcher.pollOnce());
      expect(h.reorgs).to.deep.equal([]);
      expect(h.journal.cursor()!.block).to.equal(200);
      h.chain.faults = {};
      await catchUp(h);
      expect(h.reorgs.map((r) => r.ancestor)).to.deep.equal([195]);
    });
  });

  describe("a reorg of blocks above the cursor, where our receipts came from, is taken back", function () {
    it("with 2 confirmations, a depth-2 reorg replaces the block of a receipt: the rewind goes to below it", async function () {
      const h = harness(new FakeChain(50, (n) => (n % 3 === 0 ? 1 : 0)), { confirmations: 2 });
      await catchUp(h);
      expect(h.watcher.processed).to.equal(48);
      // The sender took a receipt at the head; the cursor's block 48 stays on the chain below the
      // reorg, so only the receipt's block tells of it (before: no rewind, the seat kept).
      h.journal.noteReceiptBlock(49, h.chain.headers[49]!.hash);
      const before = h.delivered.length;
      h.chain.reorg(2);
      h.chain.mine(2);
      await catchUp(h);
      expect(h.reorgs.map((r) => r.ancestor)).to.deep.equal([48]);
      expect(h.delivered.slice(before)).to.deep.equal(h.chain.pingsFrom(49, h.watcher.processed));
      expect(h.journal.receiptBlocks(Number.MAX_SAFE_INTEGER)).to.deep.equal([]);
    });

    it("a receipt block still on the chain is forgotten once scanned, with no rewind", async function () {
      const h = harness(new FakeChain(50), { confirmations: 2 });
      await catchUp(h);
      h.journal.noteReceiptBlock(49, h.chain.headers[49]!.hash);
      h.journal.noteReceiptBlock(60, `0x${"ab".repeat(32)}`);
      h.chain.mine(2);
      await catchUp(h);
      expect(h.reorgs).to.deep.equal([]);
      // Above the scanned blocks: kept until they are scanned.
      expect(h.journal.receiptBlocks(Number.MAX_SAFE_INTEGER).map((r) => r.block)).to.deep.equal([60]);
    });

    it("a receipt read from another fork after its block was scanned rewinds to below that block", async function () {
      const h = harness(new FakeChain(50));
      await catchUp(h);
      h.journal.noteReceiptBlock(45, `0x${"ab".repeat(32)}`);
      h.chain.mine(1);
      await catchUp(h);
      expect(h.reorgs.map((r) => r.ancestor)).to.deep.equal([44]);
      expect(h.delivered).to.deep.equal([...h.chain.pingsFrom(1), ...h.chain.pingsFrom(45)]);
      expect(h.journal.cursor()!.hash).to.equal(h.chain.headers[51]!.hash);
    });
  });

  describe("eth_getLogs ranges adapt to the provider's limits (finding 7)", function () {
    const tooLarge: { name: string; error: () => unknown; by: "blocks" | "results" }[] = [
      { name: "query returned more than 10000 results (-32005)", error: rpcErrors.results10k, by: "results" },
      { name: "exceed maximum block range", error: rpcErrors.blockRange, by: "blocks" },
      { name: "block range too large", error: rpcErrors.rangeTooLarge, by: "blocks" },
      { name: "range is too wide", error: rpcErrors.rangeTooWide, by: "blocks" },
      { name: "Log response size exceeded", error: rpcErrors.responseSize, by: "results" },
      { name: "too many logs", error: rpcErrors.tooMany, by: "results" },
      { name: "HTTP 413", error: rpcErrors.http413, by: "results" },
      { name: "viem: HTTP response body exceeded the size limit", error: rpcErrors.bodyTooLarge, by: "results" },
    ];
    for (const c of tooLarge) {
      it(`${c.name}: the range halves and every event is delivered once, in order`, async function () {
        const chain = new FakeChain(5_000, (n) => (n % 2 === 0 ? 2 : 0));
        chain.limit = c.by === "blocks" ? { maxBlocks: 300, error: c.error } : { maxResults: 400, error: c.error };
        const h = harness(chain);
        await catchUp(h);
        expect(h.delivered).to.deep.equal(chain.pingsFrom(1));
        expect(h.reorgs).to.deep.equal([]);
        const failed = chain.getLogsCalls.filter((q) => !q.ok);
        expect(failed[0]).to.deep.equal({ from: 1, to: 2_000, ok: false });
        // Each accepted query within the limit, the accepted ones tiling 1..head exactly.
        const ok = chain.getLogsCalls.filter((q) => q.ok);
        let next = 1;
        for (const q of ok) {
          expect(q.from).to.equal(next);
          next = q.to + 1;
        }
        expect(next).to.equal(chain.head + 1);
        if (c.by === "blocks") expect(Math.max(...ok.map((q) => q.to - q.from + 1))).to.be.at.most(300);
      });
    }

    it("the range grows back after successes once a dense stretch is past", async function () {
      const chain = new FakeChain(40_000, (n) => (n <= 2_000 ? 1 : 0));
      chain.limit = { maxResults: 100, error: rpcErrors.results10k };
      const h = harness(chain);
      await catchUp(h);
      expect(h.delivered).to.deep.equal(chain.pingsFrom(1));
      const last = chain.getLogsCalls.at(-1)!;
      expect(last.to - last.from + 1).to.equal(2_000);
    });

    it("a single block over the limit is a typed, non-retryable error", async function () {
      const chain = new FakeChain(10, () => 5);
      chain.limit = { maxResults: 3, error: rpcErrors.results10k };
      const h = harness(chain);
      expect(await rejection(() => h.watcher.pollOnce())).to.be.instanceOf(LogQueryTooLargeError);
    });

    const rateLimited: { name: string; error: () => unknown }[] = [
      { name: "HTTP 429", error: rpcErrors.http429 },
      { name: "-32029 rate limit", error: rpcErrors.rateLimit32029 },
    ];
    for (const c of rateLimited) {
      it(`${c.name}: the poll backs off and retries; the range does not shrink`, async function () {
        const chain = new FakeChain(6_000);
        chain.faults.getLogs = failing(3, c.error);
        const h = harness(chain);
        expect(await rejection(() => h.watcher.pollOnce())).to.be.instanceOf(RpcRateLimitedError);
        h.watcher.start();
        try {
          while (h.watcher.processed < chain.head) await new Promise((r) => setTimeout(r, 5));
        } finally {
          await h.watcher.stop();
        }
        expect(chain.getLogsCalls.map((q) => q.to - q.from + 1)).to.deep.equal([
          2_000, 2_000, 2_000, 2_000, 2_000, 2_000,
        ]);
        expect(h.delivered).to.deep.equal(chain.pingsFrom(1));
      });
    }
  });

  describe("a provider whose eth_getLogs node is behind the head (load-balanced, nodes not in step)", function () {
    it("loses no event: a block whose bloom names our contract and of which the answer held nothing is read by hash", async function () {
      // Events in every third block; the node answering eth_getLogs is 2 blocks behind the one
      // that gave the head and the headers, and answers up to its own head without a word.
      const chain = new FakeChain(30, (n) => (n % 3 === 0 ? 1 : 0));
      chain.logsLag = 2;
      const h = harness(chain);
      await catchUp(h);
      for (let i = 0; i < 20; i++) {
        chain.mine(1);
        await catchUp(h);
      }
      expect(h.delivered).to.deep.equal(chain.pingsFrom(1));
      // Only blocks the bloom names were asked for by hash: those with events at the head.
      const asked = chain.getLogsByHash.map((hash) => chain.headers.findIndex((b) => b.hash === hash));
      expect(asked.length).to.be.greaterThan(0);
      expect(asked.every((n) => n % 3 === 0)).to.equal(true);
    });

    it("a bloom that names every value (a busy block) costs one ask by hash that finds nothing", async function () {
      const chain = new FakeChain(30, (n) => (n % 3 === 0 ? 1 : 0));
      const h = harness(chain);
      await catchUp(h);
      chain.mine(2);
      chain.headers[31]!.logsBloom = FULL_BLOOM;
      await catchUp(h);
      expect(chain.getLogsByHash).to.deep.equal([chain.headers[31]!.hash]);
      expect(h.delivered).to.deep.equal(chain.pingsFrom(1));
    });

    it("a failed ask by hash fails the poll retryably; the cursor stays", async function () {
      const chain = new FakeChain(30, (n) => (n % 3 === 0 ? 1 : 0));
      const h = harness(chain);
      await catchUp(h);
      const cursor = h.journal.cursor();
      chain.mine(3);
      chain.logsLag = 1;
      let calls = 0;
      // The range query answers; the ask by hash (the second eth_getLogs) fails.
      chain.faults.getLogs = () => (calls++ === 1 ? rpcErrors.http500() : undefined);
      const failure = await rejection(() => h.watcher.pollOnce());
      expect(failure).to.be.instanceOf(RpcFailedError);
      expect(retryWaitMs(failure, 500, 250, 5_000)).to.equal(1_000);
      expect(h.journal.cursor()).to.deep.equal(cursor);
      // Asked of a node that has not got the block yet: a race, polled again at the usual pace.
      calls = 0;
      chain.faults.getLogs = () => (calls++ === 1 ? rpcErrors.unknownBlock() : undefined);
      const race = await rejection(() => h.watcher.pollOnce());
      expect(retryWaitMs(race, 500, 250, 5_000)).to.equal(250);
      expect(h.journal.cursor()).to.deep.equal(cursor);
      chain.faults = {};
      await catchUp(h);
      expect(h.delivered).to.deep.equal(chain.pingsFrom(1));
    });

    it("keeps the headers it scanned near the head for other readers, and forgets those a reorg replaced", async function () {
      const chain = new FakeChain(30);
      const h = harness(chain);
      await catchUp(h);
      expect(h.watcher.header(30)).to.deep.equal(chain.headers[30]);
      expect(h.watcher.header(31)).to.equal(undefined);
      const old = chain.headers[29]!;
      chain.reorg(2);
      chain.mine(1);
      await catchUp(h);
      expect(h.watcher.header(29)).to.deep.equal(chain.headers[29]);
      expect(h.watcher.header(29)!.hash).to.not.equal(old.hash);
    });

    it("the fake chain's blooms are the ones nodes build (checked with ox's reader)", function () {
      const chain = new FakeChain(9, (n) => (n % 3 === 0 ? 1 : 0));
      expect(Bloom.contains(chain.headers[3]!.logsBloom!, PING_ADDRESS)).to.equal(true);
      expect(Bloom.contains(chain.headers[4]!.logsBloom!, PING_ADDRESS)).to.equal(false);
      // ox's own example: a mainnet block's bloom that holds this address.
      const address = "0xef2d6d194084c2de36e0dabfce45d046b37d1106";
      expect(Bloom.contains(bloomOf([address]), address)).to.equal(true);
    });
  });

  it("the journal keeps the given recent hashes, never above the cursor, and the last 256 only", function () {
    const journal = openJournal(journalFile());
    const hash = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as const;
    journal.advance(
      1_000,
      hash(1_000),
      [700, 744, 745, 999, 1_000, 1_001].map((block) => ({ block, hash: hash(block) })),
    );
    expect(journal.recentBlocks().map((b) => b.block)).to.deep.equal([1_000, 999, 745]);
    expect(journal.cursor()).to.deep.equal({ block: 1_000, hash: hash(1_000) });
    journal.advance(1_100, hash(1_100));
    expect(journal.recentBlocks().map((b) => b.block)).to.deep.equal([1_100, 1_000, 999]);
    journal.close();
  });

  describe("getLogsAdaptive", function () {
    it("backs off on rate limits with doubling delays, keeping the range", async function () {
      const range = new AdaptiveRange({ maxRange: 100 });
      const slept: number[] = [];
      let calls = 0;
      const spans: number[] = [];
      const logs = await getLogsAdaptive({
        fromBlock: 1,
        toBlock: 250,
        range,
        sleep: async (ms) => void slept.push(ms),
        query: async (from, to) => {
          if (++calls <= 3) throw rpcErrors.http429();
          spans.push(to - from + 1);
          return [from];
        },
      });
      expect(slept).to.deep.equal([500, 1_000, 2_000]);
      expect(spans).to.deep.equal([100, 100, 50]);
      expect(logs).to.deep.equal([1, 101, 201]);
      expect(range.size).to.equal(100);
    });

    it("gives up with a retryable typed error after its rate-limit retries", async function () {
      const error = await rejection(() =>
        getLogsAdaptive({
          fromBlock: 1,
          toBlock: 5,
          range: new AdaptiveRange(),
          rateLimitRetries: 2,
          sleep: async () => {},
          query: async () => Promise.reject(rpcErrors.rateLimit32029()),
        }),
      );
      expect(error).to.be.instanceOf(RpcRateLimitedError);
      expect((error as RpcRateLimitedError).retryable).to.equal(true);
    });

    it("classifies provider answers", function () {
      const kinds = Object.fromEntries(Object.entries(rpcErrors).map(([k, e]) => [k, classifyLogError(e())]));
      expect(kinds).to.deep.equal({
        http500: "other",
        http413: "too-large",
        http429: "rate-limited",
        timeout: "other",
        internal: "other",
        rateLimit32029: "rate-limited",
        results10k: "too-large",
        blockRange: "too-large",
        rangeTooLarge: "too-large",
        rangeTooWide: "too-large",
        responseSize: "too-large",
        tooMany: "too-large",
        bodyTooLarge: "too-large",
        unknownBlock: "other",
      });
    });
  });
  describe("heads are reported as soon as they are learnt (issue 14: the sender looks for receipts on them)", function () {
    it("a poll reports the head it read, and a WebSocket push reports its head before the watcher scans it", async function () {
      const chain = new FakeChain(5);
      let push: ((block: bigint) => void) | null = null;
      const source: ChainSource = chain;
      source.watchHeads = (onBlock) => {
        push = onBlock;
        return () => (push = null);
      };
      const heads: number[] = [];
      // Polls far apart: only a push can make the watcher learn of a head in this test.
      const h = harness(chain, { onHead: (head) => heads.push(head), pollIntervalMs: 60_000 });
      await catchUp(h);
      expect(heads.at(-1), "a poll's head").to.equal(5);
      h.watcher.start();
      try {
        expect(push, "subscribed to new heads").to.not.equal(null);
        chain.mine(1);
        push!(6n);
        expect(heads.at(-1), "the pushed head, before any scan of it").to.equal(6);
        await until("block 6 scanned", () => h.journal.cursor()?.block === 6, { timeoutMs: 10_000, intervalMs: 2 });
      } finally {
        await h.watcher.stop();
        h.journal.close();
      }
    });
  });
});
