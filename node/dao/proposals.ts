import { randomBytes } from "node:crypto";
import { keccak256, pad, parseEventLogs, toHex, type Address, type Hex, type PublicClient } from "viem";
import type { Wallet } from "../chain/clients.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import type { DeploymentRecord } from "../chain/deployment.ts";

/** One call the timelock makes if the proposal passes. */
export interface Action {
  target: Address;
  value?: bigint;
  data: Hex;
}

export interface Proposal {
  id: bigint;
  targets: Address[];
  values: bigint[];
  calldatas: Hex[];
  description: string;
  descriptionHash: Hex;
}

/** OpenZeppelin's IGovernor.ProposalState names, by value. */
export const PROPOSAL_STATES = [
  "Pending",
  "Active",
  "Canceled",
  "Defeated",
  "Succeeded",
  "Queued",
  "Expired",
  "Executed",
] as const;

export function proposalOf(actions: Action[], description: string, id = 0n): Proposal {
  return {
    id,
    targets: actions.map((a) => a.target),
    values: actions.map((a) => a.value ?? 0n),
    calldatas: actions.map((a) => a.data),
    description,
    descriptionHash: keccak256(toHex(description)),
  };
}

/** The proposer suffix OpenZeppelin's Governor checks (`_isValidDescriptionForProposer`). */
const PROPOSER_SUFFIX = /#proposer=0x[0-9a-fA-F]{40}$/;

/**
 * Binds a description to its proposer: ` [ref:<8 random bytes>]#proposer=<address>` is appended.
 * The governor then refuses the same description from any other account
 * (GovernorRestrictedProposer), so nobody can copy a proposal from the mempool and take its id,
 * and the random reference makes ids unpredictable, so nobody can pre-burn one either (a provider
 * proposing "suspend provider <itself>" first, to be voted down).
 */
export function bindToProposer(description: string, proposer: Address, ref: Hex = toHex(randomBytes(8))): string {
  if (!/^0x[0-9a-f]{16}$/.test(ref)) throw new Error(`a proposal reference is 8 bytes of lower-case hex, got ${ref}`);
  return `${description} [ref:${ref.slice(2)}]#proposer=${proposer}`;
}

/** A description without the suffix bindToProposer added, for people to read. */
export function plainDescription(description: string): string {
  return PROPOSER_SUFFIX.test(description)
    ? description.replace(PROPOSER_SUFFIX, "").replace(/ \[ref:[0-9a-f]{16}\]$/, "")
    : description;
}

/**
 * The salt under which GovernorTimelockControl schedules a proposal in the timelock:
 * `bytes20(address(governor)) ^ descriptionHash` (the predecessor is always 0).
 */
export function timelockSalt(governor: Address, descriptionHash: Hex): Hex {
  const left = BigInt(pad(governor, { dir: "right", size: 32 }));
  return pad(toHex(left ^ BigInt(descriptionHash)), { size: 32 });
}

/**
 * Submits a proposal, its description bound to the proposer (bindToProposer); resolves with its id
 * (which equals the governor's hashProposal) and the description as submitted.
 */
export async function propose(
  publicClient: PublicClient,
  record: DeploymentRecord,
  proposer: Wallet,
  actions: Action[],
  description: string,
): Promise<Proposal> {
  const { governor } = conclaveContracts(record, proposer);
  const p = proposalOf(actions, bindToProposer(description, proposer.account.address));
  const receipt = await publicClient.waitForTransactionReceipt({
    hash: await governor.write.propose([p.targets, p.values, p.calldatas, p.description]),
  });
  const [created] = parseEventLogs({ abi: governor.abi, logs: receipt.logs, eventName: "ProposalCreated" });
  return { ...p, id: (created!.args as { proposalId: bigint }).proposalId };
}

/**
 * Local development chains only (Hardhat): moves the clock forward and mines a block, so a
 * governance stage (voting delay, voting period, timelock delay) passes at once.
 */
export async function fastForward(publicClient: PublicClient, seconds: number): Promise<void> {
  await publicClient.request({ method: "evm_increaseTime" as never, params: [seconds] as never });
  await publicClient.request({ method: "evm_mine" as never, params: [] as never });
}

/**
 * Takes a proposal through the whole cycle on a local chain: propose, wait out the voting delay,
 * every member votes for, wait out the voting period, queue, wait out the timelock, execute.
 * `say` reports each stage, so a person sees that time was fast-forwarded.
 */
export async function passOnLocalChain(opts: LocalProposalOptions): Promise<Proposal> {
  const p = await queueOnLocalChain(opts);
  const [proposer] = opts.members;
  await mined(
    opts.publicClient,
    conclaveContracts(opts.record, proposer!).governor.write.execute([
      p.targets,
      p.values,
      p.calldatas,
      p.descriptionHash,
    ]),
  );
  opts.say?.("executed");
  return p;
}

interface LocalProposalOptions {
  publicClient: PublicClient;
  record: DeploymentRecord;
  members: Wallet[];
  actions: Action[];
  description: string;
  say?: (line: string) => void;
}

/**
 * {@link passOnLocalChain} up to the last step: the proposal is queued and its timelock delay has
 * passed, so it can be executed now (by anyone, in a block of the caller's choosing).
 */
export async function queueOnLocalChain(opts: LocalProposalOptions): Promise<Proposal> {
  const { publicClient, record, members, say } = opts;
  const [proposer] = members;
  if (!proposer) throw new Error("at least one DAO member is needed");
  const gov = (w: Wallet) => conclaveContracts(record, w).governor;
  const delay = Number(await gov(proposer).read.votingDelay());
  const period = Number(await gov(proposer).read.votingPeriod());
  const timelockDelay = Number(await conclaveContracts(record, proposer).timelock.read.getMinDelay());
  // The governor counts the proposer's votes at the second before the proposal's block; a local
  // node may stamp the delegation's block with that same second. One second later they count.
  await fastForward(publicClient, 1);
  const p = await propose(publicClient, record, proposer, opts.actions, opts.description);
  say?.(`proposed "${opts.description}" (id ${p.id}) as ${proposer.account.address}`);
  await fastForward(publicClient, delay + 1);
  say?.(`local chain: fast-forwarded ${delay + 1} s past the voting delay`);
  for (const m of members) await mined(publicClient, gov(m).write.castVote([p.id, 1]));
  say?.(`${members.length} member(s) voted for`);
  await fastForward(publicClient, period + 1);
  say?.(`local chain: fast-forwarded ${period + 1} s past the voting period`);
  await mined(publicClient, gov(proposer).write.queue([p.targets, p.values, p.calldatas, p.descriptionHash]));
  await fastForward(publicClient, timelockDelay + 1);
  say?.(`queued; local chain: fast-forwarded ${timelockDelay + 1} s past the timelock delay`);
  return p;
}

export async function mined(publicClient: PublicClient, send: Promise<Hex>): Promise<void> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash: await send });
  if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
}
