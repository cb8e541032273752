import { expect } from "chai";
import { runnerLogTails } from "../helpers/runner-log-tails.ts";

describe("runner log tails of a failed test", function () {
  const runner = (index: number, lines: number) => ({
    index,
    address: `0x${String(index).repeat(40)}` as const,
    logs: Array.from({ length: lines }, (_, i) => `line ${i}`),
  });

  it("prints each runner's lines logged during the test, its last ones only past the tail, and nothing for a runner that logged none", function () {
    const [a, b, quiet, late] = [runner(1, 10), runner(2, 400), runner(3, 5), runner(4, 2)];
    const since = new Map<unknown, number>([
      [a, 7],
      [b, 100],
      [quiet, 5],
    ]); // `late` started during the test: all its lines
    const text = runnerLogTails([a, b, quiet, late], since, "suite fails", 150);
    const lines = text.trim().split("\n");
    expect(lines[0]).to.equal(`--- runner 1 (${a.address}): all 3 log lines during "suite fails" ---`);
    expect(lines.slice(1, 4)).to.deep.equal(["line 7", "line 8", "line 9"]);
    expect(lines[4]).to.equal(`--- runner 2 (${b.address}): the last 150 of 300 log lines during "suite fails" ---`);
    expect([lines[5], lines[154]]).to.deep.equal(["line 250", "line 399"]);
    expect(lines[155]).to.equal(`--- runner 4 (${late.address}): all 2 log lines during "suite fails" ---`);
    expect(lines.slice(156)).to.deep.equal(["line 0", "line 1", "--- end of runner logs ---"]);
    expect(runnerLogTails([quiet], since, "x")).to.equal("");
  });
});
