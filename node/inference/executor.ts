/**
 * Runs ONNX models in worker processes. onnxruntime-node's `session.run` (and session creation) is
 * a synchronous native call that blocks its thread for the whole inference, so the runner's event
 * loop (chain watching, HTTP) only validates and dispatches; workers do the blocking work.
 *
 * Workers are child processes, not worker threads: a blocking native run cannot be interrupted,
 * only killed with its process, and `Worker.terminate()` during a run waits for the run and then
 * aborts the whole runner (the binding throws a C++ exception into a terminated environment). A
 * process also contains native crashes. A run that overstays its timeout costs its worker: the
 * process is killed and a fresh one, reloading the same sessions, takes its place.
 *
 * Each worker is kept `pipelineDepth` messages ahead: the next runs are already on the worker's
 * socket when the current ones finish, so the round trip overlaps compute instead of idling the
 * worker. Runs that queued up while the worker was busy travel together in one message (a batch,
 * up to `maxBatch` runs) and their results come back together, so the per-message cost (a
 * socket write, a wake-up and an event-loop turn on each side) is paid once per batch, not per
 * run. Messages are frames of a JSON header and raw tensor bytes (worker-frames.ts), not Node's
 * IPC channel, whose V8 serialization and per-message reads cost as much as a small model's run.
 * The worker still runs them one at a time, in order, and a run's timeout starts only when
 * the run ahead of it has answered: the worker answers whatever it finished at least every
 * `replyEveryMs`, and a batch's timer is the sum of its unanswered runs' timeouts, restarted on
 * each answer. A failed run fails only itself. When a worker is lost (crash, or a batch overran
 * its timer) under a batch, which run did it is unknown: the batch's unanswered runs go back to
 * the front of the queue, each to run alone, so only a run that breaks a worker on its own fails.
 * The runs queued behind on that worker (never started) go back to the queue too, in order.
 *
 * Beside it: executor-options.ts (options, the Executor interface), errors.ts (typed errors),
 * model-check.ts (a schema against a loaded session), worker-process.ts (starting a worker),
 * worker.ts, worker-protocol.ts and worker-frames.ts (the worker's side and the messages). This
 * file is the pool, over 400 lines because it is one state machine: queues, in-flight messages,
 * timers and worker replacement share their bookkeeping, and each step keeps the others' invariants.
 */
import { endianness } from "node:os";
import { ConfigError } from "../errors.ts";
import {
  ExecutorClosedError,
  FAILURES,
  InferenceFailedError,
  InferenceTimeoutError,
  ModelLoadError,
  ModelMismatchError,
  ModelNotLoadedError,
  WorkerCrashedError,
} from "./errors.ts";
import {
  autoInference,
  type Executor,
  type ExecutorLog,
  type ExecutorOptions,
  type ExecutorStats,
  type RunOptions,
  type RunResult,
  type WorkerRestartReason,
} from "./executor-options.ts";
import { InvalidInputError, validateTensors, type ModelSchema, type TensorSpec } from "./schema.ts";
import { setRef, startWorker, workerEnv, type WorkerProcess } from "./worker-process.ts";
import { createFrameReader, encodeFrame, FrameError } from "./worker-frames.ts";
import { checkMatch, checkSupported } from "./model-check.ts";
import {
  fromWire,
  toWire,
  type Reply,
  type Request,
  type RunOutcome,
  type WireRun,
  type WireTensor,
  type WorkerConfig,
} from "./worker-protocol.ts";

type Ok<Op extends Request["op"]> = Extract<Reply, { ok: true; op: Op }>;
type LoadInfo = Ok<"load">;
type RunReply = Ok<"run">;

interface Pending {
  resolve: (reply: Reply & { ok: true }) => void;
  reject: (error: Error) => void;
  /** A batch's answer for some of its runs, with more to come. */
  partial?: (reply: RunReply) => void;
}

/** A message of runs handed to a worker and not yet fully answered. */
interface InFlight {
  id: number;
  jobs: QueuedRun[];
  /** Index of the first run not answered yet; the worker is running it (or will next). */
  next: number;
  timer?: NodeJS.Timeout;
}

