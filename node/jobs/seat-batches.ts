import { encodeFunctionData, getAddress, type Address, type Hex, type TransactionReceipt } from "viem";
import type { OwnResult } from "../attest/batch.ts";
import { jobWords } from "../attest/job-words.ts";
import type { TxKind, TxRecord } from "../journal/journal.ts";
import type { TxRequest } from "../chain/tx-sender.ts";
import { parseEventLogsInSlices } from "../chain/watcher.ts";
import type { DeliveryBatcherOptions } from "./delivery-batcher.ts";
import { createBatchQueue } from "./batch-queue.ts";
import { createBatchReceipts } from "./batch-receipts.ts";
import { settlementHeadroom } from "./processor-options.ts";

/**
 * Our k > 1 seats' commits and reveals in batches: many go in one transaction (the court's
 * commitAll and revealAll, on the market's address), each run exactly as the market's own commit
 * or reveal; an item the market refuses is skipped alone (CommitSkipped, RevealSkipped). A batch
 * of one is the plain call, journaled as its job's own transaction.
 */

/** One seat's commit: the arguments of the market's commit (IInferenceMarket.Commit). */
export interface CommitItem {
  jobId: bigint;
  job: OwnResult["job"];
  commitment: Hex;
}

/** One seat's reveal: the arguments of the market's reveal (IInferenceMarket.Reveal). */
export interface RevealItem {
  jobId: bigint;
  job: OwnResult["job"];
  seat: number;
  resultHash: Hex;
  salt: Hex;
  outputRef: Hex;
}

/**
 * What became of one commit or reveal handed to the batcher: done (the market emitted our
 * SeatCommitted, or ResultRevealed, for the job; a commit says its seat, and whether it was the
 * last and started the reveal), or skipped alone (its reason the selector of the error the call
 * raised; "missing" when the receipt says nothing of the job). A failure of the whole transaction
 * rejects the promise instead, for every item it carried.
 */
export type SeatOutcome =
  | { done: true; transactionHash: Hex; blockNumber: bigint | null; seat: number | null; startsReveal: boolean }
  | { done: false; reason: Hex | "missing"; transactionHash: Hex };

/** What tells a commit from a reveal: its calls, its journal kinds and its receipt's events. */
interface SeatCall<I> {
  single: "commit" | "reveal";
  batch: "commitAll" | "revealAll";
  kind: Extract<TxKind, "commits" | "reveals">;
  doneEvent: "SeatCommitted" | "ResultRevealed";
  skippedEvent: "CommitSkipped" | "RevealSkipped";
  args(item: I): readonly unknown[];
}

const COMMIT: SeatCall<CommitItem> = {
  single: "commit",
  batch: "commitAll",
  kind: "commits",
  doneEvent: "SeatCommitted",
  skippedEvent: "CommitSkipped",
  args: (i) => [i.jobId, jobWords(i.job), i.commitment],
};

const REVEAL: SeatCall<RevealItem> = {
  single: "reveal",
  batch: "revealAll",
  kind: "reveals",
  doneEvent: "ResultRevealed",
  skippedEvent: "RevealSkipped",
  args: (i) => [i.jobId, jobWords(i.job), i.seat, i.resultHash, i.salt, i.outputRef],
};

/**
 * Gas headroom of one batch at most: each item gets a single call's (a commit may start its
 * job's reveal, a reveal settle it, which grows with k), and a block must hold the batch's limit.
 */
export const MAX_SEAT_HEADROOM = 8_000_000;

