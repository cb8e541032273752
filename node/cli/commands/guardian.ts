import { getAddress } from "viem";
import { chainNow } from "../../chain/clock.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import { ROLES } from "../../deploy/roles.ts";
import { address, RequestError, type Command } from "../command.ts";
import { sendTx } from "../tx.ts";
import { ProviderStatus } from "../../chain/statuses.ts";

const iso = (t: number | bigint) => new Date(Number(t) * 1000).toISOString();

export const guardianCommands: Record<string, Command> = {
  "guardian freeze": {
    summary: "freeze a provider while the DAO votes on it: no new jobs, no withdrawal (the guardian only)",
    usage: `<provider>

The guardian freezes a provider for the registry's freeze period (at least the governance delay,
so a slash proposal can execute before it ends): the provider takes no new work (no k = 1
delivery, commit, challenge or jury seat) and cannot withdraw its stake; its open jobs still end
and pay it. The guardian cannot extend a running freeze, nor freeze the same provider again
until one freeze period after the last one ended; the DAO can (conclave dao propose unfreeze
<provider> lifts it). Sign as the guardian.`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const who = getAddress(address("provider", ctx.positionals[0]!));
      const { providers } = conclaveContracts(s.record, s.publicClient);
      const me = (await s.signer()).account.address;
      if (!(await providers.read.hasRole([ROLES.GUARDIAN_ROLE, me])))
        throw new RequestError(
          `${me} is not the guardian of the provider registry: only the guardian (or a DAO vote) freezes`,
        );
      const p = await providers.read.getProvider([who]);
      if (p.status === ProviderStatus.None || p.status === ProviderStatus.Exited)
        throw new RequestError(`${who} is not a registered provider`);
      const [freezePeriod, delay] = await Promise.all([
        providers.read.freezePeriod(),
        providers.read.governanceDelay(),
      ]);
      const period = BigInt(freezePeriod) > delay ? BigInt(freezePeriod) : delay;
      if (period === 0n)
        throw new RequestError(
          "the registry has no freeze period: the DAO sets one first (conclave dao propose set-policy freezePeriod <s>)",
        );
      const now = await chainNow(s.publicClient);
      const until = BigInt(p.frozenUntil);
      if (now < until)
        throw new RequestError(`${who} is already frozen until ${iso(until)}: the guardian cannot extend a freeze`);
      if (until !== 0n && now < until + period)
        throw new RequestError(
          `${who} was frozen until ${iso(until)}: the guardian may freeze it again from ${iso(until + period)}`,
        );
      await sendTx(s, `freezing ${who}`, {
        address: providers.address,
        abi: providers.abi,
        functionName: "freeze",
        args: [who],
      });
      const frozenUntil = (await providers.read.getProvider([who])).frozenUntil;
      ctx.out.result(
        { provider: who, frozenUntil: iso(frozenUntil), guardian: me },
        () => `${who} frozen until ${iso(frozenUntil)}: no new jobs, no withdrawal; its open jobs still end`,
      );
    },
  },
};
