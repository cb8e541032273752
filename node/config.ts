import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { getAddress, isAddress, type Address, type Hex } from "viem";
import { KEY_ENV, decryptKeystoreKey, password as askPassword } from "./cli/keys.ts";
import { ConfigError, oneLine } from "./errors.ts";
import type { Level } from "./log.ts";
import { jsonStringify } from "./json-stringify.ts";

/** Everything a runner is configured with. Amounts are in token base units (wei). */
export interface RunnerConfig {
  rpcUrl: string;
  /**
   * Other JSON-RPC endpoints of the same chain (another provider, an own node). Calls go to the
   * endpoint ranked best by latency and stability (checked every second) and fall over to the next
   * on an error, so one provider's outage, rate limit or slowness does not stall the runner.
   */
  rpcFallbackUrls: string[];
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
   * Batched k = 1 delivery: ready results ride together in one submitAttestations transaction of
   * at most maxBatch items and 96 KiB of calldata (1: every result its own submitResult, as
   * without batching; claims of matured deliveries ride together the same way); a result
   * waits at most maxWaitBlocks blocks for others (0: it goes at once unless a delivery of ours is
   * waiting to be mined, then when that one is mined or the next block comes, together with
   * everything that came meanwhile).
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
   * results of funded jobs as a service, reimbursed from the consumer's deposit; the job's own
   * providers go first, every other runner turnSeconds later per rank.
   */
  consumers: { fulfil: boolean; turnSeconds: number };
}

export const CONFIG_DEFAULTS: Omit<RunnerConfig, "rpcUrl" | "deployment" | "privateKey"> = {
  rpcFallbackUrls: [],
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
  consumers: { fulfil: true, turnSeconds: 6 },
};

/** Environment variables a runner reads; flags win over them, they win over the file. */
const ENV = {
  rpcUrl: "CONCLAVE_RPC_URL",
  /** Comma-separated fallback RPC URLs. */
  rpcFallbackUrls: "CONCLAVE_RPC_FALLBACK_URLS",
  deployment: "CONCLAVE_DEPLOYMENT",
  dataDir: "CONCLAVE_DATA_DIR",
  privateKey: "CONCLAVE_PROVIDER_KEY",
  /** Path of an encrypted JSON keystore holding the provider key (instead of CONCLAVE_PROVIDER_KEY). */
  keystore: KEY_ENV.keystore,
  keystorePassword: KEY_ENV.password,
  httpPort: "CONCLAVE_HTTP_PORT",
  kuboUrl: "CONCLAVE_KUBO_URL",
  logLevel: "CONCLAVE_LOG_LEVEL",
  /** inference.workers: a positive integer or "auto". */
  inferenceWorkers: "CONCLAVE_INFERENCE_WORKERS",
  /** inference.intraOpThreads: a positive integer or "auto". */
  intraOpThreads: "CONCLAVE_INTRA_OP_THREADS",
  /** delivery.maxBatch: k = 1 results per delivery transaction at most (1 turns batching off). */
  deliveryMaxBatch: "CONCLAVE_DELIVERY_MAX_BATCH",
  /** delivery.maxWaitBlocks: blocks a ready k = 1 result may wait for others. */
  deliveryMaxWaitBlocks: "CONCLAVE_DELIVERY_MAX_WAIT_BLOCKS",
} as const;

export interface ConfigFlags {
  config?: string;
  rpc?: string;
  /** Fallback RPC URLs (repeatable flag). */
  rpcFallback?: string[];
  deployment?: string;
  dataDir?: string;
  httpPort?: string;
  kuboUrl?: string;
  peers?: string[];
  /** Trustless gateway URLs of peers (repeatable flag), after those of the config file. */
  gateways?: string[];
  logLevel?: string;
  /** inference.workers ("auto" or a count). */
  inferenceWorkers?: string;
  /** inference.intraOpThreads ("auto" or a count). */
  intraOpThreads?: string;
  /** An encrypted JSON keystore holding the provider key. */
  keystore?: string;
  /** delivery.maxBatch. */
  deliveryMaxBatch?: string;
  /** delivery.maxWaitBlocks. */
  deliveryMaxWaitBlocks?: string;
}

