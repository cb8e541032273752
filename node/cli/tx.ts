import type { Abi, Address, TransactionReceipt } from "viem";
import type { Wallet } from "../chain/clients.ts";
import { describeRevert } from "../chain/revert.ts";
import { TxRevertedError, TxWouldRevertError } from "../chain/tx-sender.ts";
import type { Session } from "./session.ts";

interface Call {
  address: Address;
  abi: Abi;
  functionName: string;
  args?: readonly unknown[];
  value?: bigint;
  /** The gas limit from the node's estimate (default: the estimate itself), for calls whose cost depends on the block they land in. */
  gasLimit?: (estimate: bigint) => bigint;
}

/**
 * Sends one transaction the way every command does: simulate first (a revert is reported by its
 * custom error and nothing is sent), then send, show the wait, and check the receipt.
 */
export async function sendTx(s: Session, label: string, call: Call, from?: Wallet): Promise<TransactionReceipt> {
  const wallet = from ?? (await s.signer());
  const { gasLimit, ...contractCall } = call;
  let request;
  try {
    ({ request } = await s.publicClient.simulateContract({ ...contractCall, account: wallet.account } as never));
  } catch (error) {
    const revert = describeRevert(error);
    if (revert) throw new TxWouldRevertError(`${label} would fail: ${revert.text}`, revert.name, { cause: error });
    throw error;
  }
  if (gasLimit)
    (request as { gas?: bigint }).gas = gasLimit(
      await s.publicClient.estimateContractGas({ ...contractCall, account: wallet.account } as never),
    );
  s.out.progress(`${label}: sending`);
  const hash = await wallet.writeContract(request as never);
  return mined(s, label, hash);
}

/** Sends ETH (no calldata) from `from` (default: the session's signer), showing the wait like sendTx. */
export async function sendValue(
  s: Session,
  label: string,
  to: Address,
  value: bigint,
  from?: Wallet,
): Promise<TransactionReceipt> {
  const wallet = from ?? (await s.signer());
  s.out.progress(`${label}: sending`);
  const hash = await wallet.sendTransaction({ to, value });
  return mined(s, label, hash);
}

async function mined(s: Session, label: string, hash: `0x${string}`): Promise<TransactionReceipt> {
  s.out.progress(`${label}: waiting for ${hash.slice(0, 10)}… to be mined`);
  const receipt = await s.publicClient.waitForTransactionReceipt({ hash, timeout: 300_000 });
  if (receipt.status !== "success")
    throw new TxRevertedError(`${label} reverted in block ${receipt.blockNumber} (tx ${hash})`);
  return receipt;
}
