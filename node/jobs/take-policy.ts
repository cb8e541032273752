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
  if (ctx.now >= lastActionOf(job)) return "deadline passed";
  return null;
}

/** Chain time of a job's last action of a provider: its deadline (k = 1) or commit deadline (k > 1). */
export function lastActionOf(job: Job): number {
  return job.redundancy > 1 ? job.commitDeadline : job.deadline;
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

/** What orders a job waiting for free stake among the others waiting (see {@link stakeOrder}). */
export interface StakeClaim {
  jobId: bigint;
  redundancy: number;
  /** This provider's rank is past the job's first k: it steps in for an assignee (see turnOf). */
  stepIn: boolean;
  /** Seats of the job other providers hold, by the SeatCommitted events taken in (k > 1). */
  seatsTaken: number;
  /** Chain time of the job's last action: its deadline (k = 1) or commit deadline (k > 1). */
  lastAction: number;
}

/**
 * The order in which jobs waiting for free stake get it, negative when `a` goes first. Stake is a
 * provider's capacity; in a burst every provider of a fleet runs short of it at once. Served in
 * the order each happened to be looked at again, the providers of a k > 1 job took seats in
 * different jobs, and many jobs ended with fewer seats than their quorum: refunded, with the
 * seats' collateral locked until the commit deadline for nothing (chaos seed 23, burst: 72 jobs
 * with 1 seat of 2). This order is one every provider computes alike from the chain's events:
 * the jobs it is assigned before those it would step in to (a step-in in a burst mostly races an
 * assignee that is only slow), then k = 1 jobs (their client waits for the result; their
 * collateral turns over in a challenge window), then the k > 1 jobs with the most seats taken
 * (one more seat reaches their quorum or starts their reveal, which frees every seat's collateral
 * sooner), then the earliest last action, then the oldest job.
 */
export function stakeOrder(a: StakeClaim, b: StakeClaim): number {
  if (a.stepIn !== b.stepIn) return Number(a.stepIn) - Number(b.stepIn);
  const k1 = Number(b.redundancy === 1) - Number(a.redundancy === 1);
  if (k1 !== 0) return k1;
  if (a.seatsTaken !== b.seatsTaken) return b.seatsTaken - a.seatsTaken;
  if (a.lastAction !== b.lastAction) return a.lastAction - b.lastAction;
  return a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0;
}
