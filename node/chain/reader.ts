import { getAddress, type Address, type GetContractEventsParameters, type PublicClient } from "viem";
import type { ChainReader } from "../jobs/processor.ts";
import { versionInfoOf, type VersionInfo } from "../models/store.ts";
import { loadArtifact } from "./artifacts.ts";
import { chainNow } from "./clock.ts";
import { contractAddress, type DeploymentRecord } from "./deployment.ts";
import { eventsToHead } from "./events.ts";
import { AdaptiveRange, type AdaptiveRangeOptions } from "./logs.ts";
import { reuseFor } from "./reuse-for.ts";

/** How long chain time, the provider's own terms and a version's `accepting` are reused (ms). */
const FRESH_MS = { now: 500, terms: 2_000, accepting: 2_000 } as const;

/** How old a read of the provider's terms (its free stake) may be when the reader hands it out (ms). */
export const PROVIDER_TERMS_MAX_AGE_MS = FRESH_MS.terms;

/**
 * The chain reads a runner needs, over viem. Model versions are immutable except for their
 * status, so their data is cached; chain time, the provider's terms and `accepting` are reused
 * for a moment (FRESH_MS): the market checks them again on-chain anyway.
 */
export function createChainReader(
  publicClient: PublicClient,
  record: DeploymentRecord,
  provider: Address,
  logRangeOptions: AdaptiveRangeOptions = {},
): ChainReader & { forgetReused(): void } {
  const market = { address: contractAddress(record, "InferenceMarket"), abi: loadArtifact("InferenceMarket").abi };
  const models = { address: contractAddress(record, "ModelRegistry"), abi: loadArtifact("ModelRegistry").abi };
  const providers = { address: contractAddress(record, "ProviderRegistry"), abi: loadArtifact("ProviderRegistry").abi };
  // The court's functions are served on the market's address.
  const court = { address: market.address, abi: loadArtifact("InferenceMarketCourt").abi };
  const versions = new Map<string, VersionInfo>();
  const marketBlock = record.contracts.InferenceMarket!.block;
  // Learnt once per runner: what the provider accepts per eth_getLogs query.
  const logRange = new AdaptiveRange(logRangeOptions);
  const now = reuseFor(FRESH_MS.now, async () => Number(await chainNow(publicClient)));
  const terms = reuseFor(FRESH_MS.terms, async () => {
    // The granted tags (providerTerms), not the declared ones (getProvider): only they make it eligible.
    // The stake free for a seat: what the market holds free for it, and what it has not
    // allocated yet (the market allocates it on demand).
    const [p, [active, tags, , rosterIndex, rosterSize], held] = await Promise.all([
      publicClient.readContract({ ...providers, functionName: "getProvider", args: [provider] }),
      publicClient.readContract({ ...providers, functionName: "providerTerms", args: [provider] }),
      publicClient.readContract({ ...court, functionName: "providerCollateral", args: [provider] }),
    ]);
    const freeStake = p.stake - p.locked + held[5];
    return { active, tags, memoryMB: p.memoryMB, freeStake, rosterIndex, rosterSize };
  });
  const accepting = new Map<string, ReturnType<typeof reuseFor<boolean>>>();
  const marketEvents = <E extends "ResultSubmitted" | "ResultRevealed" | "SeatSlashed">(
    eventName: E,
    fromBlock: number,
    args: GetContractEventsParameters<typeof market.abi, E>["args"],
  ) => eventsToHead(publicClient, market, eventName, Math.max(fromBlock, marketBlock), { args, range: logRange });

  return {
    /**
     * After a reorg: the reused reads (chain time, the provider's terms, `accepting`) may be of the
     * chain that is gone. Its free stake, say: a settlement the reorg took back freed collateral
     * that the new chain holds locked, and a commit decided on the old read would revert (chaos
     * seed 23: commits reverted with `ProviderRegistryInsufficientFreeStake` right after a depth-3
     * reorg; this shortens the window, it cannot close it: a read made before the reorg is seen).
     */
    forgetReused() {
      now.forget();
      terms.forget();
      for (const read of accepting.values()) read.forget();
    },
    now,
    providerTerms: terms,
    async jobState(jobId) {
      const [status, seated, revealed, revealStartedAt] = await publicClient.readContract({
        ...market,
        functionName: "jobState",
        args: [jobId],
      });
      return { status, seated, revealed, revealStartedAt };
    },
    async version(modelId, version) {
      const key = `${modelId}-${version}`;
      let info = versions.get(key);
      if (!info) {
        const v = await publicClient.readContract({ ...models, functionName: "getVersion", args: [modelId, version] });
        info = versionInfoOf(modelId, version, v);
        versions.set(key, info);
      }
      let read = accepting.get(key);
      if (!read) {
        read = reuseFor(FRESH_MS.accepting, () =>
          publicClient.readContract({ ...models, functionName: "acceptsJobs", args: [modelId, version] }),
        );
        accepting.set(key, read);
      }
      return { ...info, accepting: await read() };
    },
    async seatOf(jobId, seat) {
      const [who] = await publicClient.readContract({ ...market, functionName: "seatOf", args: [jobId, seat] });
      return getAddress(who);
    },
    async delivery(jobId, fromBlock) {
      const logs = await marketEvents("ResultSubmitted", fromBlock, { jobId });
      const last = logs.at(-1);
      return last ? { provider: getAddress(last.args.provider!), resultHash: last.args.resultHash! } : null;
    },
    async seatSlashed(jobId, fromBlock) {
      return (await marketEvents("SeatSlashed", fromBlock, { jobId, provider })).length > 0;
    },
    async revealedResult(jobId, fromBlock) {
      const logs = await marketEvents("ResultRevealed", fromBlock, { jobId, provider });
      return logs.at(-1)?.args.resultHash ?? null;
    },
  };
}
