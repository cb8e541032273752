import { RequestError } from "./command.ts";
import type { RolloutPlan } from "../rollouts/rules.ts";

/** The contract's bounds (ModelRegistry.MAX_CANARY_BPS, MAX_DEPRECATION_PERIOD). */
const MAX_CANARY_BPS = 5_000;
const MAX_MIN_DURATION = 365 * 86_400;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/** A duration like "90", "90s", "15m", "1h", "1h30m" or "2d", in seconds. */
export function duration(what: string, v: string, max = MAX_MIN_DURATION): number {
  let seconds: number;
  if (/^\d+$/.test(v)) seconds = Number(v);
  else if (/^(\d+[smhd])+$/.test(v))
    seconds = [...v.matchAll(/(\d+)([smhd])/g)].reduce((sum, m) => sum + Number(m[1]) * UNIT_SECONDS[m[2]!]!, 0);
  else throw new RequestError(`${what} must be a duration like 90s, 15m, 1h or 1h30m, got ${JSON.stringify(v)}`);
  if (!Number.isSafeInteger(seconds) || seconds > max)
    throw new RequestError(`${what} must be at most ${max} s, got ${JSON.stringify(v)} (${seconds} s)`);
  return seconds;
}

/** A percentage like "5", "2.5" or "0.01" (a "%" suffix is allowed), in basis points. */
export function percentBps(what: string, v: string, minBps: number, maxBps: number): number {
  const m = /^(\d+)(?:\.(\d{1,2}))?%?$/.exec(v);
  if (!m)
    throw new RequestError(
      `${what} must be a percentage with at most two decimals, like 5 or 2.5, got ${JSON.stringify(v)}`,
    );
  const bps = Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
  if (!Number.isSafeInteger(bps) || bps < minBps || bps > maxBps)
    throw new RequestError(`${what} must be from ${minBps / 100}% to ${maxBps / 100}%, got ${JSON.stringify(v)}`);
  return bps;
}

function jobs(what: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 2 ** 32 - 1)
    throw new RequestError(`${what} must be a whole number of jobs from 1 to ${2 ** 32 - 1}, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** The plan flags of `dao propose start-rollout`, by option name. */
export const PLAN_FLAGS = [
  "canary",
  "min-duration",
  "promote-after",
  "abort-after",
  "max-disputed",
  "max-failed",
] as const;
export type PlanFlags = Partial<Record<(typeof PLAN_FLAGS)[number], string>>;

/** A rollout plan from the command's flags, every field checked against the contract's bounds. */
export function planFromFlags(candidate: number, flags: PlanFlags): RolloutPlan {
  const missing = PLAN_FLAGS.filter((f) => flags[f] === undefined);
  if (missing.length > 0) throw new RequestError(`start-rollout needs ${missing.map((f) => `--${f}`).join(", ")}`);
  return {
    candidate,
    canaryBps: percentBps("--canary", flags.canary!, 1, MAX_CANARY_BPS),
    minDuration: duration("--min-duration", flags["min-duration"]!),
    promoteAfterJobs: jobs("--promote-after", flags["promote-after"]!),
    abortAfterJobs: jobs("--abort-after", flags["abort-after"]!),
    maxDisputedBps: percentBps("--max-disputed", flags["max-disputed"]!, 0, 10_000),
    maxFailedBps: percentBps("--max-failed", flags["max-failed"]!, 0, 10_000),
  };
}
