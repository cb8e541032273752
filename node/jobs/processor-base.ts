/**
 * The job processor's foundation (processor.ts is the whole): its options as named fields, its
 * state, the loop that advances one job through its states, and what every step shares: the
 * journal's compare-and-set transitions, the error decisions (retry, back off, end), sending a
 * transaction once per job and kind, and finding this runner's seat.
 */
import { encodeFunctionData, getAddress, type Abi, type Address, type Hex, type TransactionReceipt } from "viem";
import { JobStatus } from "../chain/statuses.ts";
import { TxRevertedError, TxVoidedError, TxWouldRevertError } from "../chain/tx-sender.ts";
import { ConclaveError, oneLine } from "../errors.ts";
import type { Executor } from "../inference/executor-options.ts";
import { WorkerCrashedError } from "../inference/errors.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import type { JobRecord, Journal, TxKind } from "../journal/journal.ts";
import { TERMINAL_STATES } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../http/metrics.ts";
import type { Tensor } from "../tensors/dtypes.ts";
import type { DeliveryBatcher } from "./delivery-batcher.ts";
import { loopBudget, throughLoopBudget, type TurnRank } from "../loop-budget.ts";
import { ByteBudget } from "./byte-budget.ts";
import { backoffMs, Gate, WorkQueue, type Lane } from "./work-queue.ts";
import {
  JobNotOnNodeError,
  MAX_CRASHES_PER_JOB,
  JOB_MISMATCH,
  MAX_WOULD_REVERT,
  NOT_ON_NODE_RETRY_MS,
  NOT_ON_NODE_SECONDS,
  STAKE_SHORT_ERROR,
  spreadDelayMs,
  settlementHeadroom,
  type ChainReader,
  type ExpiryMode,
  type ModelSource,
  type ProcessorOptions,
  type TxSubmitter,
} from "./processor-options.ts";
import { findSeat, seatFromReceipt, startsReveal } from "./seats.ts";
import { ReadMemo, type JobStateRead } from "./read-memo.ts";
import { StakeReservations } from "./stake-reservations.ts";
import { StakeWaiters } from "./stake-waiters.ts";
import { lastActionOf } from "./take-policy.ts";

export abstract class ProcessorBase {
  // The steps, each in the layer of its concern (see processor.ts).
  protected abstract decide(rec: JobRecord): Promise<void>;
  protected abstract compute(rec: JobRecord): Promise<void>;
  protected abstract submit(rec: JobRecord): Promise<void>;
  protected abstract commit(rec: JobRecord): Promise<void>;
  protected abstract reveal(rec: JobRecord): Promise<void>;
  protected abstract follow(rec: JobRecord): Promise<void>;
  /** Our k = 1 result is on-chain: the job follows its delivery (processor-delivery.ts). */
  protected abstract onSubmitted(rec: JobRecord, minedIn?: number): void;
  /** Schedules a job to be advanced; a job already being advanced is advanced once more after. */
  abstract kick(jobId: bigint, urgent?: boolean): void;

