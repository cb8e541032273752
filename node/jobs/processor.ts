import { encodeFunctionData, getAddress, type Address, type Hex } from "viem";
import { jobHash } from "../attest/attestation.ts";
import { JobStatus } from "../chain/statuses.ts";
import { TxRevertedError, TxWouldRevertError } from "../chain/tx-sender.ts";
import type { DecodedLog } from "../chain/watcher.ts";
import { oneLine } from "../errors.ts";
import type { JobRecord, JobState } from "../journal/journal.ts";
import { TERMINAL_STATES } from "../journal/journal.ts";
import { versionKey } from "../models/store.ts";
import { loopBudget } from "../loop-budget.ts";
import { jobOfWords, jobWords, type JobWords } from "../attest/job-words.ts";
import type { Service } from "../service.ts";
import { SeatedProcessor } from "./processor-seats.ts";
import type { Lane } from "./work-queue.ts";
import { safeDecodeRef, settlementHeadroom, finalizeStagger, type ProcessorOptions } from "./processor-options.ts";

export function createJobProcessor(deps: ProcessorOptions): JobProcessor {
  return new Processor(deps);
}

export type JobProcessor = Processor;
// Where chain/reader.ts, which implements it, imports it from.
export type { ChainReader } from "./processor-options.ts";

/**
 * Takes each job from the journal through its states: decide, compute, attest (submit, or
 * commit then reveal), and follows the chain to its end. Every step is idempotent, reads the chain
 * before it sends, and writes its outcome with a compare-and-set on (job id, parameter hash,
 * state), so it can be re-run at any time (after a restart, a reorg, a retry) and a step that was
 * overtaken (by a reorg replacing the job, by an event) writes nothing.
 *
 * Jobs waiting for the chain are woken by its events and otherwise looked at every
 * `followIntervalMs`; failed steps back off exponentially and stop at the job's deadline.
 *
 * One class in layers, a file per concern: processor-base.ts (state, the step loop, what every
 * step shares), processor-compute.ts (decide, compute), processor-delivery.ts (k = 1),
 * processor-seats.ts (k > 1), and this file (events in, the ticks, expiry and pruning); its
 * options, facades and pure rules are in processor-options.ts.
 */
