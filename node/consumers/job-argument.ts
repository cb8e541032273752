import type { Job } from "../attest/attestation.ts";

/**
 * The `job` argument of `ConsumerRouter.fulfill` (and of `InferenceMarket.isFinalResult`, which the
 * router calls with it), built from the job as the market's JobRequested event carried it. Every
 * TypeScript caller of those two functions goes through here, so a change of the market's Job
 * encoding (e.g. packed words) is made in this one place.
 */
export function routerJobArgument(job: Job): Job {
  return job;
}
