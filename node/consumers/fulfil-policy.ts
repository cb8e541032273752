/**
 * The fulfiller's decisions, pure functions of what it read (so they are tested without a chain):
 * whether to fulfil a job's callback now and how (inline outputs or the hash only), the order in
 * which runners take their turn, and what a mined fulfil did.
 */
import { encodePacked, getAddress, keccak256, parseEventLogs, type Abi, type Address, type Hex, type Log } from "viem";
import { CALLBACK_STATUS, CallbackStatus } from "../chain/statuses.ts";
import { TxWouldRevertError } from "../chain/tx-sender.ts";
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
  if (f.market === "refunded")
    return { action: "done", reason: "the job ended without a result (its deposit is reclaimable)" };
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

/** A revert that means another fulfil (or a reclaim) came first. */
export function isAlreadyFulfilled(error: unknown): boolean {
  return (
    error instanceof TxWouldRevertError &&
    (error.errorName === "ConsumerRouterInvalidStatus" || error.errorName === "ConsumerRouterNotFunded")
  );
}

/** Our own fulfil transactions for a job: landed, in flight, or none. */
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
