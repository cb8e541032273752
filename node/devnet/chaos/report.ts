/** The chaos run's one table, and the same figures as JSON. */
import { formatEther } from "viem";
import type { AuditFigures, Slash } from "./audit.ts";
import type { FaultRecord } from "./faults.ts";
import { CHAOS_MAX_LOG_RANGE, type RunnerResources } from "./fleet.ts";
import type { ChaosOptions } from "./options.ts";
import { jsonStringify } from "../../json-stringify.ts";

export interface ChaosReport {
  options: Omit<ChaosOptions, "json" | "jsonOut" | "verbose">;
  blockTimeSeconds: number;
  providers: number[];
  clients: number[];
  /** Wall-clock seconds: sending, then waiting until every job was final. */
  sendSeconds: number;
  settleSeconds: number;
  requests: {
    sent: number;
    notSent: number;
    reverted: number;
    revertReasons?: Record<string, number>;
    resentByClients: number;
    repricedByClients?: number;
  };
  figures: AuditFigures;
  /** Runners' calls of methods a public provider does not serve, which their endpoints refused. */
  methodsRefused: number;
  finalizedByClients: number;
  faults: FaultRecord[];
  resources: { start: RunnerResources[]; end: RunnerResources[] } | null;
  /** Every job final, none lost or paid twice, no honest provider slashed. */
  ok: boolean;
}

const mb = (b: number | null) => (b === null ? "-" : `${(b / 1024 / 1024).toFixed(1)} MB`);
const s = (x: number) => (Number.isNaN(x) ? "-" : `${x.toFixed(0)} s`);

