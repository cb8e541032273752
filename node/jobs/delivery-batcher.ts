import {
  concat,
  encodeFunctionData,
  getAddress,
  size,
  type Abi,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";
import { encodeResultItem, RESULT_ITEM_FIXED_BYTES, type OwnResult } from "../attest/batch.ts";
import type { TxRequest, TxSubmitter } from "../chain/tx-sender.ts";
import { parseEventLogsInSlices } from "../chain/watcher.ts";
import type { TxRecord } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import { jobWords } from "../attest/job-words.ts";
import { RetryableError } from "../errors.ts";
import type { Service, ServiceDeps } from "../service.ts";
import { settlementHeadroom } from "./processor-options.ts";

/**
 * The runner stopped before the item was sent: nothing went to the chain for it, and its job's
 * step resumes from the journal on restart.
 */
export class DeliveryCancelledError extends RetryableError {
  readonly code = "DELIVERY_CANCELLED";
}

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

/**
 * What became of one reveal handed to the batcher: revealed (the market emitted our
 * ResultRevealed for the job), or skipped alone (`RevealSkipped`, its reason the selector of the
 * error the reveal raised). A failure of the whole transaction rejects the promise instead, for
 * every reveal it carried, as for deliveries.
 */
export type RevealOutcome =
  | { revealed: true; transactionHash: Hex; blockNumber: bigint | null }
  | { revealed: false; reason: Hex | "missing"; transactionHash: Hex };

/** One seat's reveal: the arguments of the market's reveal (IInferenceMarket.Reveal). */
export interface RevealItem {
  jobId: bigint;
  job: OwnResult["job"];
  seat: number;
  resultHash: Hex;
  salt: Hex;
  outputRef: Hex;
}

interface DeliveryBatcherOptions extends ServiceDeps {
  sender: Pick<TxSubmitter, "address" | "send" | "resume">;
  market: Address;
  marketAbi: Abi;
  log: Logger;
  /** Items of one transaction at most; a full batch is sent at once. */
  maxBatch: number;
  /**
   * Blocks a queued item may wait for others: the batch goes once the chain head moved this many
   * blocks past the head at which its first item was queued (see onBlock). 0: at once when no
   * delivery of ours is waiting to be mined, else when that one is mined, the next block comes,
   * or half a block passed since the head came (then those queued before go: see cutoff),
   * whichever is first (Nagle's rule: light load sends each result at once, as without
   * batching; under load the results of a block ride together in one or two transactions).
   */
  maxWaitBlocks: number;
  /** Observations for metrics: a transaction sent with `size` items (1: a plain submitResult). */
  onFlush?: (size: number) => void;
  /** The wall clock (ms) that times the blocks' interval; tests pass their own. */
  now?: () => number;
}

/**
 * What the job processor needs of the batcher (fakes implement it in tests). As a service: once
 * the runner's signal fires (or `stop()` is called) it sends nothing more: queued items and items
 * handed later reject with DeliveryCancelledError; `stop()` then waits for the transactions
 * already sent.
 */
export interface DeliveryBatcher extends Service {
  /** Queues a signed result; resolves once the transaction carrying it is mined. */
  deliver(item: OwnResult): Promise<DeliveryOutcome>;
  /**
   * Queues the claim of a matured delivery (same flush rules, its own transactions); resolves with
   * the receipt of the claim transaction that carried it (an item may be skipped: ClaimSkipped).
   */
  claim(item: ClaimItem): Promise<TransactionReceipt>;
  /** Waits for a journaled batch (of an earlier run, or in flight) and says what it did for `jobId`. */
  resume(tx: TxRecord, jobId: bigint): Promise<DeliveryOutcome>;
  /**
   * Queues a reveal of one of our seats (same flush rules, its own transactions: revealAll, or a
   * plain reveal journaled as the job's own when it goes alone); resolves once it is mined.
   */
  reveal(item: RevealItem): Promise<RevealOutcome>;
  /** Waits for a journaled batch of reveals and says what it did for `jobId`. */
  resumeReveal(tx: TxRecord, jobId: bigint): Promise<RevealOutcome>;
  /** The chain head moved (drives the flush deadline measured in blocks). */
  onBlock(head: number): void;
  /** Results queued and not yet handed to the sender. */
  queued(): number;
  /** Claims queued and not yet handed to the sender. */
  queuedClaims(): number;
  /** Reveals queued and not yet handed to the sender. */
  queuedReveals(): number;
}

/** A delivered k = 1 result whose fee is claimed (the fields of IInferenceMarket.Claim). */
interface ClaimItem {
  jobId: bigint;
  job: OwnResult["job"];
  provider: Address;
  resultHash: Hex;
}

interface Pending<T, O> {
  item: T;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/**
 * The flush policy, for any kind of item: by size, and by a deadline in blocks (see
 * DeliveryBatcherOptions.maxWaitBlocks). `send` sends one transaction for `items` and resolves
 * with what it did for each.
 */
function createBatchQueue<T, O>(o: {
  maxBatch: number;
  maxWaitBlocks: number;
  send: (items: T[]) => Promise<(item: T) => O>;
  /** What an item weighs against `maxWeight` per transaction: calldata bytes, or gas headroom. */
  weight?: (item: T) => number;
  maxWeight?: number;
  /** The wall clock (ms); tests pass their own. */
  now?: () => number;
}) {
  const queue: Pending<T, O>[] = [];
  const weightOf = o.weight ?? (() => 0);
  const maxWeight = o.maxWeight ?? Number.POSITIVE_INFINITY;
  /** The queued items' weight. */
  let queuedWeight = 0;
  /** The chain head when the oldest queued item came (-1: unknown yet). */
  let firstAtHead = -1;
  let head = -1;
  /** Transactions sent and not yet mined (or failed): items coming meanwhile wait for them (maxWaitBlocks 0). */
  let inFlight = 0;
  let scheduled = false;
  const now = o.now ?? Date.now;
  /** When this runner saw the head move (ms), and the blocks' interval as it sees them (null: unknown yet). */
  let headSeenAt = -1;
  let interval: number | null = null;
  /** When the oldest queued item came (ms). */
  let firstAt = -1;
  let cutoffTimer: ReturnType<typeof setTimeout> | null = null;
  /** Set once cancelled: every item, queued or to come, is rejected with it. */
  let cancelled: Error | null = null;
  /** Waiting for the transactions in flight to settle (stop). */
  const drainWaiters: (() => void)[] = [];

  function send(items: Pending<T, O>[]): void {
    inFlight++;
    const settled = () => {
      inFlight--;
      if (inFlight === 0) drainWaiters.splice(0).forEach((resolve) => resolve());
      // Items that came while this one was in flight go together, now.
      if (due()) schedule();
    };
    o.send(items.map((p) => p.item)).then(
      (outcome) => {
        for (const p of items) p.resolve(outcome(p.item));
        settled();
      },
      (error: unknown) => {
        for (const p of items) p.reject(error);
        settled();
      },
    );
  }

  /** The next transaction's items: at most maxBatch, and at most maxWeight (one at least). */
  function take(): Pending<T, O>[] {
    let n = 0;
    let total = 0;
    while (n < queue.length && n < o.maxBatch) {
      const w = weightOf(queue[n]!.item);
      if (n > 0 && total + w > maxWeight) break;
      total += w;
      n++;
    }
    queuedWeight -= total;
    return queue.splice(0, n);
  }

  function full(): boolean {
    return queue.length >= o.maxBatch || queuedWeight >= maxWeight;
  }

  function sendFull(): void {
    while (queue.length > 0 && full()) send(take());
  }

  function flushNow(): void {
    scheduled = false;
    while (queue.length > 0) send(take());
    queuedWeight = 0;
    firstAtHead = -1;
    firstAt = -1;
  }

  /**
   * maxWaitBlocks 0, a transaction in flight: half a block after the head came, items that came
   * before then go, so they make the next block. Waiting for the one in flight to be mined put them
   * a block later (the fleet burst's k = 1 latency, issue 14). Items that come later wait as before:
   * they would hardly make the next block, and each transaction costs its intrinsic gas.
   */
  function cutoff(): number | null {
    return interval === null || headSeenAt < 0 ? null : headSeenAt + interval / 2;
  }

  function armCutoff(): void {
    const at = cutoff();
    if (cutoffTimer !== null || cancelled || queue.length === 0 || o.maxWaitBlocks !== 0) return;
    if (at === null || firstAt < 0 || firstAt >= at) return;
    cutoffTimer = setTimeout(
      () => {
        cutoffTimer = null;
        // A head that came meanwhile moved the cutoff: wait for the new one.
        if (due()) flushNow();
        else armCutoff();
      },
      Math.max(0, at - now()),
    );
    cutoffTimer.unref?.();
  }

  /** Flushes on the next turn of the event loop: items that come in the same turn ride together. */
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (due()) flushNow();
    });
  }

  function due(): boolean {
    if (queue.length === 0 || cancelled) return false;
    if (full()) return true;
    // A block came since the first item was queued: it waited long enough, whatever is in flight.
    const waited = firstAtHead >= 0 && head - firstAtHead >= Math.max(1, o.maxWaitBlocks);
    if (o.maxWaitBlocks === 0) {
      const at = cutoff();
      return inFlight === 0 || waited || (at !== null && firstAt < at && now() >= at);
    }
    // Head unknown: nothing measures the wait, so do not hold the item.
    return firstAtHead < 0 || waited;
  }

  return {
    add(item: T): Promise<O> {
      if (cancelled) return Promise.reject(cancelled);
      return new Promise<O>((resolve, reject) => {
        if (queue.length === 0) {
          firstAtHead = head;
          firstAt = now();
        }
        queue.push({ item, resolve, reject });
        queuedWeight += weightOf(item);
        if (full()) {
          // Full: send the full batches now, keep the rest waiting.
          sendFull();
          firstAtHead = queue.length > 0 ? head : -1;
          firstAt = queue.length > 0 ? now() : -1;
        }
        if (due()) schedule();
        else armCutoff();
      });
    },
    onBlock(n: number): void {
      if (n <= head) return;
      const seen = now();
      // The interval between blocks as this runner sees them; a jump of several (a backfill, a
      // stall) says little about it.
      if (head >= 0 && headSeenAt >= 0 && n - head <= 3) {
        const dt = (seen - headSeenAt) / (n - head);
        interval = interval === null ? dt : 0.8 * interval + 0.2 * dt;
      }
      head = n;
      headSeenAt = seen;
      if (queue.length > 0 && firstAtHead < 0) firstAtHead = n;
      if (due()) schedule();
      else armCutoff();
    },
    queued: () => queue.length,
    /** Rejects the queued items, and every later one, with `error`; sends nothing more. */
    cancel(error: Error): void {
      cancelled ??= error;
      if (cutoffTimer !== null) clearTimeout(cutoffTimer);
      cutoffTimer = null;
      for (const p of queue.splice(0)) p.reject(cancelled);
      queuedWeight = 0;
      firstAtHead = -1;
      firstAt = -1;
    },
    /** Resolves once no transaction of this queue is in flight. */
    drained: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => drainWaiters.push(resolve))),
  };
}

