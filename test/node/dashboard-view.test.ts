import { expect } from "chai";
import { keccak256, toHex, zeroAddress, type Address, type Hex } from "viem";
import { buildView } from "../../node/dashboard/view.ts";
import { indexedLogs as events } from "../helpers/indexed-logs.ts";
import { jobWords } from "../../node/attest/job-words.ts";

const MODEL = keccak256(toHex("tiny-mlp"));
const P1 = "0x0000000000000000000000000000000000000001" as Address;
const P2 = "0x0000000000000000000000000000000000000002" as Address;
const P3 = "0x0000000000000000000000000000000000000003" as Address;
const CLIENT = "0x0000000000000000000000000000000000000007" as Address;
const H1 = keccak256(toHex("one"));
const H2 = keccak256(toHex("two"));

/** Events as the index hands them over, one block per event, `t` the block time. */
/** JobRequested's `job`: the market's words for a job of `k` seats requested at `requestedAt`. */
const job = (k: number, requestedAt: number) =>
  jobWords({
    client: CLIENT,
    token: zeroAddress,
    modelId: MODEL,
    version: 1,
    redundancy: k,
    quorum: k > 1 ? 2 : 0,
    protocolFeeBps: 500,
    feePerProvider: 100n,
    requestedAt,
    deadline: requestedAt + 600,
    commitDeadline: 0,
    revealWindow: 0,
    priorityWindow: 0,
    minMemoryMB: 0,
    collateral: 0n,
    requiredTags: 0n,
    inputHash: H1,
    seed: 0n,
    challengeWindow: 0,
    counted: false,
  });

