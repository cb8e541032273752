import { randomBytes } from "node:crypto";
import { getAddress, toHex, type Address } from "viem";
import { commitmentOf } from "../attest/attestation.ts";
import type { DecodedLog } from "../chain/watcher.ts";
import type { Challenge, DutyRecord, JobRecord } from "../journal/journal.ts";
import { TERMINAL_DUTY_STATES } from "../journal/journal.ts";
import { hasEnded, type ChainReader } from "./processor-options.ts";
import { turnOf } from "./take-policy.ts";
import { JobStatus } from "../chain/statuses.ts";
import { jobWords } from "../attest/job-words.ts";
import type { Service } from "../service.ts";
import { CourtBase, normalize, type CourtOptions } from "./court-base.ts";

export function createCourt(deps: CourtOptions): CourtService {
  return new Court(deps);
}

export type CourtService = Court;

/**
 * The runner's part in k = 1 challenges: it checks a sample of other providers' deliveries and
 * challenges a wrong one, and sits on the juries it is drawn for (compute, commit, reveal,
 * resolve). Like the job processor, every step reads the chain before it sends, each duty's
 * state is a compare-and-set in the journal, and a signed transaction is resumed, never signed
 * twice, so a step can run again at any time (restart, reorg, retry). A juror that committed
 * always reveals: its salt is in the journal before its commit leaves the process.
 *
 * This file: events in, the duty loop, the checker's and the juror's steps; court-base.ts: the
 * options and what the steps share.
 */
class Court extends CourtBase implements Service {
  /** Nothing to begin: duties arrive by `onLogs` and `tick` (the runner's ticker). */
  start(): void {}

  /** Events of one confirmed block range, in order (the same ranges the processor gets). */
  onLogs(logs: DecodedLog[]): void {
    const { journal } = this;
    for (const l of logs) {
      const a = l.args;
      const jobId = a.jobId as bigint | undefined;
      if (jobId === undefined) continue;
      const block = Number(l.blockNumber);
      switch (l.eventName) {
        case "ResultSubmitted": {
          if (getAddress(a.provider as Address) === this.me || !this.sampled(jobId)) break;
          const rec = journal.getJob(jobId);
          if (!rec || rec.job.redundancy !== 1 || !this.serves(rec)) break;
          if (journal.upsertDuty({ jobId, role: "checker", challenge: null, block }) !== "same") this.kick(jobId);
          break;
        }
        case "ResultChallenged": {
          const challenge = normalize(a.challenge as Challenge);
          if (getAddress(challenge.provider) === this.me) break; // the processor follows our own delivery
          if (getAddress(challenge.challenger) === this.me) {
            const duty = journal.getDuty(jobId);
            if (duty && duty.role === "checker") journal.updateDuty(duty, { challenge, nextAttemptAt: 0 });
            this.kick(jobId);
            break;
          }
          const rec = journal.getJob(jobId);
          if (!rec || !this.serves(rec)) break;
          if (journal.upsertDuty({ jobId, role: "juror", challenge, block }) !== "same") this.kick(jobId);
          break;
        }
        case "SeatCommitted":
        case "RevealStarted":
        case "ResultRevealed":
        case "ChallengeResolved": {
          const duty = journal.getDuty(jobId);
          if (!duty || TERMINAL_DUTY_STATES.has(duty.state)) break;
          const ourSeat =
            l.eventName === "SeatCommitted" && getAddress(a.provider as Address) === this.me && duty.role === "juror";
          journal.updateDuty(duty, { nextAttemptAt: 0, ...(ourSeat ? { seat: Number(a.seat) } : {}) });
          this.kick(jobId);
          break;
        }
        default:
          break;
      }
    }
  }

