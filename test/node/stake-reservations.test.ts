import { expect } from "chai";
import { StakeReservations } from "../../node/jobs/stake-reservations.ts";

describe("stake reservations (collateral a free-stake read may not show yet)", function () {
  it("counts the other jobs' collateral until a read made after their lock was mined, and none once they end", function () {
    const r = new StakeReservations();
    r.reserve("1", 5n);
    r.reserve("2", 7n);
    r.reserve("2", 100n); // a job keeps its first reservation
    expect(r.pending(0, "3")).to.equal(12n);
    expect(r.pending(0, "1"), "a job's own collateral is not counted against it").to.equal(7n);
    r.locked("1", 1_000);
    expect(r.pending(1_000, "3"), "a read made as the lock was mined may not show it").to.equal(12n);
    expect(r.pending(1_001, "3"), "a later read shows it").to.equal(7n);
    r.reserve("1", 5n); // dropped once shown: a job taken again (a reorg) reserves anew
    expect(r.pending(1_001, "3")).to.equal(12n);
    r.release("1");
    r.release("2");
    expect(r.pending(0, "3")).to.equal(0n);
  });

  it("a job whose lock a reorg dropped before any read showed it holds its collateral again", function () {
    const r = new StakeReservations();
    r.reserve("1", 5n);
    r.locked("1", 1_000);
    r.reserve("1", 5n); // the reorg took the job back to before its lock
    expect(r.pending(5_000, "3"), "no read shows a lock that is no longer mined").to.equal(5n);
  });
});
