#!/usr/bin/env node
// `conclave`: the command line for DAO members, providers and clients.
import { parseArgs } from "node:util";
import { loadConfig } from "./config.ts";
import { oneLine } from "./errors.ts";
import { startRunner } from "./runner.ts";

interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  "node run": {
    summary: "run a provider's node runner until Ctrl-C",
    usage: `conclave node run --config <file> [--rpc <url>] [--deployment <file>] [--data-dir <dir>]
                  [--http-port <n>] [--kubo-url <url>] [--ipfs-peer <multiaddr>]... [--log-level <level>]

Watches the market, serves jobs with onnxruntime and posts attested results. The provider key is
read from CONCLAVE_PROVIDER_KEY. Flags win over CONCLAVE_* environment variables, which win over
the config file (JSON; see README "Running a provider node").`,
    async run(argv) {
      const { values } = parseArgs({
        args: argv,
        options: {
          config: { type: "string" },
          rpc: { type: "string" },
          deployment: { type: "string" },
          "data-dir": { type: "string" },
          "http-port": { type: "string" },
          "kubo-url": { type: "string" },
          "ipfs-peer": { type: "string", multiple: true },
          "log-level": { type: "string" },
        },
        strict: true,
      });
      const config = loadConfig({
        config: values.config,
        rpc: values.rpc,
        deployment: values.deployment,
        dataDir: values["data-dir"],
        httpPort: values["http-port"],
        kuboUrl: values["kubo-url"],
        peers: values["ipfs-peer"],
        logLevel: values["log-level"],
      });
      // A daemon keeps serving: a stray rejection is logged, never a reason to drop every job.
      process.on("unhandledRejection", (reason) => {
        console.error(JSON.stringify({ t: new Date().toISOString(), level: "error", msg: "unhandled rejection", error: String((reason as Error)?.message ?? reason) }));
      });
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

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `Usage: conclave <command> [options]   (conclave <command> --help for details)\n\nCommands:\n${Object.entries(COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join("\n")}`;
}

async function main(argv: string[]): Promise<void> {
  const name = Object.keys(COMMANDS)
    .sort((a, b) => b.split(" ").length - a.split(" ").length)
    .find((c) => c.split(" ").every((word, i) => argv[i] === word));
  if (!name) {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") return void console.log(help());
    throw new Error(`unknown command "${argv.join(" ")}"; run conclave --help`);
  }
  const rest = argv.slice(name.split(" ").length);
  if (rest.includes("--help") || rest.includes("-h")) return void console.log(`Usage: ${COMMANDS[name]!.usage}`);
  await COMMANDS[name]!.run(rest);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`conclave: ${oneLine(error)}`);
    process.exit(1);
  },
);
