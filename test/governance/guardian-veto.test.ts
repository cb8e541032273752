import { expect } from "chai";
import {
  encodeFunctionData,
  getAddress,
  keccak256,
  parseEventLogs,
  toHex,
  zeroAddress,
  zeroHash,
  type Abi,
  type Address,
  type Hex,
} from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { bindToProposer, proposalOf, timelockSalt, type Action } from "../../node/dao/proposals.ts";
import { assertHoldsNoRole, readRoles, ROLES } from "../../node/deploy/roles.ts";
import { ConfigError, DeploymentError } from "../../node/errors.ts";
import type { Wallet } from "../../node/chain/clients.ts";
import { errorName, rejection } from "../helpers/errors.ts";
import { contractsFor, deployFixture, networkHelpers, viem, type Fixture } from "../helpers/hardhat-stack.ts";

// OpenZeppelin's IGovernor.ProposalState.
const State = { Pending: 0, Canceled: 2, Queued: 5, Executed: 7 } as const;

async function delegated() {
  const f = await deployFixture();
  for (const m of [f.alice, f.bob, f.carol]) await contractsFor(f.record, m).token.write.delegate([m.account.address]);
  return f;
}

const pauseModels = (f: Fixture): Action => ({
  target: f.record.contracts.ModelRegistry!.address,
  data: encodeFunctionData({ abi: loadArtifact("ModelRegistry").abi as Abi, functionName: "pause" }),
});
const setGuardian = (f: Fixture, to: Address): Action => ({
  target: f.record.contracts.GuardianVeto!.address,
  data: encodeFunctionData({ abi: loadArtifact("GuardianVeto").abi, functionName: "setGuardian", args: [to] }),
});

async function propose(f: Fixture, proposer: Wallet, actions: Action[], description: string) {
  const p = proposalOf(actions, description);
  const gov = contractsFor(f.record, proposer).governor;
  const receipt = await f.publicClient.waitForTransactionReceipt({
    hash: await gov.write.propose([p.targets, p.values, p.calldatas, p.description]),
  });
  const [created] = parseEventLogs({ abi: gov.abi, logs: receipt.logs, eventName: "ProposalCreated" });
  return { ...p, id: (created!.args as { proposalId: bigint }).proposalId };
}

/** Proposes as alice (description bound to her), every member votes for, and queues it. */
async function queued(f: Fixture, actions: Action[], text: string) {
  const p = await propose(f, f.alice, actions, bindToProposer(text, f.alice.account.address));
  await networkHelpers.time.increase(f.params.votingDelay + 1);
  for (const m of [f.alice, f.bob, f.carol]) await contractsFor(f.record, m).governor.write.castVote([p.id, 1]);
  await networkHelpers.time.increase(f.params.votingPeriod + 1);
  await contractsFor(f.record, f.alice).governor.write.queue([p.targets, p.values, p.calldatas, p.descriptionHash]);
  return p;
}

const stateOf = async (f: Fixture, id: bigint) =>
  Number(await contractsFor(f.record, f.alice).governor.read.state([id]));

describe("proposals bound to their proposer (finding 5)", function () {
  it("another account cannot submit the same bound proposal first, and the proposer still can", async function () {
    const f = await networkHelpers.loadFixture(delegated);
    const description = bindToProposer("Pause the model registry", f.alice.account.address);
    const p = proposalOf([pauseModels(f)], description);
    // bob holds votes too: only the suffix stops him.
    const error = await rejection(() =>
      contractsFor(f.record, f.bob).governor.simulate.propose([p.targets, p.values, p.calldatas, p.description]),
    );
    expect(errorName(error)).to.equal("GovernorRestrictedProposer");
    const ok = await propose(f, f.alice, [pauseModels(f)], description);
    expect(ok.id).to.equal(
      await contractsFor(f.record, f.alice).governor.read.hashProposal([
        p.targets,
        p.values,
        p.calldatas,
        p.descriptionHash,
      ]),
    );
  });

  it("an account without the threshold's votes cannot propose", async function () {
    const f = await networkHelpers.loadFixture(delegated);
    expect(await contractsFor(f.record, f.alice).governor.read.proposalThreshold()).to.equal(10n ** 18n);
    const p = proposalOf([pauseModels(f)], bindToProposer("Pause", f.deployer.account.address));
    const error = await rejection(() =>
      contractsFor(f.record, f.deployer).governor.simulate.propose([p.targets, p.values, p.calldatas, p.description]),
    );
    expect(errorName(error)).to.equal("GovernorInsufficientProposerVotes");
  });
});

