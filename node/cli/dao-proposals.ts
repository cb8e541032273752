/** The governor's proposals as the `conclave dao` commands read and show them. */
import { decodeFunctionData, type Abi, type Address, type Hex } from "viem";
import { loadArtifact, marketAbiWithCourt, type ContractName } from "../chain/artifacts.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import { eventsToHead } from "../chain/events.ts";
import { PROPOSAL_STATES, proposalOf } from "../dao/proposals.ts";
import { jsonStringify } from "../json-stringify.ts";
import { RequestError } from "./command.ts";
import type { Session } from "./session.ts";

export interface ProposalInfo {
  id: bigint;
  proposer: Address;
  targets: Address[];
  values: bigint[];
  calldatas: Hex[];
  description: string;
  voteStart: bigint;
  voteEnd: bigint;
}

/** The governor's call arguments (with the description hash) of a proposal read from its event. */
export const asProposal = (p: ProposalInfo) =>
  proposalOf(
    p.targets.map((t, i) => ({ target: t, value: p.values[i]!, data: p.calldatas[i]! })),
    p.description,
  );

export async function allProposals(s: Session): Promise<ProposalInfo[]> {
  const { governor } = conclaveContracts(s.record, s.publicClient);
  const logs = await eventsToHead(
    s.publicClient,
    governor,
    "ProposalCreated",
    s.record.contracts.ConclaveGovernor!.block,
  );
  return logs.map((l) => {
    const a = l.args as unknown as Omit<ProposalInfo, "id" | "targets" | "values" | "calldatas"> & {
      proposalId: bigint;
      targets: readonly Address[];
      values: readonly bigint[];
      calldatas: readonly Hex[];
    };
    return {
      id: a.proposalId,
      proposer: a.proposer,
      targets: [...a.targets],
      values: [...a.values],
      calldatas: [...a.calldatas],
      description: a.description,
      voteStart: a.voteStart,
      voteEnd: a.voteEnd,
    };
  });
}

export async function proposal(s: Session, idText: string): Promise<ProposalInfo> {
  if (!/^\d+$/.test(idText))
    throw new RequestError(`proposal id must be a decimal number, got ${JSON.stringify(idText)}`);
  const found = (await allProposals(s)).find((p) => p.id === BigInt(idText));
  if (!found) throw new RequestError(`no proposal ${idText} on this governor`);
  return found;
}

export async function stateOf(s: Session, id: bigint) {
  return PROPOSAL_STATES[await conclaveContracts(s.record, s.publicClient).governor.read.state([id])]!;
}

function describeActions(s: Session, p: ProposalInfo) {
  const names = Object.fromEntries(
    Object.entries(s.record.contracts).map(([n, c]) => [c.address.toLowerCase(), n as ContractName]),
  );
  return p.targets.map((target, i) => {
    const contract = names[target.toLowerCase()];
    try {
      if (!contract) throw new Error("unknown target");
      // The market's address also serves its court's functions (the DAO's settings among them).
      const abi = (contract === "InferenceMarket" ? marketAbiWithCourt() : loadArtifact(contract).abi) as Abi;
      const { functionName, args } = decodeFunctionData({ abi, data: p.calldatas[i]! });
      return {
        target,
        contract,
        call: `${functionName}(${(args ?? []).map((a) => (typeof a === "bigint" ? a.toString() : typeof a === "object" ? jsonStringify(a) : String(a))).join(", ")})`,
        value: p.values[i]!.toString(),
      };
    } catch {
      return { target, contract: contract ?? null, call: p.calldatas[i]!, value: p.values[i]!.toString() };
    }
  });
}

export async function summary(s: Session, p: ProposalInfo) {
  const { governor } = conclaveContracts(s.record, s.publicClient);
  const [against, forVotes, abstain] = await governor.read.proposalVotes([p.id]);
  // quorum() only answers for past timepoints of the governor's clock (the latest block's time).
  const clock = BigInt(await governor.read.clock());
  const quorum = await governor.read.quorum([p.voteStart < clock ? p.voteStart : clock - 1n]);
  const eta = await governor.read.proposalEta([p.id]);
  const iso = (t: bigint) => new Date(Number(t) * 1000).toISOString();
  return {
    id: p.id.toString(),
    state: await stateOf(s, p.id),
    description: p.description,
    proposer: p.proposer,
    votes: { for: forVotes.toString(), against: against.toString(), abstain: abstain.toString() },
    quorum: quorum.toString(),
    voteStart: iso(p.voteStart),
    voteEnd: iso(p.voteEnd),
    eta: eta === 0n ? null : iso(eta),
    actions: describeActions(s, p),
  };
}
