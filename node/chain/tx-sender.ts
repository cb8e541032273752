import {
  BaseError,
  keccak256,
  type Abi,
  type Address,
  type Chain,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
} from "viem";
import { FatalError, RetryableError } from "../errors.ts";
import { revertName } from "./revert.ts";
import type { Journal, TxKind, TxRecord } from "../journal/journal.ts";
import type { Logger } from "../log.ts";

/** The transaction would revert (checked before sending): nothing was sent, no nonce used. */
export class TxWouldRevertError extends FatalError {
  readonly code = "TX_WOULD_REVERT";
  readonly errorName: string | undefined;
  constructor(message: string, errorName: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.errorName = errorName;
  }
}

/** The transaction was mined and reverted. */
export class TxRevertedError extends FatalError {
  readonly code = "TX_REVERTED";
}

/** The node did not take or confirm the transaction in time, even after fee bumps. */
export class TxNotConfirmedError extends RetryableError {
  readonly code = "TX_NOT_CONFIRMED";
}

export interface TxRequest {
  jobId: bigint | null;
  kind: TxKind;
  to: Address;
  data: Hex;
  value?: bigint;
  /**
   * Gas on top of the estimate, for calls whose cost depends on what lands before them: the
   * estimate of a reveal is taken while others are still missing, but the reveal mined last
   * settles the whole job. Unused gas is not paid for.
   */
  extraGas?: bigint;
}

export interface TxSenderOptions {
  publicClient: PublicClient;
  chain: Chain;
  account: LocalAccount;
  journal: Journal;
  log: Logger;
  /** ABI used to name custom errors of reverting calls. */
  errorAbi: Abi;
  confirmTimeoutMs: number;
  feeBumpPercent: number;
  maxAttempts: number;
  onFailure?: (kind: TxKind) => void;
}

/**
 * Sends this runner's transactions with its own nonces, pipelined: many may be in flight at once.
 *
 * - Gas and fees are estimated concurrently, outside any lock (neither depends on the nonce).
 * - Nonces are assigned, transactions signed and recorded in the journal strictly one at a time,
 *   in nonce order (a short, synchronous-but-for-signing critical section).
 * - Journal before broadcast: a transaction is broadcast only once its record is on disk
 *   ({@link Journal.sync}, group-committed off the event loop). So after a crash the very same
 *   transaction (same nonce, same hash) is re-broadcast instead of a second one being made.
 * - First broadcasts go out in nonce order (each waits for the previous one's broadcast call), so
 *   the node never sees a nonce gap that we made.
 * - Each transaction is then confirmed on its own, concurrently with the others: one that is not
 *   mined in time is replaced with the same nonce and higher fees (every later nonce does the same
 *   when its own wait runs out, so a stuck queue is bumped as a whole).
 * Calls that depend on an earlier one (a reveal on its commit) are made by the caller only after
 * the earlier one's receipt, as before; independent calls (results of different jobs) overlap.
 */
export class TxSender {
  private nextNonce = 0;
  /** The critical section: nonce, sign, record. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The first broadcast of the newest signed transaction (the next one waits for it). */
  private lastBroadcast: Promise<void> = Promise.resolve();

  private readonly o: TxSenderOptions;

  constructor(options: TxSenderOptions) {
    this.o = options;
  }

  get address(): Address {
    return this.o.account.address;
  }

  /** Settles what a previous process left signed or sent, then picks the next nonce. */
  async init(): Promise<void> {
    for (const tx of this.o.journal.unsettledTxs()) {
      try {
        await this.confirm(tx, [tx]);
      } catch (error) {
        this.o.log.warn("transaction from a previous run did not settle", { hash: tx.hash, kind: tx.kind, error });
      }
    }
    const pending = await this.o.publicClient.getTransactionCount({ address: this.address, blockTag: "pending" });
    this.nextNonce = Math.max(pending, this.o.journal.maxNonce() + 1);
  }

  /**
   * After a reorg: re-broadcasts, in nonce order, every transaction of ours that the new chain
   * does not hold (its nonce is not used yet), so later nonces are not left behind a gap. Resolves
   * once they are broadcast; their receipts are awaited in the background.
   */
  async reconcile(): Promise<void> {
    const chainNonce = await this.o.publicClient.getTransactionCount({ address: this.address, blockTag: "latest" });
    const reopened = this.o.journal.reopenTxsFrom(chainNonce);
    if (reopened.length === 0) return;
    this.o.log.warn("reorg dropped our transactions; broadcasting them again", { from: chainNonce, count: reopened.length });
    const byNonce = new Map<number, TxRecord[]>();
    for (const tx of reopened) byNonce.set(tx.nonce, [...(byNonce.get(tx.nonce) ?? []), tx]);
    for (const attempts of byNonce.values()) {
      const newest = attempts.at(-1)!;
      await this.broadcast(newest);
      void this.confirm(newest, attempts, undefined, Promise.resolve()).catch((error: unknown) => this.o.log.warn("re-broadcast transaction did not settle", { hash: newest.hash, error }));
    }
  }

  /** Sends one transaction and waits until it is mined; others may be sent meanwhile. */
  async send(req: TxRequest): Promise<TransactionReceipt> {
    const { gas, fees } = await this.estimate(req);
    const signed = this.queue.then(() => this.signAndRecord(req, gas, fees));
    this.queue = signed.catch(() => undefined);
    const { first, sign, sent } = await signed;
    return this.confirm(first, [first], sign, sent);
  }

  /** Waits for a journaled transaction of an earlier run (re-broadcasting it if needed). */
  resume(tx: TxRecord): Promise<TransactionReceipt> {
    const attempts = this.o.journal.txsFor(tx.jobId, tx.kind).filter((t) => t.nonce === tx.nonce);
    return this.confirm(tx, attempts.length > 0 ? attempts : [tx]);
  }

