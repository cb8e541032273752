// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistryFixture, MockGovernanceDelays} from "./ProviderRegistryFixture.sol";

/// @notice Issue 11 finding 4: exits cover the governance delay, and the guardian can freeze a
/// provider (no new seat, no deallocation or withdrawal) while the DAO votes.
contract ProviderRegistryFreezeTest is ProviderRegistryFixture {
    uint40 internal constant FREEZE = 10 days;
    MockGovernanceDelays internal gov;

    function setUp() public override {
        super.setUp();
        gov = new MockGovernanceDelays();
        gov.set(1 days, 3 days, 2 days); // 6 days, below the 7-day unbonding period
    }

    function _setGovernance() internal {
        vm.prank(admin);
        registry.setGovernance(IGovernor(address(gov)), TimelockController(payable(address(gov))));
    }

    function _withFreeze() internal {
        vm.prank(admin);
        registry.setFreezePeriod(FREEZE);
    }

    function _freeze(address by, address who) internal {
        vm.prank(by);
        registry.freeze(who);
    }

    function _frozen(address who, uint256 until) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IProviderRegistry.ProviderRegistryFrozen.selector, who, uint40(until));
    }

    // ------------------------------------------------------------ governance delay

    function test_setGovernance_setsAndEmits() public {
        assertEq(registry.governanceDelay(), 0, "0 while unset");
        vm.expectEmit();
        emit IProviderRegistry.GovernanceSet(address(gov), address(gov));
        _setGovernance();
        assertEq(address(registry.governor()), address(gov), "governor");
        assertEq(address(registry.timelock()), address(gov), "timelock");
        assertEq(registry.governanceDelay(), 6 days, "delay + period + timelock");
    }

    function test_setGovernance_revertsForNonAdminAndZero() public {
        vm.expectRevert(_unauthorized(guardian, DEFAULT_ADMIN_ROLE));
        vm.prank(guardian);
        registry.setGovernance(IGovernor(address(gov)), TimelockController(payable(address(gov))));
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryZeroAddress.selector));
        vm.prank(admin);
        registry.setGovernance(IGovernor(address(0)), TimelockController(payable(address(gov))));
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryZeroAddress.selector));
        vm.prank(admin);
        registry.setGovernance(IGovernor(address(gov)), TimelockController(payable(address(0))));
    }

    function test_requestExit_unbondingCoversGovernanceDelay() public {
        _setGovernance();
        gov.set(1 days, 7 days, 2 days); // 10 days > the 7-day unbonding period
        _registerApproved(alice, 300e18);
        vm.prank(alice);
        registry.requestExit();
        assertEq(_p(alice).unbondingEndsAt, T0 + 10 days, "the governance delay, not the unbonding period");
        vm.warp(T0 + 7 days);
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryUnbonding.selector, alice, uint40(T0 + 10 days))
        );
        vm.prank(alice);
        registry.withdrawStake();
    }

    function test_requestExit_unbondingPeriodWhenLonger() public {
        _setGovernance(); // 6 days < 7
        _registerApproved(alice, 300e18);
        vm.prank(alice);
        registry.requestExit();
        assertEq(_p(alice).unbondingEndsAt, T0 + UNBONDING, "unbonding period");
    }

    function test_requestExit_governorDelayRaised_usesLonger() public {
        _setGovernance();
        _registerApproved(alice, 300e18);
        _registerApproved(bob, 300e18);
        vm.prank(alice);
        registry.requestExit();
        // The DAO lengthens its voting period: later exits read it live.
        gov.set(1 days, 20 days, 2 days);
        vm.prank(bob);
        registry.requestExit();
        assertEq(_p(alice).unbondingEndsAt, T0 + UNBONDING, "before the change");
        assertEq(_p(bob).unbondingEndsAt, T0 + 23 days, "after the change");
    }

    function test_setUnbondingPeriod_belowGovernanceDelay_reverts() public {
        _setGovernance();
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryUnbondingBelowGovernanceDelay.selector,
                uint40(6 days - 1),
                uint256(6 days)
            )
        );
        vm.prank(admin);
        registry.setUnbondingPeriod(6 days - 1);
        vm.prank(admin);
        registry.setUnbondingPeriod(6 days);
        assertEq(registry.unbondingPeriod(), 6 days, "the delay itself is accepted");
    }

    function testFuzz_requestExit_coversMaxOfPeriodAndDelay(uint40 period, uint32 a, uint32 b, uint32 c) public {
        period = uint40(bound(period, 0, 180 days));
        vm.prank(admin);
        registry.setUnbondingPeriod(period);
        _setGovernance();
        gov.set(a, b, c);
        uint256 delay = uint256(a) + b + c;
        _registerApproved(alice, 300e18);
        vm.prank(alice);
        registry.requestExit();
        uint256 expected = T0 + (period > delay ? period : delay);
        assertEq(_p(alice).unbondingEndsAt, expected, "max(unbonding, governance delay)");
    }

    // ------------------------------------------------------------ freeze period

    function test_setFreezePeriod_updatesAndEmits() public {
        vm.expectEmit();
        emit IProviderRegistry.FreezePeriodSet(FREEZE);
        _withFreeze();
        assertEq(registry.freezePeriod(), FREEZE, "period");
    }

    function test_setFreezePeriod_bounds() public {
        _setGovernance();
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryFreezeBelowGovernanceDelay.selector,
                uint40(6 days - 1),
                uint256(6 days)
            )
        );
        vm.prank(admin);
        registry.setFreezePeriod(6 days - 1);
        uint40 max = registry.MAX_FREEZE_PERIOD();
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInvalidFreezePeriod.selector, max + 1, max)
        );
        vm.prank(admin);
        registry.setFreezePeriod(max + 1);
        vm.expectRevert(_unauthorized(guardian, DEFAULT_ADMIN_ROLE));
        vm.prank(guardian);
        registry.setFreezePeriod(FREEZE);
    }

    // ------------------------------------------------------------ freeze

    function test_freeze_guardianBlocksWithdrawAndNewWork() public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderFrozen(alice, guardian, uint40(T0 + FREEZE));
        _freeze(guardian, alice);
        assertTrue(registry.isFrozen(alice), "frozen");
        assertEq(_p(alice).frozenUntil, T0 + FREEZE, "until");

        // No new seat: the market reads the freeze in the pushed word (no k = 1 delivery, commit,
        // challenge or jury seat).
        assertEq(mock.frozenUntil(alice), T0 + FREEZE, "pushed to the market");
        assertFalse(_seatable(alice), "the market seats it no more");
        (bool active, , , uint256 index, uint256 size) = registry.providerTerms(alice);
        assertFalse(active, "inactive for the market and the runner");
        assertTrue(index < size, "keeps its roster place");

        // An exit unbonds, but the stake stays while frozen.
        vm.prank(alice);
        registry.requestExit();
        vm.warp(T0 + UNBONDING);
        vm.expectRevert(_frozen(alice, T0 + FREEZE));
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(address(registry)), 300e18, "stake held");
    }

    function test_freeze_expires() public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        _freeze(guardian, alice);
        vm.warp(T0 + FREEZE - 1);
        assertTrue(registry.isFrozen(alice), "one second before");
        vm.warp(T0 + FREEZE);
        assertFalse(registry.isFrozen(alice), "over");
        assertTrue(_seatable(alice), "seatable again, with no push needed");
        (bool active, , , , ) = registry.providerTerms(alice);
        assertTrue(active, "active again");
        vm.prank(alice);
        registry.requestExit();
        vm.warp(block.timestamp + UNBONDING);
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), 300e18, "withdrawn once the freeze is over");
    }

    function test_freeze_guardianCannotExtend() public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        _freeze(guardian, alice);
        vm.warp(T0 + FREEZE - 1);
        vm.expectRevert(_frozen(alice, T0 + FREEZE));
        _freeze(guardian, alice);
        assertEq(_p(alice).frozenUntil, T0 + FREEZE, "unchanged");
    }

    function test_freeze_guardianCooldown() public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        _freeze(guardian, alice);
        vm.warp(T0 + 2 * uint256(FREEZE) - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryFreezeCooldown.selector,
                alice,
                uint40(T0 + 2 * uint256(FREEZE))
            )
        );
        _freeze(guardian, alice);
        vm.warp(T0 + 2 * uint256(FREEZE));
        _freeze(guardian, alice);
        assertEq(_p(alice).frozenUntil, T0 + 3 * uint256(FREEZE), "frozen again after the cooldown");
    }

    function test_freeze_daoExtendsAndUnfreezes() public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        _freeze(guardian, alice);
        vm.warp(T0 + 1 days);
        _freeze(admin, alice); // the DAO may extend
        assertEq(_p(alice).frozenUntil, T0 + 1 days + FREEZE, "extended by the DAO");

        vm.expectRevert(_unauthorized(guardian, DEFAULT_ADMIN_ROLE));
        vm.prank(guardian);
        registry.unfreeze(alice);

        vm.expectEmit();
        emit IProviderRegistry.ProviderUnfrozen(alice);
        vm.prank(admin);
        registry.unfreeze(alice);
        assertFalse(registry.isFrozen(alice), "lifted");
        assertTrue(_seatable(alice), "seatable");
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotFrozen.selector, alice));
        vm.prank(admin);
        registry.unfreeze(alice);

        // The guardian's cooldown runs from the DAO's decision.
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryFreezeCooldown.selector,
                alice,
                uint40(T0 + 1 days + FREEZE)
            )
        );
        _freeze(guardian, alice);
    }

    function test_freeze_frozenProvidersOpenSeatStillEnds() public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        _registerApproved(bob, 300e18);
        _lock(alice, 100e18);
        _lock(bob, 100e18);
        _freeze(guardian, alice);
        _freeze(guardian, bob);
        // alice reveals and is paid: her seat's collateral is free at the market again.
        _release(alice, 100e18);
        assertEq(mock.free(alice), 300e18, "released while frozen");
        assertEq(_p(alice).stake, 300e18, "nothing taken");
        // bob's seat was faulty: its collateral is seized while frozen.
        _seize(bob, 100e18, IProviderRegistry.Fault.Missed);
        assertEq(_p(bob).stake, 200e18, "seized");
        assertEq(_p(bob).missed, 1, "counted");
        assertEq(token.balanceOf(market), 100e18, "at the market");
    }

    /// @dev The DAO reaches what the market holds free at once, and a seat's collateral once the
    /// seat ends; the freeze keeps the provider from deallocating or withdrawing meanwhile.
    function test_freeze_thenDaoSlashesOnceSeatsEnd() public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        _lock(alice, 250e18);
        _freeze(guardian, alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector,
                alice,
                uint256(300e18),
                uint256(50e18)
            )
        );
        vm.prank(admin);
        registry.slash(alice, 300e18, "fraud");
        vm.expectRevert(_frozen(alice, T0 + FREEZE));
        vm.prank(alice);
        registry.deallocate(market, 50e18);
        _release(alice, 250e18);
        vm.prank(admin);
        registry.slash(alice, 300e18, "fraud");
        assertEq(_p(alice).stake, 0, "all of it, once no seat is open");
        assertEq(mock.free(alice), 0, "reclaimed from the market");
    }

    function test_freeze_revertsForOthersAndUnregistered() public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        vm.expectRevert(_unauthorized(eve, GUARDIAN_ROLE));
        _freeze(eve, alice);
        vm.expectRevert(_unauthorized(market, GUARDIAN_ROLE));
        _freeze(market, alice);
        vm.expectRevert(_unauthorized(alice, GUARDIAN_ROLE));
        _freeze(alice, alice);
        vm.expectRevert(_notRegistered(eve));
        _freeze(guardian, eve);
    }

    function test_freeze_disabledWithoutPeriod() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryFreezeDisabled.selector));
        _freeze(guardian, alice);
    }

    function test_freeze_lastsAtLeastTheGovernanceDelay() public {
        _setGovernance();
        vm.prank(admin);
        registry.setFreezePeriod(6 days);
        gov.set(1 days, 10 days, 2 days); // the DAO lengthened its voting period since
        _registerApproved(alice, 300e18);
        _freeze(guardian, alice);
        assertEq(_p(alice).frozenUntil, T0 + 13 days, "covers the live governance delay");
    }

    function testFuzz_freeze_guardianTiming(uint256 firstAt, uint256 secondAfter) public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        firstAt = bound(firstAt, T0, T0 + 365 days);
        secondAfter = bound(secondAfter, 0, 3 * uint256(FREEZE));
        vm.warp(firstAt);
        _freeze(guardian, alice);
        vm.warp(firstAt + secondAfter);
        bool frozen = secondAfter < FREEZE;
        assertTrue(registry.isFrozen(alice) == frozen, "frozen exactly for the period");
        if (frozen) {
            vm.expectRevert(_frozen(alice, firstAt + FREEZE));
        } else if (secondAfter < 2 * uint256(FREEZE)) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IProviderRegistry.ProviderRegistryFreezeCooldown.selector,
                    alice,
                    uint40(firstAt + 2 * uint256(FREEZE))
                )
            );
        }
        _freeze(guardian, alice);
        if (!frozen && secondAfter >= 2 * uint256(FREEZE)) {
            assertEq(_p(alice).frozenUntil, firstAt + secondAfter + FREEZE, "frozen again");
        }
    }
}
