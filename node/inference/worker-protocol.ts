/**
 * Messages between the executor and its inference worker processes, and the dtype mapping both
 * sides share. Kept free of onnxruntime imports so the runner process never loads the native
 * addon: only workers do.
 */
import type { DType } from "../tensors/dtypes.ts";

/** onnxruntime tensor type names for the safetensors dtypes the runtime can feed and return. */
export const ORT_TYPES: Partial<Record<DType, string>> = {
  BOOL: "bool",
  U8: "uint8",
  I8: "int8",
  U16: "uint16",
  I16: "int16",
  F16: "float16",
  I32: "int32",
  U32: "uint32",
  F32: "float32",
  I64: "int64",
  U64: "uint64",
  F64: "float64",
  // BF16 has no onnxruntime-node JS tensor type: schemas using it are refused at load.
};

const DTYPE_OF_ORT: ReadonlyMap<string, DType> = new Map(Object.entries(ORT_TYPES).map(([d, o]) => [o, d as DType]));

export function dtypeOfOrt(type: string): DType | undefined {
  return DTYPE_OF_ORT.get(type);
}

/**
 * A tensor crossing the process boundary. Sent with the IPC channel's "advanced" (V8)
 * serialization, which writes only the bytes a Uint8Array views, not its whole backing buffer.
 */
export interface WireTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** What a loaded session says about one of its inputs or outputs. */
export interface WireValueInfo {
  name: string;
  /** onnxruntime type name, or null for a non-tensor value (sequence, map). */
  type: string | null;
}

export interface WorkerConfig {
  intraOpThreads?: number;
  /** Let onnxruntime's thread pools spin between ops (its own default); off unless asked for. */
  spinning?: boolean;
  testHooks: boolean;
}

export type Request =
  | { op: "load"; id: number; key: string; path: string }
  | { op: "unload"; id: number; key: string }
  | { op: "run"; id: number; key: string; inputs: WireTensor[]; debug?: { delayMs?: number; crash?: boolean } };

/** Why a request failed inside the worker; the executor maps each kind to an error class. */
export type FailureKind = "load" | "run" | "not-loaded" | "unsupported-output";

export type Reply =
  | { id: number; ok: true; op: "load"; inputs: WireValueInfo[]; outputs: WireValueInfo[]; loadMs: number }
  | { id: number; ok: true; op: "unload" }
  | { id: number; ok: true; op: "run"; outputs: WireTensor[]; inferenceMs: number }
  | { id: number; ok: false; kind: FailureKind; message: string };
