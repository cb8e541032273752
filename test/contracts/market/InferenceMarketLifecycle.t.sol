// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== finalize, withdraw, pause

contract InferenceMarketLifecycleTest is InferenceMarketFixture {
    function test_finalize_singleRevertsBeforeOrAtDeadline() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Open));
        market.finalize(id, wordsOf(job));
        vm.warp(job.deadline);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Open));
        market.finalize(id, wordsOf(job));
    }

    function test_finalize_singleAfterDeadlineRefundsClient() public {
        (uint256 id, Job memory job) = _requestEth(1);
        uint256 escrow = _escrow(1);
        vm.warp(job.deadline + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, escrow, false);
        vm.prank(stranger);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), escrow, "escrow credited, protocol fee included");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee on a refund");
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.Withdrawn(client, address(0), escrow, client);
        vm.prank(client);
        assertEq(market.withdraw(address(0)), escrow, "withdrawn");
        assertEq(client.balance, escrow, "client has its ETH back");
        assertEq(address(market).balance, 0, "market empty");
    }

    function test_finalize_revertsWhenAlreadyRefunded() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Refunded));
        market.finalize(id, wordsOf(job));
        assertEq(market.balanceOf(client, address(0)), _escrow(1), "credited once");
    }

    function test_finalize_revertsWhenSettled() public {
        (uint256 id, Job memory job) = _requestEth(1);
        _submit(id, job, prov[0]);
        vm.warp(job.deadline + 1);
        // Delivered, then claimed: not finalizable, by status.
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotFinalizable.selector,
                id,
                IInferenceMarketTypes.JobStatus.Delivered
            )
        );
        market.finalize(id, wordsOf(job));
        _claimPaid(id, job, prov[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotFinalizable.selector,
                id,
                IInferenceMarketTypes.JobStatus.Settled
            )
        );
        market.finalize(id, wordsOf(job));
        assertEq(market.balanceOf(client, address(0)), 0, "no refund");

        (uint256 id3, Job memory job3) = _requestEth(2);
        _commit(id3, job3, prov[0], RESULT);
        _commit(id3, job3, prov[1], RESULT);
        _reveal(id3, job3, prov[0], 0, RESULT);
        _reveal(id3, job3, prov[1], 1, RESULT);
        vm.warp(block.timestamp + 1 days);
        vm.expectRevert(_notFinalizable(id3, IInferenceMarketTypes.JobStatus.Settled));
        market.finalize(id3, wordsOf(job3));
    }

    function test_finalize_revertsOnJobMismatch() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline + 1);
        job.client = stranger; // redirect the refund
        vm.expectRevert(_jobMismatch(id));
        market.finalize(id, wordsOf(job));
    }

    function test_withdraw_revertsWhenNothingToWithdraw() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector,
                stranger,
                address(0)
            )
        );
        vm.prank(stranger);
        market.withdraw(address(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector,
                stranger,
                address(payToken)
            )
        );
        vm.prank(stranger);
        market.withdraw(address(payToken));
    }

    function test_withdraw_movesEthAndTokenSeparately() public {
        (uint256 a, Job memory ja) = _requestEth(1);
        (uint256 b, Job memory jb) = _request(1, address(payToken));
        _submit(a, ja, prov[0]);
        _submit(b, jb, prov[0]);
        _claimPaid(a, ja, prov[0]);
        _claimPaid(b, jb, prov[0]);

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.Withdrawn(prov[0], address(payToken), FEE, prov[0]);
        vm.prank(prov[0]);
        assertEq(market.withdraw(address(payToken)), FEE, "token amount");
        assertEq(payToken.balanceOf(prov[0]), FEE, "tokens received");
        assertEq(market.balanceOf(prov[0], address(payToken)), 0, "token balance cleared");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "ETH balance untouched");
        assertEq(payToken.balanceOf(address(market)), _escrow(1) - FEE, "treasury's share stays");

        vm.prank(prov[0]);
        assertEq(market.withdraw(address(0)), FEE, "ETH amount");
        assertEq(prov[0].balance, FEE, "ETH received");
        assertEq(address(market).balance, _escrow(1) - FEE, "treasury's share stays");

        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector, prov[0], address(0))
        );
        vm.prank(prov[0]);
        market.withdraw(address(0));
    }

    function test_withdraw_tokenStillPaysAfterTokenDisallowed() public {
        (uint256 id, Job memory job) = _request(1, address(payToken));
        _court().setTokenAllowed(address(payToken), false, 0);
        _submit(id, job, prov[0]);
        _claimPaid(id, job, prov[0]);
        vm.prank(prov[0]);
        assertEq(market.withdraw(address(payToken)), FEE, "paid in the job's token");
    }

    function test_pause_stopsOnlyRequestJob() public {
        (uint256 single, Job memory singleJob) = _requestEth(1);
        (uint256 expiring, Job memory expiringJob) = _requestEth(1);
        (uint256 signed, Job memory signedJob) = _requestEth(1);
        (uint256 round, Job memory roundJob) = _requestEth(2);
        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[2], signed, signedJob, RESULT);

        vm.prank(guardian);
        market.pause();
        assertTrue(market.paused(), "paused");

        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        uint256 escrow = _escrow(1);
        vm.deal(client, escrow);
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(client);
        market.requestJob{value: escrow}(r);

        _submit(single, singleJob, prov[0]);
        assertEq(_status(single), K1_DELIVERED, "submit works");
        assertEq(_relay(market, _one(item)), 1, "attestations still delivered");
        assertEq(_status(signed), K1_DELIVERED, "batch works");
        _commit(round, roundJob, prov[0], RESULT);
        _commit(round, roundJob, prov[1], RESULT);
        _reveal(round, roundJob, prov[0], 0, RESULT);
        _reveal(round, roundJob, prov[1], 1, RESULT);
        vm.warp(expiringJob.deadline + 1);
        market.finalize(expiring, wordsOf(expiringJob));
        _claimPaid(single, singleJob, prov[0]);
        _claimPaid(signed, signedJob, prov[2]);
        vm.prank(prov[0]);
        market.withdraw(address(0));
        vm.prank(client);
        market.withdraw(address(0));

        assertEq(_status(single), SETTLED, "claim works");
        assertEq(_status(signed), SETTLED, "claim of a batch delivery works");
        assertEq(_status(round), SETTLED, "commit and reveal work");
        assertEq(_status(expiring), REFUNDED, "finalize works");
        assertEq(prov[0].balance, 2 * uint256(FEE), "provider withdrew");
        assertEq(client.balance, escrow * 2, "client withdrew (plus the unspent request ETH)");
    }

    function test_pause_guardianCannotUnpauseDaoCan() public {
        vm.prank(guardian);
        market.pause();
        vm.expectRevert(_unauthorized(guardian, market.DEFAULT_ADMIN_ROLE()));
        vm.prank(guardian);
        market.unpause();
        assertTrue(market.paused(), "still paused");

        market.unpause();
        assertFalse(market.paused(), "DAO unpaused");
        (uint256 id, ) = _requestEth(1);
        assertEq(_status(id), OPEN, "requests accepted again");
    }

    function test_pause_strangerCannotPause() public {
        vm.expectRevert(_unauthorized(stranger, market.GUARDIAN_ROLE()));
        vm.prank(stranger);
        market.pause();
        market.pause();
        assertTrue(market.paused(), "the DAO may pause too");
    }
}
