/**
 * The transaction sender's foundation (tx-pipeline.ts is the whole): its options as named fields,
 * the state the nonce pipeline and the confirmation loops share, fees (estimates with headroom,
 * capped), broadcasting, retried RPC calls, and a nonce resync.
 */
import {
  BaseError,
  TransactionReceiptNotFoundError,
  type Abi,
  type Address,
  type Chain,
  type LocalAccount,
  type TransactionReceipt,
} from "viem";
import { oneLine } from "../errors.ts";
import type { Journal, TxKind, TxRecord } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import {
  TxNotConfirmedError,
  type Fees,
  type TxRpc,
  type TxSubmitter,
  type TxEvent,
  type TxSenderOptions,
} from "./tx-sender.ts";

/** A replacement is accepted by nodes only if both fee caps rise by at least this (percent). */
export const NODE_MIN_BUMP_PERCENT = 10n;

/**
 * What a broadcast came to: taken; the nonce is used; refused as a duplicate of what the pool holds
 * ("already known"); refused for a fee below what the node takes now (a base-fee spike): bump at
 * once; or failed at the RPC (rate limit, dropped connection): send it again soon.
 */
export type Broadcast = "sent" | "nonceTooLow" | "refused" | "feeTooLow" | "failed";

/** Gas of a no-op: a value transfer to an account with no code. */
export const VOID_GAS = 21_000n;

/** How often the transaction being waited for is broadcast again (a pool may drop it, a broadcast may have failed). */
export const REBROADCAST_MS = 3_000;
/** Longest a waiting transaction goes without a look at its receipts when no new block is seen. */
export const RECHECK_MS = 2_000;

export function groupByNonce(txs: TxRecord[]): Map<number, TxRecord[]> {
  const byNonce = new Map<number, TxRecord[]>();
  for (const tx of [...txs].sort((a, b) => a.nonce - b.nonce || a.id - b.id))
    byNonce.set(tx.nonce, [...(byNonce.get(tx.nonce) ?? []), tx]);
  return byNonce;
}

export function isReceiptNotFound(error: unknown): boolean {
  return error instanceof BaseError ? error.walk((e) => e instanceof TransactionReceiptNotFoundError) !== null : false;
}

export function isRevert(error: unknown): boolean {
  return error instanceof BaseError && /revert/i.test(error.message);
}

export const min = (a: bigint, b: bigint) => (a < b ? a : b);
export const max = (a: bigint, b: bigint) => (a > b ? a : b);
export const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

export abstract class TxSenderBase implements Pick<TxSubmitter, "address"> {
  protected nextNonce = 0;
  /** The critical section: nonce, sign, record. */
  protected queue: Promise<unknown> = Promise.resolve();
  /** The first broadcast of the newest signed transaction (the next one waits for it). */
  protected lastBroadcast: Promise<void> = Promise.resolve();
  /** One confirmation loop per nonce; send, resume and reconcile join it. */
  protected readonly confirming = new Map<number, Promise<TransactionReceipt>>();
  /** Nonces whose transaction a reorg made revert: their loops replace it with a no-op. */
  protected readonly voiding = new Set<number>();
  /** Ends the wait between two looks of a nonce's loop (see {@link lookNow}). */
  private readonly wakeLoop = new Map<number, () => void>();
  /** Nonces asked to look now while their loop was not sleeping: its next sleep returns at once. */
  protected readonly wakePending = new Set<number>();
  /** Waits between two looks that a new head ends (see {@link noteHead}). */
  private readonly headWaiters = new Set<() => void>();
  /** The newest head the runner reported ({@link noteHead}); null until one is. */
  protected head: bigint | null = null;
  protected closed = false;
  protected readonly wakeOnClose = new Set<() => void>();

  protected readonly account: LocalAccount;
  protected readonly chain: Chain;
  protected readonly confirmTimeoutMs: number;
  protected readonly errorAbi: Abi;
  protected readonly feeBumpPercent: number;
  protected readonly journal: Journal;
  protected readonly log: Logger;
  protected readonly maxFeePerGas: bigint;
  protected readonly onEvent: ((event: TxEvent) => void) | undefined;
  protected readonly onFailure: ((kind: TxKind) => void) | undefined;
  protected readonly rebroadcastMs: number | undefined;
  protected readonly rpc: TxRpc;
  protected readonly pollMs: number;
  protected readonly maxBackoffMs: number;

