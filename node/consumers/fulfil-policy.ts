/**
 * The fulfiller's decisions, pure functions of what it read (so they are tested without a chain):
 * whether to fulfil a job's callback now and how (inline outputs or the hash only), whether to
 * reclaim the deposit of a job that ended without a result, the order in which runners take their
 * turn, and what a mined fulfil did.
 */
import { encodePacked, getAddress, keccak256, parseEventLogs, type Abi, type Address, type Hex, type Log } from "viem";
import { CALLBACK_STATUS, CallbackStatus } from "../chain/statuses.ts";
import { TxWouldRevertError } from "../chain/tx-sender.ts";
import { rankOf } from "../jobs/take-policy.ts";
import type { TxRecord } from "../journal/journal.ts";
import type { MarketView } from "./fulfiller.ts";

/** What to do about a job's callback now. */
export type FulfilDecision =
  | { action: "done"; reason: string }
  | { action: "wait"; reason: string }
  | { action: "send"; outputs: Hex; hashOnly: boolean; reason: string };

export interface FulfilFacts {
  /** The router's CallbackStatus. */
  status: number;
  /** A fulfil of ours was signed and may still land (or landed). */
  ownTx: "none" | "pending" | "mined";
  /** The market's view of the job. */
  market: MarketView["kind"];
  /** `isFinalResult` said yes (only asked once the market has a result). */
  final: boolean;
  /** This runner's turn has come. */
  myTurn: boolean;
  /** The consumer's cap and what a transaction pays now. */
  maxGasPrice: bigint;
  gasPrice: bigint;
  /** The canonical preimage if this runner holds (or fetched) it; null otherwise. */
  preimage: Uint8Array | null;
  /** keccak256 of the preimage must equal this. */
  resultHash: Hex | null;
  maxInlineOutputBytes: number;
}

/**
 * The fulfiller's decision from what it read: done (delivered by anyone, or no longer fundable),
 * wait (not final, not our turn, a fulfil of ours in flight, or the gas price above the
 * consumer's cap: the reimbursement would not cover the cost), or send, inline or hash only.
 */
export function decideFulfil(f: FulfilFacts): FulfilDecision {
  if (f.ownTx === "mined") return { action: "done", reason: "our fulfil landed" };
  if (f.status !== CallbackStatus.Funded)
    return { action: "done", reason: `callback ${CALLBACK_STATUS[f.status] ?? f.status}` };
  if (f.ownTx === "pending") return { action: "wait", reason: "our fulfil is waiting to be mined" };
  if (f.market === "refunded") return { action: "done", reason: "the job ended without a result: nothing to fulfil" };
  if (f.market === "wait") return { action: "wait", reason: "no result yet" };
  if (!f.final) return { action: "wait", reason: "result not final yet" };
  if (!f.myTurn) return { action: "wait", reason: "another runner's turn" };
  if (f.gasPrice > f.maxGasPrice)
    return {
      action: "wait",
      reason: `gas price ${f.gasPrice} above the consumer's cap ${f.maxGasPrice}: the reimbursement would not cover the cost`,
    };
  const mode = deliveryMode(f.preimage, f.resultHash, f.maxInlineOutputBytes);
  return { action: "send", ...mode };
}

/**
 * The largest outputs sent inline whatever the router allows: the router's deposit headroom
 * (FULFIL_OVERHEAD, contracts/consumers/ConsumerRouter.sol) is sized for a fulfil with this many
 * bytes of outputs in calldata (its default maxInlineOutputBytes). Larger outputs can cost more
 * than the deposit, and the fulfiller would bear the rest: they are delivered as a hash (the
 * consumer, or anyone, may retry with them at its own cost).
 */
export const REIMBURSED_INLINE_OUTPUT_BYTES = 4096;

/**
 * Inline outputs when held, matching the result and within both the router's limit and what the
 * deposit's headroom covers ({@link REIMBURSED_INLINE_OUTPUT_BYTES}); else the hash only.
 */
export function deliveryMode(
  preimage: Uint8Array | null,
  resultHash: Hex | null,
  maxInlineOutputBytes: number,
): { outputs: Hex; hashOnly: boolean; reason: string } {
  if (preimage === null) return { outputs: "0x", hashOnly: true, reason: "outputs not held" };
  if (resultHash !== null && keccak256(preimage) !== resultHash)
    return { outputs: "0x", hashOnly: true, reason: "held outputs do not hash to the result" };
  if (preimage.byteLength > maxInlineOutputBytes)
    return {
      outputs: "0x",
      hashOnly: true,
      reason: `outputs of ${preimage.byteLength} bytes above maxInlineOutputBytes ${maxInlineOutputBytes}`,
    };
  if (preimage.byteLength > REIMBURSED_INLINE_OUTPUT_BYTES)
    return {
      outputs: "0x",
      hashOnly: true,
      reason: `outputs of ${preimage.byteLength} bytes above the ${REIMBURSED_INLINE_OUTPUT_BYTES} the deposit's headroom covers`,
    };
  return { outputs: bytesToHex(preimage), hashOnly: false, reason: "outputs inline" };
}

