import { encodeFunctionData, type Abi, type Address, zeroAddress } from "viem";
import type { TxSubmitter } from "./chain/tx-sender.ts";
import type { Logger } from "./log.ts";

export interface PayoutOptions {
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
export async function withdrawEarnings(o: PayoutOptions): Promise<{ token: Address; amount: bigint }[]> {
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
