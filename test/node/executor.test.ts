import { expect } from "chai";
import { ort } from "../../node/inference/ort.ts";
import onnxProto from "onnx-proto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FrameError } from "../../node/inference/worker-frames.ts";
import { createExecutor } from "../../node/inference/executor.ts";
import { type Executor } from "../../node/inference/executor-options.ts";
import {
  ExecutorClosedError,
  InferenceFailedError,
  InferenceTimeoutError,
  ModelLoadError,
  ModelMismatchError,
  ModelNotLoadedError,
  WorkerCrashedError,
} from "../../node/inference/errors.ts";
import { InvalidInputError, type ModelSchema } from "../../node/inference/schema.ts";
import { tensorFrom, type Tensor, type TensorMap } from "../../node/tensors/dtypes.ts";
import { RetryableError } from "../../node/errors.ts";
import { rejection } from "../helpers/errors.ts";
import { logRecorder } from "../helpers/log-recorder.ts";
import { SILERO_MODEL, SILERO_SCHEMA, vadInputs } from "../helpers/silero.ts";
import { testDir } from "../helpers/temp-dir.ts";

const MODEL = SILERO_MODEL;

const SCHEMA = SILERO_SCHEMA;

/**
 * A model that takes far longer than any test timeout: 24 chained 2048×2048 MatMuls (~400 GFLOP).
 * Its run is a real blocking native call, which is what the timeout has to stop.
 */
const SLOW_N = 2048;
const SLOW_SCHEMA: ModelSchema = {
  inputs: [{ name: "X", dtype: "F32", shape: [null, null] }],
  outputs: [{ name: "Y", dtype: "F32", shape: [null, null] }],
};

function writeSlowModel(path: string): void {
  const { onnx } = onnxProto;
  const square = {
    tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: "n" }, { dimParam: "n" }] } },
  };
  const node = Array.from({ length: 24 }, (_, i) => ({
    opType: "MatMul",
    input: [i === 0 ? "X" : `m${i - 1}`, "X"],
    output: [i === 23 ? "Y" : `m${i}`],
  }));
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ version: 17 }],
    graph: { name: "slow", node, input: [{ name: "X", type: square }], output: [{ name: "Y", type: square }] },
  });
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}

/** The same inputs fed straight to onnxruntime in this thread: the reference the executor must reproduce bit for bit. */
async function directRun(session: ort.InferenceSession, inputs: TensorMap): Promise<Record<string, Uint8Array>> {
  const f32 = (t: TensorMap[string]) => new Float32Array(t.data.slice().buffer);
  const results = await session.run({
    input: new ort.Tensor("float32", f32(inputs.input!), inputs.input!.shape),
    state: new ort.Tensor("float32", f32(inputs.state!), inputs.state!.shape),
    sr: new ort.Tensor("int64", new BigInt64Array(inputs.sr!.data.slice().buffer), []),
  });
  const out: Record<string, Uint8Array> = {};
  for (const [name, t] of Object.entries(results)) {
    const data = t.data as Float32Array;
    out[name] = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return out;
}

/** Samples a 1 ms interval: how late the event loop gets to its timers. */
function lagMeter() {
  let last = performance.now();
  let max = 0;
  let sum = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const lag = Math.max(0, now - last - 1);
    max = Math.max(max, lag);
    sum += lag;
    ticks++;
    last = now;
  }, 1);
  return () => {
    clearInterval(timer);
    return { maxMs: max, meanMs: ticks ? sum / ticks : 0, ticks };
  };
}

