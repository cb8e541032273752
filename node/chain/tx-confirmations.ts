/**
 * The transaction sender's confirmation loops (tx-pipeline.ts is the whole): one per nonce, it
 * waits for a receipt of any attempt, re-broadcasts, bumps the fees when an attempt is not mined in
 * time, voids a transaction a reorg made revert, and settles the journal's attempts from the
 * receipt that came.
 */
import { parseTransaction, type Hex, type TransactionReceipt } from "viem";
import { keccakHex } from "../attest/keccak.ts";
import type { TxRecord } from "../journal/journal.ts";
import { TxRevertedError, TxVoidedError, TxNonceTakenError } from "./tx-sender.ts";
import {
  NODE_MIN_BUMP_PERCENT,
  type Broadcast,
  VOID_GAS,
  REBROADCAST_MS,
  RECHECK_MS,
  isReceiptNotFound,
  groupByNonce,
  max,
  ceilDiv,
  TxSenderBase,
} from "./tx-sender-base.ts";

/**
 * Blocks for which our nonce must be seen used, with no receipt of ours found, before it counts as
 * taken by another transaction (where the runner notes heads; without heads, at once).
 */
const NONCE_TAKEN_BLOCKS = 3n;

export abstract class TxConfirmations extends TxSenderBase {
  /** Attempts' fee caps by hash (see maxFeeOf). */
  private readonly feeCaps = new Map<Hex, bigint | undefined>();
  /** The block each of our latest nonces was mined in (see {@link stalledBehind}). */
  private readonly minedIn = new Map<number, bigint>();
  /** The nonce whose stall last had our transactions broadcast again (once per stall). */
  private sweptFrom = -1;
  /**
   * Waits until one attempt at this nonce is mined, replacing the newest with higher fees each
   * time it waited `confirmTimeoutMs` in vain. `attempts` are in signing order.
   */
  protected async confirm(
    attempts: TxRecord[],
    firstBroadcast?: Promise<Broadcast>,
    signedAtHead: bigint | null = null,
  ): Promise<TransactionReceipt> {
    const nonce = attempts[0]!.nonce;
    try {
      return await this.confirmLoop(attempts, firstBroadcast, signedAtHead);
    } finally {
      this.voiding.delete(nonce);
      this.wakePending.delete(nonce);
    }
  }

