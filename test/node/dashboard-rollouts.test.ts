import { expect } from "chai";
import { keccak256, toHex, type Address } from "viem";
import { buildView } from "../../node/dashboard/view.ts";
import { indexedLogs as events } from "../helpers/indexed-logs.ts";
import { rolloutRules, type RolloutPlan } from "../../node/rollouts/rules.ts";

const MODEL = keccak256(toHex("tiny-mlp"));
const OTHER = keccak256(toHex("silero-vad"));
const P1 = "0x0000000000000000000000000000000000000001" as Address;
const GUARDIAN = "0x0000000000000000000000000000000000000024" as Address;

const plan = (candidate: number, over: Partial<RolloutPlan> = {}): RolloutPlan => ({
  candidate,
  canaryBps: 1_000,
  minDuration: 600,
  promoteAfterJobs: 4,
  abortAfterJobs: 2,
  maxDisputedBps: 2_500,
  maxFailedBps: 0,
  ...over,
});
const counted = (version: number, outcome: number, settled: number, disputed: number, failed: number) => ({
  modelId: MODEL,
  version,
  outcome,
  counters: { settled, disputed, failed },
});

const MODELS: [number, string, Record<string, unknown>][] = [
  [900, "ModelCreated", { modelId: MODEL, name: "tiny-mlp", creator: P1 }],
  [901, "VersionPublished", { modelId: MODEL, version: 1, publisher: P1, params: { weightsCid: "bafy1", minFee: 1n } }],
  [902, "VersionActivated", { modelId: MODEL, version: 1, previousVersion: 0, previousSunsetAt: 0 }],
  [903, "VersionPublished", { modelId: MODEL, version: 2, publisher: P1, params: { weightsCid: "bafy2", minFee: 1n } }],
  [904, "VersionPublished", { modelId: MODEL, version: 3, publisher: P1, params: { weightsCid: "bafy3", minFee: 1n } }],
];

