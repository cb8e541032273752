/**
 * Runners deliver consumer contracts' callbacks as a service: the fulfiller learns funded jobs
 * from the ConsumerRouter's CallbackFunded events, waits until the market holds the job's result
 * as final (`isFinalResult`: k = 1 once its challenge window has passed, k > 1 once settled), and
 * calls `router.fulfill(jobId, job, provider, resultHash, outputs)` through the runner's
 * transaction sender (journaled, retried, nonce-safe), with the canonical preimage when it holds
 * the job's outputs and they fit the router's `maxInlineOutputBytes`, else the hash only.
 *
 * Exactly once: the router refuses a second fulfil (ConsumerRouterInvalidStatus), the fulfiller
 * reads the router's status before each attempt, never signs a second fulfil while one of its own
 * may still land (the journal keeps it across restarts), and treats "already fulfilled" as done.
 * Several runners see the same job: the job's own providers go first (in an order fixed per
 * job), the others after `turnSeconds` each, so usually one transaction is sent per job.
 *
 * A funded job that ends without a result goes to the reclaimer (reclaimer.ts): past its last
 * moment it finalizes the job on the market (the refund), then credits the deposit back to the
 * consumer with `router.reclaim(jobId)`, through the same sender and the same turns.
 */
import { encodeFunctionData, type Abi, type Address, type Hex } from "viem";
import type { Job } from "../attest/attestation.ts";
import { CallbackStatus } from "../chain/statuses.ts";
import { TxRevertedError, type TxSubmitter } from "../chain/tx-sender.ts";
import { oneLine } from "../errors.ts";
import type { TxRecord } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import { jobWords } from "../attest/job-words.ts";
import {
  callbackOutcome,
  decideFulfil,
  fulfilRank,
  isAlreadyFulfilled,
  ownFulfil,
  type FulfilDecision,
} from "./fulfil-policy.ts";
import { createReclaimer, type ReclaimState, type RosterPlace } from "./reclaimer.ts";

/** A CallbackFunded event. */
export interface FundedCallback {
  jobId: bigint;
  consumer: Address;
  callbackGasLimit: number;
  maxGasPrice: bigint;
  block: number;
}

/** A job's result as the market's events give it, once the job has one. */
export interface JobResult {
  /** k = 1: the delivering provider; k > 1: the zero address (the router ignores it). */
  provider: Address;
  resultHash: Hex;
  /** Providers whose delivery carried `resultHash`, with their output references. */
  deliveries: { provider: Address; outputRef: Hex }[];
}

/**
 * Where a job stands on the market for the fulfiller: no result yet (`wait`, with the chain time
 * from which to look again when known), past its last moment without a result and not finalized
 * yet (`ended`: a finalize refunds it, or settles a k > 1 job whose quorum revealed), ended without
 * one (`refunded`), or with a result to check.
 */
export type MarketView =
  | { kind: "wait"; notBefore?: number }
  | { kind: "ended" }
  | { kind: "refunded" }
  | { kind: "result"; result: JobResult };

/** The chain reads the fulfiller makes (over viem in the runner, fakes in tests). */
export interface FulfillerChain {
  /** The highest block whose events may be acted on (head minus confirmations). */
  safeHead(): Promise<number>;
  /** Chain time (seconds) for the next transaction. */
  now(): Promise<number>;
  /** CallbackFunded events in [from, to] (ranges adapt to the provider's log limits). */
  fundedEvents(from: number, to: number): Promise<FundedCallback[]>;
  /** The router's record of a job's callback. */
  callback(jobId: bigint): Promise<{ status: number; callbackGasLimit: number; maxGasPrice: bigint }>;
  /** The job as JobRequested carried it (requested at or before `atOrBefore`). */
  job(jobId: bigint, atOrBefore: number): Promise<Job>;
  /** The job's state on the market. */
  market(jobId: bigint, job: Job): Promise<MarketView>;
  /** `market.isFinalResult(jobId, job, provider, resultHash)`. */
  isFinal(jobId: bigint, job: Job, result: JobResult): Promise<boolean>;
  maxInlineOutputBytes(): Promise<number>;
  /** `router.requiredGas(limit)`. */
  requiredGas(callbackGasLimit: number): Promise<bigint>;
  /** The gas price a transaction sent now pays (next base fee plus tip). */
  gasPrice(): Promise<bigint>;
  /** Providers that took part in the job (delivered, committed or revealed), from the market's events. */
  participants(jobId: bigint, job: Job): Promise<Address[]>;
}

