/**
 * A model's schema against onnxruntime: at load, every tensor it declares must be one onnxruntime
 * can exchange, and the session's inputs and outputs must be the schema's, name for name and dtype
 * for dtype.
 */
import { ModelMismatchError } from "./errors.ts";
import type { ModelSchema, TensorSpec } from "./schema.ts";
import { ORT_TYPES, dtypeOfOrt, type WireValueInfo } from "./worker-protocol.ts";

/** Every tensor of the schema is one onnxruntime-node can take and return. */
export function checkSupported(schema: ModelSchema): void {
  for (const spec of [...schema.inputs, ...schema.outputs]) {
    if (!ORT_TYPES[spec.dtype])
      throw new ModelMismatchError(`tensor ${spec.name}: onnxruntime-node cannot exchange ${spec.dtype} tensors`);
  }
}

/** A loaded session's inputs or outputs (`what`) are the schema's. */
export function checkMatch(specs: TensorSpec[], infos: WireValueInfo[], what: string): void {
  const byName = new Map(infos.map((i) => [i.name, i]));
  const expected = specs.map((s) => s.name).sort();
  const actual = [...byName.keys()].sort();
  if (expected.join("\0") !== actual.join("\0")) {
    throw new ModelMismatchError(`model ${what}s are [${actual.join(", ")}], schema says [${expected.join(", ")}]`);
  }
  for (const spec of specs) {
    const type = byName.get(spec.name)!.type;
    const dtype = type === null ? undefined : dtypeOfOrt(type);
    if (dtype !== spec.dtype)
      throw new ModelMismatchError(
        `model ${what} ${spec.name} is ${type ?? "not a tensor"}, schema says ${spec.dtype}`,
      );
  }
}
