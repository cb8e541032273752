/** The chaos harness's options and their command line (`npm run chaos -- --jobs 60 ...`). */
import { parseArgs } from "node:util";
import { ConfigError } from "../../errors.ts";

export const FAULT_KINDS = ["kill", "drop", "429", "latency", "reorg", "basefee", "mempool", "lag"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ChaosOptions {
  jobs: number;
  runners: number;
  /** Client accounts sending requests (each keeps its own nonce sequence). */
  clients: number;
  /** Share of jobs with k = 3 (the rest are k = 1). */
  k3Share: number;
  /** Jobs per second; ignored with `burst`. */
  rate: number;
  /** Send every job at once instead of at `rate`. */
  burst: boolean;
  seed: number;
  faults: FaultKind[];
  /** How many times each fault happens over the run. */
  faultRepeats: number;
  /** Seconds over which faults are spread (default: the sending time, or 90 s for a burst). */
  faultSpanSeconds: number | null;
  /** Soak: send at `rate` for this many minutes (overrides `jobs`) and print resource use at start and end. */
  soakMinutes: number | null;
  /** Give up waiting for every job to end this long after the last request (then unfinished jobs count as lost). */
  settleTimeoutSeconds: number;
  json: boolean;
  /** Also write the figures as JSON to this file (the table still prints). */
  jsonOut: string | null;
  /**
   * RPC endpoints per runner, each behind its own fault proxy: the first is the runner's rpcUrl and
   * takes the RPC faults, the others are its rpcFallbackUrls and stay healthy.
   */
  rpcEndpoints: number;
  /** Runner overrides written into each runner's config (JSON object). */
  runnerConfig: Record<string, unknown>;
  /** Print the runners' warn/error log lines as they come. */
  verbose: boolean;
}

export const CHAOS_DEFAULTS: ChaosOptions = {
  jobs: 1000,
  runners: 5,
  clients: 3,
  k3Share: 0.4,
  rate: 2,
  burst: false,
  seed: 1,
  faults: [...FAULT_KINDS],
  faultRepeats: 2,
  faultSpanSeconds: null,
  soakMinutes: null,
  settleTimeoutSeconds: 900,
  json: false,
  jsonOut: null,
  rpcEndpoints: 2,
  runnerConfig: {},
  verbose: false,
};

export const CHAOS_HELP = `Usage: npm run chaos [-- options]

Starts a local network (Anvil, interval mining), N runners behind RPC fault proxies and clients
sending a mixed stream of k = 1 and k = 3 tiny-mlp jobs, injects scheduled faults, waits until
every job is final on-chain and prints one table (from chain events and the runners' journals).

Options:
  --jobs <n>             jobs to request (default ${CHAOS_DEFAULTS.jobs})
  --runners <n>          runner processes, one provider account each (default ${CHAOS_DEFAULTS.runners})
  --clients <n>          client accounts sending requests (default ${CHAOS_DEFAULTS.clients})
  --k3-share <0..1>      share of k = 3 jobs (default ${CHAOS_DEFAULTS.k3Share})
  --rate <jobs/s>        steady request rate (default ${CHAOS_DEFAULTS.rate})
  --burst                request every job at once
  --seed <n>             seed of the job mix, inputs and fault plan (default ${CHAOS_DEFAULTS.seed})
  --faults <list>        comma-separated of ${FAULT_KINDS.join(",")}, or none (default all)
  --fault-repeats <n>    times each fault happens (default ${CHAOS_DEFAULTS.faultRepeats})
  --fault-span <s>       seconds over which faults are spread (default: the sending time; 90 for --burst)
  --soak-minutes <m>     soak at --rate for m minutes; prints runner RSS, journal and blockstore sizes
  --settle-timeout <s>   longest wait for every job to end after the last request (default ${CHAOS_DEFAULTS.settleTimeoutSeconds})
  --rpc-endpoints <n>    RPC endpoints per runner (default ${CHAOS_DEFAULTS.rpcEndpoints}): the first takes the RPC faults
                         (drop, 429, latency), the others are healthy fallbacks; 1 puts every call through the faults
  --runner-config <json> overrides of every runner's config, e.g. '{"maxConcurrentJobs":8}'
  --json                 print the figures as JSON instead of the table
  --json-out <file>      also write the figures as JSON to a file
  --verbose              print the runners' warnings and errors as they come`;

function positive(name: string, raw: string | undefined, fallback: number, { integer = true, min = 1 } = {}): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    throw new ConfigError(`--${name} must be ${integer ? "an integer" : "a number"} ≥ ${min}, not ${raw}`);
  return n;
}

