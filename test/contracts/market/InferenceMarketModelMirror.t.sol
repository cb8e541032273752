// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {InferenceMarketFixture} from "./InferenceMarketFixture.sol";
import {InferenceMarket} from "../../../contracts/market/InferenceMarket.sol";
import {InferenceMarketCourt} from "../../../contracts/market/InferenceMarketCourt.sol";
import {ModelMirror} from "../../../contracts/market/ModelMirror.sol";
import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {IInferenceMarketCourt} from "../../../contracts/interfaces/IInferenceMarketCourt.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {IModelRollouts} from "../../../contracts/interfaces/IModelRollouts.sol";
import {Job} from "../utils/JobStruct.sol";

/// @notice Gas plan step 2: the market reads a mirror of the model registry, pushed by the
/// registry, instead of calling {IModelRegistry-jobTermsFor} at request. After every lifecycle
/// step the mirror's terms equal the registry's, for version 0 and every version, over a spread of
/// seeds (canary draws among them), and requests are accepted or refused as before.
contract InferenceMarketModelMirrorTest is InferenceMarketFixture {
    uint96 internal constant V2_MIN_FEE = 2e18; // above FEE: a request at FEE is below it
    uint32 internal constant V2_MEMORY = 3000;
    uint16 internal constant CANARY_BPS = 2_500;

    function _seeds(uint256 extra) internal pure returns (uint256[] memory s) {
        s = new uint256[](13);
        s[0] = 0;
        s[1] = 1;
        s[2] = 2_499;
        s[3] = 2_500;
        s[4] = 4_999;
        s[5] = 5_000;
        s[6] = 9_999;
        s[7] = 10_000;
        s[8] = 12_345;
        s[9] = type(uint96).max;
        s[10] = type(uint256).max;
        s[11] = uint256(keccak256("seed"));
        s[12] = extra;
    }

    /// @dev The mirror equals {IModelRegistry-jobTermsFor} for version 0, every published version
    /// and the next (unpublished) number, for each seed.
    function _assertMirror(string memory step, uint256 extraSeed) internal view {
        _assertMirror(step, _seeds(extraSeed));
    }

    function _assertMirror(string memory step, uint256[] memory seeds) internal view {
        uint32 n = models.getModel(modelId).versionCount;
        for (uint32 v = 0; v <= n + 1; ++v) {
            for (uint256 i = 0; i < seeds.length; ++i) _assertTerms(step, v, seeds[i]);
        }
    }

    function _assertTerms(string memory step, uint32 v, uint256 seed) internal view {
        _assertTermsOn(_court(), step, v, seed);
    }

    function _assertTermsOn(IInferenceMarketCourt m, string memory step, uint32 v, uint256 seed) internal view {
        (uint32 r0, bool a0, uint96 f0, uint32 m0, bool c0) = models.jobTermsFor(modelId, v, seed);
        (uint32 r1, bool a1, uint96 f1, uint32 m1, bool c1) = m.mirroredJobTerms(modelId, v, seed);
        assertEq(r1, r0, string.concat(step, ": resolved"));
        assertTrue(a1 == a0, string.concat(step, ": accepting"));
        assertEq(f1, f0, string.concat(step, ": minFee"));
        assertEq(m1, m0, string.concat(step, ": minMemoryMB"));
        assertTrue(c1 == c0, string.concat(step, ": counted"));
    }

    function _v2Params() internal pure returns (IModelRegistry.VersionParams memory p) {
        p = _versionParams();
        p.minFee = V2_MIN_FEE;
        p.minMemoryMB = V2_MEMORY;
    }

    function _plan(uint32 candidate) internal pure returns (IModelRollouts.RolloutPlan memory) {
        return
            IModelRollouts.RolloutPlan({
                candidate: candidate,
                canaryBps: CANARY_BPS,
                minDuration: 0,
                promoteAfterJobs: 1,
                abortAfterJobs: 100,
                maxDisputedBps: 10_000,
                maxFailedBps: 10_000
            });
    }

    function _reqV(uint32 version, uint96 fee) internal view returns (IInferenceMarketTypes.JobRequest memory r) {
        r = _req(1, address(0));
        r.version = version;
        r.feePerProvider = fee;
    }

    /// @dev A request that must be refused with `err`.
    function _expectRefused(IInferenceMarketTypes.JobRequest memory r, bytes memory err) internal {
        uint256 escrow = market.escrowOf(r.redundancy, r.feePerProvider, PROTOCOL_FEE_BPS);
        vm.deal(client, escrow);
        vm.prank(client);
        vm.expectRevert(err);
        market.requestJob{value: escrow}(r);
    }

    function _notAccepting(uint32 version) internal view returns (bytes memory) {
        return
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketVersionNotAccepting.selector, modelId, version);
    }

    function _feeBelow(uint256 fee, uint256 minimum) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketFeeBelowMinimum.selector, fee, minimum);
    }

    /// @dev The prevrandao that makes the next version-0 request a canary (`canary`) or not.
    function _drawCanary(bool canary) internal {
        for (uint256 i = 0; ; ++i) {
            uint256 seed = uint96(uint256(keccak256(abi.encode(bytes32(i), market.nextJobId()))));
            if ((seed % 10_000 < CANARY_BPS) == canary) {
                vm.prevrandao(bytes32(i));
                return;
            }
        }
    }

    // ------------------------------------------------------------------ the lifecycle, step by step

    function test_lifecycle_mirrorEqualsRegistry_andRequestsBehaveAsBefore() public {
        _assertMirror("v1 active", 0);
        (, Job memory job) = _requestAs(client, _reqV(0, FEE));
        assertEq(job.version, 1, "version 0 -> 1");
        assertEq(job.minMemoryMB, MIN_MEMORY, "v1 memory");
        _expectRefused(_reqV(0, MIN_FEE - 1), _feeBelow(MIN_FEE - 1, MIN_FEE));

        // Publish v2: Published, not accepting.
        models.publishVersion(NAME, _v2Params());
        _assertMirror("v2 published", 0);
        _expectRefused(_reqV(2, V2_MIN_FEE), _notAccepting(2));
        _expectRefused(_reqV(3, FEE), _notAccepting(3));

        // Rollout of v2 with a canary share.
        models.startRollout(modelId, _plan(2));
        _assertMirror("rollout started", 0);
        _drawCanary(true);
        _expectRefused(_reqV(0, FEE), _feeBelow(FEE, V2_MIN_FEE));
        _drawCanary(true);
        (, job) = _requestAs(client, _reqV(0, V2_MIN_FEE));
        assertEq(job.version, 2, "canary drawn");
        assertTrue(job.counted, "canary counted");
        assertEq(job.minMemoryMB, V2_MEMORY, "v2 memory");
        _drawCanary(false);
        (, job) = _requestAs(client, _reqV(0, V2_MIN_FEE));
        assertEq(job.version, 1, "champion drawn");
        assertFalse(job.counted, "champion not counted");
        (, job) = _requestAs(client, _reqV(2, V2_MIN_FEE));
        assertTrue(job.counted, "the candidate named outright is counted");

        // Abort: v2 is Published and not a candidate any more.
        models.abortRollout(modelId);
        _assertMirror("rollout aborted", 0);
        _expectRefused(_reqV(2, V2_MIN_FEE), _notAccepting(2));

        // A second rollout, promoted once a job was counted.
        models.startRollout(modelId, _plan(2));
        _assertMirror("rollout restarted", 0);
        vm.prank(address(market));
        models.countJob(modelId, 2, IModelRollouts.JobOutcome.Settled);
        models.promoteRollout(modelId);
        _assertMirror("rollout promoted", 0);
        (, job) = _requestAs(client, _reqV(0, V2_MIN_FEE));
        assertEq(job.version, 2, "v2 active");
        (, job) = _requestAs(client, _reqV(1, FEE));
        assertEq(job.version, 1, "v1 deprecated, before its sunset");

        // Past v1's sunset.
        vm.warp(models.getVersion(modelId, 1).sunsetAt - 1);
        _assertMirror("one second before the sunset", 0);
        _requestAs(client, _reqV(1, FEE));
        vm.warp(models.getVersion(modelId, 1).sunsetAt);
        _assertMirror("at the sunset", 0);
        _expectRefused(_reqV(1, FEE), _notAccepting(1));

        // Activate v3: v2 Deprecated with a sunset of its own; then retire v2 and v3.
        models.publishVersion(NAME, _versionParams());
        models.activateVersion(modelId, 3);
        _assertMirror("v3 active, v2 deprecated", 0);
        (, job) = _requestAs(client, _reqV(2, V2_MIN_FEE));
        assertEq(job.version, 2, "v2 deprecated, before its sunset");
        models.retireVersion(modelId, 2);
        _assertMirror("v2 retired", 0);
        _expectRefused(_reqV(2, V2_MIN_FEE), _notAccepting(2));
        models.retireVersion(modelId, 3);
        _assertMirror("active version retired", 0);
        _expectRefused(_reqV(0, FEE), _notAccepting(0));
        _expectRefused(_reqV(3, FEE), _notAccepting(3));

        // A rollback: a Retired version activated again.
        models.activateVersion(modelId, 1);
        _assertMirror("v1 active again", 0);
        (, job) = _requestAs(client, _reqV(0, FEE));
        assertEq(job.version, 1, "rolled back");
    }

    /// @notice The DAO ending a rollout by activating or retiring a version updates the mirror.
    function test_rolloutEndedByTheDao_mirrorFollows() public {
        models.publishVersion(NAME, _v2Params());
        models.publishVersion(NAME, _versionParams());
        models.startRollout(modelId, _plan(2));
        models.activateVersion(modelId, 3); // aborts the rollout of v2
        _assertMirror("another version activated", 0);
        models.startRollout(modelId, _plan(2));
        models.activateVersion(modelId, 2); // promotes it
        _assertMirror("the candidate activated", 0);
        models.publishVersion(NAME, _versionParams());
        models.startRollout(modelId, _plan(4));
        models.retireVersion(modelId, 4); // retiring the candidate aborts
        _assertMirror("the candidate retired", 0);
        // v1 is Deprecated: a rollout of it is refused.
        vm.expectRevert(
            abi.encodeWithSelector(
                IModelRegistry.ModelRegistryInvalidStatus.selector,
                modelId,
                1,
                IModelRegistry.VersionStatus.Deprecated
            )
        );
        models.startRollout(modelId, _plan(1));
        _assertMirror("after a refused start", 0);
    }

    // ------------------------------------------------------------------ the words and the hooks

    function test_hooks_writeTheRegistrysWords_andEmit() public {
        IModelRegistry.VersionParams memory p = _v2Params();
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.VersionMirrored(
            modelId,
            2,
            ModelMirror.versionWord(ModelMirror.STATUS_PUBLISHED, 0, V2_MIN_FEE, V2_MEMORY)
        );
        models.publishVersion(NAME, p);

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ModelMirrored(modelId, ModelMirror.modelWord(1, MIN_FEE, MIN_MEMORY, 2, CANARY_BPS));
        models.startRollout(modelId, _plan(2));

        (uint256 m, uint256 v) = models.mirrorWords(modelId, 2);
        assertEq(m, ModelMirror.modelWord(1, MIN_FEE, MIN_MEMORY, 2, CANARY_BPS), "model word");
        assertEq(v, ModelMirror.versionWord(ModelMirror.STATUS_PUBLISHED, 0, V2_MIN_FEE, V2_MEMORY), "version word");
    }

    function test_hooks_onlyTheModelRegistry() public {
        address[3] memory callers = [stranger, address(this), address(registry)];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotModelRegistry.selector, callers[i])
            );
            market.syncModel(modelId, 0);
            vm.prank(callers[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotModelRegistry.selector, callers[i])
            );
            market.syncVersion(modelId, 1, 0);
        }
        _assertMirror("untouched", 0);
    }

    function test_mirroredJobTerms_onlyOnTheMarket() public {
        InferenceMarketCourt c = InferenceMarketCourt(market.court());
        vm.expectRevert(InferenceMarketCourt.InferenceMarketCourtDirectCall.selector);
        c.mirroredJobTerms(modelId, 0, 0);
    }

    // ------------------------------------------------------------------ markets of the registry

    function _otherMarket() internal returns (InferenceMarket m) {
        m = _newMarket();
        registry.grantRole(registry.MARKET_ROLE(), address(m));
    }

    /// @notice A market granted MARKET_ROLE after publication is not synced by the grant: it
    /// refuses the model's requests until anyone calls `syncModel`.
    function test_lateMarket_refusesUntilSynced() public {
        models.publishVersion(NAME, _v2Params());
        InferenceMarket other = _otherMarket();
        models.grantRole(models.MARKET_ROLE(), address(other));
        IInferenceMarketTypes.JobRequest memory r = _reqV(0, FEE);
        uint256 escrow = other.escrowOf(1, FEE, PROTOCOL_FEE_BPS);
        vm.deal(client, escrow);
        vm.prank(client);
        vm.expectRevert(_notAccepting(0));
        other.requestJob{value: escrow}(r);

        uint32[] memory versions = new uint32[](2);
        (versions[0], versions[1]) = (1, 2);
        vm.prank(stranger);
        models.syncModel(modelId, versions);
        _requestOn(other, client, r);
        uint256[] memory seeds = _seeds(0);
        for (uint32 v = 0; v <= 3; ++v) {
            for (uint256 i = 0; i < seeds.length; ++i) {
                _assertTermsOn(IInferenceMarketCourt(address(other)), "other market", v, seeds[i]);
            }
        }
        // Both markets get every later change.
        models.activateVersion(modelId, 2);
        (uint32 resolved, , , , ) = IInferenceMarketCourt(address(other)).mirroredJobTerms(modelId, 0, 0);
        assertEq(resolved, 2, "pushed to the other market");
        _assertMirror("and to the first", 0);
    }

    function test_syncModel_refusesUnknownModelsAndVersions() public {
        uint32[] memory versions = new uint32[](1);
        versions[0] = 2;
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownVersion.selector, modelId, 2));
        models.syncModel(modelId, versions);
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, unknown));
        models.syncModel(unknown, new uint32[](0));
    }

    function test_marketList_atMostFour_revokedLeaves_codelessSkipped() public {
        bytes32 role = models.MARKET_ROLE();
        address[] memory list = models.mirroredMarkets();
        assertEq(list.length, 1, "the fixture's market");
        assertEq(list[0], address(market), "listed");
        // Holders without code (a stand-in counter) are listed and skipped by every push.
        models.grantRole(role, address(0xA1));
        models.grantRole(role, address(0xA2));
        models.grantRole(role, address(0xA3));
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryTooManyMarkets.selector, address(0xA4), 4));
        models.grantRole(role, address(0xA4));
        models.publishVersion(NAME, _v2Params());
        models.activateVersion(modelId, 2);
        _assertMirror("pushed past codeless holders", 0);

        models.revokeRole(role, address(market));
        list = models.mirroredMarkets();
        assertEq(list.length, 3, "one left");
        for (uint256 i = 0; i < list.length; ++i) assertTrue(list[i] != address(market), "the revoked market");
        models.grantRole(role, address(0xA4));
        assertEq(models.mirroredMarkets().length, 4, "room again");
        // A market that left the role keeps its words: no more pushes reach it.
        models.retireVersion(modelId, 2);
        (uint32 resolved, bool accepting, , , ) = _court().mirroredJobTerms(modelId, 0, 0);
        assertEq(resolved, 2, "stale: still v2");
        assertTrue(accepting, "stale: still accepting");
    }

    // ------------------------------------------------------------------ fuzz

    /// @notice Any sequence of lifecycle steps (those the registry refuses are skipped) keeps the
    /// mirror equal to the registry.
    function testFuzz_mirrorMatchesRegistry(uint256 seed, uint8[10] memory steps) public {
        uint256[] memory fuzzSeeds = new uint256[](4);
        (fuzzSeeds[0], fuzzSeeds[1], fuzzSeeds[2], fuzzSeeds[3]) = (seed, 0, 4_999, 9_999);
        for (uint256 i = 0; i < steps.length; ++i) {
            uint8 op = steps[i] % 8;
            uint32 n = models.getModel(modelId).versionCount;
            uint32 v = uint32(uint256(steps[i] >> 3) % (n + 1)) + 1; // 1..n+1
            if (op == 0) {
                if (n < 5) models.publishVersion(NAME, (steps[i] & 8) == 0 ? _versionParams() : _v2Params());
            } else if (op == 1) {
                try models.activateVersion(modelId, v) {} catch {}
            } else if (op == 2) {
                try models.retireVersion(modelId, v) {} catch {}
            } else if (op == 3) {
                IModelRollouts.RolloutPlan memory plan = _plan(v);
                plan.canaryBps = uint16(1 + (uint256(keccak256(abi.encode(seed, i))) % 5_000));
                try models.startRollout(modelId, plan) {} catch {}
            } else if (op == 4) {
                try models.abortRollout(modelId) {} catch {}
            } else if (op == 5) {
                (IModelRollouts.Rollout memory ro, ) = models.rolloutOf(modelId);
                if (ro.status == IModelRollouts.RolloutStatus.Running) {
                    vm.prank(address(market));
                    models.countJob(modelId, ro.plan.candidate, IModelRollouts.JobOutcome.Settled);
                    models.promoteRollout(modelId);
                }
            } else if (op == 6) {
                vm.warp(block.timestamp + (uint256(steps[i]) * 1 days) / 16);
            } else {
                models.setDeprecationPeriod(uint40((uint256(steps[i]) * 1 days) / 8));
            }
            _assertMirror("fuzzed step", fuzzSeeds);
        }
    }
}
