import { loadRunnerConfig, scrubSecretEnv, type ConfigFlags } from "../../config-load.ts";
import { FatalError } from "../../errors.ts";
import { createLogger, lineBatcher, urlRedactor } from "../../log.ts";
import type { Command } from "../command.ts";

/** In-flight work did not finish within `shutdownTimeoutMs` after SIGINT/SIGTERM (or a second signal came). */
export class ShutdownTimeoutError extends FatalError {
  readonly code = "SHUTDOWN_TIMEOUT";
}

/**
 * Runs `stop` and waits for it, but no longer than `timeoutMs` or until `abort` settles (a second
 * signal): then fails with ShutdownTimeoutError and leaves the work unfinished. Abandoning is
 * safe: the journal records every step, and a restarted runner resumes from it.
 */
export async function stopWithin(
  stop: () => Promise<void>,
  timeoutMs: number,
  abort: Promise<unknown> = new Promise(() => {}),
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ShutdownTimeoutError(
            `in-flight work did not finish within shutdownTimeoutMs=${timeoutMs}; exiting without it (the journal resumes it on restart)`,
          ),
        ),
      timeoutMs,
    );
  });
  const interrupted = abort.then(
    () =>
      Promise.reject(
        new ShutdownTimeoutError(
          "second signal while stopping; exiting without waiting for in-flight work (the journal resumes it on restart)",
        ),
      ),
    () =>
      Promise.reject(new ShutdownTimeoutError("stopping was interrupted; exiting without waiting for in-flight work")),
  );
  try {
    await Promise.race([stop(), deadline, interrupted]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves on the first SIGINT or SIGTERM; `next()` then gives a promise of the one after it. */
function signals(): { first: Promise<void>; next(): Promise<void>; dispose(): void } {
  const waiters: (() => void)[] = [];
  const on = () => waiters.shift()?.();
  process.on("SIGINT", on);
  process.on("SIGTERM", on);
  const wait = () => new Promise<void>((resolve) => waiters.push(resolve));
  return {
    first: wait(),
    next: wait,
    dispose: () => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
    },
  };
}

export const nodeCommands: Record<string, Command> = {
  "node run": {
    summary: "run a provider's node runner until Ctrl-C",
    usage: `--config <file> [--rpc <url>] [--rpc-fallback <url>]... [--deployment <file>] [--keystore <file>]
       [--data-dir <dir>] [--http-port <n>] [--kubo-url <url>] [--ipfs-peer <multiaddr>]...
       [--ipfs-gateway <url>]... [--log-level <level>]
       [--inference-workers <n|auto>] [--intra-op-threads <n|auto>]
       [--delivery-max-batch <n>] [--delivery-max-wait-blocks <n>]

Watches the market, serves jobs with onnxruntime and posts attested results. Fallback RPC URLs
(--rpc-fallback, CONCLAVE_RPC_FALLBACK_URLS comma-separated, or rpcFallbackUrls) must be on the same
chain: calls go to the endpoint answering best and fall over to the next on an error. The provider key comes
from an encrypted JSON keystore (--keystore, CONCLAVE_KEYSTORE or "keystore" in the config file;
password from CONCLAVE_KEYSTORE_PASSWORD or asked on the terminal) or from CONCLAVE_PROVIDER_KEY;
either is read once and the variables holding secrets are then removed from the environment.
Flags win over CONCLAVE_* environment variables, which win over the config file (JSON; see README
"Running a provider node"). Logs are JSON lines on stderr, with RPC and Kubo URLs cut to scheme,
host and port. --ipfs-gateway adds a peer's trustless gateway (its ipfs.gateway) to fetch
weights from before bitswap. One JSON line {"event":"ready",...} on stdout says where the runner listens.
SIGINT/SIGTERM stop it after in-flight work, waiting at most shutdownTimeoutMs (default 30 s;
a second signal stops waiting), else it exits with status 1.`,
    options: {
      config: { type: "string" },
      "rpc-fallback": { type: "string", multiple: true },
      "data-dir": { type: "string" },
      "http-port": { type: "string" },
      "ipfs-gateway": { type: "string", multiple: true },
      "log-level": { type: "string" },
      "inference-workers": { type: "string" },
      "intra-op-threads": { type: "string" },
      "delivery-max-batch": { type: "string" },
      "delivery-max-wait-blocks": { type: "string" },
    },
    async run(ctx) {
      const v = ctx.values as Record<string, string | undefined> & { "ipfs-peer"?: string[] };
      const flags: ConfigFlags = {
        config: v.config,
        rpc: v.rpc,
        rpcFallback: (ctx.values as { "rpc-fallback"?: string[] })["rpc-fallback"],
        deployment: v.deployment,
        keystore: v.keystore,
        dataDir: v["data-dir"],
        httpPort: v["http-port"],
        kuboUrl: v["kubo-url"],
        peers: v["ipfs-peer"],
        gateways: (ctx.values as { "ipfs-gateway"?: string[] })["ipfs-gateway"],
        logLevel: v["log-level"],
        inferenceWorkers: v["inference-workers"],
        intraOpThreads: v["intra-op-threads"],
        deliveryMaxBatch: v["delivery-max-batch"],
        deliveryMaxWaitBlocks: v["delivery-max-wait-blocks"],
      };
      let config;
      try {
        config = await loadRunnerConfig(flags, process.env);
      } finally {
        // Read once: nothing started from here on (workers, libraries) can find the key or password.
        scrubSecretEnv(process.env);
      }
      const redact = urlRedactor([config.rpcUrl, ...config.rpcFallbackUrls, config.ipfs.kuboUrl]);
      // Each turn's lines in one write (see lineBatcher); what waits is written before any exit.
      const lines = lineBatcher((text) => process.stderr.write(text));
      process.on("exit", lines.flush);
      const log = createLogger({ level: config.logLevel, redact, write: lines.write });
      // A daemon keeps serving: a stray rejection is logged, never a reason to drop every job.
      const onRejection = (reason: unknown) =>
        log.error("unhandled rejection", { error: String((reason as Error)?.message ?? reason) });
      process.on("unhandledRejection", onRejection);
      let stopSignals: ReturnType<typeof signals> | undefined;
      try {
        // Loaded here: the runner's SQLite journal prints an experimental warning other commands need not show.
        const { startRunner } = await import("../../runner.ts");
        let runner;
        try {
          runner = await startRunner(config, { log });
        } catch (error) {
          // Errors from the RPC client quote the URL, API key included; the CLI prints this message.
          if (error instanceof Error) error.message = redact(error.message);
          throw error;
        }
        // Only now: a signal during start-up keeps its default effect and ends the process at once.
        stopSignals = signals();
        console.log(
          JSON.stringify({
            event: "ready",
            provider: runner.address,
            http: runner.httpUrl,
            ipfs: runner.ipfsAddrs,
            gateway: runner.gatewayUrl,
          }),
        );
        await stopSignals.first;
        log.info("stopping", { shutdownTimeoutMs: config.shutdownTimeoutMs });
        await stopWithin(() => runner.stop(), config.shutdownTimeoutMs, stopSignals.next());
      } finally {
        stopSignals?.dispose();
        process.off("unhandledRejection", onRejection);
        // From here each line is written as it comes: nothing waits for an exit listener.
        lines.close();
        process.off("exit", lines.flush);
      }
    },
  },
};
