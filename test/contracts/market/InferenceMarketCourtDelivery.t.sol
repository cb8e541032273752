// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./CourtFixture.sol";

// ==================================================================== delivery

contract InferenceMarketK1DeliveryTest is CourtFixture {
    /// @notice A k = 1 delivery locks the job's collateral from the provider's free stake, pays
    /// nothing yet, and records the delivery time; the job is Delivered.
    function test_submitResult_locksCollateralAndDefersPay() public {
        (uint256 id, Job memory job) = _k1Eth();
        vm.warp(block.timestamp + 5);
        vm.expectEmit(true, true, false, true, address(registry));
        emit IProviderRegistry.CollateralAllocated(prov[0], address(market), STAKE, STAKE);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.ResultSubmitted(id, prov[0], RESULT, OUTPUT);
        _deliver(id, job, prov[0], RESULT);
        assertEq(_lockedOf(prov[0]), COLLATERAL, "collateral locked");
        assertEq(registry.freeStakeOf(prov[0]), 0, "all of the stake allocated on the first seat");
        assertEq(_free(prov[0]), STAKE - COLLATERAL, "the market's free collateral reduced");
        assertEq(_stakeOf(prov[0]), STAKE, "stake unchanged");
        assertEq(_status(id), DELIVERED, "Delivered");
        assertEq(_deliveredAt(id), block.timestamp, "delivery time recorded");
        assertEq(_ethCredit(prov[0]), 0, "not paid at delivery");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee at delivery");
        assertEq(_faults(prov[0]), 0, "no fault counted");
        assertEq(address(market).balance, _escrowNow(), "the escrow stays in the market");
    }

    /// @notice The same goes for a signed batch: the collateral is locked, nothing is paid.
    function test_submitAttestations_locksCollateralAndDefersPay() public {
        (uint256 id, Job memory job) = _k1Eth();
        (uint256 id2, Job memory job2) = _k1Eth();
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](2);
        items[0] = _sign(market, pks[2], id, job, RESULT);
        items[1] = _sign(market, pks[2], id2, job2, RESULT);
        assertEq(_relay(market, items), 2, "both delivered");
        assertEq(_lockedOf(prov[2]), 2 * uint256(COLLATERAL), "collateral of both locked");
        assertEq(_ethCredit(prov[2]), 0, "not paid at delivery");
        assertEq(_status(id), DELIVERED, "job 1 Delivered");
        assertEq(_status(id2), DELIVERED, "job 2 Delivered");
    }

    /// @notice Collateral locked by earlier deliveries counts: the third delivery of a provider
    /// whose stake covers two is refused, directly and in a batch; a claim frees it again.
    function test_submitResult_lockedDeliveriesUseUpFreeStake() public {
        uint128 collateral = uint128((STAKE * 2) / 5);
        _setCollateral(collateral);
        (uint256 a, Job memory ja) = _k1Eth();
        (uint256 b, Job memory jb) = _k1Eth();
        (uint256 c, Job memory jc) = _k1Eth();
        _deliver(a, ja, prov[0], RESULT);
        _deliver(b, jb, prov[0], RESULT);
        // The market holds the rest free, the registry has nothing left to top it up.
        uint256 free = STAKE - 2 * uint256(collateral);
        assertEq(_free(prov[0]), free, "the rest free in the market");
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                prov[0],
                0,
                collateral - free
            )
        );
        vm.prank(prov[0]);
        market.submitResult(c, wordsOf(jc), RESULT, OUTPUT);

        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.AttestationRejected(
            c,
            prov[0],
            IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector
        );
        assertEq(_relay(market, _one(_sign(market, pks[0], c, jc, RESULT))), 0, "batch item refused");

        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        assertEq(_claim(a, ja, prov[0], RESULT), 1, "claimed");
        _deliver(c, jc, prov[0], RESULT);
        assertEq(_lockedOf(prov[0]), 2 * uint256(collateral), "two deliveries locked");
    }

    /// @notice With a priority window, another provider's copy of the result during the
    /// assignee's window reverts NotAssigned (directly and in a batch); the assignee delivers,
    /// after which the copy is refused as InvalidStatus.
    function test_submitResult_copyDuringAssigneeWindowRevertsNotAssigned() public {
        _setPriorityWindow(30);
        (uint256 id, Job memory job) = _k1Eth();
        // The copier: the candidate ranked last; the assignee: the candidate ranked first.
        address copier;
        uint256 copierRank;
        address assignee;
        uint256 assigneeRank = type(uint256).max;
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            (bool member, uint256 rank, ) = market.assignment(wordsOf(job), _candidate(i));
            assertTrue(member, "candidate on the roster");
            if (rank > copierRank || copier == address(0)) (copier, copierRank) = (_candidate(i), rank);
            if (rank < assigneeRank) (assignee, assigneeRank) = (_candidate(i), rank);
        }
        assertGe(copierRank, 1, "the copier is not the assignee");
        uint40 opensAt = uint40(job.requestedAt + copierRank * 30);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotAssigned.selector,
                id,
                copier,
                copierRank,
                opensAt
            )
        );
        vm.prank(copier);
        market.submitResult(id, wordsOf(job), RESULT, OUTPUT);
        assertEq(_lockedOf(copier), 0, "the refused copy locked nothing");

        // The assignee's rank (maybe not 0: the first ranks may be ineligible) opens first.
        (, , uint40 assigneeOpens) = market.assignment(wordsOf(job), assignee);
        if (assigneeOpens > block.timestamp) vm.warp(assigneeOpens);
        assertTrue(block.timestamp < opensAt, "still within the copier's wait");
        _deliver(id, job, assignee, RESULT);
        assertEq(_lockedOf(assignee), COLLATERAL, "the assignee locked its collateral");
    }

    /// @notice In a signed batch the copy is skipped with NotAssigned's selector.
    function test_submitAttestations_copyDuringAssigneeWindowRejected() public {
        _setPriorityWindow(30);
        (uint256 id, Job memory job) = _k1Eth();
        uint256 last;
        uint256 lastRank;
        for (uint256 i = 0; i < NUM_PROVIDERS; ++i) {
            (, uint256 rank, ) = market.assignment(wordsOf(job), prov[i]);
            if (rank > lastRank) (last, lastRank) = (i, rank);
        }
        assertGe(lastRank, 1, "not the assignee");
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.AttestationRejected(
            id,
            prov[last],
            IInferenceMarketTypes.InferenceMarketNotAssigned.selector
        );
        assertEq(_relay(market, _one(_sign(market, pks[last], id, job, RESULT))), 0, "copy skipped");
        assertEq(_status(id), OPEN, "still open");
    }
}
