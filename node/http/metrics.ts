import { monitorEventLoopDelay } from "node:perf_hooks";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Period of the event-loop lag sampler, in ms. */
const LAG_RESOLUTION_MS = 10;

/** The runner's Prometheus metrics, on a registry of its own (no process-global state). */
export function createMetrics(labels: { provider: string }) {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  return {
    registry,
    jobs: new Counter({ name: "conclave_jobs_total", help: "Jobs by outcome", labelNames: ["outcome"], registers: [registry] }),
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
    bytesFetched: new Counter({ name: "conclave_ipfs_bytes_fetched_total", help: "Bytes fetched from IPFS", registers: [registry] }),
    weightsRejected: new Counter({
      name: "conclave_weights_rejected_total",
      help: "Weights refused because they did not match the registry",
      labelNames: ["check"],
      registers: [registry],
    }),
    jobsRetried: new Counter({ name: "conclave_jobs_retried_total", help: "Job steps that failed with a retryable error and were scheduled again", registers: [registry] }),
    txFailures: new Counter({ name: "conclave_tx_failures_total", help: "Transactions that reverted or were not mined", labelNames: ["kind"], registers: [registry] }),
    eventLoopLag: eventLoopLagGauge(registry),
    blocksBehind: new Gauge({ name: "conclave_blocks_behind_head", help: "Chain head minus the last processed block", registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Event-loop lag since the previous scrape: how much later than due a timer of
 * LAG_RESOLUTION_MS fired (p50, p99, max). prom-client's nodejs_eventloop_lag_p99_seconds reports
 * the timer's whole period (10 ms on an idle loop), so it cannot be held to a 10 ms target.
 */
function eventLoopLagGauge(registry: Registry): Gauge {
  const delay = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  delay.enable();
  const lag = (ns: number) => (delay.count === 0 ? 0 : Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS) / 1000);
  return new Gauge({
    name: "conclave_event_loop_lag_seconds",
    help: `Event-loop lag since the previous scrape: lateness of a ${LAG_RESOLUTION_MS} ms timer, by quantile (0.5, 0.99, 1 = max)`,
    labelNames: ["quantile"],
    registers: [registry],
    collect() {
      this.set({ quantile: "0.5" }, lag(delay.percentile(50)));
      this.set({ quantile: "0.99" }, lag(delay.percentile(99)));
      this.set({ quantile: "1" }, lag(delay.max));
      delay.reset();
    },
  });
}
