import { logsToHead } from "../../chain/logs.ts";
import {
  decodeFunctionData,
  encodeFunctionData,
  formatUnits,
  getAddress,
  parseEventLogs,
  zeroAddress,
  zeroHash,
  type Abi,
  type Address,
  type Hex,
} from "viem";
import { loadArtifact, marketAbiWithCourt, type ContractName } from "../../chain/artifacts.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import {
  bindToProposer,
  fastForward,
  plainDescription,
  PROPOSAL_STATES,
  proposalOf,
  timelockSalt,
  type Action,
} from "../../dao/proposals.ts";
import {
  address,
  amount,
  integer,
  RequestError,
  resolveModel,
  resolveModelName,
  str,
  tokenInfo,
  type Command,
  type CommandContext,
} from "../command.ts";
import type { Session } from "../session.ts";
import { formatTags, parseTags, TAG_USAGE } from "../tags.ts";
import { sendTx } from "../tx.ts";
import { PLAN_FLAGS, planFromFlags, type PlanFlags } from "../rollout-plan.ts";
import { bpsText } from "../../rollouts/rules.ts";
import { jsonStringify } from "../../json-stringify.ts";
import { ProviderStatus, ROLLOUT_STATUS, VERSION_STATUS, VersionStatus } from "../../chain/statuses.ts";

const SUPPORT = { against: 0, for: 1, abstain: 2 } as const;

