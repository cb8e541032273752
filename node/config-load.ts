/**
 * Loads a runner's configuration: flags > environment > config file > defaults, validated once,
 * with the provider key from the environment or a keystore.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Hex } from "viem";
import { KEY_ENV, decryptKeystoreKey, password as askPassword } from "./cli/keys.ts";
import { CONFIG_DEFAULTS, type RunnerConfig } from "./config.ts";
import {
  autoOrInt,
  bad,
  bool,
  expiryMode,
  gatewayListen,
  gatewayUrl,
  int,
  isObject,
  num,
  positiveAmount,
  rate,
  strings,
  tokenMap,
  url,
  type Json,
} from "./config-values.ts";
import { ConfigError, oneLine } from "./errors.ts";
import type { Level } from "./log.ts";

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
  /** delivery.maxBatch: k = 1 results (and claims, commits, reveals) per transaction at most (1 turns batching off). */
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
    rpcMulticall: bool("rpcMulticall", file.rpcMulticall ?? d.rpcMulticall),
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
      reclaim: bool("consumers.reclaim", fileConsumers.reclaim ?? d.consumers.reclaim),
      turnSeconds: int("consumers.turnSeconds", fileConsumers.turnSeconds ?? d.consumers.turnSeconds, 0, 3_600),
    },
  };
  return { config, key };
}
