import { duration, esc, short, tagBits, time, units } from "./format.ts";
import type { Snapshot } from "./types.ts";

/** Each section of the page as HTML from a snapshot: plain functions, re-run on every snapshot. */

const amount = (s: Snapshot, token: string, value: string) => {
  const t = s.tokens[token] ?? { symbol: short(token, 8), decimals: 18 };
  return `${units(value, t.decimals)} ${esc(t.symbol)}`;
};
const perToken = (s: Snapshot, m: Record<string, string>) =>
  Object.entries(m)
    .map(([t, v]) => amount(s, t, v))
    .join("<br>") || "0";

export function totals(s: Snapshot): string {
  const t = s.totals;
  const tile = (label: string, value: string, id: string) =>
    `<div class="tile"><div class="value" data-testid="${id}">${value}</div><div class="label">${label}</div></div>`;
  return [
    tile("jobs", String(t.jobs), "total-jobs"),
    tile("jobs / minute", String(t.jobsPerMinute), "jobs-per-minute"),
    tile("open jobs", String(t.open), "open-jobs"),
    tile("escrow held", perToken(s, t.escrowHeld), "escrow"),
    tile("fees earned", perToken(s, t.feesEarned), "fees"),
    tile(
      "disagreement rate",
      t.disagreementRate === null ? "—" : `${(t.disagreementRate * 100).toFixed(1)}%`,
      "disagreement",
    ),
  ].join("");
}

export function jobs(s: Snapshot): string {
  const head = `<tr><th>job</th><th>model</th><th>status</th><th>k</th><th>seats</th><th>fee / provider</th><th>result hash</th><th>latency</th></tr>`;
  const rows = s.jobs.map(
    (j) =>
      `<tr data-job-id="${esc(j.jobId)}" class="stage-${esc(j.stage)}"><td>#${esc(j.jobId)}</td><td>${esc(j.model)} v${j.version}</td><td class="stage">${esc(j.stage)}${j.noQuorum ? " (no quorum)" : ""}${j.disagreed ? " ⚠" : ""}${j.callback ? ` · callback ${esc(j.callback)}` : ""}</td><td>${j.k}</td><td>${j.seated}/${j.revealed}</td><td>${amount(s, j.token, j.fee)}</td><td class="mono" title="${esc(j.resultHash ?? "")}">${esc(short(j.resultHash, 14))}</td><td>${j.latency === null ? "—" : `${j.latency}s`}</td></tr>`,
  );
  return `<thead>${head}</thead><tbody>${rows.join("") || `<tr><td colspan="8">no jobs yet</td></tr>`}</tbody>`;
}

function bar(part: bigint, whole: bigint, cls: string): string {
  const pct = whole === 0n ? 0 : Number((part * 10_000n) / whole) / 100;
  return `<div class="bar ${cls}"><span style="width:${Math.min(100, pct)}%"></span></div>`;
}

export function proposals(s: Snapshot, canVote: boolean): string {
  if (s.proposals.length === 0) return `<p class="note">no proposals yet</p>`;
  return s.proposals
    .map((p) => {
      const f = BigInt(p.votes.for);
      const a = BigInt(p.votes.against);
      const ab = BigInt(p.votes.abstain);
      const total = f + a + ab;
      const quorum = p.quorum === null ? null : BigInt(p.quorum);
      const counted = f + ab;
      const stage =
        p.timeLeft === null
          ? esc(p.state)
          : `${esc(p.state)} · ${p.state === "Pending" ? "voting starts in" : p.state === "Active" ? "voting ends in" : "executable in"} ${duration(p.timeLeft)}`;
      const vote = (support: number, label: string) =>
        `<button data-vote="${support}" data-proposal="${esc(p.proposalId)}" ${canVote && p.state === "Active" ? "" : "disabled"}>${label}</button>`;
      return `<article class="proposal" data-proposal-id="${esc(p.proposalId)}" data-state="${esc(p.state)}">
  <h3>${esc(p.description)}</h3>
  <div class="stage" data-testid="stage">${stage}</div>
  <div class="tally"><span>for <b data-testid="votes-for">${units(p.votes.for, 18)}</b></span> <span>against <b data-testid="votes-against">${units(p.votes.against, 18)}</b></span> <span>abstain <b data-testid="votes-abstain">${units(p.votes.abstain, 18)}</b></span> <span class="note">${p.voters.length} voter(s)</span></div>
  ${bar(f, total, "for")}
  <div class="quorum">quorum: ${quorum === null ? "known once voting starts" : `${units(counted.toString(), 18)} of ${units(quorum.toString(), 18)} (${quorum === 0n ? 100 : Math.min(100, Number((counted * 100n) / quorum))}%)`}</div>
  ${quorum === null ? "" : bar(counted, quorum, "quorum")}
  <div class="actions">${vote(1, "Vote for")} ${vote(0, "Against")} ${vote(2, "Abstain")}</div>
  <div class="note mono">id ${esc(short(p.proposalId, 18))} · by ${esc(short(p.proposer, 12))}</div>
</article>`;
    })
    .join("");
}

