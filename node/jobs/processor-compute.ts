/**
 * The job processor's first steps (processor.ts is the whole): decide whether to serve a job,
 * then compute it: fetch its input and model within the compute slots, run it, keep the outputs
 * and sign the attestation.
 */
import { keccak256, toHex, type Hex } from "viem";
import { encodeOutputRef } from "../attest/output-ref.ts";
import { keccakBytes } from "../attest/keccak.ts";
import { canonicalResultHash, quantumFromChain } from "../attest/result-hash.ts";
import { PROVIDER_TERMS_MAX_AGE_MS } from "../chain/reader.ts";
import { JobStatus } from "../chain/statuses.ts";
import type { Executor } from "../inference/executor-options.ts";
import type { JobRecord } from "../journal/journal.ts";
import { versionKey } from "../models/store.ts";
import { decodeSafetensors, encodeSafetensors } from "../tensors/safetensors.ts";
import { declineReason, lastActionOf, stakeShort, stepInAt, turnOf } from "./take-policy.ts";
import { loopBudget } from "../loop-budget.ts";
import { ProcessorBase, loopRankOf } from "./processor-base.ts";
import { JobInputError } from "./processor-options.ts";

export abstract class ComputingProcessor extends ProcessorBase {
  protected async decide(rec: JobRecord): Promise<void> {
    const chain = this.chainFor(rec);
    // The chain's events already said the job is taken or over: no read, no compute. (In a fleet,
    // every later rank wakes at the first rank's ResultSubmitted and ends here.) One of our own
    // results goes on below: the read says whether it stands.
    const gone = this.goneByEvents(rec);
    if (gone) return this.end(rec, "lost", gone);
    const [provider, readNow] = await Promise.all([chain.providerTerms(), chain.now()]);
    // The chain's time is at least the job's own block time. The reader reuses its time for a
    // moment, and a chain that mines a burst stamps blocks ahead of it: without this, a first
    // rank would wait for a turn that opened when the job was mined.
    const now = Math.max(readNow, rec.job.requestedAt);
    const reason = declineReason(rec.job, {
      provider,
      allowedModels: this.allowedModels,
      minFee: this.minFee,
      now,
    });
    if (reason) return this.end(rec, "skipped", reason);
    const key = rec.jobId.toString();
    const seatsTaken = this.seatsTaken.get(key) ?? 0;
    if (rec.job.redundancy > 1) {
      if (rec.job.revealWindow < this.revealMarginSeconds)
        return this.end(
          rec,
          "skipped",
          `reveal window ${rec.job.revealWindow} s is shorter than this runner's margin ${this.revealMarginSeconds} s`,
        );
      if (now + this.commitMarginSeconds > rec.job.commitDeadline)
        return this.end(rec, "skipped", "too close to the commit deadline to commit safely");
    }
    // Assignment (market v2): wait for this provider's turn instead of racing the others; the job
    // is looked at again then, and is usually served by an earlier rank by that time.
    const turn = turnOf(rec.job, provider);
    if (!turn) return this.end(rec, "skipped", "this provider is not on the registry's roster");
    const firstLook = this.firstLookAt.get(key) ?? now;
    this.firstLookAt.set(key, firstLook);
    const opensAt = stepInAt(rec.job, turn, firstLook);
    if (now < opensAt)
      return this.waitForChain(rec, `rank ${turn.rank}: its turn opens at ${opensAt}`, (opensAt - now) * 1000);
    // The terms read may be up to PROVIDER_TERMS_MAX_AGE_MS old: a lock mined since is not in it.
    const reserved = this.stake.pending(this.now() - PROVIDER_TERMS_MAX_AGE_MS, key);
    // The jobs waiting for stake ahead of this one take it first (see stakeOrder).
    const claim = {
      jobId: rec.jobId,
      redundancy: rec.job.redundancy,
      stepIn: turn.rank >= rec.job.redundancy,
      seatsTaken,
      lastAction: lastActionOf(rec.job),
    };
    const aheadCollateral = this.stakeWaiters.aheadOf(key, claim, this.now());
    if (stakeShort(rec.job, provider, reserved + aheadCollateral)) {
      this.stakeWaiters.wait(key, claim, rec.job.collateral, this.now());
      // Stake this job could take is free: the waiters ahead take it, each looking again now.
      if (aheadCollateral > 0n) this.offerStake(provider.freeStake - reserved, key);
      return this.waitForChain(rec, "waiting for free stake for the collateral");
    }
    this.stakeWaiters.leave(key);
    // Taken before the read below (an await): decides running meanwhile count this job's collateral.
    this.stake.reserve(key, rec.job.collateral);
    // Read only now that the job is ours to take: a rank waiting for its turn reads nothing, and is
    // usually woken by the first rank's result (see goneByEvents) rather than by its turn.
    const state = await this.readState(rec, chain);
    if (state.status !== JobStatus.Open) return this.end(rec, "lost", "job no longer open");
    this.firstLookAt.delete(key);
    if (rec.job.redundancy > 1) this.takenAt.set(key, now);
    // A job pins its version: the market pays for it even if the DAO retired the version since
    // (the client may cancel it then), so a retired version is no reason to skip it.
    this.transition(rec, { state: "accepted" });
  }

  protected async compute(rec: JobRecord): Promise<void> {
    if (await this.pastLastAction(rec)) return this.end(rec, "expired", "deadline passed before a result was ready");
    const result = await this.runJob(rec, () => this.goneWhileQueued(rec.jobId));
    if ("gone" in result) return this.end(rec, "lost", result.gone);
    if ("abstained" in result) return this.end(rec, "skipped", `abstained: ${result.abstained}`);
    const { resultHash, outputRef } = result;
    // No attestation is signed here: the market binds a delivery to its transaction's sender, and
    // the job view signs one when a client asks (see http/job-view.ts).
    if (this.transition(rec, { state: "computed", resultHash, outputRef })) {
      this.log.info("job computed", {
        jobId: rec.jobId,
        resultHash,
        inferenceMs: result.inferenceMs,
        model: result.model,
      });
    }
  }

