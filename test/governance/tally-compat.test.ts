import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { expect } from "chai";
import { keccak256, toFunctionSelector, toHex, type AbiFunction } from "viem";
import { contractsFor, deployFixture, networkHelpers } from "../helpers/hardhat-stack.ts";

const require = createRequire(import.meta.url);
type AbiJson = { abi: { type: string }[] };
const ozAbi = (name: string): AbiFunction[] =>
  (
    JSON.parse(readFileSync(require.resolve(`@openzeppelin/contracts/build/contracts/${name}.json`), "utf8")) as AbiJson
  ).abi.filter((i): i is AbiFunction => i.type === "function");

/** ERC-165 id of an interface: XOR of the selectors it declares itself (not the inherited ones). */
function interfaceId(own: AbiFunction[], inherited: AbiFunction[]): `0x${string}` {
  const skip = new Set(inherited.map((f) => toFunctionSelector(f)));
  let id = 0;
  for (const f of own) {
    const sel = toFunctionSelector(f);
    if (!skip.has(sel)) id ^= Number.parseInt(sel.slice(2), 16);
  }
  return toHex(id >>> 0, { size: 4 });
}

const defaultStack = () => deployFixture();

describe("Governor as Tally-style clients expect", function () {
  it("advertises IGovernor and ERC-165, uses counting mode support=bravo, timestamp clock, and hashProposal ids", async function () {
    const f = await networkHelpers.loadFixture(defaultStack);
    const { governor, token } = contractsFor(f.record, f.alice);

    const iGovernorId = interfaceId(ozAbi("IGovernor"), [...ozAbi("IERC165"), ...ozAbi("IERC6372")]);
    expect(await governor.read.supportsInterface([iGovernorId])).to.equal(true);
    expect(await governor.read.supportsInterface(["0x01ffc9a7"])).to.equal(true); // ERC-165 itself
    expect(await governor.read.supportsInterface(["0xffffffff"])).to.equal(false);

    expect(await governor.read.COUNTING_MODE()).to.equal("support=bravo&quorum=for,abstain");
    expect(await governor.read.CLOCK_MODE()).to.equal("mode=timestamp");
    expect(await token.read.CLOCK_MODE()).to.equal("mode=timestamp");
    const block = await f.publicClient.getBlock();
    expect(BigInt(await governor.read.clock())).to.equal(block.timestamp);
    expect(await governor.read.name()).to.equal("ConclaveGovernor");
    expect(await governor.read.version()).to.equal("1");
    expect(await governor.read.token()).to.equal(f.record.contracts.ConclaveToken!.address);
    expect(await governor.read.timelock()).to.equal(f.record.contracts.ConclaveTimelock!.address);
    expect(await governor.read.votingDelay()).to.equal(BigInt(f.params.votingDelay));
    expect(await governor.read.votingPeriod()).to.equal(BigInt(f.params.votingPeriod));

    // Proposal ids are hashProposal(targets, values, calldatas, keccak256(description)).
    await token.write.delegate([f.alice.account.address]);
    // Proposing needs the threshold's votes at the second before the proposal's block: a later block.
    await networkHelpers.mine();
    const targets = [f.record.contracts.ModelRegistry!.address];
    const calldatas = ["0x3f4ba83a" as const]; // unpause()
    const description = "Unpause the model registry";
    const { result: predicted } = await governor.simulate.propose([targets, [0n], calldatas, description]);
    const hashed = await governor.read.hashProposal([targets, [0n], calldatas, keccak256(toHex(description))]);
    expect(predicted).to.equal(hashed);
  });
});
