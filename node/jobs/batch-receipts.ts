import type { TxRecord } from "../journal/journal.ts";

/** What a batch's receipt says of each job it carried. */
export type OutcomesOf<O> = (jobId: bigint) => O;

/**
 * The outcomes of our journaled batches read again (see DeliveryBatcher.resume), by nonce: every
 * job a batch carried reads it after a restart or a reorg that took the jobs back (batchOf), and
 * they share one wait for its receipt and one parse of its logs. Without this each job re-sent
 * the batch's bytes (up to 96 KiB) and looked its receipt up again. Keyed by nonce: a batch's
 * attempts (fee bumps, a void) share it, and whichever was mined answers for all.
 *
 * A read already under way is joined. A finished one answers a batch the journal still says is
 * mined; one the journal says is in flight again (a reorg set it back to sent) is read anew.
 */
export function createBatchReceipts<O>(limit = 256) {
  const byNonce = new Map<number, { outcomes: Promise<OutcomesOf<O>>; done: boolean }>();
  return {
    read(tx: TxRecord, read: () => Promise<OutcomesOf<O>>): Promise<OutcomesOf<O>> {
      const known = byNonce.get(tx.nonce);
      if (known && (!known.done || tx.status === "mined")) return known.outcomes;
      const entry = { outcomes: read(), done: false };
      byNonce.delete(tx.nonce); // re-inserted last: the oldest go first
      byNonce.set(tx.nonce, entry);
      if (byNonce.size > limit) byNonce.delete(byNonce.keys().next().value!);
      entry.outcomes.then(
        () => (entry.done = true),
        // A failed read is not kept: the next job's read tries again.
        () => byNonce.get(tx.nonce) === entry && byNonce.delete(tx.nonce),
      );
      return entry.outcomes;
    },
  };
}
