/**
 * The collateral this runner's jobs took on (decide) that a read of its free stake may not show
 * yet. The chain locks a job's collateral only when its commit or result is mined; until then a
 * burst of jobs decided at once would each see the same free stake, and every commit or result
 * past what it covers would revert on the chain (chaos --burst: hundreds of reverted commits).
 * A job reserves its collateral when it is taken and holds it until the chain shows the lock (a
 * free-stake read made after the lock was mined) or the job ends.
 */
export class StakeReservations {
  readonly #held = new Map<string, { collateral: bigint; lockedAt: number | null }>();

  /**
   * Job `jobId` takes on `collateral`, or holds it again: a job taken up again before its lock
   * (after a restart, or a reorg that dropped its mined commit or result) is not in the chain's
   * free stake either. A job already holding a reservation keeps it.
   */
  reserve(jobId: bigint, collateral: bigint): void {
    const key = jobId.toString();
    const held = this.#held.get(key);
    if (!held) this.#held.set(key, { collateral, lockedAt: null });
    else held.lockedAt = null;
  }

  /** The job's collateral was locked on the chain (its commit or result mined) at `at` (ms). */
  locked(jobId: bigint, at: number): void {
    const held = this.#held.get(jobId.toString());
    if (held && held.lockedAt === null) held.lockedAt = at;
  }

  /** The job no longer holds collateral of its own (it ended). */
  release(jobId: bigint): void {
    this.#held.delete(jobId.toString());
  }

  /**
   * What a free-stake read made at `readAt` (ms) does not show: the reservations of the jobs other
   * than `except` whose lock was not mined before it. Those it does show are dropped.
   */
  pending(readAt: number, except: bigint): bigint {
    const skip = except.toString();
    let sum = 0n;
    for (const [key, held] of this.#held) {
      if (held.lockedAt !== null && held.lockedAt < readAt) this.#held.delete(key);
      else if (key !== skip) sum += held.collateral;
    }
    return sum;
  }
}
