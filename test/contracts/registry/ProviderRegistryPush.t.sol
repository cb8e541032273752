// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderWord} from "../../../contracts/market/ProviderWord.sol";
import {MockProviderMarket} from "../utils/MockProviderMarket.sol";
import {ProviderRegistryFixture} from "./ProviderRegistryFixture.sol";

/// @notice What the registry pushes to the markets: a market seats providers on its mirror of
/// their terms alone, so every change the registry makes must reach it, and the mirror must
/// equal what {IProviderRegistry-providerTerms} says. Also the bound on the number of markets,
/// which bounds the cost of each push.
contract ProviderRegistryPushTest is ProviderRegistryFixture {
    uint40 internal constant FREEZE = 10 days;

    /// @dev The word the registry should have pushed for `who`, from its own views.
    function _expected(address who) internal view returns (uint256) {
        (, uint256 tags, uint32 memoryMB, uint256 index, uint256 size) = registry.providerTerms(who);
        IProviderRegistry.Provider memory p = _p(who);
        if (index >= size || p.stake < registry.minStake()) return 0;
        return ProviderWord.terms(uint32(index + 1), p.frozenUntil, memoryMB, tags);
    }

    function _assertMirrored(address who, string memory message) internal view {
        assertEq(mock.terms(who), _expected(who), message);
        assertEq(mock.rosterSize(), registry.rosterSize(), "roster size");
    }

    // ================================================================ lifecycle

    function test_push_approvalPushesTheProvidersWord() public {
        _register(alice, 300e18, TAG_A | TAG_B, MEM);
        assertEq(mock.pushes(alice), 1, "registration pushed");
        assertEq(mock.terms(alice), 0, "a pending provider may take no seat");
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A);
        assertEq(mock.terms(alice), ProviderWord.terms(1, 0, MEM, TAG_A), "slot 1, granted tags, memory");
        assertEq(mock.rosterSlot(alice), 1, "roster slot");
        assertEq(mock.tags(alice), TAG_A, "granted, not declared, tags");
        assertEq(mock.memoryMB(alice), MEM, "memory");
        assertEq(mock.rosterSize(), 1, "roster size");
        _assertMirrored(alice, "mirror");
    }

    function test_push_autoAdmissionPushesAtRegistration() public {
        vm.startPrank(admin);
        registry.setAdmissionPolicy(true, 500e18);
        registry.setAutoGrantMask(TAG_A);
        vm.stopPrank();
        _register(alice, 500e18, TAG_A | TAG_B, MEM);
        assertEq(mock.terms(alice), ProviderWord.terms(1, 0, MEM, TAG_A), "admitted with the masked tags");

        // A pending provider crossing the threshold by adding stake is pushed then.
        _register(bob, 400e18, TAG_A, MEM);
        assertEq(mock.terms(bob), 0, "pending");
        _fund(bob, 100e18);
        vm.prank(bob);
        registry.addStake(100e18);
        assertEq(mock.rosterSlot(bob), 2, "admitted by its top-up");
        _assertMirrored(bob, "mirror");
    }

    function test_push_suspensionZeroesTheTerms() public {
        _registerApproved(alice, 300e18);
        vm.prank(admin);
        registry.suspendProvider(alice);
        assertEq(mock.terms(alice), 0, "suspended");
        assertEq(mock.rosterSize(), 0, "off the roster");
        vm.prank(admin);
        registry.approveProvider(alice, TAG_B);
        assertEq(mock.terms(alice), ProviderWord.terms(1, 0, MEM, TAG_B), "approved again");
    }

    function test_push_exitRequestAndCancel() public {
        _registerApproved(alice, 300e18);
        uint256 word = mock.terms(alice);
        assertTrue(word != 0, "member");
        vm.prank(alice);
        registry.requestExit();
        assertEq(mock.terms(alice), 0, "an exiting provider takes no seat");
        vm.prank(alice);
        registry.cancelExit();
        assertEq(mock.terms(alice), word, "restored");
    }

    function test_push_freezeAndUnfreeze() public {
        vm.prank(admin);
        registry.setFreezePeriod(FREEZE);
        _registerApproved(alice, 300e18);
        assertTrue(_seatable(alice), "seatable");
        vm.prank(guardian);
        registry.freeze(alice);
        assertEq(mock.frozenUntil(alice), T0 + FREEZE, "the market sees the freeze");
        assertEq(mock.rosterSlot(alice), 1, "a frozen member keeps its slot");
        assertFalse(_seatable(alice), "not seatable while frozen");
        _assertMirrored(alice, "mirror while frozen");

        vm.warp(T0 + 1 days);
        vm.prank(admin);
        registry.unfreeze(alice);
        assertEq(mock.frozenUntil(alice), T0 + 1 days, "lifted now");
        assertTrue(_seatable(alice), "seatable again");
    }

    function test_push_grantedTagsAndCapabilities() public {
        _registerApproved(alice, 300e18, TAG_A, MEM);
        vm.prank(admin);
        registry.setGrantedTags(alice, TAG_A | TAG_C);
        assertEq(mock.tags(alice), TAG_A | TAG_C, "granted tags pushed");
        vm.prank(alice);
        registry.updateCapabilities(_caps(TAG_B, 24_000), URI);
        assertEq(mock.memoryMB(alice), 24_000, "memory pushed");
        assertEq(mock.tags(alice), TAG_A | TAG_C, "declared tags are not pushed");
        _assertMirrored(alice, "mirror");
    }

    /// @dev The word holds 24 bits of memory and 64 bits of tags (a job requires bits 0-63 only):
    /// more memory reads as the most, higher tags are dropped rather than spilling into other fields.
    function test_push_fieldsAreClamped() public {
        _registerApproved(alice, 300e18, TAG_A | TAG_HIGH, type(uint32).max);
        assertEq(mock.memoryMB(alice), ProviderWord.MAX_MEMORY_MB, "memory capped");
        assertEq(mock.tags(alice), TAG_A, "bits above 63 dropped");
        assertEq(mock.rosterSlot(alice), 1, "slot intact");
        assertEq(mock.frozenUntil(alice), 0, "freeze intact");
        assertEq(ProviderWord.free(mock.terms(alice)), 0, "the free collateral is the market's");
    }

    function test_push_stakeBelowMinimumZeroesAndTopUpRestores() public {
        _registerApproved(alice, MIN_STAKE);
        vm.prank(admin);
        registry.slash(alice, 1, "dao");
        assertEq(mock.terms(alice), 0, "below the minimum after a slash");
        assertEq(mock.rosterSize(), 1, "still a roster member");
        _fund(alice, 1);
        vm.prank(alice);
        registry.addStake(1);
        assertEq(mock.rosterSlot(alice), 1, "back at the minimum");

        _lock(alice, 1);
        _seize(alice, 1, IProviderRegistry.Fault.Missed);
        assertEq(mock.terms(alice), 0, "below the minimum after a seizure");
    }

    function test_push_swapAndPopPushesTheMovedProvider() public {
        _registerApproved(alice, 300e18);
        _registerApproved(bob, 300e18);
        _registerApproved(carol, 300e18);
        assertEq(mock.rosterSlot(carol), 3, "last");
        vm.expectEmit();
        emit IProviderRegistry.RosterLeft(alice, 0, carol);
        vm.prank(alice);
        registry.requestExit();
        assertEq(mock.rosterSlot(carol), 1, "carol took alice's slot");
        assertEq(mock.rosterSlot(bob), 2, "bob kept his");
        assertEq(mock.rosterSize(), 2, "size");
        _assertMirrored(alice, "alice");
        _assertMirrored(bob, "bob");
        _assertMirrored(carol, "carol");
    }

    /// @dev A market granted the role after the providers registered has no mirror until someone
    /// pushes again.
    function test_syncProviders_fillsALateMarketsMirror() public {
        _registerApproved(alice, 300e18);
        _register(bob, 300e18);
        MockProviderMarket late = new MockProviderMarket(registry);
        vm.prank(admin);
        registry.grantRole(MARKET_ROLE, address(late));
        assertEq(late.pushes(alice), 0, "never pushed");

        address[] memory accounts = new address[](2);
        (accounts[0], accounts[1]) = (alice, bob);
        vm.prank(eve);
        registry.syncProviders(accounts);
        assertEq(late.terms(alice), mock.terms(alice), "alice mirrored");
        assertEq(late.pushes(bob), 1, "bob pushed");
        assertEq(late.terms(bob), 0, "bob pending");
        assertEq(late.rosterSize(), 1, "roster size");
        assertEq(mock.pushes(alice), 3, "the first market was pushed again too");
    }

    /// @dev A new minimum stake changes no provider's record, so nothing is pushed with it:
    /// whoever raises it pushes the providers it puts under the minimum.
    function test_syncProviders_afterTheMinimumIsRaised() public {
        _registerApproved(alice, 300e18);
        _registerApproved(bob, 500e18);
        vm.prank(admin);
        registry.setMinStake(400e18);
        address[] memory accounts = new address[](2);
        (accounts[0], accounts[1]) = (alice, bob);
        registry.syncProviders(accounts);
        assertEq(mock.terms(alice), 0, "alice is under the new minimum");
        assertEq(mock.rosterSlot(bob), 2, "bob still may take seats");
        _assertMirrored(alice, "alice");
        _assertMirrored(bob, "bob");
    }

    /// @dev A retired market seats no one: pushing to it would only cost gas.
    function test_push_skipsRetiredMarkets() public {
        _registerApproved(alice, 300e18);
        uint256 word = mock.terms(alice);
        uint256 pushes = mock.pushes(alice);
        mock.retire();
        vm.prank(admin);
        registry.suspendProvider(alice);
        assertEq(mock.pushes(alice), pushes, "no push");
        assertEq(mock.terms(alice), word, "stale, and unused");
    }

    /// @dev An account without code holding the role (an EOA, as deployments granted before
    /// markets took pushes) is skipped rather than making every registry call revert.
    function test_push_skipsAccountsWithoutCode() public {
        address eoaMarket = address(0x3A4E7);
        vm.prank(admin);
        registry.grantRole(MARKET_ROLE, eoaMarket);
        _registerApproved(alice, 300e18);
        assertEq(mock.rosterSlot(alice), 1, "the real market is still pushed");
        _lock(alice, 100e18);
        _release(alice, 100e18);
        _exitAndWithdraw(alice);
        assertEq(token.balanceOf(alice), 300e18, "the reclaim skipped the EOA too");
    }

    // ================================================================ markets

    function test_markets_listsInGrantOrder() public {
        address second = address(new MockProviderMarket(registry));
        vm.prank(admin);
        registry.grantRole(MARKET_ROLE, second);
        address[] memory all = registry.markets();
        assertEq(all.length, 2, "two");
        assertEq(all[0], market, "first");
        assertEq(all[1], second, "second");
    }

    /// @dev Every push and reclaim loops over the markets: their number is bounded, retired ones
    /// included (they may hold allocated stake).
    function test_grantRole_revertsPastMaxMarkets() public {
        uint256 max = registry.MAX_MARKETS();
        assertEq(max, 8, "eight");
        for (uint256 i = 1; i < max; ++i) {
            vm.prank(admin);
            registry.grantRole(MARKET_ROLE, address(uint160(0x9000 + i)));
        }
        assertEq(registry.markets().length, max, "full");
        mock.retire();
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryTooManyMarkets.selector, address(0x9999), max)
        );
        vm.prank(admin);
        registry.grantRole(MARKET_ROLE, address(0x9999));

        // A retired market granted the role again is already listed: it takes no new place.
        vm.prank(admin);
        registry.grantRole(MARKET_ROLE, market);
        assertTrue(registry.hasRole(MARKET_ROLE, market), "active again");
        assertEq(registry.markets().length, max, "still eight");
    }

    function test_syncProvider_onlyTheRegistryWritesTheMirror() public {
        _registerApproved(alice, 300e18);
        uint256 word = mock.terms(alice);
        vm.expectRevert(abi.encodeWithSelector(MockProviderMarket.MockProviderMarketNotRegistry.selector, eve));
        vm.prank(eve);
        mock.syncProvider(alice, 0, 0);
        assertEq(mock.terms(alice), word, "unchanged");
    }
}