  protected readonly abstain: ((outputs: Record<string, Tensor>, outputQuantum: number) => string | null) | undefined;
  protected readonly allowedModels: ReadonlySet<Hex> | null;
  protected readonly batcher: DeliveryBatcher | undefined;
  protected readonly chain: ChainReader;
  /** The same reads, answered at the loop budget's prompt rank (see {@link chainFor}). */
  protected readonly promptChain: ChainReader;
  protected readonly clock: (() => number) | undefined;
  protected readonly commitMarginSeconds: number;
  protected readonly content: Pick<ContentStore, "get" | "add" | "release">;
  protected readonly executor: Pick<Executor, "load" | "run" | "unload">;
  protected readonly expireStaleJobs: ExpiryMode;
  protected readonly fetchTimeoutMs: number;
  protected readonly followIntervalMs: number;
  protected readonly inferenceTimeoutMs: number;
  protected readonly inlineOutputMaxBytes: number;
  protected readonly journal: Journal;
  protected readonly log: Logger;
  protected readonly market: Address;
  protected readonly marketAbi: Abi;
  protected readonly maxConcurrentSteps: number;
  protected readonly maxInputBytes: number;
  protected readonly metrics: Metrics;
  protected readonly minFee: (token: Address) => bigint | undefined;
  protected readonly models: ModelSource;
  protected readonly prefetch: boolean;
  protected readonly retentionMs: number;
  protected readonly retryBaseMs: number;
  protected readonly retryMaxMs: number;
  protected readonly revealMarginSeconds: number;
  protected readonly sender: TxSubmitter;
  protected readonly spreadMs: number;
  /** Fired by the runner's shutdown or by stop(): in-flight input fetches end, no step starts. */
  protected readonly stopping = new AbortController();
  protected readonly queue: WorkQueue;
  /** Compute slots: a job's model and input fetches count against maxConcurrentJobs. */
  protected readonly computeSlots: Gate;
  /**
   * The input bytes of runs handed to the executor and not answered yet: maxConcurrentJobs ×
   * maxInputBytes, the bound the compute slots put on them when runs held their slot too.
   */
  protected readonly queuedInputs: ByteBudget;
  /** Reveals waiting to be sent: new commits and results wait for them (reveals first). */
  protected revealsPending = 0;
  protected readonly revealsDone: (() => void)[] = [];
  protected readonly seenAt = new Map<string, number>();
  /** Collateral taken on by jobs (and court duties) whose lock the chain's free stake may not show yet. */
  protected readonly stake: StakeReservations;
  /** Jobs waiting for free stake, served in the fleet's common order (see stakeOrder). */
  protected readonly stakeWaiters: StakeWaiters;
  /** Seats other providers hold in open k > 1 jobs, by the SeatCommitted events taken in. */
  protected readonly seatsTaken = new Map<string, number>();
  /** Chain time of this runner's first look at a job it waits to step in to (see stepInAt). */
  protected readonly firstLookAt = new Map<string, number>();
  /** Chain time at which decide took a job (k > 1), and at which its result was first ready to commit. */
  protected readonly takenAt = new Map<string, number>();
  protected readonly readyAt = new Map<string, number>();
  protected readonly prefetched = new Set<string>();
  /** Chain reads a step may skip: what this process already learned of each open job. */
  protected readonly memo = new ReadMemo(() => this.now());
  /**
   * k = 1 results (by job id) and seats' commits and reveals (by seatKey) that go alone from now
   * on: the market rejected or skipped the batch item, or the batch would have reverted. A job is
   * batched at most once per outcome: never a loop. Across a restart a mined batch's receipt is
   * read again (see batchOf), and says it again.
   */
  protected readonly singly = new Set<string>();
  /** k = 1 results in a batch not mined yet: the job's step does not wait for them (see submit). */
  protected readonly delivering = new Map<string, Promise<void>>();
  /** Matured deliveries whose claim is in a batch not mined yet. */
  protected readonly claiming = new Map<string, Promise<void>>();
  /** Commits and reveals of our seats in a batch not mined yet: the job's step does not wait for them. */
  protected readonly seating = new Map<string, Promise<void>>();
  protected expiring = false;
  protected pruning = false;
  protected lastPrune = 0;
  protected stopped = false;

  constructor(options: ProcessorOptions) {
    this.abstain = options.abstain;
    this.allowedModels = options.allowedModels;
    this.batcher = options.batcher;
    // Chain reads answer together in a burst: each step goes on within the loop's budget.
    this.chain = throughLoopBudget(options.chain);
    this.promptChain = throughLoopBudget(options.chain, loopBudget, "prompt");
    this.clock = options.clock;
    this.commitMarginSeconds = options.commitMarginSeconds;
    this.content = options.content;
    this.executor = options.executor;
    this.expireStaleJobs = options.expireStaleJobs;
    this.fetchTimeoutMs = options.fetchTimeoutMs;
    this.followIntervalMs = options.followIntervalMs;
    this.inferenceTimeoutMs = options.inferenceTimeoutMs;
    this.inlineOutputMaxBytes = options.inlineOutputMaxBytes;
    this.journal = options.journal;
    this.log = options.log;
    this.market = options.market;
    this.marketAbi = options.marketAbi;
    this.maxConcurrentSteps = options.maxConcurrentSteps;
    this.maxInputBytes = options.maxInputBytes;
    this.metrics = options.metrics;
    this.minFee = options.minFee;
    this.models = options.models;
    this.prefetch = options.prefetch;
    this.retentionMs = options.retentionMs;
    this.retryBaseMs = options.retryBaseMs;
    this.retryMaxMs = options.retryMaxMs;
    this.revealMarginSeconds = options.revealMarginSeconds;
    this.sender = options.sender;
    this.spreadMs = options.spreadMs;
    this.stake = options.stake ?? new StakeReservations();
    // A waiter looks again every follow interval; one silent for a few stops holding others back.
    this.stakeWaiters = new StakeWaiters(4 * options.followIntervalMs);
    options.signal?.addEventListener("abort", () => this.halt(), { once: true });
    this.computeSlots = new Gate(options.maxConcurrentJobs);
    this.queuedInputs = new ByteBudget(options.maxConcurrentJobs * options.maxInputBytes);
    this.queue = new WorkQueue(
      options.maxConcurrentSteps,
      (key, lane) => this.advance(BigInt(key), lane),
      (key, error) => this.log.error("job step failed", { jobId: key, error }),
      () => this.now(),
    );
    // Jobs a previous process took and had not locked yet: the free stake does not show them.
    for (const rec of this.journal.jobsIn(HOLDING_UNLOCKED)) this.holdCollateral(rec);
  }

