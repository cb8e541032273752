/**
 * What the page shows, folded from the indexed events alone (no chain reads): a pure function of
 * the event list and the chain clock, so it is tested with plain arrays of events.
 *
 * The types it fills are the page's contract, in snapshot-types.ts. The folds (models, jobs,
 * proposals, providers, charts) are one pure function over one event list; staged rollouts, which
 * have their own rules, are folded in rollouts-view.ts.
 */
import type { Address, Hex } from "viem";
import { plainDescription } from "../dao/proposals.ts";
import type { IndexedLog } from "./indexer.ts";
import { foldRollouts } from "./rollouts-view.ts";
import type { ChainView, Charts, JobStage, JobView, ModelView, ProposalBase, ProviderBase } from "./snapshot-types.ts";
import { PROVIDER_STATUS } from "../chain/statuses.ts";
import { jobOfWords, type JobWords } from "../attest/job-words.ts";

const ENDED: ReadonlySet<JobStage> = new Set(["settled", "refunded", "cancelled", "claimed", "resolved"]);

/** The stage each of these events moves a job to. */
const STAGE_AFTER: ReadonlyMap<string, JobStage> = new Map<string, JobStage>([
  ["RevealStarted", "revealing"],
  ["JobSettled", "settled"],
  ["JobRefunded", "refunded"],
  ["JobCancelled", "cancelled"],
  ["ResultSubmitted", "delivered"],
  ["DeliveryClaimed", "claimed"],
  ["ResultChallenged", "challenged"],
  ["ChallengeResolved", "resolved"],
]);

/** A consumer job's callback status after each of the ConsumerRouter's events (CallbackDelivered: see foldJobs). */
const CALLBACK_AFTER: ReadonlyMap<string, string> = new Map([
  ["CallbackFunded", "funded"],
  ["CallbackFailed", "failed"],
  ["DepositReclaimed", "reclaimed"],
]);

interface JobAcc extends JobView {
  protocolFeeBps: number;
  hashes: Set<string>;
  finishedAt: number | null;
  /** Seats paid at settlement (the majority). */
  agreeing: number;
}

const n = (v: unknown) => Number(v as bigint | number);
const s = (v: unknown) => String(v as bigint | number);
const add = (m: Record<string, bigint>, token: string, v: bigint) => void (m[token] = (m[token] ?? 0n) + v);

function foldModels(logs: readonly IndexedLog[]): ModelView[] {
  const models = new Map<Hex, ModelView>();
  const version = (modelId: Hex, v: number) => models.get(modelId)?.versions.find((x) => x.version === v);
  for (const l of logs) {
    const a = l.args;
    if (l.eventName === "ModelCreated")
      models.set(a.modelId as Hex, {
        modelId: a.modelId as Hex,
        name: a.name as string,
        activeVersion: 0,
        versions: [],
      });
    else if (l.eventName === "VersionPublished") {
      const p = a.params as { weightsCid: string; minFee: bigint };
      models.get(a.modelId as Hex)?.versions.push({
        version: n(a.version),
        status: "Published",
        weightsCid: p.weightsCid,
        minFee: s(p.minFee),
        publisher: a.publisher as Address,
        sunsetAt: null,
        timeline: [{ at: l.timestamp, event: "published" }],
      });
    } else if (l.eventName === "VersionActivated") {
      const m = models.get(a.modelId as Hex);
      if (!m) continue;
      const v = version(m.modelId, n(a.version));
      if (v) {
        v.status = "Active";
        v.sunsetAt = null;
        v.timeline.push({
          at: l.timestamp,
          event: n(a.previousVersion) > n(a.version) ? "activated (rollback)" : "activated",
        });
      }
      const prev = version(m.modelId, n(a.previousVersion));
      if (prev && prev !== v) {
        prev.status = "Deprecated";
        prev.sunsetAt = n(a.previousSunsetAt);
        prev.timeline.push({
          at: l.timestamp,
          event: `deprecated (sunset ${new Date(n(a.previousSunsetAt) * 1000).toISOString()})`,
        });
      }
      m.activeVersion = n(a.version);
    } else if (l.eventName === "VersionRetired") {
      const m = models.get(a.modelId as Hex);
      const v = m && version(m.modelId, n(a.version));
      if (!m || !v) continue;
      v.status = "Retired";
      v.timeline.push({ at: l.timestamp, event: "retired" });
      if (m.activeVersion === v.version) m.activeVersion = 0;
    }
  }
  return [...models.values()];
}

