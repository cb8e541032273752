import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { keccak256, toHex, type Hex } from "viem";
import {
  canonicalResultHash,
  DEFAULT_BOUNDARY_EPSILON,
  nearQuantizationBoundary,
  quantize,
  quantumFromChain,
  resultHashPreimage,
} from "../../node/attest/result-hash.ts";
import { ConfigError } from "../../node/errors.ts";
import { tensorFrom, TensorFormatError, type DType, type TensorMap } from "../../node/tensors/dtypes.ts";

interface Vector {
  name: string;
  outputQuantum: string;
  outputs: Record<string, { dtype: DType; shape: number[]; values: (number | string | boolean)[] }>;
  preimage: Hex;
  resultHash: Hex;
}

const vectors = JSON.parse(
  readFileSync(path.resolve(import.meta.dirname, "../../docs/canonical-hash-vectors.json"), "utf8"),
) as Vector[];

const asNumber = (v: number | string | boolean) => (typeof v === "string" ? (v === "-0" ? -0 : Number(v)) : v);

function tensorsOf(v: Vector): TensorMap {
  return Object.fromEntries(
    Object.entries(v.outputs).map(([name, t]) => [
      name,
      tensorFrom(
        t.dtype,
        t.shape,
        t.dtype === "I64" ? t.values.map((x) => BigInt(x as string)) : t.values.map(asNumber),
      ),
    ]),
  );
}

describe("canonical result hash", function () {
  for (const v of vectors) {
    it(`matches test vector ${v.name}`, function () {
      const q = quantumFromChain(BigInt(v.outputQuantum));
      expect(toHex(resultHashPreimage(tensorsOf(v), q))).to.equal(v.preimage);
      expect(canonicalResultHash(tensorsOf(v), q)).to.equal(v.resultHash);
      expect(keccak256(v.preimage)).to.equal(v.resultHash);
    });
  }

  it("builds the worked example's preimage exactly as the spec spells it out", function () {
    const le = (n: number, bytes: number) =>
      Buffer.from(
        BigInt.asUintN(bytes * 8, BigInt(n))
          .toString(16)
          .padStart(bytes * 2, "0"),
        "hex",
      ).reverse();
    const str = (s: string) => Buffer.concat([le(Buffer.byteLength(s), 4), Buffer.from(s)]);
    const expected = Buffer.concat([
      str("CONCLAVE-RESULT-V1"),
      le(1, 4),
      str("y"),
      str("F32"),
      le(1, 4),
      le(2, 8),
      le(5000, 8),
      le(-12500, 8),
    ]);
    const outputs = { y: tensorFrom("F32", [2], [0.5, -1.25]) };
    expect(Buffer.from(resultHashPreimage(outputs, 0.0001)).equals(expected)).to.equal(true);
  });

  it("does not depend on the order outputs are given in, and sorts names byte-wise", function () {
    const a = { b: tensorFrom("F32", [1], [1]), B: tensorFrom("F32", [1], [2]), a: tensorFrom("I32", [1], [3]) };
    const b = { a: a.a, B: a.B, b: a.b };
    expect(canonicalResultHash(a, 0.01)).to.equal(canonicalResultHash(b, 0.01));
  });

  it("absorbs float noise below the quantum and separates differences above it", function () {
    const base = canonicalResultHash({ y: tensorFrom("F32", [3], [0.1, 0.2, 0.3]) }, 1e-4);
    expect(canonicalResultHash({ y: tensorFrom("F32", [3], [0.100001, 0.2, 0.299999]) }, 1e-4)).to.equal(base);
    expect(canonicalResultHash({ y: tensorFrom("F32", [3], [0.1002, 0.2, 0.3]) }, 1e-4)).to.not.equal(base);
  });

  it("distinguishes dtype, shape and name even when the values agree", function () {
    const h = (t: TensorMap) => canonicalResultHash(t, 1e-4);
    const base = h({ y: tensorFrom("F32", [2, 2], [1, 2, 3, 4]) });
    expect(h({ y: tensorFrom("F64", [2, 2], [1, 2, 3, 4]) })).to.not.equal(base);
    expect(h({ y: tensorFrom("F32", [4], [1, 2, 3, 4]) })).to.not.equal(base);
    expect(h({ z: tensorFrom("F32", [2, 2], [1, 2, 3, 4]) })).to.not.equal(base);
  });

  it("quantizes special values as specified", function () {
    expect(quantize(Number.NaN, 1)).to.equal(-(2n ** 63n));
    expect(quantize(Number.POSITIVE_INFINITY, 1)).to.equal(2n ** 63n - 1n);
    expect(quantize(Number.NEGATIVE_INFINITY, 1)).to.equal(-(2n ** 63n) + 1n);
    expect(quantize(1e300, 1)).to.equal(2n ** 63n - 1n);
    expect(quantize(-1e300, 1)).to.equal(-(2n ** 63n) + 1n);
    expect(quantize(-0, 1)).to.equal(0n);
    expect(quantize(2.5, 1)).to.equal(3n);
    expect(quantize(-2.5, 1)).to.equal(-2n);
  });

  it("rejects a non-positive quantum and malformed tensors with TensorFormatError", function () {
    expect(() => quantumFromChain(0n)).to.throw(TensorFormatError);
    expect(() => resultHashPreimage({ y: tensorFrom("F32", [1], [1]) }, 0)).to.throw(TensorFormatError);
    expect(() => resultHashPreimage({ y: { dtype: "F32", shape: [2], data: new Uint8Array(4) } }, 1)).to.throw(
      TensorFormatError,
    );
  });
});

