/**
 * What the job processor (processor.ts) is made of and made with: its options and the facades it
 * reads the chain, sends transactions and fetches models through, its typed error, its limits, and
 * the pure timing and gas rules its steps share.
 */
import { encodePacked, keccak256, type Abi, type Address, type Hex } from "viem";
import { decodeOutputRef } from "../attest/output-ref.ts";
import { JobStatus } from "../chain/statuses.ts";
import type { TxSubmitter as FullTxSubmitter } from "../chain/tx-sender.ts";
import { FatalError, RetryableError } from "../errors.ts";
import type { Executor } from "../inference/executor-options.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import type { Journal, TxKind } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../http/metrics.ts";
import { type LocalModel, type VersionInfo } from "../models/store.ts";
import type { Tensor } from "../tensors/dtypes.ts";
import { type TakeContext } from "./take-policy.ts";
import type { DeliveryBatcher } from "./delivery-batcher.ts";
import type { StakeReservations } from "./stake-reservations.ts";
import type { ServiceDeps } from "../service.ts";

/** Statuses in which a job has ended: nothing is left to do for it on-chain. */
export function hasEnded(status: number): boolean {
  return status === JobStatus.Settled || status === JobStatus.Refunded || status === JobStatus.None;
}

/**
 * A job whose request the scan took reads as no job at all within this many chain seconds of its
 * request only on a node behind the scanned blocks: no job ends (and has its word deleted) this
 * soon. Such a read is made again after NOT_ON_NODE_RETRY_MS.
 */
export const NOT_ON_NODE_SECONDS = 30;
export const NOT_ON_NODE_RETRY_MS = 250;

/** A job read as absent from the chain by a node behind the blocks the watcher scanned. */
export class JobNotOnNodeError extends RetryableError {
  readonly code = "JOB_NOT_ON_NODE";
}

/** The job's input cannot be used (fetch, size, format, hash): the job ends with this reason. */
export class JobInputError extends FatalError {
  readonly code = "JOB_INPUT_INVALID";
}

/** Reads the processor needs from the chain (a thin, mockable facade over viem contracts). */
export interface ChainReader {
  now(): Promise<number>;
  /** `revealStartedAt` is the delivery time of a Delivered k = 1 job (its challenge window starts then). */
  jobState(jobId: bigint): Promise<{ status: number; seated: number; revealed: number; revealStartedAt: number }>;
  version(modelId: Hex, version: number): Promise<VersionInfo & { accepting: boolean }>;
  providerTerms(): Promise<TakeContext["provider"]>;
  seatOf(jobId: bigint, seat: number): Promise<Address>;
  /**
   * Whether the chain holds a SeatSlashed event naming this provider for the job (its seat was
   * slashed: silent, or outvoted by a quorum), scanning from `fromBlock` (its request block).
   */
  seatSlashed(jobId: bigint, fromBlock: number): Promise<boolean>;
  /** The result hash of this provider's ResultRevealed event for a k > 1 job (null: none), scanning from `fromBlock`. */
  revealedResult(jobId: bigint, fromBlock: number): Promise<Hex | null>;
  /** The provider and result of a k = 1 job's latest ResultSubmitted event, scanning from `fromBlock` (its request block). */
  delivery(jobId: bigint, fromBlock: number): Promise<{ provider: Address; resultHash: Hex } | null>;
}

/** What the processor needs of the transaction sender. */
export type TxSubmitter = Pick<FullTxSubmitter, "address" | "send" | "resume">;

/** What the processor needs of the model store. */
export interface ModelSource {
  ensure(v: VersionInfo): Promise<LocalModel>;
  evict(v: { modelId: Hex; version: number }): void;
}

/** Which stale jobs the runner finalizes: those it holds a seat in, every job it saw, or none. */
export type ExpiryMode = "own" | "all" | "off";

