import { expect } from "chai";
import { zeroAddress, type Hex } from "viem";
import type { Job } from "../../node/attest/attestation.ts";
import { declineReason, type SchedulerContext } from "../../node/jobs/scheduler.ts";

const MODEL = `0x${"ab".repeat(32)}` as Hex;
const job = (over: Partial<Job> = {}): Job => ({
  client: zeroAddress,
  token: zeroAddress,
  modelId: MODEL,
  version: 1,
  redundancy: 1,
  quorum: 0,
  protocolFeeBps: 100,
  feePerProvider: 1000n,
  requestedAt: 100,
  deadline: 200,
  commitDeadline: 0,
  revealWindow: 0,
  priorityWindow: 0,
  minMemoryMB: 64,
  collateral: 0n,
  requiredTags: 1n,
  inputHash: `0x${"00".repeat(32)}`,
  seed: 0n,
  ...over,
});
const ctx = (over: Partial<SchedulerContext> = {}): SchedulerContext => ({
  provider: { active: true, tags: 3n, memoryMB: 1024, freeStake: 100n },
  allowedModels: null,
  minFee: (token) => (token === zeroAddress ? 500n : undefined),
  now: 150,
  ...over,
});

describe("job selection policy", function () {
  it("takes a job that meets every rule", function () {
    expect(declineReason(job(), ctx())).to.equal(null);
  });
  const cases: [string, Partial<Job>, Partial<SchedulerContext>][] = [
    ["an inactive provider", {}, { provider: { active: false, tags: 3n, memoryMB: 1024, freeStake: 100n } }],
    ["a model this runner does not serve", {}, { allowedModels: new Set<Hex>([`0x${"cd".repeat(32)}`]) }],
    ["a token this runner does not accept", { token: "0x0000000000000000000000000000000000000001" }, {}],
    ["a fee below the runner's price", { feePerProvider: 499n }, {}],
    ["a missing tag", { requiredTags: 4n }, {}],
    ["too little memory", { minMemoryMB: 2048 }, {}],
    ["too little free stake for a k > 1 collateral", { redundancy: 3, collateral: 101n, commitDeadline: 200 }, {}],
    ["a passed deadline", {}, { now: 200 }],
    ["a passed commit deadline for k > 1", { redundancy: 3, commitDeadline: 140 }, {}],
  ];
  for (const [what, j, c] of cases) {
    it(`declines ${what}`, function () {
      expect(declineReason(job(j), ctx(c))).to.be.a("string");
    });
  }
});
