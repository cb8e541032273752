/**
 * The flush policy that every batch of the runner's transactions shares (k = 1 results, claims,
 * commits and reveals): a queue of items sent as one transaction by size, weight and a deadline
 * in blocks. What a batch carries and how its receipt reads is the caller's (`send`).
 */

interface Pending<T, O> {
  item: T;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/**
 * The flush policy, for any kind of item: by size, and by a deadline in blocks (see
 * DeliveryBatcherOptions.maxWaitBlocks in delivery-batcher.ts). `send` sends one transaction for `items` and resolves
 * with what it did for each.
 */
export function createBatchQueue<T, O>(o: {
  maxBatch: number;
  maxWaitBlocks: number;
  send: (items: T[]) => Promise<(item: T) => O>;
  /** What an item weighs against `maxWeight` per transaction: calldata bytes, or gas headroom. */
  weight?: (item: T) => number;
  maxWeight?: number;
  /** The wall clock (ms); tests pass their own. */
  now?: () => number;
}) {
  const queue: Pending<T, O>[] = [];
  const weightOf = o.weight ?? (() => 0);
  const maxWeight = o.maxWeight ?? Number.POSITIVE_INFINITY;
  /** The queued items' weight. */
  let queuedWeight = 0;
  /** The chain head when the oldest queued item came (-1: unknown yet). */
  let firstAtHead = -1;
  let head = -1;
  /** Transactions sent and not yet mined (or failed): items coming meanwhile wait for them (maxWaitBlocks 0). */
  let inFlight = 0;
  let scheduled = false;
  const now = o.now ?? Date.now;
  /** When this runner saw the head move (ms), and the blocks' interval as it sees them (null: unknown yet). */
  let headSeenAt = -1;
  let interval: number | null = null;
  /** When the oldest queued item came (ms). */
  let firstAt = -1;
  let cutoffTimer: ReturnType<typeof setTimeout> | null = null;
  /** Set once cancelled: every item, queued or to come, is rejected with it. */
  let cancelled: Error | null = null;
  /** Waiting for the transactions in flight to settle (stop). */
  const drainWaiters: (() => void)[] = [];

  function send(items: Pending<T, O>[]): void {
    inFlight++;
    const settled = () => {
      inFlight--;
      if (inFlight === 0) drainWaiters.splice(0).forEach((resolve) => resolve());
      // Items that came while this one was in flight go together, now.
      if (due()) schedule();
    };
    o.send(items.map((p) => p.item)).then(
      (outcome) => {
        for (const p of items) p.resolve(outcome(p.item));
        settled();
      },
      (error: unknown) => {
        for (const p of items) p.reject(error);
        settled();
      },
    );
  }

  /** The next transaction's items: at most maxBatch, and at most maxWeight (one at least). */
  function take(): Pending<T, O>[] {
    let n = 0;
    let total = 0;
    while (n < queue.length && n < o.maxBatch) {
      const w = weightOf(queue[n]!.item);
      if (n > 0 && total + w > maxWeight) break;
      total += w;
      n++;
    }
    queuedWeight -= total;
    return queue.splice(0, n);
  }

  function full(): boolean {
    return queue.length >= o.maxBatch || queuedWeight >= maxWeight;
  }

  function sendFull(): void {
    while (queue.length > 0 && full()) send(take());
  }

  function flushNow(): void {
    scheduled = false;
    while (queue.length > 0) send(take());
    queuedWeight = 0;
    firstAtHead = -1;
    firstAt = -1;
  }

  /**
   * maxWaitBlocks 0, a transaction in flight: half a block after the head came, items that came
   * before then go, so they make the next block. Waiting for the one in flight to be mined put them
   * a block later (the fleet burst's k = 1 latency, issue 14). Items that come later wait as before:
   * they would hardly make the next block, and each transaction costs its intrinsic gas.
   */
  function cutoff(): number | null {
    return interval === null || headSeenAt < 0 ? null : headSeenAt + interval / 2;
  }

  function armCutoff(): void {
    const at = cutoff();
    if (cutoffTimer !== null || cancelled || queue.length === 0 || o.maxWaitBlocks !== 0) return;
    if (at === null || firstAt < 0 || firstAt >= at) return;
    cutoffTimer = setTimeout(
      () => {
        cutoffTimer = null;
        // A head that came meanwhile moved the cutoff: wait for the new one.
        if (due()) flushNow();
        else armCutoff();
      },
      Math.max(0, at - now()),
    );
    cutoffTimer.unref?.();
  }

  /** Flushes on the next turn of the event loop: items that come in the same turn ride together. */
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (due()) flushNow();
    });
  }

  function due(): boolean {
    if (queue.length === 0 || cancelled) return false;
    if (full()) return true;
    // A block came since the first item was queued: it waited long enough, whatever is in flight.
    const waited = firstAtHead >= 0 && head - firstAtHead >= Math.max(1, o.maxWaitBlocks);
    if (o.maxWaitBlocks === 0) {
      const at = cutoff();
      return inFlight === 0 || waited || (at !== null && firstAt < at && now() >= at);
    }
    // Head unknown: nothing measures the wait, so do not hold the item.
    return firstAtHead < 0 || waited;
  }

  return {
    add(item: T): Promise<O> {
      if (cancelled) return Promise.reject(cancelled);
      return new Promise<O>((resolve, reject) => {
        if (queue.length === 0) {
          firstAtHead = head;
          firstAt = now();
        }
        queue.push({ item, resolve, reject });
        queuedWeight += weightOf(item);
        if (full()) {
          // Full: send the full batches now, keep the rest waiting.
          sendFull();
          firstAtHead = queue.length > 0 ? head : -1;
          firstAt = queue.length > 0 ? now() : -1;
        }
        if (due()) schedule();
        else armCutoff();
      });
    },
    onBlock(n: number): void {
      if (n <= head) return;
      const seen = now();
      // The interval between blocks as this runner sees them; a jump of several (a backfill, a
      // stall) says little about it.
      if (head >= 0 && headSeenAt >= 0 && n - head <= 3) {
        const dt = (seen - headSeenAt) / (n - head);
        interval = interval === null ? dt : 0.8 * interval + 0.2 * dt;
      }
      head = n;
      headSeenAt = seen;
      if (queue.length > 0 && firstAtHead < 0) firstAtHead = n;
      if (due()) schedule();
      else armCutoff();
    },
    queued: () => queue.length,
    /** Rejects the queued items, and every later one, with `error`; sends nothing more. */
    cancel(error: Error): void {
      cancelled ??= error;
      if (cutoffTimer !== null) clearTimeout(cutoffTimer);
      cutoffTimer = null;
      for (const p of queue.splice(0)) p.reject(cancelled);
      queuedWeight = 0;
      firstAtHead = -1;
      firstAt = -1;
    },
    /** Resolves once no transaction of this queue is in flight. */
    drained: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => drainWaiters.push(resolve))),
  };
}
