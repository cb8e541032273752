// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {Job, wordsOf} from "../utils/JobStruct.sol";
import {MIN_FEE} from "./handlers/MarketStack.sol";
import {InferenceMarketFuzzFixture} from "./InferenceMarketFuzzFixture.sol";

/// @notice Fuzz tests of the quorum through the real stack.
contract InferenceMarketFuzzQuorumTest is InferenceMarketFuzzFixture {
    // ------------------------------------------------------------------ quorum

    /// @notice For k in 2..32 and quorumBps in 5000..10000 the job's quorum is
    /// min(k, floor(k × bps / 10 000) + 1): more than half of k, at most k; the stored job is the
    /// emitted one; with quorum − 1 seats a job cannot reveal and refunds, with quorum seats it
    /// reveals after the commit deadline.
    function testFuzz_quorum(uint8 kSeed, uint16 quorumSeed) public {
        uint8 k = uint8(bound(kSeed, 2, 32));
        uint16 quorumBps = uint16(bound(quorumSeed, 5_000, 10_000));
        _setPolicy(250, quorumBps, 1 days);
        (uint256 jobId, Job memory job) = _request(k, MIN_FEE, address(0), uint40(block.timestamp + 2 hours), 0);

        uint256 expected = (uint256(k) * quorumBps) / 10_000 + 1;
        if (expected > k) expected = k;
        assertEq(job.quorum, expected, "quorum = min(k, k*bps/10000 + 1)");
        assertTrue(uint256(job.quorum) * 2 > k, "quorum > k/2");
        assertLe(job.quorum, k, "quorum <= k");
        if (quorumBps == 10_000) assertEq(job.quorum, k, "100% means everyone");

        // The emitted Job is the stored one: finalize reaches the status check, not JobMismatch.
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotFinalizable.selector,
                jobId,
                IInferenceMarketTypes.JobStatus.Open
            )
        );
        market.finalize(jobId, wordsOf(job));

        if (job.quorum > PROVIDERS) return;
        // quorum − 1 seats: no reveal phase after the commit deadline, the job refunds.
        bytes32 truth = keccak256(abi.encode("truth", jobId));
        for (uint256 i = 0; i + 1 < job.quorum; ++i) _commit(jobId, job, i, truth);
        vm.warp(uint256(job.commitDeadline) + 1);
        if (job.quorum > 1) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketInvalidStatus.selector,
                    jobId,
                    IInferenceMarketTypes.JobStatus.Open
                )
            );
            vm.prank(provs[0]);
            market.reveal(jobId, wordsOf(job), 0, truth, _salt(jobId, 0), "");
        }
        market.finalize(jobId, wordsOf(job));
        (IInferenceMarketTypes.JobStatus status, , , ) = market.jobState(jobId);
        assertEq(uint256(status), uint256(IInferenceMarketTypes.JobStatus.Refunded), "too few seats: refunded");

        // quorum seats (fewer than k unless quorum = k): the reveal phase starts at the commit deadline.
        (jobId, job) = _request(k, MIN_FEE, address(0), uint40(block.timestamp + 2 hours), 0);
        truth = keccak256(abi.encode("truth", jobId));
        for (uint256 i = 0; i < job.quorum; ++i) _commit(jobId, job, i, truth);
        if (job.quorum < k) vm.warp(uint256(job.commitDeadline) + 1); // else every seat is taken: revealing now
        vm.prank(provs[0]);
        market.reveal(jobId, wordsOf(job), 0, truth, _salt(jobId, 0), "");
        (IInferenceMarketTypes.JobStatus revealing, , , uint40 startedAt) = market.jobState(jobId);
        assertEq(uint256(revealing), uint256(IInferenceMarketTypes.JobStatus.Revealing), "quorum seats: revealing");
        assertEq(startedAt, job.quorum == k ? job.requestedAt : job.commitDeadline, "reveal start");
    }
}
