import { encodeFunctionData, getAddress, type Abi, type Address, type PublicClient, zeroAddress } from "viem";
import type { TxSubmitter } from "./chain/tx-sender.ts";
import type { Journal } from "./journal/journal.ts";
import type { Logger } from "./log.ts";
import { createTicker, type Service, type ServiceDeps } from "./service.ts";

interface PayoutOptions {
  sender: Pick<TxSubmitter, "send">;
  market: Address;
  marketAbi: Abi;
  balanceOf: (token: Address) => Promise<bigint>;
  /** Tokens this runner has been paid in (ETH always). */
  tokens: () => Address[];
  /** Smallest balance worth a withdrawal, per token ("ETH" or address); default: anything. */
  minWithdraw: Record<string, bigint>;
  log: Logger;
}

/** Withdraws earnings on a policy: any token whose credited balance reaches its threshold. */
async function withdrawEarnings(o: PayoutOptions): Promise<{ token: Address; amount: bigint }[]> {
  const done: { token: Address; amount: bigint }[] = [];
  for (const token of new Set([zeroAddress as Address, ...o.tokens()])) {
    const balance = await o.balanceOf(token);
    const min = o.minWithdraw[token === zeroAddress ? "ETH" : token] ?? 1n;
    if (balance === 0n || balance < min) continue;
    await o.sender.send({
      jobId: null,
      kind: "withdraw",
      to: o.market,
      data: encodeFunctionData({ abi: o.marketAbi, functionName: "withdraw", args: [token] }),
    });
    o.log.info("withdrew earnings", { token, amount: balance });
    done.push({ token, amount: balance });
  }
  return done;
}

export interface PayoutsTimerDeps extends ServiceDeps {
  sender: Pick<TxSubmitter, "send">;
  market: Address;
  marketAbi: Abi;
  chain: Pick<PublicClient, "readContract">;
  provider: Address;
  journal: Pick<Journal, "paidTokens">;
  minWithdraw: Record<string, bigint>;
  intervalMs: number;
  log: Logger;
}

/** The payouts timer: every `intervalMs`, withdraws each token whose balance reaches its threshold. */
export function createPayoutsTimer(deps: PayoutsTimerDeps): Service {
  const { chain, market, marketAbi, log } = deps;
  // Compensation for seats that others left silent is credited in the registry's stake token:
  // withdrawn with the fees (read once, when the first payout runs).
  let stakeToken: Address | null = null;
  const payout = async () => {
    stakeToken ??= getAddress(
      (await chain.readContract({ address: market, abi: marketAbi, functionName: "stakeToken" })) as Address,
    );
    const compensation = stakeToken;
    await withdrawEarnings({
      sender: deps.sender,
      market,
      marketAbi,
      balanceOf: (token) =>
        chain.readContract({
          address: market,
          abi: marketAbi,
          functionName: "balanceOf",
          args: [deps.provider, token],
        }) as Promise<bigint>,
      tokens: () => [
        ...deps.journal
          .paidTokens()
          .map((t) => getAddress(t))
          .filter((t) => t !== zeroAddress),
        compensation,
      ],
      minWithdraw: deps.minWithdraw,
      log,
    });
  };
  return createTicker({
    signal: deps.signal,
    everyMs: deps.intervalMs,
    run: payout,
    onError: (error) => log.warn("withdrawal failed", { error: (error as Error).message }),
  });
}
