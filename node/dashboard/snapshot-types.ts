/**
 * The page's contract: the snapshot JSON the dashboard process sends (snapshot.ts) and the views it
 * is made of (view.ts, rollouts-view.ts, runner-probe.ts). The web app (web/dashboard) reads these
 * types, so this file imports types only, and only from modules that need no Node.js.
 */
import type { Address, Hex } from "viem";
import type { RolloutStatusName, VERSION_STATUS } from "../chain/statuses.ts";
import type { RolloutCounters, RolloutPlan, RolloutRules } from "../rollouts/rules.ts";

type VersionStatus = Exclude<(typeof VERSION_STATUS)[number], "None">;

interface VersionView {
  version: number;
  status: VersionStatus;
  weightsCid: string;
  minFee: string;
  publisher: Address;
  /** Deprecated versions take jobs until then (seconds). */
  sunsetAt: number | null;
  /** Lifecycle: each change with its block time (seconds). */
  timeline: { at: number; event: string }[];
}

export interface ModelView {
  modelId: Hex;
  name: string;
  activeVersion: number;
  versions: VersionView[];
}

export type JobStage =
  | "open"
  | "committing"
  | "revealing"
  | "settled"
  | "refunded"
  | "cancelled"
  | "delivered"
  | "claimed"
  | "challenged"
  | "resolved";

export interface JobView {
  jobId: string;
  model: string;
  version: number;
  client: Address;
  token: Address;
  k: number;
  fee: string;
  stage: JobStage;
  seated: number;
  revealed: number;
  resultHash: Hex | null;
  requestedAt: number;
  deadline: number;
  /** Seconds from request to result (settlement for k > 1, delivery for k = 1). */
  latency: number | null;
  /** Revealed results disagreed (more than one distinct hash). */
  disagreed: boolean;
  noQuorum: boolean;
  /** A consumer contract's job: its callback on the ConsumerRouter (funded, delivered, hash only, failed, reclaimed); null otherwise. */
  callback: string | null;
}

export interface ProposalBase {
  proposalId: string;
  proposer: Address;
  description: string;
  voteStart: number;
  voteEnd: number;
  votes: { against: string; for: string; abstain: string };
  voters: Address[];
  queuedEta: number | null;
  executed: boolean;
  canceled: boolean;
}

export interface ProviderBase {
  address: Address;
  metadataURI: string;
  registeredAt: number;
  timeline: { at: number; event: string }[];
}

interface Totals {
  jobs: number;
  jobsPerMinute: number;
  /** Per payment token (address): escrow held by jobs not ended, and provider fees paid. */
  escrowHeld: Record<string, string>;
  feesEarned: Record<string, string>;
  /** Share of finished jobs with two or more reveals whose reveals disagreed (0..1; null if none). */
  disagreementRate: number | null;
  open: number;
}

export interface Charts {
  /** Jobs requested per minute of chain time, the last `minutes` minutes (start of each minute, seconds). */
  jobsOverTime: { minute: number[]; requested: number[]; finished: number[] };
  /** Latency histogram: bucket lower bounds (seconds) and job counts. */
  latency: { bucket: number[]; count: number[] };
}

export interface ChainView {
  models: ModelView[];
  jobs: JobView[];
  proposals: ProposalBase[];
  providers: ProviderBase[];
  /** Staged rollouts, newest first. */
  rollouts: RolloutView[];
  totals: Totals;
  charts: Charts;
}

/** One staged rollout as the page shows it, folded from the ModelRegistry's rollout events. */
export interface RolloutView {
  modelId: Hex;
  model: string;
  candidate: number;
  /** The active version when the rollout started. */
  champion: number;
  plan: RolloutPlan;
  status: Exclude<RolloutStatusName, "None">;
  startedAt: number;
  /** When it was promoted or aborted (seconds), by whom and why (aborts). */
  endedAt: number | null;
  endedBy: Address | null;
  reason: string | null;
  /** How the candidate's jobs ended, as the last RolloutJobCounted said. */
  counters: RolloutCounters;
  /** What the rules say at the head's time (running rollouts; otherwise both false). */
  rules: RolloutRules & { text: string };
}

/** What a runner's own HTTP endpoints say, when they answer. */
export interface RunnerHealth {
  url: string;
  reachable: boolean;
  ready: boolean | null;
  blocksBehind: number | null;
  /** Jobs by outcome (conclave_jobs_total). */
  jobs: Record<string, number>;
  /** Jobs in the runner's journal by state (/status). */
  journal: Record<string, number>;
  /** Model versions the runner holds (/status `models`, when the runner reports it). */
  versions: string[];
  /** The provider the runner says it serves (/status), if it answered. */
  provider: string | null;
  checkedAt: number;
}

export interface ProposalLive extends ProposalBase {
  state: string;
  /** Votes needed (for + abstain), known once voting started. */
  quorum: string | null;
  /** Seconds until the next stage ends (voting start, voting end, timelock eta), null when none. */
  timeLeft: number | null;
}

export interface ProviderLive {
  address: Address;
  status: string;
  stake: string;
  locked: string;
  frozenUntil: number;
  disagreed: number;
  missed: number;
  tags: string;
  grantedTags: string;
  memoryMB: number;
  accelerator: string;
  region: string;
  metadataURI: string;
  timeline: { at: number; event: string }[];
  runner: RunnerHealth | null;
}

export interface Snapshot extends Omit<ChainView, "proposals" | "providers" | "rollouts"> {
  chainId: number;
  head: number;
  headTime: number;
  /** Wall-clock milliseconds when this snapshot was made. */
  madeAt: number;
  proposals: ProposalLive[];
  providers: ProviderLive[];
  tokens: Record<string, { symbol: string; decimals: number }>;
  /** Staged rollouts, newest first (supported: the deployed registry has rollout plans). */
  rollouts: { supported: boolean; items: RolloutView[] };
  wallet: { governor: Address; chainId: number; devAccounts: { index: number; address: Address; role: string }[] };
}