class Processor extends SeatedProcessor implements Service {
  /** Events of one confirmed block range, in order. */
  async onLogs(logs: DecodedLog[]): Promise<void> {
    const { journal, log } = this;
    const activated = new Map<Hex, number>();
    for (const l of logs) {
      // A block of a burst holds hundreds of events, each a journal write: the loop budget lets
      // timers, sockets and the metrics endpoint in between every few milliseconds. Events go
      // before job steps: a job is served only once its event is taken in.
      await loopBudget.turn("event");
      const a = l.args;
      const jobId = a.jobId as bigint | undefined;
      const block = Number(l.blockNumber);
      // Our own SeatCommitted that our commit's receipt gave already says nothing new.
      if (jobId !== undefined && !this.repeatsOurSeat(l, jobId, block)) this.memo.chainMoved(jobId);
      switch (l.eventName) {
        case "JobRequested": {
          const job = jobOfWords(a.job as JobWords);
          // Hex decoded here, or bytes from the chain-log thread (see log-thread.ts).
          const input = a.input as Hex | Uint8Array;
          const inputCid = a.inputCid as string;
          const outcome = journal.upsertJob({
            jobId: jobId!,
            paramsHash: jobHash(job),
            job,
            input: (typeof input === "string" ? input === "0x" : input.length === 0) ? null : input,
            inputCid: inputCid === "" ? null : inputCid,
            block: Number(l.blockNumber),
            blockHash: l.blockHash,
          });
          if (outcome !== "same") {
            if (job.redundancy === 1) this.memo.requested(jobId!);
            this.seenAt.set(jobId!.toString(), performance.now());
            log.info("job seen", { jobId, redundancy: job.redundancy, outcome });
          }
          this.kick(jobId!);
          break;
        }
        case "ResultSubmitted":
          // k = 1: a result is in, and this says by whom (ours mined, or someone was first). It is
          // paid once its challenge window passes (DeliveryClaimed) or a challenge is resolved.
          if (
            journal.noteChainFact(
              jobId!,
              { deliveredBy: getAddress(a.provider as Address), settledHash: a.resultHash as Hex },
              block,
            )
          ) {
            if (getAddress(a.provider as Address) === getAddress(this.address)) this.revive(jobId!, "submitted");
            this.kick(jobId!);
          }
          break;
        case "DeliveryClaimed":
        case "ChallengeResolved":
          if (journal.noteChainFact(jobId!, { final: true }, block)) this.kick(jobId!);
          break;
        case "ResultChallenged":
          if (journal.noteChainFact(jobId!, {}, block)) this.kick(jobId!);
          break;
        case "ResultRevealed":
          // k > 1: our reveal is on-chain (whatever our receipt said); marked as "delivered by us".
          // (On a k = 1 job it is a jury's reveal: the court service follows those.)
          if (
            getAddress(a.provider as Address) === getAddress(this.address) &&
            !this.isK1(jobId!) &&
            journal.noteChainFact(jobId!, { deliveredBy: this.address }, block)
          )
            this.kick(jobId!);
          break;
        case "SeatCommitted":
          this.noteSeat(jobId!, Number(a.seat));
          if (
            getAddress(a.provider as Address) === getAddress(this.address) &&
            !this.isK1(jobId!) &&
            !this.repeatsOurSeat(l, jobId!, block) &&
            journal.noteChainFact(jobId!, { seat: Number(a.seat) }, block)
          ) {
            this.revive(jobId!, "committed");
            this.kick(jobId!, true);
          }
          break;
        case "JobSettled":
          if (journal.noteChainFact(jobId!, { settledHash: a.resultHash as Hex, final: true }, block))
            this.kick(jobId!);
          break;
        case "JobRefunded":
        case "JobCancelled":
          if (journal.noteChainFact(jobId!, { final: true }, block)) this.kick(jobId!);
          break;
        case "RevealStarted":
          if (journal.noteChainFact(jobId!, {}, block)) {
            this.memo.revealStarted(jobId!);
            this.kick(jobId!, true);
          }
          break;
        case "VersionRetired":
          this.models.evict({ modelId: a.modelId as Hex, version: Number(a.version) });
          void this.executor
            .unload(versionKey({ modelId: a.modelId as Hex, version: Number(a.version) }))
            .catch(() => undefined);
          break;
        case "VersionActivated":
          activated.set(a.modelId as Hex, Number(a.version));
          break;
        default:
          break;
      }
    }
    // Only the newest activation of each model in the range: a backfill does not fetch history.
    for (const [modelId, version] of activated) void this.prefetchVersion(modelId, version);
  }

  /**
   * Our SeatCommitted whose seat our commit's receipt already gave, from this block or a later
   * one: it says nothing new, so it neither drops what the receipt said (the read memo) nor wakes
   * the job, whose reveal would only read the chain again.
   */
  private repeatsOurSeat(l: DecodedLog, jobId: bigint, block: number): boolean {
    if (l.eventName !== "SeatCommitted" || getAddress(l.args.provider as Address) !== getAddress(this.address))
      return false;
    const seat = Number(l.args.seat);
    const rec = this.journal.getJob(jobId);
    return (
      rec !== null &&
      rec.seat === seat &&
      rec.factsBlock >= block &&
      (rec.state === "committed" || rec.state === "revealed")
    );
  }

  /**
   * The seats taken in an open k > 1 job we have yet to take (the stake order and decide read it).
   * Ours is counted too once committed; nothing reads it then.
   */
  private noteSeat(jobId: bigint, seat: number): void {
    const rec = this.journal.getJob(jobId);
    if (!rec || rec.job.redundancy === 1 || rec.state !== "seen") return;
    const key = jobId.toString();
    this.seatsTaken.set(key, Math.max(this.seatsTaken.get(key) ?? 0, seat + 1));
  }

  /** A k = 1 job: its seats and reveals are a jury's (the court service's), not ours to follow. */
  private isK1(jobId: bigint): boolean {
    return this.journal.getJob(jobId)?.job.redundancy === 1;
  }

  /** A reorg rewound these jobs' blocks or facts: what this process remembers of them is dropped. */
  rewound(jobIds: readonly bigint[]): void {
    for (const id of jobIds) {
      this.memo.rewound(id);
      this.seatsTaken.delete(id.toString());
      const rec = this.journal.getJob(id);
      if (rec) this.holdCollateral(rec);
    }
  }

