// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== the provider word

/// @notice Each provider's word in the market ({ProviderWord}): the terms the provider registry
/// pushes ({IInferenceMarketCourt-syncProvider}) and the collateral it allocated to the market
/// that no seat holds.
contract InferenceMarketProviderWordTest is InferenceMarketFixture {
    function _notRegistry(address caller) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotProviderRegistry.selector, caller);
    }

    function _deliverK1(address p) internal returns (uint256 id, Job memory job) {
        (id, job) = _requestEth(1);
        _submit(id, job, p);
    }

    /// @notice Only the provider registry pushes a provider's terms: a stranger, the DAO and a
    /// provider are refused, and nothing changes.
    function test_syncProvider_onlyFromRegistry() public {
        (bool eligible, , , uint256 index, uint256 size, ) = _court().providerCollateral(prov[0]);
        assertTrue(eligible, "eligible");
        address[3] memory callers = [stranger, address(this), prov[0]];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.expectRevert(_notRegistry(callers[i]));
            vm.prank(callers[i]);
            _court().syncProvider(prov[0], 0, 0);
        }
        (bool eligibleAfter, , , uint256 indexAfter, uint256 sizeAfter, ) = _court().providerCollateral(prov[0]);
        assertTrue(eligibleAfter, "still eligible");
        assertEq(indexAfter, index, "same roster index");
        assertEq(sizeAfter, size, "same roster size");
    }

    /// @notice A registry change pushes the terms: the market's view follows the registry's.
    function test_syncProvider_pushedOnEveryChange() public {
        (bool eligible, uint256 tags, uint32 memoryMB, uint256 index, uint256 size, uint256 free) = _court()
            .providerCollateral(prov[0]);
        (bool member, uint256 registryIndex) = registry.rosterIndexOf(prov[0]);
        assertTrue(member && eligible, "a member and eligible");
        assertEq(index, registryIndex, "roster index");
        assertEq(size, registry.rosterSize(), "roster size");
        assertEq(tags, TAGS, "granted tags");
        assertEq(memoryMB, MEMORY, "memory");
        assertEq(free, 0, "nothing allocated yet");

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ProviderMirrored(prov[0], 0, size - 1);
        registry.suspendProvider(prov[0]);
        (eligible, tags, memoryMB, index, , ) = _court().providerCollateral(prov[0]);
        assertFalse(eligible, "suspended: not eligible");
        assertEq(index, type(uint256).max, "no roster index");
        assertEq(tags, 0, "terms all zero");

        registry.approveProvider(prov[0], 0x1);
        (eligible, tags, , , , ) = _court().providerCollateral(prov[0]);
        assertTrue(eligible, "approved again");
        assertEq(tags, 0x1, "the newly granted tags");
    }

    /// @notice A market granted MARKET_ROLE after the providers registered knows none of them:
    /// it refuses them until anyone has the registry push them ({IProviderRegistry-syncProviders}).
    function test_syncProviders_lateMarketRefusesUntilPushed() public {
        InferenceMarket late = _newMarket();
        registry.grantRole(registry.MARKET_ROLE(), address(late));
        _mirrorTo(address(late));
        (uint256 id, Job memory job) = _requestOn(late, client, _req(1, address(0)));
        vm.expectRevert(_notEligible(prov[0]));
        vm.prank(prov[0]);
        late.submitResult(id, wordsOf(job), RESULT, OUTPUT);

        address[] memory who = new address[](1);
        who[0] = prov[0];
        vm.prank(stranger);
        registry.syncProviders(who);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralAllocated(prov[0], address(late), STAKE, STAKE);
        vm.prank(prov[0]);
        late.submitResult(id, wordsOf(job), RESULT, OUTPUT);
        assertEq(_freeOn(late, prov[0]), STAKE - COLLATERAL, "the rest free in the late market");
    }

    /// @notice Only the provider registry reclaims collateral.
    function test_reclaimCollateral_onlyFromRegistry() public {
        _deliverK1(prov[0]);
        address[3] memory callers = [stranger, address(this), prov[0]];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.expectRevert(_notRegistry(callers[i]));
            vm.prank(callers[i]);
            _court().reclaimCollateral(prov[0], 1);
        }
        assertEq(_free(prov[0]), STAKE - COLLATERAL, "untouched");
    }

    /// @notice Reclaiming gives back at most the free collateral: a seat's collateral stays, and
    /// the seat still ends normally (its collateral back in the word).
    function test_reclaimCollateral_neverTakesSeatCollateral() public {
        (uint256 id, Job memory job) = _deliverK1(prov[0]);
        // Through the registry: the provider cannot take back more than is free.
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientAllocation.selector,
                prov[0],
                address(market),
                STAKE - COLLATERAL,
                STAKE
            )
        );
        vm.prank(prov[0]);
        registry.deallocate(address(market), STAKE);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.CollateralReclaimed(prov[0], STAKE - COLLATERAL);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralDeallocated(prov[0], address(market), STAKE - COLLATERAL, COLLATERAL);
        vm.prank(prov[0]);
        registry.deallocate(address(market), STAKE - COLLATERAL);
        assertEq(_free(prov[0]), 0, "nothing free in the market");
        assertEq(_held(prov[0]), COLLATERAL, "the seat's collateral stays");
        assertEq(registry.freeStakeOf(prov[0]), STAKE - COLLATERAL, "back in the registry's free stake");

        // Called as the registry, asking for everything: nothing free, nothing taken.
        vm.prank(address(registry));
        assertEq(_court().reclaimCollateral(prov[0], type(uint256).max), 0, "no free collateral to take");

        // The DAO slashes the free stake, never the seat.
        registry.slash(prov[0], STAKE - COLLATERAL, bytes32("dao"));
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector, prov[0], 1, 0)
        );
        registry.slash(prov[0], 1, bytes32("dao"));

        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        _claimPaid(id, job, prov[0]);
        assertEq(_free(prov[0]), COLLATERAL, "the seat's collateral back in the word");
        assertEq(registry.getProvider(prov[0]).locked, COLLATERAL, "still allocated");
        assertEq(_stake(prov[0]), COLLATERAL, "stake: the seat's collateral");
    }

    /// @notice Called as the registry, reclaiming takes up to the amount from the free collateral.
    function test_reclaimCollateral_takesUpToFree() public {
        _deliverK1(prov[1]);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.CollateralReclaimed(prov[1], 5);
        vm.prank(address(registry));
        assertEq(_court().reclaimCollateral(prov[1], 5), 5, "the amount");
        vm.prank(address(registry));
        assertEq(_court().reclaimCollateral(prov[1], type(uint256).max), STAKE - COLLATERAL - 5, "the rest");
        assertEq(_free(prov[1]), 0, "nothing free");
    }

    /// @notice The first seat allocates all of the provider's free stake, later seats take from
    /// the word without calling the registry, and a seat short in the word tops up with the
    /// registry's free stake again (all of it).
    function test_firstSeat_allocatesAllFreeStake_laterSeatsReadTheWord() public {
        (uint256 id3, Job memory job3) = _requestEth(3);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralAllocated(prov[0], address(market), STAKE, STAKE);
        _commit(id3, job3, prov[0], RESULT);
        assertEq(registry.freeStakeOf(prov[0]), 0, "all allocated");
        assertEq(_free(prov[0]), STAKE - COLLATERAL, "the rest free in the market");

        (uint256 id, Job memory job) = _requestEth(1);
        vm.recordLogs();
        _submit(id, job, prov[0]);
        assertEq(_countAll(vm.getRecordedLogs(), address(registry)), 0, "the second seat calls no registry");
        assertEq(_free(prov[0]), STAKE - 2 * uint256(COLLATERAL), "taken from the word");

        // Added stake stays free in the registry until a seat is short.
        stakeToken.mint(prov[0], 5e18);
        vm.startPrank(prov[0]);
        stakeToken.approve(address(registry), 5e18);
        registry.addStake(5e18);
        vm.stopPrank();
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = uint128(STAKE - 2 * uint256(COLLATERAL) + 1);
        _court().setPolicy(p);
        (uint256 id2, Job memory job2) = _requestEth(1);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralAllocated(prov[0], address(market), 5e18, STAKE + 5e18);
        _submit(id2, job2, prov[0]);
        assertEq(_free(prov[0]), 5e18 - 1, "the top-up's rest free in the market");
        assertEq(registry.freeStakeOf(prov[0]), 0, "all allocated again");
    }

    /// @notice A provider its word says is frozen is refused every seat, with the freeze's end;
    /// unfrozen, it serves again.
    function test_frozenWord_refused() public {
        registry.setFreezePeriod(1 days);
        registry.freeze(prov[0]);
        uint40 until = registry.getProvider(prov[0]).frozenUntil;
        assertTrue(until > block.timestamp, "frozen");
        (bool eligible, , , , , ) = _court().providerCollateral(prov[0]);
        assertFalse(eligible, "not eligible while frozen");

        (uint256 id, Job memory job) = _requestEth(1);
        vm.expectRevert(_frozen(prov[0], until));
        vm.prank(prov[0]);
        market.submitResult(id, wordsOf(job), RESULT, OUTPUT);
        (uint256 id3, Job memory job3) = _requestEth(3);
        bytes32 c = _commitment(id3, prov[0], RESULT, _salt(prov[0]));
        vm.expectRevert(_frozen(prov[0], until));
        vm.prank(prov[0]);
        market.commit(id3, wordsOf(job3), c);
        vm.recordLogs();
        assertEq(_relay(market, _one(_sign(market, pks[0], id, job, RESULT))), 0, "the batch refuses it too");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(rj[0], id, prov[0], IInferenceMarketTypes.InferenceMarketProviderFrozen.selector, "frozen");

        registry.unfreeze(prov[0]);
        _submit(id, job, prov[0]);
        assertEq(_status(id), K1_DELIVERED, "served once unfrozen");
    }

    /// @notice A provider below the minimum stake is pushed as taking no seat.
    function test_belowMinStakeWord_refused() public {
        registry.slash(prov[0], STAKE - MIN_STAKE + 1, bytes32("dao"));
        (uint256 id, Job memory job) = _requestEth(1);
        vm.expectRevert(_notEligible(prov[0]));
        vm.prank(prov[0]);
        market.submitResult(id, wordsOf(job), RESULT, OUTPUT);
        vm.recordLogs();
        assertEq(_relay(market, _one(_sign(market, pks[0], id, job, RESULT))), 0, "the batch refuses it too");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(
            rj[0],
            id,
            prov[0],
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            "below the minimum"
        );
    }

    /// @notice A member leaving the roster (swap-and-pop) moves the last member to its index: the
    /// registry pushes the moved provider too, so its assignment rank in the market is the one
    /// its new index gives.
    function test_rosterSwapAndPop_pushesTheMovedProvider() public {
        uint256 size = registry.rosterSize();
        address last = registry.rosterAt(size - 1);
        (, uint256 leavingIndex) = registry.rosterIndexOf(prov[0]);
        assertTrue(last != prov[0], "the leaver is not last");

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ProviderMirrored(prov[0], 0, size - 1);
        vm.recordLogs();
        vm.prank(prov[0]);
        registry.requestExit();
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool movedPushed;
        for (uint256 i = 0; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(market) &&
                logs[i].topics[0] == IInferenceMarketTypes.ProviderMirrored.selector &&
                logs[i].topics[1] == bytes32(uint256(uint160(last)))
            ) movedPushed = true;
        }
        assertTrue(movedPushed, "the moved provider was pushed");

        (bool member, uint256 newIndex) = registry.rosterIndexOf(last);
        assertTrue(member, "still a member");
        assertEq(newIndex, leavingIndex, "took the freed index");
        (bool eligible, , , uint256 index, uint256 mSize, ) = _court().providerCollateral(last);
        assertTrue(eligible, "eligible");
        assertEq(index, leavingIndex, "the market knows its new index");
        assertEq(mSize, size - 1, "and the new size");

        // Its rank in a job's assignment follows its new index.
        _assertRank(last, leavingIndex, size - 1);
        (member, , ) = market.assignment(wordsOf(_jobWithWindow()), prov[0]);
        assertFalse(member, "the leaver is no member");
    }

    function _jobWithWindow() private returns (Job memory job) {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.priorityWindow = 60;
        _court().setPolicy(p);
        (, job) = _requestEth(1);
    }

    function _assertRank(address who, uint256 index, uint256 size) private {
        Job memory job = _jobWithWindow();
        (bool m, uint256 rank, ) = market.assignment(wordsOf(job), who);
        assertTrue(m, "a member for the market");
        assertEq(rank, AssignmentSpec.rank(job.seed, index, size), "rank from the new index");
    }

    /// @notice Withdrawing the stake takes back what the market holds free; while a seat holds
    /// collateral it is refused with that collateral.
    function test_withdrawStake_reclaimsFreeCollateralButNotSeats() public {
        (uint256 id, Job memory job) = _deliverK1(prov[0]);
        vm.prank(prov[0]);
        registry.requestExit();
        vm.warp(block.timestamp + UNBONDING + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryCollateralLocked.selector, prov[0], COLLATERAL)
        );
        vm.prank(prov[0]);
        registry.withdrawStake();
        assertEq(_free(prov[0]), STAKE - COLLATERAL, "the refusal undid the reclaim");

        _claimPaid(id, job, prov[0]);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralDeallocated(prov[0], address(market), STAKE, 0);
        vm.prank(prov[0]);
        registry.withdrawStake();
        assertEq(stakeToken.balanceOf(prov[0]), STAKE, "the whole stake back");
        assertEq(_free(prov[0]), 0, "nothing left in the market");
    }

    function _stake(address p) private view returns (uint256) {
        return registry.getProvider(p).stake;
    }
}
