// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CourtFixture} from "./CourtFixture.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {InferenceMarket} from "../../../contracts/market/InferenceMarket.sol";
import {InferenceMarketBase} from "../../../contracts/market/InferenceMarketBase.sol";
import {InferenceMarketCourt} from "../../../contracts/market/InferenceMarketCourt.sol";
import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {AttestationBatch} from "../utils/AttestationBatch.sol";
import {Job, wordsOf, jobFromWords} from "../utils/JobStruct.sol";
import {JobWord, JobWordLib} from "../../../contracts/market/JobWord.sol";

/// @notice Exposes the job word's internals (finding 13): its layout and the job hash.
contract JobWordHarness is InferenceMarketBase {
    constructor(
        IModelRegistry models_,
        IProviderRegistry providers_
    ) InferenceMarketBase(address(0), address(0), models_, providers_) {}

    function layout()
        external
        pure
        returns (uint256 hashMask, uint256 statusShift, uint256 seatedShift, uint256 revealedShift, uint256 timeShift)
    {
        return (
            JobWordLib.HASH_MASK,
            JobWordLib.STATUS_SHIFT,
            JobWordLib.SEATED_SHIFT,
            JobWordLib.REVEALED_SHIFT,
            JobWordLib.TIME_SHIFT
        );
    }

    function fields(
        uint256 word
    )
        external
        pure
        returns (JobStatus status, uint8 seated, uint8 revealed, uint40 time, uint8 revealedSeats, uint256 hashBits)
    {
        JobWord w = JobWord.wrap(word);
        return (w.status(), w.seated(), w.revealed(), w.time(), uint8(word), word & JobWordLib.HASH_MASK);
    }

    function withStatus(uint256 word, JobStatus status) external pure returns (uint256) {
        return JobWord.unwrap(JobWord.wrap(word).withStatus(status));
    }

    function timeField(uint256 time) external pure returns (uint256) {
        return JobWord.unwrap(JobWord.wrap(0).withTime(time));
    }

    function jobHash(uint256 jobId, uint256[6] calldata job) external pure returns (uint256) {
        return _jobHash(jobId, job);
    }
}

// ==================================================================== finding 13: hash width

