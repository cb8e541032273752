import type { Address, PublicClient } from "viem";
import { conclaveContracts } from "./contracts.ts";
import type { DeploymentRecord } from "./deployment.ts";
import { eventsToHead } from "./events.ts";

/**
 * Every provider that ever registered, once each, in registration order: the registry keeps no
 * list, so it is read from its ProviderRegistered events (in bounded log ranges from its deployment).
 */
export async function registeredProviders(publicClient: PublicClient, record: DeploymentRecord): Promise<Address[]> {
  const { providers } = conclaveContracts(record, publicClient);
  const registered = await eventsToHead(
    publicClient,
    providers,
    "ProviderRegistered",
    record.contracts.ProviderRegistry!.block,
  );
  return [...new Set(registered.map((l) => (l.args as { provider: Address }).provider))];
}
