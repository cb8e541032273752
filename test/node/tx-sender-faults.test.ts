import path from "node:path";
import { expect } from "chai";
import {
  BaseError,
  defineChain,
  keccak256,
  parseGwei,
  parseTransaction,
  TransactionReceiptNotFoundError,
  type Hex,
  type TransactionReceipt,
} from "viem";
import {
  TxNonceTakenError,
  TxVoidedError,
  type Fees,
  type TxEvent,
  type TxRpc,
  type TxSenderOptions,
} from "../../node/chain/tx-sender.ts";
import { createTxSender } from "../../node/chain/tx-pipeline.ts";
import { RECHECK_MS } from "../../node/chain/tx-sender-base.ts";
import { devAccount } from "../../node/devnet/accounts.ts";
import { openJournal, type Journal } from "../../node/journal/journal.ts";
import { createLogger } from "../../node/log.ts";
import { until } from "../helpers/until.ts";
import { testDir } from "../helpers/temp-dir.ts";

/** In-memory fakes change within milliseconds: poll them often. */
const FAKES = { timeoutMs: 10_000, intervalMs: 2 };

/**
 * The transaction sender against a scripted chain (no node): each test scripts the faults a real
 * RPC shows (429s, a receipt that lags the nonce, a base fee above our fees, a key used elsewhere,
 * a crash) and checks what the sender journals and sends.
 */

const chain = defineChain({
  id: 31_337,
  name: "fake",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: ["http://127.0.0.1:1"] } },
});
const account = devAccount(15);
const to = devAccount(16).address;
const log = createLogger({ level: "error" });
const journalFile = () => path.join(testDir("conclave-txfaults-"), "journal.sqlite");

class Http429 extends Error {
  constructor() {
    super("HTTP request failed. Status: 429 Too Many Requests");
  }
}

interface Pooled {
  hash: Hex;
  nonce: number;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

/** One account's view of a chain: a pool by nonce, mined receipts, a base fee, scripted faults. */
class FakeChain {
  /** Nonces used on chain (by us or by anyone else holding the key). */
  latestNonce = 0;
  baseFee = 0n;
  automine = true;
  estimate: Fees = { maxFeePerGas: parseGwei("10"), maxPriorityFeePerGas: parseGwei("1") };
  /** Called at each estimateFeesPerGas with its call number (from 1); may return new estimates. */
  estimates: ((call: number) => Fees) | null = null;
  readonly pool = new Map<number, Pooled>();
  readonly receipts = new Map<Hex, TransactionReceipt>();
  /** Every broadcast the node accepted, in order. */
  readonly accepted: Pooled[] = [];
  readonly calls: Record<string, number> = {};
  /** Scripted faults: throw to fail the call, or change the chain before it is answered. */
  onReceipt: ((hash: Hex) => void) | null = null;
  onCount: ((tag: "latest" | "pending") => void) | null = null;
  /** Whether a call with this data reverts on the chain as it is (estimateGas throws a revert). */
  reverts: ((data: Hex) => boolean) | null = null;
  /** While set, estimateGas calls wait here until the test answers them (a node a round trip away). */
  heldEstimates: (() => void)[] | null = null;

  rpc(opts: { dieAfterBroadcasts?: number } = {}): TxRpc {
    let dead = false;
    const never = <T>() => new Promise<T>(() => undefined);
    const count = (name: string) => (this.calls[name] = (this.calls[name] ?? 0) + 1);
    return {
      getTransactionCount: async ({ blockTag }) => {
        if (dead) return never();
        count(`count:${blockTag}`);
        this.onCount?.(blockTag);
        if (blockTag === "latest") return this.latestNonce;
        let n = this.latestNonce;
        while (this.pool.has(n)) n++;
        return n;
      },
      getTransactionReceipt: async ({ hash }) => {
        if (dead) return never();
        count("receipt");
        this.onReceipt?.(hash);
        const receipt = this.receipts.get(hash);
        if (!receipt) throw new TransactionReceiptNotFoundError({ hash });
        return receipt;
      },
      sendRawTransaction: async ({ serializedTransaction }) => {
        if (dead) return never();
        count("send");
        const tx = parseTransaction(serializedTransaction);
        const pooled: Pooled = {
          hash: keccak256(serializedTransaction),
          nonce: tx.nonce!,
          maxFeePerGas: tx.maxFeePerGas!,
          maxPriorityFeePerGas: tx.maxPriorityFeePerGas!,
        };
        if (pooled.nonce < this.latestNonce) throw new Error("nonce too low");
        const old = this.pool.get(pooled.nonce);
        if (old && old.hash === pooled.hash) throw new Error("already known");
        if (
          old &&
          (pooled.maxFeePerGas * 100n < old.maxFeePerGas * 110n ||
            pooled.maxPriorityFeePerGas * 100n < old.maxPriorityFeePerGas * 110n)
        ) {
          throw new Error("replacement transaction underpriced");
        }
        this.pool.set(pooled.nonce, pooled);
        this.accepted.push(pooled);
        if (opts.dieAfterBroadcasts !== undefined && this.accepted.length >= opts.dieAfterBroadcasts) dead = true;
        if (this.automine) this.mine();
        return pooled.hash;
      },
      estimateGas: async ({ data }) => {
        if (dead) return never();
        count("estimate");
        if (this.heldEstimates) await new Promise<void>((answer) => this.heldEstimates!.push(answer));
        if (this.reverts?.(data)) throw new BaseError("execution reverted");
        return 21_000n;
      },
      estimateFeesPerGas: async () => {
        if (dead) return never();
        const n = count("fees");
        if (this.estimates) this.estimate = this.estimates(n);
        return this.estimate;
      },
    };
  }