export function reportTable(r: ChaosReport): string {
  const f = r.figures;
  const o = r.options;
  const rows: [string, string][] = [];
  const add = (k: string, v: string) => rows.push([k, v]);
  add(
    "setup",
    `${r.providers.length} runners (accounts ${r.providers.join(",")}), ${r.clients.length} clients, ${r.blockTimeSeconds} s blocks, seed ${o.seed}`,
  );
  add(
    "runner RPC",
    `${o.rpcEndpoints} endpoint(s) each${o.rpcEndpoints > 1 ? " (faults on the first)" : ""}, eth_getLogs ≤ ${CHAOS_MAX_LOG_RANGE} blocks per query, public methods only (${r.methodsRefused} calls of others refused)`,
  );
  add(
    "load",
    `${o.burst ? "burst (all at once)" : `${o.rate} jobs/s steady`}, ${Math.round(o.k3Share * 100)} % k = 3, sent in ${r.sendSeconds.toFixed(0)} s, all final ${r.settleSeconds.toFixed(0)} s later`,
  );
  add(
    "requests sent",
    `${r.requests.sent} (${r.requests.notSent} not sent, ${r.requests.reverted} reverted, ${r.requests.resentByClients} re-sent by clients (lost from the pool: a reorg, a dropped connection), ${r.requests.repricedByClients ?? 0} re-priced by clients in a fee spike)`,
  );
  for (const [reason, n] of Object.entries(r.requests.revertReasons ?? {}))
    add(`  request reverted: ${reason}`, String(n));
  add("requested (on chain)", `${f.requested.total} (k = 1: ${f.requested.k1}, k = 3: ${f.requested.k3})`);
  add("settled", String(f.settled));
  add("refunded", String(f.refunded.total));
  for (const [reason, n] of Object.entries(f.refunded.reasons)) add(`  ${reason}`, String(n));
  add("  finalized by clients", String(r.finalizedByClients));
  add(
    "lost (neither settled nor refunded)",
    `${f.lost.length}${f.lost.length ? ` (jobs ${f.lost.slice(0, 10).join(", ")}${f.lost.length > 10 ? " …" : ""})` : ""}`,
  );
  add(
    "paid twice",
    `${f.paidTwice.length}${f.paidTwice.length ? ` (jobs ${f.paidTwice.slice(0, 10).join(", ")})` : ""}`,
  );
  const slashes = (xs: readonly Slash[]) =>
    xs.length
      ? ` (${xs
          .map(
            (x) =>
              `job ${x.jobId ?? "?"} ${x.provider.slice(0, 8)}${x.revealed === false ? " missed" : x.revealed ? " outvoted" : ""}`,
          )
          .slice(0, 6)
          .join("; ")})`
      : "";
  add("honest providers slashed", `${f.honestSlashes.length}${slashes(f.honestSlashes)}`);
  add(
    "seats missed while the harness had killed the runner (slashed)",
    `${f.killedSlashes.length}${slashes(f.killedSlashes)}`,
  );
  const kinds = Object.entries(f.revertedTxs.byKind)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  add(
    "runner txs reverted",
    `${f.revertedTxs.count}${kinds ? ` (${kinds})` : ""}, ${f.revertedTxs.gasUsed} gas, ${formatEther(f.revertedTxs.gasBurntWei)} ETH burnt`,
  );
  if (f.voidedTxs)
    add(
      "runner txs voided after reorgs",
      `${f.voidedTxs.count} (no-ops mined instead of a revert), ${f.voidedTxs.gasUsed} gas`,
    );
  const revertedByFault = Object.entries(f.revertedTxs.byFault ?? {}).sort(([a], [b]) =>
    a === "none" ? -1 : b === "none" ? 1 : a.localeCompare(b),
  );
  if (revertedByFault.length > 0)
    add(
      "  mined in fault windows",
      revertedByFault.map(([k, n]) => `${k === "none" ? "outside every window" : k} ${n}`).join("; "),
    );
  const beaten = (d: number | null | undefined) =>
    d == null ? "" : d === 0 ? "; beaten in the same block" : `; beaten ${d} block${d === 1 ? "" : "s"} before`;
  // Buckets in the summary's order: the same block, 1 block before, 2 or more, unknown.
  const BUCKETS = ["same block", "1 block before", "2+ blocks before", "unknown"];
  const counts = [0, 0, 0, 0];
  for (const t of f.revertedTxs.txs) counts[t.beatenBlocksBefore == null ? 3 : Math.min(t.beatenBlocksBefore, 2)]!++;
  if (f.revertedTxs.txs.length > 0)
    add(
      "  what beat them (a race in the block, or an older state)",
      BUCKETS.flatMap((k, i) => (counts[i]! > 0 ? [`${k} ${counts[i]}`] : [])).join("; "),
    );
  const reasons = new Map<string, number>();
  for (const t of f.revertedTxs.txs) reasons.set(t.reason ?? "unknown", (reasons.get(t.reason ?? "unknown") ?? 0) + 1);
  if (f.revertedTxs.txs.length > 0)
    add(
      "  why (the error each reverted with)",
      [...reasons]
        .sort((a, b) => b[1] - a[1])
        .map(([r, n]) => `${r} ${n}`)
        .join("; "),
    );
  for (const t of f.revertedTxs.txs)
    add(
      `  provider ${t.provider} nonce ${t.nonce ?? "?"}`,
      `${t.kind}${t.jobId === null ? "" : ` of job ${t.jobId}`}, block ${t.block}${t.faults.length > 0 ? ` (${t.faults.join(", ")})` : ""}${beaten(t.beatenBlocksBefore)}${t.reason ? `: ${t.reason}` : ""}`,
    );
  add(
    "latency (request → paid)",
    `p50 ${s(f.latency.p50Seconds)}, p99 ${s(f.latency.p99Seconds)}; k = 1 p99 ${s(f.latency.k1P99Seconds)}, k = 3 p99 ${s(f.latency.k3P99Seconds)}`,
  );
  const blocks = (n: number) => (Number.isNaN(n) ? "-" : String(n));
  add(
    "k = 1 latency in blocks",
    `p50 ${blocks(f.latency.k1P50Blocks)}, p99 ${blocks(f.latency.k1P99Blocks)}; requested outside fault windows (${f.latency.k1CalmJobs} jobs): p99 ${blocks(f.latency.k1CalmP99Blocks)}`,
  );
  const byFault = Object.entries(f.latency.k1ByFault ?? {}).map(
    ([kind, x]) => `${kind} ${x.jobs} jobs p50 ${blocks(x.p50Blocks)} p99 ${blocks(x.p99Blocks)}`,
  );
  if (byFault.length > 0) add("k = 1 blocks, requested in fault windows", byFault.join("; "));
  const slow = (f.latency.k1Slowest ?? []).filter((x) => x.blocks > 3);
  if (slow.length > 0)
    add("k = 1 slowest (job@block: blocks)", slow.map((x) => `${x.jobId}@${x.requestedBlock}: ${x.blocks}`).join(", "));
  for (const p of f.providers) {
    const journal = p.journal
      ? Object.entries(p.journal.states)
          .map(([k, n]) => `${k} ${n}`)
          .join(", ")
      : "no journal";
    add(
      `provider ${p.index} ${p.address.slice(0, 8)}…`,
      `paid k=1 ${p.paidK1}, k=3 ${p.paidK3}; txs ${p.txsSent}, reverted ${p.txsReverted}; slashed ${p.slashed}${p.paidButJournalLost ? `; journal says lost for ${p.paidButJournalLost} paid` : ""}; journal: ${journal}`,
    );
    // A job a runner failed on its own side is one it dropped: the reason says whether it was the
    // job's (an input refused) or the runner's.
    const failed = Object.entries(p.journal?.reasons ?? {}).filter(([k]) => k.startsWith("failed: "));
    if (failed.length > 0)
      add("  jobs failed (journal)", failed.map(([k, n]) => `${k.slice("failed: ".length)} (${n})`).join("; "));
  }
  for (const x of r.faults)
    add(
      `fault ${x.kind} @ ${x.startedAt.toFixed(1)}–${x.endedAt.toFixed(1)} s (block ${x.block})`,
      `${x.detail}${x.error ? ` FAILED: ${x.error.split("\n")[0]}` : ""}`,
    );
  if (r.resources) {
    for (const start of r.resources.start) {
      const end = r.resources.end.find((e) => e.index === start.index);
      const pair = (a: number | null, b: number | null | undefined) => `${mb(a)} → ${mb(b ?? null)}`;
      add(
        `resources runner ${start.index}`,
        `RSS ${pair(start.rssBytes, end?.rssBytes)} (+workers ${pair(start.workersRssBytes, end?.workersRssBytes)}), journal ${pair(start.journalBytes, end?.journalBytes)}, blockstore ${pair(start.blockstoreBytes, end?.blockstoreBytes)}`,
      );
    }
  }
  add("verdict", r.ok ? "OK: every job final, 0 lost, 0 paid twice, 0 honest providers slashed" : "NOT OK");
  const width = Math.max(...rows.map(([k]) => k.length));
  const rule = "-".repeat(Math.min(120, width + 60));
  return [rule, ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`), rule].join("\n");
}

/** JSON with bigints as decimal strings and job-id sets as lists. */
export function reportJson(r: ChaosReport): string {
  return jsonStringify(r, 2);
}
