import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");

/** Runs the CPU micro-benchmark as `npm run bench:cpu` does; resolves with its exit code and output. */
async function benchCpu(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--disable-warning=ExperimentalWarning", "scripts/bench-runner-cpu.ts", ...args],
      { cwd: ROOT },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("scripts/bench-runner-cpu.ts (npm run bench:cpu)", function () {
  this.timeout(120_000);

  it("runs a small burst through the real processor and batcher and submits every job", async function () {
    // It once broke unseen when the job became six words: the benchmark is run here, small.
    const { code, stdout, stderr } = await benchCpu(["--jobs", "40", "--per-block", "10"]);
    expect(code, stderr).to.equal(0);
    expect(stdout).to.match(/^jobs 40 \(10 a block\): CPU [\d.]+ ms\/job/m);
    expect(stdout).to.match(/submitted 40$/m);
  });

  it("refuses an unknown flag or a bad number with a one-line reason and its usage", async function () {
    for (const args of [["--bogus"], ["--jobs", "0"]]) {
      const { code, stdout, stderr } = await benchCpu(args);
      expect(code, args.join(" ")).to.equal(2);
      expect(stdout).to.equal("");
      expect(stderr.split("\n")[0]).to.match(/^bench:cpu: /);
      expect(stderr).to.include("Usage: npm run bench:cpu");
    }
  });
});
