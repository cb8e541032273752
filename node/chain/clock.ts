import type { PublicClient } from "viem";

/**
 * The chain's time for the next transaction, in seconds. An idle local chain mines no blocks, so
 * its latest block can be minutes old; the pending block carries the time a transaction sent now
 * would see. Nodes that do not serve "pending" fall back to the latest block.
 */
export async function chainNow(publicClient: PublicClient): Promise<bigint> {
  const latest = (await publicClient.getBlock({ blockTag: "latest" })).timestamp;
  const pending = await publicClient.getBlock({ blockTag: "pending" }).then(
    (b) => b.timestamp,
    () => latest,
  );
  return pending > latest ? pending : latest;
}
