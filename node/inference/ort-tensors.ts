/**
 * Tensors as onnxruntime-node takes them: the worker's feeds, and the reference runs of the
 * benchmarks and tests (onnxruntime in their own process). It imports the native addon, so only
 * those load it, never the runner process.
 */
import { ort } from "./ort.ts";
import type { DType, Tensor, TensorMap } from "../tensors/dtypes.ts";
import { ORT_TYPES } from "./worker-protocol.ts";

export type TypedArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

interface TypedArrayCtor {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
}

const ARRAYS: Partial<Record<DType, TypedArrayCtor>> = {
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  U16: Uint16Array,
  I16: Int16Array,
  // Without a global Float16Array, onnxruntime takes float16 data as raw Uint16Array bits.
  F16: Uint16Array,
  I32: Int32Array,
  U32: Uint32Array,
  F32: Float32Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
  F64: Float64Array,
};

/** An onnxruntime tensor over the tensor's bytes (copied only when their offset is unaligned). */
export function ortTensor(t: Tensor): ort.Tensor {
  const Ctor = ARRAYS[t.dtype];
  const type = ORT_TYPES[t.dtype];
  if (!Ctor || !type) throw new Error(`dtype ${t.dtype} cannot be fed to onnxruntime`);
  // Received bytes are a view into the IPC message; a typed array needs an aligned offset.
  const bytes = t.data.byteOffset % Ctor.BYTES_PER_ELEMENT === 0 ? t.data : t.data.slice();
  const array = new Ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / Ctor.BYTES_PER_ELEMENT);
  return new ort.Tensor(type as "float32", array as Float32Array, t.shape);
}

/** A session's feeds for named input tensors. */
export function ortFeeds(inputs: TensorMap): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, ortTensor(t)]));
}
