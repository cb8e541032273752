/** Event pieces let go in a row, at most, while other pieces wait. */
const FIRST_RUN = 16;
/** How long an "other" piece waits behind prompt pieces, at most (ms). */
const OTHER_MAX_WAIT_MS = 1_000;

/**
 * Which pieces go first: the chain's events (every job starts there), then prompt pieces (steps
 * a client waits for within blocks: a k = 1 job on its way to its result, a reveal), then the
 * others (k > 1 work before its commit, which has minutes; following a result to its payment).
 */
export type TurnRank = "event" | "prompt" | "other";

/**
 * Shares the event loop among the CPU-heavy pieces of job steps in a burst (issue 14).
 *
 * A burst puts many job steps in flight at once, each with a few milliseconds of work on this
 * thread between its awaits (journal writes, hashing, signing, encoding). Yielding with
 * `setImmediate` alone does not bound the loop's stretch: Node runs every immediate queued by the
 * time the check phase starts in one go, so 64 steps that each yield there still hold timers,
 * sockets and the metrics endpoint for 64 × their work. {@link LoopBudget.turn} instead lets a
 * piece run at once while the current stretch of the loop has used less than `budgetMs`, and
 * otherwise waits for the next timers phase (a 0 ms timer: everything due then, I/O included,
 * runs first), so a stretch lasts about the budget plus one piece, whatever the burst's size.
 *
 * A stretch starts when a piece finds no tick pending (the loop reached its timers since the last
 * one): then it runs at once and arms the tick that ends the stretch.
 *
 * Pieces are let go by rank ({@link TurnRank}), each rank in order. In a burst, dozens of job
 * steps wait for the loop at any moment; a block's events queued behind them were taken in at one
 * every few tens of milliseconds, so the runner saw a job seconds after it was mined (fleet burst,
 * issue 14). Taking events in costs little per event, and the budget still bounds the stretch.
 * Likewise a k = 1 job takes about ten turns from its event to its result: each waited behind
 * every k = 3 commit and payment in flight, and its result came seconds late. One piece of a
 * lower rank goes after every {@link FIRST_RUN} events, so a backfill of thousands of events holds
 * no job step until it ends. An "other" piece goes before prompt pieces once it waited
 * {@link OTHER_MAX_WAIT_MS}: a flood of k = 1 jobs delays commits and payments by that at most.
 * (Letting one through after every 4 prompt pieces instead cost the fleet burst's k = 1 latency
 * p99 2 blocks.)
 */
export class LoopBudget {
  private readonly budgetMs: number;
  private stretchStart = 0;
  /** Resolves at the next timers phase after the current stretch started. */
  private tick: Promise<void> | null = null;
  /** Pieces waiting to be let go, by rank, each in order. */
  private readonly queues: Record<TurnRank, (() => void)[]> = { event: [], prompt: [], other: [] };
  /** When each waiting "other" piece asked (see OTHER_MAX_WAIT_MS), in the order of the queue. */
  private readonly otherAskedAt: number[] = [];
  /** Event pieces let go since the last piece of a lower rank (see FIRST_RUN). */
  private eventRun = 0;
  private readonly now: () => number;
  private dispatching = false;
  /** Times the pieces waited for a turn of the loop (for tests and metrics). */
  waits = 0;

  constructor(budgetMs: number, now: () => number = () => performance.now()) {
    if (!(budgetMs > 0)) throw new RangeError(`a loop budget must be positive, got ${budgetMs}`);
    this.budgetMs = budgetMs;
    this.now = now;
  }

  /**
   * Resolves once this piece of work may run: at once within the budget, else at the next turn
   * of the loop. Pieces are let go one at a time, each after the one before ran up to its next
   * await, so the budget counts the time they actually take (a check made when `turn` is called
   * would let every piece of a burst through before any of them ran). Pieces of a higher rank go
   * before waiting pieces of a lower one (with the runs above).
   */
  turn(rank: TurnRank = "other"): Promise<void> {
    return new Promise<void>((resolve) => {
      this.queues[rank].push(resolve);
      if (rank === "other") this.otherAskedAt.push(this.now());
      if (!this.dispatching) void this.dispatch();
    });
  }

  /** The next piece to let go (see the runs in the class's notes). */
  private next(): () => void {
    const { event, prompt, other } = this.queues;
    const lower = prompt.length > 0 || other.length > 0;
    if (event.length > 0 && (!lower || this.eventRun < FIRST_RUN)) {
      this.eventRun++;
      return event.shift()!;
    }
    this.eventRun = 0;
    if (prompt.length > 0 && (other.length === 0 || this.now() - this.otherAskedAt[0]! < OTHER_MAX_WAIT_MS))
      return prompt.shift()!;
    this.otherAskedAt.shift();
    return other.shift()!;
  }

  private pending(): boolean {
    return this.queues.event.length > 0 || this.queues.prompt.length > 0 || this.queues.other.length > 0;
  }

  private async dispatch(): Promise<void> {
    this.dispatching = true;
    try {
      while (this.pending()) {
        if (this.tick === null) {
          // The loop got through its timers since the last stretch: a new one starts here.
          this.stretchStart = this.now();
          this.tick = new Promise<void>((resolve) =>
            setTimeout(() => {
              this.tick = null;
              resolve();
            }, 0),
          );
        } else if (this.now() - this.stretchStart >= this.budgetMs) {
          this.waits++;
          await this.tick;
          continue;
        }
        this.next()();
        // The piece just let go runs (its continuation was queued first) before this goes on.
        await null;
      }
    } finally {
      this.dispatching = false;
    }
  }
}

/**
 * The process's budget: job steps, batch outcomes and event handling share it. A stretch is the
 * budget plus one piece of a step (1–3 ms) plus whatever arrived outside the budget in the same
 * turn. 2 ms measured better than 4 (`npm run bench`, burst of 1,000 jobs, event-loop lag p99:
 * 17–23 ms against 22–35 ms over four and eight runs); 1 ms no better, and fewer jobs settled.
 */
export const loopBudget = new LoopBudget(2);

/**
 * `target` with each of its methods' results handed back through the loop budget: what runs
 * after an awaited read (journal writes, hashing) waits its share of the loop instead of running
 * with every other answer that arrived in the same turn (a burst's reads all answer at once).
 * Calls go to `target` as it is at call time (its methods may be replaced, as tests do).
 */
export function throughLoopBudget<T extends object>(
  target: T,
  budget: LoopBudget = loopBudget,
  rank: TurnRank = "other",
): T {
  return new Proxy(target, {
    get(t, key, receiver) {
      const value = Reflect.get(t, key, receiver) as unknown;
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        const out = await (value as (...a: unknown[]) => unknown).apply(t, args);
        await budget.turn(rank);
        return out;
      };
    },
  });
}
