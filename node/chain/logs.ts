import type { Address, Hex } from "viem";
import { FatalError, RetryableError } from "../errors.ts";

/** An eth_getLogs query of some contracts' events: over a range of blocks, or in one block by its hash. */
export type LogQuery = { address: Address[] } & ({ fromBlock: bigint; toBlock: bigint } | { blockHash: Hex });

/** The provider asked us to slow down (HTTP 429, JSON-RPC -32029): back off, keep the range. */
export class RpcRateLimitedError extends RetryableError {
  readonly code = "RPC_RATE_LIMITED";
}

/**
 * An RPC call failed without a definite answer (network, timeout, 5xx, an unknown provider
 * error): the same call may succeed later, so nothing may be concluded from it.
 */
export class RpcFailedError extends RetryableError {
  readonly code = "RPC_FAILED";
}

/** Even a one-block eth_getLogs query is over the provider's limits: splitting cannot help. */
export class LogQueryTooLargeError extends FatalError {
  readonly code = "LOG_QUERY_TOO_LARGE";
}

export type LogErrorKind = "too-large" | "rate-limited" | "other";

// Providers say "too large" in many words; these are the ones seen in the wild (geth, Infura,
// Alchemy, QuickNode, Ankr, Erigon, Nethermind, Besu, public RPCs). Anything else is "other".
const TOO_LARGE = [
  /query returned more than \d+ results/i,
  /block range/i,
  /range (is )?too (large|wide|big)/i,
  /exceeds? (the )?max(imum)? (block )?range/i,
  /log response size exceeded/i,
  /response (size )?(is )?too (large|big)/i,
  /response size exceeded/i,
  /too many (results|logs|blocks|events)/i,
  /limit exceeded/i,
  /max(imum)? results/i,
  // viem's own: an answer over its 10 MiB default body limit (a range's logs, inline inputs and
  // all, in too many bytes). Not split, the same range would fail on every poll.
  /response body exceeded the size limit/i,
];
const RATE_LIMITED = [/rate.?limit/i, /too many requests/i, /request limit/i, /compute units/i, /throttl/i];

