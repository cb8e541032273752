/**
 * Runners reclaim callback deposits as a service: when a funded job ends without a result (the
 * market's status Refunded: expired, cancelled, no quorum, a k = 1 result a jury found wrong), the
 * fulfiller hands the job here, and one runner calls `router.reclaim(jobId)` (anyone may; the
 * router credits the deposit to the consumer), so the consumer gets its deposit back with no manual
 * step.
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
import { CallbackStatus } from "../chain/statuses.ts";
import { TxRevertedError, type TxSubmitter } from "../chain/tx-sender.ts";
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
}

interface ReclaimerOptions {
  /** Providers that took part in the job (delivered, committed or revealed), from the market's events. */
  participants(jobId: bigint, job: Job): Promise<Address[]>;
  /** This runner's place on the provider roster (the order for a job nobody took part in). */
  roster(): Promise<RosterPlace>;
  sender: TxSubmitter;
  journal: { txsFor(jobId: bigint, kind: "reclaim"): TxRecord[] };
  router: Address;
  routerAbi: Abi;
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

/** One look at a refunded job's deposit: `status` is the router's CallbackStatus just read. */
type Reclaimer = (j: ReclaimState, job: Job, status: number) => Promise<ReclaimStep>;

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

  return async (j, job, status) => {
    const ownTxs = o.journal.txsFor(j.jobId, "reclaim").filter((t) => t.status !== "replaced");
    const own = ownFulfil(ownTxs);
    // A reclaim of ours (this run's or an earlier run's) that may still land: wait for that very
    // transaction, never sign another.
    if (own === "pending" && status === CallbackStatus.Funded) {
      const pending = ownTxs.find((t) => t.status === "signed" || t.status === "sent")!;
      await o.sender.resume(pending).then(
        () => log.info("reclaim of an earlier run landed", { jobId: j.jobId, tx: pending.hash }),
        (error: unknown) =>
          log.warn("reclaim of an earlier run did not land", { jobId: j.jobId, error: oneLine(error) }),
      );
      return wait;
    }
    const facts = { status, ownTx: own, enabled: o.enabled, myTurn: true };
    const pre = decideReclaim(facts);
    if (pre.action !== "send") return pre.action === "done" ? { action: "done", reason: pre.reason } : wait;

    j.refundSeenAt ??= o.clock();
    if (j.reclaimRank === undefined) {
      const [participants, roster] = await Promise.all([o.participants(j.jobId, job), o.roster()]);
      j.reclaimRank = reclaimRank(j.jobId, job.seed, participants, o.sender.address, roster);
    }
    const myTurn = o.clock() >= j.refundSeenAt + j.reclaimRank * o.turnSeconds * 1000;
    const d = decideReclaim({ ...facts, myTurn });
    if (d.action === "wait") {
      log.debug("not reclaiming now", { jobId: j.jobId, reason: d.reason, rank: j.reclaimRank });
      return wait;
    }
    if (d.action === "done") return { action: "done", reason: d.reason };
    return send(j, d.reason);
  };
}

/** The amount a mined reclaim credited, from the router's DepositReclaimed event (null if absent). */
function reclaimedAmount(routerAbi: Abi, logs: readonly Log[]): bigint | null {
  const events = parseEventLogs({ abi: routerAbi, logs: logs as Log[], strict: false }) as unknown as {
    eventName: string;
    args: { amount?: bigint };
  }[];
  return events.find((e) => e.eventName === "DepositReclaimed")?.args.amount ?? null;
}
