// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== commitAll and revealAll (batched seats, k > 1)

contract InferenceMarketSeatBatchesTest is InferenceMarketFixture {
    /// @dev The largest jury the fixture's providers can seat.
    uint8 internal constant K_MAX = uint8(NUM_PROVIDERS);

    /// @dev A k = 3 job with every seat committed to `RESULT` by prov[0..2] (seat i is prov[i]).
    function _seated3() internal returns (uint256 id, Job memory job) {
        (id, job) = _requestEth(3);
        for (uint256 i = 0; i < 3; ++i) assertEq(_commit(id, job, prov[i], RESULT), i, "seat index");
    }

    function _item(
        uint256 id,
        Job memory job,
        uint8 seat,
        bytes32 salt
    ) internal pure returns (IInferenceMarketTypes.Reveal memory) {
        return IInferenceMarketTypes.Reveal(id, wordsOf(job), seat, RESULT, salt, OUTPUT);
    }

    function _commitItem(
        uint256 id,
        Job memory job,
        address p
    ) internal pure returns (IInferenceMarketTypes.Commit memory) {
        return IInferenceMarketTypes.Commit(id, wordsOf(job), _commitment(id, p, RESULT, _salt(p)));
    }

    function _commitAll(address p, IInferenceMarketTypes.Commit[] memory items) internal returns (uint256) {
        vm.prank(p);
        return _court().commitAll(items);
    }

    /// @notice One batch seats the sender in several jobs, as single commits would: each item
    /// emits its SeatCommitted and locks the collateral, and the job whose last seat it takes
    /// starts its reveal.
    function test_commitAll_seatsTheSenderInSeveralJobsAndStartsAReveal() public {
        (uint256 a, Job memory ja) = _requestEth(3);
        (uint256 b, Job memory jb) = _requestEth(3);
        _commit(b, jb, prov[1], RESULT);
        _commit(b, jb, prov[2], RESULT);
        IInferenceMarketTypes.Commit[] memory items = new IInferenceMarketTypes.Commit[](2);
        items[0] = _commitItem(a, ja, prov[0]);
        items[1] = _commitItem(b, jb, prov[0]);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatCommitted(a, prov[0], 0, items[0].commitment);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatCommitted(b, prov[0], 2, items[1].commitment);
        vm.expectEmit(true, false, false, false, address(market));
        emit IInferenceMarketTypes.RevealStarted(b, 0);
        assertEq(_commitAll(prov[0], items), 2, "both committed");
        assertEq(_seated(a), 1, "job a: one seat");
        assertEq(_status(b), REVEALING, "job b: its last seat started the reveal");
        assertEq(_held(prov[0]), 2 * uint256(COLLATERAL), "collateral locked for each seat");
        // The seats it took are revealed as any other.
        _reveal(b, jb, prov[0], 2, RESULT);
        assertEq(_revealed(b), 1, "revealed");
    }

    /// @notice An item the market refuses is skipped with the selector of the error a single
    /// commit raises, and changes nothing; the items around it stand. A job twice in one batch
    /// seats the sender once.
    function test_commitAll_skipsRefusedItemsAndKeepsTheOthers() public {
        (uint256 a, Job memory ja) = _requestEth(3);
        (uint256 k1, Job memory j1) = _requestEth(1);
        IInferenceMarketTypes.Commit[] memory items = new IInferenceMarketTypes.Commit[](3);
        items[0] = _commitItem(a, ja, prov[0]);
        items[1] = _commitItem(k1, j1, prov[0]);
        items[2] = _commitItem(a, ja, prov[0]);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.CommitSkipped(
            k1,
            prov[0],
            IInferenceMarketTypes.InferenceMarketWrongRedundancy.selector
        );
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.CommitSkipped(
            a,
            prov[0],
            IInferenceMarketTypes.InferenceMarketAlreadySeated.selector
        );
        assertEq(_commitAll(prov[0], items), 1, "one committed");
        assertEq(_seated(a), 1, "seated once");
        assertEq(_held(prov[0]), COLLATERAL, "locked once");
        assertEq(_status(k1), OPEN, "the k = 1 job untouched");
    }

    function _revealAll(address p, IInferenceMarketTypes.Reveal[] memory items) internal returns (uint256) {
        vm.prank(p);
        return _court().revealAll(items);
    }

    /// @notice One batch reveals the sender's seats in several jobs, as single reveals would:
    /// each item emits its ResultRevealed, and the job whose last seat it reveals settles
    /// (every seat paid).
    function test_revealAll_revealsSeatsOfSeveralJobsAndSettlesTheLast() public {
        (uint256 a, Job memory ja) = _seated3();
        (uint256 b, Job memory jb) = _seated3();
        // Job b: prov[1] and prov[2] reveal alone first, so prov[0]'s reveal in the batch is its last.
        _reveal(b, jb, prov[1], 1, RESULT);
        _reveal(b, jb, prov[2], 2, RESULT);
        IInferenceMarketTypes.Reveal[] memory items = new IInferenceMarketTypes.Reveal[](2);
        items[0] = _item(a, ja, 0, _salt(prov[0]));
        items[1] = _item(b, jb, 0, _salt(prov[0]));
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.ResultRevealed(a, prov[0], RESULT, OUTPUT);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.ResultRevealed(b, prov[0], RESULT, OUTPUT);
        vm.recordLogs();
        assertEq(_revealAll(prov[0], items), 2, "both revealed");
        assertEq(
            _count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.RevealSkipped.selector),
            0,
            "nothing skipped"
        );
        assertEq(_revealed(a), 1, "job a: one seat revealed");
        assertEq(_status(a), REVEALING, "job a still revealing");
        assertEq(_status(b), SETTLED, "job b settled by the batch's reveal");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "prov[0] paid for job b");
        assertEq(market.balanceOf(prov[1], address(0)), FEE, "prov[1] paid for job b");
    }

    /// @notice An item the market refuses is skipped with the selector of the error a single
    /// reveal raises, and changes nothing; the items around it stand.
    function test_revealAll_skipsARefusedItemAndKeepsTheOthers() public {
        (uint256 a, Job memory ja) = _seated3();
        (uint256 b, Job memory jb) = _seated3();
        (uint256 c, Job memory jc) = _seated3();
        IInferenceMarketTypes.Reveal[] memory items = new IInferenceMarketTypes.Reveal[](3);
        items[0] = _item(a, ja, 0, _salt(prov[0]));
        items[1] = _item(b, jb, 0, keccak256("wrong salt"));
        items[2] = _item(c, jc, 0, _salt(prov[0]));
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.RevealSkipped(
            b,
            prov[0],
            IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector
        );
        assertEq(_revealAll(prov[0], items), 2, "two of three revealed");
        assertEq(_revealed(a), 1, "job a revealed");
        assertEq(_revealed(b), 0, "job b unchanged");
        assertEq(_revealed(c), 1, "job c revealed");
        // The skipped seat can still reveal alone.
        _reveal(b, jb, prov[0], 0, RESULT);
        assertEq(_revealed(b), 1, "job b revealed alone afterwards");
    }

    /// @notice The batch runs as its sender: a provider cannot reveal another's seat through it,
    /// and the same seat twice in one batch is revealed once.
    function test_revealAll_runsAsTheSenderAndRevealsASeatOnce() public {
        (uint256 a, Job memory ja) = _seated3();
        IInferenceMarketTypes.Reveal[] memory items = new IInferenceMarketTypes.Reveal[](3);
        items[0] = _item(a, ja, 1, _salt(prov[1])); // prov[1]'s seat, sent by prov[0]
        items[1] = _item(a, ja, 0, _salt(prov[0]));
        items[2] = _item(a, ja, 0, _salt(prov[0]));
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.RevealSkipped(a, prov[0], IInferenceMarketTypes.InferenceMarketNotSeated.selector);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.ResultRevealed(a, prov[0], RESULT, OUTPUT);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.RevealSkipped(
            a,
            prov[0],
            IInferenceMarketTypes.InferenceMarketAlreadyRevealed.selector
        );
        assertEq(_revealAll(prov[0], items), 1, "one revealed");
        assertEq(_revealed(a), 1, "counted once");
    }

    /// @notice An item that runs out of gas reverts the whole batch (its failure has no reason), so
    /// a gas estimate, the least gas at which the call does not revert, never settles on one at
    /// which items are skipped for want of gas: at every gas limit the batch either reverts or
    /// reveals both items. (Before, some limits revealed one and skipped the other.)
    function test_revealAll_neverSkipsAnItemForWantOfGas() public {
        (uint256 a, Job memory ja) = _seated3();
        // Job b's last seat: its reveal settles the job, the heaviest item there is.
        (uint256 b, Job memory jb) = _requestEth(K_MAX);
        for (uint256 i = 0; i < K_MAX; ++i) _commit(b, jb, prov[i], RESULT);
        for (uint256 i = 1; i < K_MAX; ++i) _reveal(b, jb, prov[i], uint8(i), RESULT);
        IInferenceMarketTypes.Reveal[] memory two = new IInferenceMarketTypes.Reveal[](2);
        two[0] = _item(a, ja, 0, _salt(prov[0]));
        two[1] = _item(b, jb, 0, _salt(prov[0]));
        IInferenceMarketCourt court = _court();
        uint256 revealedBoth = 0;
        for (uint256 gas = 5_000; gas < 400_000; gas += 500) {
            uint256 snapshot = vm.snapshotState();
            vm.prank(prov[0]);
            try court.revealAll{gas: gas}(two) returns (uint256 revealed) {
                assertEq(revealed, 2, "an item skipped for want of gas");
                ++revealedBoth;
            } catch {} // solhint-disable-line no-empty-blocks
            vm.revertToState(snapshot);
        }
        assertGe(revealedBoth, 1, "enough gas reveals both");
    }

    /// @notice An empty batch changes nothing; called on the court's own address it refuses.
    function test_seatBatches_emptyBatchAndDirectCall() public {
        assertEq(_revealAll(prov[0], new IInferenceMarketTypes.Reveal[](0)), 0, "nothing revealed");
        assertEq(_commitAll(prov[0], new IInferenceMarketTypes.Commit[](0)), 0, "nothing committed");
        IInferenceMarketCourt direct = IInferenceMarketCourt(market.court());
        vm.expectRevert(InferenceMarketCourt.InferenceMarketCourtDirectCall.selector);
        direct.revealAll(new IInferenceMarketTypes.Reveal[](0));
        vm.expectRevert(InferenceMarketCourt.InferenceMarketCourtDirectCall.selector);
        direct.commitAll(new IInferenceMarketTypes.Commit[](0));
    }
}
