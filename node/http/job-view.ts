import type { Address } from "viem";
import { attestationDomain } from "../attest/attestation.ts";
import type { JobRecord, JobState } from "../journal/journal.ts";

/** Job states in which this runner's result is on-chain (submitted or revealed), so public. */
const RESULT_PUBLIC: ReadonlySet<JobState> = new Set(["submitted", "revealed", "paid", "slashed", "refunded"]);

/** Whether this runner's result (hash, reference, signature, outputs) may leave it yet. */
export function resultIsPublic(rec: JobRecord): boolean {
  return RESULT_PUBLIC.has(rec.state);
}

/**
 * A job as `/jobs/<id>` shows it. The state and the reason (why a job failed or was skipped) are
 * always shown; the result only once it is on-chain: served earlier, a competitor could copy the
 * result hash into a commit of its own, or a k = 1 result into a submission of its own.
 */
export function jobView(rec: JobRecord, provider: Address, chainId: number, market: Address): Record<string, unknown> {
  const view: Record<string, unknown> = { jobId: rec.jobId, state: rec.state, reason: rec.reason, provider };
  if (!resultIsPublic(rec) || !rec.resultHash)
    return { ...view, resultHash: null, outputRef: null, signature: null, attestation: null };
  return {
    ...view,
    resultHash: rec.resultHash,
    outputRef: rec.outputRef,
    signature: rec.signature,
    attestation: {
      domain: attestationDomain(chainId, market),
      jobId: rec.jobId,
      modelId: rec.job.modelId,
      version: rec.job.version,
      inputHash: rec.job.inputHash,
    },
  };
}
