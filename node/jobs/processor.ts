import { randomBytes } from "node:crypto";
import { encodeFunctionData, getAddress, toHex, type Abi, type Address, type Hex } from "viem";
import { attestationFor, commitmentOf, jobHash, signAttestation, type Job } from "../attest/attestation.ts";
import { encodeOutputRef } from "../attest/output-ref.ts";
import { canonicalResultHash, quantumFromChain } from "../attest/result-hash.ts";
import type { Wallet } from "../chain/clients.ts";
import { TxWouldRevertError, type TxSender } from "../chain/tx-sender.ts";
import type { DecodedLog } from "../chain/watcher.ts";
import { ConclaveError, FatalError } from "../errors.ts";
import type { Executor } from "../inference/executor.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import type { JobRecord, Journal, TxKind } from "../journal/journal.ts";
import { TERMINAL_STATES } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../http/metrics.ts";
import { versionKey, type ModelStore, type VersionInfo } from "../models/store.ts";
import { decodeSafetensors, encodeSafetensors } from "../tensors/safetensors.ts";
import { declineReason, type SchedulerContext } from "./scheduler.ts";

/** On-chain job status (IInferenceMarket.JobStatus). */
export const ChainStatus = { None: 0, Open: 1, Revealing: 2, Settled: 3, Refunded: 4 } as const;

/** The job's input cannot be used (fetch, size, format, hash): the job ends with this reason. */
export class JobInputError extends FatalError {
  readonly code = "JOB_INPUT_INVALID";
}

/** Reads the processor needs from the chain (a thin, mockable facade over viem contracts). */
export interface ChainReader {
  now(): Promise<number>;
  jobState(jobId: bigint): Promise<{ status: number; seated: number; revealed: number; revealStartedAt: number }>;
  version(modelId: Hex, version: number): Promise<VersionInfo & { accepting: boolean }>;
  providerTerms(): Promise<SchedulerContext["provider"]>;
  seatOf(jobId: bigint, seat: number): Promise<Address>;
  /** The winning result hash of a settled k > 1 job, scanning from `fromBlock` (its request block). */
  settledResult(jobId: bigint, fromBlock: number): Promise<Hex | null>;
}

export interface ProcessorOptions {
  journal: Journal;
  chain: ChainReader;
  sender: TxSender;
  wallet: Wallet;
  chainId: number;
  market: Address;
  marketAbi: Abi;
  models: ModelStore;
  content: ContentStore;
  executor: Executor;
  metrics: Metrics;
  log: Logger;
  allowedModels: ReadonlySet<Hex> | null;
  minFee: (token: Address) => bigint | undefined;
  maxConcurrentJobs: number;
  maxInputBytes: number;
  inlineOutputMaxBytes: number;
  inferenceTimeoutMs: number;
  fetchTimeoutMs: number;
  expireStaleJobs: boolean;
  /** Where the outputs of jobs are kept, to serve them by id. */
  saveOutputs: (jobId: bigint, safetensors: Uint8Array) => void;
}

/**
 * Takes each job from the journal through its states: decide, compute, attest (submit, or
 * commit then reveal), and follows the chain to its end. Every step is idempotent and checks the
 * chain first, so it can be re-run at any time (after a restart, a reorg, a retry).
 */
export class JobProcessor {
  private readonly o: ProcessorOptions;
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly retryAt = new Map<string, number>();
  private readonly seenAt = new Map<string, number>();
  private readonly expiryCheckedAt = new Map<string, number>();
  private computing = 0;
  private readonly waiters: (() => void)[] = [];
  private stopped = false;

  constructor(options: ProcessorOptions) {
    this.o = options;
  }

  get address(): Address {
    return this.o.sender.address;
  }

  /** Events of one confirmed block range, in order. */
  async onLogs(logs: DecodedLog[]): Promise<void> {
    const { journal, log } = this.o;
    for (const l of logs) {
      const a = l.args;
      switch (l.eventName) {
        case "JobRequested": {
          const job = a.job as Job;
          const input = a.input as Hex;
          const inputCid = a.inputCid as string;
          const jobId = a.jobId as bigint;
          const outcome = journal.upsertJob({
            jobId,
            paramsHash: jobHash(job),
            job,
            input: input === "0x" ? null : input,
            inputCid: inputCid === "" ? null : inputCid,
            block: Number(l.blockNumber),
            blockHash: l.blockHash,
          });
          if (outcome !== "same") {
            this.seenAt.set(jobId.toString(), performance.now());
            log.info("job seen", { jobId, redundancy: job.redundancy, outcome });
          }
          this.kick(jobId);
          break;
        }
        case "ResultSubmitted":
        case "JobSettled":
        case "JobRefunded":
        case "RevealStarted":
          if (journal.getJob(a.jobId as bigint)) this.kick(a.jobId as bigint);
          break;
        case "VersionRetired":
          this.o.models.evict({ modelId: a.modelId as Hex, version: Number(a.version) });
          break;
        case "VersionActivated":
          void this.prefetch(a.modelId as Hex, Number(a.version));
          break;
        default:
          break;
      }
    }
  }