/** One live worker process; replaced as a whole when the process is lost. */
interface Handle {
  worker: WorkerProcess;
  exited: Promise<void>;
  pending: Map<number, Pending>;
  sessions: Map<string, Promise<LoadInfo>>;
  /** Keys whose session load succeeded in this process. */
  loaded: Set<string>;
  /** Session loads sent and not yet answered. */
  loading: number;
  /** Messages of runs sent to this process, in the order it runs them; the first holds the one running. */
  runs: InFlight[];
  /** Whether it ever replied: a worker lost before its first reply is not respawned eagerly, to avoid a crash loop. */
  answered: boolean;
  gone: boolean;
}

/** One `run` call, from the moment it is queued until it settles (its worker's jobs are these, not the runner's). */
interface QueuedRun {
  key: string;
  inputs: WireTensor[];
  /** Bytes of input data, which bound a batch's message. */
  bytes: number;
  /** Sent alone: it was in a batch whose worker was lost, and may be the run that broke it. */
  solo: boolean;
  /** The outputs its model's schema promises (the model may be unloaded before the run answers). */
  outputs: TensorSpec[];
  timeoutMs: number | undefined;
  debug: RunOptions["debug"];
  resolve: (result: RunResult) => void;
  reject: (error: unknown) => void;
}

/** A worker position: jobs queue here and its worker runs them one at a time, so a timeout only ever measures its own run. */
interface Slot {
  index: number;
  handle: Handle | null;
  /** Sessions this position serves; a replacement worker reloads them. */
  keys: Set<string>;
  /** Runs not yet handed to the worker, in order. */
  queue: QueuedRun[];
  /** A session (re)load is awaited before the head of the queue can be sent. */
  preparing: boolean;
}

interface Model {
  path: string;
  schema: ModelSchema;
  ready: Promise<void>;
}

/** A load that fails because its worker was lost is retried this many times on a fresh worker. */
const LOAD_RETRIES = 2;

