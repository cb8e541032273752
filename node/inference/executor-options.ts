import { availableParallelism } from "node:os";
import type { TensorMap } from "../tensors/dtypes.ts";
import type { ServiceDeps } from "../service.ts";
import type { ModelSchema } from "./schema.ts";

/** The executor's options, its interface and what its calls return (executor.ts builds it). */

export type ExecutorLog = (event: string, fields: object) => void;

/**
 * `signal` (the runner's shutdown): once it fires the executor closes, cancelling queued and
 * running runs, and `close()` is its stop (waits for the workers to exit).
 */
export interface ExecutorOptions extends ServiceDeps {
  /** Worker processes, each holding its own sessions (default 1); "auto": see {@link autoInference}. */
  workers?: number | "auto";
  log?: ExecutorLog;
  /**
   * onnxruntime intra-op threads per session; by default onnxruntime uses every core, which
   * oversubscribes with several workers. "auto": the cores shared out over the workers.
   */
  intraOpThreads?: number | "auto";
  /**
   * Let onnxruntime's intra-op threads busy-wait between ops (onnxruntime's own default). Off by
   * default: the spinning takes the cores the runner's event loop and the other workers need, and
   * halved the executor's throughput on a small model on 2 cores.
   */
  spinning?: boolean;
  /** Messages (single runs or batches) handed to each worker ahead of their turn, so IPC overlaps compute (default 2; 1 = one round trip at a time). */
  pipelineDepth?: number;
  /** Most runs that share one message when they queue up (default 16; 1 = a message per run). */
  maxBatch?: number;
  /** How often a worker answers the finished runs of a batch it is still working through, in ms (default 1). */
  replyEveryMs?: number;
  /** Honour `RunOptions.debug` (tests only). */
  testHooks?: boolean;
  /**
   * The environment of the worker processes, given whole (default: `workerEnv(process.env)`).
   * Workers run third-party native code on untrusted inputs: they get no secrets.
   */
  env?: NodeJS.ProcessEnv;
  /**
   * The workers' temporary folder (their TMPDIR; default: the runner's). onnxruntime's telemetry
   * writes files there at each worker's start (`mat-debug-<pid>.log`, `.ses`).
   */
  tempDir?: string;
  /** Called each time a worker is replaced: after it crashed or exited, or was killed for overrunning a run's timeout. */
  onWorkerRestart?: (reason: WorkerRestartReason) => void;
}

export type WorkerRestartReason = "crash" | "timeout";

/**
 * What "auto" means for `workers` and `intraOpThreads` on a machine with `cores` cores: half the
 * cores as workers, but two where there are two cores (one on one), and each worker's session the
 * cores shared out over the workers, so workers × threads ≈ cores. Two workers on two cores: while
 * one waits for its message to cross the process boundary the other runs, which a second
 * intra-op thread cannot do. Measured on 2 cores (`npm run bench -- --executor-only`, 4 runs in
 * flight, after the frame transport): 2 × 1 did Silero VAD at 0.89 × a plain loop and a 4 ms MLP at
 * 1.61 ×; 1 × 2 did 0.62 × and 1.34 ×. Each worker holds its own copy of a model's session: a
 * provider whose models do not fit in memory twice sets `workers: 1`.
 */
export function autoInference(
  opts: { workers?: number | "auto"; intraOpThreads?: number | "auto" },
  cores = availableParallelism(),
): { workers: number | undefined; intraOpThreads: number | undefined } {
  const workers = opts.workers === "auto" ? Math.min(cores, Math.max(2, Math.floor(cores / 2))) : opts.workers;
  const intraOpThreads =
    opts.intraOpThreads === "auto" ? Math.max(1, Math.floor(cores / (workers ?? 1))) : opts.intraOpThreads;
  return { workers, intraOpThreads };
}

export interface RunOptions {
  /**
   * Wall-clock limit from the moment the worker can start the run: when it is handed to an idle
   * worker, or when the run ahead of it on its worker answered (queueing and session loading excluded).
   */
  timeoutMs?: number;
  /** Test hooks, ignored unless the executor was created with `testHooks: true`. */
  debug?: {
    /** Block the worker this long before `session.run`, as a slow model would. */
    delayMs?: number;
    /** Make the worker process exit abruptly, without replying, instead of running. */
    crash?: boolean;
    /** Make the worker write a frame that does not parse instead of running (and stay alive). */
    badFrame?: boolean;
  };
}

export interface RunResult {
  outputs: TensorMap;
  /** Duration of `session.run` inside the worker. */
  inferenceMs: number;
}

export interface ExecutorStats {
  /** Runs that returned outputs. */
  runs: number;
  /** Runs that were dispatched and failed (timeouts included); invalid inputs are not counted. */
  failures: number;
  timeouts: number;
  /** Workers replaced after a crash or a timeout. */
  workerRestarts: number;
  /** Messages of runs sent to workers: runs that queued up share one (runs / batches = the mean batch size). */
  batches: number;
}

export interface Executor {
  load(key: string, modelPath: string, schema: ModelSchema): Promise<void>;
  /**
   * The input bytes are read when the run is handed to a worker, not when `run` is called: the
   * caller must not change them until the promise settles. They are never detached or changed,
   * so a run that fails as retryable can be submitted again with the same tensors.
   */
  run(key: string, inputs: TensorMap, opts?: RunOptions): Promise<RunResult>;
  unload(key: string): Promise<void>;
  close(): Promise<void>;
  stats(): ExecutorStats;
}
