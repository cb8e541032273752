import {
  BaseError,
  keccak256,
  parseTransaction,
  TransactionReceiptNotFoundError,
  type Abi,
  type Address,
  type Chain,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
} from "viem";
import { FatalError, oneLine, RetryableError } from "../errors.ts";
import { revertName } from "./revert.ts";
import { reuseFor } from "./reuse-for.ts";
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

/**
 * After a reorg the transaction would revert on the new chain (the job it was for moved or is
 * gone), so its nonce was given to a no-op instead: a transfer of nothing to ourselves, 21,000 gas
 * rather than a reverted call. Nothing the caller wanted happened; it reads the chain again.
 */
export class TxVoidedError extends RetryableError {
  readonly code = "TX_VOIDED";
}

/**
 * The transaction could not be made or confirmed now (estimate failed, the sender was closed while
 * it waited). Whatever was signed stays in the journal and is confirmed by a later run.
 */
export class TxNotConfirmedError extends RetryableError {
  readonly code = "TX_NOT_CONFIRMED";
}

/**
 * The nonce of the transaction was used by a transaction that is none of ours: the node answered
 * "not found" for every attempt we signed with it after the account's nonce had passed it. The
 * call was not made; the caller must read the chain (someone else may have done what it wanted to
 * do, e.g. the same key used elsewhere) before sending anything again.
 */
export class TxNonceTakenError extends RetryableError {
  readonly code = "TX_NONCE_TAKEN";
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
  /**
   * The least gas limit, whatever the estimate: for calls that must forward a fixed amount of gas
   * to another contract (a consumer's callback, EIP-150), which an estimate may not see.
   */
  minGas?: bigint;
  /** A batch: the jobs it carries, journaled with its record (see Journal.batchTxsFor). */
  jobIds?: readonly bigint[];
  /** Called once the transaction holds its nonce (signed and journaled), before it is mined. */
  onQueued?: () => void;
}

export interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

/** The few JSON-RPC calls the sender makes (a viem PublicClient satisfies it). */
export interface TxRpc {
  getTransactionCount(args: { address: Address; blockTag: "latest" | "pending" }): Promise<number>;
  /** Throws viem's TransactionReceiptNotFoundError while the transaction is not mined. */
  getTransactionReceipt(args: { hash: Hex }): Promise<TransactionReceipt>;
  sendRawTransaction(args: { serializedTransaction: Hex }): Promise<Hex>;
  estimateGas(args: { account: LocalAccount; to: Address; data: Hex; value: bigint }): Promise<bigint>;
  estimateFeesPerGas(): Promise<Fees>;
  /**
   * The base fee the next block will charge (null on a chain without one): known as soon as the
   * latest block is, so a spike is seen one block before it strands anything. Optional: with it,
   * every transaction is priced at twice that fee or more, and a waiting one the base fee rose
   * above is re-priced at its next look instead of after the whole confirmation timeout.
   */
  nextBaseFee?(): Promise<bigint | null>;
}

/** How long one answer of the next base fee is reused (all confirmation loops look at it). */
const NEXT_BASE_FEE_TTL_MS = 200;

/** A {@link TxRpc} over a viem public client; the next base fee is read at most every 200 ms. */
export function txRpcOf(publicClient: PublicClient): TxRpc {
  // eth_feeHistory's last base fee is the next block's: what every provider serves (a "pending"
  // block is not), and what a node checks a new transaction against.
  const nextBaseFee = reuseFor(
    NEXT_BASE_FEE_TTL_MS,
    async () =>
      (await publicClient.getFeeHistory({ blockCount: 1, rewardPercentiles: [] })).baseFeePerGas.at(-1) ?? null,
  );
  return {
    getTransactionCount: (args) => publicClient.getTransactionCount(args),
    getTransactionReceipt: (args) => publicClient.getTransactionReceipt(args),
    sendRawTransaction: (args) => publicClient.sendRawTransaction(args),
    estimateGas: (args) => publicClient.estimateGas(args),
    estimateFeesPerGas: () => publicClient.estimateFeesPerGas(),
    nextBaseFee,
  };
}

/** What the job processor and the payouts need from a sender (fakes implement it in tests). */
export interface TxSubmitter {
  readonly address: Address;
  /** Re-broadcasts what an earlier run left unsettled and picks the next nonce; does not wait for receipts. */
  init(): Promise<void>;
  /** Sends one transaction and resolves with its receipt once mined (successfully). */
  send(req: TxRequest): Promise<TransactionReceipt>;
  /** Waits for a journaled transaction (and its replacements) of this or an earlier run. */
  resume(tx: TxRecord): Promise<TransactionReceipt>;
  /**
   * After a reorg: re-broadcasts our transactions the new chain no longer holds, and voids those
   * that would now revert (see {@link TxVoidedError}).
   */
  reconcile(): Promise<void>;
  /** Stops waiting: pending sends and resumes reject with TxNotConfirmedError. */
  close(): void;
}

