/**
 * Runners reclaim callback deposits as a service: when a funded job ends without a result (the
 * market's status Refunded: expired, cancelled, no quorum, a k = 1 result a jury found wrong), the
 * fulfiller hands the job here, and one runner calls `router.reclaim(jobId)` (anyone may; the
 * router credits the deposit to the consumer), so the consumer gets its deposit back with no manual
 * step. A funded job past its last moment that nobody finalized yet (nobody served it, and runners
 * expire only the jobs they hold seats in by default) is finalized here first, with the same
 * turns: a consumer's funds never wait for someone to time its request out by hand.
 *
 * The same transaction path as a fulfil: the runner's transaction sender (journaled, retried,
 * nonce-safe, kind `reclaim`); a reclaim of ours that may still land (signed by this run or an
 * earlier one, the journal keeps it across restarts) is waited for, never signed again; a revert
 * saying the deposit is no longer Funded (another runner came first) is done. The same turns as
 * fulfils ({@link reclaimRank}): the job's providers first, in an order fixed per job, others
 * `turnSeconds` later per rank, so usually one reclaim is sent per job.
 */
import { encodeFunctionData, parseEventLogs, type Abi, type Address, type Log } from "viem";
import type { Job } from "../attest/attestation.ts";
import { jobWords } from "../attest/job-words.ts";
import { CALLBACK_STATUS, CallbackStatus } from "../chain/statuses.ts";
import { TxRevertedError, TxWouldRevertError, type TxSubmitter } from "../chain/tx-sender.ts";
import { settlementHeadroom } from "../jobs/processor-options.ts";
import { backoffMs } from "../jobs/work-queue.ts";
import { oneLine } from "../errors.ts";
import type { TxRecord } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import { decideReclaim, isAlreadyReclaimed, ownFulfil, reclaimRank } from "./fulfil-policy.ts";

/** This runner's place on the provider roster (the registry's `providerTerms`). */
export type RosterPlace = { rosterIndex: bigint; rosterSize: bigint };

/** What the reclaimer keeps per job between looks (on the fulfiller's record of the job). */
export interface ReclaimState {
  jobId: bigint;
  consumer: Address;
  /** Wall-clock ms at which this runner first saw the job refunded. */
  refundSeenAt?: number;
  /** This runner's rank among those that may reclaim, once read. */
  reclaimRank?: number;
  /** Wall-clock ms at which this runner first saw the job past its last moment, not finalized. */
  endSeenAt?: number;
  /** Our finalizes that did not go through, and the wall-clock ms before which none is tried again. */
  finalizeFailures?: number;
  finalizeRetryAt?: number;
  /** Wall-clock ms at which a finalize of ours was first seen mined while the job still looked open. */
  finalizeMinedSeenAt?: number;
}

/** First wait after a finalize that did not go through; doubled per failure up to the most. */
const FINALIZE_RETRY_BASE_MS = 1_000;
const FINALIZE_RETRY_MAX_MS = 60_000;
/**
 * How long a finalize of ours may show as mined while the confirmed market still shows the job
 * open before it is taken as undone (a reorg dropped it and it was not mined again) and sent
 * again. A second finalize of an already finalized job fails its estimate: nothing is spent.
 */
const FINALIZE_UNDONE_AFTER_MS = 60_000;

interface ReclaimerOptions {
  /** Providers that took part in the job (delivered, committed or revealed), from the market's events. */
  participants(jobId: bigint, job: Job): Promise<Address[]>;
  /** This runner's place on the provider roster (the order for a job nobody took part in). */
  roster(): Promise<RosterPlace>;
  sender: TxSubmitter;
  journal: { txsFor(jobId: bigint, kind: "reclaim" | "finalize"): TxRecord[] };
  router: Address;
  routerAbi: Abi;
  market: Address;
  marketAbi: Abi;
  log: Logger;
  /** Seconds each rank waits past the one before it. */
  turnSeconds: number;
  /** The provider's policy (`consumers.reclaim`): false leaves the deposit to others. */
  enabled: boolean;
  /** Wall clock in ms. */
  clock: () => number;
  /** Each reclaim's outcome (for a metric). */
  onOutcome?: (outcome: "reclaimed" | "already") => void;
}

