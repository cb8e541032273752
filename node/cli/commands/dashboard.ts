import { LOCAL_CHAIN_ID } from "../../chain/clients.ts";
import { startDashboard } from "../../dashboard/dashboard.ts";
import { ensureDashboardBuilt } from "../../dashboard/assets.ts";
import { createLogger } from "../../log.ts";
import { integer, RequestError, str, type Command } from "../command.ts";

export const dashboardCommands: Record<string, Command> = {
  dashboard: {
    summary: "serve the live dashboard of a network on 127.0.0.1 (models, proposals, providers, jobs; voting)",
    usage: `[--port <n>] [--runner <url>]... [--no-dev-accounts]

Indexes the deployment's contract events (from their deployment blocks, in ranges the RPC
accepts), then serves a page on http://127.0.0.1:<port>/ that updates with every new block:
models and versions with their lifecycle, proposals with live tallies, quorum and time left,
providers with stake, counters and their runners' readiness, jobs as they happen, totals and
charts. DAO members vote from the page with a browser wallet; on the local network (chain 31337)
a picker of the development DAO accounts stands in, signed by this process.
Runs until Ctrl-C.

Options:
  --port <n>             port on 127.0.0.1 (default 8550; 0 = any free port)
  --runner <url>         a runner's HTTP address whose /ready, /status and /metrics are shown
                         (repeatable; the local network's runners come from its deployment file)
  --no-dev-accounts      no development-account picker, even on the local network
  --log-level <level>    debug, info (default), warn or error: structured logs on stderr`,
    options: {
      port: { type: "string" },
      runner: { type: "string", multiple: true },
      "no-dev-accounts": { type: "boolean" },
      "log-level": { type: "string" },
    },
    async run(ctx) {
      const port = integer("--port", str(ctx, "port") ?? "8550", 0, 65_535);
      const level = str(ctx, "log-level") ?? "warn";
      if (!["debug", "info", "warn", "error"].includes(level))
        throw new RequestError(`--log-level must be debug, info, warn or error, got ${JSON.stringify(level)}`);
      const s = await ctx.session();
      const staticDir = await ensureDashboardBuilt((l) => ctx.out.note(l));
      const extra = ((ctx.values.runner as string[] | undefined) ?? []).map((http) => ({
        address: "",
        http: http.replace(/\/+$/, ""),
      }));
      ctx.out.note(`indexing ${s.chain.id === LOCAL_CHAIN_ID ? "the local network" : `chain ${s.chain.id}`} ...`);
      const dashboard = await startDashboard({
        publicClient: s.publicClient,
        chain: s.chain,
        rpcUrl: s.rpcUrl,
        record: s.record,
        port,
        staticDir,
        runners: [...(s.record.runners ?? []), ...extra],
        devAccounts: ctx.values["no-dev-accounts"] !== true,
        log: createLogger({ level: level as "warn" }),
      });
      ctx.out.result({ url: dashboard.url }, () => `dashboard: ${dashboard.url}  (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await dashboard.close();
    },
  },
};