  get address(): Address {
    return this.sender.address;
  }

  protected now(): number {
    return (this.clock ?? Date.now)();
  }

  protected halt(): void {
    this.stopped = true;
    this.stopping.abort();
  }

  // ------------------------------------------------------------------ the state machine

  protected async advance(jobId: bigint, lane: Lane = "normal"): Promise<void> {
    const { journal } = this;
    // The first step's rank follows the lane the job waited in (its row is read after the turn).
    let rank: TurnRank = lane === "background" ? "other" : "prompt";
    for (let step = 0; step < 8 && !this.stopped; step++) {
      // Each step's work on this thread waits its share of the loop (a burst runs many at once).
      await loopBudget.turn(rank);
      const rec = journal.getJob(jobId);
      if (!rec || TERMINAL_STATES.has(rec.state)) return;
      if (rec.blockHash === "0x") return; // reorged out; waits to be seen again
      const before = rec.state;
      try {
        await this.step(rec);
      } catch (error) {
        this.onStepError(rec, error);
        return;
      }
      const after = journal.getJob(jobId);
      if (!after || after.state === before) return; // waiting for the chain
      if (after.attempts !== 0) journal.updateJob(jobId, after, { attempts: 0 });
      rank = loopRankOf(after);
    }
  }

  /** The job's state, or the read a step just before this one made (see ReadMemo). */
  protected async readState(rec: JobRecord, chain: ChainReader = this.chainFor(rec)): Promise<JobStateRead> {
    const state = await this.memo.jobState(rec.jobId, () => chain.jobState(rec.jobId));
    await this.checkOnNode(rec, state.status, chain);
    return state;
  }

  /**
   * Throws {@link JobNotOnNodeError} when a job whose request the scan took reads as no job at
   * all soon after that request: the read went to a node behind the scanned blocks (a
   * load-balanced provider); only long after can it be an ended job's deleted word. Taken as an
   * ending, a k > 1 job whose result was computed was given up ("all seats were taken") and its
   * seat left to fill at the commit deadline; a k = 1 result waited a follow interval to be sent.
   */
  protected async checkOnNode(rec: JobRecord, status: number, chain: ChainReader): Promise<void> {
    if (status === JobStatus.None && (await this.young(rec, chain)))
      throw new JobNotOnNodeError(`job ${rec.jobId} is not on the node asked yet`);
  }

  /** Whether `rec` was requested less than NOT_ON_NODE_SECONDS ago, in chain time. */
  private async young(rec: JobRecord, chain: ChainReader): Promise<boolean> {
    return (await chain.now()) < rec.job.requestedAt + NOT_ON_NODE_SECONDS;
  }

  /**
   * A transaction's estimate that says the market has no such job (its word missing, so unlike
   * the request) soon after the request went to a node behind the scanned blocks, as a read can
   * (see {@link checkOnNode}): {@link JobNotOnNodeError}, asked again shortly. Counted as a "would
   * revert", three of them gave up a computed result ("chain refused the result").
   */
  private async notOnNodeOr(rec: JobRecord, error: unknown): Promise<never> {
    if (error instanceof TxWouldRevertError && error.errorName === JOB_MISMATCH && (await this.young(rec, this.chain)))
      throw new JobNotOnNodeError(`job ${rec.jobId} is not on the node that estimated yet`, { cause: error });
    throw error;
  }

