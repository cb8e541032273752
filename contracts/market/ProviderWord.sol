// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ProviderWord
/// @notice A provider's word in a market: the terms the ProviderRegistry pushes
/// ({IInferenceMarketCourt-syncProvider}) and the collateral the provider allocated to this
/// market that no seat holds. Every delivery, commit and settlement reads and writes this one
/// slot instead of calling the registry.
/// @dev Layout, high → low bits:
/// `rosterSlot:32 | frozenUntil:40 | memoryMB:24 | tags:64 | free:96`.
/// - `rosterSlot` is the roster index + 1 of a provider that may take seats (Approved, not
///   exiting, stake at least the registry's minimum), 0 otherwise.
/// - `tags` are bits 0-63 of the granted tags: a job's required tags are bits 0-63.
/// - `memoryMB` is capped at 2^24 - 1 (16 TiB): a job asking for more is never served.
/// - `free` is the market's own: allocations add to it, seats take from it and give it back.
library ProviderWord {
    uint256 internal constant FREE_MASK = (1 << 96) - 1;
    uint256 internal constant MAX_MEMORY_MB = (1 << 24) - 1;
    uint256 internal constant MAX_FREE = FREE_MASK;

    /// @dev The registry's part of the word (`free` left 0).
    function terms(uint32 slot, uint40 until, uint32 memory_, uint256 grantedTags) internal pure returns (uint256) {
        uint256 mem = memory_ > MAX_MEMORY_MB ? MAX_MEMORY_MB : memory_;
        return (uint256(slot) << 224) | (uint256(until) << 184) | (mem << 160) | (uint256(uint64(grantedTags)) << 96);
    }

    function rosterSlot(uint256 w) internal pure returns (uint32) {
        return uint32(w >> 224);
    }

    function frozenUntil(uint256 w) internal pure returns (uint40) {
        return uint40(w >> 184);
    }

    function memoryMB(uint256 w) internal pure returns (uint32) {
        return uint32((w >> 160) & MAX_MEMORY_MB);
    }

    function tags(uint256 w) internal pure returns (uint256) {
        return uint64(w >> 96);
    }

    function free(uint256 w) internal pure returns (uint256) {
        return w & FREE_MASK;
    }

    /// @dev `w` with `amount` as its free collateral (`amount` < 2^96 is the caller's to ensure).
    function withFree(uint256 w, uint256 amount) internal pure returns (uint256) {
        return (w & ~FREE_MASK) | amount;
    }
}
