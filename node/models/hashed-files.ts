/**
 * File reads and writes of the model cache that hash what they move in the same pass (sha256,
 * as the registry records weights), so checking a cached file costs little more than reading it.
 */
import { createHash } from "node:crypto";
import { renameSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";

function sha256(bytes: Uint8Array): string {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Reads of a cached file: large enough to keep the disk busy, small enough to hash while the next one is read. */
const READ_CHUNK = 4 * 1024 * 1024;

/**
 * Reads a whole file and its sha256 in one pass: each chunk is hashed here while the next one is
 * read on libuv's thread pool, so checking a cached file costs little more than reading it.
 */
export async function readHashing(file: string): Promise<{ bytes: Uint8Array; sha256: string }> {
  const fh = await open(file, "r");
  try {
    const size = (await fh.stat()).size;
    const bytes = new Uint8Array(size);
    const hash = createHash("sha256");
    const readAt = async (at: number): Promise<number> => {
      const n = Math.min(READ_CHUNK, size - at);
      let done = 0;
      while (done < n) {
        const { bytesRead } = await fh.read(bytes, at + done, n - done, at + done);
        if (bytesRead === 0) throw new Error(`${file} shrank while it was read`);
        done += bytesRead;
      }
      return n;
    };
    let at = 0;
    let next = size > 0 ? readAt(0) : undefined;
    while (next) {
      const n = await next;
      const chunk = bytes.subarray(at, at + n);
      at += n;
      next = at < size ? readAt(at) : undefined;
      next?.catch(() => {}); // awaited on the next turn
      hash.update(chunk);
    }
    return { bytes, sha256: `0x${hash.digest("hex")}` };
  } finally {
    await fh.close();
  }
}

/**
 * Writes `bytes` to `file` (a single write request, on libuv's thread pool) while hashing them
 * here, unless their sha256 is already `known`; resolves to their sha256.
 */
export async function writeWhileHashing(file: string, bytes: Uint8Array, known?: string): Promise<string> {
  const fh = await open(file, "w");
  try {
    const writing = fh.write(bytes, 0, bytes.byteLength, 0);
    writing.catch(() => {}); // awaited below, after the hash
    const digest = known ?? sha256(bytes);
    let done = (await writing).bytesWritten;
    while (done < bytes.byteLength) done += (await fh.write(bytes, done, bytes.byteLength - done, done)).bytesWritten;
    return digest;
  } finally {
    await fh.close();
  }
}

/** Writes a file whole or not at all: a crash mid-write leaves the old file (or none), never a torn one. */
export function writeAtomically(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}
