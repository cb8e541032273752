import { spawnSync } from "node:child_process";
import { expect } from "chai";
import { createMetrics } from "../../node/http/metrics.ts";
import { startHttpServer } from "../../node/http/server.ts";
import { silentLogger } from "../../node/log.ts";

/** `promtool` from Debian's prometheus package, when this machine has it; the test never requires it. */
function promtool(): string | null {
  const r = spawnSync("promtool", ["--version"], { encoding: "utf8" });
  return r.status === 0 ? "promtool" : null;
}

/** The /metrics page a runner serves, with every conclave metric given a sample. */
async function metricsPage(): Promise<string> {
  const metrics = createMetrics({ provider: "0x0000000000000000000000000000000000000001" });
  metrics.jobs.inc({ outcome: "settled" });
  metrics.inferenceSeconds.observe(0.01);
  metrics.requestToResultSeconds.observe(1);
  metrics.bytesFetched.inc(10);
  metrics.weightsRejected.inc({ check: "sha256" });
  metrics.txFailures.inc({ kind: "reverted" });
  metrics.workerRestarts.inc({ reason: "crash" });
  metrics.rpcErrors.inc({ kind: "timeout" });
  metrics.reorgs.inc();
  metrics.txFeeBumps.inc();
  metrics.jobsRetried.inc({ reason: "input_fetch" });
  metrics.blocksBehind.set(2);
  const http = await startHttpServer({
    host: "127.0.0.1",
    port: 0,
    log: silentLogger,
    handlers: {
      metrics: metrics.registry,
      ready: () => ({ ready: true, details: {} }),
      status: () => ({}),
      job: async () => null,
      outputs: async () => null,
    },
  });
  try {
    const res = await fetch(`${http.url}/metrics`);
    expect(res.status).to.equal(200);
    return await res.text();
  } finally {
    await http.close();
  }
}

/** Metric name → its TYPE line's type. */
function types(page: string): Map<string, string> {
  return new Map([...page.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

describe("runner metrics", function () {
  let page: string;
  before(async function () {
    page = await metricsPage();
  });

  it("exports event-loop lag as a summary, with cumulative _sum and _count", function () {
    expect(types(page).get("conclave_event_loop_lag_seconds")).to.equal("summary");
    for (const q of ["0.5", "0.99", "1"])
      expect(page).to.match(new RegExp(`^conclave_event_loop_lag_seconds\\{quantile="${q}",`, "m"));
    expect(page).to.match(/^conclave_event_loop_lag_seconds_sum\{/m);
    expect(page).to.match(/^conclave_event_loop_lag_seconds_count\{/m);
  });

  it("has no gauge with a quantile label (Prometheus reserves it for summaries)", function () {
    const gauges = [...types(page)].filter(([, type]) => type === "gauge").map(([name]) => name);
    for (const name of gauges) expect(page).to.not.match(new RegExp(`^${name}\\{[^}]*quantile=`, "m"));
  });

  it("defines the counters for worker restarts, RPC errors, reorgs, fee bumps and job retries", function () {
    const t = types(page);
    for (const name of [
      "conclave_worker_restarts_total",
      "conclave_rpc_errors_total",
      "conclave_reorgs_total",
      "conclave_tx_fee_bumps_total",
      "conclave_jobs_retried_total",
    ]) {
      expect(t.get(name), name).to.equal("counter");
    }
    expect(page).to.match(/^conclave_worker_restarts_total\{reason="crash",/m);
    expect(page).to.match(/^conclave_rpc_errors_total\{kind="timeout",/m);
  });

  it("passes promtool check metrics (where promtool is installed)", function () {
    const tool = promtool();
    if (!tool) this.skip();
    const r = spawnSync(tool, ["check", "metrics"], { input: page, encoding: "utf8" });
    expect(`${r.stdout}${r.stderr}`.trim()).to.equal("");
    expect(r.status).to.equal(0);
  });
});
