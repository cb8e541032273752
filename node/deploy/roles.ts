import { logsToHead } from "../chain/logs.ts";
import { keccak256, toHex, zeroAddress, type Abi, type Address, type Hex, type PublicClient } from "viem";
import { loadArtifact } from "../chain/artifacts.ts";
import type { DeploymentRecord } from "../chain/deployment.ts";
import { DeploymentError } from "../errors.ts";

export const ROLES = {
  DEFAULT_ADMIN_ROLE: "0x0000000000000000000000000000000000000000000000000000000000000000",
  PROPOSER_ROLE: keccak256(toHex("PROPOSER_ROLE")),
  EXECUTOR_ROLE: keccak256(toHex("EXECUTOR_ROLE")),
  CANCELLER_ROLE: keccak256(toHex("CANCELLER_ROLE")),
  GUARDIAN_ROLE: keccak256(toHex("GUARDIAN_ROLE")),
  MARKET_ROLE: keccak256(toHex("MARKET_ROLE")),
  /** A market that left MARKET_ROLE (wound down or revoked): it settles what it locked, locks nothing new. */
  RETIRED_MARKET_ROLE: keccak256(toHex("RETIRED_MARKET_ROLE")),
} as const;

interface RoleHolding {
  contract: string;
  role: string;
  holders: Address[];
}

const ROLE_NAMES = new Map<Hex, string>(Object.entries(ROLES).map(([name, hash]) => [hash, name]));
const ACCESS_CONTROLLED = [
  "ConclaveTimelock",
  "ModelRegistry",
  "ProviderRegistry",
  "InferenceMarket",
  "ConsumerRouter",
] as const;

/**
 * Who holds each role now, read back from the chain: RoleGranted/RoleRevoked events since the
 * deployment block, each holder confirmed with `hasRole` (AccessControl is not enumerable).
 */
export async function readRoles(publicClient: PublicClient, record: DeploymentRecord): Promise<RoleHolding[]> {
  const result: RoleHolding[] = [];
  for (const name of ACCESS_CONTROLLED) {
    const deployed = record.contracts[name];
    if (!deployed) continue;
    const abi = loadArtifact(name).abi as Abi;
    const logs = await logsToHead(publicClient, deployed.block, (fromBlock, toBlock) =>
      publicClient.getContractEvents({ address: deployed.address, abi, fromBlock, toBlock }),
    );
    const candidates = new Map<Hex, Set<Address>>();
    for (const log of logs) {
      if (log.eventName !== "RoleGranted" && log.eventName !== "RoleRevoked") continue;
      const { role, account } = log.args as { role: Hex; account: Address };
      if (!candidates.has(role)) candidates.set(role, new Set());
      candidates.get(role)!.add(account);
    }
    for (const [role, accounts] of candidates) {
      const holders: Address[] = [];
      for (const account of accounts) {
        const has = await publicClient.readContract({
          address: deployed.address,
          abi,
          functionName: "hasRole",
          args: [role, account],
        });
        if (has) holders.push(account);
      }
      result.push({ contract: name, role: ROLE_NAMES.get(role) ?? role, holders });
    }
  }
  return result;
}

/** Names an address after the deployment's contracts, or "anyone" for the zero address. */
export function labelAddress(record: DeploymentRecord, address: Address, extra: Record<string, Address> = {}): string {
  if (address === zeroAddress) return "anyone (0x0)";
  for (const [name, c] of Object.entries(record.contracts))
    if (c.address.toLowerCase() === address.toLowerCase()) return `${name} ${address}`;
  for (const [name, a] of Object.entries(extra))
    if (a.toLowerCase() === address.toLowerCase()) return `${name} ${address}`;
  return address;
}

/**
 * Fails unless `account` (the deployer) holds no role on any access-controlled contract and is not
 * the guardian of the GuardianVeto. Roles come from the chain's RoleGranted events, so a role added
 * to a contract later is checked too, not only the names in ROLES.
 */
export async function assertHoldsNoRole(
  publicClient: PublicClient,
  record: DeploymentRecord,
  account: Address,
): Promise<void> {
  const held = (await readRoles(publicClient, record))
    .filter((r) => r.holders.some((h) => h.toLowerCase() === account.toLowerCase()))
    .map((r) => `${r.contract}.${r.role}`);
  const veto = record.contracts.GuardianVeto;
  if (veto) {
    const guardian = await publicClient.readContract({
      address: veto.address,
      abi: loadArtifact("GuardianVeto").abi,
      functionName: "guardian",
    });
    if (guardian.toLowerCase() === account.toLowerCase()) held.push("GuardianVeto.guardian");
  }
  if (held.length > 0)
    throw new DeploymentError(`the deployer ${account} still holds ${held.join(", ")} after deployment`);
}
