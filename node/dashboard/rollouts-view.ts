import type { Address, Hex } from "viem";
import { countersOf, planOf, rolloutRules, verdictText } from "../rollouts/rules.ts";
import type { IndexedLog } from "./indexer.ts";
import type { RolloutView } from "./snapshot-types.ts";

/**
 * Every rollout, newest first: RolloutStarted opens one (counters from zero, as the contract resets
 * them), RolloutJobCounted of its candidate sets its counters, RolloutPromoted / RolloutAborted end
 * it. The verdict is computed from the plan and counters at `now` (the head block's time), as
 * ModelRegistry.rolloutVerdict computes it.
 */
export function foldRollouts(logs: readonly IndexedLog[], names: ReadonlyMap<Hex, string>, now: number): RolloutView[] {
  const all: Omit<RolloutView, "rules">[] = [];
  const latest = new Map<Hex, Omit<RolloutView, "rules">>();
  for (const l of logs) {
    const a = l.args;
    const modelId = a.modelId as Hex | undefined;
    if (modelId === undefined) continue;
    if (l.eventName === "RolloutStarted") {
      const r = {
        modelId,
        model: names.get(modelId) ?? modelId,
        candidate: Number(a.candidate),
        champion: Number(a.champion),
        plan: planOf(a.plan as Parameters<typeof planOf>[0]),
        status: "Running" as const,
        startedAt: l.timestamp,
        endedAt: null,
        endedBy: null,
        reason: null,
        counters: { settled: 0, disputed: 0, failed: 0 },
      };
      all.push(r);
      latest.set(modelId, r);
      continue;
    }
    const r = latest.get(modelId);
    if (!r) continue;
    if (l.eventName === "RolloutJobCounted") {
      if (Number(a.version) === r.candidate) r.counters = countersOf(a.counters as Parameters<typeof countersOf>[0]);
    } else if (l.eventName === "RolloutPromoted" || l.eventName === "RolloutAborted") {
      if (r.status !== "Running") continue;
      r.status = l.eventName === "RolloutPromoted" ? "Promoted" : "Aborted";
      r.endedAt = l.timestamp;
      r.endedBy = (a.by as Address | undefined) ?? null;
      r.reason = l.eventName === "RolloutAborted" ? ((a.reason as string | undefined) ?? null) : null;
    }
  }
  return all
    .map((r) => {
      const rules = rolloutRules(r.status, r.plan, r.startedAt, r.counters, now);
      return {
        ...r,
        rules: {
          ...rules,
          text: r.status === "Running" ? verdictText(r.plan, r.counters, rules, now) : r.status.toLowerCase(),
        },
      };
    })
    .reverse();
}
