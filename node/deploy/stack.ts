import {
  getAddress,
  zeroAddress,
  type Abi,
  type Address,
  type ContractConstructorArgs,
  type Hash,
  type PublicClient,
} from "viem";
import { loadArtifact, type AbiOf, type ContractName } from "../chain/artifacts.ts";
import type { Wallet } from "../chain/clients.ts";
import type { DeployedContract, DeploymentRecord } from "../chain/deployment.ts";
import { DeploymentError } from "../errors.ts";
import { paramsForChain } from "./chain-params.ts";
import type { DeployParams } from "./params.ts";
import { assertHoldsNoRole, ROLES } from "./roles.ts";

interface DeployContext {
  publicClient: PublicClient;
  wallet: Wallet;
  /** Progress lines for a person; the stack deploys silently without it. */
  log?: (line: string) => void;
}

/** Sends a transaction and waits for it; a revert becomes a DeploymentError naming the step. */
async function confirm(ctx: DeployContext, step: string, send: () => Promise<Hash>) {
  const hash = await send();
  const receipt = await ctx.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new DeploymentError(`${step} reverted (tx ${hash})`);
  return receipt;
}

async function deploy<N extends ContractName>(
  ctx: DeployContext,
  name: N,
  args: ContractConstructorArgs<AbiOf<N>>,
): Promise<DeployedContract> {
  const { abi, bytecode } = loadArtifact(name);
  const receipt = await confirm(ctx, `deploying ${name}`, () =>
    ctx.wallet.deployContract({ abi: abi as Abi, bytecode, args: args as readonly unknown[] }),
  );
  if (!receipt.contractAddress) throw new DeploymentError(`deploying ${name} created no contract`);
  ctx.log?.(`deployed ${name} at ${getAddress(receipt.contractAddress)} (block ${receipt.blockNumber})`);
  return { address: getAddress(receipt.contractAddress), block: Number(receipt.blockNumber) };
}

async function call(
  ctx: DeployContext,
  name: ContractName,
  address: Address,
  functionName: string,
  args: readonly unknown[],
) {
  const { abi } = loadArtifact(name);
  await confirm(ctx, `${name}.${functionName}`, () =>
    ctx.wallet.writeContract({ address, abi: abi as Abi, functionName, args }),
  );
}

/** The fields of IInferenceMarket's Policy struct, in its order, as the market's constructor takes them. */
export const MARKET_POLICY = [
  "protocolFeeBps",
  "quorumBps",
  "maxRedundancy",
  "commitWindow",
  "revealWindow",
  "priorityWindow",
  "maxInlineInputBytes",
  "maxJobDuration",
  "collateralPerJob",
  "clientShareBps",
] as const;
/** The fields of IInferenceMarket's ChallengePolicy struct, in its order. */
export const CHALLENGE_POLICY = ["challengeWindow", "jurySize", "juryFee", "challengerShareBps"] as const;

function pick<K extends keyof DeployParams>(params: DeployParams, keys: readonly K[]): Pick<DeployParams, K> {
  return Object.fromEntries(keys.map((k) => [k, params[k]])) as Pick<DeployParams, K>;
}

/**
 * Deploys token, timelock, governor, the guardian's veto, both registries and the market, wires the
 * roles of DESIGN.md §2 and hands every admin role to the timelock. The chain's defaults and rules
 * (paramsForChain) are applied before anything is sent; the deployer's lack of any role is read
 * back from the chain before this returns, and the deployment fails otherwise.
 */
