import { erc20Abi, getAddress, hexToString, stringToHex, type Address } from "viem";
import { chainNow } from "../../chain/clock.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import {
  address,
  amount,
  formatToken,
  integer,
  RequestError,
  required,
  str,
  tokenInfo,
  type Command,
} from "../command.ts";
import type { Session } from "../session.ts";
import { formatTags, parseTags, TAG_USAGE, tagNames } from "../tags.ts";
import { sendTx } from "../tx.ts";
import { PROVIDER_STATUS, ProviderStatus } from "../../chain/statuses.ts";

async function providerView(s: Session, who: Address) {
  const { providers, court } = conclaveContracts(s.record, s.publicClient);
  const p = await providers.read.getProvider([who]);
  const [eligible] = await providers.read.providerTerms([who]);
  const held = (await court.read.providerCollateral([who]))[5];
  const text = (b: `0x${string}`) => hexToString(b, { size: 32 }).replace(/\0+$/, "");
  return {
    address: who,
    status: PROVIDER_STATUS[p.status]!,
    eligible,
    stake: p.stake.toString(),
    locked: p.locked.toString(),
    heldFree: held.toString(),
    unbondingEndsAt: p.unbondingEndsAt === 0 ? null : new Date(p.unbondingEndsAt * 1000).toISOString(),
    frozenUntil: (await providers.read.isFrozen([who])) ? new Date(p.frozenUntil * 1000).toISOString() : null,
    memoryMB: p.memoryMB,
    tags: p.tags.toString(),
    tagNames: tagNames(p.tags),
    grantedTags: p.grantedTags.toString(),
    grantedTagNames: tagNames(p.grantedTags),
    accelerator: text(p.accelerator),
    region: text(p.region),
    metadataURI: p.metadataURI,
    disagreed: Number(p.disagreed),
    missed: Number(p.missed),
  };
}

async function stakeToken(s: Session) {
  const { providers } = conclaveContracts(s.record, s.publicClient);
  return tokenInfo(s, await providers.read.stakeToken());
}

