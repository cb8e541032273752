import { Worker } from "node:worker_threads";
import { keccak256, type Hex } from "viem";

/**
 * Bytes hashed on the calling thread below this size: handing them to the worker (a copy, two
 * messages) costs more than hashing them (viem's keccak256 is JavaScript: about 0.1 ms a KiB).
 */
export const MIN_OFF_THREAD_BYTES = 1024;

interface Pending {
  bytes: Uint8Array;
  resolve: (hash: Hex) => void;
}

/**
 * keccak256 on a worker thread (issue 14): a job's inline input and its result-hash preimage are
 * a few KiB each, a millisecond or more of JavaScript hashing per job on the event loop in a
 * burst. The worker is started on first use and holds the process open only while a hash is
 * pending. The answer is the same as keccak256's; if the worker fails, what it had pending, and
 * everything after, is hashed on the calling thread instead.
 */
export class KeccakThread {
  private worker: Worker | null = null;
  private failed = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  hash(bytes: Uint8Array): Promise<Hex> {
    if (bytes.byteLength < MIN_OFF_THREAD_BYTES || this.failed) return Promise.resolve(keccak256(bytes));
    const worker = this.ensure();
    const id = ++this.nextId;
    return new Promise<Hex>((resolve) => {
      this.pending.set(id, { bytes, resolve });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, bytes });
    });
  }

  /** Starts the worker now (it takes a moment), so that the first hash does not wait for it. */
  warm(): void {
    if (!this.failed) this.ensure();
  }

  /** Stops the worker (hashes pending then are made on the calling thread). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.failed = true;
    this.drainInline();
    if (worker) await worker.terminate();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./keccak-worker.ts", import.meta.url));
    worker.unref();
    worker.on("message", (m: { id: number; hash: Hex }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      p.resolve(m.hash);
    });
    const lost = () => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.failed = true;
      this.drainInline();
    };
    worker.on("error", lost);
    worker.on("exit", lost);
    this.worker = worker;
    return worker;
  }

  private drainInline(): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.resolve(keccak256(p.bytes));
    }
  }
}

/** The process's hashing thread. */
export const keccakThread = new KeccakThread();
