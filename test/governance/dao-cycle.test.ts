import { expect } from "chai";
import {
  encodeFunctionData,
  getAddress,
  keccak256,
  parseEventLogs,
  stringToHex,
  toHex,
  type Abi,
  type Address,
  type Hex,
} from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { errorName } from "../helpers/errors.ts";
import { contractsFor, deployFixture, networkHelpers, TOKENS, type Fixture } from "../helpers/hardhat-stack.ts";

// OpenZeppelin's IGovernor.ProposalState.
const State = {
  Pending: 0,
  Active: 1,
  Canceled: 2,
  Defeated: 3,
  Succeeded: 4,
  Queued: 5,
  Expired: 6,
  Executed: 7,
} as const;
const VersionStatus = { Published: 1, Active: 2 } as const;
const ProviderStatus = { Pending: 1, Approved: 2 } as const;
const Vote = { Against: 0, For: 1, Abstain: 2 } as const;

const MODEL = "mnist-tiny";
const modelId = keccak256(toHex(MODEL));

/** A DAO with a published model version and a pending provider, ready to be voted on. */
async function readyForVote() {
  const f = await deployFixture();
  const members = [f.alice, f.bob, f.carol];
  for (const m of members) await contractsFor(f.record, m).token.write.delegate([m.account.address]);

  await contractsFor(f.record, f.alice).models.write.publishVersion([
    MODEL,
    {
      weightsCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
      weightsSha256: keccak256(toHex("weights")),
      schemaCid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
      runtime: stringToHex("onnxruntime-1.30-cpu", { size: 32 }),
      outputQuantum: 10n ** 14n,
      minMemoryMB: 64,
      minFee: 0n,
    },
  ]);
  const asProvider = contractsFor(f.record, f.provider);
  await asProvider.token.write.approve([f.record.contracts.ProviderRegistry!.address, TOKENS(1000)]);
  await asProvider.providers.write.register([
    TOKENS(1000),
    {
      memoryMB: 4096,
      accelerator: stringToHex("cpu", { size: 32 }),
      region: stringToHex("eu", { size: 32 }),
      tags: 1n,
    },
    "ipfs://provider-metadata",
  ]);
  return f;
}

/** The proposal of the issue: activate the version and approve the provider, in one vote. */
function proposalOf(f: Fixture, description: string) {
  const models = f.record.contracts.ModelRegistry!.address;
  const providers = f.record.contracts.ProviderRegistry!.address;
  const targets: Address[] = [models, providers];
  const values = [0n, 0n];
  const calldatas: Hex[] = [
    encodeFunctionData({
      abi: loadArtifact("ModelRegistry").abi as Abi,
      functionName: "activateVersion",
      args: [modelId, 1],
    }),
    encodeFunctionData({
      abi: loadArtifact("ProviderRegistry").abi as Abi,
      functionName: "approveProvider",
      args: [f.provider.account.address, 1n],
    }),
  ];
  return { targets, values, calldatas, description, descriptionHash: keccak256(toHex(description)) };
}

async function propose(f: Fixture, p: ReturnType<typeof proposalOf>) {
  const gov = contractsFor(f.record, f.alice).governor;
  const hash = await gov.write.propose([p.targets, p.values, p.calldatas, p.description]);
  const receipt = await f.publicClient.waitForTransactionReceipt({ hash });
  const [created] = parseEventLogs({ abi: gov.abi, logs: receipt.logs, eventName: "ProposalCreated" });
  const id = (created!.args as { proposalId: bigint }).proposalId;
  const hashed = await gov.read.hashProposal([p.targets, p.values, p.calldatas, p.descriptionHash]);
  return { id, hashed };
}

async function voteAll(f: Fixture, id: bigint, support: number) {
  for (const m of [f.alice, f.bob, f.carol]) await contractsFor(f.record, m).governor.write.castVote([id, support]);
}

async function stateOf(f: Fixture, id: bigint) {
  return Number(await contractsFor(f.record, f.alice).governor.read.state([id]));
}

