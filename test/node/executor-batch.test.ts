import { expect } from "chai";
import { ort } from "../../node/inference/ort.ts";
import onnxProto from "onnx-proto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createExecutor } from "../../node/inference/executor.ts";
import { autoInference, type Executor } from "../../node/inference/executor-options.ts";
import { InferenceFailedError, InferenceTimeoutError, WorkerCrashedError } from "../../node/inference/errors.ts";
import type { ModelSchema } from "../../node/inference/schema.ts";
import { tensorFrom, type TensorMap } from "../../node/tensors/dtypes.ts";
import { ConfigError } from "../../node/errors.ts";
import { rejection } from "../helpers/errors.ts";
import { logRecorder } from "../helpers/log-recorder.ts";
import { SILERO_MODEL, SILERO_SCHEMA, vadInputs } from "../helpers/silero.ts";
import { testDir } from "../helpers/temp-dir.ts";

/** 240 chained N×N MatMuls (~480 GFLOP): a real native run far longer than any timeout below; N keeps its input under a batch's byte cap. */
const SLOW_N = 1000;
const SLOW_STEPS = 240;
const SLOW_SCHEMA: ModelSchema = {
  inputs: [{ name: "X", dtype: "F32", shape: [null, null] }],
  outputs: [{ name: "Y", dtype: "F32", shape: [null, null] }],
};

function writeSlowModel(path: string): void {
  const { onnx } = onnxProto;
  const square = {
    tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: "n" }, { dimParam: "n" }] } },
  };
  const node = Array.from({ length: SLOW_STEPS }, (_, i) => ({
    opType: "MatMul",
    input: [i === 0 ? "X" : `m${i - 1}`, "X"],
    output: [i === SLOW_STEPS - 1 ? "Y" : `m${i}`],
  }));
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ version: 17 }],
    graph: { name: "slow", node, input: [{ name: "X", type: square }], output: [{ name: "Y", type: square }] },
  });
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}

