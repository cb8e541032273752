// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {MockProviderMarket} from "../utils/MockProviderMarket.sol";
import {ProviderRegistryFixture} from "./ProviderRegistryFixture.sol";

/// @notice The markets' side of the stake: allocation to a market, the provider taking it back,
/// and the seizure of a faulty seat's collateral. Whether a provider may take a seat is the
/// market's check on the pushed terms (ProviderRegistryPush.t.sol), not the registry's.
contract ProviderRegistryCollateralTest is ProviderRegistryFixture {
    uint40 internal constant FREEZE = 10 days;

    function _insufficientFree(address who, uint256 free, uint256 required) internal pure returns (bytes memory) {
        return
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                who,
                free,
                required
            );
    }

    function _insufficientAllocation(
        address who,
        address at,
        uint256 available,
        uint256 amount
    ) internal pure returns (bytes memory) {
        return
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientAllocation.selector,
                who,
                at,
                available,
                amount
            );
    }

    function _freezeAlice() internal returns (uint40 until) {
        vm.prank(admin);
        registry.setFreezePeriod(FREEZE);
        vm.prank(guardian);
        registry.freeze(alice);
        until = _p(alice).frozenUntil;
    }

    // ================================================================ allocate

    function test_allocate_allocatesFreeStakeUpToMaximumAndEmits() public {
        _registerApproved(alice, 300e18);
        vm.expectEmit();
        emit IProviderRegistry.CollateralAllocated(alice, market, 120e18, 120e18);
        vm.prank(market);
        uint256 amount = registry.allocate(alice, 50e18, 120e18);
        assertEq(amount, 120e18, "capped at the maximum");
        assertEq(registry.freeStakeOf(alice), 180e18, "free stake");

        // A maximum above the free stake takes all of it, and no more.
        vm.expectEmit();
        emit IProviderRegistry.CollateralAllocated(alice, market, 180e18, 300e18);
        vm.prank(market);
        amount = registry.allocate(alice, 1, type(uint256).max);
        assertEq(amount, 180e18, "all the rest");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.locked, 300e18, "locked = allocated");
        assertEq(p.stake, 300e18, "stake unchanged");
        assertEq(registry.freeStakeOf(alice), 0, "nothing free");
        assertEq(token.balanceOf(address(registry)), 300e18, "no token leaves the registry");
    }

    function test_allocate_revertsBelowMinimum() public {
        _registerApproved(alice, 300e18);
        vm.prank(market);
        registry.allocate(alice, 250e18, 250e18);
        vm.expectRevert(_insufficientFree(alice, 50e18, 50e18 + 1));
        vm.prank(market);
        registry.allocate(alice, 50e18 + 1, type(uint256).max);
        vm.prank(market);
        assertEq(registry.allocate(alice, 50e18, type(uint256).max), 50e18, "exactly the free stake");
        assertEq(_p(alice).locked, 300e18, "all allocated");
    }

    /// @dev A zero minimum would let a market "allocate" nothing and treat the call as a check.
    function test_allocate_revertsOnZeroMinimum() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(_insufficientFree(alice, 300e18, 0));
        vm.prank(market);
        registry.allocate(alice, 0, 100e18);
        vm.expectRevert(_insufficientFree(eve, 0, 1));
        vm.prank(market);
        registry.allocate(eve, 1, 1);
        assertEq(_p(alice).locked, 0, "nothing allocated");
    }

    /// @dev The registry leaves eligibility to the market (which refuses a provider whose pushed
    /// terms are zero): allocation itself only needs free stake.
    function test_allocate_leavesEligibilityToTheMarket() public {
        _register(alice, 300e18);
        assertEq(mock.terms(alice), 0, "a pending provider is pushed as zeros");
        vm.prank(market);
        assertEq(registry.allocate(alice, 1, 10e18), 10e18, "allocated");
        assertEq(_p(alice).locked, 10e18, "locked");
    }

    /// @dev Finding 12: a retired market only ends the seats it opened.
    function test_allocate_revertsForRetiredMarket() public {
        _registerApproved(alice, 300e18);
        mock.retire();
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMarketRetired.selector, market));
        vm.prank(market);
        registry.allocate(alice, 1, 1);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMarketRetired.selector, market));
        _lock(alice, 1);
        assertEq(_p(alice).locked, 0, "nothing allocated");
    }

    function test_allocate_revertsForNonMarket() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(_unauthorized(admin, MARKET_ROLE));
        vm.prank(admin);
        registry.allocate(alice, 1, 1);
        vm.expectRevert(_unauthorized(alice, MARKET_ROLE));
        vm.prank(alice);
        registry.allocate(alice, 1, 1);
        assertEq(_p(alice).locked, 0, "nothing allocated");
    }

    function test_lock_allocatesOnlyWhenTheMarketIsShort() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        assertEq(_p(alice).locked, 300e18, "the market took all the free stake at once");
        assertEq(mock.seats(alice), 100e18, "seat");
        assertEq(mock.free(alice), 200e18, "the rest waits at the market");
        // The next seat is served from the market's free collateral: no registry call.
        vm.recordLogs();
        _lock(alice, 150e18);
        assertEq(vm.getRecordedLogs().length, 0, "no allocation");
        assertEq(mock.free(alice), 50e18, "free at the market");
        assertEq(_p(alice).locked, mock.free(alice) + mock.seats(alice), "locked = what the market holds");
    }

    // ================================================================ deallocate

    function test_deallocate_returnsFreeCollateralAndEmits() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.expectEmit();
        emit IProviderRegistry.CollateralDeallocated(alice, market, 150e18, 150e18);
        vm.prank(alice);
        registry.deallocate(market, 150e18);
        assertEq(_p(alice).locked, 150e18, "locked");
        assertEq(registry.freeStakeOf(alice), 150e18, "free stake again");
        assertEq(mock.free(alice), 50e18, "left at the market");
        assertEq(mock.seats(alice), 100e18, "the seat keeps its collateral");
    }

    /// @dev The provider cannot take back more than the market holds free: a seat's collateral
    /// answers to its outcome only.
    function test_deallocate_revertsOnPartialReturn() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.expectRevert(_insufficientAllocation(alice, market, 200e18, 200e18 + 1));
        vm.prank(alice);
        registry.deallocate(market, 200e18 + 1);
        assertEq(_p(alice).locked, 300e18, "unchanged");
        assertEq(mock.free(alice), 200e18, "the market's free collateral is whole again");
    }

    /// @dev A freeze holds the stake where a slash proposal can reach it.
    function test_deallocate_revertsWhenFrozen() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        uint40 until = _freezeAlice();
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryFrozen.selector, alice, until));
        vm.prank(alice);
        registry.deallocate(market, 1);
        assertEq(mock.free(alice), 200e18, "still at the market");
        vm.warp(until);
        vm.prank(alice);
        registry.deallocate(market, 200e18);
        assertEq(_p(alice).locked, 100e18, "taken back once the freeze is over");
    }

    function test_deallocate_revertsForNonMarket() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotMarket.selector, eve));
        vm.prank(alice);
        registry.deallocate(eve, 1);
        // An account that holds another role is no market either.
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotMarket.selector, guardian));
        vm.prank(alice);
        registry.deallocate(guardian, 1);
        assertEq(_p(alice).locked, 300e18, "unchanged");
    }

    function test_deallocate_revertsOnZeroAndUnregistered() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryZeroAmount.selector));
        vm.prank(alice);
        registry.deallocate(market, 0);
        vm.expectRevert(_notRegistered(eve));
        vm.prank(eve);
        registry.deallocate(market, 1);
        assertEq(_p(alice).locked, 300e18, "unchanged");
    }

    /// @dev A retired market still holds what was allocated to it: the provider takes it back.
    function test_deallocate_fromRetiredMarket() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        mock.retire();
        vm.prank(alice);
        registry.deallocate(market, 200e18);
        assertEq(_p(alice).locked, 100e18, "the seat's collateral only");
        assertEq(mock.free(alice), 0, "nothing left free there");
    }

    // ================================================================ seize

    function test_seize_takesSeatCollateralCountsAndTransfers() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 120e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderSlashed(alice, market, 40e18, "job");
        vm.expectEmit();
        emit IProviderRegistry.FaultRecorded(alice, IProviderRegistry.Fault.Disagreed);
        _seize(alice, 40e18, IProviderRegistry.Fault.Disagreed);
        _release(alice, 80e18);
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, 260e18, "seized from the stake");
        assertEq(p.locked, 260e18, "and from the allocation");
        assertEq(p.locked, mock.free(alice) + mock.seats(alice), "locked = what the market holds");
        assertEq(p.disagreed, 1, "disagreed");
        assertEq(p.missed, 0, "missed untouched");
        assertEq(registry.slashedFunds(), 0, "a seized seat does not feed the DAO's slashed funds");
        assertEq(token.balanceOf(market), 40e18, "seized stake sent to the market");
        assertEq(registry.totalStake(), 260e18, "total");
        assertEq(token.balanceOf(address(registry)), 260e18, "balance = totalStake");
    }

    /// @dev The market seizes only allocated stake: a seize above `locked` would reach stake the
    /// provider never put at risk.
    function test_seize_revertsAboveLocked() public {
        _registerApproved(alice, 300e18);
        vm.prank(market);
        registry.allocate(alice, 100e18, 100e18);
        vm.expectRevert(_insufficientAllocation(alice, market, 100e18, 100e18 + 1));
        vm.prank(market);
        registry.seize(alice, 100e18 + 1, IProviderRegistry.Fault.Missed, "job");
        vm.prank(market);
        registry.seize(alice, 100e18, IProviderRegistry.Fault.Missed, "job");
        assertEq(_p(alice).stake, 200e18, "exactly the allocation");
        assertEq(_p(alice).locked, 0, "none left");
    }

    /// @dev A market seizes only what it was allocated: a second (faulty or malicious) market
    /// cannot reach the collateral that the first holds in its seats, so `locked` stays equal to
    /// what the markets hold. Before per-market accounting, any market could seize up to `locked`.
    function test_seize_cannotReachAnotherMarketsAllocation() public {
        MockProviderMarket other = new MockProviderMarket(registry);
        vm.prank(admin);
        registry.grantRole(MARKET_ROLE, address(other));
        _registerApproved(alice, 300e18);
        _lock(alice, 300e18);
        assertEq(registry.allocationOf(alice, market), 300e18, "all of it with the first market");
        assertEq(registry.allocationOf(alice, address(other)), 0, "none with the second");
        vm.expectRevert(_insufficientAllocation(alice, address(other), 0, 1e18));
        vm.prank(address(other));
        registry.seize(alice, 1e18, IProviderRegistry.Fault.Missed, "job");
        assertEq(_p(alice).locked, 300e18, "the first market's seat is intact");
        assertEq(_p(alice).stake, 300e18, "nothing seized");
    }

    function test_seize_wholeStakeThenOnlyCounts() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 300e18);
        _seize(alice, 300e18, IProviderRegistry.Fault.Missed);
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, 0, "fully seized");
        assertEq(p.locked, 0, "locked follows stake");
        assertEq(p.missed, 1, "missed counted");
        assertEq(token.balanceOf(market), 300e18, "the whole stake went to the market");
        assertEq(mock.terms(alice), 0, "under the minimum: pushed as zeros");

        // A fault on the empty stake is still counted.
        _seize(alice, 0, IProviderRegistry.Fault.Missed);
        assertEq(_p(alice).missed, 2, "counted again");
        assertEq(token.balanceOf(market), 300e18, "nothing more seized");
    }

    function test_seize_zeroOnlyCounts() public {
        _registerApproved(alice, 300e18);
        vm.expectEmit();
        emit IProviderRegistry.FaultRecorded(alice, IProviderRegistry.Fault.Missed);
        _seize(alice, 0, IProviderRegistry.Fault.Missed);
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.missed, 1, "missed");
        assertEq(p.stake, 300e18, "stake kept");
        assertEq(token.balanceOf(market), 0, "nothing sent");
        assertEq(registry.slashedFunds(), 0, "nothing slashed");
    }

    /// @dev An open seat always ends, whatever happened to its provider since it opened.
    function test_seize_worksWhileExitingSuspendedFrozenAndPaused() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.prank(alice);
        registry.requestExit();
        vm.prank(admin);
        registry.suspendProvider(alice);
        _freezeAlice();
        vm.prank(guardian);
        registry.pause();
        _seize(alice, 10e18, IProviderRegistry.Fault.Disagreed);
        _release(alice, 90e18);
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, 290e18, "seized");
        assertEq(p.locked, 290e18, "the rest stays allocated");
        assertEq(p.disagreed, 1, "counted");
    }

    /// @dev Finding 12: a retired market still ends the seats it opened.
    function test_seize_byRetiredMarket() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        mock.retire();
        _seize(alice, 100e18, IProviderRegistry.Fault.Missed);
        assertEq(_p(alice).stake, 200e18, "seized");
        assertEq(token.balanceOf(market), 100e18, "at the retired market");
    }

    function test_seize_revertsForNonMarket() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.expectRevert(_unauthorized(admin, MARKET_ROLE));
        vm.prank(admin);
        registry.seize(alice, 1, IProviderRegistry.Fault.Missed, "job");
        vm.expectRevert(_unauthorized(alice, MARKET_ROLE));
        vm.prank(alice);
        registry.seize(alice, 0, IProviderRegistry.Fault.Disagreed, "job");
        assertEq(_p(alice).stake, 300e18, "untouched");
        assertEq(_p(alice).disagreed + _p(alice).missed, 0, "not counted");
    }

    function test_stakeOf_followsStakeAndSeizure() public {
        _registerApproved(alice, 300e18);
        assertEq(registry.stakeOf(alice), 300e18, "registered stake");
        assertEq(registry.stakeOf(bob), 0, "unknown provider");
        _lock(alice, 25e18);
        _seize(alice, 25e18, IProviderRegistry.Fault.Missed);
        assertEq(registry.stakeOf(alice), 275e18, "after a seizure");
        assertEq(address(registry.stakeToken()), address(token), "stake token");
    }

    // ================================================================ providerTerms, views

    function test_providerTerms_reportsApprovedProvider() public {
        _registerApproved(alice, 300e18, TAG_A | TAG_B, MEM);
        (bool active, uint256 tags, uint32 memoryMB, , ) = registry.providerTerms(alice);
        assertTrue(active, "active");
        assertEq(tags, TAG_A | TAG_B, "tags");
        assertEq(memoryMB, MEM, "memory");
    }

    function test_providerTerms_inactiveWhenPendingSuspendedExitingOrBelowMinStake() public {
        _register(alice, MIN_STAKE);
        (bool active, , , , ) = registry.providerTerms(alice);
        assertFalse(active, "pending");

        _registerApproved(bob, 300e18);
        vm.prank(admin);
        registry.suspendProvider(bob);
        (active, , , , ) = registry.providerTerms(bob);
        assertFalse(active, "suspended");

        _registerApproved(carol, 300e18);
        vm.prank(carol);
        registry.requestExit();
        (active, , , , ) = registry.providerTerms(carol);
        assertFalse(active, "exiting");
        vm.prank(carol);
        registry.cancelExit();
        (active, , , , ) = registry.providerTerms(carol);
        assertTrue(active, "active again");

        vm.prank(admin);
        registry.slash(carol, 300e18 - MIN_STAKE + 1, "dao");
        (active, , , , ) = registry.providerTerms(carol);
        assertFalse(active, "below the minimum stake");
    }

    function test_getProvider_unknownIsEmpty() public view {
        IProviderRegistry.Provider memory p = _p(eve);
        assertEq(uint256(p.status), 0, "none");
        assertEq(p.stake, 0, "stake");
        assertEq(bytes(p.metadataURI).length, 0, "uri");
        assertEq(registry.freeStakeOf(eve), 0, "no free stake");
    }
}
