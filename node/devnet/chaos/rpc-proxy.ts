/**
 * An HTTP JSON-RPC reverse proxy on 127.0.0.1 in front of a node, whose misbehaviour can be
 * switched on and off while it runs: it drops connections (the socket is destroyed with no
 * answer, as a load balancer that restarts does), answers HTTP 429 with a JSON-RPC error (as a
 * rate-limited provider does), holds each request back before forwarding it, or answers calls
 * as a node behind the head would (as a load-balanced provider can). The chaos
 * harness puts one in front of each runner so it can hurt the runners' RPC without slowing the
 * clients, which talk to the node directly.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { laggingAnswer, type Reply } from "./lagging-node.ts";

type ProxyFault =
  | { kind: "none" }
  /** Destroys the socket of this share of requests (0..1) without an answer. */
  | { kind: "drop"; share: number }
  /** Answers this share of requests with HTTP 429 and a JSON-RPC "limit exceeded" error. */
  | { kind: "429"; share: number }
  /** Forwards every request after a delay drawn uniformly from [minMs, maxMs]. */
  | { kind: "latency"; minMs: number; maxMs: number }
  /**
   * Answers this share of calls as a node `blocks` behind the head would (see lagging-node.ts): a
   * load-balanced provider whose nodes are not in step.
   */
  | { kind: "lag"; blocks: number; share: number };

interface ProxyCounters {
  forwarded: number;
  dropped: number;
  limited: number;
  delayed: number;
  /** Calls answered as a node behind the head would (lag fault). */
  lagged: number;
  /** eth_getLogs calls refused for spanning more than maxLogRange blocks. */
  rangeRefused: number;
  /** Calls of methods a public provider does not serve, refused (see publicMethodsOnly). */
  methodRefused: number;
  /** The upstream node did not answer (it was down, or the forward failed). */
  upstreamErrors: number;
}

export interface RpcProxy {
  /** http://127.0.0.1:<port>, the URL to give a runner. */
  readonly url: string;
  fault(): ProxyFault;
  setFault(fault: ProxyFault): void;
  counters(): ProxyCounters;
  close(): Promise<void>;
}

interface RpcProxyOptions {
  /** The node's http:// JSON-RPC URL. */
  upstream: string;
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Draws in [0, 1): which requests a share-based fault hits (default Math.random; seed it for repeatable runs). */
  random?: () => number;
  /** Upstream call (default: global fetch); tests pass a fake. */
  fetchImpl?: typeof fetch;
  /**
   * Refuse eth_getLogs spanning more blocks than this, as public providers do (-32000 "exceed
   * maximum block range"); a span to "latest" counts up to the head. Default: no limit.
   */
  maxLogRange?: number;
  /**
   * Refuse the methods a public provider does not serve (-32601), as a runner meets them there:
   * the node's own namespaces (anvil_, evm_, debug_ ...), the keyed eth_ methods of a node that
   * holds accounts, and geth's eth_fillTransaction. Default: every method is forwarded.
   */
  publicMethodsOnly?: boolean;
}

const PRIVATE_NAMESPACES = ["anvil_", "hardhat_", "evm_", "debug_", "txpool_", "personal_", "admin_", "miner_"];
const PRIVATE_ETH_METHODS = new Set([
  "eth_fillTransaction",
  "eth_sendTransaction",
  "eth_sign",
  "eth_signTransaction",
  "eth_signTypedData_v4",
]);

/** Whether a public RPC provider refuses `method`. */
const privateMethod = (method: string): boolean =>
  PRIVATE_ETH_METHODS.has(method) || PRIVATE_NAMESPACES.some((ns) => method.startsWith(ns));

/** The id of a single call to a method a public provider refuses, or undefined (batches are forwarded). */
function refusedCall(body: Buffer): { id: unknown; method: string } | undefined {
  try {
    const call = JSON.parse(body.toString("utf8")) as { id?: unknown; method?: unknown };
    if (Array.isArray(call) || typeof call.method !== "string" || !privateMethod(call.method)) return undefined;
    return { id: call.id ?? null, method: call.method };
  } catch {
    return undefined;
  }
}

/** JSON-RPC error code providers use for rate limiting (EIP-1474 "limit exceeded"). */
export const RATE_LIMITED_CODE = -32005;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** The 429 body answers every call of a batch by its id, as real providers do. */
function rateLimitedBody(body: Buffer): string {
  const error = { code: RATE_LIMITED_CODE, message: "rate limited by the chaos proxy" };
  let ids: unknown[] = [null];
  let batch = false;
  try {
    const parsed = JSON.parse(body.toString("utf8")) as unknown;
    batch = Array.isArray(parsed);
    ids = (batch ? (parsed as { id?: unknown }[]) : [parsed as { id?: unknown }]).map((c) => c?.id ?? null);
  } catch {
    // A body that is not JSON still gets an error object.
  }
  const answers = ids.map((id) => ({ jsonrpc: "2.0", id, error }));
  return JSON.stringify(batch ? answers : answers[0]);
}