  /** Schedules a job to be advanced; a job already being advanced is advanced once more after. */
  kick(jobId: bigint): void {
    const key = jobId.toString();
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    const run = this.advance(jobId)
      .catch((error: unknown) => this.o.log.error("job step failed", { jobId, error }))
      .finally(() => {
        this.running.delete(key);
        if (this.again.delete(key)) this.kick(jobId);
      });
    this.running.set(key, run);
  }

  /** Re-advances every unfinished job (at start, and periodically for retries and deadlines). */
  async tick(): Promise<void> {
    const now = Date.now();
    for (const rec of this.o.journal.openJobs()) {
      const at = this.retryAt.get(rec.jobId.toString()) ?? 0;
      if (at <= now) this.kick(rec.jobId);
    }
    if (this.o.expireStaleJobs) await this.expireStale();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.running.values()]);
  }

  inFlight(): number {
    return this.running.size;
  }

  // ------------------------------------------------------------------ the state machine

  private async advance(jobId: bigint): Promise<void> {
    const { journal } = this.o;
    for (let step = 0; step < 8 && !this.stopped; step++) {
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
      const after = journal.getJob(jobId)?.state;
      if (after === before) return; // waiting for the chain
    }
  }

  private async step(rec: JobRecord): Promise<void> {
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

  private async decide(rec: JobRecord): Promise<void> {
    const { chain } = this.o;
    const [provider, now, state] = await Promise.all([chain.providerTerms(), chain.now(), chain.jobState(rec.jobId)]);
    if (state.status !== ChainStatus.Open) return this.end(rec, "lost", "job no longer open");
    const reason = declineReason(rec.job, { provider, allowedModels: this.o.allowedModels, minFee: this.o.minFee, now });
    if (reason) return this.end(rec, "skipped", reason);
    const version = await chain.version(rec.job.modelId, rec.job.version);
    if (!version.accepting) return this.end(rec, "skipped", "model version no longer takes jobs");
    this.o.journal.updateJob(rec.jobId, { state: "accepted" });
  }

  private async compute(rec: JobRecord): Promise<void> {
    const { chain, models, executor, journal, metrics, log } = this.o;
    const version = await chain.version(rec.job.modelId, rec.job.version);
    const model = await models.ensure(version);
    const input = await this.inputOf(rec);
    await this.slot();
    let result: Awaited<ReturnType<Executor["run"]>>;
    try {
      await executor.load(model.key, model.path, model.schema);
      result = await executor.run(model.key, decodeSafetensors(input).tensors, { timeoutMs: this.o.inferenceTimeoutMs });
    } finally {
      this.release();
    }
    metrics.inferenceSeconds.observe(result.inferenceMs / 1000);
    const resultHash = canonicalResultHash(result.outputs, quantumFromChain(version.outputQuantum));
    const safetensors = encodeSafetensors(result.outputs);
    this.o.saveOutputs(rec.jobId, safetensors);
    const outputRef =
      safetensors.byteLength <= this.o.inlineOutputMaxBytes
        ? encodeOutputRef({ kind: "inline", bytes: safetensors })
        : encodeOutputRef({ kind: "ipfs", cid: await this.o.content.add(safetensors) });
    const signature = await signAttestation(this.o.wallet, this.o.chainId, this.o.market, attestationFor(rec.jobId, rec.job, resultHash, outputRef));
    journal.updateJob(rec.jobId, { state: "computed", resultHash, outputRef, signature });
    log.info("job computed", { jobId: rec.jobId, resultHash, inferenceMs: Math.round(result.inferenceMs * 100) / 100, model: versionKey(version) });
  }

  private async submit(rec: JobRecord): Promise<void> {
    const state = await this.o.chain.jobState(rec.jobId);
    if (state.status !== ChainStatus.Open && !this.hasTx(rec, "submit")) return this.end(rec, "lost", "another provider delivered first");
    const receipt = await this.sendOnce(rec, "submit", "submitResult", [rec.jobId, rec.job, rec.resultHash, rec.outputRef]);
    if (receipt) {
      this.observeLatency(rec);
      this.o.journal.updateJob(rec.jobId, { state: "submitted" });
    }
  }

  private async commit(rec: JobRecord): Promise<void> {
    const { journal } = this.o;
    const state = await this.o.chain.jobState(rec.jobId);
    if (state.status !== ChainStatus.Open && !this.hasTx(rec, "commit")) return this.end(rec, "lost", "all seats were taken");
    let salt = rec.salt;
    if (!salt) {
      // The salt is committed before the commit transaction is recorded, and that record is
      // synced to disk before the broadcast (see Journal): a crash cannot lose the salt.
      salt = toHex(randomBytes(32));
      journal.updateJob(rec.jobId, { salt });
    }
    const commitment = commitmentOf(rec.jobId, this.address, rec.resultHash!, salt);
    const receipt = await this.sendOnce(rec, "commit", "commit", [rec.jobId, rec.job, commitment]);
    if (!receipt) return;
    const seat = await this.findSeat(rec.jobId, rec.job.redundancy);
    if (seat === null) return this.end(rec, "lost", "commit mined but no seat found");
    journal.updateJob(rec.jobId, { state: "committed", seat });
    this.o.log.info("seat committed", { jobId: rec.jobId, seat });
  }

  private async reveal(rec: JobRecord): Promise<void> {
    const [state, now] = await Promise.all([this.o.chain.jobState(rec.jobId), this.o.chain.now()]);
    const commitOver = now > rec.job.commitDeadline && state.seated >= rec.job.quorum;
    if (state.status === ChainStatus.Open && !commitOver) {
      this.retryAt.set(rec.jobId.toString(), Date.now() + 1_000);
      return; // still waiting for the other seats
    }
    if (state.status !== ChainStatus.Open && state.status !== ChainStatus.Revealing && !this.hasTx(rec, "reveal")) {
      return this.follow(rec);
    }
    const receipt = await this.sendOnce(rec, "reveal", "reveal", [rec.jobId, rec.job, rec.seat, rec.resultHash, rec.salt, rec.outputRef]);
    if (receipt) {
      this.observeLatency(rec);
      this.o.journal.updateJob(rec.jobId, { state: "revealed" });
    }
  }

  /** After our result is on-chain: wait for the job to end and record how it ended for us. */
  private async follow(rec: JobRecord): Promise<void> {
    const state = await this.o.chain.jobState(rec.jobId);
    if (state.status === ChainStatus.Settled) {
      if (rec.job.redundancy === 1) return this.end(rec, "paid", null);
      const winner = await this.o.chain.settledResult(rec.jobId, rec.block);
      return this.end(rec, winner === rec.resultHash && rec.state === "revealed" ? "paid" : "slashed", winner === rec.resultHash ? null : "result differed from the majority");
    }
    if (state.status === ChainStatus.Refunded) return this.end(rec, "refunded", "job ended without a quorum or expired");
    this.retryAt.set(rec.jobId.toString(), Date.now() + 1_000);
  }

  // ------------------------------------------------------------------ expiry as a service

  /**
   * Finalizes jobs whose deadline passed (any job, not only ours), so clients get refunds and
   * seated collateral is released without anyone having to ask.
   */
  private async expireStale(): Promise<void> {
    const now = await this.o.chain.now();
    for (const rec of this.o.journal.jobsIn(["seen", "skipped", "failed", "accepted", "computed", "submitted", "committed", "revealed", "lost"])) {
      const key = rec.jobId.toString();
      const job = rec.job;
      const end = job.redundancy === 1 ? job.deadline : job.commitDeadline + job.revealWindow;
      if (now <= end || this.hasTx(rec, "finalize")) continue;
      if ((this.expiryCheckedAt.get(key) ?? 0) > Date.now() - 2_000) continue;
      this.expiryCheckedAt.set(key, Date.now());
      const state = await this.o.chain.jobState(rec.jobId);
      if (state.status === ChainStatus.Settled || state.status === ChainStatus.Refunded) {
        if (!TERMINAL_STATES.has(rec.state)) this.kick(rec.jobId);
        continue;
      }
      try {
        await this.sendOnce(rec, "finalize", "finalize", [rec.jobId, rec.job]);
        this.o.log.info("finalized a stale job", { jobId: rec.jobId });
        this.kick(rec.jobId);
      } catch (error) {
        this.o.log.debug("finalize not possible", { jobId: rec.jobId, error: (error as Error).message });
      }
    }
  }

  // ------------------------------------------------------------------ helpers

  private end(rec: JobRecord, state: "skipped" | "lost" | "paid" | "slashed" | "refunded" | "failed" | "expired", reason: string | null): void {
    this.o.journal.updateJob(rec.jobId, { state, reason });
    this.o.metrics.jobs.inc({ outcome: state });
    this.o.log.info(`job ${state}`, { jobId: rec.jobId, reason });
  }

  private onStepError(rec: JobRecord, error: unknown): void {
    const key = rec.jobId.toString();
    if (error instanceof TxWouldRevertError) {
      // The chain moved on (another provider, the deadline): follow it from what it says now.
      this.o.log.info("transaction would revert; following the chain", { jobId: rec.jobId, error: error.errorName });
      if (rec.state === "computed") this.end(rec, "lost", `chain refused the result: ${error.errorName ?? "reverted"}`);
      return;
    }
    if (error instanceof ConclaveError && !error.retryable) {
      this.end(rec, "failed", error.message);
      return;
    }
    const attempts = (this.retryAt.has(key) ? 2 : 1) * 1_000;
    this.retryAt.set(key, Date.now() + attempts);
    this.o.log.warn("job step will be retried", { jobId: rec.jobId, state: rec.state, error: (error as Error).message?.split("\n")[0] });
  }

  private hasTx(rec: JobRecord, kind: TxKind): boolean {
    return this.o.journal.txsFor(rec.jobId, kind).some((t) => t.status !== "replaced" && t.status !== "reverted");
  }

  /**
   * Sends the job's `kind` transaction once: if an earlier run already signed one, waits for that
   * very transaction instead of making another. Returns null when the earlier one reverted.
   */
  private async sendOnce(rec: JobRecord, kind: TxKind, functionName: string, args: readonly unknown[]) {
    const { journal, sender } = this.o;
    const previous = journal.txsFor(rec.jobId, kind).filter((t) => t.status !== "replaced");
    const mined = previous.find((t) => t.status === "mined");
    if (mined) return { transactionHash: mined.hash };
    if (previous.some((t) => t.status === "reverted")) {
      this.end(rec, kind === "finalize" ? rec.state === "lost" ? "lost" : "expired" : "lost", `${kind} transaction reverted`);
      return null;
    }
    const pending = previous.find((t) => t.status === "signed" || t.status === "sent");
    if (pending) return sender.resume(pending);
    const data = encodeFunctionData({ abi: this.o.marketAbi, functionName, args });
    return sender.send({ jobId: rec.jobId, kind, to: this.o.market, data, extraGas: settlementHeadroom(kind, rec.job.redundancy) });
  }

  private async findSeat(jobId: bigint, redundancy: number): Promise<number | null> {
    for (let seat = 0; seat < redundancy; seat++) {
      if (getAddress(await this.o.chain.seatOf(jobId, seat)) === getAddress(this.address)) return seat;
    }
    return null;
  }

  private async inputOf(rec: JobRecord): Promise<Uint8Array> {
    if (rec.input) return new Uint8Array(Buffer.from(rec.input.slice(2), "hex"));
    if (!rec.inputCid) throw new JobInputError("job has neither an inline input nor an input CID");
    const bytes = await this.o.content.get(rec.inputCid, { signal: AbortSignal.timeout(this.o.fetchTimeoutMs), maxBytes: this.o.maxInputBytes });
    this.o.metrics.bytesFetched.inc(bytes.byteLength);
    return bytes;
  }

  private async prefetch(modelId: Hex, version: number): Promise<void> {
    if (this.o.allowedModels && !this.o.allowedModels.has(modelId)) return;
    try {
      await this.o.models.ensure(await this.o.chain.version(modelId, version));
    } catch (error) {
      this.o.log.warn("prefetch failed", { modelId, version, error: (error as Error).message });
    }
  }

  private observeLatency(rec: JobRecord): void {
    const t0 = this.seenAt.get(rec.jobId.toString());
    if (t0 !== undefined) this.o.metrics.requestToResultSeconds.observe((performance.now() - t0) / 1000);
  }

  private slot(): Promise<void> {
    if (this.computing < this.o.maxConcurrentJobs) {
      this.computing++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(() => (this.computing++, resolve())));
  }

  private release(): void {
    this.computing--;
    this.waiters.shift()?.();
  }
}

/**
 * Gas a commit, reveal or finalize may need beyond its estimate because it may be the one that
 * settles the job (credits, collateral release and slashing for every seat). Measured settlement
 * costs are below 60k gas per seat; the headroom is generous because unused gas costs nothing
 * and a reveal that runs out of gas is slashed as missing.
 */
export function settlementHeadroom(kind: TxKind, redundancy: number): bigint {
  if (kind === "submit" || kind === "withdraw") return 0n;
  return 50_000n + 80_000n * BigInt(redundancy);
}
