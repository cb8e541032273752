// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IModelRollouts
/// @notice Staged rollouts of a model version. One DAO vote approves a plan for a candidate
/// version: a share of the requests for "the active version" (version 0) is pinned to the
/// candidate at request time, and the market reports how those jobs ended. Once the plan's
/// promotion rule holds anyone may promote the candidate (it becomes the active version); once its
/// abort rule holds anyone may abort the rollout (later requests all go to the active version).
/// The guardian may abort at any time but never promote. Runners promote and abort as a service.
interface IModelRollouts {
    /// @notice Where a model's rollout stands.
    enum RolloutStatus {
        None,
        Running,
        Promoted,
        Aborted
    }

    /// @notice How a job on a counted version ended, as the market reports it.
    /// @dev Settled: paid with every revealer in the majority (k = 1: claimed unchallenged or the
    /// provider upheld). Disputed: paid, but a revealer dissented or a k = 1 result was found
    /// wrong by a jury. Failed: refunded for a provider fault (no quorum, no result by the deadline).
    enum JobOutcome {
        Settled,
        Disputed,
        Failed
    }

    /// @notice A rollout plan, approved by the DAO in one vote.
    /// @param candidate The Published version to roll out.
    /// @param canaryBps Share of version-0 requests pinned to the candidate, in basis points (1–5,000).
    /// @param minDuration Seconds the canary runs at least before it can be promoted.
    /// @param promoteAfterJobs Candidate jobs that must have ended (settled, disputed or failed)
    /// before it can be promoted (at least 1).
    /// @param abortAfterJobs Candidate jobs that must have ended before the abort rule applies
    /// (at least 1): one unlucky job does not abort a rollout.
    /// @param maxDisputedBps Disputed jobs over ended jobs above this aborts; at or below it is
    /// needed to promote.
    /// @param maxFailedBps Failed jobs over ended jobs above this aborts; at or below it is needed
    /// to promote.
    struct RolloutPlan {
        uint32 candidate;
        uint16 canaryBps;
        uint40 minDuration;
        uint32 promoteAfterJobs;
        uint32 abortAfterJobs;
        uint16 maxDisputedBps;
        uint16 maxFailedBps;
    }

    /// @notice A model's rollout: its plan, when it started and where it stands.
    struct Rollout {
        RolloutPlan plan;
        uint40 startedAt;
        RolloutStatus status;
    }

    /// @notice How the jobs of a version ended, counted while it is a rollout's candidate.
    struct VersionCounters {
        uint32 settled;
        uint32 disputed;
        uint32 failed;
    }

    /// @notice The DAO started a rollout of `plan.candidate` (the active version is `champion`).
    event RolloutStarted(bytes32 indexed modelId, uint32 indexed candidate, uint32 champion, RolloutPlan plan);

    /// @notice The market reported how a job of a counted version ended; the counters after it.
    event RolloutJobCounted(
        bytes32 indexed modelId,
        uint32 indexed version,
        JobOutcome outcome,
        VersionCounters counters
    );

    /// @notice The candidate met the promotion rule (or the DAO activated it) and is the active version.
    event RolloutPromoted(bytes32 indexed modelId, uint32 indexed candidate, address by);

    /// @notice The rollout ended without promotion: its abort rule held, the guardian aborted it, or
    /// the DAO activated or retired a version that ends it. Later requests go to the active version.
    event RolloutAborted(bytes32 indexed modelId, uint32 indexed candidate, address by, string reason);

    /// @notice A plan field is out of its bounds.
    error ModelRegistryInvalidRolloutPlan(string field, uint256 value);

    /// @notice The model already has a running rollout.
    error ModelRegistryRolloutRunning(bytes32 modelId, uint32 candidate);

    /// @notice The model has no running rollout.
    error ModelRegistryNoRunningRollout(bytes32 modelId);

    /// @notice The rollout's rule for this step does not hold (yet); `rule` names the unmet part.
    error ModelRegistryRolloutRuleNotMet(bytes32 modelId, string rule);

    /// @notice Starts a rollout (DAO only). The candidate must be Published, the model must have an
    /// active version (the champion), and no rollout may be running.
    /// @param modelId The model.
    /// @param plan The plan (see {RolloutPlan} for bounds).
    function startRollout(bytes32 modelId, RolloutPlan calldata plan) external;

    /// @notice Promotes the running rollout's candidate once the promotion rule holds: at least
    /// `minDuration` since the start, `promoteAfterJobs` ended jobs, and disputed and failed shares
    /// within the plan's maxima. Open to anyone; the old active version is deprecated as by
    /// {IModelRegistry-activateVersion}.
    /// @param modelId The model.
    function promoteRollout(bytes32 modelId) external;

    /// @notice Aborts the running rollout: by anyone once the abort rule holds (`abortAfterJobs`
    /// ended jobs and a disputed or failed share above the plan's maximum), by the guardian or the
    /// DAO at any time. Candidate jobs already requested are still served and paid.
    /// @param modelId The model.
    function abortRollout(bytes32 modelId) external;

    /// @notice Records how a job of a counted version ended (MARKET_ROLE only: the market, for
    /// jobs it was told to count by {jobTermsFor}).
    /// @param modelId The job's model.
    /// @param version The job's version.
    /// @param outcome How it ended.
    function countJob(bytes32 modelId, uint32 version, JobOutcome outcome) external;

    /// @notice The model's rollout (status None when it never had one) and its candidate's counters.
    /// @param modelId The model.
    /// @return rollout The plan, start and status.
    /// @return counters The candidate's counters.
    function rolloutOf(bytes32 modelId) external view returns (Rollout memory rollout, VersionCounters memory counters);

    /// @notice What the running rollout's rules say now.
    /// @param modelId The model.
    /// @return promotable Whether {promoteRollout} would succeed now.
    /// @return abortable Whether {abortRollout} by anyone would succeed now.
    function rolloutVerdict(bytes32 modelId) external view returns (bool promotable, bool abortable);
}
