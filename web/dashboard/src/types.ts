/** The snapshot JSON the dashboard process sends (node/dashboard/snapshot.ts): the fields the page reads. */

export interface Job {
  jobId: string;
  model: string;
  version: number;
  token: string;
  k: number;
  fee: string;
  stage: string;
  seated: number;
  revealed: number;
  resultHash: string | null;
  requestedAt: number;
  deadline: number;
  latency: number | null;
  disagreed: boolean;
  noQuorum: boolean;
  /** A consumer contract's callback status, null for other jobs. */
  callback?: string | null;
}

export interface Proposal {
  proposalId: string;
  proposer: string;
  description: string;
  voteStart: number;
  voteEnd: number;
  votes: { against: string; for: string; abstain: string };
  voters: string[];
  state: string;
  quorum: string | null;
  timeLeft: number | null;
}

interface RunnerHealth {
  url: string;
  reachable: boolean;
  ready: boolean | null;
  blocksBehind: number | null;
  jobs: Record<string, number>;
  journal: Record<string, number>;
  versions: string[];
}

export interface Provider {
  address: string;
  status: string;
  stake: string;
  locked: string;
  frozenUntil: number;
  served: number;
  disagreed: number;
  missed: number;
  tags: string;
  grantedTags: string;
  memoryMB: number;
  accelerator: string;
  region: string;
  timeline: { at: number; event: string }[];
  runner: RunnerHealth | null;
}

interface Version {
  version: number;
  status: string;
  weightsCid: string;
  minFee: string;
  sunsetAt: number | null;
  timeline: { at: number; event: string }[];
}

export interface Model {
  modelId: string;
  name: string;
  activeVersion: number;
  versions: Version[];
}

/** A staged rollout (node/dashboard/rollouts-view.ts). */
export interface Rollout {
  modelId: string;
  model: string;
  candidate: number;
  champion: number;
  plan: {
    candidate: number;
    canaryBps: number;
    minDuration: number;
    promoteAfterJobs: number;
    abortAfterJobs: number;
    maxDisputedBps: number;
    maxFailedBps: number;
  };
  status: "Running" | "Promoted" | "Aborted";
  startedAt: number;
  endedAt: number | null;
  endedBy: string | null;
  reason: string | null;
  counters: { settled: number; disputed: number; failed: number };
  rules: {
    ended: number;
    promotable: boolean;
    abortable: boolean;
    unmet: string | null;
    abortReason: string | null;
    promotableFrom: number;
    text: string;
  };
}

export interface Snapshot {
  chainId: number;
  head: number;
  headTime: number;
  madeAt: number;
  models: Model[];
  jobs: Job[];
  proposals: Proposal[];
  providers: Provider[];
  totals: {
    jobs: number;
    jobsPerMinute: number;
    escrowHeld: Record<string, string>;
    feesEarned: Record<string, string>;
    disagreementRate: number | null;
    open: number;
  };
  charts: {
    jobsOverTime: { minute: number[]; requested: number[]; finished: number[] };
    latency: { bucket: number[]; count: number[] };
  };
  tokens: Record<string, { symbol: string; decimals: number }>;
  rollouts: { supported: boolean; items: Rollout[] };
  wallet: { governor: string; chainId: number; devAccounts: { index: number; address: string; role: string }[] };
}
