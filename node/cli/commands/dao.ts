import { formatUnits, getAddress, parseEventLogs, zeroAddress, zeroHash } from "viem";
import { conclaveContracts } from "../../chain/contracts.ts";
import { bindToProposer, fastForward, plainDescription, proposalOf, timelockSalt } from "../../dao/proposals.ts";
import { address, RequestError, str, type Command, type CommandContext } from "../command.ts";
import { actionsFor, SETTABLE_KEYS } from "../dao-actions.ts";
import { allProposals, asProposal, proposal, stateOf, summary, type ProposalInfo } from "../dao-proposals.ts";
import type { Session } from "../session.ts";
import { TAG_USAGE } from "../tags.ts";
import { sendTx } from "../tx.ts";
import { PLAN_FLAGS, type PlanFlags } from "../rollout-plan.ts";

const SUPPORT = { against: 0, for: 1, abstain: 2 } as const;

/** Queues or executes a proposal (the governor takes its actions and description hash for both); its summary after. */
async function governorStep(s: Session, p: ProposalInfo, step: "queue" | "execute") {
  const { governor } = conclaveContracts(s.record, s.publicClient);
  const full = asProposal(p);
  await sendTx(s, step === "queue" ? "queueing" : "executing", {
    address: governor.address,
    abi: governor.abi,
    functionName: step,
    args: [full.targets, full.values, full.calldatas, full.descriptionHash],
  });
  return summary(s, p);
}

/** Waits until the chain's clock passes `timestamp`: fast-forwarded on a local chain, else waited for with --wait. */
async function reachTime(s: Session, ctx: CommandContext, timestamp: bigint, what: string): Promise<void> {
  // The governor reads its clock from the latest block: that, not the wall clock, must pass.
  const now = () => s.publicClient.getBlock({ blockTag: "latest" }).then((b) => b.timestamp);
  let t = await now();
  if (t > timestamp) return;
  if (s.local) {
    const seconds = Number(timestamp - t) + 1;
    ctx.out.note(`local chain: fast-forwarding ${seconds} s to ${what}`);
    await fastForward(s.publicClient as never, seconds);
    return;
  }
  if (ctx.values.wait !== true)
    throw new RequestError(
      `${what} is at ${new Date(Number(timestamp) * 1000).toISOString()}, ${timestamp - t} s from now: run again then, or pass --wait`,
    );
  while ((t = await now()) <= timestamp) {
    ctx.out.progress(`waiting for ${what}: ${timestamp - t + 1n} s left`);
    await new Promise((r) => setTimeout(r, 5_000));
  }
}

const tokens = (v: string) => formatUnits(BigInt(v), 18);