  /** Chain reads for a step of `rec`, answered at its rank in the loop budget (see {@link loopRankOf}). */
  protected chainFor(rec: JobRecord): ChainReader {
    return loopRankOf(rec) === "prompt" ? this.promptChain : this.chain;
  }

  protected async step(rec: JobRecord): Promise<void> {
    this.holdCollateral(rec);
    switch (rec.state) {
      case "seen":
        return this.decide(rec);
      case "accepted":
        return this.compute(rec);
      case "computed":
        return rec.job.redundancy === 1 ? this.submit(rec) : this.commit(rec);
      case "committed":
        return this.reveal(rec);
      case "submitted":
      case "revealed":
        return this.follow(rec);
      default:
        return;
    }
  }

  // ------------------------------------------------------------------ helpers

  /** Writes `patch` if the job is still what `rec` says (same parameters, same state). */
  protected transition(rec: JobRecord, patch: Parameters<Journal["updateJob"]>[2]): boolean {
    const ok = this.journal.updateJob(rec.jobId, rec, patch);
    if (!ok)
      this.log.info("job changed while a step ran; its outcome is dropped", { jobId: rec.jobId, state: rec.state });
    // Past "computed", our commit or result is mined: the chain holds the collateral now.
    else if (patch.state !== undefined && !TOWARDS_RESULT.has(patch.state))
      this.stake.locked(rec.jobId.toString(), this.now());
    return ok;
  }

  protected end(rec: JobRecord, state: "skipped" | "lost" | "failed" | "expired", reason: string | null): void {
    if (!this.transition(rec, { state, reason, nextAttemptAt: 0 })) return;
    this.forgetInMemory(rec.jobId);
    this.metrics.jobs.inc({ outcome: state });
    this.log.info(`job ${state}`, { jobId: rec.jobId, reason });
  }

  protected settle(rec: JobRecord, state: "paid" | "lost" | "slashed" | "refunded", reason: string | null): void {
    if (!this.transition(rec, { state, reason, nextAttemptAt: 0, expiryDone: true })) return;
    this.forgetInMemory(rec.jobId);
    // Its collateral came free: the jobs waiting for stake that it covers look again now.
    this.offerStake(rec.job.collateral);
    if (state === "paid") this.journal.notePaidToken(getAddress(rec.job.token));
    this.metrics.jobs.inc({ outcome: state });
    this.log.info(`job ${state}`, { jobId: rec.jobId, reason });
  }

  /**
   * A job taken and not locked on the chain yet holds its collateral against our free stake
   * (decide reserves it; this takes it up again after a restart, or a reorg that dropped the
   * commit or result that locked it).
   */
  protected holdCollateral(rec: JobRecord): void {
    if (HOLDING_UNLOCKED.includes(rec.state)) this.stake.reserve(rec.jobId.toString(), rec.job.collateral);
  }

  /**
   * Looks again, in their order, at the first jobs waiting for free stake that `free` covers (all
   * but `except`): stake that came free goes to them, not to the next job that happens to look.
   */
  protected offerStake(free: bigint, except?: string): void {
    const passed = new Set(except === undefined ? [] : [except]);
    for (let w = this.stakeWaiters.first(this.now(), passed); w; w = this.stakeWaiters.first(this.now(), passed)) {
      passed.add(w.key);
      // Gone by the events since it looked (another's result, every seat taken, the job's end).
      const rec = this.journal.getJob(BigInt(w.key));
      if (!rec || rec.state !== "seen" || this.goneByEvents(rec)) {
        this.stakeWaiters.leave(w.key);
        continue;
      }
      if (w.collateral > free) return;
      free -= w.collateral;
      this.kick(BigInt(w.key));
    }
  }

  /** What this process keeps of a job in memory, dropped when the job ends or is pruned. */
  protected forgetInMemory(jobId: bigint): void {
    this.stake.release(jobId.toString());
    this.stakeWaiters.leave(jobId.toString());
    this.seatsTaken.delete(jobId.toString());
    this.seenAt.delete(jobId.toString());
    this.firstLookAt.delete(jobId.toString());
    this.takenAt.delete(jobId.toString());
    this.readyAt.delete(jobId.toString());
    this.memo.forget(jobId);
  }

