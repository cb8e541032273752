import { createHash } from "node:crypto";
import { ContentInvalidError, ContentTooLargeError, ContentUnavailableError } from "./errors.ts";

export interface ReadOptions {
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
  maxBytes?: number;
  /**
   * Filled, when the engine hashed the bytes while they arrived (in order, every byte once), with
   * the sha256 of exactly the bytes `get` returns ("0x" + hex), so the caller need not hash them
   * again. Left empty otherwise.
   */
  digests?: { sha256?: string };
  /**
   * The sha256 of the bytes ("0x" + hex) as a trusted source states it (a model version's weights:
   * the registry). An engine may then take the bytes from a source it cannot check block by block
   * (a peer's gateway answering the file itself) and check this digest instead; it fills `digests`.
   */
  sha256?: string;
}

/** Throws ContentTooLargeError when `size` exceeds the caller's limit. */
export function checkSize(cid: string, size: number, maxBytes: number | undefined): void {
  if (maxBytes !== undefined && size > maxBytes) {
    throw new ContentTooLargeError(`${cid} is larger than ${maxBytes} bytes`);
  }
}

/**
 * Drains a byte stream into one buffer, reporting progress and enforcing `maxBytes` as bytes arrive
 * (a peer or daemon may send more than the root block declared). With a known `size` the buffer
 * is allocated once, so a large file never needs twice its size in memory.
 */
export async function readAll(
  cid: string,
  source: AsyncIterable<Uint8Array>,
  opts: ReadOptions & { size?: number },
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const hash = opts.digests ? createHash("sha256") : undefined;
  const out = opts.size !== undefined ? new Uint8Array(opts.size) : undefined;
  let received = 0;
  for await (const chunk of source) {
    checkSize(cid, received + chunk.byteLength, opts.maxBytes);
    if (out) {
      if (received + chunk.byteLength > out.byteLength) {
        throw new ContentInvalidError(`${cid} holds more bytes than its root block declares`);
      }
      out.set(chunk, received);
    } else {
      chunks.push(chunk);
    }
    hash?.update(chunk);
    received += chunk.byteLength;
    opts.onProgress?.(received);
  }
  if (out && received !== out.byteLength)
    throw new ContentInvalidError(`${cid} ended after ${received} of ${out.byteLength} bytes`);
  if (opts.digests && hash) opts.digests.sha256 = `0x${hash.digest("hex")}`;
  return out ?? concat(chunks, received);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Maps a failure while fetching to the typed errors callers branch on: any failure after the
 * caller's signal fired means "not here in time" (bitswap reports it as a load failure wrapping
 * an AbortError, Kubo's client as its own AbortError), which may succeed later.
 */
export function unavailableIfAborted(cid: string, error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) {
    return new ContentUnavailableError(`${cid} was not fetched before the signal fired`, {
      cause: signal.reason ?? error,
    });
  }
  return error;
}
