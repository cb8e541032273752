/**
 * Mocha root hooks (loaded by every test worker, see hardhat.config.ts): when a test fails, the
 * log lines each runner it ran wrote during the test (their tail) go to stderr. CI keeps a failed
 * run's output but not the runners' data folders, so without this why a runner did not do its part
 * is lost (session 22: a canary test's runner fetched no model, and its dial error was in its log).
 */
import type { RunnerProcess } from "../../node/devnet/runners.ts";
import { startedRunners } from "./devnet.ts";

/** Lines per runner: the end of a failure, not a whole test's traffic. */
const TAIL_LINES = 150;

/** What a failed test prints: per runner, its last `tail` lines logged since `since` gave (all for one started later). */
export function runnerLogTails(
  runners: Iterable<Pick<RunnerProcess, "index" | "address" | "logs">>,
  since: ReadonlyMap<unknown, number>,
  test: string,
  tail = TAIL_LINES,
): string {
  const parts: string[] = [];
  for (const r of runners) {
    const lines = r.logs.slice(since.get(r) ?? 0);
    if (lines.length === 0) continue;
    const shown = lines.slice(-tail);
    parts.push(
      `--- runner ${r.index} (${r.address}): ${shown.length === lines.length ? "all" : `the last ${shown.length} of`} ${lines.length} log lines during "${test}" ---`,
      ...shown,
    );
  }
  return parts.length === 0 ? "" : `\n${parts.join("\n")}\n--- end of runner logs ---\n`;
}

/** Each runner's log length when the current test began. */
const linesAtStart = new Map<RunnerProcess, number>();

function exited(r: RunnerProcess): boolean {
  return r.process.exitCode !== null || r.process.signalCode !== null;
}

export const mochaHooks = {
  beforeEach(): void {
    linesAtStart.clear();
    for (const r of startedRunners) linesAtStart.set(r, r.logs.length);
  },
  afterEach(this: Mocha.Context): void {
    const test = this.currentTest;
    if (test?.state === "failed") process.stderr.write(runnerLogTails(startedRunners, linesAtStart, test.fullTitle()));
    for (const r of startedRunners) if (exited(r)) startedRunners.delete(r);
  },
};
