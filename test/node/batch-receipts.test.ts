import { expect } from "chai";
import type { Hex } from "viem";
import { createBatchReceipts, type OutcomesOf } from "../../node/jobs/batch-receipts.ts";
import type { TxRecord } from "../../node/journal/journal.ts";

/** A journaled batch at `nonce` with `status` (the fields the reads look at). */
function tx(nonce: number, status: TxRecord["status"]): TxRecord {
  return { nonce, status, hash: `0x${nonce.toString(16).padStart(64, "0")}` as Hex } as TxRecord;
}

/** A read that resolves when the test says, counting its calls. */
function scriptedReads() {
  const calls: ((outcomes: OutcomesOf<string>) => void)[] = [];
  const fail: ((e: Error) => void)[] = [];
  return {
    calls,
    fail,
    read: () =>
      new Promise<OutcomesOf<string>>((resolve, reject) => {
        calls.push(resolve);
        fail.push(reject);
      }),
  };
}

describe("batch receipts: the jobs of a batch read again share its receipt (issue 14)", function () {
  it("the jobs of a mined batch share one read, in flight or done", async function () {
    const receipts = createBatchReceipts<string>();
    const r = scriptedReads();
    const first = receipts.read(tx(7, "mined"), r.read);
    const second = receipts.read(tx(7, "mined"), r.read);
    r.calls[0]!((id) => `job ${id}`);
    expect((await first)(1n)).to.equal("job 1");
    expect((await second)(2n)).to.equal("job 2");
    expect((await receipts.read(tx(7, "mined"), r.read))(3n)).to.equal("job 3");
    expect(r.calls).to.have.length(1);
  });

  it("a batch still in flight is read once for all its jobs; once read, one the journal sets back to sent (a reorg) is read anew", async function () {
    const receipts = createBatchReceipts<string>();
    const r = scriptedReads();
    const a = receipts.read(tx(3, "sent"), r.read);
    const b = receipts.read(tx(3, "sent"), r.read);
    r.calls[0]!(() => "old chain");
    expect([(await a)(1n), (await b)(2n)]).to.deep.equal(["old chain", "old chain"]);
    expect(r.calls).to.have.length(1);
    // The reorg set the batch back to sent: what the old chain said is not taken again.
    const again = receipts.read(tx(3, "sent"), r.read);
    expect(r.calls).to.have.length(2);
    r.calls[1]!(() => "new chain");
    expect((await again)(1n)).to.equal("new chain");
    // Mined on the new chain: its jobs take the new read.
    expect((await receipts.read(tx(3, "mined"), r.read))(2n)).to.equal("new chain");
    expect(r.calls).to.have.length(2);
  });

  it("a failed read is not kept: the next job's read tries again", async function () {
    const receipts = createBatchReceipts<string>();
    const r = scriptedReads();
    const failed = receipts.read(tx(5, "mined"), r.read);
    r.fail[0]!(new Error("RPC down"));
    const error = await failed.then(
      () => null,
      (e: unknown) => e,
    );
    expect(String(error)).to.contain("RPC down");
    const next = receipts.read(tx(5, "mined"), r.read);
    expect(r.calls).to.have.length(2);
    r.calls[1]!(() => "read");
    expect((await next)(1n)).to.equal("read");
  });

  it("holds the latest batches read, up to its limit: the oldest is read anew", async function () {
    const receipts = createBatchReceipts<string>(2);
    const r = scriptedReads();
    for (const nonce of [1, 2, 3]) {
      const p = receipts.read(tx(nonce, "mined"), r.read);
      r.calls.at(-1)!(() => `batch ${nonce}`);
      await p;
    }
    expect(r.calls).to.have.length(3);
    await receipts.read(tx(3, "mined"), r.read);
    await receipts.read(tx(2, "mined"), r.read);
    expect(r.calls).to.have.length(3);
    const oldest = receipts.read(tx(1, "mined"), r.read);
    expect(r.calls).to.have.length(4);
    r.calls[3]!(() => "batch 1 again");
    expect((await oldest)(1n)).to.equal("batch 1 again");
  });
});
