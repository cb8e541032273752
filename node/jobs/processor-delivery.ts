/**
 * The job processor's k = 1 path (processor.ts is the whole): submit a result (alone or in a
 * delivery batch), follow the delivery through its challenge window, and claim the fee.
 */
import { encodeFunctionData, getAddress } from "viem";
import { JobStatus } from "../chain/statuses.ts";
import { TxRevertedError, TxWouldRevertError } from "../chain/tx-sender.ts";
import { oneLine } from "../errors.ts";
import type { JobRecord, TxRecord } from "../journal/journal.ts";
import type { DeliveryOutcome } from "./delivery-batcher.ts";
import { jobWords } from "../attest/job-words.ts";
import { seatKey } from "./processor-base.ts";
import { ComputingProcessor } from "./processor-compute.ts";
import { MAX_CLAIMS, settlementHeadroom } from "./processor-options.ts";

export abstract class DeliveringProcessor extends ComputingProcessor {
  protected async submit(rec: JobRecord): Promise<void> {
    // In a batch not mined yet: its outcome wakes the job (see deliveredInBatch).
    if (this.delivering.has(rec.jobId.toString())) return this.waitForChain(rec, "result in a batch");
    const batch = this.batchOf(rec);
    // Read the chain before (re)sending: the market may hold our result already, or another's.
    if (rec.deliveredBy !== null) {
      if (this.deliveredByUs(rec)) return this.onSubmitted(rec);
      if (!this.hasLiveTx(rec, "submit") && !batch.pending)
        return this.end(rec, "lost", "another provider delivered first");
    }
    if (!this.hasLiveTx(rec, "submit") && !batch.pending) {
      await this.spread(rec);
      // A fresh read, never decide's: a batched result is not simulated on its own before it is sent.
      const chain = this.chainFor(rec);
      const [state, past] = await Promise.all([chain.jobState(rec.jobId), this.pastLastAction(rec)]);
      await this.checkOnNode(rec, state.status, chain);
      if (state.status !== JobStatus.Open) return this.closedBeforeSend(rec, state.status);
      if (past) return this.end(rec, "expired", "deadline passed before the result was sent");
      await this.revealsFirst();
    }
    const key = rec.jobId.toString();
    if (this.batcher && (batch.pending || this.batchable(rec, "batch", batch.used))) {
      // The result rides in a batch. The step does not wait for it to be mined (a step slot held
      // per job would cap a runner at maxConcurrentSteps results a block): the outcome comes
      // back in deliveredInBatch, which moves the job on and wakes it.
      if (!this.delivering.has(key)) {
        const outcome = batch.pending
          ? this.batcher.resume(batch.pending, rec.jobId)
          : this.batcher.deliver({
              jobId: rec.jobId,
              job: rec.job,
              resultHash: rec.resultHash!,
              outputRef: rec.outputRef!,
            });
        const done = this.afterBatch(outcome, (o, error) => this.deliveredInBatch(rec.jobId, o, error), "prompt");
        this.delivering.set(key, done);
      }
      return this.waitForChain(rec, "result in a batch");
    }
    const receipt = await this.sendOnce(rec, "submit", "submitResult", [
      rec.jobId,
      jobWords(rec.job),
      rec.resultHash,
      rec.outputRef,
    ]);
    if (receipt) this.onSubmitted(rec, "blockNumber" in receipt ? Number(receipt.blockNumber) : 0);
  }

  /**
   * The job left Open while no result of ours is in flight: the chain says who delivered. Its
   * ResultSubmitted usually says it first; a runner that lost the event (killed before it noted
   * its batch's outcome, then a reorg's rescan) would otherwise wait for it forever and never
   * claim a fee the chain owes it.
   */
  private async closedBeforeSend(rec: JobRecord, status: number): Promise<void> {
    const delivery = await this.chain.delivery(rec.jobId, rec.block);
    if (delivery === null) {
      if (status === JobStatus.Refunded) return this.end(rec, "expired", "job refunded before a result landed");
      return this.waitForChain(rec, "job no longer open; waiting for its event");
    }
    const by = getAddress(delivery.provider);
    if (by !== getAddress(this.address)) return this.end(rec, "lost", "another provider delivered first");
    if (this.journal.noteChainFact(rec.jobId, { deliveredBy: by, settledHash: delivery.resultHash }, 0))
      this.onSubmitted(this.journal.getJob(rec.jobId) ?? rec);
  }

  /** Every attempt (replacements and voids included) of the batches of `kind` that carried this job. */
  protected batchAttempts(rec: JobRecord, kind: "batch" | "claim" | "commits" | "reveals"): TxRecord[] {
    const txs = this.journal.batchTxsFor(rec.jobId);
    const nonces = new Set(txs.filter((t) => t.kind === kind).map((t) => t.nonce));
    return txs.filter((t) => nonces.has(t.nonce));
  }