/** Every error in an error's cause chain (viem wraps the provider's answer several levels deep). */
export function causeChain(error: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = error;
  while (e !== undefined && e !== null && out.length < 16 && !out.includes(e)) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/**
 * What an eth_getLogs failure means for the range that caused it. Providers signal their limits
 * only in codes and prose, so text is matched here (and only here); callers branch on the kind.
 */
export function classifyLogError(error: unknown): LogErrorKind {
  const links = causeChain(error);
  const codes = links.map((e) => (e as { code?: unknown }).code).filter((c): c is number => typeof c === "number");
  const statuses = links
    .map((e) => (e as { status?: unknown }).status)
    .filter((s): s is number => typeof s === "number");
  const text = links
    .flatMap((e) => [
      (e as { details?: unknown }).details,
      (e as { shortMessage?: unknown }).shortMessage,
      (e as { message?: unknown }).message,
    ])
    .filter((t): t is string => typeof t === "string")
    .join("\n");
  // Rate limits first: "Too Many Requests" (429) must not read as "too many results".
  if (statuses.includes(429) || codes.includes(-32029) || codes.includes(429) || RATE_LIMITED.some((r) => r.test(text)))
    return "rate-limited";
  if (statuses.includes(413) || codes.includes(-32005) || TOO_LARGE.some((r) => r.test(text))) return "too-large";
  return "other";
}

export interface AdaptiveRangeOptions {
  /** Blocks per query to begin with (default 2,000, or `maxRange` if smaller). */
  initialRange?: number;
  /** Never more blocks per query than this (default 2,000). */
  maxRange?: number;
  /** Successful queries in a row before the range grows again (default 4). */
  growAfter?: number;
}

/**
 * The number of blocks per eth_getLogs query, learnt from the provider: halved on every "too
 * large" answer (down to one block), grown back by half after a run of successes (up to the
 * maximum), so one busy stretch of blocks does not slow every later query.
 */
export class AdaptiveRange {
  readonly max: number;
  private current: number;
  private readonly growAfter: number;
  private streak = 0;

  constructor(opts: AdaptiveRangeOptions = {}) {
    this.max = Math.max(1, Math.floor(opts.maxRange ?? 2_000));
    this.current = Math.min(this.max, Math.max(1, Math.floor(opts.initialRange ?? this.max)));
    this.growAfter = Math.max(1, Math.floor(opts.growAfter ?? 4));
  }

  get size(): number {
    return this.current;
  }

  /** A query of `span` blocks was too large. Returns false when nothing smaller is possible. */
  shrink(span: number): boolean {
    this.streak = 0;
    if (span <= 1) return false;
    this.current = Math.max(1, Math.min(this.current, Math.floor(span / 2)));
    return true;
  }

  succeeded(): void {
    if (++this.streak < this.growAfter || this.current >= this.max) return;
    this.streak = 0;
    this.current = Math.min(this.max, this.current + Math.max(1, Math.floor(this.current / 2)));
  }
}

interface GetLogsAdaptiveOptions<T> {
  fromBlock: number;
  toBlock: number;
  /** Shared between calls so every query starts from what the provider last accepted. */
  range: AdaptiveRange;
  /** One query, inclusive on both ends. */
  query: (fromBlock: number, toBlock: number) => Promise<T[]>;
  /** Rate-limit answers retried here, with doubling delays, before giving up (default 5). */
  rateLimitRetries?: number;
  /** First back-off delay after a rate-limit answer (default 500 ms, doubling up to 10 s). */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Every failed query, also those retried here (for a metric). */
  onRpcError?: (error: unknown, kind: LogErrorKind) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * All logs in [fromBlock, toBlock], in chain order, each once: the span is queried in chunks of
 * the adaptive range; a chunk the provider finds too large is split and asked again, a
 * rate-limited one is asked again after a pause. Any other failure is thrown as
 * {@link RpcFailedError} (retryable, with the provider's error as cause).
 */
export async function getLogsAdaptive<T>(o: GetLogsAdaptiveOptions<T>): Promise<T[]> {
  const sleep = o.sleep ?? defaultSleep;
  const retries = o.rateLimitRetries ?? 5;
  const out: T[] = [];
  let from = o.fromBlock;
  let limited = 0;
  let delay = o.backoffMs ?? 500;
  while (from <= o.toBlock) {
    const to = Math.min(o.toBlock, from + o.range.size - 1);
    let logs: T[];
    try {
      logs = await o.query(from, to);
    } catch (error) {
      const kind = classifyLogError(error);
      o.onRpcError?.(error, kind);
      if (kind === "too-large") {
        if (!o.range.shrink(to - from + 1))
          throw new LogQueryTooLargeError(`eth_getLogs for block ${from} alone is over the provider's limits`, {
            cause: error,
          });
        continue;
      }
      if (kind === "rate-limited") {
        if (limited++ >= retries)
          throw new RpcRateLimitedError(`eth_getLogs rate-limited ${limited} times in a row`, { cause: error });
        await sleep(delay);
        delay = Math.min(delay * 2, 10_000);
        continue;
      }
      throw new RpcFailedError(`eth_getLogs ${from}..${to} failed`, { cause: error });
    }
    limited = 0;
    delay = o.backoffMs ?? 500;
    o.range.succeeded();
    out.push(...logs);
    from = to + 1;
  }
  return out;
}

/**
 * Every log `query` finds from `fromBlock` to the current head, queried in ranges that adapt to
 * the provider's limits (public RPCs refuse a scan from a deployment block in one query).
 */
export async function logsToHead<T>(
  publicClient: { getBlockNumber(args: { cacheTime: number }): Promise<bigint> },
  fromBlock: bigint | number,
  query: (fromBlock: bigint, toBlock: bigint) => Promise<T[]>,
  range: AdaptiveRange = new AdaptiveRange(),
): Promise<T[]> {
  const head = Number(await publicClient.getBlockNumber({ cacheTime: 0 }));
  return getLogsAdaptive({
    fromBlock: Number(fromBlock),
    toBlock: head,
    range,
    query: (from, to) => query(BigInt(from), BigInt(to)),
  });
}
