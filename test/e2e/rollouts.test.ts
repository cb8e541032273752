import { expect } from "chai";
import path from "node:path";
import { encodeFunctionData, getAddress, keccak256, toHex } from "viem";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { fastForward, mined, passOnLocalChain } from "../../node/dao/proposals.ts";
import { ROLES } from "../../node/deploy/roles.ts";
import { sampleModel } from "../../node/models/samples.ts";
import type { RolloutPlan } from "../../node/rollouts/rules.ts";
import { cliFor, type CliRun } from "../helpers/cli-process.ts";
import {
  devAccount,
  publishSample,
  spawnRunners,
  startDevnet,
  type Devnet,
  type RunnerProcess,
} from "../helpers/devnet.ts";
import { until } from "../helpers/until.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stands in for the market (MARKET_ROLE on the ModelRegistry, granted by a DAO vote): it counts candidate jobs. */
const COUNTER = 12;
const GUARDIAN = 24;
const RUNNERS = [4, 5] as const;
const OUTCOME = { Settled: 0, Disputed: 1, Failed: 2 } as const;

/**
 * Staged rollouts end to end on a local network: the DAO starts one with the CLI, `conclave
 * rollout status|promote|abort` read and act on it (one-line errors naming the unmet rule), and
 * runner processes promote a candidate whose promotion rule holds and abort one whose abort rule
 * holds. The market does not count jobs yet, so a development account holding MARKET_ROLE on the
 * registry (voted by the DAO) calls countJob to drive the counters.
 */
