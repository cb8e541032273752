// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== submitAttestations

contract InferenceMarketAttestationTest is InferenceMarketFixture {
    function test_attestationDigest_isEip712OverTheAttestation() public view {
        Job memory job;
        job.modelId = modelId;
        job.version = 3;
        job.inputHash = keccak256(INPUT);
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("ConclaveInferenceMarket"),
                keccak256("1"),
                block.chainid,
                address(market)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Attestation(uint256 jobId,bytes32 modelId,uint32 version,bytes32 inputHash,bytes32 resultHash,bytes outputRef)"
                ),
                uint256(42),
                modelId,
                uint32(3),
                keccak256(INPUT),
                RESULT,
                keccak256(OUTPUT)
            )
        );
        assertEq(
            market.attestationDigest(42, wordsOf(job), RESULT, OUTPUT),
            keccak256(abi.encodePacked("\x19\x01", domain, structHash)),
            "digest"
        );
        assertEq(
            market.ATTESTATION_TYPEHASH(),
            keccak256(
                "Attestation(uint256 jobId,bytes32 modelId,uint32 version,bytes32 inputHash,bytes32 resultHash,bytes outputRef)"
            ),
            "typehash"
        );
    }

    function test_submitAttestations_emptyBatchDeliversNothing() public {
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](0);
        assertEq(_relay(market, items), 0, "nothing delivered");
    }

    function test_submitAttestations_deliversRunAndCreditsOnce() public {
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](3);
        IInferenceMarketTypes.Claim[] memory claims = new IInferenceMarketTypes.Claim[](3);
        for (uint256 i = 0; i < 3; ++i) {
            (uint256 id, Job memory job) = _requestEth(1);
            items[i] = _sign(market, pks[0], id, job, RESULT);
            claims[i] = _claimItem(id, job, prov[0], RESULT)[0];
        }
        vm.recordLogs();
        uint256 delivered = _relay(market, items);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(delivered, 3, "three delivered");
        for (uint256 i = 1; i <= 3; ++i) assertEq(_status(i), K1_DELIVERED, "delivered");
        assertEq(_count(logs, address(market), IInferenceMarketTypes.ResultSubmitted.selector), 3, "three results");
        assertEq(_countAll(logs, address(market)), 3, "no event beyond the results");
        assertEq(
            _count(logs, address(registry), IProviderRegistry.CollateralAllocated.selector),
            1,
            "one allocation for the run"
        );
        assertEq(_free(prov[0]), STAKE - 3 * uint256(COLLATERAL), "the rest free in the market");
        assertEq(_held(prov[0]), 3 * uint256(COLLATERAL), "three collaterals locked");
        assertEq(market.balanceOf(prov[0], address(0)), 0, "nothing paid before the claim");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee before the claim");

        assertEq(_claimBatch(claims), 3, "three claimed");
        for (uint256 i = 1; i <= 3; ++i) assertEq(_status(i), SETTLED, "settled");
        assertEq(_held(prov[0]), 0, "collateral released");
        assertEq(market.balanceOf(prov[0], address(0)), 3 * uint256(FEE), "three fees");
        assertEq(market.protocolFees(address(0)), 3 * (_escrow(1) - FEE), "three protocol fees");
        assertEq(market.balanceOf(stranger, address(0)), 0, "the relayer earns nothing");
        assertEq(_faults(prov[0]), 0, "no fault counted");
    }

    function test_submitAttestations_countsOncePerProvider() public {
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](6);
        // p0 ETH, p0 ETH, p1 ETH, p0 token, p0 token, p0 ETH: one counter write per provider.
        address[6] memory tokens = [
            address(0),
            address(0),
            address(0),
            address(payToken),
            address(payToken),
            address(0)
        ];
        uint256[6] memory signer = [uint256(0), 0, 1, 0, 0, 0];
        IInferenceMarketTypes.Claim[] memory claims = new IInferenceMarketTypes.Claim[](6);
        for (uint256 i = 0; i < 6; ++i) {
            (uint256 id, Job memory job) = _request(1, tokens[i]);
            items[i] = _sign(market, pks[signer[i]], id, job, RESULT);
            claims[i] = _claimItem(id, job, prov[signer[i]], RESULT)[0];
        }
        vm.recordLogs();
        assertEq(_relay(market, items), 6, "all delivered");
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(_countAll(logs, address(market)), 6, "one event per result");
        assertEq(
            _count(logs, address(registry), IProviderRegistry.CollateralAllocated.selector),
            2,
            "one allocation per provider"
        );
        assertEq(_held(prov[0]), 5 * uint256(COLLATERAL), "p0 locked five collaterals");
        assertEq(_held(prov[1]), COLLATERAL, "p1 locked one");
        assertEq(
            market.balanceOf(prov[0], address(0)) + market.balanceOf(prov[1], address(0)),
            0,
            "unpaid until claimed"
        );

        assertEq(_claimBatch(claims), 6, "all claimed");
        assertEq(market.balanceOf(prov[0], address(0)), 3 * uint256(FEE), "p0 ETH");
        assertEq(market.balanceOf(prov[0], address(payToken)), 2 * uint256(FEE), "p0 token");
        assertEq(market.balanceOf(prov[1], address(0)), FEE, "p1 ETH");
        assertEq(_faults(prov[0]), 0, "no fault counted");
        assertEq(_faults(prov[1]), 0, "no fault counted");
    }

    function test_submitAttestations_skipsBadItemsAndDeliversGoodOnes() public {
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](7);
        Job memory job;
        // 1: good.
        (, job) = _requestEth(1);
        items[0] = _sign(market, pks[0], 1, job, RESULT);
        // 2: malformed signature (64 bytes).
        (, job) = _requestEth(1);
        items[1] = _sign(market, pks[0], 2, job, RESULT);
        bytes memory sig = items[1].signature;
        assembly ("memory-safe") {
            mstore(sig, 64)
        }
        // 3: signed, but the job struct passed is not the job's.
        (, job) = _requestEth(1);
        job.deadline += 1 days;
        items[2] = _sign(market, pks[0], 3, job, RESULT);
        // 4: already delivered by another provider.
        (, job) = _requestEth(1);
        items[3] = _sign(market, pks[0], 4, job, RESULT);
        _submit(4, job, prov[1]);
        IInferenceMarketTypes.Claim[] memory claims = new IInferenceMarketTypes.Claim[](3);
        claims[0] = _claimItem(4, job, prov[1], RESULT)[0];
        // 5: signed by a provider the DAO never approved.
        (, job) = _requestEth(1);
        items[4] = _sign(market, PENDING_PK, 5, job, RESULT);
        // 6: deadline passed.
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.deadline = uint40(block.timestamp + 10);
        (, job) = _requestAs(client, r);
        items[5] = _sign(market, pks[0], 6, job, RESULT);
        // 7: good.
        (, job) = _requestEth(1);
        items[6] = _sign(market, pks[0], 7, job, RESULT);
        claims[1] = _claimItem(1, jobFromWords(items[0].job), prov[0], RESULT)[0];
        claims[2] = _claimItem(7, job, prov[0], RESULT)[0];

        vm.warp(block.timestamp + 11);
        uint256 marketEth = address(market).balance;
        uint256 feesBefore = market.protocolFees(address(0));
        vm.recordLogs();
        uint256 delivered = _relay(market, items);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(delivered, 2, "two delivered");
        Rejection[] memory rj = _rejections(logs, address(market));
        assertEq(rj.length, 5, "five rejected");
        _assertRejection(
            rj[0],
            2,
            address(0),
            IInferenceMarketTypes.InferenceMarketInvalidSignature.selector,
            "bad sig"
        );
        _assertRejection(rj[1], 3, prov[0], IInferenceMarketTypes.InferenceMarketJobMismatch.selector, "wrong job");
        // A delivered job's word binds the delivery: the job's own parameters no longer match.
        _assertRejection(rj[2], 4, prov[0], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, "delivered");
        _assertRejection(
            rj[3],
            5,
            pending,
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            "unapproved signer"
        );
        _assertRejection(rj[4], 6, prov[0], IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector, "late");

        assertEq(_status(1), K1_DELIVERED, "1 delivered");
        assertEq(_status(7), K1_DELIVERED, "7 delivered");
        assertEq(_held(prov[0]), 2 * uint256(COLLATERAL), "p0 locked for two");
        assertEq(_held(pending), 0, "pending locked nothing");
        assertEq(market.balanceOf(prov[0], address(0)), 0, "p0 unpaid before the claims");
        assertEq(_claimBatch(claims), 3, "jobs 4, 1 and 7 claimed");
        assertEq(_status(2), OPEN, "2 unchanged");
        assertEq(_status(3), OPEN, "3 unchanged");
        assertEq(_status(5), OPEN, "5 unchanged");
        assertEq(_status(6), OPEN, "6 unchanged");
        assertEq(market.balanceOf(prov[0], address(0)), 2 * uint256(FEE), "p0 paid for two");
        assertEq(market.balanceOf(prov[1], address(0)), FEE, "job 4 paid once, to p1");
        assertEq(market.balanceOf(pending, address(0)), 0, "pending unpaid");
        // Runs: [p0: 1 (2, 3, 4 rejected)] [pending: none] [p0: 6 rejected, 7].
        assertEq(_count(logs, address(market), IInferenceMarketTypes.ResultSubmitted.selector), 2, "two results");
        // Jobs 1, 7 and (p1's) 4 are claimed: the rejected items accrue nothing.
        assertEq(
            market.protocolFees(address(0)) - feesBefore,
            3 * (_escrow(1) - FEE),
            "protocol fee for delivered items only"
        );
        assertEq(_faults(prov[0]), 0, "no fault counted");
        assertEq(_faults(pending), 0, "no fault counted");
        assertEq(address(market).balance, marketEth, "no ETH moved");
    }

    function test_submitAttestations_rejectsIneligibleSigners() public {
        registry.suspendProvider(prov[5]);
        vm.prank(prov[6]);
        registry.requestExit();
        uint256[5] memory keys = [pks[5], pks[6], LOW_MEMORY_PK, FEW_TAGS_PK, OUTSIDER_PK];
        address[5] memory signers = [prov[5], prov[6], lowMemory, fewTags, outsider];
        bytes4[5] memory reasons = [
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            IInferenceMarketTypes.InferenceMarketProviderInsufficientMemory.selector,
            IInferenceMarketTypes.InferenceMarketProviderMissingTags.selector,
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector
        ];
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](6);
        for (uint256 i = 0; i < 5; ++i) {
            (uint256 id, Job memory job) = _requestEth(1);
            items[i] = _sign(market, keys[i], id, job, RESULT);
        }
        (uint256 kId, Job memory kJob) = _requestEth(3);
        items[5] = _sign(market, pks[0], kId, kJob, RESULT);

        vm.recordLogs();
        assertEq(_relay(market, items), 0, "nothing delivered");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        assertEq(rj.length, 6, "six rejected");
        for (uint256 i = 0; i < 5; ++i) {
            _assertRejection(rj[i], i + 1, signers[i], reasons[i], "ineligible");
            assertEq(_status(i + 1), OPEN, "unchanged");
            assertEq(market.balanceOf(signers[i], address(0)), 0, "unpaid");
        }
        _assertRejection(rj[5], kId, prov[0], IInferenceMarketTypes.InferenceMarketWrongRedundancy.selector, "k > 1");
        assertEq(_status(kId), OPEN, "k > 1 job unchanged");
    }

    function test_submitAttestations_versionRetiredAfterRequest_stillDelivered() public {
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id, job, RESULT);
        models.retireVersion(modelId, 1);
        assertEq(_relay(market, _one(item)), 1, "delivered");
        assertEq(_status(id), K1_DELIVERED, "delivered");
        _claimPaid(id, job, prov[0]);
        assertEq(_status(id), SETTLED, "settled");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
    }

    function test_submitAttestations_rejectsSignatureOverOtherResult() public {
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id, job, RESULT);
        item.resultHash = OTHER_RESULT; // tampered by the relayer
        address signer = _recovered(market, item);
        assertTrue(signer != prov[0], "recovers to someone else");

        vm.recordLogs();
        assertEq(_relay(market, _one(item)), 0, "rejected");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(
            rj[0],
            id,
            signer,
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            "tampered"
        );
        assertEq(_status(id), OPEN, "open");
        assertEq(market.balanceOf(prov[0], address(0)), 0, "unpaid");
    }

    function test_submitAttestations_cannotReplayOnAnotherJob() public {
        // Two jobs with identical parameters: only the id (and so the assignment seed) differs.
        (uint256 id1, Job memory job1) = _requestEth(1);
        (uint256 id2, Job memory job2) = _requestEth(1);
        Job memory job2SameSeed = _copy(job2);
        job2SameSeed.seed = job1.seed;
        assertEq(keccak256(abi.encode(job1)), keccak256(abi.encode(job2SameSeed)), "identical but for the seed");

        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id1, job1, RESULT);
        IInferenceMarketTypes.SignedResult memory replay = _sign(market, pks[0], id1, job1, RESULT);
        // The attestation does not cover the seed: the same signature, job 2's own parameters.
        replay.jobId = id2;
        replay.job = wordsOf(job2);
        address signer = _recovered(market, replay);
        assertTrue(signer != prov[0], "the signature does not bind job 2");

        vm.recordLogs();
        assertEq(_relay(market, _one(replay)), 0, "replay rejected");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(
            rj[0],
            id2,
            signer,
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            "replay"
        );
        assertEq(_status(id2), OPEN, "job 2 open");

        assertEq(_relay(market, _one(item)), 1, "original delivered");
        vm.recordLogs();
        assertEq(_relay(market, _one(item)), 0, "same item twice rejected");
        rj = _rejections(vm.getRecordedLogs(), address(market));
        // A delivered job's word binds the delivery: the job's own parameters no longer match.
        _assertRejection(rj[0], id1, prov[0], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, "delivered");
        assertEq(_held(prov[0]), COLLATERAL, "locked once");
        _claimPaid(id1, job1, prov[0]);
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid once");
    }

    function _copy(Job memory job) internal pure returns (Job memory) {
        return abi.decode(abi.encode(job), (Job));
    }

    function test_submitAttestations_cannotReplayOnAnotherMarket() public {
        InferenceMarket other = _secondMarket();
        (uint256 id, Job memory job) = _requestEth(1);
        (uint256 otherId, Job memory otherJob) = _requestOn(other, client, _req(1, address(0)));
        assertEq(id, otherId, "same id");
        assertEq(keccak256(abi.encode(job)), keccak256(abi.encode(otherJob)), "same job struct");

        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id, job, RESULT);
        address signer = _recovered(other, item);
        assertTrue(signer != prov[0], "the domain binds the market");
        vm.recordLogs();
        assertEq(_relay(other, _one(item)), 0, "rejected by the other market");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(other));
        _assertRejection(
            rj[0],
            id,
            signer,
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            "other market"
        );
        (IInferenceMarketTypes.JobStatus status, , , ) = other.jobState(otherId);
        assertEq(uint256(status), OPEN, "other market's job open");
        assertEq(other.balanceOf(prov[0], address(0)), 0, "unpaid there");

        assertEq(_relay(market, _one(item)), 1, "accepted where it was signed");
        // The first seat allocated all of prov[0]'s stake to `market`: it takes some back for `other`.
        vm.prank(prov[0]);
        registry.deallocate(address(market), COLLATERAL);
        assertEq(_relay(other, _one(_sign(other, pks[0], otherId, otherJob, RESULT))), 1, "control: other's own");
        assertEq(_freeOn(other, prov[0]), 0, "other holds just the seat's collateral");
        assertEq(_free(prov[0]), STAKE - 2 * uint256(COLLATERAL), "market holds the rest free");
    }

    function test_submitAttestations_cannotReplayOnAnotherChain() public {
        uint256 chainId = block.chainid;
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id, job, RESULT);

        vm.chainId(chainId + 1);
        address signer = _recovered(market, item);
        assertTrue(signer != prov[0], "the domain binds the chain");
        vm.recordLogs();
        assertEq(_relay(market, _one(item)), 0, "rejected on another chain");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(
            rj[0],
            id,
            signer,
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            "other chain"
        );
        assertEq(_status(id), OPEN, "open");

        vm.chainId(chainId);
        assertEq(_relay(market, _one(item)), 1, "accepted on its own chain");
    }

    /// @dev Each delivered item takes the job's collateral: a batch counts a provider's free
    /// collateral down item by item, tops it up from the registry when short, rejects the item
    /// that the registry cannot cover and delivers the rest.
    function test_submitAttestations_rejectsItemBeyondFreeStake() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        uint256 c = (STAKE * 2) / 5; // two fit in a stake, three do not
        p.collateralPerJob = uint128(c);
        _court().setPolicy(p);
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](4);
        Job[4] memory jobs;
        for (uint256 i = 0; i < 4; ++i) {
            (, jobs[i]) = _requestEth(1);
            items[i] = _sign(market, pks[i == 3 ? 1 : 0], i + 1, jobs[i], RESULT);
        }
        vm.recordLogs();
        assertEq(_relay(market, items), 3, "three delivered");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        Rejection[] memory rj = _rejections(logs, address(market));
        assertEq(rj.length, 1, "one rejected");
        _assertRejection(
            rj[0],
            3,
            prov[0],
            IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
            "overdraws"
        );
        assertEq(_status(3), OPEN, "job 3 still open");
        assertEq(_status(4), K1_DELIVERED, "the batch went on");
        assertEq(_held(prov[0]), 2 * c, "p0 locked two collaterals");
        assertEq(_held(prov[1]), c, "p1 locked one");
        assertEq(
            _count(logs, address(registry), IProviderRegistry.CollateralAllocated.selector),
            2,
            "one allocation per provider (p0's top-up found nothing)"
        );
        assertEq(registry.freeStakeOf(prov[0]), 0, "p0 allocated all its stake");

        // A claim releases its collateral: p0 can now take job 3.
        _claimPaid(1, jobs[0], prov[0]);
        assertEq(_relay(market, _one(items[2])), 1, "delivered once stake is free");
        assertEq(_held(prov[0]), 2 * c, "p0 locked two again");
    }

    function test_submitAttestations_sameJobTwiceInBatchPaysOnce() public {
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](2);
        items[0] = _sign(market, pks[0], id, job, RESULT);
        items[1] = _sign(market, pks[1], id, job, RESULT);
        vm.recordLogs();
        assertEq(_relay(market, items), 1, "first wins");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        // Delivered by the first item: the job's word binds that delivery, not the job.
        _assertRejection(rj[0], id, prov[1], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, "second");
        assertEq(_held(prov[1]), 0, "p1 locked nothing");
        _claimPaid(id, job, prov[0]);
        assertEq(_claimBatch(_claimItem(id, job, prov[1], RESULT)), 0, "p1 cannot claim it");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "p0 paid");
        assertEq(market.balanceOf(prov[1], address(0)), 0, "p1 not");
    }

    /// @dev An item short of collateral in the market's word tops it up from the registry: all of
    /// the provider's free stake is allocated at once, in the middle of the batch.
    function test_submitAttestations_topsUpShortCollateralFromRegistry() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        uint256 c = (STAKE * 2) / 5;
        p.collateralPerJob = uint128(c);
        _court().setPolicy(p);
        // A first seat allocates the whole stake: 0.6 of it stays free in the market.
        (uint256 id0, Job memory job0) = _requestEth(1);
        _submit(id0, job0, prov[0]);
        assertEq(_free(prov[0]), STAKE - c, "free after the first seat");
        // More stake, free in the registry.
        stakeToken.mint(prov[0], STAKE);
        vm.startPrank(prov[0]);
        stakeToken.approve(address(registry), STAKE);
        registry.addStake(STAKE);
        vm.stopPrank();
        assertEq(registry.freeStakeOf(prov[0]), STAKE, "the added stake is free in the registry");

        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](2);
        for (uint256 i = 0; i < 2; ++i) {
            (uint256 id, Job memory job) = _requestEth(1);
            items[i] = _sign(market, pks[0], id, job, RESULT);
        }
        // The first item fits in the word (0.6 -> 0.2); the second tops up with all 1.0.
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralAllocated(prov[0], address(market), STAKE, 2 * STAKE);
        vm.recordLogs();
        assertEq(_relay(market, items), 2, "both delivered");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(_rejections(logs, address(market)).length, 0, "nothing rejected");
        assertEq(_count(logs, address(registry), IProviderRegistry.CollateralAllocated.selector), 1, "one top-up");
        assertEq(registry.freeStakeOf(prov[0]), 0, "all allocated");
        assertEq(_held(prov[0]), 3 * c, "three seats");
        assertEq(_free(prov[0]), 2 * STAKE - 3 * c, "the rest free in the market");
    }
}
