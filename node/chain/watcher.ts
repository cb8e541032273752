import { parseEventLogs, type Abi, type Address, type Hex, type Log, type PublicClient } from "viem";
import type { Journal } from "../journal/journal.ts";
import type { Logger } from "../log.ts";

export type DecodedLog = Log<bigint, number, false> & { eventName: string; args: Record<string, unknown> };

export interface WatcherOptions {
  publicClient: PublicClient;
  journal: Journal;
  addresses: Address[];
  /** ABI whose events are decoded (the market's and the registries'). */
  abi: Abi;
  confirmations: number;
  pollIntervalMs: number;
  /** First block to scan when the journal has no cursor. */
  startBlock: number;
  maxRange?: number;
  log: Logger;
  /** Called with each confirmed range's events, in order; must be idempotent. */
  onLogs: (logs: DecodedLog[]) => Promise<void>;
  /** Called after a reorg rewound the cursor to `ancestor`; the range is then scanned again. */
  onReorg?: (ancestor: number, jobIds: bigint[]) => void;
  onProgress?: (head: number, processed: number) => void;
}

/**
 * Follows the chain by fast polling (and immediately on new heads over WebSocket): scans
 * confirmed blocks from the journal's cursor, hands their events over in order, then advances
 * the cursor. Before each scan it checks the cursor's block hash; if the chain no longer has it,
 * it rewinds to the newest stored block still on the chain and scans again from there.
 */
export class ChainWatcher {
  private running = false;
  private wakeUp: (() => void) | null = null;
  /** A wake-up came while a poll was running: poll again at once instead of sleeping. */
  private woken = false;
  private unwatch: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly o: WatcherOptions;
  /** Highest block seen at the head, and highest fully processed. */
  head = -1;
  processed = -1;

  constructor(options: WatcherOptions) {
    this.o = options;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.o.publicClient.transport.type === "webSocket") {
      this.unwatch = this.o.publicClient.watchBlockNumber({ onBlockNumber: () => this.wake(), emitOnBegin: false });
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unwatch?.();
    this.wake();
    await this.loop;
  }

  /** Polls now instead of at the next interval. */
  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  private async run(): Promise<void> {
    let backoff = this.o.pollIntervalMs;
    while (this.running) {
      try {
        this.woken = false;
        const caughtUp = await this.pollOnce();
        backoff = this.o.pollIntervalMs;
        if (!caughtUp || this.woken) continue;
      } catch (error) {
        this.o.log.warn("chain poll failed; retrying", { error: (error as Error).message.split("\n")[0], retryInMs: backoff });
        backoff = Math.min(backoff * 2, 5_000);
      }
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

  /** Scans one range. Resolves true when caught up with the confirmed head. */
  async pollOnce(): Promise<boolean> {
    const { publicClient, journal, confirmations } = this.o;
    this.head = Number(await publicClient.getBlockNumber({ cacheTime: 0 }));
    const target = this.head - confirmations;
    let cursor = journal.cursor() ?? { block: this.o.startBlock - 1, hash: null as Hex | null };
    if (cursor.hash !== null && !(await this.onChain(cursor.block, cursor.hash))) {
      cursor = { block: await this.rewind(), hash: null };
    }
    this.processed = cursor.block;
    this.o.onProgress?.(this.head, this.processed);
    const from = cursor.block + 1;
    if (from > target) return true;
    const to = Math.min(target, from + (this.o.maxRange ?? 2_000) - 1);

    const toBlock = await publicClient.getBlock({ blockNumber: BigInt(to) });
    const raw = await publicClient.getLogs({ address: this.o.addresses, fromBlock: BigInt(from), toBlock: BigInt(to) });
    const logs = parseEventLogs({ abi: this.o.abi, logs: raw, strict: true }) as unknown as DecodedLog[];
    // Logs must come from the chain whose hash we are about to record, or a reorg slipped in.
    const hashes = new Map<number, Hex>([[to, toBlock.hash]]);
    for (const log of logs) {
      const n = Number(log.blockNumber);
      if (!hashes.has(n)) hashes.set(n, (await publicClient.getBlock({ blockNumber: BigInt(n) })).hash);
      if (hashes.get(n) !== log.blockHash) throw new Error(`block ${n} changed during the scan`);
    }
    await this.o.onLogs(logs);
    journal.advance(to, toBlock.hash);
    this.processed = to;
    this.o.onProgress?.(this.head, this.processed);
    return to >= target;
  }

  private async onChain(block: number, hash: Hex): Promise<boolean> {
    const b = await this.o.publicClient.getBlock({ blockNumber: BigInt(block) }).catch(() => null);
    return b?.hash === hash;
  }

  private async rewind(): Promise<number> {
    let ancestor = this.o.startBlock - 1;
    for (const stored of this.o.journal.recentBlocks()) {
      if (await this.onChain(stored.block, stored.hash)) {
        ancestor = stored.block;
        break;
      }
    }
    const jobIds = this.o.journal.rewindTo(ancestor);
    this.o.log.warn("chain reorganised; scanning again", { ancestor, jobs: jobIds.length });
    this.o.onReorg?.(ancestor, jobIds);
    return ancestor;
  }
}
