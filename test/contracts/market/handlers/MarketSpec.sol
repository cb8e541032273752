// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AssignmentSpec} from "../../utils/AssignmentSpec.sol";
import {Vm} from "../../utils/Test.sol";
import {IInferenceMarketTypes} from "../../../../contracts/interfaces/IInferenceMarket.sol";
import {ProviderRegistry} from "../../../../contracts/registry/ProviderRegistry.sol";
import {Job, jobFromWords} from "../../utils/JobStruct.sol";
import {MarketSpec} from "./MarketSpec.sol";

/// @notice The market's specification, written from {IInferenceMarket} independently of the
/// contract: escrow, protocol fee, quorum, the Job a request must produce, commitments and the
/// EIP-712 attestation digest.
library MarketSpec {
    uint256 internal constant BPS = 10_000;
    bytes32 internal constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(uint256 jobId,bytes32 modelId,uint32 version,bytes32 inputHash,bytes32 resultHash,bytes outputRef)"
    );
    bytes32 internal constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );

    /// @dev k × fee plus the protocol fee on it.
    function escrow(uint256 k, uint256 fee, uint256 bps) internal pure returns (uint256) {
        return k * fee + (k * fee * bps) / BPS;
    }

    /// @dev The protocol fee on `paid` providers' fees.
    function protocolFee(uint256 paid, uint256 fee, uint256 bps) internal pure returns (uint256) {
        return (paid * fee * bps) / BPS;
    }

    /// @dev Strictly more than `quorumBps` of k, capped at k; 0 for k = 1.
    function quorum(uint256 k, uint256 quorumBps) internal pure returns (uint8) {
        if (k < 2) return 0;
        uint256 q = (k * quorumBps) / BPS + 1;
        return uint8(q > k ? k : q);
    }

    /// @dev The Job a request made now by `client` under policy `p` (and the challenge policy's
    /// `challengeWindow`) must produce: every job snapshots the collateral; a k = 1 job the
    /// challenge window, a k > 1 job its round's deadlines and quorum.
    function job(
        uint256 jobId,
        IInferenceMarketTypes.JobRequest memory r,
        IInferenceMarketTypes.Policy memory p,
        address client,
        uint32 version,
        uint32 minMemoryMB,
        uint32 challengeWindow
    ) internal view returns (Job memory j) {
        j.client = client;
        j.token = r.token;
        j.modelId = r.modelId;
        j.version = version;
        j.redundancy = r.redundancy;
        j.quorum = quorum(r.redundancy, p.quorumBps);
        j.protocolFeeBps = p.protocolFeeBps;
        j.feePerProvider = r.feePerProvider;
        j.requestedAt = uint40(block.timestamp);
        j.deadline = r.deadline;
        j.collateral = p.collateralPerJob;
        if (r.redundancy > 1) {
            uint256 commitEnd = block.timestamp + p.commitWindow;
            j.commitDeadline = uint40(commitEnd < r.deadline ? commitEnd : r.deadline);
            j.revealWindow = p.revealWindow;
        } else {
            j.challengeWindow = challengeWindow;
        }
        j.minMemoryMB = minMemoryMB;
        j.requiredTags = r.requiredTags;
        j.inputHash = r.input.length != 0 ? keccak256(r.input) : keccak256(bytes(r.inputCid));
        j.priorityWindow = p.priorityWindow;
        j.seed = uint96(uint256(keccak256(abi.encode(block.prevrandao, jobId))));
    }

    /// @dev The error of a provider whose rank is not open yet, as {IInferenceMarket.assignment}
    /// specifies it (empty if it may serve now). The roster is the registry's (its own tests
    /// check it against the providers' records).
    function assignmentError(
        uint256 jobId,
        Job memory j,
        address provider,
        ProviderRegistry registry
    ) internal view returns (bytes memory) {
        if (j.priorityWindow == 0) return "";
        (bool member, uint256 index) = registry.rosterIndexOf(provider);
        if (!member) return ""; // not eligible either: the eligibility error comes first
        uint256 n = registry.rosterSize();
        uint256 rank = AssignmentSpec.rank(j.seed, index, n);
        if (rank < j.redundancy) return "";
        uint256 opensAt = j.requestedAt + (rank - j.redundancy + 1) * j.priorityWindow;
        if (block.timestamp >= opensAt) return "";
        return
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotAssigned.selector,
                jobId,
                provider,
                rank,
                uint40(opensAt)
            );
    }

    /// @dev The error of a juror whose jury rank is not open yet ({IInferenceMarketCourt.juryCommit}:
    /// ranks as in {IInferenceMarket.assignment} but from the challenge's jury seed, with k the
    /// jury size, opening from the challenge with the job's priority window); empty if open.
    /// @dev Seconds each jury rank beyond the first jurySize waits: the job's priority window, or
    /// a sixteenth of the jury's commit window (at least 1 s) when assignment is off.
    function juryWindow(Job memory j, IInferenceMarketTypes.Challenge memory ch) internal pure returns (uint256) {
        if (j.priorityWindow != 0) return j.priorityWindow;
        uint256 window = uint256(ch.commitWindow) / 16;
        return window == 0 ? 1 : window;
    }

    function juryAssignmentError(
        uint256 jobId,
        Job memory j,
        IInferenceMarketTypes.Challenge memory ch,
        address provider,
        ProviderRegistry registry
    ) internal view returns (bytes memory) {
        (bool member, uint256 index) = registry.rosterIndexOf(provider);
        if (!member) return "";
        uint256 n = registry.rosterSize();
        uint256 rank = AssignmentSpec.rank(ch.jurySeed, index, n);
        if (rank < ch.jurySize) return "";
        uint256 opensAt = uint256(ch.challengedAt) + (rank - ch.jurySize + 1) * juryWindow(j, ch);
        if (block.timestamp >= opensAt) return "";
        return
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotAssigned.selector,
                jobId,
                provider,
                rank,
                uint40(opensAt)
            );
    }

    /// @dev The Challenge a challenge made now must carry (policy values snapshotted).
    function challengeOf(
        uint256 jobId,
        address provider,
        bytes32 resultHash,
        address challenger,
        IInferenceMarketTypes.Policy memory p,
        IInferenceMarketTypes.ChallengePolicy memory cp
    ) internal view returns (IInferenceMarketTypes.Challenge memory) {
        return
            IInferenceMarketTypes.Challenge({
                provider: provider,
                resultHash: resultHash,
                challenger: challenger,
                jurySeed: uint256(keccak256(abi.encode(block.prevrandao, jobId, challenger))),
                challengedAt: uint40(block.timestamp),
                commitWindow: p.commitWindow,
                revealWindow: p.revealWindow,
                jurySize: cp.jurySize,
                juryFee: cp.juryFee,
                challengerShareBps: cp.challengerShareBps
            });
    }

    function hashOf(Job memory j) internal pure returns (bytes32) {
        return keccak256(abi.encode(j));
    }

    function commitment(
        uint256 jobId,
        address provider,
        bytes32 resultHash,
        bytes32 salt
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(jobId, provider, resultHash, salt));
    }

    function attestationDigest(
        address market,
        uint256 jobId,
        Job memory j,
        bytes32 resultHash,
        bytes memory outputRef
    ) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("ConclaveInferenceMarket"), keccak256("1"), block.chainid, market)
        );
        bytes32 structHash = keccak256(
            abi.encode(ATTESTATION_TYPEHASH, jobId, j.modelId, j.version, j.inputHash, resultHash, keccak256(outputRef))
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    /// @dev The first JobRequested log of `market` in `logs`.
    function requestedJob(
        Vm.Log[] memory logs,
        address market
    ) internal pure returns (bool found, uint256 jobId, Job memory j) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter != market || logs[i].topics.length == 0) continue;
            if (logs[i].topics[0] != IInferenceMarketTypes.JobRequested.selector) continue;
            (uint256[6] memory words, , ) = abi.decode(logs[i].data, (uint256[6], bytes, string));
            j = jobFromWords(words);
            return (true, uint256(logs[i].topics[1]), j);
        }
    }
}
