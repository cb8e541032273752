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
  type TransactionReceipt,
} from "viem";
import { attestationFor, commitmentOf, jobHash, signAttestation } from "../attest/attestation.ts";
import { decodeOutputRef, encodeOutputRef } from "../attest/output-ref.ts";
import { canonicalResultHash, quantumFromChain } from "../attest/result-hash.ts";
import type { Wallet } from "../chain/clients.ts";
import { JobStatus } from "../chain/statuses.ts";
import { TxRevertedError, TxVoidedError, TxWouldRevertError } from "../chain/tx-sender.ts";
import type { TxSubmitter as FullTxSubmitter } from "../chain/tx-sender.ts";
import type { DecodedLog } from "../chain/watcher.ts";
import { ConclaveError, FatalError, oneLine } from "../errors.ts";
import type { Executor } from "../inference/executor-options.ts";
import { WorkerCrashedError } from "../inference/errors.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import type { JobRecord, JobState, Journal, TxKind, TxRecord } from "../journal/journal.ts";
import { TERMINAL_STATES } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../http/metrics.ts";
import { versionKey, type LocalModel, type VersionInfo } from "../models/store.ts";
import type { Tensor } from "../tensors/dtypes.ts";
import { decodeSafetensors, encodeSafetensors } from "../tensors/safetensors.ts";
import { declineReason, stepInAt, turnOf, type TakeContext as SchedulerContext } from "./take-policy.ts";
import type { DeliveryBatcher, DeliveryOutcome } from "./delivery-batcher.ts";
import { loopBudget, throughLoopBudget } from "../loop-budget.ts";
import { backoffMs, Gate, WorkQueue } from "./work-queue.ts";
import { jobOfWords, jobWords, type JobWords } from "../attest/job-words.ts";

/** Statuses in which a job has ended: nothing is left to do for it on-chain. */
export function hasEnded(status: number): boolean {
  return status === JobStatus.Settled || status === JobStatus.Refunded || status === JobStatus.None;
}

/** The job's input cannot be used (fetch, size, format, hash): the job ends with this reason. */
export class JobInputError extends FatalError {
  readonly code = "JOB_INPUT_INVALID";
}

/** Reads the processor needs from the chain (a thin, mockable facade over viem contracts). */
export interface ChainReader {
  now(): Promise<number>;
  /** `revealStartedAt` is the delivery time of a Delivered k = 1 job (its challenge window starts then). */
  jobState(jobId: bigint): Promise<{ status: number; seated: number; revealed: number; revealStartedAt: number }>;
  version(modelId: Hex, version: number): Promise<VersionInfo & { accepting: boolean }>;
  providerTerms(): Promise<SchedulerContext["provider"]>;
  seatOf(jobId: bigint, seat: number): Promise<Address>;
  /** The winning result hash of a settled k > 1 job, scanning from `fromBlock` (its request block). */
  settledResult(jobId: bigint, fromBlock: number): Promise<Hex | null>;
  /**
   * Whether the chain holds a SeatSlashed event naming this provider for the job (its seat was
   * slashed: silent, or outvoted by a quorum), scanning from `fromBlock` (its request block).
   */
  seatSlashed(jobId: bigint, fromBlock: number): Promise<boolean>;
  /** The provider and result of a k = 1 job's latest ResultSubmitted event, scanning from `fromBlock` (its request block). */
  delivery(jobId: bigint, fromBlock: number): Promise<{ provider: Address; resultHash: Hex } | null>;
}

/** What the processor needs of the transaction sender. */
export type TxSubmitter = Pick<FullTxSubmitter, "address" | "send" | "resume">;

/** What the processor needs of the model store. */
export interface ModelSource {
  ensure(v: VersionInfo): Promise<LocalModel>;
  evict(v: { modelId: Hex; version: number }): void;
}

/** Which stale jobs the runner finalizes: those it holds a seat in, every job it saw, or none. */
export type ExpiryMode = "own" | "all" | "off";

export interface ProcessorOptions {
  journal: Journal;
  chain: ChainReader;
  sender: TxSubmitter;
  wallet: Wallet;
  chainId: number;
  market: Address;
  marketAbi: Abi;
  models: ModelSource;
  content: Pick<ContentStore, "get" | "add" | "release">;
  executor: Pick<Executor, "load" | "run" | "unload">;
  metrics: Metrics;
  log: Logger;
  allowedModels: ReadonlySet<Hex> | null;
  minFee: (token: Address) => bigint | undefined;
  maxConcurrentJobs: number;
  maxInputBytes: number;
  inlineOutputMaxBytes: number;
  inferenceTimeoutMs: number;
  fetchTimeoutMs: number;
  expireStaleJobs: ExpiryMode;
  /** Prefetch the weights of newly activated versions (of the models this runner serves). */
  prefetch: boolean;
  /**
   * Whether to abstain from a result (a reason) or not (null): outputs too close to a
   * quantization boundary may round differently on another honest machine.
   */
  abstain?: (outputs: Record<string, Tensor>, outputQuantum: number) => string | null;
  /** Seconds a commit must leave before the commit deadline (blocks, the runner's own queue). */
  commitMarginSeconds: number;
  /** The shortest reveal window a runner commits into (a reveal must fit with margin). */
  revealMarginSeconds: number;
  /** Backoff of a job's retried step: first delay and cap, in ms. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How often a job waiting for the chain is looked at when no event woke it, in ms. */
  followIntervalMs: number;
  /** Ended jobs are forgotten (journal rows, outputs, pins) this long after they ended, in ms. */
  retentionMs: number;
  /** Jobs advanced at the same time (chain reads and transactions; compute has its own cap). */
  maxConcurrentSteps: number;
  /**
   * Before a first k = 1 result or commit, wait a share of this (ms) derived from (job, provider):
   * the runners that drew the shortest waits go first and the others, reading the chain after
   * theirs, find the job taken instead of sending a transaction bound to revert.
   */
  spreadMs: number;
  /**
   * Batched k = 1 delivery: ready results ride together in one transaction (see
   * delivery-batcher.ts). Without it each result is its own submitResult.
   */
  batcher?: DeliveryBatcher;
  /** Where the outputs of jobs are kept, to serve them by id. */
  saveOutputs: (jobId: bigint, safetensors: Uint8Array) => void;
  removeOutputs: (jobId: bigint) => void;
  /** Wall clock in ms (tests pass a fake). */
  clock?: () => number;
}

