import { getAddress, type Address, type Hex, type PublicClient } from "viem";
import type { ChainReader } from "../jobs/processor.ts";
import type { VersionInfo } from "../models/store.ts";
import { loadArtifact } from "./artifacts.ts";
import { chainNow } from "./clock.ts";
import { contractAddress, type DeploymentRecord } from "./deployment.ts";

/**
 * The chain reads a runner needs, over viem. Model versions are immutable except for their
 * status, so their data is cached and only `accepting` is read again.
 */
export function createChainReader(publicClient: PublicClient, record: DeploymentRecord, provider: Address): ChainReader {
  const market = { address: contractAddress(record, "InferenceMarket"), abi: loadArtifact("InferenceMarket").abi };
  const models = { address: contractAddress(record, "ModelRegistry"), abi: loadArtifact("ModelRegistry").abi };
  const providers = { address: contractAddress(record, "ProviderRegistry"), abi: loadArtifact("ProviderRegistry").abi };
  const versions = new Map<string, VersionInfo>();
  const marketBlock = BigInt(record.contracts.InferenceMarket!.block);

  return {
    async now() {
      return Number(await chainNow(publicClient));
    },
    async jobState(jobId) {
      const [status, seated, revealed, revealStartedAt] = await publicClient.readContract({ ...market, functionName: "jobState", args: [jobId] });
      return { status, seated, revealed, revealStartedAt };
    },
    async version(modelId, version) {
      const key = `${modelId}-${version}`;
      let info = versions.get(key);
      if (!info) {
        const v = await publicClient.readContract({ ...models, functionName: "getVersion", args: [modelId, version] });
        info = {
          modelId,
          version,
          weightsCid: v.weightsCid,
          weightsSha256: v.weightsSha256,
          schemaCid: v.schemaCid,
          outputQuantum: v.outputQuantum,
          minMemoryMB: v.minMemoryMB,
        };
        versions.set(key, info);
      }
      const accepting = await publicClient.readContract({ ...models, functionName: "acceptsJobs", args: [modelId, version] });
      return { ...info, accepting };
    },
    async providerTerms() {
      const p = await publicClient.readContract({ ...providers, functionName: "getProvider", args: [provider] });
      const [active] = await publicClient.readContract({ ...providers, functionName: "providerTerms", args: [provider] });
      return { active, tags: p.tags, memoryMB: p.memoryMB, freeStake: p.stake - p.locked };
    },
    async seatOf(jobId, seat) {
      const [who] = await publicClient.readContract({ ...market, functionName: "seatOf", args: [jobId, seat] });
      return getAddress(who);
    },
    async settledResult(jobId) {
      const logs = await publicClient.getContractEvents({ ...market, eventName: "JobSettled", args: { jobId }, fromBlock: marketBlock });
      return ((logs.at(-1)?.args as { resultHash?: Hex } | undefined)?.resultHash ?? null) as Hex | null;
    },
  };
}
