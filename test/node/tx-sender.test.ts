import path from "node:path";
import { expect } from "chai";
import { network } from "hardhat";
import { keccak256, type Hex, type PublicClient } from "viem";
import { createTxSender, MAX_TX_GAS } from "../../node/chain/tx-pipeline.ts";
import { TxWouldRevertError, txRpcOf, type TxRpc } from "../../node/chain/tx-sender.ts";
import { devAccount } from "../../node/devnet/accounts.ts";
import { openJournal, type Journal } from "../../node/journal/journal.ts";
import { createLogger } from "../../node/log.ts";
import { testDir } from "../helpers/temp-dir.ts";

const { viem } = await network.create();
const publicClient = (await viem.getPublicClient()) as unknown as PublicClient;
const chain = publicClient.chain!;
const rpc = (method: string, params: unknown[] = []) => publicClient.request({ method, params } as never);
const log = createLogger({ level: "error" });
const journalFile = () => path.join(testDir("conclave-txsender-"), "journal.sqlite");

/**
 * A public client that records each broadcast (nonce order) and checks journal-before-broadcast:
 * the raw transaction must be in the journal and a `sync` that began after its record must have
 * finished before the broadcast.
 */
function watched(journal: Journal) {
  const recordedAt = new Map<Hex, number>();
  let syncsDone = 0;
  let syncsStarted = 0;
  const broadcasts: { hash: Hex; nonce: number }[] = [];
  const violations: Hex[] = [];
  const j = Object.create(journal) as Journal;
  j.recordTx = (tx) => {
    const rec = journal.recordTx(tx);
    recordedAt.set(rec.hash, syncsStarted);
    return rec;
  };
  j.sync = async () => {
    const started = ++syncsStarted;
    await journal.sync();
    syncsDone = Math.max(syncsDone, started);
  };
  const client = {
    ...publicClient,
    sendRawTransaction: async (args: { serializedTransaction: Hex }) => {
      const hash = keccak256(args.serializedTransaction);
      const at = recordedAt.get(hash);
      if (at === undefined || syncsDone <= at) violations.push(hash);
      const [tx] = journal.unsettledTxs().filter((t) => t.hash === hash);
      broadcasts.push({ hash, nonce: tx?.nonce ?? -1 });
      return publicClient.sendRawTransaction(args);
    },
  } as unknown as PublicClient;
  return { journal: j, client, broadcasts, violations };
}

const senderFor = (client: PublicClient, journal: Journal, index: number) =>
  createTxSender({
    rpc: client,
    chain,
    account: devAccount(index),
    journal,
    log,
    errorAbi: [],
    confirmTimeoutMs: 30_000,
    feeBumpPercent: 20,
    maxFeePerGas: 10n ** 12n,
  });

