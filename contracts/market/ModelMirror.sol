// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ModelMirror
/// @notice The two words of the model registry's mirror in a market: what the ModelRegistry
/// pushes ({IInferenceMarket-syncModel}, {IInferenceMarket-syncVersion}) and the market reads at
/// request instead of calling {IModelRegistry-jobTermsFor}.
/// @dev Model word (one per model; a version-0 request that is not a canary reads it alone),
/// high → low bits:
/// `activeVersion:32 | activeMinFee:96 | activeMinMemoryMB:32 | rolloutCandidate:32 | canaryBps:16 | 0:48`.
/// The active version's own terms sit in it: the active version is always Active (the registry
/// moves both together), so it accepts jobs and its version word need not be read.
/// `canaryBps` is the running rollout's share (0 when no rollout runs).
/// Version word (one per version; explicit versions and canary draws read it too), high → low:
/// `status:8 | sunsetAt:40 | minFee:96 | minMemoryMB:32 | 0:80`, where `status` is the registry's
/// {IModelRegistry-VersionStatus}. Whether a Published version is the running candidate is read
/// from the model word, as {IModelRegistry-acceptsJobs} reads it from the model.
library ModelMirror {
    uint8 internal constant STATUS_PUBLISHED = 1;
    uint8 internal constant STATUS_ACTIVE = 2;
    uint8 internal constant STATUS_DEPRECATED = 3;

    /// @dev Packs a model word (see the layout above).
    function modelWord(
        uint32 active,
        uint96 activeFee,
        uint32 activeMemoryMB,
        uint32 candidate,
        uint16 canaryShareBps
    ) internal pure returns (uint256) {
        return
            (uint256(active) << 224) |
            (uint256(activeFee) << 128) |
            (uint256(activeMemoryMB) << 96) |
            (uint256(candidate) << 64) |
            (uint256(canaryShareBps) << 48);
    }

    /// @dev Packs a version word (see the layout above).
    function versionWord(
        uint8 versionStatus,
        uint40 sunset,
        uint96 fee,
        uint32 memoryMB
    ) internal pure returns (uint256) {
        return
            (uint256(versionStatus) << 248) |
            (uint256(sunset) << 208) |
            (uint256(fee) << 112) |
            (uint256(memoryMB) << 80);
    }

    function activeVersion(uint256 m) internal pure returns (uint32) {
        return uint32(m >> 224);
    }

    function activeMinFee(uint256 m) internal pure returns (uint96) {
        return uint96(m >> 128);
    }

    function activeMinMemoryMB(uint256 m) internal pure returns (uint32) {
        return uint32(m >> 96);
    }

    function rolloutCandidate(uint256 m) internal pure returns (uint32) {
        return uint32(m >> 64);
    }

    function canaryBps(uint256 m) internal pure returns (uint16) {
        return uint16(m >> 48);
    }

    function status(uint256 v) internal pure returns (uint8) {
        return uint8(v >> 248);
    }

    function sunsetAt(uint256 v) internal pure returns (uint40) {
        return uint40(v >> 208);
    }

    function minFee(uint256 v) internal pure returns (uint96) {
        return uint96(v >> 112);
    }

    function minMemoryMB(uint256 v) internal pure returns (uint32) {
        return uint32(v >> 80);
    }
}
