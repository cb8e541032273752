// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./CourtFixture.sol";

// ==================================================================== challenges

contract InferenceMarketChallengeTest is CourtFixture {
    /// @notice A challenge within the window locks the challenger's bond (the job's collateral),
    /// snapshots the challenge policy and windows in the emitted Challenge, and marks the job
    /// Challenged.
    function test_challenge_locksBondAndEmitsChallenge() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(block.timestamp + 10);
        IInferenceMarketTypes.Challenge memory expected = IInferenceMarketTypes.Challenge({
            provider: prov[0],
            resultHash: RESULT,
            challenger: prov[1],
            jurySeed: uint256(keccak256(abi.encode(block.prevrandao, id, prov[1]))),
            challengedAt: uint40(block.timestamp),
            commitWindow: COMMIT_WINDOW,
            revealWindow: REVEAL_WINDOW,
            jurySize: JURY,
            juryFee: JURY_FEE,
            challengerShareBps: CHALLENGER_SHARE_BPS
        });
        // The challenger's first seat: all its stake is allocated to the market.
        vm.expectEmit(true, true, false, true, address(registry));
        emit IProviderRegistry.CollateralAllocated(prov[1], address(market), STAKE, STAKE);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ResultChallenged(id, prov[0], prov[1], expected);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        assertEq(keccak256(abi.encode(ch)), keccak256(abi.encode(expected)), "challenge as specified");
        assertEq(_lockedOf(prov[1]), COLLATERAL, "bond locked");
        assertEq(_free(prov[1]), STAKE - COLLATERAL, "the rest free in the market");
        assertEq(_lockedOf(prov[0]), COLLATERAL, "provider's collateral still locked");
        assertEq(_status(id), CHALLENGED, "Challenged");
    }

    /// @notice A challenge is accepted at the window's last second and refused one second later
    /// (ChallengeWindowClosed with the window's end).
    function test_challenge_afterWindowRevertsChallengeWindowClosed() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        uint40 endsAt = uint40(_deliveredAt(id) + CHALLENGE_WINDOW);
        vm.warp(uint256(endsAt) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketChallengeWindowClosed.selector, id, endsAt)
        );
        vm.prank(prov[1]);
        court.challenge(id, wordsOf(job), prov[0], RESULT);
        vm.warp(endsAt);
        _challenge(id, job, prov[0], RESULT, prov[1]);
        assertEq(_status(id), CHALLENGED, "accepted at the last second");
    }

    /// @notice The provider cannot challenge its own delivery.
    function test_challenge_byProviderRevertsJuryExcluded() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJuryExcluded.selector, id, prov[0])
        );
        vm.prank(prov[0]);
        court.challenge(id, wordsOf(job), prov[0], RESULT);
    }

    /// @notice A challenger must be eligible for the job: the market's exact error.
    function test_challenge_byIneligibleAccountReverts() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        _expectChallengeRevert(id, job, outsider, _notEligible(outsider));
        _expectChallengeRevert(id, job, pending, _notEligible(pending));
        _expectChallengeRevert(id, job, fewTags, _missingTags(fewTags, 0x2));
        _expectChallengeRevert(id, job, lowMemory, _lowMemory(lowMemory, 1024, MIN_MEMORY));
        registry.slash(prov[1], STAKE - 105e18, bytes32("dao"));
        (uint256 id2, Job memory job2) = _k1Eth();
        _deliver(id2, job2, prov[0], RESULT);
        // 105 staked: the first delivery allocates all 105, ten lock 100, leaving 5 free in the
        // market for a bond of 10, and nothing in the registry to top it up.
        for (uint256 i = 0; i < 10; ++i) {
            (uint256 x, Job memory jx) = _k1Eth();
            _deliver(x, jx, prov[1], RESULT);
        }
        _expectChallengeRevert(
            id2,
            job2,
            prov[1],
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                prov[1],
                0,
                COLLATERAL - 5e18
            )
        );
        assertEq(_status(id), DELIVERED, "still Delivered");
    }

    /// @notice A challenged delivery cannot be challenged again (InvalidStatus).
    function test_challenge_secondChallengeRevertsInvalidStatus() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        _challenge(id, job, prov[0], RESULT, prov[1]);
        _expectChallengeRevert(id, job, prov[2], _invalidStatus(id, IInferenceMarketTypes.JobStatus.Challenged));
        assertEq(_lockedOf(prov[2]), 0, "no second bond");
    }

    /// @notice A challenge must name the delivery as it was made (JobMismatch otherwise); an open
    /// job cannot be challenged (InvalidStatus).
    function test_challenge_wrongDeliveryRevertsJobMismatch() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        bytes memory mismatch = _jobMismatch(id);
        vm.expectRevert(mismatch);
        vm.prank(prov[1]);
        court.challenge(id, wordsOf(job), prov[0], OTHER_RESULT);
        vm.expectRevert(mismatch);
        vm.prank(prov[1]);
        court.challenge(id, wordsOf(job), prov[2], RESULT);
        (uint256 open, Job memory openJob) = _k1Eth();
        vm.expectRevert(_invalidStatus(open, IInferenceMarketTypes.JobStatus.Open));
        vm.prank(prov[1]);
        court.challenge(open, wordsOf(openJob), prov[0], RESULT);
    }

    function _expectChallengeRevert(uint256 id, Job memory job, address who, bytes memory err) internal {
        vm.expectRevert(err);
        vm.prank(who);
        court.challenge(id, wordsOf(job), prov[0], RESULT);
    }
}
