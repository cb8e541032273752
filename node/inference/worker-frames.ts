/**
 * The byte format of messages between the executor and its workers, on a socket of their own
 * (not Node's IPC channel). Node's IPC serializes each message with V8's serializer, one host
 * object per typed array, and wakes the reader once per message: for a model of a tenth of a
 * millisecond, those costs were larger than the inference (issue 14). A frame here is a small
 * JSON header and the tensors' bytes as they are; frames that queued up on the socket arrive in
 * one read and are decoded back to back.
 *
 * A frame: u32 LE length of the rest; u32 LE header length; the header (UTF-8 JSON); zero bytes
 * up to a multiple of 8; then each byte array of the message, each starting at a multiple of 8
 * (so a float64 or int64 tensor is aligned in a frame that is). In the header, each Uint8Array of
 * the message is `{"$b":[offset,length]}`, offset from the first byte array's start.
 *
 * Written here rather than taken from a serialization library (msgpack, protobuf): those place a
 * byte array wherever the encoding reaches, unaligned, and a Float32Array or BigInt64Array can only
 * view bytes at an aligned offset, so every tensor would be copied out again on decode; nor do they
 * frame a byte stream. What is left to write is the alignment and the length prefix.
 */

const ALIGN = 8;
const LENGTH_BYTES = 4;
/** A frame larger than this is a broken peer, not a message (the executor caps a batch's inputs at 4 MiB). */
const MAX_FRAME_BYTES = 1024 * 1024 * 1024;

export class FrameError extends Error {}

const pad = (n: number) => (n + ALIGN - 1) & ~(ALIGN - 1);

/** The message as one frame; its byte arrays are copied once, into the frame. */
export function encodeFrame(message: unknown, maxBytes = MAX_FRAME_BYTES): Uint8Array {
  const blobs: Uint8Array[] = [];
  let at = 0;
  // A copy with references for the byte arrays, then a plain stringify: a replacer function
  // takes JSON.stringify off its fast path.
  const refs = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null) return value;
    if (value instanceof Uint8Array) {
      blobs.push(value);
      const ref = { $b: [at, value.byteLength] };
      at += pad(value.byteLength);
      return ref;
    }
    if (Array.isArray(value)) return value.map(refs);
    const copy: Record<string, unknown> = {};
    for (const key in value) copy[key] = refs((value as Record<string, unknown>)[key]);
    return copy;
  };
  const header = JSON.stringify(refs(message));
  const headerLength = Buffer.byteLength(header, "utf8");
  const dataStart = pad(2 * LENGTH_BYTES + headerLength);
  const total = dataStart + at;
  if (total > maxBytes) throw new FrameError(`a message of ${total} bytes is over the frame limit of ${maxBytes}`);
  // Not zero-filled: every byte is written below, the padding explicitly.
  const frame = Buffer.allocUnsafe(total);
  frame.writeUInt32LE(total - LENGTH_BYTES, 0);
  frame.writeUInt32LE(headerLength, LENGTH_BYTES);
  frame.write(header, 2 * LENGTH_BYTES, "utf8");
  frame.fill(0, 2 * LENGTH_BYTES + headerLength, dataStart);
  let offset = dataStart;
  for (const blob of blobs) {
    frame.set(blob, offset);
    frame.fill(0, offset + blob.byteLength, offset + pad(blob.byteLength));
    offset += pad(blob.byteLength);
  }
  return frame;
}

/** One frame's message, its byte arrays views of the frame (no copy). */
function decodeFrame(frame: Buffer): unknown {
  const headerLength = frame.readUInt32LE(LENGTH_BYTES);
  const headerEnd = 2 * LENGTH_BYTES + headerLength;
  if (headerEnd > frame.byteLength) throw new FrameError("a frame's header runs past its end");
  const dataStart = pad(headerEnd);
  const header = frame.toString("utf8", 2 * LENGTH_BYTES, headerEnd);
  // A walk after the parse, not a reviver: JSON.parse with a reviver is several times slower.
  const resolve = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null) return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = resolve(value[i]);
      return value;
    }
    const ref = (value as { $b?: [number, number] }).$b;
    if (ref) {
      const start = dataStart + ref[0];
      if (start + ref[1] > frame.byteLength) throw new FrameError("a frame's byte array runs past its end");
      return new Uint8Array(frame.buffer, frame.byteOffset + start, ref[1]);
    }
    const record = value as Record<string, unknown>;
    for (const key in record) record[key] = resolve(record[key]);
    return record;
  };
  return resolve(JSON.parse(header));
}

/**
 * A reader of a byte stream of frames: feed it each chunk the socket reads, in order; it calls
 * `onMessage` with each whole frame's message. A frame inside one chunk is decoded in place; one
 * split over chunks is joined once, when its last byte arrives.
 */
export function createFrameReader(onMessage: (message: unknown) => void): (chunk: Buffer) => void {
  let chunks: Buffer[] = [];
  let buffered = 0;
  /** The frame being read: its length, once its first four bytes are in. */
  let need = -1;
  const take = (n: number): Buffer => {
    const first = chunks[0]!;
    if (first.byteLength >= n) {
      const out = first.subarray(0, n);
      if (first.byteLength === n) chunks.shift();
      else chunks[0] = first.subarray(n);
      buffered -= n;
      return out;
    }
    const joined = Buffer.concat(chunks, buffered);
    chunks = joined.byteLength > n ? [joined.subarray(n)] : [];
    buffered -= n;
    return joined.subarray(0, n);
  };
  return (chunk) => {
    if (chunk.byteLength === 0) return;
    chunks.push(chunk);
    buffered += chunk.byteLength;
    for (;;) {
      if (need < 0) {
        if (buffered < LENGTH_BYTES) return;
        if (chunks[0]!.byteLength < LENGTH_BYTES) chunks = [Buffer.concat(chunks, buffered)];
        const rest = chunks[0]!.readUInt32LE(0);
        if (rest < LENGTH_BYTES || rest > MAX_FRAME_BYTES) throw new FrameError(`a frame claims ${rest} bytes`);
        need = LENGTH_BYTES + rest;
      }
      if (buffered < need) return;
      const frame = take(need);
      need = -1;
      onMessage(decodeFrame(frame));
    }
  };
}
