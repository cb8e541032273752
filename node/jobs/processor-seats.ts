/**
 * The job processor's k > 1 path (processor.ts is the whole): commit to a seat, reveal once the
 * reveal starts, and follow the job until the chain says how this seat ended.
 */
import { randomBytes } from "node:crypto";
import { toHex, type Hex } from "viem";
import { commitmentOf } from "../attest/attestation.ts";
import { JobStatus } from "../chain/statuses.ts";
import type { JobRecord } from "../journal/journal.ts";
import { TxRevertedError, TxWouldRevertError } from "../chain/tx-sender.ts";
import { oneLine } from "../errors.ts";
import type { SeatOutcome } from "./seat-batches.ts";
import { jobWords } from "../attest/job-words.ts";
import { seatKey, type SeatStep } from "./processor-base.ts";
import { DeliveringProcessor } from "./processor-delivery.ts";
import { stepInAt, turnOf } from "./take-policy.ts";

export abstract class SeatedProcessor extends DeliveringProcessor {
  protected async commit(rec: JobRecord): Promise<void> {
    if (rec.seat !== null) return void this.transition(rec, { state: "committed" }); // the SeatCommitted event came first
    // In a batch not mined yet: its outcome wakes the job (see seatBatchOutcome).
    if (this.seating.has(seatKey(rec.jobId, "commit"))) return this.waitForChain(rec, "commit in a batch");
    const batch = this.batchOf(rec, "commits");
    const live = this.hasLiveTx(rec, "commit") || batch.pending !== null;
    if (!live) {
      // Before the read: what it says is what the commit goes on.
      await this.resultsFirst(rec);
      await this.spread(rec);
      const lateWait = await this.lateStepInWaitMs(rec);
      if (lateWait > 0) return this.waitForChain(rec, "late step-in: the earlier ranks commit first", lateWait);
      const [state, now] = await Promise.all([this.readState(rec, this.chain), this.chain.now()]);
      if (state.status !== JobStatus.Open) {
        // Before calling it lost, read the seats: a commit of ours whose receipt was lost may hold one.
        const seat =
          state.status === JobStatus.Revealing && rec.salt !== null
            ? await this.findSeat(rec.jobId, state.seated)
            : null;
        if (seat !== null) return void this.transition(rec, { state: "committed", seat });
        return this.end(rec, "lost", "all seats were taken");
      }
      // Reveal safety: a commit that lands too late either reverts (gas for nothing) or seats us
      // with no time left to reveal; never commit unless there is room for both.
      if (now + this.commitMarginSeconds > rec.job.commitDeadline)
        return this.end(rec, "expired", "too close to the commit deadline to commit safely");
      await this.revealsFirst();
    }
    let salt = rec.salt;
    if (!salt) {
      // The salt is committed before the commit transaction is recorded, and that record is
      // synced to disk before the broadcast (see Journal): a crash cannot lose the salt.
      salt = toHex(randomBytes(32));
      if (!this.transition(rec, { salt })) return;
      rec = { ...rec, salt };
    }
    const commitment = commitmentOf(rec.jobId, this.address, rec.resultHash!, salt);
    if (this.batcher && (batch.pending || this.batchable(rec, "commits", batch.used))) {
      const outcome = batch.pending
        ? this.batcher.resumeSeat(batch.pending, rec.jobId)
        : this.batcher.commit({ jobId: rec.jobId, job: rec.job, commitment });
      return this.inSeatBatch(rec, "commit", outcome);
    }
    const receipt = await this.sendOnce(rec, "commit", "commit", [rec.jobId, jobWords(rec.job), commitment]);
    if (!receipt) return;
    const fromReceipt = this.seatFromReceipt(receipt);
    // The receipt says what the reveal's first look would read: the reveal started, or the job
    // still open with our seat the last taken (at its block; a later event drops this).
    if (fromReceipt !== null) this.memo.committed(rec.jobId, fromReceipt, this.startsReveal(receipt, rec.jobId));
    // Not in the receipt at hand (a resumed or re-mined commit): the journal's, else the chain's.
    const seat =
      fromReceipt ?? this.journal.getJob(rec.jobId)?.seat ?? (await this.findSeat(rec.jobId, rec.job.redundancy));
    // A mined commit seated us; if the receipt at hand does not say where (a resumed one), the
    // SeatCommitted event will: wait for it rather than call the job lost.
    if (seat === null) {
      // Seats are cleared when a job ends: an ended job is followed to its outcome, not waited on.
      const state = await this.chain.jobState(rec.jobId);
      if (state.status === JobStatus.Settled || state.status === JobStatus.Refunded) return this.follow(rec);
      return this.waitForChain(rec, "commit mined; waiting for its SeatCommitted event");
    }
    const factsBlock = fromReceipt !== null && "blockNumber" in receipt ? Number(receipt.blockNumber) : rec.factsBlock;
    if (this.transition(rec, { state: "committed", seat, factsBlock }))
      this.log.info("seat committed", { jobId: rec.jobId, seat });
  }

