// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistryFixture} from "./ProviderRegistryFixture.sol";

/// @notice The DAO's slashes and the slashed funds' withdrawal.
contract ProviderRegistrySlashingTest is ProviderRegistryFixture {
    // ================================================================ slash / withdrawSlashed

    function test_slash_byAdmin() public {
        _registerApproved(alice, 300e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderSlashed(alice, admin, 100e18, "dao");
        vm.prank(admin);
        registry.slash(alice, 100e18, "dao");
        assertEq(_p(alice).stake, 200e18, "stake");
        assertEq(registry.totalStake(), 200e18, "total");
        assertEq(registry.slashedFunds(), 100e18, "slashed funds");
        assertEq(token.balanceOf(address(registry)), 300e18, "tokens stay in registry");
        assertEq(_status(alice), APPROVED, "status unchanged");
    }

    function test_slash_byAdminWholeFreeStake() public {
        _registerApproved(alice, 300e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderSlashed(alice, admin, 300e18, bytes32(uint256(42)));
        vm.prank(admin);
        registry.slash(alice, 300e18, bytes32(uint256(42)));
        assertEq(_p(alice).stake, 0, "fully slashed");
        assertEq(registry.slashedFunds(), 300e18, "slashed funds");
    }

    /// @dev Issue 11 finding 3: the market no longer slashes directly (it seizes a seat's
    /// collateral through settle); slash is the DAO's.
    function test_slash_revertsForMarketAndOthers() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(_unauthorized(market, DEFAULT_ADMIN_ROLE));
        vm.prank(market);
        registry.slash(alice, 1, "x");
        vm.expectRevert(_unauthorized(eve, DEFAULT_ADMIN_ROLE));
        vm.prank(eve);
        registry.slash(alice, 1, "x");
        vm.expectRevert(_unauthorized(guardian, DEFAULT_ADMIN_ROLE));
        vm.prank(guardian);
        registry.slash(alice, 1, "x");
        assertEq(_p(alice).stake, 300e18, "untouched");
    }

    function test_slash_revertsWhenAmountExceedsStake() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector,
                alice,
                uint256(300e18 + 1),
                uint256(300e18)
            )
        );
        vm.prank(admin);
        registry.slash(alice, 300e18 + 1, "dao");
        assertEq(_p(alice).stake, 300e18, "untouched");
    }

    function test_slash_revertsOnZeroAmount() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryZeroAmount.selector));
        vm.prank(admin);
        registry.slash(alice, 0, "dao");
        assertEq(registry.slashedFunds(), 0, "nothing slashed");
    }

    function test_slash_revertsWhenNotRegistered() public {
        vm.expectRevert(_notRegistered(eve));
        vm.prank(admin);
        registry.slash(eve, 1, "dao");
        assertEq(registry.slashedFunds(), 0, "nothing slashed");
    }

    /// @dev Issue 11 finding 3, the attack: with 250 of 300 locked by two open seats (200 and
    /// 50), a DAO slash of 100 used to take stake below `locked`, cap `locked` silently at 200,
    /// and the release of the 200 seat then left 0 locked while the 50 seat was still open: the
    /// provider, exiting, withdrew before that seat's outcome. Now the slash reverts, naming the
    /// free stake, and `locked` keeps answering for every open seat.
    function test_slash_cannotTakeLockedCollateral_regression() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 200e18); // seat 1
        _lock(alice, 50e18); // seat 2
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector,
                alice,
                uint256(100e18),
                uint256(50e18)
            )
        );
        vm.prank(admin);
        registry.slash(alice, 100e18, "dao");

        // The DAO may take the free part; the seats' collateral stays whole.
        vm.prank(admin);
        registry.slash(alice, 50e18, "dao");
        assertEq(_p(alice).stake, 250e18, "stake");
        assertEq(_p(alice).locked, 250e18, "locked untouched");
        assertFalse(registry.isEligible(alice, 1, 0, 0), "no free stake");

        // Seat 1 ends: seat 2's collateral is still locked, and an exit cannot withdraw it.
        vm.prank(market);
        registry.settle(alice, 200e18, 0, IProviderRegistry.Outcome.Served, "seat 1");
        assertEq(_p(alice).locked, 50e18, "seat 2 still locked");
        vm.prank(alice);
        registry.requestExit();
        vm.warp(block.timestamp + UNBONDING);
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryCollateralLocked.selector, alice, uint256(50e18))
        );
        vm.prank(alice);
        registry.withdrawStake();

        // Seat 2's fault is seized in full, then the rest can leave.
        vm.prank(market);
        registry.settle(alice, 50e18, 50e18, IProviderRegistry.Outcome.Missed, "seat 2");
        assertEq(token.balanceOf(market), 50e18, "seat 2's collateral seized");
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), 200e18, "withdrew what was neither slashed nor seized");
    }

    function test_slash_keepsLockedBelowStake() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.prank(admin);
        registry.slash(alice, 150e18, "dao");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, 150e18, "stake");
        assertEq(p.locked, 100e18, "locked unchanged");
    }

    function test_withdrawSlashed_sendsFundsAndEmits() public {
        _registerApproved(alice, 300e18);
        vm.prank(admin);
        registry.slash(alice, 120e18, "dao");
        vm.expectEmit();
        emit IProviderRegistry.SlashedFundsWithdrawn(treasury, 70e18);
        vm.prank(admin);
        registry.withdrawSlashed(treasury, 70e18);
        assertEq(token.balanceOf(treasury), 70e18, "treasury");
        assertEq(registry.slashedFunds(), 50e18, "remaining");
        assertEq(token.balanceOf(address(registry)), 180e18 + 50e18, "stake + remaining slashed");
    }

    function test_withdrawSlashed_revertsWhenAboveAvailable() public {
        _registerApproved(alice, 300e18);
        vm.prank(admin);
        registry.slash(alice, 10e18, "dao");
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientSlashedFunds.selector,
                uint256(10e18 + 1),
                uint256(10e18)
            )
        );
        vm.prank(admin);
        registry.withdrawSlashed(treasury, 10e18 + 1);
        assertEq(token.balanceOf(treasury), 0, "nothing sent");
    }

    function test_withdrawSlashed_cannotTouchStake() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientSlashedFunds.selector,
                uint256(1),
                uint256(0)
            )
        );
        vm.prank(admin);
        registry.withdrawSlashed(treasury, 1);
        assertEq(token.balanceOf(address(registry)), 300e18, "stake intact");
    }

    function test_withdrawSlashed_revertsOnZeroAddress() public {
        _registerApproved(alice, 300e18);
        vm.prank(admin);
        registry.slash(alice, 10e18, "dao");
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryZeroAddress.selector));
        vm.prank(admin);
        registry.withdrawSlashed(address(0), 1);
        assertEq(registry.slashedFunds(), 10e18, "unchanged");
    }

    function test_withdrawSlashed_revertsForNonAdmin() public {
        _registerApproved(alice, 300e18);
        vm.prank(admin);
        registry.slash(alice, 10e18, "dao");
        vm.expectRevert(_unauthorized(market, DEFAULT_ADMIN_ROLE));
        vm.prank(market);
        registry.withdrawSlashed(market, 10e18);
        assertEq(registry.slashedFunds(), 10e18, "unchanged");
    }
}
