// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "../../../contracts/registry/ProviderRegistry.sol";
import {ProviderRegistryFixture} from "./ProviderRegistryFixture.sol";

/// @notice The constructor, the DAO's settings and the guardian's pause.
contract ProviderRegistryConfigTest is ProviderRegistryFixture {
    // ================================================================ constructor & config

    function test_constructor_setsInitialState() public view {
        assertEq(address(registry.stakeToken()), address(token), "stake token");
        assertEq(registry.minStake(), MIN_STAKE, "min stake");
        assertEq(registry.unbondingPeriod(), UNBONDING, "unbonding");
        assertFalse(registry.autoAdmit(), "auto admit off");
        assertEq(registry.autoAdmitStake(), 0, "auto admit stake");
        assertEq(registry.totalStake(), 0, "total stake");
        assertEq(registry.slashedFunds(), 0, "slashed funds");
        assertTrue(registry.hasRole(DEFAULT_ADMIN_ROLE, admin), "admin role");
        assertTrue(registry.hasRole(GUARDIAN_ROLE, guardian), "guardian role");
        assertTrue(registry.hasRole(MARKET_ROLE, market), "market role");
        assertEq(registry.MAX_UNBONDING_PERIOD(), 180 days, "max unbonding");
    }

    function test_constructor_revertsOnZeroToken() public {
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryZeroAddress.selector));
        new ProviderRegistry(admin, guardian, IERC20(address(0)), MIN_STAKE, UNBONDING);
    }

    function test_constructor_revertsOnUnbondingPeriodAboveMaximum() public {
        uint40 tooLong = 180 days + 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInvalidUnbondingPeriod.selector,
                tooLong,
                uint40(180 days)
            )
        );
        new ProviderRegistry(admin, guardian, IERC20(address(token)), MIN_STAKE, tooLong);
    }

    function test_constructor_withoutGuardianGrantsNoGuardianRole() public {
        ProviderRegistry r = new ProviderRegistry(admin, address(0), IERC20(address(token)), MIN_STAKE, UNBONDING);
        assertFalse(r.hasRole(GUARDIAN_ROLE, address(0)), "no zero guardian");
        assertTrue(r.hasRole(DEFAULT_ADMIN_ROLE, admin), "admin");
    }

    function test_setUnbondingPeriod_updatesAndEmits() public {
        vm.expectEmit();
        emit IProviderRegistry.UnbondingPeriodSet(3 days);
        vm.prank(admin);
        registry.setUnbondingPeriod(3 days);
        assertEq(registry.unbondingPeriod(), 3 days, "period");
    }

    function test_setUnbondingPeriod_acceptsMaximumAndZero() public {
        vm.startPrank(admin);
        registry.setUnbondingPeriod(180 days);
        assertEq(registry.unbondingPeriod(), 180 days, "max accepted");
        registry.setUnbondingPeriod(0);
        vm.stopPrank();
        assertEq(registry.unbondingPeriod(), 0, "zero accepted");
    }

    function test_setUnbondingPeriod_revertsAboveMaximum() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInvalidUnbondingPeriod.selector,
                uint40(180 days + 1),
                uint40(180 days)
            )
        );
        vm.prank(admin);
        registry.setUnbondingPeriod(180 days + 1);
        assertEq(registry.unbondingPeriod(), UNBONDING, "unchanged");
    }

    function test_setUnbondingPeriod_revertsForNonAdmin() public {
        vm.expectRevert(_unauthorized(market, DEFAULT_ADMIN_ROLE));
        vm.prank(market);
        registry.setUnbondingPeriod(1 days);
        assertEq(registry.unbondingPeriod(), UNBONDING, "unchanged");
    }

    function test_setMinStake_updatesAndEmits() public {
        vm.expectEmit();
        emit IProviderRegistry.MinStakeSet(5e18);
        vm.prank(admin);
        registry.setMinStake(5e18);
        assertEq(registry.minStake(), 5e18, "min stake");
    }

    function test_setMinStake_revertsForNonAdmin() public {
        vm.expectRevert(_unauthorized(eve, DEFAULT_ADMIN_ROLE));
        vm.prank(eve);
        registry.setMinStake(1);
        assertEq(registry.minStake(), MIN_STAKE, "unchanged");
    }

    function test_setAdmissionPolicy_updatesAndEmits() public {
        vm.expectEmit();
        emit IProviderRegistry.AdmissionPolicySet(true, 500e18);
        vm.prank(admin);
        registry.setAdmissionPolicy(true, 500e18);
        assertTrue(registry.autoAdmit(), "auto admit");
        assertEq(registry.autoAdmitStake(), 500e18, "threshold");
    }

    function test_setAdmissionPolicy_revertsForNonAdmin() public {
        vm.expectRevert(_unauthorized(guardian, DEFAULT_ADMIN_ROLE));
        vm.prank(guardian);
        registry.setAdmissionPolicy(true, 0);
        assertFalse(registry.autoAdmit(), "unchanged");
    }

    // ================================================================ pause

    function test_pause_byGuardianAndUnpauseByAdmin() public {
        vm.prank(guardian);
        registry.pause();
        assertTrue(registry.paused(), "paused by guardian");
        vm.prank(admin);
        registry.unpause();
        assertFalse(registry.paused(), "unpaused");
        vm.prank(admin);
        registry.pause();
        assertTrue(registry.paused(), "paused by admin");
    }

    function test_pause_revertsForOthers() public {
        vm.expectRevert(_unauthorized(eve, GUARDIAN_ROLE));
        vm.prank(eve);
        registry.pause();
        assertFalse(registry.paused(), "not paused");
    }

    function test_unpause_revertsForGuardian() public {
        vm.prank(guardian);
        registry.pause();
        vm.expectRevert(_unauthorized(guardian, DEFAULT_ADMIN_ROLE));
        vm.prank(guardian);
        registry.unpause();
        assertTrue(registry.paused(), "still paused");
    }
}
