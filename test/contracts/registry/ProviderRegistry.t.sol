// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {Test} from "../utils/Test.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "../../../contracts/registry/ProviderRegistry.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";
import {FeeOnTransferERC20} from "../../../contracts/mocks/FeeOnTransferERC20.sol";
import {ProviderRegistryHandler} from "./handlers/ProviderRegistryHandler.sol";

/// @notice Shared fixture: a registry staking a plain ERC-20, an admin (the DAO), a guardian and
/// a market holding MARKET_ROLE.
abstract contract ProviderRegistryFixture is Test {
    uint128 internal constant MIN_STAKE = 100e18;
    uint40 internal constant UNBONDING = 7 days;
    uint256 internal constant T0 = 1_700_000_000;
    uint256 internal constant TAG_A = 1 << 0;
    uint256 internal constant TAG_B = 1 << 1;
    uint256 internal constant TAG_C = 1 << 7;
    uint256 internal constant TAG_HIGH = 1 << 255;
    uint32 internal constant MEM = 80_000;
    bytes32 internal constant ACCEL = "nvidia-h100";
    bytes32 internal constant REGION = "eu-west";
    string internal constant URI = "ipfs://provider";

    address internal admin = address(0xA11CE);
    address internal guardian = address(0x6A4D);
    address internal market = address(0x3A4E7);
    address internal alice = address(0xA1);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA401);
    address internal eve = address(0xE5E);
    address internal treasury = address(0x7EA5);

    MockERC20 internal token;
    ProviderRegistry internal registry;
    bytes32 internal MARKET_ROLE;
    bytes32 internal GUARDIAN_ROLE;
    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;

    function setUp() public virtual {
        vm.warp(T0);
        token = new MockERC20("Stake", "STK", 18);
        registry = new ProviderRegistry(admin, guardian, IERC20(address(token)), MIN_STAKE, UNBONDING);
        MARKET_ROLE = registry.MARKET_ROLE();
        GUARDIAN_ROLE = registry.GUARDIAN_ROLE();
        vm.prank(admin);
        registry.grantRole(MARKET_ROLE, market);
    }

    function _caps(uint256 tags, uint32 mem) internal pure returns (IProviderRegistry.Capabilities memory) {
        return IProviderRegistry.Capabilities({memoryMB: mem, accelerator: ACCEL, region: REGION, tags: tags});
    }

    function _fund(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.prank(who);
        token.approve(address(registry), type(uint256).max);
    }

    function _register(address who, uint256 amount) internal {
        _register(who, amount, TAG_A | TAG_B, MEM);
    }

    function _register(address who, uint256 amount, uint256 tags, uint32 mem) internal {
        _fund(who, amount);
        vm.prank(who);
        registry.register(amount, _caps(tags, mem), URI);
    }

    function _registerApproved(address who, uint256 amount) internal {
        _register(who, amount);
        vm.prank(admin);
        registry.approveProvider(who, TAG_A | TAG_B);
    }

    function _registerApproved(address who, uint256 amount, uint256 tags, uint32 mem) internal {
        _register(who, amount, tags, mem);
        vm.prank(admin);
        registry.approveProvider(who, tags);
    }

    function _p(address who) internal view returns (IProviderRegistry.Provider memory) {
        return registry.getProvider(who);
    }

    function _status(address who) internal view returns (uint256) {
        return uint256(registry.getProvider(who).status);
    }

    function _lock(address who, uint256 amount) internal {
        vm.prank(market);
        registry.lockCollateral(who, amount, 0, 0);
    }

    function _exitAndWithdraw(address who) internal {
        vm.prank(who);
        registry.requestExit();
        vm.warp(block.timestamp + registry.unbondingPeriod());
        vm.prank(who);
        registry.withdrawStake();
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }
}