describe("dashboard view (folded from events)", function () {
  const logs = events([
    [1_000, "ModelCreated", { modelId: MODEL, name: "tiny-mlp", creator: P1 }],
    [
      1_001,
      "VersionPublished",
      { modelId: MODEL, version: 1, publisher: P1, params: { weightsCid: "bafy1", minFee: 10n } },
    ],
    [1_002, "VersionActivated", { modelId: MODEL, version: 1, previousVersion: 0, previousSunsetAt: 0 }],
    [
      1_003,
      "VersionPublished",
      { modelId: MODEL, version: 2, publisher: P1, params: { weightsCid: "bafy2", minFee: 10n } },
    ],
    [1_004, "VersionActivated", { modelId: MODEL, version: 2, previousVersion: 1, previousSunsetAt: 9_000 }],
    [1_005, "ProviderRegistered", { provider: P1, stake: 1n, status: 1, caps: {}, metadataURI: "ipfs://p1" }],
    [1_006, "ProviderStatusChanged", { provider: P1, oldStatus: 1, newStatus: 2 }],
    // Job 1 (k = 3): settled 2 against 1, paid to the two agreeing seats.
    [1_010, "JobRequested", { jobId: 1n, client: CLIENT, modelId: MODEL, job: job(3, 1_010) }],
    [1_011, "SeatCommitted", { jobId: 1n, provider: P1, seat: 0 }],
    [1_011, "SeatCommitted", { jobId: 1n, provider: P2, seat: 1 }],
    [1_011, "SeatCommitted", { jobId: 1n, provider: P3, seat: 2 }],
    [1_012, "RevealStarted", { jobId: 1n, revealDeadline: 1_100 }],
    [1_013, "ResultRevealed", { jobId: 1n, provider: P1, resultHash: H1 }],
    [1_013, "ResultRevealed", { jobId: 1n, provider: P2, resultHash: H1 }],
    [1_013, "ResultRevealed", { jobId: 1n, provider: P3, resultHash: H2 }],
    [1_014, "JobSettled", { jobId: 1n, resultHash: H1, agreeing: 2, clientRefund: 100n }],
    // Job 2 (k = 1): delivered, then claimed.
    [1_020, "JobRequested", { jobId: 2n, client: CLIENT, modelId: MODEL, job: job(1, 1_020) }],
    [1_021, "ResultSubmitted", { jobId: 2n, provider: P1, resultHash: H2 }],
    [1_080, "DeliveryClaimed", { jobId: 2n, provider: P1, fee: 100n }],
    // Job 3 (k = 2): still open, its escrow held.
    [1_090, "JobRequested", { jobId: 3n, client: CLIENT, modelId: MODEL, job: job(2, 1_090) }],
    [1_091, "SeatCommitted", { jobId: 3n, provider: P1, seat: 0 }],
    // A proposal with two votes.
    [
      1_100,
      "ProposalCreated",
      {
        proposalId: 77n,
        proposer: P1,
        voteStart: 1_101,
        voteEnd: 1_200,
        description: `Activate v2 [ref:0011223344556677]#proposer=${P1}`,
      },
    ],
    [1_102, "VoteCast", { voter: P1, proposalId: 77n, support: 1, weight: 300n, reason: "" }],
    [1_103, "VoteCast", { voter: P2, proposalId: 77n, support: 0, weight: 100n, reason: "" }],
  ]);
  const view = buildView(logs, { now: 1_110 });

  it("follows each version's lifecycle: published, active, deprecated with its sunset", function () {
    const [m] = view.models;
    expect(m!.name).to.equal("tiny-mlp");
    expect(m!.activeVersion).to.equal(2);
    expect(m!.versions.map((v) => [v.version, v.status, v.sunsetAt])).to.deep.equal([
      [1, "Deprecated", 9_000],
      [2, "Active", null],
    ]);
    expect(m!.versions[0]!.timeline.map((e) => e.event.split(" ")[0])).to.deep.equal([
      "published",
      "activated",
      "deprecated",
    ]);
  });

  it("lists jobs newest first with stage, seats, result and latency", function () {
    expect(
      view.jobs.map((j) => [j.jobId, j.stage, j.k, j.seated, j.revealed, j.resultHash, j.latency, j.disagreed]),
    ).to.deep.equal([
      ["3", "committing", 2, 1, 0, null, null, false],
      ["2", "claimed", 1, 1, 0, H2, 1, false],
      ["1", "settled", 3, 3, 3, H1, 4, true],
    ]);
    expect(view.jobs[0]!.model).to.equal("tiny-mlp");
  });

  it("totals: escrow of open jobs, fees paid, disagreement rate, jobs in the last minute", function () {
    expect(view.totals.jobs).to.equal(3);
    expect(view.totals.open).to.equal(1);
    // Job 3: 2 × 100 plus 5 % protocol fee.
    expect(view.totals.escrowHeld).to.deep.equal({ [zeroAddress]: "210" });
    // Job 1: two agreeing seats × 100; job 2: the claimed fee.
    expect(view.totals.feesEarned).to.deep.equal({ [zeroAddress]: "300" });
    expect(view.totals.disagreementRate).to.equal(1);
    expect(view.totals.jobsPerMinute).to.equal(1);
  });

  it("tallies votes from VoteCast events and shows the description without its proposer suffix", function () {
    expect(view.proposals).to.have.length(1);
    expect(view.proposals[0]).to.deep.include({
      proposalId: "77",
      description: "Activate v2",
      votes: { against: "100", for: "300", abstain: "0" },
      voteEnd: 1_200,
    });
    expect(view.proposals[0]!.voters).to.deep.equal([P1, P2]);
  });

  it("keeps providers' lifecycle and charts the jobs per minute and the latency distribution", function () {
    expect(view.providers.map((p) => [p.address, p.timeline.map((e) => e.event)])).to.deep.equal([
      [P1, ["registered", "Approved"]],
    ]);
    const c = view.charts;
    expect(c.jobsOverTime.requested.reduce((a, b) => a + b, 0)).to.equal(3);
    expect(c.jobsOverTime.finished.reduce((a, b) => a + b, 0)).to.equal(2);
    expect(c.latency.count.reduce((a, b) => a + b, 0)).to.equal(2);
    expect(c.latency.count[c.latency.bucket.indexOf(1)]).to.equal(1);
    expect(c.latency.count[c.latency.bucket.indexOf(3)]).to.equal(1);
  });

  it("bounds the job list but not the totals", function () {
    const many = events(
      Array.from(
        { length: 50 },
        (_, i) =>
          [
            2_000 + i,
            "JobRequested",
            { jobId: BigInt(i + 1), client: CLIENT, modelId: MODEL as Hex, job: job(1, 2_000 + i) },
          ] as [number, string, Record<string, unknown>],
      ),
    );
    const v = buildView(many, { now: 2_050, recentJobs: 10 });
    expect(v.jobs).to.have.length(10);
    expect(v.jobs[0]!.jobId).to.equal("50");
    expect(v.totals.jobs).to.equal(50);
  });

  it("shows a consumer contract's job with its callback's status (ConsumerRouter events)", function () {
    const v = buildView(
      events([
        [1_000, "JobRequested", { jobId: 9n, client: CLIENT, modelId: MODEL, job: job(1, 1_000) }],
        [
          1_000,
          "CallbackFunded",
          { jobId: 9n, consumer: CLIENT, callbackGasLimit: 100_000, maxGasPrice: 1n, deposit: 1n },
        ],
        [1_001, "ResultSubmitted", { jobId: 9n, provider: P1, resultHash: H1 }],
        [1_010, "CallbackFailed", { jobId: 9n, reason: "0x", gasUsed: 100_000n }],
        [1_020, "JobRequested", { jobId: 10n, client: CLIENT, modelId: MODEL, job: job(1, 1_020) }],
        [
          1_020,
          "CallbackFunded",
          { jobId: 10n, consumer: CLIENT, callbackGasLimit: 100_000, maxGasPrice: 1n, deposit: 1n },
        ],
        [1_021, "CallbackDelivered", { jobId: 10n, resultHash: H1, hashOnly: false, gasUsed: 5n, retry: false }],
        [1_030, "JobRequested", { jobId: 11n, client: CLIENT, modelId: MODEL, job: job(1, 1_030) }],
      ]),
      { now: 1_040 },
    );
    expect(v.jobs.map((j) => [j.jobId, j.callback])).to.deep.equal([
      ["11", null],
      ["10", "delivered"],
      ["9", "failed"],
    ]);
  });
});
