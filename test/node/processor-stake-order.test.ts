import { expect } from "chai";
import { getAddress } from "viem";
import { event, harness, makeJob, OTHER, PROVIDER, requested, type Harness } from "../helpers/fake-runner-deps.ts";

const ME = getAddress(PROVIDER.address);
const K3 = { redundancy: 3, quorum: 2, collateral: 1n };
/** Another provider took seat `seat` of job `jobId`. */
const seatOfOther = (jobId: bigint, seat: number) =>
  event("SeatCommitted", { jobId, provider: OTHER, seat, commitment: "0x" });
const state = (h: Harness, id: bigint) => h.journal.getJob(id)!.state;

describe("job processor: the order in which jobs waiting for free stake get it (fakes)", function () {
  let h: Harness;
  afterEach(async function () {
    await h.processor.stop();
    h.journal.close();
  });

  /** The jobs whose commit (k = 3) or result (k = 1) was sent, in order. */
  const served = () =>
    h.sender.sent.filter((t) => t.functionName === "commit" || t.functionName === "submitResult").map((t) => t.args[0]);

  /** Stake for one more job comes free, and every job waiting for it looks again (the follow interval). */
  const stakeForOne = async (collateral: bigint) => {
    h.chain.freeStake = collateral;
    h.clock.now += 5_000;
    await h.settle();
  };

  /** These events taken in with no free stake, then stake for one job comes free: the jobs served. */
  const servedWhenOneFits = async (
    logs: Parameters<Harness["processor"]["onLogs"]>[0],
    roster?: Harness["chain"]["roster"],
  ) => {
    h = harness();
    if (roster) h.chain.roster = roster;
    h.chain.freeStake = 0n;
    await h.processor.onLogs(logs);
    await h.settle();
    expect(served(), "served with no free stake").to.deep.equal([]);
    await stakeForOne(1n);
    return served();
  };

  it("chaos seed 23 (burst): stake that comes free goes to the k = 3 job with a seat taken by another provider, not to the older job looked at first", async function () {
    const first = await servedWhenOneFits([
      requested(100n, makeJob(K3)),
      requested(101n, makeJob(K3)),
      seatOfOther(101n, 0),
    ]);
    expect(first, "the job one seat from its quorum").to.deep.equal([101n]);
    expect(state(h, 100n), "the older job waits on").to.equal("seen");
  });

  it("among k = 3 jobs with as many seats taken, the earliest commit deadline goes first, then the oldest job", async function () {
    const first = await servedWhenOneFits([
      requested(110n, makeJob({ ...K3, commitDeadline: 1_120 })),
      requested(111n, makeJob({ ...K3, commitDeadline: 1_110 })),
      requested(112n, makeJob({ ...K3, commitDeadline: 1_110 })),
    ]);
    expect(first).to.deep.equal([111n]);
    expect([state(h, 110n), state(h, 112n)]).to.deep.equal(["seen", "seen"]);
  });

  it("a k = 1 job gets free stake before k = 3 jobs waiting for it", async function () {
    const first = await servedWhenOneFits([
      requested(120n, makeJob(K3)),
      seatOfOther(120n, 0),
      requested(121n, makeJob({ collateral: 1n, deadline: 1_600 })),
    ]);
    expect(first, "the k = 1 job").to.deep.equal([121n]);
    expect(state(h, 120n), "the k = 3 job waits on").to.equal("seen");
  });

  it("a job this provider is assigned gets free stake before an older one it would step in to", async function () {
    // On a roster of two, this provider's rank is the seed mod 2.
    const first = await servedWhenOneFits(
      [requested(125n, makeJob({ collateral: 1n, seed: 1n })), requested(126n, makeJob({ collateral: 1n, seed: 0n }))],
      { rosterIndex: 0n, rosterSize: 2n },
    );
    expect(first, "the job of rank 0").to.deep.equal([126n]);
    expect(state(h, 125n), "the step-in waits on").to.equal("seen");
  });

  it("a k = 3 job whose every seat other providers took ends lost without waiting for stake or reading the chain", async function () {
    h = harness();
    h.chain.freeStake = 0n;
    await h.processor.onLogs([requested(130n, makeJob(K3))]);
    await h.settle();
    await h.processor.onLogs([seatOfOther(130n, 0), seatOfOther(130n, 1), seatOfOther(130n, 2)]);
    h.clock.now += 5_000;
    await h.settle();
    const rec = h.journal.getJob(130n)!;
    expect([rec.state, rec.reason]).to.deep.equal(["lost", "all seats were taken"]);
    expect(h.chain.reads.jobState, "job state reads").to.equal(0);
  });

  it("a job's collateral coming free (its settlement) wakes the first job waiting for stake at once, not at its next look", async function () {
    h = harness({ followIntervalMs: 60_000 });
    h.chain.freeStake = 1n;
    h.chain.seats.set(140n, [ME]);
    await h.processor.onLogs([requested(140n, makeJob(K3))]);
    await h.settle();
    expect(state(h, 140n)).to.equal("committed");
    h.chain.freeStake = 0n; // the chain holds its collateral
    await h.processor.onLogs([requested(141n, makeJob(K3))]);
    await h.settle();
    expect(state(h, 141n)).to.equal("seen");
    // Job 140 is refunded: its collateral comes free; no follow interval passes.
    h.chain.freeStake = 1n;
    h.chain.set(140n, { status: 4 });
    await h.processor.onLogs([event("JobRefunded", { jobId: 140n, amount: 0n, noQuorum: true })]);
    await h.settle();
    expect(state(h, 140n)).to.equal("refunded");
    expect(served(), "the waiting job took the stake").to.deep.equal([140n, 141n]);
  });
});