/**
 * Environment variables that hold secrets. `node run` deletes them from its environment once the
 * key is read, so nothing started later (workers, libraries that dump the environment) sees them.
 */
const SECRET_ENV: readonly string[] = [ENV.privateKey, ENV.keystorePassword, KEY_ENV.key];

/** Deletes the secret-bearing variables from `env` (process.env in `node run`). */
export function scrubSecretEnv(env: NodeJS.ProcessEnv): void {
  for (const name of SECRET_ENV) delete env[name];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function bad(key: string, value: unknown, why: string): never {
  throw new ConfigError(`invalid config ${key}=${jsonStringify(value)}: ${why}`);
}

function int(key: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max)
    bad(key, v, `expected an integer from ${min} to ${max}`);
  return n;
}

/** "auto", or an integer in range (a string from a flag or the environment included). */
function autoOrInt(key: string, v: unknown, min: number, max: number): number | "auto" {
  if (v === "auto") return v;
  if (typeof v === "string" && v.trim() === "auto") return "auto";
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max)
    bad(key, v, `expected "auto" or an integer from ${min} to ${max}`);
  return n;
}

function amount(key: string, v: unknown): bigint {
  if (typeof v === "bigint" && v >= 0n) return v;
  if ((typeof v === "string" && /^\d+$/.test(v)) || (typeof v === "number" && Number.isSafeInteger(v) && v >= 0))
    return BigInt(v);
  return bad(key, v, "expected a non-negative integer amount in base units (wei), as a string");
}

function positiveAmount(key: string, v: unknown): bigint {
  const n = amount(key, v);
  return n > 0n ? n : bad(key, v, "expected a positive amount in wei, as a string");
}

function tokenMap(key: string, v: unknown): Record<string, bigint> {
  if (!isObject(v)) bad(key, v, 'expected an object like {"ETH": "0", "0xToken…": "1000"}');
  const out: Record<string, bigint> = {};
  for (const [token, a] of Object.entries(v)) {
    if (token !== "ETH" && !isAddress(token)) bad(`${key}.${token}`, a, 'keys must be "ETH" or a token address');
    out[token === "ETH" ? "ETH" : getAddress(token)] = amount(`${key}.${token}`, a);
  }
  return out;
}

function bool(key: string, v: unknown): boolean {
  // A string "false" would be truthy: only JSON booleans are accepted.
  if (typeof v !== "boolean") bad(key, v, "expected true or false");
  return v;
}

/** A share from 0 to 1, both included. */
function rate(key: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1) bad(key, v, "expected a share from 0 to 1");
  return v;
}

function num(key: string, v: unknown, min: number, maxExclusive: number): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v >= maxExclusive)
    bad(key, v, `expected a number from ${min} to below ${maxExclusive}`);
  return v;
}

/**
 * A nested section of the config file, with every key checked against the section's defaults:
 * a typo such as `models.prefech` would otherwise be silently ignored and the default used.
 */
function section(file: Json, name: keyof typeof CONFIG_DEFAULTS, extra: readonly string[] = []): Json {
  const v = file[name];
  if (v === undefined) return {};
  if (!isObject(v)) bad(name, v, "expected an object");
  const known = [...Object.keys(CONFIG_DEFAULTS[name] as object), ...extra];
  for (const k of Object.keys(v))
    if (!known.includes(k)) bad(`${name}.${k}`, v[k], `unknown key (known: ${known.join(", ")})`);
  return v;
}

function strings(key: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) bad(key, v, "expected a list of strings");
  return v as string[];
}

function url(key: string, v: unknown, schemes: RegExp): string {
  if (typeof v !== "string" || !schemes.test(v)) bad(key, v, `expected a URL matching ${schemes}`);
  return v;
}

/** Where the provider key comes from: the environment (already read) or a keystore still to decrypt. */
type KeySource = { privateKey: Hex } | { keystore: string };

/**
 * Resolves the runner's configuration: flags > environment > config file > defaults, validated
 * once. Any problem is a ConfigError whose message is one line naming the key. The key must be in
 * CONCLAVE_PROVIDER_KEY here; a keystore needs `loadRunnerConfig`, which decrypts it.
 */
