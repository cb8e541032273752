import { erc20Abi, hexToString, zeroAddress, type Address, type Chain, type PublicClient, type Transport } from "viem";
import { conclaveContracts } from "../chain/contracts.ts";
import type { DeploymentRecord } from "../chain/deployment.ts";

/** A provider's registry record as the page shows it. */
interface ProviderRecord {
  status: number;
  stake: bigint;
  locked: bigint;
  frozenUntil: number;
  disagreed: number;
  missed: number;
  tags: bigint;
  grantedTags: bigint;
  memoryMB: number;
  accelerator: string;
  region: string;
}

/**
 * The few contract reads the dashboard makes per block, besides the event index: a proposal's
 * state and quorum, a provider's record, a token's symbol. Per proposal and per provider, never
 * per job. A facade so the snapshot can be tested with fakes.
 */
export interface ChainReads {
  headTime(): Promise<{ number: number; timestamp: number }>;
  proposalState(proposalId: bigint): Promise<number>;
  quorum(timepoint: number): Promise<bigint>;
  provider(address: Address): Promise<ProviderRecord>;
  token(address: Address): Promise<{ symbol: string; decimals: number }>;
}

const text32 = (h: `0x${string}`) => hexToString(h, { size: 32 }).replace(/\0+$/, "");

export function createChainReads(record: DeploymentRecord, publicClient: PublicClient<Transport, Chain>): ChainReads {
  const c = conclaveContracts(record, publicClient);
  return {
    async headTime() {
      const b = await publicClient.getBlock({ blockTag: "latest" });
      return { number: Number(b.number), timestamp: Number(b.timestamp) };
    },
    proposalState: (id) => c.governor.read.state([id]),
    quorum: (timepoint) => c.governor.read.quorum([BigInt(timepoint)]),
    async provider(address) {
      const p = await c.providers.read.getProvider([address]);
      return {
        status: p.status,
        stake: p.stake,
        locked: p.locked,
        frozenUntil: p.frozenUntil,
        disagreed: Number(p.disagreed),
        missed: Number(p.missed),
        tags: p.tags,
        grantedTags: p.grantedTags,
        memoryMB: p.memoryMB,
        accelerator: text32(p.accelerator),
        region: text32(p.region),
      };
    },
    async token(address) {
      if (address === zeroAddress) return { symbol: "ETH", decimals: 18 };
      const [symbol, decimals] = await Promise.all([
        publicClient.readContract({ address, abi: erc20Abi, functionName: "symbol" }),
        publicClient.readContract({ address, abi: erc20Abi, functionName: "decimals" }),
      ]);
      return { symbol, decimals };
    },
  };
}
