/** Which lane a key waits in: urgent before normal before background (see WorkQueue). */
export type Lane = "urgent" | "normal" | "background";
const LANES: readonly Lane[] = ["urgent", "normal", "background"];

/**
 * A keyed work queue with bounded concurrency: each key runs at most once at a time; a key pushed
 * while it runs runs once more after; a key pushed while queued is not queued twice (it moves to a
 * more urgent lane if asked). It bounds how many jobs touch the RPC at once in a burst.
 *
 * Lanes: urgent keys (reveals, which have a short window) go first; normal keys (k = 1 jobs, whose
 * latency is the product) go before background keys (k > 1 jobs before their commit, which hold a
 * slot for a block or more while their commit is mined and have a commit window of minutes). So
 * that a steady flow of normal keys cannot starve the background, every `fairness`-th pick takes a
 * background key when one waits.
 */
export class WorkQueue {
  private readonly lanes = new Map<Lane, string[]>(LANES.map((l) => [l, []]));
  private readonly queued = new Map<string, Lane>();
  private readonly active = new Map<string, Promise<void>>();
  private readonly again = new Map<string, Lane>();
  private readonly concurrency: number;
  private readonly run: (key: string) => Promise<void>;
  private readonly onError: (key: string, error: unknown) => void;
  private readonly fairness: number;
  private sinceBackground = 0;

  constructor(
    concurrency: number,
    run: (key: string) => Promise<void>,
    onError: (key: string, error: unknown) => void,
    fairness = 4,
  ) {
    this.concurrency = concurrency;
    this.run = run;
    this.onError = onError;
    this.fairness = fairness;
  }

  push(key: string, lane: Lane = "normal"): void {
    if (this.active.has(key)) {
      const asked = this.again.get(key);
      if (asked === undefined || LANES.indexOf(lane) < LANES.indexOf(asked)) this.again.set(key, lane);
      return;
    }
    const current = this.queued.get(key);
    if (current !== undefined) {
      if (LANES.indexOf(lane) < LANES.indexOf(current)) {
        const from = this.lanes.get(current)!;
        from.splice(from.indexOf(key), 1);
        this.lanes.get(lane)!.push(key);
        this.queued.set(key, lane);
      }
      return;
    }
    this.queued.set(key, lane);
    this.lanes.get(lane)!.push(key);
    this.pump();
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
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()]);
  }

  private next(): string | undefined {
    const urgent = this.lanes.get("urgent")!;
    if (urgent.length > 0) return urgent.shift();
    const normal = this.lanes.get("normal")!;
    const background = this.lanes.get("background")!;
    if (background.length > 0 && (normal.length === 0 || this.sinceBackground >= this.fairness - 1)) {
      this.sinceBackground = 0;
      return background.shift();
    }
    if (normal.length > 0) this.sinceBackground++;
    return normal.shift();
  }

  private pump(): void {
    while (this.active.size < this.concurrency) {
      const key = this.next();
      if (key === undefined) return;
      this.queued.delete(key);
      const done = this.run(key)
        .catch((error: unknown) => this.onError(key, error))
        .finally(() => {
          this.active.delete(key);
          const again = this.again.get(key);
          if (again !== undefined) {
            this.again.delete(key);
            this.push(key, again);
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