  /** Schedules a job to be advanced; a job already being advanced is advanced once more after. */
  kick(jobId: bigint, urgent = false): void {
    if (this.stopped) return;
    if (urgent) return this.queue.push(jobId.toString(), "urgent");
    this.enqueue(jobId, this.journal.getJob(jobId));
  }

  /** Queues a job in its lane (see laneOf), with its longest wait there (see maxWaitOf). */
  private enqueue(jobId: bigint, rec: JobRecord | null): void {
    this.queue.push(jobId.toString(), laneOf(rec), maxWaitOf(rec));
  }

  /** Advances every job whose wait is over; runs the expiry service and the pruning. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    // Jobs holding a seat first, whatever the backlog: their reveals have a window.
    for (const rec of this.journal.dueJobs(this.now(), this.maxConcurrentSteps, true))
      if (!this.stopped) this.enqueue(rec.jobId, rec);
    const room = Math.max(0, this.maxConcurrentSteps * 4 - this.queue.size());
    for (const rec of this.journal.dueJobs(this.now(), room)) if (!this.stopped) this.enqueue(rec.jobId, rec);
    if (this.expireStaleJobs !== "off" && !this.expiring) {
      this.expiring = true;
      try {
        await this.expireStale();
      } finally {
        this.expiring = false;
      }
    }
    if (!this.pruning && this.now() - this.lastPrune >= Math.min(60_000, this.retentionMs)) {
      this.pruning = true;
      try {
        await this.prune();
      } finally {
        this.pruning = false;
        this.lastPrune = this.now();
      }
    }
  }

  /** Nothing to begin: jobs arrive by `onLogs`, `kick` and `tick` (the runner's ticker). */
  start(): void {}

  async stop(): Promise<void> {
    this.halt();
    await this.queue.drain();
    // Results, commits and reveals in a batch: the batcher was flushed and the sender closed first (see
    // runner.ts), so these settle at once; their jobs stay as the journal has them and resume on restart.
    await Promise.allSettled(this.inBatches());
  }

  /** Resolves once no job step is queued or running, and no batched transaction of ours waits for its receipt. */
  async idle(): Promise<void> {
    for (;;) {
      await this.queue.idle();
      const waiting = this.inBatches();
      if (waiting.length === 0) return;
      await Promise.allSettled(waiting);
    }
  }

  /** The batched results, claims, commits and reveals not mined yet. */
  private inBatches(): Promise<void>[] {
    return [...this.delivering.values(), ...this.claiming.values(), ...this.seating.values()];
  }

  // ------------------------------------------------------------------ expiry as a service

  /**
   * Finalizes jobs whose last moment passed, so clients get refunds and seated collateral is
   * released without anyone having to ask: by default only jobs this runner holds a seat in (an
   * attacker's unservable jobs cost other providers nothing). Each job is looked at once after its
   * end (events of settlement mark it done without any read), not polled.
   */
  private async expireStale(): Promise<void> {
    const mode = this.expireStaleJobs;
    const states: JobState[] =
      mode === "all"
        ? ["seen", "accepted", "computed", "submitted", "committed", "revealed", "skipped", "failed", "lost", "expired"]
        : ["committed", "revealed"];
    const chainNow = await this.chain.now();
    for (const rec of this.journal.expiryCandidates(states, chainNow, 32)) {
      if (this.stopped) return;
      try {
        const state = await this.chain.jobState(rec.jobId);
        if (
          state.status === JobStatus.Settled ||
          state.status === JobStatus.Refunded ||
          state.status === JobStatus.None
        ) {
          this.journal.noteChainFact(rec.jobId, { final: true }, 0);
          if (!TERMINAL_STATES.has(rec.state)) this.kick(rec.jobId);
          continue;
        }
        const own = rec.seat !== null || this.hasLiveTx(rec, "commit");
        if (!own) {
          if (mode === "own") continue;
          // Every runner in "all" mode sees the same job end at the same time: each waits its
          // own share of a spread derived from (job, provider), so usually one sends and the others
          // see the job's JobRefunded event before their turn.
          if (chainNow < rec.endsAt + finalizeStagger(rec.jobId, this.address)) continue;
        }
        await this.finalize(rec);
      } catch (error) {
        this.log.debug("finalize not possible yet", { jobId: rec.jobId, error: oneLine(error) });
      }
    }
  }