  /** Nothing to do until the chain moves: an event wakes the job, or the follow interval. */
  protected waitForChain(rec: JobRecord, why: string | null, inMs = this.followIntervalMs): void {
    this.journal.updateJob(rec.jobId, rec, { nextAttemptAt: this.now() + inMs });
    if (why) this.log.debug("job waits for the chain", { jobId: rec.jobId, why });
  }

  protected onStepError(rec: JobRecord, error: unknown): void {
    const { log, metrics } = this;
    // The retry reads the chain again: what was remembered may be why the step failed.
    this.memo.forget(rec.jobId);
    if (this.stopping.signal.aborted) {
      // Cancelled by the shutdown, not failed: the journal resumes the step on restart as it was.
      log.debug("job step cancelled by the stop", { jobId: rec.jobId, state: rec.state, error: oneLine(error) });
      return;
    }
    const attempts = rec.attempts + 1;
    if (error instanceof TxWouldRevertError) {
      // The chain moved on (another provider was first, a deadline): nothing was sent. The next
      // step reads the chain (and its events) and follows; no backoff, this is not a fault.
      // Our free stake cannot cover the collateral yet (a burst took it): the result waits for
      // stake to come free, as decide does (see stakeShort), until its last action.
      if (error.errorName === STAKE_SHORT_ERROR && rec.state === "computed")
        return this.waitForChain(rec, "the chain wants more free stake for the collateral");
      log.info("transaction would revert; reading the chain again", { jobId: rec.jobId, error: error.errorName });
      if (attempts >= MAX_WOULD_REVERT && (rec.state === "computed" || rec.state === "committed")) {
        return rec.state === "computed"
          ? this.end(rec, "lost", `chain refused the result: ${error.errorName ?? "reverted"}`)
          : this.waitForChain(rec, "reveal refused; following the job");
      }
      this.journal.updateJob(rec.jobId, rec, {
        attempts,
        nextAttemptAt: this.now() + Math.min(this.followIntervalMs, 1_000),
      });
      return;
    } else if (error instanceof JobNotOnNodeError) {
      // A node behind the others answered: asked again shortly, which is no fault of the job's.
      log.debug("job read from a node behind the scanned blocks; reading again", { jobId: rec.jobId });
      this.journal.updateJob(rec.jobId, rec, { nextAttemptAt: this.now() + NOT_ON_NODE_RETRY_MS });
      return;
    } else if (error instanceof TxVoidedError) {
      // A reorg moved the job under our transaction, which became a no-op instead of a revert:
      // nothing happened. The rescan of the reorganised blocks says what the job is now.
      log.info("transaction voided after a reorg; reading the chain again", { jobId: rec.jobId, state: rec.state });
      this.journal.updateJob(rec.jobId, rec, {
        nextAttemptAt: this.now() + Math.min(this.followIntervalMs, 1_000),
      });
      return;
    } else if (error instanceof TxRevertedError) {
      // Mined and reverted: the job moved on under us (another provider delivered first, a
      // window closed). Its events say how it ended; sendOnce will not send the same kind again.
      return this.waitForChain(rec, `transaction reverted: ${oneLine(error)}`, Math.min(this.followIntervalMs, 1_000));
    } else if (error instanceof WorkerCrashedError && attempts >= MAX_CRASHES_PER_JOB) {
      return this.end(rec, "failed", `the input crashed the inference worker ${attempts} times`);
    } else if (error instanceof ConclaveError && !error.retryable) {
      return this.end(rec, "failed", error.message);
    }
    const delay = backoffMs(attempts, this.retryBaseMs, this.retryMaxMs);
    this.journal.updateJob(rec.jobId, rec, { attempts, nextAttemptAt: this.now() + delay });
    metrics.jobsRetried.inc({ reason: error instanceof ConclaveError ? error.code : "other" });
    log.warn("job step will be retried", {
      jobId: rec.jobId,
      state: rec.state,
      attempts,
      retryInMs: delay,
      error: oneLine(error),
    });
  }