  constructor(options: TxSenderOptions) {
    if (options.feeBumpPercent < Number(NODE_MIN_BUMP_PERCENT))
      throw new RangeError("feeBumpPercent must be at least 10: nodes refuse smaller replacements");
    this.account = options.account;
    this.chain = options.chain;
    this.confirmTimeoutMs = options.confirmTimeoutMs;
    this.errorAbi = options.errorAbi;
    this.feeBumpPercent = options.feeBumpPercent;
    this.journal = options.journal;
    this.log = options.log;
    this.maxFeePerGas = options.maxFeePerGas;
    this.onEvent = options.onEvent;
    this.onFailure = options.onFailure;
    this.rebroadcastMs = options.rebroadcastMs;
    this.rpc = options.rpc;
    this.pollMs = options.pollIntervalMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
  }

  get address(): Address {
    return this.account.address;
  }

  protected join(nonce: number, start: () => Promise<TransactionReceipt>): Promise<TransactionReceipt> {
    return this.confirming.get(nonce) ?? this.track(nonce, start());
  }

  protected track(nonce: number, confirmation: Promise<TransactionReceipt>): Promise<TransactionReceipt> {
    this.confirming.set(nonce, confirmation);
    const forget = () => {
      if (this.confirming.get(nonce) === confirmation) this.confirming.delete(nonce);
    };
    // Background confirmations (init, reconcile) may have no caller yet: log their failure here.
    confirmation.then(forget, (error: unknown) => {
      forget();
      this.log.debug("transaction did not settle", { nonce, error: oneLine(error) });
    });
    return confirmation;
  }

  /**
   * The estimate with a fee cap of at least twice the next block's base fee plus the tip: EIP-1559
   * lets the base fee rise 12.5 % a block, so twice covers six full blocks in a row, and only the
   * base fee and the tip are paid, not the cap. Estimates from the latest block alone leave a
   * transaction sent just before a rise stranded behind it.
   */
  protected async withHeadroom(fees: Fees): Promise<Fees> {
    const next = await this.nextBaseFee();
    if (next === null) return fees;
    const floor = 2n * next + fees.maxPriorityFeePerGas;
    return floor > fees.maxFeePerGas ? { ...fees, maxFeePerGas: floor } : fees;
  }

  protected async nextBaseFee(): Promise<bigint | null> {
    if (!this.rpc.nextBaseFee) return null;
    return this.rpc.nextBaseFee().catch((error: unknown) => {
      this.event({ type: "rpcError", method: "nextBaseFee", error });
      return null;
    });
  }

  /** Fees within the configured maximum (and a tip never above the fee cap). */
  protected capped(fees: Fees): Fees {
    const maxFeePerGas = min(fees.maxFeePerGas, this.maxFeePerGas);
    return { maxFeePerGas, maxPriorityFeePerGas: min(fees.maxPriorityFeePerGas, maxFeePerGas) };
  }

  /** Moves the next nonce on to the chain's pending count, if the chain is ahead (key used elsewhere). */
  protected async resyncNonce(): Promise<void> {
    const pending = await this.rpc
      .getTransactionCount({ address: this.address, blockTag: "pending" })
      .catch((error: unknown) => {
        this.event({ type: "rpcError", method: "getTransactionCount", error });
        return null;
      });
    if (pending !== null && pending > this.nextNonce) {
      this.log.warn("the chain's nonce passed ours (is the key used elsewhere?); going on from it", {
        from: this.nextNonce,
        to: pending,
      });
      this.event({ type: "nonceResync", from: this.nextNonce, to: pending });
      this.nextNonce = pending;
    }
  }