/** A batch stops growing at this many input bytes: big inputs gain nothing from sharing a message. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export function createExecutor(opts: ExecutorOptions = {}): Executor {
  const threads = autoInference(opts);
  const workerCount = threads.workers ?? 1;
  if (!Number.isSafeInteger(workerCount) || workerCount < 1)
    throw new ConfigError(`workers must be a positive integer or "auto", got ${workerCount}`);
  const intraOpThreads = threads.intraOpThreads;
  if (intraOpThreads !== undefined && (!Number.isSafeInteger(intraOpThreads) || intraOpThreads < 1)) {
    throw new ConfigError(`intraOpThreads must be a positive integer or "auto", got ${intraOpThreads}`);
  }
  const depth = opts.pipelineDepth ?? 2;
  if (!Number.isSafeInteger(depth) || depth < 1)
    throw new ConfigError(`pipelineDepth must be a positive integer, got ${depth}`);
  const maxBatch = opts.maxBatch ?? 16;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1)
    throw new ConfigError(`maxBatch must be a positive integer, got ${maxBatch}`);
  const replyEveryMs = opts.replyEveryMs ?? 1;
  if (!(Number.isFinite(replyEveryMs) && replyEveryMs >= 0))
    throw new ConfigError(`replyEveryMs must be a number >= 0, got ${replyEveryMs}`);
  // Tensor bytes are little-endian and become typed arrays in place, which read host order.
  if (endianness() !== "LE") throw new ConfigError("the inference executor needs a little-endian host");

  const log: ExecutorLog = opts.log ?? (() => {});
  const childEnv = workerEnv(opts.env ?? process.env);
  if (opts.tempDir !== undefined) childEnv.TMPDIR = opts.tempDir;
  const config: WorkerConfig = { testHooks: opts.testHooks === true, replyEveryMs };
  if (intraOpThreads) config.intraOpThreads = intraOpThreads;
  if (opts.spinning) config.spinning = true;
  const models = new Map<string, Model>();
  const slots: Slot[] = Array.from({ length: workerCount }, (_, index) => ({
    index,
    handle: null,
    keys: new Set(),
    queue: [],
    preparing: false,
  }));
  const terminating = new Set<Promise<void>>();
  const counters: ExecutorStats = { runs: 0, failures: 0, timeouts: 0, workerRestarts: 0, batches: 0 };
  const restarted = (reason: WorkerRestartReason) => {
    counters.workerRestarts++;
    try {
      opts.onWorkerRestart?.(reason);
    } catch {
      // A metrics hook must not break the executor's bookkeeping.
    }
  };
  let nextId = 1;
  let closed = false;
  let closing: Promise<void> | undefined;

  function settle(handle: Handle, id: number): Pending | undefined {
    const p = handle.pending.get(id);
    if (!p) return undefined;
    handle.pending.delete(id);
    if (handle.pending.size === 0) setRef(handle.worker, false);
    return p;
  }

  function spawn(slot: Slot): Handle {
    const worker = startWorker(config, childEnv);
    const { child, socket } = worker;
    const pid = child.pid;
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    const handle: Handle = {
      worker,
      exited,
      pending: new Map(),
      sessions: new Map(),
      loaded: new Set(),
      loading: 0,
      runs: [],
      answered: false,
      gone: false,
    };
    const read = createFrameReader((message) => {
      const reply = message as Reply;
      handle.answered = true;
      if (reply.ok && reply.op === "run" && !reply.done) return void handle.pending.get(reply.id)?.partial?.(reply);
      const p = settle(handle, reply.id);
      if (!p) return;
      if (reply.ok) p.resolve(reply);
      else p.reject(new FAILURES[reply.kind](reply.message));
    });
    socket.on("data", (chunk: Buffer) => {
      try {
        read(chunk);
      } catch (error) {
        // A frame that does not parse: the worker broke the protocol, and is replaced.
        lost(slot, handle, error);
      }
    });
    socket.on("error", (error) => lost(slot, handle, error));
    child.on("error", (error) => lost(slot, handle, error));
    child.on("exit", (exitCode, signal) => {
      log("executor.worker_exited", { worker: slot.index, pid, exitCode, signal });
      lost(slot, handle, new Error(`worker exited with ${signal ?? `code ${exitCode}`}`));
    });
    slot.handle = handle;
    log("executor.worker_started", { worker: slot.index, pid });
    for (const key of slot.keys) ensureSession(slot, handle, key).catch(() => {});
    return handle;
  }

  /** Takes a handle out of service and fails whatever it still owed. */
  function retire(slot: Slot, handle: Handle, error: () => Error): void {
    handle.gone = true;
    if (slot.handle === handle) slot.handle = null;
    for (const run of handle.runs) clearTimeout(run.timer);
    handle.runs = [];
    for (const id of [...handle.pending.keys()]) settle(handle, id)?.reject(error());
  }

  /**
   * Takes back the runs a worker that is being lost never answered. Those queued behind the
   * running message were never started: they go back to the front of the slot's queue, in order,
   * for its replacement. The running message's unanswered runs go back too when it is a batch of
   * several (and still pending: not failed already): which of them broke the worker is unknown,
   * so each runs again alone, ahead of the others.
   */
  function requeue(slot: Slot, handle: Handle): void {
    const [head, ...behind] = handle.runs;
    const back: QueuedRun[] = [];
    if (head && head.jobs.length - head.next > 1 && handle.pending.has(head.id)) {
      const left = head.jobs.slice(head.next);
      for (const job of left) job.solo = true;
      back.push(...left);
      clearTimeout(head.timer);
      handle.pending.delete(head.id);
      handle.runs.shift();
      log("executor.batch_split", { worker: slot.index, runs: left.length });
    }
    let requeued = 0;
    for (const run of behind) {
      clearTimeout(run.timer);
      handle.pending.delete(run.id);
      const left = run.jobs.slice(run.next);
      back.push(...left);
      requeued += left.length;
    }
    handle.runs = handle.runs.slice(0, handle.runs[0] === head ? 1 : 0);
    if (handle.pending.size === 0) setRef(handle.worker, false);
    slot.queue.unshift(...back);
    if (requeued) log("executor.runs_requeued", { worker: slot.index, runs: requeued });
  }

  /** SIGKILL, because a process blocked in a native run never gets to handle a gentler signal. */
  function stop(handle: Handle): Promise<void> {
    // Held until the exit arrives: `close()` and the stats must not be outrun by the process exiting first.
    setRef(handle.worker, true);
    handle.worker.child.kill("SIGKILL");
    return handle.exited;
  }

  /** Stops a retired worker and lets `close()` wait for it. */
  function reap(handle: Handle): void {
    const exited = stop(handle);
    terminating.add(exited);
    void exited.then(() => terminating.delete(exited));
  }

  function lost(slot: Slot, handle: Handle, cause: unknown): void {
    if (handle.gone) return;
    if (!closed) requeue(slot, handle);
    retire(slot, handle, () => new WorkerCrashedError(`inference worker ${slot.index} died`, { cause }));
    log("executor.worker_crashed", {
      worker: slot.index,
      error: cause instanceof Error ? cause.message : String(cause),
    });
    // An "error" (say, a broken socket or frame) can come from a process that is still alive.
    const { child } = handle.worker;
    if (child.exitCode === null && child.signalCode === null) reap(handle);
    if (closed) return;
    restarted("crash");
    if (handle.answered) spawn(slot);
    pump(slot);
  }

  function kill(slot: Slot, handle: Handle, reason: WorkerRestartReason): void {
    if (!closed) requeue(slot, handle);
    retire(
      slot,
      handle,
      () => new WorkerCrashedError(`inference worker ${slot.index} was restarted after a ${reason}`),
    );
    reap(handle);
    if (closed) return;
    restarted(reason);
    spawn(slot);
    pump(slot);
  }

  /** Sends a request whose answer settles `pending` (unless the worker is lost first: then the loss does). */
  function post(handle: Handle, req: Request, pending: Pending): void {
    handle.pending.set(req.id, pending);
    if (handle.pending.size === 1) setRef(handle.worker, true);
    const failed = (error: unknown) =>
      settle(handle, req.id)?.reject(
        new WorkerCrashedError("could not send to the inference worker", { cause: error }),
      );
    let frame: Uint8Array;
    try {
      frame = encodeFrame(req);
    } catch (error) {
      // Over the frame limit: the same inputs would fail on any worker, at any try.
      if (error instanceof FrameError)
        return void settle(handle, req.id)?.reject(
          new InferenceFailedError(`cannot send the run to the inference worker: ${error.message}`, { cause: error }),
        );
      return void failed(error);
    }
    handle.worker.socket.write(frame, (error) => {
      // The exit handler fails everything pending when the socket went away with the process.
      if (error && !handle.gone) failed(error);
    });
  }

  function request<Op extends Request["op"]>(handle: Handle, req: Extract<Request, { op: Op }>): Promise<Ok<Op>> {
    if (handle.gone) return Promise.reject(new WorkerCrashedError("inference worker is gone"));
    return new Promise((resolve, reject) =>
      post(handle, req, { resolve: (reply) => resolve(reply as Ok<Op>), reject }),
    );
  }

  function ensureSession(slot: Slot, handle: Handle, key: string): Promise<LoadInfo> {
    const existing = handle.sessions.get(key);
    if (existing) return existing;
    const model = models.get(key);
    if (!model) return Promise.reject(new ModelNotLoadedError(`model ${key} is not loaded`));
    slot.keys.add(key);
    const t0 = performance.now();
    const p = request(handle, { op: "load", id: nextId++, key, path: model.path });
    handle.sessions.set(key, p);
    handle.loading++;
    p.then(
      (info) => {
        handle.loading--;
        if (handle.sessions.get(key) === p) handle.loaded.add(key);
        log("executor.session_loaded", {
          key,
          worker: slot.index,
          loadMs: info.loadMs,
          totalMs: performance.now() - t0,
        });
      },
      (error) => {
        handle.loading--;
        if (handle.sessions.get(key) === p) handle.sessions.delete(key);
        if (error instanceof ModelLoadError) slot.keys.delete(key);
      },
    );
    return p;
  }

  /** Least queued work first; among equals, a worker that already holds the session. */
  function pick(key: string): Slot {
    let best = slots[0]!;
    const load = (s: Slot) => s.queue.length + (s.handle?.runs.reduce((n, r) => n + r.jobs.length - r.next, 0) ?? 0);
    for (const s of slots) {
      const d = load(s) - load(best);
      if (d < 0 || (d === 0 && s.keys.has(key) && !best.keys.has(key))) best = s;
    }
    return best;
  }

  /**
   * Starts the timer of the message now at the head of a worker's line, if it has one and it is
   * not started yet: the sum of its unanswered runs' timeouts (a batch holds runs that all have
   * one, or none that has).
   */
  function armHead(slot: Slot, handle: Handle): void {
    const run = handle.runs[0];
    if (!run || run.timer !== undefined) return;
    const left = run.jobs.slice(run.next);
    if (left.length === 0 || left[0]!.timeoutMs === undefined) return;
    const timeoutMs = left.reduce((sum, job) => sum + job.timeoutMs!, 0);
    run.timer = setTimeout(() => {
      if (!handle.pending.has(run.id)) return;
      log("executor.run_timeout", { key: left[0]!.key, worker: slot.index, timeoutMs, runs: left.length });
      // Killing the process is the only way to stop a native run that is still blocking the worker.
      // A batch's runs go back to the queue, each to run alone under its own timeout (requeue()).
      if (left.length > 1) return kill(slot, handle, "timeout");
      // Settled first, so the worker's replacement does not also fail this run as a crash.
      settle(handle, run.id);
      kill(slot, handle, "timeout");
      leave(slot, handle, run.id);
      finish(left[0]!, { error: new InferenceTimeoutError(`inference of ${left[0]!.key} exceeded ${timeoutMs} ms`) });
      pump(slot);
    }, timeoutMs);
  }

  /** A message left its worker's line (answered or failed): the next one's timer starts now. */
  function leave(slot: Slot, handle: Handle, id: number): void {
    const i = handle.runs.findIndex((r) => r.id === id);
    if (i < 0) return;
    clearTimeout(handle.runs[i]!.timer);
    handle.runs.splice(i, 1);
    if (!handle.gone) armHead(slot, handle);
  }

  /** Settlements not yet made, in order (see deliver()). */
  const deliveries: (() => void)[] = [];
  let delivering = false;

  /**
   * Settles runs one per turn of the event loop, in order. What a caller does with a result
   * (hash it, encode it, sign an attestation) runs in the microtasks right after the settlement:
   * settling a whole batch's runs at once would run all of that back to back and hold the event
   * loop (timers, sockets) for as long. The first settlement of a turn is made at once.
   */
  function deliver(settle: () => void): void {
    if (delivering) return void deliveries.push(settle);
    delivering = true;
    settle();
    setImmediate(function next() {
      const more = deliveries.shift();
      if (!more) return void (delivering = false);
      more();
      setImmediate(next);
    });
  }

  function finish(job: QueuedRun, outcome: { result: RunResult } | { error: unknown }): void {
    if ("result" in outcome) {
      counters.runs++;
      return deliver(() => job.resolve(outcome.result));
    }
    const { error } = outcome;
    if (!closed) {
      counters.failures++;
      if (error instanceof InferenceTimeoutError) counters.timeouts++;
    }
    const reason = closed ? new ExecutorClosedError("executor closed during the run", { cause: error }) : error;
    deliver(() => job.reject(reason));
  }

  /** Settles one run from its worker's outcome. */
  function conclude(job: QueuedRun, outcome: RunOutcome): void {
    if (!outcome.ok) return finish(job, { error: new FAILURES[outcome.kind](outcome.message) });
    const outputs = fromWire(outcome.outputs);
    try {
      validateTensors(job.outputs, outputs, "output");
    } catch (error) {
      const e =
        error instanceof InvalidInputError
          ? new ModelMismatchError(`model ${job.key} broke its schema: ${error.message}`, { cause: error })
          : error;
      return finish(job, { error: e });
    }
    finish(job, { result: { outputs, inferenceMs: outcome.inferenceMs } });
  }

  /** Hands one run, or a batch of runs, to the worker; its answers settle the jobs and let the next runs be sent. */
  function dispatch(slot: Slot, handle: Handle, jobs: QueuedRun[]): void {
    const runs: WireRun[] = jobs.map((job) => {
      const run: WireRun = { key: job.key, inputs: job.inputs };
      if (config.testHooks && job.debug) run.debug = job.debug;
      return run;
    });
    const req: Extract<Request, { op: "run" }> = { op: "run", id: nextId++, runs };
    const run: InFlight = { id: req.id, jobs, next: 0 };
    counters.batches++;
    handle.runs.push(run);
    armHead(slot, handle);
    const take = (reply: RunReply) => {
      for (const outcome of reply.results) {
        const job = run.jobs[run.next];
        if (!job) break;
        run.next++;
        conclude(job, outcome);
      }
    };
    const rest = (error: unknown) => {
      for (const job of run.jobs.slice(run.next)) finish(job, { error });
      run.next = run.jobs.length;
    };
    post(handle, req, {
      partial: (reply) => {
        take(reply);
        // The next run is under way from now: its timer (and its followers') restarts.
        clearTimeout(run.timer);
        run.timer = undefined;
        if (handle.runs[0] === run) armHead(slot, handle);
      },
      resolve: (reply) => {
        leave(slot, handle, run.id);
        take(reply as RunReply);
        // A worker that answered fewer runs than it was sent broke the protocol. (The error is
        // made only then: capturing its stack on every answer cost ~4 us a run.)
        if (run.next < run.jobs.length)
          rest(new InferenceFailedError("the inference worker did not answer every run of a batch"));
        pump(slot);
      },
      reject: (error) => {
        leave(slot, handle, run.id);
        rest(error);
        pump(slot);
      },
    });
  }

  /** Loads the session the head of the queue needs (and waits for any other load on the worker, which would eat into the run's timeout). */
  async function prepare(slot: Slot, handle: Handle, job: QueuedRun): Promise<void> {
    try {
      await ensureSession(slot, handle, job.key);
      await Promise.allSettled(handle.sessions.values());
    } catch (error) {
      const i = slot.queue.indexOf(job);
      if (i < 0) return;
      slot.queue.splice(i, 1);
      finish(job, { error });
    }
  }

  /** Sends queued runs to the slot's worker until it holds `depth` of them. */
  function pump(slot: Slot): void {
    while (!closed && !slot.preparing && slot.queue.length > 0) {
      const job = slot.queue[0]!;
      const model = models.get(job.key);
      if (!model) {
        slot.queue.shift();
        finish(job, { error: new ModelNotLoadedError(`model ${job.key} was unloaded`) });
        continue;
      }
      const handle = slot.handle ?? spawn(slot);
      if (handle.runs.length >= depth) return;
      if (!handle.loaded.has(job.key) || handle.loading > 0) {
        slot.preparing = true;
        void prepare(slot, handle, job).finally(() => {
          slot.preparing = false;
          pump(slot);
        });
        return;
      }
      // Runs that queued up behind this one share its message, as long as the worker holds their
      // sessions and their timeouts can be summed (all set or none).
      const batch = [slot.queue.shift()!];
      let bytes = job.bytes;
      while (!job.solo && batch.length < maxBatch && slot.queue.length > 0) {
        const next = slot.queue[0]!;
        if (
          next.solo ||
          !models.has(next.key) ||
          !handle.loaded.has(next.key) ||
          (next.timeoutMs === undefined) !== (job.timeoutMs === undefined)
        )
          break;
        if (bytes + next.bytes > MAX_BATCH_BYTES) break;
        batch.push(slot.queue.shift()!);
        bytes += next.bytes;
      }
      dispatch(slot, handle, batch);
    }
  }

  async function unloadEverywhere(key: string): Promise<void> {
    await Promise.all(
      slots.map(async (slot) => {
        slot.keys.delete(key);
        const handle = slot.handle;
        if (!handle || !handle.sessions.has(key)) return;
        handle.sessions.delete(key);
        handle.loaded.delete(key);
        // A lost worker took its sessions with it; nothing is left to release.
        await request(handle, { op: "unload", id: nextId++, key }).catch(() => {});
      }),
    );
  }

  function close(): Promise<void> {
    if (closing) return closing;
    closed = true;
    const exits: Promise<unknown>[] = [...terminating];
    for (const slot of slots) {
      for (const job of slot.queue.splice(0))
        job.reject(new ExecutorClosedError("executor closed before the run started"));
      const handle = slot.handle;
      if (handle) {
        retire(slot, handle, () => new ExecutorClosedError("executor closed"));
        exits.push(stop(handle));
      }
    }
    models.clear();
    closing = Promise.allSettled(exits).then(
      // A child's process handle is released in the loop's close phase after its events fire; a
      // timer runs after that phase, so nothing of the executor is left when close() resolves.
      () => new Promise<void>((resolve) => setTimeout(resolve, 0)),
    );
    return closing;
  }

  // The runner's shutdown cancels the runs at once (a native run stops only with its worker): a
  // job step waiting on one ends now, cancelled, and its job resumes from the journal.
  if (opts.signal?.aborted) void close();
  else opts.signal?.addEventListener("abort", () => void close(), { once: true });

  function assertOpen(): void {
    if (closed) throw new ExecutorClosedError("executor is closed");
  }

  return {
    load(key, modelPath, schema) {
      try {
        assertOpen();
        checkSupported(schema);
      } catch (error) {
        return Promise.reject(error);
      }
      const existing = models.get(key);
      if (existing) return existing.ready;
      const model: Model = { path: modelPath, schema, ready: Promise.resolve() };
      models.set(key, model);
      model.ready = (async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            // Every worker loads it now: a run sent to a worker that had not would wait for the
            // session (seconds, for a large model) inside its job's latency.
            const [info] = await Promise.all(slots.map((slot) => ensureSession(slot, slot.handle ?? spawn(slot), key)));
            checkMatch(schema.inputs, info!.inputs, "input");
            checkMatch(schema.outputs, info!.outputs, "output");
            log("executor.model_loaded", { key, path: modelPath });
            return;
          } catch (error) {
            if (!(error instanceof WorkerCrashedError) || attempt >= LOAD_RETRIES || closed) throw error;
          }
        }
      })();
      model.ready.catch(() => {
        if (models.get(key) !== model) return;
        models.delete(key);
        void unloadEverywhere(key);
      });
      return model.ready;
    },

    async run(key, inputs, runOpts = {}) {
      assertOpen();
      const model = models.get(key);
      if (!model) throw new ModelNotLoadedError(`model ${key} is not loaded`);
      await model.ready;
      validateTensors(model.schema.inputs, inputs, "input");
      const { timeoutMs } = runOpts;
      if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
        throw new ConfigError(`timeoutMs must be a positive number, got ${timeoutMs}`);
      }
      assertOpen();
      const wire = toWire(inputs);
      const slot = pick(key);
      return new Promise<RunResult>((resolve, reject) => {
        const bytes = wire.reduce((n, t) => n + t.data.byteLength, 0);
        slot.queue.push({
          key,
          inputs: wire,
          bytes,
          solo: false,
          outputs: model.schema.outputs,
          timeoutMs,
          debug: runOpts.debug,
          resolve,
          reject,
        });
        pump(slot);
      });
    },

    async unload(key) {
      if (!models.delete(key)) return;
      await unloadEverywhere(key);
    },

    close,

    stats() {
      return { ...counters };
    },
  };
}
