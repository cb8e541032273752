import { expect } from "chai";
import { getAddress, type Address, type PublicClient } from "viem";
import type { DeploymentRecord } from "../../node/chain/deployment.ts";
import { consumerRouter } from "../../node/client/consumer.ts";

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
