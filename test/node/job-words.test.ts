import { expect } from "chai";
import type { Job } from "../../node/attest/attestation.ts";
import { jobOfWords, jobWords } from "../../node/attest/job-words.ts";

/** The fixed job of the Solidity test `test_jobWords_sharedVector` (InferenceMarketPolicy.t.sol), with its words. */
const JOB: Job = {
  client: "0x1111111111111111111111111111111111111111",
  token: "0x2222222222222222222222222222222222222222",
  modelId: `0x${"33".padStart(64, "0")}`,
  version: 7,
  redundancy: 3,
  quorum: 2,
  protocolFeeBps: 250,
  feePerProvider: 10n ** 16n,
  requestedAt: 1_700_000_000,
  deadline: 1_700_003_600,
  commitDeadline: 1_700_000_120,
  revealWindow: 120,
  priorityWindow: 3,
  minMemoryMB: 512,
  collateral: 10n * 10n ** 18n,
  requiredTags: 0x10001n,
  inputHash: `0x${"44".padStart(64, "0")}`,
  seed: 0xabcdef0123456789abcdef01n,
  challengeWindow: 0,
  counted: true,
};
const WORDS = [
  0x1111111111111111111111111111111111111111006553f100006553ff100302n,
  0x222222222222222222222222222222222222222200000000002386f26fc10000n,
  0x000000070000020000fa00000003006553f17800000078000000000100000000n,
  0x0000000000010001abcdef0123456789abcdef01000000008ac7230489e80000n,
  0x33n,
  0x44n,
];

describe("job words (the market's packed job, contracts/market/JobWords.sol)", function () {
  it("packs the shared vector as the Solidity side does, and unpacks it back", function () {
    expect(jobWords(JOB)).to.deep.equal(WORDS);
    expect(jobOfWords(WORDS)).to.deep.equal(JOB);
  });

  it("round-trips every field at its widest", function () {
    const max = (bits: number) => (1n << BigInt(bits)) - 1n;
    const widest: Job = {
      ...JOB,
      client: "0xFFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF",
      token: "0xFFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF",
      modelId: `0x${"ff".repeat(32)}`,
      inputHash: `0x${"ff".repeat(32)}`,
      version: Number(max(32)),
      redundancy: 255,
      quorum: 255,
      protocolFeeBps: 65_535,
      feePerProvider: max(96),
      requestedAt: Number(max(40)),
      deadline: Number(max(40)),
      commitDeadline: Number(max(40)),
      revealWindow: Number(max(32)),
      priorityWindow: Number(max(32)),
      minMemoryMB: Number(max(32)),
      collateral: max(96),
      requiredTags: max(64),
      seed: max(96),
      challengeWindow: Number(max(32)),
    };
    expect(jobOfWords(jobWords(widest))).to.deep.equal(widest);
  });

  it("refuses a field wider than its place instead of cutting it", function () {
    expect(() => jobWords({ ...JOB, requiredTags: 1n << 64n })).to.throw(RangeError, /requiredTags/);
    expect(() => jobWords({ ...JOB, collateral: 1n << 96n })).to.throw(RangeError, /collateral/);
    expect(() => jobWords({ ...JOB, requestedAt: 2 ** 40 })).to.throw(RangeError, /requestedAt/);
    expect(() => jobOfWords([1n, 2n])).to.throw(RangeError, /6 words/);
  });
});
