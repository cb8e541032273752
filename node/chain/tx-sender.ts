/**
 * The transaction sender's contract: its typed errors, what a request and the RPC facade are, the
 * submitter interface that the services depend on, and its options. The sender itself is
 * tx-pipeline.ts (sign, record and broadcast in nonce order) over tx-confirmations.ts (one
 * confirmation loop per nonce) over tx-sender-base.ts (state, fees, broadcast, retries).
 */
import {
  type Abi,
  type Address,
  type Chain,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
} from "viem";
import { FatalError, RetryableError } from "../errors.ts";
import { reuseFor } from "./reuse-for.ts";
import type { Journal, TxKind, TxRecord } from "../journal/journal.ts";
import type { Logger } from "../log.ts";

/** The transaction would revert (checked before sending): nothing was sent, no nonce used. */
export class TxWouldRevertError extends FatalError {
  readonly code = "TX_WOULD_REVERT";
  readonly errorName: string | undefined;
  constructor(message: string, errorName: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.errorName = errorName;
  }
}

/** The transaction was mined and reverted. */
export class TxRevertedError extends FatalError {
  readonly code = "TX_REVERTED";
}

/**
 * After a reorg the transaction would revert on the new chain (the job it was for moved or is
 * gone), so its nonce was given to a no-op instead: a transfer of nothing to ourselves, 21,000 gas
 * rather than a reverted call. Nothing the caller wanted happened; it reads the chain again.
 */
export class TxVoidedError extends RetryableError {
  readonly code = "TX_VOIDED";
}

/**
 * The transaction could not be made or confirmed now (estimate failed, the sender was closed while
 * it waited). Whatever was signed stays in the journal and is confirmed by a later run.
 */
export class TxNotConfirmedError extends RetryableError {
  readonly code = "TX_NOT_CONFIRMED";
}

/**
 * The nonce of the transaction was used by a transaction that is none of ours: the node answered
 * "not found" for every attempt we signed with it after the account's nonce had passed it. The
 * call was not made; the caller must read the chain (someone else may have done what it wanted to
 * do, e.g. the same key used elsewhere) before sending anything again.
 */
export class TxNonceTakenError extends RetryableError {
  readonly code = "TX_NONCE_TAKEN";
}

export interface TxRequest {
  jobId: bigint | null;
  kind: TxKind;
  to: Address;
  data: Hex;
  value?: bigint;
  /**
   * Gas on top of the estimate, for calls whose cost depends on what lands before them: the
   * estimate of a reveal is taken while others are still missing, but the reveal mined last
   * settles the whole job. Unused gas is not paid for.
   */
  extraGas?: bigint;
  /**
   * The least gas limit, whatever the estimate: for calls that must forward a fixed amount of gas
   * to another contract (a consumer's callback, EIP-150), which an estimate may not see.
   */
  minGas?: bigint;
  /** A batch: the jobs it carries, journaled with its record (see Journal.batchTxsFor). */
  jobIds?: readonly bigint[];
  /** Called once the transaction holds its nonce (signed and journaled), before it is mined. */
  onQueued?: () => void;
  /**
   * The call means the same whoever asks and however often (a finalize, a reclaim): asked for
   * again while one is in flight, it joins that one instead of sending a second (which could only
   * revert). `onQueued` is then not called.
   */
  idempotent?: boolean;
}

export interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

/** The few JSON-RPC calls the sender makes (a viem PublicClient satisfies it). */
export interface TxRpc {
  getTransactionCount(args: { address: Address; blockTag: "latest" | "pending" }): Promise<number>;
  /** Throws viem's TransactionReceiptNotFoundError while the transaction is not mined. */
  getTransactionReceipt(args: { hash: Hex }): Promise<TransactionReceipt>;
  sendRawTransaction(args: { serializedTransaction: Hex }): Promise<Hex>;
  estimateGas(args: { account: LocalAccount; to: Address; data: Hex; value: bigint }): Promise<bigint>;
  estimateFeesPerGas(): Promise<Fees>;
  /**
   * The base fee the next block will charge (null on a chain without one): known as soon as the
   * latest block is, so a spike is seen one block before it strands anything. Optional: with it,
   * every transaction is priced at twice that fee or more, and a waiting one the base fee rose
   * above is re-priced at its next look instead of after the whole confirmation timeout.
   */
  nextBaseFee?(): Promise<bigint | null>;
  /**
   * The latest block's number. Optional: with it, a waiting transaction's receipt is looked for
   * again only once a new block came (or a while passed), not at every poll: in a burst, hundreds
   * of transactions wait at once and each look is a round trip for the runner and the node.
   */
  blockNumber?(): Promise<bigint>;
  /**
   * The latest block's gas limit. Optional: with it, no transaction is signed for more gas than a
   * block holds (nor than EIP-7825's cap, known or not): a node refuses one at every broadcast, and
   * the nonce it holds, with every later one, would wait forever. One whose estimate is above it is
   * refused before it is signed.
   */
  blockGasLimit?(): Promise<bigint>;
}

