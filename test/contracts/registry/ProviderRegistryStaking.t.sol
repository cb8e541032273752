// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "../../../contracts/registry/ProviderRegistry.sol";
import {FeeOnTransferERC20} from "../../../contracts/mocks/FeeOnTransferERC20.sol";
import {ProviderRegistryFixture} from "./ProviderRegistryFixture.sol";

/// @notice Registration, stake top-ups, admission and capabilities.
contract ProviderRegistryStakingTest is ProviderRegistryFixture {
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
        assertTrue(_seatable(alice), "seatable at once");
        assertEq(mock.tags(alice), TAG_A, "with the granted tag");
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
        _seize(alice, 0, IProviderRegistry.Fault.Disagreed);
        _seize(alice, 0, IProviderRegistry.Fault.Missed);
        _seize(alice, 0, IProviderRegistry.Fault.Missed);
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
        vm.expectRevert(_notRegistered(alice));
        vm.prank(alice);
        registry.addStake(MIN_STAKE);
        assertEq(token.balanceOf(alice), MIN_STAKE, "tokens kept");
    }

    function test_addStake_revertsAfterExit() public {
        _register(alice, MIN_STAKE);
        _exitAndWithdraw(alice);
        vm.expectRevert(_notRegistered(alice));
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
        assertEq(mock.tags(alice), TAG_A, "lacks B");
        vm.prank(alice);
        registry.updateCapabilities(_caps(TAG_A | TAG_B, MEM), URI);
        assertEq(_p(alice).tags, TAG_A | TAG_B, "declared");
        assertEq(_p(alice).grantedTags, TAG_A, "granted unchanged");
        assertEq(mock.tags(alice), TAG_A, "the market still sees only A");
        (, uint256 termsTags, , , ) = registry.providerTerms(alice);
        assertEq(termsTags, TAG_A, "the market and runners see the granted tags");

        vm.expectEmit();
        emit IProviderRegistry.TagsGranted(alice, TAG_A | TAG_B);
        vm.prank(admin);
        registry.setGrantedTags(alice, TAG_A | TAG_B);
        assertEq(mock.tags(alice), TAG_A | TAG_B, "granted by the DAO, pushed to the market");
    }

    function test_approveProvider_grantsExactlyTheVotedTags() public {
        _register(alice, MIN_STAKE, TAG_A | TAG_B | TAG_C, MEM);
        vm.expectEmit();
        emit IProviderRegistry.TagsGranted(alice, TAG_A);
        vm.prank(admin);
        registry.approveProvider(alice, TAG_A);
        assertEq(mock.tags(alice), TAG_A, "A granted, C declared only");
        // The DAO may grant what was not declared (the declaration is informational).
        vm.prank(admin);
        registry.setGrantedTags(alice, TAG_HIGH);
        assertEq(_p(alice).grantedTags, TAG_HIGH, "granted");
        // Jobs require bits 0-63 only: the word carries those, and A is gone from it.
        assertEq(mock.tags(alice), 0, "replaced");
    }

    function test_setGrantedTags_revertsForNonAdminAndUnregistered() public {
        _registerApproved(alice, MIN_STAKE, TAG_A, MEM);
        vm.expectRevert(_unauthorized(alice, DEFAULT_ADMIN_ROLE));
        vm.prank(alice);
        registry.setGrantedTags(alice, TAG_B);
        vm.expectRevert(_unauthorized(guardian, DEFAULT_ADMIN_ROLE));
        vm.prank(guardian);
        registry.setAutoGrantMask(TAG_B);
        vm.expectRevert(_notRegistered(eve));
        vm.prank(admin);
        registry.setGrantedTags(eve, TAG_B);
    }

    function test_autoAdmit_grantsOnlyMaskedDeclaredTags() public {
        vm.prank(admin);
        registry.setAdmissionPolicy(true, MIN_STAKE);
        _register(alice, MIN_STAKE, TAG_A | TAG_B, MEM);
        assertEq(_p(alice).grantedTags, 0, "mask 0 by default: nothing self-declared counts");
        assertTrue(_seatable(alice), "admitted");
        assertEq(mock.tags(alice), 0, "no tag");

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
        vm.expectRevert(_notRegistered(eve));
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
}
