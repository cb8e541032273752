import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Logger } from "../log.ts";
import { oneLine } from "../errors.ts";

/** Votes signed by the server for the local network's development accounts (see dev-signer.ts). */
export interface DevVoter {
  vote(account: number, proposalId: bigint, support: number): Promise<{ txHash: string }>;
}

interface DashboardHandlers {
  /** The latest snapshot as JSON text (already serialized: one copy for every client). */
  snapshot(): string | null;
  /** Called with each new snapshot's JSON; returns the unsubscribe. */
  subscribe(onSnapshot: (json: string) => void): () => void;
  devVoter: DevVoter | null;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".ico": "image/x-icon",
};

const json = (res: ServerResponse, code: number, body: unknown) => {
  res.writeHead(code, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
};

const isLoopback = (a: string | undefined) => a === "127.0.0.1" || a === "::1" || a === "::ffff:127.0.0.1";

async function body(req: IncomingMessage, limit = 4_096): Promise<unknown> {
  let text = "";
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > limit) throw new Error("request body too large");
  }
  return JSON.parse(text);
}

/**
 * The dashboard's HTTP face: the built page as static files, GET /api/state (the latest
 * snapshot), GET /api/events (Server-Sent Events: a `state` event with each new snapshot) and,
 * on the local network only, POST /api/dev-vote (a vote signed for a development account).
 */
export async function startDashboardServer(opts: {
  host: string;
  port: number;
  staticDir: string;
  handlers: DashboardHandlers;
  log: Logger;
  portFallback?: boolean;
}) {
  const { handlers, log } = opts;
  const root = path.resolve(opts.staticDir);
  const clients = new Set<ServerResponse>();

  function serveFile(res: ServerResponse, pathname: string): void {
    const rel = pathname === "/" ? "index.html" : decodeURIComponent(pathname).replace(/^\/+/, "");
    const file = path.resolve(root, rel);
    if (!file.startsWith(root + path.sep) || !existsSync(file) || !statSync(file).isFile())
      return json(res, 404, { error: "not found" });
    res.writeHead(200, {
      "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "cache-control": rel === "index.html" ? "no-store" : "max-age=3600",
    });
    res.end(readFileSync(file));
  }

  function events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    const send = (data: string) => res.write(`event: state\ndata: ${data}\n\n`);
    const first = handlers.snapshot();
    if (first) send(first);
    clients.add(res);
    const unsubscribe = handlers.subscribe(send);
    req.on("close", () => {
      unsubscribe();
      clients.delete(res);
    });
  }

  async function devVote(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!handlers.devVoter)
      return json(res, 404, { error: "development accounts are offered on the local network only" });
    if (!isLoopback(req.socket.remoteAddress))
      return json(res, 403, { error: "development accounts sign for 127.0.0.1 only" });
    // Only the page itself may ask: a JSON body (other sites' forms cannot send one without a
    // CORS preflight, which is never answered), from this server's own origin and host name
    // (no DNS rebinding).
    const host = req.headers.host ?? "";
    const origin = req.headers.origin;
    if (
      !/^application\/json\b/.test(req.headers["content-type"] ?? "") ||
      !/^(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(host) ||
      (origin !== undefined && origin !== `http://${host}`)
    ) {
      return json(res, 403, { error: "development votes are accepted from the dashboard page only" });
    }
    let b: { account?: unknown; proposalId?: unknown; support?: unknown };
    try {
      b = (await body(req)) as typeof b;
    } catch {
      return json(res, 400, { error: "expected a JSON body {account, proposalId, support}" });
    }
    const account = Number(b.account);
    const support = Number(b.support);
    if (
      !Number.isInteger(account) ||
      ![0, 1, 2].includes(support) ||
      typeof b.proposalId !== "string" ||
      !/^\d+$/.test(b.proposalId)
    ) {
      return json(res, 400, { error: 'expected {account: n, proposalId: "<decimal>", support: 0|1|2}' });
    }
    try {
      json(res, 200, await handlers.devVoter.vote(account, BigInt(b.proposalId), support));
    } catch (error) {
      log.warn("dashboard: development vote failed", { error });
      json(res, 400, { error: oneLine(error) });
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    void (async () => {
      if (req.method === "POST" && url.pathname === "/api/dev-vote") return devVote(req, res);
      if (req.method !== "GET") return json(res, 405, { error: "method not allowed" });
      if (url.pathname === "/api/state") {
        const s = handlers.snapshot();
        if (!s) return json(res, 503, { error: "indexing the chain, try again shortly" });
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        return res.end(s);
      }
      if (url.pathname === "/api/events") return events(req, res);
      return serveFile(res, url.pathname);
    })().catch((error: unknown) => {
      log.error("dashboard: request failed", { error, path: url.pathname });
      if (!res.headersSent) json(res, 500, { error: "internal error" });
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(opts.port).catch(async (error: unknown) => {
    if (!opts.portFallback || (error as { code?: string }).code !== "EADDRINUSE") throw error;
    log.warn("dashboard: port in use, serving on a free port instead", { port: opts.port });
    await listen(0);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
