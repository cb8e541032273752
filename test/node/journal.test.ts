import path from "node:path";
import { expect } from "chai";
import { bytesToHex, zeroAddress, type Hex } from "viem";
import type { Job } from "../../node/attest/attestation.ts";
import { jobHash } from "../../node/attest/attestation.ts";
import { DatabaseSync } from "node:sqlite";
import { openJournal, reviveBigints } from "../../node/journal/journal.ts";
import { testDir } from "../helpers/temp-dir.ts";

const job = (fee: bigint): Job => ({
  client: zeroAddress,
  token: zeroAddress,
  modelId: `0x${"ab".repeat(32)}`,
  version: 1,
  redundancy: 1,
  quorum: 0,
  protocolFeeBps: 100,
  feePerProvider: fee,
  requestedAt: 1,
  deadline: 2,
  commitDeadline: 0,
  revealWindow: 0,
  priorityWindow: 0,
  minMemoryMB: 1,
  collateral: 0n,
  requiredTags: 0n,
  inputHash: `0x${"00".repeat(32)}`,
  seed: 0n,
  challengeWindow: 0,
  counted: false,
});
const h = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as Hex;
const file = () => path.join(testDir("conclave-journal-"), "j.sqlite");

const hexOf = (bytes: Uint8Array | null) => (bytes === null ? null : bytesToHex(bytes));

/** Job 7 with fee `fee` (its parameters), seen in `block`. */
const putJob7 = (j: ReturnType<typeof openJournal>, fee: bigint, block: number) =>
  j.upsertJob({
    jobId: 7n,
    paramsHash: jobHash(job(fee)),
    job: job(fee),
    input: "0x01",
    inputCid: null,
    block,
    blockHash: h(block),
  });

