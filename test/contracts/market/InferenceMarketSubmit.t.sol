// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== submitResult (k = 1)

contract InferenceMarketSubmitTest is InferenceMarketFixture {
    function _expectSubmitRevert(uint256 id, Job memory job, address p, bytes memory err) internal {
        vm.expectRevert(err);
        vm.prank(p);
        market.submitResult(id, wordsOf(job), RESULT, OUTPUT);
    }

    function test_submitResult_paysProviderAndTreasury() public {
        (uint256 id, Job memory job) = _requestEth(1);
        address p = prov[0];
        uint256 protocolFee = _escrow(1) - FEE;
        assertEq(protocolFee, 1e16, "1 % of the fee");

        // Delivery: the provider's first seat allocates all its free stake to the market, and the
        // seat takes the job's collateral from it; nothing is paid yet.
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralAllocated(p, address(market), STAKE, STAKE);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ResultSubmitted(id, p, RESULT, OUTPUT);
        vm.recordLogs();
        _submit(id, job, p);
        assertEq(_countAll(vm.getRecordedLogs(), address(market)), 1, "ResultSubmitted says it all");

        (IInferenceMarketTypes.JobStatus status, , , uint40 deliveredAt) = market.jobState(id);
        assertEq(uint256(status), K1_DELIVERED, "delivered");
        assertEq(deliveredAt, block.timestamp, "delivery time");
        assertEq(market.balanceOf(p, address(0)), 0, "no fee before the claim");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee before the claim");
        assertEq(_faults(p), 0, "no fault counted");
        assertEq(_held(p), COLLATERAL, "collateral locked");
        assertEq(_free(p), STAKE - COLLATERAL, "the rest of the allocation free in the market");
        assertEq(registry.freeStakeOf(p), 0, "all of the stake allocated");

        // The last second of the challenge window: not claimable, nothing moves.
        vm.warp(uint256(deliveredAt) + CHALLENGE_WINDOW);
        vm.prank(stranger);
        assertEq(IInferenceMarketCourt(address(market)).claim(_claimItem(id, job, p, RESULT)), 0, "window open");
        assertEq(market.balanceOf(p, address(0)), 0, "still nothing paid");
        assertEq(_held(p), COLLATERAL, "still locked");

        // Claim (by anyone) once the window has passed: fee, protocol fee, collateral back.
        vm.warp(uint256(deliveredAt) + CHALLENGE_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.DeliveryClaimed(id, p, FEE);
        vm.recordLogs();
        vm.prank(stranger);
        assertEq(IInferenceMarketCourt(address(market)).claim(_claimItem(id, job, p, RESULT)), 1, "claimed");
        // The collateral goes back to the market's word: the registry is not called.
        assertEq(_countAll(vm.getRecordedLogs(), address(registry)), 0, "no registry event");

        assertEq(_status(id), SETTLED, "settled");
        assertEq(market.balanceOf(p, address(0)), FEE, "provider credited the fee");
        assertEq(market.protocolFees(address(0)), protocolFee, "protocol fee accrued");
        assertEq(market.balanceOf(treasury, address(0)), 0, "the treasury has no balance");
        assertEq(market.balanceOf(client, address(0)), 0, "no refund");
        assertEq(market.balanceOf(stranger, address(0)), 0, "the keeper earns nothing");
        assertEq(_faults(p), 0, "no fault counted");
        assertEq(_held(p), 0, "collateral released");
        assertEq(_free(p), STAKE, "back in the market's free collateral");
        assertEq(registry.getProvider(p).locked, STAKE, "still allocated");

        vm.prank(p);
        assertEq(market.withdraw(address(0)), FEE, "provider withdraws");
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ProtocolFeesWithdrawn(address(0), treasury, protocolFee);
        vm.prank(treasury);
        assertEq(_court().withdrawProtocolFees(address(0)), protocolFee, "treasury withdraws");
        assertEq(market.protocolFees(address(0)), 0, "fees cleared");
        assertEq(p.balance, FEE, "provider ETH");
        assertEq(treasury.balance, protocolFee, "treasury ETH");
        assertEq(address(market).balance, 0, "market empty");
    }

    function test_submitResult_paysInToken() public {
        (uint256 id, Job memory job) = _request(1, address(payToken));
        _submit(id, job, prov[1]);
        assertEq(market.balanceOf(prov[1], address(payToken)), 0, "nothing before the claim");
        assertEq(market.protocolFees(address(payToken)), 0, "no protocol fee before the claim");
        _claimPaid(id, job, prov[1]);
        assertEq(market.balanceOf(prov[1], address(payToken)), FEE, "provider credited in the token");
        assertEq(market.protocolFees(address(payToken)), _escrow(1) - FEE, "protocol fee accrued in the token");
        assertEq(market.balanceOf(prov[1], address(0)), 0, "no ETH credit");
        assertEq(payToken.balanceOf(address(market)), _escrow(1), "tokens stay until withdrawn");
    }

    function test_submitResult_usesProtocolFeeSnapshot() public {
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.protocolFeeBps = 1_000;
        _court().setPolicy(p);
        _submit(id, job, prov[0]);
        // The fee accrues at the claim, still at the bps of the request.
        p.protocolFeeBps = 500;
        _court().setPolicy(p);
        _claimPaid(id, job, prov[0]);
        assertEq(market.protocolFees(address(0)), 1e16, "fee at the bps of the request");
        assertEq(market.balanceOf(prov[0], address(0)) + 1e16, address(market).balance, "all escrow credited");
    }

    function test_submitResult_revertsOnJobMismatch() public {
        (uint256 id, Job memory job) = _requestEth(1);
        job.feePerProvider = FEE * 2; // a provider trying to get paid more
        _expectSubmitRevert(id, job, prov[0], _jobMismatch(id));
        assertEq(_status(id), OPEN, "still open");
    }

    function test_submitResult_revertsOnUnknownJob() public {
        (, Job memory job) = _requestEth(1);
        _expectSubmitRevert(7, job, prov[0], _jobMismatch(7));
    }

    function test_submitResult_revertsOnSecondSubmit() public {
        (uint256 id, Job memory job) = _requestEth(1);
        _submit(id, job, prov[0]);
        // A delivered job's word binds the delivery: the market names its status.
        bytes memory delivered = _invalidStatus(id, IInferenceMarketTypes.JobStatus.Delivered);
        _expectSubmitRevert(id, job, prov[1], delivered);
        _expectSubmitRevert(id, job, prov[0], delivered);
        _claimPaid(id, job, prov[0]);
        bytes memory settled = _invalidStatus(id, IInferenceMarketTypes.JobStatus.Settled);
        _expectSubmitRevert(id, job, prov[1], settled);
        _expectSubmitRevert(id, job, prov[0], settled);
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid once");
        assertEq(market.balanceOf(prov[1], address(0)), 0, "second provider not paid");
        assertEq(_held(prov[1]), 0, "second provider locked nothing");
    }

    function test_submitResult_revertsAfterRefund() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));
        _expectSubmitRevert(id, job, prov[0], _invalidStatus(id, IInferenceMarketTypes.JobStatus.Refunded));
    }

    function test_submitResult_acceptsAtDeadline() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline);
        _submit(id, job, prov[0]);
        assertEq(_status(id), K1_DELIVERED, "the deadline itself is still in time");
        // The claim comes after the deadline: it is bound to the delivery's window, not to it.
        _claimPaid(id, job, prov[0]);
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
    }

    function test_submitResult_revertsAfterDeadline() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline + 1);
        _expectSubmitRevert(
            id,
            job,
            prov[0],
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector, id, job.deadline)
        );
    }

    function test_submitResult_revertsOnRedundantJob() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _expectSubmitRevert(
            id,
            job,
            prov[0],
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketWrongRedundancy.selector, id, 3)
        );
    }

    /// @dev Finding 10: retiring a version used to block delivery of jobs requested before, and
    /// their escrow stayed locked until the deadline. A job pins its version: it is still served.
    function test_submitResult_versionRetiredAfterRequest_stillDelivered() public {
        (uint256 id, Job memory job) = _requestEth(1);
        models.retireVersion(modelId, 1);
        _submit(id, job, prov[0]);
        assertEq(_status(id), K1_DELIVERED, "delivered");
        _claimPaid(id, job, prov[0]);
        assertEq(_status(id), SETTLED, "claimed");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
    }

    function test_cancel_clientGetsEscrowBackOnceVersionRetired() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.prank(client);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketVersionStillAccepting.selector,
                modelId,
                uint32(1)
            )
        );
        market.cancel(id, wordsOf(job));

        models.retireVersion(modelId, 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotClient.selector, id, stranger));
        market.cancel(id, wordsOf(job));

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobCancelled(id, _escrow(1));
        vm.prank(client);
        market.cancel(id, wordsOf(job));
        assertEq(_status(id), uint256(IInferenceMarketTypes.JobStatus.Refunded), "ended");
        assertEq(market.balanceOf(client, address(0)), _escrow(1), "escrow credited back");
        _expectSubmitRevert(id, job, prov[0], _invalidStatus(id, IInferenceMarketTypes.JobStatus.Refunded));
        vm.prank(client);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotCancellable.selector,
                id,
                IInferenceMarketTypes.JobStatus.Refunded
            )
        );
        market.cancel(id, wordsOf(job));
    }

    function test_cancel_afterSunset_andNotOnceDelivered() public {
        (uint256 id, Job memory job) = _requestEth(1);
        (uint256 done, Job memory doneJob) = _requestEth(1);
        _submit(done, doneJob, prov[0]);
        // A newer version makes v1 Deprecated; past its sunset it takes no jobs.
        models.publishVersion(NAME, _versionParams());
        models.activateVersion(modelId, 2);
        vm.prank(client);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketVersionStillAccepting.selector,
                modelId,
                uint32(1)
            )
        );
        market.cancel(id, wordsOf(job));
        vm.warp(models.getVersion(modelId, 1).sunsetAt);
        vm.prank(client);
        market.cancel(id, wordsOf(job));
        assertEq(market.balanceOf(client, address(0)), _escrow(1), "refunded");
        // Delivered, then claimed: not cancellable, by status.
        vm.prank(client);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotCancellable.selector,
                done,
                IInferenceMarketTypes.JobStatus.Delivered
            )
        );
        market.cancel(done, wordsOf(doneJob));
        _claimPaid(done, doneJob, prov[0]);
        vm.prank(client);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotCancellable.selector,
                done,
                IInferenceMarketTypes.JobStatus.Settled
            )
        );
        market.cancel(done, wordsOf(doneJob));
        assertEq(market.balanceOf(client, address(0)), _escrow(1), "only the open job refunded");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "the delivered job paid");
    }

    function test_submitResult_jobWithoutRequiredTagsAcceptsAnyTags() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.requiredTags = 0;
        (uint256 id, Job memory job) = _requestAs(client, r);
        _submit(id, job, fewTags);
        _claimPaid(id, job, fewTags);
        assertEq(market.balanceOf(fewTags, address(0)), FEE, "paid");
    }
}