export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): RunnerConfig {
  const { config, key } = resolveConfig(flags, env);
  if ("keystore" in key)
    throw new ConfigError(`keystore ${key.keystore} must be decrypted: load the config with loadRunnerConfig`);
  return { ...config, privateKey: key.privateKey };
}

/**
 * `loadConfig`, plus the provider key from an encrypted JSON keystore (`--keystore`,
 * CONCLAVE_KEYSTORE or `keystore` in the config file), its password from
 * CONCLAVE_KEYSTORE_PASSWORD or asked on the terminal. The whole configuration is validated
 * before any password is asked for.
 */
export async function loadRunnerConfig(
  flags: ConfigFlags,
  env: NodeJS.ProcessEnv = process.env,
  opts: { password?: (keystore: string) => Promise<string> } = {},
): Promise<RunnerConfig> {
  const { config, key } = resolveConfig(flags, env);
  if ("privateKey" in key) return { ...config, privateKey: key.privateKey };
  const pass = await (opts.password ?? ((file: string) => askPassword(file, env)))(key.keystore);
  return { ...config, privateKey: await decryptKeystoreKey(key.keystore, pass) };
}

function resolveConfig(
  flags: ConfigFlags,
  env: NodeJS.ProcessEnv,
): { config: Omit<RunnerConfig, "privateKey">; key: KeySource } {
  let file: Json = {};
  if (flags.config) {
    if (!existsSync(flags.config)) throw new ConfigError(`config file ${flags.config} does not exist`);
    try {
      const parsed: unknown = JSON.parse(readFileSync(flags.config, "utf8"));
      if (!isObject(parsed)) throw new Error("not a JSON object");
      file = parsed;
    } catch (cause) {
      throw new ConfigError(`config file ${flags.config} is not a JSON object: ${oneLine(cause)}`, { cause });
    }
    if ("privateKey" in file)
      throw new ConfigError(
        `config file ${flags.config} must not hold privateKey: name a keystore file (keystore) or set ${ENV.privateKey}`,
      );
  }
  const known = new Set([...Object.keys(CONFIG_DEFAULTS), "rpcUrl", "deployment", "keystore"]);
  for (const k of Object.keys(file))
    if (!known.has(k)) bad(k, file[k], `unknown key (known: ${[...known].join(", ")})`);
  const baseDir = flags.config ? path.dirname(path.resolve(flags.config)) : process.cwd();
  const rel = (p: string) => (path.isAbsolute(p) ? p : path.resolve(baseDir, p));

  const pick = <T>(flag: T | undefined, envValue: string | undefined, fileValue: unknown, fallback: unknown): unknown =>
    flag ?? envValue ?? fileValue ?? fallback;

  const d = CONFIG_DEFAULTS;
  const fileIpfs = section(file, "ipfs");
  const fileModels = section(file, "models");
  const fileInference = section(file, "inference");
  const fileHttp = section(file, "http");
  const filePayouts = section(file, "payouts");
  const fileTx = section(file, "tx");
  const fileJobs = section(file, "jobs");
  const fileRollouts = section(file, "rollouts");
  const fileDelivery = section(file, "delivery");
  const fileConsumers = section(file, "consumers");
  for (const k of Object.keys(d) as (keyof typeof d)[]) {
    // Any nested section added later gets the same typo check.
    if (
      isObject(d[k]) &&
      ![
        "ipfs",
        "models",
        "inference",
        "http",
        "payouts",
        "tx",
        "jobs",
        "rollouts",
        "delivery",
        "consumers",
        "minFee",
      ].includes(k)
    )
      section(file, k);
  }

  const rpcUrl = pick(flags.rpc, env[ENV.rpcUrl], file.rpcUrl, undefined);
  if (rpcUrl === undefined)
    throw new ConfigError(`no RPC URL: pass --rpc, set ${ENV.rpcUrl}, or put rpcUrl in the config file`);
  const envFallbacks = env[ENV.rpcFallbackUrls]
    ?.split(",")
    .map((u) => u.trim())
    .filter(Boolean);
  const fallbackList = strings(
    "rpcFallbackUrls",
    pick(flags.rpcFallback, undefined, envFallbacks ?? file.rpcFallbackUrls, d.rpcFallbackUrls),
  );
  const rpcFallbackUrls = fallbackList.map((u, i) => url(`rpcFallbackUrls[${i}]`, u, /^(https?|wss?):\/\/./));
  if (new Set([rpcUrl, ...rpcFallbackUrls]).size !== rpcFallbackUrls.length + 1)
    bad("rpcFallbackUrls", "(redacted)", "every RPC URL must differ from rpcUrl and from each other");
  const deployment = pick(flags.deployment, env[ENV.deployment], file.deployment, undefined);
  if (typeof deployment !== "string")
    throw new ConfigError(
      `no deployment file: pass --deployment, set ${ENV.deployment}, or put deployment in the config file`,
    );
  const privateKey = env[ENV.privateKey];
  const keystore = pick(flags.keystore, env[ENV.keystore], file.keystore, undefined);
  if (keystore !== undefined && (typeof keystore !== "string" || keystore === ""))
    bad("keystore", keystore, "expected the path of a JSON keystore file");
  let key: KeySource;
  if (keystore !== undefined) {
    // Two sources would leave it to precedence rules which account stakes and signs: refuse instead.
    if (privateKey) throw new ConfigError(`both ${ENV.privateKey} and a keystore (${keystore}) are set: use one`);
    key = {
      keystore:
        flags.keystore !== undefined || env[ENV.keystore] !== undefined ? path.resolve(keystore) : rel(keystore),
    };
  } else {
    if (!privateKey)
      throw new ConfigError(
        `no provider key: pass --keystore <file>, or set ${ENV.keystore} or ${ENV.privateKey} (a 0x-prefixed 32-byte hex key)`,
      );
    if (!/^0x[0-9a-fA-F]{64}$/.test(privateKey))
      throw new ConfigError(`${ENV.privateKey} is not a 0x-prefixed 32-byte hex key`);
    key = { privateKey: privateKey as Hex };
  }

  const engine = pick(
    undefined,
    env[ENV.kuboUrl] || flags.kuboUrl ? "kubo" : undefined,
    fileIpfs.engine,
    d.ipfs.engine,
  );
  if (engine !== "helia" && engine !== "kubo") bad("ipfs.engine", engine, 'expected "helia" or "kubo"');
  const kuboUrl = pick(flags.kuboUrl, env[ENV.kuboUrl], fileIpfs.kuboUrl, d.ipfs.kuboUrl);
  if (engine === "kubo" && typeof kuboUrl !== "string")
    bad("ipfs.kuboUrl", kuboUrl, "required when ipfs.engine is kubo");
  const level = pick(flags.logLevel, env[ENV.logLevel], file.logLevel, d.logLevel);
  if (!["debug", "info", "warn", "error"].includes(level as string))
    bad("logLevel", level, "expected debug, info, warn or error");

  const config: Omit<RunnerConfig, "privateKey"> = {
    rpcUrl: url("rpcUrl", rpcUrl, /^(https?|wss?):\/\/./),
    rpcFallbackUrls,
    deployment: rel(deployment),
    dataDir: rel(String(pick(flags.dataDir, env[ENV.dataDir], file.dataDir, d.dataDir))),
    confirmations: int("confirmations", file.confirmations ?? d.confirmations, 0, 1000),
    pollIntervalMs: int("pollIntervalMs", file.pollIntervalMs ?? d.pollIntervalMs, 10, 60_000),
    startBlock:
      file.startBlock === undefined || file.startBlock === null ? null : int("startBlock", file.startBlock, 0),
    logLevel: level as Level,
    ipfs: {
      engine,
      kuboUrl: typeof kuboUrl === "string" ? url("ipfs.kuboUrl", kuboUrl, /^https?:\/\/./) : null,
      listen: strings("ipfs.listen", fileIpfs.listen ?? d.ipfs.listen),
      peers: [...strings("ipfs.peers", fileIpfs.peers ?? d.ipfs.peers), ...(flags.peers ?? [])],
      gateway: gatewayListen(engine, fileIpfs.gateway ?? d.ipfs.gateway),
      gateways: [...strings("ipfs.gateways", fileIpfs.gateways ?? d.ipfs.gateways), ...(flags.gateways ?? [])].map(
        (u, i) => gatewayUrl(engine, `ipfs.gateways[${i}]`, u),
      ),
      fetchTimeoutMs: int("ipfs.fetchTimeoutMs", fileIpfs.fetchTimeoutMs ?? d.ipfs.fetchTimeoutMs, 100),
    },
    models: {
      cacheMaxBytes: int("models.cacheMaxBytes", fileModels.cacheMaxBytes ?? d.models.cacheMaxBytes, 1),
      allow: strings("models.allow", fileModels.allow ?? d.models.allow),
      prefetch: bool("models.prefetch", fileModels.prefetch ?? d.models.prefetch),
      prefetchConcurrency: int(
        "models.prefetchConcurrency",
        fileModels.prefetchConcurrency ?? d.models.prefetchConcurrency,
        1,
        64,
      ),
      provide: bool("models.provide", fileModels.provide ?? d.models.provide),
      maxWeightsBytes: int("models.maxWeightsBytes", fileModels.maxWeightsBytes ?? d.models.maxWeightsBytes, 1),
    },
    minFee: file.minFee === undefined ? { ...d.minFee } : tokenMap("minFee", file.minFee),
    maxConcurrentJobs: int("maxConcurrentJobs", file.maxConcurrentJobs ?? d.maxConcurrentJobs, 1, 1024),
    inference: {
      workers: autoOrInt(
        "inference.workers",
        pick(flags.inferenceWorkers, env[ENV.inferenceWorkers], fileInference.workers, d.inference.workers),
        1,
        64,
      ),
      intraOpThreads: autoOrInt(
        "inference.intraOpThreads",
        pick(flags.intraOpThreads, env[ENV.intraOpThreads], fileInference.intraOpThreads, d.inference.intraOpThreads),
        1,
        256,
      ),
      timeoutMs: int("inference.timeoutMs", fileInference.timeoutMs ?? d.inference.timeoutMs, 1),
      boundaryEpsilon: num(
        "inference.boundaryEpsilon",
        fileInference.boundaryEpsilon ?? d.inference.boundaryEpsilon,
        0,
        0.5,
      ),
    },
    maxInputBytes: int("maxInputBytes", file.maxInputBytes ?? d.maxInputBytes, 1),
    inlineOutputMaxBytes: int(
      "inlineOutputMaxBytes",
      file.inlineOutputMaxBytes ?? d.inlineOutputMaxBytes,
      0,
      16 * 1024,
    ),
    http: {
      host:
        typeof (fileHttp.host ?? d.http.host) === "string"
          ? ((fileHttp.host ?? d.http.host) as string)
          : bad("http.host", fileHttp.host, "expected a host name or address"),
      port: int("http.port", flags.httpPort ?? env[ENV.httpPort] ?? fileHttp.port ?? d.http.port, 0, 65_535),
    },
    payouts: {
      intervalMs: int("payouts.intervalMs", filePayouts.intervalMs ?? d.payouts.intervalMs, 100),
      minWithdraw:
        filePayouts.minWithdraw === undefined ? {} : tokenMap("payouts.minWithdraw", filePayouts.minWithdraw),
    },
    expireStaleJobs: expiryMode(file.expireStaleJobs ?? d.expireStaleJobs),
    jobs: {
      retryBaseMs: int("jobs.retryBaseMs", fileJobs.retryBaseMs ?? d.jobs.retryBaseMs, 10),
      retryMaxMs: int("jobs.retryMaxMs", fileJobs.retryMaxMs ?? d.jobs.retryMaxMs, 10),
      followIntervalMs: int("jobs.followIntervalMs", fileJobs.followIntervalMs ?? d.jobs.followIntervalMs, 50),
      maxConcurrentSteps: int(
        "jobs.maxConcurrentSteps",
        fileJobs.maxConcurrentSteps ?? d.jobs.maxConcurrentSteps,
        1,
        4096,
      ),
      spreadMs: int("jobs.spreadMs", fileJobs.spreadMs ?? d.jobs.spreadMs, 0, 60_000),
      retentionMs: int("jobs.retentionMs", fileJobs.retentionMs ?? d.jobs.retentionMs, 1_000),
      commitMarginSeconds: int(
        "jobs.commitMarginSeconds",
        fileJobs.commitMarginSeconds ?? d.jobs.commitMarginSeconds,
        0,
        3_600,
      ),
      revealMarginSeconds: int(
        "jobs.revealMarginSeconds",
        fileJobs.revealMarginSeconds ?? d.jobs.revealMarginSeconds,
        0,
        86_400,
      ),
      checkRate: rate("jobs.checkRate", fileJobs.checkRate ?? d.jobs.checkRate),
    },
    shutdownTimeoutMs: int("shutdownTimeoutMs", file.shutdownTimeoutMs ?? d.shutdownTimeoutMs, 100, 24 * 3600_000),
    tx: {
      confirmTimeoutMs: int("tx.confirmTimeoutMs", fileTx.confirmTimeoutMs ?? d.tx.confirmTimeoutMs, 100),
      feeBumpPercent: int("tx.feeBumpPercent", fileTx.feeBumpPercent ?? d.tx.feeBumpPercent, 10, 500),
      maxFeePerGas:
        fileTx.maxFeePerGas === undefined ? d.tx.maxFeePerGas : positiveAmount("tx.maxFeePerGas", fileTx.maxFeePerGas),
    },
    delivery: {
      maxBatch: int(
        "delivery.maxBatch",
        pick(flags.deliveryMaxBatch, env[ENV.deliveryMaxBatch], fileDelivery.maxBatch, d.delivery.maxBatch),
        1,
        100,
      ),
      maxWaitBlocks: int(
        "delivery.maxWaitBlocks",
        pick(
          flags.deliveryMaxWaitBlocks,
          env[ENV.deliveryMaxWaitBlocks],
          fileDelivery.maxWaitBlocks,
          d.delivery.maxWaitBlocks,
        ),
        0,
        100,
      ),
    },
    rollouts: {
      autoAct: bool("rollouts.autoAct", fileRollouts.autoAct ?? d.rollouts.autoAct),
      intervalMs: int("rollouts.intervalMs", fileRollouts.intervalMs ?? d.rollouts.intervalMs, 100, 24 * 3600_000),
    },
    consumers: {
      fulfil: bool("consumers.fulfil", fileConsumers.fulfil ?? d.consumers.fulfil),
      turnSeconds: int("consumers.turnSeconds", fileConsumers.turnSeconds ?? d.consumers.turnSeconds, 0, 3_600),
    },
  };
  return { config, key };
}

