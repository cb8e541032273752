import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { cidOfBytes } from "../../node/ipfs/cid.ts";

export interface FakeKubo {
  url: string;
  /** Every request seen: the RPC command ("add", "cat", ...) and its query parameters. */
  requests: { command: string; params: URLSearchParams }[];
  /** CIDs for which `cat` answers HTTP 500, like a Kubo that gave up looking for the content. */
  missing: Set<string>;
  /** CIDs for which `cat` never answers, like a Kubo still looking for providers. */
  stalled: Set<string>;
  close(): Promise<void>;
}

/**
 * Just enough of Kubo's RPC API (/api/v0/add, cat, version) to prove the client wiring, on
 * 127.0.0.1. `add` computes CIDs with the offline recipe, honouring `cid-version`.
 */
export async function startFakeKubo(): Promise<FakeKubo> {
  const blocks = new Map<string, Uint8Array>();
  const requests: FakeKubo["requests"] = [];
  const missing = new Set<string>();
  const stalled = new Set<string>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const command = url.pathname.replace(/^\/api\/v0\//, "");
    requests.push({ command, params: url.searchParams });
    const body = await readBody(req);
    if (req.method !== "POST") return error(res, 405, "Kubo RPC accepts POST only");
    if (command === "version") {
      return json(res, { Version: "0.36.0", Commit: "", Repo: "16", System: "amd64/linux", Golang: "go1.24" });
    }
    if (command === "add") {
      const form = await new Response(body, {
        headers: { "content-type": req.headers["content-type"] ?? "" },
      }).formData();
      const file = [...form.values()].find((v) => typeof v !== "string");
      if (file === undefined || typeof file === "string") return error(res, 400, "no file part");
      const bytes = new Uint8Array(await file.arrayBuffer());
      const cid = await cidOfBytes(bytes, { cidVersion: url.searchParams.get("cid-version") === "1" ? 1 : 0 });
      blocks.set(cid, bytes);
      res.setHeader("content-type", "application/json");
      return void res.end(JSON.stringify({ Name: cid, Hash: cid, Size: String(bytes.byteLength) }) + "\n");
    }
    if (command === "cat") {
      const cid = url.searchParams.get("arg") ?? "";
      if (stalled.has(cid)) return;
      const bytes = blocks.get(cid);
      if (!bytes || missing.has(cid)) return error(res, 500, `block ${cid} not found`);
      const length = url.searchParams.has("length") ? Number(url.searchParams.get("length")) : bytes.byteLength;
      res.setHeader("content-type", "application/octet-stream");
      // Several writes, so the client sees a stream rather than one chunk.
      const part = 64 * 1024;
      const end = Math.min(length, bytes.byteLength);
      for (let at = 0; at < end; at += part) res.write(bytes.subarray(at, Math.min(at + part, end)));
      return void res.end();
    }
    return error(res, 404, `unknown command ${command}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => error(res, 500, String(e)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    missing,
    stalled,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, value: object): void {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(value));
}

function error(res: ServerResponse, status: number, message: string): void {
  res.statusCode = status;
  json(res, { Message: message, Code: 0, Type: "error" });
}
