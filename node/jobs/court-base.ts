/**
 * The court service's foundation (court.ts is the whole): its options as named fields, and what its
 * checker and juror duties share: the journal's duty transitions, the error decisions, sending a
 * transaction once per duty and kind, and reading seats and challenges from receipts.
 */
import {
  encodeFunctionData,
  encodePacked,
  getAddress,
  keccak256,
  parseEventLogs,
  type Abi,
  type Address,
  type Hex,
} from "viem";
import { TxRevertedError, TxVoidedError, TxWouldRevertError } from "../chain/tx-sender.ts";
import { ConclaveError, oneLine } from "../errors.ts";
import type { Challenge, DutyRecord, Journal, JobRecord, TxKind } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import { settlementHeadroom, type ChainReader, type TxSubmitter } from "./processor-options.ts";
import type { JobProcessor } from "./processor.ts";
import { backoffMs } from "./work-queue.ts";
import type { ServiceDeps } from "../service.ts";
import { findSeat, seatFromReceipt } from "./seats.ts";
import { courtStakeKey, StakeReservations } from "./stake-reservations.ts";
import { PROVIDER_TERMS_MAX_AGE_MS } from "../chain/reader.ts";

export interface CourtOptions extends ServiceDeps {
  journal: Journal;
  chain: Pick<ChainReader, "now" | "jobState" | "providerTerms" | "seatOf">;
  sender: TxSubmitter;
  market: Address;
  /** The market's ABI with its court's functions (see marketAbiWithCourt). */
  marketAbi: Abi;
  processor: Pick<JobProcessor, "runJob">;
  /** Collateral taken on and not locked yet, shared with the job processor (default: the court's own). */
  stake?: StakeReservations;
  log: Logger;
  allowedModels: ReadonlySet<Hex> | null;
  /**
   * Share (0 to 1) of other providers' k = 1 deliveries this runner recomputes, and challenges
   * when its result differs: a service to clients that keeps k = 1 honest (DESIGN: the optimistic
   * challenge window). Deliveries are drawn per (job, provider), so runners check different ones.
   */
  checkRate: number;
  /** Seconds a commit or challenge must leave before its deadline. */
  marginSeconds: number;
  followIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  clock?: () => number;
}

export abstract class CourtBase {
  protected readonly allowedModels: ReadonlySet<Hex> | null;
  protected readonly chain: Pick<ChainReader, "now" | "jobState" | "providerTerms" | "seatOf">;
  protected readonly checkRate: number;
  protected readonly clock: (() => number) | undefined;
  protected readonly followIntervalMs: number;
  protected readonly journal: Journal;
  protected readonly log: Logger;
  protected readonly marginSeconds: number;
  protected readonly market: Address;
  protected readonly marketAbi: Abi;
  protected readonly processor: Pick<JobProcessor, "runJob">;
  protected readonly retryBaseMs: number;
  protected readonly retryMaxMs: number;
  protected readonly sender: TxSubmitter;
  protected readonly stake: StakeReservations;
  protected readonly running = new Map<string, Promise<void>>();
  protected stopped = false;

  constructor(options: CourtOptions) {
    this.allowedModels = options.allowedModels;
    this.chain = options.chain;
    this.checkRate = options.checkRate;
    this.clock = options.clock;
    this.followIntervalMs = options.followIntervalMs;
    this.journal = options.journal;
    this.log = options.log;
    this.marginSeconds = options.marginSeconds;
    this.market = options.market;
    this.marketAbi = options.marketAbi;
    this.processor = options.processor;
    this.retryBaseMs = options.retryBaseMs;
    this.retryMaxMs = options.retryMaxMs;
    this.sender = options.sender;
    this.stake = options.stake ?? new StakeReservations();
    // The shutdown: no duty step starts; those running finish (stop() waits for them).
    options.signal?.addEventListener("abort", () => (this.stopped = true), { once: true });
  }

  protected get me(): Address {
    return getAddress(this.sender.address);
  }

  protected nowMs(): number {
    return (this.clock ?? Date.now)();
  }

  // ------------------------------------------------------------------ helpers

  /** Whether this runner serves the job's model (it can recompute it). */
  protected serves(rec: JobRecord): boolean {
    return this.allowedModels === null || this.allowedModels.has(rec.job.modelId);
  }

  protected sampled(jobId: bigint): boolean {
    if (this.checkRate <= 0) return false;
    if (this.checkRate >= 1) return true;
    const h = BigInt(keccak256(encodePacked(["string", "uint256", "address"], ["check", jobId, this.me])));
    return Number(h % 1_000_000n) < this.checkRate * 1_000_000;
  }

  /**
   * Whether the free stake of a terms read covers `collateral` (a challenge bond, a jury seat) on
   * top of what other jobs and duties reserved; if so, the duty reserves it until its lock is mined.
   */
  protected takeStake(duty: DutyRecord, freeStake: bigint, collateral: bigint): boolean {
    const key = courtStakeKey(duty.jobId);
    const reserved = this.stake.pending(this.nowMs() - PROVIDER_TERMS_MAX_AGE_MS, key);
    if (freeStake < collateral + reserved) return false;
    this.stake.reserve(key, collateral);
    return true;
  }