describe("journal", function () {
  it("survives reopening: cursor, jobs (with bigints) and transactions", function () {
    const f = file();
    const j = openJournal(f);
    j.advance(10, h(10));
    j.upsertJob({
      jobId: 7n,
      paramsHash: jobHash(job(5n)),
      job: job(5n),
      input: "0x01",
      inputCid: null,
      block: 9,
      blockHash: h(9),
    });
    expect(
      j.updateJob(
        7n,
        { paramsHash: jobHash(job(5n)), state: "seen" },
        { state: "computed", resultHash: h(1), salt: h(2) },
      ),
    ).to.equal(true);
    j.recordTx({ jobId: 7n, kind: "commit", nonce: 4, hash: h(3), raw: "0xdead" });
    j.close();
    const again = openJournal(f);
    expect(again.cursor()).to.deep.equal({ block: 10, hash: h(10) });
    const rec = again.getJob(7n)!;
    expect(rec.state).to.equal("computed");
    expect(rec.job.feePerProvider).to.equal(5n);
    expect(rec.salt).to.equal(h(2));
    expect(again.unsettledTxs().map((t) => t.nonce)).to.deep.equal([4]);
    expect(again.maxNonce()).to.equal(4);
    again.close();
  });

  it("decodes bigints as a JSON.parse reviver would, without one (nested, in arrays, at the root)", function () {
    const text = JSON.stringify({
      a: { $bigint: "12345678901234567890" },
      b: [{ $bigint: "-1" }, 2, { c: { $bigint: "0" } }],
      d: "x",
      e: null,
    });
    const reviver = (_k: string, x: unknown) =>
      x && typeof x === "object" && "$bigint" in x ? BigInt((x as { $bigint: string }).$bigint) : x;
    expect(reviveBigints(JSON.parse(text))).to.deep.equal(JSON.parse(text, reviver));
    expect(reviveBigints(JSON.parse('{"$bigint":"7"}'))).to.equal(7n);
    const j = openJournal(file());
    const big = { ...job(2n ** 95n), collateral: 2n ** 95n, requiredTags: 2n ** 63n, seed: 3n };
    j.upsertJob({
      jobId: 1n,
      paramsHash: jobHash(big),
      job: big,
      input: null,
      inputCid: "bafy",
      block: 1,
      blockHash: h(1),
    });
    expect(j.getJob(1n)!.job).to.deep.equal(big);
    j.close();
  });

  it("keeps an inline input as bytes and gives back the same bytes; any other text (and a journal's older hex rows) as text, read back as the bytes it stands for", function () {
    const f = file();
    const j = openJournal(f);
    const inputs: Hex[] = [`0x${"ab01".repeat(2_000)}`, "0x", "0x123", `0x${"AB".repeat(4)}`];
    inputs.forEach((input, i) =>
      j.upsertJob({
        jobId: BigInt(i),
        paramsHash: jobHash(job(1n)),
        job: job(1n),
        input,
        inputCid: null,
        block: 1,
        blockHash: h(1),
      }),
    );
    j.close();
    const raw = new DatabaseSync(f);
    expect(raw.prepare("SELECT typeof(input) AS t FROM jobs WHERE job_id = '0'").get()).to.deep.equal({ t: "blob" });
    raw
      .prepare(
        "INSERT INTO jobs (job_id, params_hash, job, input, block, block_hash, state, updated_at) SELECT '9', params_hash, job, '0x0a0b', block, block_hash, state, updated_at FROM jobs WHERE job_id = '0'",
      )
      .run();
    raw.close();
    const again = openJournal(f);
    // Clean hex reads back as its bytes; hex text in other case as the same bytes; text that is not
    // hex as its UTF-8 bytes, which never hash to a job's input hash (the job is refused, as before).
    const expected = [inputs[0], "0x", bytesToHex(new TextEncoder().encode("0x123")), "0xabababab"];
    inputs.forEach((_, i) => expect(hexOf(again.inputBytes(BigInt(i))), `input ${i}`).to.equal(expected[i]));
    expect(hexOf(again.inputBytes(9n))).to.equal("0x0a0b"); // an older journal's hex text reads as its bytes
    // Rows are read without their input: only computing a job reads it.
    expect(again.getJob(0n)).to.not.have.property("input");
    expect(again.dueJobs(Date.now(), 10).every((r) => !("input" in r))).to.equal(true);
    again.close();
  });

  it("keeps an input given as bytes (a view into the chain-log thread's shared buffer) as exactly the view's bytes", function () {
    const j = openJournal(file());
    const buffer = new Uint8Array(64).map((_, i) => i);
    const view = buffer.subarray(10, 20);
    j.upsertJob({
      jobId: 1n,
      paramsHash: jobHash(job(1n)),
      job: job(1n),
      input: view,
      inputCid: null,
      block: 1,
      blockHash: h(1),
    });
    expect(hexOf(j.inputBytes(1n))).to.equal(bytesToHex(view));
    j.close();
  });

  it("a batch transaction is linked to the jobs it carries, through its replacements and a reopen", function () {
    const f = file();
    const j = openJournal(f);
    j.recordTx({ jobId: null, kind: "batch", nonce: 3, hash: h(30), raw: "0x01" }, [5n, 6n, 7n]);
    j.recordTx({ jobId: 9n, kind: "submit", nonce: 4, hash: h(40), raw: "0x02" });
    // A fee-bumped replacement keeps the nonce (the sender records it without the jobs).
    j.recordTx({ jobId: null, kind: "batch", nonce: 3, hash: h(31), raw: "0x03" });
    j.close();
    const again = openJournal(f);
    expect(again.batchTxsFor(6n).map((t) => t.hash)).to.deep.equal([h(30), h(31)]);
    expect(again.batchTxsFor(9n)).to.deep.equal([]);
    expect(again.jobsOfBatch(3)).to.deep.equal([5n, 6n, 7n]);
    expect(again.jobsOfBatch(4)).to.deep.equal([]);
    again.close();
  });

  it("treats the same JobRequested seen twice as one job, and a different job under the same id as new", function () {
    const j = openJournal(file());
    const rec = {
      jobId: 1n,
      paramsHash: jobHash(job(1n)),
      job: job(1n),
      input: null,
      inputCid: "bafy",
      block: 5,
      blockHash: h(5),
    };
    expect(j.upsertJob(rec)).to.equal("new");
    j.updateJob(1n, { paramsHash: rec.paramsHash, state: "seen" }, { state: "submitted" });
    expect(j.upsertJob({ ...rec, block: 6, blockHash: h(6) })).to.equal("same");
    expect(j.getJob(1n)!.state).to.equal("submitted");
    expect(j.upsertJob({ ...rec, job: job(2n), paramsHash: jobHash(job(2n)) })).to.equal("replaced");
    expect(j.getJob(1n)!.state).to.equal("seen");
    j.close();
  });

  it("writes a job's step outcome only if the job is still the same job in the expected state (finding 1)", function () {
    const j = openJournal(file());
    const old = {
      jobId: 1n,
      paramsHash: jobHash(job(1n)),
      job: job(1n),
      input: null,
      inputCid: "bafy",
      block: 5,
      blockHash: h(5),
    };
    j.upsertJob(old);
    const computing = j.getJob(1n)!; // a computation of the old job starts from this row
    // A reorg swaps the job under the same id while the old one is being computed.
    expect(j.upsertJob({ ...old, job: job(2n), paramsHash: jobHash(job(2n)), blockHash: h(6) })).to.equal("replaced");
    expect(j.updateJob(1n, computing, { state: "computed", resultHash: h(9) })).to.equal(false);
    const now = j.getJob(1n)!;
    expect(now.state).to.equal("seen");
    expect(now.resultHash).to.equal(null);
    expect(now.paramsHash).to.equal(jobHash(job(2n)));
    // A step overtaken by another (same job, state moved on) writes nothing either.
    expect(j.updateJob(1n, now, { state: "accepted" })).to.equal(true);
    expect(j.updateJob(1n, now, { state: "skipped" })).to.equal(false);
    expect(j.getJob(1n)!.state).to.equal("accepted");
    j.close();
  });

  it("forgets ended jobs after the retention, keeps open ones and the tokens it was paid in (finding 9)", function () {
    const j = openJournal(file());
    // Job 1 is k = 3; the others k = 1.
    const of = (i: bigint): Job => (i === 1n ? { ...job(i), redundancy: 3, quorum: 2 } : job(i));
    for (let i = 1n; i <= 5n; i++)
      j.upsertJob({
        jobId: i,
        paramsHash: jobHash(of(i)),
        job: of(i),
        input: "0x0102",
        inputCid: null,
        block: 5,
        blockHash: h(5),
      });
    const v = (i: bigint) => ({ paramsHash: jobHash(of(i)), state: "seen" as const });
    j.updateJob(1n, v(1n), { state: "paid", expiryDone: true, outputRef: "0x01" });
    j.updateJob(2n, v(2n), { state: "skipped" });
    j.updateJob(3n, v(3n), { state: "lost" }); // the expiry service may still look at it
    j.recordTx({ jobId: 1n, kind: "submit", nonce: 0, hash: h(1), raw: "0x01" });
    j.setTxStatus(h(1), "mined");
    j.notePaidToken("0x00000000000000000000000000000000000000aa");
    expect(j.prune(0)).to.deep.equal([]); // nothing older than the epoch
    expect(j.inputBytes(1n)).to.equal(null); // an ended k > 1 job with no chain fact a reorg could take back: at once
    // An ended k = 1 job keeps its input while its row stays: a checker or a juror may recompute it.
    expect(hexOf(j.inputBytes(3n))).to.equal("0x0102");
    expect(hexOf(j.inputBytes(4n))).to.equal("0x0102");
    const gone = j.prune(Date.now() + 1);
    expect(gone.map((g) => g.jobId).sort()).to.deep.equal([1n, 2n]);
    expect(gone.find((g) => g.jobId === 1n)!.outputRef).to.equal("0x01");
    expect(j.getJob(3n)).to.not.equal(null);
    expect(j.getJob(4n)!.state).to.equal("seen");
    expect(j.countTxs()).to.equal(0);
    expect(j.paidTokens()).to.deep.equal(["0x00000000000000000000000000000000000000aa"]);
    j.close();
  });

  it("migrates a journal written before the retry and expiry columns existed", function () {
    const f = file();
    const j = openJournal(f);
    j.upsertJob({
      jobId: 1n,
      paramsHash: jobHash(job(1n)),
      job: job(1n),
      input: null,
      inputCid: "bafy",
      block: 5,
      blockHash: h(5),
    });
    j.close();
    const db = new DatabaseSync(f);
    db.exec("DROP INDEX jobs_due; DROP INDEX jobs_expiry");
    for (const c of ["attempts", "next_attempt_at", "settled_hash", "expiry_done", "ends_at", "delivered_by"])
      db.exec(`ALTER TABLE jobs DROP COLUMN ${c}`);
    db.close();
    const again = openJournal(f);
    expect(again.getJob(1n)!.attempts).to.equal(0);
    expect(again.dueJobs(Date.now(), 10).map((r) => r.jobId)).to.deep.equal([1n]);
    again.close();
  });

  it("a reorg below the events that moved a job on forgets them and takes the job back to be read again", function () {
    const j = openJournal(file());
    const k3 = { ...job(1n), redundancy: 3, quorum: 2 };
    j.upsertJob({
      jobId: 1n,
      paramsHash: jobHash(k3),
      job: k3,
      input: null,
      inputCid: "bafy",
      block: 5,
      blockHash: h(5),
    });
    j.upsertJob({
      jobId: 2n,
      paramsHash: jobHash(job(2n)),
      job: job(2n),
      input: null,
      inputCid: "bafy",
      block: 5,
      blockHash: h(5),
    });
    j.updateJob(
      1n,
      { paramsHash: jobHash(k3), state: "seen" },
      { state: "revealed", resultHash: h(1), salt: h(2), seat: 2 },
    );
    j.noteChainFact(1n, { seat: 2, deliveredBy: "0x00000000000000000000000000000000000000aa" }, 9);
    j.updateJob(2n, { paramsHash: jobHash(job(2n)), state: "seen" }, { state: "paid", resultHash: h(3) });
    j.noteChainFact(2n, { deliveredBy: "0x00000000000000000000000000000000000000aa", final: true }, 7);
    const txs = [
      { jobId: 1n, kind: "commit", nonce: 0, hash: h(10), status: "mined" },
      { jobId: 1n, kind: "reveal", nonce: 1, hash: h(11), status: "reverted" },
      { jobId: 2n, kind: "submit", nonce: 2, hash: h(12), status: "mined" },
    ] as const;
    for (const t of txs) {
      j.recordTx({ jobId: t.jobId, kind: t.kind, nonce: t.nonce, hash: t.hash, raw: "0x01" });
      j.setTxStatus(t.hash, t.status);
    }
    // Batches that carried them: our seats' commits and reveals, and a k = 1 delivery batch.
    const batches = [
      { kind: "commits", nonce: 3, hash: h(13) },
      { kind: "reveals", nonce: 4, hash: h(14) },
      { kind: "batch", nonce: 5, hash: h(15) },
    ] as const;
    for (const b of batches) {
      j.recordTx({ jobId: null, kind: b.kind, nonce: b.nonce, hash: b.hash, raw: "0x01" }, [1n, 2n]);
      j.setTxStatus(b.hash, "mined");
    }
    // A batch that carried only the job the reorg left alone.
    j.recordTx({ jobId: null, kind: "batch", nonce: 6, hash: h(16), raw: "0x01" }, [2n]);
    j.setTxStatus(h(16), "mined");
    expect(j.rewindTo(8)).to.deep.equal([1n]);
    const one = j.getJob(1n)!;
    expect([one.state, one.seat, one.deliveredBy, one.blockHash]).to.deep.equal(["computed", null, null, h(5)]);
    expect(one.salt).to.equal(h(2)); // the commit's secret stays
    expect(j.getJob(2n)!.state).to.equal("paid"); // its facts are older than the reorg
    // The job taken back has its transactions' receipts looked up again on the new chain (chaos
    // seed 23: a reveal mined again there reverted, and "mined" kept it from being sent again).
    const status = (jobId: bigint, kind: "commit" | "reveal" | "submit") => j.txsFor(jobId, kind)[0]!.status;
    expect([status(1n, "commit"), status(1n, "reveal"), status(2n, "submit")]).to.deep.equal(["sent", "sent", "mined"]);
    // So are the batches that carried it (a settled job's seats are cleared: the batch's receipt
    // says the seat; a k = 1 batch mined again first would make a result sent alone revert; chaos
    // seed 11, a burst); one that carried only jobs the reorg left alone is not.
    const batchStatus = (kind: string) => j.batchTxsFor(1n).find((t) => t.kind === kind)!.status;
    expect(batches.map((b) => batchStatus(b.kind))).to.deep.equal(["sent", "sent", "sent"]);
    expect(j.batchTxsFor(2n).find((t) => t.hash === h(16))!.status).to.equal("mined");
    j.close();
  });

  it("a job given up as lost on a delivery that a reorg dropped is decided again (nobody would serve it otherwise)", function () {
    const j = openJournal(file());
    j.upsertJob({
      jobId: 1n,
      paramsHash: jobHash(job(1n)),
      job: job(1n),
      input: null,
      inputCid: "bafy",
      block: 5,
      blockHash: h(5),
    });
    j.upsertJob({
      jobId: 2n,
      paramsHash: jobHash(job(2n)),
      job: job(2n),
      input: null,
      inputCid: "bafy",
      block: 5,
      blockHash: h(5),
    });
    // Another provider's result (block 9) made us give job 1 up before computing anything.
    j.noteChainFact(1n, { deliveredBy: "0x00000000000000000000000000000000000000aa", final: true }, 9);
    j.updateJob(1n, { paramsHash: jobHash(job(1n)), state: "seen" }, { state: "lost", reason: "job no longer open" });
    // Job 2 was given up on an older fact, below the reorg.
    j.noteChainFact(2n, { deliveredBy: "0x00000000000000000000000000000000000000aa", final: true }, 7);
    j.updateJob(2n, { paramsHash: jobHash(job(2n)), state: "seen" }, { state: "lost", reason: "job no longer open" });
    expect(j.rewindTo(8)).to.deep.equal([1n]);
    const one = j.getJob(1n)!;
    expect([one.state, one.reason, one.deliveredBy, one.expiryDone]).to.deep.equal(["seen", null, null, false]);
    expect(j.getJob(2n)!.state).to.equal("lost");
    j.close();
  });

  it("a k > 1 job given up on a fact keeps its inline input until no reorg can reopen it (chaos seed 7)", function () {
    const j = openJournal(file());
    const k3 = { ...job(1n), redundancy: 3, quorum: 2 };
    for (let b = 1; b <= 10; b++) j.advance(b, h(b));
    j.upsertJob({
      jobId: 1n,
      paramsHash: jobHash(k3),
      job: k3,
      input: "0x0102",
      inputCid: null,
      block: 5,
      blockHash: h(5),
    });
    // Every seat taken (block 9): given up before computing, and pruned at once.
    j.noteChainFact(1n, { seat: 2 }, 9);
    j.updateJob(1n, { paramsHash: jobHash(k3), state: "seen" }, { state: "lost", reason: "every seat taken" });
    j.prune(0);
    // The reorg drops the seats: the job is decided again, and computing it needs its input.
    expect(j.rewindTo(8)).to.deep.equal([1n]);
    expect(j.getJob(1n)!.state).to.equal("seen");
    expect(hexOf(j.inputBytes(1n))).to.equal("0x0102");
    // Given up again, on a fact that the journal's reorg reach (its kept blocks) has since left behind.
    j.noteChainFact(1n, { seat: 2 }, 9);
    j.updateJob(1n, { paramsHash: jobHash(k3), state: "seen" }, { state: "lost", reason: "every seat taken" });
    for (let b = 9; b <= 9 + 256; b++) j.advance(b, h(b + 1000));
    j.prune(0);
    expect(j.inputBytes(1n)).to.equal(null);
    j.close();
  });

  it("rewinds after a reorg: forgets newer blocks and marks their jobs for re-evaluation", function () {
    const j = openJournal(file());
    for (let b = 1; b <= 5; b++) j.advance(b, h(b));
    j.upsertJob({
      jobId: 1n,
      paramsHash: jobHash(job(1n)),
      job: job(1n),
      input: "0x",
      inputCid: null,
      block: 2,
      blockHash: h(2),
    });
    j.upsertJob({
      jobId: 2n,
      paramsHash: jobHash(job(2n)),
      job: job(2n),
      input: "0x",
      inputCid: null,
      block: 4,
      blockHash: h(4),
    });
    expect(j.rewindTo(3)).to.deep.equal([2n]);
    expect(j.cursor()).to.deep.equal({ block: 3, hash: h(3) });
    expect(j.getJob(2n)!.blockHash).to.equal("0x");
    expect(j.getJob(1n)!.blockHash).to.equal(h(2));
    j.close();
  });

  it("keeps the blocks our receipts came from until the watcher found them on its chain, or a rewind took them back", function () {
    const j = openJournal(file());
    for (let b = 1; b <= 5; b++) j.advance(b, h(b));
    j.noteReceiptBlock(4, h(4));
    j.noteReceiptBlock(7, h(7));
    j.noteReceiptBlock(7, h(7)); // another receipt in the same block
    j.noteReceiptBlock(8, h(80));
    j.noteReceiptBlock(8, h(81)); // a receipt from another fork at the same height
    expect(j.receiptBlocks(7)).to.deep.equal([
      { block: 4, hash: h(4) },
      { block: 7, hash: h(7) },
    ]);
    expect(j.blockHash(4)).to.equal(h(4));
    expect(j.blockHash(6)).to.equal(null);
    // Forgotten only as checked: a receipt noted in the same block after the check stays.
    j.noteReceiptBlock(7, h(70));
    j.advance(
      7,
      h(7),
      [],
      [
        { block: 4, hash: h(4) },
        { block: 7, hash: h(7) },
      ],
    );
    expect(j.receiptBlocks(100).map((r) => [r.block, r.hash])).to.deep.equal([
      [7, h(70)],
      [8, h(80)],
      [8, h(81)],
    ]);
    j.rewindTo(7);
    expect(j.receiptBlocks(100)).to.deep.equal([{ block: 7, hash: h(70) }]);
    j.close();
  });
  it("sync makes commits durable off the event loop, serving concurrent callers together", async function () {
    const f = file();
    const j = openJournal(f);
    j.recordTx({ jobId: 1n, kind: "submit", nonce: 0, hash: h(1), raw: "0x01" });
    await j.sync();
    const calls = Array.from({ length: 20 }, (_, i) => {
      j.recordTx({ jobId: BigInt(i + 2), kind: "submit", nonce: i + 1, hash: h(i + 2), raw: "0x01" });
      return j.sync();
    });
    await Promise.all(calls);
    await j.sync(); // nothing new: still resolves
    expect(j.maxNonce()).to.equal(20);
    j.close();
    const again = openJournal(f);
    expect(again.unsettledTxs()).to.have.length(21);
    again.close();
  });

  describe("group commit: one transaction per turn of the event loop", function () {
    const seen = (f: string, key: string) => {
      const other = new DatabaseSync(f);
      try {
        return (other.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
      } finally {
        other.close();
      }
    };

    it("the writes of one turn commit together at its end", async function () {
      const f = file();
      const j = openJournal(f, { checkpointIntervalMs: 0 });
      try {
        j.setMeta("a", "1");
        j.setMeta("b", "2");
        // This connection reads its own writes at once; another sees them once the turn is over.
        expect(j.getMeta("b")).to.equal("2");
        expect(seen(f, "a")).to.equal(undefined);
        await new Promise((r) => setImmediate(r));
        expect([seen(f, "a"), seen(f, "b")]).to.deep.equal(["1", "2"]);
      } finally {
        j.close();
      }
    });

    it("sync commits the turn's writes before it returns to the caller, so a recorded transaction is committed before its broadcast", async function () {
      const f = file();
      const j = openJournal(f, { checkpointIntervalMs: 0 });
      try {
        j.setMeta("salt", "s");
        j.recordTx({ jobId: 1n, kind: "commit", nonce: 0, hash: h(1), raw: "0x01" });
        const synced = j.sync();
        // Committed synchronously, within this very turn.
        expect(seen(f, "salt")).to.equal("s");
        await synced;
      } finally {
        j.close();
      }
      const again = openJournal(f);
      expect(again.unsettledTxs().map((t) => t.hash)).to.deep.equal([h(1)]);
      again.close();
    });

    it("a failed atomically rolls back only its own writes, not the turn's earlier ones", function () {
      const f = file();
      const j = openJournal(f, { checkpointIntervalMs: 0 });
      j.setMeta("before", "kept");
      expect(() =>
        j.atomically(() => {
          j.setMeta("inside", "gone");
          throw new Error("boom");
        }),
      ).to.throw("boom");
      j.atomically(() => j.setMeta("after", "kept"));
      j.close(); // commits the open turn
      const again = openJournal(f);
      expect([again.getMeta("before"), again.getMeta("inside"), again.getMeta("after")]).to.deep.equal([
        "kept",
        null,
        "kept",
      ]);
      again.close();
    });

    it("without group commit every write commits at once (as before)", function () {
      const f = file();
      const j = openJournal(f, { checkpointIntervalMs: 0, groupCommit: false });
      try {
        j.setMeta("a", "1");
        expect(seen(f, "a")).to.equal("1");
        expect(() =>
          j.atomically(() => {
            j.setMeta("b", "gone");
            throw new Error("boom");
          }),
        ).to.throw("boom");
        j.atomically(() => j.setMeta("c", "3"));
        expect([seen(f, "b"), seen(f, "c")]).to.deep.equal([undefined, "3"]);
      } finally {
        j.close();
      }
    });
  });

  it("keeps a job's row between reads, frozen, and every write to it is seen by the next read (issue 14)", function () {
    const j = openJournal(file());
    try {
      const put = (fee: bigint, block: number) => putJob7(j, fee, block);
      const v = (state: "seen" | "computed") => ({ paramsHash: jobHash(job(5n)), state });
      put(5n, 9);
      const first = j.getJob(7n)!;
      expect(j.getJob(7n), "an unchanged row is not read again").to.equal(first);
      expect(Object.isFrozen(first) && Object.isFrozen(first.job)).to.equal(true);
      expect(() => ((first as { state: string }).state = "paid")).to.throw(TypeError);

      expect(j.updateJob(7n, v("seen"), { state: "computed", nextAttemptAt: 999 })).to.equal(true);
      expect(j.getJob(7n)!.state).to.equal("computed");
      j.wake(7n);
      expect(j.getJob(7n)!.nextAttemptAt).to.equal(0);
      expect(j.noteChainFact(7n, { seat: 2 }, 12)).to.equal(true);
      expect(j.getJob(7n)!).to.include({ seat: 2, factsBlock: 12 });
      put(5n, 10);
      expect(j.getJob(7n)!.block).to.equal(10);

      // A row read inside writes that are rolled back is not kept as they left it.
      expect(() =>
        j.atomically(() => {
          j.updateJob(7n, v("computed"), { state: "lost" });
          expect(j.getJob(7n)!.state).to.equal("lost");
          throw new Error("rolled back");
        }),
      ).to.throw("rolled back");
      expect(j.getJob(7n)!.state).to.equal("computed");

      expect(j.rewindTo(9)).to.deep.equal([7n]);
      expect(j.getJob(7n)!).to.include({ blockHash: "0x", seat: null });
      put(6n, 11);
      expect(j.getJob(7n)!).to.include({ state: "seen", paramsHash: jobHash(job(6n)) });
      j.updateJob(7n, { paramsHash: jobHash(job(6n)), state: "seen" }, { state: "skipped" });
      j.getJob(7n);
      expect(j.prune(Date.now() + 1).map((r) => r.jobId)).to.deep.equal([7n]);
      expect(j.getJob(7n)).to.equal(null);
    } finally {
      j.close();
    }
  });

  it("keeps the row a write made without reading it back, and it is the row a read gives: every column a patch or a chain fact sets, NULLs included (issue 14)", function () {
    const j = openJournal(file());
    try {
      putJob7(j, 5n, 9);
      const inner = j as unknown as { sql(text: string): unknown; jobRows: Map<string, unknown> };
      const sql = inner.sql.bind(j);
      let selects = 0;
      inner.sql = (text: string) => {
        if (/^\s*SELECT/i.test(text)) selects++;
        return sql(text);
      };
      const v = (state: "seen" | "computed") => ({ paramsHash: jobHash(job(5n)), state });
      const keptIsRead = (what: string) => {
        const before = selects;
        const kept = j.getJob(7n);
        expect(selects, `${what}: read back`).to.equal(before);
        inner.jobRows.clear();
        expect(j.getJob(7n), `${what}: kept row`).to.deep.equal(kept);
      };
      j.getJob(7n);
      expect(
        j.updateJob(7n, v("seen"), {
          state: "computed",
          reason: "because",
          resultHash: h(1),
          outputRef: "0x01",
          signature: "0x02",
          salt: h(2),
          seat: 1,
          attempts: 3,
          nextAttemptAt: 123,
          settledHash: h(3),
          expiryDone: true,
          factsBlock: 4,
        }),
      ).to.equal(true);
      keptIsRead("update");
      expect(
        j.noteChainFact(
          7n,
          { seat: 2, deliveredBy: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", settledHash: h(4) },
          3,
        ),
      ).to.equal(true);
      keptIsRead("chain fact below the facts block");
      expect(j.noteChainFact(7n, { final: true }, 8)).to.equal(true);
      keptIsRead("final chain fact");
      j.wake(7n);
      keptIsRead("wake");
      expect(
        j.updateJob(7n, v("computed"), {
          reason: null,
          seat: null,
          salt: undefined,
          settledHash: undefined,
        }),
      ).to.equal(true);
      keptIsRead("update to NULLs");
      expect(j.updateJob(7n, v("seen"), { state: "lost" }), "a write that does not apply").to.equal(false);
      expect(j.getJob(7n)!.state).to.equal("computed");
    } finally {
      j.close();
    }
  });

  it("forgets the job rows it read in a turn whose writes SQLite rolled back itself (a failed write: disk full)", function () {
    const j = openJournal(file());
    try {
      putJob7(j, 5n, 9);
      // The upsert's turn ends: its group is committed.
      (j as unknown as { commitGroup(): void }).commitGroup();
      j.updateJob(7n, { paramsHash: jobHash(job(5n)), state: "seen" }, { state: "computed" });
      expect(j.getJob(7n)!.state).to.equal("computed");
      // What SQLite does to the open transaction when a write in it fails with SQLITE_FULL.
      (j as unknown as { db: DatabaseSync }).db.exec("ROLLBACK");
      expect(j.getJob(7n)!.state).to.equal("seen");
    } finally {
      j.close();
    }
  });
});
