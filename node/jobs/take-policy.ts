/**
 * The runner's take policy: whether it takes a job ({@link declineReason}) and from when
 * ({@link turnOf}, {@link stepInAt}: its turn in the market's assignment order). Pure functions of
 * what is passed in, so they are tested without a chain.
 */
import type { Address, Hex } from "viem";
import type { Job } from "../attest/attestation.ts";

/** What the runner knows about itself and its limits when it decides to take a job. */
export interface TakeContext {
  /** rosterIndex is meaningful only below rosterSize (the registry's roster of active providers). */
  provider: {
    active: boolean;
    tags: bigint;
    memoryMB: number;
    freeStake: bigint;
    rosterIndex: bigint;
    rosterSize: bigint;
  };
  /** Model ids this runner serves; null serves every model. */
  allowedModels: ReadonlySet<Hex> | null;
  /** Fee floor per token (address(0) = ETH); undefined means the token is not accepted. */
  minFee: (token: Address) => bigint | undefined;
  /** Chain time (seconds) of the latest block. */
  now: number;
}

/**
 * Whether to take a job, and why not. Pure policy: everything it needs is passed in, so it is
 * tested without a chain. Capacity is not a reason to decline: such jobs wait for a free slot, or
 * for free stake to cover their collateral (see {@link stakeShort}).
 */
export function declineReason(job: Job, ctx: TakeContext): string | null {
  if (!ctx.provider.active)
    return "this provider is not approved, is exiting, is frozen by the guardian, or is below the minimum stake";
  if (ctx.allowedModels && !ctx.allowedModels.has(job.modelId)) return "model not served by this runner";
  const floor = ctx.minFee(job.token);
  if (floor === undefined) return `payment token ${job.token} not accepted by this runner`;
  if (job.feePerProvider < floor) return `fee ${job.feePerProvider} below this runner's price ${floor}`;
  if ((job.requiredTags & ~ctx.provider.tags) !== 0n) return "missing required capability tags";
  if (ctx.provider.memoryMB < job.minMemoryMB)
    return `needs ${job.minMemoryMB} MB, this provider declares ${ctx.provider.memoryMB} MB`;
  const lastAction = job.redundancy > 1 ? job.commitDeadline : job.deadline;
  if (ctx.now >= lastAction) return "deadline passed";
  return null;
}

/**
 * Whether the provider's free stake cannot cover the job's collateral yet. Stake is capacity, like
 * the compute slots: collateral locked in its other jobs comes free as they are claimed or settle,
 * so such a job waits (until its last action) instead of being given up. Declining it in a burst
 * left jobs that the provider could serve a few blocks later to expire unserved. `reserved`: the
 * collateral of its other jobs that the free stake read does not show yet (stake-reservations.ts).
 */
export function stakeShort(job: Job, provider: Pick<TakeContext["provider"], "freeStake">, reserved = 0n): boolean {
  return provider.freeStake - reserved < job.collateral;
}

/**
 * When this provider may first deliver (k = 1) or commit (k > 1) to a job, as the market's
 * `assignment` computes it: the job's seed draws a permutation of the registry's roster
 * ({@link rankOf}); the first k ranks are open at request, one more each `priorityWindow` seconds. Null when the provider is not on
 * the roster. A window of 0 opens every rank at request.
 */
export function turnOf(
  job: Job,
  provider: Pick<TakeContext["provider"], "rosterIndex" | "rosterSize">,
): { rank: number; opensAt: number } | null {
  const n = provider.rosterSize;
  if (provider.rosterIndex >= n) return null;
  const rank = rankOf(job.seed, provider.rosterIndex, n);
  if (job.priorityWindow === 0 || rank < job.redundancy) return { rank, opensAt: job.requestedAt };
  return { rank, opensAt: job.requestedAt + (rank - job.redundancy + 1) * job.priorityWindow };
}

/**
 * Roster index `i`'s rank among `n` for a job's seed, as InferenceMarketBase._rank computes it:
 * `(a × i + seed mod n) mod n`, with the multiplier `a` drawn from bits 64 and up of the seed in
 * [1, n − 1] and stepped up (wrapping to 1) to the first value coprime with n. `i < n` is the
 * caller's to ensure.
 */
export function rankOf(seed: bigint, i: bigint, n: bigint): number {
  return Number((rankMultiplier(seed, n) * i + (seed % n)) % n);
}

function rankMultiplier(seed: bigint, n: bigint): bigint {
  if (n <= 2n) return 1n;
  let a = 1n + ((seed >> 64n) % (n - 1n));
  while (gcd(a, n) !== 1n) a = a + 1n === n ? 1n : a + 1n;
  return a;
}

function gcd(x: bigint, y: bigint): bigint {
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/**
 * When a provider whose first look at the job was at `firstLookAt` (chain seconds) may act on its
 * turn. A rank past the first k whose turn had already opened when it first looked (this runner was
 * behind: a slow RPC, a restart, a loaded host) cannot tell whether the earlier ranks are gone or
 * just as late as itself. If every late rank sent at once they would all land in one block and all
 * but one revert, so the earlier ranks get the schedule again, counted from that first look. A
 * runner that keeps up (its first look before its turn) acts at its turn.
 */
export function stepInAt(job: Job, turn: { rank: number; opensAt: number }, firstLookAt: number): number {
  if (job.priorityWindow === 0 || turn.rank < job.redundancy || firstLookAt <= turn.opensAt) return turn.opensAt;
  return firstLookAt + (turn.rank - job.redundancy + 1) * job.priorityWindow;
}
