import { expect } from "chai";
import { encodeAbiParameters, encodeEventTopics, getAddress, keccak256, toHex, type Address, type Hex } from "viem";
import { WorkerCrashedError } from "../../node/inference/errors.ts";
import { ContentUnavailableError } from "../../node/ipfs/errors.ts";
import { TxNotConfirmedError, TxRevertedError, TxWouldRevertError } from "../../node/chain/tx-sender.ts";
import { finalizeStagger, spreadDelayMs } from "../../node/jobs/processor-options.ts";
import {
  event,
  fakeBatcher,
  harness,
  INPUT,
  journalJob,
  makeJob,
  MARKET,
  marketAbi,
  OTHER,
  PROVIDER,
  requested,
  type Harness,
} from "../helpers/fake-runner-deps.ts";
import type { Job } from "../../node/attest/attestation.ts";
import { until } from "../helpers/until.ts";
import { jobOfWords, type JobWords } from "../../node/attest/job-words.ts";
import { loopRankOf } from "../../node/jobs/processor-base.ts";
import type { JobRecord } from "../../node/journal/journal.ts";

/** In-memory fakes change within milliseconds: poll them often. */
const FAKES = { timeoutMs: 10_000, intervalMs: 5 };

const ME = getAddress(PROVIDER.address);
const K3 = { redundancy: 3, quorum: 2, collateral: 1n };

/** Lets a fake call block until the test releases it. */
function latch() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/** Holds every run of the harness's executor until `open()` (the compute slots busy in a burst); `running()`: runs entered. */
function holdRuns(h: Harness) {
  const { opened, open } = latch();
  const run = h.executor.run;
  let entered = 0;
  h.executor.run = async (...args: Parameters<typeof run>) => {
    entered++;
    await opened;
    return run(...args);
  };
  return { open, running: () => entered };
}

