import type {
  Abi,
  Address,
  ContractEventName,
  GetContractEventsParameters,
  GetContractEventsReturnType,
  PublicClient,
} from "viem";
import { logsToHead, type AdaptiveRange } from "./logs.ts";

type EventLogs<abi extends Abi, name extends ContractEventName<abi>> = GetContractEventsReturnType<
  abi,
  name,
  undefined,
  bigint,
  bigint
>;

/**
 * One contract's events of one name from `fromBlock` to the head, read in adaptive ranges
 * (logs.ts). `args` filters on indexed parameters; `range` is the caller's learnt range, kept
 * across reads (a fresh one otherwise).
 */
export function eventsToHead<const abi extends Abi, name extends ContractEventName<abi>>(
  publicClient: Pick<PublicClient, "getBlockNumber" | "getContractEvents">,
  contract: { address: Address; abi: abi },
  eventName: name,
  fromBlock: bigint | number,
  opts: { args?: GetContractEventsParameters<abi, name>["args"]; range?: AdaptiveRange } = {},
): Promise<EventLogs<abi, name>> {
  const { address, abi } = contract;
  return logsToHead<EventLogs<abi, name>[number]>(
    publicClient,
    fromBlock,
    (from, to) =>
      // viem cannot resolve its parameter type while the ABI is still generic: the signature types the call.
      publicClient.getContractEvents({
        address,
        abi,
        eventName,
        args: opts.args,
        fromBlock: from,
        toBlock: to,
      } as never),
    opts.range,
  );
}
