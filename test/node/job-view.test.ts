import { expect } from "chai";
import { createWalletClient, custom, type Hex } from "viem";
import { attestationFor, jobHash, signAttestation, verifyAttestation } from "../../node/attest/attestation.ts";
import { jobView, type JobViewContext } from "../../node/http/job-view.ts";
import type { JobRecord, JobState } from "../../node/journal/journal.ts";
import { makeJob, MARKET, OTHER, PROVIDER } from "../helpers/fake-runner-deps.ts";

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
  const wallet = createWalletClient({ account: PROVIDER, transport: custom({ request: async () => null }) }) as never;
  let signed = 0;
  const ctx: JobViewContext = {
    provider: PROVIDER.address,
    chainId: 31337,
    market: MARKET,
    attest: (r) => {
      signed++;
      return signAttestation(wallet, 31337, MARKET, attestationFor(r.jobId, r.job, r.resultHash!, r.outputRef!));
    },
  };

  it("keeps the result private until it is on-chain, but always shows state and reason", async function () {
    signed = 0;
    for (const state of ["computed", "committed"] as const) {
      const v = await jobView({ ...rec(state), signature: null }, ctx);
      expect(v.state).to.equal(state);
      expect(v.resultHash).to.equal(null);
      expect(v.signature).to.equal(null);
      expect(v.attestation).to.equal(null);
    }
    expect(signed, "nothing is signed for a private result").to.equal(0);
    for (const state of ["submitted", "revealed", "paid"] as const) {
      const v = await jobView(rec(state), { ...ctx, provider: OTHER });
      expect(v.resultHash).to.equal(`0x${"aa".repeat(32)}`);
      expect((v.attestation as { domain: { verifyingContract: string } }).domain.verifyingContract).to.equal(MARKET);
    }
  });

  it("signs a public result's attestation when asked (nothing is signed when the job is computed), the same signature every time; a journaled signature is served as it is", async function () {
    signed = 0;
    const r = { ...rec("submitted"), signature: null };
    const first = await jobView(r, ctx);
    const second = await jobView(r, ctx);
    expect(signed).to.equal(2);
    expect(first.signature).to.equal(second.signature);
    const attestation = attestationFor(r.jobId, r.job, r.resultHash!, r.outputRef!);
    expect(await verifyAttestation(PROVIDER.address, 31337, MARKET, attestation, first.signature as Hex)).to.equal(
      true,
    );
    const old = await jobView(rec("paid"), ctx);
    expect(old.signature).to.equal("0x02");
    expect(signed).to.equal(2);
  });
});
