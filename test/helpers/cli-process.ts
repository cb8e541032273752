/**
 * `conclave` as a user runs it: a separate process per command, read through its exit code,
 * its --json stdout and its stderr only.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown>;
}

/** Runs `conclave <args>` as its own process (no key from the environment); resolves when it exits. */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, "node", "cli.ts"), ...args], {
      cwd: opts.cwd,
      env: { ...process.env, NODE_NO_WARNINGS: "1", CONCLAVE_KEY: "", CONCLAVE_KEYSTORE: "", ...opts.env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => {
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(stdout) as Record<string, unknown>;
      } catch {
        // left empty: the assertion on it says what was printed
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

/** A runner of CLI commands against one network (`--rpc`, `--deployment` and `--json` added). */
export function cliFor(opts: { rpc: string; deployment: string; cwd: string }) {
  return (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
    runCli([...args, "--rpc", opts.rpc, "--deployment", opts.deployment, "--json"], { cwd: opts.cwd, env });
}

/** A command that succeeded: exit 0 (stderr shown otherwise). */
export function expectOk(r: CliRun): Record<string, unknown> {
  expect(r.code, r.stderr).to.equal(0);
  return r.json;
}

/** A failed command: exit 1, one `conclave: ...` line for the person, {error, code} for scripts. */
export function expectFailure(r: CliRun, pattern: RegExp, code?: string): void {
  expect(r.code, r.stderr).to.equal(1);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("conclave: "));
  expect(lines, r.stderr).to.have.length(1);
  expect(lines[0]).to.match(pattern);
  expect(r.json.error).to.match(pattern);
  if (code !== undefined) expect(r.json.code).to.equal(code);
}
