/**
 * What each `conclave dao propose <kind>` proposes: the calls (on the deployed contracts) and a
 * default description, checked against the chain first so a proposal that could only fail is
 * refused before anyone votes on it.
 */
import { encodeFunctionData, getAddress, type Abi, type Address, type Hex } from "viem";
import { loadArtifact, type ContractName } from "../chain/artifacts.ts";
import { eventsToHead } from "../chain/events.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import { ProviderStatus, ROLLOUT_STATUS, VERSION_STATUS, VersionStatus } from "../chain/statuses.ts";
import type { Action } from "../dao/proposals.ts";
import { CHALLENGE_POLICY, MARKET_POLICY } from "../deploy/stack.ts";
import { bpsText } from "../rollouts/rules.ts";
import { address, amount, integer, RequestError, resolveModel, resolveModelName, tokenInfo } from "./command.ts";
import { PLAN_FLAGS, planFromFlags, type PlanFlags } from "./rollout-plan.ts";
import type { Session } from "./session.ts";
import { formatTags, parseTags } from "./tags.ts";

const REGISTRY_KEYS = ["minStake", "unbondingPeriod", "freezePeriod", "deprecationPeriod"] as const;
/** What `dao propose set-policy` sets: the market's and its court's policy fields, the registries' parameters. */
/** The ProviderRegistry's roster members, in roster order. */
async function rosterOf(s: Session): Promise<Address[]> {
  const { providers } = conclaveContracts(s.record, s.publicClient);
  const size = await providers.read.rosterSize();
  const roster: Address[] = [];
  for (let i = 0n; i < size; i++) roster.push(await providers.read.rosterAt([i]));
  return roster;
}

export const SETTABLE_KEYS = [...MARKET_POLICY, ...CHALLENGE_POLICY, ...REGISTRY_KEYS];

/** An action on a deployed contract; the court's functions are called on the market's address. */
function call(s: Session, contract: ContractName, functionName: string, args: readonly unknown[]): Action {
  const at: ContractName = contract === "InferenceMarketCourt" ? "InferenceMarket" : contract;
  return {
    target: s.record.contracts[at]!.address,
    data: encodeFunctionData({ abi: loadArtifact(contract).abi as Abi, functionName, args }),
  };
}

/** The actions and a default description of `dao propose <what> ...`. */
export async function actionsFor(
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
      const { court, providers, models } = conclaveContracts(s.record, s.publicClient);
      if (await court.read.woundDown()) throw new RequestError("the market is already wound down");
      // windDown retires the market in the registry too (RETIRED_MARKET_ROLE: it still settles
      // the seats it opened, locks nothing new); its jobs run to their end, Open ones are refunded.
      const actions = [call(s, "InferenceMarketCourt", "windDown", [])];
      let description = `Wind down the market ${s.record.contracts.InferenceMarket!.address}`;
      if (args[0] !== undefined) {
        const next = getAddress(address("new market", args[0]));
        const known = await providers.read.markets();
        if (!known.some((m) => getAddress(m) === next) && BigInt(known.length) >= (await providers.read.MAX_MARKETS()))
          throw new RequestError(
            `the ProviderRegistry already knows ${known.length} markets (at most ${await providers.read.MAX_MARKETS()}): none can be added`,
          );
        actions.push(call(s, "ProviderRegistry", "grantRole", [await providers.read.MARKET_ROLE(), next]));
        // The registry pushes each provider's terms to its active markets on every change: the
        // roster known now is pushed to the new market once (later members are pushed as they join).
        const roster = await rosterOf(s);
        if (roster.length > 0) actions.push(call(s, "ProviderRegistry", "syncProviders", [roster]));
        // A market reads the ModelRegistry's mirror that the registry pushes to its MARKET_ROLE
        // holders: the grant makes later changes reach the new market, and each model known now is
        // pushed to it once (a model published after this proposal: anyone calls syncModel).
        const mirrored = await models.read.mirroredMarkets();
        const most = await models.read.MAX_MARKETS();
        if (!mirrored.some((m) => getAddress(m) === next) && BigInt(mirrored.length) >= most)
          throw new RequestError(
            `the ModelRegistry already pushes to ${mirrored.length} markets (at most ${most}): revoke an old market's MARKET_ROLE there first`,
          );
        actions.push(call(s, "ModelRegistry", "grantRole", [await models.read.MARKET_ROLE(), next]));
        const created = await eventsToHead(
          s.publicClient,
          models,
          "ModelCreated",
          BigInt(s.record.contracts.ModelRegistry!.block),
        );
        for (const l of created) {
          const { modelId } = l.args as { modelId: Hex };
          const { versionCount } = await models.read.getModel([modelId]);
          const versions = Array.from({ length: versionCount }, (_, i) => i + 1);
          actions.push(call(s, "ModelRegistry", "syncModel", [modelId, versions]));
        }
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
      if ((MARKET_POLICY as readonly string[]).includes(key)) {
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
      if ((CHALLENGE_POLICY as readonly string[]).includes(key)) {
        const policy = {
          ...(await conclaveContracts(s.record, s.publicClient).court.read.challengePolicy()),
        } as Record<string, unknown>;
        policy[key] = key === "juryFee" ? amount(key, raw, 18) : integer(key, raw);
        return {
          actions: [call(s, "InferenceMarketCourt", "setChallengePolicy", [policy])],
          description: `Set challenge policy ${key} to ${raw}`,
        };
      }
      if (key === "minStake") {
        // Who may take seats depends on the minimum: the roster's terms are pushed to the markets again.
        const roster = await rosterOf(s);
        const actions = [call(s, "ProviderRegistry", "setMinStake", [amount(key, raw, 18)])];
        if (roster.length > 0) actions.push(call(s, "ProviderRegistry", "syncProviders", [roster]));
        return { actions, description: `Set provider minimum stake to ${raw}` };
      }
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
