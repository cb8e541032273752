import { randomBytes } from "node:crypto";
import {
  encodeFunctionData,
  encodePacked,
  getAddress,
  keccak256,
  parseEventLogs,
  toHex,
  type Abi,
  type Address,
  type Hex,
} from "viem";
import { commitmentOf } from "../attest/attestation.ts";
import { TxRevertedError, TxVoidedError, TxWouldRevertError } from "../chain/tx-sender.ts";
import type { DecodedLog } from "../chain/watcher.ts";
import { ConclaveError, oneLine } from "../errors.ts";
import type { Challenge, DutyRecord, Journal, JobRecord, TxKind } from "../journal/journal.ts";
import { TERMINAL_DUTY_STATES } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import { hasEnded, settlementHeadroom, type ChainReader, type JobProcessor, type TxSubmitter } from "./processor.ts";
import { turnOf } from "./take-policy.ts";
import { backoffMs } from "./work-queue.ts";
import { JobStatus } from "../chain/statuses.ts";
import { jobWords } from "../attest/job-words.ts";

export interface CourtOptions {
  journal: Journal;
  chain: Pick<ChainReader, "now" | "jobState" | "providerTerms" | "seatOf">;
  sender: TxSubmitter;
  market: Address;
  /** The market's ABI with its court's functions (see marketAbiWithCourt). */
  marketAbi: Abi;
  processor: Pick<JobProcessor, "runJob">;
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

/**
 * The runner's part in k = 1 challenges: it checks a sample of other providers' deliveries and
 * challenges a wrong one, and sits on the juries it is drawn for (compute, commit, reveal,
 * resolve). Like the job processor, every step reads the chain before it sends, each duty's
 * state is a compare-and-set in the journal, and a signed transaction is resumed, never signed
 * twice, so a step can run again at any time (restart, reorg, retry). A juror that committed
 * always reveals: its salt is in the journal before its commit leaves the process.
 */
export class CourtService {
  private readonly opts: CourtOptions;
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(options: CourtOptions) {
    this.opts = options;
  }

  private get me(): Address {
    return getAddress(this.opts.sender.address);
  }

  private nowMs(): number {
    return (this.opts.clock ?? Date.now)();
  }

  /** Events of one confirmed block range, in order (the same ranges the processor gets). */
  onLogs(logs: DecodedLog[]): void {
    const { journal } = this.opts;
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
            if (duty && duty.role === "checker") journal.updateDuty(jobId, duty.state, { challenge, nextAttemptAt: 0 });
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
          if (
            l.eventName === "SeatCommitted" &&
            getAddress(a.provider as Address) === this.me &&
            duty.role === "juror"
          ) {
            journal.updateDuty(jobId, duty.state, { seat: Number(a.seat) });
          }
          journal.updateDuty(jobId, duty.state, { nextAttemptAt: 0 });
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
    for (const d of this.opts.journal.dueDuties(this.nowMs(), 32)) this.kick(d.jobId);
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
      const duty = this.opts.journal.getDuty(jobId);
      if (!duty || TERMINAL_DUTY_STATES.has(duty.state)) return;
      const before = duty.state;
      try {
        await this.step(duty);
      } catch (error) {
        this.onStepError(duty, error);
        return;
      }
      if (this.opts.journal.getDuty(jobId)?.state === before) return;
    }
  }

  private async step(duty: DutyRecord): Promise<void> {
    const rec = this.opts.journal.getJob(duty.jobId);
    if (!rec) return this.end(duty, "skipped", "the job's record is gone");
    if (duty.role === "checker") return this.check(duty, rec);
    return this.serveJury(duty, rec);
  }

  // ------------------------------------------------------------------ checker

