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

/** A receipt's logs of one market event, their arguments as far as they decode (none: an empty list). */
function receiptArgs<A>(marketAbi: Abi, receipt: { logs: readonly unknown[] }, eventName: string): Partial<A>[] {
  if (receipt.logs.length === 0) return [];
  const logs = parseEventLogs({
    abi: marketAbi,
    logs: receipt.logs as never,
    eventName: eventName as never,
    strict: false,
  }) as unknown as { args: Partial<A> }[];
  return logs.map((l) => l.args);
}

/** The seat `me` took, from a commit's receipt (its SeatCommitted log); null if it has none. */
export function seatFromReceipt(marketAbi: Abi, receipt: { logs: readonly unknown[] }, me: Address): number | null {
  const mine = receiptArgs<{ provider: Address; seat: number }>(marketAbi, receipt, "SeatCommitted").find(
    (a) => a.provider && getAddress(a.provider) === getAddress(me),
  );
  return mine?.seat === undefined ? null : Number(mine.seat);
}

/** Whether a commit's receipt started the job's reveal (its RevealStarted log: the last seat was taken). */
export function startsReveal(marketAbi: Abi, receipt: { logs: readonly unknown[] }, jobId: bigint): boolean {
  return receiptArgs<{ jobId: bigint }>(marketAbi, receipt, "RevealStarted").some((a) => a.jobId === jobId);
}
