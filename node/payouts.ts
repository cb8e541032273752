import { encodeFunctionData, getAddress, type Abi, type Address, type PublicClient, zeroAddress } from "viem";
import type { TxSubmitter } from "./chain/tx-sender.ts";
import { oneLine } from "./errors.ts";
import type { Journal } from "./journal/journal.ts";
import type { Logger } from "./log.ts";
import { createTicker, type Service, type ServiceDeps } from "./service.ts";

interface PayoutsTimerDeps extends ServiceDeps {
  sender: Pick<TxSubmitter, "send">;
  market: Address;
  marketAbi: Abi;
  chain: Pick<PublicClient, "readContract">;
  provider: Address;
  /** Tokens this runner has been paid in (ETH always). */
  journal: Pick<Journal, "paidTokens">;
  /** Smallest balance worth a withdrawal, per token ("ETH" or address); default: anything. */
  minWithdraw: Record<string, bigint>;
  intervalMs: number;
  log: Logger;
}

/**
 * The payouts timer: every `intervalMs`, withdraws on a policy: each token whose credited balance
 * reaches its threshold.
 */
export function createPayoutsTimer(deps: PayoutsTimerDeps): Service {
  const { chain, market, marketAbi, log } = deps;
  // Compensation for seats that others left silent is credited in the registry's stake token:
  // withdrawn with the fees (read once, when the first payout runs).
  let stakeToken: Address | null = null;
  const payout = async () => {
    stakeToken ??= getAddress(
      (await chain.readContract({ address: market, abi: marketAbi, functionName: "stakeToken" })) as Address,
    );
    const paid = deps.journal
      .paidTokens()
      .map((t) => getAddress(t))
      .filter((t) => t !== zeroAddress);
    for (const token of new Set([zeroAddress as Address, ...paid, stakeToken])) {
      const balance = (await chain.readContract({
        address: market,
        abi: marketAbi,
        functionName: "balanceOf",
        args: [deps.provider, token],
      })) as bigint;
      const min = deps.minWithdraw[token === zeroAddress ? "ETH" : token] ?? 1n;
      if (balance === 0n || balance < min) continue;
      await deps.sender.send({
        jobId: null,
        kind: "withdraw",
        to: market,
        data: encodeFunctionData({ abi: marketAbi, functionName: "withdraw", args: [token] }),
      });
      log.info("withdrew earnings", { token, amount: balance });
    }
  };
  return createTicker({
    signal: deps.signal,
    everyMs: deps.intervalMs,
    run: payout,
    onError: (error) => log.warn("withdrawal failed", { error: oneLine(error) }),
  });
}
