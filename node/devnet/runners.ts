/**
 * Runner processes on the local network: a provider's config file, `conclave node run` started
 * as its own process (as a provider would run it), and waiting until it has caught up.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Address } from "viem";
import { devKey } from "./accounts.ts";
import type { Devnet } from "./network.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Writes the config of provider account `index`'s runner (its own data dir, journal and Helia
 * node) and returns its path. Without `dataDir` the data dir is one of the network's temporary
 * folders, removed when the network stops. Defaults are what a local-network user gets: the node's WebSocket
 * endpoint (new heads wake the watcher at once) and the runner's CONFIG_DEFAULTS otherwise.
 */
export function runnerConfig(
  net: Devnet,
  index: number,
  overrides: Record<string, unknown> = {},
  dataDir?: string,
): { file: string; dataDir: string } {
  const dir = dataDir ?? net.tempDirs.make(`conclave-runner-${index}-`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "runner.json");
  writeFileSync(
    file,
    JSON.stringify({
      rpcUrl: net.node.wsUrl,
      deployment: net.deploymentFile,
      dataDir: dir,
      ipfs: { peers: net.publisher.multiaddrs() },
      minFee: { ETH: "0", [net.token]: "0" },
      ...overrides,
    }),
  );
  return { file, dataDir: dir };
}

export interface RunnerProcess {
  index: number;
  address: Address;
  /** The runner's HTTP endpoint (/health, /ready, /metrics, /status, /jobs/<id>). */
  http: string;
  ipfs: string[];
  /** Its trustless gateway's URL (ipfs.gateway), null when it serves none. */
  gateway: string | null;
  dataDir: string;
  configFile: string;
  process: ChildProcess;
  /** Its stderr (JSON log lines) and any non-JSON stdout, as they come. */
  logs: string[];
  /** Resolves when the process exited. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnOptions {
  /** CONCLAVE_LOG_LEVEL of the runner (default info). */
  logLevel?: string;
  /** Called with each log line as it comes (they are kept in `logs` too). */
  onLog?: (line: string) => void;
  startTimeoutMs?: number;
  /**
   * Environment over the default one: e.g. `{ CONCLAVE_PROVIDER_KEY: "" }` with a keystore in the
   * config (and CONCLAVE_KEYSTORE_PASSWORD), for a provider key that is not development account `index`.
   */
  env?: Record<string, string>;
  /**
   * A command the runner is started under, e.g. `["ip", "netns", "exec", "host-a"]` to run it in a
   * network namespace (it must exec the runner, so that stopping it stops the runner).
   */
  prefix?: string[];
}

/** Starts `conclave node run` for provider account `index` as its own process, as a provider would, and waits until it is up. */
export async function spawnRunner(
  net: Devnet,
  index: number,
  config = runnerConfig(net, index),
  opts: SpawnOptions = {},
): Promise<RunnerProcess> {
  const [command, ...prefixArgs] = opts.prefix ?? [];
  const runnerArgs = [path.join(ROOT, "node", "cli.ts"), "node", "run", "--config", config.file];
  const child = spawn(
    command ?? process.execPath,
    command === undefined ? runnerArgs : [...prefixArgs, process.execPath, ...runnerArgs],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        CONCLAVE_PROVIDER_KEY: devKey(index),
        CONCLAVE_LOG_LEVEL: opts.logLevel ?? "info",
        NODE_NO_WARNINGS: "1",
        ...opts.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const logs: string[] = [];
  const keep = (l: string) => {
    logs.push(l);
    opts.onLog?.(l);
  };
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  createInterface({ input: child.stderr! }).on("line", keep);
  const ready = await new Promise<{ provider: Address; http: string; ipfs: string[]; gateway?: string | null }>(
    (resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`runner ${index} did not start:\n${logs.slice(-20).join("\n")}`)),
        opts.startTimeoutMs ?? 60_000,
      );
      createInterface({ input: child.stdout! }).on("line", (line) => {
        try {
          const msg = JSON.parse(line) as {
            event?: string;
            provider: Address;
            http: string;
            ipfs: string[];
            gateway?: string | null;
          };
          if (msg.event === "ready") {
            clearTimeout(timer);
            resolve(msg);
          }
        } catch {
          keep(line);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`runner ${index} exited with ${code}:\n${logs.slice(-20).join("\n")}`));
      });
    },
  );
  return {
    index,
    address: ready.provider,
    http: ready.http,
    ipfs: ready.ipfs,
    gateway: ready.gateway ?? null,
    dataDir: config.dataDir,
    configFile: config.file,
    process: child,
    logs,
    exited,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

/** Polls a runner's /ready until it has caught up with the chain. */
export async function waitUntilReady(runner: Pick<RunnerProcess, "http" | "index">, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${runner.http}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`runner ${runner.index} was not ready within ${timeoutMs} ms`);
}
