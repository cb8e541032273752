// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ModelRegistryFixture} from "./ModelRegistry.t.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {IModelRollouts} from "../../../contracts/interfaces/IModelRollouts.sol";

/// @notice Staged rollouts: a DAO-approved canary share of version-0 requests pinned to a
/// candidate, counted by the market, promoted or aborted by anyone once the plan's rule holds.
contract ModelRolloutsTest is ModelRegistryFixture {
    address internal market = address(0x3A4E7);
    uint32 internal constant CHAMPION = 1;
    uint32 internal constant CANDIDATE = 2;

    function setUp() public override {
        super.setUp();
        _publishMany(2);
        _activate(CHAMPION);
        bytes32 marketRole = registry.MARKET_ROLE();
        vm.prank(admin);
        registry.grantRole(marketRole, market);
    }

    function _plan() internal pure returns (IModelRollouts.RolloutPlan memory) {
        return
            IModelRollouts.RolloutPlan({
                candidate: CANDIDATE,
                canaryBps: 2_000,
                minDuration: 1 hours,
                promoteAfterJobs: 10,
                abortAfterJobs: 4,
                maxDisputedBps: 1_000,
                maxFailedBps: 1_000
            });
    }

    function _start() internal {
        vm.prank(admin);
        registry.startRollout(modelId, _plan());
    }

    function _count(IModelRollouts.JobOutcome outcome, uint256 times) internal {
        for (uint256 i = 0; i < times; ++i) {
            vm.prank(market);
            registry.countJob(modelId, CANDIDATE, outcome);
        }
    }

    function _status() internal view returns (IModelRollouts.RolloutStatus) {
        (IModelRollouts.Rollout memory r, ) = registry.rolloutOf(modelId);
        return r.status;
    }

    // ------------------------------------------------------------------ the canary draw

    function test_jobTermsFor_pinsTheCanaryShareOfVersionZeroRequestsToTheCandidate() public {
        _start();
        uint256 canary;
        for (uint256 i = 0; i < 10_000; ++i) {
            uint256 seed = uint256(keccak256(abi.encode("seed", i)));
            (uint32 resolved, bool accepting, , , bool counted) = registry.jobTermsFor(modelId, 0, seed);
            assertTrue(accepting, "accepting");
            assertTrue(counted == (resolved == CANDIDATE), "counted exactly when drawn");
            if (resolved == CANDIDATE) ++canary;
            else assertEq(resolved, CHAMPION, "resolved CHAMPION");
        }
        // 20 % of 10,000 draws: within 4.5 binomial standard deviations (sd = 40).
        assertGe(canary, 1_820, "canary 1_820");
        assertLe(canary, 2_180, "canary 2_180");
    }

    function test_jobTermsFor_explicitVersionsAreNotDrawn() public {
        _start();
        (uint32 resolved, , , , bool counted) = registry.jobTermsFor(modelId, CHAMPION, 0);
        assertEq(resolved, CHAMPION, "resolved CHAMPION");
        assertFalse(counted, "counted");
        // Naming the candidate is allowed while it runs, and counted like a canary job.
        (resolved, , , , counted) = registry.jobTermsFor(modelId, CANDIDATE, 0);
        assertEq(resolved, CANDIDATE, "resolved CANDIDATE");
        assertTrue(counted, "counted");
        assertTrue(registry.acceptsJobs(modelId, CANDIDATE), "registry.acceptsJobsmodelId CANDIDATE");
    }

    function test_jobTermsFor_noRollout_noDrawNoCount() public view {
        (uint32 resolved, bool accepting, , , bool counted) = registry.jobTermsFor(modelId, 0, 0);
        assertEq(resolved, CHAMPION, "resolved CHAMPION");
        assertTrue(accepting, "accepting");
        assertFalse(counted, "counted");
        // A Published version takes no jobs outside a rollout.
        (, accepting, , , ) = registry.jobTermsFor(modelId, CANDIDATE, 0);
        assertFalse(accepting, "accepting");
    }

    // ------------------------------------------------------------------ start

    function test_startRollout_onlyDao() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, bytes32(0))
        );
        vm.prank(guardian);
        registry.startRollout(modelId, _plan());
    }

    function test_startRollout_emitsAndRecords() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRollouts.RolloutStarted(modelId, CANDIDATE, CHAMPION, _plan());
        _start();
        (IModelRollouts.Rollout memory r, ) = registry.rolloutOf(modelId);
        assertEq(
            uint8(r.status),
            uint8(IModelRollouts.RolloutStatus.Running),
            "uint8r.status uint8IModelRollouts.RolloutStatus.Running"
        );
        assertEq(r.startedAt, START, "r.startedAt START");
        assertEq(r.plan.canaryBps, 2_000, "r.plan.canaryBps 2_000");
        assertEq(registry.getModel(modelId).rolloutCandidate, CANDIDATE, "the model names its running candidate");
    }

    function test_startRollout_refusesBadPlans() public {
        IModelRollouts.RolloutPlan memory p = _plan();
        p.canaryBps = 0;
        _expectBadPlan(p, "canaryBps", 0);
        p.canaryBps = 5_001;
        _expectBadPlan(p, "canaryBps", 5_001);
        p = _plan();
        p.promoteAfterJobs = 0;
        _expectBadPlan(p, "promoteAfterJobs", 0);
        p = _plan();
        p.abortAfterJobs = 0;
        _expectBadPlan(p, "abortAfterJobs", 0);
        p = _plan();
        p.maxDisputedBps = 10_001;
        _expectBadPlan(p, "maxDisputedBps", 10_001);
        p = _plan();
        p.maxFailedBps = 10_001;
        _expectBadPlan(p, "maxFailedBps", 10_001);
    }

    function _expectBadPlan(IModelRollouts.RolloutPlan memory p, string memory field, uint256 value) internal {
        vm.expectRevert(abi.encodeWithSelector(IModelRollouts.ModelRegistryInvalidRolloutPlan.selector, field, value));
        vm.prank(admin);
        registry.startRollout(modelId, p);
    }

    function test_startRollout_needsPublishedCandidateAChampionAndNoRunningRollout() public {
        IModelRollouts.RolloutPlan memory p = _plan();
        p.candidate = CHAMPION;
        vm.expectRevert(
            abi.encodeWithSelector(
                IModelRegistry.ModelRegistryInvalidStatus.selector,
                modelId,
                CHAMPION,
                IModelRegistry.VersionStatus.Active
            )
        );
        vm.prank(admin);
        registry.startRollout(modelId, p);

        _start();
        vm.expectRevert(
            abi.encodeWithSelector(IModelRollouts.ModelRegistryRolloutRunning.selector, modelId, CANDIDATE)
        );
        vm.prank(admin);
        registry.startRollout(modelId, _plan());

        vm.prank(admin);
        registry.retireVersion(modelId, CHAMPION); // ends the rollout, leaves no champion
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNoActiveVersion.selector, modelId));
        vm.prank(admin);
        registry.startRollout(modelId, _plan());
    }

    // ------------------------------------------------------------------ counting

    function test_countJob_onlyTheMarket() public {
        _start();
        bytes32 role = registry.MARKET_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        vm.prank(stranger);
        registry.countJob(modelId, CANDIDATE, IModelRollouts.JobOutcome.Settled);
    }

    function test_countJob_emitsTheCounters() public {
        _start();
        _count(IModelRollouts.JobOutcome.Settled, 2);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRollouts.RolloutJobCounted(
            modelId,
            CANDIDATE,
            IModelRollouts.JobOutcome.Failed,
            IModelRollouts.VersionCounters({settled: 2, disputed: 0, failed: 1})
        );
        _count(IModelRollouts.JobOutcome.Failed, 1);
    }

    // ------------------------------------------------------------------ promotion

    function test_promote_byAnyoneOnceTheRuleHolds_activatesTheCandidate() public {
        _start();
        _count(IModelRollouts.JobOutcome.Settled, 9);
        _count(IModelRollouts.JobOutcome.Disputed, 1); // 10 % disputed: at the maximum, allowed
        vm.expectRevert(
            abi.encodeWithSelector(IModelRollouts.ModelRegistryRolloutRuleNotMet.selector, modelId, "minimum duration")
        );
        registry.promoteRollout(modelId);

        vm.warp(START + 1 hours);
        (bool promotable, bool abortable) = registry.rolloutVerdict(modelId);
        assertTrue(promotable, "promotable");
        assertFalse(abortable, "abortable");
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRollouts.RolloutPromoted(modelId, CANDIDATE, stranger);
        vm.prank(stranger);
        registry.promoteRollout(modelId);

        assertEq(
            uint8(_status()),
            uint8(IModelRollouts.RolloutStatus.Promoted),
            "uint8_status uint8IModelRollouts.RolloutStatus.Promoted"
        );
        assertEq(
            registry.getModel(modelId).activeVersion,
            CANDIDATE,
            "registry.getModelmodelId.activeVersion CANDIDATE"
        );
        // The champion is deprecated as by an activation: its jobs keep running until its sunset.
        IModelRegistry.ModelVersion memory old = registry.getVersion(modelId, CHAMPION);
        assertEq(
            uint8(old.status),
            uint8(IModelRegistry.VersionStatus.Deprecated),
            "uint8old.status uint8IModelRegistry.VersionStatus.Deprecated"
        );
        assertEq(old.sunsetAt, START + 1 hours + PERIOD, "old.sunsetAt START  1 hours  PERIOD");
        // No more draws: version 0 is the new champion.
        (uint32 resolved, , , , bool counted) = registry.jobTermsFor(modelId, 0, 0);
        assertEq(resolved, CANDIDATE, "resolved CANDIDATE");
        assertFalse(counted, "counted");
    }

    function test_promote_refusedWithTooFewJobsOrTooManyDisputesOrFailures() public {
        _start();
        vm.warp(START + 1 hours);
        _count(IModelRollouts.JobOutcome.Settled, 9);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRollouts.ModelRegistryRolloutRuleNotMet.selector, modelId, "jobs ended")
        );
        registry.promoteRollout(modelId);
        _count(IModelRollouts.JobOutcome.Disputed, 2); // 2 of 11: above 10 %
        vm.expectRevert(
            abi.encodeWithSelector(IModelRollouts.ModelRegistryRolloutRuleNotMet.selector, modelId, "disputed share")
        );
        registry.promoteRollout(modelId);
    }

    function test_guardianHasNoPowerToPromoteEarly() public {
        _start();
        vm.prank(guardian);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRollouts.ModelRegistryRolloutRuleNotMet.selector, modelId, "minimum duration")
        );
        registry.promoteRollout(modelId);
    }

    // ------------------------------------------------------------------ abort

    function test_abort_byAnyoneOnceTheRuleHolds_laterRequestsGoToTheChampion() public {
        _start();
        _count(IModelRollouts.JobOutcome.Failed, 3);
        // Below abortAfterJobs (4): three unlucky jobs do not abort.
        vm.expectRevert(
            abi.encodeWithSelector(IModelRollouts.ModelRegistryRolloutRuleNotMet.selector, modelId, "abort rule")
        );
        vm.prank(stranger);
        registry.abortRollout(modelId);
        _count(IModelRollouts.JobOutcome.Settled, 1);
        (, bool abortable) = registry.rolloutVerdict(modelId);
        assertTrue(abortable, "abortable");
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRollouts.RolloutAborted(modelId, CANDIDATE, stranger, "failed share above the plan's maximum");
        vm.prank(stranger);
        registry.abortRollout(modelId);

        assertEq(
            uint8(_status()),
            uint8(IModelRollouts.RolloutStatus.Aborted),
            "uint8_status uint8IModelRollouts.RolloutStatus.Aborted"
        );
        assertEq(registry.getModel(modelId).rolloutCandidate, 0, "no running candidate after the abort");
        assertEq(registry.getModel(modelId).activeVersion, CHAMPION, "registry.getModelmodelId.activeVersion CHAMPION");
        for (uint256 i = 0; i < 200; ++i) {
            (uint32 resolved, , , , bool counted) = registry.jobTermsFor(modelId, 0, i);
            assertEq(resolved, CHAMPION, "resolved CHAMPION");
            assertFalse(counted, "counted");
        }
        // The candidate takes no new jobs (open canary jobs are still served; their clients may cancel).
        assertFalse(registry.acceptsJobs(modelId, CANDIDATE), "registry.acceptsJobsmodelId CANDIDATE");
        vm.expectRevert(abi.encodeWithSelector(IModelRollouts.ModelRegistryNoRunningRollout.selector, modelId));
        registry.promoteRollout(modelId);
    }

    function test_abort_disputedShare() public {
        _start();
        _count(IModelRollouts.JobOutcome.Settled, 3);
        _count(IModelRollouts.JobOutcome.Disputed, 1); // 25 %
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRollouts.RolloutAborted(modelId, CANDIDATE, stranger, "disputed share above the plan's maximum");
        vm.prank(stranger);
        registry.abortRollout(modelId);
    }

    function test_abort_guardianAtAnyTime() public {
        _start();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRollouts.RolloutAborted(modelId, CANDIDATE, guardian, "aborted by the guardian or the DAO");
        vm.prank(guardian);
        registry.abortRollout(modelId);
        assertEq(
            uint8(_status()),
            uint8(IModelRollouts.RolloutStatus.Aborted),
            "uint8_status uint8IModelRollouts.RolloutStatus.Aborted"
        );
    }

    function test_restartAfterAbort_countersStartFromZero() public {
        _start();
        _count(IModelRollouts.JobOutcome.Failed, 4);
        registry.abortRollout(modelId);
        _start();
        (, IModelRollouts.VersionCounters memory c) = registry.rolloutOf(modelId);
        assertEq(uint256(c.settled) + c.disputed + c.failed, 0, "uint256c.settled  c.disputed  c.failed 0");
    }

    // ------------------------------------------------------------------ the DAO's own lifecycle calls

    function test_daoActivatingTheCandidate_promotes_anotherVersion_aborts() public {
        _start();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRollouts.RolloutPromoted(modelId, CANDIDATE, admin);
        _activate(CANDIDATE);
        assertEq(
            uint8(_status()),
            uint8(IModelRollouts.RolloutStatus.Promoted),
            "uint8_status uint8IModelRollouts.RolloutStatus.Promoted"
        );

        _publish(); // version 3
        IModelRollouts.RolloutPlan memory p = _plan();
        p.candidate = 3;
        vm.prank(admin);
        registry.startRollout(modelId, p);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRollouts.RolloutAborted(modelId, 3, admin, "the DAO activated another version");
        _activate(CHAMPION); // a rollback to version 1
        assertEq(
            uint8(_status()),
            uint8(IModelRollouts.RolloutStatus.Aborted),
            "uint8_status uint8IModelRollouts.RolloutStatus.Aborted"
        );
    }

    function test_retiringTheCandidate_aborts() public {
        _start();
        vm.prank(admin);
        registry.retireVersion(modelId, CANDIDATE);
        assertEq(
            uint8(_status()),
            uint8(IModelRollouts.RolloutStatus.Aborted),
            "uint8_status uint8IModelRollouts.RolloutStatus.Aborted"
        );
        assertFalse(registry.acceptsJobs(modelId, CANDIDATE), "registry.acceptsJobsmodelId CANDIDATE");
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Promotion and abort never both hold for the same counters and plan once the minimum
    /// duration passed and both job minima are met: the rules are each other's complement.
    function testFuzz_verdict_neverBothPromotableAndAbortable(
        uint16 settled,
        uint16 disputed,
        uint16 failed,
        uint16 maxD,
        uint16 maxF
    ) public {
        IModelRollouts.RolloutPlan memory p = _plan();
        p.maxDisputedBps = uint16(bound(maxD, 0, 10_000));
        p.maxFailedBps = uint16(bound(maxF, 0, 10_000));
        vm.prank(admin);
        registry.startRollout(modelId, p);
        vm.warp(START + 1 hours);
        _count(IModelRollouts.JobOutcome.Settled, bound(settled, 0, 40));
        _count(IModelRollouts.JobOutcome.Disputed, bound(disputed, 0, 40));
        _count(IModelRollouts.JobOutcome.Failed, bound(failed, 0, 40));
        (bool promotable, bool abortable) = registry.rolloutVerdict(modelId);
        assertFalse(promotable && abortable, "promotable  abortable");
    }
}