  private async finalize(rec: JobRecord): Promise<void> {
    const previous = this.journal
      .txsFor(rec.jobId, "finalize")
      .filter((t) => t.status !== "replaced" && t.status !== "reverted");
    const pending = previous.find((t) => t.status === "signed" || t.status === "sent");
    try {
      if (pending) await this.sender.resume(pending);
      else if (!previous.some((t) => t.status === "mined")) {
        await this.sender.send({
          jobId: rec.jobId,
          kind: "finalize",
          idempotent: true,
          to: this.market,
          data: encodeFunctionData({
            abi: this.marketAbi,
            functionName: "finalize",
            args: [rec.jobId, jobWords(rec.job)],
          }),
          extraGas: settlementHeadroom("finalize", rec.job.redundancy),
        });
      }
      this.log.info("finalized a stale job", { jobId: rec.jobId });
    } catch (error) {
      if (!(error instanceof TxWouldRevertError) && !(error instanceof TxRevertedError)) throw error;
      // Someone else finalized it first, or it settled: the job's own events say how it ended.
    }
    this.journal.noteChainFact(rec.jobId, { final: true }, 0);
    this.kick(rec.jobId);
  }

  // ------------------------------------------------------------------ forgetting

  /** Forgets ended jobs past the retention: journal rows and pinned outputs. */
  private async prune(): Promise<void> {
    const gone = this.journal.prune(this.now() - this.retentionMs);
    const cids: string[] = [];
    for (const { jobId, outputRef } of gone) {
      this.forgetInMemory(jobId);
      const ref = outputRef ? safeDecodeRef(outputRef) : null;
      if (ref?.kind === "ipfs") cids.push(ref.cid);
    }
    if (gone.length === 0) return;
    // Also frees blocks fetched for inputs and weights, which are never pinned.
    await this.content
      .release(cids)
      .catch((error: unknown) => this.log.warn("releasing IPFS blocks failed", { error: oneLine(error) }));
    this.log.info("forgot ended jobs", { jobs: gone.length, outputsUnpinned: cids.length });
  }

  private async prefetchVersion(modelId: Hex, version: number): Promise<void> {
    if (!this.prefetch) return;
    if (this.allowedModels && !this.allowedModels.has(modelId)) return;
    const key = versionKey({ modelId, version });
    if (this.prefetched.has(key)) return;
    this.prefetched.add(key);
    try {
      const info = await this.chain.version(modelId, version);
      if (!info.accepting) return;
      const release = await this.computeSlots.acquire();
      try {
        await this.models.ensure(info);
      } finally {
        release();
      }
    } catch (error) {
      this.prefetched.delete(key);
      this.log.warn("prefetch failed", { modelId, version, error: oneLine(error) });
    }
  }
}

/**
 * A k > 1 job before its commit waits behind k = 1 work (for at most {@link maxWaitOf}): its
 * commit window is minutes, and a k = 1 result's latency is what its client waits for. One that
 * holds a seat goes first: its reveal has a window of its own (a seat known before the commit step
 * saw its receipt: the events came first, then a restart).
 */
function laneOf(rec: JobRecord | null | undefined): Lane {
  if (!rec || rec.job.redundancy === 1) return "normal";
  if (rec.state === "committed" || (rec.seat !== null && BEFORE_COMMIT.has(rec.state))) return "urgent";
  return BEFORE_COMMIT.has(rec.state) ? "background" : "normal";
}

/**
 * How long k > 1 work before its commit may wait behind k = 1 work: half its commit window (from
 * its request to its commit deadline). The other half leaves room to compute and commit, and the
 * commit step still refuses a commit too close to the deadline (commitMarginSeconds).
 */
function maxWaitOf(rec: JobRecord | null | undefined): number | undefined {
  return rec ? Math.max(0, rec.job.commitDeadline - rec.job.requestedAt) * 500 : undefined;
}
const BEFORE_COMMIT: ReadonlySet<JobState> = new Set(["seen", "accepted", "computed"]);
