/**
 * Inference worker process entry (started by executor.ts with `fork`, config as argv[2]).
 *
 * onnxruntime-node's session creation and `run` are synchronous native calls, so they live here,
 * off the runner's event loop. A process rather than a worker thread: a blocking native run can
 * only be stopped by killing its process, and terminating a worker thread mid-run makes the
 * binding throw a C++ exception when the run returns, which aborts the whole runner.
 *
 * Requests are handled one at a time, in arrival order: a session is never released while a run
 * uses it, and a run's `inferenceMs` never includes another request's work. The executor sends
 * the next run before the current one answers, so it is waiting here when the current one ends.
 */
import * as ort from "onnxruntime-node";
import { ORT_TYPES, dtypeOfOrt, type FailureKind, type Reply, type Request, type WireTensor, type WireValueInfo, type WorkerConfig } from "./worker-protocol.ts";
import type { DType } from "../tensors/dtypes.ts";

type TypedArray =
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

class Failure extends Error {
  readonly kind: FailureKind;
  constructor(kind: FailureKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toOrt(t: WireTensor): ort.Tensor {
  const Ctor = ARRAYS[t.dtype];
  const type = ORT_TYPES[t.dtype];
  if (!Ctor || !type) throw new Failure("run", `dtype ${t.dtype} cannot be fed to onnxruntime`);
  // Received bytes are a view into the IPC message; a typed array needs an aligned offset.
  const bytes = t.data.byteOffset % Ctor.BYTES_PER_ELEMENT === 0 ? t.data : t.data.slice();
  const array = new Ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / Ctor.BYTES_PER_ELEMENT);
  return new ort.Tensor(type as "float32", array as Float32Array, t.shape);
}

function fromOrt(name: string, value: ort.OnnxValue): WireTensor {
  const dtype = value instanceof ort.Tensor ? dtypeOfOrt(value.type) : undefined;
  if (!dtype) throw new Failure("unsupported-output", `output ${name} is not a numeric tensor`);
  const data = value.data as TypedArray;
  return { name, dtype, shape: [...value.dims], data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function valueInfo(meta: readonly ort.InferenceSession.ValueMetadata[]): WireValueInfo[] {
  return meta.map((m) => ({ name: m.name, type: m.isTensor ? m.type : null }));
}

/** Stands in for a long native run in tests: blocks this process the way `session.run` does. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function start(): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error("worker.ts must be started by the executor with an IPC channel");
  const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
  const sessions = new Map<string, ort.InferenceSession>();
  // Failures reach the runner as error messages; onnxruntime's own stderr lines would only duplicate them.
  const options: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], logSeverityLevel: 4 };
  if (config.intraOpThreads) options.intraOpNumThreads = config.intraOpThreads;
  // onnxruntime's thread pools busy-wait between ops by default; here that burns the cores the
  // runner's event loop (which feeds this worker over IPC) and the other workers need.
  if (!config.spinning) options.extra = { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } };

  async function handle(req: Request): Promise<Reply> {
    switch (req.op) {
      case "load": {
        const t0 = performance.now();
        let session = sessions.get(req.key);
        if (!session) {
          try {
            session = await ort.InferenceSession.create(req.path, options);
          } catch (error) {
            throw new Failure("load", messageOf(error));
          }
          sessions.set(req.key, session);
        }
        return {
          id: req.id,
          ok: true,
          op: "load",
          inputs: valueInfo(session.inputMetadata),
          outputs: valueInfo(session.outputMetadata),
          loadMs: performance.now() - t0,
        };
      }
      case "unload": {
        const session = sessions.get(req.key);
        sessions.delete(req.key);
        await session?.release();
        return { id: req.id, ok: true, op: "unload" };
      }
      case "run": {
        const session = sessions.get(req.key);
        if (!session) throw new Failure("not-loaded", `model ${req.key} is not loaded in this worker`);
        const feeds: Record<string, ort.Tensor> = {};
        for (const t of req.inputs) feeds[t.name] = toOrt(t);
        // Dies the way a native crash would: abruptly, without a reply.
        if (config.testHooks && req.debug?.crash) process.exit(70);
        if (config.testHooks && req.debug?.delayMs) blockFor(req.debug.delayMs);
        const t0 = performance.now();
        let results: ort.InferenceSession.OnnxValueMapType;
        try {
          results = await session.run(feeds);
        } catch (error) {
          throw new Failure("run", messageOf(error));
        }
        const inferenceMs = performance.now() - t0;
        const outputs = session.outputNames.map((name) => fromOrt(name, results[name]!));
        return { id: req.id, ok: true, op: "run", outputs, inferenceMs };
      }
    }
  }

  let chain = Promise.resolve();
  process.on("message", (req: Request) => {
    chain = chain.then(async () => {
      let reply: Reply;
      try {
        reply = await handle(req);
      } catch (error) {
        const kind: FailureKind = error instanceof Failure ? error.kind : "run";
        reply = { id: req.id, ok: false, kind, message: messageOf(error) };
      }
      send(reply);
    });
  });
  // A worker outliving its runner would hold memory and cores for nobody.
  process.on("disconnect", () => process.exit(0));
}

start();