/** Where the fulfiller gets a job's canonical preimage (null: it cannot). */
export type PreimageSource = (
  jobId: bigint,
  job: Job,
  result: JobResult,
  maxBytes: number,
) => Promise<Uint8Array | null>;

interface FulfillerOptions {
  chain: FulfillerChain;
  sender: TxSubmitter;
  /** The journal's transaction records and its key-value store (the scan cursor). */
  journal: {
    txsFor(jobId: bigint, kind: "fulfil" | "reclaim" | "finalize"): TxRecord[];
    getMeta(key: string): string | null;
    setMeta(key: string, value: string): void;
  };
  router: Address;
  routerAbi: Abi;
  /** The market, for the finalize of an ended job whose deposit waits to be reclaimed. */
  market: Address;
  marketAbi: Abi;
  preimage: PreimageSource;
  log: Logger;
  /** The block the scan starts from when the journal has no cursor (the router's deployment). */
  startBlock: number;
  /** Seconds each rank waits past the one before it (the job's providers first). */
  turnSeconds: number;
  /** This runner's place on the provider roster (the reclaim order of a job nobody took part in). */
  roster: () => Promise<RosterPlace>;
  /** Deliver final results (`consumers.fulfil`, default true). */
  fulfil?: boolean;
  /** Reclaim the deposits of refunded jobs for their consumers (`consumers.reclaim`, default true). */
  reclaim?: boolean;
  /** Gas on top of `requiredGas(limit)` (base cost, calldata, the market's check). */
  gasMargin?: bigint;
  /** Jobs looked at at once. */
  concurrency?: number;
  /** Least wall-clock ms between two looks at a job still waiting (default 1,000). */
  lookIntervalMs?: number;
  /** Wall clock in ms (tests). */
  clock?: () => number;
  /** Each fulfil's outcome (for a metric). */
  onOutcome?: (outcome: "delivered" | "failed" | "hash_only" | "already") => void;
  /** Each reclaim's outcome (for a metric). */
  onReclaim?: (outcome: "reclaimed" | "already") => void;
}

/** Gas added to `requiredGas(limit)`: intrinsic 21,000, up to ~3 KB of calldata, the market's check. */
const DEFAULT_FULFIL_GAS_MARGIN = 150_000n;

const CURSOR_KEY = "consumers.fundedFrom";

interface Fulfiller {
  /** Scans for new funded jobs and advances every open one; safe to call often. */
  tick(): Promise<void>;
  /** Funded jobs still open (for /status and tests). */
  open(): bigint[];
  stop(): Promise<void>;
}

interface Open extends FundedCallback, ReclaimState {
  job?: Job;
  /** Wall-clock ms at which this runner first saw the result final. */
  finalSeenAt?: number;
  /** Chain time before which the market is not asked again. */
  notBefore?: number;
  /** Wall-clock ms before which the job is not looked at again. */
  nextLookAt?: number;
  busy?: Promise<void>;
}

