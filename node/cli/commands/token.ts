import { erc20Abi, getAddress, zeroAddress, type Address } from "viem";
import { walletFor } from "../../chain/clients.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import { DEV_ROLES, devAccount } from "../../devnet/accounts.ts";
import { FatalError } from "../../errors.ts";
import {
  address,
  amount,
  formatToken,
  RequestError,
  str,
  tokenInfo,
  type Command,
  type TokenInfo,
} from "../command.ts";
import { LOCAL_CHAIN_ID } from "../../chain/clients.ts";
import type { Session } from "../session.ts";
import { sendTx, sendValue } from "../tx.ts";

/** The faucet was asked for on a chain that is not the local development network, or cannot pay. */
export class FaucetRefusedError extends FatalError {
  readonly code = "FAUCET_REFUSED";
}

/** The faucet pays out on the local development chain only; anywhere else it is refused with the way to get tokens there. */
export function assertFaucetChain(chainId: number, to: Address): void {
  if (chainId !== LOCAL_CHAIN_ID)
    throw new FaucetRefusedError(
      `the faucet works on the local network (chain ${LOCAL_CHAIN_ID}) only, this is chain ${chainId}: ask a token holder to run conclave token transfer ${to} <amount>`,
    );
}

const ETH: TokenInfo = { address: zeroAddress, symbol: "ETH", decimals: 18 };

/** `--token`: the stake token (CLV) by default, "ETH", or an ERC-20 address. */
async function chosenToken(s: Session, flag: string | undefined): Promise<TokenInfo> {
  if (flag !== undefined && flag.toUpperCase() === "ETH") return ETH;
  const stake = await conclaveContracts(s.record, s.publicClient).providers.read.stakeToken();
  if (flag === undefined || flag.toUpperCase() === "CLV") return tokenInfo(s, stake);
  return tokenInfo(s, address("--token", flag));
}

async function balanceOf(s: Session, t: TokenInfo, who: Address): Promise<bigint> {
  if (t.address === zeroAddress) return s.publicClient.getBalance({ address: who });
  return s.publicClient.readContract({ address: t.address, abi: erc20Abi, functionName: "balanceOf", args: [who] });
}

function recipient(text: string): Address {
  const to = getAddress(address("recipient", text));
  if (to === zeroAddress) throw new RequestError("the recipient must not be the zero address");
  return to;
}

/** Sends `value` of `t` from `from` (default: the session's signer) to `to`. */
async function send(
  s: Session,
  t: TokenInfo,
  to: Address,
  value: bigint,
  from?: ReturnType<typeof walletFor>,
): Promise<string> {
  const label = `sending ${formatToken(value, t)} to ${to}`;
  const receipt =
    t.address === zeroAddress
      ? await sendValue(s, label, to, value, from)
      : await sendTx(
          s,
          label,
          { address: t.address, abi: erc20Abi, functionName: "transfer", args: [to, value] },
          from,
        );
  return receipt.transactionHash;
}