/**
 * How long one answer of the next base fee, the fee estimate and the latest block number is reused
 * (every confirmation loop and every new transaction asks for them).
 */
const CHAIN_HEAD_TTL_MS = 200;

/**
 * A {@link TxRpc} over a viem public client; the next base fee, the fee estimate and the latest
 * block number are read at most every 200 ms.
 */
/** How long one answer of the block gas limit is reused (ms). */
const BLOCK_GAS_LIMIT_TTL_MS = 60_000;

export function txRpcOf(publicClient: PublicClient): TxRpc {
  // eth_feeHistory's last base fee is the next block's: what every provider serves (a "pending"
  // block is not), and what a node checks a new transaction against.
  const nextBaseFee = reuseFor(
    CHAIN_HEAD_TTL_MS,
    async () =>
      (await publicClient.getFeeHistory({ blockCount: 1, rewardPercentiles: [] })).baseFeePerGas.at(-1) ?? null,
  );
  return {
    getTransactionCount: (args) => publicClient.getTransactionCount(args),
    getTransactionReceipt: (args) => publicClient.getTransactionReceipt(args),
    sendRawTransaction: (args) => publicClient.sendRawTransaction(args),
    // Gas only: viem would prepare a whole transaction for a local account (eth_fillTransaction,
    // then the nonce and fee reads where a provider does not serve it), four calls instead of one.
    estimateGas: (args) => publicClient.estimateGas({ ...args, prepare: false }),
    // viem's estimate is two calls (the latest block, the tip): one answer serves a burst's sends.
    estimateFeesPerGas: reuseFor(CHAIN_HEAD_TTL_MS, () => publicClient.estimateFeesPerGas()),
    nextBaseFee,
    blockNumber: reuseFor(CHAIN_HEAD_TTL_MS, () => publicClient.getBlockNumber({ cacheTime: 0 })),
    // It moves a little per block on some chains (a validator vote), never by much at once.
    blockGasLimit: reuseFor(BLOCK_GAS_LIMIT_TTL_MS, async () => (await publicClient.getBlock()).gasLimit),
  };
}

/** What the job processor and the payouts need from a sender (fakes implement it in tests). */
export interface TxSubmitter {
  readonly address: Address;
  /** Re-broadcasts what an earlier run left unsettled and picks the next nonce; does not wait for receipts. */
  init(): Promise<void>;
  /** Sends one transaction and resolves with its receipt once mined (successfully). */
  send(req: TxRequest): Promise<TransactionReceipt>;
  /** Waits for a journaled transaction (and its replacements) of this or an earlier run. */
  resume(tx: TxRecord): Promise<TransactionReceipt>;
  /**
   * After a reorg: re-broadcasts our transactions the new chain no longer holds, and voids those
   * that would now revert (see {@link TxVoidedError}).
   */
  reconcile(): Promise<void>;
  /** Stops waiting: pending sends and resumes reject with TxNotConfirmedError. */
  close(): void;
}

/** The runner's sender: a {@link TxSubmitter} that is told of each new head (see `noteHead` in tx-sender-base.ts). */
export interface HeadAwareSubmitter extends TxSubmitter {
  noteHead(block: bigint): void;
}

/** Observations for metrics. */
export type TxEvent =
  | { type: "feeBump"; kind: TxKind; nonce: number; fees: Fees; capped: boolean }
  | { type: "rpcError"; method: keyof TxRpc; error: unknown }
  | { type: "nonceResync"; from: number; to: number }
  | { type: "nonceTaken"; kind: TxKind; nonce: number }
  | { type: "voided"; kind: TxKind; nonce: number };

export interface TxSenderOptions {
  rpc: TxRpc;
  chain: Chain;
  account: LocalAccount;
  journal: Journal;
  log: Logger;
  /** ABI used to name custom errors of reverting calls. */
  errorAbi: Abi;
  /** How long one attempt may wait for its receipt before its fees are bumped. */
  confirmTimeoutMs: number;
  /** Each replacement pays at least this much more (both fee caps); at least 10 (nodes' rule). */
  feeBumpPercent: number;
  /** No attempt is signed with a higher maxFeePerGas (wei). */
  maxFeePerGas: bigint;
  /** Receipt polling interval (ms); default 200. */
  pollIntervalMs?: number;
  /** Longest pause between retries of a failing RPC call (ms); default 5000. */
  maxBackoffMs?: number;
  /** How often a waiting transaction is broadcast again (default 3 s). */
  rebroadcastMs?: number;
  onFailure?: (kind: TxKind) => void;
  onEvent?: (event: TxEvent) => void;
}