export function providers(s: Snapshot): string {
  const head = `<tr><th>provider</th><th>status</th><th>stake (allocated)</th><th>tags (granted)</th><th>memory · accel · region</th><th>faults: disagreed / missed</th><th>runner</th><th>versions</th></tr>`;
  const rows = s.providers.map((p) => {
    const r = p.runner;
    const runner = !r
      ? "—"
      : !r.reachable
        ? `<span class="bad">unreachable</span>`
        : `${r.ready ? `<span class="good">ready</span>` : `<span class="bad">not ready</span>`}${r.blocksBehind === null ? "" : ` · ${r.blocksBehind} behind`}<br><small>${Object.entries(
            r.jobs,
          )
            .map(([k, v]) => `${esc(k)} ${v}`)
            .join(", ")}</small>`;
    const frozen = p.frozenUntil > s.headTime ? ` <span class="bad">frozen until ${time(p.frozenUntil)}</span>` : "";
    return `<tr data-provider="${esc(p.address)}"><td class="mono">${esc(short(p.address, 12))}</td><td>${esc(p.status)}${frozen}</td><td>${units(p.stake, 18)} (${units(p.locked, 18)})</td><td>${tagBits(p.tags)} (${tagBits(p.grantedTags)})</td><td>${p.memoryMB} MB · ${esc(p.accelerator || "—")} · ${esc(p.region || "—")}</td><td>${p.disagreed} / ${p.missed}</td><td>${runner}</td><td>${r?.versions.length ? r.versions.map(esc).join(", ") : "—"}</td></tr>`;
  });
  return `<thead>${head}</thead><tbody>${rows.join("") || `<tr><td colspan="8">no providers registered</td></tr>`}</tbody>`;
}

export function models(s: Snapshot): string {
  if (s.models.length === 0) return `<p class="note">no models published</p>`;
  return s.models
    .map(
      (
        m,
      ) => `<article class="model" data-model="${esc(m.name)}"><h3>${esc(m.name)} <small>active v${m.activeVersion || "—"}</small></h3>
  <table><thead><tr><th>version</th><th>status</th><th>weights</th><th>min fee</th><th>lifecycle</th></tr></thead><tbody>${m.versions
    .map(
      (v) =>
        `<tr><td>v${v.version}</td><td class="status-${esc(v.status)}">${esc(v.status)}${v.sunsetAt ? ` until ${time(v.sunsetAt)}` : ""}</td><td class="mono">${esc(short(v.weightsCid, 16))}</td><td>${units(v.minFee, 18)}</td><td><ol class="timeline">${v.timeline.map((e) => `<li>${time(e.at)} ${esc(e.event)}</li>`).join("")}</ol></td></tr>`,
    )
    .join("")}</tbody></table></article>`,
    )
    .join("");
}

const pct = (bps: number) => `${Number((bps / 100).toFixed(2))}%`;

export function rollouts(s: Snapshot): string {
  if (!s.rollouts.supported)
    return `<p class="note">Staged rollouts: the deployed contracts have no rollout plans, so none are shown.</p>`;
  if (s.rollouts.items.length === 0)
    return `<p class="note">no rollout plans (the DAO starts one with conclave dao propose start-rollout)</p>`;
  const head = `<tr><th>model</th><th>candidate</th><th>status</th><th>plan</th><th>started</th><th>candidate jobs: settled / disputed / failed</th><th>rules now</th></tr>`;
  const rows = s.rollouts.items.map((r) => {
    const p = r.plan;
    const c = r.counters;
    const plan = `canary ${pct(p.canaryBps)} · ≥ ${p.minDuration} s · promote after ${p.promoteAfterJobs} · abort rule from ${p.abortAfterJobs} · max disputed ${pct(p.maxDisputedBps)} · max failed ${pct(p.maxFailedBps)}`;
    const ended =
      r.endedAt === null
        ? ""
        : `<br><small>${esc(r.status.toLowerCase())} ${time(r.endedAt)}${r.reason ? `: ${esc(r.reason)}` : ""}</small>`;
    const cls = r.rules.abortable ? "bad" : r.rules.promotable ? "good" : "";
    return `<tr data-rollout="${esc(r.model)}-${r.candidate}" data-status="${esc(r.status)}"><td>${esc(r.model)}</td><td>v${r.candidate} <small>(active was v${r.champion})</small></td><td class="status-${esc(r.status)}">${esc(r.status)}${ended}</td><td><small>${esc(plan)}</small></td><td>${time(r.startedAt)}</td><td>${c.settled} / ${c.disputed} / ${c.failed} <small>(${r.rules.ended} ended)</small></td><td class="${cls}" data-testid="rollout-verdict">${esc(r.rules.text)}</td></tr>`;
  });
  return `<h3>Staged rollouts</h3><table><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`;
}

export function chain(s: Snapshot): string {
  return `chain ${s.chainId} · block <b data-testid="head">${s.head}</b> · ${time(s.headTime)}`;
}