export const tokenCommands: Record<string, Command> = {
  "token transfer": {
    summary: "send stake tokens (CLV), ETH or an ERC-20 to an address",
    usage: `<to> <amount> [--token <CLV|ETH|address>]

Sends <amount> whole tokens (decimals allowed) from your account. The default token is the
registry's stake token (CLV), what a new provider needs to register. Votes follow delegation:
the recipient votes with CLV only after delegating (conclave dao delegate).`,
    options: { token: { type: "string" } },
    args: [2, 2],
    async run(ctx) {
      const to = recipient(ctx.positionals[0]!);
      const s = await ctx.session();
      const t = await chosenToken(s, str(ctx, "token"));
      const value = amount("amount", ctx.positionals[1]!, t.decimals);
      if (value === 0n) throw new RequestError("amount must be above 0");
      const me = (await s.signer()).account.address;
      const have = await balanceOf(s, t, me);
      if (have < value)
        throw new RequestError(
          `not enough funds: sending ${formatToken(value, t)}, ${me} holds ${formatToken(have, t)}`,
        );
      const tx = await send(s, t, to, value);
      const after = await balanceOf(s, t, to);
      ctx.out.result(
        {
          from: me,
          to,
          token: t.symbol,
          tokenAddress: t.address,
          amount: value.toString(),
          recipientBalance: after.toString(),
          tx,
        },
        () => `sent ${formatToken(value, t)} to ${to} (it now holds ${formatToken(after, t)})`,
      );
    },
  },
  "token balance": {
    summary: "an account's stake-token (CLV) and ETH balances, votes and delegate",
    usage: `[<address>] [--token <address>]   (default: your own account)

Shows what an account holds in its wallet: the stake token (CLV), its votes and delegate, and ETH
for gas; --token adds an ERC-20. Market balances (earnings, refunds) are under conclave balance.`,
    options: { token: { type: "string" } },
    args: [0, 1],
    async run(ctx) {
      const s = await ctx.session();
      const who = ctx.positionals[0]
        ? getAddress(address("address", ctx.positionals[0]))
        : (await s.signer()).account.address;
      const { token: clv, providers } = conclaveContracts(s.record, s.publicClient);
      const stake = await tokenInfo(s, await providers.read.stakeToken());
      const [held, eth] = await Promise.all([balanceOf(s, stake, who), s.publicClient.getBalance({ address: who })]);
      // Votes and delegation exist on the governance token, which is the stake token on a standard deployment.
      const governance = getAddress(clv.address) === getAddress(stake.address);
      const [votes, delegate] = governance
        ? await Promise.all([clv.read.getVotes([who]), clv.read.delegates([who])])
        : [null, null];
      const extra = str(ctx, "token") === undefined ? null : await tokenInfo(s, address("--token", str(ctx, "token")!));
      const other = extra ? await balanceOf(s, extra, who) : null;
      const data = {
        address: who,
        [stake.symbol]: held.toString(),
        ETH: eth.toString(),
        votes: votes?.toString() ?? null,
        delegate: delegate === null || delegate === zeroAddress ? null : delegate,
        ...(extra ? { token: { symbol: extra.symbol, address: extra.address, balance: other!.toString() } } : {}),
      };
      ctx.out.result(data, () =>
        [
          `${who}: ${formatToken(held, stake)}, ${formatToken(eth, ETH)}`,
          ...(votes === null
            ? []
            : [
                `  votes ${formatToken(votes, stake)}${data.delegate ? `, delegated to ${data.delegate}` : " (not delegated: conclave dao delegate)"}`,
              ]),
          ...(extra ? [`  ${formatToken(other!, extra)}`] : []),
        ].join("\n"),
      );
    },
  },
  faucet: {
    summary: "local network only: fund an account with stake tokens (CLV) and ETH for gas",
    usage: `<address> [<amount>] [--eth <amount>] [--dev-account <n>]

Development only. Sends <amount> CLV (default 1000, enough to stake as a provider) and --eth ETH
(default 10; 0 sends none) to <address>, from a development account that holds them (by default
the DAO member holding the most CLV; --dev-account picks one). It refuses on any chain but the
local one (${LOCAL_CHAIN_ID}): there a holder sends tokens with conclave token transfer.`,
    options: { eth: { type: "string" } },
    args: [1, 2],
    async run(ctx) {
      const to = recipient(ctx.positionals[0]!);
      const s = await ctx.session();
      assertFaucetChain(s.chain.id, to);
      const stake = await tokenInfo(s, await conclaveContracts(s.record, s.publicClient).providers.read.stakeToken());
      const value = amount("amount", ctx.positionals[1] ?? "1000", stake.decimals);
      const eth = amount("--eth", str(ctx, "eth") ?? "10", 18);
      if (value === 0n && eth === 0n) throw new RequestError("nothing to send: the amount and --eth are both 0");
      const devFlag = str(ctx, "dev-account");
      // `signer()` checks --dev-account (a number in range, on the local chain) before it is used.
      const chosen = devFlag === undefined ? undefined : await s.signer();
      const candidates = chosen ? [Number(devFlag)] : [...DEV_ROLES.members];
      const balances = await Promise.all(
        candidates.map(async (i) => ({
          i,
          clv: await balanceOf(s, stake, devAccount(i).address),
          eth: await s.publicClient.getBalance({ address: devAccount(i).address }),
        })),
      );
      const holder = balances.sort((a, b) => (b.clv > a.clv ? 1 : b.clv < a.clv ? -1 : 0))[0];
      if (!holder || holder.clv < value || holder.eth < eth) {
        const who = holder
          ? `development account ${holder.i} holds ${formatToken(holder.clv, stake)} and ${formatToken(holder.eth, ETH)}`
          : "no development account";
        throw new FaucetRefusedError(
          `the faucet cannot send ${formatToken(value, stake)} and ${formatToken(eth, ETH)}: ${who}`,
        );
      }
      const from = chosen ?? walletFor(s.rpcUrl, s.chain, devAccount(holder.i));
      const txs: string[] = [];
      if (eth > 0n) txs.push(await send(s, ETH, to, eth, from));
      if (value > 0n) txs.push(await send(s, stake, to, value, from));
      const [clvAfter, ethAfter] = await Promise.all([
        balanceOf(s, stake, to),
        s.publicClient.getBalance({ address: to }),
      ]);
      ctx.out.result(
        {
          to,
          from: from.account.address,
          devAccount: holder.i,
          [stake.symbol]: value.toString(),
          ETH: eth.toString(),
          balances: { [stake.symbol]: clvAfter.toString(), ETH: ethAfter.toString() },
          txs,
        },
        () =>
          `sent ${formatToken(value, stake)} and ${formatToken(eth, ETH)} to ${to} from development account ${holder.i}; it holds ${formatToken(clvAfter, stake)} and ${formatToken(ethAfter, ETH)}`,
      );
    },
  },
};
