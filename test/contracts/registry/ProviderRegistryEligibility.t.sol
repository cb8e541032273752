// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistryFixture} from "./ProviderRegistryFixture.sol";

/// @notice The market's calls: eligibility and collateral locks, settlements, counters and terms.
contract ProviderRegistryEligibilityTest is ProviderRegistryFixture {
    // ================================================================ lockCollateral

    function test_lockCollateral_locksAndEmits() public {
        _registerApproved(alice, 300e18, TAG_A | TAG_B, MEM);
        vm.expectEmit();
        emit IProviderRegistry.CollateralLocked(alice, 100e18, 100e18);
        vm.prank(market);
        registry.lockCollateral(alice, 100e18, TAG_A | TAG_B, MEM);
        vm.expectEmit();
        emit IProviderRegistry.CollateralLocked(alice, 200e18, 300e18);
        vm.prank(market);
        registry.lockCollateral(alice, 200e18, TAG_B, MEM - 1);
        assertEq(_p(alice).locked, 300e18, "locked");
        assertEq(_p(alice).stake, 300e18, "stake unchanged");
        assertEq(token.balanceOf(address(registry)), 300e18, "no token movement");
    }

    function test_lockCollateral_revertsWhenPending() public {
        _register(alice, 300e18);
        vm.expectRevert(_invalidStatus(alice, IProviderRegistry.ProviderStatus.Pending));
        vm.prank(market);
        registry.lockCollateral(alice, 1, 0, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenUnknown() public {
        vm.expectRevert(_invalidStatus(eve, IProviderRegistry.ProviderStatus.None));
        vm.prank(market);
        registry.lockCollateral(eve, 0, 0, 0);
        assertEq(_p(eve).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenExited() public {
        _registerApproved(alice, 300e18);
        _exitAndWithdraw(alice);
        vm.expectRevert(_invalidStatus(alice, IProviderRegistry.ProviderStatus.Exited));
        vm.prank(market);
        registry.lockCollateral(alice, 0, 0, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenExiting() public {
        _registerApproved(alice, 300e18);
        vm.prank(alice);
        registry.requestExit();
        uint40 endsAt = _p(alice).unbondingEndsAt;
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryExiting.selector, alice, endsAt));
        vm.prank(market);
        registry.lockCollateral(alice, 1, 0, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenInsufficientFreeStake() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 250e18);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                alice,
                uint256(50e18),
                uint256(50e18 + 1)
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 50e18 + 1, 0, 0);
        _lock(alice, 50e18);
        assertEq(_p(alice).locked, 300e18, "exactly the stake can be locked");
    }

    function test_lockCollateral_revertsWhenMissingTags() public {
        _registerApproved(alice, 300e18, TAG_A | TAG_C, MEM);
        uint256 required = TAG_A | TAG_B | TAG_HIGH;
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMissingTags.selector, alice, TAG_B | TAG_HIGH)
        );
        vm.prank(market);
        registry.lockCollateral(alice, 1, required, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenInsufficientMemory() public {
        _registerApproved(alice, 300e18, TAG_A, 24_000);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientMemory.selector,
                alice,
                uint32(24_000),
                uint32(24_001)
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 1, TAG_A, 24_001);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_checksStatusBeforeOtherConditions() public {
        _register(alice, 300e18, 0, 0);
        vm.prank(alice);
        registry.requestExit();
        // Pending, exiting, too little stake, no tags, no memory: status is reported first.
        vm.expectRevert(_invalidStatus(alice, IProviderRegistry.ProviderStatus.Pending));
        vm.prank(market);
        registry.lockCollateral(alice, 1_000e18, TAG_A, 1);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsForNonMarket() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(_unauthorized(admin, MARKET_ROLE));
        vm.prank(admin);
        registry.lockCollateral(alice, 1, 0, 0);
        vm.expectRevert(_unauthorized(alice, MARKET_ROLE));
        vm.prank(alice);
        registry.lockCollateral(alice, 1, 0, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    // ================================================================ settle

    function test_settle_releasesCollateralAndCountsServed() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 120e18);
        vm.expectEmit();
        emit IProviderRegistry.CollateralReleased(alice, 120e18, 0);
        vm.expectEmit();
        emit IProviderRegistry.OutcomeRecorded(alice, IProviderRegistry.Outcome.Served);
        vm.prank(market);
        registry.settle(alice, 120e18, 0, IProviderRegistry.Outcome.Served, "job1");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.locked, 0, "released");
        assertEq(p.stake, 300e18, "stake kept");
        assertEq(p.served, 1, "served");
        assertEq(p.disagreed + p.missed, 0, "others untouched");
    }

    function test_settle_releasesAndSlashesAndCountsDisagreed() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 120e18);
        vm.expectEmit();
        emit IProviderRegistry.CollateralReleased(alice, 120e18, 0);
        vm.expectEmit();
        emit IProviderRegistry.ProviderSlashed(alice, market, 40e18, "job1");
        vm.expectEmit();
        emit IProviderRegistry.OutcomeRecorded(alice, IProviderRegistry.Outcome.Disagreed);
        vm.prank(market);
        registry.settle(alice, 120e18, 40e18, IProviderRegistry.Outcome.Disagreed, "job1");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.locked, 0, "released");
        assertEq(p.stake, 260e18, "slashed");
        assertEq(p.disagreed, 1, "disagreed");
        assertEq(registry.slashedFunds(), 0, "a seized seat does not feed the DAO's slashed funds");
        assertEq(token.balanceOf(market), 40e18, "seized stake sent to the market");
        assertEq(registry.totalStake(), 260e18, "total");
        assertEq(token.balanceOf(address(registry)), 260e18, "balance = totalStake");
    }

    function test_settle_partialReleaseKeepsRest() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        _lock(alice, 50e18);
        vm.prank(market);
        registry.settle(alice, 100e18, 0, IProviderRegistry.Outcome.Served, "job1");
        assertEq(_p(alice).locked, 50e18, "second job still locked");
    }

    function test_settle_capsReleaseAtLocked() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 30e18);
        vm.expectEmit();
        emit IProviderRegistry.CollateralReleased(alice, 30e18, 0);
        vm.prank(market);
        registry.settle(alice, 1_000e18, 0, IProviderRegistry.Outcome.Served, "job");
        assertEq(_p(alice).locked, 0, "released to zero");
    }

    function test_settle_capsSlashAtStakeWithoutReverting() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 300e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderSlashed(alice, market, 300e18, "job");
        vm.prank(market);
        registry.settle(alice, 0, type(uint256).max, IProviderRegistry.Outcome.Missed, "job");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, 0, "fully slashed");
        assertEq(p.locked, 0, "locked follows stake");
        assertEq(p.missed, 1, "missed counted");
        assertEq(token.balanceOf(market), 300e18, "the whole stake went to the market");
        assertEq(registry.slashedFunds(), 0, "slashed funds untouched");

        // A further settlement against the empty stake still does not revert.
        vm.prank(market);
        registry.settle(alice, 5e18, 5e18, IProviderRegistry.Outcome.Missed, "job2");
        assertEq(_p(alice).missed, 2, "counted again");
        assertEq(token.balanceOf(market), 300e18, "nothing more seized");
    }

    function test_settle_zeroAmountsOnlyCount() public {
        _registerApproved(alice, 300e18);
        vm.prank(market);
        registry.settle(alice, 0, 0, IProviderRegistry.Outcome.Missed, "job");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.missed, 1, "missed");
        assertEq(p.stake, 300e18, "stake kept");
        assertEq(registry.slashedFunds(), 0, "nothing slashed");
    }

    function test_settle_worksWhileExitingSuspendedAndPaused() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.prank(alice);
        registry.requestExit();
        vm.prank(admin);
        registry.suspendProvider(alice);
        vm.prank(guardian);
        registry.pause();
        vm.prank(market);
        registry.settle(alice, 100e18, 10e18, IProviderRegistry.Outcome.Served, "job");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.locked, 0, "released");
        assertEq(p.stake, 290e18, "slashed");
        assertEq(p.served, 1, "served");
    }

    function test_stakeOf_followsStakeAndSeizure() public {
        _registerApproved(alice, 300e18);
        assertEq(registry.stakeOf(alice), 300e18, "registered stake");
        assertEq(registry.stakeOf(bob), 0, "unknown provider");
        vm.prank(market);
        registry.settle(alice, 0, 25e18, IProviderRegistry.Outcome.Missed, "job");
        assertEq(registry.stakeOf(alice), 275e18, "after a seizure");
        assertEq(address(registry.stakeToken()), address(token), "stake token");
    }

    function test_settle_revertsForNonMarket() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.expectRevert(_unauthorized(admin, MARKET_ROLE));
        vm.prank(admin);
        registry.settle(alice, 100e18, 0, IProviderRegistry.Outcome.Served, "job");
        vm.expectRevert(_unauthorized(alice, MARKET_ROLE));
        vm.prank(alice);
        registry.settle(alice, 100e18, 0, IProviderRegistry.Outcome.Served, "job");
        assertEq(_p(alice).locked, 100e18, "still locked");
        assertEq(_p(alice).served, 0, "not counted");
    }

    // ================================================================ recordServed, providerTerms

    function test_recordServed_countsServed() public {
        _registerApproved(alice, 300e18, TAG_A | TAG_B, MEM);
        vm.expectEmit();
        emit IProviderRegistry.ServedRecorded(alice, 1);
        vm.prank(market);
        registry.recordServed(alice, 1);
        vm.expectEmit();
        emit IProviderRegistry.ServedRecorded(alice, 3);
        vm.prank(market);
        registry.recordServed(alice, 3);
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.served, 4, "served 1 + 3");
        assertEq(p.locked, 0, "no collateral");
    }

    function test_recordServed_revertsForNonMarket() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(_unauthorized(alice, MARKET_ROLE));
        vm.prank(alice);
        registry.recordServed(alice, 1);
        assertEq(_p(alice).served, 0, "not counted");
    }

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

    function test_lockCollateral_revertsWhenStakeBelowMinimumAfterSlash() public {
        _registerApproved(alice, MIN_STAKE);
        vm.prank(admin);
        registry.slash(alice, 1, "dao");
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryStakeBelowMinimum.selector,
                MIN_STAKE - 1,
                MIN_STAKE
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 0, 0, 0);
        assertFalse(registry.isEligible(alice, 0, 0, 0), "not eligible");
    }

    function test_withdrawStake_suspendedProviderStaysSuspended() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, MIN_STAKE);
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        _exitAndWithdraw(alice);
        assertEq(_p(alice).stake, 0, "stake returned");
        assertEq(_status(alice), uint8(IProviderRegistry.ProviderStatus.Suspended), "still suspended");
        token.mint(alice, MIN_STAKE);
        vm.prank(alice);
        token.approve(address(registry), MIN_STAKE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryAlreadyRegistered.selector,
                alice,
                IProviderRegistry.ProviderStatus.Suspended
            )
        );
        vm.prank(alice);
        registry.register(MIN_STAKE, _caps(0, 0), URI);
    }

    // ================================================================ views

    function test_checkEligible_passesForEligibleAndRevertsWithReason() public {
        _registerApproved(alice, 300e18, TAG_A, MEM);
        registry.checkEligible(alice, 300e18, TAG_A, MEM);
        assertTrue(registry.isEligible(alice, 300e18, TAG_A, MEM), "eligible");
        assertFalse(registry.isEligible(alice, 300e18 + 1, TAG_A, MEM), "too much collateral");
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                alice,
                uint256(300e18),
                uint256(300e18 + 1)
            )
        );
        registry.checkEligible(alice, 300e18 + 1, TAG_A, MEM);
    }

    function test_getProvider_unknownIsEmpty() public view {
        IProviderRegistry.Provider memory p = _p(eve);
        assertEq(uint256(p.status), 0, "none");
        assertEq(p.stake, 0, "stake");
        assertEq(bytes(p.metadataURI).length, 0, "uri");
        assertFalse(registry.isEligible(eve, 0, 0, 0), "not eligible");
    }
}
