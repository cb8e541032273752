import { expect } from "chai";
import { getAddress, keccak256, toHex, type Address, type Hex } from "viem";
import { commitmentOf } from "../../node/attest/attestation.ts";
import { TxWouldRevertError } from "../../node/chain/tx-sender.ts";
import type { CourtOptions } from "../../node/jobs/court-base.ts";
import { createCourt, type CourtService } from "../../node/jobs/court.ts";
import type { Challenge } from "../../node/journal/journal.ts";
import { createLogger } from "../../node/log.ts";
import {
  event,
  harness,
  makeJob,
  marketAbi,
  OTHER,
  PROVIDER,
  requested,
  type Harness,
} from "../helpers/fake-runner-deps.ts";
import { jobWords } from "../../node/attest/job-words.ts";
import { courtStakeKey, StakeReservations } from "../../node/jobs/stake-reservations.ts";
import { until } from "../helpers/until.ts";

const ME = getAddress(PROVIDER.address);
const CHALLENGER: Address = getAddress("0x000000000000000000000000000000000000c0de");
const GARBAGE: Hex = `0x${"66".repeat(32)}`;
const Status = { Open: 1, Settled: 3, Refunded: 4, Delivered: 5, Challenged: 6, JuryRevealing: 7 } as const;

/** A court service over the harness's journal, chain, sender and processor (its runJob). */
function courtOf(h: Harness, over: Partial<CourtOptions> = {}) {
  const court = createCourt({
    journal: h.journal,
    chain: h.chain,
    sender: h.sender,
    market: "0x00000000000000000000000000000000000000AA",
    marketAbi,
    processor: h.processor,
    log: createLogger({ write: () => {} }),
    allowedModels: null,
    checkRate: 1,
    marginSeconds: 2,
    followIntervalMs: 1_000,
    retryBaseMs: 100,
    retryMaxMs: 1_000,
    clock: () => h.clock.now,
    ...over,
  });
  const settle = async () => {
    for (let i = 0; i < 20; i++) {
      await court.tick();
      await court.idle();
      if (h.journal.dueDuties(h.clock.now, 1).length === 0) return;
    }
  };
  return { court, settle };
}

/** The harness's job `id`, requested by another client and left to another provider (this runner skipped it). */
async function othersJob(h: Harness, id: bigint, challengeWindow = 60) {
  h.chain.active = false; // the processor declines it: another provider delivers
  await h.processor.onLogs([requested(id, makeJob({ challengeWindow, collateral: 10n }))]);
  await h.settle();
  h.chain.active = true;
  expect(h.journal.getJob(id)!.state).to.equal("skipped");
  return h.journal.getJob(id)!.job;
}

/** Job 1, delivered by another provider (a wrong result) and in its challenge window; the processor took the delivery in. */
async function deliveredByOther(h: Harness) {
  const job = await othersJob(h, 1n);
  h.chain.set(1n, { status: Status.Delivered, revealStartedAt: h.chain.time });
  const delivered = [event("ResultSubmitted", { jobId: 1n, provider: OTHER, resultHash: GARBAGE, outputRef: "0x" })];
  await h.processor.onLogs(delivered);
  return { job, delivered };
}

function challengeOf(over: Partial<Challenge> = {}): Challenge {
  return {
    provider: OTHER,
    resultHash: GARBAGE,
    challenger: CHALLENGER,
    jurySeed: 0n,
    challengedAt: 1_000,
    commitWindow: 120,
    revealWindow: 120,
    jurySize: 3,
    juryFee: 1n,
    challengerShareBps: 5_000,
    ...over,
  };
}

