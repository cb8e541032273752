import { expect } from "chai";
import {
  encodeAbiParameters,
  encodeEventTopics,
  keccak256,
  parseAbi,
  toHex,
  type Address,
  type Hex,
  type Log,
} from "viem";
import { createEventIndex, type IndexSource } from "../../node/dashboard/indexer.ts";
import { LogQueryTooLargeError } from "../../node/chain/logs.ts";
import { silentLogger } from "../../node/log.ts";

const abi = parseAbi(["event Ping(uint256 indexed id, uint256 value)"]);
const ADDRESS = "0x00000000000000000000000000000000000000aa" as Address;

/** A scripted chain: blocks of Ping events, a head that moves, reorgs that rewrite blocks. */
function fakeChain(opts: { maxRange?: number } = {}) {
  const blocks: { hash: Hex; pings: { id: bigint; value: bigint }[] }[] = [];
  const queries: [number, number][] = [];
  const timestampAsks: number[] = [];
  let fork = 0;
  const mine = (pings: { id: bigint; value: bigint }[] = []) =>
    blocks.push({ hash: keccak256(toHex(`${blocks.length}:${fork}`)), pings });
  const log = (n: number, i: number, p: { id: bigint; value: bigint }): Log =>
    ({
      address: ADDRESS,
      blockNumber: BigInt(n),
      blockHash: blocks[n]!.hash,
      logIndex: i,
      transactionHash: keccak256(toHex(`tx${n}:${i}`)),
      transactionIndex: 0,
      removed: false,
      data: encodeAbiParameters([{ type: "uint256" }], [p.value]),
      topics: encodeEventTopics({ abi, eventName: "Ping", args: { id: p.id } }) as [Hex, ...Hex[]],
    }) as Log;
  const source: IndexSource = {
    getBlockNumber: async () => BigInt(blocks.length - 1),
    async getLogs({ fromBlock, toBlock }) {
      const from = Number(fromBlock);
      const to = Number(toBlock);
      queries.push([from, to]);
      if (opts.maxRange && to - from + 1 > opts.maxRange)
        throw Object.assign(new Error("block range too large"), { code: -32005 });
      const out: Log[] = [];
      for (let n = from; n <= Math.min(to, blocks.length - 1); n++)
        blocks[n]!.pings.forEach((p, i) => out.push(log(n, i, p)));
      return out;
    },
    async getBlockTimestamp(n) {
      timestampAsks.push(Number(n));
      return 1_000 + Number(n);
    },
  };
  return {
    source,
    queries,
    timestampAsks,
    mine,
    /** Replaces every block from `n` on (a reorg): new hashes, new contents. */
    reorg(n: number, replacement: { id: bigint; value: bigint }[][]) {
      fork++;
      blocks.length = n;
      for (const pings of replacement) mine(pings);
    },
  };
}

const ids = (logs: readonly { args: Record<string, unknown> }[]) => logs.map((l) => Number(l.args.id as bigint));

