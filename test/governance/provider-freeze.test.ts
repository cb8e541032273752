import { expect } from "chai";
import { encodeFunctionData, getAddress, parseEventLogs, stringToHex, type Abi } from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import type { Wallet } from "../../node/chain/clients.ts";
import { bindToProposer, proposalOf, type Action } from "../../node/dao/proposals.ts";
import { governanceDelay, paramsForChain } from "../../node/deploy/chain-params.ts";
import { LOCAL_DEFAULTS } from "../../node/deploy/params.ts";
import { errorName, rejection } from "../helpers/errors.ts";
import { contractsFor, deployFixture, networkHelpers, TOKENS, type Fixture } from "../helpers/hardhat-stack.ts";

const STAKE = TOKENS(1_000);

/** A stack whose registry admits at 100 tokens, with the provider registered and the DAO delegated. */
async function withProvider(overrides: Parameters<typeof deployFixture>[0] = {}) {
  const f = await deployFixture({ autoAdmit: true, autoAdmitStake: TOKENS(100), ...overrides });
  for (const m of [f.alice, f.bob, f.carol]) await contractsFor(f.record, m).token.write.delegate([m.account.address]);
  const c = contractsFor(f.record, f.provider);
  await f.publicClient.waitForTransactionReceipt({ hash: await c.token.write.approve([c.providers.address, STAKE]) });
  const caps = {
    memoryMB: 8192,
    accelerator: stringToHex("cpu", { size: 32 }),
    region: stringToHex("eu", { size: 32 }),
    tags: 1n,
  };
  await f.publicClient.waitForTransactionReceipt({ hash: await c.providers.write.register([STAKE, caps, ""]) });
  return f;
}
const defaults = () => withProvider();
const shortUnbonding = () => withProvider({ unbondingPeriod: 60 });

const slashAction = (f: Fixture, amount: bigint): Action => ({
  target: f.record.contracts.ProviderRegistry!.address,
  data: encodeFunctionData({
    abi: loadArtifact("ProviderRegistry").abi as Abi,
    functionName: "slash",
    args: [f.provider.account.address, amount, stringToHex("fraud", { size: 32 })],
  }),
});

async function propose(f: Fixture, proposer: Wallet, actions: Action[], text: string) {
  const p = proposalOf(actions, bindToProposer(text, proposer.account.address));
  const gov = contractsFor(f.record, proposer).governor;
  const receipt = await f.publicClient.waitForTransactionReceipt({
    hash: await gov.write.propose([p.targets, p.values, p.calldatas, p.description]),
  });
  const [created] = parseEventLogs({ abi: gov.abi, logs: receipt.logs, eventName: "ProposalCreated" });
  return { ...p, id: (created!.args as { proposalId: bigint }).proposalId };
}

/** Votes a proposal through, queues it and waits out the timelock; returns the executor. */
async function passAndQueue(f: Fixture, p: Awaited<ReturnType<typeof propose>>) {
  await networkHelpers.time.increase(f.params.votingDelay + 1);
  for (const m of [f.alice, f.bob, f.carol]) await contractsFor(f.record, m).governor.write.castVote([p.id, 1]);
  await networkHelpers.time.increase(f.params.votingPeriod + 1);
  await contractsFor(f.record, f.alice).governor.write.queue([p.targets, p.values, p.calldatas, p.descriptionHash]);
  await networkHelpers.time.increase(f.params.timelockDelay + 1);
  return () =>
    contractsFor(f.record, f.alice).governor.write.execute([p.targets, p.values, p.calldatas, p.descriptionHash]);
}

const blockTime = async (f: Fixture) => Number((await f.publicClient.getBlock()).timestamp);