  /** `signedAtHead`: the head noted when the first attempt was signed (see {@link noteHead}). */
  protected async confirmLoop(
    attempts: TxRecord[],
    firstBroadcast?: Promise<Broadcast>,
    signedAtHead: bigint | null = null,
  ): Promise<TransactionReceipt> {
    const { journal, log } = this;
    let current = attempts.at(-1)!;
    const voidRequested = () => this.voiding.has(current.nonce) && attempts.at(-1)!.kind !== "void";
    let outcome: Broadcast | "skip" = voidRequested()
      ? "skip"
      : firstBroadcast
        ? await firstBroadcast
        : await this.broadcast(current);
    let lastBumpAt = 0;
    /** The head at which the nonce was first seen used with no receipt of ours found. */
    let takenSince: bigint | null = null;
    for (;;) {
      if (voidRequested()) {
        const voided = await this.bump(current, { void: true });
        if (voided) {
          log.warn("transaction would revert on the chain after a reorg; replacing it with a no-op", {
            kind: current.kind,
            nonce: current.nonce,
          });
          this.event({ type: "voided", kind: current.kind, nonce: current.nonce });
          current = voided;
          attempts.push(current);
          outcome = await this.broadcast(current);
        } else {
          log.warn("transaction would revert after a reorg, but its fees leave no room for a replacement", {
            kind: current.kind,
            nonce: current.nonce,
          });
          this.voiding.delete(current.nonce);
          outcome = await this.broadcast(current);
        }
      }
      // A refused "nonce too low" needs no long wait: the chain has the nonce, ours or not.
      const quick: boolean = outcome === "nonceTooLow" || outcome === "feeTooLow";
      const attempt = current;
      const waited = await this.waitAny(
        attempts,
        quick ? 0 : this.confirmTimeoutMs,
        () => this.broadcast(attempt),
        outcome === "failed",
        voidRequested,
        // Only a first broadcast the node took fresh: any other may have been mined before.
        outcome === "sent" ? signedAtHead : null,
      );
      signedAtHead = null;
      if (waited === "void") {
        outcome = "skip";
        continue;
      }
      if (waited !== null && waited !== "feeTooLow") return this.settle(attempts, current, waited);
      this.checkOpen(current);
      if (waited === "feeTooLow") outcome = "feeTooLow";

      const chainNonce = await this.rpc
        .getTransactionCount({ address: this.address, blockTag: "latest" })
        .catch((error: unknown) => {
          this.event({ type: "rpcError", method: "getTransactionCount", error });
          return null;
        });
      if (chainNonce === null || (outcome === "nonceTooLow" && chainNonce <= current.nonce)) {
        // Cannot tell whether the nonce was used (or the node and the read disagree): neither
        // bump nor give up; wait a full round again.
        await this.sleep(this.pollMs, current.nonce);
        outcome = "skip";
        continue;
      }
      if (chainNonce > current.nonce) {
        // Used: by one of ours (mined since the last poll, or the receipt lags) or by another.
        let found = await this.recheck(attempts);
        if (found === "none") {
          // A reorg between the nonce read and the receipt look can drop our transaction after
          // the nonce read counted it: read the nonce again before calling it taken.
          const again = await this.rpc
            .getTransactionCount({ address: this.address, blockTag: "latest" })
            .catch(() => null);
          if (again === null || again <= current.nonce) found = "unknown";
        }
        if (found === "none" && this.head !== null) {
          // A load-balanced provider may send the receipt look to a node behind the one that gave
          // the nonce: the nonce counts as taken once no receipt of ours shows for a few blocks.
          takenSince ??= this.head;
          if (this.head < takenSince + NONCE_TAKEN_BLOCKS) {
            outcome = "nonceTooLow";
            await this.sleep(this.pollMs, current.nonce);
            continue;
          }
        }
        if (found === "none") {
          for (const a of attempts) journal.setTxStatus(a.hash, "replaced");
          this.event({ type: "nonceTaken", kind: current.kind, nonce: current.nonce });
          await this.resyncNonce();
          this.onFailure?.(current.kind);
          throw new TxNonceTakenError(
            `${current.kind} nonce ${current.nonce} was used by a transaction that is not ours`,
          );
        }
        if (found !== "unknown") return this.settle(attempts, current, found);
        // An RPC failure hid the answer: ask again after the next wait, without re-broadcasting.
        outcome = "skip";
        await this.sleep(this.pollMs, current.nonce);
        continue;
      }

      // A node that refuses each new price at once (its base fee keeps moving) is offered one at
      // most every poll interval, not in a tight loop of +10 % replacements.
      const sinceBump = Date.now() - lastBumpAt;
      if (sinceBump < this.pollMs) await this.sleep(this.pollMs - sinceBump, current.nonce);
      // Closing wakes the sleep: sign nothing more then.
      this.checkOpen(current);
      const next = await this.bump(current);
      lastBumpAt = Date.now();
      if (next) {
        log.warn("transaction not mined in time; replacing it with higher fees", {
          kind: current.kind,
          nonce: current.nonce,
          attempt: attempts.length + 1,
        });
        current = next;
        attempts.push(current);
      } else {
        log.warn("transaction not mined in time at the maximum fee; broadcasting it again", {
          kind: current.kind,
          nonce: current.nonce,
        });
      }
      outcome = await this.broadcast(current);
    }
  }

