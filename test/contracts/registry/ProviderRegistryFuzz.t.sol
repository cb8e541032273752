// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
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

    function testFuzz_lockSettleSlash_arithmetic(
        uint256 stake,
        uint256 lock1,
        uint256 lock2,
        uint256 release,
        uint256 slashAmount
    ) public {
        stake = bound(stake, MIN_STAKE, 1e30);
        lock1 = bound(lock1, 0, stake);
        lock2 = bound(lock2, 0, stake - lock1);
        release = bound(release, 0, 2 * stake);
        slashAmount = bound(slashAmount, 0, 2 * stake);
        _registerApproved(alice, stake);
        _lock(alice, lock1);
        _lock(alice, lock2);
        assertEq(_p(alice).locked, lock1 + lock2, "locked sum");
        assertTrue(registry.isEligible(alice, stake - lock1 - lock2, 0, 0), "rest is free");

        vm.prank(market);
        registry.settle(alice, release, slashAmount, IProviderRegistry.Outcome.Disagreed, "job");

        uint256 lockedAfterRelease = release >= lock1 + lock2 ? 0 : lock1 + lock2 - release;
        uint256 slashed = slashAmount > stake ? stake : slashAmount;
        uint256 stakeAfter = stake - slashed;
        uint256 lockedAfter = lockedAfterRelease > stakeAfter ? stakeAfter : lockedAfterRelease;
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, stakeAfter, "stake after");
        assertEq(p.locked, lockedAfter, "locked after");
        assertLe(p.locked, p.stake, "locked <= stake");
        assertEq(p.disagreed, 1, "counted");
        assertEq(registry.slashedFunds(), 0, "slashed funds untouched");
        assertEq(token.balanceOf(market), slashed, "seized stake at the market");
        assertEq(registry.totalStake(), stakeAfter, "total stake");
        assertEq(token.balanceOf(address(registry)), stakeAfter, "balance");
    }

    function testFuzz_slash_takesOnlyFreeStake(uint256 stake, uint256 locked, uint256 amount) public {
        stake = bound(stake, MIN_STAKE, 1e30);
        locked = bound(locked, 0, stake - 1);
        amount = bound(amount, 1, stake - locked);
        _registerApproved(alice, stake);
        _lock(alice, locked);
        vm.prank(admin);
        registry.slash(alice, amount, "dao");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, stake - amount, "stake");
        assertEq(p.locked, locked, "locked untouched");
        assertLe(p.locked, p.stake, "locked <= stake");
        assertEq(registry.slashedFunds(), amount, "slashed");
    }

    /// @dev Issue 11 finding 3: any slash above the free stake reverts, whatever is locked.
    function testFuzz_slash_aboveFreeStakeReverts(uint256 stake, uint256 locked, uint256 amount) public {
        stake = bound(stake, MIN_STAKE, 1e30);
        locked = bound(locked, 0, stake);
        amount = bound(amount, stake - locked + 1, type(uint256).max);
        _registerApproved(alice, stake);
        _lock(alice, locked);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector,
                alice,
                amount,
                stake - locked
            )
        );
        vm.prank(admin);
        registry.slash(alice, amount, "dao");
        assertEq(_p(alice).stake, stake, "untouched");
        assertEq(_p(alice).locked, locked, "locked untouched");
    }

    function testFuzz_lockCollateral_aboveFreeReverts(uint256 stake, uint256 locked, uint256 amount) public {
        stake = bound(stake, MIN_STAKE, 1e30);
        locked = bound(locked, 0, stake);
        amount = bound(amount, stake - locked + 1, type(uint256).max);
        _registerApproved(alice, stake);
        _lock(alice, locked);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                alice,
                stake - locked,
                amount
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, amount, 0, 0);
        assertFalse(registry.isEligible(alice, amount, 0, 0), "not eligible");
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

    function testFuzz_tagMatching(uint256 tags, uint256 required) public {
        _registerApproved(alice, 300e18, tags, MEM);
        uint256 missing = required & ~tags;
        assertTrue(registry.isEligible(alice, 0, required, MEM) == (missing == 0), "isEligible iff subset");
        if (missing != 0) {
            vm.expectRevert(
                abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMissingTags.selector, alice, missing)
            );
        }
        vm.prank(market);
        registry.lockCollateral(alice, 1, required, MEM);
        assertEq(_p(alice).locked, missing == 0 ? uint256(1) : uint256(0), "locked iff subset");
    }

    function testFuzz_tagMatching_subsetAlwaysEligible(uint256 tags, uint256 mask) public {
        uint256 required = tags & mask;
        _registerApproved(alice, 300e18, tags, MEM);
        registry.checkEligible(alice, 0, required, MEM);
        (bool active, uint256 providerTags, , , ) = registry.providerTerms(alice);
        assertTrue(active && required & ~providerTags == 0, "subset eligible");
    }

    function testFuzz_memoryMatching(uint32 memoryMB, uint32 required) public {
        _registerApproved(alice, 300e18, 0, memoryMB);
        bool ok = memoryMB >= required;
        assertTrue(registry.isEligible(alice, 0, 0, required) == ok, "isEligible iff enough memory");
        if (!ok) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IProviderRegistry.ProviderRegistryInsufficientMemory.selector,
                    alice,
                    memoryMB,
                    required
                )
            );
        }
        vm.prank(market);
        registry.lockCollateral(alice, 0, 0, required);
        (, , uint32 declared, , ) = registry.providerTerms(alice);
        assertEq(declared, memoryMB, "declared memory reported");
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

    function testFuzz_isEligibleMatchesCheckEligible(
        uint256 stake,
        uint256 locked,
        uint256 collateral,
        uint256 tags,
        uint256 required,
        uint32 mem,
        uint32 minMem,
        bool suspended,
        bool exiting
    ) public {
        stake = bound(stake, MIN_STAKE, 1e30);
        locked = bound(locked, 0, stake);
        collateral = bound(collateral, 0, 2 * stake);
        _registerApproved(alice, stake, tags, mem);
        _lock(alice, locked);
        if (suspended) {
            vm.prank(admin);
            registry.suspendProvider(alice);
        }
        if (exiting) {
            vm.prank(alice);
            registry.requestExit();
        }
        bool eligible = registry.isEligible(alice, collateral, required, minMem);
        bool expected =
            !suspended && !exiting && stake - locked >= collateral && (required & ~tags) == 0 && mem >= minMem;
        assertTrue(eligible == expected, "isEligible");
        bool checkPassed;
        try registry.checkEligible(alice, collateral, required, minMem) {
            checkPassed = true;
        } catch {
            checkPassed = false;
        }
        assertTrue(checkPassed == eligible, "checkEligible agrees");
    }
}
