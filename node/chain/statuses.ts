/**
 * The chain's status enums in one place, as the contracts' interfaces declare them (same order,
 * so the same numbers): by name for comparisons, and names by value for what is shown.
 * test/node/statuses.test.ts checks each against the Solidity source.
 */

/** IInferenceMarket.JobStatus. */
export const JobStatus = {
  None: 0,
  Open: 1,
  Revealing: 2,
  Settled: 3,
  Refunded: 4,
  Delivered: 5,
  Challenged: 6,
  JuryRevealing: 7,
} as const;
/** IInferenceMarket.JobStatus names, by value, as the CLI and the client print them. */
export const JOB_STATUS = [
  "none",
  "open",
  "revealing",
  "settled",
  "refunded",
  "delivered",
  "challenged",
  "jury revealing",
] as const;

/** IInferenceMarket.ChallengeOutcome. */
export const ChallengeOutcome = { ProviderWrong: 0, ProviderRight: 1, Inconclusive: 2 } as const;

/** IModelRegistry.VersionStatus. */
export const VersionStatus = { None: 0, Published: 1, Active: 2, Deprecated: 3, Retired: 4 } as const;
/** IModelRegistry.VersionStatus names, by value. */
export const VERSION_STATUS = ["None", "Published", "Active", "Deprecated", "Retired"] as const;

/** IProviderRegistry.ProviderStatus. */
export const ProviderStatus = { None: 0, Pending: 1, Approved: 2, Suspended: 3, Exited: 4 } as const;
/** IProviderRegistry.ProviderStatus names, by value. */
export const PROVIDER_STATUS = ["None", "Pending", "Approved", "Suspended", "Exited"] as const;

/** IModelRollouts.RolloutStatus names, by value. */
export const ROLLOUT_STATUS = ["None", "Running", "Promoted", "Aborted"] as const;
export type RolloutStatusName = (typeof ROLLOUT_STATUS)[number];

/** ConsumerRouter.CallbackStatus. */
export const CallbackStatus = { None: 0, Funded: 1, Delivered: 2, HashOnly: 3, Failed: 4, Reclaimed: 5 } as const;
/** ConsumerRouter.CallbackStatus names, by value, as the CLI and the client print them. */
export const CALLBACK_STATUS = ["none", "funded", "delivered", "hash only", "failed", "reclaimed"] as const;
