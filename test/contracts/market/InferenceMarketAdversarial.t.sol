// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== adversarial

contract InferenceMarketAdversarialTest is InferenceMarketFixture {
    HookERC20 internal hookToken;
    Reenterer internal attacker;

    function setUp() public override {
        super.setUp();
        hookToken = new HookERC20();
        attacker = new Reenterer();
        hookToken.setHook(address(attacker));
        _court().setTokenAllowed(address(hookToken), true, 1e18);
    }

    /// @dev The attacker, as a client, gets `escrow` credited back from an expired job.
    function _attackerRefund(address token) internal returns (uint256 id, Job memory job) {
        (id, job) = _requestAs(address(attacker), _req(1, token));
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));
        assertEq(market.balanceOf(address(attacker), token), _escrow(1), "refund credited");
    }

    // ---------------------------------------------------------------- copying results

    function test_commit_copierCannotJoinOnceRevealsOpen() public {
        (uint256 id, Job memory job) = _requestEth(3);
        for (uint256 i = 0; i < 3; ++i) _commit(id, job, prov[i], RESULT);
        _reveal(id, job, prov[0], 0, RESULT); // RESULT is now public
        bytes32 c = _commitment(id, prov[3], RESULT, _salt(prov[3]));
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.Revealing));
        vm.prank(prov[3]);
        market.commit(id, wordsOf(job), c);
        assertEq(market.balanceOf(prov[3], address(0)), 0, "copier unpaid");
        assertEq(_locked(prov[3]), 0, "copier never seated");
    }

    function test_commit_copierCannotJoinAfterCommitDeadline() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        vm.warp(job.commitDeadline + 1);
        _reveal(id, job, prov[0], 0, RESULT);
        bytes32 c = _commitment(id, prov[3], RESULT, _salt(prov[3]));
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.Revealing));
        vm.prank(prov[3]);
        market.commit(id, wordsOf(job), c);
    }

    function test_reveal_copiedCommitmentCannotBeRevealed() public {
        (uint256 id, Job memory job) = _requestEth(3);
        bytes32 honest = _commitment(id, prov[0], RESULT, _salt(prov[0]));
        vm.prank(prov[0]);
        market.commit(id, wordsOf(job), honest);
        // The copier lifts the honest commitment from the chain.
        vm.prank(prov[1]);
        uint8 copierSeat = market.commit(id, wordsOf(job), honest);
        _commit(id, job, prov[2], RESULT);

        _reveal(id, job, prov[0], 0, RESULT); // result and salt are now public
        bytes32 honestSalt = _salt(prov[0]);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, id, prov[1])
        );
        vm.prank(prov[1]);
        market.reveal(id, wordsOf(job), copierSeat, RESULT, honestSalt, OUTPUT);
        _reveal(id, job, prov[2], 2, RESULT);

        vm.warp(START + REVEAL_WINDOW + 1);
        market.finalize(id, wordsOf(job));
        assertEq(market.balanceOf(prov[1], address(0)), 0, "copier unpaid");
        assertEq(_stakeOf(prov[1]), STAKE - COLLATERAL, "copier slashed as a non-revealer");
        assertEq(registry.getProvider(prov[1]).missed, 1, "missed");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "honest paid");
        assertEq(market.balanceOf(prov[2], address(0)), FEE, "honest paid");
    }

    function test_commit_suspendedExitingProviderTakesNoNewWork() public {
        (uint256 id, Job memory job) = _requestEth(2);
        (uint256 id2, Job memory job2) = _requestEth(2);
        (uint256 id3, Job memory job3) = _requestEth(1);
        _commit(id, job, prov[0], RESULT);
        registry.suspendProvider(prov[0]);
        vm.prank(prov[0]);
        registry.requestExit();
        bytes32 c = _commitment(id2, prov[0], RESULT, _salt(prov[0]));
        vm.expectRevert(_notEligible(prov[0]));
        vm.prank(prov[0]);
        market.commit(id2, wordsOf(job2), c);
        vm.expectRevert(_notEligible(prov[0]));
        vm.prank(prov[0]);
        market.submitResult(id3, wordsOf(job3), RESULT, OUTPUT);
        vm.recordLogs();
        assertEq(_relay(market, _one(_sign(market, pks[0], id3, job3, RESULT))), 0, "batch rejects it too");
        assertEq(_rejections(vm.getRecordedLogs(), address(market)).length, 1, "one rejection");
        // Its existing seat still settles: it was eligible when it committed.
        _commit(id, job, prov[1], RESULT);
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid for the seat it held");
        assertEq(_locked(prov[0]), 0, "released, so it can finish exiting");
    }

    function _stakeOf(address p) internal view returns (uint256) {
        return registry.getProvider(p).stake;
    }

    function _locked(address p) internal view returns (uint256) {
        return _held(p);
    }

    // ---------------------------------------------------------------- malicious ERC-20

    function test_requestJob_reentrantTokenCannotRequestTwice() public {
        uint256 escrow = _escrow(1);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(hookToken));
        hookToken.mint(address(attacker), 2 * escrow);
        vm.prank(address(attacker));
        hookToken.approve(address(market), type(uint256).max);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.requestJob, (r)), false);

        vm.prank(address(attacker));
        uint256 id = market.requestJob(r);

        assertEq(id, 1, "outer request");
        assertEq(attacker.attempts(), 1, "re-entry attempted");
        assertFalse(attacker.lastOk(), "re-entry failed");
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(market.nextJobId(), 2, "one job");
        assertEq(hookToken.balanceOf(address(market)), escrow, "escrow pulled once");
        assertEq(hookToken.balanceOf(address(attacker)), escrow, "attacker paid once");
    }

    function test_requestJob_revertsWhenTokenReentryBubbles() public {
        uint256 escrow = _escrow(1);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(hookToken));
        hookToken.mint(address(attacker), 2 * escrow);
        vm.prank(address(attacker));
        hookToken.approve(address(market), type(uint256).max);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.requestJob, (r)), true);

        vm.expectRevert(_reentrantCall());
        vm.prank(address(attacker));
        market.requestJob(r);
        assertEq(market.nextJobId(), 1, "no job");
        assertEq(hookToken.balanceOf(address(market)), 0, "nothing pulled");
    }

    function test_requestJob_reentrantTokenCannotWithdrawMidRequest() public {
        _attackerRefund(address(hookToken));
        uint256 escrow = _escrow(1);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(hookToken));
        r.deadline = uint40(block.timestamp + 1 hours);
        hookToken.mint(address(attacker), escrow);
        vm.prank(address(attacker));
        hookToken.approve(address(market), escrow);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.withdraw, (address(hookToken))), false);

        vm.prank(address(attacker));
        market.requestJob(r);
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(market.balanceOf(address(attacker), address(hookToken)), escrow, "credit untouched");
        assertEq(hookToken.balanceOf(address(market)), 2 * escrow, "refund + new escrow held");
    }

    function test_withdraw_reentrantTokenPaysOnce() public {
        _attackerRefund(address(hookToken));
        uint256 escrow = _escrow(1);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.withdraw, (address(hookToken))), false);

        vm.prank(address(attacker));
        uint256 amount = market.withdraw(address(hookToken));

        assertEq(amount, escrow, "withdrew the refund");
        assertEq(attacker.attempts(), 1, "re-entry attempted");
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(hookToken.balanceOf(address(attacker)), escrow, "paid once");
        assertEq(hookToken.balanceOf(address(market)), 0, "market empty");
        assertEq(market.balanceOf(address(attacker), address(hookToken)), 0, "balance cleared");
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector,
                address(attacker),
                address(hookToken)
            )
        );
        vm.prank(address(attacker));
        market.withdraw(address(hookToken));
    }

    function test_withdraw_reentrantTokenCannotFinalize() public {
        (uint256 id1, Job memory job1) = _requestAs(address(attacker), _req(1, address(hookToken)));
        (uint256 id2, Job memory job2) = _requestAs(address(attacker), _req(1, address(hookToken)));
        uint256 escrow = _escrow(1);
        vm.warp(job1.deadline + 1);
        market.finalize(id1, wordsOf(job1));
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.finalize, (id2, wordsOf(job2))), false);

        vm.prank(address(attacker));
        market.withdraw(address(hookToken));
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(_status(id2), OPEN, "job 2 untouched");
        assertEq(market.balanceOf(address(attacker), address(hookToken)), 0, "nothing credited meanwhile");

        market.finalize(id2, wordsOf(job2));
        vm.prank(address(attacker));
        market.withdraw(address(hookToken));
        assertEq(hookToken.balanceOf(address(attacker)), 2 * escrow, "each escrow returned once");
        assertEq(hookToken.balanceOf(address(market)), 0, "market empty");
    }

    // ---------------------------------------------------------------- ETH receivers

    function test_withdraw_reentrantReceiverBubblingFailsTransfer() public {
        _attackerRefund(address(0));
        uint256 escrow = _escrow(1);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.withdraw, (address(0))), true);

        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketEthTransferFailed.selector,
                address(attacker),
                escrow
            )
        );
        vm.prank(address(attacker));
        market.withdraw(address(0));
        assertEq(market.balanceOf(address(attacker), address(0)), escrow, "balance kept");
        assertEq(address(market).balance, escrow, "ETH kept");
        assertEq(address(attacker).balance, 0, "nothing sent");
    }

    function test_withdraw_reentrantReceiverGetsBalanceOnce() public {
        _attackerRefund(address(0));
        uint256 escrow = _escrow(1);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.withdraw, (address(0))), false);

        vm.prank(address(attacker));
        assertEq(market.withdraw(address(0)), escrow, "withdrew");
        assertEq(attacker.attempts(), 1, "re-entry attempted");
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(address(attacker).balance, escrow, "paid once");
        assertEq(address(market).balance, 0, "market empty");
        assertEq(market.balanceOf(address(attacker), address(0)), 0, "balance cleared");
    }

    function test_withdraw_clientRejectingEthKeepsRefund() public {
        EthRejecter rejecter = new EthRejecter();
        (uint256 id, Job memory job) = _requestAs(address(rejecter), _req(1, address(0)));
        uint256 escrow = _escrow(1);
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));

        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketEthTransferFailed.selector,
                address(rejecter),
                escrow
            )
        );
        vm.prank(address(rejecter));
        market.withdraw(address(0));
        assertEq(market.balanceOf(address(rejecter), address(0)), escrow, "refund kept");
        assertEq(address(market).balance, escrow, "ETH kept");

        // Finding 16: such a client names another recipient.
        address payable cold = payable(address(0xC01D));
        vm.prank(address(rejecter));
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketZeroAddress.selector);
        market.withdrawTo(address(0), address(0));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.Withdrawn(address(rejecter), address(0), escrow, cold);
        vm.prank(address(rejecter));
        assertEq(market.withdrawTo(address(0), cold), escrow, "amount");
        assertEq(cold.balance, escrow, "sent to the named address");
        assertEq(market.balanceOf(address(rejecter), address(0)), 0, "balance spent");
    }
}
