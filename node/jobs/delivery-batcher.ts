import { encodeFunctionData, getAddress, parseEventLogs, type Abi, type Address, type Hex, type TransactionReceipt } from "viem";
import { encodeAttestationBatch, type SignedResult } from "../attest/batch.ts";
import type { TxRequest, TxSubmitter } from "../chain/tx-sender.ts";
import type { TxRecord } from "../journal/journal.ts";
import type { Logger } from "../log.ts";

/**
 * What became of one k = 1 result handed to the batcher: delivered (the market emitted our
 * ResultSubmitted for it), or rejected alone by the market (`AttestationRejected`, its reason the
 * selector of the error it would have raised on its own). A failure of the whole transaction
 * (would revert, reverted, voided after a reorg, not confirmed) rejects the promise with the
 * sender's error instead, for every job it carried.
 */
export type DeliveryOutcome =
  | { delivered: true; transactionHash: Hex; blockNumber: bigint | null; batchSize: number }
  | { delivered: false; reason: Hex | "missing"; transactionHash: Hex };

export interface DeliveryBatcherOptions {
  sender: Pick<TxSubmitter, "address" | "send" | "resume">;
  market: Address;
  marketAbi: Abi;
  log: Logger;
  /** Items of one transaction at most; a full batch is sent at once. */
  maxBatch: number;
  /**
   * Blocks a queued item may wait for others: the batch goes once the chain head moved this many
   * blocks past the head at which its first item was queued (see onBlock). 0: at once when no
   * batch is being signed, else right after that one (items that come while one is signed ride
   * together in the next: group commit, latency as with one transaction per job).
   */
  maxWaitBlocks: number;
  /** Observations for metrics: a transaction sent with `size` items (1: a plain submitResult). */
  onFlush?: (size: number) => void;
}

/** What the job processor needs of the batcher (fakes implement it in tests). */
export interface DeliveryBatcher {
  /** Queues a signed result; resolves once the transaction carrying it is mined. */
  deliver(item: SignedResult): Promise<DeliveryOutcome>;
  /** Waits for a journaled batch (of an earlier run, or in flight) and says what it did for `jobId`. */
  resume(tx: TxRecord, jobId: bigint): Promise<DeliveryOutcome>;
  /** The chain head moved (drives the flush deadline measured in blocks). */
  onBlock(head: number): void;
  /** Items queued and not yet handed to the sender. */
  queued(): number;
  /** Sends what is queued at once (on shutdown). */
  flush(): void;
}

interface Pending {
  item: SignedResult;
  resolve: (o: DeliveryOutcome) => void;
  reject: (e: unknown) => void;
}

/** Gas beyond a batch's estimate per item: an item refused when estimated may be delivered when mined (costs more). */
const HEADROOM_PER_ITEM = 30_000n;

