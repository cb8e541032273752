import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { LOCAL_CHAIN_ID } from "../chain/clients.ts";
import { ConfigError, RpcUnreachableError } from "../errors.ts";
import { DEV_MNEMONIC } from "./accounts.ts";
import { freePort, waitForRpc } from "./local-rpc.ts";

/** Development accounts Anvil funds: the roles of DEV_ROLES plus room for extra providers and clients. */
export const DEV_ACCOUNT_COUNT = 30;

export interface AnvilNode {
  rpcUrl: string;
  /** Anvil serves WebSocket JSON-RPC on the same port. */
  wsUrl: string;
  port: number;
  process: ChildProcess;
  /** Seconds between blocks, or 0 while every transaction is mined at once (automine). */
  readonly blockTimeSeconds: number;
  /**
   * Switches to a block every `seconds` (a whole number: Anvil's evm_setIntervalMining takes no
   * fractions), or back to automine with 0.
   */
  setBlockTime(seconds: number): Promise<void>;
  /** The last lines Anvil wrote (errors mostly: it runs with --quiet). */
  lastOutput(): string;
  /** Stops Anvil; with a state file, it writes the chain there on the way out. */
  stop(): Promise<void>;
}

interface AnvilOptions {
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Chain id (default 31337, the local network's). */
  chainId?: number;
  /**
   * Seconds between blocks, fractions allowed (Anvil's --block-time); absent or 0: every
   * transaction is mined at once as it arrives (automine).
   */
  blockTimeSeconds?: number;
  /**
   * Anvil's --state: the chain is loaded from this file when it exists and written to it when
   * Anvil stops (SIGINT or SIGTERM), and every `stateIntervalSeconds` while it runs.
   */
  stateFile?: string;
  /** How often the state file is rewritten while running (default 30 s), so a crash loses little. */
  stateIntervalSeconds?: number;
  timeoutMs?: number;
  /** Each chunk Anvil writes (stdout and stderr). */
  log?: (chunk: string) => void;
  /**
   * Runs Anvil in its own process group, so a Ctrl-C meant for the parent does not stop it before
   * the parent is done with it (stopping the runners first, then saving the chain).
   */
  ownProcessGroup?: boolean;
}

/** Anvil's native binary from the @foundry-rs/anvil-<platform>-<arch> npm package. */
function anvilBinary(): string {
  const arch = ({ x64: "amd64", arm64: "arm64" } as Record<string, string>)[process.arch];
  const pkg =
    arch && ["linux", "darwin", "win32"].includes(process.platform)
      ? `@foundry-rs/anvil-${process.platform}-${arch}`
      : undefined;
  if (!pkg) throw new ConfigError(`Anvil has no npm build for ${process.platform}-${process.arch}`);
  // Resolved from the wrapper package, which depends on the platform package. The binary is
  // spawned directly, not through the wrapper's bin.mjs, so signals reach Anvil itself.
  const require = createRequire(import.meta.url);
  let bin: string;
  try {
    const from = createRequire(require.resolve("@foundry-rs/anvil/package.json"));
    bin = path.join(
      path.dirname(from.resolve(`${pkg}/package.json`)),
      "bin",
      process.platform === "win32" ? "anvil.exe" : "anvil",
    );
  } catch (cause) {
    throw new ConfigError(`${pkg} is not installed (npm install installs it with @foundry-rs/anvil)`, { cause });
  }
  if (!existsSync(bin)) throw new ConfigError(`Anvil binary missing at ${bin}; reinstall @foundry-rs/anvil`);
  return bin;
}

function checkBlockTime(seconds: number, wholeOnly: boolean): void {
  if (!Number.isFinite(seconds) || seconds < 0 || (wholeOnly && !Number.isInteger(seconds))) {
    throw new ConfigError(
      `block time must be ${wholeOnly ? "a whole number of seconds" : "a number of seconds"} >= 0, got ${seconds}`,
    );
  }
}

type Rpc = (method: string, params?: unknown[]) => Promise<unknown>;

function rpcAt(rpcUrl: string): Rpc {
  return async (method, params = []) => {
    const res = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    const body = (await res.json()) as { result?: unknown; error?: { message: string } };
    if (body.error) throw new RpcUnreachableError(`${method} failed: ${body.error.message}`);
    return body.result;
  };
}

/**
 * Anvil restores a saved chain's blocks but not its clock: a chain whose time was moved forward
 * (governance fast-forwards) would get its next block stamped earlier than its head. The clock is
 * moved to the head's time instead, so chain time never goes back.
 */
async function keepClockMonotonic(rpc: Rpc): Promise<void> {
  const head = (await rpc("eth_getBlockByNumber", ["latest", false])) as { timestamp: string };
  const ahead = Number(BigInt(head.timestamp)) - Math.floor(Date.now() / 1000);
  if (ahead > 0) await rpc("evm_increaseTime", [ahead]);
}

/**
 * Starts Anvil bound to 127.0.0.1 as a child process (real JSON-RPC and WebSocket endpoints, the
 * same as any other chain to the code that talks to it): chain id 31337, the development
 * mnemonic's accounts funded, and quiet (its per-request lines would drown the user).
 */
export async function startAnvil(opts: AnvilOptions = {}): Promise<AnvilNode> {
  const blockTime = opts.blockTimeSeconds ?? 0;
  checkBlockTime(blockTime, false);
  const port = opts.port ?? (await freePort());
  const args = [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--chain-id",
    String(opts.chainId ?? LOCAL_CHAIN_ID),
    "--mnemonic",
    DEV_MNEMONIC,
    "--accounts",
    String(DEV_ACCOUNT_COUNT),
    "--quiet",
  ];
  if (blockTime > 0) args.push("--block-time", String(blockTime));
  const resuming = opts.stateFile !== undefined && existsSync(opts.stateFile);
  if (opts.stateFile) args.push("--state", opts.stateFile, "--state-interval", String(opts.stateIntervalSeconds ?? 30));
  const child = spawn(anvilBinary(), args, {
    stdio: ["ignore", "pipe", "pipe"],
    detached: opts.ownProcessGroup === true,
  });
  let alive = true;
  let tail: string[] = [];
  const onData = (d: Buffer) => {
    const s = d.toString();
    tail = [...tail, ...s.split("\n").filter((l) => l.trim())].slice(-20);
    opts.log?.(s);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => (alive = false));
  child.once("error", (error) => tail.push(String(error)));
  const rpcUrl = `http://127.0.0.1:${port}`;
  const rpc = rpcAt(rpcUrl);
  try {
    await waitForRpc(rpcUrl, opts.timeoutMs ?? 30_000, () => alive);
    if (resuming) await keepClockMonotonic(rpc);
  } catch (error) {
    child.kill("SIGKILL");
    throw new RpcUnreachableError(
      `Anvil failed to start on 127.0.0.1:${port}: ${tail.slice(-3).join(" | ") || "no output"}`,
      { cause: error },
    );
  }
  let current = blockTime;
  return {
    rpcUrl,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    process: child,
    get blockTimeSeconds() {
      return current;
    },
    async setBlockTime(seconds) {
      checkBlockTime(seconds, true);
      if (seconds > 0) await rpc("evm_setIntervalMining", [seconds]);
      else await rpc("evm_setAutomine", [true]);
      current = seconds;
    },
    lastOutput: () => tail.join("\n"),
    stop: async () => {
      if (!alive) return;
      child.kill("SIGTERM");
      // Writing a large state file takes a moment; a node that hangs is killed all the same.
      const timer = setTimeout(() => child.kill("SIGKILL"), opts.stateFile ? 30_000 : 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