/** Parses the command line; throws ConfigError on a bad value. Returns null when help was asked for. */
export function parseChaosArgs(argv: string[]): ChaosOptions | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      jobs: { type: "string" },
      runners: { type: "string" },
      clients: { type: "string" },
      "k3-share": { type: "string" },
      rate: { type: "string" },
      burst: { type: "boolean" },
      seed: { type: "string" },
      faults: { type: "string" },
      "fault-repeats": { type: "string" },
      "fault-span": { type: "string" },
      "soak-minutes": { type: "string" },
      "settle-timeout": { type: "string" },
      "runner-config": { type: "string" },
      "rpc-endpoints": { type: "string" },
      json: { type: "boolean" },
      "json-out": { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return null;
  const d = CHAOS_DEFAULTS;
  const k3Share = values["k3-share"] === undefined ? d.k3Share : Number(values["k3-share"]);
  if (!(k3Share >= 0 && k3Share <= 1))
    throw new ConfigError(`--k3-share must be between 0 and 1, not ${values["k3-share"]}`);
  let faults = d.faults;
  if (values.faults !== undefined) {
    const list = values.faults
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    faults = list.length === 1 && list[0] === "none" ? [] : (list as FaultKind[]);
    const unknown = faults.filter((f) => !FAULT_KINDS.includes(f));
    if (unknown.length)
      throw new ConfigError(`unknown fault(s) ${unknown.join(", ")}: expected ${FAULT_KINDS.join(", ")} or none`);
  }
  let runnerConfig: Record<string, unknown> = {};
  if (values["runner-config"] !== undefined) {
    try {
      runnerConfig = JSON.parse(values["runner-config"]) as Record<string, unknown>;
    } catch (cause) {
      throw new ConfigError("--runner-config must be a JSON object", { cause });
    }
    if (typeof runnerConfig !== "object" || runnerConfig === null || Array.isArray(runnerConfig))
      throw new ConfigError("--runner-config must be a JSON object");
  }
  return {
    jobs: positive("jobs", values.jobs, d.jobs),
    runners: positive("runners", values.runners, d.runners),
    clients: positive("clients", values.clients, d.clients),
    k3Share,
    rate: positive("rate", values.rate, d.rate, { integer: false, min: 0.01 }),
    burst: values.burst ?? false,
    seed: positive("seed", values.seed, d.seed, { min: 0 }),
    faults,
    faultRepeats: positive("fault-repeats", values["fault-repeats"], d.faultRepeats),
    faultSpanSeconds:
      values["fault-span"] === undefined ? null : positive("fault-span", values["fault-span"], 0, { integer: false }),
    soakMinutes:
      values["soak-minutes"] === undefined
        ? null
        : positive("soak-minutes", values["soak-minutes"], 0, { integer: false, min: 0.1 }),
    settleTimeoutSeconds: positive("settle-timeout", values["settle-timeout"], d.settleTimeoutSeconds),
    json: values.json ?? false,
    jsonOut: values["json-out"] ?? null,
    rpcEndpoints: positive("rpc-endpoints", values["rpc-endpoints"], d.rpcEndpoints),
    runnerConfig,
    verbose: values.verbose ?? false,
  };
}
