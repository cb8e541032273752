import { expect } from "chai";
import { keccak256, toHex, zeroAddress, type Hex } from "viem";
import type { Job } from "../../node/attest/attestation.ts";
import { declineReason, stakeShort, rankOf, stepInAt, turnOf, type TakeContext } from "../../node/jobs/take-policy.ts";

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
  challengeWindow: 0,
  counted: false,
  ...over,
});
const ctx = (over: Partial<TakeContext> = {}): TakeContext => ({
  provider: { active: true, tags: 3n, memoryMB: 1024, freeStake: 100n, rosterIndex: 0n, rosterSize: 1n },
  allowedModels: null,
  minFee: (token) => (token === zeroAddress ? 500n : undefined),
  now: 150,
  ...over,
});

describe("job selection policy", function () {
  it("takes a job that meets every rule", function () {
    expect(declineReason(job(), ctx())).to.equal(null);
  });
  const cases: [string, Partial<Job>, Partial<TakeContext>][] = [
    [
      "an inactive provider",
      {},
      { provider: { active: false, tags: 3n, memoryMB: 1024, freeStake: 100n, rosterIndex: 0n, rosterSize: 1n } },
    ],
    ["a model this runner does not serve", {}, { allowedModels: new Set<Hex>([`0x${"cd".repeat(32)}`]) }],
    ["a token this runner does not accept", { token: "0x0000000000000000000000000000000000000001" }, {}],
    ["a fee below the runner's price", { feePerProvider: 499n }, {}],
    ["a missing tag", { requiredTags: 4n }, {}],
    ["too little memory", { minMemoryMB: 2048 }, {}],
    ["a passed deadline", {}, { now: 200 }],
    ["a passed commit deadline for k > 1", { redundancy: 3, commitDeadline: 140 }, {}],
  ];
  for (const [what, j, c] of cases) {
    it(`declines ${what}`, function () {
      expect(declineReason(job(j), ctx(c))).to.be.a("string");
    });
  }
  it("does not decline a job its free stake cannot cover yet: that job waits for stake (stakeShort)", function () {
    const j = job({ redundancy: 3, collateral: 101n, commitDeadline: 200 });
    expect(declineReason(j, ctx())).to.equal(null);
    expect(stakeShort(j, ctx().provider)).to.equal(true);
    expect(stakeShort(job({ collateral: 100n }), ctx().provider)).to.equal(false);
  });
});

describe("turn of a provider under assignment (market v2)", function () {
  const roster = (rosterIndex: bigint, rosterSize = 5n) => ({ rosterIndex, rosterSize });
  // Bits 64+ of the seed give the multiplier 1 + 2 % 4 = 3; seed % 5 = (2 × 2^64 + 7) % 5 = 4.
  const seed = (2n << 64n) + 7n;
  it("ranks by the job's seed on the roster, (3 × i + 4) mod 5 here; the first k open at request, one more per window", function () {
    const j = job({ seed, redundancy: 1, priorityWindow: 3, requestedAt: 100 });
    expect([0n, 1n, 2n, 3n, 4n].map((i) => turnOf(j, roster(i)))).to.deep.equal([
      { rank: 4, opensAt: 112 },
      { rank: 2, opensAt: 106 },
      { rank: 0, opensAt: 100 },
      { rank: 3, opensAt: 109 },
      { rank: 1, opensAt: 103 },
    ]);
    const k3 = job({ seed, redundancy: 3, priorityWindow: 3, requestedAt: 100 });
    expect([2n, 4n, 1n, 3n, 0n].map((i) => turnOf(k3, roster(i))!.opensAt)).to.deep.equal([100, 100, 100, 103, 106]);
  });
  it("opens every rank at request with a window of 0, and has no turn off the roster", function () {
    // Seed 7: multiplier 1, offset 2.
    expect(turnOf(job({ seed: 7n, priorityWindow: 0, requestedAt: 100 }), roster(1n))).to.deep.equal({
      rank: 3,
      opensAt: 100,
    });
    expect(turnOf(job({ seed: 7n, priorityWindow: 3 }), roster(2n ** 256n - 1n))).to.equal(null);
    expect(turnOf(job({ seed: 7n, priorityWindow: 3 }), roster(0n, 0n))).to.equal(null);
  });
  it("steps a multiplier that shares a factor with the roster size up to the next coprime one", function () {
    // n = 6: bits 64+ = 1 give 1 + 1 % 5 = 2, which shares 2 with 6; 3 shares 3; 4 shares 2; so 5.
    const s6 = 1n << 64n;
    expect([0n, 1n, 2n, 3n, 4n, 5n].map((i) => rankOf(s6, i, 6n))).to.deep.equal(
      [0, 5, 4, 3, 2, 1].map((r) => (r + Number(s6 % 6n)) % 6),
    );
  });
  it("is a permutation of the roster for every size up to 64 and many seeds", function () {
    for (let n = 1n; n <= 64n; n++) {
      for (let t = 0; t < 20; t++) {
        const s = BigInt(keccak256(toHex(`${n}-${t}`)));
        const ranks = new Set(Array.from({ length: Number(n) }, (_, i) => rankOf(s, BigInt(i), n)));
        expect(ranks.size, `n ${n}, seed ${t}`).to.equal(Number(n));
      }
    }
  });
  it("gives a block of consecutive members all first k ranks far less often than a rotation did", function () {
    // 6 of 20 members joined one after another (indexes 0-5) and want every seat of k = 3 jobs.
    // A rotation of the roster handed them all three in 4 of 20 seeds; a uniform draw would in
    // (6 × 5 × 4) / (20 × 19 × 18) = 1.8 %.
    const n = 20n;
    let held = 0;
    const seeds = 2000;
    for (let t = 0; t < seeds; t++) {
      const s = BigInt(keccak256(toHex(`cartel-${t}`)));
      const firstK = Array.from({ length: 20 }, (_, i) => i).filter((i) => rankOf(s, BigInt(i), n) < 3);
      if (firstK.every((i) => i < 6)) held++;
    }
    expect(held / seeds).to.be.below(0.08);
  });
});

describe("stepping in late (a runner that was behind)", function () {
  const j = job({ seed: 7n, redundancy: 1, priorityWindow: 3, requestedAt: 100 });
  it("a runner that looks in time acts at its turn", function () {
    expect(stepInAt(j, { rank: 2, opensAt: 106 }, 101)).to.equal(106);
    expect(stepInAt(j, { rank: 2, opensAt: 106 }, 106)).to.equal(106);
  });
  it("a late first look gives the earlier ranks the schedule again from that look, so late ranks do not all send in one block", function () {
    // Every rank first looks at 170 (all behind alike): rank 0 at once, then one window per rank.
    expect([0, 1, 2, 3, 4].map((rank) => stepInAt(j, { rank, opensAt: 100 + rank * 3 }, 170))).to.deep.equal([
      100, 173, 176, 179, 182,
    ]);
    const k3 = job({ seed: 7n, redundancy: 3, priorityWindow: 3, requestedAt: 100 });
    expect(
      [0, 1, 2, 3, 4].map((rank) => stepInAt(k3, { rank, opensAt: rank < 3 ? 100 : 100 + (rank - 2) * 3 }, 170)),
    ).to.deep.equal([100, 100, 100, 173, 176]);
  });
  it("changes nothing with assignment off", function () {
    expect(stepInAt(job({ seed: 7n, priorityWindow: 0, requestedAt: 100 }), { rank: 4, opensAt: 100 }, 170)).to.equal(
      100,
    );
  });
});
