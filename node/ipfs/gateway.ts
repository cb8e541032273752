import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as dagPb from "@ipld/dag-pb";
import { exporter } from "ipfs-unixfs-exporter";
import { CID } from "multiformats/cid";
import { carHeader, carSection, readCar } from "./car.ts";
import { ContentInvalidError } from "./errors.ts";
import { checkSize, readAll, type ReadOptions } from "./read.ts";

/**
 * An IPFS trustless gateway (https://specs.ipfs.tech/http-gateways/trustless-gateway/) over the
 * blocks a node holds, and the fetcher that uses one: peers serve peers over plain HTTP, which on a
 * local network moves a 64 MiB model several times faster than bitswap, and trust is unchanged
 * because the fetcher checks every block against its CID and walks the DAG from the CID it asked
 * for (a gateway can only withhold blocks, never substitute them).
 *
 * Served: `GET|HEAD /ipfs/<cid>?format=raw` (one block) and `?format=car` (the whole DAG, CARv1,
 * depth-first, no duplicates; `dag-scope=all` only), or the same chosen by the Accept header
 * (`application/vnd.ipld.raw`, `application/vnd.ipld.car`). Only blocks already held are served
 * (a gateway request never makes the node fetch anything); anything else is 404, 400 or 406.
 */

const DAG_PB = 0x70;
const RAW = 0x55;
const CAR_TYPE = "application/vnd.ipld.car; version=1; order=dfs; dups=n";
const RAW_TYPE = "application/vnd.ipld.raw";

/** The blocks a gateway may serve: those held locally (undefined when not held). */
export interface LocalBlocks {
  get(cid: CID): Promise<Uint8Array | undefined>;
}

export interface GatewayServer {
  /** `http://host:port`, the URL other runners list in `ipfs.gateways`. */
  url: string;
  close(): Promise<void>;
}

export async function startTrustlessGateway(opts: {
  host: string;
  port: number;
  blocks: LocalBlocks;
  log?: (event: string, fields: object) => void;
}): Promise<GatewayServer> {
  const log = opts.log ?? (() => {});
  const server = createServer((req, res) => {
    serve(req, res, opts.blocks).catch((error: unknown) => {
      log("ipfs.gateway.error", { url: req.url, error: (error as Error).message });
      if (!res.headersSent) text(res, 500, "internal error");
      else res.destroy();
    });
  });
  // A stalled client must not pin a socket forever.
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { "content-type": "text/plain; charset=utf-8" });
  res.end(`${body}\n`);
}

async function serve(req: IncomingMessage, res: ServerResponse, blocks: LocalBlocks): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") return text(res, 405, "only GET and HEAD");
  const url = new URL(req.url ?? "/", "http://gateway");
  const m = /^\/ipfs\/([^/]+)\/?$/.exec(url.pathname);
  if (!m) return text(res, 400, "expected /ipfs/<cid> (paths inside a DAG are not served)");
  let cid: CID;
  try {
    cid = CID.parse(decodeURIComponent(m[1]!));
  } catch {
    return text(res, 400, "not a CID");
  }
  const accept = req.headers.accept ?? "";
  const format = url.searchParams.get("format") ?? (accept.includes("application/vnd.ipld.car") ? "car" : accept.includes(RAW_TYPE) ? "raw" : null);
  if (format !== "raw" && format !== "car") return text(res, 406, "a trustless gateway: ask for format=raw or format=car");
  const scope = url.searchParams.get("dag-scope");
  if (format === "car" && ((scope !== null && scope !== "all") || url.searchParams.has("entity-bytes"))) return text(res, 400, "only dag-scope=all is served");
  const root = await blocks.get(cid);
  if (!root) return text(res, 404, `${cid} is not held here`);
  const headers = { "cache-control": "public, max-age=29030400, immutable", "x-content-type-options": "nosniff", etag: `"${cid}.${format}"` };
  if (format === "raw") {
    res.writeHead(200, { ...headers, "content-type": RAW_TYPE, "content-length": root.byteLength });
    res.end(req.method === "HEAD" ? undefined : root);
    return;
  }
  res.writeHead(200, { ...headers, "content-type": CAR_TYPE });
  if (req.method === "HEAD") return void res.end();
  await write(res, carHeader(cid));
  // Depth-first, children in link order: a file's leaves arrive in the order of its bytes.
  const sent = new Set<string>();
  const stack: { cid: CID; block: Uint8Array }[] = [{ cid, block: root }];
  while (stack.length > 0) {
    const { cid: c, block } = stack.pop()!;
    const id = c.multihash.toString();
    if (sent.has(id)) continue;
    sent.add(id);
    for (const part of carSection(c, block)) await write(res, part);
    if (c.code !== DAG_PB) continue;
    const links = dagPb.decode(block).Links.map((l) => l.Hash);
    const children: { cid: CID; block: Uint8Array }[] = [];
    for (const child of links) {
      if (child.code !== DAG_PB && child.code !== RAW) continue;
      const b = await blocks.get(child);
      // Headers are sent: a truncated CAR is how a gateway says "not all of it" mid-stream.
      if (!b) return void res.destroy();
      children.push({ cid: child, block: b });
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  res.end();
}

function write(res: ServerResponse, bytes: Uint8Array): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error("client went away"));
  if (res.write(bytes)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      res.off("drain", done);
      res.off("close", closed);
      if (error) reject(error);
      else resolve();
    };
    const closed = () => done(new Error("client went away"));
    res.once("drain", done);
    res.once("close", closed);
  });
}

