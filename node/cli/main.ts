import { parseArgs } from "node:util";
import { ConclaveError, oneLine } from "../errors.ts";
import { jsonStringify } from "../json-stringify.ts";
import type { Command } from "./command.ts";
import { COMMANDS } from "./commands/index.ts";
import { createOutput } from "./output.ts";
import { COMMON_OPTIONS, COMMON_USAGE, openSession, type CommonFlags, type Session } from "./session.ts";

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `Usage: conclave <command> [options]   (conclave <command> --help for details)

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join("\n")}

${COMMON_USAGE}`;
}

/** The longest command name that the words start with ("dao vote" before "dao"). */
function findCommand(argv: string[]): [string, Command] | undefined {
  const name = Object.keys(COMMANDS)
    .sort((a, b) => b.split(" ").length - a.split(" ").length)
    .find((c) => c.split(" ").every((word, i) => argv[i] === word));
  return name ? [name, COMMANDS[name]!] : undefined;
}

/** Runs one command line; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const found = findCommand(argv);
  const json = argv.includes("--json");
  const out = createOutput({ json });
  let session: Promise<Session> | undefined;
  try {
    if (!found) {
      if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
        console.log(help());
        return 0;
      }
      const group = Object.keys(COMMANDS).filter((c) => c.startsWith(`${argv[0]} `));
      if (group.length > 0 && (argv.length === 1 || argv[1] === "--help")) {
        console.log(
          `conclave ${argv[0]} commands:\n${group.map((c) => `  ${c.padEnd(20)}  ${COMMANDS[c]!.summary}`).join("\n")}`,
        );
        return argv.length === 1 ? 1 : 0;
      }
      throw new ConclaveUsage(`unknown command "${argv.join(" ")}"; run conclave --help`);
    }
    const [name, command] = found;
    const rest = argv.slice(name.split(" ").length);
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(`Usage: conclave ${name} ${command.usage}\n\n${COMMON_USAGE}`);
      return 0;
    }
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: { ...COMMON_OPTIONS, ...command.options },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new ConclaveUsage(`${oneLine(error)}; see conclave ${name} --help`);
    }
    const [min, max] = command.args ?? [0, 0];
    if (parsed.positionals.length < min || parsed.positionals.length > max) {
      throw new ConclaveUsage(
        `conclave ${name} takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${parsed.positionals.length}; see conclave ${name} --help`,
      );
    }
    const code = await command.run({
      values: parsed.values as Record<string, string | boolean | string[] | undefined>,
      positionals: parsed.positionals,
      out,
      session: () => (session ??= openSession(parsed.values as CommonFlags, out)),
    });
    return typeof code === "number" ? code : 0;
  } catch (error) {
    const line = oneLine(error);
    out.note(`conclave: ${line}`);
    if (json)
      process.stdout.write(
        `${jsonStringify({ error: line, code: error instanceof ConclaveError ? error.code : "ERROR" }, 2)}\n`,
      );
    return 1;
  } finally {
    if (session) await (await session.catch(() => undefined))?.close();
  }
}

class ConclaveUsage extends ConclaveError {
  readonly retryable = false;
  readonly code = "USAGE";
}
