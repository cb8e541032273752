/**
 * Messages between the executor and its inference worker processes, and the dtype mapping both
 * sides share. Kept free of onnxruntime imports so the runner process never loads the native
 * addon: only workers do.
 */
import type { DType, TensorMap } from "../tensors/dtypes.ts";

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
 * A tensor crossing the process boundary: its bytes travel raw in the message's frame
 * (worker-frames.ts), only the bytes the Uint8Array views, not its whole backing buffer.
 */
export interface WireTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** Views of the caller's tensors: their bytes are copied once, into the frame, when the run is sent. */
export function toWire(inputs: TensorMap): WireTensor[] {
  return Object.entries(inputs).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data }));
}

/**
 * The tensors of a worker's answer, by name, each its own copy: a received frame is a view of the
 * socket's read, which holds other frames too, and a job may keep its outputs for minutes.
 */
export function fromWire(tensors: WireTensor[]): TensorMap {
  const out: TensorMap = {};
  for (const t of tensors) out[t.name] = { dtype: t.dtype, shape: t.shape, data: t.data.slice() };
  return out;
}

/** What a loaded session says about one of its inputs or outputs. */
export interface WireValueInfo {
  name: string;
  /** onnxruntime type name, or null for a non-tensor value (sequence, map). */
  type: string | null;
}

export interface WorkerConfig {
  intraOpThreads?: number;
  /** The worker answers a batch's finished runs at least this often (ms); 0 answers each run at once. */
  replyEveryMs?: number;
  /** Let onnxruntime's thread pools spin between ops (its own default); off unless asked for. */
  spinning?: boolean;
  testHooks: boolean;
}

/** One run of a batch: the worker runs a batch's runs one at a time, in order. */
export interface WireRun {
  key: string;
  inputs: WireTensor[];
  debug?: { delayMs?: number; crash?: boolean; badFrame?: boolean };
}

/** How one run of a batch ended: a failed run fails only itself, never the rest of its batch. */
export type RunOutcome =
  { ok: true; outputs: WireTensor[]; inferenceMs: number } | { ok: false; kind: FailureKind; message: string };

/**
 * `run` carries one or more runs (runs that queued up share one message). The worker answers a
 * batch with one or more `run` replies, each with the outcomes of the next runs in order; the
 * last has `done: true`. It sends what it has whenever `replyEveryMs` passed since its previous
 * reply, so a batch of slow runs answers run by run and a batch of fast ones in one message.
 */
export type Request =
  | { op: "load"; id: number; key: string; path: string }
  | { op: "unload"; id: number; key: string }
  | { op: "run"; id: number; runs: WireRun[] };

/** Why a request failed inside the worker; the executor maps each kind to an error class. */
export type FailureKind = "load" | "run" | "not-loaded" | "unsupported-output";

export type Reply =
  | { id: number; ok: true; op: "load"; inputs: WireValueInfo[]; outputs: WireValueInfo[]; loadMs: number }
  | { id: number; ok: true; op: "unload" }
  | { id: number; ok: true; op: "run"; results: RunOutcome[]; done: boolean }
  | { id: number; ok: false; kind: FailureKind; message: string };