/** One call of a body (null for a batch or what is not JSON). */
function singleCall(body: Buffer): (Record<string, unknown> & { id?: unknown }) | null {
  try {
    const call = JSON.parse(body.toString("utf8")) as unknown;
    return call !== null && typeof call === "object" && !Array.isArray(call) ? (call as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A JSON-RPC answer to one call (HTTP 200). */
function answer(res: ServerResponse, id: unknown, reply: Reply): void {
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id, ...reply }));
}

/** A JSON-RPC error answer to one call, as a provider sends it (HTTP 200). */
function answerError(res: ServerResponse, id: unknown, code: number, message: string): void {
  answer(res, id, { error: { code, message } });
}

/** The span of an eth_getLogs call in blocks, or null for any other call (or a batch). */
async function logSpan(body: Buffer, head: () => Promise<bigint>): Promise<{ id: unknown; span: bigint } | null> {
  let call: { id?: unknown; method?: unknown; params?: unknown };
  try {
    call = JSON.parse(body.toString("utf8")) as typeof call;
  } catch {
    return null;
  }
  if (Array.isArray(call) || call.method !== "eth_getLogs" || !Array.isArray(call.params)) return null;
  const filter = (call.params[0] ?? {}) as { fromBlock?: string; toBlock?: string; blockHash?: string };
  if (filter.blockHash) return null;
  const at = async (tag: string | undefined) =>
    tag !== undefined && /^0x[0-9a-f]+$/i.test(tag) ? BigInt(tag) : tag === "earliest" ? 0n : head();
  const from = await at(filter.fromBlock ?? "latest");
  const to = await at(filter.toBlock ?? "latest");
  return { id: call.id ?? null, span: to - from + 1n };
}

export async function startRpcProxy(opts: RpcProxyOptions): Promise<RpcProxy> {
  const random = opts.random ?? Math.random;
  const fetchImpl = opts.fetchImpl ?? fetch;
  let current: ProxyFault = { kind: "none" };
  const counters: ProxyCounters = {
    forwarded: 0,
    dropped: 0,
    limited: 0,
    delayed: 0,
    lagged: 0,
    rangeRefused: 0,
    methodRefused: 0,
    upstreamErrors: 0,
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let body = await readBody(req);
    // The fault in force when the request arrived decides its fate, even if the window closes meanwhile.
    const fault = current;
    if (fault.kind === "drop" && random() < fault.share) {
      counters.dropped++;
      req.socket.destroy();
      return;
    }
    if (fault.kind === "429" && random() < fault.share) {
      counters.limited++;
      res.writeHead(429, { "content-type": "application/json", "retry-after": "1" }).end(rateLimitedBody(body));
      return;
    }
    const refused = opts.publicMethodsOnly ? refusedCall(body) : undefined;
    if (refused) {
      counters.methodRefused++;
      return answerError(res, refused.id, -32601, `the method ${refused.method} does not exist/is not available`);
    }
    const head = async () => {
      const r = await fetchImpl(opts.upstream, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }),
      });
      return BigInt(((await r.json()) as { result: string }).result);
    };
    if (opts.maxLogRange !== undefined) {
      const q = await logSpan(body, head);
      if (q && q.span > BigInt(opts.maxLogRange)) {
        counters.rangeRefused++;
        return answerError(res, q.id, -32000, `exceed maximum block range: ${opts.maxLogRange}`);
      }
    }
    let reply: ((result: unknown) => Reply) | undefined;
    if (fault.kind === "lag" && random() < fault.share) {
      const call = singleCall(body);
      const lag = call ? await laggingAnswer(call, async () => (await head()) - BigInt(fault.blocks)) : null;
      if (call && lag) {
        counters.lagged++;
        if (!("forward" in lag)) return answer(res, call.id, lag.reply);
        body = Buffer.from(JSON.stringify(lag.forward));
        reply = lag.reply;
      }
    }
    if (fault.kind === "latency") {
      counters.delayed++;
      await new Promise((r) => setTimeout(r, fault.minMs + random() * (fault.maxMs - fault.minMs)));
    }
    try {
      const upstream = await fetchImpl(opts.upstream, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const text = await upstream.text();
      counters.forwarded++;
      const answered = reply && upstream.ok ? (JSON.parse(text) as { id?: unknown; result?: unknown }) : null;
      if (answered && "result" in answered) return answer(res, answered.id ?? null, reply!(answered.result));
      res
        .writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" })
        .end(text);
    } catch {
      // The node is unreachable: answer as a gateway would, so the runner sees a transport error.
      counters.upstreamErrors++;
      if (!res.headersSent) res.writeHead(502).end();
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  // Dropped sockets and clients that hang up are expected here, not errors of the harness.
  server.on("clientError", (_e, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    fault: () => current,
    setFault: (f) => {
      current = f;
    },
    counters: () => ({ ...counters }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