describe("exits and freezes outlast the governance delay (issue 11 finding 4)", function () {
  it("the deployment names the governor and timelock and sets the freeze period to twice their delay", async function () {
    const f = await networkHelpers.loadFixture(defaults);
    const providers = contractsFor(f.record, f.alice).providers;
    const delay = governanceDelay(LOCAL_DEFAULTS);
    expect(delay).to.equal(361);
    expect(await providers.read.governanceDelay()).to.equal(BigInt(delay));
    expect(await providers.read.governor()).to.equal(getAddress(f.record.contracts.ConclaveGovernor!.address));
    expect(await providers.read.timelock()).to.equal(getAddress(f.record.contracts.ConclaveTimelock!.address));
    expect(await providers.read.freezePeriod()).to.equal(2 * delay);
    expect((f.record.params as { freezePeriod: number }).freezePeriod).to.equal(2 * delay);
  });

  it("deploy params: the freeze period defaults to twice the governance delay and may not be shorter than it", function () {
    const deployer = "0x0000000000000000000000000000000000000001" as const;
    expect(paramsForChain(LOCAL_DEFAULTS, 31337, deployer).freezePeriod).to.equal(722);
    expect(paramsForChain({ ...LOCAL_DEFAULTS, freezePeriod: 361 }, 31337, deployer).freezePeriod).to.equal(361);
    expect(() => paramsForChain({ ...LOCAL_DEFAULTS, freezePeriod: 360 }, 31337, deployer)).to.throw(
      /below the governance delay/,
    );
  });

  it("a provider that exits right after a slash proposal is made is still bonded when the proposal executes", async function () {
    const f = await networkHelpers.loadFixture(defaults);
    const p = await propose(f, f.alice, [slashAction(f, TOKENS(400))], "Slash the provider");
    const mine = contractsFor(f.record, f.provider).providers;
    await f.publicClient.waitForTransactionReceipt({ hash: await mine.write.requestExit() });
    const execute = await passAndQueue(f, p);
    expect(errorName(await rejection(() => mine.simulate.withdrawStake()))).to.equal("ProviderRegistryUnbonding");
    await f.publicClient.waitForTransactionReceipt({ hash: await execute() });
    expect((await mine.read.getProvider([f.provider.account.address])).stake).to.equal(STAKE - TOKENS(400));
  });

  it("with an unbonding period below the governance delay, the exit still unbonds for the delay", async function () {
    const f = await networkHelpers.loadFixture(shortUnbonding);
    const mine = contractsFor(f.record, f.provider).providers;
    await f.publicClient.waitForTransactionReceipt({ hash: await mine.write.requestExit() });
    const p = await mine.read.getProvider([f.provider.account.address]);
    expect(p.unbondingEndsAt).to.equal((await blockTime(f)) + 361);
  });

  it("the guardian freezes a provider at once: no withdrawal until the slash vote has executed; its freeze expires", async function () {
    const f = await networkHelpers.loadFixture(shortUnbonding);
    const mine = contractsFor(f.record, f.provider).providers;
    await f.publicClient.waitForTransactionReceipt({ hash: await mine.write.requestExit() });
    const p = await propose(f, f.alice, [slashAction(f, TOKENS(400))], "Slash the exiting provider");
    const guardian = contractsFor(f.record, f.guardian).providers;
    const receipt = await f.publicClient.waitForTransactionReceipt({
      hash: await guardian.write.freeze([f.provider.account.address]),
    });
    const [frozen] = parseEventLogs({ abi: guardian.abi, logs: receipt.logs, eventName: "ProviderFrozen" });
    expect(frozen!.args.by).to.equal(getAddress(f.guardian.account.address));
    const until = frozen!.args.until;
    expect(until).to.equal((await blockTime(f)) + 722);
    expect(await mine.read.isFrozen([f.provider.account.address])).to.equal(true);
    expect((await mine.read.providerTerms([f.provider.account.address]))[0]).to.equal(false);

    const execute = await passAndQueue(f, p);
    expect(errorName(await rejection(() => mine.simulate.withdrawStake()))).to.equal("ProviderRegistryFrozen");
    // The guardian cannot extend its freeze.
    expect(errorName(await rejection(() => guardian.simulate.freeze([f.provider.account.address])))).to.equal(
      "ProviderRegistryFrozen",
    );
    await f.publicClient.waitForTransactionReceipt({ hash: await execute() });

    await networkHelpers.time.increaseTo(until);
    await f.publicClient.waitForTransactionReceipt({ hash: await mine.write.withdrawStake() });
    expect(await contractsFor(f.record, f.provider).token.read.balanceOf([f.provider.account.address])).to.equal(
      TOKENS(10_000) - TOKENS(400),
    );
  });

  it("nobody but the guardian or the DAO freezes, and only the DAO unfreezes", async function () {
    const f = await networkHelpers.loadFixture(defaults);
    const who = f.provider.account.address;
    for (const w of [f.alice, f.provider, f.deployer]) {
      expect(errorName(await rejection(() => contractsFor(f.record, w).providers.simulate.freeze([who])))).to.equal(
        "AccessControlUnauthorizedAccount",
      );
    }
    await contractsFor(f.record, f.guardian).providers.write.freeze([who]);
    expect(
      errorName(await rejection(() => contractsFor(f.record, f.guardian).providers.simulate.unfreeze([who]))),
    ).to.equal("AccessControlUnauthorizedAccount");
    const unfreeze: Action = {
      target: f.record.contracts.ProviderRegistry!.address,
      data: encodeFunctionData({
        abi: loadArtifact("ProviderRegistry").abi as Abi,
        functionName: "unfreeze",
        args: [who],
      }),
    };
    const execute = await passAndQueue(f, await propose(f, f.alice, [unfreeze], "Unfreeze the provider"));
    await f.publicClient.waitForTransactionReceipt({ hash: await execute() });
    expect(await contractsFor(f.record, f.alice).providers.read.isFrozen([who])).to.equal(false);
  });
});
