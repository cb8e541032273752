import type { Address, Hex } from "viem";
import { attestationDomain } from "../attest/attestation.ts";
import type { JobRecord, JobState } from "../journal/journal.ts";

/** Job states in which this runner's result is on-chain (submitted or revealed), so public. */
const RESULT_PUBLIC: ReadonlySet<JobState> = new Set(["submitted", "revealed", "paid", "slashed", "refunded"]);

/** Whether this runner's result (hash, reference, signature, outputs) may leave it yet. */
export function resultIsPublic(rec: JobRecord): boolean {
  return RESULT_PUBLIC.has(rec.state);
}

/** Who serves the view, and how it signs a result's attestation. */
export interface JobViewContext {
  provider: Address;
  chainId: number;
  market: Address;
  /**
   * Signs the job's EIP-712 attestation. The runner signs only when a client asks: the market
   * binds a delivery to the transaction's sender, so no delivery needs the signature, and a
   * secp256k1 signature per job is a millisecond of the event loop in a burst. The signature is
   * deterministic (RFC 6979), so every request gets the same one.
   */
  attest(rec: JobRecord): Promise<Hex>;
}

/**
 * A job as `/jobs/<id>` shows it. The state and the reason (why a job failed or was skipped) are
 * always shown; the result only once it is on-chain: served earlier, a competitor could copy the
 * result hash into a commit of its own, or a k = 1 result into a submission of its own.
 */
export async function jobView(rec: JobRecord, ctx: JobViewContext): Promise<Record<string, unknown>> {
  const { provider, chainId, market } = ctx;
  const view: Record<string, unknown> = { jobId: rec.jobId, state: rec.state, reason: rec.reason, provider };
  if (!resultIsPublic(rec) || !rec.resultHash)
    return { ...view, resultHash: null, outputRef: null, signature: null, attestation: null };
  return {
    ...view,
    resultHash: rec.resultHash,
    outputRef: rec.outputRef,
    // Rows journaled before signing became lazy keep the signature they were made with.
    signature: rec.signature ?? (await ctx.attest(rec)),
    attestation: {
      domain: attestationDomain(chainId, market),
      jobId: rec.jobId,
      modelId: rec.job.modelId,
      version: rec.job.version,
      inputHash: rec.job.inputHash,
    },
  };
}
