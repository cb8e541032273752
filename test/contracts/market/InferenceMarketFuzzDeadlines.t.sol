// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AttestationBatch} from "../utils/AttestationBatch.sol";
import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {IInferenceMarketCourt} from "../../../contracts/interfaces/IInferenceMarketCourt.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {Job, wordsOf} from "../utils/JobStruct.sol";
import {MarketSpec} from "./handlers/MarketSpec.sol";
import {MIN_FEE, MIN_STAKE, COLLATERAL, CHALLENGE_WINDOW} from "./handlers/MarketStack.sol";
import {InferenceMarketFuzzFixture} from "./InferenceMarketFuzzFixture.sol";

/// @notice Fuzz tests of the deadlines and of k = 1 delivery around them through the real stack.
contract InferenceMarketFuzzDeadlinesTest is InferenceMarketFuzzFixture {
    // ------------------------------------------------------------------ deadlines

    /// @notice A deadline in (now, now + maxJobDuration] is accepted as it is (and caps the commit
    /// deadline); anything else is refused with InvalidDeadline(deadline, now + 1, now + max).
    function testFuzz_requestJob_deadlineRange(
        uint256 deadlineSeed,
        uint40 maxDurationSeed,
        uint32 elapsed,
        bool multi
    ) public {
        uint40 maxDuration = uint40(bound(maxDurationSeed, 1 minutes, 365 days));
        _setPolicy(250, 6000, maxDuration);
        vm.warp(block.timestamp + elapsed);
        uint256 nowTs = block.timestamp;
        uint256 latest = nowTs + maxDuration;
        uint256 deadline;
        uint256 mode = deadlineSeed % 4;
        if (mode == 0)
            deadline = uint40(deadlineSeed >> 8); // anything
        else if (mode == 1)
            deadline = nowTs + bound(deadlineSeed >> 8, 0, maxDuration + 1); // around the range
        else if (mode == 2)
            deadline = [nowTs, nowTs + 1, latest, latest + 1][(deadlineSeed >> 8) % 4]; // edges
        else deadline = bound(deadlineSeed >> 8, 0, nowTs); // the past

        uint8 k = multi ? 3 : 1;
        IInferenceMarketTypes.JobRequest memory r = _requestOf(k, MIN_FEE, address(0), uint40(deadline), 0);
        uint256 escrow = market.escrowOf(k, MIN_FEE, 250);
        vm.deal(CLIENT, escrow);
        if (deadline > nowTs && deadline <= latest) {
            (, Job memory job) = _request(k, MIN_FEE, address(0), uint40(deadline), 0);
            assertEq(job.deadline, deadline, "deadline kept");
            if (multi) {
                uint256 commitEnd = nowTs + 1 hours;
                assertEq(job.commitDeadline, commitEnd < deadline ? commitEnd : deadline, "commit deadline capped");
            }
        } else {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketInvalidDeadline.selector,
                    uint40(deadline),
                    nowTs + 1,
                    latest
                )
            );
            vm.prank(CLIENT);
            market.requestJob{value: escrow}(r);
        }
    }

    /// @notice A k = 1 job delivered at any moment up to its deadline (inclusive) locks the
    /// provider's collateral and pays nothing yet, is no longer finalizable, and once its
    /// challenge window passed a claim pays the provider the fee and the treasury the rest and
    /// releases the collateral; a moment after the deadline the delivery is refused
    /// (DeadlinePassed, or a rejected attestation in a batch) and the job refunds its whole
    /// escrow to the client.
    function testFuzz_k1Delivery_paidAtClaimUntilDeadlineRefundsAfter(
        uint32 durationSeed,
        uint256 elapsedSeed,
        uint96 feeSeed,
        uint8 tokenSeed,
        bool viaBatch
    ) public {
        uint256 duration = bound(durationSeed, 1, 1 days);
        uint96 fee = uint96(bound(feeSeed, MIN_FEE, 1e28));
        address token =
            tokenSeed % 3 == 0
                ? address(0)
                : tokenSeed % 3 == 1
                    ? address(s.tokenA)
                    : address(s.tokenB);
        (uint256 jobId, Job memory job) = _request(1, fee, token, uint40(block.timestamp + duration), tokenSeed);
        uint256 escrow = MarketSpec.escrow(1, fee, 250);

        uint256 elapsed = bound(elapsedSeed >> 2, 0, 2 * duration + 1);
        if (elapsedSeed % 4 == 0)
            elapsed = duration; // exactly at the deadline
        else if (elapsedSeed % 4 == 1) elapsed = duration + 1; // just after
        vm.warp(job.requestedAt + elapsed);
        address provider = provs[elapsedSeed % PROVIDERS];
        bytes32 resultHash = keccak256(abi.encode("result", jobId));

        if (block.timestamp <= job.deadline) {
            _deliver(jobId, job, provider, resultHash, viaBatch, bytes4(0));
            assertEq(market.balanceOf(provider, token), 0, "nothing paid at delivery");
            assertEq(_seatCollateral(provider), job.collateral, "collateral locked");
            _assertStatus(jobId, IInferenceMarketTypes.JobStatus.Delivered);
            vm.warp(uint256(job.deadline) + 1);
            vm.expectRevert(); // NotFinalizable, or JobMismatch (see InferenceMarketK1StatusErrorsTest)
            market.finalize(jobId, wordsOf(job));
            vm.warp(job.requestedAt + elapsed + job.challengeWindow + 1);
            assertEq(_claimOne(jobId, job, provider, resultHash), 1, "claimed after the challenge window");
            assertEq(market.balanceOf(provider, token), fee, "the provider earns the fee");
            assertEq(market.protocolFees(token), escrow - fee, "the protocol the rest");
            assertEq(_faults(provider), 0, "no fault counted");
            assertEq(_seatCollateral(provider), 0, "collateral released");
            _assertStatus(jobId, IInferenceMarketTypes.JobStatus.Settled);
        } else {
            _deliver(
                jobId,
                job,
                provider,
                resultHash,
                viaBatch,
                IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector
            );
            _assertStatus(jobId, IInferenceMarketTypes.JobStatus.Open);
            market.finalize(jobId, wordsOf(job));
            assertEq(market.balanceOf(CLIENT, token), escrow, "the client gets the whole escrow back");
            assertEq(market.balanceOf(provider, token), 0, "the provider earns nothing");
            assertEq(market.protocolFees(token), 0, "the protocol earns nothing");
            _assertStatus(jobId, IInferenceMarketTypes.JobStatus.Refunded);
        }
        assertEq(_held(token), escrow, "the market holds the escrow as credits");
    }

    /// @notice A batch of k = 1 results in mixed tokens, signed by providers in runs (the same
    /// provider for consecutive items in different tokens), with duplicates and items from a
    /// provider missing a required tag: each item is delivered iff it is the first for its job and
    /// its provider is eligible, locking its collateral; once claimed, each provider is credited,
    /// per token, exactly the fees of the jobs it delivered, the treasury the rest of their
    /// escrow; no fault is counted.
    function testFuzz_batch_creditsEachProviderPerToken(uint256 seed, uint8 countSeed) public {
        BatchCase memory c = _batchCase(seed, bound(countSeed, 1, 8));
        BatchExpectation memory e = _batchExpectation(c);
        assertEq(market.submitAttestations(AttestationBatch.encode(c.items)), e.delivered, "delivered count");
        address[3] memory who = [provs[0], provs[1], narrow];
        // Delivered: collateral locked per provider, nothing paid until claimed.
        for (uint256 p = 0; p < 3; ++p) {
            assertEq(_seatCollateral(who[p]), e.served[p] * COLLATERAL, "collateral of its deliveries");
            for (uint256 t = 0; t < 3; ++t)
                assertEq(market.balanceOf(who[p], _tokenAt(t)), 0, "nothing paid at delivery");
        }
        for (uint256 j = 0; j < c.ids.length; ++j) {
            _assertStatus(
                c.ids[j],
                e.taken[j] ? IInferenceMarketTypes.JobStatus.Delivered : IInferenceMarketTypes.JobStatus.Open
            );
        }
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        assertEq(_claimTaken(c, e), e.delivered, "claimed count");
        for (uint256 p = 0; p < 3; ++p) {
            for (uint256 t = 0; t < 3; ++t) {
                assertEq(market.balanceOf(who[p], _tokenAt(t)), e.credit[p][t], "provider credit per token");
            }
            assertEq(_faults(who[p]), 0, "no fault counted");
        }
        for (uint256 t = 0; t < 3; ++t) {
            assertEq(market.protocolFees(_tokenAt(t)), e.treasury[t], "protocol fees per token");
        }
        for (uint256 j = 0; j < c.ids.length; ++j) {
            _assertStatus(
                c.ids[j],
                e.taken[j] ? IInferenceMarketTypes.JobStatus.Settled : IInferenceMarketTypes.JobStatus.Open
            );
        }
        for (uint256 p = 0; p < 3; ++p) assertEq(_seatCollateral(who[p]), 0, "collateral released");
    }

    /// @notice A batch of 17-32 k = 1 results signed by any of nine providers in any of three
    /// tokens (more providers and (provider, token) pairs than the market's batch tables hold,
    /// so they are flushed mid-batch): every provider locks exactly the collateral of the jobs
    /// it delivered, and once they are claimed is credited, per token, exactly their fees; no fault
    /// is counted, and protocol fees follow.
    function testFuzz_batch_manyProvidersAndTokens(uint256 seed, uint8 countSeed) public {
        uint256 n = bound(countSeed, 17, 32);
        address[9] memory who;
        for (uint256 p = 0; p < PROVIDERS; ++p) who[p] = provs[p];
        who[8] = narrow;
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](n);
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](n);
        uint256[3][9] memory credit;
        uint256[9] memory served;
        uint256[3] memory fees;
        uint256 expected;
        for (uint256 i = 0; i < n; ++i) {
            uint256 js = uint256(keccak256(abi.encode(seed, "many", i)));
            (uint256 id, Job memory job) = _request(
                1,
                uint96(bound(js >> 8, MIN_FEE, 1e24)),
                _tokenAt(js % 3),
                uint40(block.timestamp + 1 hours),
                js >> 128
            );
            uint256 p = (js >> 64) % 9;
            items[i] = _signed(id, job, who[p], keccak256(abi.encode("result", i)));
            if (p == 8 && job.requiredTags & 2 != 0) continue; // narrow lacks the tag: rejected
            cs[expected] = IInferenceMarketTypes.Claim({
                jobId: id,
                job: wordsOf(job),
                provider: who[p],
                resultHash: items[i].resultHash
            });
            uint256 t = _tokenIndex(job.token);
            credit[p][t] += job.feePerProvider;
            fees[t] += MarketSpec.escrow(1, job.feePerProvider, job.protocolFeeBps) - job.feePerProvider;
            ++served[p];
            ++expected;
        }
        assertEq(market.submitAttestations(AttestationBatch.encode(items)), expected, "delivered count");
        for (uint256 p = 0; p < 9; ++p) {
            assertEq(_seatCollateral(who[p]), served[p] * COLLATERAL, "collateral of its deliveries");
        }
        // Claimed in one batch after the challenge window (the unused tail of `cs` is trimmed).
        assembly ("memory-safe") {
            mstore(cs, expected)
        }
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        assertEq(IInferenceMarketCourt(address(market)).claim(cs), expected, "claimed count");
        for (uint256 p = 0; p < 9; ++p) {
            assertEq(_seatCollateral(who[p]), 0, "collateral released");
            for (uint256 t = 0; t < 3; ++t) {
                assertEq(market.balanceOf(who[p], _tokenAt(t)), credit[p][t], "provider credit per token");
            }
            assertEq(_faults(who[p]), 0, "no fault counted");
        }
        for (uint256 t = 0; t < 3; ++t) assertEq(market.protocolFees(_tokenAt(t)), fees[t], "protocol fees per token");
    }

    struct BatchCase {
        uint256[] ids;
        Job[] jobs;
        IInferenceMarketTypes.SignedResult[] items;
        address[] signers;
    }

    struct BatchExpectation {
        uint256 delivered;
        uint256[3][3] credit; // [provider 0, provider 1, narrow][ETH, A, B]
        uint256[3] served;
        uint256[3] treasury;
        bool[] taken;
        uint256[] item; // the item that delivered each taken job
    }

    /// @dev Claims every job the batch delivered, in one claim.
    function _claimTaken(BatchCase memory c, BatchExpectation memory e) internal returns (uint256) {
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](e.delivered);
        uint256 n;
        for (uint256 j = 0; j < c.ids.length; ++j) {
            if (!e.taken[j]) continue;
            IInferenceMarketTypes.SignedResult memory it = c.items[e.item[j]];
            cs[n++] = IInferenceMarketTypes.Claim({
                jobId: it.jobId,
                job: it.job,
                provider: c.signers[e.item[j]],
                resultHash: it.resultHash
            });
        }
        return IInferenceMarketCourt(address(market)).claim(cs);
    }

    function _claimOne(uint256 jobId, Job memory job, address provider, bytes32 resultHash) internal returns (uint256) {
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](1);
        cs[0] = IInferenceMarketTypes.Claim({
            jobId: jobId,
            job: wordsOf(job),
            provider: provider,
            resultHash: resultHash
        });
        return IInferenceMarketCourt(address(market)).claim(cs);
    }

    /// @dev n k = 1 jobs in random tokens (some requiring tag bit 1), and a batch with one item
    /// per job in order, sometimes repeating the previous job, signed in runs.
    function _batchCase(uint256 seed, uint256 n) internal returns (BatchCase memory c) {
        c.ids = new uint256[](n);
        c.jobs = new Job[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 js = uint256(keccak256(abi.encode(seed, "job", i)));
            (c.ids[i], c.jobs[i]) = _request(
                1,
                uint96(bound(js >> 8, MIN_FEE, 1e24)),
                _tokenAt(js % 3),
                uint40(block.timestamp + 1 hours),
                js >> 128
            );
        }
        uint256 m = n + (seed % 3);
        c.items = new IInferenceMarketTypes.SignedResult[](m);
        c.signers = new address[](m);
        uint256 next;
        for (uint256 i = 0; i < m; ++i) {
            uint256 is_ = uint256(keccak256(abi.encode(seed, "item", i)));
            if (i != 0 && is_ % 4 == 0 && next != 0) --next; // repeat the previous job
            uint256 j = next % n;
            next = j + 1;
            // The signer changes one time in three (runs of the same provider across tokens).
            if (i == 0 || (is_ >> 8) % 3 == 0) {
                uint256 who = (is_ >> 16) % 3;
                c.signers[i] =
                    who == 0
                        ? provs[0]
                        : who == 1
                            ? provs[1]
                            : narrow;
            } else {
                c.signers[i] = c.signers[i - 1];
            }
            c.items[i] = _signed(c.ids[j], c.jobs[j], c.signers[i], keccak256(abi.encode("result", i)));
        }
    }

    /// @dev In item order: the first item of a job whose signer is eligible delivers it.
    function _batchExpectation(BatchCase memory c) internal view returns (BatchExpectation memory e) {
        e.taken = new bool[](c.ids.length);
        e.item = new uint256[](c.ids.length);
        for (uint256 i = 0; i < c.items.length; ++i) {
            uint256 j = _indexOf(c.ids, c.items[i].jobId);
            Job memory job = c.jobs[j];
            if (e.taken[j] || (c.signers[i] == narrow && job.requiredTags & 2 != 0)) continue;
            e.taken[j] = true;
            e.item[j] = i;
            uint256 p =
                c.signers[i] == provs[0]
                    ? 0
                    : c.signers[i] == provs[1]
                        ? 1
                        : 2;
            uint256 t = _tokenIndex(job.token);
            e.credit[p][t] += job.feePerProvider;
            e.treasury[t] += MarketSpec.escrow(1, job.feePerProvider, job.protocolFeeBps) - job.feePerProvider;
            ++e.served[p];
            ++e.delivered;
        }
    }

    /// @notice A provider that a slash took below the minimum stake takes no job — k = 1 directly
    /// (ProviderNotEligible) or in a batch (rejected as ProviderNotEligible), k > 1 (ProviderNotEligible
    /// on commit) — and adding stake makes it eligible again exactly when it reaches the minimum.
    function testFuzz_minStake_gatesEveryKindOfJob(uint256 remainingSeed, uint256 targetSeed, bool viaBatch) public {
        address provider = provs[0];
        uint256 remaining = bound(remainingSeed, 0, MIN_STAKE - 1);
        s.registry.slash(provider, 1_000e18 - remaining, bytes32("dao"));
        _expectNoJobs(provider, remaining, viaBatch);

        // Top up to a target around the minimum (its edges one time in two).
        uint256 target = bound(targetSeed >> 2, remaining + 1, 2 * MIN_STAKE);
        if (targetSeed % 4 == 0) target = MIN_STAKE;
        else if (targetSeed % 4 == 1 && remaining + 1 < MIN_STAKE) target = MIN_STAKE - 1;
        s.stakeToken.mint(provider, target - remaining);
        vm.prank(provider);
        s.stakeToken.approve(address(s.registry), target - remaining);
        vm.prank(provider);
        s.registry.addStake(target - remaining);
        if (target < MIN_STAKE) {
            _expectNoJobs(provider, target, viaBatch);
            return;
        }
        (uint256 jobId, Job memory job) = _request(1, MIN_FEE, address(0), uint40(block.timestamp + 1 hours), 1);
        _deliver(jobId, job, provider, keccak256(abi.encode("result", jobId)), viaBatch, bytes4(0));
        _assertStatus(jobId, IInferenceMarketTypes.JobStatus.Delivered);
        (uint256 multiId, Job memory multi) = _request(3, MIN_FEE, address(0), uint40(block.timestamp + 2 hours), 1);
        _commit(multiId, multi, 0, keccak256(abi.encode("truth", multiId)));
        assertEq(_seatCollateral(provider), uint256(job.collateral) + multi.collateral, "delivery and seat locked");
    }

    /// @dev `provider`, staking `stake` < minStake, is refused a k = 1 and a k = 3 job.
    function _expectNoJobs(address provider, uint256 stake, bool viaBatch) internal {
        assertTrue(stake < MIN_STAKE, "below the minimum");
        // The registry pushed the provider as one that may take no seat.
        bytes memory belowMinimum = abi.encodeWithSelector(
            IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector,
            provider
        );
        (uint256 jobId, Job memory job) = _request(1, MIN_FEE, address(0), uint40(block.timestamp + 1 hours), 1);
        if (viaBatch) {
            IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](1);
            items[0] = _signed(jobId, job, provider, keccak256(abi.encode("result", jobId)));
            vm.expectEmit(true, true, false, true, address(market));
            emit IInferenceMarketTypes.AttestationRejected(
                jobId,
                provider,
                IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector
            );
            assertEq(market.submitAttestations(AttestationBatch.encode(items)), 0, "nothing delivered");
        } else {
            vm.expectRevert(belowMinimum);
            vm.prank(provider);
            market.submitResult(jobId, wordsOf(job), keccak256(abi.encode("result", jobId)), "ipfs://bafy-output");
        }
        _assertStatus(jobId, IInferenceMarketTypes.JobStatus.Open);
        (uint256 multiId, Job memory multi) = _request(3, MIN_FEE, address(0), uint40(block.timestamp + 2 hours), 1);
        bytes32 commitment = MarketSpec.commitment(multiId, provider, bytes32("r"), bytes32("s"));
        vm.expectRevert(belowMinimum);
        vm.prank(provider);
        market.commit(multiId, wordsOf(multi), commitment);
        (bool eligible, , , , , ) = IInferenceMarketCourt(address(market)).providerCollateral(provider);
        assertFalse(eligible, "not eligible below the minimum");
    }

    /// @notice The attestation digest is the EIP-712 hash of the documented type, domain
    /// ("ConclaveInferenceMarket", "1", chain id, market).
    function testFuzz_attestationDigest_isEIP712(bytes32 resultHash, bytes memory outputRef, uint8 k) public {
        k = uint8(bound(k, 1, 4));
        (uint256 jobId, Job memory job) = _request(k, MIN_FEE, address(0), uint40(block.timestamp + 1 hours), k);
        assertEq(
            market.attestationDigest(jobId, wordsOf(job), resultHash, outputRef),
            MarketSpec.attestationDigest(address(market), jobId, job, resultHash, outputRef),
            "digest = EIP-712 spec"
        );
    }
}