contract ProviderRegistryTest is ProviderRegistryFixture {
    uint256 internal constant PENDING = uint256(IProviderRegistry.ProviderStatus.Pending);
    uint256 internal constant APPROVED = uint256(IProviderRegistry.ProviderStatus.Approved);
    uint256 internal constant SUSPENDED = uint256(IProviderRegistry.ProviderStatus.Suspended);
    uint256 internal constant EXITED = uint256(IProviderRegistry.ProviderStatus.Exited);

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

    // ================================================================ register

    function test_register_pendingWhenAutoAdmitOff() public {
        _fund(alice, 150e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderRegistered(
            alice,
            150e18,
            IProviderRegistry.ProviderStatus.Pending,
            _caps(TAG_A | TAG_C, MEM),
            URI
        );
        vm.prank(alice);
        registry.register(150e18, _caps(TAG_A | TAG_C, MEM), URI);

        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(uint256(p.status), PENDING, "pending");
        assertEq(p.stake, 150e18, "stake");
        assertEq(p.locked, 0, "locked");
        assertEq(p.unbondingEndsAt, 0, "not exiting");
        assertEq(p.memoryMB, MEM, "memory");
        assertEq(p.tags, TAG_A | TAG_C, "tags");
        assertEq(p.accelerator, ACCEL, "accelerator");
        assertEq(p.region, REGION, "region");
        assertEq(p.metadataURI, URI, "uri");
        assertEq(registry.totalStake(), 150e18, "total stake");
        assertEq(token.balanceOf(address(registry)), 150e18, "registry balance");
        assertEq(token.balanceOf(alice), 0, "alice balance");
    }

    function test_register_pendingWhenAutoAdmitOnButBelowThreshold() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, 500e18);
        _register(alice, 500e18 - 1);
        assertEq(_status(alice), PENDING, "pending below threshold");
    }

    function test_register_approvedWhenAutoAdmitOnAndStakeAtThreshold() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, 500e18);
        vm.prank(admin);
        registry.setAutoGrantMask(TAG_A);
        _fund(alice, 500e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderRegistered(
            alice,
            500e18,
            IProviderRegistry.ProviderStatus.Approved,
            _caps(TAG_A, MEM),
            URI
        );
        vm.expectEmit();
        emit IProviderRegistry.TagsGranted(alice, TAG_A);
        vm.prank(alice);
        registry.register(500e18, _caps(TAG_A, MEM), URI);
        assertEq(_status(alice), APPROVED, "auto-admitted");
        assertTrue(registry.isEligible(alice, 500e18, TAG_A, MEM), "eligible at once");
    }

    function test_register_pendingWhenAutoAdmitSwitchedOffAgain() public {
        vm.startPrank(admin);
        registry.setAdmissionPolicy(true, 100e18);
        registry.setAdmissionPolicy(false, 100e18);
        vm.stopPrank();
        _register(alice, 1_000e18);
        assertEq(_status(alice), PENDING, "policy off: pending");
    }

    function test_register_revertsWhenStakeBelowMinimum() public {
        _fund(alice, MIN_STAKE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryStakeBelowMinimum.selector,
                uint256(MIN_STAKE - 1),
                uint256(MIN_STAKE)
            )
        );
        vm.prank(alice);
        registry.register(MIN_STAKE - 1, _caps(0, 0), URI);
        assertEq(_status(alice), 0, "not registered");
    }

    function test_register_revertsOnZeroAmountEvenWithZeroMinimum() public {
        vm.prank(admin);
        registry.setMinStake(0);
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryStakeBelowMinimum.selector, uint256(0), uint256(0))
        );
        vm.prank(alice);
        registry.register(0, _caps(0, 0), URI);
        assertEq(_status(alice), 0, "not registered");
    }

    function test_register_acceptsExactlyMinimum() public {
        _register(alice, MIN_STAKE);
        assertEq(_p(alice).stake, MIN_STAKE, "stake");
    }

    function test_register_revertsWhenAlreadyPending() public {
        _register(alice, MIN_STAKE);
        _fund(alice, MIN_STAKE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryAlreadyRegistered.selector,
                alice,
                IProviderRegistry.ProviderStatus.Pending
            )
        );
        vm.prank(alice);
        registry.register(MIN_STAKE, _caps(0, 0), URI);
        assertEq(_p(alice).stake, MIN_STAKE, "stake unchanged");
    }

    function test_register_revertsWhenAlreadyApproved() public {
        _registerApproved(alice, MIN_STAKE);
        _fund(alice, MIN_STAKE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryAlreadyRegistered.selector,
                alice,
                IProviderRegistry.ProviderStatus.Approved
            )
        );
        vm.prank(alice);
        registry.register(MIN_STAKE, _caps(0, 0), URI);
        assertEq(_status(alice), APPROVED, "still approved");
    }

    function test_register_revertsWhenSuspended() public {
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
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
        assertEq(_status(alice), SUSPENDED, "still suspended");
    }

    function test_register_revertsWhenMetadataURITooLong() public {
        _fund(alice, MIN_STAKE);
        string memory longURI = string(new bytes(257));
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInvalidMetadataURI.selector, longURI));
        vm.prank(alice);
        registry.register(MIN_STAKE, _caps(0, 0), longURI);
        assertEq(_status(alice), 0, "not registered");
    }

    function test_register_acceptsMetadataURIOf256Bytes() public {
        _fund(alice, MIN_STAKE);
        string memory uri = string(new bytes(256));
        vm.prank(alice);
        registry.register(MIN_STAKE, _caps(0, 0), uri);
        assertEq(_p(alice).metadataURI, uri, "uri stored");
    }

    function test_register_revertsWhenPaused() public {
        vm.prank(guardian);
        registry.pause();
        _fund(alice, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(alice);
        registry.register(MIN_STAKE, _caps(0, 0), URI);
        assertEq(_status(alice), 0, "not registered");
    }

    function test_register_succeedsAfterUnpause() public {
        vm.prank(guardian);
        registry.pause();
        vm.prank(admin);
        registry.unpause();
        _register(alice, MIN_STAKE);
        assertEq(_status(alice), PENDING, "registered");
    }

    function test_register_revertsWithoutAllowance() public {
        token.mint(alice, MIN_STAKE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector,
                address(registry),
                uint256(0),
                uint256(MIN_STAKE)
            )
        );
        vm.prank(alice);
        registry.register(MIN_STAKE, _caps(0, 0), URI);
        assertEq(token.balanceOf(alice), MIN_STAKE, "tokens kept");
    }

    function test_register_revertsWhenAmountExceedsUint128() public {
        vm.prank(admin);
        registry.setMinStake(0);
        uint256 huge = uint256(type(uint128).max) + 1;
        _fund(alice, huge);
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, uint8(128), huge));
        vm.prank(alice);
        registry.register(huge, _caps(0, 0), URI);
        assertEq(registry.totalStake(), 0, "nothing staked");
    }

    function test_register_revertsOnFeeOnTransferToken() public {
        FeeOnTransferERC20 fot = new FeeOnTransferERC20();
        ProviderRegistry r = new ProviderRegistry(admin, guardian, IERC20(address(fot)), MIN_STAKE, UNBONDING);
        fot.mint(alice, 1_000e18);
        vm.prank(alice);
        fot.approve(address(r), type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryTransferShortfall.selector,
                uint256(1_000e18),
                uint256(990e18)
            )
        );
        vm.prank(alice);
        r.register(1_000e18, _caps(0, 0), URI);
        assertEq(fot.balanceOf(address(r)), 0, "nothing received");
        assertEq(r.totalStake(), 0, "nothing staked");
    }

    function test_register_afterExitKeepsCountersAndResetsState() public {
        _registerApproved(alice, 200e18);
        vm.startPrank(market);
        registry.recordServed(alice, 1);
        registry.settle(alice, 0, 0, IProviderRegistry.Outcome.Disagreed, "job");
        registry.settle(alice, 0, 0, IProviderRegistry.Outcome.Missed, "job");
        registry.settle(alice, 0, 0, IProviderRegistry.Outcome.Missed, "job");
        vm.stopPrank();
        _exitAndWithdraw(alice);
        assertEq(_status(alice), EXITED, "exited");

        _fund(alice, 300e18);
        vm.prank(alice);
        registry.register(300e18, _caps(TAG_C, 1_000), "ipfs://again");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(uint256(p.status), PENDING, "pending again");
        assertEq(p.stake, 300e18, "new stake");
        assertEq(p.locked, 0, "no lock");
        assertEq(p.unbondingEndsAt, 0, "not exiting");
        assertEq(p.served, 1, "served kept");
        assertEq(p.disagreed, 1, "disagreed kept");
        assertEq(p.missed, 2, "missed kept");
        assertEq(p.tags, TAG_C, "new tags");
        assertEq(p.memoryMB, 1_000, "new memory");
        assertEq(p.metadataURI, "ipfs://again", "new uri");
        assertEq(registry.totalStake(), 300e18, "total stake");
    }

    function test_register_afterExitAutoAdmitted() public {
        _register(alice, MIN_STAKE);
        _exitAndWithdraw(alice);
        vm.prank(admin);
        registry.setAdmissionPolicy(true, MIN_STAKE);
        _register(alice, MIN_STAKE);
        assertEq(_status(alice), APPROVED, "auto-admitted on re-registration");
    }

    // ================================================================ addStake

    function test_addStake_increasesStakeAndEmits() public {
        _register(alice, MIN_STAKE);
        token.mint(alice, 50e18);
        vm.expectEmit();
        emit IProviderRegistry.StakeAdded(alice, 50e18, MIN_STAKE + 50e18);
        vm.prank(alice);
        registry.addStake(50e18);
        assertEq(_p(alice).stake, MIN_STAKE + 50e18, "stake");
        assertEq(registry.totalStake(), MIN_STAKE + 50e18, "total");
        assertEq(token.balanceOf(address(registry)), MIN_STAKE + 50e18, "balance");
        assertEq(_status(alice), PENDING, "auto-admit off: still pending");
    }

    function test_addStake_crossingThresholdApprovesPending() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, 300e18);
        _register(alice, MIN_STAKE);
        assertEq(_status(alice), PENDING, "pending");
        token.mint(alice, 200e18);
        vm.expectEmit();
        emit IProviderRegistry.StakeAdded(alice, 200e18, 300e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderStatusChanged(
            alice,
            IProviderRegistry.ProviderStatus.Pending,
            IProviderRegistry.ProviderStatus.Approved
        );
        vm.prank(alice);
        registry.addStake(200e18);
        assertEq(_status(alice), APPROVED, "approved");
    }

    function test_addStake_belowThresholdStaysPending() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, 300e18);
        _register(alice, MIN_STAKE);
        token.mint(alice, 200e18 - 1);
        vm.prank(alice);
        registry.addStake(200e18 - 1);
        assertEq(_status(alice), PENDING, "still pending");
    }

    function test_addStake_doesNotApproveSuspended() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, 300e18);
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        token.mint(alice, 1_000e18);
        vm.prank(alice);
        registry.addStake(1_000e18);
        assertEq(_status(alice), SUSPENDED, "still suspended");
        assertEq(_p(alice).stake, 1_100e18, "stake added");
    }

    function test_addStake_revertsOnZeroAmount() public {
        _register(alice, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryZeroAmount.selector));
        vm.prank(alice);
        registry.addStake(0);
        assertEq(_p(alice).stake, MIN_STAKE, "unchanged");
    }

    function test_addStake_revertsWhenNotRegistered() public {
        _fund(alice, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, alice));
        vm.prank(alice);
        registry.addStake(MIN_STAKE);
        assertEq(token.balanceOf(alice), MIN_STAKE, "tokens kept");
    }

    function test_addStake_revertsAfterExit() public {
        _register(alice, MIN_STAKE);
        _exitAndWithdraw(alice);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, alice));
        vm.prank(alice);
        registry.addStake(1);
        assertEq(registry.totalStake(), 0, "nothing staked");
    }

    function test_addStake_allowedWhilePausedAndExiting() public {
        _register(alice, MIN_STAKE);
        vm.prank(alice);
        registry.requestExit();
        vm.prank(guardian);
        registry.pause();
        token.mint(alice, 10e18);
        vm.prank(alice);
        registry.addStake(10e18);
        assertEq(_p(alice).stake, MIN_STAKE + 10e18, "stake added");
    }

    function test_addStake_revertsOnFeeOnTransferToken() public {
        FeeOnTransferERC20 fot = new FeeOnTransferERC20();
        ProviderRegistry r = new ProviderRegistry(admin, guardian, IERC20(address(fot)), 1, UNBONDING);
        fot.mint(alice, 10_000);
        vm.startPrank(alice);
        fot.approve(address(r), type(uint256).max);
        // Below 100 units the 1% fee rounds to zero, so registration goes through.
        r.register(99, _caps(0, 0), URI);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryTransferShortfall.selector,
                uint256(1_000),
                uint256(990)
            )
        );
        r.addStake(1_000);
        vm.stopPrank();
        assertEq(r.getProvider(alice).stake, 99, "stake unchanged");
        assertEq(fot.balanceOf(address(r)), 99, "balance unchanged");
    }

    function test_addStake_revertsOnStakeOverflow() public {
        vm.prank(admin);
        registry.setMinStake(0);
        _register(alice, type(uint128).max);
        token.mint(alice, 1);
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", uint256(0x11)));
        vm.prank(alice);
        registry.addStake(1);
        assertEq(_p(alice).stake, type(uint128).max, "unchanged");
    }

    // ================================================================ updateCapabilities

    function test_updateCapabilities_replacesCapsAndEmits() public {
        _register(alice, MIN_STAKE);
        IProviderRegistry.Capabilities memory caps = IProviderRegistry.Capabilities({
            memoryMB: 16_000,
            accelerator: "cpu",
            region: "us-east",
            tags: TAG_C | TAG_HIGH
        });
        vm.expectEmit();
        emit IProviderRegistry.CapabilitiesUpdated(alice, caps, "ipfs://new");
        vm.prank(alice);
        registry.updateCapabilities(caps, "ipfs://new");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.memoryMB, 16_000, "memory");
        assertEq(p.accelerator, bytes32("cpu"), "accelerator");
        assertEq(p.region, bytes32("us-east"), "region");
        assertEq(p.tags, TAG_C | TAG_HIGH, "tags");
        assertEq(p.metadataURI, "ipfs://new", "uri");
        assertEq(p.stake, MIN_STAKE, "stake untouched");
        assertEq(uint256(p.status), PENDING, "status untouched");
    }

    /// @dev Issue 11 finding 6, the attack: a provider approved with tag A declared tag B (say a
    /// compliance tag) after the vote and took jobs requiring B. Declared tags now grant nothing:
    /// only the DAO's grant makes it eligible.
    function test_updateCapabilities_declaredTagsGrantNothing_regression() public {
        _registerApproved(alice, MIN_STAKE, TAG_A, MEM);
        assertFalse(registry.isEligible(alice, 0, TAG_B, MEM), "lacks B");
        vm.prank(alice);
        registry.updateCapabilities(_caps(TAG_A | TAG_B, MEM), URI);
        assertEq(_p(alice).tags, TAG_A | TAG_B, "declared");
        assertEq(_p(alice).grantedTags, TAG_A, "granted unchanged");
        assertFalse(registry.isEligible(alice, 0, TAG_B, MEM), "still lacks B");
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMissingTags.selector, alice, TAG_B));
        vm.prank(market);
        registry.lockCollateral(alice, 0, TAG_B, MEM);
        (, uint256 termsTags, , , ) = registry.providerTerms(alice);
        assertEq(termsTags, TAG_A, "the market and runners see the granted tags");

        vm.expectEmit();
        emit IProviderRegistry.TagsGranted(alice, TAG_A | TAG_B);
        vm.prank(admin);
        registry.setGrantedTags(alice, TAG_A | TAG_B);
        assertTrue(registry.isEligible(alice, 0, TAG_B, MEM), "granted by the DAO");
    }

    function test_approveProvider_grantsExactlyTheVotedTags() public {
        _register(alice, MIN_STAKE, TAG_A | TAG_B | TAG_C, MEM);
        vm.expectEmit();
        emit IProviderRegistry.TagsGranted(alice, TAG_A);
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A);
        assertTrue(registry.isEligible(alice, 0, TAG_A, MEM), "A granted");
        assertFalse(registry.isEligible(alice, 0, TAG_C, MEM), "C declared, not granted");
        // The DAO may grant what was not declared (the declaration is informational).
        vm.prank(admin);
        registry.setGrantedTags(alice, TAG_HIGH);
        assertTrue(registry.isEligible(alice, 0, TAG_HIGH, MEM), "granted");
        assertFalse(registry.isEligible(alice, 0, TAG_A, MEM), "replaced");
    }

    function test_setGrantedTags_revertsForNonAdminAndUnregistered() public {
        _registerApproved(alice, MIN_STAKE, TAG_A, MEM);
        vm.expectRevert(_unauthorized(alice, DEFAULT_ADMIN_ROLE));
        vm.prank(alice);
        registry.setGrantedTags(alice, TAG_B);
        vm.expectRevert(_unauthorized(guardian, DEFAULT_ADMIN_ROLE));
        vm.prank(guardian);
        registry.setAutoGrantMask(TAG_B);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, eve));
        vm.prank(admin);
        registry.setGrantedTags(eve, TAG_B);
    }

    function test_autoAdmit_grantsOnlyMaskedDeclaredTags() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, MIN_STAKE);
        _register(alice, MIN_STAKE, TAG_A | TAG_B, MEM);
        assertEq(_p(alice).grantedTags, 0, "mask 0 by default: nothing self-declared counts");
        assertTrue(registry.isEligible(alice, 0, 0, MEM), "admitted");
        assertFalse(registry.isEligible(alice, 0, TAG_A, MEM), "no tag");

        vm.expectEmit();
        emit IProviderRegistry.AutoGrantMaskSet(TAG_A);
        vm.prank(admin);
        registry.setAutoGrantMask(TAG_A);
        _register(bob, MIN_STAKE, TAG_A | TAG_B, MEM);
        assertEq(_p(bob).grantedTags, TAG_A, "declared & mask");
        // Declaring more later grants nothing.
        vm.prank(bob);
        registry.updateCapabilities(_caps(TAG_A | TAG_B | TAG_C, MEM), URI);
        assertEq(_p(bob).grantedTags, TAG_A, "unchanged");
    }

    function test_withdrawStake_clearsGrantedTags() public {
        _registerApproved(alice, MIN_STAKE, TAG_A, MEM);
        _exitAndWithdraw(alice);
        assertEq(_p(alice).grantedTags, 0, "cleared");
        _register(alice, MIN_STAKE, TAG_A, MEM);
        assertEq(_p(alice).grantedTags, 0, "a new registration is judged afresh");
    }

    function test_updateCapabilities_revertsWhenNotRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, eve));
        vm.prank(eve);
        registry.updateCapabilities(_caps(TAG_A, MEM), URI);
        assertEq(_p(eve).tags, 0, "nothing written");
    }

    function test_updateCapabilities_revertsWhenMetadataURITooLong() public {
        _register(alice, MIN_STAKE);
        string memory longURI = string(new bytes(300));
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInvalidMetadataURI.selector, longURI));
        vm.prank(alice);
        registry.updateCapabilities(_caps(TAG_C, MEM), longURI);
        assertEq(_p(alice).metadataURI, URI, "uri unchanged");
    }

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
        assertFalse(registry.isEligible(alice, 0, 0, 0), "exiting: not eligible");
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
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, eve));
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
        assertTrue(registry.isEligible(alice, MIN_STAKE, TAG_A, MEM), "eligible again");
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
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, eve));
        vm.prank(eve);
        registry.cancelExit();
        assertEq(_status(eve), 0, "none");
    }

    function test_cancelExit_revertsAfterWithdrawal() public {
        _register(alice, MIN_STAKE);
        _exitAndWithdraw(alice);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, alice));
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
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, eve));
        vm.prank(eve);
        registry.withdrawStake();
        assertEq(token.balanceOf(eve), 0, "nothing sent");
    }

    function test_withdrawStake_revertsOnSecondWithdrawal() public {
        _register(alice, MIN_STAKE);
        _exitAndWithdraw(alice);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, alice));
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), MIN_STAKE, "paid once");
    }

    function test_withdrawStake_revertsWhileCollateralLocked() public {
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

        vm.prank(market);
        registry.settle(alice, 60e18, 0, IProviderRegistry.Outcome.Served, "job");
        vm.prank(alice);
        registry.withdrawStake();
        assertEq(token.balanceOf(alice), 200e18, "returned after settlement");
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
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInvalidStatus.selector,
                alice,
                IProviderRegistry.ProviderStatus.Approved
            )
        );
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A | TAG_B);
        assertEq(_status(alice), APPROVED, "unchanged");
    }

    function test_approveProvider_revertsWhenNotRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, eve));
        vm.prank(admin);
        registry.approveProvider(eve, TAG_A | TAG_B);
        assertEq(_status(eve), 0, "none");
    }

    function test_approveProvider_revertsWhenExited() public {
        _register(alice, MIN_STAKE);
        _exitAndWithdraw(alice);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, alice));
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
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInvalidStatus.selector,
                alice,
                IProviderRegistry.ProviderStatus.Suspended
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 0, 0, 0);
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
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInvalidStatus.selector,
                alice,
                IProviderRegistry.ProviderStatus.Suspended
            )
        );
        vm.prank(admin);
        registry.suspendProvider(alice);
        assertEq(_status(alice), SUSPENDED, "unchanged");
    }

    function test_suspendProvider_revertsWhenNotRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, eve));
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
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, eve));
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

    // ================================================================ lockCollateral

    function test_lockCollateral_locksAndEmits() public {
        _registerApproved(alice, 300e18, TAG_A | TAG_B, MEM);
        vm.expectEmit();
        emit IProviderRegistry.CollateralLocked(alice, 100e18, 100e18);
        vm.prank(market);
        registry.lockCollateral(alice, 100e18, TAG_A | TAG_B, MEM);
        vm.expectEmit();
        emit IProviderRegistry.CollateralLocked(alice, 200e18, 300e18);
        vm.prank(market);
        registry.lockCollateral(alice, 200e18, TAG_B, MEM - 1);
        assertEq(_p(alice).locked, 300e18, "locked");
        assertEq(_p(alice).stake, 300e18, "stake unchanged");
        assertEq(token.balanceOf(address(registry)), 300e18, "no token movement");
    }

    function test_lockCollateral_revertsWhenPending() public {
        _register(alice, 300e18);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInvalidStatus.selector,
                alice,
                IProviderRegistry.ProviderStatus.Pending
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 1, 0, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenUnknown() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInvalidStatus.selector,
                eve,
                IProviderRegistry.ProviderStatus.None
            )
        );
        vm.prank(market);
        registry.lockCollateral(eve, 0, 0, 0);
        assertEq(_p(eve).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenExited() public {
        _registerApproved(alice, 300e18);
        _exitAndWithdraw(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInvalidStatus.selector,
                alice,
                IProviderRegistry.ProviderStatus.Exited
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 0, 0, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenExiting() public {
        _registerApproved(alice, 300e18);
        vm.prank(alice);
        registry.requestExit();
        uint40 endsAt = _p(alice).unbondingEndsAt;
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryExiting.selector, alice, endsAt));
        vm.prank(market);
        registry.lockCollateral(alice, 1, 0, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenInsufficientFreeStake() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 250e18);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                alice,
                uint256(50e18),
                uint256(50e18 + 1)
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 50e18 + 1, 0, 0);
        _lock(alice, 50e18);
        assertEq(_p(alice).locked, 300e18, "exactly the stake can be locked");
    }

    function test_lockCollateral_revertsWhenMissingTags() public {
        _registerApproved(alice, 300e18, TAG_A | TAG_C, MEM);
        uint256 required = TAG_A | TAG_B | TAG_HIGH;
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMissingTags.selector, alice, TAG_B | TAG_HIGH)
        );
        vm.prank(market);
        registry.lockCollateral(alice, 1, required, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsWhenInsufficientMemory() public {
        _registerApproved(alice, 300e18, TAG_A, 24_000);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientMemory.selector,
                alice,
                uint32(24_000),
                uint32(24_001)
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 1, TAG_A, 24_001);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_checksStatusBeforeOtherConditions() public {
        _register(alice, 300e18, 0, 0);
        vm.prank(alice);
        registry.requestExit();
        // Pending, exiting, too little stake, no tags, no memory: status is reported first.
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInvalidStatus.selector,
                alice,
                IProviderRegistry.ProviderStatus.Pending
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 1_000e18, TAG_A, 1);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    function test_lockCollateral_revertsForNonMarket() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(_unauthorized(admin, MARKET_ROLE));
        vm.prank(admin);
        registry.lockCollateral(alice, 1, 0, 0);
        vm.expectRevert(_unauthorized(alice, MARKET_ROLE));
        vm.prank(alice);
        registry.lockCollateral(alice, 1, 0, 0);
        assertEq(_p(alice).locked, 0, "nothing locked");
    }

    // ================================================================ settle

    function test_settle_releasesCollateralAndCountsServed() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 120e18);
        vm.expectEmit();
        emit IProviderRegistry.CollateralReleased(alice, 120e18, 0);
        vm.expectEmit();
        emit IProviderRegistry.OutcomeRecorded(alice, IProviderRegistry.Outcome.Served);
        vm.prank(market);
        registry.settle(alice, 120e18, 0, IProviderRegistry.Outcome.Served, "job1");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.locked, 0, "released");
        assertEq(p.stake, 300e18, "stake kept");
        assertEq(p.served, 1, "served");
        assertEq(p.disagreed + p.missed, 0, "others untouched");
    }

    function test_settle_releasesAndSlashesAndCountsDisagreed() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 120e18);
        vm.expectEmit();
        emit IProviderRegistry.CollateralReleased(alice, 120e18, 0);
        vm.expectEmit();
        emit IProviderRegistry.ProviderSlashed(alice, market, 40e18, "job1");
        vm.expectEmit();
        emit IProviderRegistry.OutcomeRecorded(alice, IProviderRegistry.Outcome.Disagreed);
        vm.prank(market);
        registry.settle(alice, 120e18, 40e18, IProviderRegistry.Outcome.Disagreed, "job1");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.locked, 0, "released");
        assertEq(p.stake, 260e18, "slashed");
        assertEq(p.disagreed, 1, "disagreed");
        assertEq(registry.slashedFunds(), 0, "a seized seat does not feed the DAO's slashed funds");
        assertEq(token.balanceOf(market), 40e18, "seized stake sent to the market");
        assertEq(registry.totalStake(), 260e18, "total");
        assertEq(token.balanceOf(address(registry)), 260e18, "balance = totalStake");
    }

    function test_settle_partialReleaseKeepsRest() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        _lock(alice, 50e18);
        vm.prank(market);
        registry.settle(alice, 100e18, 0, IProviderRegistry.Outcome.Served, "job1");
        assertEq(_p(alice).locked, 50e18, "second job still locked");
    }

    function test_settle_capsReleaseAtLocked() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 30e18);
        vm.expectEmit();
        emit IProviderRegistry.CollateralReleased(alice, 30e18, 0);
        vm.prank(market);
        registry.settle(alice, 1_000e18, 0, IProviderRegistry.Outcome.Served, "job");
        assertEq(_p(alice).locked, 0, "released to zero");
    }

    function test_settle_capsSlashAtStakeWithoutReverting() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 300e18);
        vm.expectEmit();
        emit IProviderRegistry.ProviderSlashed(alice, market, 300e18, "job");
        vm.prank(market);
        registry.settle(alice, 0, type(uint256).max, IProviderRegistry.Outcome.Missed, "job");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.stake, 0, "fully slashed");
        assertEq(p.locked, 0, "locked follows stake");
        assertEq(p.missed, 1, "missed counted");
        assertEq(token.balanceOf(market), 300e18, "the whole stake went to the market");
        assertEq(registry.slashedFunds(), 0, "slashed funds untouched");

        // A further settlement against the empty stake still does not revert.
        vm.prank(market);
        registry.settle(alice, 5e18, 5e18, IProviderRegistry.Outcome.Missed, "job2");
        assertEq(_p(alice).missed, 2, "counted again");
        assertEq(token.balanceOf(market), 300e18, "nothing more seized");
    }

    function test_settle_zeroAmountsOnlyCount() public {
        _registerApproved(alice, 300e18);
        vm.prank(market);
        registry.settle(alice, 0, 0, IProviderRegistry.Outcome.Missed, "job");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.missed, 1, "missed");
        assertEq(p.stake, 300e18, "stake kept");
        assertEq(registry.slashedFunds(), 0, "nothing slashed");
    }

    function test_settle_worksWhileExitingSuspendedAndPaused() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.prank(alice);
        registry.requestExit();
        vm.prank(admin);
        registry.suspendProvider(alice);
        vm.prank(guardian);
        registry.pause();
        vm.prank(market);
        registry.settle(alice, 100e18, 10e18, IProviderRegistry.Outcome.Served, "job");
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.locked, 0, "released");
        assertEq(p.stake, 290e18, "slashed");
        assertEq(p.served, 1, "served");
    }

    function test_stakeOf_followsStakeAndSeizure() public {
        _registerApproved(alice, 300e18);
        assertEq(registry.stakeOf(alice), 300e18, "registered stake");
        assertEq(registry.stakeOf(bob), 0, "unknown provider");
        vm.prank(market);
        registry.settle(alice, 0, 25e18, IProviderRegistry.Outcome.Missed, "job");
        assertEq(registry.stakeOf(alice), 275e18, "after a seizure");
        assertEq(address(registry.stakeToken()), address(token), "stake token");
    }

    function test_settle_revertsForNonMarket() public {
        _registerApproved(alice, 300e18);
        _lock(alice, 100e18);
        vm.expectRevert(_unauthorized(admin, MARKET_ROLE));
        vm.prank(admin);
        registry.settle(alice, 100e18, 0, IProviderRegistry.Outcome.Served, "job");
        vm.expectRevert(_unauthorized(alice, MARKET_ROLE));
        vm.prank(alice);
        registry.settle(alice, 100e18, 0, IProviderRegistry.Outcome.Served, "job");
        assertEq(_p(alice).locked, 100e18, "still locked");
        assertEq(_p(alice).served, 0, "not counted");
    }

    // ================================================================ recordServed, providerTerms

    function test_recordServed_countsServed() public {
        _registerApproved(alice, 300e18, TAG_A | TAG_B, MEM);
        vm.expectEmit();
        emit IProviderRegistry.ServedRecorded(alice, 1);
        vm.prank(market);
        registry.recordServed(alice, 1);
        vm.expectEmit();
        emit IProviderRegistry.ServedRecorded(alice, 3);
        vm.prank(market);
        registry.recordServed(alice, 3);
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.served, 4, "served 1 + 3");
        assertEq(p.locked, 0, "no collateral");
    }

    function test_recordServed_revertsForNonMarket() public {
        _registerApproved(alice, 300e18);
        vm.expectRevert(_unauthorized(alice, MARKET_ROLE));
        vm.prank(alice);
        registry.recordServed(alice, 1);
        assertEq(_p(alice).served, 0, "not counted");
    }

    function test_providerTerms_reportsApprovedProvider() public {
        _registerApproved(alice, 300e18, TAG_A | TAG_B, MEM);
        (bool active, uint256 tags, uint32 memoryMB, , ) = registry.providerTerms(alice);
        assertTrue(active, "active");
        assertEq(tags, TAG_A | TAG_B, "tags");
        assertEq(memoryMB, MEM, "memory");
    }

    function test_providerTerms_inactiveWhenPendingSuspendedExitingOrBelowMinStake() public {
        _register(alice, MIN_STAKE);
        (bool active, , , , ) = registry.providerTerms(alice);
        assertFalse(active, "pending");

        _registerApproved(bob, 300e18);
        vm.prank(admin);
        registry.suspendProvider(bob);
        (active, , , , ) = registry.providerTerms(bob);
        assertFalse(active, "suspended");

        _registerApproved(carol, 300e18);
        vm.prank(carol);
        registry.requestExit();
        (active, , , , ) = registry.providerTerms(carol);
        assertFalse(active, "exiting");
        vm.prank(carol);
        registry.cancelExit();
        (active, , , , ) = registry.providerTerms(carol);
        assertTrue(active, "active again");

        vm.prank(admin);
        registry.slash(carol, 300e18 - MIN_STAKE + 1, "dao");
        (active, , , , ) = registry.providerTerms(carol);
        assertFalse(active, "below the minimum stake");
    }

    function test_lockCollateral_revertsWhenStakeBelowMinimumAfterSlash() public {
        _registerApproved(alice, MIN_STAKE);
        vm.prank(admin);
        registry.slash(alice, 1, "dao");
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryStakeBelowMinimum.selector,
                MIN_STAKE - 1,
                MIN_STAKE
            )
        );
        vm.prank(market);
        registry.lockCollateral(alice, 0, 0, 0);
        assertFalse(registry.isEligible(alice, 0, 0, 0), "not eligible");
    }

    function test_withdrawStake_suspendedProviderStaysSuspended() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, MIN_STAKE);
        _register(alice, MIN_STAKE);
        vm.prank(admin);
        registry.suspendProvider(alice);
        _exitAndWithdraw(alice);
        assertEq(_p(alice).stake, 0, "stake returned");
        assertEq(_status(alice), uint8(IProviderRegistry.ProviderStatus.Suspended), "still suspended");
        token.mint(alice, MIN_STAKE);
        vm.prank(alice);
        token.approve(address(registry), MIN_STAKE);
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

    // ================================================================ views

    function test_checkEligible_passesForEligibleAndRevertsWithReason() public {
        _registerApproved(alice, 300e18, TAG_A, MEM);
        registry.checkEligible(alice, 300e18, TAG_A, MEM);
        assertTrue(registry.isEligible(alice, 300e18, TAG_A, MEM), "eligible");
        assertFalse(registry.isEligible(alice, 300e18 + 1, TAG_A, MEM), "too much collateral");
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                alice,
                uint256(300e18),
                uint256(300e18 + 1)
            )
        );
        registry.checkEligible(alice, 300e18 + 1, TAG_A, MEM);
    }

    function test_getProvider_unknownIsEmpty() public view {
        IProviderRegistry.Provider memory p = _p(eve);
        assertEq(uint256(p.status), 0, "none");
        assertEq(p.stake, 0, "stake");
        assertEq(bytes(p.metadataURI).length, 0, "uri");
        assertFalse(registry.isEligible(eve, 0, 0, 0), "not eligible");
    }

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

