// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./CourtFixture.sol";

// ==================================================================== resolution

contract InferenceMarketResolveTest is CourtFixture {
    /// @notice Three jurors reveal another result: the provider is wrong. Its collateral is
    /// seized (SeatSlashed, registry stake); each juror gets the jury fee, the challenger its
    /// share of the rest, the client the rest; the client's whole escrow is refunded; the job is
    /// Refunded; every other collateral released.
    function test_resolve_providerWrongPayouts() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        bytes32[] memory votes = _three(OTHER_RESULT, OTHER_RESULT, OTHER_RESULT);
        address[] memory jurors = _seatJury(id, job, ch, votes);
        uint256 rest = COLLATERAL - 3 * uint256(JURY_FEE);
        uint256 toChallenger = (rest * CHALLENGER_SHARE_BPS) / BPS;
        uint256 toClient = rest - toChallenger;
        uint256 totalBefore = registry.totalStake();

        _revealFirst(id, job, ch, jurors, votes, 2);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[0], COLLATERAL, true);
        _expectResolved(
            id,
            IInferenceMarketTypes.ChallengeOutcome.ProviderWrong,
            OTHER_RESULT,
            3,
            toChallenger,
            0,
            toClient
        );
        vm.recordLogs();
        _juryReveal(id, job, ch, jurors[2], 2, votes[2]);
        assertEq(
            _count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.SlashDistributed.selector),
            0,
            "no faulty juror"
        );

        assertEq(_status(id), REFUNDED, "Refunded");
        assertEq(_ethCredit(client), _escrowNow(), "client's escrow refunded");
        assertEq(_stakeCredit(client), toClient, "client's stake-token share");
        assertEq(_stakeCredit(prov[1]), toChallenger, "challenger's share");
        assertEq(_ethCredit(prov[0]), 0, "wrong provider not paid");
        assertEq(_stakeCredit(prov[0]), 0, "nothing to the provider");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(_stakeCredit(jurors[i]), JURY_FEE, "jury fee");
            assertEq(_lockedOf(jurors[i]), 0, "juror released");
            assertEq(_stakeOf(jurors[i]), STAKE, "juror not slashed");
            assertEq(_faults(jurors[i]), 0, "no fault counted");
        }
        assertEq(_stakeOf(prov[0]), STAKE - COLLATERAL, "provider slashed in the registry");
        assertEq(_lockedOf(prov[0]), 0, "provider's lock gone");
        assertEq(registry.getProvider(prov[0]).disagreed, 1, "provider disagreed");
        assertEq(_stakeOf(prov[1]), STAKE, "challenger keeps its stake");
        assertEq(_lockedOf(prov[1]), 0, "bond released");
        assertEq(registry.totalStake(), totalBefore - COLLATERAL, "registry stake moved");
        assertEq(stakeToken.balanceOf(address(market)), COLLATERAL, "market holds the seized stake");
        assertEq(registry.slashedFunds(), 0, "nothing to the DAO");
        _assertSeatsCleared(id, 3);
    }

    /// @notice Three jurors reveal the provider's result: the challenger loses its bond (the
    /// jury fee to each juror, the rest to the provider), the provider is paid its fee and the
    /// protocol fee accrues; the job is Settled.
    function test_resolve_providerRightPayouts() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        bytes32[] memory votes = _three(RESULT, RESULT, RESULT);
        address[] memory jurors = _seatJury(id, job, ch, votes);
        uint256 toProvider = COLLATERAL - 3 * uint256(JURY_FEE);

        _revealFirst(id, job, ch, jurors, votes, 2);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[1], COLLATERAL, true);
        _expectResolved(id, IInferenceMarketTypes.ChallengeOutcome.ProviderRight, RESULT, 3, 0, toProvider, 0);
        _juryReveal(id, job, ch, jurors[2], 2, votes[2]);

        assertEq(_status(id), SETTLED, "Settled");
        assertEq(_ethCredit(prov[0]), FEE, "provider paid its fee");
        assertEq(_stakeCredit(prov[0]), toProvider, "provider gets the bond's rest");
        assertEq(market.protocolFees(address(0)), _escrowNow() - FEE, "protocol fee accrued");
        assertEq(_ethCredit(client), 0, "no refund");
        assertEq(_stakeCredit(client), 0, "nothing to the client");
        assertEq(_stakeCredit(prov[1]), 0, "nothing to the challenger");
        for (uint256 i = 0; i < 3; ++i) assertEq(_stakeCredit(jurors[i]), JURY_FEE, "jury fee");
        assertEq(_stakeOf(prov[1]), STAKE - COLLATERAL, "challenger's bond seized");
        assertEq(registry.getProvider(prov[1]).disagreed, 1, "challenger disagreed");
        assertEq(_stakeOf(prov[0]), STAKE, "provider keeps its stake");
        assertEq(_lockedOf(prov[0]) + _lockedOf(prov[1]), 0, "both released");
        assertEq(_faults(prov[0]), 0, "no fault counted");
        assertEq(stakeToken.balanceOf(address(market)), COLLATERAL, "market holds the seized bond");
    }

    /// @notice Finding 3 with the court: a DAO slash cannot reach the collateral a delivery locks,
    /// so a challenged provider always answers with its whole c. The DAO may still take its free
    /// stake meanwhile; the jury's verdict then takes exactly c, and the jurors their whole fee.
    function test_resolve_providerWrong_daoSlashCannotReachTheChallengedCollateral() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        uint256 c = job.collateral;
        uint256 free = STAKE - c;
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector,
                prov[0],
                STAKE - 1,
                free
            )
        );
        registry.slash(prov[0], STAKE - 1, bytes32("dao"));
        registry.slash(prov[0], free, bytes32("dao"));
        assertEq(_stakeOf(prov[0]), c, "only the locked collateral is left");
        bytes32[] memory votes = _three(OTHER_RESULT, OTHER_RESULT, OTHER_RESULT);
        address[] memory jurors = _seatJury(id, job, ch, votes);
        uint256 rest = c - 3 * ch.juryFee;
        uint256 toChallenger = (rest * CHALLENGER_SHARE_BPS) / BPS;
        _revealFirst(id, job, ch, jurors, votes, 2);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[0], c, true);
        _expectResolved(
            id,
            IInferenceMarketTypes.ChallengeOutcome.ProviderWrong,
            OTHER_RESULT,
            3,
            toChallenger,
            0,
            rest - toChallenger
        );
        _juryReveal(id, job, ch, jurors[2], 2, votes[2]);
        assertEq(_stakeOf(prov[0]), 0, "the provider loses its collateral, all it had left");
        for (uint256 i = 0; i < 3; ++i) assertEq(_stakeCredit(jurors[i]), ch.juryFee, "whole jury fee");
        assertEq(_stakeCredit(prov[1]), toChallenger, "challenger's share of the rest");
        assertEq(_stakeCredit(client), rest - toChallenger, "client's share of the rest");
        assertEq(_ethCredit(client), _escrowNow(), "client refunded");
    }

    /// @notice A split jury (three different results): no quorum, Inconclusive. The provider is
    /// paid, the bond released, nobody slashed, no stake token moves.
    function test_resolve_splitJuryInconclusive() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        bytes32[] memory votes = _three(RESULT, OTHER_RESULT, THIRD_RESULT);
        address[] memory jurors = _seatJury(id, job, ch, votes);
        _revealFirst(id, job, ch, jurors, votes, 2);
        _expectResolved(id, IInferenceMarketTypes.ChallengeOutcome.Inconclusive, RESULT, 1, 0, 0, 0);
        vm.recordLogs();
        _juryReveal(id, job, ch, jurors[2], 2, votes[2]);
        assertEq(
            _count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.SeatSlashed.selector),
            0,
            "nobody slashed"
        );
        assertEq(_status(id), SETTLED, "Settled");
        assertEq(_ethCredit(prov[0]), FEE, "provider paid");
        assertEq(_ethCredit(client), 0, "no refund");
        _assertNoStakeMoved(jurors);
    }

    /// @notice A jury that never reaches a quorum of seats: after the commit window anyone
    /// resolves it Inconclusive; the provider is paid, the bond and the seated juror's collateral
    /// released, nobody slashed or counted at fault.
    function test_resolveChallenge_juryNotFilledInconclusive() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        address[] memory jurors = new address[](1);
        jurors[0] = prov[2];
        _juryCommit(id, job, ch, prov[2], OTHER_RESULT);
        vm.warp(uint256(ch.challengedAt) + ch.commitWindow + 1);
        _expectResolved(id, IInferenceMarketTypes.ChallengeOutcome.Inconclusive, bytes32(0), 0, 0, 0, 0);
        vm.recordLogs();
        vm.prank(stranger);
        court.resolveChallenge(id, wordsOf(job), ch);
        assertEq(
            _count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.SeatSlashed.selector),
            0,
            "nobody slashed"
        );
        assertEq(_status(id), SETTLED, "Settled");
        assertEq(_ethCredit(prov[0]), FEE, "provider paid");
        assertEq(market.protocolFees(address(0)), _escrowNow() - FEE, "protocol fee");
        assertEq(
            registry.getProvider(prov[2]).missed + registry.getProvider(prov[2]).disagreed,
            0,
            "juror not at fault"
        );
        assertEq(registry.getProvider(prov[1]).disagreed, 0, "challenger not at fault");
        _assertNoStakeMoved(jurors);
        _assertSeatsCleared(id, 1);
        // Ended: no second resolution, no claim.
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotResolvable.selector,
                id,
                IInferenceMarketTypes.JobStatus.Settled
            )
        );
        court.resolveChallenge(id, wordsOf(job), ch);
        assertEq(_claim(id, job, prov[0], RESULT), 0, "not claimable after");
    }

    /// @notice A juror that never reveals is slashed after the reveal window (resolveChallenge):
    /// its collateral goes to the client (clientShareBps) and the revealing jurors; the two
    /// revealers are a quorum on another result, so the provider is wrong too.
    function test_resolveChallenge_silentJurorSlashed() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        address[] memory jurors = _seatJury(id, job, ch, _three(OTHER_RESULT, OTHER_RESULT, OTHER_RESULT));
        _juryReveal(id, job, ch, jurors[0], 0, OTHER_RESULT);
        _juryReveal(id, job, ch, jurors[1], 1, OTHER_RESULT);
        (, , , uint40 startedAt) = market.jobState(id);
        vm.warp(uint256(startedAt) + ch.revealWindow + 1);

        uint256 poolToClient = (COLLATERAL * CLIENT_SHARE_BPS) / BPS;
        uint256 perRevealer = (COLLATERAL - poolToClient) / 2;
        uint256 rest = COLLATERAL - 2 * uint256(JURY_FEE);
        uint256 toChallenger = (rest * CHALLENGER_SHARE_BPS) / BPS;
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, jurors[2], COLLATERAL, false);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, COLLATERAL, poolToClient, perRevealer, 2);
        _expectResolved(
            id,
            IInferenceMarketTypes.ChallengeOutcome.ProviderWrong,
            OTHER_RESULT,
            2,
            toChallenger,
            0,
            rest - toChallenger
        );
        court.resolveChallenge(id, wordsOf(job), ch);

        assertEq(_stakeOf(jurors[2]), STAKE - COLLATERAL, "silent juror slashed");
        assertEq(registry.getProvider(jurors[2]).missed, 1, "silent juror missed");
        assertEq(_stakeCredit(jurors[2]), 0, "silent juror earns nothing");
        for (uint256 i = 0; i < 2; ++i) {
            assertEq(_stakeCredit(jurors[i]), perRevealer + JURY_FEE, "revealer: pool share + jury fee");
        }
        assertEq(_stakeCredit(client), poolToClient + rest - toChallenger, "client: pool share + verdict share");
        assertEq(_stakeCredit(prov[1]), toChallenger, "challenger share");
        assertEq(_stakeOf(prov[0]), STAKE - COLLATERAL, "provider slashed");
        assertEq(stakeToken.balanceOf(address(market)), 2 * uint256(COLLATERAL), "two collaterals seized");
        assertEq(_status(id), REFUNDED, "Refunded");
    }

    /// @notice With a quorum, a juror that revealed another result is faulty and slashed too.
    function test_resolve_minorityJurorSlashedWithQuorum() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        bytes32[] memory votes = _three(RESULT, RESULT, OTHER_RESULT);
        address[] memory jurors = _seatJury(id, job, ch, votes);
        _revealFirst(id, job, ch, jurors, votes, 2);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, jurors[2], COLLATERAL, true);
        _juryReveal(id, job, ch, jurors[2], 2, votes[2]);
        uint256 poolToClient = (COLLATERAL * CLIENT_SHARE_BPS) / BPS;
        uint256 perRevealer = (COLLATERAL - poolToClient) / 2;
        assertEq(_stakeOf(jurors[2]), STAKE - COLLATERAL, "minority juror slashed");
        assertEq(registry.getProvider(jurors[2]).disagreed, 1, "minority juror disagreed");
        for (uint256 i = 0; i < 2; ++i) assertEq(_stakeCredit(jurors[i]), perRevealer + JURY_FEE, "majority juror");
        assertEq(_stakeCredit(prov[0]), COLLATERAL - 2 * uint256(JURY_FEE), "provider gets the bond's rest");
        assertEq(_stakeCredit(client), poolToClient, "client's share of the juror pool");
        assertEq(_status(id), SETTLED, "provider right: Settled");
    }

    /// @notice A quorum of jurors seated when the commit window ends: the first reveal starts
    /// the reveal phase from the commit deadline; all reveals resolve.
    function test_juryReveal_afterCommitWindowWithQuorumStartsReveal() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        bytes32[] memory votes = _two(OTHER_RESULT, OTHER_RESULT);
        address[] memory jurors = _seatJury(id, job, ch, votes);
        uint40 commitDeadline = ch.challengedAt + ch.commitWindow;
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.Challenged));
        vm.prank(jurors[0]);
        court.juryReveal(id, wordsOf(job), ch, 0, OTHER_RESULT, _salt(jurors[0]), OUTPUT);
        vm.warp(uint256(commitDeadline) + 1);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.RevealStarted(id, commitDeadline + ch.revealWindow);
        _juryReveal(id, job, ch, jurors[0], 0, OTHER_RESULT);
        (IInferenceMarketTypes.JobStatus status, , , uint40 startedAt) = market.jobState(id);
        assertEq(uint256(status), JURY_REVEALING, "JuryRevealing");
        assertEq(startedAt, commitDeadline, "from the commit deadline");
        _juryReveal(id, job, ch, jurors[1], 1, OTHER_RESULT);
        assertEq(_status(id), REFUNDED, "two of three agree: provider wrong");
    }

    /// @notice resolveChallenge is refused while jurors may still commit, and while a seated
    /// jury may still reveal (NotResolvable).
    function test_resolveChallenge_tooEarlyRevertsNotResolvable() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        uint40 commitDeadline = ch.challengedAt + ch.commitWindow;
        vm.warp(commitDeadline);
        vm.expectRevert(_notResolvable(id, IInferenceMarketTypes.JobStatus.Challenged));
        court.resolveChallenge(id, wordsOf(job), ch);
        _seatJury(id, job, ch, _three(RESULT, RESULT, RESULT));
        vm.expectRevert(_notResolvable(id, IInferenceMarketTypes.JobStatus.JuryRevealing));
        court.resolveChallenge(id, wordsOf(job), ch);
        vm.warp(block.timestamp + ch.revealWindow);
        vm.expectRevert(_notResolvable(id, IInferenceMarketTypes.JobStatus.JuryRevealing));
        court.resolveChallenge(id, wordsOf(job), ch);
        vm.warp(block.timestamp + 1);
        court.resolveChallenge(id, wordsOf(job), ch);
        assertEq(_status(id), SETTLED, "all silent: inconclusive, provider paid");
        (uint256 idOpen, Job memory jobOpen) = _delivered(RESULT);
        vm.expectRevert(_jobMismatch(idOpen));
        court.resolveChallenge(idOpen, wordsOf(jobOpen), ch);
    }

    /// @notice With a priority window the assignee's window protects it from copies; once it
    /// passed, the next rank may copy a late assignee's pending (garbage) result, but then it
    /// answers for it: the copy is challenged, the jury reveals the true result, and the copier
    /// is slashed while the assignee is untouched.
    function test_copierOfGarbageResultEndsUpSlashed() public {
        _setPriorityWindow(20);
        (uint256 id, Job memory job) = _k1Eth();
        (address assignee, address copier, uint256 copierOpens) = _assigneeAndNext(job);
        bytes32 garbage = keccak256("garbage");
        // During the assignee's window the copy is refused.
        if (copierOpens > block.timestamp) {
            vm.expectRevert();
            vm.prank(copier);
            market.submitResult(id, wordsOf(job), garbage, OUTPUT);
            vm.warp(copierOpens);
        }
        _deliver(id, job, copier, garbage);

        address challenger = _otherThan(assignee, copier);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, copier, garbage, challenger);
        bytes32[] memory votes = _three(RESULT, RESULT, RESULT);
        address[] memory jurors = _seatJury(id, job, ch, votes);
        _revealFirst(id, job, ch, jurors, votes, 2);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, copier, COLLATERAL, true);
        _juryReveal(id, job, ch, jurors[2], 2, votes[2]);
        assertEq(_stakeOf(copier), STAKE - COLLATERAL, "the copier is slashed");
        assertEq(_stakeOf(assignee), STAKE, "the assignee is untouched");
        assertEq(_ethCredit(copier), 0, "the copier earns nothing");
        assertEq(_ethCredit(client), _escrowNow(), "the client is refunded");
        assertEq(_status(id), REFUNDED, "Refunded");
    }

    /// @notice The end-to-end story (as the TypeScript e2e runs it): a client pays for a k = 1
    /// job, the provider delivers garbage, an honest provider challenges, a jury re-runs the job
    /// and reveals the true result, the provider is slashed; everyone withdraws what they are
    /// owed and the market is left holding nothing.
    function test_scenario_garbageK1ResultChallengedAndProviderSlashed() public {
        (uint256 id, Job memory job) = _k1Eth();
        bytes32 garbage = keccak256("garbage");
        _deliver(id, job, prov[0], garbage);
        vm.warp(block.timestamp + CHALLENGE_WINDOW / 2);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], garbage, prov[6]);
        bytes32[] memory votes = _three(RESULT, RESULT, RESULT);
        address[] memory jurors = _seatJury(id, job, ch, votes);
        vm.warp(block.timestamp + 3);
        _revealAll(id, job, ch, jurors, votes);
        // The provider cannot claim afterwards.
        vm.warp(block.timestamp + CHALLENGE_WINDOW);
        assertEq(_claim(id, job, prov[0], garbage), 0, "no claim after losing");

        vm.prank(client);
        assertEq(market.withdraw(address(0)), _escrowNow(), "client withdraws its escrow");
        assertEq(client.balance, _escrowNow(), "client got its ETH back");
        uint256 rest = COLLATERAL - 3 * uint256(JURY_FEE);
        uint256 toChallenger = (rest * CHALLENGER_SHARE_BPS) / BPS;
        vm.prank(client);
        market.withdraw(address(stakeToken));
        assertEq(stakeToken.balanceOf(client), rest - toChallenger, "client's compensation");
        vm.prank(prov[6]);
        market.withdraw(address(stakeToken));
        assertEq(stakeToken.balanceOf(prov[6]), toChallenger, "challenger's reward");
        for (uint256 i = 0; i < 3; ++i) {
            vm.prank(jurors[i]);
            market.withdraw(address(stakeToken));
            assertEq(stakeToken.balanceOf(jurors[i]), JURY_FEE, "juror's fee");
        }
        assertEq(stakeToken.balanceOf(address(market)), 0, "no stake token left");
        assertEq(address(market).balance, 0, "no ETH left");
        assertEq(_stakeOf(prov[0]), STAKE - COLLATERAL, "provider slashed");
        // The slashed provider can still take work with what it has left.
        (uint256 next, Job memory nextJob) = _k1Eth();
        _deliver(next, nextJob, prov[0], RESULT);
    }

    // ---------------------------------------------------------------- helpers

    function _notResolvable(uint256 id, IInferenceMarketTypes.JobStatus status) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotResolvable.selector, id, status);
    }

    function _assertNoStakeMoved(address[] memory jurors) internal view {
        assertEq(stakeToken.balanceOf(address(market)), 0, "no stake token moved");
        for (uint256 i = 0; i < jurors.length; ++i) {
            assertEq(_stakeOf(jurors[i]), STAKE, "juror not slashed");
            assertEq(_lockedOf(jurors[i]), 0, "juror released");
        }
        assertEq(_stakeOf(prov[0]), STAKE, "provider not slashed");
        assertEq(_stakeOf(prov[1]), STAKE, "challenger not slashed");
        assertEq(_lockedOf(prov[0]) + _lockedOf(prov[1]), 0, "parties released");
    }

    function _assertSeatsCleared(uint256 id, uint256 seats) internal view {
        for (uint256 i = 0; i < seats; ++i) {
            (address who, , ) = market.seatOf(id, uint8(i));
            assertEq(who, address(0), "seats deleted");
        }
    }

    /// @dev The candidate ranked first for `job` and the candidate whose rank opens next.
    function _assigneeAndNext(
        Job memory job
    ) internal view returns (address assignee, address next, uint256 nextOpens) {
        uint256 firstAt = type(uint256).max;
        nextOpens = type(uint256).max;
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            (, , uint40 opensAt) = market.assignment(wordsOf(job), _candidate(i));
            if (opensAt < firstAt) {
                (next, nextOpens) = (assignee, firstAt);
                (assignee, firstAt) = (_candidate(i), opensAt);
            } else if (opensAt < nextOpens) {
                (next, nextOpens) = (_candidate(i), opensAt);
            }
        }
    }

    function _otherThan(address a, address b) internal view returns (address) {
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            if (_candidate(i) != a && _candidate(i) != b) return _candidate(i);
        }
        return address(0);
    }
}
