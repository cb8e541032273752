import { existsSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { createExecutor } from "../../node/inference/executor.ts";
import { type WorkerRestartReason } from "../../node/inference/executor-options.ts";
import { workerEnv } from "../../node/inference/worker-process.ts";
import { InferenceTimeoutError, WorkerCrashedError } from "../../node/inference/errors.ts";
import { tensorFrom, type TensorMap } from "../../node/tensors/dtypes.ts";
import { rejection } from "../helpers/errors.ts";
import { SILERO_MODEL, SILERO_SCHEMA } from "../helpers/silero.ts";
import { testDir } from "../helpers/temp-dir.ts";

const MODEL = SILERO_MODEL;
const SCHEMA = SILERO_SCHEMA;
const inputs = (): TensorMap => ({
  input: tensorFrom("F32", [1, 512], new Array(512).fill(0.1)),
  state: tensorFrom("F32", [2, 1, 128], new Array(256).fill(0)),
  sr: tensorFrom("I64", [], [16000]),
});

/** The environment the kernel holds for a process: what the worker, and any native code in it, can read. */
function environOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, "utf8");
  return Object.fromEntries(
    raw
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
}

describe("inference worker environment and restarts", function () {
  it("drops every CONCLAVE_* variable from a worker's environment", function () {
    expect(
      workerEnv({
        CONCLAVE_PROVIDER_KEY: "0x11",
        conclave_keystore_password: "pw",
        CONCLAVE_RPC_URL: "http://k@x",
        PATH: "/bin",
        HOME: "/h",
      }),
    ).to.deep.equal({ PATH: "/bin", HOME: "/h" });
  });

  it("starts workers without the provider key even when the runner's environment has it", async function () {
    if (!existsSync("/proc/self/environ")) this.skip();
    const pids: number[] = [];
    const saved = process.env.CONCLAVE_PROVIDER_KEY;
    process.env.CONCLAVE_PROVIDER_KEY = `0x${"33".repeat(32)}`;
    const executor = createExecutor({
      log: (event, fields) => event === "executor.worker_started" && pids.push((fields as { pid: number }).pid),
    });
    try {
      await executor.load("vad", MODEL, SCHEMA);
      expect(pids).to.have.length(1);
      const env = environOf(pids[0]!);
      expect(Object.keys(env).filter((k) => k.toUpperCase().startsWith("CONCLAVE_"))).to.deep.equal([]);
      expect(env.PATH).to.equal(process.env.PATH);
    } finally {
      if (saved === undefined) delete process.env.CONCLAVE_PROVIDER_KEY;
      else process.env.CONCLAVE_PROVIDER_KEY = saved;
      await executor.close();
    }
  });

  it("gives workers the executor's temporary folder, and they write nothing there: onnxruntime's telemetry is off", async function () {
    if (!existsSync("/proc/self/environ")) this.skip();
    const pids: number[] = [];
    const tempDir = testDir("conclave-worker-tmp-");
    // The worker turns the telemetry off itself (inference/ort.ts), whatever its environment says.
    const env = { ...process.env };
    delete env.ORT_DISABLE_TELEMETRY;
    const executor = createExecutor({
      tempDir,
      env,
      log: (event, fields) => event === "executor.worker_started" && pids.push((fields as { pid: number }).pid),
    });
    try {
      await executor.load("vad", MODEL, SCHEMA);
      await executor.run("vad", inputs());
      expect(environOf(pids[0]!).TMPDIR).to.equal(tempDir);
      expect(environOf(pids[0]!).ORT_DISABLE_TELEMETRY).to.equal(undefined);
      // With the telemetry on, onnxruntime 1.30 writes `.ses` and `mat-debug-<pid>.log` here at
      // the first session's creation.
      expect(readdirSync(tempDir)).to.deep.equal([]);
      expect(existsSync(path.join(os.tmpdir(), `mat-debug-${pids[0]}.log`))).to.equal(false);
    } finally {
      await executor.close();
    }
  });

  it("reports each replaced worker to onWorkerRestart", async function () {
    const reasons: WorkerRestartReason[] = [];
    const executor = createExecutor({ testHooks: true, onWorkerRestart: (r) => reasons.push(r) });
    try {
      await executor.load("vad", MODEL, SCHEMA);
      expect(await rejection(() => executor.run("vad", inputs(), { debug: { crash: true } }))).to.be.instanceOf(
        WorkerCrashedError,
      );
      // The replacement serves the next run.
      await executor.run("vad", inputs());
      expect(reasons).to.deep.equal(["crash"]);
      // A worker blocked past the run's timeout is killed and replaced too.
      expect(
        await rejection(() => executor.run("vad", inputs(), { timeoutMs: 100, debug: { delayMs: 10_000 } })),
      ).to.be.instanceOf(InferenceTimeoutError);
      await executor.run("vad", inputs());
      expect(reasons).to.deep.equal(["crash", "timeout"]);
      expect(executor.stats().workerRestarts).to.equal(2);
    } finally {
      await executor.close();
    }
  });
});
