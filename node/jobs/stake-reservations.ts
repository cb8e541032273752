/**
 * The collateral this runner's jobs and court duties took on that a read of its free stake may not
 * show yet. The chain locks a job's collateral only when its commit or result is mined (a juror's
 * when its jury commit is, a checker's bond when its challenge is); until then a burst of jobs
 * decided at once would each see the same free stake, and every commit or result past what it
 * covers would revert on the chain (chaos --burst: hundreds of reverted commits).
 * Each holder reserves its collateral when it takes the work and holds it until the chain shows
 * the lock (a free-stake read made after the lock was mined) or the work ends. The job processor
 * and the court share one (runner.ts): each counts the other's reservations.
 */
export class StakeReservations {
  readonly #held = new Map<string, { collateral: bigint; lockedAt: number | null }>();

  /**
   * `key` (a job's id; see {@link courtStakeKey} for duties) takes on `collateral`, or holds it
   * again: work taken up again before its lock (after a restart, or a reorg that dropped its mined
   * commit or result) is not in the chain's free stake either. A holder keeps its first amount.
   */
  reserve(key: string, collateral: bigint): void {
    const held = this.#held.get(key);
    if (!held) this.#held.set(key, { collateral, lockedAt: null });
    else held.lockedAt = null;
  }

  /** `key`'s collateral was locked on the chain (its transaction mined) at `at` (ms). */
  locked(key: string, at: number): void {
    const held = this.#held.get(key);
    if (held && held.lockedAt === null) held.lockedAt = at;
  }

  /** `key` no longer holds collateral of its own (it ended). */
  release(key: string): void {
    this.#held.delete(key);
  }

  /**
   * What a free-stake read made at `readAt` (ms) does not show: the reservations other than
   * `except`'s whose lock was not mined before it. Those it does show are dropped.
   */
  pending(readAt: number, except: string): bigint {
    let sum = 0n;
    for (const [key, held] of this.#held) {
      if (held.lockedAt !== null && held.lockedAt < readAt) this.#held.delete(key);
      else if (key !== except) sum += held.collateral;
    }
    return sum;
  }
}

/** A court duty's key among the reservations (a job's own is its id). */
export function courtStakeKey(jobId: bigint): string {
  return `court:${jobId}`;
}
