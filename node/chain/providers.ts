import type { Address, PublicClient } from "viem";
import { conclaveContracts } from "./contracts.ts";
import type { DeploymentRecord } from "./deployment.ts";
import { logsToHead } from "./logs.ts";

/**
 * Every provider that ever registered, once each, in registration order: the registry keeps no
 * list, so it is read from its ProviderRegistered events (in bounded log ranges from its deployment).
 */
export async function registeredProviders(publicClient: PublicClient, record: DeploymentRecord): Promise<Address[]> {
  const { providers } = conclaveContracts(record, publicClient);
  const registered = await logsToHead(
    publicClient,
    BigInt(record.contracts.ProviderRegistry!.block),
    (fromBlock, toBlock) =>
      publicClient.getContractEvents({
        address: providers.address,
        abi: providers.abi,
        eventName: "ProviderRegistered",
        fromBlock,
        toBlock,
      }),
  );
  return [...new Set(registered.map((l) => (l.args as { provider: Address }).provider))];
}
