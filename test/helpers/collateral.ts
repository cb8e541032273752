import type { Address, PublicClient } from "viem";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import type { DeploymentRecord } from "../../node/chain/deployment.ts";

/**
 * The collateral a provider's open seats hold in the network's market: what it allocated to the
 * market (the registry's `locked`), less what the market holds free for its next seats.
 */
export async function seatCollateral(
  publicClient: PublicClient,
  record: DeploymentRecord,
  provider: Address,
): Promise<bigint> {
  const { providers, court } = conclaveContracts(record, publicClient);
  const [{ locked }, [, , , , , free]] = await Promise.all([
    providers.read.getProvider([provider]),
    court.read.providerCollateral([provider]),
  ]);
  return locked - free;
}
