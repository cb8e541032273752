import { expect } from "chai";
import { decodeSafetensors, encodeSafetensors } from "../../node/tensors/safetensors.ts";
import { tensorFrom, tensorValues, TensorFormatError } from "../../node/tensors/dtypes.ts";

/** Builds a file by hand from the format's definition, independently of the encoder. */
function handBuilt(header: object, data: number[]): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return new Uint8Array(Buffer.concat([len, json, Buffer.from(data)]));
}

describe("safetensors", function () {
  it("reads a file laid out as the format defines it", function () {
    const f32 = Buffer.alloc(8);
    f32.writeFloatLE(1.5, 0);
    f32.writeFloatLE(-2, 4);
    const bytes = handBuilt(
      {
        __metadata__: { format: "pt" },
        x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        n: { dtype: "I64", shape: [1], data_offsets: [8, 16] },
      },
      [...f32, 7, 0, 0, 0, 0, 0, 0, 0],
    );
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).to.deep.equal({ format: "pt" });
    expect(tensorValues(tensors.x!)).to.deep.equal([1.5, -2]);
    expect(tensorValues(tensors.n!)).to.deep.equal([7n]);
  });

  it("round-trips, aligns the header to 8 bytes and writes the same bytes for the same tensors", function () {
    const tensors = { b: tensorFrom("I32", [2, 2], [1, 2, 3, 4]), a: tensorFrom("F64", [3], [0.25, 1e-9, -3]) };
    const bytes = encodeSafetensors(tensors);
    const headerLength = Number(Buffer.from(bytes).readBigUInt64LE(0));
    expect((8 + headerLength) % 8).to.equal(0);
    expect(Buffer.from(encodeSafetensors({ a: tensors.a, b: tensors.b })).equals(Buffer.from(bytes))).to.equal(true);
    const back = decodeSafetensors(bytes).tensors;
    expect(tensorValues(back.a!)).to.deep.equal([0.25, 1e-9, -3]);
    expect(back.b!.shape).to.deep.equal([2, 2]);
    expect(tensorValues(back.b!)).to.deep.equal([1, 2, 3, 4]);
  });

  const bad: [string, Uint8Array][] = [
    ["a file shorter than its length prefix", new Uint8Array([1, 2, 3])],
    ["a header length past the end", handBuilt({}, []).map((b, i) => (i === 0 ? 200 : b))],
    [
      "a header that is not JSON",
      (() => {
        const b = handBuilt({}, []);
        b[8] = 0x7b;
        b[9] = 0x7b;
        return b;
      })(),
    ],
    ["an unknown dtype", handBuilt({ x: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }, new Array(16).fill(0))],
    [
      "data offsets outside the file",
      handBuilt({ x: { dtype: "F32", shape: [1], data_offsets: [0, 8] } }, [0, 0, 0, 0]),
    ],
    [
      "a size that does not match the shape",
      handBuilt({ x: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, [0, 0, 0, 0]),
    ],
    [
      "overlapping tensors",
      handBuilt(
        { x: { dtype: "U8", shape: [2], data_offsets: [0, 2] }, y: { dtype: "U8", shape: [2], data_offsets: [1, 3] } },
        [1, 2, 3],
      ),
    ],
    ["trailing bytes", handBuilt({ x: { dtype: "U8", shape: [1], data_offsets: [0, 1] } }, [1, 2])],
  ];
  for (const [what, bytes] of bad) {
    it(`rejects ${what} with TensorFormatError`, function () {
      expect(() => decodeSafetensors(bytes)).to.throw(TensorFormatError);
    });
  }
});
