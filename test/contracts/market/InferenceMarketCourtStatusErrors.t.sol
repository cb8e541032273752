// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./CourtFixture.sol";

// ==================================================================== finding: status errors of k = 1 jobs past Open

/// @notice FINDING (fails against 0bc4629): once a k = 1 job is delivered its word holds the
/// delivery's hash (then the challenge's), no longer the job's, so every entry point that checks
/// the job's hash first ({InferenceMarket-_checkedWord}, {InferenceMarket-_batchItemError})
/// refuses a delivered, challenged or claimed k = 1 job with InferenceMarketJobMismatch although
/// the parameters are exactly those emitted: a second deliverer, a runner expiring stale jobs and
/// a client cancelling are told their parameters are wrong instead of the job's status. The
/// documented errors (InvalidStatus, NotFinalizable, NotCancellable with the status) are what
/// these tests expect.
contract InferenceMarketK1StatusErrorsTest is CourtFixture {
    function test_submitResult_onDeliveredJobRevertsInvalidStatus() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.Delivered));
        vm.prank(prov[1]);
        market.submitResult(id, wordsOf(job), OTHER_RESULT, OUTPUT);
    }

    function test_submitResult_onClaimedJobRevertsInvalidStatus() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        _claim(id, job, prov[0], RESULT);
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.Settled));
        vm.prank(prov[1]);
        market.submitResult(id, wordsOf(job), OTHER_RESULT, OUTPUT);
    }

    function test_submitAttestations_deliveredJobRejectedInvalidStatus() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.AttestationRejected(
            id,
            prov[1],
            IInferenceMarketTypes.InferenceMarketInvalidStatus.selector
        );
        assertEq(_relay(market, _one(_sign(market, pks[1], id, job, OTHER_RESULT))), 0, "not delivered twice");
    }

    function test_finalize_onDeliveredJobRevertsNotFinalizable() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(uint256(job.deadline) + 1);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Delivered));
        market.finalize(id, wordsOf(job));
    }

    function test_finalize_onChallengedJobRevertsNotFinalizable() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        _challenge(id, job, prov[0], RESULT, prov[1]);
        vm.warp(uint256(job.deadline) + 1);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Challenged));
        market.finalize(id, wordsOf(job));
    }

    function test_cancel_onDeliveredJobRevertsNotCancellable() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        models.retireVersion(modelId, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotCancellable.selector,
                id,
                IInferenceMarketTypes.JobStatus.Delivered
            )
        );
        vm.prank(client);
        market.cancel(id, wordsOf(job));
    }
}

/// @notice What a delivered job does today, whatever the error: it cannot be finalized,
/// cancelled or delivered again, and stays claimable after its deadline.
contract InferenceMarketDeliveredJobTest is CourtFixture {
    function test_delivered_cannotBeEndedOtherwiseAndStaysClaimable() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(uint256(job.deadline) + 1);
        vm.expectRevert();
        market.finalize(id, wordsOf(job));
        vm.expectRevert();
        vm.prank(prov[1]);
        market.submitResult(id, wordsOf(job), OTHER_RESULT, OUTPUT);
        models.retireVersion(modelId, 1);
        vm.expectRevert();
        vm.prank(client);
        market.cancel(id, wordsOf(job));
        assertEq(_status(id), DELIVERED, "still Delivered");
        assertEq(_claim(id, job, prov[0], RESULT), 1, "claimable after the deadline");
        assertEq(_ethCredit(client), 0, "no refund");
    }
}