export async function deployStack(ctx: DeployContext, requested: DeployParams): Promise<DeploymentRecord> {
  const deployer = ctx.wallet.account.address;
  const chainId = await ctx.publicClient.getChainId();
  const params = paramsForChain(requested, chainId, deployer);
  const { holders } = params;
  const guardian = params.guardian ?? zeroAddress;

  const token = await deploy(ctx, "ConclaveToken", [
    params.tokenName,
    params.tokenSymbol,
    holders.map((h) => h.address),
    holders.map((h) => h.amount),
  ]);
  // The deployer is the timelock's bootstrap admin only until the governor is wired in below.
  const timelock = await deploy(ctx, "ConclaveTimelock", [BigInt(params.timelockDelay), [], [zeroAddress], deployer]);
  const governor = await deploy(ctx, "ConclaveGovernor", [
    token.address,
    timelock.address,
    params.votingDelay,
    params.votingPeriod,
    params.proposalThreshold,
    BigInt(params.quorumPercent),
  ]);
  const veto = await deploy(ctx, "GuardianVeto", [timelock.address, guardian]);
  const modelRegistry = await deploy(ctx, "ModelRegistry", [deployer, guardian, params.deprecationPeriod]);
  const providerRegistry = await deploy(ctx, "ProviderRegistry", [
    deployer,
    guardian,
    token.address,
    params.minStake,
    params.unbondingPeriod,
  ]);

  // The market runs its challenge functions from this contract by DELEGATECALL (size limit).
  const court = await deploy(ctx, "InferenceMarketCourt", [modelRegistry.address, providerRegistry.address]);
  const market = await deploy(ctx, "InferenceMarket", [
    deployer,
    guardian,
    modelRegistry.address,
    providerRegistry.address,
    timelock.address,
    pick(params, MARKET_POLICY),
    pick(params, CHALLENGE_POLICY),
    court.address,
  ]);
  await call(ctx, "ProviderRegistry", providerRegistry.address, "grantRole", [ROLES.MARKET_ROLE, market.address]);
  // The market reports how rollout candidates' jobs end (ModelRegistry.countJob).
  await call(ctx, "ModelRegistry", modelRegistry.address, "grantRole", [ROLES.MARKET_ROLE, market.address]);
  // Before the roles go to the timelock: exits and freezes then outlast the governance delay
  // (a provider cannot exit with its stake while a slash proposal against it is voted on).
  await call(ctx, "ProviderRegistry", providerRegistry.address, "setGovernance", [governor.address, timelock.address]);
  await call(ctx, "ProviderRegistry", providerRegistry.address, "setFreezePeriod", [params.freezePeriod]);
  // A DAO setting: served on the market's address by its court.
  for (const { token, ratePerEth } of params.paymentTokens) {
    await call(ctx, "InferenceMarketCourt", market.address, "setTokenAllowed", [token, true, ratePerEth]);
  }

  // Consumer contracts' callbacks: the DAO (the timelock) sets its inline-output limit.
  const consumerRouter = await deploy(ctx, "ConsumerRouter", [
    timelock.address,
    market.address,
    BigInt(params.maxInlineOutputBytes),
  ]);

  if (params.autoAdmit) {
    await call(ctx, "ProviderRegistry", providerRegistry.address, "setAdmissionPolicy", [true, params.autoAdmitStake]);
  }
  const administered = [
    ["ModelRegistry", modelRegistry],
    ["ProviderRegistry", providerRegistry],
    ["InferenceMarket", market],
  ] as const;
  for (const [name, c] of administered) {
    await call(ctx, name, c.address, "grantRole", [ROLES.DEFAULT_ADMIN_ROLE, timelock.address]);
    await call(ctx, name, c.address, "renounceRole", [ROLES.DEFAULT_ADMIN_ROLE, deployer]);
  }
  await call(ctx, "ConclaveTimelock", timelock.address, "grantRole", [ROLES.PROPOSER_ROLE, governor.address]);
  // Cancellers: the governor (OpenZeppelin's wiring; it cancels only through a vote) and the veto.
  // The timelock's constructor got no proposers, so nobody else holds the role.
  await call(ctx, "ConclaveTimelock", timelock.address, "grantRole", [ROLES.CANCELLER_ROLE, governor.address]);
  await call(ctx, "ConclaveTimelock", timelock.address, "grantRole", [ROLES.CANCELLER_ROLE, veto.address]);
  await call(ctx, "ConclaveTimelock", timelock.address, "renounceRole", [ROLES.DEFAULT_ADMIN_ROLE, deployer]);

  const record: DeploymentRecord = {
    chainId,
    contracts: {
      ConclaveToken: token,
      ConclaveTimelock: timelock,
      ConclaveGovernor: governor,
      GuardianVeto: veto,
      ModelRegistry: modelRegistry,
      ProviderRegistry: providerRegistry,
      InferenceMarket: market,
      InferenceMarketCourt: court,
      ConsumerRouter: consumerRouter,
    },
    deployer,
    params: {
      proposalThreshold: params.proposalThreshold.toString(),
      guardian: params.guardian,
      votingDelay: params.votingDelay,
      votingPeriod: params.votingPeriod,
      quorumPercent: params.quorumPercent,
      timelockDelay: params.timelockDelay,
      unbondingPeriod: params.unbondingPeriod,
      freezePeriod: params.freezePeriod,
      deprecationPeriod: params.deprecationPeriod,
      minStake: params.minStake.toString(),
      autoAdmit: params.autoAdmit,
      autoAdmitStake: params.autoAdmitStake.toString(),
      // Amounts as decimal strings, in the structs' key order (a key set again keeps its place).
      ...pick(params, MARKET_POLICY),
      collateralPerJob: params.collateralPerJob.toString(),
      ...pick(params, CHALLENGE_POLICY),
      juryFee: params.juryFee.toString(),
      paymentTokens: params.paymentTokens.map((t) => ({ token: t.token, ratePerEth: t.ratePerEth.toString() })),
      maxInlineOutputBytes: params.maxInlineOutputBytes,
    },
  };
  await assertHoldsNoRole(ctx.publicClient, record, deployer);
  ctx.log?.("roles wired; read back: the deployer holds no role");
  return record;
}
