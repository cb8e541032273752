import { expect } from "chai";
import {
  encodeAbiParameters,
  encodeEventTopics,
  getAddress,
  keccak256,
  toHex,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";
import type { SignedResult } from "../../node/attest/batch.ts";
import { decodeAttestationBatch } from "../../node/attest/batch.ts";
import { TxRevertedError, TxVoidedError, type TxRequest } from "../../node/chain/tx-sender.ts";
import {
  createDeliveryBatcher,
  DeliveryCancelledError,
  MAX_BATCH_BYTES,
  type DeliveryBatcher,
} from "../../node/jobs/delivery-batcher.ts";
import { createLogger } from "../../node/log.ts";
import {
  batchingHarness,
  event,
  journalJob,
  makeJob,
  MARKET,
  marketAbi,
  OTHER,
  PROVIDER,
  requested,
  type Harness,
  type SentTx,
} from "../helpers/fake-runner-deps.ts";
import { until } from "../helpers/until.ts";

const ME = getAddress(PROVIDER.address);
const FAKES = { timeoutMs: 10_000, intervalMs: 5 };
const quiet = createLogger({ write: () => {} });
/** The selector the market reports for a job that is no longer open. */
const INVALID_STATUS: Hex = "0x12345678";

type Log = TransactionReceipt["logs"][number];

function submitted(jobId: bigint, provider: Address = ME): Log {
  const topics = encodeEventTopics({
    abi: marketAbi,
    eventName: "ResultSubmitted",
    args: { jobId, provider },
  } as never);
  return {
    address: MARKET,
    topics,
    data: encodeAbiParameters([{ type: "bytes32" }, { type: "bytes" }], [`0x${"0c".repeat(32)}`, "0x01"]),
  } as unknown as Log;
}

function rejected(jobId: bigint, reason: Hex = INVALID_STATUS): Log {
  const topics = encodeEventTopics({
    abi: marketAbi,
    eventName: "AttestationRejected",
    args: { jobId, provider: ME },
  } as never);
  return { address: MARKET, topics, data: encodeAbiParameters([{ type: "bytes4" }], [reason]) } as unknown as Log;
}

function item(jobId: bigint): SignedResult {
  return {
    jobId,
    job: makeJob(),
    resultHash: `0x${"0c".repeat(32)}`,
    outputRef: "0x01",
    signature: `0x${"11".repeat(65)}`,
  };
}

/** A sender that records requests and answers each with a receipt delivering every item it carries. */
function fakeSender() {
  const sent: TxRequest[] = [];
  return {
    sent,
    address: ME,
    async send(req: TxRequest): Promise<TransactionReceipt> {
      sent.push(req);
      const ids = req.jobIds ?? [req.jobId!];
      return {
        status: "success",
        transactionHash: keccak256(toHex(sent.length)),
        blockNumber: 1n,
        logs: ids.map((id) => submitted(id)),
      } as unknown as TransactionReceipt;
    },
    async resume(): Promise<TransactionReceipt> {
      throw new Error("not scripted");
    },
  };
}

/** A sender whose first transaction stays unmined until released. */
function holdingFirst() {
  let release!: () => void;
  const mined = new Promise<void>((r) => (release = r));
  const sent: TxRequest[] = [];
  const sender = {
    address: ME,
    async send(req: TxRequest): Promise<TransactionReceipt> {
      sent.push(req);
      if (sent.length === 1) await mined;
      return {
        status: "success",
        transactionHash: keccak256(toHex(sent.length)),
        blockNumber: 1n,
        logs: (req.jobIds ?? [req.jobId!]).map((id) => submitted(id)),
      } as unknown as TransactionReceipt;
    },
    resume: async () => {
      throw new Error("not scripted");
    },
  };
  return { sender, sent, release };
}

/** The job ids a sent batch carries (decoded from its calldata). */
function idsOf(tx: SentTx): bigint[] {
  if (tx.functionName === "submitResult") return [tx.args[0] as bigint];
  return decodeAttestationBatch(tx.args[0] as Hex).items.map((i) => i.jobId);
}

/** A batcher of up to 50 items with maxWaitBlocks 0 (Nagle's rule), on the given clock. */
function nagleBatcher(sender: ReturnType<typeof holdingFirst>["sender"], now?: () => number) {
  return createDeliveryBatcher({ sender, market: MARKET, marketAbi, log: quiet, maxBatch: 50, maxWaitBlocks: 0, now });
}

describe("delivery batcher: k = 1 results in one transaction", function () {
  describe("flushing (fake sender)", function () {
    it("a full batch goes at once, as one submitResults carrying every item", async function () {
      const sender = fakeSender();
      const b = createDeliveryBatcher({ sender, market: MARKET, marketAbi, log: quiet, maxBatch: 3, maxWaitBlocks: 5 });
      b.onBlock(10);
      const outcomes = Promise.all([1n, 2n, 3n, 4n].map((id) => b.deliver(item(id))));
      expect(sender.sent).to.have.length(1); // the fourth waits for others (or its deadline)
      expect(sender.sent[0]!.kind).to.equal("batch");
      expect(sender.sent[0]!.jobIds).to.deep.equal([1n, 2n, 3n]);
      expect(b.queued()).to.equal(1);
      b.onBlock(15);
      const got = await outcomes;
      expect(got.map((o) => o.delivered)).to.deep.equal([true, true, true, true]);
      // The last one went alone: a plain submitResult journaled as the job's own submit.
      expect(sender.sent[1]!.kind).to.equal("submit");
      expect(sender.sent[1]!.jobId).to.equal(4n);
    });

    it("a batch stays under 96 KiB of calldata: large inline outputs split it before maxBatch", async function () {
      const sender = fakeSender();
      const b = createDeliveryBatcher({
        sender,
        market: MARKET,
        marketAbi,
        log: quiet,
        maxBatch: 100,
        maxWaitBlocks: 5,
      });
      b.onBlock(10);
      const big = (id: bigint): SignedResult => ({ ...item(id), outputRef: `0x${"ab".repeat(16 * 1024)}` });
      const all = Promise.all(Array.from({ length: 12 }, (_, i) => b.deliver(big(BigInt(i + 1)))));
      b.onBlock(15);
      await all;
      const sizes = sender.sent.map((r) => r.jobIds?.length ?? 1);
      expect(sizes.reduce((a, n) => a + n, 0)).to.equal(12);
      expect(Math.max(...sizes)).to.be.lessThan(12);
      for (const r of sender.sent) expect((r.data.length - 2) / 2).to.be.at.most(MAX_BATCH_BYTES + 1024);
    });

    it("items wait until the head moved maxWaitBlocks past the first one's, then go together", async function () {
      const sender = fakeSender();
      const b = createDeliveryBatcher({
        sender,
        market: MARKET,
        marketAbi,
        log: quiet,
        maxBatch: 50,
        maxWaitBlocks: 2,
      });
      b.onBlock(10);
      const outcomes = Promise.all([1n, 2n].map((id) => b.deliver(item(id))));
      b.onBlock(11);
      await new Promise((r) => setImmediate(r));
      expect(sender.sent).to.have.length(0);
      const late = b.deliver(item(3n));
      b.onBlock(12);
      await until("the deadline's flush", () => sender.sent.length === 1, FAKES);
      expect(sender.sent[0]!.jobIds).to.deep.equal([1n, 2n, 3n]);
      expect((await outcomes).every((o) => o.delivered)).to.equal(true);
      expect((await late).delivered).to.equal(true);
    });

    it("maxWaitBlocks 0: the first goes at once; those that come while it is in flight ride together once it is mined", async function () {
      const { sender, sent, release } = holdingFirst();
      const b = nagleBatcher(sender);
      const first = b.deliver(item(1n));
      await until("the first sent", () => sent.length === 1, FAKES);
      const rest = Promise.all([2n, 3n, 4n].map((id) => b.deliver(item(id))));
      await new Promise((r) => setImmediate(r));
      expect(sent).to.have.length(1);
      release();
      await Promise.all([first, rest]);
      expect(sent.map((r) => r.jobIds ?? [r.jobId])).to.deep.equal([[1n], [2n, 3n, 4n]]);
    });

    it("maxWaitBlocks 0: with one still in flight, queued items go once a block passed (a stuck delivery does not hold them)", async function () {
      const { sender, sent, release } = holdingFirst();
      const b = nagleBatcher(sender);
      b.onBlock(5);
      const first = b.deliver(item(1n));
      await until("the first sent", () => sent.length === 1, FAKES);
      const rest = Promise.all([2n, 3n].map((id) => b.deliver(item(id))));
      await new Promise((r) => setImmediate(r));
      expect(sent).to.have.length(1);
      b.onBlock(6);
      await rest;
      expect(sent.map((r) => r.jobIds ?? [r.jobId])).to.deep.equal([[1n], [2n, 3n]]);
      release();
      await first;
    });

    it("maxWaitBlocks 0: with one in flight, items that came before half a block after the head go then (they make the next block); later ones wait for the next head", async function () {
      const { sender, sent, release } = holdingFirst();
      const clock = { now: 0 };
      const b = nagleBatcher(sender, () => clock.now);
      b.onBlock(5);
      clock.now = 1_000;
      b.onBlock(6); // a block a second: the cutoff is at 1,500
      const first = b.deliver(item(1n));
      await until("the first sent", () => sent.length === 1, FAKES);
      clock.now = 1_400;
      const second = b.deliver(item(2n));
      await new Promise((r) => setImmediate(r));
      expect(sent).to.have.length(1);
      clock.now = 1_500;
      await until("the second sent at the cutoff, the first still in flight", () => sent.length === 2, FAKES);
      clock.now = 1_600;
      const third = b.deliver(item(3n));
      await new Promise((r) => setTimeout(r, 150));
      expect(sent).to.have.length(2);
      clock.now = 2_000;
      b.onBlock(7);
      await Promise.all([second, third]);
      expect(sent.map((r) => r.jobIds ?? [r.jobId])).to.deep.equal([[1n], [2n], [3n]]);
      release();
      await first;
    });

    it("a stopped batcher arms no cutoff when a block comes (review: its timer re-armed itself at once, forever)", async function () {
      const { sender, sent, release } = holdingFirst();
      const clock = { now: 0, looks: 0 };
      const b = nagleBatcher(sender, () => (clock.looks++, clock.now));
      // A block every 10 ms (of this clock): cutoffs 5 ms after each head.
      b.onBlock(5);
      clock.now = 10;
      b.onBlock(6);
      const first = b.deliver(item(1n));
      await until("the first sent", () => sent.length === 1, FAKES);
      clock.now = 12;
      const queued = Promise.allSettled([b.deliver(item(2n))]);
      const stopping = b.stop();
      await queued;
      clock.now = 20;
      b.onBlock(7);
      clock.now = 30; // past that block's cutoff
      const looks = clock.looks;
      await new Promise((r) => setTimeout(r, 100));
      expect(clock.looks - looks).to.be.below(5);
      release();
      await Promise.all([first, stopping]);
      expect(sent).to.have.length(1);
    });

    it("a failure of the whole transaction rejects every item it carried", async function () {
      const sender = { ...fakeSender(), send: async () => Promise.reject(new TxVoidedError("voided")) };
      const b = createDeliveryBatcher({ sender, market: MARKET, marketAbi, log: quiet, maxBatch: 2, maxWaitBlocks: 0 });
      const got = await Promise.allSettled([b.deliver(item(1n)), b.deliver(item(2n))]);
      expect(got.map((g) => g.status === "rejected" && g.reason instanceof TxVoidedError)).to.deep.equal([true, true]);
    });
  });

  describe("stopping (the runner's service lifecycle)", function () {
    const claimOf = (jobId: bigint) => ({
      jobId,
      job: makeJob(),
      provider: ME,
      resultHash: `0x${"0c".repeat(32)}` as Hex,
    });
    const cancelled = (r: PromiseSettledResult<unknown>) =>
      r.status === "rejected" && r.reason instanceof DeliveryCancelledError;

    it("the runner's signal cancels what waits for a batch, and what comes after: nothing more is sent", async function () {
      const sender = fakeSender();
      const shutdown = new AbortController();
      const b = createDeliveryBatcher({
        sender,
        market: MARKET,
        marketAbi,
        log: quiet,
        maxBatch: 50,
        maxWaitBlocks: 5,
        signal: shutdown.signal,
      });
      b.onBlock(10);
      const waiting = Promise.allSettled([b.deliver(item(1n)), b.deliver(item(2n)), b.claim(claimOf(3n))]);
      shutdown.abort();
      expect((await waiting).map(cancelled)).to.deep.equal([true, true, true]);
      expect(cancelled((await Promise.allSettled([b.deliver(item(4n))]))[0]!)).to.equal(true);
      b.onBlock(20);
      await new Promise((r) => setImmediate(r));
      expect(sender.sent).to.have.length(0);
      expect(b.queued()).to.equal(0);
      expect(b.queuedClaims()).to.equal(0);
    });

    it("stop cancels the queued items and waits for the transaction already sent", async function () {
      const { sender, sent, release } = holdingFirst();
      const b = nagleBatcher(sender);
      const first = b.deliver(item(1n));
      await until("the first sent", () => sent.length === 1, FAKES);
      const queued = Promise.allSettled([b.deliver(item(2n))]);
      let stopped = false;
      const stopping = b.stop().then(() => (stopped = true));
      expect((await queued).map(cancelled)).to.deep.equal([true]);
      await new Promise((r) => setImmediate(r));
      expect(stopped).to.equal(false);
      release();
      await stopping;
      expect((await first).delivered).to.equal(true);
      expect(sent).to.have.length(1);
    });
  });

  describe("with the job processor (fakes: chain, sender)", function () {
    let h: Harness;
    let b: DeliveryBatcher;
    /** A processor whose results wait one block (the test moves the head once all are queued). */
    function setUp(): void {
      ({ h, b } = batchingHarness());
    }
    afterEach(async function () {
      await b.stop();
      await h.processor.stop();
      h.journal.close();
    });

    async function computeAndFlush(ids: bigint[], head: number, beforeFlush?: () => void): Promise<void> {
      await h.processor.onLogs(ids.map((id) => requested(id, makeJob())));
      await until("every result queued", () => b.queued() === ids.length, FAKES);
      beforeFlush?.();
      b.onBlock(head);
      await h.settle();
    }

    it("many results: one submitResults; each job moves on as a single submit's does", async function () {
      setUp();
      h.sender.onSend = (tx) => idsOf(tx).map((id) => submitted(id));
      await computeAndFlush([1n, 2n, 3n, 4n, 5n], 101);
      expect(h.sender.kinds()).to.deep.equal(["submitResults"]);
      expect(idsOf(h.sender.sent[0]!)).to.deep.equal([1n, 2n, 3n, 4n, 5n]);
      for (const id of [1n, 2n, 3n, 4n, 5n]) expect(h.journal.getJob(id)!.state).to.equal("submitted");
      // One journaled transaction linked to the five jobs.
      const tx = h.journal.batchTxsFor(3n);
      expect(tx).to.have.length(1);
      expect(h.journal.jobsOfBatch(tx[0]!.nonce)).to.deep.equal([1n, 2n, 3n, 4n, 5n]);
    });

    it("a rejected item is looked at again alone: still open it goes as its own submitResult (once), taken by another it is not sent again", async function () {
      setUp();
      h.sender.onSend = (tx) =>
        tx.functionName === "submitResults"
          ? [submitted(1n), rejected(2n), rejected(3n, INVALID_STATUS)]
          : idsOf(tx).map((id) => submitted(id));
      // Job 3 lost the race: another provider's result lands before the batch (Delivered).
      await computeAndFlush([1n, 2n, 3n], 101, () => h.chain.set(3n, { status: 5 }));
      await h.processor.onLogs([
        {
          eventName: "ResultSubmitted",
          args: { jobId: 3n, provider: OTHER, resultHash: `0x${"0d".repeat(32)}` },
          blockNumber: 12n,
          blockHash: `0x${"0e".repeat(32)}`,
        } as never,
      ]);
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["submitResults", "submitResult"]);
      expect(idsOf(h.sender.sent[1]!)).to.deep.equal([2n]);
      expect(h.journal.getJob(1n)!.state).to.equal("submitted");
      expect(h.journal.getJob(2n)!.state).to.equal("submitted");
      expect(h.journal.getJob(3n)!.state).to.equal("lost");
      h.clock.now += 60_000;
      await h.settle();
      expect(h.sender.sent).to.have.length(2); // never a loop
    });

    it("a voided batch puts each of its jobs back: they ride in the next batch, none dropped", async function () {
      setUp();
      let voids = 1;
      h.sender.onSend = (tx) => {
        if (tx.functionName === "submitResults" && voids-- > 0) throw new TxVoidedError("batch voided after a reorg");
        return idsOf(tx).map((id) => submitted(id));
      };
      await computeAndFlush([1n, 2n, 3n], 101);
      for (const id of [1n, 2n, 3n]) expect(h.journal.getJob(id)!.state).to.equal("computed");
      h.clock.now += 2_000;
      const again = h.settle();
      await until("the jobs queued again", () => b.queued() === 3, FAKES);
      b.onBlock(102);
      await again;
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["submitResults"]); // the voided one was never recorded as sent
      expect(idsOf(h.sender.sent[0]!)).to.deep.equal([1n, 2n, 3n]);
      for (const id of [1n, 2n, 3n]) expect(h.journal.getJob(id)!.state).to.equal("submitted");
    });

    it("a reverted batch puts each of its jobs back alone (each reads the chain, then its own submitResult)", async function () {
      setUp();
      h.sender.onSend = (tx) => {
        if (tx.functionName === "submitResults") throw new TxRevertedError("batch reverted");
        return idsOf(tx).map((id) => submitted(id));
      };
      await computeAndFlush([1n, 2n], 101);
      h.clock.now += 2_000;
      await h.settle();
      expect(h.sender.kinds()).to.deep.equal(["submitResult", "submitResult"]);
      expect(h.sender.sent.flatMap(idsOf).sort()).to.deep.equal([1n, 2n]);
      for (const id of [1n, 2n]) expect(h.journal.getJob(id)!.state).to.equal("submitted");
    });

    it("claims of matured deliveries ride together in one claim transaction, and each job ends paid", async function () {
      setUp();
      h.sender.onSend = (tx) => {
        if (tx.functionName !== "claim") return idsOf(tx).map((id) => submitted(id));
        // The claim pays every item: the jobs are settled on the chain.
        for (const c of tx.args[0] as { jobId: bigint }[]) h.chain.set(c.jobId, { status: 3 });
        return [];
      };
      await computeAndFlush([1n, 2n, 3n], 101);
      for (const id of [1n, 2n, 3n]) {
        h.chain.set(id, { status: 5, revealStartedAt: h.chain.time });
        await h.processor.onLogs([
          {
            eventName: "ResultSubmitted",
            args: { jobId: id, provider: ME, resultHash: `0x${"0c".repeat(32)}` },
            blockNumber: 12n,
            blockHash: `0x${"0e".repeat(32)}`,
          } as never,
        ]);
      }
      await h.settle();
      h.chain.time += 1; // past each delivery's (zero) challenge window
      h.clock.now += 60_000;
      const claiming = h.settle();
      await until("every claim queued", () => b.queuedClaims() === 3, FAKES);
      b.onBlock(102);
      await claiming;
      expect(h.sender.kinds()).to.deep.equal(["submitResults", "claim"]);
      const claimed = (h.sender.sent[1]!.args[0] as { jobId: bigint; provider: Address }[]).map((c) => [
        c.jobId,
        c.provider,
      ]);
      expect(claimed).to.deep.equal([
        [1n, ME],
        [2n, ME],
        [3n, ME],
      ]);
      expect(h.journal.jobsOfBatch(h.journal.batchTxsFor(2n).find((t) => t.kind === "claim")!.nonce)).to.deep.equal([
        1n,
        2n,
        3n,
      ]);
      // Each ends once the scan takes its DeliveryClaimed (an ending read at the head is tied to no block).
      await h.processor.onLogs(
        [1n, 2n, 3n].map((id) => event("DeliveryClaimed", { jobId: id, provider: ME, fee: 1n })),
      );
      await h.settle();
      for (const id of [1n, 2n, 3n]) expect(h.journal.getJob(id)!.state).to.equal("paid");
      expect(h.sender.kinds()).to.deep.equal(["submitResults", "claim"]); // claimed once
    });

    it("chaos seed 11 (burst): a reorg takes back the jobs of a mined batch, and the new chain mines it again: each job reads its outcome from that receipt, in any order; none goes alone", async function () {
      setUp();
      h.sender.blockNumber = 20n; // the batch's block: a fact of each job's (see onSubmitted)
      h.sender.onSend = (tx) => idsOf(tx).map((id) => submitted(id));
      await computeAndFlush([1n, 2n, 3n], 101);
      for (const id of [1n, 2n, 3n]) expect(h.journal.getJob(id)!.state).to.equal("submitted");
      const batch = h.journal.batchTxsFor(1n)[0]!;
      // The reorg drops block 20. The new chain mined the same batch again (a node puts a reorg's
      // transactions back in its pool); its receipt delivers jobs 1 and 2, and job 3 was taken meanwhile.
      h.processor.rewound(h.journal.rewindTo(15));
      for (const id of [1n, 2n, 3n]) expect(h.journal.getJob(id)!.state).to.equal("computed");
      h.chain.set(3n, { status: 5 });
      h.chain.deliveries.set(3n, { provider: OTHER, resultHash: `0x${"0d".repeat(32)}` });
      h.sender.onResume = () => [submitted(1n), submitted(2n), rejected(3n, INVALID_STATUS)];
      for (const id of [1n, 2n, 3n]) h.processor.kick(id);
      await h.settle();
      await h.processor.idle();
      // The batch's receipt was read once on the new chain, for the three jobs: whichever came
      // first read it, the others joined that read or took what it said.
      expect(h.sender.resumed.map((t) => t.hash)).to.deep.equal([batch.hash]);
      expect(h.journal.getJob(1n)!.state).to.equal("submitted");
      expect(h.journal.getJob(2n)!.state).to.equal("submitted");
      // Job 3: rejected by the batch, it reads the chain (delivered by another) and sends nothing.
      expect(h.sender.kinds(), "nothing sent alone").to.deep.equal(["submitResults"]);
      expect(h.journal.getJob(3n)!.state).to.equal("lost");
    });

    /**
     * What a first run left: jobs 1–3 computed, and one batch for them, sent (in flight) or mined
     * (killed before its jobs took its outcome). Returns the batch's hash.
     */
    function leftByAFirstRun(status: "sent" | "mined"): Hex {
      for (const id of [1n, 2n, 3n])
        journalJob(h.journal, id, makeJob(), {
          state: "computed",
          resultHash: `0x${"0c".repeat(32)}`,
          outputRef: "0x01",
          signature: `0x${"11".repeat(65)}`,
        });
      const hash: Hex = `0x${"0f".repeat(32)}`;
      h.journal.recordTx({ jobId: null, kind: "batch", nonce: 0, hash, raw: "0x00" }, [1n, 2n, 3n]);
      if (status === "mined") h.journal.setTxStatus(hash, "mined");
      else h.journal.markTxSent(hash);
      return hash;
    }

    it("restart after a batch was mined but before its jobs took its outcome: its receipt is read once for all, nothing sent alone", async function () {
      setUp();
      const hash = leftByAFirstRun("mined");
      h.sender.onResume = () => [submitted(1n), submitted(2n), submitted(3n)];
      await h.settle();
      expect(h.sender.resumed.map((t) => t.hash)).to.deep.equal([hash]);
      for (const id of [1n, 2n, 3n]) expect(h.journal.getJob(id)!.state).to.equal("submitted");
      expect(h.sender.sent, "nothing sent alone").to.have.length(0);
    });

    it("restart with a journaled batch in flight: the new run waits for that very transaction, sends nothing new", async function () {
      setUp();
      const hash = leftByAFirstRun("sent");
      // Its receipt takes a moment, as a real one does: every job's step finds it still in flight
      // (job steps take turns on the event loop, so an instant receipt could come before the last).
      h.sender.onResume = async () => {
        await new Promise((r) => setTimeout(r, 50));
        return [submitted(1n), submitted(2n), rejected(3n)];
      };
      h.sender.onSend = (tx) => idsOf(tx).map((id) => submitted(id));
      await h.settle();
      // One wait for the batch's receipt, shared by the jobs it carried.
      expect(h.sender.resumed.map((t) => t.hash)).to.deep.equal([hash]);
      expect(h.journal.getJob(1n)!.state).to.equal("submitted");
      expect(h.journal.getJob(2n)!.state).to.equal("submitted");
      // The item the batch did not deliver goes alone, and only it.
      expect(h.sender.kinds()).to.deep.equal(["submitResult"]);
      expect(idsOf(h.sender.sent[0]!)).to.deep.equal([3n]);
      expect(h.journal.getJob(3n)!.state).to.equal("submitted");
    });
  });
});
