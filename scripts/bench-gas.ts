// Gas of the governance and registry operations, on Hardhat's in-process network.
// Figures are printed to compare across changes; nothing is asserted.
import { network } from "hardhat";
import { keccak256, parseUnits, stringToHex, toHex, encodeFunctionData, zeroHash, type Hash } from "viem";
import type { Wallet } from "../node/chain/clients.ts";
import { conclaveContracts } from "../node/chain/contracts.ts";
import { bindToProposer, timelockSalt } from "../node/dao/proposals.ts";
import { LOCAL_DEFAULTS } from "../node/deploy/params.ts";
import { deployStack } from "../node/deploy/stack.ts";

const { viem, networkHelpers } = await network.create();
const publicClient = await viem.getPublicClient();
const wallets = (await viem.getWalletClients()) as unknown as Wallet[];
const [deployer, alice, bob, provider] = wallets as [Wallet, Wallet, Wallet, Wallet];
const guardian = wallets[wallets.length - 1]!;
const T = (n: number) => parseUnits(String(n), 18);

const params = {
  ...LOCAL_DEFAULTS,
  guardian: guardian.account.address,
  holders: [
    { address: alice.account.address, amount: T(600_000) },
    { address: bob.account.address, amount: T(300_000) },
    { address: provider.account.address, amount: T(100_000) },
  ],
};
const record = await deployStack({ publicClient: publicClient as never, wallet: deployer }, params);
const as = (w: Wallet) => conclaveContracts(record, w);
const rows: [string, bigint][] = [];
async function measure(label: string, send: () => Promise<Hash>) {
  const receipt = await publicClient.waitForTransactionReceipt({ hash: await send() });
  rows.push([label, receipt.gasUsed]);
}

await measure("token.delegate", () => as(alice).token.write.delegate([alice.account.address]));
await as(bob).token.write.delegate([bob.account.address]);

const version = (name: string, i: number) =>
  as(alice).models.write.publishVersion([
    name,
    {
      weightsCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
      weightsSha256: keccak256(toHex(`weights-${i}`)),
      schemaCid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
      runtime: stringToHex("onnxruntime-1.30-cpu", { size: 32 }),
      outputQuantum: 10n ** 14n,
      minMemoryMB: 64,
      minFee: 0n,
    },
  ]);
await measure("models.publishVersion (new model)", () => version("bench-model", 1));
await measure("models.publishVersion (next version)", () => version("bench-model", 2));

await as(provider).token.write.approve([record.contracts.ProviderRegistry!.address, T(10_000)]);
const caps = {
  memoryMB: 8192,
  accelerator: stringToHex("cpu", { size: 32 }),
  region: stringToHex("eu", { size: 32 }),
  tags: 3n,
};
await measure("providers.register", () =>
  as(provider).providers.write.register([T(1_000), caps, "ipfs://bafy-provider"]),
);
await measure("providers.addStake", () => as(provider).providers.write.addStake([T(500)]));

const modelId = keccak256(toHex("bench-model"));
const targets = [record.contracts.ModelRegistry!.address, record.contracts.ProviderRegistry!.address];
const calldatas = [
  encodeFunctionData({ abi: as(alice).models.abi, functionName: "activateVersion", args: [modelId, 1] }),
  encodeFunctionData({
    abi: as(alice).providers.abi,
    functionName: "approveProvider",
    args: [provider.account.address, caps.tags],
  }),
];
const description = "Activate bench-model v1 and approve the provider";
const descriptionHash = keccak256(toHex(description));
await measure("governor.propose (2 actions)", () =>
  as(alice).governor.write.propose([targets, [0n, 0n], calldatas, description]),
);
const id = await as(alice).governor.read.hashProposal([targets, [0n, 0n], calldatas, descriptionHash]);
await networkHelpers.time.increase(params.votingDelay + 1);
await measure("governor.castVote (first)", () => as(alice).governor.write.castVote([id, 1]));
await measure("governor.castVote (second)", () => as(bob).governor.write.castVote([id, 1]));
await networkHelpers.time.increase(params.votingPeriod + 1);
await measure("governor.queue", () => as(alice).governor.write.queue([targets, [0n, 0n], calldatas, descriptionHash]));
await networkHelpers.time.increase(params.timelockDelay + 1);
await measure("governor.execute (activate + approve)", () =>
  as(alice).governor.write.execute([targets, [0n, 0n], calldatas, descriptionHash]),
);

// What the CLI sends: the description bound to its proposer (finding 5); then the guardian's veto.
const pause = [encodeFunctionData({ abi: as(alice).models.abi, functionName: "pause" })];
const bound = bindToProposer("Pause the model registry", alice.account.address, "0x0123456789abcdef");
const boundHash = keccak256(toHex(bound));
await measure("governor.propose (1 action, proposer-bound description)", () =>
  as(alice).governor.write.propose([[targets[0]!], [0n], pause, bound]),
);
const pauseId = await as(alice).governor.read.hashProposal([[targets[0]!], [0n], pause, boundHash]);
await networkHelpers.time.increase(params.votingDelay + 1);
await as(alice).governor.write.castVote([pauseId, 1]);
await networkHelpers.time.increase(params.votingPeriod + 1);
await as(alice).governor.write.queue([[targets[0]!], [0n], pause, boundHash]);
const salt = timelockSalt(record.contracts.ConclaveGovernor!.address, boundHash);
await measure("guardianVeto.veto (1 action)", () =>
  as(guardian).veto!.write.veto([[targets[0]!], [0n], pause, zeroHash, salt]),
);

const width = Math.max(...rows.map(([l]) => l.length));
console.log(`\nGas per operation (Hardhat in-process network, solc optimizer 200 runs)\n`);
console.log(`${"operation".padEnd(width)}  ${"gas".padStart(9)}`);
for (const [label, gas] of rows) console.log(`${label.padEnd(width)}  ${gas.toString().padStart(9)}`);
