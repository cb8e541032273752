import { FatalError } from "../errors.ts";

/** A tensor or tensor file does not follow the format (bad header, wrong size, unknown dtype). */
export class TensorFormatError extends FatalError {
  readonly code = "TENSOR_INVALID";
}

/** safetensors dtype names and their element sizes in bytes. */
export const DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type DType = keyof typeof DTYPE_SIZES;

export const FLOAT_DTYPES: ReadonlySet<DType> = new Set<DType>(["F16", "BF16", "F32", "F64"]);

export function isDType(s: unknown): s is DType {
  return typeof s === "string" && Object.hasOwn(DTYPE_SIZES, s);
}

/** A named tensor: raw little-endian element bytes plus dtype and shape. */
export interface Tensor {
  dtype: DType;
  shape: number[];
  /** Little-endian element data, `product(shape) × size(dtype)` bytes. */
  data: Uint8Array;
}

export type TensorMap = Record<string, Tensor>;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

export function checkTensor(name: string, t: Tensor): void {
  if (!isDType(t.dtype)) throw new TensorFormatError(`tensor ${name}: unknown dtype ${String(t.dtype)}`);
  if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new TensorFormatError(`tensor ${name}: shape must be a list of non-negative integers`);
  }
  const expected = elementCount(t.shape) * DTYPE_SIZES[t.dtype];
  if (t.data.byteLength !== expected) {
    throw new TensorFormatError(
      `tensor ${name}: ${t.data.byteLength} data bytes, expected ${expected} for ${t.dtype}[${t.shape.join(",")}]`,
    );
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Element values as numbers (floats) or bigints (64-bit integers), read little-endian. */
export function tensorValues(t: Tensor): (number | bigint)[] {
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const n = elementCount(t.shape);
  const size = DTYPE_SIZES[t.dtype];
  const out: (number | bigint)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * size;
    switch (t.dtype) {
      case "BOOL":
      case "U8":
        out[i] = view.getUint8(o);
        break;
      case "I8":
        out[i] = view.getInt8(o);
        break;
      case "I16":
        out[i] = view.getInt16(o, true);
        break;
      case "U16":
        out[i] = view.getUint16(o, true);
        break;
      case "F16":
        out[i] = halfToFloat(view.getUint16(o, true));
        break;
      case "BF16":
        out[i] = new Float32Array(new Uint32Array([view.getUint16(o, true) << 16]).buffer)[0]!;
        break;
      case "I32":
        out[i] = view.getInt32(o, true);
        break;
      case "U32":
        out[i] = view.getUint32(o, true);
        break;
      case "F32":
        out[i] = view.getFloat32(o, true);
        break;
      case "I64":
        out[i] = view.getBigInt64(o, true);
        break;
      case "U64":
        out[i] = view.getBigUint64(o, true);
        break;
      case "F64":
        out[i] = view.getFloat64(o, true);
        break;
    }
  }
  return out;
}

/** Builds a tensor from plain values (used for JSON input files and tests). */
export function tensorFrom(dtype: DType, shape: number[], values: readonly (number | bigint | boolean)[]): Tensor {
  const n = elementCount(shape);
  if (values.length !== n)
    throw new TensorFormatError(`${values.length} values for shape [${shape.join(",")}] (${n} elements)`);
  const size = DTYPE_SIZES[dtype];
  const data = new Uint8Array(n * size);
  const view = new DataView(data.buffer);
  values.forEach((raw, i) => {
    const v = typeof raw === "boolean" ? Number(raw) : raw;
    const o = i * size;
    const num = () => {
      if (typeof v !== "number" || !Number.isFinite(v) || !Number.isInteger(v)) {
        throw new TensorFormatError(`value ${String(raw)} at index ${i} is not an integer for ${dtype}`);
      }
      return v;
    };
    switch (dtype) {
      case "BOOL":
      case "U8":
        view.setUint8(o, num());
        break;
      case "I8":
        view.setInt8(o, num());
        break;
      case "I16":
        view.setInt16(o, num(), true);
        break;
      case "U16":
        view.setUint16(o, num(), true);
        break;
      case "I32":
        view.setInt32(o, num(), true);
        break;
      case "U32":
        view.setUint32(o, num(), true);
        break;
      case "I64":
        view.setBigInt64(o, BigInt(v), true);
        break;
      case "U64":
        view.setBigUint64(o, BigInt(v), true);
        break;
      case "F32":
        view.setFloat32(o, Number(v), true);
        break;
      case "F64":
        view.setFloat64(o, Number(v), true);
        break;
      default:
        throw new TensorFormatError(`building ${dtype} tensors from values is not supported`);
    }
  });
  return { dtype, shape: [...shape], data };
}
