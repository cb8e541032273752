// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceMarketLinks, IInferenceMarketTypes} from "./IInferenceMarket.sol";

/// @title IInferenceMarketCourt
/// @notice Claims and challenges of k = 1 deliveries, their juries, batched commits and reveals, and the DAO's settings (the
/// policy, the challenge policy, payment tokens, the treasury and its protocol fees), none of
/// which a client or provider calls on its hot path. Called on the market's address: the
/// market forwards these functions to its court contract (DELEGATECALL, so the market's storage
/// and balances are the ones used), which keeps the market under the EVM's contract size limit.
interface IInferenceMarketCourt is IInferenceMarketTypes, IInferenceMarketLinks {
    /// @notice Challenges a k = 1 delivery during its challenge window: the caller (an eligible
    /// provider other than the deliverer) locks the job's collateral as its bond, and a jury of
    /// `jurySize` other providers, ordered from a seed drawn now, re-runs the job by commit and
    /// reveal ({juryCommit}, {juryReveal}). The loser pays (see {ChallengeOutcome}).
    /// Residual risk: the seed comes from prevrandao, which the block's proposer knows; a
    /// challenger that is also the proposer could choose when to challenge.
    /// @param jobId The job.
    /// @param job The job's parameters.
    /// @param provider The delivering provider, as in {ResultSubmitted}.
    /// @param resultHash The delivered result, as in {ResultSubmitted}.
    function challenge(uint256 jobId, uint256[6] calldata job, address provider, bytes32 resultHash) external;

    /// @notice Takes a jury seat of a challenged job by committing
    /// `keccak256(abi.encode(jobId, juror, resultHash, salt))` and locking the job's collateral.
    /// The caller must be eligible, not a party, and its jury rank open: ranks run from
    /// `jurySeed` as in {assignment}, opening from `challengedAt`. The `jurySize`-th seat starts
    /// the reveal.
    /// @param jobId The job.
    /// @param job The job's parameters.
    /// @param challenge_ The challenge, as in {ResultChallenged}.
    /// @param commitment The commitment.
    /// @return seat The jury seat, passed back to {juryReveal}.
    function juryCommit(
        uint256 jobId,
        uint256[6] calldata job,
        Challenge calldata challenge_,
        bytes32 commitment
    ) external returns (uint8 seat);

    /// @notice Reveals a juror's result; the last reveal resolves the challenge. Once the commit
    /// window passed with a quorum of jurors seated, the first reveal starts the reveal phase.
    /// @param jobId The job.
    /// @param job The job's parameters.
    /// @param challenge_ The challenge.
    /// @param seat The caller's jury seat.
    /// @param resultHash The result committed to.
    /// @param salt The commitment's salt.
    /// @param outputRef Where the outputs are.
    function juryReveal(
        uint256 jobId,
        uint256[6] calldata job,
        Challenge calldata challenge_,
        uint8 seat,
        bytes32 resultHash,
        bytes32 salt,
        bytes calldata outputRef
    ) external;

    /// @notice Resolves a challenge whose jury can do no more: the commit window passed with
    /// fewer than a quorum of jurors (Inconclusive, seated jurors released with no fault), or the
    /// reveal window passed (silent jurors slashed). Anyone may call.
    /// @param jobId The job.
    /// @param job The job's parameters.
    /// @param challenge_ The challenge.
    function resolveChallenge(uint256 jobId, uint256[6] calldata job, Challenge calldata challenge_) external;

    /// @notice Pays matured k = 1 deliveries (challenge window over, unchallenged): each item's
    /// provider is credited the fee, the protocol fee accrues and the collateral is released.
    /// Anyone may call it (the provider, or a keeper for it). Items that cannot be claimed are
    /// skipped with {ClaimSkipped} and change nothing.
    /// @param claims The deliveries: job, provider and result as in {ResultSubmitted}.
    /// @return claimed How many items were paid.
    function claim(Claim[] calldata claims) external returns (uint256 claimed);

    /// @notice Commits the caller to seats in several jobs in one transaction: each item runs
    /// exactly as the market's own {IInferenceMarket-commit} called by the sender (same checks,
    /// effects and events; the last seat of a job starts its reveal). An item that {commit}
    /// refuses is skipped with {CommitSkipped} and changes nothing; the others stand. An item that
    /// runs out of gas reverts the whole batch.
    /// @param commits The commits: the arguments of {IInferenceMarket-commit}, one per job.
    /// @return committed How many items took a seat.
    function commitAll(Commit[] calldata commits) external returns (uint256 committed);

    /// @notice Reveals several of the caller's seats in one transaction: each item runs exactly as
    /// the market's own {IInferenceMarket-reveal} called by the sender (same checks, effects and
    /// events; the last reveal of a job settles it). An item that {reveal} refuses is skipped with
    /// {RevealSkipped} and changes nothing; the others stand. An item that runs out of gas reverts
    /// the whole batch.
    /// @param reveals The reveals: the arguments of {IInferenceMarket-reveal}, one per seat.
    /// @return revealed How many items were revealed.
    function revealAll(Reveal[] calldata reveals) external returns (uint256 revealed);

    /// @notice Sets the challenge policy (DAO only). Bounds: challenge window 1 s–30 days, jury of
    /// 3, 5, 7 or 9, `jurySize × juryFee` ≤ the collateral per job, challenger share ≤ 100 %.
    /// @param policy The new challenge policy.
    function setChallengePolicy(ChallengePolicy calldata policy) external;

    /// @notice The current challenge policy.
    function challengePolicy() external view returns (ChallengePolicy memory);

