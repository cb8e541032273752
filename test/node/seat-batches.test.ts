import { expect } from "chai";
import {
  encodeAbiParameters,
  encodeEventTopics,
  getAddress,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";
import { TxRevertedError, type TxRequest } from "../../node/chain/tx-sender.ts";
import { createDeliveryBatcher, type DeliveryBatcher } from "../../node/jobs/delivery-batcher.ts";
import { settlementHeadroom } from "../../node/jobs/processor-options.ts";
import { MAX_SEAT_HEADROOM } from "../../node/jobs/seat-batches.ts";
import { createLogger } from "../../node/log.ts";
import {
  batchingHarness,
  event,
  fakeBatcher,
  harness,
  journalJob,
  makeJob,
  MARKET,
  marketAbi,
  PROVIDER,
  requested,
  type Harness,
  type SentTx,
} from "../helpers/fake-runner-deps.ts";
import { until } from "../helpers/until.ts";

const ME = getAddress(PROVIDER.address);
const FAKES = { timeoutMs: 10_000, intervalMs: 5 };
const quiet = createLogger({ write: () => {} });
const K3 = { redundancy: 3, quorum: 2, collateral: 1n };
/** The selector the market reports for a reveal whose window closed. */
const REVEAL_CLOSED: Hex = "0x12345678";

type Log = TransactionReceipt["logs"][number];

/** A receipt log of the market's `eventName` with its indexed `args` and ABI-encoded `data`. */
function marketLog(eventName: string, args: Record<string, unknown>, types: string[], values: unknown[]): Log {
  return {
    address: MARKET,
    topics: encodeEventTopics({ abi: marketAbi, eventName, args } as never),
    data: encodeAbiParameters(
      types.map((type) => ({ type })),
      values,
    ),
  } as unknown as Log;
}

const revealedLog = (jobId: bigint, provider: Address = ME) =>
  marketLog("ResultRevealed", { jobId, provider }, ["bytes32", "bytes"], [`0x${"0c".repeat(32)}`, "0x01"]);
const skippedLog = (jobId: bigint, reason: Hex = REVEAL_CLOSED) =>
  marketLog("RevealSkipped", { jobId, provider: ME }, ["bytes4"], [reason]);
const seatLog = (jobId: bigint, seat = 0) =>
  marketLog("SeatCommitted", { jobId, provider: ME }, ["uint8", "bytes32"], [seat, `0x${"00".repeat(32)}`]);
const commitSkippedLog = (jobId: bigint, reason: Hex = REVEAL_CLOSED) =>
  marketLog("CommitSkipped", { jobId, provider: ME }, ["bytes4"], [reason]);
const revealStartedLog = (jobId: bigint) => marketLog("RevealStarted", { jobId }, ["uint40"], [1_240]);

/** The job ids a commit or reveal transaction carries (a batch's items, or a plain call's one). */
function seatIds(tx: SentTx): bigint[] {
  if (tx.functionName === "reveal" || tx.functionName === "commit") return [tx.args[0] as bigint];
  return (tx.args[0] as { jobId: bigint }[]).map((r) => r.jobId);
}

/** Every commit and reveal it carries lands (a commit takes seat 0). */
function allLand(tx: SentTx): Log[] {
  const commit = tx.functionName === "commit" || tx.functionName === "commitAll";
  return seatIds(tx).map((id) => (commit ? seatLog(id) : revealedLog(id)));
}

function revealItem(jobId: bigint, redundancy = 3) {
  return {
    jobId,
    job: makeJob({ redundancy, quorum: 2, collateral: 1n }),
    seat: 0,
    resultHash: `0x${"0c".repeat(32)}` as Hex,
    salt: `0x${"5a".repeat(32)}` as Hex,
    outputRef: "0x01" as Hex,
  };
}

describe("seat batches: our commits and reveals of k > 1 seats in one transaction (issue 14)", function () {
  describe("the batcher (fake sender)", function () {
    /** A batcher over `sender` whose head is block 100. */
    function batcherOver(sender: ReturnType<typeof recordingSender>, maxWaitBlocks: number): DeliveryBatcher {
      const b = createDeliveryBatcher({ sender, market: MARKET, marketAbi, log: quiet, maxBatch: 50, maxWaitBlocks });
      b.onBlock(100);
      return b;
    }

    function recordingSender(logsFor: (req: TxRequest) => Log[]) {
      const sent: TxRequest[] = [];
      return {
        sent,
        address: ME,
        async send(req: TxRequest): Promise<TransactionReceipt> {
          sent.push(req);
          return {
            status: "success",
            transactionHash: `0x${sent.length.toString(16).padStart(64, "0")}`,
            blockNumber: 9n,
            logs: logsFor(req),
          } as unknown as TransactionReceipt;
        },
        resume: async (): Promise<TransactionReceipt> => {
          throw new Error("not scripted");
        },
      };
    }

    it("reveals queued together go as one revealAll linked to their jobs, its gas headroom each reveal's; each learns its own outcome", async function () {
      const sender = recordingSender(() => [
        revealedLog(1n),
        skippedLog(2n),
        revealedLog(3n, "0x000000000000000000000000000000000000bEEF"),
      ]);
      const b = batcherOver(sender, 1);
      const outcomes = Promise.all([1n, 2n, 3n].map((id) => b.reveal(revealItem(id))));
      await until("three reveals queued", () => b.queuedReveals() === 3, FAKES);
      b.onBlock(101);
      const [one, two, three] = await outcomes;
      expect(sender.sent).to.have.length(1);
      const tx = sender.sent[0]!;
      expect([tx.kind, tx.jobId, tx.jobIds]).to.deep.equal(["reveals", null, [1n, 2n, 3n]]);
      expect(tx.extraGas).to.equal(3n * settlementHeadroom("reveal", 3));
      expect(one).to.deep.include({ done: true, blockNumber: 9n });
      expect(two).to.deep.include({ done: false, reason: REVEAL_CLOSED });
      // Another provider's reveal of the same job says nothing of ours.
      expect(three).to.deep.include({ done: false, reason: "missing" });
      await b.stop();
    });

    it("commits queued together go as one commitAll; each learns its seat, and whether it started the reveal", async function () {
      const sender = recordingSender(() => [
        seatLog(1n, 0),
        seatLog(2n, 2),
        revealStartedLog(2n),
        commitSkippedLog(3n),
      ]);
      const b = batcherOver(sender, 1);
      const item = (jobId: bigint) => ({ jobId, job: makeJob(K3), commitment: `0x${"cc".repeat(32)}` as Hex });
      const outcomes = Promise.all([1n, 2n, 3n].map((id) => b.commit(item(id))));
      await until("three commits queued", () => b.queuedCommits() === 3, FAKES);
      b.onBlock(101);
      const [one, two, three] = await outcomes;
      expect(sender.sent.map((t) => [t.kind, t.jobId, t.jobIds])).to.deep.equal([["commits", null, [1n, 2n, 3n]]]);
      expect(one).to.deep.include({ done: true, seat: 0, startsReveal: false });
      expect(two).to.deep.include({ done: true, seat: 2, startsReveal: true });
      expect(three).to.deep.include({ done: false, reason: REVEAL_CLOSED });
      await b.stop();
    });

    it("a reveal alone goes as a plain reveal journaled as its job's own", async function () {
      const sender = recordingSender(() => [revealedLog(7n)]);
      const b = batcherOver(sender, 0);
      const outcome = await b.reveal(revealItem(7n));
      expect(outcome.done).to.equal(true);
      expect(sender.sent.map((t) => [t.kind, t.jobId, t.jobIds])).to.deep.equal([["reveal", 7n, undefined]]);
      expect(sender.sent[0]!.extraGas).to.equal(settlementHeadroom("reveal", 3));
      await b.stop();
    });

    it("a batch holds at most 8M of settlement headroom: reveals of large juries split it before maxBatch", async function () {
      const sender = recordingSender((req) => (req.jobIds ?? [req.jobId!]).map((id) => revealedLog(id)));
      const b = batcherOver(sender, 1);
      // k = 32: 2.61M of headroom each, so three fit under 8M and the fourth goes in the next.
      const all = Promise.all([1n, 2n, 3n, 4n].map((id) => b.reveal(revealItem(id, 32))));
      await until(
        "four reveals handed over",
        () => b.queuedReveals() + sender.sent.length >= 4 || sender.sent.length > 0,
        FAKES,
      );
      b.onBlock(101);
      await all;
      const sizes = sender.sent.map((t) => (t.jobIds ?? [t.jobId]).length);
      expect(sizes).to.deep.equal([3, 1]);
      for (const t of sender.sent) expect(t.extraGas! <= BigInt(MAX_SEAT_HEADROOM)).to.equal(true);
      await b.stop();
    });
  });

  describe("with the job processor (fakes: chain, sender)", function () {
    let h: Harness;
    let b: DeliveryBatcher;
    function setUp(): void {
      ({ h, b } = batchingHarness());
      head = 100;
      h.sender.blockNumber = 20n;
    }
    afterEach(async function () {
      await b.stop();
      await h.processor.stop();
      h.journal.close();
    });

    let head = 100;
    /** The next block: the batches waiting for it go. */
    async function nextBlock(): Promise<void> {
      b.onBlock(++head);
      await h.settle();
      await h.processor.idle();
    }

    /** Jobs `ids` requested and computed: their commits wait in the batcher. */
    async function commitsQueued(ids: bigint[]): Promise<void> {
      await h.processor.onLogs(ids.map((id) => requested(id, makeJob(K3))));
      await until("every commit queued", () => b.queuedCommits() === ids.length, FAKES);
    }

    /** Jobs `ids` committed (seat 0 each, in one commitAll) with their reveal started: their reveals wait in the batcher. */
    async function revealsQueued(ids: bigint[]): Promise<void> {
      await commitsQueued(ids);
      await nextBlock();
      for (const id of ids) expect(h.journal.getJob(id)!.state).to.equal("committed");
      for (const id of ids) h.chain.set(id, { seated: 3, status: 2 });
      await h.processor.onLogs(ids.map((id) => event("RevealStarted", { jobId: id, revealDeadline: 1_240 })));
      await until("every reveal queued", () => b.queuedReveals() === ids.length, FAKES);
    }

    it("many commits and reveals: one commitAll, then one revealAll; each job moves on as by its own calls, the receipts' blocks facts of the job", async function () {
      setUp();
      h.sender.onSend = allLand;
      await revealsQueued([1n, 2n, 3n]);
      await nextBlock();
      expect(h.sender.kinds()).to.deep.equal(["commitAll", "revealAll"]);
      expect(h.sender.sent.map(seatIds)).to.deep.equal([
        [1n, 2n, 3n],
        [1n, 2n, 3n],
      ]);
      for (const id of [1n, 2n, 3n]) {
        const rec = h.journal.getJob(id)!;
        expect([rec.state, rec.seat, rec.factsBlock >= 20]).to.deep.equal(["revealed", 0, true]);
      }
      const txs = h.journal.batchTxsFor(2n);
      expect(txs.map((t) => t.kind)).to.deep.equal(["commits", "reveals"]);
      for (const t of txs) expect(h.journal.jobsOfBatch(t.nonce)).to.deep.equal([1n, 2n, 3n]);
    });

    it("a commit the market skipped is looked at again alone: the seats taken meanwhile, the job is lost and nothing more is sent", async function () {
      setUp();
      h.sender.onSend = (tx) => (tx.functionName === "commitAll" ? [seatLog(1n), commitSkippedLog(2n)] : allLand(tx));
      await commitsQueued([1n, 2n]);
      // Another provider's commit took job 2's last seat first.
      h.chain.set(2n, { seated: 3, status: 2 });
      await nextBlock();
      expect(h.sender.kinds()).to.deep.equal(["commitAll"]);
      expect(h.journal.getJob(1n)!.state).to.equal("committed");
      expect([h.journal.getJob(2n)!.state, h.journal.getJob(2n)!.reason]).to.deep.equal([
        "lost",
        "all seats were taken",
      ]);
    });

    it("a reveal the market skipped is looked at again and sent alone (once); a reverted batch sends each alone", async function () {
      setUp();
      let batches = 0;
      h.sender.onSend = (tx) => {
        if (tx.functionName === "revealAll" && batches++ === 0) return [revealedLog(1n), skippedLog(2n)];
        if (tx.functionName === "revealAll") throw new TxRevertedError("batch reverted");
        return allLand(tx);
      };
      await revealsQueued([1n, 2n]);
      await nextBlock();
      expect(h.sender.kinds()).to.deep.equal(["commitAll", "revealAll", "reveal"]);
      expect(seatIds(h.sender.sent[2]!)).to.deep.equal([2n]);
      for (const id of [1n, 2n]) expect(h.journal.getJob(id)!.state).to.equal("revealed");

      await revealsQueued([3n, 4n]);
      await nextBlock();
      h.clock.now += 60_000; // past the failed step's retry
      await h.settle();
      await h.processor.idle();
      expect(h.sender.kinds().slice(3)).to.deep.equal(["commitAll", "reveal", "reveal"]);
      expect(h.sender.sent.slice(4).flatMap(seatIds).sort()).to.deep.equal([3n, 4n]);
      for (const id of [3n, 4n]) expect(h.journal.getJob(id)!.state).to.equal("revealed");
    });

    /** What a first run left: jobs `ids` computed (salt journaled) or committed, and one batch of `kind` signed and sent for them. */
    function leftByAFirstRun(ids: bigint[], kind: "commits" | "reveals"): Hex {
      for (const id of ids) {
        journalJob(h.journal, id, makeJob(K3), {
          state: kind === "commits" ? "computed" : "committed",
          seat: kind === "commits" ? null : 0,
          resultHash: `0x${"0c".repeat(32)}`,
          outputRef: "0x01",
          salt: `0x${"5a".repeat(32)}`,
        });
        h.chain.set(id, { seated: 3, status: 2 });
      }
      const hash: Hex = `0x${"0f".repeat(32)}`;
      h.journal.recordTx({ jobId: null, kind, nonce: 0, hash, raw: "0x00" }, ids);
      h.journal.markTxSent(hash);
      // Its receipt takes a moment, as a real one does: every job's step finds it still in flight.
      h.sender.onResume = async () => {
        await new Promise((r) => setTimeout(r, 50));
        return ids.map((id) => (kind === "commits" ? seatLog(id) : revealedLog(id)));
      };
      return hash;
    }

    it("restart with a journaled batch of commits, or of reveals, in flight: the new run waits for that very transaction, sends nothing new", async function () {
      setUp();
      const commits = leftByAFirstRun([1n, 2n], "commits");
      for (const id of [1n, 2n]) h.processor.kick(id);
      await h.settle();
      await h.processor.idle();
      // One wait for the batch's receipt, shared by the jobs it carried.
      expect(h.sender.resumed.map((t) => t.hash)).to.deep.equal([commits]);
      for (const id of [1n, 2n]) expect(h.journal.getJob(id)!.state).to.not.equal("computed");
      expect(
        h.sender.kinds().filter((k) => k.startsWith("commit")),
        "no commit sent again",
      ).to.deep.equal([]);

      await h.processor.stop();
      h.journal.close();
      setUp();
      const reveals = leftByAFirstRun([3n, 4n], "reveals");
      for (const id of [3n, 4n]) h.processor.kick(id);
      await h.settle();
      await h.processor.idle();
      expect(h.sender.resumed.map((t) => t.hash)).to.deep.equal([reveals]);
      expect(h.sender.sent, "nothing new sent").to.have.length(0);
      for (const id of [3n, 4n]) expect(h.journal.getJob(id)!.state).to.equal("revealed");
    });

    /** The new chain after a reorg: our batches' receipts, read again, hold `commits` and `reveals` of ours. */
    function minedAgain(commits: Log[], reveals: Log[]): void {
      h.sender.onResume = (tx) => (tx.kind === "commits" ? commits : tx.kind === "reveals" ? reveals : []);
    }

    it("a reorg takes back jobs whose commits and reveals rode in batches: each job reads its batches' receipts again on the new chain, in any order (seat and reveal as they were, nothing sent again); a reveal the new chain lacks goes alone", async function () {
      setUp();
      h.sender.onSend = allLand;
      await revealsQueued([1n, 2n]);
      await nextBlock();
      expect(h.journal.getJob(1n)!.state).to.equal("revealed");
      h.processor.rewound(h.journal.rewindTo(15));
      expect(h.journal.getJob(1n)!.state).to.equal("computed");
      // The new chain mined both batches again, but job 2's reveal reverted in it (skipped).
      minedAgain([seatLog(1n), seatLog(2n)], [revealedLog(1n), skippedLog(2n)]);
      h.chain.seats.set(2n, [ME]);
      h.processor.kick(1n);
      h.processor.kick(2n);
      await h.settle();
      // The rescan of the new chain says the reveal started (job 2's commit receipt did not).
      await h.processor.onLogs([1n, 2n].map((id) => event("RevealStarted", { jobId: id, revealDeadline: 1_240 })));
      await h.settle();
      await h.processor.idle();
      // Each batch's receipt was read once on the new chain, for both jobs: whichever came first
      // read it, the other joined that read or took what it said.
      expect(h.sender.resumed.map((t) => t.kind)).to.deep.equal(["commits", "reveals"]);
      for (const id of [1n, 2n]) {
        const rec = h.journal.getJob(id)!;
        expect([rec.state, rec.seat]).to.deep.equal(["revealed", 0]);
      }
      expect(h.sender.kinds(), "only job 2's reveal sent again").to.deep.equal(["commitAll", "revealAll", "reveal"]);
      expect(seatIds(h.sender.sent[2]!)).to.deep.equal([2n]);
    });

    it("chaos seed 11 (burst): a reorg takes back a job paid on our batched commit and reveal, and the new chain settles it again: paid, not lost (its seats are cleared)", async function () {
      setUp();
      h.sender.onSend = allLand;
      await revealsQueued([1n, 2n]);
      await nextBlock();
      const ours = h.journal.getJob(1n)!.resultHash!;
      const settled = (id: bigint) =>
        event("JobSettled", { jobId: id, resultHash: ours, agreeing: 3, clientRefund: 0n });
      h.chain.set(1n, { status: 3 });
      await h.processor.onLogs([settled(1n)]);
      await h.settle();
      expect(h.journal.getJob(1n)!.state).to.equal("paid");
      // The reorg: the job is taken back to its commit. The new chain mined our batches again and
      // settled the job: its seats are cleared, our reveal is in its events.
      h.processor.rewound(h.journal.rewindTo(15));
      expect(h.journal.getJob(1n)!.state).to.equal("computed");
      minedAgain([seatLog(1n), seatLog(2n)], [revealedLog(1n), revealedLog(2n)]);
      h.chain.reveals.set(1n, ours);
      h.processor.kick(1n);
      await h.settle();
      await h.processor.onLogs([settled(1n)]);
      await h.settle();
      await h.processor.idle();
      expect([h.journal.getJob(1n)!.state, h.journal.getJob(1n)!.reason]).to.deep.equal(["paid", null]);
      expect(h.sender.kinds(), "nothing sent again").to.deep.equal(["commitAll", "revealAll"]);
    });
  });

  describe("with a batcher that holds its transactions (fake)", function () {
    it("the commit's batch outcome comes after its SeatCommitted event: the reveal does not wait for the commit's batch", async function () {
      let mine!: () => void;
      const mined = new Promise<void>((r) => (mine = r));
      const commits: bigint[] = [];
      const reveals: bigint[] = [];
      const b = fakeBatcher({
        commit: async (item) => {
          commits.push(item.jobId);
          await mined;
          return { done: true, transactionHash: `0x${"cd".repeat(32)}`, blockNumber: 8n, seat: 0, startsReveal: true };
        },
        reveal: async (item) => {
          reveals.push(item.jobId);
          await mined;
          return {
            done: true,
            transactionHash: `0x${"ce".repeat(32)}`,
            blockNumber: 9n,
            seat: null,
            startsReveal: false,
          };
        },
        queuedReveals: () => reveals.length,
      });
      const h = harness({ batcher: b });
      try {
        await h.processor.onLogs([requested(5n, makeJob(K3))]);
        await until("the commit handed over", () => commits.length === 1, FAKES);
        // The commit's batch is mined, and the watcher takes in its events before the batcher's
        // receipt comes back: our seat, and the reveal started.
        h.chain.set(5n, { seated: 3, status: 2 });
        await h.processor.onLogs([
          event("SeatCommitted", { jobId: 5n, provider: ME, seat: 0, commitment: "0x" }),
          event("RevealStarted", { jobId: 5n, revealDeadline: 1_240 }),
        ]);
        await until("the reveal handed over while the commit's batch is not back", () => reveals.length === 1, FAKES);
        expect(reveals).to.deep.equal([5n]);
      } finally {
        mine();
        await h.processor.stop();
        h.journal.close();
      }
    });
  });
});
