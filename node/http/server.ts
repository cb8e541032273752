import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { Logger } from "../log.ts";
import { jsonStringify } from "../json-stringify.ts";

interface HttpHandlers {
  metrics: Registry;
  /** Readiness with the reasons it is not ready yet. */
  ready(): { ready: boolean; details: Record<string, unknown> };
  status(): Record<string, unknown>;
  /** A job's record as clients read it (state, reason, result, attestation); null if unknown. */
  job(jobId: bigint): Promise<Record<string, unknown> | null>;
  /** The outputs of a job this runner computed, as safetensors bytes. */
  outputs(jobId: bigint): Promise<Uint8Array | null>;
}

const json = (res: ServerResponse, code: number, body: unknown) => {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(jsonStringify(body));
};

/**
 * The runner's HTTP face: /health (alive), /ready (caught up and able to work), /metrics
 * (Prometheus), /status, /jobs/<id> (a job's state, reason, result and signed attestation) and
 * /jobs/<id>/outputs (the output tensors as safetensors).
 */
export async function startHttpServer(opts: {
  host: string;
  port: number;
  handlers: HttpHandlers;
  log: Logger;
}): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const { handlers } = opts;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (req.method !== "GET") return json(res, 405, { error: "only GET" });
      if (url.pathname === "/health") return json(res, 200, { status: "ok" });
      if (url.pathname === "/ready") {
        const r = handlers.ready();
        return json(res, r.ready ? 200 : 503, r);
      }
      if (url.pathname === "/metrics") {
        res.writeHead(200, { "content-type": handlers.metrics.contentType });
        return res.end(await handlers.metrics.metrics());
      }
      if (url.pathname === "/status") return json(res, 200, handlers.status());
      const m = /^\/jobs\/(\d+)(\/outputs)?$/.exec(url.pathname);
      if (m) {
        const jobId = BigInt(m[1]!);
        if (m[2]) {
          const bytes = await handlers.outputs(jobId);
          if (!bytes) return json(res, 404, { error: `no outputs for job ${jobId}` });
          res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.byteLength });
          return res.end(bytes);
        }
        const job = await handlers.job(jobId);
        return job ? json(res, 200, job) : json(res, 404, { error: `job ${jobId} unknown to this runner` });
      }
      return json(res, 404, { error: "not found" });
    })().catch((error: unknown) => {
      opts.log.error("http handler failed", { error });
      if (!res.headersSent) json(res, 500, { error: "internal error" });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