describe("the guardian's veto (finding 14)", function () {
  it("vetoes a queued proposal: the governor reports it Canceled and it never runs", async function () {
    const f = await networkHelpers.loadFixture(delegated);
    const p = await queued(f, [pauseModels(f)], "Pause the model registry");
    const { governor, timelock } = contractsFor(f.record, f.alice);
    const salt = timelockSalt(governor.address, p.descriptionHash);
    const operationId = await timelock.read.hashOperationBatch([p.targets, p.values, p.calldatas, zeroHash, salt]);
    expect(await timelock.read.isOperationPending([operationId])).to.equal(true);

    const veto = contractsFor(f.record, f.guardian).veto!;
    const receipt = await f.publicClient.waitForTransactionReceipt({
      hash: await veto.write.veto([p.targets, p.values, p.calldatas, zeroHash, salt]),
    });
    const [vetoed] = parseEventLogs({ abi: veto.abi, logs: receipt.logs, eventName: "Vetoed" });
    expect(vetoed!.args).to.deep.equal({ operationId, guardian: getAddress(f.guardian.account.address) });
    expect(await stateOf(f, p.id)).to.equal(State.Canceled);

    await networkHelpers.time.increase(f.params.timelockDelay + 1);
    expect(
      errorName(
        await rejection(() => governor.simulate.execute([p.targets, p.values, p.calldatas, p.descriptionHash])),
      ),
    ).to.equal("GovernorUnexpectedProposalState");
    expect(await contractsFor(f.record, f.alice).models.read.paused()).to.equal(false);
  });

  it("refuses anyone but the guardian", async function () {
    const f = await networkHelpers.loadFixture(delegated);
    const p = await queued(f, [pauseModels(f)], "Pause the model registry");
    const salt = timelockSalt(f.record.contracts.ConclaveGovernor!.address, p.descriptionHash);
    for (const w of [f.deployer, f.alice]) {
      const error = await rejection(() =>
        contractsFor(f.record, w).veto!.simulate.veto([p.targets, p.values, p.calldatas, zeroHash, salt]),
      );
      expect(errorName(error)).to.equal("GuardianVetoNotGuardian");
    }
    expect(await stateOf(f, p.id)).to.equal(State.Queued);
  });

  it("cannot veto its own replacement, which the DAO then carries out", async function () {
    const f = await networkHelpers.loadFixture(delegated);
    const next = f.wallets[f.wallets.length - 2]!;
    const p = await queued(f, [setGuardian(f, next.account.address)], "Replace the guardian");
    const salt = timelockSalt(f.record.contracts.ConclaveGovernor!.address, p.descriptionHash);
    const error = await rejection(() =>
      contractsFor(f.record, f.guardian).veto!.simulate.veto([p.targets, p.values, p.calldatas, zeroHash, salt]),
    );
    expect(errorName(error)).to.equal("GuardianVetoProtectedCall");

    await networkHelpers.time.increase(f.params.timelockDelay + 1);
    await contractsFor(f.record, f.alice).governor.write.execute([p.targets, p.values, p.calldatas, p.descriptionHash]);
    expect(await stateOf(f, p.id)).to.equal(State.Executed);
    expect(await contractsFor(f.record, f.alice).veto!.read.guardian()).to.equal(getAddress(next.account.address));
  });

  it("the timelock's salt of a proposal is bytes20(governor) ^ descriptionHash", function () {
    const governor = "0x5FbDB2315678afecb367f032d93F642f64180aa3" as Address;
    const hash = keccak256(toHex("x"));
    const expected = (BigInt(governor) << 96n) ^ BigInt(hash);
    expect(BigInt(timelockSalt(governor, hash))).to.equal(expected);
    expect(timelockSalt(governor, hash)).to.have.length(66);
    expect(timelockSalt(zeroAddress, zeroHash as Hex)).to.equal(zeroHash);
  });
});

