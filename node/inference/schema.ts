import { DTYPE_SIZES, isDType, TensorFormatError, type DType, type TensorMap } from "../tensors/dtypes.ts";

/** One named tensor of a model's interface; a `null` dimension accepts any size. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: (number | null)[];
}

/**
 * A model version's input/output schema, published on IPFS (the version's `schemaCid`):
 * `{"inputs": [{"name", "dtype", "shape"}], "outputs": [...]}` with safetensors dtype names.
 */
export interface ModelSchema {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** The job's input does not match the schema: the job ends with this reason, nothing is run. */
export class InvalidInputError extends TensorFormatError {}

function parseSpec(raw: unknown, where: string): TensorSpec {
  const s = raw as Partial<TensorSpec>;
  if (!s || typeof s.name !== "string" || s.name.length === 0)
    throw new TensorFormatError(`${where}: name must be a non-empty string`);
  if (!isDType(s.dtype)) throw new TensorFormatError(`${where} ${s.name}: unknown dtype ${String(s.dtype)}`);
  if (!Array.isArray(s.shape) || s.shape.some((d) => d !== null && (!Number.isSafeInteger(d) || d < 0))) {
    throw new TensorFormatError(`${where} ${s.name}: shape must list non-negative integers or null`);
  }
  return { name: s.name, dtype: s.dtype, shape: s.shape };
}

/** Parses and validates schema JSON (bytes or text). */
export function parseSchema(json: Uint8Array | string): ModelSchema {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof json === "string" ? json : new TextDecoder().decode(json));
  } catch (cause) {
    throw new TensorFormatError("schema is not valid JSON", { cause });
  }
  const r = raw as { inputs?: unknown; outputs?: unknown };
  if (!Array.isArray(r?.inputs) || !Array.isArray(r?.outputs) || r.outputs.length === 0) {
    throw new TensorFormatError("schema needs an inputs list and a non-empty outputs list");
  }
  const schema = {
    inputs: r.inputs.map((s) => parseSpec(s, "input")),
    outputs: r.outputs.map((s) => parseSpec(s, "output")),
  };
  for (const list of [schema.inputs, schema.outputs]) {
    if (new Set(list.map((s) => s.name)).size !== list.length)
      throw new TensorFormatError("schema repeats a tensor name");
  }
  return schema;
}

/** Checks that `tensors` has exactly the schema's tensors, with matching dtypes and shapes. */
export function validateTensors(specs: TensorSpec[], tensors: TensorMap, what: "input" | "output"): void {
  const names = new Set(Object.keys(tensors));
  for (const spec of specs) {
    const t = tensors[spec.name];
    if (!t) throw new InvalidInputError(`${what} ${spec.name} is missing`);
    names.delete(spec.name);
    if (t.dtype !== spec.dtype)
      throw new InvalidInputError(`${what} ${spec.name} has dtype ${t.dtype}, expected ${spec.dtype}`);
    const ok = t.shape.length === spec.shape.length && spec.shape.every((d, i) => d === null || d === t.shape[i]);
    if (!ok) {
      throw new InvalidInputError(
        `${what} ${spec.name} has shape [${t.shape.join(",")}], expected [${spec.shape.map((d) => d ?? "*").join(",")}]`,
      );
    }
    if (t.data.byteLength !== t.shape.reduce((n, d) => n * d, 1) * DTYPE_SIZES[t.dtype]) {
      throw new InvalidInputError(`${what} ${spec.name} has the wrong number of data bytes`);
    }
  }
  if (names.size > 0) throw new InvalidInputError(`unexpected ${what} ${[...names].join(", ")}`);
}