/** `ipfs.gateway`: null, or "host:port" (IPv6 hosts in brackets) with a port from 0 to 65535. */
function gatewayListen(engine: string, v: unknown): string | null {
  if (v === null) return null;
  const m = typeof v === "string" ? /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(v) : null;
  if (!m || Number(m[2]) > 65_535) return bad("ipfs.gateway", v, 'expected null or "host:port", e.g. "127.0.0.1:8180"');
  if (engine !== "helia")
    return bad("ipfs.gateway", v, "only the embedded Helia engine serves a gateway (a Kubo daemon has its own)");
  return v as string;
}

function gatewayUrl(engine: string, key: string, v: string): string {
  url(key, v, /^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/);
  if (engine !== "helia")
    bad(key, v, "only the embedded Helia engine fetches from gateways (configure a Kubo daemon's own)");
  return v;
}

/** Splits a validated `ipfs.gateway` into what a listener takes. */
export function parseHostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(":");
  return { host: v.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(v.slice(i + 1)) };
}

function expiryMode(v: unknown): RunnerConfig["expireStaleJobs"] {
  if (v === true) return "own";
  if (v === false) return "off";
  if (v === "own" || v === "all" || v === "off") return v;
  return bad("expireStaleJobs", v, 'expected "own", "all" or "off" (true means "own")');
}

/** The fee floor for a payment token (address(0) is ETH). */
export function minFeeFor(config: RunnerConfig, token: Address): bigint | undefined {
  return token === "0x0000000000000000000000000000000000000000" ? config.minFee.ETH : config.minFee[getAddress(token)];
}
