/** Which lane a key waits in: urgent before normal before background (see WorkQueue). */
export type Lane = "urgent" | "normal" | "background";
const LANES: readonly Lane[] = ["urgent", "normal", "background"];

/** A background key's longest wait behind normal keys when its pusher gives none. */
const DEFAULT_MAX_WAIT_MS = 10_000;

/**
 * A keyed work queue with bounded concurrency: each key runs at most once at a time; a key pushed
 * while it runs runs once more after; a key pushed while queued is not queued twice (it moves to a
 * more urgent lane if asked). It bounds how many jobs touch the RPC at once in a burst.
 *
 * Lanes: urgent keys (reveals, which have a short window) go first; normal keys (k = 1 jobs, whose
 * latency is the product) go before background keys (k > 1 jobs before their commit, which have a
 * commit window of minutes). A background key waits behind normal keys for at most the `maxWaitMs`
 * it was pushed with; then it goes before them. So a flood of normal keys never starves it past
 * that, and a burst of k = 1 jobs is served before the k = 3 jobs that came with it: taking every
 * fourth key from the background instead made the fleet burst's k = 1 latency p99 14–17 blocks
 * against 6–8 (issue 14).
 *
 * A running key that only waits on something outside (a transaction's receipt: a block or more)
 * gives its slot up meanwhile ({@link outside}) and takes one again, before any queued key, when
 * the wait ends. Otherwise, in a burst, commits and reveals waiting for their receipts held every
 * slot and the k = 1 jobs behind them waited seconds for one (fleet burst, issue 14).
 */
export class WorkQueue {
  private readonly lanes = new Map<Lane, string[]>(LANES.map((l) => [l, []]));
  private readonly queued = new Map<string, Lane>();
  private readonly active = new Map<string, Promise<void>>();
  private readonly again = new Map<string, { lane: Lane; maxWaitMs: number }>();
  /** Running keys waiting outside without a slot. */
  private readonly parked = new Set<string>();
  /** Parked keys whose wait ended, waiting for a slot again (served before queued keys). */
  private readonly resuming: (() => void)[] = [];
  /** Slots in use: running keys less parked ones. */
  private busy = 0;
  private readonly concurrency: number;
  private readonly run: (key: string, lane: Lane) => Promise<void>;
  private readonly onError: (key: string, error: unknown) => void;
  private readonly now: () => number;
  /** When each queued background key goes before normal keys (ms, on `now`). */
  private readonly promoteAt = new Map<string, number>();

  constructor(
    concurrency: number,
    run: (key: string, lane: Lane) => Promise<void>,
    onError: (key: string, error: unknown) => void,
    now: () => number = Date.now,
  ) {
    this.concurrency = concurrency;
    this.run = run;
    this.onError = onError;
    this.now = now;
  }

  /**
   * Queues `key` (see the lanes above). `maxWaitMs` bounds a background key's wait behind normal
   * keys, counted from when it was first queued (a push of a queued key keeps that).
   */
  push(key: string, lane: Lane = "normal", maxWaitMs = DEFAULT_MAX_WAIT_MS): void {
    if (this.active.has(key)) {
      const asked = this.again.get(key);
      if (asked === undefined || LANES.indexOf(lane) < LANES.indexOf(asked.lane))
        this.again.set(key, { lane, maxWaitMs });
      return;
    }
    const current = this.queued.get(key);
    if (current !== undefined) {
      if (LANES.indexOf(lane) < LANES.indexOf(current)) {
        const from = this.lanes.get(current)!;
        from.splice(from.indexOf(key), 1);
        this.promoteAt.delete(key);
        this.lanes.get(lane)!.push(key);
        this.queued.set(key, lane);
      }
      return;
    }
    this.queued.set(key, lane);
    this.lanes.get(lane)!.push(key);
    if (lane === "background") this.promoteAt.set(key, this.now() + maxWaitMs);
    this.pump();
  }

  /**
   * Awaits `work` for the running `key` without holding its slot, then waits for a slot again.
   * Called outside a run of `key` (or inside one already parked), it just awaits `work`.
   */
  async outside<T>(key: string, work: Promise<T>): Promise<T> {
    if (!this.active.has(key) || this.parked.has(key)) return work;
    this.parked.add(key);
    this.busy--;
    this.pump();
    try {
      return await work;
    } finally {
      this.parked.delete(key);
      if (this.busy < this.concurrency && this.resuming.length === 0) this.busy++;
      else await new Promise<void>((resolve) => this.resuming.push(resolve));
    }
  }

  /** Keys waiting and running. */
  size(): number {
    return this.queued.size + this.active.size;
  }

  /** Resolves once nothing is queued or running (for tests and orderly waits). */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()]);
  }

  /** Resolves when nothing runs; keys still queued stay queued (the caller stopped pushing). */
  async drain(): Promise<void> {
    for (const keys of this.lanes.values()) keys.length = 0;
    this.queued.clear();
    this.again.clear();
    this.promoteAt.clear();
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()]);
  }

  private next(): string | undefined {
    const urgent = this.lanes.get("urgent")!;
    if (urgent.length > 0) return urgent.shift();
    const normal = this.lanes.get("normal")!;
    const background = this.lanes.get("background")!;
    if (background.length > 0) {
      // The first background key whose wait is over (each has its own), else the oldest when no
      // normal key waits.
      const now = this.now();
      const i = normal.length === 0 ? 0 : background.findIndex((key) => this.promoteAt.get(key)! <= now);
      if (i >= 0) {
        const [key] = background.splice(i, 1);
        this.promoteAt.delete(key!);
        return key;
      }
    }
    return normal.shift();
  }

  private pump(): void {
    while (this.busy < this.concurrency && this.resuming.length > 0) {
      this.busy++;
      this.resuming.shift()!();
    }
    while (this.busy < this.concurrency) {
      const key = this.next();
      if (key === undefined) return;
      const lane = this.queued.get(key)!;
      this.queued.delete(key);
      this.busy++;
      // Running from here: a run that calls outside() before its first await is one.
      this.active.set(key, Promise.resolve());
      const done = this.run(key, lane)
        .catch((error: unknown) => this.onError(key, error))
        .finally(() => {
          this.active.delete(key);
          this.busy--;
          const again = this.again.get(key);
          if (again !== undefined) {
            this.again.delete(key);
            this.push(key, again.lane, again.maxWaitMs);
          }
          this.pump();
        });
      this.active.set(key, done);
    }
  }
}

/**
 * A counting semaphore: `acquire` resolves to the release function once a slot is free. Waiters
 * that ask for priority are let in before the others, each group in the order it came.
 */
export class Gate {
  private used = 0;
  private readonly first: (() => void)[] = [];
  private readonly waiters: (() => void)[] = [];
  private readonly slots: number;

  constructor(slots: number) {
    this.slots = slots;
  }

  acquire(priority = false): Promise<() => void> {
    const release = () => {
      this.used--;
      const next = this.first.shift() ?? this.waiters.shift();
      if (next) {
        this.used++;
        next();
      }
    };
    if (this.used < this.slots) {
      this.used++;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve) => (priority ? this.first : this.waiters).push(() => resolve(once(release))));
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}

/** Exponential backoff with jitter: base × 2^(attempt − 1), capped, times 0.75–1.25. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(30, attempt - 1)));
  return Math.round(raw * (0.75 + Math.random() * 0.5));
}
