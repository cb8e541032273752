import { parseEventLogs, type Abi, type Address, type Hex, type Log } from "viem";
import { AdaptiveRange, getLogsAdaptive } from "../chain/logs.ts";
import type { Logger } from "../log.ts";

/** One contract event as the dashboard keeps it: decoded, with its block's timestamp. */
export interface IndexedLog {
  blockNumber: number;
  blockHash: Hex;
  logIndex: number;
  transactionHash: Hex;
  address: Address;
  eventName: string;
  args: Record<string, unknown>;
  /** The block's timestamp (seconds). */
  timestamp: number;
}

/** The chain reads the index needs: a thin facade, so tests can script a chain without a node. */
export interface IndexSource {
  getBlockNumber(): Promise<bigint>;
  getLogs(args: { address: Address[]; fromBlock: bigint; toBlock: bigint }): Promise<Log[]>;
  /** A block's timestamp in seconds (asked only for logs that do not carry `blockTimestamp`). */
  getBlockTimestamp(blockNumber: bigint): Promise<number>;
}

interface EventIndexOptions {
  source: IndexSource;
  addresses: Address[];
  /** ABI whose events are decoded (every contract's, merged). */
  abi: Abi;
  /** First block scanned (the earliest deployment block). */
  startBlock: number;
  /** Most blocks per eth_getLogs query (default 2,000, the project's log-range limit). */
  maxLogRange?: number;
  /**
   * Blocks below the head that are scanned again on every new block (default 5): a reorg no
   * deeper than this is repaired by replacing those blocks' events with what the chain says now.
   */
  reorgDepth?: number;
  /** How often the head is polled (default 1,000 ms). */
  pollIntervalMs?: number;
  /** What is kept of each event's arguments (default: all), so large fields do not fill memory. */
  keepArgs?: (eventName: string, args: Record<string, unknown>) => Record<string, unknown>;
  log: Logger;
}

interface IndexUpdate {
  head: number;
  /** Events replaced because the chain no longer had them (a reorg). */
  dropped: number;
  added: number;
}

export interface EventIndex {
  /** Highest block indexed (-1 before the first sync). */
  readonly head: number;
  /** Every event indexed, in chain order. */
  logs(): readonly IndexedLog[];
  /**
   * Scans up to the current head; resolves with what changed, or null when there was no new block
   * (or a head below the indexed one, until LOWER_HEAD_POLLS polls in a row saw one).
   */
  syncOnce(): Promise<IndexUpdate | null>;
  /** Follows the head; `onUpdate` is called after each sync that saw a new block. */
  start(onUpdate: (u: IndexUpdate) => void): void;
  stop(): Promise<void>;
}

const key = (l: { blockHash: Hex; logIndex: number }) => `${l.blockHash}:${l.logIndex}`;

/**
 * Polls in a row that must see a head below the indexed one before the chain is taken to be
 * shorter (a reorg onto a shorter fork). A load-balanced RPC provider answers some calls from a
 * node a block or two behind: taken at its word, its lower head dropped the newer blocks' events
 * (logged as a reorg) until the next poll put them back. The chain runner's watcher has the same
 * rule for a block its node says it no longer has.
 */
const LOWER_HEAD_POLLS = 3;

/**
 * An in-memory index of the contracts' events, kept by the serving process: a backfill from the
 * deployment blocks in ranges no larger than the log-range limit, then on each new head a scan of
 * the last `reorgDepth` blocks and the new ones, whose events replace what was stored for those
 * blocks (so a shallow reorg is repaired without tracking block hashes).
 */
export function createEventIndex(o: EventIndexOptions): EventIndex {
  const range = new AdaptiveRange({ maxRange: o.maxLogRange ?? 2_000 });
  const depth = Math.max(1, o.reorgDepth ?? 5);
  const timestamps = new Map<Hex, number>();
  let stored: IndexedLog[] = [];
  let head = -1;
  /** Polls in a row that saw a head below `head` (see LOWER_HEAD_POLLS). */
  let lowerHeads = 0;
  let running = false;
  let loop: Promise<void> | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let wake: (() => void) | null = null;

  async function timestampOf(log: Log): Promise<number> {
    const carried = (log as { blockTimestamp?: bigint | string | number | null }).blockTimestamp;
    if (carried !== undefined && carried !== null) return Number(carried);
    const hash = log.blockHash!;
    let t = timestamps.get(hash);
    if (t === undefined) {
      t = await o.source.getBlockTimestamp(log.blockNumber!);
      timestamps.set(hash, t);
    }
    return t;
  }

  async function syncOnce(): Promise<IndexUpdate | null> {
    const now = Number(await o.source.getBlockNumber());
    if (now >= head) lowerHeads = 0;
    else if (++lowerHeads < LOWER_HEAD_POLLS) return null;
    if (now === head) return null;
    const from = head < 0 ? o.startBlock : Math.max(o.startBlock, Math.min(head, now) - depth + 1);
    const raw =
      from > now
        ? []
        : await getLogsAdaptive({
            fromBlock: from,
            toBlock: now,
            range,
            query: (f, t) => o.source.getLogs({ address: o.addresses, fromBlock: BigInt(f), toBlock: BigInt(t) }),
          });
    const decoded = parseEventLogs({ abi: o.abi, logs: raw, strict: true });
    const fresh: IndexedLog[] = [];
    for (const l of decoded) {
      if (l.blockNumber === null || l.blockHash === null || l.logIndex === null || l.transactionHash === null) continue;
      fresh.push({
        blockNumber: Number(l.blockNumber),
        blockHash: l.blockHash,
        logIndex: l.logIndex,
        transactionHash: l.transactionHash,
        address: l.address,
        eventName: l.eventName,
        args: o.keepArgs
          ? o.keepArgs(l.eventName, (l.args ?? {}) as Record<string, unknown>)
          : ((l.args ?? {}) as Record<string, unknown>),
        timestamp: await timestampOf(l),
      });
    }
    const keep = stored.filter((l) => l.blockNumber < from);
    const replaced = stored.filter((l) => l.blockNumber >= from);
    const freshKeys = new Set(fresh.map(key));
    const dropped = replaced.filter((l) => !freshKeys.has(key(l))).length;
    const replacedKeys = new Set(replaced.map(key));
    const added = fresh.filter((l) => !replacedKeys.has(key(l))).length;
    if (dropped > 0)
      o.log.warn("dashboard index: events no longer on the chain were dropped (reorg)", { from, dropped });
    stored = keep.length === stored.length ? [...stored, ...fresh] : [...keep, ...fresh];
    if (timestamps.size > 10_000) timestamps.clear();
    head = now;
    lowerHeads = 0;
    return { head, dropped, added };
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });

  return {
    get head() {
      return head;
    },
    logs: () => stored,
    syncOnce,
    start(onUpdate) {
      if (running) return;
      running = true;
      loop = (async () => {
        while (running) {
          try {
            const u = await syncOnce();
            if (u) onUpdate(u);
          } catch (error) {
            o.log.warn("dashboard index: sync failed, retrying", { error });
          }
          if (running) await sleep(o.pollIntervalMs ?? 1_000);
        }
      })();
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      wake?.();
      await loop;
    },
  };
}