/// @notice Finding 13: the job word keeps 200 bits of a hash that binds the job id.
contract InferenceMarketJobHashTest is CourtFixture {
    JobWordHarness internal harness;

    function setUp() public override {
        super.setUp();
        harness = new JobWordHarness(models, registry);
    }

    /// @notice The hash is keccak256(abi.encode(jobId, job)) and 200 bits of it are kept.
    function test_jobHash_isKeccakOfJobIdAndJob() public {
        (uint256 id, Job memory job) = _k1Eth();
        assertEq(
            harness.jobHash(id, wordsOf(job)),
            uint256(keccak256(abi.encode(id, wordsOf(job)))),
            "hash pre-image is (jobId, job words)"
        );
        (uint256 mask, , , , ) = harness.layout();
        assertEq(mask, ~uint256(0) << 56, "200 hash bits");
        // The request stored exactly that hash: the job is served with its own struct.
        _deliver(id, job, prov[0], RESULT);
        assertEq(_status(id), DELIVERED, "delivered");
    }

    /// @notice Attack: job A's struct replayed on job B's id. Refused: the hash binds the id.
    function test_jobHash_bindsJobId() public {
        (uint256 a, Job memory jobA) = _k1Eth();
        (uint256 b, ) = _k1Eth();
        vm.prank(prov[0]);
        vm.expectRevert(_jobMismatch(b));
        market.submitResult(b, wordsOf(jobA), RESULT, OUTPUT);
        // The same on the k > 1 path and for cancel/finalize.
        (uint256 c, Job memory jobC) = _requestEth(3);
        (uint256 d, ) = _requestEth(3);
        vm.prank(prov[0]);
        vm.expectRevert(_jobMismatch(d));
        market.commit(d, wordsOf(jobC), bytes32(uint256(1)));
        vm.warp(block.timestamp + 2 hours);
        vm.expectRevert(_jobMismatch(d));
        market.finalize(d, wordsOf(jobC));
        market.finalize(c, wordsOf(jobC)); // its own id works
        market.finalize(a, wordsOf(jobA));
        assertEq(_status(a), REFUNDED, "a refunded");
    }

    /// @notice A delivery's and a challenge's bindings include the job id too: a delivery of
    /// job A cannot be claimed or challenged under job B's id.
    function test_jobHash_deliveryBindsJobId() public {
        (uint256 a, Job memory jobA) = _k1Eth();
        (uint256 b, Job memory jobB) = _k1Eth();
        _deliver(a, jobA, prov[0], RESULT);
        _deliver(b, jobB, prov[0], RESULT);
        vm.prank(prov[1]);
        vm.expectRevert(_jobMismatch(b));
        court.challenge(b, wordsOf(jobA), prov[0], RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(a, jobA, prov[0], RESULT, prov[1]);
        vm.expectRevert(_jobMismatch(a));
        court.resolveChallenge(a, wordsOf(jobB), ch);
    }

    /// @notice Any one flipped bit in the job id or in any of the job's 6 words is refused as a
    /// mismatch (the word's 200 bits catch it), before any field is read.
    function testFuzz_jobHash_anyBitFlipRejected(uint256 wordSeed, uint256 bitSeed) public {
        (uint256 id, Job memory job) = _k1Eth();
        uint256 w = bound(wordSeed, 0, 6); // 0: the job id; 1-6: the job's words
        uint256 bit = bound(bitSeed, 0, 255);
        bytes memory data = abi.encodeCall(InferenceMarket.submitResult, (id, wordsOf(job), RESULT, OUTPUT));
        uint256 at = 4 + 32 * w + (31 - bit / 8);
        data[at] = bytes1(uint8(data[at]) ^ uint8(1 << (bit % 8)));
        uint256 expectedId = w == 0 ? id ^ (uint256(1) << bit) : id;
        vm.prank(prov[0]);
        (bool ok, bytes memory ret) = address(market).call(data);
        assertFalse(ok, "a flipped bit is refused");
        assertEq(keccak256(ret), keccak256(_jobMismatch(expectedId)), "as a job mismatch");
        assertEq(_status(id), OPEN, "still open");
    }

    /// @notice Every field of the word round-trips at its maximum, and changing one leaves the
    /// others as they were.
    function test_jobWord_fieldsRoundTripAtMaxima() public view {
        (uint256 mask, uint256 statusShift, uint256 seatedShift, uint256 revealedShift, uint256 timeShift) = harness
            .layout();
        uint256 maxTime = type(uint32).max;
        uint256 word =
            mask |
                (uint256(15) << statusShift) |
                (uint256(63) << seatedShift) |
                (uint256(63) << revealedShift) |
                harness.timeField(maxTime) |
                0xff;
        assertEq(word, type(uint256).max, "the fields tile the word exactly");
        word &= ~(uint256(8) << statusShift); // the highest status, JuryRevealing (7)
        (IInferenceMarketTypes.JobStatus s, uint8 seated, uint8 revealed, uint40 time, uint8 seats, uint256 h) = harness
            .fields(word);
        assertEq(uint256(s), 7, "status max");
        assertEq(seated, 63, "seated max");
        assertEq(revealed, 63, "revealed max");
        assertEq(time, maxTime, "time max (2106)");
        assertEq(seats, 0xff, "revealed seats 0-7");
        assertEq(h, mask, "hash bits");
        uint256 changed = harness.withStatus(word, IInferenceMarketTypes.JobStatus.Open);
        (s, seated, revealed, time, seats, h) = harness.fields(changed);
        assertEq(uint256(s), 1, "status changed");
        assertEq(seated + revealed, 126, "counts kept");
        assertEq(time, maxTime, "time kept");
        assertEq(seats, 0xff, "seats kept");
        assertEq(h, mask, "hash kept");
        assertEq(timeShift, 8, "time above the revealed-seat bits");
    }

    /// @notice The counts' real maxima (32 seats, 32 reveals) grow from 0 without carrying.
    function test_jobWord_countsReachMaximaWithoutCarry() public view {
        (uint256 mask, , uint256 seatedShift, uint256 revealedShift, ) = harness.layout();
        uint256 counted = mask;
        for (uint256 i = 0; i < 32; ++i) counted += (uint256(1) << seatedShift) + (uint256(1) << revealedShift);
        (IInferenceMarketTypes.JobStatus s, uint8 seated, uint8 revealed, , , uint256 h) = harness.fields(counted);
        assertEq(seated, 32, "32 seats");
        assertEq(revealed, 32, "32 reveals");
        assertEq(uint256(s), 0, "no carry into the status");
        assertEq(h, mask, "no carry into the hash");
    }
}

// ==================================================================== finding 16: collateral ≥ 1 token

/// @notice Finding 16: with `collateralPerJob` 0 a k > 1 seat (or a k = 1 delivery) could be
/// taken and abandoned at no cost; the policy now refuses less than one stake token.
contract InferenceMarketMinCollateralTest is CourtFixture {
    /// @notice Attack: the DAO (or a captured vote) sets the collateral to 0 so that a squatter's
    /// silent seat costs nothing. Refused by setPolicy, below 1 token too; 1 token is accepted.
    function test_setPolicy_refusesCollateralBelowOneToken() public {
        court.setChallengePolicy(_policy(CHALLENGE_WINDOW, 3, 0, 5_000)); // the jury check aside
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = 0;
        vm.expectRevert(_outOfBounds("collateralPerJob", 0));
        court.setPolicy(p);
        p.collateralPerJob = 1e18 - 1;
        vm.expectRevert(_outOfBounds("collateralPerJob", 1e18 - 1));
        court.setPolicy(p);
        p.collateralPerJob = 1e18;
        court.setPolicy(p);
        assertEq(market.policy().collateralPerJob, 1e18, "one token accepted");
    }

    /// @notice Both checks hold together: one token but below jurySize × juryFee is refused.
    function test_setPolicy_collateralStillCoversJuryFees() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = 1e18; // ≥ 1 token, < 3 × 1e18 of jury fees
        vm.expectRevert(_outOfBounds("collateralPerJob", 1e18));
        court.setPolicy(p);
    }

    /// @notice The constructor applies the same bound.
    function test_constructor_refusesCollateralBelowOneToken() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = 0;
        IInferenceMarketTypes.ChallengePolicy memory c = _defaultChallengePolicy();
        address courtImpl = address(new InferenceMarketCourt(models, registry));
        vm.expectRevert(_outOfBounds("collateralPerJob", 0));
        new InferenceMarket(address(this), guardian, models, registry, treasury, p, c, courtImpl);
    }

    /// @notice Fuzz: any collateral below one token, or above the 96 bits a job's words hold,
    /// is refused; any between (covering the jury fees) accepted.
    function testFuzz_setPolicy_collateralBound(uint128 collateral) public {
        court.setChallengePolicy(_policy(CHALLENGE_WINDOW, 3, 0, 5_000));
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = collateral;
        if (collateral < 1e18 || collateral > type(uint96).max)
            vm.expectRevert(_outOfBounds("collateralPerJob", collateral));
        court.setPolicy(p);
    }
}