  protected settle(attempts: TxRecord[], current: TxRecord, receipt: TransactionReceipt): TransactionReceipt {
    if (receipt.blockNumber !== undefined && receipt.blockNumber !== null) {
      // What is done on this receipt holds only while its block does (see Journal.noteReceiptBlock).
      if (receipt.blockHash) this.journal.noteReceiptBlock(Number(receipt.blockNumber), receipt.blockHash);
      this.minedIn.set(current.nonce, receipt.blockNumber);
      // Only the latest few are asked for: the loop of the nonce after each.
      if (this.minedIn.size > 256) this.minedIn.delete(this.minedIn.keys().next().value!);
      // That loop may have looked at this block before this receipt came: it asks again now.
      if (this.confirming.has(current.nonce + 1)) this.lookNow(current.nonce + 1);
    }
    for (const a of attempts)
      this.journal.setTxStatus(
        a.hash,
        a.hash === receipt.transactionHash ? (receipt.status === "success" ? "mined" : "reverted") : "replaced",
      );
    if (attempts.find((a) => a.hash === receipt.transactionHash)?.kind === "void" && receipt.status === "success") {
      const wanted = attempts[0]!;
      throw new TxVoidedError(
        `${wanted.kind} nonce ${wanted.nonce} was voided after a reorg: it would have reverted on the new chain`,
      );
    }
    if (receipt.status !== "success") {
      this.onFailure?.(current.kind);
      throw new TxRevertedError(`${current.kind} transaction ${receipt.transactionHash} reverted`);
    }
    return receipt;
  }

  /**
   * Signs a replacement of `current` with fees re-estimated now: for each cap the larger of the
   * previous × (1 + feeBumpPercent) and the estimate, at most `maxFeePerGas`. Returns null when
   * the cap leaves no room for a replacement a node would take (+10 % on both).
   */
  protected async bump(current: TxRecord, opts: { void?: boolean } = {}): Promise<TxRecord | null> {
    const prev = parseTransaction(current.raw);
    if (prev.type !== "eip1559" || prev.maxFeePerGas === undefined || prev.maxPriorityFeePerGas === undefined) {
      throw new TypeError(`journaled transaction ${current.hash} is not an EIP-1559 transaction`);
    }
    const estimate = await this.rpc.estimateFeesPerGas().then(
      (fees) => this.withHeadroom(fees),
      (error: unknown) => {
        this.event({ type: "rpcError", method: "estimateFeesPerGas", error });
        return null; // bump on the previous fees alone
      },
    );
    const pct = BigInt(this.feeBumpPercent);
    const raised = (v: bigint) => ceilDiv(v * (100n + pct), 100n);
    const fees = this.capped({
      maxFeePerGas: max(raised(prev.maxFeePerGas), estimate?.maxFeePerGas ?? 0n),
      maxPriorityFeePerGas: max(raised(prev.maxPriorityFeePerGas), estimate?.maxPriorityFeePerGas ?? 0n),
    });
    const enough = (next: bigint, before: bigint) =>
      next * 100n >= before * (100n + NODE_MIN_BUMP_PERCENT) && next > before;
    const capped = fees.maxFeePerGas === this.maxFeePerGas;
    if (
      !enough(fees.maxFeePerGas, prev.maxFeePerGas) ||
      !enough(fees.maxPriorityFeePerGas, prev.maxPriorityFeePerGas)
    ) {
      this.event({
        type: "feeBump",
        kind: current.kind,
        nonce: current.nonce,
        fees: { maxFeePerGas: prev.maxFeePerGas, maxPriorityFeePerGas: prev.maxPriorityFeePerGas },
        capped: true,
      });
      return null;
    }
    // A no-op keeps the nonce and moves nothing: nothing to ourselves, at a transfer's gas.
    const shape = opts.void
      ? { to: this.address, data: "0x" as Hex, value: 0n, gas: VOID_GAS }
      : { to: prev.to, data: prev.data, value: prev.value ?? 0n, gas: prev.gas, accessList: prev.accessList };
    const raw = await this.account.signTransaction({
      chainId: prev.chainId ?? this.chain.id,
      type: "eip1559",
      nonce: current.nonce,
      ...shape,
      ...fees,
    });
    this.event({ type: "feeBump", kind: current.kind, nonce: current.nonce, fees, capped });
    return this.journal.recordTx({
      jobId: current.jobId,
      kind: opts.void ? "void" : current.kind,
      nonce: current.nonce,
      hash: keccakHex(raw),
      raw,
    });
  }