export function createDeliveryBatcher(options: DeliveryBatcherOptions): DeliveryBatcher {
  if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) throw new RangeError("maxBatch must be a positive integer");
  if (!Number.isInteger(options.maxWaitBlocks) || options.maxWaitBlocks < 0) throw new RangeError("maxWaitBlocks must be a non-negative integer");
  const { sender, market, marketAbi, log } = options;
  let queue: Pending[] = [];
  /** The chain head when the oldest queued item came (-1: unknown yet). */
  let firstAtHead = -1;
  let head = -1;
  /** A batch is being estimated and signed: items coming meanwhile wait for it (maxWaitBlocks 0). */
  let signing = false;
  let scheduled = false;

  /** What a mined receipt says of `jobId`. */
  function outcomeOf(receipt: Pick<TransactionReceipt, "logs" | "transactionHash" | "blockNumber">, jobId: bigint, batchSize: number): DeliveryOutcome {
    const logs = parseEventLogs({ abi: marketAbi, logs: receipt.logs as never, strict: false }) as unknown as { eventName: string; args: { jobId?: bigint; provider?: Address; reason?: Hex } }[];
    const me = getAddress(sender.address);
    for (const l of logs) {
      if (l.args.jobId !== jobId) continue;
      if (l.eventName === "ResultSubmitted" && l.args.provider && getAddress(l.args.provider) === me) {
        return { delivered: true, transactionHash: receipt.transactionHash, blockNumber: receipt.blockNumber ?? null, batchSize };
      }
      if (l.eventName === "AttestationRejected") return { delivered: false, reason: l.args.reason ?? "missing", transactionHash: receipt.transactionHash };
    }
    return { delivered: false, reason: "missing", transactionHash: receipt.transactionHash };
  }

  function request(items: Pending[], onQueued: () => void): TxRequest {
    if (items.length === 1) {
      // A batch of one is a plain submitResult: no signature to recover on-chain (cheaper), and
      // journaled as the job's own "submit", exactly as a runner without batching sends it.
      const { item } = items[0]!;
      const data = encodeFunctionData({ abi: marketAbi, functionName: "submitResult", args: [item.jobId, item.job, item.resultHash, item.outputRef] });
      return { jobId: item.jobId, kind: "submit", to: market, data, onQueued };
    }
    const data = encodeFunctionData({ abi: marketAbi, functionName: "submitAttestations", args: [encodeAttestationBatch(items.map((p) => p.item))] });
    return { jobId: null, kind: "batch", to: market, data, jobIds: items.map((p) => p.item.jobId), extraGas: HEADROOM_PER_ITEM * BigInt(items.length), onQueued };
  }

  function send(items: Pending[]): void {
    signing = true;
    let queued = false;
    const onQueued = () => {
      if (queued) return;
      queued = true;
      signing = false;
      // Items that came while this one was signed go together, now.
      if (queue.length > 0 && options.maxWaitBlocks === 0) schedule();
    };
    options.onFlush?.(items.length);
    log.debug("delivering results", { items: items.length });
    sender.send(request(items, onQueued)).then(
      (receipt) => {
        for (const p of items) p.resolve(outcomeOf(receipt, p.item.jobId, items.length));
      },
      (error: unknown) => {
        onQueued();
        for (const p of items) p.reject(error);
      },
    );
  }

  function flushNow(): void {
    scheduled = false;
    while (queue.length > 0) {
      const items = queue.slice(0, options.maxBatch);
      queue = queue.slice(items.length);
      send(items);
    }
    firstAtHead = -1;
  }

  /** Flushes on the next turn of the event loop: results computed in the same turn ride together. */
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (queue.length === 0) return;
      if (options.maxWaitBlocks === 0 && signing) return; // the one being signed flushes these when queued
      flushNow();
    });
  }

  function due(): boolean {
    if (queue.length === 0) return false;
    if (queue.length >= options.maxBatch) return true;
    if (options.maxWaitBlocks === 0) return !signing;
    // Head unknown: nothing measures the wait, so do not hold the item.
    return firstAtHead < 0 || head - firstAtHead >= options.maxWaitBlocks;
  }

  return {
    deliver(item) {
      return new Promise<DeliveryOutcome>((resolve, reject) => {
        if (queue.length === 0) firstAtHead = head;
        queue.push({ item, resolve, reject });
        if (queue.length >= options.maxBatch) {
          // Full: send the full batches now, keep the rest waiting.
          while (queue.length >= options.maxBatch) {
            const items = queue.slice(0, options.maxBatch);
            queue = queue.slice(items.length);
            send(items);
          }
          firstAtHead = queue.length > 0 ? head : -1;
          return;
        }
        if (due()) schedule();
      });
    },
    async resume(tx, jobId) {
      const receipt = await sender.resume(tx);
      return outcomeOf(receipt, jobId, 0);
    },
    onBlock(n) {
      if (n <= head) return;
      head = n;
      if (queue.length > 0 && firstAtHead < 0) firstAtHead = n;
      if (due()) schedule();
    },
    queued: () => queue.length,
    flush: () => flushNow(),
  };
}
