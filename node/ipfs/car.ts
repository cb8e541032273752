import { createHash } from "node:crypto";
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { varint } from "multiformats";
import { ContentInvalidError } from "./errors.ts";

/**
 * CARv1 (https://ipld.io/specs/transport/car/carv1/), the part a trustless gateway needs: writing a
 * DAG's blocks as a stream, and reading one back while checking every block against its CID.
 *
 * Written here rather than taken from `@ipld/car` because that package is not installed (no new
 * dependencies on these machines), and the format is three lines of varints; the reader also does
 * what `@ipld/car` leaves to the caller: it hashes each block as it arrives and refuses the first
 * one whose bytes do not match its CID.
 */

const SHA2_256 = 0x12;
const IDENTITY = 0x00;

/** The CAR header for one root: varint length, then dag-cbor `{ roots: [root], version: 1 }`. */
export function carHeader(root: CID): Uint8Array {
  const header = dagCbor.encode({ roots: [root], version: 1 });
  return concatBytes([
    varint.encodeTo(header.byteLength, new Uint8Array(varint.encodingLength(header.byteLength))),
    header,
  ]);
}

/** One CAR section: varint length of CID + block, the CID's bytes, the block. */
export function carSection(cid: CID, block: Uint8Array): Uint8Array[] {
  const length = cid.bytes.byteLength + block.byteLength;
  return [varint.encodeTo(length, new Uint8Array(varint.encodingLength(length))), cid.bytes, block];
}

/** Throws ContentInvalidError unless `block` hashes to `cid`'s multihash (sha2-256 or identity). */
function verifyBlock(cid: CID, block: Uint8Array): void {
  const { code, digest } = cid.multihash;
  let ok: boolean;
  if (code === SHA2_256) {
    ok = digest.byteLength === 32 && createHash("sha256").update(block).digest().equals(digest);
  } else if (code === IDENTITY) {
    ok = Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).equals(block);
  } else {
    throw new ContentInvalidError(
      `block ${cid} uses multihash 0x${code.toString(16)}, which this node does not verify`,
    );
  }
  if (!ok) throw new ContentInvalidError(`block does not match its CID ${cid}`);
}

/**
 * Where a block's bytes go as they are read: a buffer of exactly `length` bytes (e.g. its place
 * in the file being assembled), or undefined for a buffer of its own.
 */
type PlaceBlock = (cid: CID, length: number) => Uint8Array | undefined;

/** Bytes read at a section's start to find its CID (a CIDv1 with a sha2-256 digest takes 36). */
const CID_PEEK = 96;

/**
 * Reads a CARv1 byte stream whose single root must be `root`, verifying every block against its
 * CID as it arrives; yields `[cid, block]` pairs. Sections larger than `maxSection` (a block is at
 * most 2 MiB on the IPFS network) end the read before they are buffered. With `place`, block bytes
 * are copied from the socket's chunks straight to where the caller wants them.
 */
export async function* readCar(
  source: AsyncIterable<Uint8Array>,
  root: CID,
  opts: { maxSection?: number; place?: PlaceBlock } = {},
): AsyncGenerator<[CID, Uint8Array]> {
  const maxSection = opts.maxSection ?? 4 * 1024 * 1024;
  const buf = new Buffered(source);
  const headerLength = await buf.varint();
  if (headerLength === undefined) throw new ContentInvalidError(`empty CAR for ${root}`);
  if (headerLength > 64 * 1024) throw new ContentInvalidError(`CAR header of ${headerLength} bytes for ${root}`);
  const header = dagCbor.decode<{ version?: unknown; roots?: unknown }>(await buf.take(headerLength));
  const roots = Array.isArray(header.roots) ? header.roots.map((r) => CID.asCID(r)) : [];
  if (header.version !== 1 || roots.length !== 1 || !roots[0]!.equals(root)) {
    throw new ContentInvalidError(`CAR for ${root} is not a CARv1 rooted at it`);
  }
  for (;;) {
    const length = await buf.varint();
    if (length === undefined) return;
    if (length > maxSection) throw new ContentInvalidError(`CAR section of ${length} bytes for ${root}`);
    const head = await buf.take(Math.min(length, CID_PEEK));
    let cid: CID;
    let start: Uint8Array;
    try {
      [cid, start] = CID.decodeFirst(head);
    } catch (error) {
      throw new ContentInvalidError(`CAR section for ${root} does not start with a CID`, { cause: error });
    }
    const blockLength = length - (head.byteLength - start.byteLength);
    let block: Uint8Array;
    if (blockLength === start.byteLength) {
      block = start;
    } else {
      const placed = opts.place?.(cid, blockLength);
      block = placed && placed.byteLength === blockLength ? placed : new Uint8Array(blockLength);
      block.set(start, 0);
      await buf.takeInto(block.subarray(start.byteLength));
    }
    verifyBlock(cid, block);
    yield [cid, block];
  }
}

/** Byte stream reader: exact-length reads across chunk boundaries, copying only when a read spans chunks. */
class Buffered {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunks: Uint8Array[] = [];
  private have = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.have < n) {
      const next = await this.it.next();
      if (next.done) return false;
      if (next.value.byteLength === 0) continue;
      this.chunks.push(next.value);
      this.have += next.value.byteLength;
    }
    return true;
  }

  /** A varint, or undefined at a clean end of stream. */
  async varint(): Promise<number | undefined> {
    let value = 0;
    for (let i = 0, shift = 1; ; i++, shift *= 128) {
      if (!(await this.fill(1))) {
        if (i === 0) return undefined;
        throw new ContentInvalidError("CAR stream ends inside a varint");
      }
      if (i >= 8) throw new ContentInvalidError("CAR varint too long");
      const byte = this.take1();
      value += (byte & 0x7f) * shift;
      if ((byte & 0x80) === 0) return value;
    }
  }

  private take1(): number {
    const first = this.chunks[0]!;
    const byte = first[0]!;
    if (first.byteLength === 1) this.chunks.shift();
    else this.chunks[0] = first.subarray(1);
    this.have -= 1;
    return byte;
  }

  /** Fills `dest` with the next bytes of the stream. */
  async takeInto(dest: Uint8Array): Promise<void> {
    const n = dest.byteLength;
    let at = 0;
    while (at < n) {
      if (this.have === 0 && !(await this.fill(1)))
        throw new ContentInvalidError(`CAR stream ends inside a section (${at} of ${n} bytes)`);
      const c = this.chunks[0]!;
      const k = Math.min(c.byteLength, n - at);
      dest.set(c.subarray(0, k), at);
      at += k;
      if (k === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      this.have -= k;
    }
  }

  async take(n: number): Promise<Uint8Array> {
    if (!(await this.fill(n)))
      throw new ContentInvalidError(`CAR stream ends inside a section (${this.have} of ${n} bytes)`);
    const first = this.chunks[0]!;
    if (first.byteLength >= n) {
      const out = first.subarray(0, n);
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.have -= n;
      return out;
    }
    // Spans chunks: copied out (all n bytes are buffered already, so this never waits).
    const out = new Uint8Array(n);
    await this.takeInto(out);
    return out;
  }
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