// ==================================================================== finding 11: batch framing

/// @notice Finding 11: a malformed item used to revert the whole signed batch (the ABI decoder
/// ran before the per-item checks). The batch is raw bytes framed by the market: every bad item
/// is skipped with {AttestationRejected}, the rest delivered.
contract InferenceMarketBatchFramingTest is CourtFixture {
    bytes4 internal immutable MALFORMED = IInferenceMarketTypes.InferenceMarketMalformedAttestation.selector;

    /// @dev Three open k = 1 jobs, each signed by prov[0], framed one by one.
    function _three() internal returns (uint256[3] memory ids, bytes[3] memory framed) {
        for (uint256 i = 0; i < 3; ++i) {
            Job memory job;
            (ids[i], job) = _k1Eth();
            framed[i] = AttestationBatch.encodeItem(_sign(market, pks[0], ids[i], job, RESULT));
        }
    }

    function _submitRaw(bytes memory batch) internal returns (uint256 delivered, Rejection[] memory rj) {
        vm.recordLogs();
        vm.prank(stranger);
        delivered = market.submitAttestations(batch);
        rj = _rejections(vm.getRecordedLogs(), address(market));
    }

    /// @notice Attack: one item with a bogus length in the middle of a batch. Before, the whole
    /// batch reverted; now only that item is skipped.
    function test_submitAttestations_malformedMiddleItemSkipped() public {
        (uint256[3] memory ids, bytes[3] memory f) = _three();
        bytes memory junk = abi.encodePacked(uint32(100), ids[1], new bytes(68)); // 100 bytes < 769, the smallest item
        (uint256 delivered, Rejection[] memory rj) = _submitRaw(bytes.concat(f[0], junk, f[2]));
        assertEq(delivered, 2, "the two good items delivered");
        assertEq(rj.length, 1, "one rejection");
        _assertRejection(rj[0], ids[1], address(0), MALFORMED, "short item");
        assertEq(_status(ids[0]), DELIVERED, "first delivered");
        assertEq(_status(ids[2]), DELIVERED, "third delivered");
        assertEq(_status(ids[1]), OPEN, "second untouched");
    }

    /// @notice A length running past the end rejects the remainder with one event; what came
    /// before is delivered.
    function test_submitAttestations_lengthPastEndRejectsRemainder() public {
        (uint256[3] memory ids, bytes[3] memory f) = _three();
        bytes memory bad = f[1];
        bad[0] = 0x7f; // len ≈ 2^31: far past the end
        (uint256 delivered, Rejection[] memory rj) = _submitRaw(bytes.concat(f[0], bad, f[2]));
        assertEq(delivered, 1, "only the item before");
        assertEq(rj.length, 1, "one event for the remainder");
        _assertRejection(rj[0], ids[1], address(0), MALFORMED, "remainder");
        assertEq(_status(ids[1]), OPEN, "second untouched");
        assertEq(_status(ids[2]), OPEN, "third (in the remainder) untouched");
    }

    /// @notice A truncated last item (its bytes cut short of its length), and a cut length prefix.
    function test_submitAttestations_truncatedItemRejected() public {
        (uint256[3] memory ids, bytes[3] memory f) = _three();
        bytes memory cut = new bytes(f[1].length - 10);
        for (uint256 i = 0; i < cut.length; ++i) cut[i] = f[1][i];
        (uint256 delivered, Rejection[] memory rj) = _submitRaw(bytes.concat(f[0], cut));
        assertEq(delivered, 1, "the whole item before");
        assertEq(rj.length, 1, "the cut item");
        _assertRejection(rj[0], ids[1], address(0), MALFORMED, "cut");
        (delivered, rj) = _submitRaw(bytes.concat(f[2], hex"0000"));
        assertEq(delivered, 1, "a cut prefix does not hurt the item before");
        _assertRejection(rj[0], 0, address(0), MALFORMED, "cut prefix");
        (delivered, rj) = _submitRaw("");
        assertEq(delivered + rj.length, 0, "an empty batch does nothing");
    }

    /// @notice A bad signature (zero r, s; or v = 29) is rejected alone.
    function test_submitAttestations_badSignatureSkipped() public {
        (uint256[3] memory ids, bytes[3] memory f) = _three();
        bytes memory zeroSig = f[1];
        for (uint256 i = zeroSig.length - 65; i < zeroSig.length; ++i) zeroSig[i] = 0;
        zeroSig[zeroSig.length - 1] = bytes1(uint8(27));
        bytes memory badV = bytes.concat(f[2]);
        badV[badV.length - 1] = bytes1(uint8(29));
        (uint256 delivered, Rejection[] memory rj) = _submitRaw(bytes.concat(zeroSig, f[0], badV));
        assertEq(delivered, 1, "the good item");
        assertEq(rj.length, 2, "two rejections");
        _assertRejection(
            rj[0],
            ids[1],
            address(0),
            IInferenceMarketTypes.InferenceMarketInvalidSignature.selector,
            "zero sig"
        );
        _assertRejection(
            rj[1],
            ids[2],
            address(0),
            IInferenceMarketTypes.InferenceMarketInvalidSignature.selector,
            "v = 29"
        );
    }

    /// @notice A Job word with dirty high bits (which Solidity's checked accessors revert on) is a
    /// mismatch of that item only.
    function test_submitAttestations_dirtyJobWordSkipped() public {
        (uint256[3] memory ids, bytes[3] memory f) = _three();
        bytes memory dirty = f[1];
        // The version word (Job word 3) starts at 4 + 32 + 3 × 32; set its top byte.
        dirty[4 + 32 + 3 * 32] = 0xff;
        (uint256 delivered, Rejection[] memory rj) = _submitRaw(bytes.concat(f[0], dirty, f[2]));
        assertEq(delivered, 2, "the good items");
        assertEq(rj.length, 1, "the dirty one");
        assertEq(rj[0].jobId, ids[1], "its job");
        assertEq(_status(ids[1]), OPEN, "untouched");
    }

    /// @notice Whatever bytes follow a good item, the call never reverts and the good item is
    /// delivered.
    function testFuzz_submitAttestations_garbageNeverReverts(bytes memory garbage) public {
        (uint256[3] memory ids, bytes[3] memory f) = _three();
        (uint256 delivered, ) = _submitRaw(bytes.concat(f[0], garbage));
        assertGe(delivered, 1, "the good item");
        assertEq(_status(ids[0]), DELIVERED, "delivered");
    }

    /// @notice Fuzz: one byte of a three-item batch changed anywhere never reverts the call and
    /// never delivers an item whose bytes changed; untouched items before it are delivered.
    function testFuzz_submitAttestations_anyByteChangedNeverReverts(uint256 atSeed, uint8 x) public {
        (uint256[3] memory ids, bytes[3] memory f) = _three();
        bytes memory batch = bytes.concat(f[0], f[1], f[2]);
        uint256 at = bound(atSeed, 0, batch.length - 1);
        vm.assume(x != uint8(batch[at]));
        batch[at] = bytes1(x);
        (uint256 delivered, ) = _submitRaw(batch);
        uint256 hit = at / f[0].length; // every item has the same length here
        assertLe(delivered, 3, "at most every item");
        for (uint256 i = 0; i < hit; ++i) assertEq(_status(ids[i]), DELIVERED, "items before the change delivered");
        if (at % f[0].length >= 4) assertEq(_status(ids[hit]), OPEN, "the changed item is not delivered");
    }
}

