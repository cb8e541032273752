// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./CourtFixture.sol";

// ==================================================================== claims

contract InferenceMarketClaimTest is CourtFixture {
    /// @notice Up to the end of the challenge window (inclusive) a claim is skipped
    /// (ChallengeWindowOpen) and changes nothing.
    function test_claim_beforeWindowEndSkipped() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketChallengeWindowOpen.selector);
        assertEq(_claim(id, job, prov[0], RESULT), 0, "nothing claimed");
        assertEq(_ethCredit(prov[0]), 0, "not paid");
        assertEq(_lockedOf(prov[0]), COLLATERAL, "still locked");
        assertEq(_status(id), DELIVERED, "still Delivered");
    }

    /// @notice After the window the claim credits the fee, accrues the protocol fee (the
    /// escrow's rest), releases the collateral into the market's free collateral, counts no fault, settles the job; the
    /// provider withdraws the fee.
    function test_claim_afterWindowPaysFeeAndReleasesCollateral() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW + 1);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.DeliveryClaimed(id, prov[0], FEE);
        vm.recordLogs();
        assertEq(_claim(id, job, prov[0], RESULT), 1, "claimed");
        // The collateral goes back to the market's free collateral: no registry call.
        assertEq(_countAll(vm.getRecordedLogs(), address(registry)), 0, "no registry event");
        assertEq(_free(prov[0]), STAKE, "the collateral free in the market again");
        assertEq(_ethCredit(prov[0]), FEE, "fee credited");
        assertEq(market.protocolFees(address(0)), _escrowNow() - FEE, "protocol fee accrued");
        assertEq(_lockedOf(prov[0]), 0, "collateral released");
        assertEq(_faults(prov[0]), 0, "no fault counted");
        assertEq(_status(id), SETTLED, "Settled");
        vm.prank(prov[0]);
        assertEq(market.withdraw(address(0)), FEE, "fee withdrawn");
        assertEq(prov[0].balance, FEE, "fee received");
        assertEq(address(market).balance, _escrowNow() - FEE, "only the protocol fee stays");
    }

    /// @notice Anyone may claim for the provider (a keeper): the provider is credited, the
    /// keeper nothing.
    function test_claim_byKeeperCreditsProvider() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW + 1);
        IInferenceMarketTypes.Claim[] memory cs = _claims1(_claimOf(id, job, prov[0], RESULT));
        vm.prank(prov[5]);
        assertEq(court.claim(cs), 1, "claimed by a keeper");
        assertEq(_ethCredit(prov[0]), FEE, "the provider is credited");
        assertEq(_ethCredit(prov[5]), 0, "the keeper is not");
    }

    /// @notice One claim pays many deliveries by several providers in two tokens: each provider
    /// per token gets exactly its fees, the protocol fees accrue per token, every collateral is
    /// released.
    function test_claim_batchOfManyProvidersAndTokens() public {
        uint256 n = 8;
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](n);
        for (uint256 i = 0; i < n; ++i) {
            (uint256 id, Job memory job) = _k1(i % 2 == 0 ? address(0) : address(payToken));
            address p = prov[i % 4];
            bytes32 result = keccak256(abi.encode("result", i));
            _deliver(id, job, p, result);
            cs[i] = _claimOf(id, job, p, result);
        }
        for (uint256 i = 0; i < 4; ++i) assertEq(_lockedOf(prov[i]), 2 * uint256(COLLATERAL), "two deliveries locked");
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.recordLogs();
        vm.prank(stranger);
        assertEq(court.claim(cs), n, "all claimed");
        assertEq(
            _count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.DeliveryClaimed.selector),
            n,
            "events"
        );
        for (uint256 i = 0; i < 4; ++i) {
            address token = i % 2 == 0 ? address(0) : address(payToken);
            address other = i % 2 == 0 ? address(payToken) : address(0);
            assertEq(market.balanceOf(prov[i], token), 2 * uint256(FEE), "fees of its two jobs");
            assertEq(market.balanceOf(prov[i], other), 0, "nothing in the other token");
            assertEq(_lockedOf(prov[i]), 0, "collateral released");
            assertEq(_faults(prov[i]), 0, "no fault counted");
        }
        uint256 protocolFee = _escrowNow() - FEE;
        assertEq(market.protocolFees(address(0)), 4 * protocolFee, "ETH protocol fees");
        assertEq(market.protocolFees(address(payToken)), 4 * protocolFee, "token protocol fees");
        assertEq(address(market).balance, 4 * _escrowNow(), "ETH held = credits + fees");
        assertEq(payToken.balanceOf(address(market)), 4 * _escrowNow(), "tokens held = credits + fees");
    }

    /// @notice A claim naming another provider or another result is skipped (JobMismatch) and
    /// changes nothing; the right one is then paid.
    function test_claim_wrongProviderOrResultSkipped() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW + 1);
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](3);
        cs[0] = _claimOf(id, job, prov[1], RESULT);
        cs[1] = _claimOf(id, job, prov[0], OTHER_RESULT);
        Job memory tampered = _copyJob(job);
        tampered.feePerProvider += 1;
        cs[2] = _claimOf(id, tampered, prov[0], RESULT);
        for (uint256 i = 0; i < 3; ++i) {
            vm.expectEmit(true, false, false, true, address(market));
            emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketJobMismatch.selector);
        }
        vm.prank(prov[1]);
        assertEq(court.claim(cs), 0, "nothing claimed");
        assertEq(_ethCredit(prov[0]) + _ethCredit(prov[1]), 0, "nobody paid");
        assertEq(_status(id), DELIVERED, "still Delivered");
        assertEq(_claim(id, job, prov[0], RESULT), 1, "the right claim pays");
    }

    /// @notice A delivery is paid once: a second claim (in the same batch or later) is skipped
    /// (InvalidStatus).
    function test_claim_twiceSecondSkipped() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW + 1);
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](2);
        cs[0] = _claimOf(id, job, prov[0], RESULT);
        cs[1] = cs[0];
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketInvalidStatus.selector);
        vm.prank(stranger);
        assertEq(court.claim(cs), 1, "paid once in a batch");
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketInvalidStatus.selector);
        assertEq(_claim(id, job, prov[0], RESULT), 0, "not again later");
        assertEq(_ethCredit(prov[0]), FEE, "one fee");
        assertEq(_faults(prov[0]), 0, "no fault counted");
    }

    /// @notice A challenged delivery cannot be claimed, even after its challenge window.
    function test_claim_challengedJobSkipped() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        _challenge(id, job, prov[0], RESULT, prov[1]);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketInvalidStatus.selector);
        assertEq(_claim(id, job, prov[0], RESULT), 0, "not claimable");
        assertEq(_ethCredit(prov[0]), 0, "not paid");
        assertEq(_status(id), CHALLENGED, "still Challenged");
    }

    /// @notice An open (undelivered) job, a k > 1 job and an unknown job are skipped.
    function test_claim_undeliveredJobsSkipped() public {
        (uint256 open, Job memory openJob) = _k1Eth();
        (uint256 multi, Job memory multiJob) = _request(3, address(0));
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](3);
        cs[0] = _claimOf(open, openJob, prov[0], RESULT);
        cs[1] = _claimOf(multi, multiJob, prov[0], RESULT);
        cs[2] = _claimOf(999, openJob, prov[0], RESULT);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.recordLogs();
        assertEq(court.claim(cs), 0, "nothing claimed");
        assertEq(
            _count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.ClaimSkipped.selector),
            3,
            "all skipped"
        );
        assertEq(_status(open), OPEN, "open job untouched");
    }

    function _copyJob(Job memory job) internal pure returns (Job memory) {
        return abi.decode(abi.encode(job), (Job));
    }
}
