import { oneLine } from "../errors.ts";
import {
  elementCount,
  isDType,
  tensorFrom,
  tensorValues,
  TensorFormatError,
  type Tensor,
  type TensorMap,
} from "./dtypes.ts";

/**
 * Tensors as JSON, for people and scripts: `{"<name>": {"dtype": "F32", "data": [[1, 2], [3, 4]]}}`.
 * The nesting of `data` gives the shape (a scalar is a bare number); an explicit `"shape"` may be
 * given with flat data instead. 64-bit integers may be written as strings to keep every digit.
 */
export function parseJsonTensors(text: string): TensorMap {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new TensorFormatError(`not valid JSON: ${(cause as Error).message}`, { cause });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new TensorFormatError('expected an object of tensors, like {"x": {"dtype": "F32", "data": [[1, 2]]}}');
  const out: TensorMap = {};
  for (const [name, spec] of Object.entries(raw as Record<string, unknown>)) {
    const s = spec as { dtype?: unknown; data?: unknown; shape?: unknown };
    if (typeof s !== "object" || s === null) throw new TensorFormatError(`tensor ${name}: expected {"dtype", "data"}`);
    if (!isDType(s.dtype)) throw new TensorFormatError(`tensor ${name}: unknown dtype ${JSON.stringify(s.dtype)}`);
    const nested = shapeOf(name, s.data);
    const shape = s.shape === undefined ? nested : (s.shape as number[]);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0))
      throw new TensorFormatError(`tensor ${name}: shape must list non-negative integers`);
    const values = (Array.isArray(s.data) ? (s.data as unknown[]).flat(Infinity) : [s.data]).map((v) => value(name, v));
    if (values.length !== elementCount(shape))
      throw new TensorFormatError(`tensor ${name}: ${values.length} values for shape [${shape.join(",")}]`);
    try {
      out[name] = tensorFrom(s.dtype, shape, values);
    } catch (error) {
      throw new TensorFormatError(`tensor ${name}: ${oneLine(error)}`, { cause: error });
    }
  }
  return out;
}

function value(name: string, v: unknown): number | bigint | boolean {
  if (typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
  throw new TensorFormatError(`tensor ${name}: ${JSON.stringify(v)} is not a number`);
}

/** The shape of a nested array; ragged nesting is an error. */
function shapeOf(name: string, data: unknown): number[] {
  if (!Array.isArray(data)) return [];
  const inner = data.map((d) => shapeOf(name, d));
  const first = inner[0] ?? [];
  if (inner.some((s) => s.length !== first.length || s.some((d, i) => d !== first[i])))
    throw new TensorFormatError(`tensor ${name}: ragged nested data`);
  return [data.length, ...first];
}

function nest(values: unknown[], shape: number[]): unknown {
  if (shape.length === 0) return values[0];
  const [d, ...rest] = shape;
  const step = elementCount(rest);
  return Array.from({ length: d! }, (_, i) => nest(values.slice(i * step, (i + 1) * step), rest));
}

/** One tensor as JSON: values nested by shape; 64-bit integers beyond 2^53 as strings. */
function tensorToJson(t: Tensor): { dtype: string; shape: number[]; data: unknown } {
  const values = tensorValues(t).map((v) =>
    typeof v === "bigint"
      ? v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v)
        : v.toString()
      : v,
  );
  return { dtype: t.dtype, shape: t.shape, data: nest(values, t.shape) };
}

export function tensorsToJson(tensors: TensorMap): Record<string, ReturnType<typeof tensorToJson>> {
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, tensorToJson(t)]));
}
