// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";

/// @notice Encodes signed results as {IInferenceMarket-submitAttestations} frames them:
/// `[len:uint32][jobId][job: its ABI words][resultHash][outputRef][signature]`, `len` counting the
/// bytes after it. The same framing as the TypeScript `encodeAttestationBatch`.
library AttestationBatch {
    function encode(IInferenceMarketTypes.SignedResult[] memory items) internal pure returns (bytes memory out) {
        for (uint256 i = 0; i < items.length; ++i) out = bytes.concat(out, encodeItem(items[i]));
    }

    function encodeItem(IInferenceMarketTypes.SignedResult memory it) internal pure returns (bytes memory) {
        bytes memory body = abi.encodePacked(it.jobId, abi.encode(it.job), it.resultHash, it.outputRef, it.signature);
        return abi.encodePacked(uint32(body.length), body);
    }

    /// @notice One item of a provider's own batch, as {IInferenceMarket-submitResults} frames it:
    /// `[len:uint32][jobId][job: its 6 words][resultHash][outputRef]` (the TypeScript `encodeResultItem`).
    function encodeOwnItem(
        uint256 jobId,
        uint256[6] memory job,
        bytes32 resultHash,
        bytes memory outputRef
    ) internal pure returns (bytes memory) {
        bytes memory body = abi.encodePacked(jobId, job, resultHash, outputRef);
        return abi.encodePacked(uint32(body.length), body);
    }
}
