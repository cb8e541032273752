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
import { createLogger } from "../../node/log.ts";
import {
  event,
  harness,
  INPUT,
  jobHash,
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

function revealedLog(jobId: bigint, provider: Address = ME): Log {
  return {
    address: MARKET,
    topics: encodeEventTopics({ abi: marketAbi, eventName: "ResultRevealed", args: { jobId, provider } } as never),
    data: encodeAbiParameters([{ type: "bytes32" }, { type: "bytes" }], [`0x${"0c".repeat(32)}`, "0x01"]),
  } as unknown as Log;
}

function skippedLog(jobId: bigint, reason: Hex = REVEAL_CLOSED): Log {
  return {
    address: MARKET,
    topics: encodeEventTopics({ abi: marketAbi, eventName: "RevealSkipped", args: { jobId, provider: ME } } as never),
    data: encodeAbiParameters([{ type: "bytes4" }], [reason]),
  } as unknown as Log;
}

function seatLog(jobId: bigint): Log {
  return {
    address: MARKET,
    topics: encodeEventTopics({ abi: marketAbi, eventName: "SeatCommitted", args: { jobId, provider: ME } } as never),
    data: encodeAbiParameters([{ type: "uint8" }, { type: "bytes32" }], [0, `0x${"00".repeat(32)}`]),
  } as unknown as Log;
}

/** The job ids a reveal transaction carries (revealAll's items, or a plain reveal's one). */
function revealIds(tx: SentTx): bigint[] {
  if (tx.functionName === "reveal") return [tx.args[0] as bigint];
  return (tx.args[0] as { jobId: bigint }[]).map((r) => r.jobId);
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

describe("reveal batches: our seats' reveals in one transaction (issue 14)", function () {
  describe("the batcher (fake sender)", function () {
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
      const b = createDeliveryBatcher({
        sender,
        market: MARKET,
        marketAbi,
        log: quiet,
        maxBatch: 50,
        maxWaitBlocks: 1,
      });
      b.onBlock(100);
      const outcomes = Promise.all([1n, 2n, 3n].map((id) => b.reveal(revealItem(id))));
      await until("three reveals queued", () => b.queuedReveals() === 3, FAKES);
      b.onBlock(101);
      const [one, two, three] = await outcomes;
      expect(sender.sent).to.have.length(1);
      const tx = sender.sent[0]!;
      expect([tx.kind, tx.jobId, tx.jobIds]).to.deep.equal(["reveals", null, [1n, 2n, 3n]]);
      expect(tx.extraGas).to.equal(3n * settlementHeadroom("reveal", 3));
      expect(one).to.deep.include({ revealed: true, blockNumber: 9n });
      expect(two).to.deep.include({ revealed: false, reason: REVEAL_CLOSED });
      // Another provider's reveal of the same job says nothing of ours.
      expect(three).to.deep.include({ revealed: false, reason: "missing" });
      await b.stop();
    });

    it("a reveal alone goes as a plain reveal journaled as its job's own", async function () {
      const sender = recordingSender(() => [revealedLog(7n)]);
      const b = createDeliveryBatcher({
        sender,
        market: MARKET,
        marketAbi,
        log: quiet,
        maxBatch: 50,
        maxWaitBlocks: 0,
      });
      const outcome = await b.reveal(revealItem(7n));
      expect(outcome.revealed).to.equal(true);
      expect(sender.sent.map((t) => [t.kind, t.jobId, t.jobIds])).to.deep.equal([["reveal", 7n, undefined]]);
      expect(sender.sent[0]!.extraGas).to.equal(settlementHeadroom("reveal", 3));
      await b.stop();
    });

    it("a batch holds at most 8M of settlement headroom: reveals of large juries split it before maxBatch", async function () {
      const sender = recordingSender((req) => (req.jobIds ?? [req.jobId!]).map((id) => revealedLog(id)));
      const b = createDeliveryBatcher({
        sender,
        market: MARKET,
        marketAbi,
        log: quiet,
        maxBatch: 50,
        maxWaitBlocks: 1,
      });
      b.onBlock(100);
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
      for (const t of sender.sent) expect(t.extraGas! <= 8_000_000n).to.equal(true);
      await b.stop();
    });
  });

  describe("with the job processor (fakes: chain, sender)", function () {
    let h: Harness;
    let b: DeliveryBatcher;
    function setUp(): void {
      const sender = {
        get address() {
          return h.sender.address;
        },
        send: (r: TxRequest) => h.sender.send(r),
        resume: (t: Parameters<Harness["sender"]["resume"]>[0]) => h.sender.resume(t),
      };
      b = createDeliveryBatcher({ sender, market: MARKET, marketAbi, log: quiet, maxBatch: 50, maxWaitBlocks: 1 });
      b.onBlock(100);
      h = harness({ batcher: b });
      h.sender.blockNumber = 20n;
    }
    afterEach(async function () {
      await b.stop();
      await h.processor.stop();
      h.journal.close();
    });

    /** Jobs `ids` committed (seat 0 each) with their reveal started: their reveals wait in the batcher. */
    async function revealsQueued(ids: bigint[]): Promise<void> {
      await h.processor.onLogs(ids.map((id) => requested(id, makeJob(K3))));
      await h.settle();
      const commits = h.sender.sent.filter((t) => t.functionName === "commit" && ids.includes(t.args[0] as bigint));
      expect(commits).to.have.length(ids.length);
      for (const id of ids) h.chain.set(id, { seated: 3, status: 2 });
      await h.processor.onLogs(ids.map((id) => event("RevealStarted", { jobId: id, revealDeadline: 1_240 })));
      await until("every reveal queued", () => b.queuedReveals() === ids.length, FAKES);
    }

    it("many reveals: one revealAll; each job is revealed as by its own reveal, the receipt's block a fact of the job", async function () {
      setUp();
      h.sender.onSend = (tx) =>
        tx.functionName === "commit" ? [seatLog(tx.args[0] as bigint)] : revealIds(tx).map((id) => revealedLog(id));
      await revealsQueued([1n, 2n, 3n]);
      b.onBlock(101);
      await h.settle();
      await h.processor.idle();
      expect(h.sender.kinds()).to.deep.equal(["commit", "commit", "commit", "revealAll"]);
      expect(revealIds(h.sender.sent[3]!)).to.deep.equal([1n, 2n, 3n]);
      for (const id of [1n, 2n, 3n]) {
        const rec = h.journal.getJob(id)!;
        expect([rec.state, rec.factsBlock >= 20]).to.deep.equal(["revealed", true]);
      }
      const tx = h.journal.batchTxsFor(2n);
      expect(tx.map((t) => t.kind)).to.deep.equal(["reveals"]);
      expect(h.journal.jobsOfBatch(tx[0]!.nonce)).to.deep.equal([1n, 2n, 3n]);
    });

    it("a reveal the market skipped is looked at again and sent alone (once); a reverted batch sends each alone", async function () {
      setUp();
      let batches = 0;
      h.sender.onSend = (tx) => {
        if (tx.functionName === "commit") return [seatLog(tx.args[0] as bigint)];
        if (tx.functionName === "revealAll" && batches++ === 0) return [revealedLog(1n), skippedLog(2n)];
        if (tx.functionName === "revealAll") throw new TxRevertedError("batch reverted");
        return revealIds(tx).map((id) => revealedLog(id));
      };
      await revealsQueued([1n, 2n]);
      b.onBlock(101);
      await h.settle();
      await h.processor.idle();
      expect(h.sender.kinds()).to.deep.equal(["commit", "commit", "revealAll", "reveal"]);
      expect(revealIds(h.sender.sent[3]!)).to.deep.equal([2n]);
      for (const id of [1n, 2n]) expect(h.journal.getJob(id)!.state).to.equal("revealed");

      await revealsQueued([3n, 4n]);
      b.onBlock(102);
      await h.settle();
      h.clock.now += 60_000; // past the failed step's retry
      await h.settle();
      await h.processor.idle();
      expect(h.sender.kinds().slice(4)).to.deep.equal(["commit", "commit", "reveal", "reveal"]);
      expect(h.sender.sent.slice(6).flatMap(revealIds).sort()).to.deep.equal([3n, 4n]);
      for (const id of [3n, 4n]) expect(h.journal.getJob(id)!.state).to.equal("revealed");
    });

    it("restart with a journaled batch of reveals in flight: the new run waits for that very transaction, sends nothing new", async function () {
      setUp();
      // What a first run left: two committed seats and one batch of their reveals signed and sent.
      for (const id of [1n, 2n]) {
        const job = makeJob(K3);
        h.journal.upsertJob({
          jobId: id,
          paramsHash: jobHash(job),
          job,
          input: INPUT,
          inputCid: null,
          block: 10,
          blockHash: `0x${"0a".repeat(32)}`,
        });
        h.journal.updateJob(id, h.journal.getJob(id)!, {
          state: "committed",
          seat: 0,
          resultHash: `0x${"0c".repeat(32)}`,
          outputRef: "0x01",
          salt: `0x${"5a".repeat(32)}`,
        });
        h.chain.set(id, { seated: 3, status: 2 });
      }
      const hash: Hex = `0x${"0f".repeat(32)}`;
      h.journal.recordTx({ jobId: null, kind: "reveals", nonce: 0, hash, raw: "0x00" }, [1n, 2n]);
      h.journal.markTxSent(hash);
      h.sender.onResume = async () => {
        await new Promise((r) => setTimeout(r, 50));
        return [revealedLog(1n), revealedLog(2n)];
      };
      h.processor.kick(1n);
      h.processor.kick(2n);
      await h.settle();
      await h.processor.idle();
      expect(h.sender.resumed.map((t) => t.hash)).to.deep.equal([hash, hash]);
      expect(h.sender.sent, "nothing new sent").to.have.length(0);
      for (const id of [1n, 2n]) expect(h.journal.getJob(id)!.state).to.equal("revealed");
    });

    it("a reorg drops the block of a mined batch of reveals: the job is taken back, and its seat revealed again alone", async function () {
      setUp();
      h.sender.onSend = (tx) =>
        tx.functionName === "commit" ? [seatLog(tx.args[0] as bigint)] : revealIds(tx).map((id) => revealedLog(id));
      await revealsQueued([1n, 2n]);
      b.onBlock(101);
      await h.settle();
      await h.processor.idle();
      expect(h.journal.getJob(1n)!.state).to.equal("revealed");
      h.processor.rewound(h.journal.rewindTo(15));
      expect(h.journal.getJob(1n)!.state).to.equal("computed");
      // The new chain holds the commits (their receipts are read again), and the job reveals again.
      h.sender.onResume = (tx) => (tx.kind === "commit" ? [seatLog(tx.jobId!)] : []);
      h.chain.seats.set(1n, [ME]);
      h.processor.kick(1n);
      await h.settle();
      // The rescan of the new chain's blocks says RevealStarted again.
      await h.processor.onLogs([event("RevealStarted", { jobId: 1n, revealDeadline: 1_240 })]);
      await h.settle();
      await h.processor.idle();
      expect(h.sender.kinds().slice(3), "the batch was used: the job goes alone").to.deep.equal(["reveal"]);
      expect(h.journal.getJob(1n)!.state).to.equal("revealed");
    });
  });
});
