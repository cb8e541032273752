// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "../../../contracts/registry/ProviderRegistry.sol";
import {ProviderRegistryFixture, RosterCheck} from "./ProviderRegistryFixture.sol";

/// @notice The roster (issue 11, finding 15): the ordered set of Approved, not exiting providers
/// that the market's assignment reads, kept by swap-and-pop at every status transition.
contract ProviderRegistryRosterTest is ProviderRegistryFixture {
    function _members() internal view returns (address[] memory out) {
        out = new address[](registry.rosterSize());
        for (uint256 i = 0; i < out.length; ++i) out[i] = registry.rosterAt(i);
    }

    function _all() internal view returns (address[] memory all) {
        all = new address[](4);
        (all[0], all[1], all[2], all[3]) = (alice, bob, carol, eve);
    }

    function test_roster_startsEmpty() public view {
        assertEq(registry.rosterSize(), 0, "empty");
        (bool member, uint256 index) = registry.rosterIndexOf(alice);
        assertFalse(member, "nobody is a member");
        assertEq(index, 0, "index 0 when not a member");
    }

    function test_roster_pendingIsNoMember() public {
        _register(alice, MIN_STAKE);
        assertEq(registry.rosterSize(), 0, "pending stays off");
        (, , , uint256 index, uint256 size) = registry.providerTerms(alice);
        assertEq(index, type(uint256).max, "non-member index");
        assertEq(size, 0, "size");
    }

    function test_approveProvider_joinsRoster() public {
        _register(alice, MIN_STAKE);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.RosterJoined(alice, 0);
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A | TAG_B);
        _registerApproved(bob, MIN_STAKE);
        assertEq(registry.rosterSize(), 2, "two members");
        assertEq(registry.rosterAt(0), alice, "alice first");
        assertEq(registry.rosterAt(1), bob, "bob second");
        (bool active, , , uint256 index, uint256 size) = registry.providerTerms(bob);
        assertTrue(active, "active");
        assertEq(index, 1, "bob's index");
        assertEq(size, 2, "size");
        RosterCheck.check(registry, _all());
    }

    function test_register_autoAdmitJoinsRoster() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, 200e18);
        _fund(alice, 200e18);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.RosterJoined(alice, 0);
        vm.prank(alice);
        registry.register(200e18, _caps(TAG_A, MEM), URI);
        assertEq(registry.rosterAt(0), alice, "member at once");
        RosterCheck.check(registry, _all());
    }

    function test_addStake_autoAdmitJoinsRoster() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, 200e18);
        _register(alice, MIN_STAKE);
        assertEq(registry.rosterSize(), 0, "pending below the threshold");
        _fund(alice, 100e18);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.RosterJoined(alice, 0);
        vm.prank(alice);
        registry.addStake(100e18);
        assertEq(registry.rosterSize(), 1, "joined when approved");
        RosterCheck.check(registry, _all());
    }

    function test_suspendProvider_leavesRosterLastMemberMoves() public {
        _registerApproved(alice, MIN_STAKE);
        _registerApproved(bob, MIN_STAKE);
        _registerApproved(carol, MIN_STAKE);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.RosterLeft(alice, 0, carol);
        vm.prank(admin);
        registry.suspendProvider(alice);
        address[] memory m = _members();
        assertEq(m.length, 2, "two left");
        assertEq(m[0], carol, "the last member took the freed index");
        assertEq(m[1], bob, "bob kept his index");
        RosterCheck.check(registry, _all());
    }

    function test_suspendProvider_lastMemberLeavesWithoutMove() public {
        _registerApproved(alice, MIN_STAKE);
        _registerApproved(bob, MIN_STAKE);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.RosterLeft(bob, 1, address(0));
        vm.prank(admin);
        registry.suspendProvider(bob);
        assertEq(registry.rosterSize(), 1, "one left");
        assertEq(registry.rosterAt(0), alice, "alice unmoved");
        RosterCheck.check(registry, _all());
    }

    function test_suspendProvider_pendingChangesNothing() public {
        _register(alice, MIN_STAKE);
        _registerApproved(bob, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        assertEq(registry.rosterSize(), 1, "bob stays");
        RosterCheck.check(registry, _all());
    }

    function test_requestExit_leavesAndCancelExit_rejoinsAtTheEnd() public {
        _registerApproved(alice, MIN_STAKE);
        _registerApproved(bob, MIN_STAKE);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.RosterLeft(alice, 0, bob);
        vm.prank(alice);
        registry.requestExit();
        assertEq(registry.rosterAt(0), bob, "bob moved to 0");
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.RosterJoined(alice, 1);
        vm.prank(alice);
        registry.cancelExit();
        assertEq(registry.rosterAt(1), alice, "alice back, last");
        RosterCheck.check(registry, _all());
    }

    function test_approveProvider_whileExitingDoesNotJoin() public {
        _registerApproved(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        vm.prank(alice);
        registry.requestExit();
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A | TAG_B);
        assertEq(registry.rosterSize(), 0, "approved but exiting: no member");
        RosterCheck.check(registry, _all());
        vm.prank(alice);
        registry.cancelExit();
        assertEq(registry.rosterAt(0), alice, "joins when the exit is cancelled");
        RosterCheck.check(registry, _all());
    }

    function test_withdrawStake_thenRegisterAgain_rejoins() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, MIN_STAKE);
        _register(alice, MIN_STAKE);
        _register(bob, MIN_STAKE);
        _exitAndWithdraw(alice);
        assertEq(registry.rosterSize(), 1, "alice gone");
        assertEq(registry.rosterAt(0), bob, "bob moved");
        _register(alice, MIN_STAKE);
        assertEq(registry.rosterAt(1), alice, "back as a new member");
        RosterCheck.check(registry, _all());
    }

    function test_slash_belowMinimumKeepsMembership() public {
        _registerApproved(alice, 300e18);
        vm.prank(admin);
        registry.slash(alice, 300e18 - MIN_STAKE + 1, "dao");
        (bool active, , , uint256 index, uint256 size) = registry.providerTerms(alice);
        assertFalse(active, "not active below the minimum stake");
        assertEq(index, 0, "still on the roster: its rank passes unused");
        assertEq(size, 1, "size");
    }

    function test_rosterAt_revertsPastTheEnd() public {
        _registerApproved(alice, MIN_STAKE);
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryRosterIndexOutOfBounds.selector, 1, 1)
        );
        registry.rosterAt(1);
    }

    function test_push_carriesTheRosterPlace() public {
        _registerApproved(alice, 300e18);
        _registerApproved(bob, 300e18);
        assertEq(mock.rosterSlot(bob), 2, "bob's index + 1");
        assertEq(mock.rosterSize(), 2, "size");
    }

    function test_getProvider_countersSurviveThePacking() public {
        _registerApproved(alice, 300e18);
        for (uint256 i = 0; i < 7; ++i) _seize(alice, 0, IProviderRegistry.Fault.Missed);
        _seize(alice, 0, IProviderRegistry.Fault.Disagreed);
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.missed, 7, "missed");
        assertEq(p.disagreed, 1, "disagreed");
        assertEq(p.stake, 300e18, "stake");
        assertEq(uint256(p.status), uint256(IProviderRegistry.ProviderStatus.Approved), "status");
        assertEq(p.memoryMB, MEM, "memory");
        (bool member, uint256 index) = registry.rosterIndexOf(alice);
        assertTrue(member && index == 0, "roster slot");
    }

    /// @dev Random sequences of register / approve / suspend / requestExit / cancelExit /
    /// withdrawStake / addStake over six providers: after every step the roster array, the
    /// index mapping and the records agree (swap-and-pop keeps indexes consistent).
    function testFuzz_roster_randomTransitionsStayConsistent(uint256 seed) public {
        address[] memory all = new address[](6);
        for (uint256 i = 0; i < all.length; ++i) {
            all[i] = address(uint160(0x5000 + i));
            _fund(all[i], 100_000e18);
        }
        vm.prank(admin);
        registry.setAdmissionPolicy(true, 500e18);
        uint256 refused;
        for (uint256 step = 0; step < 48; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            address a = all[r % all.length];
            uint256 action = (r >> 8) % 8;
            bytes memory data;
            address sender = a;
            if (action == 0) {
                uint256 amount = (r >> 16) % 2 == 0 ? MIN_STAKE : 600e18;
                data = abi.encodeCall(registry.register, (amount, _caps(TAG_A, MEM), URI));
            } else if (action == 1) {
                (data, sender) = (abi.encodeCall(registry.approveProvider, (a, TAG_A)), admin);
            } else if (action == 2) {
                (data, sender) = (abi.encodeCall(registry.suspendProvider, (a)), admin);
            } else if (action == 3) {
                data = abi.encodeCall(registry.requestExit, ());
            } else if (action == 4) {
                data = abi.encodeCall(registry.cancelExit, ());
            } else if (action == 5) {
                vm.warp(block.timestamp + UNBONDING);
                data = abi.encodeCall(registry.withdrawStake, ());
            } else if (action == 6) {
                data = abi.encodeCall(registry.addStake, (500e18));
            } else {
                vm.prank(admin);
                registry.setAdmissionPolicy((r >> 16) % 2 == 0, 500e18);
                RosterCheck.check(registry, all);
                continue;
            }
            vm.prank(sender);
            (bool ok, ) = address(registry).call(data);
            // A refused transition must leave the roster as it was: the check covers both.
            if (!ok) ++refused;
            RosterCheck.check(registry, all);
        }
        assertLe(refused, 48, "steps");
    }
}