/** Observations for metrics. */
export type TxEvent =
  | { type: "feeBump"; kind: TxKind; nonce: number; fees: Fees; capped: boolean }
  | { type: "rpcError"; method: keyof TxRpc; error: unknown }
  | { type: "nonceResync"; from: number; to: number }
  | { type: "nonceTaken"; kind: TxKind; nonce: number }
  | { type: "voided"; kind: TxKind; nonce: number };

export interface TxSenderOptions {
  rpc: TxRpc;
  chain: Chain;
  account: LocalAccount;
  journal: Journal;
  log: Logger;
  /** ABI used to name custom errors of reverting calls. */
  errorAbi: Abi;
  /** How long one attempt may wait for its receipt before its fees are bumped. */
  confirmTimeoutMs: number;
  /** Each replacement pays at least this much more (both fee caps); at least 10 (nodes' rule). */
  feeBumpPercent: number;
  /** No attempt is signed with a higher maxFeePerGas (wei). */
  maxFeePerGas: bigint;
  /** Receipt polling interval (ms); default 200. */
  pollIntervalMs?: number;
  /** Longest pause between retries of a failing RPC call (ms); default 5000. */
  maxBackoffMs?: number;
  /** How often a waiting transaction is broadcast again (default 3 s). */
  rebroadcastMs?: number;
  onFailure?: (kind: TxKind) => void;
  onEvent?: (event: TxEvent) => void;
}

export function createTxSender(options: TxSenderOptions): TxSender {
  return new TxSender(options);
}

/** A replacement is accepted by nodes only if both fee caps rise by at least this (percent). */
const NODE_MIN_BUMP_PERCENT = 10n;

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
export class TxSender implements TxSubmitter {
  private nextNonce = 0;
  /** The critical section: nonce, sign, record. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The first broadcast of the newest signed transaction (the next one waits for it). */
  private lastBroadcast: Promise<void> = Promise.resolve();
  /** One confirmation loop per nonce; send, resume and reconcile join it. */
  private readonly confirming = new Map<number, Promise<TransactionReceipt>>();
  /** Nonces whose transaction a reorg made revert: their loops replace it with a no-op. */
  private readonly voiding = new Set<number>();
  private closed = false;
  private readonly wakeOnClose = new Set<() => void>();

  private readonly account: LocalAccount;
  private readonly chain: Chain;
  private readonly confirmTimeoutMs: number;
  private readonly errorAbi: Abi;
  private readonly feeBumpPercent: number;
  private readonly journal: Journal;
  private readonly log: Logger;
  private readonly maxFeePerGas: bigint;
  private readonly onEvent: ((event: TxEvent) => void) | undefined;
  private readonly onFailure: ((kind: TxKind) => void) | undefined;
  private readonly rebroadcastMs: number | undefined;
  private readonly rpc: TxRpc;
  private readonly pollMs: number;
  private readonly maxBackoffMs: number;

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
   */
  async reconcile(): Promise<void> {
    const chainNonce = await this.rpc.getTransactionCount({ address: this.address, blockTag: "latest" });
    const reopened = this.journal.reopenTxsFrom(chainNonce);
    if (reopened.length === 0) return;
    this.log.warn("reorg dropped our transactions; checking them against the new chain", {
      from: chainNonce,
      count: reopened.length,
    });
    const verdicts = new Map<string, boolean>();
    for (const [nonce, attempts] of groupByNonce(reopened)) {
      const newest = attempts.at(-1)!;
      if (newest.kind !== "void" && (await this.wouldRevert(newest, verdicts))) this.voiding.add(nonce);
      if (this.voiding.has(nonce)) {
        // The loop waiting on this nonce (or a new one) signs and sends the no-op at its next look.
        if (!this.confirming.has(nonce)) this.track(nonce, this.confirm(this.journal.txsWithNonce(nonce)));
        continue;
      }
      const sent = this.broadcast(newest);
      await sent;
      // A loop still waiting on this nonce goes on (it polls every attempt); otherwise start one.
      if (!this.confirming.has(nonce)) this.track(nonce, this.confirm(this.journal.txsWithNonce(nonce), sent));
    }
  }