/** What became of a refunded job's deposit at one look: nothing more to do, or look again. */
type ReclaimStep = { action: "done"; reason: string } | { action: "wait" };

/** One look at a job's deposit: `status` is the router's CallbackStatus just read. */
type Step = (j: ReclaimState, job: Job, status: number) => Promise<ReclaimStep>;

interface Reclaimer {
  /** A refunded job: reclaim its deposit. */
  reclaim: Step;
  /** A job past its last moment, not finalized: finalize it (the refund); `reclaim` follows. */
  expire: Step;
}

export function createReclaimer(o: ReclaimerOptions): Reclaimer {
  const log = o.log;
  const wait: ReclaimStep = { action: "wait" };

  const send = async (j: ReclaimState, reason: string): Promise<ReclaimStep> => {
    log.info("reclaiming a consumer callback deposit", {
      jobId: j.jobId,
      consumer: j.consumer,
      rank: j.reclaimRank,
      reason,
    });
    try {
      const receipt = await o.sender.send({
        jobId: j.jobId,
        kind: "reclaim",
        idempotent: true,
        to: o.router,
        data: encodeFunctionData({ abi: o.routerAbi, functionName: "reclaim", args: [j.jobId] }),
      });
      o.onOutcome?.("reclaimed");
      log.info("consumer callback deposit reclaimed", {
        jobId: j.jobId,
        consumer: j.consumer,
        amount: reclaimedAmount(o.routerAbi, receipt.logs ?? []),
        tx: receipt.transactionHash,
        gasUsed: receipt.gasUsed,
        effectiveGasPrice: receipt.effectiveGasPrice,
      });
      return { action: "done", reason: "our reclaim landed" };
    } catch (error) {
      if (isAlreadyReclaimed(error)) {
        o.onOutcome?.("already");
        log.info("consumer callback deposit already reclaimed by another", { jobId: j.jobId });
        return { action: "done", reason: "reclaimed by another" };
      }
      // Mined and reverted (another reclaim landed first in the same block, usually), or the
      // market's refund undone by a reorg: the next look reads the router's status again.
      log[error instanceof TxRevertedError ? "info" : "warn"]("reclaim did not go through; looking again", {
        jobId: j.jobId,
        error: oneLine(error),
      });
      return wait;
    }
  };

  /** This runner's rank for the job (read once), and whether its turn has come since `seenAt`. */
  const myTurn = async (j: ReclaimState, job: Job, seenAt: number): Promise<boolean> => {
    if (j.reclaimRank === undefined) {
      const [participants, roster] = await Promise.all([o.participants(j.jobId, job), o.roster()]);
      j.reclaimRank = reclaimRank(j.jobId, job.seed, participants, o.sender.address, roster);
    }
    return o.clock() >= seenAt + j.reclaimRank * o.turnSeconds * 1000;
  };

  const ownOf = (jobId: bigint, kind: "reclaim" | "finalize") =>
    ownFulfil(o.journal.txsFor(jobId, kind).filter((t) => t.status !== "replaced"));

  /**
   * Our own transaction of `kind` for the job: none, mined, or pending, in which case it is waited
   * for (this run's, or an earlier run's from the journal) before this returns.
   */
  const ownTx = async (jobId: bigint, kind: "reclaim" | "finalize"): Promise<"none" | "pending" | "mined"> => {
    const own = ownOf(jobId, kind);
    if (own !== "pending") return own;
    const pending = o.journal.txsFor(jobId, kind).find((t) => t.status === "signed" || t.status === "sent")!;
    await o.sender.resume(pending).then(
      () => log.info(`${kind} of an earlier run landed`, { jobId, tx: pending.hash }),
      (error: unknown) => log.warn(`${kind} of an earlier run did not land`, { jobId, error: oneLine(error) }),
    );
    return "pending";
  };

  const expire: Step = async (j, job, status) => {
    if (status !== CallbackStatus.Funded)
      return { action: "done", reason: `callback ${CALLBACK_STATUS[status] ?? status}` };
    // Off here: others (or the processor's expiry) may finalize it; a k > 1 job whose quorum
    // revealed then settles with a result to fulfil, so the job stays open.
    if (!o.enabled) return wait;
    // Shared with the processor's expiry service (same kind): whichever finalize of ours exists,
    // from this service or that one, this run or an earlier one, is the one waited for.
    // Pending: waited for. Mined: the market's refund shows once confirmed; if it never does, a
    // reorg undid it, and it is sent again.
    const own = await ownTx(j.jobId, "finalize");
    if (own === "pending") return wait;
    if (own === "mined") {
      j.finalizeMinedSeenAt ??= o.clock();
      if (o.clock() < j.finalizeMinedSeenAt + FINALIZE_UNDONE_AFTER_MS) return wait;
      log.warn("our finalize was mined but the job is still open (a reorg undid it); finalizing again", {
        jobId: j.jobId,
      });
      j.finalizeMinedSeenAt = undefined;
    }
    if (o.clock() < (j.finalizeRetryAt ?? 0)) return wait;
    j.endSeenAt ??= o.clock();
    if (!(await myTurn(j, job, j.endSeenAt))) return wait;
    log.info("finalizing an ended consumer job for its deposit", { jobId: j.jobId, rank: j.reclaimRank });
    try {
      const receipt = await o.sender.send({
        jobId: j.jobId,
        kind: "finalize",
        idempotent: true,
        to: o.market,
        data: encodeFunctionData({ abi: o.marketAbi, functionName: "finalize", args: [j.jobId, jobWords(job)] }),
        extraGas: settlementHeadroom("finalize", job.redundancy),
      });
      log.info("ended consumer job finalized", {
        jobId: j.jobId,
        tx: receipt.transactionHash,
        gasUsed: receipt.gasUsed,
      });
      j.finalizeFailures = 0;
    } catch (error) {
      // Another runner finalized it first (the market's status moved on), a reorg, or an RPC
      // fault: look again, after a wait that grows while it keeps failing.
      j.finalizeFailures = (j.finalizeFailures ?? 0) + 1;
      const retryInMs = backoffMs(j.finalizeFailures, FINALIZE_RETRY_BASE_MS, FINALIZE_RETRY_MAX_MS);
      j.finalizeRetryAt = o.clock() + retryInMs;
      log[error instanceof TxRevertedError || error instanceof TxWouldRevertError ? "info" : "warn"](
        "finalize did not go through; looking again",
        { jobId: j.jobId, error: oneLine(error), retryInMs },
      );
    }
    return wait;
  };

  const reclaim: Step = async (j, job, status) => {
    // A reclaim of ours (this run's or an earlier run's) that may still land: wait for that very
    // transaction, never sign another.
    const own = status === CallbackStatus.Funded ? await ownTx(j.jobId, "reclaim") : ownOf(j.jobId, "reclaim");
    if (own === "pending" && status === CallbackStatus.Funded) return wait;
    const facts = { status, ownTx: own, enabled: o.enabled, myTurn: true };
    const pre = decideReclaim(facts);
    if (pre.action !== "send") return pre.action === "done" ? { action: "done", reason: pre.reason } : wait;

    j.refundSeenAt ??= o.clock();
    const d = decideReclaim({ ...facts, myTurn: await myTurn(j, job, j.refundSeenAt) });
    if (d.action === "wait") {
      log.debug("not reclaiming now", { jobId: j.jobId, reason: d.reason, rank: j.reclaimRank });
      return wait;
    }
    if (d.action === "done") return { action: "done", reason: d.reason };
    return send(j, d.reason);
  };

  return { reclaim, expire };
}

/** The amount a mined reclaim credited, from the router's DepositReclaimed event (null if absent). */
function reclaimedAmount(routerAbi: Abi, logs: readonly Log[]): bigint | null {
  const events = parseEventLogs({ abi: routerAbi, logs: logs as Log[], strict: false }) as unknown as {
    eventName: string;
    args: { amount?: bigint };
  }[];
  return events.find((e) => e.eventName === "DepositReclaimed")?.args.amount ?? null;
}