  /** What a batch did for one job: moves it on as a single submit's receipt would, or as its failure would. */
  protected deliveredInBatch(jobId: bigint, outcome: DeliveryOutcome | null, error?: unknown): void {
    const key = jobId.toString();
    this.delivering.delete(key); // before the kick below: the job's next step acts
    if (this.stopped) return;
    try {
      const rec = this.journal.getJob(jobId);
      // Moved on meanwhile (its ResultSubmitted came first, a reorg replaced the job): nothing to do.
      if (!rec || rec.state !== "computed") return;
      if (outcome === null) {
        // The whole transaction would revert, or reverted: this job goes alone next time (after
        // reading the chain). A voided or unconfirmed one leaves it free to ride in another batch.
        if (error instanceof TxWouldRevertError || error instanceof TxRevertedError) this.singly.add(key);
        // Its retry is scheduled like a failed step's (backoff, or a prompt re-read of the chain).
        this.onStepError(rec, error);
        return;
      }
      if (outcome.delivered) {
        this.onSubmitted(rec, Number(outcome.blockNumber ?? 0));
      } else {
        // Rejected alone: the per-job logic looks again (reads the chain; a job another provider
        // took is lost, one still open goes as its own submitResult, whose estimate says why not).
        this.singly.add(key);
        this.log.info("batch item rejected by the market; the job is looked at again alone", {
          jobId,
          reason: outcome.reason,
          tx: outcome.transactionHash,
        });
        this.journal.updateJob(jobId, rec, { nextAttemptAt: 0 });
      }
      this.kick(jobId);
    } catch (e) {
      this.log.error("batch outcome not recorded", { jobId, error: oneLine(e) });
    }
  }

  /**
   * The batch transactions of `kind` that carried this job (its result, its commit or its reveal):
   * the one to wait for (`pending`: still in flight, or mined with its outcome for this job not
   * taken yet), and whether one was mined or reverted (`used`: the job is never batched again).
   * A mined batch is read again until the job took its outcome (it moved on, or goes alone: singly):
   * after a reorg that took its jobs back (see Journal.rewindTo) or a restart, each job it carried
   * learns from its receipt, in any order, and none goes alone on a stale guess (chaos seed 11,
   * a burst: the jobs of a batch mined again after a reorg were sent alone and reverted). One voided
   * after a reorg, or whose nonce another transaction took, carried nothing.
   */
  protected batchOf(rec: JobRecord, kind: BatchKind = "batch"): { pending: TxRecord | null; used: boolean } {
    if (!this.batcher || (kind === "batch") !== (rec.job.redundancy === 1)) return { pending: null, used: false };
    const txs = this.batchAttempts(rec, kind);
    const mined = this.singly.has(singlyKey(rec, kind))
      ? undefined
      : txs.findLast((t) => t.kind === kind && t.status === "mined");
    const pending = txs.find((t) => t.status === "signed" || t.status === "sent") ?? mined ?? null;
    const used = txs.some((t) => t.kind === kind && (t.status === "mined" || t.status === "reverted"));
    return { pending, used };
  }

  /**
   * Whether a new item of this job (its result, commit or reveal) may ride in a batch of `kind`:
   * it rides once (as a k = 1 result does). One the market rejected or skipped, a batch that was
   * mined or reverted (`used`, from batchOf), or a transaction of the job's own already sent,
   * goes alone from then on.
   */
  protected batchable(rec: JobRecord, kind: BatchKind, used: boolean): boolean {
    return (
      !used && !this.singly.has(singlyKey(rec, kind)) && this.journal.txsFor(rec.jobId, OWN_KIND[kind]).length === 0
    );
  }

  /**
   * `minedIn`: the block of the receipt that delivered it, a fact of the job's as a seat's commit
   * is: a reorg that drops it takes the job back (see Journal.rewindTo), also before the
   * ResultSubmitted event is taken in.
   */
  protected onSubmitted(rec: JobRecord, minedIn = 0): void {
    if (this.transition(rec, { state: "submitted", factsBlock: Math.max(rec.factsBlock, minedIn) }))
      this.observeLatency(rec);
  }

