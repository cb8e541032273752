import { createHash } from "node:crypto";
import { get as httpGet, type IncomingMessage } from "node:http";
import { get as httpsGet } from "node:https";
import { CID } from "multiformats/cid";
import { readCar } from "./car.ts";
import { ContentInvalidError, ContentTooLargeError } from "./errors.ts";
import { checkSize, type ReadOptions } from "./read.ts";
import { DAG_PB, fileNode, hashKey, RAW } from "./unixfs-file.ts";

/**
 * Fetching from a peer's gateway (gateway.ts serves one), two ways:
 * - `fetchFromGateway`: the DAG as a CAR, every block checked against its CID as it arrives (a
 *   gateway can withhold blocks, never substitute them). Works for any CID.
 * - `fetchFileFromGateway`: the file's bytes alone, checked at the end against a sha256 the caller
 *   holds from a trusted source (a model version's weights: the registry's digest). No CAR framing
 *   and no per-block hashing, so a 64 MiB model arrives in about half the CPU time; the price is that
 *   a lying gateway is caught only after the whole file (then the next source is tried), and the
 *   fetcher receives no blocks to serve in turn (the caller re-imports the bytes; helia-store.ts).
 */

/** How long a gateway may send nothing before it is given up. */
const GATEWAY_STALL_MS = 10_000;

/** A gateway answered with an error status or broke off: try the next source. */
export class GatewayFetchError extends ContentInvalidError {}

interface GatewayFetch {
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
export async function fetchFromGateway(
  gateway: string,
  cidString: string,
  read: ReadOptions & { stallMs?: number } = {},
): Promise<GatewayFetch> {
  const cid = CID.parse(cidString);
  const res = await open(gateway, cid, "application/vnd.ipld.car", { format: "car", "dag-scope": "all" }, read);
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
      if (received > limit)
        throw new GatewayFetchError(`gateway ${gateway} sent more than ${limit} bytes of blocks for ${cid}`);
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
  if (read.digests && hash && bytes === staged && hashed === bytes.byteLength)
    read.digests.sha256 = `0x${hash.digest("hex")}`;
  return { bytes, blocks };
}

/**
 * Walks the UnixFS file (or raw block) `root` depth-first over verified blocks, calling `visit`
 * with each piece of file data (a node's own data, then its children's, in link order) and its
 * offset; returns the size the root declares, which the pieces must fill exactly. A block missing,
 * a node that is not part of a file, or pieces that disagree with the declared size fail with
 * ContentInvalidError; a declared size over `maxBytes` with ContentTooLargeError.
 */
function walkFile(
  root: CID,
  byHash: Map<string, Uint8Array>,
  maxBytes: number | undefined,
  source: string,
  visit: (piece: Uint8Array, at: number) => void,
): number {
  const block = (c: CID) => {
    const b = byHash.get(hashKey(c));
    if (!b) throw new ContentInvalidError(`${source} left block ${c} of ${root} out`);
    return b;
  };
  const rootBlock = block(root);
  if (root.code !== RAW && root.code !== DAG_PB)
    throw new ContentInvalidError(`${root} is not a UnixFS file (codec 0x${root.code.toString(16)})`);
  const size = root.code === RAW ? rootBlock.byteLength : Number(fileNode(root, root, rootBlock).size);
  checkSize(root.toString(), size, maxBytes);
  let at = 0;
  const piece = (bytes: Uint8Array) => {
    if (at + bytes.byteLength > size)
      throw new ContentInvalidError(`${root} holds more bytes than its root block declares`);
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
function assembleFile(
  root: CID,
  byHash: Map<string, Uint8Array>,
  maxBytes: number | undefined,
  source: string,
  staged?: Uint8Array,
): Uint8Array {
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

/**
 * Fetches a UnixFS file's bytes (`Accept: application/octet-stream`) and accepts them only if their
 * sha256 is `read.sha256` (which the caller must hold from a trusted source); fills
 * `read.digests.sha256`. The length the gateway declares is bounded by `maxBytes` and must be met
 * exactly. Any failure, a wrong digest included, is a GatewayFetchError: the next source is tried.
 */
export async function fetchFileFromGateway(
  gateway: string,
  cidString: string,
  read: ReadOptions & { sha256: string; stallMs?: number },
): Promise<Uint8Array> {
  const cid = CID.parse(cidString);
  const res = await open(gateway, cid, "application/octet-stream", {}, read);
  const size = Number(res.headers["content-length"]);
  if (!Number.isSafeInteger(size) || size < 0) {
    res.destroy();
    throw new GatewayFetchError(`gateway ${gateway} sent ${cid} without a length`);
  }
  // The declared length is the gateway's word, not the CID's: too large means "not from this one".
  if (read.maxBytes !== undefined && size > read.maxBytes) {
    res.destroy();
    throw new GatewayFetchError(
      `gateway ${gateway} declares ${size} bytes for ${cid}, over the limit of ${read.maxBytes}`,
    );
  }
  const bytes = new Uint8Array(size);
  const hash = createHash("sha256");
  let received = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      res.on("data", (chunk: Buffer) => {
        if (received + chunk.byteLength > size)
          return void res.destroy(new Error(`more than the ${size} bytes declared`));
        bytes.set(chunk, received);
        hash.update(chunk);
        received += chunk.byteLength;
        read.onProgress?.(received);
      });
      res.once("end", resolve);
      res.once("error", reject);
      res.once("close", () => reject(new Error("connection closed")));
    });
  } catch (error) {
    read.signal?.throwIfAborted();
    throw new GatewayFetchError(`gateway ${gateway} broke off sending ${cid}`, { cause: error });
  } finally {
    res.destroy();
  }
  if (received !== size)
    throw new GatewayFetchError(`gateway ${gateway} sent ${received} of the ${size} bytes of ${cid}`);
  const digest = `0x${hash.digest("hex")}`;
  if (digest !== read.sha256.toLowerCase())
    throw new GatewayFetchError(
      `gateway ${gateway} sent bytes for ${cid} whose sha256 ${digest} is not the expected ${read.sha256}`,
    );
  if (read.digests) read.digests.sha256 = digest;
  return bytes;
}

/** GETs `/ipfs/<cid>` from a gateway; any answer but 200 (or no answer) is a GatewayFetchError. */
async function open(
  gateway: string,
  cid: CID,
  accept: string,
  params: Record<string, string>,
  read: ReadOptions & { stallMs?: number },
): Promise<IncomingMessage> {
  const stallMs = read.stallMs ?? GATEWAY_STALL_MS;
  const url = new URL(`ipfs/${cid}`, gateway.endsWith("/") ? gateway : `${gateway}/`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  let res: IncomingMessage;
  try {
    res = await new Promise<IncomingMessage>((resolve, reject) => {
      const get = url.protocol === "https:" ? httpsGet : httpGet;
      const req = get(url, { headers: { accept }, signal: read.signal }, resolve).once("error", reject);
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
  return res;
}
