// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== commit / reveal (k > 1)

contract InferenceMarketCommitRevealTest is InferenceMarketFixture {
    function _expectCommitRevert(uint256 id, Job memory job, address p, bytes memory err) internal {
        bytes32 c = _commitment(id, p, RESULT, _salt(p));
        vm.expectRevert(err);
        vm.prank(p);
        market.commit(id, wordsOf(job), c);
    }

    function _expectRevealRevert(
        uint256 id,
        Job memory job,
        address p,
        uint8 seat,
        bytes32 result,
        bytes32 salt,
        bytes memory err
    ) internal {
        vm.expectRevert(err);
        vm.prank(p);
        market.reveal(id, wordsOf(job), seat, result, salt, OUTPUT);
    }

    /// @dev Requests a k-job and seats providers 0..k-1, committing `results[i]`.
    function _seatAll(uint8 k, bytes32[] memory results) internal returns (uint256 id, Job memory job) {
        (id, job) = _requestEth(k);
        for (uint256 i = 0; i < k; ++i) {
            assertEq(_commit(id, job, prov[i], results[i]), i, "seat index");
        }
    }

    function _results3(bytes32 a, bytes32 b, bytes32 c) internal pure returns (bytes32[] memory r) {
        r = new bytes32[](3);
        (r[0], r[1], r[2]) = (a, b, c);
    }

    function _stake(address p) internal view returns (uint256) {
        return registry.getProvider(p).stake;
    }

    function _locked(address p) internal view returns (uint256) {
        return _held(p);
    }

    // ---------------------------------------------------------------- commit

    function test_commit_seatsProviderAndLocksCollateral() public {
        (uint256 id, Job memory job) = _requestEth(3);
        bytes32 c = _commitment(id, prov[0], RESULT, _salt(prov[0]));

        // The first seat allocates all of the provider's stake to the market.
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralAllocated(prov[0], address(market), STAKE, STAKE);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatCommitted(id, prov[0], 0, c);
        vm.prank(prov[0]);
        uint8 seat = market.commit(id, wordsOf(job), c);

        assertEq(seat, 0, "first seat");
        (address p, bool revealed, bytes32 value) = market.seatOf(id, 0);
        assertEq(p, prov[0], "seat provider");
        assertFalse(revealed, "not revealed");
        assertEq(value, keccak256(abi.encode(c, prov[0])), "commitment stored, bound to its provider");
        assertEq(_locked(prov[0]), COLLATERAL, "collateral locked");
        assertEq(_free(prov[0]), STAKE - COLLATERAL, "the rest free in the market");
        assertEq(_stake(prov[0]), STAKE, "stake unchanged");
        assertEq(_status(id), OPEN, "still open");
        assertEq(_seated(id), 1, "one seated");
        assertEq(_commit(id, job, prov[1], RESULT), 1, "second seat");
    }

    function test_commit_lastSeatStartsReveal() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        vm.warp(START + 30);
        _commit(id, job, prov[1], RESULT);
        bytes32 c = _commitment(id, prov[2], RESULT, _salt(prov[2]));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.RevealStarted(id, uint40(START + 30 + REVEAL_WINDOW));
        vm.prank(prov[2]);
        market.commit(id, wordsOf(job), c);
        assertEq(_status(id), REVEALING, "revealing");
        assertEq(_seated(id), 3, "three seated");
        assertEq(_revealStart(id), START + 30, "reveal starts at the last commit");
    }

    function test_commit_revertsWhenAlreadySeated() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _expectCommitRevert(
            id,
            job,
            prov[0],
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadySeated.selector, id, prov[0])
        );
        assertEq(_locked(prov[0]), COLLATERAL, "locked once");
    }

    function test_commit_revertsOnSingleRedundancyJob() public {
        (uint256 id, Job memory job) = _requestEth(1);
        _expectCommitRevert(
            id,
            job,
            prov[0],
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketWrongRedundancy.selector, id, 1)
        );
    }

    function test_commit_revertsOnJobMismatch() public {
        (uint256 id, Job memory job) = _requestEth(3);
        job.collateral = 0; // a provider trying to lock nothing
        _expectCommitRevert(id, job, prov[0], _jobMismatch(id));
    }

    function test_commit_acceptsAtCommitDeadline() public {
        (uint256 id, Job memory job) = _requestEth(3);
        vm.warp(job.commitDeadline);
        assertEq(_commit(id, job, prov[0], RESULT), 0, "the deadline itself is in time");
    }

    function test_commit_revertsAfterCommitDeadline() public {
        (uint256 id, Job memory job) = _requestEth(3);
        vm.warp(job.commitDeadline + 1);
        _expectCommitRevert(
            id,
            job,
            prov[0],
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector, id, job.commitDeadline)
        );
    }

    function test_commit_revertsWhenSeatsFull() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _expectCommitRevert(id, job, prov[3], _invalidStatus(id, IInferenceMarketTypes.JobStatus.Revealing));
        assertEq(_locked(prov[3]), 0, "nothing locked");
    }

    function test_commit_versionRetiredAfterRequest_stillServed() public {
        (uint256 id, Job memory job) = _requestEth(3);
        models.retireVersion(modelId, 1);
        uint8[3] memory seats;
        for (uint256 i = 0; i < 3; ++i) seats[i] = _commit(id, job, prov[i], RESULT);
        for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], seats[i], RESULT);
        assertEq(_status(id), uint256(IInferenceMarketTypes.JobStatus.Settled), "settled");
    }

    function test_cancel_openK3Job_releasesSeatsWithoutFault() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        assertEq(_locked(prov[0]), COLLATERAL, "locked by the seat");
        models.retireVersion(modelId, 1);
        vm.prank(client);
        market.cancel(id, wordsOf(job));
        assertEq(_locked(prov[0]), 0, "released");
        assertEq(_stake(prov[0]), STAKE, "not slashed");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "refunded");
        (address seatProvider, , ) = market.seatOf(id, 0);
        assertEq(seatProvider, address(0), "seats cleared");
    }

    function test_cancel_revealingJob_reverts() public {
        (uint256 id, Job memory job) = _requestEth(3);
        for (uint256 i = 0; i < 3; ++i) _commit(id, job, prov[i], RESULT);
        models.retireVersion(modelId, 1);
        vm.prank(client);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotCancellable.selector,
                id,
                IInferenceMarketTypes.JobStatus.Revealing
            )
        );
        market.cancel(id, wordsOf(job));
    }

    function test_commit_locksCollateralSnapshotNotCurrentPolicy() public {
        (uint256 id, Job memory job) = _requestEth(3);
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = 500e18;
        _court().setPolicy(p);
        _commit(id, job, prov[0], RESULT);
        assertEq(_locked(prov[0]), COLLATERAL, "collateral of the request");
    }

    // ---------------------------------------------------------------- reveal

    function test_reveal_revertsWhileCommitOpen() public {
        (uint256 id, Job memory job) = _requestEth(3);
        uint8 seat = _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        _expectRevealRevert(
            id,
            job,
            prov[0],
            seat,
            RESULT,
            _salt(prov[0]),
            _invalidStatus(id, IInferenceMarketTypes.JobStatus.Open)
        );
    }

    function test_reveal_revertsWhenCommitClosedWithoutQuorum() public {
        (uint256 id, Job memory job) = _requestEth(3);
        uint8 seat = _commit(id, job, prov[0], RESULT);
        vm.warp(job.commitDeadline + 1);
        _expectRevealRevert(
            id,
            job,
            prov[0],
            seat,
            RESULT,
            _salt(prov[0]),
            _invalidStatus(id, IInferenceMarketTypes.JobStatus.Open)
        );
    }

    function test_reveal_revertsOnJobMismatch() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        job.quorum = 1;
        _expectRevealRevert(id, job, prov[0], 0, RESULT, _salt(prov[0]), _jobMismatch(id));
    }

    function test_reveal_revertsOnWrongSalt() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            keccak256("wrong salt"),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, id, prov[0])
        );
    }

    function test_reveal_revertsOnWrongResult() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            OTHER_RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, id, prov[0])
        );
    }

    function test_reveal_revertsWhenNotSeated() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _expectRevealRevert(id, job, prov[3], 0, RESULT, _salt(prov[3]), _notSeated(id, 0, prov[3]));
        // A seated provider naming someone else's seat, or a seat that does not exist.
        _expectRevealRevert(id, job, prov[0], 1, RESULT, _salt(prov[0]), _notSeated(id, 1, prov[0]));
        _expectRevealRevert(id, job, prov[0], 5, RESULT, _salt(prov[0]), _notSeated(id, 5, prov[0]));
    }

    function test_reveal_revertsOnDoubleReveal() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadyRevealed.selector, id, prov[0])
        );
        assertEq(_revealed(id), 1, "counted once");
    }

    function test_reveal_acceptsAtRevealDeadline() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        vm.warp(START + REVEAL_WINDOW);
        _reveal(id, job, prov[0], 0, RESULT);
        assertEq(_revealed(id), 1, "the deadline itself is in time");
    }

    function test_reveal_revertsAfterRevealWindow() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        vm.warp(START + REVEAL_WINDOW + 1);
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketRevealClosed.selector,
                id,
                uint40(START + REVEAL_WINDOW)
            )
        );
    }

    function test_reveal_storesResultAndEmits() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ResultRevealed(id, prov[1], RESULT, OUTPUT);
        _reveal(id, job, prov[1], 1, RESULT);
        (address p, bool revealed, bytes32 value) = market.seatOf(id, 1);
        assertEq(p, prov[1], "provider");
        assertTrue(revealed, "revealed");
        assertEq(value, RESULT, "value is now the result hash");
        assertEq(_status(id), REVEALING, "still revealing");
    }

    // ---------------------------------------------------------------- settlement

    function test_reveal_allAgreeSettlesAndPaysEveryone() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        uint256 protocolFee = (3 * uint256(FEE) * PROTOCOL_FEE_BPS) / 10_000;
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobSettled(id, RESULT, 3, 0);
        _reveal(id, job, prov[2], 2, RESULT);

        assertEq(_status(id), SETTLED, "settled");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(market.balanceOf(prov[i], address(0)), FEE, "fee");
            assertEq(_locked(prov[i]), 0, "collateral released");
            assertEq(_stake(prov[i]), STAKE, "not slashed");
            assertEq(_faults(prov[i]), 0, "no fault counted");
        }
        assertEq(market.protocolFees(address(0)), protocolFee, "protocol fee");
        assertEq(market.balanceOf(client, address(0)), 0, "no refund");
        assertEq(_escrow(3), 3 * uint256(FEE) + protocolFee, "all escrow accounted");
        assertEq(registry.slashedFunds(), 0, "nothing slashed");
    }

    function test_reveal_allAgreeRefundsOnlyRounding() public {
        // fee 333, 1 %: escrow = 999 + 9; paid 999, protocol 9, refund 0.
        IModelRegistry.VersionParams memory vp = _versionParams();
        vp.minFee = 0;
        models.publishVersion(NAME, vp);
        models.activateVersion(modelId, 2);
        IInferenceMarketTypes.JobRequest memory r = _req(3, address(0));
        r.version = 2;
        r.feePerProvider = 333;
        (uint256 id, Job memory job) = _requestAs(client, r);
        for (uint256 i = 0; i < 3; ++i) _commit(id, job, prov[i], RESULT);
        for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], uint8(i), RESULT);
        uint256 credited = market.protocolFees(address(0)) + market.balanceOf(client, address(0));
        for (uint256 i = 0; i < 3; ++i) credited += market.balanceOf(prov[i], address(0));
        assertEq(credited, address(market).balance, "every wei credited");
        assertLe(market.balanceOf(client, address(0)), 1, "client refund is rounding at most");
    }

    function test_reveal_minoritySlashedMajorityPaid() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, OTHER_RESULT, RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, OTHER_RESULT);
        uint256 fees = 3 * uint256(FEE);
        uint256 paidProtocol = (2 * uint256(FEE) * PROTOCOL_FEE_BPS) / 10_000;
        uint256 refund = FEE + (fees * PROTOCOL_FEE_BPS) / 10_000 - paidProtocol;

        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.ProviderSlashed(prov[1], address(market), COLLATERAL, bytes32(id));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[1], COLLATERAL, true);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, COLLATERAL, COLLATERAL / 2, COLLATERAL / 4, 2);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobSettled(id, RESULT, 2, refund);
        _reveal(id, job, prov[2], 2, RESULT);

        assertEq(_status(id), SETTLED, "settled");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "majority paid");
        assertEq(market.balanceOf(prov[2], address(0)), FEE, "majority paid");
        assertEq(market.balanceOf(prov[1], address(0)), 0, "minority unpaid");
        assertEq(_stake(prov[1]), STAKE - COLLATERAL, "minority slashed");
        assertEq(_locked(prov[1]), 0, "minority collateral no longer locked");
        assertEq(registry.slashedFunds(), 0, "a seat's slash no longer accrues to the DAO");
        assertEq(stakeToken.balanceOf(address(market)), COLLATERAL, "the seized collateral is in the market");
        assertEq(market.balanceOf(client, address(stakeToken)), COLLATERAL / 2, "client: its share of the slash");
        assertEq(market.balanceOf(prov[0], address(stakeToken)), COLLATERAL / 4, "winner: half the rest");
        assertEq(market.balanceOf(prov[2], address(stakeToken)), COLLATERAL / 4, "winner: half the rest");
        assertEq(market.balanceOf(prov[1], address(stakeToken)), 0, "the slashed seat gets nothing");
        assertEq(registry.getProvider(prov[1]).disagreed, 1, "disagreed++");
        assertEq(registry.getProvider(prov[1]).missed, 0, "not missed");
        assertEq(_faults(prov[0]), 0, "no fault counted");
        assertEq(_free(prov[0]), STAKE, "majority collateral back in the market's free collateral");
        assertEq(_stake(prov[0]), STAKE, "majority keeps its stake");
        assertEq(_locked(prov[0]), 0, "majority collateral released");
        assertEq(market.balanceOf(client, address(0)), refund, "client gets one fee and its protocol share back");
        assertEq(refund, FEE + 1e16, "exact refund");
        assertEq(market.protocolFees(address(0)), paidProtocol, "protocol fee on paid fees only");
    }

    function test_finalize_slashesNonRevealer() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Revealing));
        market.finalize(id, wordsOf(job));

        vm.warp(START + REVEAL_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[2], COLLATERAL, false);
        vm.prank(stranger);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), SETTLED, "settled");
        assertEq(_stake(prov[2]), STAKE - COLLATERAL, "non-revealer slashed");
        assertEq(_locked(prov[2]), 0, "released");
        assertEq(registry.getProvider(prov[2]).missed, 1, "missed++");
        assertEq(registry.getProvider(prov[2]).disagreed, 0, "not a disagreement");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
        assertEq(market.balanceOf(prov[1], address(0)), FEE, "paid");
        assertEq(market.balanceOf(client, address(0)), FEE + 1e16, "one fee and its protocol share back");
        assertEq(market.balanceOf(stranger, address(0)), 0, "finalizing pays nothing");
    }

    function test_reveal_threeDifferentResultsRefundsClient() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, OTHER_RESULT, THIRD_RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, OTHER_RESULT);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, _escrow(3), true);
        _reveal(id, job, prov[2], 2, THIRD_RESULT);

        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "full refund");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee");
        assertEq(registry.slashedFunds(), 0, "nobody slashed");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(_stake(prov[i]), STAKE, "stake kept");
            assertEq(_locked(prov[i]), 0, "collateral released");
            assertEq(market.balanceOf(prov[i], address(0)), 0, "unpaid");
            assertEq(_faults(prov[i]), 0, "no fault counted");
        }
    }

    function test_reveal_tieWithoutQuorumRefundsClient() public {
        bytes32[] memory results = new bytes32[](4);
        (results[0], results[1], results[2], results[3]) = (RESULT, OTHER_RESULT, RESULT, OTHER_RESULT);
        (uint256 id, Job memory job) = _seatAll(4, results);
        assertEq(job.quorum, 3, "k = 4 needs 3");
        for (uint256 i = 0; i < 4; ++i) _reveal(id, job, prov[i], uint8(i), results[i]);

        assertEq(_status(id), REFUNDED, "2 vs 2 is no quorum");
        assertEq(market.balanceOf(client, address(0)), _escrow(4), "full refund");
        assertEq(registry.slashedFunds(), 0, "nobody slashed");
        for (uint256 i = 0; i < 4; ++i) {
            assertEq(_stake(prov[i]), STAKE, "stake kept");
            assertEq(_locked(prov[i]), 0, "collateral released");
            assertEq(market.balanceOf(prov[i], address(0)), 0, "unpaid");
        }
    }

    function test_finalize_tooFewSeatsRefundsAndReleases() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Open));
        market.finalize(id, wordsOf(job));

        vm.warp(job.commitDeadline + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, _escrow(3), false);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "full refund");
        assertEq(_locked(prov[0]), 0, "collateral released");
        assertEq(_stake(prov[0]), STAKE, "not slashed");
        IProviderRegistry.Provider memory rec = registry.getProvider(prov[0]);
        assertEq(rec.disagreed + rec.missed, 0, "no counter moved");
    }

    function test_finalize_noSeatsRefunds() public {
        (uint256 id, Job memory job) = _request(2, address(payToken));
        vm.warp(job.commitDeadline + 1);
        market.finalize(id, wordsOf(job));
        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(payToken)), _escrow(2), "token refund");
    }

    function test_reveal_revertsAtCommitDeadlineWhileCommitStillOpen() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        vm.warp(job.commitDeadline);
        // At the deadline itself commits are still taken, so no reveal may happen yet (a reveal
        // here would let a late committer copy the revealed result in the same second).
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            _salt(prov[0]),
            _invalidStatus(id, IInferenceMarketTypes.JobStatus.Open)
        );
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Open));
        market.finalize(id, wordsOf(job));
        assertEq(_commit(id, job, prov[2], RESULT), 2, "last seat taken at the deadline");
        assertEq(_status(id), REVEALING, "full: revealing");
        assertEq(_revealStart(id), job.commitDeadline, "reveal starts at the last commit");
    }

    function test_jobState_staysOpenUntilRevealOrFinalizeStartsTheRound() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        vm.warp(job.commitDeadline + 1);
        // The transition to Revealing is lazy: the stored status only changes on the next call.
        assertEq(_status(id), OPEN, "stored status still Open");
        assertEq(_revealStart(id), 0, "no reveal start stored yet");
        _reveal(id, job, prov[0], 0, RESULT);
        assertEq(_status(id), REVEALING, "revealing after the first reveal");
        assertEq(_revealStart(id), job.commitDeadline, "from the commit deadline");
    }

    function test_reveal_afterCommitDeadlineWithQuorumSeated() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        vm.warp(job.commitDeadline + 1);

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.RevealStarted(id, job.commitDeadline + job.revealWindow);
        _reveal(id, job, prov[0], 0, RESULT);
        assertEq(_status(id), REVEALING, "revealing");
        assertEq(_revealStart(id), job.commitDeadline, "reveal phase counted from the commit deadline");

        // No late commit.
        _expectCommitRevert(id, job, prov[2], _invalidStatus(id, IInferenceMarketTypes.JobStatus.Revealing));
        _reveal(id, job, prov[1], 1, RESULT);

        uint256 refund = _escrow(3) - 2 * uint256(FEE) - (2 * uint256(FEE) * PROTOCOL_FEE_BPS) / 10_000;
        assertEq(_status(id), SETTLED, "all seated revealed: settled");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
        assertEq(market.balanceOf(prov[1], address(0)), FEE, "paid");
        assertEq(market.balanceOf(client, address(0)), refund, "empty seat refunded");
        assertEq(registry.slashedFunds(), 0, "nobody slashed");
    }

    function test_reveal_afterCommitDeadlineRevealWindowCountsFromDeadline() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        uint40 revealDeadline = job.commitDeadline + job.revealWindow;
        vm.warp(revealDeadline + 1);
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketRevealClosed.selector, id, revealDeadline)
        );
        // Nobody revealed: no quorum, refund, no slash; the counters record the misses.
        market.finalize(id, wordsOf(job));
        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "full refund");
        assertEq(registry.slashedFunds(), 0, "no slash without a quorum");
        assertEq(registry.getProvider(prov[0]).missed, 1, "missed recorded");
        assertEq(_locked(prov[0]) + _locked(prov[1]), 0, "released");
    }

    function testFuzz_reveal_settlementConservesEscrow(uint8 kSeed, uint256 votes, uint96 feeSeed) public {
        uint8 k = uint8(bound(kSeed, 2, MAX_K));
        IInferenceMarketTypes.JobRequest memory r = _req(k, address(0));
        r.feePerProvider = uint96(bound(feeSeed, MIN_FEE, 1e24));
        (uint256 id, Job memory job) = _requestAs(client, r);
        uint256 agree;
        for (uint256 i = 0; i < k; ++i) {
            bool a = (votes >> i) & 1 == 1;
            if (a) ++agree;
            _commit(id, job, prov[i], a ? RESULT : OTHER_RESULT);
        }
        for (uint256 i = 0; i < k; ++i) {
            _reveal(id, job, prov[i], uint8(i), (votes >> i) & 1 == 1 ? RESULT : OTHER_RESULT);
        }
        _checkSettlement(id, job, agree > k - agree ? agree : k - agree);
    }

    function _checkSettlement(uint256 id, Job memory job, uint256 majority) internal view {
        uint256 credited = market.protocolFees(address(0)) + market.balanceOf(client, address(0));
        uint256 paidSeats;
        for (uint256 i = 0; i < job.redundancy; ++i) {
            credited += market.balanceOf(prov[i], address(0));
            if (market.balanceOf(prov[i], address(0)) != 0) ++paidSeats;
            assertEq(_locked(prov[i]), 0, "no collateral left locked");
        }
        assertEq(credited, address(market).balance, "escrow fully credited");
        if (majority >= job.quorum) {
            assertEq(_status(id), SETTLED, "settled");
            assertEq(paidSeats, majority, "majority paid");
            uint256 pool = (job.redundancy - majority) * uint256(COLLATERAL);
            assertEq(stakeToken.balanceOf(address(market)), pool, "minority's collateral seized by the market");
            uint256 stakeCredits = market.balanceOf(client, address(stakeToken));
            for (uint256 i = 0; i < job.redundancy; ++i) stakeCredits += market.balanceOf(prov[i], address(stakeToken));
            assertEq(stakeCredits, pool, "the seized stake is credited, all of it");
            assertEq(registry.slashedFunds(), 0, "nothing accrues to the DAO");
        } else {
            assertEq(_status(id), REFUNDED, "refunded");
            assertEq(paidSeats, 0, "nobody paid");
            assertEq(market.balanceOf(client, address(0)), address(market).balance, "full refund");
            assertEq(registry.slashedFunds(), 0, "nobody slashed");
        }
    }
}
