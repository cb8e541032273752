// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderWord} from "../../../contracts/market/ProviderWord.sol";
import {ProviderRegistryFixture} from "./ProviderRegistryFixture.sol";

/// @notice Fuzz tests of the stake arithmetic, admission, matching and timing.
contract ProviderRegistryFuzzTest is ProviderRegistryFixture {
    // ================================================================ fuzz

    function testFuzz_registerAndAddStake_arithmetic(uint256 initial, uint256 added) public {
        initial = bound(initial, MIN_STAKE, 1e30);
        added = bound(added, 1, 1e30);
        _register(alice, initial);
        _register(bob, MIN_STAKE);
        token.mint(alice, added);
        vm.prank(alice);
        registry.addStake(added);
        assertEq(_p(alice).stake, initial + added, "alice stake");
        assertEq(registry.totalStake(), initial + added + MIN_STAKE, "total stake");
        assertEq(token.balanceOf(address(registry)), initial + added + MIN_STAKE, "balance");
        assertEq(token.balanceOf(alice), 0, "alice spent");
    }

    function testFuzz_register_belowMinimumReverts(uint256 amount) public {
        amount = bound(amount, 0, MIN_STAKE - 1);
        _fund(alice, amount);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryStakeBelowMinimum.selector,
                amount,
                uint256(MIN_STAKE)
            )
        );
        vm.prank(alice);
        registry.register(amount, _caps(0, 0), URI);
        assertEq(registry.totalStake(), 0, "nothing staked");
    }

    function testFuzz_admission_thresholdDecides(uint256 amount, uint128 threshold, bool autoAdmit_) public {
        amount = bound(amount, MIN_STAKE, 1e30);
        vm.prank(admin);
        registry.setAdmissionPolicy(autoAdmit_, threshold);
        _register(alice, amount);
        bool expectApproved = autoAdmit_ && amount >= threshold;
        assertEq(_status(alice), expectApproved ? APPROVED : PENDING, "admission");
    }

    function testFuzz_addStake_crossingThreshold(uint256 initial, uint256 added, uint128 threshold) public {
        initial = bound(initial, MIN_STAKE, 1e24);
        added = bound(added, 1, 1e24);
        threshold = uint128(bound(threshold, initial + 1, 3e24));
        vm.prank(admin);
        registry.setAdmissionPolicy(true, threshold);
        _register(alice, initial);
        assertEq(_status(alice), PENDING, "pending below threshold");
        token.mint(alice, added);
        vm.prank(alice);
        registry.addStake(added);
        assertEq(_status(alice), initial + added >= threshold ? APPROVED : PENDING, "status after add");
    }

    /// @dev Two seats; the first is found faulty and part of its collateral seized, the rest
    /// released. `locked` must keep equalling what the market holds, and the seized tokens must
    /// leave the registry with the stake.
    function testFuzz_lockReleaseSeize_arithmetic(uint256 stake, uint256 lock1, uint256 lock2, uint256 seized) public {
        stake = bound(stake, MIN_STAKE, 1e27);
        lock1 = bound(lock1, 0, stake);
        lock2 = bound(lock2, 0, stake - lock1);
        seized = bound(seized, 0, lock1);
        _registerApproved(alice, stake);
        _lock(alice, lock1);
        _lock(alice, lock2);
        uint256 allocated = lock1 + lock2 == 0 ? 0 : stake;
        assertEq(_p(alice).locked, allocated, "a seat allocates all the free stake");
        assertEq(mock.seats(alice), lock1 + lock2, "seats");

        _seize(alice, seized, IProviderRegistry.Fault.Disagreed);
        _release(alice, lock1 - seized);

        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, stake - seized, "stake after");
        assertEq(p.locked, allocated - seized, "locked after");
        assertEq(p.locked, mock.free(alice) + mock.seats(alice), "locked = what the market holds");
        assertEq(mock.seats(alice), lock2, "the second seat still holds its collateral");
        assertLe(p.locked, p.stake, "locked <= stake");
        assertEq(p.disagreed, 1, "counted");
        assertEq(registry.slashedFunds(), 0, "slashed funds untouched");
        assertEq(token.balanceOf(market), seized, "seized stake at the market");
        assertEq(registry.totalStake(), stake - seized, "total stake");
        assertEq(token.balanceOf(address(registry)), stake - seized, "balance");
    }

    /// @dev The DAO reaches all the stake no seat holds, the market's free collateral included.
    function testFuzz_slash_takesOnlyWhatNoSeatHolds(uint256 stake, uint256 seat, uint256 amount) public {
        stake = bound(stake, MIN_STAKE, 1e27); // a market holds at most 2^96 - 1 free
        seat = bound(seat, 0, stake - 1);
        amount = bound(amount, 1, stake - seat);
        _registerApproved(alice, stake);
        _lock(alice, seat);
        vm.prank(admin);
        registry.slash(alice, amount, "dao");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, stake - amount, "stake");
        assertEq(mock.seats(alice), seat, "the seat untouched");
        assertEq(p.locked, mock.free(alice) + seat, "locked = what the market holds");
        assertLe(p.locked, p.stake, "locked <= stake");
        assertEq(registry.slashedFunds(), amount, "slashed");
    }

    /// @dev Issue 11 finding 3: any slash above what no seat holds reverts.
    function testFuzz_slash_aboveFreeStakeReverts(uint256 stake, uint256 seat, uint256 amount) public {
        stake = bound(stake, MIN_STAKE, 1e27); // a market holds at most 2^96 - 1 free
        seat = bound(seat, 0, stake);
        amount = bound(amount, stake - seat + 1, type(uint256).max);
        _registerApproved(alice, stake);
        _lock(alice, seat);
        uint256 locked = _p(alice).locked;
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector,
                alice,
                amount,
                stake - seat
            )
        );
        vm.prank(admin);
        registry.slash(alice, amount, "dao");
        assertEq(_p(alice).stake, stake, "untouched");
        assertEq(_p(alice).locked, locked, "locked untouched");
    }

    function testFuzz_allocate_amount(uint256 stake, uint256 minimum, uint256 maximum) public {
        stake = bound(stake, MIN_STAKE, 1e30);
        minimum = bound(minimum, 1, stake);
        _registerApproved(alice, stake);
        vm.prank(market);
        uint256 amount = registry.allocate(alice, minimum, maximum);
        assertEq(amount, maximum < stake ? maximum : stake, "min(free, maximum)");
        assertEq(_p(alice).locked, amount, "locked");
    }

    function testFuzz_allocate_minimumAboveFreeReverts(uint256 stake, uint256 allocated, uint256 minimum) public {
        stake = bound(stake, MIN_STAKE, 1e30);
        allocated = bound(allocated, 1, stake);
        minimum = bound(minimum, stake - allocated + 1, type(uint256).max);
        _registerApproved(alice, stake);
        vm.prank(market);
        registry.allocate(alice, allocated, allocated);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                alice,
                stake - allocated,
                minimum
            )
        );
        vm.prank(market);
        registry.allocate(alice, minimum, type(uint256).max);
        assertEq(_p(alice).locked, allocated, "unchanged");
    }

    function testFuzz_withdrawSlashed_arithmetic(uint256 slashAmount, uint256 withdrawAmount) public {
        slashAmount = bound(slashAmount, 1, 300e18);
        withdrawAmount = bound(withdrawAmount, 0, slashAmount);
        _registerApproved(alice, 300e18);
        vm.prank(admin);
        registry.slash(alice, slashAmount, "dao");
        vm.prank(admin);
        registry.withdrawSlashed(treasury, withdrawAmount);
        assertEq(token.balanceOf(treasury), withdrawAmount, "treasury");
        assertEq(registry.slashedFunds(), slashAmount - withdrawAmount, "remaining");
        assertEq(
            token.balanceOf(address(registry)),
            registry.totalStake() + registry.slashedFunds(),
            "balance invariant"
        );
    }

    /// @dev The word keeps the low 64 bits of the granted tags (a job requires bits 0-63) and
    /// memory capped at 24 bits; the registry's own view keeps both whole.
    function testFuzz_pushedWord_tagsAndMemory(uint256 tags, uint32 memoryMB) public {
        _registerApproved(alice, 300e18, tags, memoryMB);
        assertEq(mock.tags(alice), uint64(tags), "low 64 bits of the granted tags");
        uint256 capped = memoryMB > ProviderWord.MAX_MEMORY_MB ? ProviderWord.MAX_MEMORY_MB : memoryMB;
        assertEq(mock.memoryMB(alice), capped, "memory, capped");
        assertEq(mock.rosterSlot(alice), 1, "the other fields intact");
        (, uint256 termsTags, uint32 declared, , ) = registry.providerTerms(alice);
        assertEq(termsTags, tags, "providerTerms: all the granted tags");
        assertEq(declared, memoryMB, "providerTerms: the declared memory");
    }

    function testFuzz_unbondingTiming(uint40 period, uint256 start, uint256 delay) public {
        period = uint40(bound(period, 0, 180 days));
        start = bound(start, 1, 2 ** 39);
        delay = bound(delay, 0, 2 * uint256(180 days));
        vm.prank(admin);
        registry.setUnbondingPeriod(period);
        _register(alice, MIN_STAKE);
        vm.warp(start);
        vm.prank(alice);
        registry.requestExit();
        uint40 endsAt = uint40(start) + period;
        assertEq(_p(alice).unbondingEndsAt, endsAt, "ends at");

        vm.warp(start + delay);
        if (delay < period) {
            vm.expectRevert(
                abi.encodeWithSelector(IProviderRegistry.ProviderRegistryUnbonding.selector, alice, endsAt)
            );
        }
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), delay < period ? 0 : MIN_STAKE, "withdrawn iff unbonded");
        assertEq(_status(alice), delay < period ? PENDING : EXITED, "status");
    }

    function testFuzz_setUnbondingPeriod_bound(uint40 period) public {
        if (period > 180 days) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IProviderRegistry.ProviderRegistryInvalidUnbondingPeriod.selector,
                    period,
                    uint40(180 days)
                )
            );
        }
        vm.prank(admin);
        registry.setUnbondingPeriod(period);
        assertEq(registry.unbondingPeriod(), period > 180 days ? UNBONDING : period, "period");
    }

    /// @dev Whatever the provider's state, what the market sees agrees with the registry's view.
    function testFuzz_pushedTermsMatchProviderTerms(
        uint256 stake,
        uint256 slashed,
        uint256 tags,
        uint32 memoryMB,
        bool suspended,
        bool exiting,
        bool frozen
    ) public {
        stake = bound(stake, MIN_STAKE, 1e30);
        slashed = bound(slashed, 0, stake);
        _registerApproved(alice, stake, tags, memoryMB);
        _registerApproved(bob, MIN_STAKE);
        if (slashed != 0) {
            vm.prank(admin);
            registry.slash(alice, slashed, "dao");
        }
        if (suspended) {
            vm.prank(admin);
            registry.suspendProvider(alice);
        }
        if (exiting) {
            vm.prank(alice);
            registry.requestExit();
        }
        if (frozen) {
            vm.prank(admin);
            registry.setFreezePeriod(1 days);
            vm.prank(guardian);
            registry.freeze(alice);
        }
        (bool active, , , uint256 index, uint256 size) = registry.providerTerms(alice);
        assertTrue(_seatable(alice) == active, "seatable iff active");
        if (mock.rosterSlot(alice) != 0) assertEq(mock.rosterSlot(alice) - 1, index, "slot = index + 1");
        else assertEq(mock.terms(alice), 0, "all zeros off the roster or under the minimum");
        assertEq(mock.rosterSize(), size, "roster size");
        assertEq(mock.rosterSlot(bob), registry.rosterSize(), "bob was pushed his new slot");
    }
}