  /**
   * How long (ms) a rank past the first k waits before it commits, when its result was ready more
   * than a priority window after it took the job (a backlog of computes in a burst, a restart).
   * Every provider behind by the same backlog has its result ready at about the same time, long
   * after every turn opened, and all would commit at once: all but k revert (chaos seed 23, a
   * burst: 202 reverted commits, most of them here). As decide does for a late first look (see
   * stepInAt), the earlier ranks get the schedule again, counted from when this result was ready;
   * they take the seats, and the step-ins read them taken instead of sending. Not when the wait
   * would end within {@link LATE_STEP_IN_SLACK_SECONDS} of the commit margin (chaos seed 23: a
   * runner restarted 19 s before the deadline waited, and its five commits came too late).
   */
  private async lateStepInWaitMs(rec: JobRecord): Promise<number> {
    const { job } = rec;
    if (job.priorityWindow === 0 || rec.attempts > 0) return 0;
    const [provider, now] = await Promise.all([this.chain.providerTerms(), this.chain.now()]);
    const turn = turnOf(job, provider);
    if (!turn || turn.rank < job.redundancy) return 0;
    const key = rec.jobId.toString();
    const readyAt = this.readyAt.get(key) ?? now;
    this.readyAt.set(key, readyAt);
    const taken = this.takenAt.get(key) ?? turn.opensAt;
    if (readyAt - taken <= job.priorityWindow) return 0;
    const at = stepInAt(job, turn, readyAt);
    // Close to the deadline, a seat is worth a race: the wake after a wait comes late in a burst.
    if (at > job.commitDeadline - this.commitMarginSeconds - LATE_STEP_IN_SLACK_SECONDS) return 0;
    return now < at ? (at - now) * 1_000 : 0;
  }

