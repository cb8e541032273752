// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== submitResults (a provider's own batch)

contract InferenceMarketOwnBatchTest is InferenceMarketFixture {
    function _own(uint256 id, Job memory job, bytes32 result) internal pure returns (bytes memory) {
        return AttestationBatch.encodeOwnItem(id, wordsOf(job), result, OUTPUT);
    }

    function _sendOwn(address p, bytes memory items) internal returns (uint256) {
        vm.prank(p);
        return market.submitResults(items);
    }

    function test_submitResults_emptyBatchDeliversNothing() public {
        assertEq(_sendOwn(prov[0], ""), 0, "nothing delivered");
        assertEq(_held(prov[0]), 0, "nothing locked");
    }

    function test_submitResults_deliversEveryItemLocksOnceAndPaysOnClaim() public {
        bytes memory items;
        IInferenceMarketTypes.Claim[] memory claims = new IInferenceMarketTypes.Claim[](3);
        for (uint256 i = 0; i < 3; ++i) {
            (uint256 id, Job memory job) = _requestEth(1);
            items = bytes.concat(items, _own(id, job, RESULT));
            claims[i] = _claimItem(id, job, prov[0], RESULT)[0];
        }
        vm.recordLogs();
        assertEq(_sendOwn(prov[0], items), 3, "three delivered");
        Vm.Log[] memory logs = vm.getRecordedLogs();

        for (uint256 i = 1; i <= 3; ++i) assertEq(_status(i), K1_DELIVERED, "delivered");
        assertEq(_count(logs, address(market), IInferenceMarketTypes.ResultSubmitted.selector), 3, "three results");
        assertEq(_countAll(logs, address(market)), 3, "no event beyond the results");
        assertEq(_count(logs, address(registry), IProviderRegistry.CollateralAllocated.selector), 1, "one allocation");
        assertEq(_held(prov[0]), 3 * uint256(COLLATERAL), "three collaterals locked");
        assertEq(market.balanceOf(prov[0], address(0)), 0, "nothing paid before the claim");

        assertEq(_claimBatch(claims), 3, "three claimed");
        assertEq(_held(prov[0]), 0, "collateral released");
        assertEq(market.balanceOf(prov[0], address(0)), 3 * uint256(FEE), "three fees");
        assertEq(_faults(prov[0]), 0, "no fault counted");
    }

    /// @dev The result is bound to the sender: a copy of a pending batch sent from another
    /// address delivers for the copier (who locks its own collateral and answers for it in a
    /// challenge), never pays the first sender twice, and the first sender's items are then
    /// rejected, not reverted.
    function test_submitResults_isBoundToItsSender() public {
        (uint256 id, Job memory job) = _requestEth(1);
        bytes memory items = _own(id, job, RESULT);
        assertEq(_sendOwn(prov[1], items), 1, "the copier delivered for itself");
        vm.recordLogs();
        assertEq(_sendOwn(prov[0], items), 0, "the original then delivers nothing");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(rj[0], id, prov[0], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, "taken");
        assertEq(_held(prov[0]), 0, "the original locked nothing");
        assertEq(_held(prov[1]), COLLATERAL, "the copier locked its collateral");
        _claimPaid(id, job, prov[1]);
        assertEq(_claimBatch(_claimItem(id, job, prov[0], RESULT)), 0, "the original cannot claim it");
    }

    function test_submitResults_skipsBadItemsAndDeliversGoodOnes() public {
        bytes memory items;
        Job memory job;
        uint256 id;
        // 1: good.
        (id, job) = _requestEth(1);
        items = bytes.concat(items, _own(id, job, RESULT));
        Job memory first = job;
        // 2: the job passed is not the job's.
        (id, job) = _requestEth(1);
        job.deadline += 1 days;
        items = bytes.concat(items, _own(id, job, RESULT));
        // 3: already delivered by another provider.
        (id, job) = _requestEth(1);
        _submit(id, job, prov[1]);
        items = bytes.concat(items, _own(id, job, RESULT));
        // 4: a k = 3 job.
        (id, job) = _requestEth(3);
        items = bytes.concat(items, _own(id, job, RESULT));
        // 5: deadline passed.
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.deadline = uint40(block.timestamp + 10);
        (id, job) = _requestAs(client, r);
        items = bytes.concat(items, _own(id, job, RESULT));
        // 6: too short to hold the fixed fields (its length says 255 bytes).
        items = bytes.concat(items, abi.encodePacked(uint32(255), uint256(99)), new bytes(223));
        // 7: good, the same job as item 1 (only the first counts).
        items = bytes.concat(items, _own(1, first, RESULT));
        // 8: good.
        (id, job) = _requestEth(1);
        items = bytes.concat(items, _own(id, job, RESULT));

        vm.warp(block.timestamp + 11);
        vm.recordLogs();
        uint256 delivered = _sendOwn(prov[0], items);
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));

        assertEq(delivered, 2, "two delivered");
        assertEq(rj.length, 6, "six rejected");
        _assertRejection(rj[0], 2, prov[0], IInferenceMarketTypes.InferenceMarketJobMismatch.selector, "wrong job");
        _assertRejection(rj[1], 3, prov[0], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, "taken");
        _assertRejection(rj[2], 4, prov[0], IInferenceMarketTypes.InferenceMarketWrongRedundancy.selector, "k = 3");
        _assertRejection(rj[3], 5, prov[0], IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector, "late");
        _assertRejection(
            rj[4],
            99,
            address(0),
            IInferenceMarketTypes.InferenceMarketMalformedAttestation.selector,
            "short"
        );
        _assertRejection(rj[5], 1, prov[0], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, "twice");
        assertEq(_status(1), K1_DELIVERED, "1 delivered");
        assertEq(_status(6), K1_DELIVERED, "6 delivered, after the short item");
        assertEq(_status(2), OPEN, "2 unchanged");
        assertEq(_status(5), OPEN, "5 unchanged");
        assertEq(_held(prov[0]), 2 * uint256(COLLATERAL), "locked for two");
    }

    function test_submitResults_lengthPastTheEndRejectsTheRest() public {
        (uint256 id, Job memory job) = _requestEth(1);
        (uint256 id2, Job memory job2) = _requestEth(1);
        bytes memory good = _own(id, job, RESULT);
        bytes memory cut = _own(id2, job2, RESULT);
        assembly ("memory-safe") {
            mstore(cut, sub(mload(cut), 1)) // one byte short of its length
        }
        vm.recordLogs();
        assertEq(_sendOwn(prov[0], bytes.concat(good, cut)), 1, "the item before it delivered");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        assertEq(rj.length, 1, "one rejection for the rest");
        _assertRejection(
            rj[0],
            id2,
            address(0),
            IInferenceMarketTypes.InferenceMarketMalformedAttestation.selector,
            "cut"
        );
        assertEq(_status(id2), OPEN, "the cut item's job still open");
    }

    function test_submitResults_ineligibleSenderDeliversNothing() public {
        registry.suspendProvider(prov[5]);
        address[4] memory senders = [prov[5], lowMemory, fewTags, outsider];
        bytes4[4] memory reasons = [
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            IInferenceMarketTypes.InferenceMarketProviderInsufficientMemory.selector,
            IInferenceMarketTypes.InferenceMarketProviderMissingTags.selector,
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector
        ];
        for (uint256 i = 0; i < senders.length; ++i) {
            (uint256 id, Job memory job) = _requestEth(1);
            vm.recordLogs();
            assertEq(_sendOwn(senders[i], _own(id, job, RESULT)), 0, "nothing delivered");
            Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
            _assertRejection(rj[0], id, senders[i], reasons[i], "ineligible");
            assertEq(_status(id), OPEN, "unchanged");
        }
    }

    /// @dev The sender's free collateral is counted down item by item: the item that would
    /// overdraw it, with nothing left in the registry to top it up, is rejected and the rest
    /// delivered.
    function test_submitResults_rejectsItemBeyondFreeStake() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        uint256 c = (STAKE * 2) / 5; // two fit in a stake, three do not
        p.collateralPerJob = uint128(c);
        _court().setPolicy(p);
        bytes memory items;
        for (uint256 i = 0; i < 3; ++i) {
            (uint256 id, Job memory job) = _requestEth(1);
            items = bytes.concat(items, _own(id, job, RESULT));
        }
        vm.recordLogs();
        assertEq(_sendOwn(prov[0], items), 2, "two delivered");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(
            rj[0],
            3,
            prov[0],
            IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
            "overdraws"
        );
        assertEq(_held(prov[0]), 2 * c, "two collaterals locked");
        assertEq(registry.freeStakeOf(prov[0]), 0, "the registry had nothing left to allocate");
        assertEq(_free(prov[0]), STAKE - 2 * c, "the rest free in the market");
    }

    /// @notice An item whose collateral is topped up from the registry is never rejected for want of
    /// gas (the top-up's try swallows an out-of-gas), so a gas estimate never settles on a limit at
    /// which it is: at every gas limit the batch either reverts or delivers the item. (It holds
    /// because what the batch does after the top-up needs more than 1/64 of the gas it would need.)
    function test_submitResults_neverRejectsATopUpForWantOfGas() public {
        (uint256 id, Job memory job) = _requestEth(1);
        bytes memory items = _own(id, job, RESULT);
        assertEq(_free(prov[0]), 0, "nothing free in the market yet: the item needs a top-up");
        uint256 delivered;
        for (uint256 gas = 20_000; gas < 250_000; gas += 250) {
            uint256 snapshot = vm.snapshotState();
            vm.prank(prov[0]);
            try market.submitResults{gas: gas}(items) returns (uint256 n) {
                assertEq(n, 1, "an item rejected for want of gas");
                ++delivered;
            } catch {} // solhint-disable-line no-empty-blocks
            vm.revertToState(snapshot);
        }
        assertGe(delivered, 1, "enough gas delivers it");
    }

    /// @notice Whatever bytes a provider sends, the batch never reverts and delivers nothing that
    /// is not a job's own parameters.
    function testFuzz_submitResults_garbageNeverRevertsNorDelivers(bytes calldata garbage) public {
        _requestEth(1);
        _requestEth(1);
        vm.prank(prov[0]);
        assertEq(market.submitResults(garbage), 0, "nothing delivered");
        assertEq(_status(1), OPEN, "1 open");
        assertEq(_status(2), OPEN, "2 open");
        assertEq(_held(prov[0]), 0, "nothing locked");
    }
}
