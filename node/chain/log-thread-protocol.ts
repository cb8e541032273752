/** Messages between the runner and its chain-log thread (log-thread.ts, log-worker.ts). */
import type { Abi, Address, Hex } from "viem";
import type { LogQuery } from "./logs.ts";

export interface LogThreadConfig {
  urls: string[];
  timeoutMs: number;
  retryCount: number;
  abi: Abi;
}

export interface LogThreadRequest {
  id: number;
  query: LogQuery;
}

/** A decoded event as it crosses: a JobRequested `input` argument arrives as bytes. */
export interface WireLog {
  address: Address;
  blockHash: Hex;
  blockNumber: bigint;
  logIndex: number;
  transactionHash: Hex;
  transactionIndex: number;
  removed: boolean;
  eventName: string;
  args: Record<string, unknown>;
}

/** One link of an error's cause chain, outermost first. */
export interface WireError {
  name: string;
  message: string;
  shortMessage?: string;
  details?: string;
  code?: number | string;
  status?: number;
}

/** JSON-RPC requests of one method the thread sent to one endpoint (see OnRpcCall). */
export interface RpcCallCount {
  method: string;
  endpoint: number;
  count: number;
}

/** A query's answer, with the requests the thread sent since its previous reply (`calls`). */
export type LogThreadReply = ({ id: number; logs: WireLog[] } | { id: number; error: WireError[] }) & {
  calls?: RpcCallCount[];
};
