// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistryFixture} from "./ProviderRegistryFixture.sol";

/// @notice Exit requests, their cancellation and stake withdrawal.
contract ProviderRegistryExitTest is ProviderRegistryFixture {
    // ================================================================ exit

    function test_requestExit_setsUnbondingEndAndEmits() public {
        _registerApproved(alice, MIN_STAKE);
        uint40 endsAt = uint40(block.timestamp) + UNBONDING;
        vm.expectEmit();
        emit IProviderRegistry.ExitRequested(alice, endsAt);
        vm.prank(alice);
        registry.requestExit();
        assertEq(_p(alice).unbondingEndsAt, endsAt, "ends at");
        assertEq(_status(alice), APPROVED, "status kept while unbonding");
        assertEq(mock.terms(alice), 0, "exiting: pushed as zeros, the market seats it no more");
    }

    function test_requestExit_revertsWhenAlreadyExiting() public {
        _register(alice, MIN_STAKE);
        vm.prank(alice);
        registry.requestExit();
        uint40 endsAt = _p(alice).unbondingEndsAt;
        vm.warp(block.timestamp + 1 days);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryExiting.selector, alice, endsAt));
        vm.prank(alice);
        registry.requestExit();
        assertEq(_p(alice).unbondingEndsAt, endsAt, "unchanged");
    }

    function test_requestExit_revertsWhenNotRegistered() public {
        vm.expectRevert(_notRegistered(eve));
        vm.prank(eve);
        registry.requestExit();
        assertEq(_p(eve).unbondingEndsAt, 0, "nothing written");
    }

    function test_requestExit_allowedWhenSuspended() public {
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        vm.prank(alice);
        registry.requestExit();
        assertEq(_p(alice).unbondingEndsAt, uint40(block.timestamp) + UNBONDING, "exiting");
    }

    function test_requestExit_zeroPeriodAtTimestampZeroUsesMarker() public {
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.setUnbondingPeriod(0);
        vm.warp(0);
        vm.prank(alice);
        registry.requestExit();
        assertEq(_p(alice).unbondingEndsAt, 1, "non-zero marker");
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryUnbonding.selector, alice, uint40(1)));
        vm.prank(alice);
        registry.withdrawStake();
        vm.warp(1);
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(_status(alice), EXITED, "exited");
    }

    function test_requestExit_zeroPeriodWithdrawsAtOnce() public {
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.setUnbondingPeriod(0);
        vm.startPrank(alice);
        registry.requestExit();
        registry.withdrawStake();
        vm.stopPrank();
        assertEq(token.balanceOf(alice), MIN_STAKE, "returned");
    }

    function test_requestExit_usesPeriodAtRequestTime() public {
        _register(alice, MIN_STAKE);
        vm.prank(alice);
        registry.requestExit();
        uint40 endsAt = _p(alice).unbondingEndsAt;
        vm.prank(admin);
        registry.setUnbondingPeriod(180 days);
        assertEq(_p(alice).unbondingEndsAt, endsAt, "not retroactive");
        vm.warp(endsAt);
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(_status(alice), EXITED, "exited on the original schedule");
    }

    function test_cancelExit_clearsUnbondingAndRestoresEligibility() public {
        _registerApproved(alice, MIN_STAKE);
        vm.prank(alice);
        registry.requestExit();
        vm.expectEmit();
        emit IProviderRegistry.ExitCancelled(alice);
        vm.prank(alice);
        registry.cancelExit();
        assertEq(_p(alice).unbondingEndsAt, 0, "cleared");
        assertTrue(_seatable(alice), "seatable again");
        vm.prank(alice);
        registry.requestExit();
        assertEq(_p(alice).unbondingEndsAt, uint40(block.timestamp) + UNBONDING, "can request again");
    }

    function test_cancelExit_revertsWhenNotExiting() public {
        _register(alice, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotExiting.selector, alice));
        vm.prank(alice);
        registry.cancelExit();
        assertEq(_p(alice).unbondingEndsAt, 0, "still not exiting");
    }

    function test_cancelExit_revertsWhenNotRegistered() public {
        vm.expectRevert(_notRegistered(eve));
        vm.prank(eve);
        registry.cancelExit();
        assertEq(_status(eve), 0, "none");
    }

    function test_cancelExit_revertsAfterWithdrawal() public {
        _register(alice, MIN_STAKE);
        _exitAndWithdraw(alice);
        vm.expectRevert(_notRegistered(alice));
        vm.prank(alice);
        registry.cancelExit();
        assertEq(_status(alice), EXITED, "exited");
    }

    function test_withdrawStake_revertsBeforeUnbondingEnds() public {
        _register(alice, MIN_STAKE);
        vm.prank(alice);
        registry.requestExit();
        uint40 endsAt = _p(alice).unbondingEndsAt;
        vm.warp(uint256(endsAt) - 1);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryUnbonding.selector, alice, endsAt));
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(_p(alice).stake, MIN_STAKE, "stake kept");
    }

    function test_withdrawStake_returnsTokensAtUnbondingEnd() public {
        _registerApproved(alice, 250e18);
        _register(bob, MIN_STAKE);
        vm.prank(alice);
        registry.requestExit();
        vm.warp(block.timestamp + UNBONDING);
        vm.expectEmit();
        emit IProviderRegistry.ProviderStatusChanged(
            alice,
            IProviderRegistry.ProviderStatus.Approved,
            IProviderRegistry.ProviderStatus.Exited
        );
        vm.expectEmit();
        emit IProviderRegistry.StakeWithdrawn(alice, 250e18);
        vm.prank(alice);
        registry.withdrawStake();
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(uint256(p.status), EXITED, "exited");
        assertEq(p.stake, 0, "stake zero");
        assertEq(p.unbondingEndsAt, 0, "unbonding cleared");
        assertEq(token.balanceOf(alice), 250e18, "tokens returned");
        assertEq(registry.totalStake(), MIN_STAKE, "only bob left");
        assertEq(token.balanceOf(address(registry)), MIN_STAKE, "registry holds bob's stake");
    }

    function test_withdrawStake_revertsWhenNotExiting() public {
        _register(alice, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotExiting.selector, alice));
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(_p(alice).stake, MIN_STAKE, "stake kept");
    }

    function test_withdrawStake_revertsWhenNotRegistered() public {
        vm.expectRevert(_notRegistered(eve));
        vm.prank(eve);
        registry.withdrawStake();
        assertEq(token.balanceOf(eve), 0, "nothing sent");
    }

    function test_withdrawStake_revertsOnSecondWithdrawal() public {
        _register(alice, MIN_STAKE);
        _exitAndWithdraw(alice);
        vm.expectRevert(_notRegistered(alice));
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), MIN_STAKE, "paid once");
    }

    /// @dev The market's free collateral comes back on its own; a seat's collateral waits for
    /// the seat's outcome, and the reclaim is undone with the refusal.
    function test_withdrawStake_revertsWhileSeatsHoldCollateral() public {
        _registerApproved(alice, 200e18);
        _lock(alice, 60e18);
        vm.prank(alice);
        registry.requestExit();
        vm.warp(block.timestamp + UNBONDING);
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryCollateralLocked.selector, alice, uint256(60e18))
        );
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(mock.free(alice), 140e18, "the market's free collateral was not taken");
        assertEq(_p(alice).locked, 200e18, "locked unchanged");

        _release(alice, 60e18);
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), 200e18, "returned after the seat ended");
    }

    function test_withdrawStake_reclaimsTheMarketsFreeCollateral() public {
        _registerApproved(alice, 200e18);
        _lock(alice, 60e18);
        _release(alice, 60e18);
        assertEq(registry.freeStakeOf(alice), 0, "all of it allocated");
        vm.prank(alice);
        registry.requestExit();
        vm.warp(block.timestamp + UNBONDING);
        vm.expectEmit();
        emit IProviderRegistry.CollateralDeallocated(alice, market, 200e18, 0);
        vm.expectEmit();
        emit IProviderRegistry.StakeWithdrawn(alice, 200e18);
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(mock.free(alice), 0, "taken back from the market");
        assertEq(_p(alice).locked, 0, "nothing allocated");
        assertEq(token.balanceOf(alice), 200e18, "withdrawn without a deallocate first");
    }

    /// @dev A retired market may still hold free collateral: it is reclaimed too.
    function test_withdrawStake_reclaimsFromARetiredMarket() public {
        _registerApproved(alice, 200e18);
        _lock(alice, 60e18);
        _release(alice, 60e18);
        mock.retire();
        _exitAndWithdraw(alice);
        assertEq(mock.free(alice), 0, "taken back from the retired market");
        assertEq(token.balanceOf(alice), 200e18, "withdrawn");
    }

    function test_withdrawStake_allowedWhilePaused() public {
        _register(alice, MIN_STAKE);
        vm.prank(alice);
        registry.requestExit();
        vm.prank(guardian);
        registry.pause();
        vm.warp(block.timestamp + UNBONDING);
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), MIN_STAKE, "returned while paused");
    }

    function test_withdrawStake_afterFullSlashReturnsNothing() public {
        _register(alice, MIN_STAKE);
        vm.prank(alice);
        registry.requestExit();
        vm.prank(admin);
        registry.slash(alice, MIN_STAKE, "dao");
        vm.warp(block.timestamp + UNBONDING);
        vm.expectEmit();
        emit IProviderRegistry.StakeWithdrawn(alice, 0);
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(_status(alice), EXITED, "exited");
        assertEq(token.balanceOf(alice), 0, "nothing returned");
        assertEq(token.balanceOf(address(registry)), MIN_STAKE, "slashed funds stay");
    }

    function test_withdrawStake_slashedDuringUnbondingReturnsRemainder() public {
        _register(alice, 300e18);
        vm.prank(alice);
        registry.requestExit();
        vm.prank(admin);
        registry.slash(alice, 120e18, "late fraud");
        vm.warp(block.timestamp + UNBONDING);
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), 180e18, "remainder");
        assertEq(registry.slashedFunds(), 120e18, "slashed kept");
    }

    /// @dev A suspension outlives the exit: exiting and registering again cannot launder it.
    function test_withdrawStake_suspendedProviderStaysSuspended() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, MIN_STAKE);
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        _exitAndWithdraw(alice);
        assertEq(_p(alice).stake, 0, "stake returned");
        assertEq(_status(alice), uint8(IProviderRegistry.ProviderStatus.Suspended), "still suspended");
        _fund(alice, MIN_STAKE);
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
}