describe("staged rollouts: CLI and runners against a local network", function () {
  this.timeout(300_000);
  let net: Devnet;
  let runners: RunnerProcess[] = [];
  const sample = sampleModel("tiny-mlp");
  const modelId = keccak256(toHex(sample.name));

  /** `conclave` as a user runs it, against this test's network (a process per command). */
  const conclave = (args: string[]): Promise<CliRun> =>
    cliFor({ rpc: net.node.rpcUrl, deployment: net.deploymentFile, cwd: ROOT })(args);

  function expectFailure(r: CliRun, code: string, pattern: RegExp): void {
    expect(r.code, r.stderr).to.equal(1);
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("conclave: "));
    expect(lines, r.stderr).to.have.length(1);
    expect(lines[0]).to.match(pattern);
    expect(r.json).to.include({ code });
  }

  const registry = () => conclaveContracts(net.record, net.publicClient).models;
  const rollout = async () => {
    const [r, c] = await registry().read.rolloutOf([modelId]);
    return { status: r.status, candidate: r.plan.candidate, counters: c };
  };
  const count = (version: number, outcome: number) =>
    mined(
      net.publicClient,
      conclaveContracts(net.record, net.wallet(COUNTER)).models.write.countJob([modelId, version, outcome]),
    );
  const plan = (candidate: number, p: Omit<RolloutPlan, "candidate">): RolloutPlan => ({ candidate, ...p });
  /** Starts a rollout by a DAO vote (the CLI path is tested once, below). */
  const startRollout = (p: RolloutPlan) =>
    passOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members: net.members,
      description: `Roll out v${p.candidate} ${Math.random()}`,
      actions: [
        {
          target: registry().address,
          data: encodeFunctionData({ abi: registry().abi, functionName: "startRollout", args: [modelId, p] }),
        },
      ],
    });
  const ROLLOUT_STATUS = { None: 0, Running: 1, Promoted: 2, Aborted: 3 } as const;

  before(async function () {
    net = await startDevnet({ providers: [...RUNNERS], models: [sample] });
    // Versions 2, 3 and 4: candidates (Published, not active).
    for (let i = 0; i < 3; i++) await publishSample(net, sample);
    await passOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members: net.members,
      description: "Let the test count rollout jobs",
      actions: [
        {
          target: registry().address,
          data: encodeFunctionData({
            abi: registry().abi,
            functionName: "grantRole",
            args: [ROLES.MARKET_ROLE, devAccount(COUNTER).address],
          }),
        },
      ],
    });
  });
  after(async function () {
    await Promise.all(runners.map((r) => r.stop("SIGKILL")));
    await net?.stop();
  });

  it("the deployed market holds MARKET_ROLE on the ModelRegistry", async function () {
    expect(await registry().read.hasRole([ROLES.MARKET_ROLE, net.record.contracts.InferenceMarket!.address])).to.equal(
      true,
    );
  });

  it("refuses bad start-rollout proposals and unknown rollouts with one line", async function () {
    const flags = [
      "--canary",
      "10",
      "--min-duration",
      "1h",
      "--promote-after",
      "3",
      "--abort-after",
      "2",
      "--max-disputed",
      "25",
      "--max-failed",
      "0",
      "--dev-account",
      "1",
    ];
    const withFlag = (name: string, value: string) => flags.map((f, i) => (flags[i - 1] === name ? value : f));
    expectFailure(
      await conclave(["dao", "propose", "start-rollout", sample.name, "2", ...withFlag("--canary", "60")]),
      "REQUEST_INVALID",
      /--canary must be from 0\.01% to 50%/,
    );
    expectFailure(
      await conclave(["dao", "propose", "start-rollout", sample.name, "2", ...withFlag("--min-duration", "1w")]),
      "REQUEST_INVALID",
      /--min-duration must be a duration/,
    );
    expectFailure(
      await conclave(["dao", "propose", "start-rollout", sample.name, "2", ...withFlag("--promote-after", "0")]),
      "REQUEST_INVALID",
      /--promote-after/,
    );
    expectFailure(
      await conclave(["dao", "propose", "start-rollout", sample.name, "2", "--canary", "10", "--dev-account", "1"]),
      "REQUEST_INVALID",
      /needs --min-duration, --promote-after/,
    );
    expectFailure(
      await conclave(["dao", "propose", "start-rollout", sample.name, "1", ...flags]),
      "REQUEST_INVALID",
      /v1 is Active: only a Published version/,
    );
    expectFailure(
      await conclave(["dao", "propose", "activate", sample.name, "2", "--canary", "10", "--dev-account", "1"]),
      "REQUEST_INVALID",
      /--canary only go with dao propose start-rollout/,
    );

    const none = await conclave(["rollout", "status", sample.name]);
    expect(none.code, none.stderr).to.equal(0);
    expect(none.json).to.include({ model: sample.name, status: "None", activeVersion: 1, plan: null });
    expectFailure(
      await conclave(["rollout", "promote", sample.name, "--dev-account", "7"]),
      "NO_RUNNING_ROLLOUT",
      /has no running rollout/,
    );
    expectFailure(await conclave(["rollout", "status", "no-such-model"]), "REQUEST_INVALID", /unknown model/);
  });

  it("the DAO starts a rollout with the CLI; status and promote name the unmet rule until it holds; anyone then promotes", async function () {
    const proposed = await conclave([
      "dao",
      "propose",
      "start-rollout",
      sample.name,
      "2",
      "--canary",
      "12.5",
      "--min-duration",
      "1h",
      "--promote-after",
      "3",
      "--abort-after",
      "2",
      "--max-disputed",
      "25",
      "--max-failed",
      "0",
      "--dev-account",
      "1",
    ]);
    expect(proposed.code, proposed.stderr).to.equal(0);
    const id = proposed.json.id as string;
    expect(proposed.json.description).to.match(
      /^Roll out tiny-mlp v2 \(active v1\): canary 12\.5% for at least 3600 s.* \[ref:[0-9a-f]+\]#proposer=0x/,
    );
    for (const member of ["1", "2", "3"])
      expect((await conclave(["dao", "vote", id, "for", "--dev-account", member])).code).to.equal(0);
    expect((await conclave(["dao", "queue", id, "--dev-account", "2"])).json.state).to.equal("Queued");
    const executed = await conclave(["dao", "execute", id, "--dev-account", "3"]);
    expect(executed.json.state, executed.stderr).to.equal("Executed");
    expect((executed.json.actions as { call: string }[])[0]!.call).to.match(/^startRollout\(/);

    const running = await conclave(["rollout", "status", sample.name]);
    expect(running.json).to.include({ status: "Running", activeVersion: 1 });
    expect(running.json.plan).to.deep.include({
      candidate: 2,
      candidateStatus: "Published",
      canaryBps: 1_250,
      minDuration: 3_600,
      promoteAfterJobs: 3,
      abortAfterJobs: 2,
      maxDisputedBps: 2_500,
      maxFailedBps: 0,
    });
    expect(running.json.rules).to.include({ promotable: false, abortable: false, unmet: "minimum duration", ended: 0 });
    expect(running.json.chainVerdict).to.deep.equal({ promotable: false, abortable: false });
    const failed = await conclave(["rollout", "promote", sample.name, "--dev-account", "7"]);
    expectFailure(failed, "ROLLOUT_RULE_NOT_MET", /promotion rule does not hold: minimum duration \(\d+ s left\)/);
    expectFailure(
      await conclave(["rollout", "abort", sample.name, "--dev-account", "7"]),
      "ROLLOUT_RULE_NOT_MET",
      /abort rule does not hold: 0 of the 2 ended jobs it needs/,
    );

    await count(2, OUTCOME.Settled);
    await count(2, OUTCOME.Settled);
    await fastForward(net.publicClient, 3_600);
    const short = await conclave(["rollout", "status", sample.name]);
    expect(short.json.counters).to.deep.equal({ settled: 2, disputed: 0, failed: 0 });
    expect(short.json.rules).to.include({ unmet: "jobs ended", promotable: false });
    expect((short.json.rules as { text: string }).text).to.match(/jobs ended \(2 of 3\)/);
    expectFailure(
      await conclave(["rollout", "promote", sample.name, "--dev-account", "7"]),
      "ROLLOUT_RULE_NOT_MET",
      /promotion rule does not hold: jobs ended \(2 of 3\)/,
    );

    await count(2, OUTCOME.Disputed); // 1 of 3 disputed: 33 % above 25 %, and 3 ended ≥ abort-after 2
    const disputed = await conclave(["rollout", "status", sample.name]);
    expect(disputed.json.rules).to.include({
      unmet: "disputed share",
      promotable: false,
      abortable: true,
      abortReason: "disputed share above the plan's maximum",
    });
    expect(disputed.json.chainVerdict).to.deep.equal({ promotable: false, abortable: true });
    await count(2, OUTCOME.Settled); // 1 of 4: 25 %, at the maximum
    const ready = await conclave(["rollout", "status", sample.name]);
    expect(ready.json.rules).to.include({ promotable: true, abortable: false, unmet: null, ended: 4 });
    expect(ready.json.chainVerdict).to.deep.equal({ promotable: true, abortable: false });

    const promoted = await conclave(["rollout", "promote", sample.name, "--dev-account", "7"]);
    expect(promoted.code, promoted.stderr).to.equal(0);
    expect(promoted.json).to.include({ status: "Promoted", activeVersion: 2, promoted: true });
    expect((await registry().read.getModel([modelId])).activeVersion).to.equal(2);
    expectFailure(
      await conclave(["rollout", "promote", sample.name, "--dev-account", "7"]),
      "NO_RUNNING_ROLLOUT",
      /the last one was Promoted/,
    );
  });

  it("the guardian aborts a running rollout at any time with the CLI", async function () {
    await startRollout(
      plan(3, {
        canaryBps: 500,
        minDuration: 0,
        promoteAfterJobs: 10,
        abortAfterJobs: 10,
        maxDisputedBps: 0,
        maxFailedBps: 0,
      }),
    );
    const aborted = await conclave(["rollout", "abort", sample.name, "--dev-account", String(GUARDIAN)]);
    expect(aborted.code, aborted.stderr).to.equal(0);
    expect(aborted.json).to.include({
      status: "Aborted",
      activeVersion: 2,
      reason: "aborted by the guardian or the DAO",
    });
  });

  it("runners promote a rollout once its promotion rule holds (the minimum duration passing without an event: the slow timer)", async function () {
    runners = await spawnRunners(net, RUNNERS, { rollouts: { intervalMs: 300 } });
    // v3 rolled out again: its counters start from zero.
    await startRollout(
      plan(3, {
        canaryBps: 2_000,
        minDuration: 1_800,
        promoteAfterJobs: 2,
        abortAfterJobs: 2,
        maxDisputedBps: 5_000,
        maxFailedBps: 0,
      }),
    );
    expect((await rollout()).counters).to.deep.include({ settled: 0, failed: 0 });
    await count(3, OUTCOME.Settled);
    await count(3, OUTCOME.Disputed);
    expect((await rollout()).status).to.equal(ROLLOUT_STATUS.Running); // the minimum duration holds it back
    await fastForward(net.publicClient, 1_800);
    await until("the runners to promote v3", async () => (await rollout()).status === ROLLOUT_STATUS.Promoted);
    expect((await registry().read.getModel([modelId])).activeVersion).to.equal(3);
    const [promoted] = (await registry().getEvents.RolloutPromoted({ modelId }, { fromBlock: 0n })).slice(-1);
    expect(promoted!.args.candidate).to.equal(3);
    expect(runners.map((r) => r.address)).to.include(getAddress(promoted!.args.by!));
  });

  it("runners abort a bad candidate once its abort rule holds, and not before", async function () {
    await startRollout(
      plan(4, {
        canaryBps: 1_000,
        minDuration: 0,
        promoteAfterJobs: 10,
        abortAfterJobs: 2,
        maxDisputedBps: 10_000,
        maxFailedBps: 0,
      }),
    );
    await count(4, OUTCOME.Failed);
    // Both runners have seen the count (their watchers passed its block): one failed job does not abort.
    const block = Number(await net.publicClient.getBlockNumber());
    for (const r of runners)
      await until(
        `runner ${r.index} to pass block ${block}`,
        async () => ((await (await fetch(`${r.http}/status`)).json()) as { processed: number }).processed >= block,
      );
    await wait(1_000); // a few slow-timer looks
    expect((await rollout()).status).to.equal(ROLLOUT_STATUS.Running);

    await count(4, OUTCOME.Settled); // 1 failed of 2 ended: above 0 %
    await until("the runners to abort v4", async () => (await rollout()).status === ROLLOUT_STATUS.Aborted);
    const [aborted] = (await registry().getEvents.RolloutAborted({ modelId }, { fromBlock: 0n })).slice(-1);
    expect(aborted!.args).to.include({ candidate: 4, reason: "failed share above the plan's maximum" });
    expect(runners.map((r) => r.address)).to.include(getAddress(aborted!.args.by!));
    expect((await registry().read.getModel([modelId])).activeVersion).to.equal(3);

    // The runner that lost the race logs nothing above debug about it; neither warns or errors.
    await wait(1_000);
    const noisy = runners
      .flatMap((r) => r.logs)
      .filter((l) => l.includes('"service":"rollouts"') && /"level":"(warn|error)"/.test(l));
    expect(noisy).to.deep.equal([]);
    const acted = runners.flatMap((r) => r.logs).filter((l) => /"msg":"(promoted|aborted) a rollout whose/.test(l));
    expect(acted).to.have.length(2); // one promotion, one abort: each done by exactly one runner
  });
});
