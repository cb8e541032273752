import { expect } from "chai";
import { getAddress, type Address, type Hex, type PublicClient } from "viem";
import type { DeploymentRecord } from "../../node/chain/deployment.ts";
import { consumerRouter } from "../../node/client/consumer.ts";

/** The router's headroom on top of a callback's gas limit in a deposit (its FULFIL_OVERHEAD). */
export const FULFIL_OVERHEAD = 220_000n;

/** The deposit a callback needs: (limit + FULFIL_OVERHEAD) × the consumer's gas price cap. */
export const depositFor = (limit: bigint, cap: bigint): bigint => (limit + FULFIL_OVERHEAD) * cap;

/**
 * A fulfil's reimbursement, from its CallbackReimbursed and its receipt: the router credited the
 * fulfiller the gas the transaction was charged (the receipt's gasUsed, exactly) at its price,
 * at most the consumer's cap, at most the deposit; the consumer got the rest. Returns what was
 * reimbursed and what the transaction cost its sender (equal within the cap and the deposit).
 */
export async function expectFulfilReimbursed(
  publicClient: PublicClient,
  paid: { transactionHash: Hex; args: unknown },
  deposit: bigint,
  cap: bigint,
): Promise<{ reimbursed: bigint; cost: bigint }> {
  const { reimbursed, refund, gas } = paid.args as { reimbursed: bigint; refund: bigint; gas: bigint };
  const receipt = await publicClient.getTransactionReceipt({ hash: paid.transactionHash });
  const price = receipt.effectiveGasPrice < cap ? receipt.effectiveGasPrice : cap;
  expect(gas, "the gas reimbursed is the gas the fulfil was charged").to.equal(receipt.gasUsed);
  const full = price * receipt.gasUsed;
  expect(reimbursed).to.equal(full < deposit ? full : deposit);
  expect(reimbursed + refund).to.equal(deposit);
  return { reimbursed, cost: receipt.gasUsed * receipt.effectiveGasPrice };
}

/**
 * The ConsumerRouter's invariant, read from the chain: its balance is the deposits of funded
 * jobs plus every credited account's balance (fulfillers, consumers, withdrawers).
 */
export async function expectRouterSolvent(publicClient: PublicClient, record: DeploymentRecord): Promise<void> {
  const router = consumerRouter(record);
  const fromBlock = BigInt(record.contracts.ConsumerRouter!.block);
  const funded = await publicClient.getContractEvents({ ...router, eventName: "CallbackFunded", fromBlock });
  const deposits = await Promise.all(
    funded.map((e) =>
      publicClient.readContract({ ...router, functionName: "depositOf", args: [(e.args as { jobId: bigint }).jobId] }),
    ),
  );
  const credited = new Set<Address>();
  for (const e of await publicClient.getContractEvents({ ...router, fromBlock })) {
    const a = e.args as { fulfiller?: Address; consumer?: Address; account?: Address };
    for (const who of [a.fulfiller, a.consumer, a.account]) if (who) credited.add(getAddress(who));
  }
  const credits = await Promise.all(
    [...credited].map((who) => publicClient.readContract({ ...router, functionName: "balanceOf", args: [who] })),
  );
  const sum = [...deposits, ...credits].reduce((x, y) => x + y, 0n);
  expect(await publicClient.getBalance({ address: router.address })).to.equal(sum);
}
