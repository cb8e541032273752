import { network } from "hardhat";
import { parseUnits } from "viem";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import type { Wallet } from "../../node/chain/clients.ts";
import type { DeploymentRecord } from "../../node/chain/deployment.ts";
import { LOCAL_DEFAULTS, type DeployParams } from "../../node/deploy/params.ts";
import { deployStack } from "../../node/deploy/stack.ts";

/** One in-process Hardhat network per test file, as Hardhat 3 recommends. */
export const connection = await network.create();
export const { viem, networkHelpers } = connection;

export const TOKENS = (n: number | string) => parseUnits(String(n), 18);

/** Typed contract handles for a deployment, for a given signer. */
export const contractsFor = (record: DeploymentRecord, client: Wallet) => conclaveContracts(record, client);

/**
 * Deploys the stack with the real deploy code (node/deploy/stack.ts) on the in-process network:
 * wallet 0 deploys, wallets 1..3 are DAO members holding 400k/300k/200k tokens, wallet 4 gets
 * 10k tokens to stake as a provider; the last wallet is the guardian (the deployer never is).
 */
export async function deployFixture(overrides: Partial<DeployParams> = {}) {
  const wallets = (await viem.getWalletClients()) as unknown as Wallet[];
  const publicClient = await viem.getPublicClient();
  const [deployer, alice, bob, carol, provider] = wallets as [Wallet, Wallet, Wallet, Wallet, Wallet];
  const holders = [
    { address: alice.account.address, amount: TOKENS(400_000) },
    { address: bob.account.address, amount: TOKENS(300_000) },
    { address: carol.account.address, amount: TOKENS(200_000) },
    { address: provider.account.address, amount: TOKENS(10_000) },
  ];
  const guardian = wallets[wallets.length - 1]!;
  const params: DeployParams = { ...LOCAL_DEFAULTS, holders, guardian: guardian.account.address, ...overrides };
  const record = await deployStack({ publicClient: publicClient as never, wallet: deployer }, params);
  return { record, params, publicClient, deployer, alice, bob, carol, provider, guardian, wallets };
}

export type Fixture = Awaited<ReturnType<typeof deployFixture>>;
