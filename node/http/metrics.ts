import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  Summary,
  type MetricObjectWithValues,
  type MetricValueWithName,
} from "prom-client";

/** Period of the event-loop lag sampler, in ms. */
const LAG_RESOLUTION_MS = 10;

/** The runner's Prometheus metrics, on a registry of its own (no process-global state). */
export function createMetrics(labels: { provider: string }) {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  // Gauges named like counters, which `promtool check metrics` flags; nodejs_active_{handles,requests,resources} hold the same counts by type.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"])
    registry.removeSingleMetric(name);
  return {
    registry,
    jobs: new Counter({
      name: "conclave_jobs_total",
      help: "Jobs by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    inferenceSeconds: new Histogram({
      name: "conclave_inference_seconds",
      help: "Time of one inference run in the worker",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    requestToResultSeconds: new Histogram({
      name: "conclave_request_to_result_seconds",
      help: "From seeing a job to its result transaction being mined",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    bytesFetched: new Counter({
      name: "conclave_ipfs_bytes_fetched_total",
      help: "Bytes fetched from IPFS",
      registers: [registry],
    }),
    weightsRejected: new Counter({
      name: "conclave_weights_rejected_total",
      help: "Weights refused because they did not match the registry",
      labelNames: ["check"],
      registers: [registry],
    }),
    /** k = 1 results per delivery transaction (1: a plain submitResult). */
    deliveryBatchSize: new Histogram({
      name: "conclave_delivery_batch_size",
      help: "k = 1 results carried by one delivery transaction",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers: [registry],
    }),
    txFailures: new Counter({
      name: "conclave_tx_failures_total",
      help: "Transactions that reverted or were not mined",
      labelNames: ["kind"],
      registers: [registry],
    }),
    /** Incremented by the executor's onWorkerRestart hook; reason is "crash" or "timeout". */
    workerRestarts: new Counter({
      name: "conclave_worker_restarts_total",
      help: "Inference worker processes replaced after a crash or a run timeout",
      labelNames: ["reason"],
      registers: [registry],
    }),
    /**
     * Requests the runner sent to each endpoint ("0": the primary RPC, "1"…: the fallbacks), what
     * an RPC provider bills and rate-limits: over HTTP each post is counted, viem's retries of a
     * rate-limited or dropped call included, and so is each endpoint a fallback tries; the ranking
     * pings count as eth_blockNumber. Over WebSocket, retries inside viem are not seen.
     */
    rpcCalls: new Counter({
      name: "conclave_rpc_calls_total",
      help: "JSON-RPC requests sent, by method and endpoint (0: the primary RPC, 1 and on: the fallbacks)",
      labelNames: ["method", "endpoint"],
      registers: [registry],
    }),
    /** kind: a short class of the failure, e.g. "timeout", "rate_limited", "http", "rpc", "ws_closed". */
    rpcErrors: new Counter({
      name: "conclave_rpc_errors_total",
      help: "JSON-RPC requests that failed",
      labelNames: ["kind"],
      registers: [registry],
    }),
    /** outcome: "delivered" (the callback returned), "failed" (it reverted or ran out of gas; retriable), "hash_only", "already" (another fulfiller was first). */
    callbacksFulfilled: new Counter({
      name: "conclave_callbacks_fulfilled_total",
      help: "Consumer callbacks this runner fulfilled (or found fulfilled), by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    /** outcome: "reclaimed" (this runner's reclaim credited the deposit to the consumer), "already" (another runner was first). */
    depositsReclaimed: new Counter({
      name: "conclave_deposits_reclaimed_total",
      help: "Callback deposits of refunded consumer jobs this runner reclaimed for their consumers (or found reclaimed), by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    reorgs: new Counter({
      name: "conclave_reorgs_total",
      help: "Chain reorganisations the watcher detected and rewound",
      registers: [registry],
    }),
    txFeeBumps: new Counter({
      name: "conclave_tx_fee_bumps_total",
      help: "Transactions re-sent with a higher fee",
      registers: [registry],
    }),
    /** kind: what the voided transaction was for. */
    txVoided: new Counter({
      name: "conclave_tx_voided_total",
      help: "Transactions a reorg made revert, replaced by a no-op before they were mined",
      labelNames: ["kind"],
      registers: [registry],
    }),
    /** reason: why the job's step is tried again, e.g. "input_fetch", "worker_crashed", "rpc". */
    jobsRetried: new Counter({
      name: "conclave_jobs_retried_total",
      help: "Job steps scheduled for another try after a retryable error",
      labelNames: ["reason"],
      registers: [registry],
    }),
    eventLoopLag: new EventLoopLagSummary(registry),
    blocksBehind: new Gauge({
      name: "conclave_blocks_behind_head",
      help: "Chain head minus the last processed block",
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Event-loop lag as a Prometheus summary: how much later than due a timer of LAG_RESOLUTION_MS
 * fired. The quantiles (0.5, 0.99, and 1 = max) cover the samples since the previous scrape;
 * _count and _sum are cumulative, as a summary's must be (_sum adds each window's mean lateness
 * times its sample count, since the sampler keeps no individual samples). prom-client's
 * nodejs_eventloop_lag_p99_seconds reports the timer's whole period (10 ms on an idle loop), so it
 * cannot be held to a 10 ms target. A summary, not a gauge with a `quantile` label: Prometheus
 * (`promtool check metrics`) rejects the latter.
 */
class EventLoopLagSummary extends Summary {
  private readonly delay = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private count = 0;
  private sum = 0;

  constructor(registry: Registry) {
    super({
      name: "conclave_event_loop_lag_seconds",
      help: `Event-loop lag: lateness of a ${LAG_RESOLUTION_MS} ms timer; quantiles over the samples since the previous scrape (1 = max)`,
      percentiles: [0.5, 0.99, 1],
      registers: [registry],
    });
    this.delay.enable();
  }

  private lag(ns: number): number {
    return Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS) / 1000;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    // The base gives name, help, type and aggregator; nothing is observed into it, so its values are empty.
    const base = await super.get();
    const name = base.name;
    const d = this.delay;
    const n = d.count;
    const q = (ns: number) => (n === 0 ? 0 : this.lag(ns));
    const values: MetricValueWithName<string>[] = [
      { labels: { quantile: 0.5 }, value: q(d.percentile(50)) },
      { labels: { quantile: 0.99 }, value: q(d.percentile(99)) },
      { labels: { quantile: 1 }, value: q(d.max) },
    ];
    if (n > 0) {
      this.count += n;
      this.sum += this.lag(d.mean) * n;
    }
    d.reset();
    values.push(
      { metricName: `${name}_sum`, labels: {}, value: this.sum },
      { metricName: `${name}_count`, labels: {}, value: this.count },
    );
    return { ...base, values };
  }

  override reset(): void {
    super.reset();
    // The base constructor calls reset() before this class's fields are initialised.
    if (!(this.delay as IntervalHistogram | undefined)) return;
    this.delay.reset();
    this.count = 0;
    this.sum = 0;
  }
}
