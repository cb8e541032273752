/**
 * A keyed work queue with bounded concurrency: each key runs at most once at a time; a key pushed
 * while it runs runs once more after; a key pushed while queued is not queued twice. Urgent keys
 * (reveals) go ahead of the rest. It bounds how many jobs touch the RPC at once in a burst.
 */
export class WorkQueue {
  private readonly urgent: string[] = [];
  private readonly normal: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly concurrency: number;
  private readonly run: (key: string) => Promise<void>;
  private readonly onError: (key: string, error: unknown) => void;

  constructor(
    concurrency: number,
    run: (key: string) => Promise<void>,
    onError: (key: string, error: unknown) => void,
  ) {
    this.concurrency = concurrency;
    this.run = run;
    this.onError = onError;
  }

  push(key: string, urgent = false): void {
    if (this.active.has(key)) {
      this.again.add(key);
      return;
    }
    if (this.queued.has(key)) {
      if (urgent && !this.urgent.includes(key)) {
        this.normal.splice(this.normal.indexOf(key), 1);
        this.urgent.push(key);
      }
      return;
    }
    this.queued.add(key);
    (urgent ? this.urgent : this.normal).push(key);
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
    this.urgent.length = 0;
    this.normal.length = 0;
    this.queued.clear();
    this.again.clear();
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()]);
  }

  private pump(): void {
    while (this.active.size < this.concurrency) {
      const key = this.urgent.shift() ?? this.normal.shift();
      if (key === undefined) return;
      this.queued.delete(key);
      const done = this.run(key)
        .catch((error: unknown) => this.onError(key, error))
        .finally(() => {
          this.active.delete(key);
          if (this.again.delete(key)) this.push(key);
          this.pump();
        });
      this.active.set(key, done);
    }
  }
}

/** A counting semaphore: `acquire` resolves to the release function once a slot is free. */
export class Gate {
  private used = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly slots: number;

  constructor(slots: number) {
    this.slots = slots;
  }

  acquire(): Promise<() => void> {
    const release = () => {
      this.used--;
      const next = this.waiters.shift();
      if (next) {
        this.used++;
        next();
      }
    };
    if (this.used < this.slots) {
      this.used++;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve) => this.waiters.push(() => resolve(once(release))));
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
