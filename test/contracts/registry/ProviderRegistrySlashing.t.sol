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

    /// @dev Issue 11 finding 3: the market does not slash (it seizes a faulty seat's collateral
    /// through seize); slash is the DAO's.
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

    /// @dev Issue 11 finding 3, the attack: with 250 of 300 held by two open seats (200 and
    /// 50), a DAO slash of 100 used to take stake below `locked`, cap `locked` silently at 200,
    /// and the release of the 200 seat then left 0 locked while the 50 seat was still open: the
    /// provider, exiting, withdrew before that seat's outcome. Now the slash reaches only what no
    /// seat holds (the market's free collateral included), naming that amount when refused, and
    /// `locked` keeps answering for every open seat.
    function test_slash_cannotTakeSeatCollateral_regression() public {
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

        // The DAO may take the part no seat holds; the seats' collateral stays whole.
        vm.prank(admin);
        registry.slash(alice, 50e18, "dao");
        assertEq(_p(alice).stake, 250e18, "stake");
        assertEq(_p(alice).locked, 250e18, "the seats' collateral");
        assertEq(mock.seats(alice), 250e18, "seats untouched");
        assertEq(mock.free(alice), 0, "the market's free collateral was taken");

        // Seat 1 ends: seat 2's collateral is still held, and an exit cannot withdraw it.
        _release(alice, 200e18);
        vm.prank(alice);
        registry.requestExit();
        vm.warp(block.timestamp + UNBONDING);
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryCollateralLocked.selector, alice, uint256(50e18))
        );
        vm.prank(alice);
        registry.withdrawStake();

        // Seat 2's fault is seized in full, then the rest can leave.
        _seize(alice, 50e18, IProviderRegistry.Fault.Missed);
        assertEq(token.balanceOf(market), 50e18, "seat 2's collateral seized");
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), 200e18, "withdrew what was neither slashed nor seized");
    }

    /// @dev The registry's own free stake goes first; only the shortfall is taken from the market.
    function test_slash_reclaimsOnlyTheShortfallFromTheMarket() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.prank(alice);
        registry.deallocate(market, 50e18);
        vm.expectEmit();
        emit IProviderRegistry.CollateralDeallocated(alice, market, 100e18, 150e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderSlashed(alice, admin, 150e18, "dao");
        vm.prank(admin);
        registry.slash(alice, 150e18, "dao");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, 150e18, "stake");
        assertEq(p.locked, 150e18, "the seat and what the market still holds free");
        assertEq(mock.free(alice), 50e18, "left at the market");
        assertEq(mock.seats(alice), 100e18, "the seat untouched");
        assertEq(p.locked, mock.free(alice) + mock.seats(alice), "locked = what the market holds");
    }

    function test_slash_withoutShortfallLeavesTheMarketAlone() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.prank(alice);
        registry.deallocate(market, 200e18);
        vm.recordLogs();
        vm.prank(admin);
        registry.slash(alice, 200e18, "dao");
        assertEq(vm.getRecordedLogs().length, 1, "ProviderSlashed only: no deallocation");
        assertEq(_p(alice).locked, 100e18, "the seat");
        assertEq(_p(alice).stake, 100e18, "stake");
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