  /** Mines pooled transactions in nonce order while they pay the base fee. */
  mine(): void {
    for (
      let tx = this.pool.get(this.latestNonce);
      tx && tx.maxFeePerGas >= this.baseFee;
      tx = this.pool.get(this.latestNonce)
    ) {
      this.pool.delete(tx.nonce);
      this.receipts.set(tx.hash, {
        transactionHash: tx.hash,
        status: "success",
        blockNumber: BigInt(this.receipts.size + 1),
      } as TransactionReceipt);
      this.latestNonce++;
    }
  }

  /**
   * A reorg back to `nonce`: our transactions mined from it on are no longer on chain, and, as
   * a real node does, they are back in the pool (mined again at the next `mine()`).
   */
  reorgTo(nonce: number, mined: Pooled[]): void {
    for (const tx of mined.filter((t) => t.nonce >= nonce)) {
      this.receipts.delete(tx.hash);
      this.pool.set(tx.nonce, tx);
    }
    this.latestNonce = nonce;
  }

  /** Another holder of the key uses the next `n` nonces (dropping ours from the pool). */
  useElsewhere(n: number): void {
    for (let i = 0; i < n; i++) this.pool.delete(this.latestNonce++);
  }
}

/** Waits (2 s at most: a poll of the loops under test is far longer) for nonce 0's no-op to be in the pool. */
async function noOpInPool(journal: Journal, c: FakeChain): Promise<void> {
  await until(
    "the no-op in the pool",
    () => {
      const newest = journal.txsWithNonce(0).at(-1)!;
      return newest.kind === "void" && c.pool.get(0)?.hash === newest.hash;
    },
    { timeoutMs: 2_000, intervalMs: 2 },
  );
}

function senderOn(rpc: TxRpc, journal: Journal, options: Partial<TxSenderOptions> = {}) {
  const events: TxEvent[] = [];
  const sender = createTxSender({
    rpc,
    chain,
    account,
    journal,
    log,
    errorAbi: [],
    confirmTimeoutMs: 40,
    feeBumpPercent: 20,
    maxFeePerGas: parseGwei("1000"),
    pollIntervalMs: 2,
    maxBackoffMs: 10,
    onEvent: (e) => events.push(e),
    ...options,
  });
  return { sender, events };
}

const feesOf = (raw: Hex) => {
  const tx = parseTransaction(raw);
  return { maxFeePerGas: tx.maxFeePerGas!, maxPriorityFeePerGas: tx.maxPriorityFeePerGas! };
};

describe("tx sender against a faulty RPC", function () {
  this.timeout(20_000);

  describe("finding 2: an RPC error never makes a mined transaction 'replaced'", function () {
    const cases: { name: string; script: (c: FakeChain) => void }[] = [
      {
        name: "receipt polls answer 429 for the whole confirmation timeout, then the receipt",
        script: (c) => {
          c.onReceipt = () => {
            if ((c.calls["count:latest"] ?? 0) < 2) throw new Http429();
          };
        },
      },
      {
        name: "receipt polls and nonce reads answer 429 for a while",
        script: (c) => {
          let latestReads = 0;
          c.onCount = (tag) => {
            if (tag === "latest" && ++latestReads < 3) throw new Http429();
          };
          c.onReceipt = () => {
            if (latestReads < 4) throw new Http429();
          };
        },
      },
      {
        name: "the re-check after the nonce passed ours answers 429 once",
        script: (c) => {
          c.onReceipt = () => {
            const reads = c.calls["count:latest"] ?? 0;
            // Before the first nonce read: "not found" (as if not mined); the re-check right after: 429.
            if (reads === 0) throw new TransactionReceiptNotFoundError({ hash: "0x" });
            if (reads === 1) throw new Http429();
          };
        },
      },
    ];
    for (const { name, script } of cases) {
      it(`${name}: the transaction ends mined, nothing is sent again`, async function () {
        const c = new FakeChain();
        const journal = openJournal(journalFile());
        const { sender, events } = senderOn(c.rpc(), journal);
        await sender.init();
        script(c);
        const receipt = await sender.send({ jobId: 1n, kind: "commit", to, data: "0x" });
        expect(receipt.status).to.equal("success");
        const [tx, ...others] = journal.txsFor(1n, "commit");
        expect(others).to.deep.equal([]);
        expect(tx!.status).to.equal("mined");
        // Broadcast again while waiting (the pool answers "already known"), but never another transaction.
        expect(c.accepted).to.have.length(1);
        expect(events.some((e) => e.type === "rpcError")).to.equal(true);
        journal.close();
      });
    }

    it("a transaction mined between the last receipt poll and the nonce read ends mined", async function () {
      const c = new FakeChain();
      c.automine = false;
      c.onCount = (tag) => {
        if (tag === "latest") c.mine();
      };
      const journal = openJournal(journalFile());
      const { sender } = senderOn(c.rpc(), journal);
      await sender.init();
      const receipt = await sender.send({ jobId: 2n, kind: "commit", to, data: "0x" });
      expect(receipt.status).to.equal("success");
      expect(journal.txsWithNonce(0).map((t) => t.status)).to.deep.equal(["mined"]);
      journal.close();
    });

    /**
     * A commit mined while the receipt looks go to a node that has not got its block (the nonce
     * reads come from one in step): `first` is the head noted before the send; after the block,
     * each of `heads` (null: none) is noted and followed by three more nonce reads; then the
     * receipt shows. Returns what the send ended with, and whether the nonce was called taken.
     */
    async function minedBehindLaggingReceipts(first: bigint, heads: (bigint | null)[]) {
      const c = new FakeChain();
      c.automine = false;
      let lagging = true;
      c.onReceipt = () => {
        if (lagging) throw new TransactionReceiptNotFoundError({ hash: "0x00" });
      };
      const journal = openJournal(journalFile());
      const { sender, events } = senderOn(c.rpc(), journal);
      await sender.init();
      sender.noteHead(first);
      const sent = sender.send({ jobId: 3n, kind: "commit", to, data: "0x" });
      await until("the broadcast", () => c.accepted.length === 1, FAKES);
      c.mine();
      const looks = () => c.calls["count:latest"] ?? 0;
      for (const [i, head] of heads.entries()) {
        if (head !== null) sender.noteHead(head);
        await until("nonce reads", () => looks() >= 3 * (i + 1), FAKES);
      }
      lagging = false;
      const receipt = await sent;
      const statuses = journal.txsWithNonce(0).map((t) => t.status);
      journal.close();
      return { status: receipt.status, statuses, taken: events.some((e) => e.type === "nonceTaken") };
    }

    it("a load-balanced provider: the nonce read from a node in step, the receipt looks from one behind: mined, not 'taken'", async function () {
      // The nonce reads say used while the receipt looks find nothing, over two new heads.
      expect(await minedBehindLaggingReceipts(10n, [null, 11n, 12n])).to.deep.equal({
        status: "success",
        statuses: ["mined"],
        taken: false,
      });
    });

    it("a lower head from a node behind the others does not shorten the wait for our receipt", async function () {
      // The watcher's head read went to a node 2 blocks behind (10). Taken as the head, the 3
      // blocks' grace counted from 10 and our own mined commit was "taken" at 13.
      expect(await minedBehindLaggingReceipts(12n, [10n, 13n, 14n])).to.deep.equal({
        status: "success",
        statuses: ["mined"],
        taken: false,
      });
    });

    it("with heads noted, a nonce used by another transaction is 'taken' once no receipt of ours shows for 3 blocks", async function () {
      const c = new FakeChain();
      c.automine = false;
      const journal = openJournal(journalFile());
      const { sender } = senderOn(c.rpc(), journal);
      await sender.init();
      sender.noteHead(10n);
      const first = sender.send({ jobId: 3n, kind: "commit", to, data: "0x" });
      await until("the broadcast", () => c.accepted.length === 1, FAKES);
      c.useElsewhere(1);
      let settled = false;
      const outcome = first.then(
        () => null,
        (e: unknown) => e,
      );
      void outcome.then(() => (settled = true));
      await until("nonce reads", () => (c.calls["count:latest"] ?? 0) >= 3, FAKES);
      sender.noteHead(12n);
      await until("more nonce reads", () => (c.calls["count:latest"] ?? 0) >= 6, FAKES);
      expect(settled).to.equal(false);
      sender.noteHead(13n);
      expect(await outcome).to.be.instanceOf(TxNonceTakenError);
      journal.close();
    });

    it("a nonce used by another transaction: attempts 'replaced', a distinct retryable error, the next send takes the chain's nonce", async function () {
      const c = new FakeChain();
      c.automine = false;
      const journal = openJournal(journalFile());
      const { sender, events } = senderOn(c.rpc(), journal);
      await sender.init();
      const first = sender.send({ jobId: 3n, kind: "commit", to, data: "0x" });
      await until("the broadcast", () => c.accepted.length === 1, FAKES);
      c.useElsewhere(1);
      const error = await first.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(TxNonceTakenError);
      expect((error as TxNonceTakenError).retryable).to.equal(true);
      expect(journal.txsWithNonce(0).every((t) => t.status === "replaced")).to.equal(true);
      expect(events.some((e) => e.type === "nonceTaken")).to.equal(true);
      c.automine = true;
      const receipt = await sender.send({ jobId: 3n, kind: "commit", to, data: "0x" });
      expect(receipt.status).to.equal("success");
      expect(journal.txsWithNonce(1).map((t) => t.status)).to.deep.equal(["mined"]);
      journal.close();
    });
  });

  describe("receipt looks follow the chain's blocks (issue 14: RPC calls in a burst)", function () {
    it("a waiting transaction's receipt (and the next base fee) is looked for once per new block, not at every poll", async function () {
      const c = new FakeChain();
      c.automine = false;
      let head = 10n;
      let baseFeeLooks = 0;
      const base = c.rpc();
      const rpc: TxRpc = {
        ...base,
        blockNumber: async () => head,
        nextBaseFee: async () => {
          baseFeeLooks++;
          return base.nextBaseFee!();
        },
      };
      const journal = openJournal(journalFile());
      const { sender } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      const receipt = sender.send({ jobId: 1n, kind: "commit", to, data: "0x" });
      await until("a first receipt look", () => (c.calls.receipt ?? 0) >= 1, FAKES);
      await new Promise((r) => setTimeout(r, 10));
      const baseFeeLooksAfterFirst = baseFeeLooks;
      // 40 poll intervals with no new block: no second look (each would be a round trip).
      await new Promise((r) => setTimeout(r, 80));
      expect(c.calls.receipt, "receipt looks without a new block").to.equal(1);
      expect(baseFeeLooks, "base fee looks without a new block").to.equal(baseFeeLooksAfterFirst);
      c.mine();
      head++;
      expect((await receipt).status).to.equal("success");
      expect(c.calls.receipt).to.equal(2);
      journal.close();
    });

    it("a receipt the node was slow to index is looked for again after RECHECK_MS, with no new block", async function () {
      const c = new FakeChain();
      c.automine = false;
      const rpc: TxRpc = { ...c.rpc(), blockNumber: async () => 10n };
      const journal = openJournal(journalFile());
      const { sender } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      const receipt = sender.send({ jobId: 1n, kind: "commit", to, data: "0x" });
      await until("a first receipt look", () => (c.calls.receipt ?? 0) >= 1, FAKES);
      c.mine(); // mined, but the head the sender reads never moves
      const started = Date.now();
      expect((await receipt).status).to.equal("success");
      expect(Date.now() - started).to.be.lessThan(RECHECK_MS + 1_000);
      journal.close();
    });

    it("a look that failed at the RPC does not count: the receipt is looked for again at the next poll, whatever the block", async function () {
      const c = new FakeChain();
      c.automine = false;
      const rpc: TxRpc = { ...c.rpc(), blockNumber: async () => 10n };
      let failed = false;
      c.onReceipt = () => {
        if (!failed) {
          failed = true;
          c.mine(); // mined at once, but this look's answer is lost to a 429
          throw new Http429();
        }
      };
      const journal = openJournal(journalFile());
      const { sender } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      const started = Date.now();
      expect((await sender.send({ jobId: 1n, kind: "commit", to, data: "0x" })).status).to.equal("success");
      expect(Date.now() - started, "found long before RECHECK_MS").to.be.lessThan(RECHECK_MS / 2);
      expect(c.calls.receipt).to.equal(2);
      journal.close();
    });

    /**
     * A sender told of head 10 and one transaction it sent at that head, broadcast, not mined
     * (`newBlock` mines it and reports the next head, as the runner's watcher would).
     */
    async function sentAtHead(options: Partial<TxSenderOptions> = {}) {
      const c = new FakeChain();
      c.automine = false;
      let head = 10n;
      const rpc: TxRpc = { ...c.rpc(), blockNumber: async () => head };
      const journal = openJournal(journalFile());
      const { sender } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000, ...options });
      await sender.init();
      sender.noteHead(head);
      const receipt = sender.send({ jobId: 1n, kind: "commit", to, data: "0x" });
      await until("the broadcast", () => c.accepted.length === 1, FAKES);
      const newBlock = () => {
        c.mine();
        sender.noteHead(++head);
      };
      return { c, journal, sender, receipt, newBlock };
    }

    it("a transaction signed at a noted head is not looked for until a newer head is noted: one look finds it", async function () {
      const { c, journal, receipt, newBlock } = await sentAtHead();
      // 40 poll intervals at the same head: no look (before, one came right after the broadcast).
      await new Promise((r) => setTimeout(r, 80));
      expect(c.calls.receipt ?? 0, "receipt looks before a newer head").to.equal(0);
      newBlock();
      expect((await receipt).status).to.equal("success");
      expect(c.calls.receipt, "receipt looks").to.equal(1);
      journal.close();
    });

    it("a newer head ends the wait between two looks at once, however long the poll interval", async function () {
      // Without the head's wake-up the receipt would be looked for a minute later: past this test's timeout.
      const { journal, receipt, newBlock } = await sentAtHead({ pollIntervalMs: 60_000 });
      newBlock();
      expect((await receipt).status).to.equal("success");
      journal.close();
    });

    it("heads that stop coming: a transaction signed at the last one is looked for after RECHECK_MS", async function () {
      const { c, journal, receipt } = await sentAtHead();
      c.mine(); // mined, but no head is ever noted again and the node's head never moves
      expect((await receipt).status).to.equal("success");
      expect(c.calls.receipt, "receipt looks").to.equal(1);
      journal.close();
    });

    it("a loop backing off a failing RPC keeps its backoff when new heads come", async function () {
      const { c, journal, sender, receipt } = await sentAtHead({ pollIntervalMs: 1, maxBackoffMs: 60_000 });
      let failing = true;
      c.onReceipt = () => {
        if (failing) throw new Http429();
      };
      sender.noteHead(11n); // the looks begin
      // Backoff doubles from 1 ms: after 10 failed looks the next wait is 1,024 ms.
      await until("10 failed looks", () => (c.calls.receipt ?? 0) >= 10, FAKES);
      const looks = c.calls.receipt!;
      for (let head = 12n; head < 32n; head++) sender.noteHead(head);
      await new Promise((r) => setTimeout(r, 50));
      expect(c.calls.receipt, "looks after 20 new heads during the backoff").to.equal(looks);
      failing = false;
      c.mine();
      sender.close();
      await receipt.catch(() => undefined);
      journal.close();
    });

    it("without a block number (an RPC that has none), the receipt is looked for at every poll", async function () {
      const c = new FakeChain();
      c.automine = false;
      const journal = openJournal(journalFile());
      const { sender } = senderOn(c.rpc(), journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      const receipt = sender.send({ jobId: 1n, kind: "commit", to, data: "0x" });
      await until("five receipt looks", () => (c.calls.receipt ?? 0) >= 5, FAKES);
      c.mine();
      expect((await receipt).status).to.equal("success");
      journal.close();
    });
  });

  describe("a node that drops our later transactions (issue 14: anvil evicts them when a block has no room for an earlier one)", function () {
    /** Our transactions at nonces 0..n-1, signed at head 10 and broadcast; none mined, no re-broadcast interval within the test. */
    async function sentAtTen(n: number) {
      const c = new FakeChain();
      c.automine = false;
      let head = 10n;
      const rpc: TxRpc = { ...c.rpc(), blockNumber: async () => head };
      const journal = openJournal(journalFile());
      const { sender } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000, rebroadcastMs: 600_000 });
      await sender.init();
      sender.noteHead(head);
      const receipts = Array.from({ length: n }, (_, i) =>
        sender.send({ jobId: BigInt(i + 1), kind: "commit", to, data: "0x" }),
      );
      await until("the broadcasts", () => c.accepted.length === n, FAKES);
      /** The next block: `mined` nonces in it, `dropped` ones gone from the pool, as the runner's watcher reports it. */
      const block = (mined: number[], dropped: number[] = []) => {
        head++;
        for (const nonce of mined) {
          const tx = c.pool.get(nonce)!;
          c.pool.delete(nonce);
          c.receipts.set(tx.hash, {
            transactionHash: tx.hash,
            status: "success",
            blockNumber: head,
          } as TransactionReceipt);
          c.latestNonce = nonce + 1;
        }
        for (const nonce of dropped) c.pool.delete(nonce);
        sender.noteHead(head);
      };
      return { c, journal, receipts, block };
    }
    const BACK_SOON = { timeoutMs: 2_000, intervalMs: 2 };

    it("the nonces after one mined, dropped from the pool, are broadcast again at the block they missed", async function () {
      const { c, journal, receipts, block } = await sentAtTen(3);
      block([0], [1, 2]);
      await until("nonces 1 and 2 back in the pool", () => c.pool.has(1) && c.pool.has(2), BACK_SOON);
      block([1, 2]);
      for (const r of receipts) expect((await r).status).to.equal("success");
      expect(c.calls.send, "three broadcasts and two again").to.equal(5);
      journal.close();
    });

    it("our lowest waiting nonce, dropped from the pool, is broadcast again once it missed a block", async function () {
      const { c, journal, receipts, block } = await sentAtTen(1);
      block([], [0]);
      await until("nonce 0 back in the pool", () => c.pool.has(0), BACK_SOON);
      block([0]);
      expect((await receipts[0]!).status).to.equal("success");
      journal.close();
    });

    it("once per stall: nonces that keep waiting (the pool still holds them) are not broadcast again at every block", async function () {
      const { c, journal, receipts, block } = await sentAtTen(3);
      block([0]);
      await until("the stall's broadcasts", () => c.calls.send === 5, BACK_SOON);
      for (let i = 0; i < 5; i++) {
        const looks = c.calls.receipt ?? 0;
        block([]);
        await until("nonces 1 and 2 looked for at the new block", () => (c.calls.receipt ?? 0) >= looks + 2, BACK_SOON);
      }
      expect(c.calls.send, "broadcasts after five more blocks").to.equal(5);
      block([1, 2]);
      for (const r of receipts) expect((await r).status).to.equal("success");
      journal.close();
    });
  });

  describe("broadcasts that fail or are refused", function () {
    it("a first broadcast lost to a 429 is sent again at the next look, long before the confirmation timeout, and later nonces are not held up", async function () {
      const c = new FakeChain();
      const rpc = c.rpc();
      let failures = 1;
      const send = rpc.sendRawTransaction.bind(rpc);
      rpc.sendRawTransaction = async (args) => {
        if (failures-- > 0) throw new Http429();
        return send(args);
      };
      const journal = openJournal(journalFile());
      const { sender } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      const receipts = await Promise.all([
        sender.send({ jobId: 1n, kind: "commit", to, data: "0x" }),
        sender.send({ jobId: 2n, kind: "commit", to, data: "0x" }),
      ]);
      expect(receipts.map((r) => r.status)).to.deep.equal(["success", "success"]);
      expect(journal.txsWithNonce(0)).to.have.length(1); // the same transaction, not a bump
      journal.close();
    });

    it("a broadcast refused for a fee below the base fee is re-priced at once, not after the confirmation timeout", async function () {
      const c = new FakeChain();
      const rpc = c.rpc();
      const send = rpc.sendRawTransaction.bind(rpc);
      rpc.sendRawTransaction = async (args) => {
        if (parseTransaction(args.serializedTransaction).maxFeePerGas! < parseGwei("20"))
          throw new Error("max fee per gas less than block base fee");
        return send(args);
      };
      c.estimates = (n) =>
        n === 1
          ? { maxFeePerGas: parseGwei("10"), maxPriorityFeePerGas: parseGwei("1") }
          : { maxFeePerGas: parseGwei("25"), maxPriorityFeePerGas: parseGwei("2") };
      const journal = openJournal(journalFile());
      const { sender } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      const receipt = await sender.send({ jobId: 1n, kind: "reveal", to, data: "0x" });
      expect(receipt.status).to.equal("success");
      expect(journal.txsWithNonce(0).map((t) => feesOf(t.raw).maxFeePerGas)).to.deep.equal([
        parseGwei("10"),
        parseGwei("25"),
      ]);
      journal.close();
    });
  });

  describe("finding 3: fees follow the chain, capped, and bumping survives restarts", function () {
    it("a waiting transaction the next block's base fee rises above is re-priced at its next look, once, to twice that fee", async function () {
      const c = new FakeChain();
      const g = (v: string) => parseGwei(v);
      let nextBaseFee = g("1");
      c.estimates = (n) =>
        n === 1
          ? { maxFeePerGas: g("10"), maxPriorityFeePerGas: g("1") }
          : { maxFeePerGas: g("12"), maxPriorityFeePerGas: g("2") };
      c.automine = false;
      const rpc: TxRpc = { ...c.rpc(), nextBaseFee: async () => nextBaseFee };
      const journal = openJournal(journalFile());
      const { sender, events } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000, rebroadcastMs: 600_000 });
      await sender.init();
      const sent = sender.send({ jobId: 5n, kind: "submit", to, data: "0x" });
      await until("the first attempt in the pool", () => c.pool.size === 1, FAKES);
      // The spike is announced (the next block's base fee) before any block charges it: the pool
      // holds the first attempt, no block will mine it.
      nextBaseFee = g("50");
      c.baseFee = g("50");
      await until("the replacement in the pool", () => c.accepted.length === 2, FAKES);
      c.mine();
      expect((await sent).status).to.equal("success");
      // One replacement straight to 2 × 50 + the tip, not a run of +20 % steps from 10 gwei.
      expect(journal.txsWithNonce(0).map((t) => [feesOf(t.raw).maxFeePerGas, t.status])).to.deep.equal([
        [g("10"), "replaced"],
        [g("102"), "mined"],
      ]);
      expect(events.filter((e) => e.type === "feeBump")).to.have.length(1);
      journal.close();
    });

    it("a new transaction's fee cap is at least twice the next block's base fee plus the tip (a rise of up to six full blocks strands nothing)", async function () {
      const c = new FakeChain();
      const g = (v: string) => parseGwei(v);
      c.estimate = { maxFeePerGas: g("24"), maxPriorityFeePerGas: g("1") };
      const journal = openJournal(journalFile());
      const { sender } = senderOn({ ...c.rpc(), nextBaseFee: async () => g("20") }, journal);
      await sender.init();
      await sender.send({ jobId: 6n, kind: "submit", to, data: "0x" });
      // The estimate (1.2 × the latest base fee + tip) would be 24; 2 × 20 + 1 = 41.
      expect(feesOf(journal.txsWithNonce(0)[0]!.raw)).to.deep.equal({
        maxFeePerGas: g("41"),
        maxPriorityFeePerGas: g("1"),
      });
      // Within the configured maximum all the same.
      const capped = openJournal(journalFile());
      const { sender: frugal } = senderOn({ ...new FakeChain().rpc(), nextBaseFee: async () => g("20") }, capped, {
        maxFeePerGas: g("30"),
      });
      await frugal.init();
      await frugal.send({ jobId: 6n, kind: "submit", to, data: "0x" });
      expect(feesOf(capped.txsWithNonce(0)[0]!.raw).maxFeePerGas).to.equal(g("30"));
      journal.close();
      capped.close();
    });

    it("a node that refuses every new price at once is offered one at most every poll interval, not in a tight loop", async function () {
      const c = new FakeChain();
      const g = (v: string) => parseGwei(v);
      const rpc = c.rpc();
      const send = rpc.sendRawTransaction.bind(rpc);
      // The node's base fee keeps rising faster than any estimate: every broadcast is refused.
      rpc.sendRawTransaction = async (args) => {
        if (parseTransaction(args.serializedTransaction).maxFeePerGas! < g("900"))
          throw new Error("max fee per gas less than block base fee");
        return send(args);
      };
      const journal = openJournal(journalFile());
      const pollIntervalMs = 100;
      const { sender } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000, pollIntervalMs });
      await sender.init();
      const sent = sender.send({ jobId: 7n, kind: "reveal", to, data: "0x" });
      await until("a few replacements", () => journal.txsWithNonce(0).length >= 4, FAKES);
      sender.close();
      await sent.catch(() => undefined);
      const attempts = journal.txsWithNonce(0).length;
      // A closed sender signs no further replacement (closing wakes its wait: it must not bump then).
      await new Promise((r) => setTimeout(r, 2 * pollIntervalMs));
      expect(journal.txsWithNonce(0)).to.have.length(attempts);
      const at = journal.txsWithNonce(0).map((t) => t.createdAt);
      for (let i = 2; i < at.length; i++)
        expect(at[i]! - at[i - 1]!, `replacement ${i}`).to.be.at.least(pollIntervalMs - 5);
      journal.close();
    });

    it("a transaction below the base fee is re-priced from fresh estimates up to maxFeePerGas, then re-broadcast at the cap until mined", async function () {
      const c = new FakeChain();
      c.baseFee = parseGwei("150");
      const g = (v: string) => parseGwei(v);
      // Call 1 is the send's own estimate; each later call is one bump's.
      const script: Fees[] = [
        { maxFeePerGas: g("10"), maxPriorityFeePerGas: g("1") },
        { maxFeePerGas: g("30"), maxPriorityFeePerGas: g("2") },
        { maxFeePerGas: g("32"), maxPriorityFeePerGas: g("2") },
        { maxFeePerGas: g("100"), maxPriorityFeePerGas: g("5") },
        { maxFeePerGas: g("200"), maxPriorityFeePerGas: g("10") },
      ];
      c.estimates = (n) => script[Math.min(n, script.length) - 1]!;
      const journal = openJournal(journalFile());
      const { sender, events } = senderOn(c.rpc(), journal, { maxFeePerGas: g("120") });
      await sender.init();
      const sent = sender.send({ jobId: 4n, kind: "reveal", to, data: "0x" });
      let failed: unknown = null;
      sent.catch((e: unknown) => (failed = e));
      // At the cap: no new attempt, the capped one re-broadcast again and again, nothing given up.
      await until("the capped attempt", () => journal.txsWithNonce(0).length >= 5, FAKES);
      const sends = c.calls.send ?? 0;
      await until("re-broadcasts at the cap", () => (c.calls.send ?? 0) >= sends + 3, FAKES);
      expect(failed).to.equal(null);
      expect(journal.txsWithNonce(0).map((t) => feesOf(t.raw))).to.deep.equal([
        { maxFeePerGas: g("10"), maxPriorityFeePerGas: g("1") },
        { maxFeePerGas: g("30"), maxPriorityFeePerGas: g("2") }, // the estimate beats +20 %
        { maxFeePerGas: g("36"), maxPriorityFeePerGas: g("2.4") }, // +20 % beats the estimate
        { maxFeePerGas: g("100"), maxPriorityFeePerGas: g("5") },
        { maxFeePerGas: g("120"), maxPriorityFeePerGas: g("10") }, // capped
      ]);
      expect(events.some((e) => e.type === "feeBump" && e.capped)).to.equal(true);
      c.baseFee = g("110");
      c.mine();
      const receipt = await sent;
      expect(receipt.status).to.equal("success");
      expect(journal.txsWithNonce(0).map((t) => t.status)).to.deep.equal([
        "replaced",
        "replaced",
        "replaced",
        "replaced",
        "mined",
      ]);
      journal.close();
    });

    it("a restarted sender goes on bumping a transaction the previous process left below the base fee", async function () {
      const c = new FakeChain();
      c.baseFee = parseGwei("20");
      const file = journalFile();
      const before = openJournal(file);
      // The first process dies (its RPC hangs for good) right after its second attempt went out.
      const { sender: first } = senderOn(c.rpc({ dieAfterBroadcasts: 2 }), before);
      await first.init();
      void first.send({ jobId: 5n, kind: "commit", to, data: "0x" });
      await until("two attempts broadcast", () => c.accepted.length === 2, FAKES);
      const left = before.txsWithNonce(0);
      expect(left.length).to.equal(2);

      const after = openJournal(file);
      const { sender: restarted } = senderOn(c.rpc(), after);
      await restarted.init();
      const receipt = await restarted.resume(after.unsettledTxs().at(-1)!);
      expect(receipt.status).to.equal("success");
      const attempts = after.txsWithNonce(0);
      expect(attempts.length).to.be.greaterThan(2);
      for (let i = 1; i < attempts.length; i++) {
        const [a, b] = [feesOf(attempts[i - 1]!.raw), feesOf(attempts[i]!.raw)];
        expect(
          b.maxFeePerGas * 100n >= a.maxFeePerGas * 110n &&
            b.maxPriorityFeePerGas * 100n >= a.maxPriorityFeePerGas * 110n,
        ).to.equal(true);
      }
      expect(attempts.at(-1)!.status).to.equal("mined");
      expect(feesOf(attempts.at(-1)!.raw).maxFeePerGas >= c.baseFee).to.equal(true);
      before.close();
      after.close();
    });

    it("init with 20 unsettled transactions re-broadcasts them in nonce order and returns before any is mined; resume joins their confirmations", async function () {
      const c = new FakeChain();
      c.automine = false;
      const journal = openJournal(journalFile());
      for (let nonce = 0; nonce < 20; nonce++) {
        const raw = await account.signTransaction({
          chainId: chain.id,
          type: "eip1559",
          to,
          data: "0x",
          value: 0n,
          gas: 21_000n,
          nonce,
          ...c.estimate,
        });
        journal.recordTx({ jobId: BigInt(100 + nonce), kind: "submit", nonce, hash: keccak256(raw), raw });
      }
      // A confirmation timeout far beyond the test's: init must not wait for any receipt.
      const { sender } = senderOn(c.rpc(), journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      expect(c.receipts.size).to.equal(0);
      expect(c.accepted.map((t) => t.nonce)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
      const resumed = journal.unsettledTxs().map((tx) => sender.resume(tx));
      c.mine();
      const receipts = await Promise.all(resumed);
      expect(receipts.every((r) => r.status === "success")).to.equal(true);
      expect(journal.unsettledTxs()).to.deep.equal([]);
      expect(c.calls.send).to.equal(20); // joined, not broadcast again
      journal.close();
    });
  });

  describe("finding 10: the key used elsewhere", function () {
    it("a broadcast answered 'nonce too low' resyncs the nonce from the chain at once; the next send goes through", async function () {
      const c = new FakeChain();
      const journal = openJournal(journalFile());
      // A confirmation timeout far beyond the test's: the resync must not wait for it.
      const { sender, events } = senderOn(c.rpc(), journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      c.useElsewhere(3);
      const error = await sender.send({ jobId: 6n, kind: "submit", to, data: "0x" }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(TxNonceTakenError);
      expect(events.some((e) => e.type === "nonceResync" && e.to === 3)).to.equal(true);
      const receipt = await sender.send({ jobId: 6n, kind: "submit", to, data: "0x" });
      expect(receipt.status).to.equal("success");
      expect(journal.txsWithNonce(3).map((t) => t.status)).to.deep.equal(["mined"]);
      journal.close();
    });
  });

  describe("a reorg under our transactions", function () {
    it("one that would now revert is replaced by a no-op before it is mined again (its caller gets TxVoidedError); a later one of the same job follows it; one of another job is kept", async function () {
      const c = new FakeChain();
      const journal = openJournal(journalFile());
      const { sender, events } = senderOn(c.rpc(), journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      // Commit of job 1, commit of job 2, reveal of job 1: all mined.
      await sender.send({ jobId: 1n, kind: "commit", to, data: "0x01" });
      await sender.send({ jobId: 2n, kind: "commit", to, data: "0x02" });
      await sender.send({ jobId: 1n, kind: "reveal", to, data: "0x03" });
      expect(c.latestNonce).to.equal(3);
      // The reorg moves job 1 (its request is re-included under another id): its commit would
      // revert; the reveal depends on the commit; job 2 is untouched. The block is not mined yet.
      c.automine = false;
      c.reorgTo(0, [...c.accepted]);
      c.reverts = (data) => data === "0x01";
      await sender.reconcile();
      await until(
        "both no-ops are broadcast",
        () =>
          c.pool.get(0)?.hash !== journal.txsWithNonce(0)[0]!.hash &&
          c.pool.get(2)?.hash !== journal.txsWithNonce(2)[0]!.hash,
        FAKES,
      );
      // One simulation for job 1 (its reveal follows its commit's verdict), one for job 2.
      expect(c.calls["estimate"]).to.equal(3 + 2);
      c.mine();
      const commit1 = await sender.resume(journal.txsWithNonce(0)[0]!).then(
        () => null,
        (e: unknown) => e,
      );
      expect(commit1).to.be.instanceOf(TxVoidedError);
      const reveal1 = await sender.resume(journal.txsWithNonce(2)[0]!).then(
        () => null,
        (e: unknown) => e,
      );
      expect(reveal1).to.be.instanceOf(TxVoidedError);
      expect((await sender.resume(journal.txsWithNonce(1)[0]!)).status).to.equal("success");
      for (const nonce of [0, 2]) {
        const [original, voided] = journal.txsWithNonce(nonce);
        expect(original!.status).to.equal("replaced");
        expect(voided!.kind).to.equal("void");
        expect(voided!.status).to.equal("mined");
        const tx = parseTransaction(voided!.raw);
        expect([tx.to?.toLowerCase(), tx.value ?? 0n, tx.gas, tx.data ?? "0x"]).to.deep.equal([
          account.address.toLowerCase(),
          0n,
          21_000n,
          "0x",
        ]);
        // Replacements the nodes take: both fee caps at least 10 % up.
        expect(
          feesOf(voided!.raw).maxPriorityFeePerGas * 100n >= feesOf(original!.raw).maxPriorityFeePerGas * 110n,
        ).to.equal(true);
      }
      expect(journal.txsWithNonce(1).map((t) => [t.kind, t.status])).to.deep.equal([["commit", "mined"]]);
      expect(events.flatMap((e) => (e.type === "voided" ? [`${e.kind}@${e.nonce}`] : [])).sort()).to.deep.equal([
        "commit@0",
        "reveal@2",
      ]);
      journal.close();
    });

    it("every transaction is checked at once, so all the no-ops are in the pool one round trip after the reorg (the next block may come then)", async function () {
      // Chaos run: runner 10 had 9 nonces in the reorged blocks; checked one after another, the
      // no-ops of the last 4 were signed after the next block had mined the old transactions.
      const c = new FakeChain();
      const journal = openJournal(journalFile());
      const { sender } = senderOn(c.rpc(), journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      // Jobs 1, 2 and 3 move in the reorg (their calls now revert); job 4's claim is kept.
      const moved = new Set<Hex>(["0x01", "0x02", "0x03", "0x05", "0x06"]);
      await sender.send({ jobId: 1n, kind: "commit", to, data: "0x01" });
      await sender.send({ jobId: 2n, kind: "commit", to, data: "0x02" });
      await sender.send({ jobId: 1n, kind: "reveal", to, data: "0x03" });
      await sender.send({ jobId: 4n, kind: "claim", to, data: "0x04" });
      await sender.send({ jobId: 3n, kind: "submit", to, data: "0x05" });
      await sender.send({ jobId: 2n, kind: "reveal", to, data: "0x06" });
      c.automine = false;
      c.reorgTo(0, [...c.accepted]);
      c.reverts = (data) => moved.has(data);
      c.heldEstimates = [];
      const reconciled = sender.reconcile();
      await until("the first simulation is asked", () => c.heldEstimates!.length > 0, FAKES);
      // The node answers what it was asked so far; whatever is asked after that waits a round trip
      // more, and the next block (the old transactions, back in the pool) comes first.
      const firstRound = c.heldEstimates.splice(0);
      for (const answer of firstRound) answer();
      const voidInPool = (nonce: number) => {
        const newest = journal.txsWithNonce(nonce).at(-1)!;
        return newest.kind === "void" && c.pool.get(nonce)?.hash === newest.hash;
      };
      const voided = [0, 1, 2, 4, 5];
      await until(
        "every no-op in the pool, or a second round of simulations",
        () => c.heldEstimates!.length > 0 || voided.every(voidInPool),
        FAKES,
      );
      c.mine();
      const late = c.heldEstimates.splice(0);
      c.heldEstimates = null;
      for (const answer of late) answer();
      await reconciled;
      for (const nonce of voided) {
        const settled = await sender.resume(journal.txsWithNonce(nonce)[0]!).then(
          () => null,
          (e: unknown) => e,
        );
        expect(settled, `nonce ${nonce}`).to.be.instanceOf(TxVoidedError);
        expect(
          journal.txsWithNonce(nonce).map((t) => [t.kind === "void" ? "void" : "call", t.status]),
          `nonce ${nonce}`,
        ).to.deep.equal([
          ["call", "replaced"],
          ["void", "mined"],
        ]);
      }
      expect((await sender.resume(journal.txsWithNonce(3)[0]!)).status).to.equal("success");
      expect(journal.txsWithNonce(3).map((t) => [t.kind, t.status])).to.deep.equal([["claim", "mined"]]);
      // One simulation per job, all asked before any answer.
      expect(firstRound.length).to.equal(4);
      journal.close();
    });

    it("a transaction still in the pool when the reorg moves its job is voided at once, not at its loop's next poll", async function () {
      const c = new FakeChain();
      c.automine = false;
      const journal = openJournal(journalFile());
      // A poll far longer than the test: only a wake-up makes the waiting loop look in time.
      const { sender } = senderOn(c.rpc(), journal, { confirmTimeoutMs: 600_000, pollIntervalMs: 60_000 });
      await sender.init();
      const commit = sender.send({ jobId: 1n, kind: "commit", to, data: "0x01" }).catch(() => undefined);
      await until("the commit is in the pool", () => c.pool.has(0), FAKES);
      c.reverts = (data) => data === "0x01";
      await sender.reconcile();
      await noOpInPool(journal, c);
      sender.close();
      await commit;
      journal.close();
    });

    it("a wake that comes while the waiting loop is between two sleeps (reading the base fee) is kept for its next sleep", async function () {
      const c = new FakeChain();
      c.automine = false;
      const base = c.rpc();
      let hold: Promise<void> | null = null;
      let release = () => {};
      let baseFeeReads = 0;
      const rpc: TxRpc = {
        ...base,
        nextBaseFee: async () => {
          // Only the loop's reads are held: the send's own fee estimate comes before the pool has it.
          if (c.pool.has(0)) baseFeeReads++;
          if (hold && c.pool.has(0)) await hold;
          return base.nextBaseFee!();
        },
      };
      const journal = openJournal(journalFile());
      const { sender } = senderOn(rpc, journal, { confirmTimeoutMs: 600_000, pollIntervalMs: 60_000 });
      await sender.init();
      hold = new Promise<void>((resolve) => (release = resolve));
      const commit = sender.send({ jobId: 1n, kind: "commit", to, data: "0x01" }).catch(() => undefined);
      await until("the commit is in the pool", () => c.pool.has(0), FAKES);
      await until("the loop reading the base fee after its look", () => baseFeeReads > 0, FAKES);
      try {
        c.reverts = (data) => data === "0x01";
        await sender.reconcile();
        hold = null;
        release();
        await noOpInPool(journal, c);
      } finally {
        release();
        sender.close();
        await commit;
        journal.close();
      }
    });

    it("a transaction the node cannot simulate (RPC error) is kept and broadcast again as it is", async function () {
      const c = new FakeChain();
      const journal = openJournal(journalFile());
      const { sender } = senderOn(c.rpc(), journal, { confirmTimeoutMs: 600_000 });
      await sender.init();
      await sender.send({ jobId: 4n, kind: "submit", to, data: "0x04" });
      c.automine = false;
      c.reorgTo(0, [...c.accepted]);
      c.reverts = () => {
        throw new Http429();
      };
      await sender.reconcile();
      c.mine();
      expect((await sender.resume(journal.txsWithNonce(0)[0]!)).status).to.equal("success");
      expect(journal.txsWithNonce(0).map((t) => [t.kind, t.status])).to.deep.equal([["submit", "mined"]]);
      journal.close();
    });
  });
});
