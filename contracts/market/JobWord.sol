// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceMarketTypes} from "../interfaces/IInferenceMarket.sol";

/// @notice A job's one storage word in the market: the top 200 bits of its current binding hash
/// and its mutable state. Layout, high bits to low:
/// `[hash:200][status:4][seated:6][revealed:6][time:32][revealedSeats:8]`.
/// - hash: the job's (jobId, job words), then, for a settled k > 1 job, (job hash, winner); for a
///   k = 1 job, the delivery's (job hash, provider, result), then the challenge's (job hash,
///   Challenge), and the delivery's again once Settled (see {InferenceMarketBase}).
/// - status: a {IInferenceMarketTypes-JobStatus} (8 values fit 4 bits).
/// - seated, revealed: seats taken and revealed (k > 1 and juries); 6 bits hold 32 (the largest k).
/// - time: when the reveal began (k > 1 and juries), or when a k = 1 result was delivered, in
///   uint32 seconds: valid until 2106 (February 7th), after which the market must be replaced.
/// - revealedSeats: bit i is set once seat i (i < 8) revealed; later seats keep the flag in their
///   seat word.
type JobWord is uint256;

using JobWordLib for JobWord global;

/// @title JobWordLib
/// @notice Reads and writes the fields of a {JobWord}: every shift and mask of the layout lives here.
library JobWordLib {
    uint256 internal constant HASH_MASK = ~uint256(0) << 56;

    uint256 internal constant STATUS_SHIFT = 52;

    uint256 internal constant STATUS_MASK = 0xf;

    uint256 internal constant SEATED_SHIFT = 46;

    uint256 internal constant REVEALED_SHIFT = 40;

    uint256 internal constant COUNT_MASK = 0x3f;

    uint256 internal constant TIME_SHIFT = 8;

    /// @notice How many seats keep their revealed flag in the word (the others in their seat word).
    uint256 internal constant MASKED_SEATS = 8;

    /// @notice A new word: the top 200 bits of `hash`, status `s`, nothing else.
    function create(uint256 hash, IInferenceMarketTypes.JobStatus s) internal pure returns (JobWord) {
        return JobWord.wrap((hash & HASH_MASK) | (uint256(s) << STATUS_SHIFT));
    }

    /// @notice Whether the word's hash bits are those of `hash`.
    function binds(JobWord w, uint256 hash) internal pure returns (bool) {
        return (JobWord.unwrap(w) ^ hash) & HASH_MASK == 0;
    }

    /// @notice The word with its hash bits replaced by those of `hash`, the state kept.
    function rebind(JobWord w, uint256 hash) internal pure returns (JobWord) {
        return JobWord.wrap((hash & HASH_MASK) | (JobWord.unwrap(w) & ~HASH_MASK));
    }

    function status(JobWord w) internal pure returns (IInferenceMarketTypes.JobStatus) {
        return IInferenceMarketTypes.JobStatus(uint8((JobWord.unwrap(w) >> STATUS_SHIFT) & STATUS_MASK));
    }

    function withStatus(JobWord w, IInferenceMarketTypes.JobStatus s) internal pure returns (JobWord) {
        return JobWord.wrap((JobWord.unwrap(w) & ~(STATUS_MASK << STATUS_SHIFT)) | (uint256(s) << STATUS_SHIFT));
    }

    function seated(JobWord w) internal pure returns (uint8) {
        return uint8((JobWord.unwrap(w) >> SEATED_SHIFT) & COUNT_MASK);
    }

    /// @notice One more seat taken; the caller keeps seats ≤ 32, so the field cannot overflow.
    function withSeat(JobWord w) internal pure returns (JobWord) {
        return JobWord.wrap(JobWord.unwrap(w) + (1 << SEATED_SHIFT));
    }

    function revealed(JobWord w) internal pure returns (uint8) {
        return uint8((JobWord.unwrap(w) >> REVEALED_SHIFT) & COUNT_MASK);
    }

    /// @notice One more seat revealed (seat < 8 also sets its flag); at most 32 reveals.
    function withReveal(JobWord w, uint256 seat) internal pure returns (JobWord) {
        uint256 v = JobWord.unwrap(w) + (1 << REVEALED_SHIFT);
        if (seat < MASKED_SEATS) v |= 1 << seat;
        return JobWord.wrap(v);
    }

    /// @notice Whether seat `seat` (< 8) revealed.
    function seatRevealed(JobWord w, uint256 seat) internal pure returns (bool) {
        return JobWord.unwrap(w) & (1 << seat) != 0;
    }

    /// @notice The time field, widened for arithmetic.
    function time(JobWord w) internal pure returns (uint40) {
        return uint32(JobWord.unwrap(w) >> TIME_SHIFT);
    }

    /// @notice The word with its time field set to `t` (uint32 seconds; the field was 0).
    function withTime(JobWord w, uint256 t) internal pure returns (JobWord) {
        return JobWord.wrap(JobWord.unwrap(w) | (uint256(uint32(t)) << TIME_SHIFT));
    }
}
