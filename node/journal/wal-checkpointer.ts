/**
 * Checkpoints the journal's WAL on a thread of its own, so that checkpoints leave the event loop
 * (issue 14: lag in bursts).
 *
 * SQLite checkpoints a WAL from the connection whose commit takes it past `wal_autocheckpoint`
 * pages (1,000 by default), inside that commit: it copies the WAL back into the database file and
 * fsyncs both, 10–100 ms on a busy virtualised disk, on the runner's event loop, once every few
 * hundred job writes of a burst. This worker thread, with its own connection to the same file,
 * runs `PRAGMA wal_checkpoint(PASSIVE)` every `intervalMs` (and when nudged): a passive
 * checkpoint never blocks the writer, and the writer restarts the WAL from its start at its next
 * commit once a checkpoint has copied all of it. A writer that never pauses can outrun it, so the
 * journal keeps a raised `wal_autocheckpoint` as the bound (see Journal): by then the thread has
 * copied nearly everything and that inline checkpoint is short.
 *
 * Durability is unchanged: SQLite syncs the WAL before a checkpoint copies it and the database
 * file before it marks the frames copied, whichever connection runs it, so a WAL is only reused
 * after its content is on disk (see Journal.sync).
 *
 * The thread's loop is synchronous (it sleeps in `Atomics.wait`), so stopping is synchronous too:
 * {@link WalCheckpointer.stop} raises a flag and waits until the worker closed its connection,
 * before the journal closes its own (the last connection to close removes the WAL).
 */
import { Worker } from "node:worker_threads";

/** Flags shared with the worker: [stop requested, worker's connection closed, wake-ups asked]. */
const STOP = 0;
const CLOSED = 1;
const WAKE = 2;

// CommonJS, evaluated in the worker: no module resolution, no TypeScript loader needed there.
const WORKER_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
// The journal uses node:sqlite's settled core; its one ExperimentalWarning is not the operator's.
const emit = process.emitWarning.bind(process);
process.emitWarning = (w, ...rest) =>
  /^SQLite is an experimental feature/.test(typeof w === "string" ? w : w.message) ? undefined : emit(w, ...rest);
const flags = new Int32Array(workerData.flags);
let db;
try {
  const { DatabaseSync } = require("node:sqlite");
  db = new DatabaseSync(workerData.file);
  db.exec("PRAGMA synchronous = NORMAL");
  const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  let reported = -1;
  let lastWake = 0;
  while (Atomics.load(flags, ${STOP}) === 0) {
    const r = checkpoint.get();
    // Reported when it copied something new (an idle WAL gives the same figures every time).
    if (r.checkpointed !== reported) {
      reported = r.checkpointed;
      if (r.checkpointed > 0) parentPort.postMessage({ kind: "checkpointed", frames: r.checkpointed, log: r.log });
    }
    const wake = Atomics.load(flags, ${WAKE});
    if (wake === lastWake) Atomics.wait(flags, ${WAKE}, wake, workerData.intervalMs);
    lastWake = Atomics.load(flags, ${WAKE});
  }
} catch (error) {
  parentPort.postMessage({ kind: "failed", message: error instanceof Error ? error.message : String(error) });
} finally {
  try { db?.close(); } catch {}
  Atomics.store(flags, ${CLOSED}, 1);
  Atomics.notify(flags, ${CLOSED});
}
`;

/** What the checkpointer reports to the journal. */
export type CheckpointerEvent =
  /** `frames` of the WAL's `log` frames are now in the database file. */
  { kind: "checkpointed"; frames: number; log: number } | { kind: "failed"; message: string };

export interface WalCheckpointer {
  /** Asks for a checkpoint now instead of at the end of the interval. */
  nudge(): void;
  /** Stops the thread and closes its connection; returns once it is closed (or after `timeoutMs`). */
  stop(timeoutMs?: number): void;
  /** Whether the thread still runs its loop (false once it stopped or failed). */
  readonly running: boolean;
}

/**
 * Starts checkpointing `file`'s WAL every `intervalMs` on a worker thread. `onEvent` hears each
 * checkpoint that copied frames and a failure (after which the thread has ended: the caller
 * should let its own connection checkpoint again).
 */
export function startWalCheckpointer(
  file: string,
  intervalMs: number,
  onEvent: (event: CheckpointerEvent) => void = () => {},
): WalCheckpointer {
  if (!(intervalMs > 0)) throw new RangeError(`a checkpoint interval must be positive, got ${intervalMs}`);
  const shared = new SharedArrayBuffer(12);
  const flags = new Int32Array(shared);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, intervalMs, flags: shared } });
  let running = true;
  let exited = false;
  worker.on("message", (m: CheckpointerEvent) => {
    if (m.kind === "failed") running = false;
    onEvent(m);
  });
  worker.on("error", (error: Error) => {
    running = false;
    onEvent({ kind: "failed", message: error.message });
  });
  worker.on("exit", () => {
    running = false;
    exited = true;
  });
  // A journal left open (tests, a crash path) must not keep the process alive.
  worker.unref();
  return {
    get running() {
      return running && Atomics.load(flags, CLOSED) === 0;
    },
    nudge() {
      Atomics.add(flags, WAKE, 1);
      Atomics.notify(flags, WAKE);
    },
    stop(timeoutMs = 10_000) {
      Atomics.store(flags, STOP, 1);
      this.nudge();
      // Waits for the worker's connection to close: at most one checkpoint in progress.
      if (!exited) Atomics.wait(flags, CLOSED, 0, timeoutMs);
      running = false;
      void worker.terminate();
    },
  };
}
