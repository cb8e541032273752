import { stakeOrder, type StakeClaim } from "./take-policy.ts";

/**
 * The jobs waiting for free stake to cover their collateral, so that stake coming free goes to them
 * in {@link stakeOrder}, the order every provider of a fleet computes alike, rather than to
 * whichever job happens to be looked at next. A job taking stake counts the collateral of the
 * waiters ahead of it as taken ({@link aheadOf}). A waiter that has not looked again for `maxAgeMs`
 * (its step failed and backs off, or it was forgotten without leaving) stops holding others back.
 */
export class StakeWaiters {
  readonly #waiting = new Map<string, { claim: StakeClaim; collateral: bigint; at: number }>();
  readonly #maxAgeMs: number;

  constructor(maxAgeMs: number) {
    this.#maxAgeMs = maxAgeMs;
  }

  /** `key` waits for `collateral` of free stake (again, with its claim as it stands at `now`, ms). */
  wait(key: string, claim: StakeClaim, collateral: bigint, now: number): void {
    this.#waiting.set(key, { claim, collateral, at: now });
  }

  /** `key` took its stake, or no longer needs any. */
  leave(key: string): void {
    this.#waiting.delete(key);
  }

  /**
   * The first waiter that looked again within the max age, `passed` aside (stale ones are dropped).
   * A scan, not a sort: stake comes free at every settlement, for one waiter or two.
   */
  first(now: number, passed: ReadonlySet<string>): StakeWaiter | null {
    let best: StakeWaiter | null = null;
    for (const [key, w] of this.#waiting) {
      if (now - w.at > this.#maxAgeMs) this.#waiting.delete(key);
      else if (!passed.has(key) && (best === null || stakeOrder(w.claim, best.claim) < 0))
        best = { key, claim: w.claim, collateral: w.collateral };
    }
    return best;
  }

  /**
   * The collateral the waiters other than `key` that go before `claim` wait for (every look of a
   * waiting job asks it, and hundreds wait in a burst: a scan).
   */
  aheadOf(key: string, claim: StakeClaim, now: number): bigint {
    let sum = 0n;
    for (const [other, w] of this.#waiting) {
      if (now - w.at > this.#maxAgeMs) this.#waiting.delete(other);
      else if (other !== key && stakeOrder(w.claim, claim) < 0) sum += w.collateral;
    }
    return sum;
  }
}

interface StakeWaiter {
  key: string;
  claim: StakeClaim;
  collateral: bigint;
}