export const providerCommands: Record<string, Command> = {
  "provider register": {
    summary: "stake and register as a compute provider (the DAO then votes you in)",
    usage: `--stake <tokens> [--memory <MB>] [--tags <tags>] [--accelerator <name>] [--region <name>] [--metadata <uri>]

Approves and stakes governance tokens in the ProviderRegistry and registers your capabilities.
Unless the registry admits automatically, you are Pending until a DAO vote approves you
(conclave dao propose approve-provider <address>). No stake tokens yet? A holder sends them with
conclave token transfer <address> <amount>; on the local network: conclave faucet <address>.
--tags: the capabilities you declare (default cpu); the DAO grants those it vouches for.
  ${TAG_USAGE}`,
    options: {
      stake: { type: "string" },
      memory: { type: "string" },
      tags: { type: "string" },
      accelerator: { type: "string" },
      region: { type: "string" },
      metadata: { type: "string" },
    },
    async run(ctx) {
      const s = await ctx.session();
      const me = (await s.signer()).account.address;
      const { providers } = conclaveContracts(s.record, s.publicClient);
      const token = await stakeToken(s);
      const stake = amount("--stake", required(ctx, "stake"), token.decimals);
      const min = await providers.read.minStake();
      if (stake < min)
        throw new RequestError(
          `--stake ${formatToken(stake, token)} is below the minimum stake of ${formatToken(min, token)}`,
        );
      const existing = await providers.read.getProvider([me]);
      if (existing.status !== ProviderStatus.None && existing.status !== ProviderStatus.Exited)
        throw new RequestError(`${me} is already registered (${PROVIDER_STATUS[existing.status]})`);
      const erc20 = { address: token.address, abi: erc20Abi } as const;
      const balance = await s.publicClient.readContract({ ...erc20, functionName: "balanceOf", args: [me] });
      if (balance < stake)
        throw new RequestError(
          `not enough funds: staking ${formatToken(stake, token)}, ${me} holds ${formatToken(balance, token)}${s.local ? ` (local network: conclave faucet ${me})` : ` (a holder can send them: conclave token transfer ${me} <amount>)`}`,
        );
      const label = (v: string | undefined, d: string) => {
        const t = v ?? d;
        if (new TextEncoder().encode(t).length > 32) throw new RequestError(`"${t}" is longer than 32 bytes`);
        return stringToHex(t, { size: 32 });
      };
      const caps = {
        memoryMB: integer("--memory", str(ctx, "memory") ?? "8192", 1, 2 ** 32 - 1),
        accelerator: label(str(ctx, "accelerator"), "cpu"),
        region: label(str(ctx, "region"), "unknown"),
        tags: parseTags("--tags", str(ctx, "tags") ?? "cpu"),
      };
      if (
        (await s.publicClient.readContract({ ...erc20, functionName: "allowance", args: [me, providers.address] })) <
        stake
      ) {
        await sendTx(s, `approving ${formatToken(stake, token)} for the registry`, {
          ...erc20,
          functionName: "approve",
          args: [providers.address, stake],
        });
      }
      await sendTx(s, `registering with ${formatToken(stake, token)} staked`, {
        address: providers.address,
        abi: providers.abi,
        functionName: "register",
        args: [stake, caps, str(ctx, "metadata") ?? ""],
      });
      const view = await providerView(s, me);
      ctx.out.result(
        view,
        () =>
          `registered ${me} with tags ${formatTags(caps.tags)}: ${view.status}${view.status === "Pending" ? ` — ask the DAO: conclave dao propose approve-provider ${me}` : ""}`,
      );
    },
  },
  "provider status": {
    summary: "a provider's status, stake and record",
    usage: "[<address>]   (default: your own)",
    args: [0, 1],
    async run(ctx) {
      const s = await ctx.session();
      const who = ctx.positionals[0]
        ? getAddress(address("provider", ctx.positionals[0]))
        : (await s.signer()).account.address;
      const view = await providerView(s, who);
      if (view.status === "None") throw new RequestError(`${who} is not a registered provider`);
      const token = await stakeToken(s);
      ctx.out.result(view, () =>
        [
          `${who}: ${view.status}${view.eligible ? " (taking jobs)" : " (not taking jobs)"}`,
          `  stake ${formatToken(BigInt(view.stake), token)}, allocated to the market ${formatToken(BigInt(view.locked), token)} (${formatToken(BigInt(view.heldFree), token)} of it free for new jobs)${view.unbondingEndsAt ? `, unbonding until ${view.unbondingEndsAt}` : ""}`,
          ...(view.frozenUntil
            ? [`  FROZEN by the guardian until ${view.frozenUntil}: no new jobs, no withdrawal`]
            : []),
          `  ${view.memoryMB} MB, ${view.accelerator}, ${view.region}, tags declared ${formatTags(BigInt(view.tags))}, granted by the DAO ${formatTags(BigInt(view.grantedTags))}`,
          `  faults: disagreed ${view.disagreed}, missed ${view.missed}`,
        ].join("\n"),
      );
    },
  },
  "provider exit": {
    summary: "stop taking jobs and start the unbonding period",
    usage: "",
    async run(ctx) {
      const s = await ctx.session();
      const me = (await s.signer()).account.address;
      const { providers } = conclaveContracts(s.record, s.publicClient);
      await sendTx(s, "requesting exit", {
        address: providers.address,
        abi: providers.abi,
        functionName: "requestExit",
      });
      const view = await providerView(s, me);
      ctx.out.result(
        view,
        () => `exit requested: stake can be withdrawn from ${view.unbondingEndsAt} (conclave provider withdraw)`,
      );
    },
  },
  "provider deallocate": {
    summary: "take back stake the market holds free for you (for another market, or to withdraw later)",
    usage: `[<tokens>] [--market <address>]

The market allocates your free stake to itself at your first job and locks each job's collateral
from it; what no open job holds stays "free" there. This gives it back to your free stake in the
ProviderRegistry: all of it, or <tokens>. --market: a market other than this network's (one that
was wound down, say). Not while you are frozen. Exiting needs none of this: conclave provider
withdraw takes back what the markets hold free.`,
    args: [0, 1],
    options: { market: { type: "string" } },
    async run(ctx) {
      const s = await ctx.session();
      const me = (await s.signer()).account.address;
      const { providers, court } = conclaveContracts(s.record, s.publicClient);
      const market =
        str(ctx, "market") === undefined ? court.address : getAddress(address("--market", str(ctx, "market")!));
      const held = await providers.read.allocationOf([me, market]);
      const [, , , , , free] = await s.publicClient.readContract({
        address: market,
        abi: court.abi,
        functionName: "providerCollateral",
        args: [me],
      });
      const want = ctx.positionals[0] === undefined ? free : amount("<tokens>", ctx.positionals[0], 18);
      if (want === 0n) throw new RequestError(`the market ${market} holds nothing free for ${me}`);
      if (want > free)
        throw new RequestError(`the market ${market} holds ${free} units free for ${me}, fewer than ${want}`);
      await sendTx(s, "deallocating", {
        address: providers.address,
        abi: providers.abi,
        functionName: "deallocate",
        args: [market, want],
      });
      const token = await stakeToken(s);
      ctx.out.result(
        { address: me, market, deallocated: want.toString(), stillAllocated: (held - want).toString() },
        () =>
          `${formatToken(want, token)} back in your free stake; ${formatToken(held - want, token)} still allocated to ${market}`,
      );
    },
  },
  "provider withdraw": {
    summary: "withdraw your stake after the unbonding period",
    usage: "",
    async run(ctx) {
      const s = await ctx.session();
      const me = (await s.signer()).account.address;
      const { providers, court } = conclaveContracts(s.record, s.publicClient);
      const before = await providers.read.getProvider([me]);
      // What the market holds free goes back at withdrawal; what its open seats hold does not.
      const inSeats = before.locked - (await court.read.providerCollateral([me]))[5];
      if (before.unbondingEndsAt === 0)
        throw new RequestError(`${me} has not requested an exit (conclave provider exit)`);
      const now = await chainNow(s.publicClient);
      if (BigInt(before.unbondingEndsAt) > now)
        throw new RequestError(
          `unbonding ends at ${new Date(before.unbondingEndsAt * 1000).toISOString()}, ${BigInt(before.unbondingEndsAt) - now} s from now`,
        );
      if (inSeats > 0n)
        throw new RequestError(`collateral is still locked by open jobs (${inSeats} units): withdraw once they end`);
      if (BigInt(before.frozenUntil) > now)
        throw new RequestError(
          `${me} is frozen by the guardian until ${new Date(before.frozenUntil * 1000).toISOString()}: no withdrawal before then`,
        );
      await sendTx(s, "withdrawing stake", {
        address: providers.address,
        abi: providers.abi,
        functionName: "withdrawStake",
      });
      const token = await stakeToken(s);
      ctx.out.result(
        { address: me, withdrawn: before.stake.toString() },
        () => `withdrew ${formatToken(before.stake, token)}`,
      );
    },
  },
};