describe("inference executor", function () {
  let direct: ort.InferenceSession;
  let executor: Executor;
  const rec = logRecorder();
  const dir = testDir("conclave-executor-");
  const slowModel = join(dir, "slow.onnx");

  before(async function () {
    writeSlowModel(slowModel);
    direct = await ort.InferenceSession.create(MODEL);
    executor = createExecutor({ testHooks: true, log: rec.log });
    await executor.load("vad-v5", MODEL, SCHEMA);
  });

  after(async function () {
    await executor?.close();
    await direct?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it("returns the exact bytes of a direct onnxruntime run, with safetensors dtypes and the schema's shapes", async function () {
    for (const seed of [0, 1, 2]) {
      const inputs = vadInputs(seed);
      const { outputs, inferenceMs } = await executor.run("vad-v5", inputs);
      const expected = await directRun(direct, inputs);
      expect(Object.keys(outputs).sort()).to.deep.equal(["output", "stateN"]);
      expect(outputs.output).to.include({ dtype: "F32" });
      expect(outputs.output!.shape).to.deep.equal([1, 1]);
      expect(outputs.stateN!.shape).to.deep.equal([2, 1, 128]);
      expect(Buffer.from(outputs.output!.data).equals(Buffer.from(expected.output!))).to.equal(true);
      expect(Buffer.from(outputs.stateN!.data).equals(Buffer.from(expected.stateN!))).to.equal(true);
      expect(inferenceMs).to.be.a("number").and.to.be.greaterThan(0);
    }
  });

  it("leaves the caller's input tensors intact, so a failed run can be retried with them", async function () {
    const inputs = vadInputs(5);
    const before = Buffer.from(inputs.input!.data);
    await executor.run("vad-v5", inputs);
    expect(inputs.input!.data.byteLength).to.equal(2048);
    expect(Buffer.from(inputs.input!.data).equals(before)).to.equal(true);
  });

  it("reports a run onnxruntime rejects as a fatal inference failure and keeps serving", async function () {
    // The schema admits any length, the model only 512-sample chunks.
    const loose: ModelSchema = {
      ...SCHEMA,
      inputs: SCHEMA.inputs.map((s) => (s.name === "input" ? { ...s, shape: [1, null] } : s)),
    };
    await executor.load("vad-loose", MODEL, loose);
    const inputs = { ...vadInputs(), input: tensorFrom("F32", [1, 1024], new Array(1024).fill(0.1)) };
    expect(await rejection(() => executor.run("vad-loose", inputs))).to.be.instanceOf(InferenceFailedError);
    await executor.unload("vad-loose");
    const { outputs } = await executor.run("vad-v5", vadInputs());
    expect(outputs.output!.shape).to.deep.equal([1, 1]);
  });

  it("fails a run whose inputs are over a message's limit (1 GiB) as fatal, at once, and keeps serving", async function () {
    const loose: ModelSchema = {
      ...SCHEMA,
      inputs: SCHEMA.inputs.map((s) => (s.name === "input" ? { ...s, shape: [1, null] } : s)),
    };
    await executor.load("vad-huge", MODEL, loose);
    // 1 GiB of zeros the kernel maps lazily: nothing here touches its pages.
    const samples = 2 ** 28;
    const inputs = {
      ...vadInputs(),
      input: { dtype: "F32" as const, shape: [1, samples], data: new Uint8Array(4 * samples) },
    };
    const error = await rejection(() => executor.run("vad-huge", inputs));
    expect(error).to.be.instanceOf(InferenceFailedError);
    expect((error as Error).message).to.match(/over the frame limit of 1073741824/);
    await executor.unload("vad-huge");
    const { outputs } = await executor.run("vad-v5", vadInputs());
    expect(outputs.output!.shape).to.deep.equal([1, 1]);
  });

  it("refuses inputs that break the schema without running anything", async function () {
    const good = vadInputs();
    const missing: TensorMap = { ...good };
    delete missing.input;
    const cases: [string, TensorMap][] = [
      ["missing tensor", missing],
      ["wrong dtype", { ...good, sr: tensorFrom("I32", [], [16000]) }],
      ["wrong shape", { ...good, input: tensorFrom("F32", [1, 256], new Array(256).fill(0)) }],
      ["wrong rank", { ...good, sr: tensorFrom("I64", [1], [16000]) }],
      ["extra tensor", { ...good, extra: tensorFrom("F32", [1], [1]) }],
      ["short data", { ...good, state: { dtype: "F32", shape: [2, 1, 128], data: new Uint8Array(16) } }],
    ];
    const stats = executor.stats();
    for (const [what, inputs] of cases) {
      expect(await rejection(() => executor.run("vad-v5", inputs)), what).to.be.instanceOf(InvalidInputError);
    }
    expect(executor.stats()).to.deep.equal(stats);
  });

  it("refuses a schema that does not match the model file", async function () {
    const renamed: ModelSchema = {
      ...SCHEMA,
      inputs: SCHEMA.inputs.map((s) => (s.name === "sr" ? { ...s, name: "rate" } : s)),
    };
    const retyped: ModelSchema = {
      ...SCHEMA,
      inputs: SCHEMA.inputs.map((s) => (s.name === "sr" ? { ...s, dtype: "I32" as const } : s)),
    };
    const missingOutput: ModelSchema = { ...SCHEMA, outputs: SCHEMA.outputs.slice(0, 1) };
    const bf16: ModelSchema = { ...SCHEMA, outputs: SCHEMA.outputs.map((s) => ({ ...s, dtype: "BF16" as const })) };
    for (const [key, schema] of Object.entries({ renamed, retyped, missingOutput, bf16 })) {
      expect(await rejection(() => executor.load(key, MODEL, schema)), key).to.be.instanceOf(ModelMismatchError);
    }
    expect(await rejection(() => executor.run("renamed", vadInputs()))).to.be.instanceOf(ModelNotLoadedError);
  });

  it("reports an unreadable model file as a load failure and accepts the key again afterwards", async function () {
    expect(await rejection(() => executor.load("later", "/nonexistent/model.onnx", SCHEMA))).to.be.instanceOf(
      ModelLoadError,
    );
    await executor.load("later", MODEL, SCHEMA);
    await executor.run("later", vadInputs());
    await executor.unload("later");
  });

  it("treats a second load of the same key as a no-op and forgets a key on unload", async function () {
    const loads = () =>
      rec.events.filter((e) => e.event === "executor.session_loaded" && e.fields.key === "vad-v5").length;
    const before = loads();
    await executor.load("vad-v5", MODEL, SCHEMA);
    expect(loads()).to.equal(before);

    await executor.load("scratch", MODEL, SCHEMA);
    await executor.run("scratch", vadInputs());
    await executor.unload("scratch");
    expect(await rejection(() => executor.run("scratch", vadInputs()))).to.be.instanceOf(ModelNotLoadedError);
  });

  it("keeps the event loop responsive during 200 runs", async function () {
    const inputs = Array.from({ length: 200 }, (_, i) => vadInputs(i));
    const stop = lagMeter();
    const results = await Promise.all(inputs.map((x) => executor.run("vad-v5", x)));
    const lag = stop();
    expect(results).to.have.length(200);
    for (const r of results) expect(r.outputs.stateN!.shape).to.deep.equal([2, 1, 128]);

    // For contrast only: the same runs in this thread.
    const stopDirect = lagMeter();
    for (const x of inputs) await directRun(direct, x);
    const directLag = stopDirect();
    const f = (x: number) => x.toFixed(2);
    console.log(
      `      event-loop lag over 200 runs: executor max ${f(lag.maxMs)} ms, mean ${f(lag.meanMs)} ms (${lag.ticks} ticks); ` +
        `same runs in the main thread max ${f(directLag.maxMs)} ms, mean ${f(directLag.meanMs)} ms (${directLag.ticks} ticks)`,
    );
  });

  it("kills a native run that exceeds its timeout and serves the next run from a fresh worker", async function () {
    await executor.load("slow", slowModel, SLOW_SCHEMA);
    const stats = executor.stats();
    const x: Tensor = {
      dtype: "F32",
      shape: [SLOW_N, SLOW_N],
      data: new Uint8Array(new Float32Array(SLOW_N * SLOW_N).fill(0.001).buffer),
    };
    const error = await rejection(() => executor.run("slow", { X: x }, { timeoutMs: 300 }));
    expect(error).to.be.instanceOf(InferenceTimeoutError);

    const inputs = vadInputs(7);
    const { outputs } = await executor.run("vad-v5", inputs, { timeoutMs: 5_000 });
    expect(Buffer.from(outputs.stateN!.data).equals(Buffer.from((await directRun(direct, inputs)).stateN!))).to.equal(
      true,
    );
    expect(executor.stats()).to.include({
      timeouts: stats.timeouts + 1,
      failures: stats.failures + 1,
      runs: stats.runs + 1,
    });
    expect(executor.stats().workerRestarts).to.equal(stats.workerRestarts + 1);
    const kills = rec.events.filter((e) => e.event === "executor.worker_exited" && e.fields.signal === "SIGKILL");
    expect(kills).to.have.length(1);
    await executor.unload("slow");
  });

  it("re-queues the runs pipelined behind a timed-out run onto the fresh worker, in order", async function () {
    await executor.load("slow", slowModel, SLOW_SCHEMA);
    const stats = executor.stats();
    const requeuedBefore = rec.events.filter((e) => e.event === "executor.runs_requeued").length;
    const x: Tensor = {
      dtype: "F32",
      shape: [SLOW_N, SLOW_N],
      data: new Uint8Array(new Float32Array(SLOW_N * SLOW_N).fill(0.001).buffer),
    };
    const settled: string[] = [];
    // One worker, pipeline depth 2: the first vad run is sent behind the slow one before it starts; the others wait in the queue.
    const slow = rejection(() => executor.run("slow", { X: x }, { timeoutMs: 300 })).then(
      (e) => (settled.push("slow"), e),
    );
    const inputs = [8, 9, 10].map((seed) => vadInputs(seed));
    const behind = inputs.map((x, i) =>
      executor.run("vad-v5", x, { timeoutMs: 5_000 }).then((r) => (settled.push(`vad${i}`), r)),
    );
    expect(await slow).to.be.instanceOf(InferenceTimeoutError);
    const results = await Promise.all(behind);
    expect(settled).to.deep.equal(["slow", "vad0", "vad1", "vad2"]);
    for (const [i, r] of results.entries()) {
      expect(
        Buffer.from(r.outputs.stateN!.data).equals(Buffer.from((await directRun(direct, inputs[i]!)).stateN!)),
      ).to.equal(true);
    }
    expect(executor.stats()).to.include({
      timeouts: stats.timeouts + 1,
      failures: stats.failures + 1,
      runs: stats.runs + 3,
      workerRestarts: stats.workerRestarts + 1,
    });
    const requeued = rec.events.filter((e) => e.event === "executor.runs_requeued").slice(requeuedBefore);
    expect(requeued.map((e) => e.fields.runs)).to.deep.equal([1]);
    await executor.unload("slow");
  });

  it("re-queues a run pipelined behind a run that crashed its worker", async function () {
    const crashed = rejection(() => executor.run("vad-v5", vadInputs(), { debug: { crash: true } }));
    const inputs = vadInputs(11);
    const behind = executor.run("vad-v5", inputs);
    expect(await crashed).to.be.instanceOf(WorkerCrashedError);
    const { outputs } = await behind;
    expect(Buffer.from(outputs.stateN!.data).equals(Buffer.from((await directRun(direct, inputs)).stateN!))).to.equal(
      true,
    );
  });

  it("resolves pipelined runs in the order they were requested", async function () {
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => executor.run("vad-v5", vadInputs(i)).then(() => order.push(i))),
    );
    expect(order).to.deep.equal(Array.from({ length: 30 }, (_, i) => i));
  });

  it("fails the run of a crashed worker as retryable and replaces the worker", async function () {
    const error = await rejection(() => executor.run("vad-v5", vadInputs(), { debug: { crash: true } }));
    expect(error).to.be.instanceOf(WorkerCrashedError);
    expect(error).to.be.instanceOf(RetryableError);
    const { outputs } = await executor.run("vad-v5", vadInputs(3));
    expect(outputs.output!.shape).to.deep.equal([1, 1]);
  });

  it("replaces a worker that writes a frame that does not parse, and fails only the run it was doing", async function () {
    const before = executor.stats().workerRestarts;
    const error = await rejection(() => executor.run("vad-v5", vadInputs(), { debug: { badFrame: true } }));
    expect(error).to.be.instanceOf(WorkerCrashedError);
    expect((error as Error).cause).to.be.instanceOf(FrameError);
    expect(executor.stats().workerRestarts).to.equal(before + 1);
    const { outputs } = await executor.run("vad-v5", vadInputs(3));
    expect(outputs.output!.shape).to.deep.equal([1, 1]);
  });

  it("ignores the test hooks unless the executor was created with them", async function () {
    const plain = createExecutor();
    try {
      await plain.load("vad-v5", MODEL, SCHEMA);
      const { outputs } = await plain.run("vad-v5", vadInputs(), {
        timeoutMs: 5_000,
        debug: { crash: true, delayMs: 10_000 },
      });
      expect(outputs.output!.shape).to.deep.equal([1, 1]);
    } finally {
      await plain.close();
    }
  });

  it("loads a model on every worker before load() resolves; runs then load nothing and match a direct run", async function () {
    const multi = logRecorder();
    const pool = createExecutor({ workers: 2, intraOpThreads: 1, log: multi.log });
    try {
      await pool.load("vad-v5", MODEL, SCHEMA);
      const loadedOn = () =>
        multi.events.filter((e) => e.event === "executor.session_loaded").map((e) => e.fields.worker);
      expect([...loadedOn()].sort()).to.deep.equal([0, 1]);
      const inputs = Array.from({ length: 20 }, (_, i) => vadInputs(100 + i));
      const results = await Promise.all(inputs.map((x) => pool.run("vad-v5", x)));
      // No run loaded a session again.
      expect(loadedOn()).to.have.length(2);
      for (const [i, r] of results.entries()) {
        const expected = await directRun(direct, inputs[i]!);
        expect(Buffer.from(r.outputs.output!.data).equals(Buffer.from(expected.output!))).to.equal(true);
      }
      expect(pool.stats()).to.include({ runs: 20, failures: 0 });
    } finally {
      await pool.close();
    }
  });

  it("close() fails outstanding runs as retryable, stops every worker and leaves no handles", async function () {
    // Taken after a turn of the loop, once mocha has armed its own test timer.
    await new Promise((resolve) => setImmediate(resolve));
    const baseline = process.getActiveResourcesInfo();
    const own = logRecorder();
    const closing = createExecutor({ testHooks: true, log: own.log });
    await closing.load("vad-v5", MODEL, SCHEMA);
    const running = rejection(() => closing.run("vad-v5", vadInputs(), { debug: { delayMs: 300 } }));
    const queued = rejection(() => closing.run("vad-v5", vadInputs()));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await closing.close();
    expect(await running).to.be.instanceOf(ExecutorClosedError);
    expect(await queued).to.be.instanceOf(ExecutorClosedError);
    expect(await rejection(() => closing.run("vad-v5", vadInputs()))).to.be.instanceOf(ExecutorClosedError);

    const started = own.events.filter((e) => e.event === "executor.worker_started").map((e) => e.fields.pid as number);
    const exited = own.events.filter((e) => e.event === "executor.worker_exited").map((e) => e.fields.pid as number);
    expect(started).to.have.length.greaterThan(0);
    expect(exited.sort()).to.deep.equal(started.sort());
    for (const pid of started) expect(() => process.kill(pid, 0), `worker ${pid} still running`).to.throw();
    expect(process.getActiveResourcesInfo().filter((r) => !baseline.includes(r))).to.deep.equal([]);
  });

  it("the runner's shutdown signal cancels a running and a queued run at once; close() then waits for the workers", async function () {
    const own = logRecorder();
    const shutdown = new AbortController();
    const stopping = createExecutor({ testHooks: true, log: own.log, signal: shutdown.signal });
    await stopping.load("vad-v5", MODEL, SCHEMA);
    const running = rejection(() => stopping.run("vad-v5", vadInputs(), { debug: { delayMs: 5_000 } }));
    const queued = rejection(() => stopping.run("vad-v5", vadInputs()));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const t0 = performance.now();
    shutdown.abort();
    expect(await running).to.be.instanceOf(ExecutorClosedError);
    expect(await queued).to.be.instanceOf(ExecutorClosedError);
    expect(performance.now() - t0).to.be.lessThan(2_000);
    expect(await rejection(() => stopping.run("vad-v5", vadInputs()))).to.be.instanceOf(ExecutorClosedError);
    await stopping.close();
    const started = own.events.filter((e) => e.event === "executor.worker_started").map((e) => e.fields.pid as number);
    expect(started).to.have.length.greaterThan(0);
    for (const pid of started) expect(() => process.kill(pid, 0), `worker ${pid} still running`).to.throw();
  });
});
