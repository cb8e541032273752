import { eventsToHead } from "../../chain/events.ts";
import { getAddress, zeroAddress, type Address } from "viem";
import { conclaveContracts } from "../../chain/contracts.ts";
import { address, formatToken, RequestError, str, tokenInfo, type Command, type TokenInfo } from "../command.ts";
import type { Session } from "../session.ts";
import { sendTx } from "../tx.ts";

/**
 * ETH, every token the DAO ever allowed, and the stake token (slashed collateral is shared out in
 * it): where market balances can be.
 */
async function paymentTokens(s: Session): Promise<Address[]> {
  const { market } = conclaveContracts(s.record, s.publicClient);
  const logs = await eventsToHead(s.publicClient, market, "TokenAllowed", s.record.contracts.InferenceMarket!.block);
  return [
    ...new Set([zeroAddress, ...logs.map((l) => (l.args as { token: Address }).token), await market.read.stakeToken()]),
  ];
}

export const accountCommands: Record<string, Command> = {
  withdraw: {
    summary: "withdraw your market balance (earnings, refunds) in ETH and tokens",
    usage: `[--token <ETH|address>] [--to <address>]

Withdraws what the market credited to you: provider earnings, client refunds and shares of
slashed collateral. Without --token, every token with a balance. --to sends it to another address
(a cold wallet, or for an account that cannot receive ETH).`,
    options: { token: { type: "string" }, to: { type: "string" } },
    async run(ctx) {
      const s = await ctx.session();
      const me = (await s.signer()).account.address;
      const { market } = conclaveContracts(s.record, s.publicClient);
      const tokens: TokenInfo[] = [];
      for (const t of str(ctx, "token") !== undefined ? [str(ctx, "token")!] : await paymentTokens(s))
        tokens.push(await tokenInfo(s, t));
      const to = str(ctx, "to") === undefined ? null : getAddress(address("--to", str(ctx, "to")!));
      if (to === zeroAddress) throw new RequestError("--to must not be the zero address");
      const withdrawn: { token: string; amount: string }[] = [];
      for (const t of tokens) {
        const balance = await market.read.balanceOf([me, t.address]);
        if (balance === 0n) continue;
        const label = `withdrawing ${formatToken(balance, t)}${to ? ` to ${to}` : ""}`;
        if (to)
          await sendTx(s, label, {
            address: market.address,
            abi: market.abi,
            functionName: "withdrawTo",
            args: [t.address, to],
          });
        else
          await sendTx(s, label, {
            address: market.address,
            abi: market.abi,
            functionName: "withdraw",
            args: [t.address],
          });
        withdrawn.push({ token: t.symbol, amount: balance.toString() });
        ctx.out.note(`withdrew ${formatToken(balance, t)}`);
      }
      if (withdrawn.length === 0)
        throw new RequestError(
          `nothing to withdraw: ${me} has no market balance${tokens.length === 1 ? ` in ${tokens[0]!.symbol}` : ""}`,
        );
      ctx.out.result(
        { account: me, to: to ?? me, withdrawn },
        () => `withdrew ${withdrawn.map((w) => `${w.amount} (${w.token} base units)`).join(", ")}`,
      );
    },
  },
  balance: {
    summary: "show your market balances and wallet balances",
    usage: `[<address>]`,
    args: [0, 1],
    async run(ctx) {
      const s = await ctx.session();
      const who = (ctx.positionals[0] as Address | undefined) ?? (await s.signer()).account.address;
      const { market } = conclaveContracts(s.record, s.publicClient);
      const rows = await Promise.all(
        (await paymentTokens(s)).map(async (address) => {
          const t = await tokenInfo(s, address);
          return {
            token: t.symbol,
            address,
            market: (await market.read.balanceOf([who, address])).toString(),
            decimals: t.decimals,
          };
        }),
      );
      const eth = await s.publicClient.getBalance({ address: who });
      ctx.out.result({ account: who, wallet: { ETH: eth.toString() }, market: rows }, () =>
        [
          `${who}: wallet ${formatToken(eth, { address: zeroAddress, symbol: "ETH", decimals: 18 })}`,
          ...rows.map(
            (r) =>
              `  market balance ${formatToken(BigInt(r.market), { address: r.address, symbol: r.token, decimals: r.decimals })}`,
          ),
        ].join("\n"),
      );
    },
  },
};