describe("inference executor: runs that share a message", function () {
  let direct: ort.InferenceSession;
  const dir = testDir("conclave-executor-batch-");
  const slowModel = join(dir, "slow.onnx");
  // The schema admits any length, the model only 512-sample chunks: onnxruntime rejects such a run.
  const LOOSE: ModelSchema = {
    ...SILERO_SCHEMA,
    inputs: SILERO_SCHEMA.inputs.map((s) => (s.name === "input" ? { ...s, shape: [1, null] } : s)),
  };
  const bad = (): TensorMap => ({ ...vadInputs(0), input: tensorFrom("F32", [1, 1024], new Array(1024).fill(0.1)) });

  async function expected(inputs: TensorMap): Promise<Buffer> {
    const f32 = (t: TensorMap[string]) => new Float32Array(t.data.slice().buffer);
    const r = await direct.run({
      input: new ort.Tensor("float32", f32(inputs.input!), inputs.input!.shape),
      state: new ort.Tensor("float32", f32(inputs.state!), inputs.state!.shape),
      sr: new ort.Tensor("int64", new BigInt64Array(inputs.sr!.data.slice().buffer), []),
    });
    const data = r.stateN!.data as Float32Array;
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  /** An executor whose one worker is kept busy by a delayed run while the runs under test queue up behind it (one message in flight). */
  async function occupied(
    opts: Parameters<typeof createExecutor>[0] = {},
    more: (executor: Executor) => Promise<void> = async () => {},
  ): Promise<{ executor: Executor; busy: Promise<unknown>; rec: ReturnType<typeof logRecorder> }> {
    const rec = logRecorder();
    const executor = createExecutor({ testHooks: true, pipelineDepth: 1, log: rec.log, ...opts });
    await executor.load("vad", SILERO_MODEL, SILERO_SCHEMA);
    await executor.load("loose", SILERO_MODEL, LOOSE);
    await executor.run("vad", vadInputs(0));
    await executor.run("loose", vadInputs(0));
    await more(executor);
    const busy = executor.run("vad", vadInputs(0), { debug: { delayMs: 200 } });
    return { executor, busy, rec };
  }

  before(async function () {
    writeSlowModel(slowModel);
    direct = await ort.InferenceSession.create(SILERO_MODEL);
  });

  after(async function () {
    await direct?.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it("returns each of many concurrent runs its own outputs, with fewer messages than runs", async function () {
    const executor = createExecutor();
    try {
      await executor.load("vad", SILERO_MODEL, SILERO_SCHEMA);
      const inputs = Array.from({ length: 64 }, (_, i) => vadInputs(i));
      const before = executor.stats();
      const results = await Promise.all(inputs.map((x) => executor.run("vad", x)));
      for (const [i, r] of results.entries())
        expect(Buffer.from(r.outputs.stateN!.data).equals(await expected(inputs[i]!)), `run ${i}`).to.equal(true);
      const stats = executor.stats();
      expect(stats.runs - before.runs).to.equal(64);
      expect(stats.batches - before.batches).to.be.lessThan(64);
    } finally {
      await executor.close();
    }
  });

  it("fails only the run onnxruntime rejects, not the rest of its batch", async function () {
    const { executor, busy } = await occupied();
    try {
      const before = executor.stats();
      const good = [1, 2].map((seed) => vadInputs(seed));
      const runs = [
        executor.run("vad", good[0]!),
        rejection(() => executor.run("loose", bad())),
        executor.run("vad", good[1]!),
      ];
      await busy;
      const [first, failed, last] = await Promise.all(runs);
      expect(failed).to.be.instanceOf(InferenceFailedError);
      expect(
        Buffer.from((first as Awaited<ReturnType<Executor["run"]>>).outputs.stateN!.data).equals(
          await expected(good[0]!),
        ),
      ).to.equal(true);
      expect(
        Buffer.from((last as Awaited<ReturnType<Executor["run"]>>).outputs.stateN!.data).equals(
          await expected(good[1]!),
        ),
      ).to.equal(true);
      // The three queued runs went in one message.
      expect(executor.stats()).to.include({
        runs: before.runs + 3,
        failures: before.failures + 1,
        batches: before.batches + 1,
        workerRestarts: 0,
      });
    } finally {
      await executor.close();
    }
  });

  it("runs a batch whose worker crashed again one run at a time, so only the run that crashes fails", async function () {
    // The worker answers the batch only at its end: none of its runs is answered when it crashes.
    const { executor, busy, rec } = await occupied({ replyEveryMs: 60_000 });
    try {
      const before = executor.stats();
      const good = [3, 4].map((seed) => vadInputs(seed));
      const runs = [
        executor.run("vad", good[0]!),
        rejection(() => executor.run("vad", vadInputs(5), { debug: { crash: true } })),
        executor.run("vad", good[1]!),
      ];
      await busy;
      const [first, crashed, last] = await Promise.all(runs);
      expect(crashed).to.be.instanceOf(WorkerCrashedError);
      expect(
        Buffer.from((first as Awaited<ReturnType<Executor["run"]>>).outputs.stateN!.data).equals(
          await expected(good[0]!),
        ),
      ).to.equal(true);
      expect(
        Buffer.from((last as Awaited<ReturnType<Executor["run"]>>).outputs.stateN!.data).equals(
          await expected(good[1]!),
        ),
      ).to.equal(true);
      expect(rec.events.filter((e) => e.event === "executor.batch_split").map((e) => e.fields.runs)).to.deep.equal([3]);
      expect(executor.stats()).to.include({ runs: before.runs + 3, failures: before.failures + 1, workerRestarts: 2 });
    } finally {
      await executor.close();
    }
  });

  it("kills a batch that overruns the sum of its timeouts, then times out only the run that overruns its own", async function () {
    const { executor, busy, rec } = await occupied({ replyEveryMs: 60_000 }, (e) =>
      e.load("slow", slowModel, SLOW_SCHEMA),
    );
    try {
      const before = executor.stats();
      const x = {
        dtype: "F32" as const,
        shape: [SLOW_N, SLOW_N],
        data: new Uint8Array(new Float32Array(SLOW_N * SLOW_N).fill(0.001).buffer),
      };
      const good = [6, 7].map((seed) => vadInputs(seed));
      const runs = [
        executor.run("vad", good[0]!, { timeoutMs: 300 }),
        rejection(() => executor.run("slow", { X: x }, { timeoutMs: 300 })),
        executor.run("vad", good[1]!, { timeoutMs: 300 }),
      ];
      await busy;
      const [first, slow, last] = await Promise.all(runs);
      expect(slow).to.be.instanceOf(InferenceTimeoutError);
      expect(
        Buffer.from((first as Awaited<ReturnType<Executor["run"]>>).outputs.stateN!.data).equals(
          await expected(good[0]!),
        ),
      ).to.equal(true);
      expect(
        Buffer.from((last as Awaited<ReturnType<Executor["run"]>>).outputs.stateN!.data).equals(
          await expected(good[1]!),
        ),
      ).to.equal(true);
      const timeouts = rec.events.filter((e) => e.event === "executor.run_timeout").map((e) => e.fields);
      // First the batch of three (900 ms), then the slow run alone (300 ms).
      expect(timeouts.map((f) => [f.runs, f.timeoutMs])).to.deep.equal([
        [3, 900],
        [1, 300],
      ]);
      // The busy run and the two good ones.
      expect(executor.stats()).to.include({
        runs: before.runs + 3,
        failures: before.failures + 1,
        timeouts: before.timeouts + 1,
        workerRestarts: 2,
      });
    } finally {
      await executor.close();
    }
  });

  it("answers a batch of slow runs run by run, not when the whole batch is done", async function () {
    const { executor, busy } = await occupied({ replyEveryMs: 1 });
    try {
      const settledAt: number[] = [];
      const runs = [0, 1, 2].map((i) =>
        executor
          .run("vad", vadInputs(10 + i), { debug: { delayMs: 150 } })
          .then(() => (settledAt[i] = performance.now())),
      );
      await busy;
      await Promise.all(runs);
      // Each run blocks its worker 150 ms: the first answer comes a run ahead of the second, and so on.
      expect(settledAt[1]! - settledAt[0]!).to.be.greaterThan(100);
      expect(settledAt[2]! - settledAt[1]!).to.be.greaterThan(100);
    } finally {
      await executor.close();
    }
  });

  it("refuses a batch size or reply interval that is not a positive number", function () {
    expect(() => createExecutor({ maxBatch: 0 })).to.throw(ConfigError);
    expect(() => createExecutor({ maxBatch: 1.5 })).to.throw(ConfigError);
    expect(() => createExecutor({ replyEveryMs: -1 })).to.throw(ConfigError);
  });
});

describe("inference executor: pool size", function () {
  it('shares the cores out for "auto": half of them as workers (two on two cores), the rest as intra-op threads', function () {
    expect(autoInference({ workers: "auto", intraOpThreads: "auto" }, 2)).to.deep.equal({
      workers: 2,
      intraOpThreads: 1,
    });
    expect(autoInference({ workers: "auto", intraOpThreads: "auto" }, 4)).to.deep.equal({
      workers: 2,
      intraOpThreads: 2,
    });
    expect(autoInference({ workers: "auto", intraOpThreads: "auto" }, 16)).to.deep.equal({
      workers: 8,
      intraOpThreads: 2,
    });
    expect(autoInference({ workers: "auto", intraOpThreads: "auto" }, 1)).to.deep.equal({
      workers: 1,
      intraOpThreads: 1,
    });
    expect(autoInference({ workers: 3, intraOpThreads: "auto" }, 16)).to.deep.equal({ workers: 3, intraOpThreads: 5 });
    expect(autoInference({ workers: 4 }, 16)).to.deep.equal({ workers: 4, intraOpThreads: undefined });
  });
});
