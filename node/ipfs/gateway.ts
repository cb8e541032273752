import { open } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import type { AddressInfo } from "node:net";
import * as dagPb from "@ipld/dag-pb";
import { CID } from "multiformats/cid";
import { carHeader, carSection } from "./car.ts";
import { oneLine } from "../errors.ts";
import { ContentInvalidError } from "./errors.ts";
import { DAG_PB, fileNode, hashKey, RAW } from "./unixfs-file.ts";

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
 *
 * Also served, as a path gateway does: `GET|HEAD /ipfs/<cid>` with `Accept: application/octet-stream`
 * (and no format) answers the file's own bytes, with their length. That answer is not verifiable
 * block by block; a fetcher takes it only when it holds the file's sha256 from a trusted source
 * (a model version's weights: the registry's digest), and it is the fastest way to move weights
 * (see gateway-fetch.ts).
 */

const FILE_TYPE = "application/octet-stream";
const CAR_TYPE = "application/vnd.ipld.car; version=1; order=dfs; dups=n";
const RAW_TYPE = "application/vnd.ipld.raw";

/** The blocks a gateway may serve: those held locally (undefined when not held). */
interface LocalBlocks {
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
  /**
   * A file holding a CID's bytes, when the node keeps one (a runner's verified model cache): a
   * file answer then streams it in one sequential read instead of walking the DAG's blocks (about
   * twice as fast for a 64 MiB model). Served as is; the fetcher checks its sha256.
   */
  files?: (cid: CID) => string | undefined;
  log?: (event: string, fields: object) => void;
}): Promise<GatewayServer> {
  const log = opts.log ?? (() => {});
  const server = createServer((req, res) => {
    serve(req, res, opts.blocks, opts.files).catch((error: unknown) => {
      log("ipfs.gateway.error", { url: req.url, error: oneLine(error) });
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

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  blocks: LocalBlocks,
  files?: (cid: CID) => string | undefined,
): Promise<void> {
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
  const format =
    url.searchParams.get("format") ??
    (accept.includes("application/vnd.ipld.car")
      ? "car"
      : accept.includes(RAW_TYPE)
        ? "raw"
        : accept.includes(FILE_TYPE)
          ? "file"
          : null);
  if (format !== "raw" && format !== "car" && format !== "file")
    return text(
      res,
      406,
      "a trustless gateway: ask for format=raw or format=car (or Accept: application/octet-stream for a file's bytes)",
    );
  const scope = url.searchParams.get("dag-scope");
  if (format === "car" && ((scope !== null && scope !== "all") || url.searchParams.has("entity-bytes")))
    return text(res, 400, "only dag-scope=all is served");
  const headers = {
    "cache-control": "public, max-age=29030400, immutable",
    "x-content-type-options": "nosniff",
    etag: `"${cid}.${format}"`,
  };
  const file = format === "file" ? files?.(cid) : undefined;
  if (file !== undefined && (await sendCachedFile(req, res, file, headers))) return;
  const root = await blocks.get(cid);
  if (!root) return text(res, 404, `${cid} is not held here`);
  if (format === "raw") {
    res.writeHead(200, { ...headers, "content-type": RAW_TYPE, "content-length": root.byteLength });
    res.end(req.method === "HEAD" ? undefined : root);
    return;
  }
  if (format === "file") return sendFile(req, res, blocks, cid, root, headers);
  res.writeHead(200, { ...headers, "content-type": CAR_TYPE });
  if (req.method === "HEAD") return void res.end();
  await write(res, carHeader(cid));
  const sent = new Set<string>();
  // Headers are sent: a truncated CAR is how a gateway says "not all of it" mid-stream.
  if (!(await emit(res, blocks, cid, root, sent))) return void res.destroy();
  res.end();
}

/** Blocks read ahead of the one being sent, per DAG level: reads overlap the socket's writes. */
const READ_AHEAD = 16;

/**
 * Writes `cid`'s block, then its children depth-first in link order (a file's leaves then arrive
 * in the order of its bytes), each block once. False when a block is not held here.
 */
async function emit(
  res: ServerResponse,
  blocks: LocalBlocks,
  cid: CID,
  block: Uint8Array,
  sent: Set<string>,
): Promise<boolean> {
  const id = hashKey(cid);
  if (sent.has(id)) return true;
  sent.add(id);
  for (const part of carSection(cid, block)) await write(res, part);
  if (cid.code !== DAG_PB) return true;
  const links = dagPb
    .decode(block)
    .Links.map((l) => l.Hash)
    .filter((c) => c.code === DAG_PB || c.code === RAW);
  return eachChild(blocks, links, (c, b) => emit(res, blocks, c, b, sent));
}

/** Streams a file the node keeps for the CID; false (nothing sent) when it cannot be opened. */
async function sendCachedFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  headers: Record<string, string>,
): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch {
    return false;
  }
  try {
    const { size } = await handle.stat();
    res.writeHead(200, { ...headers, "content-type": FILE_TYPE, "content-length": size });
    if (req.method === "HEAD") {
      res.end();
      return true;
    }
    await pipeline(handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false }), res);
    return true;
  } finally {
    await handle.close().catch(() => {});
  }
}

/**
 * Answers a UnixFS file's bytes (`Accept: application/octet-stream`): the length its root block
 * declares, then each node's data and its children's, depth-first. A block not held here cuts the
 * body short of that length, which is how the client learns of it.
 */
async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  blocks: LocalBlocks,
  cid: CID,
  root: Uint8Array,
  headers: Record<string, string>,
): Promise<void> {
  let size: number;
  try {
    size = cid.code === RAW ? root.byteLength : Number(fileNode(cid, cid, root).size);
  } catch (error) {
    if (error instanceof ContentInvalidError) return text(res, 400, `${cid} is not a UnixFS file`);
    throw error;
  }
  res.writeHead(200, { ...headers, "content-type": FILE_TYPE, "content-length": size });
  if (req.method === "HEAD") return void res.end();
  const pieces = async (c: CID, block: Uint8Array): Promise<boolean> => {
    if (c.code === RAW) {
      await write(res, block);
      return true;
    }
    const node = fileNode(cid, c, block);
    if (node.data && node.data.byteLength > 0) await write(res, node.data);
    return eachChild(blocks, node.links, pieces);
  };
  if (!(await pieces(cid, root))) return void res.destroy();
  res.end();
}

/**
 * Visits `links`' blocks in order, reading up to READ_AHEAD of them ahead of the one being visited
 * (reads overlap the socket's writes). False as soon as a block is not held here or a visit says so.
 */
async function eachChild(
  blocks: LocalBlocks,
  links: CID[],
  visit: (cid: CID, block: Uint8Array) => Promise<boolean>,
): Promise<boolean> {
  const reads: (Promise<Uint8Array | undefined> | undefined)[] = [];
  let started = 0;
  for (let i = 0; i < links.length; i++) {
    for (; started < Math.min(links.length, i + READ_AHEAD); started++) {
      const read = blocks.get(links[started]!);
      read.catch(() => {}); // awaited below, in order; an early rejection is not unhandled
      reads[started] = read;
    }
    const child = await reads[i]!;
    reads[i] = undefined;
    if (!child || !(await visit(links[i]!, child))) return false;
  }
  return true;
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