// ==================================================================== finding 12: wind-down

/// @notice Finding 12: revoking a market's MARKET_ROLE (a migration) made `finalize`, claims and
/// settlements revert, stranding escrow and collateral. A market leaving MARKET_ROLE now becomes a
/// retired market in the registry (it settles what it locked, locks nothing new), and the DAO's
/// `windDown` refunds Open jobs at once and lets every other job run to its end.
contract InferenceMarketWindDownTest is CourtFixture {
    struct Jobs {
        uint256 a; // k = 1 delivered by prov[0], in its challenge window
        uint256 b; // k = 1 open
        uint256 c; // k = 3 revealing: prov[0..2] committed RESULT
        uint256 d; // k = 3 open: prov[4] holds one seat
        uint256 e; // k = 1 garbage from prov[1], challenged by prov[2], jury seated (RESULT)
        uint256 f; // k = 1 from prov[0], challenged by prov[3], no juror yet
        Job ja;
        Job jb;
        Job jc;
        Job jd;
        Job je;
        Job jf;
        IInferenceMarketTypes.Challenge che;
        IInferenceMarketTypes.Challenge chf;
        address[] jurors;
    }

    bytes32 internal retiredRole;

    function setUp() public override {
        super.setUp();
        retiredRole = registry.RETIRED_MARKET_ROLE();
    }

    function _open(Jobs memory j) internal {
        (j.e, j.je) = _k1Eth();
        _deliver(j.e, j.je, prov[1], OTHER_RESULT);
        j.che = _challenge(j.e, j.je, prov[1], OTHER_RESULT, prov[2]);
        j.jurors = _seatJury(j.e, j.je, j.che, _three(RESULT, RESULT, RESULT));
        assertEq(_status(j.e), JURY_REVEALING, "E: jury seated");

        (j.a, j.ja) = _k1Eth();
        _deliver(j.a, j.ja, prov[0], RESULT);
        (j.b, j.jb) = _k1Eth();
        (j.c, j.jc) = _requestEth(3);
        for (uint256 i = 0; i < 3; ++i) assertEq(_commit(j.c, j.jc, prov[i], RESULT), i, "C seat");
        assertEq(_status(j.c), REVEALING, "C revealing");
        (j.d, j.jd) = _requestEth(3);
        _commit(j.d, j.jd, prov[4], RESULT);
        (j.f, j.jf) = _k1Eth();
        _deliver(j.f, j.jf, prov[0], RESULT);
        j.chf = _challenge(j.f, j.jf, prov[0], RESULT, prov[3]);
    }

    /// @dev A new market with the same registries, given MARKET_ROLE by the DAO.
    function _replacement() internal returns (InferenceMarket m) {
        m = _secondMarket();
    }

    function _retired() internal view returns (bytes memory) {
        return abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMarketRetired.selector, address(market));
    }

    /// @notice Attack (before the fix): the DAO migrates to a new market by revoking the old one's
    /// MARKET_ROLE; every k = 1, k = 3 and challenged job in flight then reverts at settlement
    /// and its escrow and collateral are stranded. Now: the old market winds down, every job
    /// ends with the payouts it would have had (Open ones refunded), nothing stays locked or
    /// stranded, and only the garbage provider is slashed.
    function test_windDown_replaceMarketMidJobs_everyJobEnds() public {
        Jobs memory j;
        _open(j);
        InferenceMarket next = _replacement();
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.MarketWoundDown();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.MarketRetired(address(market));
        court.windDown();
        assertTrue(court.woundDown(), "wound down");
        assertFalse(registry.hasRole(registry.MARKET_ROLE(), address(market)), "old market left MARKET_ROLE");
        assertTrue(registry.hasRole(retiredRole, address(market)), "and is a retired market");

        // Nothing new: requests, deliveries, commits, challenges, jury commits; the market refuses
        // them itself, before any allocation (a provider with collateral free here is refused too).
        uint256 escrow = _escrow(1);
        vm.deal(client, escrow);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        vm.prank(client);
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketWoundDown.selector);
        market.requestJob{value: escrow}(r);
        vm.prank(prov[5]);
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketWoundDown.selector);
        market.submitResult(j.b, wordsOf(j.jb), RESULT, OUTPUT);
        vm.prank(prov[5]);
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketWoundDown.selector);
        market.commit(j.d, wordsOf(j.jd), bytes32(uint256(1)));
        vm.prank(prov[5]);
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketWoundDown.selector);
        court.challenge(j.a, wordsOf(j.ja), prov[0], RESULT);
        vm.prank(prov[5]);
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketWoundDown.selector);
        court.juryCommit(j.f, wordsOf(j.jf), j.chf, bytes32(uint256(1)));
        // Batches too (they lock collateral without the single-seat path): a batch of one is refused
        // whole, whoever signs it and whoever sends it.
        vm.prank(prov[5]);
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketWoundDown.selector);
        market.submitResults(AttestationBatch.encodeOwnItem(j.b, wordsOf(j.jb), RESULT, OUTPUT));
        bytes memory signed = AttestationBatch.encodeItem(_sign(market, pks[5], j.b, j.jb, RESULT));
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketWoundDown.selector);
        market.submitAttestations(signed);

        // Open jobs: refunds at once, the k = 3 seat released with no fault.
        market.finalize(j.b, wordsOf(j.jb));
        market.finalize(j.d, wordsOf(j.jd));
        assertEq(_status(j.b), REFUNDED, "B refunded");
        assertEq(_status(j.d), REFUNDED, "D refunded");
        // Past Open: C's reveals settle it, E's jury resolves it (provider wrong).
        for (uint256 i = 0; i < 3; ++i) _reveal(j.c, j.jc, prov[i], uint8(i), RESULT);
        assertEq(_status(j.c), SETTLED, "C settled");
        _revealAll(j.e, j.je, j.che, j.jurors, _three(RESULT, RESULT, RESULT));
        assertEq(_status(j.e), REFUNDED, "E: provider wrong, client refunded");
        // A is claimed after its window; F's jury never filled: Inconclusive, provider paid.
        vm.warp(block.timestamp + COMMIT_WINDOW + CHALLENGE_WINDOW + 1);
        assertEq(_claim(j.a, j.ja, prov[0], RESULT), 1, "A claimed");
        court.resolveChallenge(j.f, wordsOf(j.jf), j.chf);
        assertEq(_status(j.a), SETTLED, "A settled");
        assertEq(_status(j.f), SETTLED, "F settled");

        // Payouts: as without the migration.
        assertEq(_ethCredit(client), 2 * _escrow(1) + _escrow(3), "client: B, D and E refunded");
        assertEq(_ethCredit(prov[0]), 3 * uint256(FEE), "prov[0]: A, C and F");
        assertEq(_ethCredit(prov[1]), FEE, "prov[1]: C");
        assertEq(_ethCredit(prov[2]), FEE, "prov[2]: C");
        assertEq(_ethCredit(prov[3]) + _ethCredit(prov[4]), 0, "no fee for the others");
        // Nothing locked, nothing stranded, nobody honest slashed.
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            address p = _candidate(i);
            assertEq(_lockedOf(p), 0, "no collateral left locked");
            assertEq(_stakeOf(p), p == prov[1] ? STAKE - COLLATERAL : STAKE, "only the garbage provider slashed");
        }
        _assertSolvent(market);

        // The new market works meanwhile.
        // prov[0]'s stake is allocated to the old market, free there now: it takes it back.
        vm.prank(prov[0]);
        registry.deallocate(address(market), STAKE);
        assertEq(registry.getProvider(prov[0]).locked, 0, "nothing allocated");
        (uint256 id, Job memory job) = _requestOn(next, client, _req(1, address(0)));
        vm.prank(prov[0]);
        next.submitResult(id, wordsOf(job), RESULT, OUTPUT);
        assertEq(
            registry.getProvider(prov[0]).locked - _freeOn(next, prov[0]),
            COLLATERAL,
            "the new market locks collateral"
        );

        // Claims and withdrawals work forever: everyone withdraws from the old market.
        _withdrawAll(market);
        assertEq(address(market).balance, market.protocolFees(address(0)), "only the protocol fees remain");
        assertEq(stakeToken.balanceOf(address(market)), 0, "no stake token left");
    }

    /// @notice The DAO revoking MARKET_ROLE alone (no windDown) no longer strands jobs either: the
    /// market becomes a retired market and its settlements go through.
    function test_revokeMarketRole_retiresAndSettlementsStillWork() public {
        Jobs memory j;
        _open(j);
        bytes32 marketRole = registry.MARKET_ROLE();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.MarketRetired(address(market));
        registry.revokeRole(marketRole, address(market));
        assertTrue(registry.hasRole(retiredRole, address(market)), "retired");
        vm.prank(prov[5]);
        vm.expectRevert(_retired());
        market.submitResult(j.b, wordsOf(j.jb), RESULT, OUTPUT);
        for (uint256 i = 0; i < 3; ++i) _reveal(j.c, j.jc, prov[i], uint8(i), RESULT);
        _revealAll(j.e, j.je, j.che, j.jurors, _three(RESULT, RESULT, RESULT));
        vm.warp(block.timestamp + 2 hours);
        assertEq(_claim(j.a, j.ja, prov[0], RESULT), 1, "A claimed");
        court.resolveChallenge(j.f, wordsOf(j.jf), j.chf);
        market.finalize(j.b, wordsOf(j.jb));
        market.finalize(j.d, wordsOf(j.jd));
        for (uint256 i = 0; i < CANDIDATES; ++i) assertEq(_lockedOf(_candidate(i)), 0, "nothing locked");
        _assertSolvent(market);
        // windDown still works afterwards (the registry call is a no-op for a retired market).
        court.windDown();
        assertTrue(court.woundDown(), "wound down");
    }

    /// @notice Only the DAO winds down, once; an Open job is not finalizable early on a live market.
    function test_windDown_onlyDaoOnce() public {
        (uint256 id, Job memory job) = _k1Eth();
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Open));
        market.finalize(id, wordsOf(job));
        vm.prank(stranger);
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        court.windDown();
        court.windDown();
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketWoundDown.selector);
        court.windDown();
        market.finalize(id, wordsOf(job));
        assertEq(_ethCredit(client), _escrow(1), "refunded at once");
    }

    /// @notice The registry: a retired market is allocated nothing; only a market (active or
    /// retired) seizes or retires; a stranger cannot.
    function test_registry_retiredMarketSeizesButCannotAllocate() public {
        address m = address(0xBEEF);
        bytes32 marketRole = registry.MARKET_ROLE();
        registry.grantRole(marketRole, m);
        vm.prank(m);
        assertEq(registry.allocate(prov[0], COLLATERAL, COLLATERAL), COLLATERAL, "allocated up to the maximum");
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, marketRole)
        );
        registry.retireMarket();
        vm.prank(m);
        registry.retireMarket();
        vm.prank(m);
        registry.retireMarket(); // a no-op once retired
        vm.prank(m);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMarketRetired.selector, m));
        registry.allocate(prov[0], COLLATERAL, COLLATERAL);
        vm.prank(m);
        registry.seize(prov[0], COLLATERAL, IProviderRegistry.Fault.Missed, bytes32(0));
        assertEq(registry.getProvider(prov[0]).locked, 0, "seized by the retired market");
        assertEq(_stakeOf(prov[0]), STAKE - COLLATERAL, "from the stake");
        assertEq(registry.getProvider(prov[0]).missed, 1, "fault counted");
        assertEq(stakeToken.balanceOf(m), COLLATERAL, "tokens to the market");
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, marketRole)
        );
        registry.seize(prov[0], 0, IProviderRegistry.Fault.Missed, bytes32(0));
        // The DAO may cut a retired market off entirely.
        registry.revokeRole(retiredRole, m);
        vm.prank(m);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, m, marketRole)
        );
        registry.seize(prov[0], 0, IProviderRegistry.Fault.Missed, bytes32(0));
    }

    /// @dev One job of the fuzzed wind-down: its kind (0 k = 1 open, 1 k = 1 delivered, 2 k = 1
    /// garbage challenged with no juror, 3 k = 1 garbage challenged with a seated jury, 4 k = 3
    /// with `seats` seats).
    struct FuzzJob {
        uint256 kind;
        uint256 seats;
        uint256 id;
        Job job;
        IInferenceMarketTypes.Challenge ch;
        address[] jurors;
    }

    /// @notice Fuzz: whatever jobs are in flight (open, delivered, challenged with or without a
    /// jury, k = 3 with 0-3 seats) and whenever the DAO winds the market down, every job ends,
    /// nothing stays locked, the market holds exactly what it owes, and only the provider that
    /// delivered garbage loses stake (once per jury that found it wrong).
    function testFuzz_windDown_anyMomentNothingStranded(uint256 seed, uint16 waitSeed) public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.revealWindow = 1_000; // reveals stay open however long the juries take to seat
        court.setPolicy(p);
        address garbage = prov[6];
        address challenger = prov[5];
        FuzzJob[] memory jobs = new FuzzJob[](4);
        for (uint256 i = 0; i < 4; ++i) {
            jobs[i].kind = (seed >> (8 * i)) % 5;
            jobs[i].seats = (seed >> (8 * i + 4)) % 4;
        }
        // Juries first (their seating moves time), k = 3 last (their commit windows fresh).
        uint256 wrongs;
        for (uint256 pass = 0; pass < 3; ++pass) {
            for (uint256 i = 0; i < 4; ++i) {
                FuzzJob memory j = jobs[i];
                uint256 order =
                    j.kind == 3
                        ? 0
                        : j.kind == 4
                            ? 2
                            : 1;
                if (order != pass) continue;
                if (j.kind == 4) {
                    (j.id, j.job) = _requestEth(3);
                    for (uint256 s = 0; s < j.seats; ++s) _commit(j.id, j.job, prov[s], RESULT);
                    continue;
                }
                (j.id, j.job) = _k1Eth();
                if (j.kind == 1) _deliver(j.id, j.job, prov[3], RESULT);
                if (j.kind >= 2) {
                    _deliver(j.id, j.job, garbage, OTHER_RESULT);
                    j.ch = _challenge(j.id, j.job, garbage, OTHER_RESULT, challenger);
                }
                if (j.kind == 3) {
                    j.jurors = _seatJury(j.id, j.job, j.ch, _three(RESULT, RESULT, RESULT));
                    ++wrongs;
                }
            }
        }
        vm.warp(block.timestamp + (waitSeed % 60));
        court.windDown();

        // Drive every job to its end.
        for (uint256 i = 0; i < 4; ++i) {
            FuzzJob memory j = jobs[i];
            if (j.kind == 0 || (j.kind == 4 && j.seats < 3)) market.finalize(j.id, wordsOf(j.job));
            if (j.kind == 4 && j.seats == 3) {
                for (uint256 s = 0; s < 3; ++s) _reveal(j.id, j.job, prov[s], uint8(s), RESULT);
            }
            if (j.kind == 3) _revealAll(j.id, j.job, j.ch, j.jurors, _three(RESULT, RESULT, RESULT));
        }
        vm.warp(block.timestamp + COMMIT_WINDOW + CHALLENGE_WINDOW + 1);
        for (uint256 i = 0; i < 4; ++i) {
            FuzzJob memory j = jobs[i];
            if (j.kind == 1) assertEq(_claim(j.id, j.job, prov[3], RESULT), 1, "claimed");
            if (j.kind == 2) court.resolveChallenge(j.id, wordsOf(j.job), j.ch);
        }

        for (uint256 i = 0; i < 4; ++i) {
            uint256 st = _status(jobs[i].id);
            assertTrue(st == SETTLED || st == REFUNDED, "every job ended");
        }
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            address q = _candidate(i);
            assertEq(_lockedOf(q), 0, "nothing locked");
            assertEq(_stakeOf(q), q == garbage ? STAKE - wrongs * COLLATERAL : STAKE, "only garbage is slashed");
        }
        _assertSolvent(market);
        _withdrawAll(market);
        assertEq(address(market).balance, market.protocolFees(address(0)), "only the protocol fees remain");
    }

    function _accounts() internal view returns (address[] memory a) {
        a = new address[](CANDIDATES + 2);
        for (uint256 i = 0; i < CANDIDATES; ++i) a[i] = _candidate(i);
        a[CANDIDATES] = client;
        a[CANDIDATES + 1] = stranger;
    }

    /// @dev The market holds exactly what it owes (credits and protocol fees) in ETH and the stake token.
    function _assertSolvent(InferenceMarket m) internal view {
        address[] memory a = _accounts();
        uint256 eth = m.protocolFees(address(0));
        uint256 stake = m.protocolFees(address(stakeToken));
        for (uint256 i = 0; i < a.length; ++i) {
            eth += m.balanceOf(a[i], address(0));
            stake += m.balanceOf(a[i], address(stakeToken));
        }
        assertEq(address(m).balance, eth, "ETH: held == owed (no escrow stranded)");
        assertEq(stakeToken.balanceOf(address(m)), stake, "stake token: held == owed");
    }

    function _withdrawAll(InferenceMarket m) internal {
        address[] memory a = _accounts();
        for (uint256 i = 0; i < a.length; ++i) {
            if (m.balanceOf(a[i], address(0)) != 0) {
                vm.prank(a[i]);
                m.withdraw(address(0));
            }
            if (m.balanceOf(a[i], address(stakeToken)) != 0) {
                vm.prank(a[i]);
                m.withdraw(address(stakeToken));
            }
        }
    }
}
