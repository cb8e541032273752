import { expect } from "chai";
import { encodeFunctionData, stringToHex, type Abi } from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { createChainReader } from "../../node/chain/reader.ts";
import { bindToProposer, proposalOf, type Action } from "../../node/dao/proposals.ts";
import { contractsFor, deployFixture, networkHelpers, TOKENS, type Fixture } from "../helpers/hardhat-stack.ts";

const caps = (tags: bigint) => ({
  memoryMB: 8192,
  accelerator: stringToHex("cpu", { size: 32 }),
  region: stringToHex("eu", { size: 32 }),
  tags,
});

/** Auto-admission at 100 tokens (its grant mask left at 0), the provider registered declaring tags 3. */
async function admitted() {
  const f = await deployFixture({ autoAdmit: true, autoAdmitStake: TOKENS(100) });
  for (const m of [f.alice, f.bob, f.carol]) await contractsFor(f.record, m).token.write.delegate([m.account.address]);
  const c = contractsFor(f.record, f.provider);
  await f.publicClient.waitForTransactionReceipt({
    hash: await c.token.write.approve([c.providers.address, TOKENS(1_000)]),
  });
  await f.publicClient.waitForTransactionReceipt({
    hash: await c.providers.write.register([TOKENS(1_000), caps(3n), ""]),
  });
  return f;
}

async function execute(f: Fixture, action: Action, text: string) {
  const p = proposalOf([action], bindToProposer(text, f.alice.account.address));
  const governor = contractsFor(f.record, f.alice).governor;
  await governor.write.propose([p.targets, p.values, p.calldatas, p.description]);
  p.id = await governor.read.hashProposal([p.targets, p.values, p.calldatas, p.descriptionHash]);
  await networkHelpers.time.increase(f.params.votingDelay + 1);
  for (const m of [f.alice, f.bob, f.carol]) await contractsFor(f.record, m).governor.write.castVote([p.id, 1]);
  await networkHelpers.time.increase(f.params.votingPeriod + 1);
  await contractsFor(f.record, f.alice).governor.write.queue([p.targets, p.values, p.calldatas, p.descriptionHash]);
  await networkHelpers.time.increase(f.params.timelockDelay + 1);
  await f.publicClient.waitForTransactionReceipt({
    hash: await contractsFor(f.record, f.alice).governor.write.execute([
      p.targets,
      p.values,
      p.calldatas,
      p.descriptionHash,
    ]),
  });
}

describe("eligibility uses the tags the DAO granted (issue 11 finding 6)", function () {
  it("declared tags grant nothing; the DAO's grant is what the market and the runner see", async function () {
    const f = await networkHelpers.loadFixture(admitted);
    const who = f.provider.account.address;
    const { providers, court } = contractsFor(f.record, f.provider);
    const reader = () => createChainReader(f.publicClient as never, f.record, who).providerTerms();
    expect((await providers.read.getProvider([who])).tags).to.equal(3n);
    expect((await providers.read.providerTerms([who]))[1]).to.equal(0n);
    expect((await reader()).tags).to.equal(0n);

    const grant: Action = {
      target: providers.address,
      data: encodeFunctionData({
        abi: loadArtifact("ProviderRegistry").abi as Abi,
        functionName: "setGrantedTags",
        args: [who, 1n],
      }),
    };
    await execute(f, grant, "Grant the provider tag 1");
    expect((await providers.read.providerTerms([who]))[1]).to.equal(1n);

    // A declaration widened after the vote changes nothing the market or the runner checks.
    await f.publicClient.waitForTransactionReceipt({ hash: await providers.write.updateCapabilities([caps(7n), ""]) });
    expect((await providers.read.getProvider([who])).grantedTags).to.equal(1n);
    expect((await reader()).tags).to.equal(1n);
    // The market's own copy of the granted tags (pushed by the registry) is what a seat is checked against.
    expect((await court.read.providerCollateral([who]))[1]).to.equal(1n);
  });
});