/** A gateway answered with an error status or broke off: try the next source. */
export class GatewayFetchError extends ContentInvalidError {}

export interface GatewayFetch {
  bytes: Uint8Array;
  /** Every block received (verified), for the caller to keep and serve in turn. */
  blocks: [CID, Uint8Array][];
}

/**
 * Fetches a UnixFS file (or raw block) as one CAR from a trustless gateway, checking each block
 * against its CID as it arrives, then reads the file out of those blocks from `cid` down (a block
 * missing from the CAR, or one that is not part of a file, fails the fetch: ContentInvalidError).
 * The blocks a gateway may send are bounded by `maxBytes` (plus room for the DAG's inner nodes).
 */
export async function fetchFromGateway(gateway: string, cidString: string, read: ReadOptions = {}): Promise<GatewayFetch> {
  const cid = CID.parse(cidString);
  const url = new URL(`ipfs/${cid}`, gateway.endsWith("/") ? gateway : `${gateway}/`);
  url.searchParams.set("format", "car");
  url.searchParams.set("dag-scope", "all");
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: "application/vnd.ipld.car" }, signal: read.signal, redirect: "error" });
  } catch (error) {
    read.signal?.throwIfAborted();
    throw new GatewayFetchError(`gateway ${gateway} cannot be reached`, { cause: error });
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new GatewayFetchError(`gateway ${gateway} answered ${res.status} for ${cid}`);
  }
  const limit = read.maxBytes === undefined ? Infinity : read.maxBytes + Math.ceil(read.maxBytes / 64) + 1024 * 1024;
  const blocks: [CID, Uint8Array][] = [];
  const byHash = new Map<string, Uint8Array>();
  let received = 0;
  try {
    for await (const [c, block] of readCar(res.body as AsyncIterable<Uint8Array>, cid)) {
      received += block.byteLength;
      if (received > limit) throw new GatewayFetchError(`gateway ${gateway} sent more than ${limit} bytes of blocks for ${cid}`);
      blocks.push([c, block]);
      byHash.set(c.multihash.toString(), block);
      read.onProgress?.(received);
    }
  } catch (error) {
    await res.body.cancel().catch(() => {});
    read.signal?.throwIfAborted();
    if (error instanceof ContentInvalidError) throw error;
    throw new GatewayFetchError(`gateway ${gateway} broke off sending ${cid}`, { cause: error });
  }
  const local = {
    // eslint-disable-next-line require-yield
    *get(c: CID): Generator<Uint8Array> {
      const block = byHash.get(c.multihash.toString());
      if (!block) throw new ContentInvalidError(`gateway ${gateway} left block ${c} of ${cid} out`);
      yield block;
    },
  };
  let entry;
  try {
    entry = await exporter(cid, local, { signal: read.signal });
  } catch (error) {
    if (error instanceof ContentInvalidError) throw error;
    throw new ContentInvalidError(`${cid} is not a UnixFS file`, { cause: error });
  }
  if (entry.type !== "file" && entry.type !== "raw") throw new ContentInvalidError(`${cid} is a ${entry.type}, not a file`);
  const size = Number(entry.size);
  checkSize(cidString, size, read.maxBytes);
  try {
    const bytes = await readAll(cidString, entry.content({ signal: read.signal }), { signal: read.signal, maxBytes: read.maxBytes, size });
    return { bytes, blocks };
  } catch (error) {
    read.signal?.throwIfAborted();
    if (error instanceof ContentInvalidError) throw error;
    throw new ContentInvalidError(`${cid} cannot be read from the blocks gateway ${gateway} sent`, { cause: error });
  }
}