/** Market policy fields and registry parameters a proposal can set, with how to read the value. */
const POLICY_KEYS = [
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
/** Challenge policy fields (k = 1 deliveries), set on the market's address (served by its court). */
const CHALLENGE_KEYS = ["challengeWindow", "jurySize", "juryFee", "challengerShareBps"] as const;
const REGISTRY_KEYS = ["minStake", "unbondingPeriod", "freezePeriod", "deprecationPeriod"] as const;
const SETTABLE_KEYS = [...POLICY_KEYS, ...CHALLENGE_KEYS, ...REGISTRY_KEYS];

/** An action on a deployed contract; the court's functions are called on the market's address. */
function call(s: Session, contract: ContractName, functionName: string, args: readonly unknown[]): Action {
  const at: ContractName = contract === "InferenceMarketCourt" ? "InferenceMarket" : contract;
  return {
    target: s.record.contracts[at]!.address,
    data: encodeFunctionData({ abi: loadArtifact(contract).abi as Abi, functionName, args }),
  };
}

/** The actions and a default description of `dao propose <what> ...`. */
async function actionsFor(
  s: Session,
  what: string,
  args: string[],
  planFlags: PlanFlags = {},
): Promise<{ actions: Action[]; description: string }> {
  const given = PLAN_FLAGS.filter((f) => planFlags[f] !== undefined);
  if (what !== "start-rollout" && given.length > 0)
    throw new RequestError(`${given.map((f) => `--${f}`).join(", ")} only go with dao propose start-rollout`);
  const need = (n: number, usage: string) => {
    if (args.length !== n) throw new RequestError(`dao propose ${what} takes ${usage}`);
  };
  switch (what) {
    case "activate":
    case "rollback":
    case "retire": {
      need(2, "<model> <version>");
      const m = await resolveModel(s, args[0]!, integer("version", args[1]!, 1));
      const status = VERSION_STATUS[m.info.status];
      if (what === "activate" && m.info.status === VersionStatus.Active)
        throw new RequestError(`${m.name} v${m.version} is already active`);
      if (what === "retire" && m.info.status === VersionStatus.Retired)
        throw new RequestError(`${m.name} v${m.version} is already retired`);
      if (
        what === "rollback" &&
        !(
          m.version < m.activeVersion &&
          (m.info.status === VersionStatus.Deprecated || m.info.status === VersionStatus.Published)
        )
      ) {
        throw new RequestError(
          `rollback needs an earlier, not retired version than the active v${m.activeVersion || "-"}; v${m.version} is ${status}`,
        );
      }
      const fn = what === "retire" ? "retireVersion" : "activateVersion";
      return {
        actions: [call(s, "ModelRegistry", fn, [m.modelId, m.version])],
        description: `${what === "rollback" ? "Roll back" : what[0]!.toUpperCase() + what.slice(1)} ${m.name} v${m.version}`,
      };
    }
    case "start-rollout": {
      need(
        2,
        "<model> <candidateVersion> --canary <percent> --min-duration <e.g. 1h> --promote-after <jobs> --abort-after <jobs> --max-disputed <percent> --max-failed <percent>",
      );
      const m = await resolveModel(s, args[0]!, integer("candidate version", args[1]!, 1));
      const plan = planFromFlags(m.version, planFlags);
      if (m.activeVersion === 0)
        throw new RequestError(
          `${m.name} has no active version: a rollout needs one to share requests with (activate one first)`,
        );
      if (m.info.status !== VersionStatus.Published)
        throw new RequestError(
          `${m.name} v${m.version} is ${VERSION_STATUS[m.info.status]}: only a Published version can be rolled out`,
        );
      const [rollout] = await conclaveContracts(s.record, s.publicClient).models.read.rolloutOf([m.modelId]);
      if (ROLLOUT_STATUS[rollout.status] === "Running")
        throw new RequestError(
          `${m.name} already has a running rollout of v${rollout.plan.candidate}: promote or abort it first (conclave rollout status ${m.name})`,
        );
      return {
        actions: [call(s, "ModelRegistry", "startRollout", [m.modelId, plan])],
        description: `Roll out ${m.name} v${m.version} (active v${m.activeVersion}): canary ${bpsText(plan.canaryBps)} for at least ${plan.minDuration} s; promote after ${plan.promoteAfterJobs} jobs, abort rule from ${plan.abortAfterJobs} jobs; max disputed ${bpsText(plan.maxDisputedBps)}, max failed ${bpsText(plan.maxFailedBps)}`,
      };
    }
    case "approve-provider":
    case "grant-tags": {
      if (what === "approve-provider" ? args.length < 1 || args.length > 2 : args.length !== 2)
        throw new RequestError(
          `dao propose ${what} takes ${what === "approve-provider" ? "<address> [<tags>]" : "<address> <tags>"}`,
        );
      const who = getAddress(address("provider", args[0]!));
      const p = await conclaveContracts(s.record, s.publicClient).providers.read.getProvider([who]);
      if (p.status === ProviderStatus.None || p.status === ProviderStatus.Exited)
        throw new RequestError(`${who} is not a registered provider`);
      // The vote names the tags explicitly: a declaration changed during the vote grants nothing.
      const tags = args[1] === undefined ? p.tags : parseTags("tags", args[1]);
      if (what === "grant-tags")
        return {
          actions: [call(s, "ProviderRegistry", "setGrantedTags", [who, tags])],
          description: `Grant provider ${who} tags ${formatTags(tags)} (${tags})`,
        };
      return {
        actions: [call(s, "ProviderRegistry", "approveProvider", [who, tags])],
        description: `Approve provider ${who} with tags ${formatTags(tags)} (${tags})`,
      };
    }
    case "suspend-provider": {
      need(1, "<address>");
      const who = getAddress(address("provider", args[0]!));
      const p = await conclaveContracts(s.record, s.publicClient).providers.read.getProvider([who]);
      if (p.status === ProviderStatus.None) throw new RequestError(`${who} is not a registered provider`);
      return {
        actions: [call(s, "ProviderRegistry", "suspendProvider", [who])],
        description: `Suspend provider ${who}`,
      };
    }
    case "unfreeze": {
      need(1, "<provider>");
      const who = getAddress(address("provider", args[0]!));
      const { providers } = conclaveContracts(s.record, s.publicClient);
      const p = await providers.read.getProvider([who]);
      if (p.status === ProviderStatus.None || p.status === ProviderStatus.Exited)
        throw new RequestError(`${who} is not a registered provider`);
      if (!(await providers.read.isFrozen([who]))) throw new RequestError(`${who} is not frozen`);
      return { actions: [call(s, "ProviderRegistry", "unfreeze", [who])], description: `Unfreeze provider ${who}` };
    }
    case "wind-down-market": {
      if (args.length > 1) throw new RequestError(`dao propose ${what} takes [<new market address>]`);
      const { court, providers } = conclaveContracts(s.record, s.publicClient);
      if (await court.read.woundDown()) throw new RequestError("the market is already wound down");
      // windDown retires the market in the registry too (RETIRED_MARKET_ROLE: it still settles
      // the seats it opened, locks nothing new); its jobs run to their end, Open ones are refunded.
      const actions = [call(s, "InferenceMarketCourt", "windDown", [])];
      let description = `Wind down the market ${s.record.contracts.InferenceMarket!.address}`;
      if (args[0] !== undefined) {
        const next = getAddress(address("new market", args[0]));
        actions.push(call(s, "ProviderRegistry", "grantRole", [await providers.read.MARKET_ROLE(), next]));
        description += ` and give MARKET_ROLE to ${next}`;
      }
      return { actions, description };
    }
    case "set-model-owner": {
      need(2, "<model> <address>");
      const m = await resolveModelName(s, args[0]!);
      const to = getAddress(address("owner", args[1]!));
      if (m.owner === to) throw new RequestError(`${to} already owns model ${m.name}`);
      return {
        actions: [call(s, "ModelRegistry", "setModelOwner", [m.modelId, to])],
        description: `Set the owner of model ${m.name} to ${to}`,
      };
    }
    case "set-policy": {
      need(2, `<key> <value> (keys: ${SETTABLE_KEYS.join(", ")})`);
      const [key, raw] = args as [string, string];
      if ((POLICY_KEYS as readonly string[]).includes(key)) {
        const policy = { ...(await conclaveContracts(s.record, s.publicClient).market.read.policy()) } as Record<
          string,
          unknown
        >;
        policy[key] = key === "collateralPerJob" ? amount(key, raw, 18) : integer(key, raw);
        return {
          actions: [call(s, "InferenceMarketCourt", "setPolicy", [policy])],
          description: `Set market policy ${key} to ${raw}`,
        };
      }
      if ((CHALLENGE_KEYS as readonly string[]).includes(key)) {
        const policy = {
          ...(await conclaveContracts(s.record, s.publicClient).court.read.challengePolicy()),
        } as Record<string, unknown>;
        policy[key] = key === "juryFee" ? amount(key, raw, 18) : integer(key, raw);
        return {
          actions: [call(s, "InferenceMarketCourt", "setChallengePolicy", [policy])],
          description: `Set challenge policy ${key} to ${raw}`,
        };
      }
      if (key === "minStake")
        return {
          actions: [call(s, "ProviderRegistry", "setMinStake", [amount(key, raw, 18)])],
          description: `Set provider minimum stake to ${raw}`,
        };
      if (key === "unbondingPeriod" || key === "freezePeriod") {
        const seconds = integer(key, raw, 0, 180 * 86_400);
        // Both must outlast a vote: the registry refuses less than the governance delay.
        const delay = await conclaveContracts(s.record, s.publicClient).providers.read.governanceDelay();
        if (BigInt(seconds) < delay)
          throw new RequestError(
            `${key} ${seconds} s is below the governance delay of ${delay} s (voting delay + voting period + timelock delay): the registry would refuse it`,
          );
        const fn = key === "unbondingPeriod" ? "setUnbondingPeriod" : "setFreezePeriod";
        return {
          actions: [call(s, "ProviderRegistry", fn, [seconds])],
          description: `Set ${key === "unbondingPeriod" ? "unbonding" : "freeze"} period to ${raw} s`,
        };
      }
      if (key === "deprecationPeriod")
        return {
          actions: [call(s, "ModelRegistry", "setDeprecationPeriod", [integer(key, raw)])],
          description: `Set deprecation period to ${raw} s`,
        };
      throw new RequestError(`unknown policy key ${key}; known: ${SETTABLE_KEYS.join(", ")}`);
    }
    case "allow-token": {
      need(2, "<token> <rate> (whole tokens worth 1 ETH)");
      const t = await tokenInfo(s, address("token", args[0]!));
      // Whole tokens per ETH, like every CLI amount; the market stores base units per 10^18 wei.
      const rate = amount("rate", args[1]!, t.decimals);
      if (rate === 0n || rate >= 2n ** 128n)
        throw new RequestError(`rate must be above 0 and below 2^128 base units, got ${args[1]} ${t.symbol}`);
      return {
        actions: [call(s, "InferenceMarketCourt", "setTokenAllowed", [t.address, true, rate])],
        description: `Allow payment in ${t.symbol} (${t.address}) at ${args[1]} ${t.symbol} per ETH`,
      };
    }
    case "disallow-token": {
      need(1, "<token>");
      const t = await tokenInfo(s, address("token", args[0]!));
      if (!(await conclaveContracts(s.record, s.publicClient).market.read.isTokenAllowed([t.address])))
        throw new RequestError(`${t.symbol} (${t.address}) is not a payment token`);
      return {
        actions: [call(s, "InferenceMarketCourt", "setTokenAllowed", [t.address, false, 0n])],
        description: `Disallow payment in ${t.symbol} (${t.address})`,
      };
    }
    default:
      throw new RequestError(
        `unknown proposal kind ${JSON.stringify(what)}: activate, retire, rollback, start-rollout, approve-provider, grant-tags, suspend-provider, unfreeze, set-model-owner, set-policy, allow-token or disallow-token`,
      );
  }
}

interface ProposalInfo {
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
const asProposal = (p: ProposalInfo) =>
  proposalOf(
    p.targets.map((t, i) => ({ target: t, value: p.values[i]!, data: p.calldatas[i]! })),
    p.description,
  );

async function allProposals(s: Session): Promise<ProposalInfo[]> {
  const { governor } = conclaveContracts(s.record, s.publicClient);
  const logs = await logsToHead(
    s.publicClient,
    BigInt(s.record.contracts.ConclaveGovernor!.block),
    (fromBlock, toBlock) =>
      s.publicClient.getContractEvents({
        address: governor.address,
        abi: governor.abi,
        eventName: "ProposalCreated",
        fromBlock,
        toBlock,
      }),
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

async function proposal(s: Session, idText: string): Promise<ProposalInfo> {
  if (!/^\d+$/.test(idText))
    throw new RequestError(`proposal id must be a decimal number, got ${JSON.stringify(idText)}`);
  const found = (await allProposals(s)).find((p) => p.id === BigInt(idText));
  if (!found) throw new RequestError(`no proposal ${idText} on this governor`);
  return found;
}

async function stateOf(s: Session, id: bigint) {
  return PROPOSAL_STATES[await conclaveContracts(s.record, s.publicClient).governor.read.state([id])]!;
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

async function summary(s: Session, p: ProposalInfo) {
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
                                    the new market in the same proposal`,
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
      const { governor } = conclaveContracts(s.record, s.publicClient);
      const full = asProposal(p);
      await sendTx(s, "queueing", {
        address: governor.address,
        abi: governor.abi,
        functionName: "queue",
        args: [full.targets, full.values, full.calldatas, full.descriptionHash],
      });
      const info = await summary(s, p);
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
      const full = asProposal(p);
      await sendTx(s, "executing", {
        address: governor.address,
        abi: governor.abi,
        functionName: "execute",
        args: [full.targets, full.values, full.calldatas, full.descriptionHash],
      });
      const info = await summary(s, p);
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
