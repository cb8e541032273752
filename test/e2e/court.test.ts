import { expect } from "chai";
import { encodeFunctionData, keccak256, parseEther, toHex, zeroAddress, type Address } from "viem";
import { canonicalResultHash, quantumFromChain } from "../../node/attest/result-hash.ts";
import type { Job } from "../../node/attest/attestation.ts";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { requestInference, waitForJob } from "../../node/client/jobs.ts";
import { mined } from "../../node/dao/proposals.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { directRun } from "../helpers/direct-run.ts";
import { devAccount, spawnRunners, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { seatCollateral } from "../helpers/collateral.ts";
import { until } from "../helpers/until.ts";
import { jobWords } from "../../node/attest/job-words.ts";

/** Runners on providers 4, 5, 6 and 10; provider 11 is driven by the test (a copier, a cheat). */
const RUNNERS = [4, 5, 6, 10] as const;
const ROGUE = 11;
const CLIENT = 8;

describe("k = 1 trust-minimised, end to end: copies earn nothing, garbage is challenged and slashed (runners as processes)", function () {
  this.timeout(300_000);
  let net: Devnet;
  let runners: RunnerProcess[] = [];
  const sample = sampleModel("tiny-mlp");
  const rogue = devAccount(ROGUE).address;

  before(async function () {
    // A priority window far longer than the few seconds between a request and the copier's
    // transaction: with the local default (2 s) a loaded machine let the copier's turn open first,
    // and its copy was rightly accepted (a flaky test, not a market fault).
    net = await startDevnet({ providers: [...RUNNERS, ROGUE], models: [sample], params: { priorityWindow: 30 } });
    // Every runner checks every delivery it did not make (the service that keeps k = 1 honest).
    runners = await spawnRunners(net, RUNNERS, { jobs: { checkRate: 1, followIntervalMs: 500 } });
  });
  after(async function () {
    await Promise.all(runners.map((r) => r.stop("SIGKILL")));
    await net?.stop();
  });

  const market = () => conclaveContracts(net.record, net.publicClient).market;
  const rogueMarket = () => conclaveContracts(net.record, net.wallet(ROGUE)).market;

  /** Requests k = 1 jobs until one whose first rank is (or is not) the rogue's; the others are served by the runners. */
  async function jobWhere(rogueFirst: boolean): Promise<{ jobId: bigint; job: Job; block: bigint }> {
    for (let i = 0; i < 40; i++) {
      const requested = await requestInference(net.publicClient, net.record, net.wallet(CLIENT), {
        model: sample.name,
        inputs: sample.exampleInputs(),
        feePerProvider: parseEther("0.01"),
      });
      const [member, rank] = await market().read.assignment([jobWords(requested.job), rogue]);
      expect(member).to.equal(true);
      if ((rank === 0n) === rogueFirst) return requested;
    }
    throw new Error("no job with the wanted assignment in 40 requests");
  }

  it("a k = 1 result copied from the mempool during the assignee's window reverts and earns the copier nothing; the assignee is paid after the challenge window", async function () {
    const honest = canonicalResultHash(
      await directRun(sample.name, sample.exampleInputs()),
      quantumFromChain(sample.outputQuantum),
    );
    const { jobId, job, block } = await jobWhere(false);
    // The copier sends the assignee's result (what it would read from a pending transaction) at once.
    const copy = [jobId, jobWords(job), honest, "0x"] as const;
    const simulated = await net.publicClient
      .simulateContract({
        account: devAccount(ROGUE),
        address: market().address,
        abi: market().abi,
        functionName: "submitResult",
        args: copy,
      })
      .then(
        () => "accepted",
        (e: Error) => e.message,
      );
    expect(simulated).to.match(/InferenceMarketNotAssigned|InferenceMarketInvalidStatus/);
    const hash = await net.wallet(ROGUE).sendTransaction({
      to: market().address,
      data: encodeFunctionData({ abi: market().abi, functionName: "submitResult", args: copy }),
      gas: 600_000n,
    });
    expect((await net.publicClient.waitForTransactionReceipt({ hash })).status).to.equal("reverted");

    const outcome = await waitForJob(net.publicClient, net.record, jobId, { fromBlock: block, timeoutMs: 60_000 });
    expect(outcome.status).to.equal("delivered");
    expect(outcome.resultHash).to.equal(honest);
    const assignee = outcome.deliveries[0]!.provider;
    expect(assignee).to.not.equal(rogue);
    // Past the challenge window the assignee's runner claims its fee (time moved on the chain).
    await net.publicClient.request({ method: "evm_increaseTime" as never, params: [job.challengeWindow + 1] as never });
    await net.publicClient.request({ method: "evm_mine" as never, params: [] as never });
    await until("the fee claimed", async () => (await market().read.jobState([jobId]))[0] === 3, 90_000);
    const claimed = await net.publicClient.getContractEvents({
      address: market().address,
      abi: market().abi,
      eventName: "DeliveryClaimed",
      args: { jobId },
      fromBlock: block,
    });
    expect(claimed.map((l) => [l.args.provider, l.args.fee])).to.deep.equal([[assignee, job.feePerProvider]]);
    expect(await market().read.balanceOf([rogue, zeroAddress])).to.equal(0n);
    // The copier holds no seat (the assignee may hold other deliveries' collateral still).
    expect(await seatCollateral(net.publicClient, net.record, rogue)).to.equal(0n);
  });

  it("a garbage k = 1 result is challenged by a checking runner, a jury of other runners finds it wrong, the cheat is slashed and the client refunded with the right result", async function () {
    const providers = conclaveContracts(net.record, net.publicClient).providers;
    const stakeToken = await market().read.stakeToken();
    const honest = canonicalResultHash(
      await directRun(sample.name, sample.exampleInputs()),
      quantumFromChain(sample.outputQuantum),
    );
    const stakeBefore = (await providers.read.getProvider([rogue])).stake;
    const clientBefore = await market().read.balanceOf([devAccount(CLIENT).address, zeroAddress]);
    const { jobId, job, block } = await jobWhere(true);
    // The cheat is the job's assignee: it delivers garbage at once, before anyone else may.
    const garbage = keccak256(toHex("not the model's output"));
    await mined(net.publicClient, rogueMarket().write.submitResult([jobId, jobWords(job), garbage, "0x"]));

    const challenged = await until(
      "a runner to challenge",
      async () => {
        const logs = await net.publicClient.getContractEvents({
          address: market().address,
          abi: market().abi,
          eventName: "ResultChallenged",
          args: { jobId },
          fromBlock: block,
        });
        return logs[0];
      },
      90_000,
    );
    const challenger = challenged.args.challenger as Address;
    expect(runners.map((r) => r.address)).to.include(challenger);
    const resolved = await until(
      "the jury's verdict",
      async () => {
        const logs = await net.publicClient.getContractEvents({
          address: market().address,
          abi: market().abi,
          eventName: "ChallengeResolved",
          args: { jobId },
          fromBlock: block,
        });
        return logs[0];
      },
      180_000,
    );
    expect(Number(resolved.args.outcome)).to.equal(0); // ProviderWrong
    expect(resolved.args.juryHash).to.equal(honest);

    const c = job.collateral;
    const slashes = await net.publicClient.getContractEvents({
      address: market().address,
      abi: market().abi,
      eventName: "SeatSlashed",
      args: { jobId },
      fromBlock: block,
    });
    expect(slashes.map((l) => [l.args.provider, l.args.amount])).to.deep.equal([[rogue, c]]);
    expect((await providers.read.getProvider([rogue])).stake).to.equal(stakeBefore - c);
    const jurors = (
      await net.publicClient.getContractEvents({
        address: market().address,
        abi: market().abi,
        eventName: "ResultRevealed",
        args: { jobId },
        fromBlock: block,
      })
    ).map((l) => l.args.provider as Address);
    // Every runner but the challenger sits on the jury, the checkers that lost the race to
    // challenge included (a CI run once seated two: a losing checker's step ended its juror duty).
    // Every seated juror revealed (none was slashed above) and all of them agreed.
    const seated = (
      await net.publicClient.getContractEvents({
        address: market().address,
        abi: market().abi,
        eventName: "SeatCommitted",
        args: { jobId },
        fromBlock: block,
      })
    ).map((l) => l.args.provider as Address);
    expect(seated).to.have.length(3);
    expect([...jurors].sort()).to.deep.equal([...seated].sort());
    expect(resolved.args.agreeing).to.equal(jurors.length);
    expect(jurors).to.not.include(challenger);
    expect(jurors).to.not.include(rogue);
    // Who gets the cheat's collateral: each juror the jury fee, the challenger its share, the client the rest.
    const juryFee = (challenged.args.challenge as { juryFee: bigint }).juryFee;
    expect(resolved.args.toChallenger! + resolved.args.toClient! + 3n * juryFee).to.equal(c);
    expect((await market().read.balanceOf([challenger, stakeToken])) >= resolved.args.toChallenger!).to.equal(true);
    // The client: its escrow back (ETH) and the jury's result as the job's result.
    const escrow = await market().read.escrowOf([1, job.feePerProvider, job.protocolFeeBps]);
    expect((await market().read.balanceOf([devAccount(CLIENT).address, zeroAddress])) - clientBefore).to.equal(escrow);
    const outcome = await waitForJob(net.publicClient, net.record, jobId, { fromBlock: block, timeoutMs: 30_000 });
    expect(outcome.status).to.equal("refunded");
    expect(outcome.resultHash).to.equal(honest);
    // Every collateral and bond is released or seized: no seat holds any.
    for (const r of runners)
      await until(
        `${r.address} holding no seat`,
        async () => (await seatCollateral(net.publicClient, net.record, r.address)) === 0n,
        150_000,
      );
    expect(await seatCollateral(net.publicClient, net.record, rogue)).to.equal(0n);
  });
});