  /**
   * After our k = 1 result is on-chain: claim the fee once the challenge window passed, or wait
   * for a challenge to be resolved. Ends "paid" (claimed, or the jury upheld the result or could
   * not decide), "slashed" (a jury found it wrong: SeatSlashed names us) or "lost" (another
   * provider's result was taken).
   */
  protected async followDelivery(rec: JobRecord): Promise<void> {
    if (rec.deliveredBy !== null && !this.deliveredByUs(rec)) return this.settle(rec, "lost", null);
    if (rec.deliveredBy !== null && !rec.expiryDone) {
      // Delivered at or after its request: before the challenge window has passed since then,
      // no claim can go, and a read could only say to wait (a challenge or its verdict, which the
      // read would also show, is waited for all the same). The read comes once a claim may.
      const earliestClaim = rec.job.requestedAt + rec.job.challengeWindow + 1;
      const chainNow = await this.chain.now();
      if (chainNow < earliestClaim)
        return this.waitForChain(rec, null, Math.max(this.followIntervalMs, (earliestClaim - chainNow) * 1_000));
    }
    const [state, now] = await Promise.all([this.chain.jobState(rec.jobId), this.chain.now()]);
    // How the job ended is taken once the scan noted the event that ended it, whose block becomes
    // the job's facts block: a reorg that drops that block takes the job back. A read at the head
    // alone ties the ending to no block, and a claim whose block a reorg dropped may land skipped
    // on the new chain (its block's time earlier): the job would stay delivered, never claimed.
    if ((state.status === JobStatus.Settled || state.status === JobStatus.Refunded) && !rec.expiryDone)
      return this.waitForChain(rec, "ended on chain; waiting for the event that ended it");
    if (state.status === JobStatus.Settled) return this.settle(rec, "paid", null);
    if (state.status === JobStatus.Refunded) {
      if (await this.chain.seatSlashed(rec.jobId, rec.block))
        return this.settle(rec, "slashed", "a jury found the result wrong");
      return this.settle(rec, "refunded", "job expired before the result landed");
    }
    if (state.status === JobStatus.Challenged || state.status === JobStatus.JuryRevealing) {
      return this.waitForChain(rec, "result challenged; waiting for the jury");
    }
    if (state.status !== JobStatus.Delivered) return this.waitForChain(rec, null);
    if (rec.deliveredBy === null) {
      // Delivered, but the event that says by whom is not in the journal (its block was rewound
      // and the rescan has not said it again, or never will): ask the chain. The claim names the
      // provider, so it is never sent on a guess.
      const delivery = await this.chain.delivery(rec.jobId, rec.block);
      if (delivery === null) return this.waitForChain(rec, "delivered; waiting for its ResultSubmitted event");
      if (
        !this.journal.noteChainFact(
          rec.jobId,
          { deliveredBy: getAddress(delivery.provider), settledHash: delivery.resultHash },
          0,
        )
      )
        return;
      if (getAddress(delivery.provider) !== getAddress(this.address)) return this.settle(rec, "lost", null);
    }
    const claimableAt = state.revealStartedAt + rec.job.challengeWindow + 1;
    if (now < claimableAt)
      return this.waitForChain(rec, null, Math.max(this.followIntervalMs, (claimableAt - now) * 1_000));
    const key = rec.jobId.toString();
    if (this.claiming.has(key)) return this.waitForChain(rec, "claim in a batch");
    // Its own claims and the batched claims that carried it (a void counts as one tried).
    const claims = [
      ...this.journal.txsFor(rec.jobId, "claim"),
      ...(this.batcher ? this.batchAttempts(rec, "claim") : []),
    ].filter((t) => t.status !== "replaced");
    const pending = claims.find((t) => t.status === "signed" || t.status === "sent");
    const item = { jobId: rec.jobId, job: rec.job, provider: this.address, resultHash: rec.resultHash! };
    if (pending) await this.sender.resume(pending);
    else if (claims.length < MAX_CLAIMS && this.batcher) {
      // Claims ride together too; the step does not wait for the claim to be mined.
      const done = this.afterBatch(this.batcher.claim(item), (_, error) => this.claimedInBatch(rec.jobId, error));
      this.claiming.set(key, done);
      return this.waitForChain(rec, "claim in a batch");
    } else if (claims.length < MAX_CLAIMS) {
      // Every earlier claim landed (skipped) or reverted, and the job is still delivered: again.
      const data = encodeFunctionData({
        abi: this.marketAbi,
        functionName: "claim",
        args: [[{ ...item, job: jobWords(item.job) }]],
      });
      await this.sender.send({
        jobId: rec.jobId,
        kind: "claim",
        to: this.market,
        data,
        extraGas: settlementHeadroom("claim", 1),
      });
    } else {
      return this.waitForChain(
        rec,
        `${claims.length} claims sent and the job is still delivered; a keeper (conclave job claim) may claim it`,
        this.retryMaxMs,
      );
    }
    this.waitForChain(rec, "claim mined; waiting for DeliveryClaimed", Math.min(this.followIntervalMs, 1_000));
  }

  /** A batched claim of this job was mined (or failed): the job reads the chain again (paid, or claim again). */
  protected claimedInBatch(jobId: bigint, error?: unknown): void {
    this.claiming.delete(jobId.toString());
    if (this.stopped) return;
    try {
      const rec = this.journal.getJob(jobId);
      if (!rec || rec.state !== "submitted") return;
      if (error !== undefined && !(error instanceof TxRevertedError)) return this.onStepError(rec, error);
      // Mined (the item paid, or skipped) or reverted: what the chain says decides, as after a claim of its own.
      this.journal.updateJob(jobId, rec, { nextAttemptAt: 0 });
      this.kick(jobId);
    } catch (e) {
      this.log.error("claim outcome not recorded", { jobId, error: oneLine(e) });
    }
  }
}

type BatchKind = "batch" | "commits" | "reveals";

/** The job's own transaction kind for each batch kind: the call it makes when it goes alone. */
const OWN_KIND = { batch: "submit", commits: "commit", reveals: "reveal" } as const;

/** The job's key in `singly` for a batch kind: its id for a k = 1 result, its seatKey for a commit or reveal. */
function singlyKey(rec: JobRecord, kind: BatchKind): string {
  return kind === "batch" ? rec.jobId.toString() : seatKey(rec.jobId, OWN_KIND[kind]);
}
