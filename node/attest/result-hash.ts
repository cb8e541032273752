import { keccak256, type Hex } from "viem";
import { checkTensor, elementCount, FLOAT_DTYPES, tensorValues, TensorFormatError, type TensorMap } from "../tensors/dtypes.ts";

/** Domain tag that starts every preimage; a new encoding gets a new tag. */
export const RESULT_HASH_TAG = "CONCLAVE-RESULT-V1";

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** The model version's output quantum as a number: the chain stores it with 18 decimals. */
export function quantumFromChain(outputQuantum: bigint): number {
  if (outputQuantum <= 0n) throw new TensorFormatError(`output quantum must be positive, got ${outputQuantum}`);
  return Number(outputQuantum) / 1e18;
}

/**
 * Quantizes one float: floor(x / quantum + 0.5) in IEEE-754 float64, clamped to int64.
 * NaN maps to INT64_MIN, +Inf to INT64_MAX, -Inf to INT64_MIN + 1, so every output has a hash.
 */
export function quantize(x: number, quantum: number): bigint {
  if (Number.isNaN(x)) return INT64_MIN;
  if (x === Number.POSITIVE_INFINITY) return INT64_MAX;
  if (x === Number.NEGATIVE_INFINITY) return INT64_MIN + 1n;
  const q = Math.floor(x / quantum + 0.5);
  if (!Number.isFinite(q) || q >= 2 ** 63) return q > 0 ? INT64_MAX : INT64_MIN + 1n;
  if (q <= -(2 ** 63)) return INT64_MIN + 1n;
  return BigInt(q);
}

/** Appends little-endian integers and strings to a buffer sized in advance. */
class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private at = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u32(n: number): void {
    this.view.setUint32(this.at, n, true);
    this.at += 4;
  }
  i64(v: bigint): void {
    this.view.setBigInt64(this.at, BigInt.asIntN(64, v), true);
    this.at += 8;
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u32(b.length);
    this.bytes.set(b, this.at);
    this.at += b.length;
  }
}

const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

/**
 * The bytes the canonical result hash is taken over (docs/canonical-result-hash.md):
 * tag, output count, then per output in byte-wise name order: name, dtype, rank, dims, and every
 * element as int64 little-endian (floats quantized, integers and booleans as they are).
 */
export function resultHashPreimage(outputs: TensorMap, quantum: number): Uint8Array {
  if (!(quantum > 0) || !Number.isFinite(quantum)) throw new TensorFormatError(`output quantum must be a positive number, got ${quantum}`);
  const names = Object.keys(outputs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  let size = 4 + utf8Length(RESULT_HASH_TAG) + 4;
  for (const name of names) {
    const t = outputs[name]!;
    checkTensor(name, t);
    size += 4 + utf8Length(name) + 4 + t.dtype.length + 4 + 8 * t.shape.length + 8 * elementCount(t.shape);
  }
  const w = new Writer(size);
  w.str(RESULT_HASH_TAG);
  w.u32(names.length);
  for (const name of names) {
    const t = outputs[name]!;
    w.str(name);
    w.str(t.dtype);
    w.u32(t.shape.length);
    for (const d of t.shape) w.i64(BigInt(d));
    const isFloat = FLOAT_DTYPES.has(t.dtype);
    for (const v of tensorValues(t)) w.i64(isFloat ? quantize(v as number, quantum) : BigInt(v));
  }
  return w.bytes;
}

/** keccak256 of the canonical preimage: what providers commit to and clients recompute. */
export function canonicalResultHash(outputs: TensorMap, quantum: number): Hex {
  return keccak256(resultHashPreimage(outputs, quantum));
}