  /** The first try of a result or commit waits this provider's share of `spreadMs` (see the option). */
  protected async spread(rec: JobRecord): Promise<void> {
    // With assignment on, the market already spaces the providers out (see decide()).
    if (this.spreadMs <= 0 || rec.attempts > 0 || rec.job.priorityWindow > 0) return;
    await new Promise((r) => setTimeout(r, spreadDelayMs(rec.jobId, this.address, this.spreadMs)));
  }

  /**
   * Why the chain's events (noted in the journal) say a job is not ours to take any more, without
   * a read: another provider's result is in (k = 1), every seat is taken by others (k > 1, their
   * SeatCommitted events, while we hold none), or the job ended (settled, refunded or cancelled).
   * Null when they say nothing of the kind, or when the result in is ours (a delivery the journal's
   * state forgot: the reads that follow decide).
   */
  protected goneByEvents(rec: JobRecord): string | null {
    if (rec.expiryDone) return "job no longer open";
    if (rec.job.redundancy === 1)
      return rec.deliveredBy !== null && !this.deliveredByUs(rec) ? "another provider delivered first" : null;
    if (rec.seat === null && (this.seatsTaken.get(rec.jobId.toString()) ?? 0) >= rec.job.redundancy)
      return "all seats were taken";
    return null;
  }

  /** k = 1: the market took our result; k > 1: our reveal is on-chain (from the events). */
  protected deliveredByUs(rec: JobRecord): boolean {
    return rec.deliveredBy !== null && getAddress(rec.deliveredBy) === getAddress(this.address);
  }

  /** Chain time is past the last moment at which this job's next transaction could land. */
  protected async pastLastAction(rec: JobRecord): Promise<boolean> {
    return (await this.chainFor(rec).now()) >= lastActionOf(rec.job);
  }

  /** A transaction of `kind` for this job that may still land or has landed. */
  protected hasLiveTx(rec: JobRecord, kind: TxKind): boolean {
    return this.journal.hasLiveTx(rec.jobId, kind);
  }

  /**
   * Hands a batch's outcome for one job to `handle` once it settles (null and the error if the
   * whole transaction failed): the outcome comes for all the batch's jobs at once, so each takes
   * its own turn of the loop, at `rank`.
   */
  protected afterBatch<O>(
    outcome: Promise<O>,
    handle: (o: O | null, error?: unknown) => void,
    rank?: TurnRank,
  ): Promise<void> {
    return outcome.then(
      async (o) => {
        await loopBudget.turn(rank);
        handle(o);
      },
      async (error: unknown) => {
        await loopBudget.turn(rank);
        handle(null, error);
      },
    );
  }

  /** New commits and results wait while reveals are being sent: reveals go first in the nonce queue. */
  protected revealsFirst(): Promise<void> {
    if (this.revealsPending === 0) return Promise.resolve();
    return new Promise((resolve) => this.revealsDone.push(resolve));
  }

  /**
   * A new commit waits for the k = 1 results already in a delivery batch to be mined, for at most
   * the follow interval: a commit has its commit window, a result's client waits blocks, and a
   * commit signed first takes a nonce before the batch's and room in the block the batch needs
   * (the fleet burst, issue 14). Results that come later do not extend the wait. The wait holds no
   * step slot.
   */
  protected async resultsFirst(rec: JobRecord): Promise<void> {
    if (this.delivering.size === 0 || this.stopping.signal.aborted) return;
    const { signal } = this.stopping;
    let end!: () => void;
    const bound = new Promise<void>((resolve) => (end = resolve));
    const timer = setTimeout(end, this.followIntervalMs);
    signal.addEventListener("abort", end, { once: true });
    try {
      await this.queue.outside(
        rec.jobId.toString(),
        Promise.race([Promise.allSettled(this.delivering.values()), bound]),
      );
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", end);
    }
  }

