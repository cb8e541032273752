// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title JobWords
/// @notice A job's parameters as six packed words, the form every market and court function takes
/// and {IInferenceMarketTypes-JobRequested} emits (`uint256[6] job`). The market stores only the top
/// 200 bits of `keccak256(abi.encode(jobId, job))`; callers pass the words back and the market
/// checks them against it, so six words of calldata replace the twenty of a struct with a field
/// per word (finding 13's hash covers every bit of them, the spare bits included).
/// @dev Layout, high bits to low:
/// - w0: client:160 · requestedAt:40 · deadline:40 · redundancy:8 · quorum:8
/// - w1: token:160 · feePerProvider:96
/// - w2: version:32 · minMemoryMB:32 · protocolFeeBps:16 · priorityWindow:32 · commitDeadline:40 ·
///   revealWindow:32 · challengeWindow:32 · flags:8 (bit 0: counted by a rollout) · spare:32 (0)
/// - w3: requiredTags:64 · seed:96 · collateral:96
/// - w4: modelId
/// - w5: inputHash
/// A packed word has no dirty bits: every getter is a shift and a mask and never reverts, so a
/// batch item's words are read safely before their hash is checked.
library JobWords {
    /// @notice The largest required-tag set a job can carry (bits 0-63).
    uint256 internal constant MAX_TAGS = type(uint64).max;

    /// @notice The largest collateral a job can snapshot (the policy is bounded by it).
    uint256 internal constant MAX_COLLATERAL = type(uint96).max;

    /// @notice The words' ABI size.
    uint256 internal constant BYTES = 0xc0;

    /// @dev The first word: client, times, redundancy and quorum.
    function pack0(
        address client_,
        uint40 requestedAt_,
        uint40 deadline_,
        uint8 redundancy_,
        uint8 quorum_
    ) internal pure returns (uint256) {
        return
            (uint256(uint160(client_)) << 96) |
            (uint256(requestedAt_) << 56) |
            (uint256(deadline_) << 16) |
            (uint256(redundancy_) << 8) |
            quorum_;
    }

    /// @dev The second word: payment token and fee.
    function pack1(address token_, uint96 feePerProvider_) internal pure returns (uint256) {
        return (uint256(uint160(token_)) << 96) | feePerProvider_;
    }

    /// @dev The fourth word: required tags (≤ {MAX_TAGS}), seed, collateral (≤ {MAX_COLLATERAL}).
    function pack3(uint256 requiredTags_, uint96 seed_, uint256 collateral_) internal pure returns (uint256) {
        return (requiredTags_ << 192) | (uint256(seed_) << 96) | collateral_;
    }

    function client(uint256[6] calldata job) internal pure returns (address) {
        return address(uint160(job[0] >> 96));
    }

    function requestedAt(uint256[6] calldata job) internal pure returns (uint40) {
        return uint40(job[0] >> 56);
    }

    function deadline(uint256[6] calldata job) internal pure returns (uint40) {
        return uint40(job[0] >> 16);
    }

    function redundancy(uint256[6] calldata job) internal pure returns (uint8) {
        return uint8(job[0] >> 8);
    }

    function quorum(uint256[6] calldata job) internal pure returns (uint8) {
        return uint8(job[0]);
    }

    function token(uint256[6] calldata job) internal pure returns (address) {
        return address(uint160(job[1] >> 96));
    }

    function feePerProvider(uint256[6] calldata job) internal pure returns (uint96) {
        return uint96(job[1]);
    }

    function version(uint256[6] calldata job) internal pure returns (uint32) {
        return uint32(job[2] >> 224);
    }

    function minMemoryMB(uint256[6] calldata job) internal pure returns (uint32) {
        return uint32(job[2] >> 192);
    }

    function protocolFeeBps(uint256[6] calldata job) internal pure returns (uint16) {
        return uint16(job[2] >> 176);
    }

    function priorityWindow(uint256[6] calldata job) internal pure returns (uint32) {
        return uint32(job[2] >> 144);
    }

    function commitDeadline(uint256[6] calldata job) internal pure returns (uint40) {
        return uint40(job[2] >> 104);
    }

    function revealWindow(uint256[6] calldata job) internal pure returns (uint32) {
        return uint32(job[2] >> 72);
    }

    function challengeWindow(uint256[6] calldata job) internal pure returns (uint32) {
        return uint32(job[2] >> 40);
    }

    function counted(uint256[6] calldata job) internal pure returns (bool) {
        return (job[2] >> 32) & 1 != 0;
    }

    function requiredTags(uint256[6] calldata job) internal pure returns (uint256) {
        return job[3] >> 192;
    }

    function seed(uint256[6] calldata job) internal pure returns (uint256) {
        return uint96(job[3] >> 96);
    }

    function collateral(uint256[6] calldata job) internal pure returns (uint96) {
        return uint96(job[3]);
    }

    function modelId(uint256[6] calldata job) internal pure returns (bytes32) {
        return bytes32(job[4]);
    }

    function inputHash(uint256[6] calldata job) internal pure returns (bytes32) {
        return bytes32(job[5]);
    }

    /// @dev keccak256(abi.encode(jobId, job)), hashed in scratch-free memory (not allocated).
    function hash(uint256 jobId, uint256[6] calldata job) internal pure returns (uint256 h) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, jobId)
            calldatacopy(add(ptr, 0x20), job, BYTES)
            h := keccak256(ptr, add(BYTES, 0x20))
        }
    }
}