function foldJobs(logs: readonly IndexedLog[], names: Map<Hex, string>): JobAcc[] {
  const jobs = new Map<string, JobAcc>();
  for (const l of logs) {
    const a = l.args;
    if (a.jobId === undefined) continue;
    const id = s(a.jobId);
    if (l.eventName === "JobRequested") {
      const job = jobOfWords(a.job as JobWords);
      jobs.set(id, {
        jobId: id,
        model: names.get(job.modelId) ?? job.modelId,
        version: n(job.version),
        client: a.client as Address,
        token: job.token,
        k: n(job.redundancy),
        fee: s(job.feePerProvider),
        protocolFeeBps: n(job.protocolFeeBps),
        stage: "open",
        seated: 0,
        revealed: 0,
        resultHash: null,
        requestedAt: n(job.requestedAt) || l.timestamp,
        deadline: n(job.deadline),
        latency: null,
        disagreed: false,
        noQuorum: false,
        hashes: new Set(),
        finishedAt: null,
        agreeing: 0,
        callback: null,
      });
      continue;
    }
    const j = jobs.get(id);
    if (!j) continue;
    const result = (hash: Hex) => {
      j.resultHash = hash;
      j.latency ??= Math.max(0, l.timestamp - j.requestedAt);
    };
    // The stage an event leaves a job in; an event that ends the job also stamps when.
    const stage = STAGE_AFTER.get(l.eventName);
    if (stage) j.stage = stage;
    if (stage && ENDED.has(stage)) j.finishedAt = l.timestamp;
    const callback = CALLBACK_AFTER.get(l.eventName);
    if (callback) j.callback = callback;
    switch (l.eventName) {
      case "SeatCommitted":
        j.seated++;
        if (j.stage === "open") j.stage = "committing";
        break;
      case "ResultRevealed":
        j.revealed++;
        j.hashes.add(a.resultHash as string);
        j.disagreed = j.hashes.size > 1;
        break;
      case "JobSettled":
        j.agreeing = n(a.agreeing);
        result(a.resultHash as Hex);
        break;
      case "JobRefunded":
        j.noQuorum = Boolean(a.noQuorum);
        break;
      case "ResultSubmitted":
        j.seated = 1;
        result(a.resultHash as Hex);
        break;
      case "CallbackDelivered":
        j.callback = a.hashOnly ? "hash only" : "delivered";
        break;
    }
  }
  return [...jobs.values()];
}

function foldProposals(logs: readonly IndexedLog[]): ProposalBase[] {
  const out = new Map<string, ProposalBase & { tally: [bigint, bigint, bigint] }>();
  for (const l of logs) {
    const a = l.args;
    if (a.proposalId === undefined) continue;
    const id = s(a.proposalId);
    if (l.eventName === "ProposalCreated") {
      out.set(id, {
        proposalId: id,
        proposer: a.proposer as Address,
        description: plainDescription(a.description as string),
        voteStart: n(a.voteStart),
        voteEnd: n(a.voteEnd),
        votes: { against: "0", for: "0", abstain: "0" },
        voters: [],
        queuedEta: null,
        executed: false,
        canceled: false,
        tally: [0n, 0n, 0n],
      });
      continue;
    }
    const p = out.get(id);
    if (!p) continue;
    if (l.eventName === "VoteCast" || l.eventName === "VoteCastWithParams") {
      p.tally[n(a.support)] = (p.tally[n(a.support)] ?? 0n) + (a.weight as bigint);
      p.voters.push(a.voter as Address);
      p.votes = { against: p.tally[0].toString(), for: p.tally[1].toString(), abstain: p.tally[2].toString() };
    } else if (l.eventName === "ProposalQueued") p.queuedEta = n(a.etaSeconds ?? a.eta);
    else if (l.eventName === "ProposalExecuted") p.executed = true;
    else if (l.eventName === "ProposalCanceled") p.canceled = true;
  }
  return [...out.values()].map(({ tally: _tally, ...p }) => p);
}

