/**
 * What a runner is configured with (RunnerConfig) and its defaults. Reading it from flags, the
 * environment and a config file is node/config-load.ts; the checked readers of single values,
 * node/config-values.ts.
 */
import { getAddress, type Address, type Hex } from "viem";
import type { Level } from "./log.ts";

/** Everything a runner is configured with. Amounts are in token base units (wei). */
export interface RunnerConfig {
  rpcUrl: string;
  /**
   * Other JSON-RPC endpoints of the same chain (another provider, an own node). Calls go to the
   * endpoint ranked best by latency and stability (checked every second) and fall over to the next
   * on an error, so one provider's outage, rate limit or slowness does not stall the runner.
   */
  rpcFallbackUrls: string[];
  /**
   * Contract reads made together go as one eth_call (viem's multicall, deployless: Multicall3's
   * code travels with the call). Off: one eth_call per read, for an RPC that refuses calls with
   * no `to` or caps their gas below a few million.
   */
  rpcMulticall: boolean;
  /** deployments/<chainId>.json of the network to serve. */
  deployment: string;
  /** Journal, model cache and the embedded IPFS node's blocks live here. */
  dataDir: string;
  /**
   * The provider's key; only ever read from the environment (CONCLAVE_PROVIDER_KEY) or an
   * encrypted keystore (`keystore`), never from a config file.
   */
  privateKey: Hex;
  /** Blocks to trail the head by; events of newer blocks are not acted on yet. */
  confirmations: number;
  pollIntervalMs: number;
  /** Block to start from when the journal is empty (default: the market's deployment block). */
  startBlock: number | null;
  logLevel: Level;
  ipfs: {
    engine: "helia" | "kubo";
    kuboUrl: string | null;
    listen: string[];
    /** Multiaddrs to dial at start (publishers, other providers) on private networks. */
    peers: string[];
    /**
     * Serve the blocks this node holds (the weights it provides) over HTTP as an IPFS trustless
     * gateway at this "host:port" (port 0: any free one), for peers that list it in `gateways`.
     * null (default): not served. Embedded Helia engine only. Bind it to loopback or a private
     * address: anyone who reaches it can read every block this node holds.
     */
    gateway: string | null;
    /**
     * Trustless gateways (http(s) URLs: peers' `gateway`) tried in order before bitswap when
     * fetching: the whole DAG in one CAR, every block checked against its CID, any failure falling
     * through to the next one and then to bitswap. Default: none. Embedded Helia engine only.
     */
    gateways: string[];
    fetchTimeoutMs: number;
  };
  models: {
    cacheMaxBytes: number;
    /** Model names this runner serves; empty serves every model. */
    allow: string[];
    /**
     * Fetch, verify and warm (an onnxruntime session) the current versions of the served models:
     * the active one and a newer published candidate, so that an activation downloads nothing.
     */
    prefetch: boolean;
    /** Versions fetched and warmed at once by prefetching (job fetches are bounded by maxConcurrentJobs). */
    prefetchConcurrency: number;
    /**
     * Keep the weights of every version held pinned in the IPFS node, so other runners can fetch
     * them from this one (peers serve peers); unpinned when the version leaves the cache.
     */
    provide: boolean;
    maxWeightsBytes: number;
  };
  /** Smallest fee per provider accepted, per payment token ("ETH" or a token address). */
  minFee: Record<string, bigint>;
  /**
   * Jobs fetching their model and input at once. A run waiting for an inference worker holds no
   * such slot: runs queue up at the executor, their inputs within maxConcurrentJobs × maxInputBytes.
   */
  maxConcurrentJobs: number;
  inference: {
    /**
     * Inference worker processes, or "auto": half the cores (at least 1), so the runner's own
     * event loop keeps a core and each worker gets intra-op threads (executor.ts, autoInference).
     */
    workers: number | "auto";
    /** onnxruntime intra-op threads per worker session, or "auto": the cores shared out over the workers (workers × threads ≈ cores). */
    intraOpThreads: number | "auto";
    timeoutMs: number;
    /**
     * Abstain from a job when a float output lies within this many quanta of a rounding boundary
     * (docs/canonical-result-hash.md, "Abstaining near a boundary"); 0 never abstains.
     */
    boundaryEpsilon: number;
  };
  maxInputBytes: number;
  /** Outputs up to this size are put inline in the result reference; larger ones go to IPFS. */
  inlineOutputMaxBytes: number;
  http: { host: string; port: number };
  payouts: { intervalMs: number; minWithdraw: Record<string, bigint> };
  /** Which stale jobs to finalize: those this provider sat in ("own"), every job seen ("all"), none ("off"). */
  expireStaleJobs: "own" | "all" | "off";
  jobs: {
    /** Backoff of a failed step: first delay and cap (ms); retries stop at the job's deadline. */
    retryBaseMs: number;
    retryMaxMs: number;
    /** How often a job waiting for the chain is looked at when no event woke it (ms). */
    followIntervalMs: number;
    /** Jobs advanced at once (chain reads, transactions); compute is capped by maxConcurrentJobs. */
    maxConcurrentSteps: number;
    /** Most a first result or commit waits (ms, a share fixed per job and provider) so runners do not all send at once. */
    spreadMs: number;
    /** Ended jobs are forgotten (journal rows, output files, pinned outputs) after this long (ms). */
    retentionMs: number;
    /** Seconds a commit must leave before the commit deadline. */
    commitMarginSeconds: number;
    /** The shortest reveal window this runner commits into (seconds). */
    revealMarginSeconds: number;
    /**
     * Share (0 to 1) of other providers' k = 1 results this runner recomputes and challenges when
     * they differ: the service that keeps k = 1 honest. It costs compute and, per challenge, a
     * bond that a wrong challenge loses.
     */
    checkRate: number;
  };
  /** On SIGINT/SIGTERM, how long in-flight work may take to finish before `node run` gives up and exits non-zero. */
  shutdownTimeoutMs: number;
  /**
   * Transactions: an attempt not mined within confirmTimeoutMs is replaced with fees re-estimated
   * and at least feeBumpPercent higher, never above maxFeePerGas (wei); at the cap it is
   * re-broadcast and waited for, never abandoned.
   */
  tx: { confirmTimeoutMs: number; feeBumpPercent: number; maxFeePerGas: bigint };
  /**
   * Batched k = 1 delivery: ready results ride together in one submitResults transaction of
   * at most maxBatch items and 96 KiB of calldata (1: every result its own submitResult, as
   * without batching; claims of matured deliveries ride together the same way); a result
   * waits at most maxWaitBlocks blocks for others (0: it goes at once unless a delivery of ours is
   * waiting to be mined, then when that one is mined, the next block comes or half a block passed
   * since the head came, together with everything that came meanwhile).
   */
  delivery: { maxBatch: number; maxWaitBlocks: number };
  /**
   * Staged rollouts of the models this runner serves: with autoAct the runner promotes a rollout
   * once its promotion rule holds and aborts it once its abort rule holds (anyone may; runners do
   * it as a service). It looks on every rollout event and every intervalMs (ms).
   */
  rollouts: { autoAct: boolean; intervalMs: number };
  /**
   * Consumer contracts' callbacks (ConsumerRouter): with fulfil the runner delivers the final
   * results of funded jobs as a service, reimbursed from the consumer's deposit; with reclaim it
   * credits the deposit of a funded job that ended without a result back to its consumer
   * (`router.reclaim`, unpaid, like expiring stale jobs). Either way the job's own providers go
   * first, every other runner turnSeconds later per rank.
   */
  consumers: { fulfil: boolean; reclaim: boolean; turnSeconds: number };
}