describe("dashboard event index (fake chain)", function () {
  it("backfills from the start block in ranges no larger than the log-range limit", async function () {
    const chain = fakeChain({ maxRange: 10 });
    for (let i = 0; i < 45; i++) chain.mine(i % 3 === 0 ? [{ id: BigInt(i), value: 1n }] : []);
    const index = createEventIndex({
      source: chain.source,
      addresses: [ADDRESS],
      abi,
      startBlock: 3,
      maxLogRange: 10,
      log: silentLogger,
    });
    const u = await index.syncOnce();
    expect(u).to.deep.include({ head: 44, dropped: 0 });
    expect(ids(index.logs())).to.deep.equal([3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42]);
    for (const [from, to] of chain.queries) expect(to - from + 1).to.be.at.most(10);
    expect(chain.queries[0]![0]).to.equal(3);
    expect(index.logs()[0]!.timestamp).to.equal(1_003);
  });

  it("adds a new block's events, re-scans only the last few blocks, and does nothing without a new block", async function () {
    const chain = fakeChain();
    for (let i = 0; i < 20; i++) chain.mine([{ id: BigInt(i), value: 0n }]);
    const index = createEventIndex({
      source: chain.source,
      addresses: [ADDRESS],
      abi,
      startBlock: 0,
      reorgDepth: 4,
      log: silentLogger,
    });
    await index.syncOnce();
    chain.queries.length = 0;
    expect(await index.syncOnce()).to.equal(null);
    expect(chain.queries).to.deep.equal([]);
    chain.mine([{ id: 100n, value: 0n }]);
    const u = await index.syncOnce();
    expect(u).to.deep.equal({ head: 20, dropped: 0, added: 1 });
    expect(chain.queries).to.deep.equal([[16, 20]]);
    expect(ids(index.logs()).slice(-3)).to.deep.equal([18, 19, 100]);
    expect(index.logs()).to.have.length(21);
  });

  it("repairs a reorg within its depth: events of replaced blocks are dropped, the new ones kept", async function () {
    const chain = fakeChain();
    for (let i = 0; i < 10; i++) chain.mine([{ id: BigInt(i), value: 0n }]);
    const index = createEventIndex({
      source: chain.source,
      addresses: [ADDRESS],
      abi,
      startBlock: 0,
      reorgDepth: 5,
      log: silentLogger,
    });
    await index.syncOnce();
    // Blocks 7..9 are replaced by four blocks with other events (7 and 9 gone, 70 and 90 new).
    chain.reorg(7, [[{ id: 70n, value: 0n }], [{ id: 8n, value: 0n }], [], [{ id: 90n, value: 0n }]]);
    const u = await index.syncOnce();
    expect(u!.head).to.equal(10);
    expect(u!.dropped).to.equal(3);
    expect(ids(index.logs())).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 70, 8, 90]);
  });

  it("repairs a reorg to a shorter chain once three polls in a row see the lower head; a lower head from a node behind drops nothing", async function () {
    const chain = fakeChain();
    for (let i = 0; i < 10; i++) chain.mine([{ id: BigInt(i), value: 0n }]);
    const index = createEventIndex({
      source: chain.source,
      addresses: [ADDRESS],
      abi,
      startBlock: 0,
      reorgDepth: 3,
      log: silentLogger,
    });
    await index.syncOnce();
    const atTen = ids(index.logs());
    // A node two blocks behind answers one poll (a load-balanced provider): nothing is dropped.
    let behind = false;
    const lagged = createEventIndex({
      source: { ...chain.source, getBlockNumber: async () => (behind ? 7n : chain.source.getBlockNumber()) },
      addresses: [ADDRESS],
      abi,
      startBlock: 0,
      reorgDepth: 3,
      log: silentLogger,
    });
    await lagged.syncOnce();
    behind = true;
    expect(await lagged.syncOnce()).to.equal(null);
    behind = false;
    expect(await lagged.syncOnce(), "the head it had: no new block").to.equal(null);
    expect(ids(lagged.logs())).to.deep.equal(atTen);
    expect(lagged.head).to.equal(9);
    // A real shorter fork: the third poll in a row that sees it repairs the index.
    chain.reorg(8, []);
    expect(await index.syncOnce()).to.equal(null);
    expect(await index.syncOnce()).to.equal(null);
    expect(ids(index.logs()), "kept until the lower head is seen three times").to.deep.equal(atTen);
    const u = await index.syncOnce();
    expect(u).to.deep.include({ head: 7, dropped: 2 });
    expect(ids(index.logs())).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("asks a block's timestamp once however many events it holds, and uses blockTimestamp when logs carry it", async function () {
    const chain = fakeChain();
    chain.mine([
      { id: 1n, value: 0n },
      { id: 2n, value: 0n },
      { id: 3n, value: 0n },
    ]);
    chain.mine([{ id: 4n, value: 0n }]);
    const index = createEventIndex({
      source: chain.source,
      addresses: [ADDRESS],
      abi,
      startBlock: 0,
      log: silentLogger,
    });
    await index.syncOnce();
    expect(chain.timestampAsks).to.deep.equal([0, 1]);
    const carrying: IndexSource = {
      ...chain.source,
      getLogs: async (a) => (await chain.source.getLogs(a)).map((l) => ({ ...l, blockTimestamp: 5n }) as Log),
    };
    const asks = chain.timestampAsks.length;
    const other = createEventIndex({ source: carrying, addresses: [ADDRESS], abi, startBlock: 0, log: silentLogger });
    await other.syncOnce();
    expect(chain.timestampAsks).to.have.length(asks);
    expect(other.logs().map((l) => l.timestamp)).to.deep.equal([5, 5, 5, 5]);
  });

  it("fails a sync with a typed error when even one block is over the provider's limits, and keeps its state", async function () {
    const chain = fakeChain();
    chain.mine([{ id: 1n, value: 0n }]);
    const index = createEventIndex({
      source: chain.source,
      addresses: [ADDRESS],
      abi,
      startBlock: 0,
      log: silentLogger,
    });
    await index.syncOnce();
    chain.mine([{ id: 2n, value: 0n }]);
    const broken: IndexSource = {
      ...chain.source,
      getLogs: async () =>
        Promise.reject(Object.assign(new Error("query returned more than 10000 results"), { code: -32005 })),
    };
    const failing = createEventIndex({
      source: broken,
      addresses: [ADDRESS],
      abi,
      startBlock: 0,
      maxLogRange: 1,
      log: silentLogger,
    });
    let error: unknown;
    await failing.syncOnce().catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(LogQueryTooLargeError);
    expect(failing.head).to.equal(-1);
  });

  it("follows the head when started and calls back once per new block", async function () {
    const chain = fakeChain();
    chain.mine([{ id: 1n, value: 0n }]);
    const index = createEventIndex({
      source: chain.source,
      addresses: [ADDRESS],
      abi,
      startBlock: 0,
      pollIntervalMs: 5,
      log: silentLogger,
    });
    const heads: number[] = [];
    let seen: () => void = () => {};
    index.start((u) => {
      heads.push(u.head);
      if (u.head === 2) seen();
    });
    await new Promise<void>((resolve) => {
      seen = resolve;
      chain.mine([{ id: 2n, value: 0n }]);
      chain.mine([]);
    });
    await index.stop();
    expect(heads.at(-1)).to.equal(2);
    expect(new Set(heads).size).to.equal(heads.length);
    expect(ids(index.logs())).to.deep.equal([1, 2]);
  });
});