  /** Advances every duty whose wait is over. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    for (const d of this.journal.dueDuties(this.nowMs(), 32)) this.kick(d.jobId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  /** Resolves once no duty step is running. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  private kick(jobId: bigint): void {
    const key = jobId.toString();
    if (this.stopped || this.running.has(key)) return;
    this.running.set(
      key,
      this.advance(jobId).finally(() => this.running.delete(key)),
    );
  }

  private async advance(jobId: bigint): Promise<void> {
    for (let step = 0; step < 6 && !this.stopped; step++) {
      const duty = this.journal.getDuty(jobId);
      if (!duty || TERMINAL_DUTY_STATES.has(duty.state)) return;
      try {
        await this.step(duty);
      } catch (error) {
        this.onStepError(duty, error);
        return;
      }
      // Another step at once when this one moved the duty on, or an event replaced it meanwhile
      // (its kick found this one running).
      const after = this.journal.getDuty(jobId);
      if (after?.state === duty.state && after.generation === duty.generation) return;
    }
  }

  private async step(duty: DutyRecord): Promise<void> {
    const rec = this.journal.getJob(duty.jobId);
    if (!rec) return this.end(duty, "skipped", "the job's record is gone");
    if (duty.role === "checker") return this.check(duty, rec);
    return this.serveJury(duty, rec);
  }

  // ------------------------------------------------------------------ checker

  private async check(duty: DutyRecord, rec: JobRecord): Promise<void> {
    const { chain } = this;
    const [state, now] = await Promise.all([chain.jobState(duty.jobId), chain.now()]);
    if (duty.state === "challenged") return this.followChallenge(duty, rec, state, now);
    // Our challenge went out before a restart or a failed step: it is what made the job no longer
    // challengeable. Resume it, or the bond it locked would be followed by nobody.
    if (this.journal.hasLiveTx(duty.jobId, "challenge")) {
      this.holdStake(duty, rec.job.collateral);
      return this.challenge(duty, rec);
    }
    if (state.status !== JobStatus.Delivered) return this.end(duty, "skipped", "no longer challengeable");
    const windowEnd = state.revealStartedAt + rec.job.challengeWindow;
    if (now + this.marginSeconds > windowEnd)
      return this.end(duty, "skipped", "too close to the end of the challenge window");
    const delivered = rec.settledHash;
    const provider = rec.deliveredBy;
    if (delivered === null || provider === null) return this.wait(duty, "waiting for the ResultSubmitted event");
    let ours = duty.resultHash;
    if (ours === null) {
      const result =
        rec.resultHash !== null
          ? { resultHash: rec.resultHash, outputRef: rec.outputRef! }
          : await this.processor.runJob(rec);
      if ("abstained" in result) return this.end(duty, "skipped", `abstained: ${result.abstained}`);
      ours = result.resultHash;
      if (!this.journal.updateDuty(duty, { resultHash: ours, outputRef: result.outputRef })) return;
    }
    if (ours === delivered) return this.end(duty, "agreed", null);
    const terms = await chain.providerTerms();
    if (!terms.active || !this.takeStake(duty, terms.freeStake, rec.job.collateral))
      return this.end(duty, "skipped", "not enough free stake for the challenge bond");
    this.log.warn("a delivered k = 1 result differs from ours; challenging it", {
      jobId: duty.jobId,
      provider,
      delivered,
      ours,
    });
    return this.challenge(duty, rec);
  }

  /** Sends the checker's challenge of the delivered result, or resumes the one sent before. */
  private async challenge(duty: DutyRecord, rec: JobRecord): Promise<void> {
    const receipt = await this.sendOnce(
      duty,
      "challenge",
      "challenge",
      [duty.jobId, jobWords(rec.job), rec.deliveredBy, rec.settledHash],
      0,
    );
    if (!receipt) return;
    this.stakeLocked(duty);
    const challenge = this.challengeFromReceipt(receipt);
    this.journal.updateDuty(duty, { state: "challenged", ...(challenge ? { challenge } : {}) });
  }

  /** A checker's challenge is on: wait for its jury, resolving it once nobody else can act. */
  private async followChallenge(
    duty: DutyRecord,
    rec: JobRecord,
    state: Awaited<ReturnType<ChainReader["jobState"]>>,
    now: number,
  ): Promise<void> {
    if (hasEnded(state.status)) return this.end(duty, "done", null);
    if (duty.challenge === null) return this.wait(duty, "waiting for the ResultChallenged event");
    return this.resolveWhenDue(duty, rec, duty.challenge, state, now);
  }

  // ------------------------------------------------------------------ juror