  private async estimate(req: TxRequest): Promise<{ gas: bigint; fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } }> {
    const { publicClient, account } = this.o;
    const [gas, fees] = await Promise.all([
      publicClient.estimateGas({ account, to: req.to, data: req.data, value: req.value ?? 0n }).catch((error: unknown) => {
        const name = revertName(error, this.o.errorAbi);
        if (name !== undefined || isRevert(error)) {
          throw new TxWouldRevertError(`${req.kind} would revert${name ? `: ${name}` : ""}`, name, { cause: error });
        }
        throw new TxNotConfirmedError(`cannot estimate ${req.kind}: ${(error as Error).message.split("\n")[0]}`, { cause: error });
      }),
      publicClient.estimateFeesPerGas(),
    ]);
    return { gas, fees };
  }

  /**
   * The critical section: takes the next nonce, signs, records, and queues the first broadcast
   * behind the journal sync and the previous nonce's first broadcast.
   */
  private async signAndRecord(req: TxRequest, gas: bigint, fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }) {
    const { account } = this.o;
    const nonce = this.nextNonce;
    const base = {
      chainId: this.o.chain.id,
      type: "eip1559" as const,
      to: req.to,
      data: req.data,
      value: req.value ?? 0n,
      gas: (gas * 12n) / 10n + (req.extraGas ?? 0n),
      nonce,
    };
    const sign = async (bump: number): Promise<TxRecord> => {
      const factor = BigInt(100 + this.o.feeBumpPercent * bump);
      const raw = await account.signTransaction({
        ...base,
        maxFeePerGas: (fees.maxFeePerGas * factor) / 100n,
        maxPriorityFeePerGas: (fees.maxPriorityFeePerGas * factor) / 100n,
      });
      return this.o.journal.recordTx({ jobId: req.jobId, kind: req.kind, nonce, hash: keccak256(raw), raw });
    };
    const first = await sign(0);
    this.nextNonce = nonce + 1;
    // Started here, synchronously after the record, so the order of first broadcasts is the
    // order of nonces. The sync is requested now and runs (grouped) while earlier ones go out.
    const durable = this.o.journal.sync();
    const previous = this.lastBroadcast;
    const sent = (async () => {
      await durable;
      await previous;
      await this.broadcast(first, { synced: true });
    })();
    this.lastBroadcast = sent.catch(() => undefined);
    return { first, sign, sent };
  }

  /** Broadcasts `tx` and waits; on timeout replaces it with a higher fee (same nonce). */
  private async confirm(tx: TxRecord, attempts: TxRecord[], resign?: (bump: number) => Promise<TxRecord>, firstBroadcast?: Promise<void>): Promise<TransactionReceipt> {
    const { publicClient, journal, log } = this.o;
    let current = tx;
    for (let attempt = attempts.length; ; attempt++) {
      if (firstBroadcast) await firstBroadcast;
      else await this.broadcast(current);
      firstBroadcast = undefined;
      const receipt = await this.waitAny(attempts);
      if (receipt) {
        for (const a of attempts) journal.setTxStatus(a.hash, a.hash === receipt.transactionHash ? (receipt.status === "success" ? "mined" : "reverted") : "replaced");
        if (receipt.status !== "success") {
          this.o.onFailure?.(current.kind);
          throw new TxRevertedError(`${current.kind} transaction ${receipt.transactionHash} reverted`);
        }
        return receipt;
      }
      const onChainNonce = await publicClient.getTransactionCount({ address: this.address, blockTag: "latest" });
      if (onChainNonce > current.nonce) {
        // The nonce was used, but by none of our attempts we know of: treat as settled elsewhere.
        for (const a of attempts) journal.setTxStatus(a.hash, "replaced");
        throw new TxNotConfirmedError(`${current.kind} nonce ${current.nonce} was used by another transaction`);
      }
      if (!resign || attempt >= this.o.maxAttempts) {
        this.o.onFailure?.(current.kind);
        throw new TxNotConfirmedError(`${current.kind} transaction ${current.hash} not mined after ${attempt} attempt(s)`);
      }
      log.warn("transaction not mined in time; replacing it with a higher fee", { kind: current.kind, nonce: current.nonce, attempt });
      current = await resign(attempt);
      attempts.push(current);
    }
  }

  private async broadcast(tx: TxRecord, opts: { synced?: boolean } = {}): Promise<void> {
    // Journal before broadcast: the record of this transaction is on disk (not only in the page
    // cache) before it can reach the node, so not even a power cut makes us sign a second one.
    if (!opts.synced) await this.o.journal.sync();
    try {
      await this.o.publicClient.sendRawTransaction({ serializedTransaction: tx.raw });
      this.o.journal.setTxStatus(tx.hash, "sent");
    } catch (error) {
      // "already known" / "nonce too low" mean an earlier broadcast of it (or a replacement) got
      // through; waiting for the receipt tells which.
      this.o.log.debug("broadcast refused", { hash: tx.hash, error: (error as Error).message.split("\n")[0] });
    }
  }

  private async waitAny(attempts: TxRecord[]): Promise<TransactionReceipt | null> {
    const deadline = Date.now() + this.o.confirmTimeoutMs;
    while (Date.now() < deadline) {
      for (const a of attempts) {
        try {
          return await this.o.publicClient.getTransactionReceipt({ hash: a.hash });
        } catch {
          // not mined yet
        }
      }
      await new Promise((r) => setTimeout(r, Math.min(200, Math.max(10, this.o.publicClient.pollingInterval))));
    }
    return null;
  }
}

function isRevert(error: unknown): boolean {
  return error instanceof BaseError && /revert/i.test(error.message);
}