/// @notice The handler as deployed by the invariant suite. Hardhat emits artifacts only for contracts
/// declared in the root files of a build, and the invariant fuzzer only targets contracts whose
/// bytecode it can match to an artifact; when this file is run on its own the handler's file is not
/// a root, so the fuzzer would find "No contracts to fuzz". Declaring this thin subclass here makes
/// the target identifiable however the tests are invoked.
contract ProviderRegistryInvariantHandler is ProviderRegistryHandler {
    constructor(
        ProviderRegistry registry_,
        MockERC20 token_,
        address admin_,
        address market_,
        address treasury_,
        address guardian_
    ) ProviderRegistryHandler(registry_, token_, admin_, market_, treasury_, guardian_) {}
}

/// @notice Stateful invariant tests: a handler drives several providers, the market and the DAO.
contract ProviderRegistryInvariantTest is Test {
    ProviderRegistryInvariantHandler internal handler;
    ProviderRegistry internal registry;
    MockERC20 internal token;

    function setUp() public {
        vm.warp(1_700_000_000);
        address admin = address(0xA11CE);
        token = new MockERC20("Stake", "STK", 18);
        registry = new ProviderRegistry(admin, address(0x6A4D), IERC20(address(token)), 100e18, 7 days);
        handler = new ProviderRegistryInvariantHandler(
            registry,
            token,
            admin,
            address(0x3A4E7),
            address(0x7EA5),
            address(0x6A4D)
        );
        vm.startPrank(admin);
        registry.grantRole(registry.MARKET_ROLE(), handler.market());
        registry.setFreezePeriod(1 days);
        // Start with auto-admission on, so that about half the registrations are approved at once
        // and reach the market paths; the handler flips the policy and approves/suspends too.
        registry.setAdmissionPolicy(true, 500e18);
        vm.stopPrank();
        targetContract(address(handler));
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_balanceEqualsStakesPlusSlashed() public view {
        uint256 sum = handler.sumStakes();
        uint256 balance = token.balanceOf(address(registry));
        assertEq(balance, sum + registry.slashedFunds(), "balance == sum(stake) + slashed");
        assertEq(balance, registry.totalStake() + registry.slashedFunds(), "balance == totalStake + slashed");
        assertEq(sum, registry.totalStake(), "sum(stake) == totalStake");
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_lockedNeverExceedsStake() public view {
        uint256 n = handler.actorCount();
        for (uint256 i = 0; i < n; ++i) {
            IProviderRegistry.Provider memory p = registry.getProvider(handler.actors(i));
            assertLe(p.locked, p.stake, "locked <= stake");
            // Finding 3: no DAO slash can shrink `locked` below the collateral of the open seats.
            assertEq(p.locked, handler.ghostOpenCollateral(handler.actors(i)), "locked == open seats' collateral");
            if (p.status == IProviderRegistry.ProviderStatus.Exited) {
                assertEq(p.stake, 0, "exited holds no stake");
                assertEq(p.locked, 0, "exited holds no lock");
            }
        }
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_countersOnlyByMarket() public view {
        (uint256 served, uint256 disagreed, uint256 missed) = handler.sumCounters();
        assertEq(served, handler.ghostServed(), "served == market-recorded served");
        assertEq(disagreed, handler.ghostDisagreed(), "disagreed == market-recorded disagreed");
        assertEq(missed, handler.ghostMissed(), "missed == market-recorded missed");
        assertEq(handler.ghostUnauthorizedSuccesses(), 0, "non-market calls to market functions all refused");
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_forbiddenCallsRefused() public view {
        assertEq(
            handler.ghostForbiddenSuccesses(),
            0,
            "slash above free stake, frozen lock or withdrawal, guardian re-freeze"
        );
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_tokensConserved() public view {
        uint256 held =
            handler.sumActorBalances() +
                token.balanceOf(address(registry)) +
                token.balanceOf(handler.treasury()) +
                token.balanceOf(handler.market());
        assertEq(handler.ghostSlashedWithdrawn(), token.balanceOf(handler.treasury()), "treasury == withdrawn");
        assertEq(handler.ghostSeized(), token.balanceOf(handler.market()), "market == seized in settlement");
        assertEq(held, handler.ghostMinted(), "actors + registry + withdrawn + seized == minted");
        assertEq(token.totalSupply(), handler.ghostMinted(), "supply == minted");
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_slashedFundsAccounting() public view {
        assertEq(
            registry.slashedFunds() + handler.ghostSlashedWithdrawn(),
            handler.ghostSlashed(),
            "slashedFunds + withdrawn == slashed"
        );
    }

    /// @dev The roster is exactly the Approved, not exiting actors, and index and array agree.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_rosterMatchesRecords() public view {
        uint256 n = handler.actorCount();
        address[] memory all = new address[](n);
        for (uint256 i = 0; i < n; ++i) all[i] = handler.actors(i);
        RosterCheck.check(registry, all);
    }
}

/// @notice Checks the roster against the providers' records: a provider is a member exactly when
/// it is Approved and not exiting; `rosterAt` and `rosterIndexOf` are inverse; the size counts
/// the members among `all` (every provider the test ever registered).
library RosterCheck {
    error RosterInconsistent(string what, address provider, uint256 index);

    function check(ProviderRegistry registry, address[] memory all) internal view {
        uint256 members;
        uint256 size = registry.rosterSize();
        for (uint256 i = 0; i < all.length; ++i) {
            IProviderRegistry.Provider memory p = registry.getProvider(all[i]);
            bool shouldBe = p.status == IProviderRegistry.ProviderStatus.Approved && p.unbondingEndsAt == 0;
            (bool member, uint256 index) = registry.rosterIndexOf(all[i]);
            (, , , uint256 termsIndex, uint256 termsSize) = registry.providerTerms(all[i]);
            if (termsSize != size) revert RosterInconsistent("providerTerms size", all[i], termsSize);
            if (member != shouldBe) revert RosterInconsistent("membership", all[i], index);
            if (!member) {
                if (termsIndex != type(uint256).max) revert RosterInconsistent("non-member index", all[i], termsIndex);
                continue;
            }
            ++members;
            if (index >= size) revert RosterInconsistent("index past the end", all[i], index);
            if (termsIndex != index) revert RosterInconsistent("providerTerms index", all[i], termsIndex);
            if (registry.rosterAt(index) != all[i]) revert RosterInconsistent("rosterAt(index)", all[i], index);
        }
        if (members != size) revert RosterInconsistent("size", address(0), size);
        for (uint256 j = 0; j < size; ++j) {
            (bool member, uint256 index) = registry.rosterIndexOf(registry.rosterAt(j));
            if (!member || index != j) revert RosterInconsistent("slot", registry.rosterAt(j), j);
        }
    }
}

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

    function test_lockCollateral_returnsRosterPlace() public {
        _registerApproved(alice, 300e18);
        _registerApproved(bob, 300e18);
        vm.prank(market);
        (uint256 index, uint256 size) = registry.lockCollateral(bob, 1, 0, 0);
        assertEq(index, 1, "bob's index");
        assertEq(size, 2, "size");
    }

    function test_getProvider_countersSurviveThePacking() public {
        _registerApproved(alice, 300e18);
        vm.prank(market);
        registry.recordServed(alice, 7);
        IProviderRegistry.Provider memory p = _p(alice);
        assertEq(p.served, 7, "served");
        assertEq(p.stake, 300e18, "stake");
        assertEq(uint256(p.status), uint256(IProviderRegistry.ProviderStatus.Approved), "status");
        assertEq(p.memoryMB, MEM, "memory");
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

/// @notice A governor and timelock reduced to the three delays the registry reads.
contract MockGovernanceDelays {
    uint256 public votingDelay;
    uint256 public votingPeriod;
    uint256 public getMinDelay;

    function set(uint256 votingDelay_, uint256 votingPeriod_, uint256 minDelay_) external {
        (votingDelay, votingPeriod, getMinDelay) = (votingDelay_, votingPeriod_, minDelay_);
    }
}

/// @notice Issue 11 finding 4: exits cover the governance delay, and the guardian can freeze a
/// provider (no new collateral, no withdrawal) while the DAO votes.
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

        // No new collateral: no k = 1 delivery, commit, challenge or jury seat.
        vm.expectRevert(_frozen(alice, T0 + FREEZE));
        vm.prank(market);
        registry.lockCollateral(alice, 1, 0, 0);
        assertFalse(registry.isEligible(alice, 0, 0, 0), "not eligible");
        vm.expectRevert(_frozen(alice, T0 + FREEZE));
        registry.checkEligible(alice, 0, 0, 0);
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
        assertTrue(registry.isEligible(alice, 1, 0, 0), "eligible again");
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
        assertTrue(registry.isEligible(alice, 1, 0, 0), "eligible");
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

    function test_freeze_frozenProvidersOpenSeatStillSettles() public {
        _withFreeze();
        _registerApproved(alice, 300e18);
        _registerApproved(bob, 300e18);
        _lock(alice, 100e18);
        _lock(bob, 100e18);
        _freeze(guardian, alice);
        _freeze(guardian, bob);
        // alice reveals and is paid: her collateral comes back and she is counted as served.
        vm.prank(market);
        registry.settle(alice, 100e18, 0, IProviderRegistry.Outcome.Served, "job");
        assertEq(_p(alice).locked, 0, "released while frozen");
        assertEq(_p(alice).served, 1, "served");
        // bob's seat was faulty: its collateral is seized while frozen.
        vm.prank(market);
        registry.settle(bob, 100e18, 100e18, IProviderRegistry.Outcome.Missed, "job");
        assertEq(_p(bob).stake, 200e18, "seized");
        assertEq(token.balanceOf(market), 100e18, "at the market");
    }

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
        vm.prank(market);
        registry.settle(alice, 250e18, 0, IProviderRegistry.Outcome.Served, "job");
        vm.prank(admin);
        registry.slash(alice, 300e18, "fraud");
        assertEq(_p(alice).stake, 0, "all of it, once no seat is open");
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
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, eve));
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
