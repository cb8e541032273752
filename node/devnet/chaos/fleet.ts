/**
 * The runners of the chaos harness: one `conclave node run` process per provider account, each
 * with its own data dir (journal, Helia node, models) and its own RPC fault proxy in front of the
 * node. A runner can be killed with SIGKILL and started again on the same config and data dir, as
 * a provider's supervisor would after a crash.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { Address } from "viem";
import type { Logger } from "../../log.ts";
import type { Devnet } from "../network.ts";
import { runnerConfig, spawnRunner, waitUntilReady, type RunnerProcess } from "../runners.ts";
import { startRpcProxy, type RpcProxy } from "./rpc-proxy.ts";
import type { Random } from "./random.ts";

/** Blocks one eth_getLogs may span at the runners' RPC endpoints (public providers allow 10 to 10,000). */
export const CHAOS_MAX_LOG_RANGE = 50;

interface FleetRunner {
  /** Development account index of the provider. */
  index: number;
  address: Address;
  /** The proxy of the runner's rpcUrl: the RPC faults hit it. */
  proxy: RpcProxy;
  /** Proxies of its fallback endpoints (none with one endpoint). */
  fallbackProxies: RpcProxy[];
  config: { file: string; dataDir: string };
  /** The live process, or null while it is down. */
  process: RunnerProcess | null;
  restarts: number;
}

export interface RunnerResources {
  index: number;
  /** Resident set of the runner process and of its inference workers, in bytes (null when down). */
  rssBytes: number | null;
  workersRssBytes: number | null;
  /** journal.sqlite with its -wal and -shm files. */
  journalBytes: number;
  /** The Helia node's blocks (dataDir/ipfs). */
  blockstoreBytes: number;
}

export interface Fleet {
  runners: FleetRunner[];
  kill(slot: number): Promise<void>;
  restart(slot: number): Promise<void>;
  resources(): RunnerResources[];
  stop(): Promise<void>;
}

interface FleetOptions {
  net: Devnet;
  indexes: readonly number[];
  /** Config keys over runnerConfig's defaults (rpcUrl and rpcFallbackUrls are always the runner's proxies). */
  overrides: Record<string, unknown>;
  /** RPC endpoints per runner (1 or more), each its own proxy. */
  rpcEndpoints: number;
  random: Random;
  log: Logger;
  /** Print each runner's warnings and errors. */
  verbose: boolean;
}

/** VmRSS of a process from /proc, in bytes; null if it is gone. */
function rssOf(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Direct children of a process (its inference workers), from /proc. */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** Total size of the files under a folder (0 if it does not exist). */
function sizeOf(target: string): number {
  let st;
  try {
    st = statSync(target);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  return readdirSync(target).reduce((sum, name) => sum + sizeOf(path.join(target, name)), 0);
}

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const runners: FleetRunner[] = [];
  const spawnOne = (r: FleetRunner) =>
    spawnRunner(opts.net, r.index, r.config, {
      logLevel: "warn",
      onLog: opts.verbose ? (line) => opts.log.info("runner log", { runner: r.index, line }) : undefined,
      startTimeoutMs: 120_000,
    });
  const stop = async () => {
    await Promise.all(runners.map((r) => r.process?.stop("SIGTERM")));
    await Promise.all(runners.flatMap((r) => [r.proxy, ...r.fallbackProxies]).map((p) => p.close()));
  };
  try {
    for (const index of opts.indexes) {
      // Like a public provider, every endpoint limits the blocks one eth_getLogs may span and
      // serves only the public methods.
      const endpoint = () =>
        startRpcProxy({
          upstream: opts.net.node.rpcUrl,
          random: opts.random,
          maxLogRange: CHAOS_MAX_LOG_RANGE,
          publicMethodsOnly: true,
        });
      const proxy = await endpoint();
      const fallbackProxies: RpcProxy[] = [];
      for (let i = 1; i < opts.rpcEndpoints; i++) fallbackProxies.push(await endpoint());
      // HTTP through the proxy: the faults the proxy injects are HTTP faults.
      const config = runnerConfig(opts.net, index, {
        ...opts.overrides,
        rpcUrl: proxy.url,
        rpcFallbackUrls: fallbackProxies.map((p) => p.url),
      });
      runners.push({ index, address: "0x", proxy, fallbackProxies, config, process: null, restarts: 0 });
    }
    await Promise.all(
      runners.map(async (r) => {
        r.process = await spawnOne(r);
        r.address = r.process.address;
      }),
    );
    await Promise.all(runners.map((r) => waitUntilReady(r.process!, 120_000)));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    runners,
    async kill(slot) {
      const r = runners[slot]!;
      await r.process?.stop("SIGKILL");
      r.process = null;
    },
    async restart(slot) {
      const r = runners[slot]!;
      r.process = await spawnOne(r);
      r.restarts++;
    },
    resources: () =>
      runners.map((r) => {
        const pid = r.process?.process.pid;
        const workers = pid === undefined ? [] : childrenOf(pid);
        return {
          index: r.index,
          rssBytes: pid === undefined ? null : rssOf(pid),
          workersRssBytes: pid === undefined ? null : workers.reduce((s, w) => s + (rssOf(w) ?? 0), 0),
          journalBytes: ["", "-wal", "-shm"].reduce(
            (s, ext) => s + sizeOf(path.join(r.config.dataDir, `journal.sqlite${ext}`)),
            0,
          ),
          blockstoreBytes: sizeOf(path.join(r.config.dataDir, "ipfs")),
        };
      }),
    stop,
  };
}
