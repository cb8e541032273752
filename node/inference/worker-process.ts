import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
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

/** A worker process and the socket its messages travel on (frames: worker-frames.ts). */
export interface WorkerProcess {
  child: ChildProcess;
  socket: Socket;
}

/**
 * Starts a worker (worker.ts) with its configuration and environment, released (see setRef). Its
 * messages travel on a socket pair at the worker's fd 3, in frames, not on Node's IPC channel.
 */
export function startWorker(config: WorkerConfig, env: NodeJS.ProcessEnv): WorkerProcess {
  // A second process cannot take the runner's debugger port.
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith("--inspect"));
  const child = spawn(process.execPath, [...execArgv, WORKER_ENTRY, JSON.stringify(config)], {
    stdio: ["ignore", "inherit", "inherit", "pipe"],
    env,
  });
  const worker = { child, socket: child.stdio[3] as Socket };
  setRef(worker, false);
  return worker;
}

/** An idle worker must not keep the runner alive; one with work outstanding must. */
export function setRef({ child, socket }: WorkerProcess, on: boolean): void {
  // The socket is a handle of its own: unref'ing the process alone does not release it.
  if (on) {
    child.ref();
    socket.ref();
  } else {
    child.unref();
    socket.unref();
  }
}