  /**
   * A duty resuming a transaction it sent before (a restart, a failed step) holds its collateral
   * again without the free-stake check, which the lock may already show: until the chain does,
   * our other jobs must not count it free.
   */
  protected holdStake(duty: DutyRecord, collateral: bigint): void {
    this.stake.reserve(courtStakeKey(duty.jobId), collateral);
  }

  /** The duty's bond or seat is locked on the chain (its transaction mined). */
  protected stakeLocked(duty: DutyRecord): void {
    this.stake.locked(courtStakeKey(duty.jobId), this.nowMs());
  }

  protected end(duty: DutyRecord, state: "done" | "agreed" | "skipped" | "failed", reason: string | null): void {
    this.stake.release(courtStakeKey(duty.jobId));
    if (this.journal.updateDuty(duty, { state, reason, nextAttemptAt: 0 })) {
      this.log.info(`court duty ${state}`, { jobId: duty.jobId, role: duty.role, reason });
    }
  }

  protected wait(duty: DutyRecord, why: string | null, inMs = this.followIntervalMs): void {
    this.journal.updateDuty(duty, { nextAttemptAt: this.nowMs() + Math.max(inMs, 50) });
    if (why) this.log.debug("court duty waits for the chain", { jobId: duty.jobId, why });
  }

  protected onStepError(duty: DutyRecord, error: unknown): void {
    if (this.stopped) {
      // Cancelled by the shutdown (its run, its transaction), not failed: the journal resumes it on restart.
      this.log.debug("court duty step cancelled by the stop", {
        jobId: duty.jobId,
        state: duty.state,
        error: oneLine(error),
      });
      return;
    }
    const attempts = duty.attempts + 1;
    if (error instanceof TxWouldRevertError || error instanceof TxRevertedError || error instanceof TxVoidedError) {
      // The chain moved on (the jury filled, the window closed, someone resolved): read it again.
      this.journal.updateDuty(duty, {
        attempts,
        nextAttemptAt: this.nowMs() + Math.min(this.followIntervalMs, 1_000),
      });
      if (attempts >= 5 && (duty.state === "new" || duty.state === "computed"))
        this.end(duty, "skipped", `the chain refused it: ${oneLine(error)}`);
      return;
    }
    if (error instanceof ConclaveError && !error.retryable) return this.end(duty, "failed", error.message);
    const delay = backoffMs(attempts, this.retryBaseMs, this.retryMaxMs);
    this.journal.updateDuty(duty, { attempts, nextAttemptAt: this.nowMs() + delay });
    this.log.warn("court duty step will be retried", {
      jobId: duty.jobId,
      state: duty.state,
      attempts,
      error: oneLine(error),
    });
  }

  /** Sends the duty's `kind` transaction once (an earlier one is resumed, a mined one reused). */
  protected async sendOnce(
    duty: DutyRecord,
    kind: TxKind,
    functionName: string,
    args: readonly unknown[],
    seats: number,
  ) {
    const { journal, sender } = this;
    const previous = journal.txsFor(duty.jobId, kind).filter((t) => t.status !== "replaced");
    const mined = previous.find((t) => t.status === "mined");
    if (mined) return { transactionHash: mined.hash, logs: [] as unknown[] };
    const pending = previous.find((t) => t.status === "signed" || t.status === "sent");
    if (pending) return sender.resume(pending);
    const data = encodeFunctionData({ abi: this.marketAbi, functionName, args });
    return sender.send({
      jobId: duty.jobId,
      kind,
      to: this.market,
      data,
      extraGas: settlementHeadroom(kind, seats),
    });
  }

  protected findSeat(jobId: bigint, seated: number): Promise<number | null> {
    return findSeat(this.chain, jobId, seated, this.me);
  }

  protected seatFromReceipt(receipt: { logs: readonly unknown[] }): number | null {
    return seatFromReceipt(this.marketAbi, receipt, this.me);
  }

  protected challengeFromReceipt(receipt: { logs: readonly unknown[] }): Challenge | null {
    if (receipt.logs.length === 0) return null;
    const logs = parseEventLogs({
      abi: this.marketAbi,
      logs: receipt.logs as never,
      eventName: "ResultChallenged" as never,
      strict: false,
    }) as unknown as { args: { challenge?: Challenge } }[];
    const c = logs[0]?.args.challenge;
    return c ? normalize(c) : null;
  }
}

/** A Challenge as the journal keeps it: numbers where the ABI gives small integers. */
export function normalize(c: Challenge): Challenge {
  return {
    provider: getAddress(c.provider),
    resultHash: c.resultHash,
    challenger: getAddress(c.challenger),
    jurySeed: BigInt(c.jurySeed),
    challengedAt: Number(c.challengedAt),
    commitWindow: Number(c.commitWindow),
    revealWindow: Number(c.revealWindow),
    jurySize: Number(c.jurySize),
    juryFee: BigInt(c.juryFee),
    challengerShareBps: Number(c.challengerShareBps),
  };
}