function foldProviders(logs: readonly IndexedLog[]): ProviderBase[] {
  const out = new Map<Address, ProviderBase>();
  for (const l of logs) {
    const who = l.args.provider as Address | undefined;
    if (!who || l.address === undefined) continue;
    if (l.eventName === "ProviderRegistered") {
      out.set(who, {
        address: who,
        metadataURI: l.args.metadataURI as string,
        registeredAt: l.timestamp,
        timeline: [{ at: l.timestamp, event: "registered" }],
      });
      continue;
    }
    const p = out.get(who);
    if (!p) continue;
    if (l.eventName === "ProviderStatusChanged")
      p.timeline.push({ at: l.timestamp, event: PROVIDER_STATUS[n(l.args.newStatus)] ?? "status changed" });
    else if (
      l.eventName === "ProviderSlashed" ||
      l.eventName === "ProviderFrozen" ||
      l.eventName === "ProviderUnfrozen" ||
      l.eventName === "ExitRequested"
    )
      p.timeline.push({ at: l.timestamp, event: l.eventName.replace(/^Provider/, "").toLowerCase() });
    else if (l.eventName === "CapabilitiesUpdated") p.metadataURI = l.args.metadataURI as string;
  }
  return [...out.values()];
}

const LATENCY_BUCKETS = [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89];

function charts(jobs: readonly JobAcc[], now: number, minutes: number): Charts {
  const first = Math.floor(now / 60) * 60 - (minutes - 1) * 60;
  const minute = Array.from({ length: minutes }, (_, i) => first + i * 60);
  const requested = new Array<number>(minutes).fill(0);
  const finished = new Array<number>(minutes).fill(0);
  const count = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  for (const j of jobs) {
    const r = Math.floor((j.requestedAt - first) / 60);
    if (r >= 0 && r < minutes) requested[r]!++;
    if (j.finishedAt !== null) {
      const f = Math.floor((j.finishedAt - first) / 60);
      if (f >= 0 && f < minutes) finished[f]!++;
    }
    if (j.latency !== null) {
      let b = LATENCY_BUCKETS.length - 1;
      while (b > 0 && j.latency < LATENCY_BUCKETS[b]!) b--;
      count[b]!++;
    }
  }
  return { jobsOverTime: { minute, requested, finished }, latency: { bucket: [...LATENCY_BUCKETS], count } };
}

/**
 * The dashboard's view of the chain from its events. `now` is the head block's timestamp;
 * `recentJobs` bounds how many jobs are listed (newest first; totals and charts count them all).
 */
export function buildView(
  logs: readonly IndexedLog[],
  opts: { now: number; recentJobs?: number; chartMinutes?: number },
): ChainView {
  const models = foldModels(logs);
  const names = new Map(models.map((m) => [m.modelId, m.name]));
  const jobs = foldJobs(logs, names);
  const escrow: Record<string, bigint> = {};
  const fees: Record<string, bigint> = {};
  let open = 0;
  let compared = 0;
  let disagreed = 0;
  for (const j of jobs) {
    const fee = BigInt(j.fee);
    if (!ENDED.has(j.stage)) {
      open++;
      const paid = BigInt(j.k) * fee;
      add(escrow, j.token, paid + (paid * BigInt(j.protocolFeeBps)) / 10_000n);
    }
    if (j.stage === "claimed") add(fees, j.token, fee);
    if (j.stage === "settled") add(fees, j.token, fee * BigInt(j.agreeing));
    if (ENDED.has(j.stage) && j.revealed >= 2) {
      compared++;
      if (j.disagreed) disagreed++;
    }
  }
  const recent = jobs.slice(-(opts.recentJobs ?? 200)).reverse();
  const str = (m: Record<string, bigint>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.toString()]));
  return {
    models,
    jobs: recent.map(({ protocolFeeBps: _p, hashes: _h, finishedAt: _f, agreeing: _a, ...j }) => j),
    proposals: foldProposals(logs),
    providers: foldProviders(logs),
    rollouts: foldRollouts(logs, names, opts.now),
    totals: {
      jobs: jobs.length,
      jobsPerMinute: jobs.filter((j) => j.requestedAt > opts.now - 60).length,
      escrowHeld: str(escrow),
      feesEarned: str(fees),
      disagreementRate: compared === 0 ? null : disagreed / compared,
      open,
    },
    charts: charts(jobs, opts.now, opts.chartMinutes ?? 30),
  };
}