/** A worker crash caused by a job's input twice is the input's fault, not the machine's. */
const MAX_CRASHES_PER_JOB = 2;
/** A transaction the node refuses as "would revert" while the job is still open: asked again this often. */
const MAX_WOULD_REVERT = 3;
/**
 * Claims sent for one delivery at most. A claim that lands but is skipped (a reorg moved the
 * delivery later, so its window was still open) or reverts (it ran out of gas on a path its
 * estimate did not take) is sent again while the job is still delivered.
 */
const MAX_CLAIMS = 4;

/**
 * Takes each job from the journal through its states: decide, compute, attest (submit, or
 * commit then reveal), and follows the chain to its end. Every step is idempotent, reads the chain
 * before it sends, and writes its outcome with a compare-and-set on (job id, parameter hash,
 * state), so it can be re-run at any time (after a restart, a reorg, a retry) and a step that was
 * overtaken (by a reorg replacing the job, by an event) writes nothing.
 *
 * Jobs waiting for the chain are woken by its events and otherwise looked at every
 * `followIntervalMs`; failed steps back off exponentially and stop at the job's deadline.
 */
export class JobProcessor {
  private readonly o: ProcessorOptions;
  private readonly queue: WorkQueue;
  /** Compute slots: model fetch, input fetch and inference all count against maxConcurrentJobs. */
  private readonly computeSlots: Gate;
  /** Reveals waiting to be sent: new commits and results wait for them (reveals first). */
  private revealsPending = 0;
  private readonly revealsDone: (() => void)[] = [];
  private readonly seenAt = new Map<string, number>();
  /** Chain time of this runner's first look at a job it waits to step in to (see stepInAt). */
  private readonly firstLookAt = new Map<string, number>();
  private readonly prefetched = new Set<string>();
  /**
   * k = 1 jobs whose result goes alone from now on: the market rejected its batch item, or the
   * batch would have reverted. (Across a restart the journal says it: a batch that carried the
   * job was mined or reverted.) A job is batched at most once per outcome: never a loop.
   */
  private readonly singly = new Set<string>();
  /** k = 1 results in a batch not mined yet: the job's step does not wait for them (see submit). */
  private readonly delivering = new Map<string, Promise<void>>();
  /** Matured deliveries whose claim is in a batch not mined yet. */
  private readonly claiming = new Map<string, Promise<void>>();
  private expiring = false;
  private pruning = false;
  private lastPrune = 0;
  private stopped = false;

  constructor(options: ProcessorOptions) {
    // Chain reads answer together in a burst: each step goes on within the loop's budget.
    this.o = { ...options, chain: throughLoopBudget(options.chain) };
    this.computeSlots = new Gate(options.maxConcurrentJobs);
    this.queue = new WorkQueue(
      options.maxConcurrentSteps,
      (key) => this.advance(BigInt(key)),
      (key, error) => this.o.log.error("job step failed", { jobId: key, error }),
    );
  }

  get address(): Address {
    return this.o.sender.address;
  }

  private now(): number {
    return (this.o.clock ?? Date.now)();
  }

