/**
 * Inference worker process entry (started by worker-process.ts, config as its last argument,
 * messages in frames on fd 3: worker-frames.ts).
 *
 * onnxruntime-node's session creation and `run` are synchronous native calls, so they live here,
 * off the runner's event loop. A process rather than a worker thread: a blocking native run can
 * only be stopped by killing its process, and terminating a worker thread mid-run makes the
 * binding throw a C++ exception when the run returns, which aborts the whole runner.
 *
 * Requests are handled one at a time, in arrival order: a session is never released while a run
 * uses it, and a run's `inferenceMs` never includes another request's work. The executor sends
 * the next runs before the current ones answer, so they are waiting here when the current ones
 * end; runs that queued up in the executor arrive as one batch and are answered together.
 */
import { Socket } from "node:net";
import { ort } from "./ort.ts";
import {
  dtypeOfOrt,
  type FailureKind,
  type Reply,
  type Request,
  type RunOutcome,
  type WireRun,
  type WireTensor,
  type WireValueInfo,
  type WorkerConfig,
} from "./worker-protocol.ts";
import { createFrameReader, encodeFrame } from "./worker-frames.ts";
import { ortTensor, type TypedArray } from "./ort-tensors.ts";

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
  // The executor's socket (worker-process.ts): requests in, replies out, in frames.
  const socket = new Socket({ fd: 3, readable: true, writable: true });
  const send = (reply: Reply) => {
    let frame: Uint8Array;
    try {
      frame = encodeFrame(reply);
    } catch (error) {
      // Outputs too large for a frame: the request fails, with why, rather than the worker.
      frame = encodeFrame({ id: reply.id, ok: false, kind: "run", message: messageOf(error) } satisfies Reply);
    }
    socket.write(frame);
  };
  const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
  const sessions = new Map<string, ort.InferenceSession>();
  const replyEveryMs = config.replyEveryMs ?? 1;
  // Failures reach the runner as error messages; onnxruntime's own stderr lines would only duplicate them.
  const options: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], logSeverityLevel: 4 };
  if (config.intraOpThreads) options.intraOpNumThreads = config.intraOpThreads;
  // onnxruntime's thread pools busy-wait between ops by default; here that burns the cores the
  // runner's event loop (which feeds this worker over IPC) and the other workers need.
  if (!config.spinning)
    options.extra = { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } };

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
      case "run":
        return runBatch(req);
    }
  }

  /** One run of a batch; its failure is its own outcome, not the batch's. */
  async function runOne(run: WireRun): Promise<RunOutcome> {
    try {
      const session = sessions.get(run.key);
      if (!session) throw new Failure("not-loaded", `model ${run.key} is not loaded in this worker`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of run.inputs) feeds[t.name] = ortTensor(t);
      // Dies the way a native crash would: abruptly, without a reply.
      if (config.testHooks && run.debug?.crash) process.exit(70);
      // A frame claiming 2 bytes, under its own length word: the executor must replace this worker.
      if (config.testHooks && run.debug?.badFrame) socket.write(Buffer.from([2, 0, 0, 0]));
      if (config.testHooks && run.debug?.delayMs) blockFor(run.debug.delayMs);
      const t0 = performance.now();
      let results: ort.InferenceSession.OnnxValueMapType;
      try {
        results = await session.run(feeds);
      } catch (error) {
        throw new Failure("run", messageOf(error));
      }
      const inferenceMs = performance.now() - t0;
      const outputs = session.outputNames.map((name) => fromOrt(name, results[name]!));
      return { ok: true, outputs, inferenceMs };
    } catch (error) {
      return { ok: false, kind: error instanceof Failure ? error.kind : "run", message: messageOf(error) };
    }
  }

  /**
   * Runs a batch in order. Finished outcomes are sent whenever `replyEveryMs` passed since the
   * previous reply (so the executor learns which run is under way and a slow run's result is not
   * held back by the runs after it), and at the end.
   */
  async function runBatch(req: Extract<Request, { op: "run" }>): Promise<Reply> {
    let results: RunOutcome[] = [];
    let last = performance.now();
    for (let i = 0; i < req.runs.length; i++) {
      results.push(await runOne(req.runs[i]!));
      const now = performance.now();
      if (i < req.runs.length - 1 && now - last >= replyEveryMs) {
        send({ id: req.id, ok: true, op: "run", results, done: false });
        results = [];
        last = now;
      }
    }
    return { id: req.id, ok: true, op: "run", results, done: true };
  }

  let chain = Promise.resolve();
  const read = createFrameReader((message) => {
    const req = message as Request;
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
  socket.on("data", (chunk: Buffer) => {
    try {
      read(chunk);
    } catch {
      // A frame that does not parse: the executor is not speaking this protocol.
      process.exit(71);
    }
  });
  // A worker outliving its runner would hold memory and cores for nobody.
  socket.on("close", () => process.exit(0));
  socket.on("error", () => process.exit(0));
}

start();