describe("court service (fakes: chain, sender, executor): checking k = 1 results and sitting on juries", function () {
  let h: Harness;
  let court: CourtService;
  afterEach(async function () {
    await court?.stop();
    await h.processor.stop();
    h.journal.close();
  });

  it("a checker recomputes another provider's delivery, challenges it when its result differs, and resolves the challenge when the jury stalls", async function () {
    h = harness();
    let settle;
    ({ court, settle } = courtOf(h));
    const { job, delivered } = await deliveredByOther(h);
    court.onLogs(delivered);
    await settle();
    expect(h.sender.kinds()).to.deep.equal(["challenge"]);
    expect(h.sender.sent[0]!.args).to.deep.equal([1n, jobWords(job), OTHER, GARBAGE]);
    expect(h.journal.getDuty(1n)!.state).to.equal("challenged");
    expect(h.journal.getDuty(1n)!.resultHash).to.not.equal(GARBAGE);

    // The jury never fills: past its commit window the checker resolves it (Inconclusive).
    const challenge = challengeOf({ challenger: ME, challengedAt: h.chain.time });
    h.chain.set(1n, { status: Status.Challenged, seated: 1 });
    court.onLogs([event("ResultChallenged", { jobId: 1n, provider: OTHER, challenger: ME, challenge })]);
    await court.idle();
    expect(h.sender.kinds()).to.deep.equal(["challenge"]); // the jury may still fill
    h.chain.time += challenge.commitWindow + 1;
    h.clock.now += 10_000;
    await settle();
    expect(h.sender.kinds()).to.deep.equal(["challenge", "resolveChallenge"]);
    h.chain.set(1n, { status: Status.Settled });
    court.onLogs([event("ChallengeResolved", { jobId: 1n, outcome: 2 })]);
    await settle();
    expect(h.journal.getDuty(1n)!.state).to.equal("done");
  });

  it("a checker whose result matches the delivery agrees and sends nothing; one at checkRate 0 checks nothing", async function () {
    h = harness();
    let settle;
    ({ court, settle } = courtOf(h));
    await othersJob(h, 1n);
    // What this runner computes for the job (the harness's executor is deterministic).
    const ours = await h.processor.runJob(h.journal.getJob(1n)!);
    if ("abstained" in ours) throw new Error("abstained");
    h.chain.set(1n, { status: Status.Delivered, revealStartedAt: h.chain.time });
    const delivered = [
      event("ResultSubmitted", { jobId: 1n, provider: OTHER, resultHash: ours.resultHash, outputRef: "0x" }),
    ];
    await h.processor.onLogs(delivered);
    court.onLogs(delivered);
    await settle();
    expect(h.journal.getDuty(1n)!.state).to.equal("agreed");
    expect(h.sender.kinds()).to.deep.equal([]);

    const lazy = courtOf(h, { checkRate: 0 });
    await othersJob(h, 2n);
    lazy.court.onLogs([event("ResultSubmitted", { jobId: 2n, provider: OTHER, resultHash: GARBAGE, outputRef: "0x" })]);
    await lazy.settle();
    await lazy.court.stop();
    expect(h.journal.getDuty(2n)).to.equal(null);
  });

  it("a juror computes, commits a commitment it can open, reveals once the reveal starts, and a restarted service reveals with the same salt", async function () {
    h = harness();
    const first = courtOf(h);
    court = first.court;
    const job = await othersJob(h, 1n);
    const challenge = challengeOf({ challengedAt: h.chain.time });
    h.chain.set(1n, { status: Status.Challenged, seated: 0 });
    court.onLogs([event("ResultChallenged", { jobId: 1n, provider: OTHER, challenger: CHALLENGER, challenge })]);
    await first.settle();
    expect(h.sender.kinds()).to.deep.equal(["juryCommit"]);
    const duty = h.journal.getDuty(1n)!;
    expect(duty.state).to.equal("committed");
    const [id, sentJob, sentChallenge, commitment] = h.sender.sent[0]!.args as [bigint, unknown, Challenge, Hex];
    expect([id, sentJob]).to.deep.equal([1n, jobWords(job)]);
    expect(sentChallenge).to.deep.equal(challenge);
    expect(commitment).to.equal(commitmentOf(1n, ME, duty.resultHash!, duty.salt!));
    court.onLogs([event("SeatCommitted", { jobId: 1n, provider: ME, seat: 2, commitment })]);
    await court.idle();

    // A restart between commit and reveal: the new service finds the salt in the journal.
    await court.stop();
    let settle2;
    ({ court, settle: settle2 } = courtOf(h));
    h.chain.set(1n, { status: Status.JuryRevealing, seated: 3, revealStartedAt: h.chain.time });
    court.onLogs([event("RevealStarted", { jobId: 1n, revealDeadline: h.chain.time + 120 })]);
    await settle2();
    expect(h.sender.kinds()).to.deep.equal(["juryCommit", "juryReveal"]);
    expect(h.sender.sent[1]!.args).to.deep.equal([
      1n,
      jobWords(job),
      challenge,
      2,
      duty.resultHash,
      duty.salt,
      duty.outputRef,
    ]);
    expect(h.journal.getDuty(1n)!.state).to.equal("revealed");
    h.chain.set(1n, { status: Status.Refunded });
    court.onLogs([event("ChallengeResolved", { jobId: 1n, outcome: 0 })]);
    await settle2();
    expect(h.journal.getDuty(1n)!.state).to.equal("done");
  });

  it("a party to a challenge is not a juror; a juror waits for its jury rank; a jury that filled first leaves it skipped", async function () {
    h = harness();
    let settle;
    ({ court, settle } = courtOf(h));
    h.chain.active = false;
    await h.processor.onLogs([
      requested(1n, makeJob({ challengeWindow: 60 })),
      requested(2n, makeJob({ challengeWindow: 60, priorityWindow: 3 })),
      requested(3n, makeJob({ challengeWindow: 60 })),
    ]);
    await h.settle();
    h.chain.active = true;
    for (const id of [1n, 2n]) h.chain.set(id, { status: Status.Challenged });
    h.chain.set(3n, { status: Status.Challenged, seated: 3 });
    court.onLogs([
      event("ResultChallenged", {
        jobId: 1n,
        provider: ME,
        challenger: CHALLENGER,
        challenge: challengeOf({ provider: ME, challengedAt: h.chain.time }),
      }),
    ]);
    expect(h.journal.getDuty(1n)).to.equal(null); // the processor follows its own delivery

    // Second of two on the roster, a jury of one from seed 0: rank 1, open one 3 s window later.
    h.chain.roster = { rosterIndex: 1n, rosterSize: 2n };
    court.onLogs([
      event("ResultChallenged", {
        jobId: 2n,
        provider: OTHER,
        challenger: CHALLENGER,
        challenge: challengeOf({ jurySize: 1, challengedAt: h.chain.time }),
      }),
      event("ResultChallenged", {
        jobId: 3n,
        provider: OTHER,
        challenger: CHALLENGER,
        challenge: challengeOf({ challengedAt: h.chain.time }),
      }),
    ]);
    await settle();
    expect(h.journal.getDuty(3n)!.state).to.equal("skipped");
    expect(h.journal.getDuty(2n)!.state).to.equal("new");
    expect(h.sender.kinds()).to.deep.equal([]);
    h.chain.time += 3;
    h.clock.now += 5_000;
    await settle();
    expect(h.sender.kinds()).to.deep.equal(["juryCommit"]);
    expect(h.journal.getDuty(2n)!.state).to.equal("committed");
  });

  it("with assignment off (priority window 0) a juror still waits for its jury rank: a sixteenth of the commit window each", async function () {
    h = harness();
    let settle;
    ({ court, settle } = courtOf(h));
    await othersJob(h, 1n);
    expect(h.journal.getJob(1n)!.job.priorityWindow).to.equal(0);
    h.chain.set(1n, { status: Status.Challenged });
    h.chain.roster = { rosterIndex: 1n, rosterSize: 2n }; // rank 1 of a jury of one
    court.onLogs([
      event("ResultChallenged", {
        jobId: 1n,
        provider: OTHER,
        challenger: CHALLENGER,
        challenge: challengeOf({ jurySize: 1, challengedAt: h.chain.time, commitWindow: 120 }),
      }),
    ]);
    await settle();
    expect(h.sender.kinds()).to.deep.equal([]);
    h.chain.time += 6;
    h.clock.now += 10_000;
    await settle();
    expect(h.sender.kinds()).to.deep.equal([]); // opens at 120 / 16 = 7 s
    h.chain.time += 1;
    h.clock.now += 10_000;
    await settle();
    expect(h.sender.kinds()).to.deep.equal(["juryCommit"]);
  });

  it("a checker that lost the race to challenge becomes a juror: its step still running cannot end the juror duty the event put in its place", async function () {
    h = harness();
    // Another runner's challenge is mined; its event reaches the court while this runner's
    // checker step waits for the job's state (one RPC round trip).
    const challenge = challengeOf({ challengedAt: h.chain.time });
    let pending: (() => void) | null = () =>
      court.onLogs([event("ResultChallenged", { jobId: 1n, provider: OTHER, challenger: CHALLENGER, challenge })]);
    const chain = {
      now: () => h.chain.now(),
      providerTerms: () => h.chain.providerTerms(),
      seatOf: (jobId: bigint, seat: number) => h.chain.seatOf(jobId, seat),
      jobState: async (jobId: bigint) => {
        const state = await h.chain.jobState(jobId);
        const deliver = pending;
        pending = null;
        deliver?.();
        return state;
      },
    };
    let settle;
    ({ court, settle } = courtOf(h, { chain }));
    await othersJob(h, 1n);
    h.chain.set(1n, { status: Status.Challenged, seated: 0 });
    court.onLogs([event("ResultSubmitted", { jobId: 1n, provider: OTHER, resultHash: GARBAGE, outputRef: "0x" })]);
    await settle();
    expect(pending).to.equal(null);
    const duty = h.journal.getDuty(1n)!;
    expect([duty.role, duty.state]).to.deep.equal(["juror", "committed"]);
    expect(h.sender.kinds()).to.deep.equal(["juryCommit"]);
  });

  /** Sends that reach the chain but whose step fails after (the RPC drops, the process dies): the journal holds the transaction as sent. */
  function broadcastThenFail(h: Harness, functionName: string): void {
    h.sender.onSend = (tx) => {
      if (tx.functionName !== functionName) return [];
      const hash = keccak256(toHex(`${functionName}-broadcast`));
      h.journal.recordTx({ jobId: tx.req.jobId, kind: tx.req.kind, nonce: 99, hash, raw: "0x00" });
      h.journal.setTxStatus(hash, "sent");
      throw new Error("connection dropped after the broadcast");
    };
  }

  it("a juror whose commit went out before its step failed resumes it when its own seat filled the jury, and reveals (was: skipped, a seat that never reveals is slashed)", async function () {
    h = harness();
    let settle;
    ({ court, settle } = courtOf(h));
    await othersJob(h, 1n);
    const challenge = challengeOf({ challengedAt: h.chain.time });
    h.chain.set(1n, { status: Status.Challenged, seated: 0 });
    broadcastThenFail(h, "juryCommit");
    court.onLogs([event("ResultChallenged", { jobId: 1n, provider: OTHER, challenger: CHALLENGER, challenge })]);
    await settle();
    expect(h.journal.getDuty(1n)!.state).to.equal("computed");
    expect(h.journal.txsFor(1n, "jury-commit").map((t) => t.status)).to.deep.equal(["sent"]);

    // It was mined: ours is the third seat, and the jury is full.
    const { salt, resultHash } = h.journal.getDuty(1n)!;
    const commitment = commitmentOf(1n, ME, resultHash!, salt!);
    h.sender.onSend = () => [];
    h.sender.onResume = () => [];
    h.chain.set(1n, { status: Status.Challenged, seated: 3 });
    court.onLogs([event("SeatCommitted", { jobId: 1n, provider: ME, seat: 2, commitment })]);
    h.clock.now += 5_000;
    await settle();
    expect(h.sender.resumed.map((t) => t.kind)).to.deep.equal(["jury-commit"]);
    expect(h.journal.getDuty(1n)!.state).to.equal("committed");

    h.chain.set(1n, { status: Status.JuryRevealing, seated: 3, revealStartedAt: h.chain.time });
    court.onLogs([event("RevealStarted", { jobId: 1n, revealDeadline: h.chain.time + 120 })]);
    h.clock.now += 5_000;
    await settle();
    expect(h.sender.kinds()).to.deep.equal(["juryReveal"]);
    expect(h.sender.sent[0]!.args.slice(3, 6)).to.deep.equal([2, resultHash, salt]);
    expect(h.journal.getDuty(1n)!.state).to.equal("revealed");
  });

  it("a checker whose challenge went out before its step failed follows it, though the job is no longer challengeable (was: skipped)", async function () {
    h = harness();
    let settle;
    ({ court, settle } = courtOf(h));
    const { delivered } = await deliveredByOther(h);
    broadcastThenFail(h, "challenge");
    court.onLogs(delivered);
    await settle();
    expect(h.journal.txsFor(1n, "challenge").map((t) => t.status)).to.deep.equal(["sent"]);
    expect(h.journal.getDuty(1n)!.state).to.equal("new");

    // It was mined: the job is Challenged now.
    h.sender.onResume = () => [];
    h.chain.set(1n, { status: Status.Challenged, seated: 0 });
    h.clock.now += 5_000;
    await settle();
    expect(h.sender.resumed.map((t) => t.kind)).to.deep.equal(["challenge"]);
    expect(h.journal.getDuty(1n)!.state).to.equal("challenged");
    expect(h.sender.sent).to.have.length(0);
  });

  it("a commit the chain refuses (the jury filled meanwhile) sends nothing more and ends skipped", async function () {
    h = harness();
    let settle;
    ({ court, settle } = courtOf(h));
    await othersJob(h, 1n);
    h.chain.set(1n, { status: Status.Challenged });
    h.sender.onSend = () => {
      throw new TxWouldRevertError("juryCommit would revert", "InferenceMarketInvalidStatus");
    };
    court.onLogs([
      event("ResultChallenged", {
        jobId: 1n,
        provider: OTHER,
        challenger: CHALLENGER,
        challenge: challengeOf({ challengedAt: h.chain.time }),
      }),
    ]);
    for (let i = 0; i < 6; i++) {
      h.clock.now += 2_000;
      await settle();
    }
    expect(h.journal.getDuty(1n)!.state).to.equal("skipped");
    expect(h.sender.sent).to.have.length(0);
  });

  describe("a jury seat and our jobs draw on one free stake (shared reservations)", function () {
    const challenged = (id: bigint) =>
      event("ResultChallenged", {
        jobId: id,
        provider: OTHER,
        challenger: CHALLENGER,
        challenge: challengeOf({ challengedAt: h.chain.time }),
      });

    /** A court and a processor sharing reservations over a free stake of 10, and job 1 (collateral 10) another's. */
    async function sharedStake() {
      const stake = new StakeReservations();
      h = harness({ stake });
      const made = courtOf(h, { stake });
      court = made.court;
      await othersJob(h, 1n);
      h.chain.freeStake = 10n;
      return { stake, settle: made.settle };
    }

    it("a job of ours taken and not locked yet keeps the juror from a seat its stake would not cover", async function () {
      const { settle } = await sharedStake();
      let mine!: () => void;
      const mined = new Promise<void>((r) => (mine = r));
      h.sender.onSend = async () => {
        await mined;
        return [];
      };
      try {
        await h.processor.onLogs([requested(5n, makeJob({ collateral: 10n }))]);
        await until("job 5's result sent", () => h.sender.kinds().includes("submitResult"), {
          timeoutMs: 10_000,
          intervalMs: 5,
        });
        h.chain.set(1n, { status: Status.Challenged });
        court.onLogs([challenged(1n)]);
        await settle();
        expect(h.journal.getDuty(1n)!.state).to.equal("skipped");
        expect(h.journal.getDuty(1n)!.reason).to.equal("not enough free stake for a jury seat");
        expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
      } finally {
        mine();
      }
    });

    it("a jury commit resumed after a restart holds its seat's stake again: a new job waits until it is mined", async function () {
      const { stake, settle } = await sharedStake();
      h.chain.set(1n, { status: Status.Challenged, seated: 0 });
      broadcastThenFail(h, "juryCommit");
      court.onLogs([challenged(1n)]);
      await settle();
      expect(h.journal.txsFor(1n, "jury-commit").map((t) => t.status)).to.deep.equal(["sent"]);
      // A new process: nothing reserved, the commit in the journal.
      stake.release(courtStakeKey(1n));
      let mine!: () => void;
      const mined = new Promise<void>((r) => (mine = r));
      h.sender.onSend = () => [];
      h.sender.onResume = async () => {
        await mined;
        return [];
      };
      try {
        h.clock.now += 5_000;
        void court.tick();
        await until("the jury commit resumed", () => h.sender.resumed.length > 0, { timeoutMs: 10_000, intervalMs: 5 });
        await h.processor.onLogs([requested(5n, makeJob({ collateral: 10n }))]);
        await h.processor.idle();
        expect(h.journal.getJob(5n)!.state, "job 5 waits for the stake the seat will lock").to.equal("seen");
        expect(h.sender.kinds()).to.deep.equal([]);
      } finally {
        mine();
      }
      await settle();
      expect(h.journal.getDuty(1n)!.state).to.equal("committed");
    });

    it("a jury seat committed and not mined yet makes a new job wait for stake", async function () {
      const { settle } = await sharedStake();
      let mine!: () => void;
      const mined = new Promise<void>((r) => (mine = r));
      h.sender.onSend = async (tx) => {
        if (tx.functionName === "juryCommit") await mined;
        return [];
      };
      try {
        h.chain.set(1n, { status: Status.Challenged });
        court.onLogs([challenged(1n)]);
        await until("the jury commit sent", () => h.sender.kinds().includes("juryCommit"), {
          timeoutMs: 10_000,
          intervalMs: 5,
        });
        await h.processor.onLogs([requested(5n, makeJob({ collateral: 10n }))]);
        await h.processor.idle();
        expect(h.journal.getJob(5n)!.state, "job 5 waits for the stake the seat will lock").to.equal("seen");
        expect(h.sender.kinds()).to.deep.equal(["juryCommit"]);
      } finally {
        mine();
      }
      await settle();
      expect(h.journal.getDuty(1n)!.state).to.equal("committed");
    });
  });
});