describe("roles after deployment (finding 9)", function () {
  it("the deployer holds no role and is not the guardian; only the governor and the veto cancel", async function () {
    const f = await networkHelpers.loadFixture(delegated);
    await assertHoldsNoRole(f.publicClient as never, f.record, f.deployer.account.address);
    const roles = await readRoles(f.publicClient as never, f.record);
    const holders = (contract: string, role: string) =>
      roles.find((r) => r.contract === contract && r.role === role)?.holders ?? [];
    expect(holders("ConclaveTimelock", "CANCELLER_ROLE")).to.have.members([
      f.record.contracts.ConclaveGovernor!.address,
      f.record.contracts.GuardianVeto!.address,
    ]);
    expect(holders("ConclaveTimelock", "PROPOSER_ROLE")).to.deep.equal([f.record.contracts.ConclaveGovernor!.address]);
    for (const name of ["ModelRegistry", "ProviderRegistry", "InferenceMarket"]) {
      expect(holders(name, "GUARDIAN_ROLE"), name).to.deep.equal([getAddress(f.guardian.account.address)]);
    }
    for (const name of ["ProviderRegistry", "ModelRegistry"]) {
      expect(holders(name, "MARKET_ROLE"), name).to.deep.equal([f.record.contracts.InferenceMarket!.address]);
    }
    expect(await contractsFor(f.record, f.alice).veto!.read.guardian()).to.equal(
      getAddress(f.guardian.account.address),
    );
    for (const r of roles)
      expect(
        r.holders.map((h) => h.toLowerCase()),
        `${r.contract}.${r.role}`,
      ).to.not.include(f.deployer.account.address.toLowerCase());
  });

  it("without a guardian nobody holds GUARDIAN_ROLE and nobody can veto", async function () {
    const f = await deployFixture({ guardian: "none" });
    const roles = await readRoles(f.publicClient as never, f.record);
    expect(roles.filter((r) => r.role === "GUARDIAN_ROLE" && r.holders.length > 0)).to.deep.equal([]);
    expect(await contractsFor(f.record, f.alice).veto!.read.guardian()).to.equal(zeroAddress);
  });

  it("the deployment refuses the deployer as guardian before sending anything", async function () {
    const before = await (await viem.getPublicClient()).getBlockNumber();
    const [deployer] = (await viem.getWalletClients()) as unknown as Wallet[];
    const error = await rejection(() => deployFixture({ guardian: deployer!.account.address }));
    expect(error).to.be.instanceOf(ConfigError);
    expect(await (await viem.getPublicClient()).getBlockNumber()).to.equal(before);
  });

  it("fails when the deployer still holds a role", async function () {
    const f = await networkHelpers.loadFixture(delegated);
    const timelock = f.record.contracts.ConclaveTimelock!.address;
    await networkHelpers.impersonateAccount(timelock);
    await networkHelpers.setBalance(timelock, 10n ** 18n);
    const dao = contractsFor(f.record, (await viem.getWalletClient(timelock)) as unknown as Wallet);
    await dao.providers.write.grantRole([ROLES.GUARDIAN_ROLE, f.deployer.account.address]);
    const error = await rejection(() =>
      assertHoldsNoRole(f.publicClient as never, f.record, f.deployer.account.address),
    );
    expect(error).to.be.instanceOf(DeploymentError);
    await dao.veto!.write.setGuardian([f.deployer.account.address]);
    await dao.providers.write.revokeRole([ROLES.GUARDIAN_ROLE, f.deployer.account.address]);
    expect(
      await rejection(() => assertHoldsNoRole(f.publicClient as never, f.record, f.deployer.account.address)),
    ).to.be.instanceOf(DeploymentError);
  });
});