describe("dashboard view: staged rollouts (folded from events)", function () {
  it("a running rollout: plan, counters of its candidate only, and the rule verdict at the head's time", function () {
    const logs = events([
      ...MODELS,
      [1_000, "RolloutStarted", { modelId: MODEL, candidate: 2, champion: 1, plan: plan(2) }],
      [1_010, "RolloutJobCounted", counted(2, 0, 1, 0, 0)],
      [1_020, "RolloutJobCounted", counted(1, 2, 0, 0, 7)], // another version's counters: not this rollout's
      [1_030, "RolloutJobCounted", counted(2, 0, 2, 0, 0)],
      [1_040, "RolloutJobCounted", counted(2, 0, 3, 0, 0)],
    ]);
    const early = buildView(logs, { now: 1_100 }).rollouts;
    expect(early).to.have.length(1);
    const r = early[0]!;
    expect(r).to.include({
      model: "tiny-mlp",
      candidate: 2,
      champion: 1,
      status: "Running",
      startedAt: 1_000,
      endedAt: null,
    });
    expect(r.plan).to.deep.equal(plan(2));
    expect(r.counters).to.deep.equal({ settled: 3, disputed: 0, failed: 0 });
    expect(r.rules).to.include({
      ended: 3,
      promotable: false,
      abortable: false,
      unmet: "minimum duration",
      promotableFrom: 1_600,
    });
    expect(r.rules.text).to.match(/minimum duration/);

    // After the minimum duration the next unmet part is the number of ended jobs (3 of 4).
    expect(buildView(logs, { now: 1_600 }).rollouts[0]!.rules).to.include({
      unmet: "jobs ended",
      promotable: false,
      abortable: false,
    });

    // A fourth, settled job: 1 disputed of 4 is 25 %, at the maximum: promotable.
    const more = events([
      ...MODELS,
      [1_000, "RolloutStarted", { modelId: MODEL, candidate: 2, champion: 1, plan: plan(2) }],
      [1_050, "RolloutJobCounted", counted(2, 0, 3, 1, 0)],
    ]);
    expect(buildView(more, { now: 1_600 }).rollouts[0]!.rules).to.include({
      promotable: true,
      abortable: false,
      unmet: null,
    });
  });

  it("the abort rule: a share above its maximum once abort-after jobs ended; the disputed share is named first", function () {
    const start: [number, string, Record<string, unknown>] = [
      1_000,
      "RolloutStarted",
      { modelId: MODEL, candidate: 2, champion: 1, plan: plan(2) },
    ];
    const one = buildView(events([...MODELS, start, [1_010, "RolloutJobCounted", counted(2, 2, 0, 0, 1)]]), {
      now: 5_000,
    }).rollouts[0]!;
    expect(one.rules).to.include({ abortable: false, promotable: false, unmet: "jobs ended" }); // one unlucky job does not abort
    const two = buildView(
      events([
        ...MODELS,
        start,
        [1_010, "RolloutJobCounted", counted(2, 2, 0, 0, 1)],
        [1_011, "RolloutJobCounted", counted(2, 1, 0, 1, 1)],
      ]),
      { now: 5_000 },
    ).rollouts[0]!;
    expect(two.rules).to.include({
      abortable: true,
      promotable: false,
      abortReason: "disputed share above the plan's maximum",
    });
    expect(two.rules.text).to.match(/^abortable/);
  });

  it("ended rollouts keep their outcome; a new rollout of the same model starts from zero; newest first", function () {
    const logs = events([
      ...MODELS,
      [1_000, "RolloutStarted", { modelId: MODEL, candidate: 2, champion: 1, plan: plan(2) }],
      [1_010, "RolloutJobCounted", counted(2, 2, 0, 0, 1)],
      [
        1_020,
        "RolloutAborted",
        { modelId: MODEL, candidate: 2, by: GUARDIAN, reason: "aborted by the guardian or the DAO" },
      ],
      [
        1_030,
        "RolloutStarted",
        { modelId: MODEL, candidate: 3, champion: 1, plan: plan(3, { minDuration: 0, promoteAfterJobs: 1 }) },
      ],
      [1_040, "RolloutJobCounted", counted(3, 0, 1, 0, 0)],
      [1_050, "RolloutPromoted", { modelId: MODEL, candidate: 3, by: P1 }],
      [1_050, "VersionActivated", { modelId: MODEL, version: 3, previousVersion: 1, previousSunsetAt: 9_000 }],
      [1_060, "RolloutJobCounted", counted(3, 0, 2, 0, 0)], // a job requested during the rollout ends later
      [1_070, "RolloutPromoted", { modelId: OTHER, candidate: 9, by: P1 }], // no rollout known for it: ignored
    ]);
    const v = buildView(logs, { now: 2_000 });
    expect(v.rollouts.map((r) => [r.candidate, r.status, r.endedAt, r.endedBy, r.reason])).to.deep.equal([
      [3, "Promoted", 1_050, P1, null],
      [2, "Aborted", 1_020, GUARDIAN, "aborted by the guardian or the DAO"],
    ]);
    expect(v.rollouts[0]!.counters).to.deep.equal({ settled: 2, disputed: 0, failed: 0 });
    expect(v.rollouts[1]!.counters).to.deep.equal({ settled: 0, disputed: 0, failed: 1 });
    for (const r of v.rollouts) expect(r.rules).to.include({ promotable: false, abortable: false, unmet: null });
    expect(v.models[0]!.activeVersion).to.equal(3);
  });

  it("the rules mirror the contract's integer arithmetic at the boundaries", function () {
    const p = plan(2, {
      minDuration: 0,
      promoteAfterJobs: 3,
      abortAfterJobs: 3,
      maxDisputedBps: 3_333,
      maxFailedBps: 5_000,
    });
    // 1 of 3 disputed is 3,333.33 bps: above 3,333.
    expect(rolloutRules("Running", p, 0, { settled: 2, disputed: 1, failed: 0 }, 0)).to.include({
      promotable: false,
      unmet: "disputed share",
      abortable: true,
    });
    expect(
      rolloutRules("Running", { ...p, maxDisputedBps: 3_334 }, 0, { settled: 2, disputed: 1, failed: 0 }, 0),
    ).to.include({ promotable: true, abortable: false });
    // Failed exactly at its maximum is within it.
    expect(
      rolloutRules("Running", { ...p, maxDisputedBps: 10_000 }, 0, { settled: 1, disputed: 0, failed: 1 }, 0),
    ).to.include({ unmet: "jobs ended", abortable: false });
    expect(
      rolloutRules("Running", { ...p, maxDisputedBps: 10_000 }, 0, { settled: 1, disputed: 1, failed: 1 }, 0),
    ).to.include({ promotable: true, abortable: false });
    expect(
      rolloutRules("Running", { ...p, maxDisputedBps: 10_000 }, 0, { settled: 0, disputed: 1, failed: 2 }, 0),
    ).to.include({ unmet: "failed share", abortReason: "failed share above the plan's maximum" });
    // The minimum duration ends at startedAt + minDuration exactly.
    expect(
      rolloutRules("Running", { ...p, minDuration: 10 }, 100, { settled: 3, disputed: 0, failed: 0 }, 109).unmet,
    ).to.equal("minimum duration");
    expect(
      rolloutRules("Running", { ...p, minDuration: 10 }, 100, { settled: 3, disputed: 0, failed: 0 }, 110).promotable,
    ).to.equal(true);
  });
});