  /**
   * Whether `tx` reverts on the chain as it is now (false when the node cannot tell). `verdicts`
   * holds, per job, what an earlier transaction of this reconcile came to; a later one follows it.
   */
  private async wouldRevert(tx: TxRecord, verdicts: Map<string, boolean>): Promise<boolean> {
    const job = tx.jobId?.toString();
    const earlier = job === undefined ? undefined : verdicts.get(job);
    if (earlier !== undefined) return earlier;
    const parsed = parseTransaction(tx.raw);
    let reverts = false;
    if (parsed.to) {
      try {
        await this.rpc.estimateGas({
          account: this.account,
          to: parsed.to,
          data: parsed.data ?? "0x",
          value: parsed.value ?? 0n,
        });
      } catch (error) {
        reverts = revertName(error, this.errorAbi) !== undefined || isRevert(error);
        if (!reverts) this.event({ type: "rpcError", method: "estimateGas", error });
      }
    }
    if (job !== undefined) verdicts.set(job, reverts);
    return reverts;
  }

  /** Sends one transaction and waits until it is mined; others may be sent meanwhile. */
  async send(req: TxRequest): Promise<TransactionReceipt> {
    if (this.closed) throw new TxNotConfirmedError("transaction sender is closed");
    const { gas, fees } = await this.estimate(req);
    const signed = this.queue.then(() => this.signAndRecord(req, gas, fees));
    this.queue = signed.catch(() => undefined);
    let first: TxRecord, sent: Promise<Broadcast>;
    try {
      ({ first, sent } = await signed);
    } finally {
      req.onQueued?.();
    }
    return this.join(first.nonce, () => this.confirm([first], sent));
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

  private join(nonce: number, start: () => Promise<TransactionReceipt>): Promise<TransactionReceipt> {
    return this.confirming.get(nonce) ?? this.track(nonce, start());
  }

  private track(nonce: number, confirmation: Promise<TransactionReceipt>): Promise<TransactionReceipt> {
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

  private async estimate(req: TxRequest): Promise<{ gas: bigint; fees: Fees }> {
    const { rpc, account } = this;
    const [gas, fees] = await Promise.all([
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
    ]);
    return { gas, fees: this.capped(fees) };
  }

  /**
   * The estimate with a fee cap of at least twice the next block's base fee plus the tip: EIP-1559
   * lets the base fee rise 12.5 % a block, so twice covers six full blocks in a row, and only the
   * base fee and the tip are paid, not the cap. Estimates from the latest block alone leave a
   * transaction sent just before a rise stranded behind it.
   */
  private async withHeadroom(fees: Fees): Promise<Fees> {
    const next = await this.nextBaseFee();
    if (next === null) return fees;
    const floor = 2n * next + fees.maxPriorityFeePerGas;
    return floor > fees.maxFeePerGas ? { ...fees, maxFeePerGas: floor } : fees;
  }

  private async nextBaseFee(): Promise<bigint | null> {
    if (!this.rpc.nextBaseFee) return null;
    return this.rpc.nextBaseFee().catch((error: unknown) => {
      this.event({ type: "rpcError", method: "nextBaseFee", error });
      return null;
    });
  }

  /** Fees within the configured maximum (and a tip never above the fee cap). */
  private capped(fees: Fees): Fees {
    const maxFeePerGas = min(fees.maxFeePerGas, this.maxFeePerGas);
    return { maxFeePerGas, maxPriorityFeePerGas: min(fees.maxPriorityFeePerGas, maxFeePerGas) };
  }

  /**
   * The critical section: takes the next nonce, signs, records, and queues the first broadcast
   * behind the journal sync and the previous nonce's first broadcast.
   */
  private async signAndRecord(req: TxRequest, gas: bigint, fees: Fees) {
    const nonce = this.nextNonce;
    const raw = await this.account.signTransaction({
      chainId: this.chain.id,
      type: "eip1559",
      to: req.to,
      data: req.data,
      value: req.value ?? 0n,
      gas: max((gas * 12n) / 10n + (req.extraGas ?? 0n), req.minGas ?? 0n),
      nonce,
      ...fees,
    });
    const first = this.journal.recordTx(
      { jobId: req.jobId, kind: req.kind, nonce, hash: keccak256(raw), raw },
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
    return { first, sent };
  }

  /**
   * Waits until one attempt at this nonce is mined, replacing the newest with higher fees each
   * time it waited `confirmTimeoutMs` in vain. `attempts` are in signing order.
   */
  private async confirm(attempts: TxRecord[], firstBroadcast?: Promise<Broadcast>): Promise<TransactionReceipt> {
    const nonce = attempts[0]!.nonce;
    try {
      return await this.confirmLoop(attempts, firstBroadcast);
    } finally {
      this.voiding.delete(nonce);
    }
  }

  private async confirmLoop(attempts: TxRecord[], firstBroadcast?: Promise<Broadcast>): Promise<TransactionReceipt> {
    const { journal, log } = this;
    let current = attempts.at(-1)!;
    const voidRequested = () => this.voiding.has(current.nonce) && attempts.at(-1)!.kind !== "void";
    let outcome: Broadcast | "skip" = voidRequested()
      ? "skip"
      : firstBroadcast
        ? await firstBroadcast
        : await this.broadcast(current);
    let lastBumpAt = 0;
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
      );
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
        await this.sleep(this.pollMs);
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
        await this.sleep(this.pollMs);
        continue;
      }

      // A node that refuses each new price at once (its base fee keeps moving) is offered one at
      // most every poll interval, not in a tight loop of +10 % replacements.
      const sinceBump = Date.now() - lastBumpAt;
      if (sinceBump < this.pollMs) await this.sleep(this.pollMs - sinceBump);
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

  private settle(attempts: TxRecord[], current: TxRecord, receipt: TransactionReceipt): TransactionReceipt {
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
  private async bump(current: TxRecord, opts: { void?: boolean } = {}): Promise<TxRecord | null> {
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
      hash: keccak256(raw),
      raw,
    });
  }

  /** Moves the next nonce on to the chain's pending count, if the chain is ahead (key used elsewhere). */
  private async resyncNonce(): Promise<void> {
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

  private async broadcast(tx: TxRecord, opts: { synced?: boolean } = {}): Promise<Broadcast> {
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

  /**
   * Polls every attempt's receipt for up to `timeoutMs`. "Not found" means not mined yet; any
   * other failure is the RPC's and is retried with backoff (it says nothing about the transaction).
   */
  private async waitAny(
    attempts: TxRecord[],
    timeoutMs: number,
    rebroadcast?: () => Promise<Broadcast>,
    broadcastFailed = false,
    voidRequested?: () => boolean,
  ): Promise<TransactionReceipt | "feeTooLow" | "void" | null> {
    const deadline = Date.now() + timeoutMs;
    let backoff = this.pollMs;
    // A failed broadcast is tried again at the first look, not after the usual interval.
    let lastBroadcast = broadcastFailed ? 0 : Date.now();
    while (!this.closed) {
      const found = await this.recheck(attempts);
      if (found !== "none" && found !== "unknown") return found;
      if (voidRequested?.()) return "void";
      // A fee spike strands the newest attempt (and every later nonce behind it): re-price it at
      // the first look that sees it coming (the next block's base fee), before the block is mined.
      if (found === "none" && rebroadcast && (await this.belowBaseFee(attempts.at(-1)!))) return "feeTooLow";
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
      if (found === "unknown") backoff = Math.min(this.maxBackoffMs, backoff * 2);
      else backoff = this.pollMs;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await this.sleep(Math.min(backoff, left));
    }
    return null;
  }

  /** The attempt cannot be mined at the next block's base fee, and the cap leaves room to re-price it. */
  private async belowBaseFee(tx: TxRecord): Promise<boolean> {
    const base = await this.nextBaseFee();
    const fee = parseTransaction(tx.raw).maxFeePerGas;
    return base !== null && fee !== undefined && fee < base && fee < this.maxFeePerGas;
  }

  /** One look at every attempt: its receipt, "none" when the node says none is mined, or "unknown". */
  private async recheck(attempts: TxRecord[]): Promise<TransactionReceipt | "none" | "unknown"> {
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

  /** Retries an RPC read with backoff, `tries` times at most. */
  private async retrying<T>(method: keyof TxRpc, tries: number, call: () => Promise<T>): Promise<T> {
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

  private checkOpen(tx: TxRecord): void {
    if (this.closed)
      throw new TxNotConfirmedError(`stopped waiting for ${tx.kind} transaction ${tx.hash}: sender closed`);
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeOnClose.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeOnClose.add(done);
    });
  }

  private event(event: TxEvent): void {
    this.onEvent?.(event);
  }
}

/**
 * What a broadcast came to: taken; the nonce is used; refused as a duplicate of what the pool holds
 * ("already known"); refused for a fee below what the node takes now (a base-fee spike): bump at
 * once; or failed at the RPC (rate limit, dropped connection): send it again soon.
 */
type Broadcast = "sent" | "nonceTooLow" | "refused" | "feeTooLow" | "failed";

/** Gas of a no-op: a value transfer to an account with no code. */
const VOID_GAS = 21_000n;

/** How often the transaction being waited for is broadcast again (a pool may drop it, a broadcast may have failed). */
const REBROADCAST_MS = 3_000;

function groupByNonce(txs: TxRecord[]): Map<number, TxRecord[]> {
  const byNonce = new Map<number, TxRecord[]>();
  for (const tx of [...txs].sort((a, b) => a.nonce - b.nonce || a.id - b.id))
    byNonce.set(tx.nonce, [...(byNonce.get(tx.nonce) ?? []), tx]);
  return byNonce;
}

function isReceiptNotFound(error: unknown): boolean {
  return error instanceof BaseError ? error.walk((e) => e instanceof TransactionReceiptNotFoundError) !== null : false;
}

function isRevert(error: unknown): boolean {
  return error instanceof BaseError && /revert/i.test(error.message);
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
