import type { Address } from "viem";
import type { Registry } from "prom-client";
import type { ChainWatcher } from "../chain/watcher.ts";
import type { OwnOutputs } from "../jobs/own-outputs.ts";
import type { Journal } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import type { Service, ServiceDeps } from "../service.ts";
import { jobView, resultIsPublic, type JobViewContext } from "./job-view.ts";
import { startHttpServer } from "./server.ts";

interface RunnerHttpDeps extends ServiceDeps {
  host: string;
  /** 0 picks a free port (see `url`). */
  port: number;
  log: Logger;
  metrics: Registry;
  watcher: Pick<ChainWatcher, "head" | "processed">;
  /** Blocks the watcher waits before it acts: /ready allows this much lag, and two blocks more. */
  confirmations: number;
  provider: Address;
  chainId: number;
  market: Address;
  /** Signs a job's attestation when a client asks for the job (see JobViewContext). */
  attest: JobViewContext["attest"];
  journal: Pick<Journal, "getJob" | "countByState">;
  outputs: OwnOutputs;
  /** The served models' versions, as /ready and /status show them. */
  models: () => unknown;
}

interface RunnerHttp extends Service {
  /** The server's URL, once started. */
  readonly url: string;
}

/** The runner's HTTP service (see server.ts for the routes): what it shows of the runner's state. */
export function createRunnerHttp(deps: RunnerHttpDeps): RunnerHttp {
  const { watcher, journal } = deps;
  let server: Awaited<ReturnType<typeof startHttpServer>> | null = null;
  let closing: Promise<void> | null = null;
  // The shutdown stops new connections at once; stop() waits for those still open.
  const close = () => (closing ??= server?.close() ?? Promise.resolve());
  deps.signal?.addEventListener("abort", () => void close(), { once: true });
  return {
    get url() {
      if (!server) throw new Error("the HTTP service is not started");
      return server.url;
    },
    async start() {
      if (deps.signal?.aborted) return;
      server = await startHttpServer({
        host: deps.host,
        port: deps.port,
        log: deps.log,
        handlers: {
          metrics: deps.metrics,
          ready: () => {
            const behind = watcher.head - watcher.processed;
            const ready = watcher.processed >= 0 && behind <= deps.confirmations + 2;
            return {
              ready,
              details: {
                head: watcher.head,
                processed: watcher.processed,
                blocksBehind: behind,
                models: deps.models(),
              },
            };
          },
          status: () => ({
            provider: deps.provider,
            chainId: deps.chainId,
            market: deps.market,
            jobs: journal.countByState(),
            head: watcher.head,
            processed: watcher.processed,
            models: deps.models(),
          }),
          job: async (jobId) => {
            const rec = journal.getJob(jobId);
            return rec ? jobView(rec, deps) : null;
          },
          outputs: async (jobId) => {
            const rec = journal.getJob(jobId);
            return rec && resultIsPublic(rec) ? deps.outputs(jobId) : null;
          },
        },
      });
    },
    async stop() {
      await close();
    },
  };
}
