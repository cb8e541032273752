// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobWords} from "../../../contracts/market/JobWords.sol";

/// @dev A job's fields one by one, as the market's tests build, read and alter them; the market
/// takes and emits the six packed words of {JobWords} (`wordsOf`, `jobFromWords` convert). A field set
/// beyond its width in the words (tags above bit 63, a seed above 96 bits, a collateral above
/// 96 bits) is cut by `wordsOf`: the tests keep within the widths.
struct Job {
    address client;
    address token;
    bytes32 modelId;
    uint32 version;
    uint8 redundancy;
    uint8 quorum;
    uint16 protocolFeeBps;
    uint96 feePerProvider;
    uint40 requestedAt;
    uint40 deadline;
    uint40 commitDeadline;
    uint32 revealWindow;
    uint32 priorityWindow;
    uint32 minMemoryMB;
    uint128 collateral;
    uint256 requiredTags;
    bytes32 inputHash;
    uint256 seed;
    uint32 challengeWindow;
    bool counted;
}

/// @dev The words the market takes for `job`.
function wordsOf(Job memory job) pure returns (uint256[6] memory w) {
    w[0] = JobWords.pack0(job.client, job.requestedAt, job.deadline, job.redundancy, job.quorum);
    w[1] = JobWords.pack1(job.token, job.feePerProvider);
    w[2] =
        (uint256(job.version) << 224) |
        (uint256(job.minMemoryMB) << 192) |
        (uint256(job.protocolFeeBps) << 176) |
        (uint256(job.priorityWindow) << 144) |
        (uint256(job.commitDeadline) << 104) |
        (uint256(job.revealWindow) << 72) |
        (uint256(job.challengeWindow) << 40) |
        ((job.counted ? uint256(1) : 0) << 32);
    w[3] = JobWords.pack3(uint64(job.requiredTags), uint96(job.seed), uint96(job.collateral));
    w[4] = uint256(job.modelId);
    w[5] = uint256(job.inputHash);
}

/// @dev The fields of the words `w` (as emitted in JobRequested).
function jobFromWords(uint256[6] memory w) pure returns (Job memory job) {
    job.client = address(uint160(w[0] >> 96));
    job.requestedAt = uint40(w[0] >> 56);
    job.deadline = uint40(w[0] >> 16);
    job.redundancy = uint8(w[0] >> 8);
    job.quorum = uint8(w[0]);
    job.token = address(uint160(w[1] >> 96));
    job.feePerProvider = uint96(w[1]);
    job.version = uint32(w[2] >> 224);
    job.minMemoryMB = uint32(w[2] >> 192);
    job.protocolFeeBps = uint16(w[2] >> 176);
    job.priorityWindow = uint32(w[2] >> 144);
    job.commitDeadline = uint40(w[2] >> 104);
    job.revealWindow = uint32(w[2] >> 72);
    job.challengeWindow = uint32(w[2] >> 40);
    job.counted = (w[2] >> 32) & 1 != 0;
    job.requiredTags = w[3] >> 192;
    job.seed = uint96(w[3] >> 96);
    job.collateral = uint96(w[3]);
    job.modelId = bytes32(w[4]);
    job.inputHash = bytes32(w[5]);
}
