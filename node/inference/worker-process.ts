import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { WorkerConfig } from "./worker-protocol.ts";

/** Starting a worker process and holding or releasing the runner on it; the pool (executor.ts) drives it. */

const WORKER_ENTRY = fileURLToPath(new URL("./worker.ts", import.meta.url));

/**
 * The environment a worker process gets: the runner's, less every CONCLAVE_* variable (the
 * provider key, keystore password, RPC and Kubo URLs that may carry API keys). A worker needs none
 * of them; its configuration arrives as an argument.
 */
export function workerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.toUpperCase().startsWith("CONCLAVE_")));
}

/**
 * Forks a worker (worker.ts) with its configuration and environment, released (see setRef):
 * advanced serialization carries typed arrays and bigints, and sends only the bytes a view covers.
 */
export function forkWorker(config: WorkerConfig, env: NodeJS.ProcessEnv): ChildProcess {
  const child = fork(WORKER_ENTRY, [JSON.stringify(config)], {
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env,
    // A second process cannot take the runner's debugger port.
    execArgv: process.execArgv.filter((arg) => !arg.startsWith("--inspect")),
  });
  setRef(child, false);
  return child;
}

export /** An idle worker must not keep the runner alive; one with work outstanding must. */
function setRef(child: ChildProcess, on: boolean): void {
  // The IPC channel is a handle of its own: unref'ing the process alone does not release it.
  const channel = child.channel as { ref(): void; unref(): void } | null | undefined;
  if (on) {
    child.ref();
    channel?.ref();
  } else {
    child.unref();
    channel?.unref();
  }
}
