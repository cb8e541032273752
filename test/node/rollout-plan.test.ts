import { expect } from "chai";
import { RequestError } from "../../node/cli/command.ts";
import { duration, percentBps, planFromFlags } from "../../node/cli/rollout-plan.ts";

describe("rollout plan flags (dao propose start-rollout)", function () {
  it("reads durations in s, m, h, d and their sums", function () {
    expect(["90", "90s", "15m", "1h", "1h30m", "2d"].map((v) => duration("d", v))).to.deep.equal([
      90, 90, 900, 3_600, 5_400, 172_800,
    ]);
    for (const bad of ["", "1w", "h", "1.5h", "-1", "1h 30m", "366d"])
      expect(() => duration("d", bad), bad).to.throw(RequestError);
  });

  it("reads percentages with up to two decimals as basis points, within bounds", function () {
    expect(["0.01", "2.5", "12.5%", "50", "0"].map((v) => percentBps("p", v, 0, 5_000))).to.deep.equal([
      1, 250, 1_250, 5_000, 0,
    ]);
    for (const bad of ["50.01", "60", "0.001", "-1", "abc", ""])
      expect(() => percentBps("p", bad, 0, 5_000), bad).to.throw(RequestError);
  });

  it("builds the contract's plan and refuses missing or out-of-bounds fields", function () {
    const flags = {
      canary: "10",
      "min-duration": "1h",
      "promote-after": "100",
      "abort-after": "20",
      "max-disputed": "2",
      "max-failed": "1.5",
    };
    expect(planFromFlags(3, flags)).to.deep.equal({
      candidate: 3,
      canaryBps: 1_000,
      minDuration: 3_600,
      promoteAfterJobs: 100,
      abortAfterJobs: 20,
      maxDisputedBps: 200,
      maxFailedBps: 150,
    });
    expect(() => planFromFlags(3, { ...flags, canary: undefined })).to.throw(RequestError);
    expect(() => planFromFlags(3, { ...flags, canary: "0" })).to.throw(RequestError); // at least 0.01 %
    expect(() => planFromFlags(3, { ...flags, "promote-after": "0" })).to.throw(RequestError);
    expect(() => planFromFlags(3, { ...flags, "abort-after": "4294967296" })).to.throw(RequestError);
    expect(() => planFromFlags(3, { ...flags, "max-failed": "100.01" })).to.throw(RequestError);
  });
});