  /**
   * Sends the job's `kind` transaction once: if an earlier run already signed one, waits for that
   * very transaction instead of making another. Returns null when the earlier one reverted (the
   * job then follows the chain).
   */
  protected async sendOnce(
    rec: JobRecord,
    kind: TxKind,
    functionName: string,
    args: readonly unknown[],
    onQueued?: () => void,
  ): Promise<TransactionReceipt | { transactionHash: Hex; logs: [] } | null> {
    const { journal, sender } = this;
    const previous = journal.txsFor(rec.jobId, kind).filter((t) => t.status !== "replaced");
    const mined = previous.find((t) => t.status === "mined");
    if (mined) return { transactionHash: mined.hash, logs: [] };
    const key = rec.jobId.toString();
    const pending = previous.find((t) => t.status === "signed" || t.status === "sent");
    if (pending) {
      // It holds its nonce already. Said before the slot is given up: steps that wait for
      // reveals to be queued (revealsFirst) hold slots, and would otherwise take every slot
      // while this reveal waited outside for one.
      onQueued?.();
      // Waiting for a receipt holds no step slot (see WorkQueue.outside).
      return this.queue.outside(key, sender.resume(pending));
    }
    // A reveal that reverted may be sent again (a reorg can move our seat under a reveal already
    // signed): reveal() read the chain first, and an estimate refuses one that cannot land.
    if (kind !== "reveal" && previous.some((t) => t.status === "reverted")) {
      // Ours reverted (the job moved on under us): what happened is the chain's to say. Its events
      // may have said it while this step ran: our result or seat landed after all (a batch that
      // carried it, mined again after a reorg; chaos seed 11, a burst: two delivered jobs were
      // journaled lost, never claimed, and stayed Delivered).
      const now = journal.getJob(rec.jobId) ?? rec;
      if (kind === "submit" && this.deliveredByUs(now)) this.onSubmitted(now);
      else if (kind === "commit" && now.seat !== null) this.transition(now, { state: "committed" });
      else if (kind === "submit" || kind === "commit") this.end(rec, "lost", `${kind} transaction reverted`);
      else this.waitForChain(rec, `${kind} transaction reverted`);
      return null;
    }
    const data = encodeFunctionData({ abi: this.marketAbi, functionName, args });
    let queued!: () => void;
    const holdsNonce = new Promise<void>((resolve) => (queued = resolve));
    const receipt = sender
      .send({
        jobId: rec.jobId,
        kind,
        to: this.market,
        data,
        extraGas: settlementHeadroom(kind, rec.job.redundancy),
        onQueued: () => {
          queued();
          onQueued?.();
        },
      })
      .catch((error: unknown) => this.notOnNodeOr(rec, error));
    // The estimate and the signing count against the step's slot (they are RPC calls); the
    // receipt, a block or more away, does not.
    await Promise.race([holdsNonce, receipt]);
    return this.queue.outside(key, receipt);
  }

  protected findSeat(jobId: bigint, seated: number): Promise<number | null> {
    return findSeat(this.chain, jobId, seated, this.address);
  }

  protected seatFromReceipt(receipt: { logs: readonly unknown[] }): number | null {
    return seatFromReceipt(this.marketAbi, receipt, this.address);
  }

  protected startsReveal(receipt: { logs: readonly unknown[] }, jobId: bigint): boolean {
    return startsReveal(this.marketAbi, receipt, jobId);
  }

  protected observeLatency(rec: JobRecord): void {
    const t0 = this.seenAt.get(rec.jobId.toString());
    if (t0 !== undefined) this.metrics.requestToResultSeconds.observe((performance.now() - t0) / 1000);
  }
}

/**
 * A step's rank in the loop budget: prompt when someone waits for it within blocks (a k = 1 job
 * on its way to its result; a reveal), other for work with minutes to spare (a k > 1 job before
 * its commit) or none (following a result on-chain to its payment).
 */
export function loopRankOf(rec: JobRecord): TurnRank {
  if (rec.state === "committed") return "prompt";
  return rec.job.redundancy === 1 && TOWARDS_RESULT.has(rec.state) ? "prompt" : "other";
}
const TOWARDS_RESULT: ReadonlySet<JobRecord["state"]> = new Set(["seen", "accepted", "computed"]);
/** Taken (decide reserved its collateral) and not locked on the chain yet. */
const HOLDING_UNLOCKED: readonly JobRecord["state"][] = ["accepted", "computed"];

export type SeatStep = "commit" | "reveal";

/**
 * The key of a job's commit or reveal: in a batch (seating; a commit's batch may still be out when
 * the reveal goes), or going alone from now on (singly).
 */
export function seatKey(jobId: bigint, step: SeatStep): string {
  return `${jobId}/${step}`;
}
