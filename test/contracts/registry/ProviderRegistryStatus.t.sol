// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistryFixture} from "./ProviderRegistryFixture.sol";

/// @notice The DAO's approval and suspension of providers.
contract ProviderRegistryStatusTest is ProviderRegistryFixture {
    // ================================================================ approve / suspend

    function test_approveProvider_pendingToApproved() public {
        _register(alice, MIN_STAKE);
        vm.expectEmit();
        emit IProviderRegistry.ProviderStatusChanged(
            alice,
            IProviderRegistry.ProviderStatus.Pending,
            IProviderRegistry.ProviderStatus.Approved
        );
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A | TAG_B);
        assertEq(_status(alice), APPROVED, "approved");
    }

    function test_approveProvider_suspendedToApproved() public {
        _registerApproved(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        vm.expectEmit();
        emit IProviderRegistry.ProviderStatusChanged(
            alice,
            IProviderRegistry.ProviderStatus.Suspended,
            IProviderRegistry.ProviderStatus.Approved
        );
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A | TAG_B);
        assertEq(_status(alice), APPROVED, "reinstated");
    }

    function test_approveProvider_revertsWhenAlreadyApproved() public {
        _registerApproved(alice, MIN_STAKE);
        vm.expectRevert(_invalidStatus(alice, IProviderRegistry.ProviderStatus.Approved));
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A | TAG_B);
        assertEq(_status(alice), APPROVED, "unchanged");
    }

    function test_approveProvider_revertsWhenNotRegistered() public {
        vm.expectRevert(_notRegistered(eve));
        vm.prank(admin);
        registry.approveProvider(eve, TAG_A | TAG_B);
        assertEq(_status(eve), 0, "none");
    }

    function test_approveProvider_revertsWhenExited() public {
        _register(alice, MIN_STAKE);
        _exitAndWithdraw(alice);
        vm.expectRevert(_notRegistered(alice));
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A | TAG_B);
        assertEq(_status(alice), EXITED, "exited");
    }

    function test_approveProvider_revertsForNonAdmin() public {
        _register(alice, MIN_STAKE);
        vm.expectRevert(_unauthorized(market, DEFAULT_ADMIN_ROLE));
        vm.prank(market);
        registry.approveProvider(alice, TAG_A | TAG_B);
        assertEq(_status(alice), PENDING, "still pending");
    }

    function test_suspendProvider_approvedToSuspended() public {
        _registerApproved(alice, MIN_STAKE);
        vm.expectEmit();
        emit IProviderRegistry.ProviderStatusChanged(
            alice,
            IProviderRegistry.ProviderStatus.Approved,
            IProviderRegistry.ProviderStatus.Suspended
        );
        vm.prank(admin);
        registry.suspendProvider(alice);
        assertEq(_status(alice), SUSPENDED, "suspended");
        assertEq(mock.terms(alice), 0, "the market seats it no more");
    }

    function test_suspendProvider_pendingToSuspended() public {
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        assertEq(_status(alice), SUSPENDED, "suspended");
    }

    function test_suspendProvider_revertsWhenAlreadySuspended() public {
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        vm.expectRevert(_invalidStatus(alice, IProviderRegistry.ProviderStatus.Suspended));
        vm.prank(admin);
        registry.suspendProvider(alice);
        assertEq(_status(alice), SUSPENDED, "unchanged");
    }

    function test_suspendProvider_revertsWhenNotRegistered() public {
        vm.expectRevert(_notRegistered(eve));
        vm.prank(admin);
        registry.suspendProvider(eve);
        assertEq(_status(eve), 0, "none");
    }

    function test_suspendProvider_revertsForNonAdmin() public {
        _registerApproved(alice, MIN_STAKE);
        vm.expectRevert(_unauthorized(guardian, DEFAULT_ADMIN_ROLE));
        vm.prank(guardian);
        registry.suspendProvider(alice);
        assertEq(_status(alice), APPROVED, "still approved");
    }
}
