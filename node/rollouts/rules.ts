/**
 * The staged-rollout rules of ModelRegistry (IModelRollouts), computed off-chain from a plan, its
 * start and the candidate's counters: what `conclave rollout status` and the dashboard show. It
 * mirrors `_promotionUnmet` and `_abortReason` exactly (same order, same integer arithmetic, same
 * rule names), so the text shown is the text a reverted promote or abort carries.
 */

import type { RolloutStatusName } from "../chain/statuses.ts";

/** Basis points in a whole (the contract's BPS). */
const BPS = 10_000;

/** The unmet part of the promotion rule, as ModelRegistryRolloutRuleNotMet names it. */
export type PromotionUnmet = "minimum duration" | "jobs ended" | "disputed share" | "failed share";

export interface RolloutPlan {
  candidate: number;
  canaryBps: number;
  /** Seconds. */
  minDuration: number;
  promoteAfterJobs: number;
  abortAfterJobs: number;
  maxDisputedBps: number;
  maxFailedBps: number;
}

export interface RolloutCounters {
  settled: number;
  disputed: number;
  failed: number;
}

export interface RolloutRules {
  /** Jobs of the candidate that ended (settled, disputed or failed). */
  ended: number;
  /** promoteRollout by anyone would succeed now. */
  promotable: boolean;
  /** abortRollout by anyone would succeed now. */
  abortable: boolean;
  /** The first unmet part of the promotion rule (null when promotable or not running). */
  unmet: PromotionUnmet | null;
  /** Why the abort rule holds (the RolloutAborted reason), or null. */
  abortReason: string | null;
  /** When the minimum duration is over (seconds). */
  promotableFrom: number;
}

/** Plain numbers from the contract's tuple (uint40 and smaller fit in a JS number). */
export function planOf(p: {
  candidate: number | bigint;
  canaryBps: number | bigint;
  minDuration: number | bigint;
  promoteAfterJobs: number | bigint;
  abortAfterJobs: number | bigint;
  maxDisputedBps: number | bigint;
  maxFailedBps: number | bigint;
}): RolloutPlan {
  return {
    candidate: Number(p.candidate),
    canaryBps: Number(p.canaryBps),
    minDuration: Number(p.minDuration),
    promoteAfterJobs: Number(p.promoteAfterJobs),
    abortAfterJobs: Number(p.abortAfterJobs),
    maxDisputedBps: Number(p.maxDisputedBps),
    maxFailedBps: Number(p.maxFailedBps),
  };
}

export function countersOf(c: {
  settled: number | bigint;
  disputed: number | bigint;
  failed: number | bigint;
}): RolloutCounters {
  return { settled: Number(c.settled), disputed: Number(c.disputed), failed: Number(c.failed) };
}

const over = (part: number, ended: number, maxBps: number) => part * BPS > ended * maxBps;

/**
 * What the rules say at chain time `now` (seconds) for a rollout with this status. Only a running
 * rollout can be promoted or aborted; for any other status both are false and nothing is unmet.
 */
export function rolloutRules(
  status: RolloutStatusName,
  plan: RolloutPlan,
  startedAt: number,
  counters: RolloutCounters,
  now: number,
): RolloutRules {
  const ended = counters.settled + counters.disputed + counters.failed;
  const promotableFrom = startedAt + plan.minDuration;
  if (status !== "Running")
    return { ended, promotable: false, abortable: false, unmet: null, abortReason: null, promotableFrom };
  let unmet: PromotionUnmet | null = null;
  if (now < promotableFrom) unmet = "minimum duration";
  else if (ended < plan.promoteAfterJobs) unmet = "jobs ended";
  else if (over(counters.disputed, ended, plan.maxDisputedBps)) unmet = "disputed share";
  else if (over(counters.failed, ended, plan.maxFailedBps)) unmet = "failed share";
  let abortReason: string | null = null;
  if (ended >= plan.abortAfterJobs) {
    if (over(counters.disputed, ended, plan.maxDisputedBps)) abortReason = "disputed share above the plan's maximum";
    else if (over(counters.failed, ended, plan.maxFailedBps)) abortReason = "failed share above the plan's maximum";
  }
  return { ended, promotable: unmet === null, abortable: abortReason !== null, unmet, abortReason, promotableFrom };
}

/** A share in basis points as a percentage ("2.5%"). */
export const bpsText = (bps: number) => `${Number((bps / 100).toFixed(2))}%`;

/** A part of the promotion rule with how far it is from holding, e.g. "jobs ended (2 of 3)". */
export function unmetText(
  rule: PromotionUnmet,
  plan: RolloutPlan,
  counters: RolloutCounters,
  rules: RolloutRules,
  now: number,
): string {
  switch (rule) {
    case "minimum duration":
      return `minimum duration (${Math.max(0, rules.promotableFrom - now)} s left)`;
    case "jobs ended":
      return `jobs ended (${rules.ended} of ${plan.promoteAfterJobs})`;
    case "disputed share":
      return `disputed share (${counters.disputed} of ${rules.ended} above ${bpsText(plan.maxDisputedBps)}; abort rule from ${plan.abortAfterJobs} jobs)`;
    case "failed share":
      return `failed share (${counters.failed} of ${rules.ended} above ${bpsText(plan.maxFailedBps)}; abort rule from ${plan.abortAfterJobs} jobs)`;
  }
}

/** Why the abort rule does not hold, with the counters it reads. */
export function abortUnmetText(plan: RolloutPlan, counters: RolloutCounters, rules: RolloutRules): string {
  const shares = `disputed ${counters.disputed} (max ${bpsText(plan.maxDisputedBps)}), failed ${counters.failed} (max ${bpsText(plan.maxFailedBps)})`;
  if (rules.ended < plan.abortAfterJobs)
    return `${rules.ended} of the ${plan.abortAfterJobs} ended jobs it needs; ${shares}`;
  return `no share above its maximum among ${rules.ended} ended jobs: ${shares}`;
}

/** One line on what the rules say: promotable, abortable, or what is unmet and by how much. */
export function verdictText(plan: RolloutPlan, counters: RolloutCounters, rules: RolloutRules, now: number): string {
  if (rules.abortable) return `abortable: ${rules.abortReason}`;
  if (rules.promotable) return "promotable: every part of the promotion rule holds";
  return rules.unmet ? `not yet: ${unmetText(rules.unmet, plan, counters, rules, now)}` : "not running";
}