  /**
   * Runs a job's model on its input (within the compute slots) and keeps the outputs: the
   * canonical result hash and where the outputs are, or why this runner abstains (outputs too
   * close to a rounding boundary). Also what a juror or a checker of another's result computes.
   * `gone`, asked once a compute slot is ours: why the job is no longer worth computing (the
   * events that came while it queued), or null.
   */
  async runJob(rec: JobRecord): Promise<Computed | Abstained>;
  async runJob(rec: JobRecord, gone: () => string | null): Promise<Computed | Abstained | { gone: string }>;
  async runJob(rec: JobRecord, gone?: () => string | null): Promise<Computed | Abstained | { gone: string }> {
    const { models, executor, metrics } = this;
    const chain = this.chainFor(rec);
    const rank = loopRankOf(rec);
    const version = await chain.version(rec.job.modelId, rec.job.version);
    // Fetches count against the compute slots too: a burst of jobs cannot start a fetch each.
    // A k = 1 result is what its client waits for; a k > 1 job has its commit window.
    const release = await this.computeSlots.acquire(rec.job.redundancy === 1);
    const why = gone?.() ?? null;
    if (why !== null) {
      release();
      return { gone: why };
    }
    let result: Awaited<ReturnType<Executor["run"]>>;
    let releaseInput: (() => void) | undefined;
    try {
      const model = await models.ensure(version);
      await loopBudget.turn(rank); // an inline input is hashed here
      const input = await this.inputOf(rec);
      await executor.load(model.key, model.path, model.schema);
      const tensors = decodeSafetensors(input).tensors;
      // Waiting for a worker takes no compute slot: the slot goes to the next job's fetches, and
      // runs queue up in the executor, which sends those queued for a worker in one message. With
      // the slot held to the answer, a runner had at most maxConcurrentJobs runs at its workers,
      // too few to keep them busy on a small model (Silero VAD, 2 workers: 0.73–0.93 × a plain
      // onnxruntime loop at 4 in flight, 1.3–1.5 × with 64 queued; issue 14). The room is taken
      // before the slot is given up: while the budget is full, the slot holds the next fetches back.
      releaseInput = await this.queuedInputs.acquire(input.byteLength);
      release();
      result = await executor.run(model.key, tensors, { timeoutMs: this.inferenceTimeoutMs });
    } finally {
      release();
      releaseInput?.();
    }
    metrics.inferenceSeconds.observe(result.inferenceMs / 1000);
    // The events that came while the run queued for a worker: nothing is kept or sent for a job
    // gone meanwhile.
    const goneSince = gone?.() ?? null;
    if (goneSince !== null) return { gone: goneSince };
    const quantum = quantumFromChain(version.outputQuantum);
    const abstained = this.abstain?.(result.outputs, quantum);
    if (abstained) return { abstained };
    await loopBudget.turn(rank);
    const resultHash = canonicalResultHash(result.outputs, quantum);
    await loopBudget.turn(rank);
    const safetensors = encodeSafetensors(result.outputs);
    const outputRef =
      safetensors.byteLength <= this.inlineOutputMaxBytes
        ? encodeOutputRef({ kind: "inline", bytes: safetensors })
        : encodeOutputRef({ kind: "ipfs", cid: await this.content.add(safetensors) });
    return {
      resultHash,
      outputRef,
      inferenceMs: Math.round(result.inferenceMs * 100) / 100,
      model: versionKey(version),
    };
  }

  /**
   * Why a job taken before a burst of computes need not be computed any more, by the events that
   * came while it waited for a compute slot: another provider's result is in (k = 1), the job
   * ended, or its reveal started with no seat of ours (every seat taken). In a burst every later
   * rank took the job when its turn opened and queued it behind the backlog; the first rank's
   * result usually came long before the slot (a wasted inference and a rejected delivery each).
   */
  private goneWhileQueued(jobId: bigint): string | null {
    const rec = this.journal.getJob(jobId);
    if (!rec) return "the job's record is gone";
    const gone = this.goneByEvents(rec);
    if (gone) return gone;
    if (rec.job.redundancy > 1 && rec.seat === null && this.memo.isRevealOpen(jobId) && !this.hasLiveTx(rec, "commit"))
      return "all seats were taken";
    return null;
  }

  protected async inputOf(rec: JobRecord): Promise<Uint8Array> {
    const inline = this.journal.inputBytes(rec.jobId);
    if (inline) {
      if (keccakBytes(inline) !== rec.job.inputHash)
        throw new JobInputError(`inline input does not hash to the job's inputHash ${rec.job.inputHash}`);
      return inline;
    }
    if (!rec.inputCid) throw new JobInputError("job has neither an inline input nor an input CID");
    if (keccak256(toHex(rec.inputCid)) !== rec.job.inputHash)
      throw new JobInputError(`input CID does not hash to the job's inputHash ${rec.job.inputHash}`);
    // The content store checks every block against the CID, so the bytes are the CID's bytes.
    const bytes = await this.content.get(rec.inputCid, {
      signal: AbortSignal.any([AbortSignal.timeout(this.fetchTimeoutMs), this.stopping.signal]),
      maxBytes: this.maxInputBytes,
    });
    this.metrics.bytesFetched.inc(bytes.byteLength);
    return bytes;
  }
}

type Computed = { resultHash: Hex; outputRef: Hex; inferenceMs: number; model: string };
type Abstained = { abstained: string };
