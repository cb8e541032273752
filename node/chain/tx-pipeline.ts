import { parseTransaction, type TransactionReceipt } from "viem";
import { keccakHex } from "../attest/keccak.ts";
import { oneLine } from "../errors.ts";
import { InFlight } from "../in-flight.ts";
import { revertName } from "./revert.ts";
import type { TxRecord } from "../journal/journal.ts";
import {
  TxWouldRevertError,
  TxNotConfirmedError,
  type TxRequest,
  type Fees,
  type TxSubmitter,
  type HeadAwareSubmitter,
  type TxSenderOptions,
} from "./tx-sender.ts";
import { type Broadcast, groupByNonce, isRevert, max, min } from "./tx-sender-base.ts";
import { TxConfirmations } from "./tx-confirmations.ts";

export function createTxSender(options: TxSenderOptions): HeadAwareSubmitter {
  return new TxSender(options);
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
 * - Each nonce is then confirmed on its own, concurrently with the others, by one loop per nonce.
 *   An attempt not mined in time is replaced with the same nonce and fees re-estimated then (at
 *   least the nodes' minimum bump over the previous attempt, at most `maxFeePerGas`); at the cap
 *   the loop keeps re-broadcasting and waiting. Everything needed to re-sign is in the journaled
 *   raw transaction, so a restarted sender goes on bumping where the previous one stopped.
 * - A failing RPC call (429, timeout) is retried with backoff; it never settles a transaction.
 *   Only a receipt settles one. A nonce counts as taken by someone else only when the account's
 *   nonce has passed it and the node answers "not found" for every attempt we made with it.
 * Calls that depend on an earlier one (a reveal on its commit) are made by the caller only after
 * the earlier one's receipt; independent calls (results of different jobs) overlap.
 */
/**
 * The most gas one transaction may ask for (EIP-7825, Fusaka: nodes of such chains refuse more at
 * broadcast, whatever the block gas limit). Below it on any chain our calls need a few million at
 * most, so it caps only headroom there too.
 */
export const MAX_TX_GAS = 16_777_216n;

class TxSender extends TxConfirmations implements TxSubmitter {
  /**
   * Re-broadcasts, in nonce order, what a previous process left signed or sent, and confirms
   * those in the background (resume() joins them), so start-up does not wait for receipts; then
   * picks the next nonce.
   */
  async init(): Promise<void> {
    const pending = await this.retrying("getTransactionCount", 5, () =>
      this.rpc.getTransactionCount({ address: this.address, blockTag: "pending" }),
    );
    this.nextNonce = Math.max(pending, this.journal.maxNonce() + 1);
    const byNonce = groupByNonce(this.journal.unsettledTxs());
    if (byNonce.size === 0) return;
    this.log.info("confirming transactions of a previous run", { count: byNonce.size });
    // One sync covers every record (a "signed" one may not have reached the disk before a crash).
    await this.journal.sync();
    for (const [nonce, attempts] of byNonce) {
      if (this.confirming.has(nonce)) continue;
      const sent = this.broadcast(attempts.at(-1)!, { synced: true });
      await sent;
      this.track(nonce, this.confirm(this.journal.txsWithNonce(nonce), sent));
    }
  }

  /**
   * After a reorg: re-broadcasts, in nonce order, every transaction of ours that the new chain
   * does not hold (its nonce is not used yet), so later nonces are not left behind a gap. Resolves
   * once they are broadcast; their receipts are awaited in the background.
   *
   * A reorg puts the dropped transactions back in every node's pool, and the next block mines
   * them as they are: one made for a job the reorg moved (a request re-included under another
   * id, at another time, with another seed) reverts and burns its gas. So each is first tried
   * against the new chain; one that would revert has its nonce given to a no-op (a replacement
   * with higher fees, see {@link TxVoidedError}) before the next block, where we are in time.
   * A transaction of a job whose earlier transaction in this batch is kept (a reveal after its
   * commit) is kept unseen: it depends on what the new chain has not mined yet.
   *
   * The next block may come a second after the reorg: every transaction is tried at once and the
   * no-ops are started before anything is re-broadcast, so the last no-op is in the pool one round
   * trip after the reorg was seen, however many of our transactions it dropped. Checked one after
   * another, a runner with nine of them lost the race for its last four (chaos run: they reverted).
   */
  async reconcile(): Promise<void> {
    const chainNonce = await this.rpc.getTransactionCount({ address: this.address, blockTag: "latest" });
    const reopened = this.journal.reopenTxsFrom(chainNonce);
    if (reopened.length === 0) return;
    this.log.warn("reorg dropped our transactions; checking them against the new chain", {
      from: chainNonce,
      count: reopened.length,
    });
    const byNonce = [...groupByNonce(reopened)];
    const verdicts = new Map<string, Promise<boolean>>();
    const reverts = await Promise.all(
      byNonce.map(([, attempts]) => {
        const newest = attempts.at(-1)!;
        return newest.kind !== "void" && this.wouldRevert(newest, verdicts);
      }),
    );
    byNonce.forEach(([nonce], i) => {
      if (reverts[i]) this.voiding.add(nonce);
    });
    for (const [nonce] of byNonce) {
      if (!this.voiding.has(nonce)) continue;
      // The loop waiting on this nonce (woken now) or a new one signs and sends the no-op.
      if (this.confirming.has(nonce)) this.lookNow(nonce);
      else this.track(nonce, this.confirm(this.journal.txsWithNonce(nonce)));
    }
    for (const [nonce, attempts] of byNonce) {
      if (this.voiding.has(nonce)) continue;
      const sent = this.broadcast(attempts.at(-1)!);
      await sent;
      // A loop still waiting on this nonce goes on (it polls every attempt); otherwise start one.
      if (!this.confirming.has(nonce)) this.track(nonce, this.confirm(this.journal.txsWithNonce(nonce), sent));
    }
  }

  /**
   * Whether `tx` reverts on the chain as it is now (false when the node cannot tell). `verdicts`
   * holds, per job, what the job's earliest transaction of this reconcile comes to; a later one
   * follows it (asked in nonce order, so the earliest one asks the node).
   */
  private wouldRevert(tx: TxRecord, verdicts: Map<string, Promise<boolean>>): Promise<boolean> {
    const job = tx.jobId?.toString();
    const earlier = job === undefined ? undefined : verdicts.get(job);
    if (earlier !== undefined) return earlier;
    const verdict = this.simulate(tx);
    if (job !== undefined) verdicts.set(job, verdict);
    return verdict;
  }

  /** Whether `tx` reverts when simulated on the chain as it is now (false when the node cannot tell). */
  private async simulate(tx: TxRecord): Promise<boolean> {
    try {
      // Inside the try: one unreadable record must not stop the others' no-ops and re-broadcasts.
      const parsed = parseTransaction(tx.raw);
      if (!parsed.to) return false;
      await this.rpc.estimateGas({
        account: this.account,
        to: parsed.to,
        data: parsed.data ?? "0x",
        value: parsed.value ?? 0n,
      });
      return false;
    } catch (error) {
      const reverts = revertName(error, this.errorAbi) !== undefined || isRevert(error);
      if (!reverts) this.event({ type: "rpcError", method: "estimateGas", error });
      return reverts;
    }
  }

  /**
   * Idempotent calls in flight by (to, data, value): the same call asked for again before the
   * first is mined joins it. Two services of one runner may decide the same call at once (the
   * processor's expiry and the consumer service finalizing one job); a second transaction could
   * only revert.
   */
  private readonly sameCall = new InFlight<string, TransactionReceipt>();

  /** Sends one transaction and waits until it is mined; others may be sent meanwhile. */
  send(req: TxRequest): Promise<TransactionReceipt> {
    if (!req.idempotent) return this.sendNew(req);
    return this.sameCall.join(`${req.to.toLowerCase()}:${req.data}:${req.value ?? 0n}`, () => this.sendNew(req));
  }

  private async sendNew(req: TxRequest): Promise<TransactionReceipt> {
    if (this.closed) throw new TxNotConfirmedError("transaction sender is closed");
    const { gas, fees, gasCap } = await this.estimate(req);
    const signed = this.queue.then(() => this.signAndRecord(req, gas, fees, gasCap));
    this.queue = signed.catch(() => undefined);
    let first: TxRecord, sent: Promise<Broadcast>, signedAtHead: bigint | null;
    try {
      ({ first, sent, signedAtHead } = await signed);
    } finally {
      req.onQueued?.();
    }
    return this.join(first.nonce, () => this.confirm([first], sent, signedAtHead));
  }

  /** Waits for a journaled transaction of an earlier run (re-broadcasting it if needed). */
  resume(tx: TxRecord): Promise<TransactionReceipt> {
    return this.join(tx.nonce, () => {
      const attempts = this.journal.txsWithNonce(tx.nonce);
      return this.confirm(attempts.length > 0 ? attempts : [tx]);
    });
  }

  close(): void {
    this.closed = true;
    for (const wake of this.wakeOnClose) wake();
  }

  private async estimate(req: TxRequest): Promise<{ gas: bigint; fees: Fees; gasCap: bigint }> {
    const { rpc, account } = this;
    const [gas, fees, blockGasLimit] = await Promise.all([
      rpc.estimateGas({ account, to: req.to, data: req.data, value: req.value ?? 0n }).catch((error: unknown) => {
        const name = revertName(error, this.errorAbi);
        if (name !== undefined || isRevert(error)) {
          throw new TxWouldRevertError(`${req.kind} would revert${name ? `: ${name}` : ""}`, name, { cause: error });
        }
        this.event({ type: "rpcError", method: "estimateGas", error });
        throw new TxNotConfirmedError(`cannot estimate ${req.kind}: ${oneLine(error)}`, { cause: error });
      }),
      rpc.estimateFeesPerGas().then(
        (estimate) => this.withHeadroom(estimate),
        (error: unknown) => {
          this.event({ type: "rpcError", method: "estimateFeesPerGas", error });
          throw new TxNotConfirmedError(`cannot estimate fees for ${req.kind}: ${oneLine(error)}`, { cause: error });
        },
      ),
      // Unknown (the read failed, or the RPC has none): the limit is not capped, as before.
      (rpc.blockGasLimit?.() ?? Promise.resolve(null)).catch((error: unknown) => {
        this.event({ type: "rpcError", method: "blockGasLimit", error });
        return null;
      }),
    ]);
    const gasCap = min(blockGasLimit ?? MAX_TX_GAS, MAX_TX_GAS);
    if (gas > gasCap)
      throw new TxWouldRevertError(
        `${req.kind} needs more gas than a transaction may use: ${gas} estimated, ${gasCap} at most (block gas limit ${blockGasLimit ?? "unknown"})`,
        undefined,
      );
    return { gas, fees: this.capped(fees), gasCap };
  }

  /**
   * The critical section: takes the next nonce, signs, records, and queues the first broadcast
   * behind the journal sync and the previous nonce's first broadcast.
   */
  private async signAndRecord(req: TxRequest, gas: bigint, fees: Fees, gasCap: bigint) {
    const nonce = this.nextNonce;
    // Noted before the transaction exists: no block up to this one can hold it.
    const signedAtHead = this.head;
    const raw = await this.account.signTransaction({
      chainId: this.chain.id,
      type: "eip1559",
      to: req.to,
      data: req.data,
      value: req.value ?? 0n,
      // Headroom up to what a transaction may ask for: more is refused by every node (see MAX_TX_GAS, TxRpc.blockGasLimit).
      gas: min(max((gas * 12n) / 10n + (req.extraGas ?? 0n), req.minGas ?? 0n), gasCap),
      nonce,
      ...fees,
    });
    const first = this.journal.recordTx(
      { jobId: req.jobId, kind: req.kind, nonce, hash: keccakHex(raw), raw },
      req.jobIds,
    );
    // max: a resync from the chain may have moved it on while we signed.
    this.nextNonce = Math.max(this.nextNonce, nonce + 1);
    // Started here, synchronously after the record, so the order of first broadcasts is the
    // order of nonces. The sync is requested now and runs (grouped) while earlier ones go out.
    const durable = this.journal.sync();
    const previous = this.lastBroadcast;
    const sent = (async () => {
      await durable;
      await previous;
      return this.broadcast(first, { synced: true });
    })();
    this.lastBroadcast = sent.then(
      () => undefined,
      () => undefined,
    );
    return { first, sent, signedAtHead };
  }
}