  private async serveJury(duty: DutyRecord, rec: JobRecord): Promise<void> {
    const ch = duty.challenge!;
    const { chain } = this;
    const [state, now] = await Promise.all([chain.jobState(duty.jobId), chain.now()]);
    if (hasEnded(state.status))
      return this.end(duty, duty.state === "new" || duty.state === "computed" ? "skipped" : "done", null);
    const commitDeadline = ch.challengedAt + ch.commitWindow;
    switch (duty.state) {
      case "new":
      case "computed": {
        // Our commit went out before a restart or a failed step: resume it whatever the chain
        // shows now (our own seat may be the one that filled the jury; the deadline and stake
        // were checked when it was sent). Skipping it would leave a seat that never reveals.
        if (this.journal.hasLiveTx(duty.jobId, "jury-commit")) {
          this.holdStake(duty, rec.job.collateral);
          return this.commit(duty, rec, ch);
        }
        if (state.status !== JobStatus.Challenged || state.seated >= ch.jurySize)
          return this.end(duty, "skipped", "the jury is seated");
        if (now + this.marginSeconds > commitDeadline)
          return this.end(duty, "skipped", "too close to the jury's commit deadline");
        const terms = await chain.providerTerms();
        const eligible =
          terms.active && (rec.job.requiredTags & ~terms.tags) === 0n && terms.memoryMB >= rec.job.minMemoryMB;
        if (!eligible) return this.end(duty, "skipped", "not eligible for this job's jury");
        if (!this.takeStake(duty, terms.freeStake, rec.job.collateral))
          return this.end(duty, "skipped", "not enough free stake for a jury seat");
        const turn = turnOf(
          {
            ...rec.job,
            seed: ch.jurySeed,
            redundancy: ch.jurySize,
            requestedAt: ch.challengedAt,
            priorityWindow: juryWindow(rec.job.priorityWindow, ch.commitWindow),
          },
          terms,
        );
        if (!turn) return this.end(duty, "skipped", "not on the roster");
        if (now < turn.opensAt) return this.wait(duty, null, (turn.opensAt - now) * 1_000);
        if (duty.state === "new") return this.computeVerdict(duty, rec);
        return this.commit(duty, rec, ch);
      }
      case "committed": {
        const quorum = Math.floor(ch.jurySize / 2) + 1;
        const revealOpen =
          state.status === JobStatus.JuryRevealing ||
          (state.status === JobStatus.Challenged && now > commitDeadline && state.seated >= quorum);
        if (!revealOpen) {
          if (state.status === JobStatus.Challenged && now > commitDeadline)
            return this.resolveWhenDue(duty, rec, ch, state, now);
          return this.wait(duty, null, Math.min(this.followIntervalMs, Math.max(0, commitDeadline - now + 1) * 1_000));
        }
        const seat = duty.seat ?? (await this.findSeat(duty.jobId, state.seated));
        if (seat === null) return this.wait(duty, "seat not found yet; waiting for SeatCommitted");
        const receipt = await this.sendOnce(
          duty,
          "jury-reveal",
          "juryReveal",
          [duty.jobId, jobWords(rec.job), ch, seat, duty.resultHash!, duty.salt!, duty.outputRef!],
          ch.jurySize,
        );
        if (receipt) this.journal.updateDuty(duty, { state: "revealed", seat });
        return;
      }
      case "revealed":
        return this.resolveWhenDue(duty, rec, ch, state, now);
      default:
        return;
    }
  }

  private async computeVerdict(duty: DutyRecord, rec: JobRecord): Promise<void> {
    // A job this runner computed itself (it lost the delivery race) needs no second run.
    const result =
      rec.resultHash !== null
        ? { resultHash: rec.resultHash, outputRef: rec.outputRef! }
        : await this.processor.runJob(rec);
    if ("abstained" in result) return this.end(duty, "skipped", `abstained: ${result.abstained}`);
    this.journal.updateDuty(duty, {
      state: "computed",
      resultHash: result.resultHash,
      outputRef: result.outputRef,
      nextAttemptAt: 0,
    });
  }

  private async commit(duty: DutyRecord, rec: JobRecord, ch: Challenge): Promise<void> {
    let salt = duty.salt;
    if (salt === null) {
      // Durable before the commit is recorded and synced (see Journal): a crash cannot lose it.
      salt = toHex(randomBytes(32));
      if (!this.journal.updateDuty(duty, { salt })) return;
    }
    const commitment = commitmentOf(duty.jobId, this.me, duty.resultHash!, salt);
    const receipt = await this.sendOnce(
      { ...duty, salt },
      "jury-commit",
      "juryCommit",
      [duty.jobId, jobWords(rec.job), ch, commitment],
      0,
    );
    if (!receipt) return;
    this.stakeLocked(duty);
    const seat = this.seatFromReceipt(receipt);
    this.journal.updateDuty(duty, {
      state: "committed",
      ...(seat !== null ? { seat } : {}),
      nextAttemptAt: 0,
    });
    this.log.info("jury seat committed", { jobId: duty.jobId, seat });
  }

  /** Sends resolveChallenge once the jury can do no more (anyone may; parties and jurors do). */
  private async resolveWhenDue(
    duty: DutyRecord,
    rec: JobRecord,
    ch: Challenge,
    state: Awaited<ReturnType<ChainReader["jobState"]>>,
    now: number,
  ): Promise<void> {
    const commitDeadline = ch.challengedAt + ch.commitWindow;
    const due =
      (state.status === JobStatus.JuryRevealing && now > state.revealStartedAt + ch.revealWindow) ||
      (state.status === JobStatus.Challenged &&
        now > commitDeadline + (state.seated >= Math.floor(ch.jurySize / 2) + 1 ? ch.revealWindow : 0));
    if (!due) return this.wait(duty, null);
    await this.sendOnce(duty, "resolve", "resolveChallenge", [duty.jobId, jobWords(rec.job), ch], ch.jurySize);
    this.wait(duty, "resolve sent; waiting for ChallengeResolved", Math.min(this.followIntervalMs, 1_000));
  }
}

/**
 * Seconds each jury rank beyond the first jurySize waits (InferenceMarketCourt._juryWindow): the
 * job's priority window, or a sixteenth of the jury's commit window (at least 1 s) when it is 0.
 */
function juryWindow(priorityWindow: number, commitWindow: number): number {
  if (priorityWindow !== 0) return priorityWindow;
  return Math.max(1, Math.floor(commitWindow / 16));
}