  private async check(duty: DutyRecord, rec: JobRecord): Promise<void> {
    const { chain } = this.opts;
    const [state, now] = await Promise.all([chain.jobState(duty.jobId), chain.now()]);
    if (duty.state === "challenged") return this.followChallenge(duty, rec, state, now);
    if (state.status !== JobStatus.Delivered) return this.end(duty, "skipped", "no longer challengeable");
    const windowEnd = state.revealStartedAt + rec.job.challengeWindow;
    if (now + this.opts.marginSeconds > windowEnd)
      return this.end(duty, "skipped", "too close to the end of the challenge window");
    const delivered = rec.settledHash;
    const provider = rec.deliveredBy;
    if (delivered === null || provider === null) return this.wait(duty, "waiting for the ResultSubmitted event");
    let ours = duty.resultHash;
    if (ours === null) {
      const result =
        rec.resultHash !== null
          ? { resultHash: rec.resultHash, outputRef: rec.outputRef! }
          : await this.opts.processor.runJob(rec);
      if ("abstained" in result) return this.end(duty, "skipped", `abstained: ${result.abstained}`);
      ours = result.resultHash;
      if (!this.opts.journal.updateDuty(duty.jobId, duty.state, { resultHash: ours, outputRef: result.outputRef }))
        return;
    }
    if (ours === delivered) return this.end(duty, "agreed", null);
    const terms = await chain.providerTerms();
    if (!terms.active || terms.freeStake < rec.job.collateral)
      return this.end(duty, "skipped", "not enough free stake for the challenge bond");
    this.opts.log.warn("a delivered k = 1 result differs from ours; challenging it", {
      jobId: duty.jobId,
      provider,
      delivered,
      ours,
    });
    const receipt = await this.sendOnce(
      duty,
      "challenge",
      "challenge",
      [duty.jobId, jobWords(rec.job), provider, delivered],
      0,
    );
    if (!receipt) return;
    const challenge = this.challengeFromReceipt(receipt);
    this.opts.journal.updateDuty(duty.jobId, duty.state, { state: "challenged", ...(challenge ? { challenge } : {}) });
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
    const { chain } = this.opts;
    const [state, now] = await Promise.all([chain.jobState(duty.jobId), chain.now()]);
    if (hasEnded(state.status))
      return this.end(duty, duty.state === "new" || duty.state === "computed" ? "skipped" : "done", null);
    const commitDeadline = ch.challengedAt + ch.commitWindow;
    switch (duty.state) {
      case "new":
      case "computed": {
        if (state.status !== JobStatus.Challenged || state.seated >= ch.jurySize)
          return this.end(duty, "skipped", "the jury is seated");
        if (now + this.opts.marginSeconds > commitDeadline)
          return this.end(duty, "skipped", "too close to the jury's commit deadline");
        const terms = await chain.providerTerms();
        const eligible =
          terms.active &&
          terms.freeStake >= rec.job.collateral &&
          (rec.job.requiredTags & ~terms.tags) === 0n &&
          terms.memoryMB >= rec.job.minMemoryMB;
        if (!eligible) return this.end(duty, "skipped", "not eligible for this job's jury");
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
          return this.wait(
            duty,
            null,
            Math.min(this.opts.followIntervalMs, Math.max(0, commitDeadline - now + 1) * 1_000),
          );
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
        if (receipt) this.opts.journal.updateDuty(duty.jobId, "committed", { state: "revealed", seat });
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
        : await this.opts.processor.runJob(rec);
    if ("abstained" in result) return this.end(duty, "skipped", `abstained: ${result.abstained}`);
    this.opts.journal.updateDuty(duty.jobId, "new", {
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
      if (!this.opts.journal.updateDuty(duty.jobId, "computed", { salt })) return;
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
    const seat = this.seatFromReceipt(receipt);
    this.opts.journal.updateDuty(duty.jobId, "computed", {
      state: "committed",
      ...(seat !== null ? { seat } : {}),
      nextAttemptAt: 0,
    });
    this.opts.log.info("jury seat committed", { jobId: duty.jobId, seat });
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
    this.wait(duty, "resolve sent; waiting for ChallengeResolved", Math.min(this.opts.followIntervalMs, 1_000));
  }

  // ------------------------------------------------------------------ helpers

  /** Whether this runner serves the job's model (it can recompute it). */
  private serves(rec: JobRecord): boolean {
    return this.opts.allowedModels === null || this.opts.allowedModels.has(rec.job.modelId);
  }

  private sampled(jobId: bigint): boolean {
    if (this.opts.checkRate <= 0) return false;
    if (this.opts.checkRate >= 1) return true;
    const h = BigInt(keccak256(encodePacked(["string", "uint256", "address"], ["check", jobId, this.me])));
    return Number(h % 1_000_000n) < this.opts.checkRate * 1_000_000;
  }

  private end(duty: DutyRecord, state: "done" | "agreed" | "skipped" | "failed", reason: string | null): void {
    if (this.opts.journal.updateDuty(duty.jobId, duty.state, { state, reason, nextAttemptAt: 0 })) {
      this.opts.log.info(`court duty ${state}`, { jobId: duty.jobId, role: duty.role, reason });
    }
  }

  private wait(duty: DutyRecord, why: string | null, inMs = this.opts.followIntervalMs): void {
    this.opts.journal.updateDuty(duty.jobId, duty.state, { nextAttemptAt: this.nowMs() + Math.max(inMs, 50) });
    if (why) this.opts.log.debug("court duty waits for the chain", { jobId: duty.jobId, why });
  }

  private onStepError(duty: DutyRecord, error: unknown): void {
    const attempts = duty.attempts + 1;
    if (error instanceof TxWouldRevertError || error instanceof TxRevertedError || error instanceof TxVoidedError) {
      // The chain moved on (the jury filled, the window closed, someone resolved): read it again.
      this.opts.journal.updateDuty(duty.jobId, duty.state, {
        attempts,
        nextAttemptAt: this.nowMs() + Math.min(this.opts.followIntervalMs, 1_000),
      });
      if (attempts >= 5 && (duty.state === "new" || duty.state === "computed"))
        this.end(duty, "skipped", `the chain refused it: ${oneLine(error)}`);
      return;
    }
    if (error instanceof ConclaveError && !error.retryable) return this.end(duty, "failed", error.message);
    const delay = backoffMs(attempts, this.opts.retryBaseMs, this.opts.retryMaxMs);
    this.opts.journal.updateDuty(duty.jobId, duty.state, { attempts, nextAttemptAt: this.nowMs() + delay });
    this.opts.log.warn("court duty step will be retried", {
      jobId: duty.jobId,
      state: duty.state,
      attempts,
      error: oneLine(error),
    });
  }

  /** Sends the duty's `kind` transaction once (an earlier one is resumed, a mined one reused). */
  private async sendOnce(
    duty: DutyRecord,
    kind: TxKind,
    functionName: string,
    args: readonly unknown[],
    seats: number,
  ) {
    const { journal, sender } = this.opts;
    const previous = journal.txsFor(duty.jobId, kind).filter((t) => t.status !== "replaced");
    const mined = previous.find((t) => t.status === "mined");
    if (mined) return { transactionHash: mined.hash, logs: [] as unknown[] };
    const pending = previous.find((t) => t.status === "signed" || t.status === "sent");
    if (pending) return sender.resume(pending);
    const data = encodeFunctionData({ abi: this.opts.marketAbi, functionName, args });
    return sender.send({
      jobId: duty.jobId,
      kind,
      to: this.opts.market,
      data,
      extraGas: settlementHeadroom(kind, seats),
    });
  }

  private async findSeat(jobId: bigint, seated: number): Promise<number | null> {
    const seats = await Promise.all(Array.from({ length: seated }, (_, i) => this.opts.chain.seatOf(jobId, i)));
    const i = seats.findIndex((who) => getAddress(who) === this.me);
    return i < 0 ? null : i;
  }

  private seatFromReceipt(receipt: { logs: readonly unknown[] }): number | null {
    if (receipt.logs.length === 0) return null;
    const logs = parseEventLogs({
      abi: this.opts.marketAbi,
      logs: receipt.logs as never,
      eventName: "SeatCommitted" as never,
      strict: false,
    }) as unknown as { args: { provider?: Address; seat?: number } }[];
    const mine = logs.find((l) => l.args.provider && getAddress(l.args.provider) === this.me);
    return mine?.args.seat === undefined ? null : Number(mine.args.seat);
  }

  private challengeFromReceipt(receipt: { logs: readonly unknown[] }): Challenge | null {
    if (receipt.logs.length === 0) return null;
    const logs = parseEventLogs({
      abi: this.opts.marketAbi,
      logs: receipt.logs as never,
      eventName: "ResultChallenged" as never,
      strict: false,
    }) as unknown as { args: { challenge?: Challenge } }[];
    const c = logs[0]?.args.challenge;
    return c ? normalize(c) : null;
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

/** A Challenge as the journal keeps it: numbers where the ABI gives small integers. */
function normalize(c: Challenge): Challenge {
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
