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
import { createBatchQueue } from "./batch-queue.ts";
import { createBatchReceipts } from "./batch-receipts.ts";
import { createSeatBatches, type CommitItem, type RevealItem, type SeatOutcome } from "./seat-batches.ts";

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

export interface DeliveryBatcherOptions extends ServiceDeps {
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
   * Queues a commit or a reveal of one of our seats (same flush rules, their own transactions:
   * see seat-batches.ts); resolves once it is mined.
   */
  commit(item: CommitItem): Promise<SeatOutcome>;
  reveal(item: RevealItem): Promise<SeatOutcome>;
  /** Waits for a journaled batch of commits or reveals and says what it did for `jobId`. */
  resumeSeat(tx: TxRecord, jobId: bigint): Promise<SeatOutcome>;
  /** The chain head moved (drives the flush deadline measured in blocks). */
  onBlock(head: number): void;
  /** Results queued and not yet handed to the sender. */
  queued(): number;
  /** Claims queued and not yet handed to the sender. */
  queuedClaims(): number;
  /** Commits and reveals queued and not yet handed to the sender. */
  queuedCommits(): number;
  queuedReveals(): number;
}

/** A delivered k = 1 result whose fee is claimed (the fields of IInferenceMarket.Claim). */
interface ClaimItem {
  jobId: bigint;
  job: OwnResult["job"];
  provider: Address;
  resultHash: Hex;
}

/** Gas beyond a batch's estimate per item: an item refused when estimated may be delivered when mined (costs more). */
const HEADROOM_PER_ITEM = 30_000n;
/** Calldata of one delivery batch at most: well under the 128 KiB nodes take in a transaction. */
export const MAX_BATCH_BYTES = 96 * 1024;
/** Gas beyond a claim batch's estimate per item: an item skipped when estimated may be paid when mined. */
const CLAIM_HEADROOM_PER_ITEM = 60_000n;
/** A claim alone: what the processor gives one (settlementHeadroom("claim", 1)). */
const CLAIM_HEADROOM_ALONE = 100_000n;
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

  const seats = createSeatBatches(options);
  const resumed = createBatchReceipts<DeliveryOutcome>();

  // A stop sends nothing more: an item waiting for its batch is not worth a transaction the
  // shutdown would cut short; its job's step resumes from the journal.
  const cancel = () => {
    const error = new DeliveryCancelledError("the runner is stopping: not sent");
    deliveries.cancel(error);
    claims.cancel(error);
    seats.cancel(error);
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
      return (await resumed.read(tx, async () => outcomesOf(await sender.resume(tx), 0)))(jobId);
    },
    commit: seats.commit,
    reveal: seats.reveal,
    resumeSeat: seats.resume,
    onBlock(n) {
      deliveries.onBlock(n);
      claims.onBlock(n);
      seats.onBlock(n);
    },
    queued: () => deliveries.queued(),
    queuedClaims: () => claims.queued(),
    queuedCommits: seats.queuedCommits,
    queuedReveals: seats.queuedReveals,
    start() {},
    async stop() {
      cancel();
      await Promise.all([deliveries.drained(), claims.drained(), seats.drained()]);
    },
  };
}
