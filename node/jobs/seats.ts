import { getAddress, parseEventLogs, type Abi, type Address } from "viem";
import type { ChainReader } from "./processor-options.ts";

/** Which of a k > 1 job's first `seated` seats `me` holds (null if none), read from the chain. */
export async function findSeat(
  chain: Pick<ChainReader, "seatOf">,
  jobId: bigint,
  seated: number,
  me: Address,
): Promise<number | null> {
  const seats = await Promise.all(Array.from({ length: seated }, (_, i) => chain.seatOf(jobId, i)));
  const i = seats.findIndex((who) => getAddress(who) === getAddress(me));
  return i < 0 ? null : i;
}

/** The seat `me` took, from a commit's receipt (its SeatCommitted log); null if it has none. */
export function seatFromReceipt(marketAbi: Abi, receipt: { logs: readonly unknown[] }, me: Address): number | null {
  if (receipt.logs.length === 0) return null;
  const logs = parseEventLogs({
    abi: marketAbi,
    logs: receipt.logs as never,
    eventName: "SeatCommitted" as never,
    strict: false,
  }) as unknown as { args: { provider?: Address; seat?: number } }[];
  const mine = logs.find((l) => l.args.provider && getAddress(l.args.provider) === getAddress(me));
  return mine?.args.seat === undefined ? null : Number(mine.args.seat);
}

/** Whether a commit's receipt started the job's reveal (its RevealStarted log: the last seat was taken). */
export function startsReveal(marketAbi: Abi, receipt: { logs: readonly unknown[] }, jobId: bigint): boolean {
  if (receipt.logs.length === 0) return false;
  const logs = parseEventLogs({
    abi: marketAbi,
    logs: receipt.logs as never,
    eventName: "RevealStarted" as never,
    strict: false,
  }) as unknown as { args: { jobId?: bigint } }[];
  return logs.some((l) => l.args.jobId === jobId);
}