/** Gas beyond a batch's estimate per item: an item refused when estimated may be delivered when mined (costs more). */
const HEADROOM_PER_ITEM = 30_000n;
/** Calldata of one delivery batch at most: well under the 128 KiB nodes take in a transaction. */
export const MAX_BATCH_BYTES = 96 * 1024;
/** Gas beyond a claim batch's estimate per item: an item skipped when estimated may be paid when mined. */
const CLAIM_HEADROOM_PER_ITEM = 60_000n;
/** A claim alone: what the processor gives one (settlementHeadroom("claim", 1)). */
const CLAIM_HEADROOM_ALONE = 100_000n;
/**
 * Gas headroom of one batch of reveals at most: each reveal gets a single reveal's (its job's
 * settlement, which grows with k), and a block must hold the batch's limit.
 */
export const MAX_REVEAL_HEADROOM = 8_000_000;

export function createDeliveryBatcher(options: DeliveryBatcherOptions): DeliveryBatcher {
  if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1)
    throw new RangeError("maxBatch must be a positive integer");
  if (!Number.isInteger(options.maxWaitBlocks) || options.maxWaitBlocks < 0)
    throw new RangeError("maxWaitBlocks must be a non-negative integer");
  const { sender, market, marketAbi, log } = options;
  /** What a mined receipt says of each job it carried (its logs parsed once). */
  async function outcomesOf(
    receipt: Pick<TransactionReceipt, "logs" | "transactionHash" | "blockNumber">,
    batchSize: number,
  ): Promise<(jobId: bigint) => DeliveryOutcome> {
    // A full batch's receipt holds a log per item, each with its output reference: decoded in slices.
    const logs = (await parseEventLogsInSlices({
      abi: marketAbi,
      logs: receipt.logs as never,
      strict: false,
    })) as unknown as { eventName: string; args: { jobId?: bigint; provider?: Address; reason?: Hex } }[];
    const me = getAddress(sender.address);
    const byJob = new Map<bigint, DeliveryOutcome>();
    for (const l of logs) {
      const jobId = l.args.jobId;
      if (jobId === undefined || byJob.has(jobId)) continue;
      if (l.eventName === "ResultSubmitted" && l.args.provider && getAddress(l.args.provider) === me) {
        byJob.set(jobId, {
          delivered: true,
          transactionHash: receipt.transactionHash,
          blockNumber: receipt.blockNumber ?? null,
          batchSize,
        });
      } else if (l.eventName === "AttestationRejected") {
        byJob.set(jobId, {
          delivered: false,
          reason: l.args.reason ?? "missing",
          transactionHash: receipt.transactionHash,
        });
      }
    }
    return (jobId) =>
      byJob.get(jobId) ?? { delivered: false, reason: "missing", transactionHash: receipt.transactionHash };
  }

  /** What a mined receipt says of each reveal it carried (see outcomesOf). */
  async function revealOutcomesOf(
    receipt: Pick<TransactionReceipt, "logs" | "transactionHash" | "blockNumber">,
  ): Promise<(jobId: bigint) => RevealOutcome> {
    const logs = (await parseEventLogsInSlices({
      abi: marketAbi,
      logs: receipt.logs as never,
      strict: false,
    })) as unknown as { eventName: string; args: { jobId?: bigint; provider?: Address; reason?: Hex } }[];
    const me = getAddress(sender.address);
    const byJob = new Map<bigint, RevealOutcome>();
    for (const l of logs) {
      const { jobId, provider } = l.args;
      if (jobId === undefined || byJob.has(jobId) || !provider || getAddress(provider) !== me) continue;
      if (l.eventName === "ResultRevealed") {
        byJob.set(jobId, {
          revealed: true,
          transactionHash: receipt.transactionHash,
          blockNumber: receipt.blockNumber ?? null,
        });
      } else if (l.eventName === "RevealSkipped") {
        byJob.set(jobId, {
          revealed: false,
          reason: l.args.reason ?? "missing",
          transactionHash: receipt.transactionHash,
        });
      }
    }
    return (jobId) =>
      byJob.get(jobId) ?? { revealed: false, reason: "missing", transactionHash: receipt.transactionHash };
  }

  function revealRequest(items: RevealItem[]): TxRequest {
    const args = (i: RevealItem) => [i.jobId, jobWords(i.job), i.seat, i.resultHash, i.salt, i.outputRef] as const;
    if (items.length === 1) {
      // Alone: a plain reveal, journaled as the job's own "reveal", as a runner without batching sends it.
      const item = items[0]!;
      const data = encodeFunctionData({ abi: marketAbi, functionName: "reveal", args: args(item) });
      return {
        jobId: item.jobId,
        kind: "reveal",
        to: market,
        data,
        extraGas: settlementHeadroom("reveal", item.job.redundancy),
      };
    }
    const data = encodeFunctionData({
      abi: marketAbi,
      functionName: "revealAll",
      args: [items.map((i) => ({ ...i, job: jobWords(i.job) }))],
    });
    return {
      jobId: null,
      kind: "reveals",
      to: market,
      data,
      jobIds: items.map((i) => i.jobId),
      extraGas: items.reduce((sum, i) => sum + settlementHeadroom("reveal", i.job.redundancy), 0n),
    };
  }

  function request(items: OwnResult[]): TxRequest {
    if (items.length === 1) {
      // A batch of one is a plain submitResult: no signature to recover on-chain (cheaper), and
      // journaled as the job's own "submit", exactly as a runner without batching sends it.
      const item = items[0]!;
      const data = encodeFunctionData({
        abi: marketAbi,
        functionName: "submitResult",
        args: [item.jobId, jobWords(item.job), item.resultHash, item.outputRef],
      });
      return { jobId: item.jobId, kind: "submit", to: market, data };
    }
    // Our own results: the transaction's signature covers them all, so no item carries one
    // (submitResults; the EIP-712 signatures stay for clients, served by the job view). Each item
    // was framed when it was queued (see deliver): a full batch is not encoded in one go on the
    // event loop.
    const data = encodeFunctionData({
      abi: marketAbi,
      functionName: "submitResults",
      args: [concat(items.map((i) => encoded.get(i) ?? encodeResultItem(i)))],
    });
    return {
      jobId: null,
      kind: "batch",
      to: market,
      data,
      jobIds: items.map((i) => i.jobId),
      extraGas: HEADROOM_PER_ITEM * BigInt(items.length),
    };
  }

  /** Each queued item's framing (encodeResultItem), made as it is queued, in its job's own step. */
  const encoded = new WeakMap<OwnResult, Hex>();

  const deliveries = createBatchQueue<OwnResult, DeliveryOutcome>({
    maxBatch: options.maxBatch,
    maxWaitBlocks: options.maxWaitBlocks,
    now: options.now,
    // Inline outputs make items large: nodes refuse transactions over 128 KiB (geth's pool).
    weight: (item) => 4 + RESULT_ITEM_FIXED_BYTES + size(item.outputRef),
    maxWeight: MAX_BATCH_BYTES,
    async send(items) {
      options.onFlush?.(items.length);
      log.debug("delivering results", { items: items.length });
      const outcome = await outcomesOf(await sender.send(request(items)), items.length);
      return (item) => outcome(item.jobId);
    },
  });

  const claims = createBatchQueue<ClaimItem, TransactionReceipt>({
    maxBatch: options.maxBatch,
    maxWaitBlocks: options.maxWaitBlocks,
    now: options.now,
    async send(items) {
      // One claim journaled as the job's own (as without batching); more linked to their jobs.
      const data = encodeFunctionData({
        abi: marketAbi,
        functionName: "claim",
        args: [items.map((i) => ({ ...i, job: jobWords(i.job) }))],
      });
      const one = items.length === 1;
      const receipt = await sender.send({
        jobId: one ? items[0]!.jobId : null,
        kind: "claim",
        to: market,
        data,
        jobIds: one ? undefined : items.map((i) => i.jobId),
        extraGas: one ? CLAIM_HEADROOM_ALONE : CLAIM_HEADROOM_PER_ITEM * BigInt(items.length),
      });
      return () => receipt;
    },
  });

  const reveals = createBatchQueue<RevealItem, RevealOutcome>({
    maxBatch: options.maxBatch,
    maxWaitBlocks: options.maxWaitBlocks,
    now: options.now,
    weight: (item) => Number(settlementHeadroom("reveal", item.job.redundancy)),
    maxWeight: MAX_REVEAL_HEADROOM,
    async send(items) {
      log.debug("revealing", { items: items.length });
      const outcome = await revealOutcomesOf(await sender.send(revealRequest(items)));
      return (item) => outcome(item.jobId);
    },
  });

  // A stop sends nothing more: an item waiting for its batch is not worth a transaction the
  // shutdown would cut short; its job's step resumes from the journal.
  const cancel = () => {
    const error = new DeliveryCancelledError("the runner is stopping: not sent");
    deliveries.cancel(error);
    claims.cancel(error);
    reveals.cancel(error);
  };
  if (options.signal?.aborted) cancel();
  else options.signal?.addEventListener("abort", cancel, { once: true });

  return {
    deliver: (item) => {
      encoded.set(item, encodeResultItem(item));
      return deliveries.add(item);
    },
    claim: (item) => claims.add(item),
    async resume(tx, jobId) {
      const receipt = await sender.resume(tx);
      return (await outcomesOf(receipt, 0))(jobId);
    },
    reveal: (item) => reveals.add(item),
    async resumeReveal(tx, jobId) {
      return (await revealOutcomesOf(await sender.resume(tx)))(jobId);
    },
    onBlock(n) {
      deliveries.onBlock(n);
      claims.onBlock(n);
      reveals.onBlock(n);
    },
    queued: () => deliveries.queued(),
    queuedClaims: () => claims.queued(),
    queuedReveals: () => reveals.queued(),
    start() {},
    async stop() {
      cancel();
      await Promise.all([deliveries.drained(), claims.drained(), reveals.drained()]);
    },
  };
}
