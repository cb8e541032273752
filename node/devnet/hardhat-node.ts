import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { RpcUnreachableError } from "../errors.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface HardhatNode {
  rpcUrl: string;
  wsUrl: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Polls eth_chainId until the node answers or the deadline passes. */
export async function waitForRpc(rpcUrl: string, timeoutMs: number, isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline && isAlive()) {
    try {
      const res = await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (res.ok) return;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new RpcUnreachableError(`Hardhat node at ${rpcUrl} did not answer within ${timeoutMs} ms`, { cause: last });
}

/**
 * Starts `hardhat node` bound to 127.0.0.1 as a child process (a real JSON-RPC and WebSocket
 * endpoint, the same as any other chain to the code that talks to it).
 */
export async function startHardhatNode(
  opts: {
    port?: number;
    timeoutMs?: number;
    log?: (chunk: string) => void;
    genesisDate?: string;
    /**
     * Runs the node in its own process group, so a Ctrl-C meant for the parent does not kill it
     * before the parent is done with it (saving the chain on the way out).
     */
    ownProcessGroup?: boolean;
  } = {},
): Promise<HardhatNode> {
  const port = opts.port ?? (await freePort());
  // Hardhat's CLI run by this very Node binary: its shebang would pick whatever `node` is on PATH.
  const bin = realpathSync(path.join(ROOT, "node_modules", ".bin", "hardhat"));
  const child = spawn(process.execPath, [bin, "node", "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: ROOT,
    env: opts.genesisDate ? { ...process.env, CONCLAVE_GENESIS_DATE: opts.genesisDate } : process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: opts.ownProcessGroup === true,
  });
  let alive = true;
  let output = "";
  const onData = (d: Buffer) => {
    const s = d.toString();
    if (output.length < 20_000) output += s;
    opts.log?.(s);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  child.on("exit", () => (alive = false));
  const rpcUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForRpc(rpcUrl, opts.timeoutMs ?? 60_000, () => alive);
  } catch (error) {
    child.kill("SIGKILL");
    throw new RpcUnreachableError(`Hardhat node failed to start on port ${port}: ${output.trim().split("\n").slice(-3).join(" | ")}`, {
      cause: error,
    });
  }
  return {
    rpcUrl,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (!alive) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
      }),
  };
}
