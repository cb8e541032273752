#!/usr/bin/env node
// `npm run chaos`: the load and fault harness (node/devnet/chaos/). Prints one table, or the
// figures as JSON with --json; exits 1 when a job was lost or paid twice or an honest provider slashed.
import { writeFileSync } from "node:fs";
import { runChaos } from "../node/devnet/chaos/run.ts";
import { CHAOS_HELP, parseChaosArgs } from "../node/devnet/chaos/options.ts";
import { reportJson, reportTable } from "../node/devnet/chaos/report.ts";
import { ConfigError, oneLine } from "../node/errors.ts";
import { createLogger } from "../node/log.ts";

let opts;
try {
  opts = parseChaosArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`${error.message}\n\n${CHAOS_HELP}`);
  process.exit(2);
}
if (opts === null) {
  console.log(CHAOS_HELP);
  process.exit(0);
}
const log = createLogger({ level: opts.verbose ? "info" : "warn", base: { component: "chaos" } });
try {
  const report = await runChaos(opts, { log, say: (line) => console.error(line) });
  if (opts.jsonOut) writeFileSync(opts.jsonOut, reportJson(report));
  console.log(opts.json ? reportJson(report) : reportTable(report));
  process.exit(report.ok ? 0 : 1);
} catch (error) {
  console.error(`chaos: ${oneLine(error)}`);
  process.exit(2);
}
