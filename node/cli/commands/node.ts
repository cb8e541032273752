import { loadConfig } from "../../config.ts";
import type { Command } from "../command.ts";

export const nodeCommands: Record<string, Command> = {
  "node run": {
    summary: "run a provider's node runner until Ctrl-C",
    usage: `--config <file> [--rpc <url>] [--deployment <file>] [--data-dir <dir>] [--http-port <n>]
       [--kubo-url <url>] [--ipfs-peer <multiaddr>]... [--log-level <level>]

Watches the market, serves jobs with onnxruntime and posts attested results. The provider key is
read from CONCLAVE_PROVIDER_KEY. Flags win over CONCLAVE_* environment variables, which win over
the config file (JSON; see README "Running a provider node"). Logs are JSON lines on stderr; one
JSON line {"event":"ready",...} on stdout says where the runner listens.`,
    options: {
      config: { type: "string" },
      "data-dir": { type: "string" },
      "http-port": { type: "string" },
      "log-level": { type: "string" },
    },
    async run(ctx) {
      const v = ctx.values as Record<string, string | undefined> & { "ipfs-peer"?: string[] };
      const config = loadConfig({
        config: v.config,
        rpc: v.rpc,
        deployment: v.deployment,
        dataDir: v["data-dir"],
        httpPort: v["http-port"],
        kuboUrl: v["kubo-url"],
        peers: v["ipfs-peer"],
        logLevel: v["log-level"],
      });
      // A daemon keeps serving: a stray rejection is logged, never a reason to drop every job.
      process.on("unhandledRejection", (reason) => {
        console.error(JSON.stringify({ t: new Date().toISOString(), level: "error", msg: "unhandled rejection", error: String((reason as Error)?.message ?? reason) }));
      });
      // Loaded here: the runner's SQLite journal prints an experimental warning other commands need not show.
      const { startRunner } = await import("../../runner.ts");
      const runner = await startRunner(config);
      console.log(JSON.stringify({ event: "ready", provider: runner.address, http: runner.httpUrl, ipfs: runner.ipfsAddrs }));
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await runner.stop();
    },
  },
};
