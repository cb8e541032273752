import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Prometheus series of the model cache and prefetching, on the runner's registry:
 * `conclave_model_versions{state="held"|"warm"}`, `conclave_model_prefetches_total{outcome}` and
 * `conclave_model_weight_downloads_total` (weights fetched from IPFS, by prefetches and jobs),
 * `conclave_model_cache_corrupt_total` and `conclave_model_evictions_total{reason}`.
 */
export function createModelMetrics(registry: Registry, view: { held(): number; warm(): number }) {
  new Gauge({
    name: "conclave_model_versions",
    help: "Model versions on this runner: held (verified, on disk) and warm (an onnxruntime session loaded)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "held" }, view.held());
      this.set({ state: "warm" }, view.warm());
    },
  });
  return {
    prefetches: new Counter({
      name: "conclave_model_prefetches_total",
      help: "Prefetches of current model versions by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    weightDownloads: new Counter({
      name: "conclave_model_weight_downloads_total",
      help: "Model weight files downloaded from IPFS (prefetches and jobs)",
      registers: [registry],
    }),
    cacheCorrupt: new Counter({
      name: "conclave_model_cache_corrupt_total",
      help: "Cached weight files that no longer matched their sha256 and were fetched again",
      registers: [registry],
    }),
    evictions: new Counter({
      name: "conclave_model_evictions_total",
      help: "Model versions removed from the weights cache, by reason (retired, lru)",
      labelNames: ["reason"],
      registers: [registry],
    }),
  };
}