describe("tx sender", function () {
  this.timeout(60_000);

  it("pipelines: concurrent sends are all broadcast before any is mined, in nonce order, each after its record is on disk", async function () {
    const real = openJournal(journalFile());
    const w = watched(real);
    const sender = senderFor(w.client, w.journal, 11);
    await sender.init();
    const to = devAccount(12).address;
    await rpc("evm_setAutomine", [false]);
    let receipts;
    try {
      const sends = Array.from({ length: 10 }, (_, i) =>
        sender.send({ jobId: BigInt(i), kind: "submit", to, data: "0x", value: 1n }),
      );
      // Nothing is mined until all ten sit in the pool: no send waited for an earlier receipt.
      const deadline = Date.now() + 20_000;
      while (Number(await publicClient.getBlockTransactionCount({ blockTag: "pending" })) < 10) {
        if (Date.now() > deadline) throw new Error("the sends did not all reach the pool");
        await new Promise((r) => setTimeout(r, 20));
      }
      await rpc("evm_mine");
      receipts = await Promise.all(sends);
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
    expect(receipts.every((r) => r.status === "success")).to.equal(true);
    expect(w.violations).to.deep.equal([]);
    const start = w.broadcasts[0]!.nonce;
    expect(w.broadcasts.map((b) => b.nonce)).to.deep.equal(Array.from({ length: 10 }, (_, i) => start + i));
    expect(real.unsettledTxs()).to.deep.equal([]);
    expect(real.countTxs("submit")).to.equal(10);
    // The block they were mined in is noted for the watcher to compare with the chain it scans.
    expect(real.receiptBlocks(Number.MAX_SAFE_INTEGER)).to.deep.equal([
      { block: Number(receipts[0]!.blockNumber), hash: receipts[0]!.blockHash },
    ]);
    real.close();
  });

  it("never signs a transaction for more gas than a block holds, nor than EIP-7825's cap: the node would refuse it at every broadcast and its nonce would wait forever", async function () {
    const real = openJournal(journalFile());
    const make = (rpcOf: TxRpc) =>
      createTxSender({
        rpc: rpcOf,
        chain,
        account: devAccount(16),
        journal: real,
        log,
        errorAbi: [],
        confirmTimeoutMs: 30_000,
        feeBumpPercent: 20,
        maxFeePerGas: 10n ** 12n,
      });
    const sender = make(txRpcOf(publicClient));
    await sender.init();
    const to = devAccount(17).address;
    const { gasLimit } = await publicClient.getBlock({ blockTag: "latest" });
    // Headroom past the block's gas limit and the cap (a batch's settlement headroom on a chain
    // with small blocks). The local chain enforces EIP-7825: it refused it, every time.
    const receipt = await sender.send({ jobId: null, kind: "withdraw", to, data: "0x", extraGas: gasLimit + 1n });
    const mined = await publicClient.getTransaction({ hash: receipt.transactionHash });
    expect(mined.gas).to.equal(gasLimit < MAX_TX_GAS ? gasLimit : MAX_TX_GAS);
    sender.close();
    // An estimate above what a block holds is refused before anything is signed.
    const small = make({ ...txRpcOf(publicClient), blockGasLimit: async () => 21_000n });
    await small.init();
    const error = await small.send({ jobId: null, kind: "withdraw", to, data: "0x1234" }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(TxWouldRevertError);
    expect(String(error)).to.contain("more gas than a transaction may use");
    small.close();
    real.close();
  });

  it("an idempotent call asked for again while in flight joins the first: one transaction (two services finalizing one job)", async function () {
    const real = openJournal(journalFile());
    const w = watched(real);
    const sender = senderFor(w.client, w.journal, 13);
    await sender.init();
    const to = devAccount(14).address;
    await rpc("evm_setAutomine", [false]);
    let receipts;
    try {
      const call = { jobId: 1n, kind: "finalize" as const, to, data: "0x1234" as Hex, idempotent: true };
      const sends = [sender.send(call), sender.send({ ...call }), sender.send({ ...call, data: "0x5678" as Hex })];
      const deadline = Date.now() + 20_000;
      while (Number(await publicClient.getBlockTransactionCount({ blockTag: "pending" })) < 2) {
        if (Date.now() > deadline) throw new Error("the sends did not reach the pool");
        await new Promise((r) => setTimeout(r, 20));
      }
      await rpc("evm_mine");
      receipts = await Promise.all(sends);
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
    // The first two are one transaction; the third call differs and is its own.
    expect(receipts[0]!.transactionHash).to.equal(receipts[1]!.transactionHash);
    expect(receipts[2]!.transactionHash).to.not.equal(receipts[0]!.transactionHash);
    expect(w.broadcasts).to.have.length(2);
    expect(real.countTxs("finalize")).to.equal(2);
    // Once mined, the same call may be sent again (a new decision, not a duplicate in flight).
    const again = await sender.send({ jobId: 1n, kind: "finalize", to, data: "0x1234", idempotent: true });
    expect(again.transactionHash).to.not.equal(receipts[0]!.transactionHash);
    real.close();
  });

  it("broadcasts nothing whose record could not be synced; a restarted sender sends that very transaction, and nonces go on from it", async function () {
    const file = journalFile();
    const real = openJournal(file);
    const w = watched(real);
    w.journal.sync = () => Promise.reject(new Error("EIO: fsync failed"));
    const sender = senderFor(w.client, w.journal, 13);
    await sender.init();
    const to = devAccount(12).address;
    let failure: unknown;
    await sender.send({ jobId: 1n, kind: "submit", to, data: "0x", value: 1n }).catch((e: unknown) => (failure = e));
    expect((failure as Error).message).to.contain("fsync failed");
    expect(w.broadcasts).to.deep.equal([]);
    const [left] = real.unsettledTxs();
    expect(left!.status).to.equal("signed");
    real.close();

    const again = openJournal(file);
    const restarted = senderFor(publicClient, again, 13);
    await restarted.init(); // re-broadcasts the journaled transaction, confirms it in the background
    await restarted.resume(left!); // joins that confirmation
    const mined = await publicClient.getTransactionReceipt({ hash: left!.hash });
    expect(mined.status).to.equal("success");
    expect(again.unsettledTxs()).to.deep.equal([]);
    const next = await restarted.send({ jobId: 2n, kind: "submit", to, data: "0x", value: 1n });
    const tx = await publicClient.getTransaction({ hash: next.transactionHash });
    expect(tx.nonce).to.equal(left!.nonce + 1);
    again.close();
  });
});