  protected async reveal(rec: JobRecord): Promise<void> {
    if (this.deliveredByUs(rec)) return void this.transition(rec, { state: "revealed" }); // its ResultRevealed came first
    // In a batch not mined yet: its outcome wakes the job (see seatBatchOutcome).
    if (this.seating.has(seatKey(rec.jobId, "reveal"))) return this.waitForChain(rec, "reveal in a batch");
    const batch = this.batchOf(rec, "reveals");
    const live = this.hasLiveTx(rec, "reveal") || batch.pending !== null;
    // RevealStarted was taken in and our seat is known: the reveal goes without a read.
    if (!live && !(this.memo.isRevealOpen(rec.jobId) && rec.seat !== null)) {
      const chain = this.chainFor(rec);
      const [state, now] = await Promise.all([this.readState(rec, chain), chain.now()]);
      const commitOver = now > rec.job.commitDeadline && state.seated >= rec.job.quorum;
      if (state.status === JobStatus.Open && !commitOver) {
        // Still waiting for the other seats: RevealStarted wakes us, or the commit deadline.
        const untilDeadlineMs = Math.max(0, (rec.job.commitDeadline - now + 1) * 1_000);
        return this.waitForChain(rec, null, Math.min(this.followIntervalMs, untilDeadlineMs));
      }
      if (state.status !== JobStatus.Open && state.status !== JobStatus.Revealing) return this.follow(rec);
      if (rec.seat === null) {
        // The seat we knew was forgotten (a reorg may have moved it): read it from the chain.
        const seat = await this.findSeat(rec.jobId, state.seated);
        if (seat === null) return this.waitForChain(rec, "seat not found on the chain; waiting for SeatCommitted");
        if (!this.transition(rec, { seat })) return;
        rec = { ...rec, seat };
      }
    }
    if (this.batcher && (batch.pending || this.batchable(rec, "reveals", batch.used))) {
      const outcome = batch.pending
        ? this.batcher.resumeSeat(batch.pending, rec.jobId)
        : this.batcher.reveal({
            jobId: rec.jobId,
            job: rec.job,
            seat: rec.seat!,
            resultHash: rec.resultHash!,
            salt: rec.salt!,
            outputRef: rec.outputRef!,
          });
      return this.inSeatBatch(rec, "reveal", outcome);
    }
    // Reveals take their nonces before new commits and results: those wait until this one is
    // queued (signed with its nonce), not until it is mined.
    this.revealsPending++;
    let queued = false;
    const onQueued = () => {
      if (queued) return;
      queued = true;
      this.revealsPending--;
      if (this.revealsPending === 0) this.revealsDone.splice(0).forEach((f) => f());
    };
    let receipt;
    try {
      receipt = await this.sendOnce(
        rec,
        "reveal",
        "reveal",
        [rec.jobId, jobWords(rec.job), rec.seat, rec.resultHash, rec.salt, rec.outputRef],
        onQueued,
      );
    } finally {
      onQueued();
    }
    if (!receipt) return;
    // The receipt's block is a fact of the job's, as the commit's is: a reorg that drops it takes
    // the job back (see Journal.rewindTo), also before the ResultRevealed event is taken in.
    const minedIn = "blockNumber" in receipt ? Number(receipt.blockNumber) : 0;
    if (this.transition(rec, { state: "revealed", factsBlock: Math.max(rec.factsBlock, minedIn) }))
      this.observeLatency(rec);
  }

  /**
   * The step does not wait for its batch to be mined: the outcome comes back in seatBatchOutcome,
   * which moves the job on and wakes it. A reveal in the batcher's queue does not hold back new
   * commits and results (revealsFirst): the batch goes within half a block, whatever comes meanwhile.
   */
  private inSeatBatch(rec: JobRecord, step: SeatStep, outcome: Promise<SeatOutcome>): void {
    const done = this.afterBatch(outcome, (o, error) => this.seatBatchOutcome(rec.jobId, step, o, error), "prompt");
    this.seating.set(seatKey(rec.jobId, step), done);
    this.waitForChain(rec, `${step} in a batch`);
  }

  /** What a batch did for one commit or reveal: moves the job on as the call's own receipt would, or as its failure would. */
  protected seatBatchOutcome(jobId: bigint, step: SeatStep, outcome: SeatOutcome | null, error?: unknown): void {
    this.seating.delete(seatKey(jobId, step)); // before the kick below: the job's next step acts
    if (this.stopped) return;
    try {
      const rec = this.journal.getJob(jobId);
      // Moved on meanwhile (its event came first, a reorg took the job back): nothing to do.
      if (!rec || rec.state !== (step === "commit" ? "computed" : "committed")) return;
      if (outcome === null) {
        // The whole transaction would revert, or reverted: this one goes alone next time (after
        // reading the chain). A voided or unconfirmed one may ride in another batch.
        if (error instanceof TxWouldRevertError || error instanceof TxRevertedError)
          this.singly.add(seatKey(rec.jobId, step));
        this.onStepError(rec, error);
        return;
      }
      // The receipt's block is a fact of the job's, as for the call's own receipt (see commit, reveal).
      const factsBlock = Math.max(rec.factsBlock, Number(outcome.done ? (outcome.blockNumber ?? 0) : 0));
      if (outcome.done && step === "reveal") {
        if (this.transition(rec, { state: "revealed", factsBlock })) this.observeLatency(rec);
      } else if (outcome.done && outcome.seat !== null) {
        this.memo.committed(jobId, outcome.seat, outcome.startsReveal);
        if (this.transition(rec, { state: "committed", seat: outcome.seat, factsBlock }))
          this.log.info("seat committed", { jobId, seat: outcome.seat });
      } else if (!outcome.done) {
        // Skipped alone: the job is looked at again and goes alone, whose estimate says why not.
        this.singly.add(seatKey(rec.jobId, step));
        this.log.info(`${step} skipped by the market in a batch; the job is looked at again alone`, {
          jobId,
          reason: outcome.reason,
          tx: outcome.transactionHash,
        });
        this.journal.updateJob(jobId, rec, { nextAttemptAt: 0 });
      } else {
        // A commit mined whose receipt did not say the seat: the SeatCommitted event will.
        return this.waitForChain(rec, "commit mined; waiting for its SeatCommitted event");
      }
      this.kick(jobId);
    } catch (e) {
      this.log.error(`${step} outcome not recorded`, { jobId, error: oneLine(e) });
    }
  }

