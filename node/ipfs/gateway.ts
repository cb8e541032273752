import { createHash } from "node:crypto";
import { createServer, get as httpGet, type IncomingMessage, type ServerResponse } from "node:http";
import { get as httpsGet } from "node:https";
import type { AddressInfo } from "node:net";
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { CID } from "multiformats/cid";
import { carHeader, carSection, readCar } from "./car.ts";
import { ContentInvalidError, ContentTooLargeError } from "./errors.ts";
import { checkSize, type ReadOptions } from "./read.ts";

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
async function emit(res: ServerResponse, blocks: LocalBlocks, cid: CID, block: Uint8Array, sent: Set<string>): Promise<boolean> {
  const id = hashKey(cid);
  if (sent.has(id)) return true;
  sent.add(id);
  for (const part of carSection(cid, block)) await write(res, part);
  if (cid.code !== DAG_PB) return true;
  const links = dagPb.decode(block).Links.map((l) => l.Hash).filter((c) => c.code === DAG_PB || c.code === RAW);
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
    if (!child || !(await emit(res, blocks, links[i]!, child, sent))) return false;
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

/** How long a gateway may send nothing before it is given up. */
export const GATEWAY_STALL_MS = 10_000;

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
 * Uses node:http rather than fetch(): on a 64 MiB CAR its streams cost about a third less CPU.
 * A gateway silent for `stallMs` (default GATEWAY_STALL_MS) fails the fetch (GatewayFetchError).
 */
export async function fetchFromGateway(gateway: string, cidString: string, read: ReadOptions & { stallMs?: number } = {}): Promise<GatewayFetch> {
  const stallMs = read.stallMs ?? GATEWAY_STALL_MS;
  const cid = CID.parse(cidString);
  const url = new URL(`ipfs/${cid}`, gateway.endsWith("/") ? gateway : `${gateway}/`);
  url.searchParams.set("format", "car");
  url.searchParams.set("dag-scope", "all");
  let res: IncomingMessage;
  try {
    res = await new Promise<IncomingMessage>((resolve, reject) => {
      const get = url.protocol === "https:" ? httpsGet : httpGet;
      const req = get(url, { headers: { accept: "application/vnd.ipld.car" }, signal: read.signal }, resolve).once("error", reject);
      // A gateway that stops sending is given up (the next source gets the rest of the caller's time).
      req.setTimeout(stallMs, () => req.destroy(new Error(`no data for ${stallMs} ms`)));
    });
  } catch (error) {
    read.signal?.throwIfAborted();
    throw new GatewayFetchError(`gateway ${gateway} cannot be reached`, { cause: error });
  }
  if (res.statusCode !== 200) {
    res.destroy();
    throw new GatewayFetchError(`gateway ${gateway} answered ${res.statusCode} for ${cid}`);
  }
  const limit = read.maxBytes === undefined ? Infinity : read.maxBytes + Math.ceil(read.maxBytes / 64) + 1024 * 1024;
  const blocks: [CID, Uint8Array][] = [];
  const byHash = new Map<string, Uint8Array>();
  let received = 0;
  // Once the root block (checked against `cid`) declares the file's size, leaves are read straight
  // into the file's buffer at their expected place (a depth-first CAR sends them in file order);
  // assembleFile then checks that each one is where it belongs, and copies only if not.
  let staged: Uint8Array | undefined;
  let cursor = 0;
  // With `digests`, the leaves placed in order are hashed as they arrive (while the socket is
  // still filling): that is the file's sha256 when assembleFile finds all of them in place.
  const hash = read.digests ? createHash("sha256") : undefined;
  let hashed = 0;
  const place = (c: CID, length: number) => {
    if (!staged || c.code !== RAW || cursor + length > staged.byteLength) return undefined;
    cursor += length;
    return staged.subarray(cursor - length, cursor);
  };
  try {
    for await (const [c, block] of readCar(res, cid, { place })) {
      received += block.byteLength;
      if (received > limit) throw new GatewayFetchError(`gateway ${gateway} sent more than ${limit} bytes of blocks for ${cid}`);
      blocks.push([c, block]);
      byHash.set(hashKey(c), block);
      read.onProgress?.(received);
      if (hash && staged && block.buffer === staged.buffer && block.byteOffset === staged.byteOffset + hashed) {
        hash.update(block);
        hashed += block.byteLength;
      }
      if (blocks.length === 1 && c.equals(cid) && c.code === DAG_PB) {
        const size = Number(fileNode(cid, c, block).size);
        checkSize(cidString, size, read.maxBytes);
        staged = new Uint8Array(size);
      }
    }
  } catch (error) {
    read.signal?.throwIfAborted();
    if (error instanceof ContentInvalidError || error instanceof ContentTooLargeError) throw error;
    throw new GatewayFetchError(`gateway ${gateway} broke off sending ${cid}`, { cause: error });
  } finally {
    res.destroy();
  }
  const bytes = assembleFile(cid, byHash, read.maxBytes, gateway, staged);
  if (read.digests && hash && bytes === staged && hashed === bytes.byteLength) read.digests.sha256 = `0x${hash.digest("hex")}`;
  return { bytes, blocks };
}

function fileNode(root: CID, c: CID, b: Uint8Array): { links: CID[]; data: Uint8Array | undefined; size: bigint } {
  try {
    const pb = dagPb.decode(b);
    if (!pb.Data) throw new Error("no UnixFS data");
    const fs = UnixFS.unmarshal(pb.Data);
    if (fs.type !== "file" && fs.type !== "raw") throw new Error(`a UnixFS ${fs.type}`);
    return { links: pb.Links.map((l) => l.Hash), data: fs.data, size: fs.fileSize() };
  } catch (error) {
    throw new ContentInvalidError(`${c} (in ${root}) is not part of a UnixFS file`, { cause: error });
  }
}

/**
 * Walks the UnixFS file (or raw block) `root` depth-first over verified blocks, calling `visit`
 * with each piece of file data (a node's own data, then its children's, in link order) and its
 * offset; returns the size the root declares, which the pieces must fill exactly. A block missing,
 * a node that is not part of a file, or pieces that disagree with the declared size fail with
 * ContentInvalidError; a declared size over `maxBytes` with ContentTooLargeError.
 */
function walkFile(root: CID, byHash: Map<string, Uint8Array>, maxBytes: number | undefined, source: string, visit: (piece: Uint8Array, at: number) => void): number {
  const block = (c: CID) => {
    const b = byHash.get(hashKey(c));
    if (!b) throw new ContentInvalidError(`${source} left block ${c} of ${root} out`);
    return b;
  };
  const rootBlock = block(root);
  if (root.code !== RAW && root.code !== DAG_PB) throw new ContentInvalidError(`${root} is not a UnixFS file (codec 0x${root.code.toString(16)})`);
  const size = root.code === RAW ? rootBlock.byteLength : Number(fileNode(root, root, rootBlock).size);
  checkSize(root.toString(), size, maxBytes);
  let at = 0;
  const piece = (bytes: Uint8Array) => {
    if (at + bytes.byteLength > size) throw new ContentInvalidError(`${root} holds more bytes than its root block declares`);
    visit(bytes, at);
    at += bytes.byteLength;
  };
  // An explicit stack: a deep or hostile DAG cannot overflow the call stack.
  const stack: CID[] = [root];
  while (stack.length > 0) {
    const c = stack.pop()!;
    const b = block(c);
    if (c.code === RAW) {
      piece(b);
      continue;
    }
    if (c.code !== DAG_PB) throw new ContentInvalidError(`${c} (in ${root}) is not part of a UnixFS file`);
    const n = fileNode(root, c, b);
    if (n.data && n.data.byteLength > 0) piece(n.data);
    for (let i = n.links.length - 1; i >= 0; i--) stack.push(n.links[i]!);
  }
  if (at !== size) throw new ContentInvalidError(`${root} ended after ${at} of ${size} bytes`);
  return size;
}

/**
 * The bytes of the UnixFS file (or raw block) `root`, from verified blocks (see walkFile). With
 * `staged`, a buffer the blocks were read into: returned as is when every piece already sits at
 * its offset in it (no copy), else the file is assembled into a new buffer.
 */
export function assembleFile(root: CID, byHash: Map<string, Uint8Array>, maxBytes: number | undefined, source: string, staged?: Uint8Array): Uint8Array {
  if (root.code === RAW) {
    walkFile(root, byHash, maxBytes, source, () => {});
    return byHash.get(hashKey(root))!;
  }
  if (staged) {
    let inPlace = true;
    const size = walkFile(root, byHash, maxBytes, source, (p, at) => {
      inPlace &&= p.buffer === staged.buffer && p.byteOffset === staged.byteOffset + at;
    });
    if (inPlace && size === staged.byteLength) return staged;
    // Pieces out of place could overlap others in the staging buffer: give them their own bytes.
    for (const [k, b] of byHash) if (b.buffer === staged.buffer) byHash.set(k, b.slice());
  }
  let out: Uint8Array | undefined;
  walkFile(root, byHash, maxBytes, source, (p, at) => {
    out ??= new Uint8Array(walkSize(root, byHash));
    out.set(p, at);
  });
  return out ?? new Uint8Array(0);
}

function walkSize(root: CID, byHash: Map<string, Uint8Array>): number {
  return Number(fileNode(root, root, byHash.get(hashKey(root))!).size);
}

/** Blocks are keyed by multihash, so CIDv0 and CIDv1 (and any codec) of the same bytes meet. */
function hashKey(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString("base64");
}
