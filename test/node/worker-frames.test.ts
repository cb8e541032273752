import { expect } from "chai";
import { createFrameReader, encodeFrame, FrameError } from "../../node/inference/worker-frames.ts";

/** A run request the way the executor sends it: tensors of three dtypes, one of them a view into a larger buffer. */
function request() {
  const big = new Uint8Array(64).map((_, i) => i);
  return {
    op: "run",
    id: 7,
    runs: [
      {
        key: "silero-vad-v5@1",
        inputs: [
          {
            name: "input",
            dtype: "F32",
            shape: [1, 3],
            data: new Uint8Array(new Float32Array([0.5, -1, 3.25]).buffer),
          },
          { name: "sr", dtype: "I64", shape: [], data: new Uint8Array(new BigInt64Array([16000n]).buffer) },
          { name: "odd", dtype: "U8", shape: [5], data: big.subarray(3, 8) },
        ],
      },
      {
        key: "empty",
        inputs: [{ name: "none", dtype: "F32", shape: [0], data: new Uint8Array(0) }],
        debug: { delayMs: 5 },
      },
    ],
  };
}

function readAll(chunks: Buffer[]): unknown[] {
  const got: unknown[] = [];
  const read = createFrameReader((m) => got.push(m));
  for (const c of chunks) read(c);
  return got;
}

/** Splits bytes into chunks of the given sizes (the last takes the rest). */
function split(bytes: Uint8Array, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(Buffer.from(bytes.subarray(at, at + n)));
    at += n;
  }
  if (at < bytes.byteLength) out.push(Buffer.from(bytes.subarray(at)));
  return out;
}

describe("worker frames (executor <-> worker messages)", () => {
  it("a message comes back as it was sent: fields, and each byte array's bytes (only the bytes a view covers)", () => {
    const [got] = readAll([Buffer.from(encodeFrame(request()))]);
    const sent = request();
    expect(got).to.deep.equal(sent);
    const runs = (got as ReturnType<typeof request>).runs;
    expect(runs[0]!.inputs[2]!.data).to.be.instanceOf(Uint8Array);
    expect([...runs[0]!.inputs[2]!.data]).to.deep.equal([3, 4, 5, 6, 7]);
  });

  it("each byte array starts 8-byte aligned within its frame, so a float64 or int64 tensor can be read in place", () => {
    const frame = encodeFrame(request());
    const [got] = readAll([Buffer.from(frame)]);
    // Buffer.from copies into a pooled slab at an arbitrary offset: align the frame first.
    const aligned = new Uint8Array(new ArrayBuffer(frame.byteLength));
    aligned.set(frame);
    const views: Uint8Array[] = [];
    createFrameReader((m) => {
      for (const t of (m as ReturnType<typeof request>).runs[0]!.inputs) views.push(t.data);
    })(Buffer.from(aligned.buffer));
    for (const v of views) expect(v.byteOffset % 8).to.equal(0);
    expect(new BigInt64Array(views[1]!.buffer, views[1]!.byteOffset, 1)[0]).to.equal(16000n);
    expect(got).to.deep.equal(request());
  });

  it("frames split at every byte, and several frames in one chunk, are read whole and in order", () => {
    const frames = [encodeFrame(request()), encodeFrame({ op: "unload", id: 8, key: "k" }), encodeFrame(request())];
    const stream = Buffer.concat(frames);
    const expected = [request(), { op: "unload", id: 8, key: "k" }, request()];
    expect(readAll([stream])).to.deep.equal(expected);
    expect(
      readAll(
        split(
          stream,
          Array.from({ length: stream.byteLength }, () => 1),
        ),
      ),
    ).to.deep.equal(expected);
    // Cuts inside the length word, inside the header and inside the data.
    for (const cut of [2, 5, 30, frames[0]!.byteLength - 3, frames[0]!.byteLength + 2])
      expect(readAll(split(stream, [cut]))).to.deep.equal(expected);
  });

  it("a frame claiming a length under its own header or over the limit is a FrameError, not a hang or a huge allocation", () => {
    const tooShort = Buffer.alloc(8);
    tooShort.writeUInt32LE(2, 0);
    expect(() => readAll([tooShort])).to.throw(FrameError, "claims 2 bytes");
    const tooLong = Buffer.alloc(4);
    tooLong.writeUInt32LE(0xffffffff, 0);
    expect(() => readAll([tooLong])).to.throw(FrameError, "claims 4294967295 bytes");
  });

  it("a message over the frame limit is a FrameError when encoded", () => {
    expect(() => encodeFrame({ data: new Uint8Array(100) }, 64)).to.throw(FrameError, "over the frame limit of 64");
    expect(encodeFrame({ data: new Uint8Array(24) }, 64).byteLength).to.be.at.most(64);
  });

  it("a byte array whose reference runs past the frame's end is a FrameError", () => {
    const header = Buffer.from(JSON.stringify({ data: { $b: [0, 100] } }));
    const frame = Buffer.alloc(8 + header.byteLength + 8);
    frame.writeUInt32LE(frame.byteLength - 4, 0);
    frame.writeUInt32LE(header.byteLength, 4);
    header.copy(frame, 8);
    expect(() => readAll([frame])).to.throw(FrameError, "runs past its end");
  });
});