  protected async broadcast(tx: TxRecord, opts: { synced?: boolean } = {}): Promise<Broadcast> {
    // Journal before broadcast: the record of this transaction is on disk (not only in the page
    // cache) before it can reach the node, so not even a power cut makes us sign a second one.
    if (!opts.synced) await this.journal.sync();
    try {
      await this.rpc.sendRawTransaction({ serializedTransaction: tx.raw });
      this.journal.markTxSent(tx.hash);
      return "sent";
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/nonce too low|nonce has already been used|nonce is too low/i.test(message)) {
        // The nonce is used (by an earlier attempt of ours or by another transaction); the
        // receipts tell which. The key may be in use elsewhere: catch up with the chain.
        this.log.debug("broadcast refused: nonce too low", { hash: tx.hash, nonce: tx.nonce });
        await this.resyncNonce();
        return "nonceTooLow";
      }
      // "already known": an earlier broadcast (or attempt) is in the pool. A fee below the base
      // fee (a spike) or the pool's minimum: bump now rather than wait out the timeout. Anything
      // else is an RPC failure: broadcast again at the next look.
      this.log.debug("broadcast refused", { hash: tx.hash, error: oneLine(error) });
      if (/already known|already imported|known transaction|replacement transaction underpriced/i.test(message))
        return "refused";
      if (/base fee|basefee|fee cap less than|fee too low|underpriced|max fee per gas less/i.test(message))
        return "feeTooLow";
      this.event({ type: "rpcError", method: "sendRawTransaction", error });
      return "failed";
    }
  }

  /** Retries an RPC read with backoff, `tries` times at most. */
  protected async retrying<T>(method: keyof TxRpc, tries: number, call: () => Promise<T>): Promise<T> {
    let backoff = this.pollMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        this.event({ type: "rpcError", method, error });
        if (this.closed || attempt >= tries) throw error;
        this.log.warn("RPC call failed; retrying", { method, error: oneLine(error) });
        await this.sleep(backoff);
        backoff = Math.min(this.maxBackoffMs, backoff * 2);
      }
    }
  }

  protected checkOpen(tx: TxRecord): void {
    if (this.closed)
      throw new TxNotConfirmedError(`stopped waiting for ${tx.kind} transaction ${tx.hash}: sender closed`);
  }

  /**
   * A new head (from the runner's chain watcher, as soon as it learns of it): the loops waiting
   * between two looks look now, since a receipt only comes with a block. A loop backing off a
   * failing RPC keeps its wait. A transaction signed at a known head is not looked for until a
   * newer one (see `waitAny`): it cannot be in a block the chain already had.
   *
   * A head below the newest noted is left out: it comes from a load-balanced provider's node
   * behind the others, and taken as the head it shortened the blocks a missing receipt is given
   * before its nonce counts as taken (NONCE_TAKEN_BLOCKS). After a reorg to a shorter chain, the
   * chain passes the noted head again within a block or two, and a look that waits for a newer
   * head waits RECHECK_MS at most.
   */
  noteHead(block: bigint): void {
    if (this.head !== null && block <= this.head) return;
    this.head = block;
    for (const wake of [...this.headWaiters]) wake();
  }

  /**
   * Sleeps `ms`, or until the sender closes; with `nonce`, also until {@link lookNow} for it (the
   * wait between a loop's looks); with `untilHead`, also until a new head is noted.
   */
  protected sleep(ms: number, nonce?: number, untilHead = false): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (nonce !== undefined && this.wakePending.delete(nonce)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeOnClose.delete(done);
        this.headWaiters.delete(done);
        if (nonce !== undefined && this.wakeLoop.get(nonce) === done) this.wakeLoop.delete(nonce);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeOnClose.add(done);
      if (untilHead) this.headWaiters.add(done);
      if (nonce !== undefined) this.wakeLoop.set(nonce, done);
    });
  }

  /**
   * The loop waiting on `nonce` looks now instead of at its next poll: a no-op asked for after a
   * reorg must reach the pool before the next block, and a poll is a fifth of a 1 s block.
   */
  protected lookNow(nonce: number): void {
    const wake = this.wakeLoop.get(nonce);
    // Between two sleeps (awaiting a read or a broadcast), the loop would miss a wake: keep it.
    if (wake) wake();
    else this.wakePending.add(nonce);
  }

  protected event(event: TxEvent): void {
    this.onEvent?.(event);
  }
}
