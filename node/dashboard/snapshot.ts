import { getAddress, type Address } from "viem";
import { PROPOSAL_STATES } from "../dao/proposals.ts";
import type { Logger } from "../log.ts";
import type { ChainReads } from "./chain-reads.ts";
import type { EventIndex } from "./indexer.ts";
import type { ProposalBase, ProposalLive, ProviderLive, RunnerHealth, Snapshot } from "./snapshot-types.ts";
import { buildView } from "./view.ts";
import { PROVIDER_STATUS } from "../chain/statuses.ts";

/** Canceled, Defeated, Expired, Executed: a proposal's state never changes again. */
const FINAL = new Set([2, 3, 6, 7]);

interface SnapshotDeps {
  index: EventIndex;
  reads: ChainReads;
  runner: (address: Address) => RunnerHealth | null;
  chainId: number;
  governor: Address;
  devAccounts: Snapshot["wallet"]["devAccounts"];
  log: Logger;
  recentJobs?: number;
}

/**
 * Builds the page's snapshot after each new block: the view folded from the event index, plus
 * the live reads that events cannot give (proposal states and quorums, providers' records,
 * runners' health). Final proposal states, quorums and token symbols are cached.
 */
export function createSnapshotter(d: SnapshotDeps) {
  const finalState = new Map<string, number>();
  const quorums = new Map<number, bigint>();
  const tokens = new Map<Address, { symbol: string; decimals: number }>();

  async function proposal(p: ProposalBase, now: number): Promise<ProposalLive> {
    let state = finalState.get(p.proposalId);
    if (state === undefined) {
      state = await d.reads.proposalState(BigInt(p.proposalId));
      if (FINAL.has(state)) finalState.set(p.proposalId, state);
    }
    let q = quorums.get(p.voteStart);
    if (q === undefined && p.voteStart < now) {
      q = await d.reads.quorum(p.voteStart).catch(() => undefined);
      if (q !== undefined) quorums.set(p.voteStart, q);
    }
    const name = PROPOSAL_STATES[state] ?? "Unknown";
    const until =
      name === "Pending" ? p.voteStart : name === "Active" ? p.voteEnd : name === "Queued" ? p.queuedEta : null;
    return {
      ...p,
      state: name,
      quorum: q === undefined ? null : q.toString(),
      timeLeft: until === null ? null : Math.max(0, until - now),
    };
  }

  async function make(): Promise<Snapshot> {
    const head = await d.reads.headTime();
    const view = buildView(d.index.logs(), { now: head.timestamp, recentJobs: d.recentJobs ?? 200 });
    const names = new Map<string, string>(view.models.map((m) => [m.modelId.toLowerCase(), m.name]));
    // Runners name versions `<modelId>-<version>`: shown as `<name> v<version>`.
    const named = (h: RunnerHealth | null): RunnerHealth | null =>
      h && {
        ...h,
        versions: h.versions.map((k) => {
          const [id, v] = k.split("-");
          return `${names.get(id?.toLowerCase() ?? "") ?? id} v${v}`;
        }),
      };
    const [proposals, providers] = await Promise.all([
      Promise.all(view.proposals.map((p) => proposal(p, head.timestamp))),
      Promise.all(
        view.providers.map(async (p): Promise<ProviderLive> => {
          const r = await d.reads.provider(p.address);
          return {
            address: getAddress(p.address),
            status: PROVIDER_STATUS[r.status] ?? "Unknown",
            stake: r.stake.toString(),
            locked: r.locked.toString(),
            frozenUntil: r.frozenUntil,
            disagreed: r.disagreed,
            missed: r.missed,
            tags: r.tags.toString(),
            grantedTags: r.grantedTags.toString(),
            memoryMB: r.memoryMB,
            accelerator: r.accelerator,
            region: r.region,
            metadataURI: p.metadataURI,
            timeline: p.timeline,
            runner: named(d.runner(p.address)),
          };
        }),
      ),
    ]);
    const used = new Set<Address>(
      [
        ...view.jobs.map((j) => j.token),
        ...Object.keys(view.totals.escrowHeld),
        ...Object.keys(view.totals.feesEarned),
      ].map((a) => getAddress(a)),
    );
    for (const t of used) {
      if (!tokens.has(t))
        tokens.set(t, await d.reads.token(t).catch(() => ({ symbol: `${t.slice(0, 8)}…`, decimals: 18 })));
    }
    return {
      ...view,
      chainId: d.chainId,
      head: head.number,
      headTime: head.timestamp,
      madeAt: Date.now(),
      proposals: proposals.reverse(),
      providers,
      tokens: Object.fromEntries(tokens),
      rollouts: { supported: true, items: view.rollouts },
      wallet: { governor: d.governor, chainId: d.chainId, devAccounts: d.devAccounts },
    };
  }
  return { make };
}
