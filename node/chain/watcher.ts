import {
  BlockNotFoundError,
  parseEventLogs,
  type Abi,
  type Address,
  type Hex,
  type Log,
  type PublicClient,
} from "viem";
import type { Journal } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import { withLogsLeftOut } from "./logs-left-out.ts";
import { AdaptiveRange, getLogsAdaptive, RpcFailedError, type LogErrorKind, type LogQuery } from "./logs.ts";
import { oneLine } from "../errors.ts";
import { loopBudget } from "../loop-budget.ts";
import type { LogThread } from "./log-thread.ts";

/** A decoded event as the runner's services get it (the raw `data` and `topics` are not kept). */
export type DecodedLog = Omit<Log<bigint, number, false>, "data" | "topics"> & {
  eventName: string;
  args: Record<string, unknown>;
};

/** The block header fields the watcher uses. */
export interface BlockHeader {
  number: bigint;
  hash: Hex;
  parentHash: Hex;
  /** The bloom of every log's address and topics in the block (null: a node that gave none). */
  logsBloom: Hex | null;
}

/**
 * The chain reads the watcher needs: a thin facade, so tests can script a chain (reorgs, RPC
 * errors, provider limits) without a node. `getBlock` resolves null only when the node answered
 * that it has no such block; any failure to get an answer must reject.
 */
export interface ChainSource {
  getBlockNumber(): Promise<bigint>;
  getBlock(blockNumber: bigint): Promise<BlockHeader | null>;
  getLogs(args: LogQuery): Promise<Log[]>;
  /**
   * The same logs already decoded with the watcher's ABI (on the chain-log thread, see
   * log-thread.ts); used instead of `getLogs` when present.
   */
  getDecodedLogs?(args: LogQuery): Promise<DecodedLog[]>;
  /** Calls `onBlock` with each new head's number (WebSocket subscriptions); returns the unsubscribe. */
  watchHeads?(onBlock: (block: bigint) => void): () => void;
}

/**
 * A {@link ChainSource} over a viem public client; with a chain-log thread, logs are fetched and
 * decoded there (it must decode with the watcher's ABI).
 */
export function chainSourceOf(publicClient: PublicClient, logThread?: LogThread): ChainSource {
  return {
    ...(logThread && { getDecodedLogs: (args) => logThread.getLogs(args) }),
    getBlockNumber: () => publicClient.getBlockNumber({ cacheTime: 0 }),
    async getBlock(blockNumber) {
      try {
        const b = await publicClient.getBlock({ blockNumber });
        return { number: b.number, hash: b.hash, parentHash: b.parentHash, logsBloom: b.logsBloom };
      } catch (error) {
        // The node's definite "no such block" (it answered null); everything else is no answer.
        if (error instanceof BlockNotFoundError) return null;
        throw error;
      }
    },
    getLogs: (args) => publicClient.getLogs(args),
    watchHeads:
      publicClient.transport.type === "webSocket"
        ? (onBlock) => publicClient.watchBlockNumber({ onBlockNumber: (block) => onBlock(block), emitOnBegin: false })
        : undefined,
  };
}

export interface WatcherOptions {
  chain: ChainSource;
  journal: Journal;
  addresses: Address[];
  /** ABI whose events are decoded (the market's and the registries'). */
  abi: Abi;
  confirmations: number;
  pollIntervalMs: number;
  /** Longest wait between polls while the RPC keeps failing (default 5 s). */
  maxBackoffMs?: number;
  /** First block to scan when the journal has no cursor. */
  startBlock: number;
  /** Blocks per eth_getLogs query at start (default `maxLogRange`); halved on provider limits. */
  initialLogRange?: number;
  /** Most blocks per eth_getLogs query, and per scanned range (default 2,000). */
  maxLogRange?: number;
  /**
   * Below the scanned range's end, how many blocks' hashes are kept (each one), so that a reorg is
   * rewound only as deep as it went. Fetched only when the range ends this close to the head.
   */
  denseHashDepth?: number;
  log: Logger;
  /** Called with each confirmed range's events, in order; must be idempotent. */
  onLogs: (logs: DecodedLog[]) => Promise<void>;
  /** Called after a reorg rewound the cursor to `ancestor`; the range is then scanned again. */
  onReorg?: (ancestor: number, jobIds: bigint[]) => void;
  onProgress?: (head: number, processed: number) => void;
  /**
   * Each head as soon as the watcher learns of it (a WebSocket push, or a poll's read), before
   * any scan: what the transaction sender waits on for receipts.
   */
  onHead?: (head: number) => void;
  /** Every failed RPC call (for a metric); `kind` says what an eth_getLogs failure meant. */
  onRpcError?: (error: unknown, kind?: LogErrorKind) => void;
}

