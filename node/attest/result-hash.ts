import type { Hex } from "viem";
import { ConfigError } from "../errors.ts";
import { keccakBytes } from "./keccak.ts";
import {
  checkTensor,
  elementCount,
  FLOAT_DTYPES,
  tensorValues,
  TensorFormatError,
  type TensorMap,
} from "../tensors/dtypes.ts";

/** Domain tag that starts every preimage; a new encoding gets a new tag. */
const RESULT_HASH_TAG = "CONCLAVE-RESULT-V1";

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
  if (!(quantum > 0) || !Number.isFinite(quantum))
    throw new TensorFormatError(`output quantum must be a positive number, got ${quantum}`);
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
  return keccakBytes(resultHashPreimage(outputs, quantum));
}

/**
 * Default half-width, in quanta, of the band around a rounding boundary in which a runner
 * abstains (docs/canonical-result-hash.md, "Abstaining near a boundary").
 */
export const DEFAULT_BOUNDARY_EPSILON = 1e-3;

/** A float output element that lies too close to a rounding boundary to hash reliably. */
interface BoundaryHit {
  /** Output name. */
  tensor: string;
  /** Row-major element index within that output. */
  index: number;
  value: number;
  /** |frac(value / quantum) − 0.5|: how far from the boundary, in quanta (< epsilon). */
  distance: number;
}

/**
 * The first float output element (outputs in the hash's byte-wise name order, elements
 * row-major) with |frac(x / quantum) − 0.5| < epsilon, where frac(r) = r − floor(r) in float64;
 * null when there is none. Such an element quantizes to floor(x / quantum + 0.5) on one side of
 * the boundary or the other depending on the last bits of x, which differ between honest
 * machines (instruction set, thread count), and a client can choose inputs that land outputs
 * there: a runner abstains from such a job rather than risk a hash other honest runners do not
 * share. NaN and ±Inf have fixed encodings and are never near; integer outputs are not quantized.
 */
export function nearQuantizationBoundary(
  outputs: TensorMap,
  quantum: number,
  epsilon = DEFAULT_BOUNDARY_EPSILON,
): BoundaryHit | null {
  if (!(quantum > 0) || !Number.isFinite(quantum))
    throw new TensorFormatError(`output quantum must be a positive number, got ${quantum}`);
  if (!(epsilon >= 0 && epsilon < 0.5))
    throw new ConfigError(`boundary epsilon must be from 0 to below 0.5 quanta, got ${epsilon}`);
  if (epsilon === 0) return null;
  const names = Object.keys(outputs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    const t = outputs[name]!;
    checkTensor(name, t);
    if (!FLOAT_DTYPES.has(t.dtype)) continue;
    const values = tensorValues(t) as number[];
    for (let index = 0; index < values.length; index++) {
      const value = values[index]!;
      if (!Number.isFinite(value)) continue;
      const r = value / quantum;
      const distance = Math.abs(r - Math.floor(r) - 0.5);
      if (distance < epsilon) return { tensor: name, index, value, distance };
    }
  }
  return null;
}
