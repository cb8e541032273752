import { expect } from "chai";
import { jobHash } from "../../node/attest/attestation.ts";
import { jobView } from "../../node/http/job-view.ts";
import type { JobRecord, JobState } from "../../node/journal/journal.ts";
import { makeJob, MARKET, OTHER } from "../helpers/fake-runner-deps.ts";

const job = makeJob();
const rec = (state: JobState): JobRecord => ({
  jobId: 1n,
  paramsHash: jobHash(job),
  job,
  inputCid: null,
  block: 1,
  blockHash: `0x${"01".repeat(32)}`,
  state,
  reason: null,
  resultHash: `0x${"aa".repeat(32)}`,
  outputRef: "0x01",
  signature: "0x02",
  salt: `0x${"bb".repeat(32)}`,
  seat: 0,
  attempts: 0,
  nextAttemptAt: 0,
  settledHash: null,
  deliveredBy: null,
  endsAt: 0,
  factsBlock: 0,
  expiryDone: false,
  updatedAt: 0,
});

describe("runner job view (finding 11)", function () {
  it("keeps the result private until it is on-chain, but always shows state and reason", function () {
    for (const state of ["computed", "committed"] as const) {
      const v = jobView(rec(state), OTHER, 31337, MARKET);
      expect(v.state).to.equal(state);
      expect(v.resultHash).to.equal(null);
      expect(v.signature).to.equal(null);
      expect(v.attestation).to.equal(null);
    }
    for (const state of ["submitted", "revealed", "paid"] as const) {
      const v = jobView(rec(state), OTHER, 31337, MARKET);
      expect(v.resultHash).to.equal(`0x${"aa".repeat(32)}`);
      expect((v.attestation as { domain: { verifyingContract: string } }).domain.verifyingContract).to.equal(MARKET);
    }
  });
});