export const CONFIG_DEFAULTS: Omit<RunnerConfig, "rpcUrl" | "deployment" | "privateKey"> = {
  rpcFallbackUrls: [],
  rpcMulticall: true,
  dataDir: ".conclave/runner",
  confirmations: 0,
  pollIntervalMs: 250,
  startBlock: null,
  logLevel: "info",
  ipfs: {
    engine: "helia",
    kuboUrl: null,
    listen: ["/ip4/127.0.0.1/tcp/0"],
    peers: [],
    gateway: null,
    gateways: [],
    fetchTimeoutMs: 120_000,
  },
  models: {
    cacheMaxBytes: 2 * 1024 ** 3,
    allow: [],
    prefetch: true,
    prefetchConcurrency: 1,
    provide: true,
    maxWeightsBytes: 1024 ** 3,
  },
  minFee: { ETH: 0n },
  maxConcurrentJobs: 4,
  inference: { workers: "auto", intraOpThreads: "auto", timeoutMs: 60_000, boundaryEpsilon: 1e-3 },
  maxInputBytes: 64 * 1024 * 1024,
  inlineOutputMaxBytes: 1024,
  http: { host: "127.0.0.1", port: 0 },
  payouts: { intervalMs: 60_000, minWithdraw: {} },
  expireStaleJobs: "own",
  jobs: {
    retryBaseMs: 500,
    retryMaxMs: 60_000,
    followIntervalMs: 5_000,
    maxConcurrentSteps: 32,
    spreadMs: 1_500,
    retentionMs: 24 * 3_600_000,
    commitMarginSeconds: 6,
    revealMarginSeconds: 20,
    checkRate: 0.05,
  },
  shutdownTimeoutMs: 30_000,
  tx: { confirmTimeoutMs: 30_000, feeBumpPercent: 20, maxFeePerGas: 500n * 10n ** 9n },
  delivery: { maxBatch: 50, maxWaitBlocks: 0 },
  rollouts: { autoAct: true, intervalMs: 30_000 },
  consumers: { fulfil: true, reclaim: true, turnSeconds: 6 },
};

/** Splits a validated `ipfs.gateway` into what a listener takes. */
export function parseHostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(":");
  return { host: v.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(v.slice(i + 1)) };
}

/** The fee floor for a payment token (address(0) is ETH). */
export function minFeeFor(config: RunnerConfig, token: Address): bigint | undefined {
  return token === "0x0000000000000000000000000000000000000000" ? config.minFee.ETH : config.minFee[getAddress(token)];
}