  /**
   * After our result is on-chain: wait for the job to end and record how it ended for us. For
   * k > 1 the outcome is the chain's, not inferred from our journal (which a reorg may have left
   * behind): "slashed" when a SeatSlashed event names us for the job, "paid" when our revealed
   * hash is the one the job settled on, otherwise "lost" (settled) or "refunded" (no quorum, or
   * too few seats).
   */
  protected async follow(rec: JobRecord): Promise<void> {
    if (rec.job.redundancy === 1) return this.followDelivery(rec);
    // JobSettled was taken in (a reorg would have rewound it): the winner is known, no read.
    if (rec.expiryDone && rec.settledHash !== null) return this.endSeat(rec, rec.settledHash);
    // As for k = 1 (see followDelivery): the ending is taken from the event the scan noted (JobSettled
    // names the winner), never from a read at the head alone. Until that event (which wakes the
    // job) a read could only say to wait, so none is made.
    if (!rec.expiryDone) return this.waitForChain(rec, null);
    // Ended by an event that named no winner (a refund, or the expiry service found it final).
    const state = await this.readState(rec, this.chain);
    if (state.status === JobStatus.Refunded) return this.endSeat(rec, null);
    this.waitForChain(rec, state.status === JobStatus.Settled ? "settled; waiting for its JobSettled event" : null);
  }

  /** How a k > 1 job that ended (`winner` null: refunded) ended for us, from the chain's events. */
  protected async endSeat(rec: JobRecord, winner: Hex | null): Promise<void> {
    // Our reveal as the journal knows it, else as the chain's events do: a reorg that rewound the
    // settlement but not our reveal leaves the journal without it (rewindTo), and the ended job's
    // seats, cleared on the chain, cannot be read back.
    const ours =
      rec.state === "revealed" || this.deliveredByUs(rec)
        ? rec.resultHash
        : rec.salt !== null
          ? await this.chain.revealedResult(rec.jobId, rec.block)
          : null;
    const revealed = ours !== null;
    // A winner is never slashed: no need to read the events.
    if (winner !== null && revealed && winner === ours) return this.settle(rec, "paid", null);
    if (await this.chain.seatSlashed(rec.jobId, rec.block)) {
      return this.settle(
        rec,
        "slashed",
        revealed ? "result differed from the quorum" : "seat not revealed before the job ended",
      );
    }
    if (winner !== null)
      return this.settle(rec, "lost", revealed ? "settled on another result" : "settled without our seat");
    return this.settle(rec, "refunded", "job ended without a quorum or expired");
  }

  /**
   * The chain says our commit or result landed for a job we had given up on (its receipt was lost
   * to a reorg or an RPC fault, and the chain looked taken): take it up again, or a seat we hold
   * would go unrevealed and be slashed.
   */
  protected revive(jobId: bigint, state: "committed" | "submitted"): void {
    const rec = this.journal.getJob(jobId);
    if (!rec || !(rec.state === "lost" || rec.state === "expired") || rec.resultHash === null) return;
    if (state === "committed" && rec.salt === null) return;
    if (this.journal.updateJob(jobId, rec, { state, reason: null, nextAttemptAt: 0, attempts: 0 })) {
      this.log.warn("the chain holds our transaction for a job given up on; taking it up again", { jobId, state });
    }
  }
}

/** The least time a late step-in's wait leaves before its commit margin (see lateStepInWaitMs). */
const LATE_STEP_IN_SLACK_SECONDS = 15;
