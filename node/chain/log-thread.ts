/**
 * eth_getLogs and event decoding on a thread of their own (log-worker.ts), for the chain watcher
 * (issue 14): the runner's heap then never holds a burst's raw response, and job inputs arrive as
 * bytes outside the JavaScript heap. The watcher's range splitting, rate-limit handling and
 * reorg checks stay on the runner's thread: a failed query's error is rebuilt here link by link,
 * so that classifyLogError reads it as it would the transport's own.
 *
 * The thread starts at the first query and holds the process only while a query is out; if it
 * dies, the queries out fail retryably and the next query starts a new one.
 */
import { Worker } from "node:worker_threads";
import type { OnRpcCall } from "./clients.ts";
import { RpcFailedError, type LogQuery } from "./logs.ts";
import type { DecodedLog } from "./watcher.ts";
import type { LogThreadConfig, LogThreadReply, LogThreadRequest, WireError } from "./log-thread-protocol.ts";

const WORKER_ENTRY = new URL("./log-worker.ts", import.meta.url);

export interface LogThread {
  /** The decoded events of the contracts at `address` in the range or block asked (viem's strict decoding). */
  getLogs(query: LogQuery): Promise<DecodedLog[]>;
  close(): Promise<void>;
}

export function createLogThread(config: LogThreadConfig, opts: { onCall?: OnRpcCall } = {}): LogThread {
  let worker: Worker | null = null;
  let nextId = 0;
  let closed = false;
  const pending = new Map<number, { resolve: (logs: DecodedLog[]) => void; reject: (e: Error) => void }>();

  const fail = (w: Worker, error: Error) => {
    if (worker !== w) return;
    worker = null;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };

  const start = (): Worker => {
    const w = new Worker(WORKER_ENTRY, {
      workerData: config,
      // A second thread cannot take the runner's debugger port.
      execArgv: process.execArgv.filter((arg) => !arg.startsWith("--inspect")),
    });
    w.unref();
    w.on("message", (reply: LogThreadReply) => {
      for (const c of reply.calls ?? []) opts.onCall?.(c.method, c.endpoint, c.count);
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (pending.size === 0) w.unref();
      if ("error" in reply) p.reject(errorOf(reply.error));
      else p.resolve(reply.logs as unknown as DecodedLog[]);
    });
    w.on("error", (cause) => fail(w, new RpcFailedError("the chain-log thread failed", { cause })));
    w.on("exit", (code) => fail(w, new RpcFailedError(`the chain-log thread exited (code ${code})`)));
    return w;
  };

  return {
    getLogs(query) {
      if (closed) return Promise.reject(new RpcFailedError("the chain-log thread is closed"));
      const w = (worker ??= start());
      const id = nextId++;
      const request: LogThreadRequest = { id, query };
      return new Promise<DecodedLog[]>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.ref();
        w.postMessage(request);
      });
    },
    async close() {
      closed = true;
      const w = worker;
      if (!w) return;
      fail(w, new RpcFailedError("the chain-log thread is closed"));
      await w.terminate();
    },
  };
}

/** The worker's error chain as Errors again, outermost first, each the cause of the one before. */
function errorOf(chain: WireError[]): Error {
  let cause: Error | undefined;
  for (const link of [...chain].reverse()) {
    const e = new Error(link.message, cause ? { cause } : undefined);
    e.name = link.name;
    Object.assign(e, {
      ...(link.shortMessage !== undefined && { shortMessage: link.shortMessage }),
      ...(link.details !== undefined && { details: link.details }),
      ...(link.code !== undefined && { code: link.code }),
      ...(link.status !== undefined && { status: link.status }),
    });
    cause = e;
  }
  return cause ?? new Error("eth_getLogs failed");
}