describe("job processor (fakes: chain, sender, IPFS, executor)", function () {
  let h: Harness;
  /** Job `id`'s JobSettled event, on the result this runner computed for it. */
  const settledOnOurs = (id: bigint, agreeing: number) =>
    event("JobSettled", { jobId: id, resultHash: h.journal.getJob(id)!.resultHash, agreeing, clientRefund: 0n });
  /** k = 1 job `id` computed and submitted, the chain showing it delivered by this runner (its window open). */
  const deliveredByUs = async (id: bigint, job: Job) => {
    await h.processor.onLogs([requested(id, job)]);
    await h.settle();
    h.chain.set(id, { status: 5, revealStartedAt: h.chain.time });
    await h.processor.onLogs([
      event("ResultSubmitted", { jobId: id, provider: ME, resultHash: h.journal.getJob(id)!.resultHash }),
    ]);
    await h.settle();
  };
  const closed = new WeakSet<Harness>();
  afterEach(async function () {
    if (!h || closed.has(h)) return; // a test that made none
    closed.add(h);
    await h.processor.stop();
    h.journal.close();
  });

  it("lets the event loop turn while it journals a large block of events", async function () {
    h = harness();
    const logs = Array.from({ length: 200 }, (_, i) => requested(BigInt(1_000 + i), makeJob(), { block: 7 }));
    let journaledAtTurn = -1;
    setImmediate(() => (journaledAtTurn = Object.values(h.journal.countByState()).reduce((a, b) => a + b, 0)));
    await h.processor.onLogs(logs);
    expect(journaledAtTurn, "jobs journaled when the loop first turned").to.be.within(1, 199);
    await h.settle();
  });

  it("k = 1: a result mined in a block that a reorg drops before its ResultSubmitted event is taken in: the job is taken back and its submit confirmed again on the new chain", async function () {
    h = harness();
    h.sender.blockNumber = 20n;
    await h.processor.onLogs([requested(1n, makeJob())]);
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
    expect(h.journal.getJob(1n)!.factsBlock, "the submit's receipt is a fact of the job's").to.equal(20);
    h.processor.rewound(h.journal.rewindTo(15));
    expect(h.journal.getJob(1n)!.state).to.equal("computed");
    expect(h.journal.txsFor(1n, "submit").map((t) => t.status)).to.deep.equal(["sent"]);
  });

  it("k = 1: computes, submits once, claims its fee once the challenge window passed, and is paid when the claim lands", async function () {
    h = harness();
    const job = makeJob({ challengeWindow: 30 });
    await h.processor.onLogs([requested(1n, job)]);
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
    const resultHash = h.journal.getJob(1n)!.resultHash!;
    h.chain.set(1n, { status: 5, revealStartedAt: h.chain.time });
    await h.processor.onLogs([event("ResultSubmitted", { jobId: 1n, provider: ME, resultHash })]);
    await h.settle();
    // Inside the window nothing is claimed (the market would skip it) and the job is not paid yet.
    expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
    h.chain.time += 31;
    h.clock.now += 60_000;
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["submitResult", "claim"]);
    const claim = h.sender.sent[1]!.args[0] as { jobId: bigint; provider: Address; resultHash: Hex }[];
    expect(claim.map((c) => [c.jobId, c.provider, c.resultHash])).to.deep.equal([[1n, ME, resultHash]]);
    h.chain.set(1n, { status: 3 });
    await h.processor.onLogs([event("DeliveryClaimed", { jobId: 1n, provider: ME, fee: job.feePerProvider })]);
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("paid");
    expect(h.journal.paidTokens()).to.have.length(1);
    expect(h.sender.kinds()).to.deep.equal(["submitResult", "claim"]); // claimed once
  });

  it("k = 1 (issue 14): a delivery of ours makes no read before its challenge window, counted from its request, has passed; then one read, and the claim", async function () {
    h = harness();
    const job = makeJob({ challengeWindow: 30 }); // requested at 1,000: no claim before 1,031
    await h.processor.onLogs([requested(1n, job)]);
    await h.settle();
    const reads = h.chain.reads.jobState;
    h.chain.set(1n, { status: 5, revealStartedAt: h.chain.time });
    await h.processor.onLogs([
      event("ResultSubmitted", { jobId: 1n, provider: ME, resultHash: h.journal.getJob(1n)!.resultHash }),
    ]);
    await h.settle();
    for (let i = 0; i < 6; i++) {
      h.chain.time += 5;
      h.clock.now += 5_000; // the follow interval
      await h.settle();
    }
    expect(h.chain.reads.jobState).to.equal(reads);
    expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
    h.chain.time += 1; // 1,031
    h.clock.now += 60_000;
    await h.settle();
    expect(h.chain.reads.jobState).to.equal(reads + 1);
    expect(h.sender.kinds()).to.deep.equal(["submitResult", "claim"]);
  });

  it("k = 1 (chaos finding): a claim that lands skipped or reverted is sent again while the job stays delivered, at most four times", async function () {
    h = harness();
    const job = makeJob({ challengeWindow: 30 });
    await deliveredByUs(1n, job);
    h.chain.time += 31;
    // Each claim lands and is skipped (the market still says Delivered): the runner claims again.
    for (let i = 1; i <= 12; i++) {
      h.clock.now += 10_000;
      await h.settle();
    }
    expect(h.sender.kinds().filter((k) => k === "claim")).to.have.length(4);
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
    h.chain.set(1n, { status: 3 });
    await h.processor.onLogs([event("DeliveryClaimed", { jobId: 1n, provider: ME, fee: job.feePerProvider })]);
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("paid");
  });

  it("k = 1 (chaos finding): a claim the chain shows settled is not taken as paid before its DeliveryClaimed is scanned; reorged out and skipped when mined again, the job is claimed again", async function () {
    // Chaos run on f938635, job 420: the claim was mined, a read at the head said Settled and the
    // job ended "paid"; a reorg then dropped the claim's block before the scan took its event. On
    // the new chain the claim came a second too early (ClaimSkipped), so the job stayed delivered
    // on chain while the journal said paid, and nobody claimed it.
    h = harness();
    const job = makeJob({ challengeWindow: 30 });
    await deliveredByUs(1n, job);
    h.chain.time += 31;
    h.clock.now += 60_000;
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["submitResult", "claim"]);
    // The claim is mined: a read at the head says Settled, but the block's events are not scanned yet.
    h.chain.set(1n, { status: 3 });
    h.clock.now += 60_000;
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
    // The reorg: the claim's block is gone, and the claim mined again on the new chain was skipped.
    // (Its ResultSubmitted, in block 11, is below the fork.)
    h.journal.rewindTo(11);
    h.chain.set(1n, { status: 5 });
    h.clock.now += 60_000;
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["submitResult", "claim", "claim"]);
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
    h.chain.set(1n, { status: 3 });
    await h.processor.onLogs([event("DeliveryClaimed", { jobId: 1n, provider: ME, fee: job.feePerProvider })]);
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("paid");
  });

  it("k = 1 (chaos finding): a delivery whose ResultSubmitted the journal lost (a reorg) is read from the chain, then claimed", async function () {
    h = harness();
    await h.processor.onLogs([requested(1n, makeJob({ challengeWindow: 30 }))]);
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
    expect(h.journal.getJob(1n)!.deliveredBy).to.equal(null);
    h.chain.set(1n, { status: 5, revealStartedAt: h.chain.time });
    h.chain.deliveries.set(1n, { provider: ME, resultHash: h.journal.getJob(1n)!.resultHash! });
    h.chain.time += 31;
    h.clock.now += 10_000;
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["submitResult", "claim"]);
    expect(h.journal.getJob(1n)!.deliveredBy).to.equal(ME);
  });

  it("k = 1 (chaos finding): a computed job the chain shows delivered, with no event or transaction of ours in the journal, is read from the chain and claimed, not left waiting", async function () {
    // A runner killed between its batch landing and the journal noting it, whose ResultSubmitted
    // was then dropped by a reorg's rescan: the job stayed "computed" and its fee was never claimed.
    h = harness();
    const job = makeJob({ challengeWindow: 30 });
    const computedHash = keccak256(toHex("our result"));
    // The chain moves on while the jobs compute: 1 delivered by us, 2 by another, 3 refunded.
    const run = h.executor.run;
    h.executor.run = async (...args) => {
      const out = await run(...args);
      h.chain.set(1n, { status: 5, revealStartedAt: h.chain.time });
      h.chain.deliveries.set(1n, { provider: ME, resultHash: computedHash });
      h.chain.set(2n, { status: 5, revealStartedAt: h.chain.time });
      h.chain.deliveries.set(2n, { provider: getAddress(OTHER), resultHash: computedHash });
      h.chain.set(3n, { status: 4 });
      return out;
    };
    await h.processor.onLogs([requested(1n, job), requested(2n, job), requested(3n, job)]);
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
    expect(h.journal.getJob(1n)!.deliveredBy).to.equal(ME);
    expect(h.journal.getJob(2n)!.state).to.equal("lost");
    expect(h.journal.getJob(3n)!.state).to.equal("expired");
    h.chain.time += 31;
    h.clock.now += 60_000;
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["claim"]);
  });

  it("k = 1: a challenged delivery waits for its jury; upheld it is paid, found wrong it ends slashed, with no claim sent", async function () {
    h = harness();
    await h.processor.onLogs([
      requested(1n, makeJob({ challengeWindow: 30 })),
      requested(2n, makeJob({ challengeWindow: 30 })),
    ]);
    await h.settle();
    for (const id of [1n, 2n]) {
      h.chain.set(id, { status: 6 });
      await h.processor.onLogs([
        event("ResultSubmitted", { jobId: id, provider: ME, resultHash: h.journal.getJob(id)!.resultHash }),
      ]);
    }
    h.chain.time += 1_000;
    h.clock.now += 60_000;
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
    h.chain.set(1n, { status: 3 }); // ProviderRight (or Inconclusive): settled, the fee credited
    h.chain.set(2n, { status: 4 }); // ProviderWrong: refunded to the client, our collateral seized
    h.chain.slashed.add(2n);
    await h.processor.onLogs([
      event("ChallengeResolved", { jobId: 1n, outcome: 1 }),
      event("ChallengeResolved", { jobId: 2n, outcome: 0 }),
    ]);
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("paid");
    expect(h.journal.getJob(2n)!.state).to.equal("slashed");
    expect(h.sender.kinds()).to.deep.equal(["submitResult", "submitResult"]);
  });

  it("a job on a version the DAO retired after its request is still served (the market pays for it), not skipped", async function () {
    h = harness();
    h.chain.accepting = false;
    await h.processor.onLogs([requested(1n, makeJob())]);
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
    expect(h.journal.getJob(1n)!.state).to.equal("submitted");
  });

  it("a job its client cancelled ends 'refunded' at its JobCancelled", async function () {
    h = harness();
    h.chain.set(1n, { status: 1 });
    const job = makeJob();
    job.redundancy = 3;
    await h.processor.onLogs([requested(1n, job)]);
    await h.settle();
    h.chain.set(1n, { status: 4 });
    await h.processor.onLogs([event("JobCancelled", { jobId: 1n, refund: 1n })]);
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("refunded");
  });

  it("finding 1: a reorg that swaps the job id during compute drops the old result; the new job is served with its own parameters", async function () {
    h = harness();
    const gate = latch();
    const run = h.executor.run;
    let calls = 0;
    h.executor.run = async (...args) => {
      if (calls++ === 0) await gate.opened; // the old job's run hangs until the reorg landed
      return run(...args);
    };
    const oldJob = makeJob({ feePerProvider: 10n });
    const newJob = makeJob({ feePerProvider: 20n });
    await h.processor.onLogs([requested(7n, oldJob)]);
    await new Promise((r) => setTimeout(r, 20));
    await h.processor.onLogs([requested(7n, newJob, { blockHash: `0x${"0c".repeat(32)}` })]);
    gate.open();
    await h.settle();
    const submits = h.sender.sent.filter((t) => t.functionName === "submitResult");
    expect(submits).to.have.length(1);
    expect(jobOfWords(submits[0]!.args[1] as JobWords).feePerProvider).to.equal(20n);
  });

  it("finding 2: a mined commit whose receipt does not show the seat waits for SeatCommitted instead of ending lost, then reveals", async function () {
    h = harness();
    const job = makeJob(K3);
    await h.processor.onLogs([requested(2n, job)]);
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["commit"]);
    expect(h.journal.getJob(2n)!.state).to.equal("computed"); // not "lost"
    h.chain.set(2n, { seated: 3, status: 2 });
    await h.processor.onLogs([
      event("SeatCommitted", { jobId: 2n, provider: ME, seat: 1, commitment: "0x" }),
      event("RevealStarted", { jobId: 2n, revealDeadline: 1_240 }),
    ]);
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["commit", "reveal"]);
    expect(h.journal.getJob(2n)!.state).to.equal("revealed");
    h.chain.set(2n, { status: 3 });
    await h.processor.onLogs([settledOnOurs(2n, 3)]);
    await h.settle();
    expect(h.journal.getJob(2n)!.state).to.equal("paid");
  });

  it("issue 14: a reveal resumed from the journal waits for its receipt without a slot, and no step waiting on reveals takes the last one", async function () {
    // One step slot. Job 2 holds a seat and a reveal already sent (a restart in a burst); job 3
    // is about to commit, and commits wait until every reveal holds its nonce (revealsFirst).
    h = harness({ maxConcurrentSteps: 1 });
    await h.processor.onLogs([requested(2n, makeJob(K3))]);
    await h.settle();
    h.chain.set(2n, { status: 1, seated: 1 });
    await h.processor.onLogs([event("SeatCommitted", { jobId: 2n, provider: ME, seat: 0, commitment: "0x" })]);
    await h.settle();
    expect(h.journal.getJob(2n)!.state).to.equal("committed");
    const hash = keccak256(toHex("reveal-sent-before-restart"));
    h.journal.recordTx({ jobId: 2n, kind: "reveal", nonce: 100, hash, raw: "0x00" });
    h.journal.setTxStatus(hash, "sent");
    let mine!: () => void;
    const mined = new Promise<void>((r) => (mine = r));
    h.sender.onResume = async () => {
      await mined;
      return [];
    };
    h.chain.set(2n, { status: 2, seated: 3, revealStartedAt: h.chain.time });
    await h.processor.onLogs([
      event("RevealStarted", { jobId: 2n, revealDeadline: 1_240 }),
      requested(3n, makeJob(K3)),
    ]);
    // While the reveal waits for its receipt, job 3 takes the slot and commits.
    await until(
      "job 3's commit",
      () => h.sender.sent.some((t) => t.functionName === "commit" && t.req.jobId === 3n),
      FAKES,
    );
    mine();
    await until("job 2 revealed", () => h.journal.getJob(2n)!.state === "revealed", FAKES);
    expect(h.sender.resumed.map((t) => t.hash)).to.deep.equal([hash]);
  });

  describe("issue 14: a commit waits for the k = 1 results already in a delivery batch (it takes no nonce before them)", function () {
    /** A batcher whose deliveries are mined when the test says (`mine`). */
    function heldBatcher() {
      const handed: bigint[] = [];
      const committed: bigint[] = [];
      const { opened, open } = latch();
      const batcher = fakeBatcher({
        deliver: async (item) => {
          handed.push(item.jobId);
          await opened;
          return {
            delivered: true,
            transactionHash: `0x${"ab".repeat(32)}`,
            blockNumber: 7n,
            batchSize: handed.length,
          };
        },
        claim: () => new Promise(() => undefined),
        commit: async (item) => {
          committed.push(item.jobId);
          await opened;
          return { done: true, transactionHash: `0x${"cd".repeat(32)}`, blockNumber: 8n, seat: 0, startsReveal: false };
        },
      });
      return { batcher, handed, committed, mine: open };
    }

    it("the commit goes once the batch is mined", async function () {
      const { batcher, handed, committed, mine } = heldBatcher();
      const commits = () => committed.length;
      h = harness({ batcher, followIntervalMs: 600_000 });
      try {
        await h.processor.onLogs([requested(70n, makeJob())]);
        await until("job 70's result in the batch", () => handed.includes(70n), FAKES);
        await h.processor.onLogs([requested(71n, makeJob(K3))]);
        await until("job 71 computed", () => h.journal.getJob(71n)!.state === "computed", FAKES);
        // Its commit waits now: many turns of the loop, no commit.
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
        expect(commits(), "commits before the batch is mined").to.equal(0);
      } finally {
        mine(); // the harness's stop waits for it
      }
      await until("job 71's commit", () => commits() === 1, FAKES);
      expect(h.journal.getJob(70n)!.state).to.equal("submitted");
      // The batch's block is a fact of the job's: a reorg that drops it takes the job back.
      expect(h.journal.getJob(70n)!.factsBlock).to.equal(7);
    });

    it("chaos seed 11 (burst): jobs decided at once take no more collateral than the free stake covers; the rest wait for it", async function () {
      const { batcher, handed, mine } = heldBatcher();
      h = harness({ batcher, followIntervalMs: 5_000 });
      h.chain.freeStake = 10n;
      const job = makeJob({ collateral: 5n });
      try {
        await h.processor.onLogs([requested(80n, job), requested(81n, job), requested(82n, job)]);
        await until("two results in the batch", () => handed.length >= 2, FAKES);
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
        expect(handed, "the third job's collateral is not covered while the two are in flight").to.deep.equal([
          80n,
          81n,
        ]);
        expect(h.journal.getJob(82n)!.state).to.equal("seen");
      } finally {
        mine();
      }
      await until("the two mined", () => h.journal.getJob(81n)!.state === "submitted", FAKES);
      h.chain.freeStake = 0n; // the chain holds their collateral now
      h.clock.now += 5_000;
      await h.settle();
      expect(handed).to.have.length(2);
      h.chain.freeStake = 5n; // one was claimed: its collateral came free
      h.clock.now += 5_000;
      await h.settle();
      expect(handed).to.deep.equal([80n, 81n, 82n]);
    });

    it("a batch that is not mined holds the commit for the follow interval at most", async function () {
      const { batcher, handed, committed, mine } = heldBatcher();
      const commits = () => committed.length;
      h = harness({ batcher, followIntervalMs: 50 });
      try {
        await h.processor.onLogs([requested(72n, makeJob())]);
        await until("job 72's result in the batch", () => handed.includes(72n), FAKES);
        await h.processor.onLogs([requested(73n, makeJob(K3))]);
        await until("job 73's commit", () => commits() === 1, FAKES);
        expect(h.journal.getJob(72n)!.state, "the result still in its batch").to.equal("computed");
      } finally {
        mine(); // the harness's stop waits for it
      }
    });
  });

  describe("issue 11: a seat's outcome in the journal is the chain's (SeatSlashed), not inferred", function () {
    /** Takes job `id` to "committed" (seat 0), the chain still open with one seat taken. */
    async function committed(id: bigint): Promise<void> {
      await h.processor.onLogs([requested(id, makeJob(K3))]);
      await h.settle();
      h.chain.set(id, { status: 1, seated: 1 });
      await h.processor.onLogs([event("SeatCommitted", { jobId: id, provider: ME, seat: 0, commitment: "0x" })]);
      await h.settle();
      expect(h.journal.getJob(id)!.state).to.equal("committed");
    }

    /** Takes job `id` to "revealed", the chain in its reveal phase. */
    async function revealed(id: bigint): Promise<void> {
      await h.processor.onLogs([requested(id, makeJob(K3))]);
      await h.settle();
      h.chain.set(id, { seated: 3, status: 2 });
      await h.processor.onLogs([
        event("SeatCommitted", { jobId: id, provider: ME, seat: 1, commitment: "0x" }),
        event("RevealStarted", { jobId: id, revealDeadline: 1_240 }),
      ]);
      await h.settle();
      expect(h.journal.getJob(id)!.state).to.equal("revealed");
    }

    it("an unrevealed seat of a refunded job is 'slashed' only when a SeatSlashed names us; otherwise 'refunded'", async function () {
      h = harness();
      await committed(41n);
      await committed(42n);
      // 41: the chain holds no SeatSlashed for us (e.g. a reorg replaced our seat): not slashed.
      // 42: the chain slashed our silent seat.
      h.chain.slashed.add(42n);
      h.chain.set(41n, { status: 4 });
      h.chain.set(42n, { status: 4 });
      await h.processor.onLogs([
        event("JobRefunded", { jobId: 41n, amount: 1n, noQuorum: true }),
        event("JobRefunded", { jobId: 42n, amount: 1n, noQuorum: true }),
      ]);
      await h.settle();
      expect(h.journal.getJob(41n)!.state).to.equal("refunded");
      expect(h.journal.getJob(42n)!.state).to.equal("slashed");
      expect(h.journal.getJob(42n)!.reason).to.match(/not revealed/);
    });

    it("a revealed seat is 'paid' when its hash won (no event read), 'slashed' when a SeatSlashed names it, 'refunded' without a quorum", async function () {
      h = harness();
      await revealed(43n);
      await revealed(44n);
      await revealed(45n);
      h.chain.slashed.add(44n);
      for (const id of [43n, 44n]) h.chain.set(id, { status: 3 });
      h.chain.set(45n, { status: 4 });
      const reads = h.chain.reads.seatSlashed;
      await h.processor.onLogs([settledOnOurs(43n, 2)]);
      await h.settle();
      expect(h.journal.getJob(43n)!.state).to.equal("paid");
      expect(h.chain.reads.seatSlashed).to.equal(reads);
      await h.processor.onLogs([
        event("JobSettled", { jobId: 44n, resultHash: `0x${"77".repeat(32)}`, agreeing: 2, clientRefund: 0n }),
        event("JobRefunded", { jobId: 45n, amount: 1n, noQuorum: true }),
      ]);
      await h.settle();
      expect(h.journal.getJob(44n)!.state).to.equal("slashed");
      expect(h.journal.getJob(44n)!.reason).to.match(/differed/);
      expect(h.journal.getJob(45n)!.state).to.equal("refunded");
      expect(h.journal.paidTokens()).to.have.length(1);
    });

    /**
     * Job `id` revealed and paid, then a reorg rewinds its settlement (block 20) but not our seat
     * and reveal (block 11): the journal forgets them (rewindTo), the chain still holds them.
     */
    async function paidThenRewound(id: bigint): Promise<Hex> {
      await revealed(id);
      const ours = h.journal.getJob(id)!.resultHash!;
      h.chain.set(id, { status: 3 });
      await h.processor.onLogs([{ ...settledOnOurs(id, 3), blockNumber: 20n }]);
      await h.settle();
      expect(h.journal.getJob(id)!.state).to.equal("paid");
      h.processor.rewound(h.journal.rewindTo(15));
      const rec = h.journal.getJob(id)!;
      expect([rec.state, rec.seat, rec.deliveredBy]).to.deep.equal(["computed", null, null]);
      h.chain.reveals.set(id, ours);
      // The new chain holds the commit and the reveal: their receipts are looked up again.
      h.sender.onResume = () => [];
      return ours;
    }
    const reveals = () => h.sender.kinds().filter((k) => k === "reveal").length;

    it("a reorg that made the journal forget our seat and reveal while the job reveals again: the mined reveal is taken as it is (none sent again), and paid", async function () {
      h = harness();
      await paidThenRewound(47n);
      // The settling reveal was dropped: revealing again, the seats back.
      h.chain.set(47n, { status: 2 });
      h.chain.seats.set(47n, [OTHER, ME, OTHER]);
      h.processor.kick(47n);
      await h.settle();
      expect(h.journal.getJob(47n)!.state).to.equal("revealed");
      expect(reveals(), "a second reveal would revert").to.equal(1);
      h.chain.set(47n, { status: 3 });
      await h.processor.onLogs([{ ...settledOnOurs(47n, 3), blockNumber: 21n }]);
      await h.settle();
      expect(h.journal.getJob(47n)!.state).to.equal("paid");
    });

    it("chaos seed 23: a reorg moved our seat, and the new chain mined our reveal again for the old seat, where it reverted: the job reveals again for its new seat (it was taken as revealed, and the seat slashed)", async function () {
      h = harness();
      await paidThenRewound(49n);
      h.chain.reveals.delete(49n);
      h.chain.set(49n, { status: 2 });
      h.chain.seats.set(49n, [OTHER, OTHER, ME]);
      h.sender.onResume = (tx) => {
        if (tx.kind !== "reveal") return [];
        h.journal.setTxStatus(tx.hash, "reverted"); // as the real sender records a reverted receipt
        throw new TxRevertedError(`reveal transaction ${tx.hash} reverted`);
      };
      h.processor.kick(49n);
      await h.settle();
      h.clock.now += 60_000; // past the failed step's retry
      await h.settle();
      const again = h.sender.sent.filter((t) => t.functionName === "reveal");
      expect(
        again.map((t) => t.args[2]),
        "one reveal before the reorg, one for the new seat",
      ).to.deep.equal([1, 2]);
      expect(h.journal.getJob(49n)!.state).to.equal("revealed");
    });

    it("a reveal mined in a block that a reorg drops before its ResultRevealed event is taken in: the job is taken back and its reveal confirmed again on the new chain", async function () {
      h = harness();
      h.sender.blockNumber = 20n;
      await revealed(50n);
      expect(
        h.journal.getJob(50n)!.factsBlock,
        "the reveal's receipt is a fact of the job's (the seat's event, block 11, is older than the reorg)",
      ).to.be.at.least(20);
      h.processor.rewound(h.journal.rewindTo(15));
      expect(h.journal.getJob(50n)!.state).to.equal("computed");
      expect(h.journal.txsFor(50n, "reveal").map((t) => t.status)).to.deep.equal(["sent"]);
    });

    it("chaos seed 11: a job settled on our revealed hash while the journal had forgotten the reveal is 'paid', not 'lost'", async function () {
      h = harness();
      const ours = await paidThenRewound(48n);
      // The new chain settles it again (which clears the seats) before the job is looked at.
      await h.processor.onLogs([
        { ...event("JobSettled", { jobId: 48n, resultHash: ours, agreeing: 3, clientRefund: 0n }), blockNumber: 21n },
      ]);
      await h.settle();
      expect(h.journal.getJob(48n)!.state).to.equal("paid");
      expect(reveals()).to.equal(1);
    });

    it("a seat outvoted on a settled job but not slashed on the chain ends 'lost', never 'slashed'", async function () {
      h = harness();
      await revealed(46n);
      h.chain.set(46n, { status: 3 });
      await h.processor.onLogs([
        event("JobSettled", { jobId: 46n, resultHash: `0x${"77".repeat(32)}`, agreeing: 2, clientRefund: 0n }),
      ]);
      await h.settle();
      expect(h.journal.getJob(46n)!.state).to.equal("lost");
    });
  });

  it("chaos seed 11 (burst): a job our free stake cannot cover yet waits for stake instead of being given up, and is served once it comes free", async function () {
    h = harness();
    h.chain.freeStake = 0n;
    await h.processor.onLogs([requested(90n, makeJob({ collateral: 5n }))]);
    await h.settle();
    h.clock.now += 5_000; // the follow interval: looked at again, still short
    await h.settle();
    expect(h.journal.getJob(90n)!.state).to.equal("seen");
    expect(h.sender.kinds()).to.deep.equal([]);
    h.chain.freeStake = 5n; // another job's collateral came free
    h.clock.now += 5_000;
    await h.settle();
    expect(h.journal.getJob(90n)!.state).to.equal("submitted");
  });

  it("after a restart, jobs the previous process took and had not locked hold their collateral: a new job waits for stake instead of over-committing it", async function () {
    h = harness();
    h.chain.freeStake = 0n;
    const job = makeJob({ collateral: 5n });
    await h.processor.onLogs([requested(80n, job), requested(81n, job)]);
    await h.settle();
    // What a process killed right after computing both leaves: two results not sent yet.
    for (const id of [80n, 81n]) {
      const patch = { state: "computed" as const, resultHash: keccak256(toHex(`r${id}`)), outputRef: "0x01" as Hex };
      expect(
        h.journal.updateJob(id, h.journal.getJob(id)!, { ...patch, nextAttemptAt: h.clock.now + 60_000 }),
      ).to.equal(true);
    }
    await h.processor.stop();
    h.journal.close();
    h = harness({}, h.dir);
    h.chain.freeStake = 10n; // the chain locked neither: its free stake covers the two, no more
    await h.processor.onLogs([requested(82n, job)]);
    await h.settle();
    expect(h.journal.getJob(82n)!.state, "the two taken jobs hold the free stake").to.equal("seen");
    expect(h.sender.sent).to.have.length(0);
    for (let i = 0; i < 4; i++) {
      h.clock.now += 30_000;
      await h.settle();
    }
    expect(h.sender.sent.map((t) => t.args[0])).to.deep.equal([80n, 81n, 82n]);
  });

  it("a reorg that drops our mined result takes its collateral back into the reservations: a new job cannot take the stake the job will lock again", async function () {
    h = harness();
    h.chain.freeStake = 5n;
    const job = makeJob({ collateral: 5n, challengeWindow: 30 });
    await deliveredByUs(1n, job);
    h.chain.freeStake = 0n; // the chain holds its collateral
    h.clock.now += 5_000; // long past any read that could predate the lock
    // The reorg drops the result's block (11): the job is open again and the stake free.
    h.chain.set(1n, { status: 1 });
    h.chain.freeStake = 5n;
    h.processor.rewound(h.journal.rewindTo(10));
    expect(h.journal.getJob(1n)!.state).to.equal("computed");
    h.sender.onResume = () => []; // the result, broadcast again, is mined on the new chain
    // Job 2 comes before job 1's step has sent its result again (nothing ticks the processor yet).
    await h.processor.onLogs([requested(2n, job)]);
    await h.processor.idle();
    const two = h.journal.getJob(2n)!;
    expect([two.state, two.nextAttemptAt > h.clock.now], "job 2 waits for the stake job 1 will lock").to.deep.equal([
      "seen",
      true,
    ]);
    expect(h.sender.sent.filter((t) => t.args[0] === 2n)).to.have.length(0);
    h.clock.now += 60_000;
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.not.equal("computed");
  });

  it("chaos seed 11 (burst): a result the chain refuses for want of free stake waits for stake and is sent once it comes free, never 'lost'", async function () {
    h = harness();
    let short = true;
    h.sender.onSend = () => {
      if (short) throw new TxWouldRevertError("submit would revert", "ProviderRegistryInsufficientFreeStake");
      return [];
    };
    await h.processor.onLogs([requested(91n, makeJob())]);
    await h.settle();
    for (let i = 0; i < 5; i++) {
      h.clock.now += 5_000;
      await h.settle();
    }
    expect(h.journal.getJob(91n)!.state).to.equal("computed");
    short = false;
    h.clock.now += 5_000;
    await h.settle();
    expect(h.journal.getJob(91n)!.state).to.equal("submitted");
    expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
  });

  it("finding 2: a k = 1 result the chain took from us is paid even when our own receipt was lost", async function () {
    h = harness();
    h.sender.onSend = () => {
      throw new TxWouldRevertError("submit would revert", "InferenceMarketInvalidStatus");
    };
    await h.processor.onLogs([requested(3n, makeJob())]);
    await h.settle();
    // Our submit landed although we saw no receipt for it: the event says who delivered.
    h.chain.set(3n, { status: 3 });
    await h.processor.onLogs([
      event("ResultSubmitted", { jobId: 3n, provider: ME, resultHash: `0x${"01".repeat(32)}` }),
      event("DeliveryClaimed", { jobId: 3n, provider: ME, fee: 1n }),
    ]);
    await h.settle();
    expect(h.journal.getJob(3n)!.state).to.equal("paid");
  });

  /**
   * A computed job whose own `kind` transaction reverted; while its next step reads the chain, the
   * watcher takes in `fact` (our result or seat: a batch that carried it was mined again after a
   * reorg). Returns the job once that step is done.
   */
  async function revertedWhileFactCame(
    id: bigint,
    job: Job,
    kind: "submit" | "commit",
    fact: Parameters<Harness["journal"]["noteChainFact"]>[1],
  ): Promise<JobRecord> {
    h = harness();
    journalJob(h.journal, id, job, {
      state: "computed",
      resultHash: `0x${"0c".repeat(32)}`,
      outputRef: "0x01",
      ...(kind === "submit" ? { signature: `0x${"11".repeat(65)}` } : { salt: `0x${"5a".repeat(32)}` }),
    });
    const hash = keccak256(toHex(`reverted-${id}`));
    h.journal.recordTx({ jobId: id, kind, nonce: 0, hash, raw: "0x00" });
    h.journal.setTxStatus(hash, "reverted");
    const read = h.chain.jobState.bind(h.chain);
    h.chain.jobState = async (jobId: bigint) => {
      h.journal.noteChainFact(jobId, fact, 12);
      return read(jobId);
    };
    h.processor.kick(id);
    await h.settle();
    return h.journal.getJob(id)!;
  }

  it("chaos seed 11 (burst): our submit reverted, and our result's event came while the next step ran (a batch that carried it, mined again after a reorg): submitted, not lost", async function () {
    const rec = await revertedWhileFactCame(90n, makeJob(), "submit", {
      deliveredBy: ME,
      settledHash: `0x${"0c".repeat(32)}`,
    });
    expect([rec.state, rec.reason]).to.deep.equal(["submitted", null]);
    expect(h.sender.sent, "nothing sent").to.have.length(0);
  });

  it("our commit reverted, and our seat's event came while the next step ran: committed, not lost", async function () {
    const rec = await revertedWhileFactCame(91n, makeJob(K3), "commit", { seat: 1 });
    expect([rec.state, rec.seat]).to.deep.equal(["committed", 1]);
    expect(h.sender.sent, "nothing sent").to.have.length(0);
  });

  it("finding 2: a reveal that landed although its receipt was never seen counts as revealed: paid, not 'slashed'", async function () {
    h = harness();
    await h.processor.onLogs([requested(15n, makeJob(K3))]);
    await h.settle();
    h.sender.onSend = () => {
      throw new TxWouldRevertError("reveal would revert", "InferenceMarketAlreadyRevealed");
    };
    h.chain.set(15n, { seated: 3, status: 2 });
    await h.processor.onLogs([
      event("SeatCommitted", { jobId: 15n, provider: ME, seat: 2, commitment: "0x" }),
      event("RevealStarted", { jobId: 15n, revealDeadline: 1_240 }),
    ]);
    await h.settle();
    const rec = h.journal.getJob(15n)!;
    expect(rec.state).to.equal("committed");
    h.chain.set(15n, { status: 3 });
    await h.processor.onLogs([
      event("ResultRevealed", { jobId: 15n, provider: ME, resultHash: rec.resultHash, outputRef: "0x" }),
      settledOnOurs(15n, 3),
    ]);
    await h.settle();
    expect(h.journal.getJob(15n)!.state).to.equal("paid");
  });

  it("finding 2: a commit whose receipt was lost (a reorg) is found in the seats before the job is called lost, and revealed", async function () {
    h = harness();
    h.sender.onSend = () => {
      throw new TxNotConfirmedError("nonce taken?");
    };
    await h.processor.onLogs([requested(18n, makeJob(K3))]);
    await h.settle();
    expect(h.journal.getJob(18n)!.state).to.equal("computed");
    // Meanwhile the commit did land: the seats are full and one is ours.
    h.chain.set(18n, { status: 2, seated: 3 });
    h.chain.seats.set(18n, [OTHER, ME, OTHER]);
    h.sender.onSend = () => [];
    h.clock.now = h.journal.getJob(18n)!.nextAttemptAt;
    await h.settle();
    expect(h.journal.getJob(18n)!.seat).to.equal(1);
    expect(h.sender.kinds()).to.include("reveal");
  });

  it("finding 2: a job given up as lost is taken up again when the chain shows our seat (SeatCommitted), so the seat is revealed", async function () {
    h = harness();
    h.sender.onSend = () => {
      throw new TxNotConfirmedError("nonce taken?");
    };
    await h.processor.onLogs([requested(19n, makeJob(K3))]);
    await h.settle();
    h.chain.set(19n, { status: 2, seated: 3 }); // seatOf answers nobody (a lagging backend)
    h.clock.now = h.journal.getJob(19n)!.nextAttemptAt;
    await h.settle();
    expect(h.journal.getJob(19n)!.state).to.equal("lost");
    h.sender.onSend = () => [];
    await h.processor.onLogs([event("SeatCommitted", { jobId: 19n, provider: ME, seat: 2, commitment: "0x" })]);
    await h.settle();
    expect(h.journal.getJob(19n)!.state).to.equal("revealed");
    expect(h.sender.kinds()).to.deep.equal(["reveal"]);
  });

  it("finding 5: ended jobs are not polled; settlement events mark them done without a single read", async function () {
    h = harness({ expireStaleJobs: "own" });
    h.chain.active = false; // skip every job: they all end at once
    const logs = [];
    for (let i = 1n; i <= 300n; i++) logs.push(requested(i, makeJob()));
    await h.processor.onLogs(logs);
    await h.settle();
    await h.processor.onLogs(
      Array.from({ length: 300 }, (_, i) =>
        event("ResultSubmitted", { jobId: BigInt(i + 1), provider: OTHER, resultHash: `0x${"02".repeat(32)}` }),
      ),
    );
    h.chain.time = 10_000; // long past every deadline
    const before = h.chain.reads.jobState;
    for (let t = 0; t < 5; t++) await h.processor.tick();
    expect(h.chain.reads.jobState - before).to.equal(0);
  });

  it("finding 8: the expiry service finalizes only jobs this provider sits in (unless configured for all)", async function () {
    h = harness();
    h.chain.active = false;
    await h.processor.onLogs([requested(1n, makeJob())]); // skipped: never ours
    await h.settle();
    h.chain.active = true;
    await h.processor.onLogs([requested(2n, makeJob(K3))]);
    await h.settle();
    await h.processor.onLogs([event("SeatCommitted", { jobId: 2n, provider: ME, seat: 0, commitment: "0x" })]);
    await h.settle();
    expect(h.journal.getJob(2n)!.state).to.equal("committed");
    h.chain.time = 5_000;
    await h.settle();
    const finalized = h.sender.sent.filter((t) => t.functionName === "finalize").map((t) => t.args[0]);
    expect(finalized).to.deep.equal([2n]);
    // Once done, the job is not looked at again.
    const reads = h.chain.reads.jobState;
    await h.processor.tick();
    await h.processor.tick();
    expect(h.sender.sent.filter((t) => t.functionName === "finalize")).to.have.length(1);
    expect(h.chain.reads.jobState - reads).to.be.at.most(2); // the job's own follow, not the expiry scan
  });

  it("finding 9: ended jobs are forgotten after the retention: journal rows and pinned outputs", async function () {
    const released: string[][] = [];
    h = harness({ retentionMs: 60_000, inlineOutputMaxBytes: 0 });
    h.content.release = async (cids) => void released.push(cids);
    await h.processor.onLogs([requested(1n, makeJob()), requested(2n, makeJob())]);
    await h.settle();
    for (const id of [1n, 2n]) {
      h.chain.set(id, { status: 3 }); // claimed
      await h.processor.onLogs([
        event("ResultSubmitted", { jobId: id, provider: ME, resultHash: h.journal.getJob(id)!.resultHash }),
        event("DeliveryClaimed", { jobId: id, provider: ME, fee: 1n }),
      ]);
    }
    await h.settle();
    expect(h.journal.getJob(1n)!.state).to.equal("paid");
    h.clock.now += 61_000;
    await h.processor.tick();
    expect(h.journal.getJob(1n)).to.equal(null);
    expect(h.journal.size()).to.deep.equal({ jobs: 0, txs: 0 });
    expect(released).to.deep.equal([["bafyoutput", "bafyoutput"]]);
    expect(h.journal.paidTokens()).to.have.length(1); // still withdrawn later
  });

  it("finding 8: configured for all, it finalizes jobs it never sat in, each runner at its own offset past the end", async function () {
    h = harness({ expireStaleJobs: "all" });
    h.chain.active = false;
    const job = makeJob();
    await h.processor.onLogs([requested(21n, job)]);
    await h.settle();
    const offset = finalizeStagger(21n, ME);
    h.chain.time = job.deadline + offset - 1; // not yet at its own offset
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal([]);
    h.chain.time = job.deadline + offset + 1;
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["finalize"]);
  });

  it("finding 6: an input nobody serves is retried with growing backoff, and the job ends at its deadline", async function () {
    h = harness();
    h.content.get = async () => {
      throw new ContentUnavailableError("nobody has it");
    };
    const cid = "bafyinput";
    await h.processor.onLogs([requested(4n, makeJob({ inputHash: keccak256(toHex(cid)) }), { inputCid: cid })]);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await h.settle();
      const rec = h.journal.getJob(4n)!;
      expect(rec.state).to.equal("accepted");
      delays.push(rec.nextAttemptAt - h.clock.now);
      h.clock.now = rec.nextAttemptAt;
    }
    for (let i = 1; i < delays.length; i++) expect(delays[i]!).to.be.greaterThan(delays[i - 1]! * 1.1);
    expect(h.journal.getJob(4n)!.attempts).to.equal(5);
    h.chain.time = makeJob().deadline; // the chain passed the deadline: no more retries
    await h.settle();
    expect(h.journal.getJob(4n)!.state).to.equal("expired");
    expect(h.sender.sent).to.have.length(0);
  });

  it("finding 6: the retry count survives a restart (a new processor on the same journal)", async function () {
    h = harness();
    h.content.get = async () => {
      throw new ContentUnavailableError("nobody has it");
    };
    const cid = "bafyinput";
    await h.processor.onLogs([requested(4n, makeJob({ inputHash: keccak256(toHex(cid)) }), { inputCid: cid })]);
    await h.settle();
    await h.processor.stop();
    h.journal.close();
    const again = harness({}, h.dir);
    h = again;
    h.content.get = async () => {
      throw new ContentUnavailableError("nobody has it");
    };
    h.clock.now = h.journal.getJob(4n)!.nextAttemptAt;
    await h.settle();
    expect(h.journal.getJob(4n)!.attempts).to.equal(2);
  });

  it("lifecycle: the shutdown signal cancels an input fetch in flight, stop waits for it, and the journal keeps the step as it was", async function () {
    const shutdown = new AbortController();
    h = harness({ signal: shutdown.signal });
    let fetching: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (fetching = resolve));
    h.content.get = (_cid, opts) =>
      new Promise((_resolve, reject) => {
        fetching();
        opts?.signal?.addEventListener("abort", () => reject(new ContentUnavailableError("aborted")), { once: true });
      });
    const cid = "bafyinput";
    await h.processor.onLogs([requested(4n, makeJob({ inputHash: keccak256(toHex(cid)) }), { inputCid: cid })]);
    await started;
    const before = h.journal.getJob(4n)!;
    shutdown.abort();
    await h.processor.stop();
    const after = h.journal.getJob(4n)!;
    expect(after.state).to.equal("accepted");
    expect(after.attempts).to.equal(before.attempts);
    expect(after.nextAttemptAt).to.equal(before.nextAttemptAt);
  });

  it("finding 6: an input that crashes the worker twice ends the job failed", async function () {
    h = harness();
    h.executor.run = async () => {
      throw new WorkerCrashedError("worker died");
    };
    await h.processor.onLogs([requested(5n, makeJob())]);
    await h.settle();
    h.clock.now = h.journal.getJob(5n)!.nextAttemptAt;
    await h.settle();
    const rec = h.journal.getJob(5n)!;
    expect(rec.state).to.equal("failed");
    expect(h.sender.sent).to.have.length(0);
  });

  it("finding 13: input and weight fetches happen inside the compute slots", async function () {
    h = harness({ maxConcurrentJobs: 1 });
    const cid = "bafyinput";
    const logs = [];
    for (let i = 1n; i <= 6n; i++)
      logs.push(requested(i, makeJob({ inputHash: keccak256(toHex(cid)) }), { inputCid: cid }));
    await h.processor.onLogs(logs);
    await h.settle();
    expect(h.content.gets).to.have.length(6);
    expect(h.content.maxConcurrent).to.equal(1);
  });

  it("issue 14: a run waiting for a worker holds no compute slot; the inputs at the executor stay within maxConcurrentJobs × maxInputBytes", async function () {
    const inputBytes = (INPUT.length - 2) / 2;
    // One compute slot; room at the executor for two inputs.
    h = harness({ maxConcurrentJobs: 1, maxInputBytes: 2 * inputBytes });
    const { open, running } = holdRuns(h);
    const cid = "bafyinput";
    const logs = [];
    for (let i = 1n; i <= 4n; i++)
      logs.push(requested(i, makeJob({ inputHash: keccak256(toHex(cid)) }), { inputCid: cid }));
    await h.processor.onLogs(logs);
    // Two runs at the executor with one slot: the first run let the second job fetch. The third
    // job fetched its input in the slot and waits for room; the fourth waits for the slot.
    await until(
      "two runs at the executor and a third input fetched",
      () => running() === 2 && h.content.gets.length === 3,
      FAKES,
    );
    await new Promise((r) => setTimeout(r, 50));
    expect([running(), h.content.gets.length]).to.deep.equal([2, 3]);
    open();
    await h.settle();
    expect(h.executor.runs).to.equal(4);
    expect(h.content.maxConcurrent).to.equal(1);
    expect(h.sender.kinds()).to.deep.equal(["submitResult", "submitResult", "submitResult", "submitResult"]);
  });

  it("finding 13: a backfill prefetches only the newest activation of a model, and nothing when prefetch is off", async function () {
    h = harness();
    const acts = [1, 2, 3].map((v) => event("VersionActivated", { modelId: `0x${"cd".repeat(32)}`, version: v }));
    await h.processor.onLogs(acts);
    await until("the prefetch", () => h.models.ensured.length > 0, FAKES);
    await new Promise((r) => setTimeout(r, 20));
    expect(h.models.ensured).to.deep.equal([`0x${"cd".repeat(32)}-3`]);
    await h.processor.stop();
    h.journal.close();
    h = harness({ prefetch: false });
    await h.processor.onLogs(acts);
    await new Promise((r) => setTimeout(r, 20));
    expect(h.models.ensured).to.deep.equal([]);
  });

  it("finding 15: an inline input that does not hash to the job's inputHash is refused, nothing computed or sent", async function () {
    h = harness();
    await h.processor.onLogs([requested(6n, makeJob({ inputHash: `0x${"99".repeat(32)}` as Hex }))]);
    await h.settle();
    expect(h.journal.getJob(6n)!.state).to.equal("failed");
    expect(h.executor.runs).to.equal(0);
    expect(h.sender.sent).to.have.length(0);
  });

  it("finding 14: the runner abstains when an output lies near a quantization boundary", async function () {
    h = harness({ abstain: () => "y[1] lies within ε of a rounding boundary" });
    await h.processor.onLogs([requested(8n, makeJob(K3))]);
    await h.settle();
    expect(h.journal.getJob(8n)!.state).to.equal("skipped");
    expect(h.sender.sent).to.have.length(0);
  });

  it("reveal safety: no commit when the commit deadline or the reveal window leaves no margin", async function () {
    h = harness({ commitMarginSeconds: 10, revealMarginSeconds: 60 });
    h.chain.time = 1_115;
    await h.processor.onLogs([requested(9n, makeJob(K3))]); // commit deadline 1120: 5 s left
    await h.processor.onLogs([requested(10n, makeJob({ ...K3, commitDeadline: 2_000, revealWindow: 30 }))]);
    await h.settle();
    expect(h.journal.getJob(9n)!.state).to.equal("skipped");
    expect(h.journal.getJob(10n)!.state).to.equal("skipped");
    expect(h.sender.sent).to.have.length(0);
  });

  it("reveals go before new commits: a commit waits while a reveal is taking its nonce", async function () {
    h = harness();
    h.sender.queueBeforeMined = false; // the reveal is still being estimated and signed
    const revealSent = latch();
    h.sender.onSend = async (tx) => {
      if (tx.functionName === "reveal") await revealSent.opened;
      return [];
    };
    await h.processor.onLogs([requested(11n, makeJob(K3))]);
    await h.settle();
    h.chain.set(11n, { seated: 3, status: 2 });
    await h.processor.onLogs([
      event("SeatCommitted", { jobId: 11n, provider: ME, seat: 0, commitment: "0x" }),
      event("RevealStarted", { jobId: 11n, revealDeadline: 1_240 }),
    ]);
    await until("the reveal being sent", () => h.sender.kinds().includes("reveal"), FAKES);
    await h.processor.onLogs([requested(12n, makeJob(K3))]);
    await until("job 12 computed", () => h.journal.getJob(12n)?.state === "computed", FAKES);
    await new Promise((r) => setTimeout(r, 30));
    const whileRevealing = h.sender.kinds();
    revealSent.open();
    expect(whileRevealing).to.deep.equal(["commit", "reveal"]); // job 12's commit waits
    await h.settle();
    expect(h.sender.kinds()).to.deep.equal(["commit", "reveal", "commit"]);
  });

  it("a k = 1 submit mined but reverted (another provider was first) ends lost, not failed", async function () {
    h = harness();
    h.sender.onSend = () => {
      throw new TxRevertedError("submit transaction 0x… reverted");
    };
    await h.processor.onLogs([requested(14n, makeJob())]);
    await h.settle();
    expect(h.journal.getJob(14n)!.state).to.equal("computed");
    h.chain.set(14n, { status: 3 });
    await h.processor.onLogs([
      event("ResultSubmitted", { jobId: 14n, provider: OTHER, resultHash: `0x${"03".repeat(32)}` }),
    ]);
    await h.settle();
    expect(h.journal.getJob(14n)!.state).to.equal("lost");
  });

  it("a result waits for no reveal's mining, only for its nonce: k = 1 latency does not follow k = 3 traffic", async function () {
    h = harness();
    const mined = latch();
    h.sender.onSend = async (tx) => {
      if (tx.functionName === "reveal") await mined.opened; // queued (nonce taken), not mined yet
      return [];
    };
    await h.processor.onLogs([requested(16n, makeJob(K3))]);
    await h.settle();
    h.chain.set(16n, { seated: 3, status: 2 });
    await h.processor.onLogs([
      event("SeatCommitted", { jobId: 16n, provider: ME, seat: 0, commitment: "0x" }),
      event("RevealStarted", { jobId: 16n, revealDeadline: 1_240 }),
    ]);
    await until("the reveal being sent", () => h.sender.kinds().includes("reveal"), FAKES);
    await h.processor.onLogs([requested(17n, makeJob())]);
    try {
      await until("job 17's result", () => h.sender.kinds().includes("submitResult"), FAKES);
    } finally {
      mined.open();
    }
    await h.settle();
  });

  it("k = 1 race: a runner whose spread wait ends after another's result landed sends nothing", async function () {
    h = harness({ spreadMs: 400 });
    let jobId = 100n;
    while (spreadDelayMs(jobId, ME, 400) < 250) jobId++;
    await h.processor.onLogs([requested(jobId, makeJob())]);
    await until("the result computed", () => h.journal.getJob(jobId)?.state === "computed", FAKES);
    h.chain.set(jobId, { status: 3 }); // another provider's result landed meanwhile
    await h.settle();
    expect(h.sender.sent).to.have.length(0);
    await h.processor.onLogs([
      event("ResultSubmitted", { jobId, provider: OTHER, resultHash: `0x${"04".repeat(32)}` }),
    ]);
    await h.settle();
    expect(h.journal.getJob(jobId)!.state).to.equal("lost");
  });

  it("ranks a step in the loop budget: prompt on a k = 1 job's way to its result and for a reveal, other for k > 1 work before its commit and for following a result to its payment", function () {
    const at = (redundancy: number, state: JobRecord["state"]) =>
      loopRankOf({ job: makeJob({ redundancy }), state } as JobRecord);
    expect(["seen", "accepted", "computed", "submitted"].map((s) => at(1, s as JobRecord["state"]))).to.deep.equal([
      "prompt",
      "prompt",
      "prompt",
      "other",
    ]);
    expect(
      ["seen", "accepted", "computed", "committed", "revealed"].map((s) => at(3, s as JobRecord["state"])),
    ).to.deep.equal(["other", "other", "other", "prompt", "other"]);
  });

  describe("assignment (market v2): a runner waits for its turn instead of racing", function () {
    // seed 7 on a roster of 5 (multiplier 1, offset 2): roster index 4 is rank 1 (its turn opens
    // one window after request), index 3 rank 0.
    const assigned = (over: Partial<Job> = {}) => makeJob({ seed: 7n, priorityWindow: 3, requestedAt: 1_000, ...over });

    it("rank 1 does not compute or send before its turn; when it opens and the job was served, it stops", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 4n, rosterSize: 5n };
      await h.processor.onLogs([requested(40n, assigned())]);
      await h.settle();
      expect(h.journal.getJob(40n)!.state).to.equal("seen");
      expect(h.sender.sent).to.have.length(0);
      expect(h.executor.runs).to.equal(0);
      // Rank 0 delivered within its window; rank 1's turn comes.
      h.chain.set(40n, { status: 3 });
      h.chain.time = 1_003;
      h.clock.now += 3_000;
      await h.settle();
      expect(h.journal.getJob(40n)!.state).to.equal("lost");
      expect(h.sender.sent).to.have.length(0);
      expect(h.executor.runs).to.equal(0);
    });

    it("rank 1 reads no job state while it waits for its turn, and ends at rank 0's ResultSubmitted without one", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 4n, rosterSize: 5n };
      await h.processor.onLogs([requested(45n, assigned())]);
      await h.settle();
      expect(h.journal.getJob(45n)!.state).to.equal("seen");
      expect(h.chain.reads.jobState).to.equal(0);
      // Rank 0's result is in before rank 1's turn: the event says all there is to know.
      await h.processor.onLogs([
        event("ResultSubmitted", { jobId: 45n, provider: OTHER, resultHash: `0x${"04".repeat(32)}` }),
      ]);
      await h.settle();
      const rec = h.journal.getJob(45n)!;
      expect([rec.state, rec.reason]).to.deep.equal(["lost", "another provider delivered first"]);
      expect(h.chain.reads.jobState).to.equal(0);
      expect(h.sender.sent).to.have.length(0);
      expect(h.executor.runs).to.equal(0);
    });

    it("a job the events say ended (cancelled) is not read or computed", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 4n, rosterSize: 5n };
      await h.processor.onLogs([requested(46n, assigned())]);
      await h.settle();
      await h.processor.onLogs([event("JobCancelled", { jobId: 46n })]);
      await h.settle();
      expect(h.journal.getJob(46n)!.state).to.equal("lost");
      expect(h.chain.reads.jobState).to.equal(0);
      expect(h.executor.runs).to.equal(0);
    });

    it("rank 1 steps in once its turn opens and the job is still open (rank 0 silent)", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 4n, rosterSize: 5n };
      await h.processor.onLogs([requested(41n, assigned())]);
      await h.settle();
      expect(h.sender.sent).to.have.length(0);
      h.chain.time = 1_003;
      h.clock.now += 3_000;
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
    });

    it("rank 1 that first looks long after its turn opened (it was behind) gives rank 0 one more window from that look before it sends", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 4n, rosterSize: 5n };
      h.chain.time = 1_070;
      await h.processor.onLogs([requested(44n, assigned())]);
      await h.settle();
      expect(h.journal.getJob(44n)!.state).to.equal("seen");
      expect(h.sender.sent).to.have.length(0);
      h.chain.time = 1_073;
      h.clock.now += 3_000;
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
    });

    it("chaos seed 23 (burst): a k = 3 step-in whose result is ready long after it took the job gives the earlier ranks one more window before it commits, and sends nothing once they took the seats", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 1n, rosterSize: 5n }; // rank 3 of a k = 3 job: its turn opens at 1,003
      h.chain.time = 1_003;
      const { open } = holdRuns(h); // the compute slots are busy with a burst
      await h.processor.onLogs([requested(47n, assigned(K3))]);
      await until("job 47 taken", () => h.journal.getJob(47n)!.state === "accepted", FAKES);
      h.chain.time = 1_060; // every earlier rank is as far behind
      open();
      await h.settle();
      expect(h.journal.getJob(47n)!.state).to.equal("computed");
      expect(h.sender.sent, "no commit before the earlier ranks' window from 1,060").to.have.length(0);
      h.chain.set(47n, { status: 2, seated: 3 }); // they committed meanwhile
      h.chain.time = 1_063;
      h.clock.now += 3_000;
      await h.settle();
      const rec = h.journal.getJob(47n)!;
      expect([rec.state, rec.reason]).to.deep.equal(["lost", "all seats were taken"]);
      expect(h.sender.sent).to.have.length(0);
    });

    it("a k = 3 step-in whose result is ready at its turn commits at once, and a late one commits after the window when the seats are still open", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 1n, rosterSize: 5n };
      h.chain.time = 1_003;
      await h.processor.onLogs([requested(48n, assigned(K3))]);
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["commit"]);
      const { open } = holdRuns(h);
      await h.processor.onLogs([requested(49n, assigned(K3))]);
      await until("job 49 taken", () => h.journal.getJob(49n)!.state === "accepted", FAKES);
      h.chain.time = 1_060;
      open();
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["commit"]);
      h.chain.time = 1_063;
      h.clock.now += 3_000;
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["commit", "commit"]);
    });

    it("chaos seed 23 (burst): a job taken and queued behind a backlog of computes is not delivered once another's result (k = 1) or every seat (k = 3) was taken meanwhile", async function () {
      h = harness(); // 2 compute slots
      const { open, running } = holdRuns(h);
      await h.processor.onLogs([requested(60n, makeJob()), requested(61n, makeJob())]);
      await until("jobs 60 and 61 at the executor", () => running() === 2, FAKES);
      // Queued behind them at the executor (a run waiting for a worker holds no compute slot).
      await h.processor.onLogs([requested(62n, makeJob()), requested(63n, makeJob(K3))]);
      await until("jobs 62 and 63 queued", () => running() === 4, FAKES);
      await h.processor.onLogs([
        event("ResultSubmitted", { jobId: 62n, provider: OTHER, resultHash: `0x${"04".repeat(32)}` }),
        event("RevealStarted", { jobId: 63n, revealDeadline: 2_000 }),
      ]);
      open();
      await h.settle();
      const [j62, j63] = [h.journal.getJob(62n)!, h.journal.getJob(63n)!];
      expect([j62.resultHash, j63.resultHash], "nothing kept for them").to.deep.equal([null, null]);
      expect([j62.state, j62.reason, j63.state, j63.reason]).to.deep.equal([
        "lost",
        "another provider delivered first",
        "lost",
        "all seats were taken",
      ]);
      expect(h.sender.kinds()).to.deep.equal(["submitResult", "submitResult"]);
    });

    it("chaos seed 23 (burst): a job queued for a compute slot behind a backlog of fetches is not computed once another's result came meanwhile", async function () {
      h = harness(); // 2 compute slots
      const { opened, open } = latch();
      const get = h.content.get;
      h.content.get = async (...args: Parameters<typeof get>) => {
        await opened;
        return get(...args);
      };
      const cid = "bafyinput";
      const byCid = (id: bigint) => requested(id, makeJob({ inputHash: keccak256(toHex(cid)) }), { inputCid: cid });
      await h.processor.onLogs([byCid(64n), byCid(65n), byCid(66n)]);
      await until(
        "jobs 64 and 65 fetching",
        () => h.content.gets.length === 0 && h.journal.getJob(66n)!.state === "accepted",
        FAKES,
      );
      await h.processor.onLogs([
        event("ResultSubmitted", { jobId: 66n, provider: OTHER, resultHash: `0x${"04".repeat(32)}` }),
      ]);
      open();
      await h.settle();
      expect(h.executor.runs, "only jobs 64 and 65 are computed").to.equal(2);
      const j66 = h.journal.getJob(66n)!;
      expect([j66.state, j66.reason]).to.deep.equal(["lost", "another provider delivered first"]);
      expect(h.content.gets).to.have.length(2);
    });

    it("a late k = 3 step-in close to the commit deadline commits at once (a wait would end too close to it)", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 1n, rosterSize: 5n };
      h.chain.time = 1_003;
      const { open } = holdRuns(h);
      await h.processor.onLogs([requested(50n, assigned(K3))]);
      await until("job 50 taken", () => h.journal.getJob(50n)!.state === "accepted", FAKES);
      h.chain.time = 1_097; // a wait to 1,100 would leave 14 s before the margin (deadline 1,120, margin 6)
      open();
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["commit"]);
    });

    it("rank 0 sends at once, with no spread wait", async function () {
      h = harness({ spreadMs: 60_000 });
      h.chain.roster = { rosterIndex: 3n, rosterSize: 5n };
      await h.processor.onLogs([requested(42n, assigned())]);
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
    });

    it("rank 0 sends at once when its cached chain time is older than the job (a burst ran chain time ahead)", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 3n, rosterSize: 5n };
      // The reader reuses chain time for 500 ms; an automining chain stamps a burst of blocks
      // seconds ahead of that: the job's own block is later than the time the runner holds.
      h.chain.time = 990;
      await h.processor.onLogs([requested(43n, assigned())]);
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
    });

    it("a provider off the roster skips the job", async function () {
      h = harness();
      h.chain.roster = { rosterIndex: 2n ** 256n - 1n, rosterSize: 5n };
      await h.processor.onLogs([requested(43n, assigned())]);
      await h.settle();
      expect(h.journal.getJob(43n)!.state).to.equal("skipped");
      expect(h.sender.sent).to.have.length(0);
    });
  });

  it("spread waits are fixed per (job, provider) and spread evenly", function () {
    const waits = Array.from({ length: 2_000 }, (_, i) => spreadDelayMs(BigInt(i), ME, 1_000));
    expect(spreadDelayMs(7n, ME, 1_000)).to.equal(waits[7]);
    expect(Math.min(...waits)).to.be.at.least(0);
    expect(Math.max(...waits)).to.be.below(1_000);
    const firstHalf = waits.filter((w) => w < 500).length;
    expect(firstHalf).to.be.within(850, 1_150);
  });

  it("a job whose commit the chain keeps refusing ends lost after a few tries, not forever", async function () {
    h = harness();
    h.sender.onSend = () => {
      throw new TxWouldRevertError("commit would revert", "ProviderRegistryInsufficientStake");
    };
    await h.processor.onLogs([requested(13n, makeJob(K3))]);
    for (let i = 0; i < 4; i++) {
      await h.settle();
      const rec = h.journal.getJob(13n)!;
      if (rec.state === "lost") break;
      h.clock.now = rec.nextAttemptAt;
    }
    expect(h.journal.getJob(13n)!.state).to.equal("lost");
  });

  describe("issue 14: a k = 1 job's JobRequested answers decide's read", function () {
    /** Job `id` requested, and its steps run `laterMs` after its event: the reads made before its submit was sent. */
    async function readsBeforeSubmit(id: bigint, laterMs: number): Promise<number> {
      h = harness();
      const readsAtSend: number[] = [];
      h.sender.onSend = () => {
        readsAtSend.push(h.chain.reads.jobState);
        return [];
      };
      await h.processor.onLogs([requested(id, makeJob())]);
      h.clock.now += laterMs;
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
      return readsAtSend[0]!;
    }

    it("a job just requested is read only at its submit (fresh: its result rides a batch unsimulated)", async function () {
      expect(await readsBeforeSubmit(71n, 0), "reads before the submit was sent").to.equal(1);
    });

    it("a job with an event after its request in the same scan is read at decide (the event may have moved it on): not open, not computed", async function () {
      h = harness();
      h.chain.set(72n, { status: 5 });
      await h.processor.onLogs([
        requested(72n, makeJob()),
        event("ResultChallenged", { jobId: 72n, challenger: OTHER, bond: 1n }),
      ]);
      await h.settle();
      expect(h.chain.reads.jobState, "decide's read").to.equal(1);
      expect(h.executor.runs, "computes").to.equal(0);
      expect(h.journal.getJob(72n)!.state).to.equal("lost");
    });

    it("a job whose decide comes a second after its request (a later rank's turn, a busy loop) is read at decide", async function () {
      expect(await readsBeforeSubmit(73n, 1_000), "decide's read and the submit's").to.equal(2);
    });
  });

  describe("chaos seed 61 (lag): a job read as absent from the chain", function () {
    it("by a node behind the scanned blocks, soon after its request, is read again shortly and served, not given up", async function () {
      h = harness();
      h.chain.set(81n, { status: 0 });
      await h.processor.onLogs([requested(81n, makeJob(K3))]);
      await h.settle();
      // Before, decide ended it at once: lost, "job no longer open" (at a commit: "all seats were taken").
      expect(h.journal.getJob(81n)!.state).to.equal("seen");
      expect(h.sender.sent).to.have.length(0);
      h.chain.set(81n, { status: 1 });
      h.clock.now += 1_000;
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["commit"]);
    });

    it("at a k = 1 submit, is read again shortly, not after a follow interval", async function () {
      h = harness();
      h.chain.set(83n, { status: 0 });
      await h.processor.onLogs([requested(83n, makeJob())]);
      await h.settle();
      expect(h.sender.sent).to.have.length(0);
      h.chain.set(83n, { status: 1 });
      // Before, the result waited the follow interval (5 s): "job no longer open; waiting for its event".
      h.clock.now += 300;
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
    });

    /** Job `id` (k = 3, its request at chain time `requestedAt`) whose commit estimates answer "no such job" `refusals` times. */
    async function commitRefusedAsMismatch(id: bigint, refusals: number, chainTime?: number) {
      h = harness();
      if (chainTime !== undefined) h.chain.time = chainTime;
      h.sender.onSend = (tx) => {
        if (tx.functionName === "commit" && refusals-- > 0)
          throw new TxWouldRevertError("commit would revert", "InferenceMarketJobMismatch");
        return [];
      };
      await h.processor.onLogs([requested(id, makeJob(K3))]);
      for (let i = 0; i < 8 && h.sender.kinds().length === 0; i++) {
        await h.settle();
        const rec = h.journal.getJob(id)!;
        if (rec.state === "lost") break;
        h.clock.now = Math.max(h.clock.now, rec.nextAttemptAt);
      }
      const rec = h.journal.getJob(id)!;
      return { state: rec.state, reason: rec.reason, sent: h.sender.kinds() };
    }

    it("by a node behind that estimates a commit soon after the request ('job mismatch': no job there), is estimated again, and its result is not given up", async function () {
      // Before: three such answers ended the computed result as lost, "chain refused the result".
      // (The fake receipt holds no SeatCommitted log: the job waits for its event as "computed".)
      expect(await commitRefusedAsMismatch(84n, 5)).to.deep.equal({
        state: "computed",
        reason: null,
        sent: ["commit"],
      });
    });

    it("'job mismatch' long after the request counts toward giving up as any refusal", async function () {
      expect(await commitRefusedAsMismatch(85n, 5, 1_000 + 30)).to.deep.include({
        state: "lost",
        reason: "chain refused the result: InferenceMarketJobMismatch",
        sent: [],
      });
    });

    it("long after its request (an ended job's word is deleted) ends it as before", async function () {
      h = harness();
      h.chain.set(82n, { status: 0 });
      h.chain.time = 1_000 + 30;
      await h.processor.onLogs([requested(82n, makeJob(K3))]);
      await h.settle();
      const rec = h.journal.getJob(82n)!;
      expect([rec.state, rec.reason]).to.deep.equal(["lost", "job no longer open"]);
    });
  });

  describe("issue 14: a k = 3 job reads its state only where the events cannot say it", function () {
    /** The SeatCommitted log a commit's receipt holds (seat 0, ours). */
    function seatLog(jobId: bigint) {
      return {
        address: MARKET,
        topics: encodeEventTopics({ abi: marketAbi, eventName: "SeatCommitted", args: { jobId, provider: ME } }),
        data: encodeAbiParameters([{ type: "uint8" }, { type: "bytes32" }], [0, `0x${"00".repeat(32)}`]),
      };
    }

    /** Job `id` from its request to "revealed": committed into seat 0 of 3, then RevealStarted. */
    async function toRevealed(id: bigint): Promise<void> {
      h.sender.onSend = (tx) => (tx.functionName === "commit" ? [seatLog(id)] : []) as never;
      h.sender.blockNumber = 11n; // the block event() stamps: the SeatCommitted event repeats the receipt
      await h.processor.onLogs([requested(id, makeJob(K3))]);
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["commit"]);
      h.chain.set(id, { seated: 1 });
      await h.processor.onLogs([event("SeatCommitted", { jobId: id, provider: ME, seat: 0, commitment: "0x" })]);
      await h.settle();
      expect(h.journal.getJob(id)!.state).to.equal("committed");
      h.chain.set(id, { seated: 3, status: 2 });
      await h.processor.onLogs([event("RevealStarted", { jobId: id, revealDeadline: 1_240 })]);
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["commit", "reveal"]);
      expect(h.journal.getJob(id)!.state).to.equal("revealed");
    }

    it("one read from request to paid: decide's answers the commit, the commit's receipt the reveal's first look, RevealStarted opens the reveal, JobSettled ends it", async function () {
      h = harness();
      await toRevealed(61n);
      h.chain.set(61n, { status: 3 });
      await h.processor.onLogs([settledOnOurs(61n, 3)]);
      await h.settle();
      expect(h.journal.getJob(61n)!.state).to.equal("paid");
      expect(h.chain.reads.jobState).to.equal(1);
    });

    it("a commit whose receipt started the reveal (the last seat) reveals at once, with no read and no wait for RevealStarted", async function () {
      h = harness();
      const revealStartedLog = {
        address: MARKET,
        topics: encodeEventTopics({ abi: marketAbi, eventName: "RevealStarted", args: { jobId: 67n } }),
        data: encodeAbiParameters([{ type: "uint40" }], [1_240]),
      };
      h.sender.onSend = (tx) => {
        if (tx.functionName !== "commit") return [];
        h.chain.set(67n, { seated: 3, status: 2 }); // what a read would say now: the reveal started
        return [seatLog(67n), revealStartedLog] as never;
      };
      await h.processor.onLogs([requested(67n, makeJob(K3))]);
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["commit", "reveal"]);
      expect(h.journal.getJob(67n)!.state).to.equal("revealed");
      expect(h.chain.reads.jobState).to.equal(1); // decide's
    });

    it("a revealed job makes no read while no event ended it, even one the chain shows ended; its ending event ends it as it says", async function () {
      h = harness();
      await toRevealed(62n);
      const reads = h.chain.reads.jobState;
      h.chain.set(62n, { status: 4 }); // refunded; its JobRefunded is not scanned yet
      for (let wake = 0; wake < 3; wake++) {
        h.clock.now += 5_000; // the follow interval
        await h.settle();
      }
      // A read at the head is tied to no block (a reorg could take the refund back): it could only say to wait.
      expect(h.chain.reads.jobState).to.equal(reads);
      expect(h.journal.getJob(62n)!.state).to.equal("revealed");
      await h.processor.onLogs([event("JobRefunded", { jobId: 62n, amount: 1n, expired: false })]);
      await h.settle();
      expect(h.journal.getJob(62n)!.state).to.equal("refunded");
    });

    it("a commit reads again when its job's event came after decide's read, or the read is a second old", async function () {
      h = harness();
      const run = h.executor.run;
      const readsAtCommit: number[] = [];
      h.sender.onSend = (tx) => {
        if (tx.functionName === "commit") readsAtCommit.push(h.chain.reads.jobState);
        return [];
      };
      // Without either: decide's read answers the commit.
      await h.processor.onLogs([requested(62n, makeJob(K3))]);
      await h.settle();
      // An event between decide and commit: the chain moved, the commit reads.
      h.executor.run = async (...args) => {
        await h.processor.onLogs([event("SeatCommitted", { jobId: 63n, provider: OTHER, seat: 0, commitment: "0x" })]);
        return run(...args);
      };
      const before63 = h.chain.reads.jobState;
      await h.processor.onLogs([requested(63n, makeJob(K3))]);
      await h.settle();
      // A compute that took a second: the commit reads.
      h.executor.run = async (...args) => {
        h.clock.now += 1_000;
        return run(...args);
      };
      const before64 = h.chain.reads.jobState;
      await h.processor.onLogs([requested(64n, makeJob(K3))]);
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["commit", "commit", "commit"]);
      expect([readsAtCommit[0], readsAtCommit[1]! - before63, readsAtCommit[2]! - before64]).to.deep.equal([1, 2, 2]);
    });

    it("after a restart, a job whose seat the events gave before its commit's receipt goes before a flood of k = 1 jobs (its reveal has a window)", async function () {
      h = harness();
      h.sender.onSend = () => new Promise<never>(() => {}); // the commit's receipt never comes: a crash follows
      await h.processor.onLogs([requested(66n, makeJob(K3))]);
      await until("the commit sent", () => h.sender.kinds().includes("commit"), FAKES);
      // The events came while the commit step waited for its receipt; the runner dies before it moves on.
      h.journal.noteChainFact(66n, { seat: 0 }, 11);
      expect(h.journal.getJob(66n)!.state).to.equal("computed");
      // The old process is gone mid-step (its send never returns): only its journal is left.
      const dir = h.dir;
      h.journal.close();
      h = harness({ maxConcurrentSteps: 1 }, dir);
      h.chain.set(66n, { seated: 3, status: 2 });
      const order: string[] = [];
      h.sender.onSend = (tx) => {
        order.push(`${tx.functionName} ${String(tx.req.jobId)}`);
        return [];
      };
      // Six k = 1 jobs come first; the first holds the one slot in its inference meanwhile.
      const first = latch();
      const run = h.executor.run;
      h.executor.run = async (...args) => {
        if (h.executor.runs === 0) await first.opened;
        return run(...args);
      };
      await h.processor.onLogs(Array.from({ length: 6 }, (_, i) => requested(BigInt(100 + i), makeJob())));
      await h.processor.tick(); // the journal's due jobs: 66 among them
      first.open();
      await h.settle();
      expect(order.slice(0, 2)).to.deep.equal(["submitResult 100", "reveal 66"]);
      expect(order.filter((t) => t.startsWith("submitResult"))).to.have.length(6);
    });

    it("a reveal the chain refuses after RevealStarted (a reorg took it back) reads the chain before it tries again", async function () {
      h = harness();
      await h.processor.onLogs([requested(65n, makeJob(K3))]);
      await h.settle();
      h.chain.set(65n, { seated: 3, status: 2 });
      let refusals = 1;
      h.sender.onSend = (tx) => {
        if (tx.functionName === "reveal" && refusals-- > 0) throw new TxWouldRevertError("reveal would revert", "x");
        return [];
      };
      const reads = h.chain.reads.jobState;
      await h.processor.onLogs([
        event("SeatCommitted", { jobId: 65n, provider: ME, seat: 0, commitment: "0x" }),
        event("RevealStarted", { jobId: 65n, revealDeadline: 1_240 }),
      ]);
      await h.settle();
      // The first reveal went without a read (RevealStarted); the one after the refusal read.
      expect(h.chain.reads.jobState).to.equal(reads + 1);
      expect(h.sender.kinds()).to.deep.equal(["commit", "reveal"]);
      expect(h.journal.getJob(65n)!.state).to.equal("revealed");
    });
  });
});