interface BoundaryVector {
  name: string;
  outputQuantum: string;
  epsilon: number;
  outputs: Record<string, { dtype: DType; shape: number[]; values: (number | string)[] }>;
  near: { tensor: string; index: number } | null;
}

/** The vectors are the JSON block after the marker in the spec, so the spec and the test cannot drift apart. */
function boundaryVectors(): BoundaryVector[] {
  const spec = readFileSync(path.resolve(import.meta.dirname, "../../docs/canonical-result-hash.md"), "utf8");
  const m = /<!-- boundary-vectors -->\s*```json\n([\s\S]*?)```/.exec(spec);
  if (!m) throw new Error("docs/canonical-result-hash.md lost its boundary-vectors block");
  return JSON.parse(m[1]!) as BoundaryVector[];
}

describe("abstaining near a quantization boundary", function () {
  const vectors = boundaryVectors();

  it("has vectors on both sides of the rule", function () {
    expect(vectors.filter((v) => v.near === null).length).to.be.greaterThan(0);
    expect(vectors.filter((v) => v.near !== null).length).to.be.greaterThan(0);
  });

  for (const v of vectors) {
    it(`matches boundary vector "${v.name}"`, function () {
      const outputs = Object.fromEntries(
        Object.entries(v.outputs).map(([name, t]) => [name, tensorFrom(t.dtype, t.shape, t.values.map(asNumber))]),
      );
      const hit = nearQuantizationBoundary(outputs, quantumFromChain(BigInt(v.outputQuantum)), v.epsilon);
      if (v.near === null) expect(hit).to.equal(null);
      else {
        expect(hit).to.include(v.near);
        expect(hit!.distance).to.be.lessThan(v.epsilon);
      }
    });
  }

  it("flags exactly the outputs whose two neighbours in float64 quantize apart", function () {
    // The reason for the rule: right at a boundary the last bit decides the quantized value.
    const q = 0.25;
    const x = 0.375;
    const below = x - Number.EPSILON;
    expect(quantize(below, q)).to.not.equal(quantize(x, q));
    expect(nearQuantizationBoundary({ y: tensorFrom("F64", [1], [below]) }, q)).to.not.equal(null);
    expect(quantize(0.3755 - Number.EPSILON, q)).to.equal(quantize(0.3755, q));
    expect(nearQuantizationBoundary({ y: tensorFrom("F64", [1], [0.3755]) }, q)).to.equal(null);
  });

  it("defaults to an epsilon of 0.001 quanta", function () {
    expect(DEFAULT_BOUNDARY_EPSILON).to.equal(1e-3);
    expect(nearQuantizationBoundary({ y: tensorFrom("F64", [1], [0.3752]) }, 0.25)).to.not.equal(null);
    expect(nearQuantizationBoundary({ y: tensorFrom("F64", [1], [0.3755]) }, 0.25)).to.equal(null);
  });

  it("refuses an epsilon outside [0, 0.5) and a bad quantum", function () {
    const y = { y: tensorFrom("F64", [1], [1]) };
    expect(() => nearQuantizationBoundary(y, 0.25, 0.5)).to.throw(ConfigError);
    expect(() => nearQuantizationBoundary(y, 0.25, -1e-3)).to.throw(ConfigError);
    expect(() => nearQuantizationBoundary(y, 0.25, Number.NaN)).to.throw(ConfigError);
    expect(() => nearQuantizationBoundary(y, 0)).to.throw(TensorFormatError);
  });
});