export function createFulfiller(o: FulfillerOptions): Fulfiller {
  const clock = o.clock ?? Date.now;
  const margin = o.gasMargin ?? DEFAULT_FULFIL_GAS_MARGIN;
  const concurrency = o.concurrency ?? 8;
  const lookIntervalMs = o.lookIntervalMs ?? 1_000;
  const open = new Map<string, Open>();
  const log = o.log.child({ service: "fulfiller" });
  const fulfilOn = o.fulfil ?? true;
  const reclaimer = createReclaimer({
    participants: (jobId, job) => o.chain.participants(jobId, job),
    roster: o.roster,
    sender: o.sender,
    journal: o.journal,
    router: o.router,
    routerAbi: o.routerAbi,
    market: o.market,
    marketAbi: o.marketAbi,
    log,
    turnSeconds: o.turnSeconds,
    enabled: o.reclaim ?? true,
    clock,
    onOutcome: o.onReclaim,
  });
  let scanned = Number(o.journal.getMeta(CURSOR_KEY) ?? o.startBlock) - 1;
  let stopped = false;
  let ticking: Promise<void> | null = null;

  const scan = async () => {
    const head = await o.chain.safeHead();
    if (head <= scanned) return;
    const events = await o.chain.fundedEvents(scanned + 1, head);
    for (const e of events) if (!open.has(e.jobId.toString())) open.set(e.jobId.toString(), { ...e });
    scanned = head;
    if (events.length > 0) log.debug("funded callbacks seen", { count: events.length, head });
  };

  /** The cursor a restart rescans from: the oldest open job's block, or past the scanned head. */
  let saved = o.journal.getMeta(CURSOR_KEY);
  const saveCursor = () => {
    let from = scanned + 1;
    for (const j of open.values()) from = Math.min(from, j.block);
    if (saved === String(from)) return;
    saved = String(from);
    o.journal.setMeta(CURSOR_KEY, saved);
  };

  const advance = async (j: Open): Promise<void> => {
    if (j.nextLookAt !== undefined && clock() < j.nextLookAt) return;
    j.nextLookAt = clock() + lookIntervalMs;
    // Nothing can be final before the chain time the market named (a k = 1 challenge window).
    if (j.notBefore !== undefined && (await o.chain.now()) < j.notBefore) return;
    const ownTxs = o.journal.txsFor(j.jobId, "fulfil").filter((t) => t.status !== "replaced");
    const own = ownFulfil(ownTxs);
    const cb = await o.chain.callback(j.jobId);
    const close = (reason: string) => {
      open.delete(j.jobId.toString());
      log.debug("callback needs nothing more from us", { jobId: j.jobId, reason });
    };
    // A fulfil of ours from an earlier run that may still land: wait for that very transaction.
    if (own === "pending" && cb.status === CallbackStatus.Funded) {
      const pending = ownTxs.find((t) => t.status === "signed" || t.status === "sent")!;
      await o.sender.resume(pending).then(
        () => log.info("fulfil of an earlier run landed", { jobId: j.jobId, tx: pending.hash }),
        (error: unknown) =>
          log.warn("fulfil of an earlier run did not land", { jobId: j.jobId, error: oneLine(error) }),
      );
      return;
    }
    const base = {
      status: cb.status,
      ownTx: own,
      maxGasPrice: cb.maxGasPrice,
      maxInlineOutputBytes: 0,
      gasPrice: 0n,
      preimage: null,
      resultHash: null,
      final: false,
      myTurn: false,
    } as const;
    const early = decideFulfil({ ...base, market: "wait" });
    if (early.action === "done") return close(early.reason);

    j.job ??= await o.chain.job(j.jobId, j.block);
    const view = await o.chain.market(j.jobId, j.job);
    if (view.kind === "refunded" || view.kind === "ended") {
      // An ended job is finalized first (nobody else may: runners expire only their own seats'
      // jobs by default), so that its deposit comes back with no manual step either.
      const r = await (view.kind === "ended" ? reclaimer.expire : reclaimer.reclaim)(j, j.job, cb.status);
      if (r.action === "done") close(r.reason);
      return;
    }
    if (view.kind !== "result") {
      const d = decideFulfil({ ...base, market: view.kind });
      if (view.kind === "wait") j.notBefore = view.notBefore;
      if (d.action === "done") close(d.reason);
      return;
    }
    if (!fulfilOn) return close("fulfilling is off here");
    const result = view.result;
    const final = await o.chain.isFinal(j.jobId, j.job, result);
    if (final) j.finalSeenAt ??= clock();
    const rank = fulfilRank(
      j.jobId,
      result.deliveries.map((d) => d.provider),
      o.sender.address,
    );
    const myTurn = final && clock() >= j.finalSeenAt! + rank * o.turnSeconds * 1000;
    const pre = decideFulfil({ ...base, market: "result", final, myTurn, gasPrice: 0n });
    if (pre.action !== "send") return;
    const [gasPrice, maxInline] = await Promise.all([o.chain.gasPrice(), o.chain.maxInlineOutputBytes()]);
    const preimage = await o.preimage(j.jobId, j.job, result, maxInline).catch((error: unknown) => {
      log.warn("cannot get the job's outputs; delivering the hash only", { jobId: j.jobId, error: oneLine(error) });
      return null;
    });
    const d = decideFulfil({
      ...base,
      market: "result",
      final,
      myTurn,
      gasPrice,
      preimage,
      resultHash: result.resultHash,
      maxInlineOutputBytes: maxInline,
    });
    if (d.action === "wait") {
      log.info("not fulfilling now", { jobId: j.jobId, reason: d.reason });
      return;
    }
    if (d.action === "done") return close(d.reason);
    await send(j, result, d, cb.callbackGasLimit, gasPrice);
  };

  const send = async (
    j: Open,
    result: JobResult,
    d: Extract<FulfilDecision, { action: "send" }>,
    limit: number,
    gasPrice: bigint,
  ) => {
    const required = await o.chain.requiredGas(limit);
    const data = encodeFunctionData({
      abi: o.routerAbi,
      functionName: "fulfill",
      args: [j.jobId, jobWords(j.job!), result.provider, result.resultHash, d.outputs],
    });
    log.info("fulfilling a consumer callback", {
      jobId: j.jobId,
      consumer: j.consumer,
      hashOnly: d.hashOnly,
      reason: d.reason,
      outputBytes: (d.outputs.length - 2) / 2,
      callbackGasLimit: limit,
      gasPrice,
      maxGasPrice: j.maxGasPrice,
    });
    try {
      const receipt = await o.sender.send({
        jobId: j.jobId,
        kind: "fulfil",
        to: o.router,
        data,
        minGas: required + margin,
      });
      open.delete(j.jobId.toString());
      const outcome = callbackOutcome(o.routerAbi, receipt.logs ?? []);
      o.onOutcome?.(outcome);
      log.info("consumer callback fulfilled", {
        jobId: j.jobId,
        outcome,
        tx: receipt.transactionHash,
        gasUsed: receipt.gasUsed,
        effectiveGasPrice: receipt.effectiveGasPrice,
      });
    } catch (error) {
      if (isAlreadyFulfilled(error)) {
        open.delete(j.jobId.toString());
        o.onOutcome?.("already");
        log.info("consumer callback already fulfilled by another", { jobId: j.jobId });
        return;
      }
      // Mined and reverted (another fulfil landed first in the same block, usually): the router's
      // status, read at the next look, says what happened. Anything else is retried then.
      log[error instanceof TxRevertedError ? "info" : "warn"]("fulfil did not go through; looking again", {
        jobId: j.jobId,
        error: oneLine(error),
      });
    }
  };

  const runOnce = async () => {
    await scan();
    const jobs = [...open.values()].filter((j) => !j.busy);
    let next = 0;
    const worker = async () => {
      while (!stopped && next < jobs.length) {
        const j = jobs[next++]!;
        const p = advance(j).catch((error: unknown) =>
          log.warn("fulfiller step failed; retried at the next look", { jobId: j.jobId, error: oneLine(error) }),
        );
        j.busy = p;
        await p;
        j.busy = undefined;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
    saveCursor();
  };

  return {
    tick() {
      if (stopped) return Promise.resolve();
      ticking ??= runOnce().finally(() => (ticking = null));
      return ticking;
    },
    open: () => [...open.values()].map((j) => j.jobId),
    // Does not wait for a tick in flight: its sends end when the sender closes (the journal keeps
    // what was signed, and the next run resumes it).
    async stop() {
      stopped = true;
    },
  };
}
