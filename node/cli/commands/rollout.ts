import { parseEventLogs, type Hex } from "viem";
import { chainNow } from "../../chain/clock.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import { decodeRevert } from "../../chain/revert.ts";
import { TxWouldRevertError } from "../../chain/tx-sender.ts";
import {
  abortUnmetText,
  bpsText,
  countersOf,
  planOf,
  rolloutRules,
  unmetText,
  verdictText,
  type PromotionUnmet,
  type RolloutCounters,
  type RolloutPlan,
  type RolloutRules,
} from "../../rollouts/rules.ts";
import { FatalError } from "../../errors.ts";
import { resolveModelName, type Command } from "../command.ts";
import type { Session } from "../session.ts";
import { sendTx } from "../tx.ts";
import { ROLLOUT_STATUS, VERSION_STATUS } from "../../chain/statuses.ts";

/** promoteRollout or abortRollout by anyone reverted because the rule does not hold (yet). */
class RolloutRuleNotMetError extends FatalError {
  readonly code = "ROLLOUT_RULE_NOT_MET";
  readonly rule: string;
  constructor(message: string, rule: string, options?: { cause?: unknown }) {
    super(message, options);
    this.rule = rule;
  }
}

/** The model has no running rollout to promote or abort. */
class NoRunningRolloutError extends FatalError {
  readonly code = "NO_RUNNING_ROLLOUT";
}

const iso = (t: number) => new Date(t * 1000).toISOString();

interface RolloutReport {
  model: string;
  modelId: Hex;
  status: (typeof ROLLOUT_STATUS)[number];
  activeVersion: number;
  plan: (RolloutPlan & { candidateStatus: string }) | null;
  startedAt: string | null;
  counters: RolloutCounters;
  rules: (RolloutRules & { text: string }) | null;
  /** What the contract's rolloutVerdict says at the latest block. */
  chainVerdict: { promotable: boolean; abortable: boolean };
  now: string;
}

/** A model's rollout as the registry holds it, with what its rules say at the chain's time now. */
async function rolloutReport(s: Session, nameOrId: string): Promise<RolloutReport> {
  const m = await resolveModelName(s, nameOrId);
  const { models } = conclaveContracts(s.record, s.publicClient);
  const [[rollout, rawCounters], [promotable, abortable], now] = await Promise.all([
    models.read.rolloutOf([m.modelId]),
    models.read.rolloutVerdict([m.modelId]),
    chainNow(s.publicClient).then(Number),
  ]);
  const status = ROLLOUT_STATUS[rollout.status] ?? "None";
  const counters = countersOf(rawCounters);
  const base = {
    model: m.name,
    modelId: m.modelId,
    status,
    activeVersion: m.activeVersion,
    counters,
    chainVerdict: { promotable, abortable },
    now: iso(now),
  };
  if (status === "None") return { ...base, plan: null, startedAt: null, rules: null };
  const plan = planOf(rollout.plan);
  const candidate = await models.read.getVersion([m.modelId, plan.candidate]);
  const rules = rolloutRules(status, plan, rollout.startedAt, counters, now);
  return {
    ...base,
    plan: { ...plan, candidateStatus: VERSION_STATUS[candidate.status] ?? "Unknown" },
    startedAt: iso(rollout.startedAt),
    rules: { ...rules, text: verdictText(plan, counters, rules, now) },
  };
}

function reportText(r: RolloutReport): string {
  if (!r.plan || !r.rules) return `${r.model}: no rollout (active version v${r.activeVersion || "-"})`;
  const p = r.plan;
  const c = r.counters;
  return [
    `${r.model}: rollout of v${p.candidate} (${p.candidateStatus}) ${r.status}; active version v${r.activeVersion || "-"}`,
    `  plan: canary ${bpsText(p.canaryBps)} of active-version requests, minimum duration ${p.minDuration} s, promote after ${p.promoteAfterJobs} ended jobs, abort rule from ${p.abortAfterJobs}, max disputed ${bpsText(p.maxDisputedBps)}, max failed ${bpsText(p.maxFailedBps)}`,
    `  started ${r.startedAt}; promotable from ${iso(r.rules.promotableFrom)} at the earliest`,
    `  candidate jobs ended: ${r.rules.ended} (settled ${c.settled}, disputed ${c.disputed}, failed ${c.failed})`,
    `  rules now (${r.now}): ${r.status === "Running" ? r.rules.text : `none apply: the rollout is ${r.status}`}`,
  ].join("\n");
}

