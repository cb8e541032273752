import { keccak256, toHex, zeroAddress } from "viem";
import type { IndexedLog } from "../../node/dashboard/indexer.ts";

/** Events as the dashboard's index hands them over, one block per event, `t` the block time. */
export function indexedLogs(list: [t: number, eventName: string, args: Record<string, unknown>][]): IndexedLog[] {
  return list.map(([timestamp, eventName, args], i) => ({
    blockNumber: i + 1,
    blockHash: keccak256(toHex(i)),
    logIndex: 0,
    transactionHash: keccak256(toHex(`tx${i}`)),
    address: zeroAddress,
    eventName,
    args,
    timestamp,
  }));
}