  /**
   * Polls every attempt's receipt for up to `timeoutMs`. "Not found" means not mined yet; any
   * other failure is the RPC's and is retried with backoff (it says nothing about the transaction).
   * With `signedAtHead`, the first look waits for a newer head (RECHECK_MS at most, should heads
   * stop coming): a look right after the broadcast finds nothing on a chain that mines in blocks,
   * and it was half of a runner's receipt calls in a burst.
   */
  protected async waitAny(
    attempts: TxRecord[],
    timeoutMs: number,
    rebroadcast?: () => Promise<Broadcast>,
    broadcastFailed = false,
    voidRequested?: () => boolean,
    signedAtHead: bigint | null = null,
  ): Promise<TransactionReceipt | "feeTooLow" | "void" | null> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    let unminedAt = signedAtHead;
    let backoff = this.pollMs;
    // A failed broadcast is tried again at the first look, not after the usual interval.
    let lastBroadcast = broadcastFailed ? 0 : Date.now();
    let looked: { block: bigint | null; at: number } | null = null;
    /**
     * The heads at this loop's first and latest looks that found nothing (see stalledBehind); a
     * transaction signed at a head counts as looked for there.
     */
    let firstNone: bigint | null = signedAtHead;
    let lastNone: bigint | null = null;
    while (!this.closed) {
      // No new block since the last look: no new receipt either (a receipt the node was slow to
      // index is looked for again after RECHECK_MS at the latest).
      // Read before the receipts: a block mined between the two is looked at again next time.
      if (unminedAt !== null && (unminedAt !== this.head || Date.now() - started >= RECHECK_MS)) unminedAt = null;
      const block = unminedAt === null && this.rpc.blockNumber ? await this.rpc.blockNumber().catch(() => null) : null;
      const same: boolean =
        unminedAt !== null ||
        (looked !== null && block !== null && block === looked.block && Date.now() - looked.at < RECHECK_MS);
      const found: TransactionReceipt | "none" | "unknown" = same ? "none" : await this.recheck(attempts);
      // Only a look the node answered counts: after an RPC error the next poll looks again.
      if (!same) looked = found === "none" ? { block, at: Date.now() } : null;
      if (found !== "none" && found !== "unknown") return found;
      if (voidRequested?.()) return "void";
      // A fee spike strands the newest attempt (and every later nonce behind it): re-price it at
      // the first look that sees it coming (the next block's base fee), before the block is mined.
      // Looked at only when a new block came: the next block's base fee moves with blocks alone.
      if (found === "none" && !same && rebroadcast && (await this.belowBaseFee(attempts.at(-1)!))) return "feeTooLow";
      if (found === "none" && !same && block !== null) {
        firstNone ??= block;
        lastNone = block;
      }
      if (rebroadcast && this.stalledBehind(attempts[0]!.nonce, firstNone, lastNone)) {
        await this.broadcastAgainFrom(attempts[0]!.nonce);
        lastBroadcast = Date.now();
      }
      if (
        rebroadcast &&
        Date.now() - lastBroadcast >= Math.min(this.rebroadcastMs ?? REBROADCAST_MS, this.confirmTimeoutMs / 3)
      ) {
        // Cheap when the pool has it ("already known"); puts it back when the pool dropped it or
        // the first broadcast failed at the RPC, instead of losing a whole confirmation timeout.
        const again = await rebroadcast();
        if (again === "feeTooLow") return "feeTooLow";
        // Still failing at the RPC: keep trying at each look (with the poll's backoff).
        lastBroadcast = again === "failed" ? 0 : Date.now();
      }
      // A skipped look leaves the backoff of the last real one as it was.
      if (found === "unknown") backoff = Math.min(this.maxBackoffMs, backoff * 2);
      else if (!same) backoff = this.pollMs;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      // A new head ends the wait, unless the RPC is failing (its backoff is kept).
      await this.sleep(Math.min(backoff, left), attempts[0]!.nonce, backoff === this.pollMs);
    }
    return null;
  }

  /**
   * Whether `nonce` missed a block it should have made: it was in the pool before some block X was
   * made (signed at the head before X, or a look at it found no receipt), the nonce before it was
   * mined by X (or is not waited for: this is our lowest), and a look at X or later found none.
   * A node may drop our later nonces when a block has no room for an earlier one (anvil does: they
   * fail as "nonce too high" while the block is made, and it evicts them) or when its pool is
   * full; they would wait for the re-broadcast interval. Once per stall: a nonce that keeps
   * waiting (low fees, full blocks) is re-broadcast by its loop at that interval, as before.
   */
  private stalledBehind(nonce: number, firstNone: bigint | null, lastNone: bigint | null): boolean {
    if (firstNone === null || lastNone === null || this.sweptFrom === nonce) return false;
    const before = this.minedIn.get(nonce - 1) ?? (this.lowestWaiting() === nonce ? 0n : undefined);
    return before !== undefined && lastNone >= max(before, firstNone + 1n);
  }

  private lowestWaiting(): number {
    let lowest = Number.POSITIVE_INFINITY;
    for (const nonce of this.confirming.keys()) lowest = Math.min(lowest, nonce);
    return lowest;
  }

  /**
   * Broadcasts again, at once, every transaction of ours from `nonce` on that was broadcast before
   * and is not settled (the newest attempt of each nonce). The node answers "already known" for
   * those it still holds. One signed and not yet broadcast is left to its first broadcast, which
   * comes after its journal sync.
   */
  private async broadcastAgainFrom(nonce: number): Promise<void> {
    this.sweptFrom = nonce;
    const again = [...groupByNonce(this.journal.unsettledTxs())]
      .filter(([n]) => n >= nonce && !this.voiding.has(n))
      .map(([, attempts]) => attempts.at(-1)!)
      .filter((tx) => tx.status === "sent");
    this.log.info("a transaction of ours missed a block after the one before it was mined; broadcasting ours again", {
      nonce,
      count: again.length,
    });
    await Promise.all(again.map((tx) => this.broadcast(tx, { synced: true })));
  }

  /** The attempt cannot be mined at the next block's base fee, and the cap leaves room to re-price it. */
  protected async belowBaseFee(tx: TxRecord): Promise<boolean> {
    const base = await this.nextBaseFee();
    if (base === null) return false;
    const fee = this.maxFeeOf(tx);
    return fee !== undefined && fee < base && fee < this.maxFeePerGas;
  }

  /** An attempt's fee cap, decoded once per attempt: a batch's raw transaction is kilobytes to parse. */
  private maxFeeOf(tx: TxRecord): bigint | undefined {
    if (this.feeCaps.has(tx.hash)) return this.feeCaps.get(tx.hash);
    // Bounded: attempts waited on at once are at most a few hundred.
    if (this.feeCaps.size >= 1_024) this.feeCaps.clear();
    const fee = parseTransaction(tx.raw).maxFeePerGas;
    this.feeCaps.set(tx.hash, fee);
    return fee;
  }

  /** One look at every attempt: its receipt, "none" when the node says none is mined, or "unknown". */
  protected async recheck(attempts: TxRecord[]): Promise<TransactionReceipt | "none" | "unknown"> {
    let unknown = false;
    for (const a of attempts) {
      try {
        return await this.rpc.getTransactionReceipt({ hash: a.hash });
      } catch (error) {
        if (isReceiptNotFound(error)) continue;
        this.event({ type: "rpcError", method: "getTransactionReceipt", error });
        unknown = true;
      }
    }
    return unknown ? "unknown" : "none";
  }
}