    /// @notice Sets the policy (DAO only). Bounds: protocol fee ≤ 10 %, quorum 50–100 % (strictly
    /// more than half of k is always needed), 1 ≤ max k ≤ 32, windows 1 s–30 days, priority
    /// window ≤ 1 hour (0 = off), inline input ≤ 64 KiB, job duration 1 min–365 days, client
    /// share of slashed stake ≤ 100 %, collateral per job ≥ 1 stake token (10^18 base units) and
    /// ≥ `jurySize × juryFee`.
    /// @param policy The new policy.
    function setPolicy(Policy calldata policy) external;

    /// @notice Winds the market down for good (DAO only), for a migration to a new market
    /// (finding 12). Emits {MarketWoundDown} and retires the market in the provider registry
    /// (`retireMarket`: it leaves MARKET_ROLE for RETIRED_MARKET_ROLE). From then on: no
    /// requests ({InferenceMarketWoundDown}); no deliveries, commits, challenges or jury
    /// commits (the registry refuses their collateral, `ProviderRegistryMarketRetired`); an Open
    /// job (k = 1, or k > 1 before its commit deadline or without a quorum of seats) is
    /// finalized at once as a refund with every seat released, nobody at fault; Revealing,
    /// Delivered, Challenged and JuryRevealing jobs run to completion as before (a challenge whose
    /// jury has no quorum of seats yet ends Inconclusive at its commit deadline: no new juror can
    /// lock collateral); claims, cancels and withdrawals work forever. Reverts with
    /// {InferenceMarketWoundDown} if already wound down.
    function windDown() external;

    /// @notice Whether the market was wound down ({windDown}).
    function woundDown() external view returns (bool);

    /// @notice Allows or disallows an ERC-20 as payment and sets its rate (DAO only). ETH is
    /// always allowed. A version's minimum fee is in wei; a job paid in the token must offer at
    /// least `ceil(minFee × ratePerEth / 10^18)` (see {IInferenceMarket-minFeeIn}). Jobs already
    /// requested keep their fee.
    /// @param token The token.
    /// @param allowed Whether jobs may be paid in it.
    /// @param ratePerEth The token's base units worth 10^18 wei (1 ETH), for example
    /// 3,000 × 10^6 for a 6-decimal dollar at 3,000 dollars per ETH. Not 0 when allowed.
    function setTokenAllowed(address token, bool allowed, uint128 ratePerEth) external;

    /// @notice Sets where protocol fees are sent (DAO only).
    /// @param treasury The treasury.
    function setTreasury(address treasury) external;

    /// @notice Sends the protocol fees accrued in `token` (address(0) = ETH) to the treasury
    /// (the treasury or the DAO only).
    /// @param token The token.
    /// @return amount What was sent.
    function withdrawProtocolFees(address token) external returns (uint256 amount);

    /// @notice What a request for `version` of `modelId` with seed `seed` gets from this market's
    /// mirror of the model registry ({IInferenceMarket-syncModel}): the same values as
    /// {IModelRegistry-jobTermsFor} returns while the mirror is in sync, and what {IInferenceMarket-requestJob}
    /// checks and pins.
    /// @param modelId The model.
    /// @param version A version number, or 0 for "the active one" (or the canary).
    /// @param seed The request's seed (the job's seed, as {IModelRegistry-jobTermsFor} takes it).
    /// @return resolved The concrete version (0 when `version` was 0 and none is active).
    /// @return accepting Whether the version takes new jobs now.
    /// @return minFee The version's minimum fee per provider, in wei.
    /// @return minMemoryMB The memory a provider needs.
    /// @return counted Whether the job's outcome is reported to the registry.
    function mirroredJobTerms(
        bytes32 modelId,
        uint32 version,
        uint256 seed
    ) external view returns (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB, bool counted);

    /// @notice Mirrors what this market checks `provider` against ({ProviderWord}: roster slot,
    /// freeze, memory and granted tags, all zero for a provider that may take no seat) and the
    /// roster's size. Called by the provider registry on every change, so that deliveries,
    /// commits and challenges read one word of this market instead of calling the registry.
    /// The collateral the provider holds free here is kept.
    /// @param provider The provider.
    /// @param terms The registry's part of the provider's word.
    /// @param rosterSize The roster's size.
    function syncProvider(address provider, uint256 terms, uint256 rosterSize) external;

    /// @notice Gives back up to `amount` of the collateral this market holds free for `provider`
    /// (the provider registry only: for {IProviderRegistry-deallocate}, {IProviderRegistry-withdrawStake}
    /// and {IProviderRegistry-slash}). Collateral held by open seats stays.
    /// @param provider The provider.
    /// @param amount The most to give back.
    /// @return taken What was given back.
    function reclaimCollateral(address provider, uint256 amount) external returns (uint256 taken);

    /// @notice A provider as this market sees it: whether it may take a seat now (a roster
    /// member at or above the minimum stake, not frozen), its granted tags (bits 0-63), memory,
    /// roster place, and the collateral it holds free here (allocated, in no seat).
    /// @param provider The provider.
    /// @return eligible Whether it may take a seat now (given the collateral and the job's needs).
    /// @return tags Granted tags, bits 0-63.
    /// @return memoryMB Memory (capped at 2^24 - 1).
    /// @return rosterIndex Its roster index (`type(uint256).max` when it may take no seat).
    /// @return rosterSize The roster's size.
    /// @return free Collateral held free here.
    function providerCollateral(
        address provider
    )
        external
        view
        returns (bool eligible, uint256 tags, uint32 memoryMB, uint256 rosterIndex, uint256 rosterSize, uint256 free);
}