  /** Events of one confirmed block range, in order. */
  async onLogs(logs: DecodedLog[]): Promise<void> {
    const { journal, log } = this.o;
    const activated = new Map<Hex, number>();
    for (const l of logs) {
      // A block of a burst holds hundreds of events, each a journal write: the loop budget lets
      // timers, sockets and the metrics endpoint in between every few milliseconds.
      await loopBudget.turn();
      const a = l.args;
      const jobId = a.jobId as bigint | undefined;
      const block = Number(l.blockNumber);
      switch (l.eventName) {
        case "JobRequested": {
          const job = jobOfWords(a.job as JobWords);
          const input = a.input as Hex;
          const inputCid = a.inputCid as string;
          const outcome = journal.upsertJob({
            jobId: jobId!,
            paramsHash: jobHash(job),
            job,
            input: input === "0x" ? null : input,
            inputCid: inputCid === "" ? null : inputCid,
            block: Number(l.blockNumber),
            blockHash: l.blockHash,
          });
          if (outcome !== "same") {
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
          if (
            getAddress(a.provider as Address) === getAddress(this.address) &&
            !this.isK1(jobId!) &&
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
          if (journal.noteChainFact(jobId!, {}, block)) this.kick(jobId!, true);
          break;
        case "VersionRetired":
          this.o.models.evict({ modelId: a.modelId as Hex, version: Number(a.version) });
          void this.o.executor
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
    for (const [modelId, version] of activated) void this.prefetch(modelId, version);
  }

  /** A k = 1 job: its seats and reveals are a jury's (the court service's), not ours to follow. */
  private isK1(jobId: bigint): boolean {
    return this.o.journal.getJob(jobId)?.job.redundancy === 1;
  }

  /** Schedules a job to be advanced; a job already being advanced is advanced once more after. */
  kick(jobId: bigint, urgent = false): void {
    if (this.stopped) return;
    this.queue.push(jobId.toString(), urgent);
  }

  /** Advances every job whose wait is over; runs the expiry service and the pruning. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    const room = Math.max(0, this.o.maxConcurrentSteps * 4 - this.queue.size());
    for (const rec of this.o.journal.dueJobs(this.now(), room)) this.kick(rec.jobId, rec.state === "committed");
    if (this.o.expireStaleJobs !== "off" && !this.expiring) {
      this.expiring = true;
      try {
        await this.expireStale();
      } finally {
        this.expiring = false;
      }
    }
    if (!this.pruning && this.now() - this.lastPrune >= Math.min(60_000, this.o.retentionMs)) {
      this.pruning = true;
      try {
        await this.prune();
      } finally {
        this.pruning = false;
        this.lastPrune = this.now();
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue.drain();
    // Results in a batch: the batcher was flushed and the sender closed first (see runner.ts), so
    // these settle at once; their jobs stay "computed" in the journal and resume on restart.
    await Promise.allSettled([...this.delivering.values(), ...this.claiming.values()]);
  }

  /** Resolves once no job step is queued or running, and no batched result waits for its receipt. */
  async idle(): Promise<void> {
    for (;;) {
      await this.queue.idle();
      if (this.delivering.size === 0 && this.claiming.size === 0) return;
      await Promise.allSettled([...this.delivering.values(), ...this.claiming.values()]);
    }
  }

  // ------------------------------------------------------------------ the state machine

  private async advance(jobId: bigint): Promise<void> {
    const { journal } = this.o;
    for (let step = 0; step < 8 && !this.stopped; step++) {
      // Each step's work on this thread waits its share of the loop (a burst runs many at once).
      await loopBudget.turn();
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
    const [provider, readNow, state] = await Promise.all([
      chain.providerTerms(),
      chain.now(),
      chain.jobState(rec.jobId),
    ]);
    if (state.status !== JobStatus.Open) return this.end(rec, "lost", "job no longer open");
    // The chain's time is at least the job's own block time. The reader reuses its time for a
    // moment, and a chain that mines a burst stamps blocks ahead of it: without this, a first
    // rank would wait for a turn that opened when the job was mined.
    const now = Math.max(readNow, rec.job.requestedAt);
    const reason = declineReason(rec.job, {
      provider,
      allowedModels: this.o.allowedModels,
      minFee: this.o.minFee,
      now,
    });
    if (reason) return this.end(rec, "skipped", reason);
    if (rec.job.redundancy > 1) {
      if (rec.job.revealWindow < this.o.revealMarginSeconds)
        return this.end(
          rec,
          "skipped",
          `reveal window ${rec.job.revealWindow} s is shorter than this runner's margin ${this.o.revealMarginSeconds} s`,
        );
      if (now + this.o.commitMarginSeconds > rec.job.commitDeadline)
        return this.end(rec, "skipped", "too close to the commit deadline to commit safely");
    }
    // Assignment (market v2): wait for this provider's turn instead of racing the others; the job
    // is looked at again then, and is usually served by an earlier rank by that time.
    const turn = turnOf(rec.job, provider);
    if (!turn) return this.end(rec, "skipped", "this provider is not on the registry's roster");
    const key = rec.jobId.toString();
    const firstLook = this.firstLookAt.get(key) ?? now;
    this.firstLookAt.set(key, firstLook);
    const opensAt = stepInAt(rec.job, turn, firstLook);
    if (now < opensAt)
      return this.waitForChain(rec, `rank ${turn.rank}: its turn opens at ${opensAt}`, (opensAt - now) * 1000);
    this.firstLookAt.delete(key);
    // A job pins its version: the market pays for it even if the DAO retired the version since
    // (the client may cancel it then), so a retired version is no reason to skip it.
    this.transition(rec, { state: "accepted" });
  }

  private async compute(rec: JobRecord): Promise<void> {
    if (await this.pastLastAction(rec)) return this.end(rec, "expired", "deadline passed before a result was ready");
    const result = await this.runJob(rec);
    if ("abstained" in result) return this.end(rec, "skipped", `abstained: ${result.abstained}`);
    const { resultHash, outputRef } = result;
    // Hashing and encoding the outputs, then signing, are each a millisecond or more of CPU on
    // this thread: each waits its share of the loop, so a burst of jobs does not stack them up.
    await loopBudget.turn();
    const signature = await signAttestation(
      this.o.wallet,
      this.o.chainId,
      this.o.market,
      attestationFor(rec.jobId, rec.job, resultHash, outputRef),
    );
    if (this.transition(rec, { state: "computed", resultHash, outputRef, signature })) {
      this.o.log.info("job computed", {
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
   */
  async runJob(
    rec: JobRecord,
  ): Promise<{ resultHash: Hex; outputRef: Hex; inferenceMs: number; model: string } | { abstained: string }> {
    const { chain, models, executor, metrics } = this.o;
    const version = await chain.version(rec.job.modelId, rec.job.version);
    // Fetches count against the compute slots too: a burst of jobs cannot start a fetch each.
    const release = await this.computeSlots.acquire();
    let result: Awaited<ReturnType<Executor["run"]>>;
    try {
      const model = await models.ensure(version);
      await loopBudget.turn(); // an inline input is hashed here
      const input = await this.inputOf(rec);
      await executor.load(model.key, model.path, model.schema);
      result = await executor.run(model.key, decodeSafetensors(input).tensors, {
        timeoutMs: this.o.inferenceTimeoutMs,
      });
    } finally {
      release();
    }
    metrics.inferenceSeconds.observe(result.inferenceMs / 1000);
    const quantum = quantumFromChain(version.outputQuantum);
    const abstained = this.o.abstain?.(result.outputs, quantum);
    if (abstained) return { abstained };
    await loopBudget.turn();
    const resultHash = canonicalResultHash(result.outputs, quantum);
    await loopBudget.turn();
    const safetensors = encodeSafetensors(result.outputs);
    this.o.saveOutputs(rec.jobId, safetensors);
    const outputRef =
      safetensors.byteLength <= this.o.inlineOutputMaxBytes
        ? encodeOutputRef({ kind: "inline", bytes: safetensors })
        : encodeOutputRef({ kind: "ipfs", cid: await this.o.content.add(safetensors) });
    return {
      resultHash,
      outputRef,
      inferenceMs: Math.round(result.inferenceMs * 100) / 100,
      model: versionKey(version),
    };
  }

  private async submit(rec: JobRecord): Promise<void> {
    // In a batch not mined yet: its outcome wakes the job (see deliveredInBatch).
    if (this.delivering.has(rec.jobId.toString())) return this.waitForChain(rec, "result in a batch");
    const batch = this.batchOf(rec);
    // Read the chain before (re)sending: the market may hold our result already, or another's.
    if (rec.deliveredBy !== null) {
      if (this.deliveredByUs(rec)) return this.onSubmitted(rec);
      if (!this.hasLiveTx(rec, "submit") && !batch.pending)
        return this.end(rec, "lost", "another provider delivered first");
    }
    if (!this.hasLiveTx(rec, "submit") && !batch.pending) {
      await this.spread(rec);
      const [state, past] = await Promise.all([this.o.chain.jobState(rec.jobId), this.pastLastAction(rec)]);
      if (state.status !== JobStatus.Open) return this.waitForChain(rec, "job no longer open; waiting for its event");
      if (past) return this.end(rec, "expired", "deadline passed before the result was sent");
      await this.revealsFirst();
    }
    const key = rec.jobId.toString();
    const batched =
      this.o.batcher &&
      !batch.used &&
      !this.singly.has(key) &&
      this.o.journal.txsFor(rec.jobId, "submit").length === 0 &&
      rec.signature !== null;
    if (this.o.batcher && (batch.pending || batched)) {
      // The result rides in a batch. The step does not wait for it to be mined (a step slot held
      // per job would cap a runner at maxConcurrentSteps results a block): the outcome comes
      // back in deliveredInBatch, which moves the job on and wakes it.
      if (!this.delivering.has(key)) {
        const outcome = batch.pending
          ? this.o.batcher.resume(batch.pending, rec.jobId)
          : this.o.batcher.deliver({
              jobId: rec.jobId,
              job: rec.job,
              resultHash: rec.resultHash!,
              outputRef: rec.outputRef!,
              signature: rec.signature!,
            });
        // A batch's outcome comes for all its jobs at once: each takes its share of the loop.
        const done = outcome.then(
          async (o) => {
            await loopBudget.turn();
            this.deliveredInBatch(rec.jobId, o);
          },
          async (error: unknown) => {
            await loopBudget.turn();
            this.deliveredInBatch(rec.jobId, null, error);
          },
        );
        this.delivering.set(key, done);
      }
      return this.waitForChain(rec, "result in a batch");
    }
    const receipt = await this.sendOnce(rec, "submit", "submitResult", [
      rec.jobId,
      jobWords(rec.job),
      rec.resultHash,
      rec.outputRef,
    ]);
    if (receipt) this.onSubmitted(rec);
  }

  /** Every attempt (replacements and voids included) of the batches of `kind` that carried this job. */
  private batchAttempts(rec: JobRecord, kind: "batch" | "claim"): TxRecord[] {
    const txs = this.o.journal.batchTxsFor(rec.jobId);
    const nonces = new Set(txs.filter((t) => t.kind === kind).map((t) => t.nonce));
    return txs.filter((t) => nonces.has(t.nonce));
  }

  /** What a batch did for one job: moves it on as a single submit's receipt would, or as its failure would. */
  private deliveredInBatch(jobId: bigint, outcome: DeliveryOutcome | null, error?: unknown): void {
    const key = jobId.toString();
    this.delivering.delete(key); // before the kick below: the job's next step acts
    if (this.stopped) return;
    try {
      const rec = this.o.journal.getJob(jobId);
      // Moved on meanwhile (its ResultSubmitted came first, a reorg replaced the job): nothing to do.
      if (!rec || rec.state !== "computed") return;
      if (outcome === null) {
        // The whole transaction would revert, or reverted: this job goes alone next time (after
        // reading the chain). A voided or unconfirmed one leaves it free to ride in another batch.
        if (error instanceof TxWouldRevertError || error instanceof TxRevertedError) this.singly.add(key);
        // Its retry is scheduled like a failed step's (backoff, or a prompt re-read of the chain).
        this.onStepError(rec, error);
        return;
      }
      if (outcome.delivered) {
        this.onSubmitted(rec);
      } else {
        // Rejected alone: the per-job logic looks again (reads the chain; a job another provider
        // took is lost, one still open goes as its own submitResult, whose estimate says why not).
        this.singly.add(key);
        this.o.log.info("batch item rejected by the market; the job is looked at again alone", {
          jobId,
          reason: outcome.reason,
          tx: outcome.transactionHash,
        });
        this.o.journal.updateJob(jobId, rec, { nextAttemptAt: 0 });
      }
      this.kick(jobId);
    } catch (e) {
      this.o.log.error("batch outcome not recorded", { jobId, error: oneLine(e) });
    }
  }

  /**
   * The batch transactions that carried this job: one still waiting (resume it), and whether one
   * was mined or reverted (its outcome for the job was taken: the job goes alone from then on).
   * One voided after a reorg, or whose nonce another transaction took, carried nothing.
   */
  private batchOf(rec: JobRecord): { pending: TxRecord | null; used: boolean } {
    if (!this.o.batcher || rec.job.redundancy !== 1) return { pending: null, used: false };
    const txs = this.batchAttempts(rec, "batch");
    const pending = txs.find((t) => t.status === "signed" || t.status === "sent") ?? null;
    const used = txs.some((t) => t.kind === "batch" && (t.status === "mined" || t.status === "reverted"));
    return { pending, used };
  }

  private onSubmitted(rec: JobRecord): void {
    if (this.transition(rec, { state: "submitted" })) this.observeLatency(rec);
  }

  private async commit(rec: JobRecord): Promise<void> {
    if (rec.seat !== null) return void this.transition(rec, { state: "committed" }); // the SeatCommitted event came first
    const live = this.hasLiveTx(rec, "commit");
    if (!live) {
      await this.spread(rec);
      const [state, now] = await Promise.all([this.o.chain.jobState(rec.jobId), this.o.chain.now()]);
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
      if (now + this.o.commitMarginSeconds > rec.job.commitDeadline)
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
    const receipt = await this.sendOnce(rec, "commit", "commit", [rec.jobId, jobWords(rec.job), commitment]);
    if (!receipt) return;
    const fromReceipt = this.seatFromReceipt(receipt);
    // Not in the receipt at hand (a resumed or re-mined commit): the journal's, else the chain's.
    const seat =
      fromReceipt ?? this.o.journal.getJob(rec.jobId)?.seat ?? (await this.findSeat(rec.jobId, rec.job.redundancy));
    // A mined commit seated us; if the receipt at hand does not say where (a resumed one), the
    // SeatCommitted event will: wait for it rather than call the job lost.
    if (seat === null) {
      // Seats are cleared when a job ends: an ended job is followed to its outcome, not waited on.
      const state = await this.o.chain.jobState(rec.jobId);
      if (state.status === JobStatus.Settled || state.status === JobStatus.Refunded) return this.follow(rec);
      return this.waitForChain(rec, "commit mined; waiting for its SeatCommitted event");
    }
    const factsBlock = fromReceipt !== null && "blockNumber" in receipt ? Number(receipt.blockNumber) : rec.factsBlock;
    if (this.transition(rec, { state: "committed", seat, factsBlock }))
      this.o.log.info("seat committed", { jobId: rec.jobId, seat });
  }

  private async reveal(rec: JobRecord): Promise<void> {
    if (this.deliveredByUs(rec)) return void this.transition(rec, { state: "revealed" }); // its ResultRevealed came first
    const live = this.hasLiveTx(rec, "reveal");
    if (!live) {
      const [state, now] = await Promise.all([this.o.chain.jobState(rec.jobId), this.o.chain.now()]);
      const commitOver = now > rec.job.commitDeadline && state.seated >= rec.job.quorum;
      if (state.status === JobStatus.Open && !commitOver) {
        // Still waiting for the other seats: RevealStarted wakes us, or the commit deadline.
        const untilDeadlineMs = Math.max(0, (rec.job.commitDeadline - now + 1) * 1_000);
        return this.waitForChain(rec, null, Math.min(this.o.followIntervalMs, untilDeadlineMs));
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
    if (receipt && this.transition(rec, { state: "revealed" })) this.observeLatency(rec);
  }

  /**
   * After our result is on-chain: wait for the job to end and record how it ended for us. For
   * k > 1 the outcome is the chain's, not inferred from our journal (which a reorg may have left
   * behind): "slashed" when a SeatSlashed event names us for the job, "paid" when our revealed
   * hash is the one the job settled on, otherwise "lost" (settled) or "refunded" (no quorum, or
   * too few seats).
   */
  private async follow(rec: JobRecord): Promise<void> {
    const k1 = rec.job.redundancy === 1;
    if (k1) return this.followDelivery(rec);
    const state = await this.o.chain.jobState(rec.jobId);
    if (state.status === JobStatus.Settled) {
      if (k1) return this.settle(rec, rec.state === "submitted" ? "paid" : "lost", null);
      const winner = rec.settledHash ?? (await this.o.chain.settledResult(rec.jobId, rec.block));
      if (winner === null) return this.waitForChain(rec, "settled; waiting for the JobSettled event");
      return this.endSeat(rec, winner);
    }
    if (state.status === JobStatus.Refunded) {
      if (!k1) return this.endSeat(rec, null);
      return this.settle(rec, "refunded", "job ended without a quorum or expired");
    }
    this.waitForChain(rec, null);
  }

  /**
   * After our k = 1 result is on-chain: claim the fee once the challenge window passed, or wait
   * for a challenge to be resolved. Ends "paid" (claimed, or the jury upheld the result or could
   * not decide), "slashed" (a jury found it wrong: SeatSlashed names us) or "lost" (another
   * provider's result was taken).
   */
  private async followDelivery(rec: JobRecord): Promise<void> {
    if (rec.deliveredBy !== null && !this.deliveredByUs(rec)) return this.settle(rec, "lost", null);
    const [state, now] = await Promise.all([this.o.chain.jobState(rec.jobId), this.o.chain.now()]);
    if (state.status === JobStatus.Settled) return this.settle(rec, "paid", null);
    if (state.status === JobStatus.Refunded) {
      if (await this.o.chain.seatSlashed(rec.jobId, rec.block))
        return this.settle(rec, "slashed", "a jury found the result wrong");
      return this.settle(rec, "refunded", "job expired before the result landed");
    }
    if (state.status === JobStatus.Challenged || state.status === JobStatus.JuryRevealing) {
      return this.waitForChain(rec, "result challenged; waiting for the jury");
    }
    if (state.status !== JobStatus.Delivered) return this.waitForChain(rec, null);
    if (rec.deliveredBy === null) {
      // Delivered, but the event that says by whom is not in the journal (its block was rewound
      // and the rescan has not said it again, or never will): ask the chain. The claim names the
      // provider, so it is never sent on a guess.
      const delivery = await this.o.chain.delivery(rec.jobId, rec.block);
      if (delivery === null) return this.waitForChain(rec, "delivered; waiting for its ResultSubmitted event");
      if (
        !this.o.journal.noteChainFact(
          rec.jobId,
          { deliveredBy: getAddress(delivery.provider), settledHash: delivery.resultHash },
          0,
        )
      )
        return;
      if (getAddress(delivery.provider) !== getAddress(this.address)) return this.settle(rec, "lost", null);
    }
    const claimableAt = state.revealStartedAt + rec.job.challengeWindow + 1;
    if (now < claimableAt)
      return this.waitForChain(rec, null, Math.max(this.o.followIntervalMs, (claimableAt - now) * 1_000));
    const key = rec.jobId.toString();
    if (this.claiming.has(key)) return this.waitForChain(rec, "claim in a batch");
    // Its own claims and the batched claims that carried it (a void counts as one tried).
    const claims = [
      ...this.o.journal.txsFor(rec.jobId, "claim"),
      ...(this.o.batcher ? this.batchAttempts(rec, "claim") : []),
    ].filter((t) => t.status !== "replaced");
    const pending = claims.find((t) => t.status === "signed" || t.status === "sent");
    const item = { jobId: rec.jobId, job: rec.job, provider: this.address, resultHash: rec.resultHash! };
    if (pending) await this.o.sender.resume(pending);
    else if (claims.length < MAX_CLAIMS && this.o.batcher) {
      // Claims ride together too; the step does not wait for the claim to be mined.
      const done = this.o.batcher.claim(item).then(
        async () => {
          await loopBudget.turn();
          this.claimedInBatch(rec.jobId);
        },
        async (error: unknown) => {
          await loopBudget.turn();
          this.claimedInBatch(rec.jobId, error);
        },
      );
      this.claiming.set(key, done);
      return this.waitForChain(rec, "claim in a batch");
    } else if (claims.length < MAX_CLAIMS) {
      // Every earlier claim landed (skipped) or reverted, and the job is still delivered: again.
      const data = encodeFunctionData({
        abi: this.o.marketAbi,
        functionName: "claim",
        args: [[{ ...item, job: jobWords(item.job) }]],
      });
      await this.o.sender.send({
        jobId: rec.jobId,
        kind: "claim",
        to: this.o.market,
        data,
        extraGas: settlementHeadroom("claim", 1),
      });
    } else {
      return this.waitForChain(
        rec,
        `${claims.length} claims sent and the job is still delivered; a keeper (conclave job claim) may claim it`,
        this.o.retryMaxMs,
      );
    }
    this.waitForChain(rec, "claim mined; waiting for DeliveryClaimed", Math.min(this.o.followIntervalMs, 1_000));
  }

  /** A batched claim of this job was mined (or failed): the job reads the chain again (paid, or claim again). */
  private claimedInBatch(jobId: bigint, error?: unknown): void {
    this.claiming.delete(jobId.toString());
    if (this.stopped) return;
    try {
      const rec = this.o.journal.getJob(jobId);
      if (!rec || rec.state !== "submitted") return;
      if (error !== undefined && !(error instanceof TxRevertedError)) return this.onStepError(rec, error);
      // Mined (the item paid, or skipped) or reverted: what the chain says decides, as after a claim of its own.
      this.o.journal.updateJob(jobId, rec, { nextAttemptAt: 0 });
      this.kick(jobId);
    } catch (e) {
      this.o.log.error("claim outcome not recorded", { jobId, error: oneLine(e) });
    }
  }

  /** How a k > 1 job that ended (`winner` null: refunded) ended for us, from the chain's events. */
  private async endSeat(rec: JobRecord, winner: Hex | null): Promise<void> {
    const revealed = rec.state === "revealed" || this.deliveredByUs(rec);
    // A winner is never slashed: no need to read the events.
    if (winner !== null && revealed && winner === rec.resultHash) return this.settle(rec, "paid", null);
    if (await this.o.chain.seatSlashed(rec.jobId, rec.block)) {
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
  private revive(jobId: bigint, state: "committed" | "submitted"): void {
    const rec = this.o.journal.getJob(jobId);
    if (!rec || !(rec.state === "lost" || rec.state === "expired") || rec.resultHash === null) return;
    if (state === "committed" && rec.salt === null) return;
    if (this.o.journal.updateJob(jobId, rec, { state, reason: null, nextAttemptAt: 0, attempts: 0 })) {
      this.o.log.warn("the chain holds our transaction for a job given up on; taking it up again", { jobId, state });
    }
  }

  // ------------------------------------------------------------------ expiry as a service

  /**
   * Finalizes jobs whose last moment passed, so clients get refunds and seated collateral is
   * released without anyone having to ask: by default only jobs this runner holds a seat in (an
   * attacker's unservable jobs cost other providers nothing). Each job is looked at once after its
   * end (events of settlement mark it done without any read), not polled.
   */
  private async expireStale(): Promise<void> {
    const mode = this.o.expireStaleJobs;
    const states: JobState[] =
      mode === "all"
        ? ["seen", "accepted", "computed", "submitted", "committed", "revealed", "skipped", "failed", "lost", "expired"]
        : ["committed", "revealed"];
    const chainNow = await this.o.chain.now();
    for (const rec of this.o.journal.expiryCandidates(states, chainNow, 32)) {
      if (this.stopped) return;
      try {
        const state = await this.o.chain.jobState(rec.jobId);
        if (
          state.status === JobStatus.Settled ||
          state.status === JobStatus.Refunded ||
          state.status === JobStatus.None
        ) {
          this.o.journal.noteChainFact(rec.jobId, { final: true }, 0);
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
        this.o.log.debug("finalize not possible yet", { jobId: rec.jobId, error: oneLine(error) });
      }
    }
  }

  private async finalize(rec: JobRecord): Promise<void> {
    const previous = this.o.journal
      .txsFor(rec.jobId, "finalize")
      .filter((t) => t.status !== "replaced" && t.status !== "reverted");
    const pending = previous.find((t) => t.status === "signed" || t.status === "sent");
    try {
      if (pending) await this.o.sender.resume(pending);
      else if (!previous.some((t) => t.status === "mined")) {
        await this.o.sender.send({
          jobId: rec.jobId,
          kind: "finalize",
          to: this.o.market,
          data: encodeFunctionData({
            abi: this.o.marketAbi,
            functionName: "finalize",
            args: [rec.jobId, jobWords(rec.job)],
          }),
          extraGas: settlementHeadroom("finalize", rec.job.redundancy),
        });
      }
      this.o.log.info("finalized a stale job", { jobId: rec.jobId });
    } catch (error) {
      if (!(error instanceof TxWouldRevertError) && !(error instanceof TxRevertedError)) throw error;
      // Someone else finalized it first, or it settled: the job's own events say how it ended.
    }
    this.o.journal.noteChainFact(rec.jobId, { final: true }, 0);
    this.kick(rec.jobId);
  }

  // ------------------------------------------------------------------ forgetting

  /** Forgets ended jobs past the retention: journal rows, output files, pinned outputs. */
  private async prune(): Promise<void> {
    const gone = this.o.journal.prune(this.now() - this.o.retentionMs);
    const cids: string[] = [];
    for (const { jobId, outputRef } of gone) {
      this.seenAt.delete(jobId.toString());
      this.firstLookAt.delete(jobId.toString());
      this.o.removeOutputs(jobId);
      const ref = outputRef ? safeDecodeRef(outputRef) : null;
      if (ref?.kind === "ipfs") cids.push(ref.cid);
    }
    if (gone.length === 0) return;
    // Also frees blocks fetched for inputs and weights, which are never pinned.
    await this.o.content
      .release(cids)
      .catch((error: unknown) => this.o.log.warn("releasing IPFS blocks failed", { error: oneLine(error) }));
    this.o.log.info("forgot ended jobs", { jobs: gone.length, outputsUnpinned: cids.length });
  }

  // ------------------------------------------------------------------ helpers

  /** Writes `patch` if the job is still what `rec` says (same parameters, same state). */
  private transition(rec: JobRecord, patch: Parameters<Journal["updateJob"]>[2]): boolean {
    const ok = this.o.journal.updateJob(rec.jobId, rec, patch);
    if (!ok)
      this.o.log.info("job changed while a step ran; its outcome is dropped", { jobId: rec.jobId, state: rec.state });
    return ok;
  }

  private end(rec: JobRecord, state: "skipped" | "lost" | "failed" | "expired", reason: string | null): void {
    if (!this.transition(rec, { state, reason, nextAttemptAt: 0 })) return;
    this.seenAt.delete(rec.jobId.toString());
    this.firstLookAt.delete(rec.jobId.toString());
    this.o.metrics.jobs.inc({ outcome: state });
    this.o.log.info(`job ${state}`, { jobId: rec.jobId, reason });
  }

  private settle(rec: JobRecord, state: "paid" | "lost" | "slashed" | "refunded", reason: string | null): void {
    if (!this.transition(rec, { state, reason, nextAttemptAt: 0, expiryDone: true })) return;
    this.seenAt.delete(rec.jobId.toString());
    this.firstLookAt.delete(rec.jobId.toString());
    if (state === "paid") this.o.journal.notePaidToken(getAddress(rec.job.token));
    this.o.metrics.jobs.inc({ outcome: state });
    this.o.log.info(`job ${state}`, { jobId: rec.jobId, reason });
  }

  /** Nothing to do until the chain moves: an event wakes the job, or the follow interval. */
  private waitForChain(rec: JobRecord, why: string | null, inMs = this.o.followIntervalMs): void {
    this.o.journal.updateJob(rec.jobId, rec, { nextAttemptAt: this.now() + inMs });
    if (why) this.o.log.debug("job waits for the chain", { jobId: rec.jobId, why });
  }

  private onStepError(rec: JobRecord, error: unknown): void {
    const { log, metrics } = this.o;
    const attempts = rec.attempts + 1;
    if (error instanceof TxWouldRevertError) {
      // The chain moved on (another provider was first, a deadline): nothing was sent. The next
      // step reads the chain (and its events) and follows; no backoff, this is not a fault.
      log.info("transaction would revert; reading the chain again", { jobId: rec.jobId, error: error.errorName });
      if (attempts >= MAX_WOULD_REVERT && (rec.state === "computed" || rec.state === "committed")) {
        return rec.state === "computed"
          ? this.end(rec, "lost", `chain refused the result: ${error.errorName ?? "reverted"}`)
          : this.waitForChain(rec, "reveal refused; following the job");
      }
      this.o.journal.updateJob(rec.jobId, rec, {
        attempts,
        nextAttemptAt: this.now() + Math.min(this.o.followIntervalMs, 1_000),
      });
      return;
    } else if (error instanceof TxVoidedError) {
      // A reorg moved the job under our transaction, which became a no-op instead of a revert:
      // nothing happened. The rescan of the reorganised blocks says what the job is now.
      log.info("transaction voided after a reorg; reading the chain again", { jobId: rec.jobId, state: rec.state });
      this.o.journal.updateJob(rec.jobId, rec, {
        nextAttemptAt: this.now() + Math.min(this.o.followIntervalMs, 1_000),
      });
      return;
    } else if (error instanceof TxRevertedError) {
      // Mined and reverted: the job moved on under us (another provider delivered first, a
      // window closed). Its events say how it ended; sendOnce will not send the same kind again.
      return this.waitForChain(
        rec,
        `transaction reverted: ${oneLine(error)}`,
        Math.min(this.o.followIntervalMs, 1_000),
      );
    } else if (error instanceof WorkerCrashedError && attempts >= MAX_CRASHES_PER_JOB) {
      return this.end(rec, "failed", `the input crashed the inference worker ${attempts} times`);
    } else if (error instanceof ConclaveError && !error.retryable) {
      return this.end(rec, "failed", error.message);
    }
    const delay = backoffMs(attempts, this.o.retryBaseMs, this.o.retryMaxMs);
    this.o.journal.updateJob(rec.jobId, rec, { attempts, nextAttemptAt: this.now() + delay });
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
  private async spread(rec: JobRecord): Promise<void> {
    // With assignment on, the market already spaces the providers out (see decide()).
    if (this.o.spreadMs <= 0 || rec.attempts > 0 || rec.job.priorityWindow > 0) return;
    await new Promise((r) => setTimeout(r, spreadDelayMs(rec.jobId, this.address, this.o.spreadMs)));
  }

  /** k = 1: the market took our result; k > 1: our reveal is on-chain (from the events). */
  private deliveredByUs(rec: JobRecord): boolean {
    return rec.deliveredBy !== null && getAddress(rec.deliveredBy) === getAddress(this.address);
  }

  /** Chain time is past the last moment at which this job's next transaction could land. */
  private async pastLastAction(rec: JobRecord): Promise<boolean> {
    const last = rec.job.redundancy === 1 ? rec.job.deadline : rec.job.commitDeadline;
    return (await this.o.chain.now()) >= last;
  }

  /** A transaction of `kind` for this job that may still land or has landed. */
  private hasLiveTx(rec: JobRecord, kind: TxKind): boolean {
    return this.o.journal
      .txsFor(rec.jobId, kind)
      .some((t) => t.status === "signed" || t.status === "sent" || t.status === "mined");
  }

  /** New commits and results wait while reveals are being sent: reveals go first in the nonce queue. */
  private revealsFirst(): Promise<void> {
    if (this.revealsPending === 0) return Promise.resolve();
    return new Promise((resolve) => this.revealsDone.push(resolve));
  }

  /**
   * Sends the job's `kind` transaction once: if an earlier run already signed one, waits for that
   * very transaction instead of making another. Returns null when the earlier one reverted (the
   * job then follows the chain).
   */
  private async sendOnce(
    rec: JobRecord,
    kind: TxKind,
    functionName: string,
    args: readonly unknown[],
    onQueued?: () => void,
  ): Promise<TransactionReceipt | { transactionHash: Hex; logs: [] } | null> {
    const { journal, sender } = this.o;
    const previous = journal.txsFor(rec.jobId, kind).filter((t) => t.status !== "replaced");
    const mined = previous.find((t) => t.status === "mined");
    if (mined) return { transactionHash: mined.hash, logs: [] };
    const pending = previous.find((t) => t.status === "signed" || t.status === "sent");
    if (pending) return sender.resume(pending);
    // A reveal that reverted may be sent again (a reorg can move our seat under a reveal already
    // signed): reveal() read the chain first, and an estimate refuses one that cannot land.
    if (kind !== "reveal" && previous.some((t) => t.status === "reverted")) {
      // Ours reverted (the job moved on under us): what happened is the chain's to say.
      if (kind === "submit" || kind === "commit") this.end(rec, "lost", `${kind} transaction reverted`);
      else this.waitForChain(rec, `${kind} transaction reverted`);
      return null;
    }
    const data = encodeFunctionData({ abi: this.o.marketAbi, functionName, args });
    return sender.send({
      jobId: rec.jobId,
      kind,
      to: this.o.market,
      data,
      extraGas: settlementHeadroom(kind, rec.job.redundancy),
      onQueued,
    });
  }

  private async findSeat(jobId: bigint, seated: number): Promise<number | null> {
    const seats = await Promise.all(Array.from({ length: seated }, (_, i) => this.o.chain.seatOf(jobId, i)));
    const i = seats.findIndex((who) => getAddress(who) === getAddress(this.address));
    return i < 0 ? null : i;
  }

  private seatFromReceipt(receipt: { logs: readonly unknown[] }): number | null {
    if (receipt.logs.length === 0) return null;
    const logs = parseEventLogs({
      abi: this.o.marketAbi,
      logs: receipt.logs as never,
      eventName: "SeatCommitted" as never,
      strict: false,
    }) as unknown as { args: { provider?: Address; seat?: number } }[];
    const mine = logs.find((l) => l.args.provider && getAddress(l.args.provider) === getAddress(this.address));
    return mine?.args.seat === undefined ? null : Number(mine.args.seat);
  }

  private async inputOf(rec: JobRecord): Promise<Uint8Array> {
    if (rec.input) {
      // Decoded once and hashed as bytes (viem's hex path checks and decodes the hex again).
      const bytes = new Uint8Array(Buffer.from(rec.input.slice(2), "hex"));
      if (bytes.length * 2 !== rec.input.length - 2 || keccak256(bytes) !== rec.job.inputHash)
        throw new JobInputError(`inline input does not hash to the job's inputHash ${rec.job.inputHash}`);
      return bytes;
    }
    if (!rec.inputCid) throw new JobInputError("job has neither an inline input nor an input CID");
    if (keccak256(toHex(rec.inputCid)) !== rec.job.inputHash)
      throw new JobInputError(`input CID does not hash to the job's inputHash ${rec.job.inputHash}`);
    // The content store checks every block against the CID, so the bytes are the CID's bytes.
    const bytes = await this.o.content.get(rec.inputCid, {
      signal: AbortSignal.timeout(this.o.fetchTimeoutMs),
      maxBytes: this.o.maxInputBytes,
    });
    this.o.metrics.bytesFetched.inc(bytes.byteLength);
    return bytes;
  }

  private async prefetch(modelId: Hex, version: number): Promise<void> {
    if (!this.o.prefetch) return;
    if (this.o.allowedModels && !this.o.allowedModels.has(modelId)) return;
    const key = versionKey({ modelId, version });
    if (this.prefetched.has(key)) return;
    this.prefetched.add(key);
    try {
      const info = await this.o.chain.version(modelId, version);
      if (!info.accepting) return;
      const release = await this.computeSlots.acquire();
      try {
        await this.o.models.ensure(info);
      } finally {
        release();
      }
    } catch (error) {
      this.prefetched.delete(key);
      this.o.log.warn("prefetch failed", { modelId, version, error: oneLine(error) });
    }
  }

  private observeLatency(rec: JobRecord): void {
    const t0 = this.seenAt.get(rec.jobId.toString());
    if (t0 !== undefined) this.o.metrics.requestToResultSeconds.observe((performance.now() - t0) / 1000);
  }
}

/** A provider's wait (0 to spreadMs) before its first result or commit for a job: uniform, fixed per (job, provider). */
export function spreadDelayMs(jobId: bigint, provider: Address, spreadMs: number): number {
  const h = BigInt(keccak256(encodePacked(["string", "uint256", "address"], ["spread", jobId, provider])));
  return Number(h % 1_000_000n) * (spreadMs / 1_000_000);
}

/** Seconds (0–29) a runner waits past a job's end before finalizing a job it holds no seat in. */
export function finalizeStagger(jobId: bigint, provider: Address): number {
  return Number(BigInt(keccak256(encodePacked(["uint256", "address"], [jobId, provider]))) % 30n);
}

function safeDecodeRef(ref: Hex) {
  try {
    return decodeOutputRef(ref);
  } catch {
    return null;
  }
}

/**
 * Gas a commit, reveal, finalize or resolve may need beyond its estimate because it may be the one
 * that settles the job (credits, collateral release and slashing for every seat, or a jury's).
 * Measured settlement costs are below 60k gas per seat; the headroom is generous because unused
 * gas costs nothing and a reveal that runs out of gas is slashed as missing.
 */
export function settlementHeadroom(kind: TxKind, seats: number): bigint {
  if (kind === "submit" || kind === "withdraw" || kind === "challenge") return 0n;
  // A claim's estimate may take the cheap path (skipped) when its block lands on the full one.
  if (kind === "claim") return 100_000n * BigInt(seats);
  return 50_000n + 80_000n * BigInt(seats);
}
