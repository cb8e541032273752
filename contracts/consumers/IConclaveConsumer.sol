// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IConclaveConsumer
/// @notice What a contract that receives inference results from the {ConsumerRouter} implements
/// (see {ConclaveConsumer} for a base that does it).
interface IConclaveConsumer {
    /// @notice Delivers a job's final result; called by the router only, with exactly the gas
    /// the consumer funded (a retry may give more).
    /// @param jobId The market's job id.
    /// @param resultHash The job's final canonical result hash (see {IInferenceMarket-isFinalResult}).
    /// @param outputs The canonical result preimage, checked by the router to hash to
    /// `resultHash` (decode it with {CanonicalOutputs}), or empty when the fulfiller delivered
    /// the hash only (outputs above the router's `maxInlineOutputBytes`; the outputs are then
    /// at the `outputRef` of the market's ResultSubmitted or ResultRevealed events).
    function rawFulfill(uint256 jobId, bytes32 resultHash, bytes calldata outputs) external;
}