export function createSeatBatches(
  options: Pick<
    DeliveryBatcherOptions,
    "sender" | "market" | "marketAbi" | "log" | "maxBatch" | "maxWaitBlocks" | "now"
  >,
) {
  const { sender, market, marketAbi, log } = options;

  /** What a mined receipt says of each commit or reveal of `call` it carried. */
  async function outcomesOf(
    call: Pick<SeatCall<unknown>, "doneEvent" | "skippedEvent">,
    receipt: Pick<TransactionReceipt, "logs" | "transactionHash" | "blockNumber">,
  ): Promise<(jobId: bigint) => SeatOutcome> {
    const logs = (await parseEventLogsInSlices({
      abi: marketAbi,
      logs: receipt.logs as never,
      strict: false,
    })) as unknown as {
      eventName: string;
      args: { jobId?: bigint; provider?: Address; reason?: Hex; seat?: number };
    }[];
    const me = getAddress(sender.address);
    const { transactionHash } = receipt;
    const byJob = new Map<bigint, SeatOutcome>();
    const revealStarted = new Set<bigint>();
    for (const { eventName, args } of logs) {
      if (args.jobId === undefined) continue;
      if (eventName === "RevealStarted") revealStarted.add(args.jobId);
      if (byJob.has(args.jobId) || !args.provider || getAddress(args.provider) !== me) continue;
      if (eventName === call.doneEvent) {
        byJob.set(args.jobId, {
          done: true,
          transactionHash,
          blockNumber: receipt.blockNumber ?? null,
          seat: args.seat ?? null,
          startsReveal: false,
        });
      } else if (eventName === call.skippedEvent) {
        byJob.set(args.jobId, { done: false, reason: args.reason ?? "missing", transactionHash });
      }
    }
    return (jobId) => {
      const o = byJob.get(jobId) ?? { done: false, reason: "missing", transactionHash };
      return o.done ? { ...o, startsReveal: revealStarted.has(jobId) } : o;
    };
  }

  function request<I extends { jobId: bigint; job: OwnResult["job"] }>(call: SeatCall<I>, items: I[]): TxRequest {
    if (items.length === 1) {
      // Alone: the plain call, journaled as the job's own, as a runner without batching sends it.
      const item = items[0]!;
      return {
        jobId: item.jobId,
        kind: call.single,
        to: market,
        data: encodeFunctionData({ abi: marketAbi, functionName: call.single, args: call.args(item) }),
        extraGas: settlementHeadroom(call.single, item.job.redundancy),
      };
    }
    return {
      jobId: null,
      kind: call.kind,
      to: market,
      data: encodeFunctionData({
        abi: marketAbi,
        functionName: call.batch,
        args: [items.map((i) => ({ ...i, job: jobWords(i.job) }))],
      }),
      jobIds: items.map((i) => i.jobId),
      extraGas: items.reduce((sum, i) => sum + settlementHeadroom(call.single, i.job.redundancy), 0n),
    };
  }

  function queueOf<I extends { jobId: bigint; job: OwnResult["job"] }>(call: SeatCall<I>) {
    return createBatchQueue<I, SeatOutcome>({
      maxBatch: options.maxBatch,
      maxWaitBlocks: options.maxWaitBlocks,
      now: options.now,
      weight: (item) => Number(settlementHeadroom(call.single, item.job.redundancy)),
      maxWeight: MAX_SEAT_HEADROOM,
      async send(items) {
        log.debug(call.single === "commit" ? "committing" : "revealing", { items: items.length });
        const outcome = await outcomesOf(call, await sender.send(request(call, items)));
        return (item) => outcome(item.jobId);
      },
    });
  }

  const commits = queueOf(COMMIT);
  const reveals = queueOf(REVEAL);
  const resumed = createBatchReceipts<SeatOutcome>();
  return {
    commit: (item: CommitItem) => commits.add(item),
    reveal: (item: RevealItem) => reveals.add(item),
    /** Waits for a journaled batch of commits or reveals and says what it did for `jobId`. */
    async resume(tx: TxRecord, jobId: bigint): Promise<SeatOutcome> {
      const call = tx.kind === "commits" ? COMMIT : REVEAL;
      return (await resumed.read(tx, async () => outcomesOf(call, await sender.resume(tx))))(jobId);
    },
    onBlock(n: number): void {
      commits.onBlock(n);
      reveals.onBlock(n);
    },
    cancel(error: Error): void {
      commits.cancel(error);
      reveals.cancel(error);
    },
    drained: () => Promise.all([commits.drained(), reveals.drained()]),
    queuedCommits: () => commits.queued(),
    queuedReveals: () => reveals.queued(),
  };
}
