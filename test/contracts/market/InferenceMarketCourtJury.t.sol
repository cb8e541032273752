// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./CourtFixture.sol";

// ==================================================================== jury

contract InferenceMarketJuryTest is CourtFixture {
    /// @notice The provider and the challenger cannot sit on the jury.
    function test_juryCommit_partiesExcluded() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        for (uint256 i = 0; i < 2; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJuryExcluded.selector, id, prov[i])
            );
            vm.prank(prov[i]);
            court.juryCommit(id, wordsOf(job), ch, bytes32("c"));
        }
    }

    /// @notice A juror cannot take two seats.
    function test_juryCommit_sameJurorTwiceAlreadySeated() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        _juryCommit(id, job, ch, prov[2], RESULT);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadySeated.selector, id, prov[2])
        );
        vm.prank(prov[2]);
        court.juryCommit(id, wordsOf(job), ch, bytes32("again"));
        assertEq(_lockedOf(prov[2]), COLLATERAL, "one seat's collateral");
    }

    /// @notice A juror locks the job's collateral; the jury's last seat starts the reveal.
    function test_juryCommit_locksCollateralAndLastSeatStartsReveal() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        assertEq(_juryCommit(id, job, ch, prov[2], RESULT), 0, "seat 0");
        assertEq(_juryCommit(id, job, ch, prov[3], RESULT), 1, "seat 1");
        assertEq(_status(id), CHALLENGED, "still committing");
        (, uint256 opens4) = _juryOpensAt(job, ch, prov[4]);
        vm.warp(opens4 > block.timestamp + 7 ? opens4 : block.timestamp + 7);
        bytes32 c = _commitment(id, prov[4], RESULT, _salt(prov[4]));
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatCommitted(id, prov[4], 2, c);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.RevealStarted(id, uint40(block.timestamp + REVEAL_WINDOW));
        vm.prank(prov[4]);
        assertEq(court.juryCommit(id, wordsOf(job), ch, c), 2, "seat 2");
        (IInferenceMarketTypes.JobStatus status, uint8 seated, , uint40 startedAt) = market.jobState(id);
        assertEq(uint256(status), JURY_REVEALING, "JuryRevealing");
        assertEq(seated, 3, "three seated");
        assertEq(startedAt, block.timestamp, "reveal started now");
        for (uint256 i = 2; i < 5; ++i) assertEq(_lockedOf(prov[i]), COLLATERAL, "juror collateral locked");
        (address who, , ) = market.seatOf(id, 1);
        assertEq(who, prov[3], "seatOf shows the jury seat");
        // A full jury takes no more seats.
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.JuryRevealing));
        vm.prank(prov[5]);
        court.juryCommit(id, wordsOf(job), ch, bytes32("late"));
    }

    /// @notice With a priority window, a juror whose jury rank has not opened is refused
    /// (NotAssigned with its rank and opening time), and accepted once it opens.
    function test_juryCommit_rankNotOpenRevertsNotAssigned() public {
        _setPriorityWindow(20);
        (uint256 id, Job memory job) = _k1Eth();
        // Deliver with the first candidate whose rank is open (waiting if need be).
        address deliverer = _firstAssignee(job);
        _deliver(id, job, deliverer, RESULT);
        address challenger = deliverer == prov[1] ? prov[2] : prov[1];
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, deliverer, RESULT, challenger);
        // The non-party candidate ranked last opens last.
        address late;
        uint256 lateRank;
        uint256 lateOpens;
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            address p = _candidate(i);
            if (p == deliverer || p == challenger) continue;
            (uint256 rank, uint256 opensAt) = _juryOpensAt(job, ch, p);
            if (rank > lateRank) (late, lateRank, lateOpens) = (p, rank, opensAt);
        }
        assertGe(lateRank, ch.jurySize, "beyond the first ranks");
        assertTrue(lateOpens > block.timestamp, "not open yet");
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotAssigned.selector,
                id,
                late,
                lateRank,
                uint40(lateOpens)
            )
        );
        vm.prank(late);
        court.juryCommit(id, wordsOf(job), ch, bytes32("c"));
        assertEq(_lockedOf(late), 0, "the refused commit locked nothing");
        if (lateOpens <= uint256(ch.challengedAt) + ch.commitWindow) {
            vm.warp(lateOpens);
            _juryCommit(id, job, ch, late, RESULT);
            assertEq(_lockedOf(late), COLLATERAL, "accepted once open");
        }
    }

    /// @notice Jurors commit only within the commit window (DeadlinePassed after it); an
    /// ineligible juror gets the registry's error.
    function test_juryCommit_windowAndEligibility() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        vm.expectRevert(_notEligible(outsider));
        vm.prank(outsider);
        court.juryCommit(id, wordsOf(job), ch, bytes32("c"));
        vm.expectRevert(_missingTags(fewTags, 0x2));
        vm.prank(fewTags);
        court.juryCommit(id, wordsOf(job), ch, bytes32("c"));
        uint40 commitDeadline = ch.challengedAt + ch.commitWindow;
        vm.warp(commitDeadline);
        _juryCommit(id, job, ch, prov[2], RESULT);
        vm.warp(uint256(commitDeadline) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector, id, commitDeadline)
        );
        vm.prank(prov[3]);
        court.juryCommit(id, wordsOf(job), ch, bytes32("c"));
    }

    /// @notice Jury calls must pass the challenge back exactly as emitted (JobMismatch).
    function test_jury_wrongChallengeRevertsJobMismatch() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        IInferenceMarketTypes.Challenge memory forged = abi.decode(abi.encode(ch), (IInferenceMarketTypes.Challenge));
        forged.juryFee = 0;
        bytes memory mismatch = _jobMismatch(id);
        vm.expectRevert(mismatch);
        vm.prank(prov[2]);
        court.juryCommit(id, wordsOf(job), forged, bytes32("c"));
        vm.expectRevert(mismatch);
        court.resolveChallenge(id, wordsOf(job), forged);
    }

    /// @notice A reveal must match the seat's commitment and come from its juror.
    function test_juryReveal_wrongSaltOrSeatRefused() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        address[] memory jurors = _seatJury(id, job, ch, _three(RESULT, RESULT, RESULT));
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, id, jurors[0])
        );
        vm.prank(jurors[0]);
        court.juryReveal(id, wordsOf(job), ch, 0, RESULT, bytes32("wrong salt"), OUTPUT);
        bytes32 salt = _salt(jurors[0]);
        vm.expectRevert(_notSeated(id, uint8(1), jurors[0]));
        vm.prank(jurors[0]);
        court.juryReveal(id, wordsOf(job), ch, 1, RESULT, salt, OUTPUT);
        _juryReveal(id, job, ch, jurors[0], 0, RESULT);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadyRevealed.selector, id, jurors[0])
        );
        vm.prank(jurors[0]);
        court.juryReveal(id, wordsOf(job), ch, 0, RESULT, salt, OUTPUT);
    }

    /// @notice The court contract refuses to run on its own storage: every function called on
    /// it directly reverts InferenceMarketCourtDirectCall.
    function test_court_directCallReverts() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        IInferenceMarketCourt direct = IInferenceMarketCourt(market.court());
        bytes memory refused = abi.encodeWithSelector(InferenceMarketCourt.InferenceMarketCourtDirectCall.selector);
        vm.expectRevert(refused);
        vm.prank(prov[2]);
        direct.juryCommit(id, wordsOf(job), ch, bytes32("c"));
        vm.expectRevert(refused);
        vm.prank(prov[2]);
        direct.juryReveal(id, wordsOf(job), ch, 0, RESULT, bytes32(0), OUTPUT);
        vm.expectRevert(refused);
        direct.resolveChallenge(id, wordsOf(job), ch);
        vm.expectRevert(refused);
        vm.prank(prov[2]);
        direct.challenge(id, wordsOf(job), prov[0], RESULT);
        vm.expectRevert(refused);
        direct.claim(_claims1(_claimOf(id, job, prov[0], RESULT)));
        vm.expectRevert(refused);
        direct.setChallengePolicy(_defaultChallengePolicy());
        vm.expectRevert(refused);
        direct.challengePolicy();
    }

    /// @dev The candidate whose assignment opens first for `job` (warping to it if need be).
    function _firstAssignee(Job memory job) internal returns (address best) {
        uint256 bestAt = type(uint256).max;
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            (, , uint40 opensAt) = market.assignment(wordsOf(job), _candidate(i));
            if (opensAt < bestAt) (best, bestAt) = (_candidate(i), opensAt);
        }
        if (bestAt > block.timestamp) vm.warp(bestAt);
    }
}
