/**
 * The chain-log thread's body (see log-thread.ts): it runs eth_getLogs and decodes the events on
 * its own heap, and hands the runner's thread compact records. A burst's response (hundreds of
 * JobRequested logs, each with a few KiB of input as hex) is thus parsed, formatted and decoded
 * here; the runner's heap receives each event's arguments once, with every job input as bytes in
 * one transferred buffer (outside the JavaScript heap), so its young generation no longer copies
 * megabytes of response through each scavenge of a burst (issue 14: event-loop lag).
 */
import { parentPort, workerData } from "node:worker_threads";
import { createPublicClient, hexToBytes, parseEventLogs, type Abi, type Hex } from "viem";
import { transportOf } from "./clients.ts";
import { causeChain } from "./logs.ts";
import type {
  LogThreadConfig,
  LogThreadReply,
  LogThreadRequest,
  RpcCallCount,
  WireError,
  WireLog,
} from "./log-thread-protocol.ts";

const config = workerData as LogThreadConfig;
/** Requests sent since the last reply, each once (see RpcCallCount): they go back with the next reply. */
let calls: RpcCallCount[] = [];
const { transport } = transportOf(config.urls, config.timeoutMs, config.retryCount, (method, endpoint) => {
  const known = calls.find((c) => c.method === method && c.endpoint === endpoint);
  if (known) known.count++;
  else calls.push({ method, endpoint, count: 1 });
});
const client = createPublicClient({ transport });
const abi = config.abi as Abi;

parentPort!.on("message", (request: LogThreadRequest) => {
  void answer(request).then(({ reply, transfer }) => {
    parentPort!.postMessage({ ...reply, calls }, transfer);
    calls = [];
  });
});

async function answer(r: LogThreadRequest): Promise<{ reply: LogThreadReply; transfer: ArrayBuffer[] }> {
  try {
    const q = r.query;
    const raw = await ("blockHash" in q
      ? client.getLogs({ address: q.address, blockHash: q.blockHash })
      : client.getLogs({ address: q.address, fromBlock: q.fromBlock, toBlock: q.toBlock }));
    const decoded = parseEventLogs({ abi, logs: raw, strict: true }) as unknown as WireLog[];
    const { logs, buffer } = compact(decoded);
    return { reply: { id: r.id, logs }, transfer: buffer ? [buffer] : [] };
  } catch (error) {
    return { reply: { id: r.id, error: wireError(error) }, transfer: [] };
  }
}

/** The fields the runner reads, with every `input` argument moved into one buffer of bytes. */
function compact(decoded: WireLog[]): {
  logs: WireLog[];
  buffer: ArrayBuffer | null;
} {
  const inputs = decoded.map((l) => (typeof l.args.input === "string" ? hexToBytes(l.args.input as Hex) : null));
  const total = inputs.reduce((n, b) => n + (b?.length ?? 0), 0);
  const buffer = total > 0 ? new ArrayBuffer(total) : null;
  let offset = 0;
  const logs = decoded.map((l, i): WireLog => {
    const input = inputs[i];
    let args = l.args;
    if (input) {
      const view = new Uint8Array(buffer!, offset, input.length);
      view.set(input);
      offset += input.length;
      args = { ...args, input: view };
    }
    return {
      address: l.address,
      blockHash: l.blockHash,
      blockNumber: l.blockNumber,
      logIndex: l.logIndex,
      transactionHash: l.transactionHash,
      transactionIndex: l.transactionIndex,
      removed: l.removed,
      eventName: l.eventName,
      args,
    };
  });
  return { logs, buffer };
}

/** The error's cause chain as plain fields: what classifyLogError reads (codes, statuses, text). */
function wireError(error: unknown): WireError[] {
  return causeChain(error).map((e) => {
    const x = e as Record<string, unknown>;
    const pick = <T>(k: string, type: string) => (typeof x[k] === type ? (x[k] as T) : undefined);
    return {
      name: pick<string>("name", "string") ?? "Error",
      message: pick<string>("message", "string") ?? String(e),
      shortMessage: pick<string>("shortMessage", "string"),
      details: pick<string>("details", "string"),
      code: pick<number>("code", "number") ?? pick<string>("code", "string"),
      status: pick<number>("status", "number"),
    };
  });
}