/** Sends promoteRollout or abortRollout; a rule that does not hold is one line naming it. */
async function act(s: Session, nameOrId: string, action: "promote" | "abort") {
  const report = await rolloutReport(s, nameOrId);
  const { plan, rules, counters } = report;
  if (report.status !== "Running" || !plan || !rules)
    throw new NoRunningRolloutError(
      `${report.model} has no running rollout (${report.status === "None" ? "none was ever started" : `the last one was ${report.status}`})`,
    );
  const { models } = conclaveContracts(s.record, s.publicClient);
  const fn = action === "promote" ? "promoteRollout" : "abortRollout";
  let receipt;
  try {
    receipt = await sendTx(
      s,
      `${action === "promote" ? "promoting" : "aborting"} the rollout of ${report.model} v${plan.candidate}`,
      { address: models.address, abi: models.abi, functionName: fn, args: [report.modelId] },
    );
  } catch (error) {
    const revert = error instanceof TxWouldRevertError ? decodeRevert(error.cause) : undefined;
    if (revert?.name === "ModelRegistryRolloutRuleNotMet") {
      // The rule named by the contract's error; the numbers from the counters read just before.
      const rule = String(revert.args[1]);
      const now = Math.floor(Date.parse(report.now) / 1000);
      const detail =
        action === "abort"
          ? abortUnmetText(plan, counters, rules)
          : ["minimum duration", "jobs ended", "disputed share", "failed share"].includes(rule)
            ? unmetText(rule as PromotionUnmet, plan, counters, rules, now)
            : rule;
      throw new RolloutRuleNotMetError(
        `cannot ${action} the rollout of ${report.model} v${plan.candidate}: the ${action === "promote" ? "promotion" : "abort"} rule does not hold: ${detail}${action === "abort" ? " (the guardian or the DAO may abort at any time)" : ""}`,
        rule,
        { cause: error },
      );
    }
    if (revert?.name === "ModelRegistryNoRunningRollout")
      throw new NoRunningRolloutError(`${report.model} has no running rollout (it ended just now)`, { cause: error });
    throw error;
  }
  const [promoted] = parseEventLogs({ abi: models.abi, logs: receipt.logs, eventName: "RolloutPromoted" });
  const [aborted] = parseEventLogs({ abi: models.abi, logs: receipt.logs, eventName: "RolloutAborted" });
  const after = await rolloutReport(s, report.modelId);
  const reason = aborted ? aborted.args.reason : null;
  return { ...after, tx: receipt.transactionHash, promoted: promoted !== undefined, reason };
}

export const rolloutCommands: Record<string, Command> = {
  "rollout status": {
    summary: "a model's staged rollout: plan, status, candidate counters and what the rules say now",
    usage: `<model> [--json]

Shows the model's latest rollout plan (approved by the DAO: conclave dao propose start-rollout),
its status (Running, Promoted, Aborted), when it started, how the candidate's jobs ended (settled,
disputed, failed) and, while it runs, whether anyone may promote or abort it now; when neither,
the first unmet part of the promotion rule: minimum duration, jobs ended, disputed share or failed
share (the names the contract's revert carries).`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const r = await rolloutReport(s, ctx.positionals[0]!);
      ctx.out.result(r, () => reportText(r));
    },
  },
  "rollout promote": {
    summary: "promote a rollout's candidate to the active version once the promotion rule holds (anyone)",
    usage: `<model>

Anyone may promote once the plan's promotion rule holds: the minimum duration passed, enough
candidate jobs ended, and the disputed and failed shares are within the plan's maxima. Runners do
it as a service (rollouts.autoAct). Otherwise one line names the unmet part of the rule.`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const r = await act(s, ctx.positionals[0]!, "promote");
      ctx.out.result(
        r,
        () => `${r.model}: v${r.plan!.candidate} promoted; active version v${r.activeVersion} (tx ${r.tx})`,
      );
    },
  },
  "rollout abort": {
    summary: "abort a rollout once its abort rule holds (anyone), or at any time as the guardian",
    usage: `<model>

Anyone may abort once the plan's abort rule holds: at least abort-after candidate jobs ended and
the disputed or failed share is above the plan's maximum. The guardian (and the DAO) may abort at
any time. Later active-version requests all go to the active version; candidate jobs already
requested are still served and paid. Otherwise one line says that the abort rule does not hold.`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const r = await act(s, ctx.positionals[0]!, "abort");
      ctx.out.result(
        r,
        () =>
          `${r.model}: rollout of v${r.plan!.candidate} aborted (${r.reason ?? "no reason"}); active version v${r.activeVersion} (tx ${r.tx})`,
      );
    },
  },
};