export const daoCommands: Record<string, Command> = {
  "dao propose": {
    summary:
      "propose activate|retire|rollback <model> <v>, start-rollout <model> <v> --canary ..., approve-provider|suspend-provider|unfreeze <addr>, grant-tags <addr> <tags>, set-model-owner <model> <addr>, set-policy <key> <value>, allow-token <token> <rate>, disallow-token <token>, wind-down-market [<new market>]",
    usage: `<kind> <args...> [--description <text>]

The description (the default one or --description) gets " [ref:<random>]#proposer=<your address>"
appended: the governor then refuses the same proposal from anyone else.

Kinds:
  activate <model> <version>        make a published version the active one
  retire <model> <version>          stop a version taking jobs at once
  rollback <model> <version>        re-activate an earlier version
  start-rollout <model> <candidate> --canary <percent> --min-duration <duration>
      --promote-after <jobs> --abort-after <jobs> --max-disputed <percent> --max-failed <percent>
                                    staged rollout of a Published version: a canary share (up to
                                    50%) of active-version requests goes to the candidate; once
                                    the minimum duration (90s, 15m, 1h, 1h30m, 2d) passed,
                                    promote-after candidate jobs ended and the disputed and failed
                                    shares are within their maxima, anyone promotes it; once
                                    abort-after jobs ended and a share is above its maximum, anyone
                                    aborts it (conclave rollout status|promote|abort <model>)
  approve-provider <address> [<tags>] admit a registered provider, granting it <tags> (default:
                                    the tags it declares now; only granted tags make it eligible)
  grant-tags <address> <tags>       replace the capability/compliance tags granted to a provider
                                    (${TAG_USAGE})
  suspend-provider <address>        stop a provider taking jobs
  unfreeze <address>                lift the guardian's freeze of a provider (conclave guardian freeze)
  set-model-owner <model> <address> hand a model name to a new owner (the only publisher of its versions)
  set-policy <key> <value>          ${SETTABLE_KEYS.join(", ")}
                                    (collateralPerJob and minStake in whole tokens, durations in s;
                                    unbondingPeriod and freezePeriod at least the governance delay)
  allow-token <token> <rate>        let jobs be paid in an ERC-20, or change its rate: <rate> whole
                                    tokens are worth 1 ETH (versions' minimum fees are in ETH)
  disallow-token <token>            stop new jobs being paid in an ERC-20
  wind-down-market [<new market>]   wind the market down for a migration (no new jobs; Open jobs
                                    refunded at once, the others run to their end, claims and
                                    withdrawals keep working), optionally giving MARKET_ROLE to
                                    the new market on both registries in the same proposal and
                                    pushing it the model registry's mirror of every model`,
    options: {
      description: { type: "string" },
      ...Object.fromEntries(PLAN_FLAGS.map((f) => [f, { type: "string" as const }])),
    },
    args: [2, 3],
    async run(ctx) {
      const s = await ctx.session();
      const [what, ...args] = ctx.positionals as [string, ...string[]];
      const planFlags = Object.fromEntries(PLAN_FLAGS.map((f) => [f, str(ctx, f)])) as PlanFlags;
      const { actions, description: auto } = await actionsFor(s, what, args, planFlags);
      const me = (await s.signer()).account.address;
      // Bound to the proposer with a random reference: nobody can copy it from the mempool or
      // pre-burn its id (see bindToProposer).
      const description = bindToProposer(str(ctx, "description") ?? auto, me);
      const p = proposalOf(actions, description);
      const { governor, token } = conclaveContracts(s.record, s.publicClient);
      const threshold = await governor.read.proposalThreshold();
      if (threshold > 0n) {
        // propose() counts the votes of the second before its block: those of the latest block at least.
        const votes = await token.read.getVotes([me]);
        if (votes < threshold)
          throw new RequestError(
            `${me} has ${tokens(votes.toString())} votes, proposing needs ${tokens(threshold.toString())} (delegate first: conclave dao delegate)`,
          );
        const latest = await s.publicClient.getBlock({ blockTag: "latest" });
        if (s.local && (await token.read.getPastVotes([me, latest.timestamp - 1n])) < threshold) {
          // Delegated in the latest second: the governor counts votes from the second after.
          ctx.out.note("local chain: fast-forwarding 1 s so that the votes delegated just now count");
          await fastForward(s.publicClient as never, 1);
        }
      }
      const receipt = await sendTx(s, "proposing", {
        address: governor.address,
        abi: governor.abi,
        functionName: "propose",
        args: [p.targets, p.values, p.calldatas, p.description],
      });
      const [created] = parseEventLogs({ abi: governor.abi, logs: receipt.logs, eventName: "ProposalCreated" });
      const id = (created!.args as { proposalId: bigint }).proposalId;
      const info = await summary(s, {
        ...p,
        id,
        proposer: me,
        voteStart: (created!.args as { voteStart: bigint }).voteStart,
        voteEnd: (created!.args as { voteEnd: bigint }).voteEnd,
      });
      ctx.out.result(
        info,
        () =>
          `proposal ${id}\n  ${plainDescription(description)}\n  voting from ${info.voteStart} to ${info.voteEnd}\n  next: conclave dao vote ${id} for`,
      );
    },
  },
  "dao vote": {
    summary: "vote for, against or abstain on a proposal",
    usage: `<proposalId> <for|against|abstain> [--reason <text>] [--wait]

On a local chain a proposal still in its voting delay is fast-forwarded to its start; elsewhere
--wait waits for it.`,
    options: { reason: { type: "string" }, wait: { type: "boolean" } },
    args: [2, 2],
    async run(ctx) {
      const s = await ctx.session();
      const p = await proposal(s, ctx.positionals[0]!);
      const support = SUPPORT[ctx.positionals[1] as keyof typeof SUPPORT];
      if (support === undefined)
        throw new RequestError(`vote must be for, against or abstain, got ${JSON.stringify(ctx.positionals[1])}`);
      const { governor } = conclaveContracts(s.record, s.publicClient);
      if ((await stateOf(s, p.id)) === "Pending") await reachTime(s, ctx, p.voteStart, "the start of voting");
      const state = await stateOf(s, p.id);
      if (state !== "Active")
        throw new RequestError(`proposal ${p.id} is ${state}: votes are taken only while it is Active`);
      const me = (await s.signer()).account.address;
      if (await governor.read.hasVoted([p.id, me])) throw new RequestError(`${me} already voted on proposal ${p.id}`);
      const power = await governor.read.getVotes([me, p.voteStart]);
      if (power === 0n)
        throw new RequestError(
          `${me} had no voting power when proposal ${p.id} was made (delegate first: conclave dao delegate)`,
        );
      await sendTx(s, `voting ${ctx.positionals[1]} with ${tokens(power.toString())} votes`, {
        address: governor.address,
        abi: governor.abi,
        functionName: "castVoteWithReason",
        args: [p.id, support, str(ctx, "reason") ?? ""],
      });
      const info = await summary(s, p);
      ctx.out.result(
        { ...info, voter: me, weight: power.toString(), support: ctx.positionals[1] },
        () =>
          `voted ${ctx.positionals[1]} on ${p.id}: for ${tokens(info.votes.for)}, against ${tokens(info.votes.against)}, abstain ${tokens(info.votes.abstain)} (quorum ${tokens(info.quorum)})`,
      );
    },
  },
  "dao queue": {
    summary: "queue a succeeded proposal in the timelock",
    usage: `<proposalId> [--wait]

On a local chain an Active proposal is fast-forwarded to the end of its voting period first.`,
    options: { wait: { type: "boolean" } },
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const p = await proposal(s, ctx.positionals[0]!);
      if (["Pending", "Active"].includes(await stateOf(s, p.id)))
        await reachTime(s, ctx, p.voteEnd, "the end of voting");
      const state = await stateOf(s, p.id);
      if (state !== "Succeeded") {
        const info = await summary(s, p);
        throw new RequestError(
          `proposal ${p.id} is ${state}, not Succeeded (for ${tokens(info.votes.for)}, against ${tokens(info.votes.against)}, quorum ${tokens(info.quorum)}): it cannot be queued`,
        );
      }
      const info = await governorStep(s, p, "queue");
      ctx.out.result(info, () => `proposal ${p.id} queued; executable from ${info.eta}`);
    },
  },
  "dao execute": {
    summary: "execute a queued proposal once its timelock delay passed",
    usage: `<proposalId> [--wait]

On a local chain the timelock delay is fast-forwarded.`,
    options: { wait: { type: "boolean" } },
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const p = await proposal(s, ctx.positionals[0]!);
      const { governor } = conclaveContracts(s.record, s.publicClient);
      const state = await stateOf(s, p.id);
      if (state !== "Queued")
        throw new RequestError(
          `proposal ${p.id} is ${state}, not Queued: ${state === "Succeeded" ? "queue it first (conclave dao queue)" : "it cannot be executed"}`,
        );
      await reachTime(s, ctx, await governor.read.proposalEta([p.id]), "the end of the timelock delay");
      const info = await governorStep(s, p, "execute");
      ctx.out.result(
        info,
        () => `proposal ${p.id} executed:\n${info.actions.map((a) => `  ${a.contract}.${a.call}`).join("\n")}`,
      );
    },
  },
  "dao status": {
    summary: "a proposal's state, votes, deadlines and actions",
    usage: "<proposalId>",
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const info = await summary(s, await proposal(s, ctx.positionals[0]!));
      ctx.out.result(info, () =>
        [
          `proposal ${info.id}: ${info.state}`,
          `  ${plainDescription(info.description)} (by ${info.proposer})`,
          `  votes: for ${tokens(info.votes.for)}, against ${tokens(info.votes.against)}, abstain ${tokens(info.votes.abstain)} (quorum ${tokens(info.quorum)})`,
          `  voting ${info.voteStart} → ${info.voteEnd}${info.eta ? `; executable from ${info.eta}` : ""}`,
          ...info.actions.map((a) => `  action: ${a.contract ?? a.target}.${a.call}`),
        ].join("\n"),
      );
    },
  },
  "dao list": {
    summary: "every proposal with its state",
    usage: "",
    async run(ctx) {
      const s = await ctx.session();
      const list = await Promise.all(
        (await allProposals(s)).map(async (p) => ({
          id: p.id.toString(),
          state: await stateOf(s, p.id),
          description: p.description,
        })),
      );
      ctx.out.result({ proposals: list }, () =>
        list.length
          ? list.map((p) => `${p.state.padEnd(9)} ${p.id}  ${plainDescription(p.description)}`).join("\n")
          : "(no proposals)",
      );
    },
  },
  "dao veto": {
    summary: "cancel a queued proposal before it runs (the guardian only)",
    usage: `<proposalId>

The guardian cancels a proposal queued in the timelock, before its delay ends. Sign as the
guardian. A proposal that only replaces the guardian or changes guardian or canceller roles cannot
be vetoed: the guardian cannot block its own replacement.`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const p = await proposal(s, ctx.positionals[0]!);
      const { governor, timelock, veto } = conclaveContracts(s.record, s.publicClient);
      if (!veto)
        throw new RequestError(`deployment for chain ${s.record.chainId} has no GuardianVeto: nobody can veto there`);
      const state = await stateOf(s, p.id);
      if (state !== "Queued")
        throw new RequestError(`proposal ${p.id} is ${state}, not Queued: only a queued proposal can be vetoed`);
      const me = (await s.signer()).account.address;
      const guardian = await veto.read.guardian();
      if (guardian === zeroAddress)
        throw new RequestError(
          "there is no guardian: nobody can veto until the DAO appoints one (GuardianVeto.setGuardian)",
        );
      if (guardian.toLowerCase() !== me.toLowerCase())
        throw new RequestError(`${me} is not the guardian (${guardian}): only the guardian can veto`);
      const full = asProposal(p);
      const [isProtected] = await veto.read.protectedCall([full.targets, full.values, full.calldatas]);
      if (isProtected)
        throw new RequestError(
          `proposal ${p.id} only changes the guardian or guardian/canceller roles: the guardian cannot veto it`,
        );
      const salt = timelockSalt(governor.address, full.descriptionHash);
      const operationId = await timelock.read.hashOperationBatch([
        full.targets,
        full.values,
        full.calldatas,
        zeroHash,
        salt,
      ]);
      await sendTx(s, "vetoing", {
        address: veto.address,
        abi: veto.abi,
        functionName: "veto",
        args: [full.targets, full.values, full.calldatas, zeroHash, salt],
      });
      const info = await summary(s, p);
      ctx.out.result(
        { ...info, operationId, guardian: me },
        () => `proposal ${p.id} vetoed by the guardian: ${info.state}\n  ${plainDescription(info.description)}`,
      );
    },
  },
  "dao delegate": {
    summary: "delegate your governance tokens' votes (to yourself by default)",
    usage: "[<address>]",
    args: [0, 1],
    async run(ctx) {
      const s = await ctx.session();
      const me = (await s.signer()).account.address;
      const to = ctx.positionals[0] ? getAddress(address("delegatee", ctx.positionals[0])) : me;
      const { token } = conclaveContracts(s.record, s.publicClient);
      await sendTx(s, `delegating to ${to}`, {
        address: token.address,
        abi: token.abi,
        functionName: "delegate",
        args: [to],
      });
      const votes = await token.read.getVotes([to]);
      ctx.out.result(
        { delegator: me, delegatee: to, votes: votes.toString() },
        () => `${to} now has ${tokens(votes.toString())} votes`,
      );
    },
  },
};
