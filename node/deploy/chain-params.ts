/**
 * What the chain adds to the deployment parameters: its defaults (a local chain gets the
 * development DAO's holders and a 1-token threshold) and the rules that protect a public
 * deployment, checked before anything is sent.
 */
import { parseUnits, type Address } from "viem";
import { LOCAL_CHAIN_ID } from "../chain/clients.ts";
import { DEV_ROLES, devAccount } from "../devnet/accounts.ts";
import { fail, MAX_DURATIONS, type DeployParams } from "./params.ts";

/** Chain ids of development networks (Hardhat's and Anvil's default, and Ganache's). */
const LOCAL_CHAIN_IDS: readonly number[] = [LOCAL_CHAIN_ID, 1337];

const isLocalChain = (chainId: number): boolean => LOCAL_CHAIN_IDS.includes(chainId);

/** The supply the development DAO members share on a local chain when no holders are given. */
export const LOCAL_SUPPLY = parseUnits("1000000", 18);

/** 0.1 % of the supply: the proposal threshold on a public chain when none is given. */
const PUBLIC_THRESHOLD_BPS = 10n;

/** DeployParams with every chain-dependent default decided: what deployStack deploys. */
interface ChainDeployParams extends Omit<DeployParams, "holders" | "proposalThreshold" | "guardian" | "freezePeriod"> {
  holders: { address: Address; amount: bigint }[];
  proposalThreshold: bigint;
  /** null: no guardian. */
  guardian: Address | null;
  freezePeriod: number;
}

/** Seconds from a proposal to its earliest execution: what exits and freezes must outlast. */
export const governanceDelay = (p: Pick<DeployParams, "votingDelay" | "votingPeriod" | "timelockDelay">): number =>
  p.votingDelay + p.votingPeriod + p.timelockDelay;

/**
 * Applies the chain's defaults and the rules that protect a public deployment, before anything is
 * sent: on a public chain the holders and the guardian must be given and the threshold is above 0;
 * on every chain the deployer is never the guardian and the threshold fits the supply.
 */
export function paramsForChain(params: DeployParams, chainId: number, deployer: Address): ChainDeployParams {
  const local = isLocalChain(chainId);
  const where = `on chain ${chainId}`;
  let holders = params.holders;
  if (holders.length === 0) {
    if (!local) fail("holders", [], `required ${where}: list who receives the supply (address:amount,...)`);
    const members = DEV_ROLES.members.map((i) => devAccount(i).address);
    const share = LOCAL_SUPPLY / BigInt(members.length);
    // The remainder of the division goes to the first member, so the supply is exactly LOCAL_SUPPLY.
    holders = members.map((address, i) => ({
      address,
      amount: share + (i === 0 ? LOCAL_SUPPLY - share * BigInt(members.length) : 0n),
    }));
  }
  const supply = holders.reduce((sum, h) => sum + h.amount, 0n);
  if (supply === 0n) fail("holders", params.holders, "the supply is 0: nobody could vote");

  let proposalThreshold = params.proposalThreshold;
  if (proposalThreshold === null)
    proposalThreshold = local ? parseUnits("1", 18) : (supply * PUBLIC_THRESHOLD_BPS) / 10_000n;
  if (!local && proposalThreshold === 0n)
    fail("proposalThreshold", "0", `must be above 0 ${where}: with 0 anyone can propose and pre-burn proposal ids`);
  if (proposalThreshold > supply)
    fail("proposalThreshold", proposalThreshold.toString(), `above the supply (${supply}): nobody could propose`);

  if (params.guardian === null && !local)
    fail("guardian", null, `required ${where}: an address, or "none" for no guardian`);
  const guardian = params.guardian === null || params.guardian === "none" ? null : params.guardian;
  if (guardian !== null && guardian.toLowerCase() === deployer.toLowerCase()) {
    fail("guardian", guardian, "is the deployer, which keeps no role after deployment: name another account");
  }
  const delay = governanceDelay(params);
  const freezePeriod = params.freezePeriod ?? Math.min(2 * delay, MAX_DURATIONS.freezePeriod!);
  if (freezePeriod < delay)
    fail(
      "freezePeriod",
      freezePeriod,
      `below the governance delay (votingDelay + votingPeriod + timelockDelay = ${delay} s): a freeze must hold a provider until a slash vote can execute`,
    );
  return { ...params, holders, proposalThreshold, guardian, freezePeriod };
}