describe("DAO governance cycle", function () {
  it("delegates, proposes, votes, queues and executes: the version is active and the provider approved", async function () {
    const f = await networkHelpers.loadFixture(readyForVote);
    const c = contractsFor(f.record, f.alice);
    const p = proposalOf(f, "Activate mnist-tiny v1 and approve provider P");
    const { id, hashed } = await propose(f, p);
    expect(id).to.equal(hashed);
    expect(await stateOf(f, id)).to.equal(State.Pending);

    await networkHelpers.time.increase(f.params.votingDelay + 1);
    expect(await stateOf(f, id)).to.equal(State.Active);
    await voteAll(f, id, Vote.For);
    const [against, forVotes] = (await c.governor.read.proposalVotes([id])) as readonly [bigint, bigint, bigint];
    expect(forVotes).to.equal(TOKENS(900_000));
    expect(against).to.equal(0n);

    await networkHelpers.time.increase(f.params.votingPeriod + 1);
    expect(await stateOf(f, id)).to.equal(State.Succeeded);
    await c.governor.write.queue([p.targets, p.values, p.calldatas, p.descriptionHash]);
    expect(await stateOf(f, id)).to.equal(State.Queued);

    await networkHelpers.time.increase(f.params.timelockDelay + 1);
    const hash = await c.governor.write.execute([p.targets, p.values, p.calldatas, p.descriptionHash]);
    const receipt = await f.publicClient.waitForTransactionReceipt({ hash });
    expect(await stateOf(f, id)).to.equal(State.Executed);

    const version = (await c.models.read.getVersion([modelId, 1])) as { status: number };
    expect(version.status).to.equal(VersionStatus.Active);
    expect(await c.models.read.acceptsJobs([modelId, 1])).to.equal(true);
    const provider = (await c.providers.read.getProvider([f.provider.account.address])) as { status: number };
    expect(provider.status).to.equal(ProviderStatus.Approved);

    const activated = parseEventLogs({ abi: c.models.abi, logs: receipt.logs, eventName: "VersionActivated" });
    expect(activated).to.have.length(1);
    expect(activated[0]!.args).to.deep.include({ modelId, version: 1, previousVersion: 0 });
    const statusChanged = parseEventLogs({
      abi: c.providers.abi,
      logs: receipt.logs,
      eventName: "ProviderStatusChanged",
    });
    expect(statusChanged).to.have.length(1);
    expect(statusChanged[0]!.args).to.deep.include({
      provider: getAddress(f.provider.account.address),
      oldStatus: ProviderStatus.Pending,
      newStatus: ProviderStatus.Approved,
    });
    const executed = parseEventLogs({ abi: c.governor.abi, logs: receipt.logs, eventName: "ProposalExecuted" });
    expect((executed[0]!.args as { proposalId: bigint }).proposalId).to.equal(id);
  });

  it("a defeated proposal cannot be queued or executed and leaves state unchanged", async function () {
    const f = await networkHelpers.loadFixture(readyForVote);
    const c = contractsFor(f.record, f.alice);
    const p = proposalOf(f, "Activate mnist-tiny v1 and approve provider P (defeated)");
    const { id } = await propose(f, p);
    await networkHelpers.time.increase(f.params.votingDelay + 1);
    await voteAll(f, id, Vote.Against);
    await networkHelpers.time.increase(f.params.votingPeriod + 1);
    expect(await stateOf(f, id)).to.equal(State.Defeated);

    let error: unknown;
    try {
      await c.governor.simulate.queue([p.targets, p.values, p.calldatas, p.descriptionHash]);
    } catch (e) {
      error = e;
    }
    expect(errorName(error)).to.equal("GovernorUnexpectedProposalState");
    await networkHelpers.time.increase(f.params.timelockDelay + 1);
    error = undefined;
    try {
      await c.governor.simulate.execute([p.targets, p.values, p.calldatas, p.descriptionHash]);
    } catch (e) {
      error = e;
    }
    expect(errorName(error)).to.equal("GovernorUnexpectedProposalState");

    const version = (await c.models.read.getVersion([modelId, 1])) as { status: number };
    expect(version.status).to.equal(VersionStatus.Published);
    expect(await c.models.read.acceptsJobs([modelId, 1])).to.equal(false);
    const provider = (await c.providers.read.getProvider([f.provider.account.address])) as { status: number };
    expect(provider.status).to.equal(ProviderStatus.Pending);
  });

  it("the timelock refuses operations from anyone but the governor", async function () {
    const f = await networkHelpers.loadFixture(readyForVote);
    const c = contractsFor(f.record, f.alice);
    const p = proposalOf(f, "direct");
    let error: unknown;
    try {
      await c.timelock.simulate.schedule([
        p.targets[0]!,
        0n,
        p.calldatas[0]!,
        toHex(0, { size: 32 }),
        p.descriptionHash,
        60n,
      ]);
    } catch (e) {
      error = e;
    }
    expect(errorName(error)).to.equal("AccessControlUnauthorizedAccount");
  });
});
