import { expect } from "chai";
import { StakeWaiters } from "../../node/jobs/stake-waiters.ts";
import { stakeOrder, type StakeClaim } from "../../node/jobs/take-policy.ts";

const claim = (jobId: bigint, over: Partial<StakeClaim> = {}): StakeClaim => ({
  jobId,
  redundancy: 3,
  stepIn: false,
  seatsTaken: 0,
  lastAction: 1_000,
  ...over,
});

/** The waiters in their order, as `first` hands them out one after the other. */
function inOrder(w: StakeWaiters, now: number): [string, bigint][] {
  const passed = new Set<string>();
  const out: [string, bigint][] = [];
  for (let next = w.first(now, passed); next; next = w.first(now, passed)) {
    passed.add(next.key);
    out.push([next.key, next.collateral]);
  }
  return out;
}

describe("stake order and the jobs waiting for free stake", function () {
  it("orders assigned jobs before step-ins, k = 1 jobs first, then k > 1 jobs by seats taken (most first), last action, job id", function () {
    const claims = [
      claim(6n, { stepIn: true, redundancy: 1 }),
      claim(1n),
      claim(2n, { lastAction: 900 }),
      claim(3n, { seatsTaken: 1, lastAction: 1_100 }),
      claim(4n, { redundancy: 1, lastAction: 5_000 }),
      claim(5n, { seatsTaken: 2 }),
      claim(0n),
    ];
    expect([...claims].sort(stakeOrder).map((c) => c.jobId)).to.deep.equal([4n, 5n, 3n, 2n, 0n, 1n, 6n]);
    expect(stakeOrder(claim(7n), claim(7n))).to.equal(0);
  });

  it("the waiters in their order, and the collateral of those that go before a claim", function () {
    const w = new StakeWaiters(10_000);
    w.wait("1", claim(1n), 5n, 0);
    w.wait("2", claim(2n, { seatsTaken: 1 }), 4n, 0);
    w.wait("3", claim(3n), 3n, 0);
    expect(inOrder(w, 0)).to.deep.equal([
      ["2", 4n],
      ["1", 5n],
      ["3", 3n],
    ]);
    expect(w.aheadOf("3", claim(3n), 0), "jobs 2 and 1").to.equal(9n);
    expect(w.aheadOf("2", claim(2n, { seatsTaken: 1 }), 0), "none goes before the first").to.equal(0n);
    expect(w.aheadOf("9", claim(9n, { redundancy: 1 }), 0), "a k = 1 job goes before them all").to.equal(0n);
    w.leave("2");
    expect(inOrder(w, 0).map(([key]) => key)).to.deep.equal(["1", "3"]);
  });

  it("a waiter that has not looked again within the max age stops holding the others back", function () {
    const w = new StakeWaiters(10_000);
    w.wait("1", claim(1n), 5n, 0);
    w.wait("2", claim(2n), 4n, 8_000);
    expect(w.aheadOf("9", claim(9n), 10_000)).to.equal(9n);
    expect(w.aheadOf("9", claim(9n), 10_001), "job 1 looked last at 0").to.equal(4n);
    expect(inOrder(w, 10_001).map(([key]) => key)).to.deep.equal(["2"]);
    w.wait("1", claim(1n), 5n, 10_002); // it looks again: it waits in its place
    expect(inOrder(w, 10_002).map(([key]) => key)).to.deep.equal(["1", "2"]);
  });
});