export interface ChainWatcher {
  /** Highest block seen at the head, and highest fully processed (-1 before the first poll). */
  readonly head: number;
  readonly processed: number;
  start(): void;
  stop(): Promise<void>;
  /** Polls now instead of at the next interval. */
  wake(): void;
  /** Scans one range. Resolves true when caught up with the confirmed head. */
  pollOnce(): Promise<boolean>;
  /**
   * The header of a block near the head that the watcher scanned and still holds on the chain (the
   * last RECENT_HEADERS), for readers of other events that check their answers' blooms.
   */
  header(block: number): BlockHeader | undefined;
}

/**
 * How long the node must go on saying it has no block at the cursor, while its head is at or
 * above it, before the cursor counts as gone (a shorter chain): for this many polls in a row,
 * over which the head rose by this many blocks. Until then the answer may be a lagging node's
 * (a load-balanced provider's), which has the block once the chain is a few blocks further.
 * Counted in polls alone, three quick polls at one head all went to the node behind and rewound
 * jobs on a chain that had not reorganised.
 */
const CURSOR_UNKNOWN_POLLS = 3;

/** Scanned headers kept for {@link ChainWatcher.header}. */
const RECENT_HEADERS = 256;

export function createChainWatcher(options: WatcherOptions): ChainWatcher {
  return new Watcher(options);
}

/** A block the journal recorded is not where the chain is now, or an RPC read changed mid-scan. */
class ScanRaceError extends RpcFailedError {}

/** A by-hash read's answer from a node that has not got the block (yet). */
const BLOCK_UNKNOWN = /unknown block|not found/i;

/**
 * The wait before the run loop polls again after a failed poll that waited `backoff`. A race
 * between a provider's nodes (a block one of them lacks yet, one that changed mid-scan) is no
 * overload: it is polled again at the usual pace, where doubling the wait had the runner see new
 * jobs seconds late for as long as the provider's nodes were out of step. Any other failure
 * doubles the wait, up to `maxMs`.
 */
export function retryWaitMs(error: unknown, backoff: number, pollIntervalMs: number, maxMs: number): number {
  return error instanceof ScanRaceError ? pollIntervalMs : Math.min(backoff * 2, maxMs);
}

/**
 * Follows the chain by fast polling (and immediately on new heads over WebSocket): scans
 * confirmed blocks from the journal's cursor, hands their events over in order, then advances
 * the cursor. Before each scan it checks the cursor's block hash; if the chain definitely no
 * longer has it, it rewinds to the newest stored block still on the chain and scans again from
 * there. An RPC failure is never read as "not on the chain": the poll fails and is retried.
 */
class Watcher implements ChainWatcher {
  private running = false;
  private wakeUp: (() => void) | null = null;
  /** A wake-up came while a poll was running: poll again at once instead of sleeping. */
  private woken = false;
  private unwatch: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly opts: WatcherOptions;
  private readonly range: AdaptiveRange;
  private readonly denseDepth: number;
  head = -1;
  processed = -1;
  private readonly recent = new Map<number, BlockHeader>();
  /** Polls in a row in which the node said it had no block at the cursor. */
  private cursorUnknown = 0;
  /** The head read at the first of those polls. */
  private cursorUnknownHead = 0;

