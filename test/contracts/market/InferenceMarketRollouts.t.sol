// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {InferenceMarketFixture} from "./InferenceMarketFixture.sol";
import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {IModelRollouts} from "../../../contracts/interfaces/IModelRollouts.sol";
import {Job, wordsOf, jobFromWords} from "../utils/JobStruct.sol";

/// @notice The market's side of a staged rollout: version-0 requests drawn to the candidate, and
/// how each candidate job ends reported to the model registry — without ever blocking a settlement.
contract InferenceMarketRolloutsTest is InferenceMarketFixture {
    uint32 internal constant CANDIDATE = 2;

    function setUp() public override {
        super.setUp();
        models.publishVersion(NAME, _versionParams());
        models.grantRole(models.MARKET_ROLE(), address(market));
        models.startRollout(
            modelId,
            IModelRollouts.RolloutPlan({
                candidate: CANDIDATE,
                canaryBps: 5_000,
                minDuration: 0,
                promoteAfterJobs: 100,
                abortAfterJobs: 100,
                maxDisputedBps: 1_000,
                maxFailedBps: 1_000
            })
        );
    }

    function _candidateReq(uint8 k) internal view returns (IInferenceMarketTypes.JobRequest memory r) {
        r = _req(k, address(0));
        r.version = CANDIDATE;
    }

    function _counters() internal view returns (IModelRollouts.VersionCounters memory c) {
        (, c) = models.rolloutOf(modelId);
    }

    function test_versionZero_drawsTheCanaryFromTheSeed_andOnlyCandidateJobsAreCounted() public {
        uint256 canary;
        for (uint256 i = 0; i < 40; ++i) {
            vm.prevrandao(bytes32(i));
            IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
            r.version = 0;
            (, Job memory job) = _requestAs(client, r);
            // _requestAs checks the emitted job against the registry's draw for the same seed.
            assertTrue(job.counted == (job.version == CANDIDATE), "counted exactly when drawn");
            if (job.counted) ++canary;
        }
        assertGe(canary, 1, "some canary jobs");
        assertLe(canary, 39, "some champion jobs");
        (, Job memory explicit) = _request(1, address(0));
        assertFalse(explicit.counted, "version 1 named: not counted");
    }

    function test_k1_claimed_countsSettled() public {
        (uint256 id, Job memory job) = _requestAs(client, _candidateReq(1));
        assertTrue(job.counted, "candidate named: counted");
        _submit(id, job, prov[0]);
        vm.expectEmit(true, true, true, true, address(models));
        emit IModelRollouts.RolloutJobCounted(
            modelId,
            CANDIDATE,
            IModelRollouts.JobOutcome.Settled,
            IModelRollouts.VersionCounters({settled: 1, disputed: 0, failed: 0})
        );
        _claimPaid(id, job, prov[0]);
    }

    function test_k1_expired_countsFailed() public {
        (uint256 id, Job memory job) = _requestAs(client, _candidateReq(1));
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));
        assertEq(_counters().failed, 1, "failed");
    }

    function test_k3_unanimous_settled_dissent_disputed_noQuorum_failed() public {
        _roundOf(_results3(RESULT, RESULT, RESULT));
        _roundOf(_results3(RESULT, RESULT, OTHER_RESULT));
        _roundOf(_results3(RESULT, OTHER_RESULT, THIRD_RESULT));
        IModelRollouts.VersionCounters memory c = _counters();
        assertEq(c.settled, 1, "unanimous");
        assertEq(c.disputed, 1, "a dissenting revealer");
        assertEq(c.failed, 1, "no quorum");
    }

    function _results3(bytes32 a, bytes32 b, bytes32 c) internal pure returns (bytes32[] memory r) {
        r = new bytes32[](3);
        (r[0], r[1], r[2]) = (a, b, c);
    }

    function _roundOf(bytes32[] memory results) internal {
        (uint256 id, Job memory job) = _requestAs(client, _candidateReq(3));
        for (uint256 i = 0; i < 3; ++i) _commit(id, job, prov[i], results[i]);
        for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], uint8(i), results[i]);
    }

    function test_refusedReport_neverBlocksSettlement() public {
        models.revokeRole(models.MARKET_ROLE(), address(market));
        (uint256 id, Job memory job) = _requestAs(client, _candidateReq(1));
        _submit(id, job, prov[0]);
        uint256 before = market.balanceOf(prov[0], address(0));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.RolloutCountFailed(id);
        _claimPaid(id, job, prov[0]);
        assertEq(market.balanceOf(prov[0], address(0)) - before, FEE, "the provider is paid all the same");
        assertEq(_counters().settled, 0, "nothing counted");
    }

    /// @notice A keeper cannot have a candidate's job paid without it being counted by giving the
    /// claim just too little gas for the registry's count (the count's try swallows an out-of-gas):
    /// at every gas limit the claim either reverts, or pays and counts. (It holds because what the
    /// claim does after the count needs more than 1/64 of the gas the count would need.)
    function test_claim_neverPaysUncountedForWantOfGas() public {
        (uint256 id, Job memory job) = _requestAs(client, _candidateReq(1));
        _submit(id, job, prov[0]);
        vm.warp(block.timestamp + job.challengeWindow + 1);
        IInferenceMarketTypes.Claim[] memory claims = _claimItem(id, job, prov[0], RESULT);
        uint256 paid;
        for (uint256 gas = 20_000; gas < 200_000; gas += 250) {
            uint256 snapshot = vm.snapshotState();
            vm.prank(stranger);
            try _court().claim{gas: gas}(claims) returns (uint256 claimed) {
                assertEq(claimed, 1, "paid");
                assertEq(_counters().settled, 1, "paid but not counted");
                ++paid;
            } catch {} // solhint-disable-line no-empty-blocks
            vm.revertToState(snapshot);
        }
        assertGe(paid, 1, "enough gas pays and counts");
    }

    function test_abortedRollout_candidateJobsStillServedAndPaid_newRequestsNotDrawn() public {
        (uint256 id, Job memory job) = _requestAs(client, _candidateReq(1));
        vm.prank(guardian);
        models.abortRollout(modelId);
        _submit(id, job, prov[0]);
        _claimPaid(id, job, prov[0]);
        for (uint256 i = 0; i < 10; ++i) {
            vm.prevrandao(bytes32(i));
            IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
            r.version = 0;
            (, Job memory later) = _requestAs(client, r);
            assertEq(later.version, 1, "the champion");
            assertFalse(later.counted, "not counted");
        }
    }
}
