import {
  bytesToHex,
  encodeEventTopics,
  hexToBytes,
  HttpRequestError,
  keccak256,
  parseAbi,
  ResponseBodyTooLargeError,
  RpcRequestError,
  TimeoutError,
  toHex,
  type Address,
  type Hex,
  type Log,
} from "viem";
import type { LogQuery } from "../../node/chain/logs.ts";
import type { BlockHeader, ChainSource } from "../../node/chain/watcher.ts";

/** The one event the fake chain emits. */
export const pingAbi = parseAbi(["event Ping(uint256 indexed id)"]);
export const PING_ADDRESS: Address = "0x00000000000000000000000000000000000000aa";

/** Errors as viem throws them for the answers providers really give. */
export const rpcErrors = {
  http500: () => new HttpRequestError({ url: "http://rpc", status: 500, details: "Internal Server Error" }),
  http413: () => new HttpRequestError({ url: "http://rpc", status: 413, details: "Payload Too Large" }),
  http429: () => new HttpRequestError({ url: "http://rpc", status: 429, details: "Too Many Requests" }),
  timeout: () => new TimeoutError({ body: {}, url: "http://rpc" }),
  internal: () => rpc(-32603, "internal error"),
  rateLimit32029: () => rpc(-32029, "rate limit exceeded"),
  results10k: () => rpc(-32005, "query returned more than 10000 results"),
  blockRange: () => rpc(-32000, "exceed maximum block range: 500"),
  rangeTooLarge: () => rpc(-32602, "eth_getLogs block range too large, range: 2000, max: 500"),
  rangeTooWide: () => rpc(-32000, "range is too wide"),
  responseSize: () =>
    rpc(-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"),
  tooMany: () => rpc(-32000, "too many logs in the requested range"),
  /** A block asked for by hash from a node that has not got it (one behind the head). */
  unknownBlock: () => rpc(-32000, "unknown block"),
  /** viem's own refusal of an answer over its 10 MiB default: a range's logs were too many bytes. */
  bodyTooLarge: () => new ResponseBodyTooLargeError({ maxSize: 10_485_760, size: 12_000_000 }),
};

function rpc(code: number, message: string): RpcRequestError {
  return new RpcRequestError({ body: { method: "eth_getLogs" }, error: { code, message }, url: "http://rpc" });
}

/** A block's logs bloom over `values` (each log's address and topics), as a node builds it. */
export function bloomOf(values: Hex[]): Hex {
  const bloom = new Uint8Array(256);
  for (const v of values) {
    const h = hexToBytes(keccak256(v));
    for (const i of [0, 2, 4]) {
      const bit = ((h[i]! << 8) | h[i + 1]!) & 0x7ff;
      bloom[255 - (bit >> 3)]! |= 1 << (bit & 7);
    }
  }
  return bytesToHex(bloom);
}

/** A bloom that names every value (a block full of others' logs). */
export const FULL_BLOOM: Hex = `0x${"ff".repeat(256)}`;

export type Fault = () => unknown;

/**
 * A scripted chain: blocks with hashes chained by parent hash, Ping events in chosen blocks,
 * reorgs that replace the top blocks with a new fork, and faults injected per method. Provider
 * limits (blocks or results per eth_getLogs) answer with the given error.
 */
export class FakeChain implements ChainSource {
  readonly headers: BlockHeader[] = [];
  private readonly logsAt = new Map<number, Log[]>();
  private fork = 0;
  /** Each eth_getLogs call: its span and whether it was answered. */
  readonly getLogsCalls: { from: number; to: number; ok: boolean }[] = [];
  readonly getBlockCalls: number[] = [];
  /** Thrown (when they return an error) before the method answers. */
  faults: { getBlockNumber?: Fault; getBlock?: Fault; getLogs?: Fault } = {};
  /**
   * eth_getLogs over a range answers as a node this many blocks behind the head would: up to its
   * own head, silently (a load-balanced provider whose nodes are not in step). By hash: in full.
   */
  logsLag = 0;
  /** The same for the head and block reads: they answer as a node this many blocks behind would. */
  headLag = 0;
  blockLag = 0;
  /** The hash of each block asked for by an eth_getLogs by block hash. */
  readonly getLogsByHash: Hex[] = [];
  limit: { maxBlocks?: number; maxResults?: number; error: () => unknown } | null = null;

  private readonly eventsIn: (n: number) => number;

  constructor(blocks: number, eventsIn: (n: number) => number = (n) => (n % 7 === 0 ? 1 : 0)) {
    this.eventsIn = eventsIn;
    this.headers.push({
      number: 0n,
      hash: keccak256(toHex("genesis")),
      parentHash: `0x${"00".repeat(32)}`,
      logsBloom: bloomOf([]),
    });
    this.mine(blocks);
  }

  get head(): number {
    return this.headers.length - 1;
  }

  mine(count: number): void {
    for (let i = 0; i < count; i++) {
      const n = this.headers.length;
      const parent = this.headers[n - 1]!;
      const hash = keccak256(toHex(`${n}:${this.fork}`));
      const logs: Log[] = [];
      for (let j = 0; j < this.eventsIn(n); j++) {
        logs.push({
          address: PING_ADDRESS,
          topics: encodeEventTopics({ abi: pingAbi, eventName: "Ping", args: { id: pingId(n, this.fork, j) } }) as [
            Hex,
            ...Hex[],
          ],
          data: "0x",
          blockNumber: BigInt(n),
          blockHash: hash,
          logIndex: j,
          transactionHash: keccak256(toHex(`tx:${n}:${this.fork}:${j}`)),
          transactionIndex: j,
          removed: false,
        });
      }
      this.logsAt.set(n, logs);
      const logsBloom = bloomOf(logs.flatMap((l) => [l.address, ...l.topics]));
      this.headers.push({ number: BigInt(n), hash, parentHash: parent.hash, logsBloom });
    }
  }

  /** Replaces the top `depth` blocks (and their events) with a new fork of the same height. */
  reorg(depth: number): void {
    this.fork++;
    this.headers.length -= depth;
    for (let n = this.headers.length; n < this.headers.length + depth; n++) this.logsAt.delete(n);
    this.mine(depth);
  }

  /** The ids of every event on the current chain from `from` up, in chain order. */
  pingsFrom(from: number, to = this.head): bigint[] {
    const out: bigint[] = [];
    for (let n = from; n <= to; n++)
      for (let j = 0; j < (this.logsAt.get(n)?.length ?? 0); j++) out.push(pingId(n, this.forkOf(n), j));
    return out;
  }

  private forkOf(n: number): number {
    const hash = this.headers[n]!.hash;
    for (let f = 0; f <= this.fork; f++) if (keccak256(toHex(`${n}:${f}`)) === hash) return f;
    throw new Error(`no fork for block ${n}`);
  }

  async getBlockNumber(): Promise<bigint> {
    const e = this.faults.getBlockNumber?.();
    if (e) throw e;
    return BigInt(this.head - this.headLag);
  }

  async getBlock(blockNumber: bigint): Promise<BlockHeader | null> {
    this.getBlockCalls.push(Number(blockNumber));
    const e = this.faults.getBlock?.();
    if (e) throw e;
    if (Number(blockNumber) > this.head - this.blockLag) return null;
    return this.headers[Number(blockNumber)] ?? null;
  }

  async getLogs(args: LogQuery): Promise<Log[]> {
    if ("blockHash" in args) {
      this.getLogsByHash.push(args.blockHash);
      const e = this.faults.getLogs?.();
      if (e) throw e;
      const n = this.headers.findIndex((h) => h.hash === args.blockHash);
      if (n < 0) throw rpc(-32000, "unknown block");
      return this.logsAt.get(n) ?? [];
    }
    const from = Number(args.fromBlock);
    const to = Number(args.toBlock);
    const fail = (e: unknown) => {
      this.getLogsCalls.push({ from, to, ok: false });
      throw e;
    };
    const e = this.faults.getLogs?.();
    if (e) fail(e);
    if (this.limit?.maxBlocks !== undefined && to - from + 1 > this.limit.maxBlocks) fail(this.limit.error());
    const out: Log[] = [];
    for (let n = from; n <= Math.min(to, this.head - this.logsLag); n++) out.push(...(this.logsAt.get(n) ?? []));
    if (this.limit?.maxResults !== undefined && out.length > this.limit.maxResults) fail(this.limit.error());
    this.getLogsCalls.push({ from, to, ok: true });
    return out;
  }
}

function pingId(block: number, fork: number, index: number): bigint {
  return BigInt(block) * 1_000_000n + BigInt(fork) * 1_000n + BigInt(index);
}

/** A fault that fires `times` times (Infinity: until replaced), then lets calls through. */
export function failing(times: number, error: () => unknown): Fault {
  let left = times;
  return () => (left-- > 0 ? error() : undefined);
}