export interface ProcessorOptions extends ServiceDeps {
  journal: Journal;
  chain: ChainReader;
  sender: TxSubmitter;
  market: Address;
  marketAbi: Abi;
  models: ModelSource;
  content: Pick<ContentStore, "get" | "add" | "release">;
  executor: Pick<Executor, "load" | "run" | "unload">;
  metrics: Metrics;
  log: Logger;
  allowedModels: ReadonlySet<Hex> | null;
  minFee: (token: Address) => bigint | undefined;
  maxConcurrentJobs: number;
  maxInputBytes: number;
  inlineOutputMaxBytes: number;
  inferenceTimeoutMs: number;
  fetchTimeoutMs: number;
  expireStaleJobs: ExpiryMode;
  /** Prefetch the weights of newly activated versions (of the models this runner serves). */
  prefetch: boolean;
  /**
   * Whether to abstain from a result (a reason) or not (null): outputs too close to a
   * quantization boundary may round differently on another honest machine.
   */
  abstain?: (outputs: Record<string, Tensor>, outputQuantum: number) => string | null;
  /** Seconds a commit must leave before the commit deadline (blocks, the runner's own queue). */
  commitMarginSeconds: number;
  /** The shortest reveal window a runner commits into (a reveal must fit with margin). */
  revealMarginSeconds: number;
  /** Backoff of a job's retried step: first delay and cap, in ms. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How often a job waiting for the chain is looked at when no event woke it, in ms. */
  followIntervalMs: number;
  /** Ended jobs are forgotten (journal rows, outputs, pins) this long after they ended, in ms. */
  retentionMs: number;
  /** Jobs advanced at the same time (chain reads and transactions; compute has its own cap). */
  maxConcurrentSteps: number;
  /**
   * Before a first k = 1 result or commit, wait a share of this (ms) derived from (job, provider):
   * the runners that drew the shortest waits go first and the others, reading the chain after
   * theirs, find the job taken instead of sending a transaction bound to revert.
   */
  spreadMs: number;
  /**
   * Batched k = 1 delivery: ready results ride together in one transaction (see
   * delivery-batcher.ts). Without it each result is its own submitResult.
   */
  batcher?: DeliveryBatcher;
  /** Collateral taken on and not locked yet, shared with the court (default: the processor's own). */
  stake?: StakeReservations;
  /** Wall clock in ms (tests pass a fake). */
  clock?: () => number;
}

/** A worker crash caused by a job's input twice is the input's fault, not the machine's. */
export const MAX_CRASHES_PER_JOB = 2;
/** A transaction the node refuses as "would revert" while the job is still open: asked again this often. */
export const MAX_WOULD_REVERT = 3;
/** The registry's refusal of a lock our free stake cannot cover: a wait for stake, not a lost job. */
export const STAKE_SHORT_ERROR = "ProviderRegistryInsufficientFreeStake";
/** The market's refusal of a job whose words do not match its record: none at all on a node behind. */
export const JOB_MISMATCH = "InferenceMarketJobMismatch";
/**
 * Claims sent for one delivery at most. A claim that lands but is skipped (a reorg moved the
 * delivery later, so its window was still open) or reverts (it ran out of gas on a path its
 * estimate did not take) is sent again while the job is still delivered.
 */
export const MAX_CLAIMS = 4;

/** A provider's wait (0 to spreadMs) before its first result or commit for a job: uniform, fixed per (job, provider). */
export function spreadDelayMs(jobId: bigint, provider: Address, spreadMs: number): number {
  const h = BigInt(keccak256(encodePacked(["string", "uint256", "address"], ["spread", jobId, provider])));
  return Number(h % 1_000_000n) * (spreadMs / 1_000_000);
}

/** Seconds (0–29) a runner waits past a job's end before finalizing a job it holds no seat in. */
export function finalizeStagger(jobId: bigint, provider: Address): number {
  return Number(BigInt(keccak256(encodePacked(["uint256", "address"], [jobId, provider]))) % 30n);
}

export function safeDecodeRef(ref: Hex) {
  try {
    return decodeOutputRef(ref);
  } catch {
    return null;
  }
}

/**
 * Gas a commit, reveal, finalize or resolve may need beyond its estimate because it may be the one
 * that settles the job (credits, collateral release and slashing for every seat, or a jury's).
 * Measured settlement costs are below 60k gas per seat; the headroom is generous because unused
 * gas costs nothing and a reveal that runs out of gas is slashed as missing.
 */
export function settlementHeadroom(kind: TxKind, seats: number): bigint {
  if (kind === "submit" || kind === "withdraw" || kind === "challenge") return 0n;
  // A claim's estimate may take the cheap path (skipped) when its block lands on the full one.
  if (kind === "claim") return 100_000n * BigInt(seats);
  return 50_000n + 80_000n * BigInt(seats);
}