/**
 * The order in which runners fulfil a job: its providers first, each at a place fixed by the job
 * (so not always the same one), everyone else after them. Returns this runner's rank.
 */
export function fulfilRank(jobId: bigint, deliverers: readonly Address[], me: Address): number {
  const key = (p: Address) =>
    BigInt(keccak256(encodePacked(["string", "uint256", "address"], ["fulfil", jobId, getAddress(p)])));
  const order = [...new Set(deliverers.map((p) => getAddress(p)))].sort((a, b) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0,
  );
  const i = order.indexOf(getAddress(me));
  return i < 0 ? order.length : i;
}

/**
 * The order in which runners reclaim the deposit of a job that ended without a result: the
 * providers that took part in it (delivered, committed or revealed) first, as {@link fulfilRank}
 * orders them, everyone else after them. A job nobody took part in (expired unserved, cancelled)
 * has no providers of its own: the runners then go in the job's assignment order, the permutation
 * of the provider roster the market drew from the job's seed (`rankOf`, the order in which
 * providers were to serve it), so each rank is one runner's; a runner not on the roster (exited,
 * say) goes after every provider on it.
 */
export function reclaimRank(
  jobId: bigint,
  seed: bigint,
  participants: readonly Address[],
  me: Address,
  roster: { rosterIndex: bigint; rosterSize: bigint },
): number {
  const { rosterIndex, rosterSize } = roster;
  const onRoster = rosterIndex >= rosterSize ? Number(rosterSize) : rankOf(seed, rosterIndex, rosterSize);
  const ranked = fulfilRank(jobId, participants, me);
  // The job's providers first; everyone else after them in the roster's order, one a rank (the
  // providers of a job that failed are often the ones offline).
  return ranked < participants.length ? ranked : participants.length + onRoster;
}

/** What to do about the deposit of a job the market refunded. */
type ReclaimDecision = { action: "done" | "wait" | "send"; reason: string };

export interface ReclaimFacts {
  /** The router's CallbackStatus. */
  status: number;
  /** A reclaim of ours was signed and may still land (or landed). */
  ownTx: "none" | "pending" | "mined";
  /** The provider's policy (`consumers.reclaim`). */
  enabled: boolean;
  /** This runner's turn has come. */
  myTurn: boolean;
}

/**
 * Whether to reclaim a refunded job's deposit now: done once anyone reclaimed it (or the callback
 * is no longer Funded) or our own reclaim landed, or when the provider turned reclaiming off; wait
 * while a reclaim of ours may still land or it is another runner's turn; else send. Unlike a
 * fulfil a reclaim is not reimbursed: it is a service, like expiring stale jobs.
 */
export function decideReclaim(f: ReclaimFacts): ReclaimDecision {
  if (f.ownTx === "mined") return { action: "done", reason: "our reclaim landed" };
  if (f.status !== CallbackStatus.Funded)
    return { action: "done", reason: `callback ${CALLBACK_STATUS[f.status] ?? f.status}` };
  if (f.ownTx === "pending") return { action: "wait", reason: "our reclaim is waiting to be mined" };
  if (!f.enabled) return { action: "done", reason: "the job ended without a result; reclaiming is off here" };
  if (!f.myTurn) return { action: "wait", reason: "another runner's turn" };
  return { action: "send", reason: "the job ended without a result" };
}

/** A reclaim's revert that means the deposit is no longer Funded: another runner reclaimed it first. */
export function isAlreadyReclaimed(error: unknown): boolean {
  return error instanceof TxWouldRevertError && error.errorName === "ConsumerRouterInvalidStatus";
}

/** A revert that means another fulfil (or a reclaim) came first. */
export function isAlreadyFulfilled(error: unknown): boolean {
  return (
    error instanceof TxWouldRevertError &&
    (error.errorName === "ConsumerRouterInvalidStatus" || error.errorName === "ConsumerRouterNotFunded")
  );
}

/** Our own fulfil (or reclaim) transactions for a job: landed, in flight, or none. */
export function ownFulfil(txs: readonly TxRecord[]): "none" | "pending" | "mined" {
  if (txs.some((t) => t.status === "mined")) return "mined";
  if (txs.some((t) => t.status === "signed" || t.status === "sent")) return "pending";
  return "none";
}

/** What a mined fulfil did, from the router's events in its receipt. */
export function callbackOutcome(routerAbi: Abi, logs: readonly Log[]): "delivered" | "failed" | "hash_only" {
  const events = parseEventLogs({ abi: routerAbi, logs: logs as Log[], strict: false }) as unknown as {
    eventName: string;
    args: { hashOnly?: boolean };
  }[];
  const delivered = events.find((e) => e.eventName === "CallbackDelivered");
  if (delivered) return delivered.args.hashOnly ? "hash_only" : "delivered";
  return "failed";
}

function bytesToHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`;
}