  constructor(options: WatcherOptions) {
    this.opts = options;
    this.range = new AdaptiveRange({ initialRange: options.initialLogRange, maxRange: options.maxLogRange ?? 2_000 });
    this.denseDepth = Math.max(1, options.denseHashDepth ?? 128);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unwatch =
      this.opts.chain.watchHeads?.((block) => {
        this.opts.onHead?.(Number(block));
        this.wake();
      }) ?? null;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unwatch?.();
    this.wake();
    await this.loop;
  }

  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  private async run(): Promise<void> {
    let backoff = this.opts.pollIntervalMs;
    while (this.running) {
      try {
        this.woken = false;
        const caughtUp = await this.pollOnce();
        backoff = this.opts.pollIntervalMs;
        if (!caughtUp || this.woken) continue;
      } catch (error) {
        backoff = retryWaitMs(error, backoff, this.opts.pollIntervalMs, this.opts.maxBackoffMs ?? 5_000);
        if (error instanceof ScanRaceError)
          this.opts.log.info("chain poll raced the provider's nodes; polling again", {
            error: firstLine(error),
            retryInMs: backoff,
          });
        else this.opts.log.warn("chain poll failed; retrying", { error: firstLine(error), retryInMs: backoff });
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = null;
    }
  }

  /**
   * Every RPC call but eth_getLogs goes through here: each failure is counted once and becomes a
   * retryable {@link RpcFailedError}, which fails the poll (retried with backoff), never a rewind.
   */
  private async rpc<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.opts.onRpcError?.(error);
      throw new RpcFailedError("RPC call failed", { cause: error });
    }
  }

  private async block(n: number): Promise<BlockHeader | null> {
    return this.rpc(() => this.opts.chain.getBlock(BigInt(n)));
  }

  async pollOnce(): Promise<boolean> {
    const { journal, confirmations } = this.opts;
    this.head = Number(await this.rpc(() => this.opts.chain.getBlockNumber()));
    this.opts.onHead?.(this.head);
    const target = this.head - confirmations;
    let cursor = journal.cursor() ?? { block: this.opts.startBlock - 1, hash: null as Hex | null };
    if (cursor.hash !== null && this.head < cursor.block) {
      // The node is behind our cursor: one of a load-balanced provider's nodes not in step, or a
      // shorter chain, which shows as another hash at the cursor once the chain is that high again.
      this.processed = cursor.block;
      this.opts.onProgress?.(this.head, this.processed);
      return true;
    }
    if (cursor.hash !== null) {
      const b = await this.block(cursor.block);
      if (b === null && this.cursorUnknown++ === 0) this.cursorUnknownHead = this.head;
      if (
        b === null &&
        (this.cursorUnknown < CURSOR_UNKNOWN_POLLS || this.head < this.cursorUnknownHead + CURSOR_UNKNOWN_POLLS)
      )
        // A node that gave a head at or above it may still send this call to one that lacks it.
        throw new ScanRaceError(`block ${cursor.block} is not known to the node; asking again`);
      this.cursorUnknown = 0;
      if (b === null || b.hash !== cursor.hash) cursor = { block: await this.rewind(), hash: null };
    }
    this.processed = cursor.block;
    this.opts.onProgress?.(this.head, this.processed);
    const from = cursor.block + 1;
    if (from > target) return true;
    let to = Math.min(target, from + this.range.max - 1);

    // Near the head, every block below `to` (within the dense depth) is fetched, checked to be
    // one chain (each parent hash is the block below), and kept; deeper ranges, which no reorg
    // reaches, keep only `to` and the blocks their logs are in.
    const headers = new Map<number, BlockHeader>();
    const denseFrom = target - to < this.denseDepth ? Math.max(from, to - this.denseDepth + 1) : to;
    // A node behind the one that gave the head lacks its newest blocks: the scan stops below them.
    to = await this.fetchHeaders(denseFrom, to, headers);
    if (to < denseFrom) {
      // Not even the first block: the node asked has nothing new yet, as when its head is below.
      if (denseFrom === from) return true;
      throw new ScanRaceError(`block ${denseFrom} vanished during the scan`);
    }
    for (let n = denseFrom + 1; n <= to; n++) {
      if (headers.get(n)!.parentHash !== headers.get(n - 1)!.hash)
        throw new ScanRaceError(`block ${n} changed during the scan`);
    }
    // The chain moved under the cursor since it was checked: the next poll finds the ancestor.
    if (denseFrom === from && cursor.hash !== null && headers.get(from)!.parentHash !== cursor.hash) {
      throw new ScanRaceError(`block ${from} no longer follows the cursor`);
    }

    // Deep ranges keep only the top header: they are far below any node's head.
    const logs = await withLogsLeftOut({
      logs: await this.logsOf(from, to),
      from,
      to,
      blocks: headers.values(),
      addresses: this.opts.addresses,
      byHash: (hash) => this.logsAt(hash),
      onLeftOut: (block, events) =>
        this.opts.log.warn("the provider's eth_getLogs answer left out a block's events; read them by block hash", {
          from,
          to,
          block,
          events,
        }),
    });
    // Logs must come from the chain whose hashes we are about to record, or a reorg slipped in.
    for (const log of logs) {
      const n = Number(log.blockNumber);
      let header = headers.get(n);
      if (!header) {
        const b = await this.block(n);
        if (!b) throw new ScanRaceError(`block ${n} vanished during the scan`);
        headers.set(n, (header = b));
      }
      if (header.hash !== log.blockHash) throw new ScanRaceError(`block ${n} changed during the scan`);
    }
    // A receipt of ours read from a block this chain does not have: a reorg replaced it while it
    // was above the cursor, which stayed on the chain, so the check above did not see it. What was
    // done on the receipt (a seat, a reveal) is taken back as after any reorg.
    const receipts = journal.receiptBlocks(to);
    const dropped = await this.firstDropped(receipts, headers);
    if (dropped !== null) {
      this.processed = Math.min(
        this.processed,
        this.rewound(dropped - 1, "a block our receipt came from was reorganised away; scanning again"),
      );
      return false;
    }
    await this.opts.onLogs(logs);
    const top = headers.get(to)!;
    journal.advance(
      to,
      top.hash,
      [...headers.values()].map((h) => ({ block: Number(h.number), hash: h.hash })),
      receipts,
    );
    this.processed = to;
    for (const [n, h] of headers) this.recent.set(n, h);
    for (const n of this.recent.keys()) if (n <= to - RECENT_HEADERS) this.recent.delete(n);
    this.opts.onProgress?.(this.head, this.processed);
    return to >= target;
  }

  header(block: number): BlockHeader | undefined {
    return block <= this.processed ? this.recent.get(block) : undefined;
  }

  /** The decoded events of one block, asked for by its hash. */
  private async logsAt(blockHash: Hex): Promise<DecodedLog[]> {
    const { chain, addresses } = this.opts;
    const query: LogQuery = { address: addresses, blockHash };
    try {
      return chain.getDecodedLogs ? await chain.getDecodedLogs(query) : await this.decoded(await chain.getLogs(query));
    } catch (error) {
      this.opts.onRpcError?.(error);
      const message = `eth_getLogs of block ${blockHash} failed`;
      // Asked of a node behind the one that gave the block: a race, not a failing provider.
      if (BLOCK_UNKNOWN.test(oneLine(error))) throw new ScanRaceError(message, { cause: error });
      throw new RpcFailedError(message, { cause: error });
    }
  }

  /** The decoded events of [from, to], in queries the provider accepts. */
  private async logsOf(from: number, to: number): Promise<DecodedLog[]> {
    const { chain, addresses } = this.opts;
    const fetch = <T>(query: (args: { address: Address[]; fromBlock: bigint; toBlock: bigint }) => Promise<T[]>) =>
      getLogsAdaptive({
        fromBlock: from,
        toBlock: to,
        range: this.range,
        query: (f, t) => query({ address: addresses, fromBlock: BigInt(f), toBlock: BigInt(t) }),
        // The poll loop backs off on rate limits (and can be stopped meanwhile): no retries inside.
        rateLimitRetries: 0,
        onRpcError: (error, kind) => {
          this.opts.onRpcError?.(error, kind);
          if (kind === "too-large")
            this.opts.log.debug("log range too large for the provider; splitting", {
              from,
              to,
              range: this.range.size,
            });
        },
      });
    if (chain.getDecodedLogs) return fetch((args) => chain.getDecodedLogs!(args));
    return this.decoded(await fetch((args) => chain.getLogs(args)));
  }

  /** Raw logs decoded with the watcher's ABI, on this thread. */
  private async decoded(raw: Log[]): Promise<DecodedLog[]> {
    return (await parseEventLogsInSlices({ abi: this.opts.abi, logs: raw, strict: true })) as DecodedLog[];
  }

  /**
   * Headers of blocks from..to into `into`, a few requests at a time; returns the last block of
   * the run from `from` that the node had. A block missing above `from` was asked of a node
   * behind the one that gave the head (a load-balanced provider), or the chain is getting
   * shorter: either way the blocks below it are a chain to scan now, and the next poll takes the
   * rest (`from - 1` when `from` itself is missing).
   */
  private async fetchHeaders(from: number, to: number, into: Map<number, BlockHeader>): Promise<number> {
    const numbers: number[] = [];
    for (let n = from; n <= to; n++) numbers.push(n);
    for (let i = 0; i < numbers.length; i += 16) {
      const batch = numbers.slice(i, i + 16);
      const got = await Promise.all(batch.map((n) => this.block(n)));
      for (let j = 0; j < got.length; j++) {
        const n = batch[j]!;
        const b = got[j];
        if (!b) return n - 1;
        into.set(n, b);
      }
    }
    return to;
  }

  /**
   * Whether the chain has `hash` at `block`: true or false only on the node's answer (the block,
   * or its definite absence); a failed call rejects, so no RPC hiccup ever reads as a reorg.
   */
  private async onChain(block: number, hash: Hex): Promise<boolean> {
    const b = await this.block(block);
    return b !== null && b.hash === hash;
  }

  private async rewind(): Promise<number> {
    let ancestor = this.opts.startBlock - 1;
    // Any stored hash still on the chain is a common ancestor (a hash commits to its history):
    // the newest such one is as far back as the reorg reached.
    for (const stored of this.opts.journal.recentBlocks()) {
      if (await this.onChain(stored.block, stored.hash)) {
        ancestor = stored.block;
        break;
      }
    }
    return this.rewound(ancestor, "chain reorganised; scanning again");
  }

  /** Takes the journal back to `ancestor` (its jobs are decided anew) and says so. */
  private rewound(ancestor: number, message: string): number {
    const jobIds = this.opts.journal.rewindTo(ancestor);
    for (const n of this.recent.keys()) if (n > ancestor) this.recent.delete(n);
    this.opts.log.warn(message, { ancestor, jobs: jobIds.length });
    this.opts.onReorg?.(ancestor, jobIds);
    return ancestor;
  }

  /**
   * The lowest of `receipts` (lowest first) whose block is not the chain's: compared with this
   * scan's headers, the stored hashes at or below the cursor (checked on the chain at this poll),
   * or else the node's block.
   */
  private async firstDropped(
    receipts: readonly { block: number; hash: Hex }[],
    headers: ReadonlyMap<number, BlockHeader>,
  ): Promise<number | null> {
    for (const r of receipts) {
      const hash =
        headers.get(r.block)?.hash ?? this.opts.journal.blockHash(r.block) ?? (await this.block(r.block))?.hash;
      if (hash !== r.hash) return r.block;
    }
    return null;
  }
}

function firstLine(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${oneLine(error)}: ${oneLine(cause)}` : oneLine(error);
}

/** Logs decoded between two looks at the loop budget (see {@link parseEventLogsInSlices}). */
const LOGS_PER_SLICE = 8;

/**
 * viem's parseEventLogs, a few logs at a time with the event loop's budget in between (issue 14):
 * a JobRequested log (a job and its inline input) takes about half a millisecond to decode, and a
 * burst's range holds hundreds of them. Same result as one call over all the logs.
 */
export async function parseEventLogsInSlices(args: {
  abi: Abi;
  logs: Log[];
  strict: boolean;
}): Promise<(Log & { eventName: string; args: unknown })[]> {
  const out: (Log & { eventName: string; args: unknown })[] = [];
  for (let i = 0; i < args.logs.length; i += LOGS_PER_SLICE) {
    await loopBudget.turn("event"); // events before job steps, as in Processor.onLogs
    out.push(
      ...(parseEventLogs({
        abi: args.abi,
        logs: args.logs.slice(i, i + LOGS_PER_SLICE),
        strict: args.strict,
      }) as unknown as (Log & { eventName: string; args: unknown })[]),
    );
  }
  return out;
}
