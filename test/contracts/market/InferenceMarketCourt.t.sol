// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "../utils/Test.sol";
import {AssignmentSpec} from "../utils/AssignmentSpec.sol";
import {InferenceMarketFixture} from "./InferenceMarketFixture.sol";
import {InferenceMarketCourt} from "../../../contracts/market/InferenceMarketCourt.sol";
import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {IInferenceMarketCourt} from "../../../contracts/interfaces/IInferenceMarketCourt.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";
import {Job, wordsOf, jobFromWords} from "../utils/JobStruct.sol";

/// @notice Helpers for the k = 1 challenge path: deliveries, claims, challenges and juries,
/// called on the market's address (its fallback runs the court by DELEGATECALL). Six more
/// approved providers join the fixture's seven so that juries of up to nine can sit beside the
/// two parties.
abstract contract CourtFixture is InferenceMarketFixture {
    uint256 internal constant EXTRA = 6;
    uint256 internal constant CANDIDATES = NUM_PROVIDERS + EXTRA;
    uint256 internal constant BPS = 10_000;
    uint8 internal constant JURY = 3;
    uint96 internal constant JURY_FEE = uint96(COLLATERAL / 10);
    uint16 internal constant CHALLENGER_SHARE_BPS = 5_000;

    uint256 internal constant DELIVERED = uint256(IInferenceMarketTypes.JobStatus.Delivered);
    uint256 internal constant CHALLENGED = uint256(IInferenceMarketTypes.JobStatus.Challenged);
    uint256 internal constant JURY_REVEALING = uint256(IInferenceMarketTypes.JobStatus.JuryRevealing);

    IInferenceMarketCourt internal court;
    address[EXTRA] internal extra;

    function setUp() public virtual override {
        super.setUp();
        court = IInferenceMarketCourt(address(market));
        for (uint256 i = 0; i < EXTRA; ++i) {
            extra[i] = vm.addr(0xD1 + i);
            _register(extra[i], MEMORY, TAGS);
            registry.approveProvider(extra[i], TAGS);
        }
    }

    // ---------------------------------------------------------------- jobs

    /// @dev A k = 1 request by the client, funded exactly; the Job is read from {JobRequested}
    /// (it snapshots the collateral and the challenge window).
    function _k1(address token) internal returns (uint256 id, Job memory job) {
        IInferenceMarketTypes.JobRequest memory r = _req(1, token);
        uint256 escrow = market.escrowOf(1, FEE, market.policy().protocolFeeBps);
        uint128 collateral = market.policy().collateralPerJob;
        uint32 window = court.challengePolicy().challengeWindow;
        uint256 value;
        if (token == address(0)) {
            vm.deal(client, client.balance + escrow);
            value = escrow;
        } else {
            MockERC20(token).mint(client, escrow);
            vm.prank(client);
            MockERC20(token).approve(address(market), escrow);
        }
        vm.recordLogs();
        vm.prank(client);
        id = market.requestJob{value: value}(r);
        job = _jobFromLogs(market, id, vm.getRecordedLogs());
        assertEq(job.collateral, collateral, "k = 1 job snapshots the collateral");
        assertEq(job.challengeWindow, window, "k = 1 job snapshots the challenge window");
    }

    function _k1Eth() internal returns (uint256 id, Job memory job) {
        return _k1(address(0));
    }

    function _deliver(uint256 id, Job memory job, address p, bytes32 result) internal {
        vm.prank(p);
        market.submitResult(id, wordsOf(job), result, OUTPUT);
    }

    /// @dev A k = 1 job delivered by prov[0] with `result`.
    function _delivered(bytes32 result) internal returns (uint256 id, Job memory job) {
        (id, job) = _k1Eth();
        _deliver(id, job, prov[0], result);
    }

    function _escrowNow() internal view returns (uint256) {
        return market.escrowOf(1, FEE, market.policy().protocolFeeBps);
    }

    // ---------------------------------------------------------------- claims

    function _claimOf(uint256 id, Job memory job, address p, bytes32 result)
        internal
        pure
        returns (IInferenceMarketTypes.Claim memory)
    {
        return IInferenceMarketTypes.Claim({jobId: id, job: wordsOf(job), provider: p, resultHash: result});
    }

    function _claims1(IInferenceMarketTypes.Claim memory c) internal pure returns (IInferenceMarketTypes.Claim[] memory cs) {
        cs = new IInferenceMarketTypes.Claim[](1);
        cs[0] = c;
    }

    function _claim(uint256 id, Job memory job, address p, bytes32 result) internal returns (uint256) {
        IInferenceMarketTypes.Claim[] memory cs = _claims1(_claimOf(id, job, p, result));
        vm.prank(stranger);
        return court.claim(cs);
    }

    // ---------------------------------------------------------------- challenges

    /// @dev `challenger` challenges the delivery; the Challenge is read from {ResultChallenged}.
    function _challenge(uint256 id, Job memory job, address p, bytes32 result, address challenger)
        internal
        returns (IInferenceMarketTypes.Challenge memory ch)
    {
        vm.recordLogs();
        vm.prank(challenger);
        court.challenge(id, wordsOf(job), p, result);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == address(market) && logs[i].topics[0] == IInferenceMarketTypes.ResultChallenged.selector) {
                return abi.decode(logs[i].data, (IInferenceMarketTypes.Challenge));
            }
        }
        fail("ResultChallenged not found");
    }

    function _juryCommit(
        uint256 id,
        Job memory job,
        IInferenceMarketTypes.Challenge memory ch,
        address juror,
        bytes32 result
    ) internal returns (uint8 seat) {
        bytes32 c = _commitment(id, juror, result, _salt(juror));
        // The juror's rank may open later (one jury window per rank beyond the first jurySize).
        (, uint256 opensAt) = _juryOpensAt(job, ch, juror);
        if (opensAt > block.timestamp) vm.warp(opensAt);
        vm.prank(juror);
        seat = court.juryCommit(id, wordsOf(job), ch, c);
    }

    function _juryReveal(
        uint256 id,
        Job memory job,
        IInferenceMarketTypes.Challenge memory ch,
        address juror,
        uint8 seat,
        bytes32 result
    ) internal {
        bytes32 salt = _salt(juror);
        vm.prank(juror);
        court.juryReveal(id, wordsOf(job), ch, seat, result, salt, OUTPUT);
    }

    /// @dev The jury candidates: every approved provider that may serve the fixture's jobs.
    function _candidate(uint256 i) internal view returns (address) {
        return i < NUM_PROVIDERS ? prov[i] : extra[i - NUM_PROVIDERS];
    }

    /// @dev When `p`'s jury rank opens ({IInferenceMarketCourt-juryCommit}: ranks from the jury
    /// seed as in {assignment}, opening from the challenge with the job's priority window).
    function _juryOpensAt(Job memory job, IInferenceMarketTypes.Challenge memory ch, address p)
        internal
        view
        returns (uint256 rank, uint256 opensAt)
    {
        (, uint256 index) = registry.rosterIndexOf(p);
        uint256 n = registry.rosterSize();
        rank = AssignmentSpec.rank(ch.jurySeed, index, n);
        if (rank < ch.jurySize) return (rank, ch.challengedAt);
        // The job's priority window, or a sixteenth of the jury's commit window when it is 0.
        uint256 window = job.priorityWindow != 0 ? job.priorityWindow : ch.commitWindow / 16;
        if (window == 0) window = 1;
        opensAt = uint256(ch.challengedAt) + (rank - ch.jurySize + 1) * window;
    }

    /// @dev The `count` non-party candidates whose jury ranks open first, in that order.
    function _jurors(Job memory job, IInferenceMarketTypes.Challenge memory ch, uint256 count)
        internal
        view
        returns (address[] memory jurors)
    {
        address[] memory pool = new address[](CANDIDATES);
        uint256[] memory opens = new uint256[](CANDIDATES);
        uint256 n;
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            address p = _candidate(i);
            if (p == ch.provider || p == ch.challenger) continue;
            (, uint256 at) = _juryOpensAt(job, ch, p);
            // Insertion sort by opening time (stable: candidates' order breaks ties).
            uint256 j = n;
            while (j > 0 && opens[j - 1] > at) {
                (pool[j], opens[j]) = (pool[j - 1], opens[j - 1]);
                --j;
            }
            (pool[j], opens[j]) = (p, at);
            ++n;
        }
        if (count > n) fail("not enough jury candidates");
        jurors = new address[](count);
        for (uint256 i = 0; i < count; ++i) jurors[i] = pool[i];
    }

    /// @dev Seats `results.length` jurors (the first to open, waiting for each rank), juror i
    /// committing `results[i]`; seat i is juror i's.
    function _seatJury(
        uint256 id,
        Job memory job,
        IInferenceMarketTypes.Challenge memory ch,
        bytes32[] memory results
    ) internal returns (address[] memory jurors) {
        jurors = _jurors(job, ch, results.length);
        for (uint256 i = 0; i < jurors.length; ++i) {
            (, uint256 opensAt) = _juryOpensAt(job, ch, jurors[i]);
            if (opensAt > block.timestamp) vm.warp(opensAt);
            assertEq(_juryCommit(id, job, ch, jurors[i], results[i]), i, "jury seat index");
        }
    }

    function _revealFirst(
        uint256 id,
        Job memory job,
        IInferenceMarketTypes.Challenge memory ch,
        address[] memory jurors,
        bytes32[] memory results,
        uint256 n
    ) internal {
        for (uint256 i = 0; i < n; ++i) _juryReveal(id, job, ch, jurors[i], uint8(i), results[i]);
    }

    function _revealAll(
        uint256 id,
        Job memory job,
        IInferenceMarketTypes.Challenge memory ch,
        address[] memory jurors,
        bytes32[] memory results
    ) internal {
        for (uint256 i = 0; i < jurors.length; ++i) _juryReveal(id, job, ch, jurors[i], uint8(i), results[i]);
    }

    function _three(bytes32 a, bytes32 b, bytes32 c) internal pure returns (bytes32[] memory r) {
        r = new bytes32[](3);
        (r[0], r[1], r[2]) = (a, b, c);
    }

    function _two(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory r) {
        r = new bytes32[](2);
        (r[0], r[1]) = (a, b);
    }

    // ---------------------------------------------------------------- policy and registry

    function _setPriorityWindow(uint32 window) internal {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.priorityWindow = window;
        IInferenceMarketCourt(address(market)).setPolicy(p);
    }

    function _setCollateral(uint128 collateral) internal {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = collateral;
        IInferenceMarketCourt(address(market)).setPolicy(p);
    }

    function _policy(uint32 window, uint8 size, uint96 fee, uint16 share)
        internal
        pure
        returns (IInferenceMarketTypes.ChallengePolicy memory)
    {
        return IInferenceMarketTypes.ChallengePolicy({
            challengeWindow: window,
            jurySize: size,
            juryFee: fee,
            challengerShareBps: share
        });
    }

    function _stakeOf(address p) internal view returns (uint256) {
        return registry.getProvider(p).stake;
    }

    function _lockedOf(address p) internal view returns (uint256) {
        return registry.getProvider(p).locked;
    }

    function _stakeCredit(address account) internal view returns (uint256) {
        return market.balanceOf(account, address(stakeToken));
    }

    function _ethCredit(address account) internal view returns (uint256) {
        return market.balanceOf(account, address(0));
    }

    function _outOfBounds(string memory field, uint256 value) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketPolicyOutOfBounds.selector, field, value);
    }

    function _deliveredAt(uint256 id) internal view returns (uint256) {
        return _revealStart(id); // a Delivered job's word keeps the delivery time there
    }
}

// ==================================================================== delivery

contract InferenceMarketK1DeliveryTest is CourtFixture {
    /// @notice A k = 1 delivery locks the job's collateral from the provider's free stake, pays
    /// nothing yet, and records the delivery time; the job is Delivered.
    function test_submitResult_locksCollateralAndDefersPay() public {
        (uint256 id, Job memory job) = _k1Eth();
        vm.warp(block.timestamp + 5);
        vm.expectEmit(true, false, false, true, address(registry));
        emit IProviderRegistry.CollateralLocked(prov[0], COLLATERAL, COLLATERAL);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.ResultSubmitted(id, prov[0], RESULT, OUTPUT);
        _deliver(id, job, prov[0], RESULT);
        assertEq(_lockedOf(prov[0]), COLLATERAL, "collateral locked");
        assertEq(registry.freeStakeOf(prov[0]), STAKE - COLLATERAL, "free stake reduced");
        assertEq(_stakeOf(prov[0]), STAKE, "stake unchanged");
        assertEq(_status(id), DELIVERED, "Delivered");
        assertEq(_deliveredAt(id), block.timestamp, "delivery time recorded");
        assertEq(_ethCredit(prov[0]), 0, "not paid at delivery");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee at delivery");
        assertEq(registry.getProvider(prov[0]).served, 0, "not counted served yet");
        assertEq(address(market).balance, _escrowNow(), "the escrow stays in the market");
    }

    /// @notice The same goes for a signed batch: the collateral is locked, nothing is paid.
    function test_submitAttestations_locksCollateralAndDefersPay() public {
        (uint256 id, Job memory job) = _k1Eth();
        (uint256 id2, Job memory job2) = _k1Eth();
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](2);
        items[0] = _sign(market, pks[2], id, job, RESULT);
        items[1] = _sign(market, pks[2], id2, job2, RESULT);
        assertEq(_relay(market, items), 2, "both delivered");
        assertEq(_lockedOf(prov[2]), 2 * uint256(COLLATERAL), "collateral of both locked");
        assertEq(_ethCredit(prov[2]), 0, "not paid at delivery");
        assertEq(_status(id), DELIVERED, "job 1 Delivered");
        assertEq(_status(id2), DELIVERED, "job 2 Delivered");
    }

    /// @notice Collateral locked by earlier deliveries counts: the third delivery of a provider
    /// whose stake covers two is refused, directly and in a batch; a claim frees it again.
    function test_submitResult_lockedDeliveriesUseUpFreeStake() public {
        uint128 collateral = uint128(STAKE * 2 / 5);
        _setCollateral(collateral);
        (uint256 a, Job memory ja) = _k1Eth();
        (uint256 b, Job memory jb) = _k1Eth();
        (uint256 c, Job memory jc) = _k1Eth();
        _deliver(a, ja, prov[0], RESULT);
        _deliver(b, jb, prov[0], RESULT);
        uint256 free = STAKE - 2 * uint256(collateral);
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector, prov[0], free, collateral)
        );
        vm.prank(prov[0]);
        market.submitResult(c, wordsOf(jc), RESULT, OUTPUT);

        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.AttestationRejected(c, prov[0], IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector);
        assertEq(_relay(market, _one(_sign(market, pks[0], c, jc, RESULT))), 0, "batch item refused");

        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        assertEq(_claim(a, ja, prov[0], RESULT), 1, "claimed");
        _deliver(c, jc, prov[0], RESULT);
        assertEq(_lockedOf(prov[0]), 2 * uint256(collateral), "two deliveries locked");
    }

    /// @notice With a priority window, another provider's copy of the result during the
    /// assignee's window reverts NotAssigned (directly and in a batch); the assignee delivers,
    /// after which the copy is refused as InvalidStatus.
    function test_submitResult_copyDuringAssigneeWindowRevertsNotAssigned() public {
        _setPriorityWindow(30);
        (uint256 id, Job memory job) = _k1Eth();
        // The copier: the candidate ranked last; the assignee: the candidate ranked first.
        address copier;
        uint256 copierRank;
        address assignee;
        uint256 assigneeRank = type(uint256).max;
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            (bool member, uint256 rank,) = market.assignment(wordsOf(job), _candidate(i));
            assertTrue(member, "candidate on the roster");
            if (rank > copierRank || copier == address(0)) (copier, copierRank) = (_candidate(i), rank);
            if (rank < assigneeRank) (assignee, assigneeRank) = (_candidate(i), rank);
        }
        assertGe(copierRank, 1, "the copier is not the assignee");
        uint40 opensAt = uint40(job.requestedAt + copierRank * 30);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotAssigned.selector, id, copier, copierRank, opensAt)
        );
        vm.prank(copier);
        market.submitResult(id, wordsOf(job), RESULT, OUTPUT);
        assertEq(_lockedOf(copier), 0, "the refused copy locked nothing");

        // The assignee's rank (maybe not 0: the first ranks may be ineligible) opens first.
        (,, uint40 assigneeOpens) = market.assignment(wordsOf(job), assignee);
        if (assigneeOpens > block.timestamp) vm.warp(assigneeOpens);
        assertTrue(block.timestamp < opensAt, "still within the copier's wait");
        _deliver(id, job, assignee, RESULT);
        assertEq(_lockedOf(assignee), COLLATERAL, "the assignee locked its collateral");
    }

    /// @notice In a signed batch the copy is skipped with NotAssigned's selector.
    function test_submitAttestations_copyDuringAssigneeWindowRejected() public {
        _setPriorityWindow(30);
        (uint256 id, Job memory job) = _k1Eth();
        uint256 last;
        uint256 lastRank;
        for (uint256 i = 0; i < NUM_PROVIDERS; ++i) {
            (, uint256 rank,) = market.assignment(wordsOf(job), prov[i]);
            if (rank > lastRank) (last, lastRank) = (i, rank);
        }
        assertGe(lastRank, 1, "not the assignee");
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.AttestationRejected(id, prov[last], IInferenceMarketTypes.InferenceMarketNotAssigned.selector);
        assertEq(_relay(market, _one(_sign(market, pks[last], id, job, RESULT))), 0, "copy skipped");
        assertEq(_status(id), OPEN, "still open");
    }
}

// ==================================================================== claims

contract InferenceMarketClaimTest is CourtFixture {
    /// @notice Up to the end of the challenge window (inclusive) a claim is skipped
    /// (ChallengeWindowOpen) and changes nothing.
    function test_claim_beforeWindowEndSkipped() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketChallengeWindowOpen.selector);
        assertEq(_claim(id, job, prov[0], RESULT), 0, "nothing claimed");
        assertEq(_ethCredit(prov[0]), 0, "not paid");
        assertEq(_lockedOf(prov[0]), COLLATERAL, "still locked");
        assertEq(_status(id), DELIVERED, "still Delivered");
    }

    /// @notice After the window the claim credits the fee, accrues the protocol fee (the
    /// escrow's rest), releases the collateral, counts the provider served, settles the job; the
    /// provider withdraws the fee.
    function test_claim_afterWindowPaysFeeAndReleasesCollateral() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW + 1);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.DeliveryClaimed(id, prov[0], FEE);
        vm.expectEmit(true, false, false, true, address(registry));
        emit IProviderRegistry.CollateralReleased(prov[0], COLLATERAL, 0);
        assertEq(_claim(id, job, prov[0], RESULT), 1, "claimed");
        assertEq(_ethCredit(prov[0]), FEE, "fee credited");
        assertEq(market.protocolFees(address(0)), _escrowNow() - FEE, "protocol fee accrued");
        assertEq(_lockedOf(prov[0]), 0, "collateral released");
        assertEq(registry.getProvider(prov[0]).served, 1, "served counted");
        assertEq(_status(id), SETTLED, "Settled");
        vm.prank(prov[0]);
        assertEq(market.withdraw(address(0)), FEE, "fee withdrawn");
        assertEq(prov[0].balance, FEE, "fee received");
        assertEq(address(market).balance, _escrowNow() - FEE, "only the protocol fee stays");
    }

    /// @notice Anyone may claim for the provider (a keeper): the provider is credited, the
    /// keeper nothing.
    function test_claim_byKeeperCreditsProvider() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW + 1);
        IInferenceMarketTypes.Claim[] memory cs = _claims1(_claimOf(id, job, prov[0], RESULT));
        vm.prank(prov[5]);
        assertEq(court.claim(cs), 1, "claimed by a keeper");
        assertEq(_ethCredit(prov[0]), FEE, "the provider is credited");
        assertEq(_ethCredit(prov[5]), 0, "the keeper is not");
    }

    /// @notice One claim pays many deliveries by several providers in two tokens: each provider
    /// per token gets exactly its fees, the protocol fees accrue per token, every collateral is
    /// released.
    function test_claim_batchOfManyProvidersAndTokens() public {
        uint256 n = 8;
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](n);
        for (uint256 i = 0; i < n; ++i) {
            (uint256 id, Job memory job) = _k1(i % 2 == 0 ? address(0) : address(payToken));
            address p = prov[i % 4];
            bytes32 result = keccak256(abi.encode("result", i));
            _deliver(id, job, p, result);
            cs[i] = _claimOf(id, job, p, result);
        }
        for (uint256 i = 0; i < 4; ++i) assertEq(_lockedOf(prov[i]), 2 * uint256(COLLATERAL), "two deliveries locked");
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.recordLogs();
        vm.prank(stranger);
        assertEq(court.claim(cs), n, "all claimed");
        assertEq(_count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.DeliveryClaimed.selector), n, "events");
        for (uint256 i = 0; i < 4; ++i) {
            address token = i % 2 == 0 ? address(0) : address(payToken);
            address other = i % 2 == 0 ? address(payToken) : address(0);
            assertEq(market.balanceOf(prov[i], token), 2 * uint256(FEE), "fees of its two jobs");
            assertEq(market.balanceOf(prov[i], other), 0, "nothing in the other token");
            assertEq(_lockedOf(prov[i]), 0, "collateral released");
            assertEq(registry.getProvider(prov[i]).served, 2, "served twice");
        }
        uint256 protocolFee = _escrowNow() - FEE;
        assertEq(market.protocolFees(address(0)), 4 * protocolFee, "ETH protocol fees");
        assertEq(market.protocolFees(address(payToken)), 4 * protocolFee, "token protocol fees");
        assertEq(address(market).balance, 4 * _escrowNow(), "ETH held = credits + fees");
        assertEq(payToken.balanceOf(address(market)), 4 * _escrowNow(), "tokens held = credits + fees");
    }

    /// @notice A claim naming another provider or another result is skipped (JobMismatch) and
    /// changes nothing; the right one is then paid.
    function test_claim_wrongProviderOrResultSkipped() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW + 1);
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](3);
        cs[0] = _claimOf(id, job, prov[1], RESULT);
        cs[1] = _claimOf(id, job, prov[0], OTHER_RESULT);
        Job memory tampered = _copyJob(job);
        tampered.feePerProvider += 1;
        cs[2] = _claimOf(id, tampered, prov[0], RESULT);
        for (uint256 i = 0; i < 3; ++i) {
            vm.expectEmit(true, false, false, true, address(market));
            emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketJobMismatch.selector);
        }
        vm.prank(prov[1]);
        assertEq(court.claim(cs), 0, "nothing claimed");
        assertEq(_ethCredit(prov[0]) + _ethCredit(prov[1]), 0, "nobody paid");
        assertEq(_status(id), DELIVERED, "still Delivered");
        assertEq(_claim(id, job, prov[0], RESULT), 1, "the right claim pays");
    }

    /// @notice A delivery is paid once: a second claim (in the same batch or later) is skipped
    /// (InvalidStatus).
    function test_claim_twiceSecondSkipped() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(_deliveredAt(id) + CHALLENGE_WINDOW + 1);
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](2);
        cs[0] = _claimOf(id, job, prov[0], RESULT);
        cs[1] = cs[0];
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketInvalidStatus.selector);
        vm.prank(stranger);
        assertEq(court.claim(cs), 1, "paid once in a batch");
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketInvalidStatus.selector);
        assertEq(_claim(id, job, prov[0], RESULT), 0, "not again later");
        assertEq(_ethCredit(prov[0]), FEE, "one fee");
        assertEq(registry.getProvider(prov[0]).served, 1, "served once");
    }

    /// @notice A challenged delivery cannot be claimed, even after its challenge window.
    function test_claim_challengedJobSkipped() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        _challenge(id, job, prov[0], RESULT, prov[1]);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ClaimSkipped(id, IInferenceMarketTypes.InferenceMarketInvalidStatus.selector);
        assertEq(_claim(id, job, prov[0], RESULT), 0, "not claimable");
        assertEq(_ethCredit(prov[0]), 0, "not paid");
        assertEq(_status(id), CHALLENGED, "still Challenged");
    }

    /// @notice An open (undelivered) job, a k > 1 job and an unknown job are skipped.
    function test_claim_undeliveredJobsSkipped() public {
        (uint256 open, Job memory openJob) = _k1Eth();
        (uint256 multi, Job memory multiJob) = _request(3, address(0));
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](3);
        cs[0] = _claimOf(open, openJob, prov[0], RESULT);
        cs[1] = _claimOf(multi, multiJob, prov[0], RESULT);
        cs[2] = _claimOf(999, openJob, prov[0], RESULT);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.recordLogs();
        assertEq(court.claim(cs), 0, "nothing claimed");
        assertEq(_count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.ClaimSkipped.selector), 3, "all skipped");
        assertEq(_status(open), OPEN, "open job untouched");
    }

    function _copyJob(Job memory job) internal pure returns (Job memory) {
        return abi.decode(abi.encode(job), (Job));
    }
}

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
        vm.expectEmit(true, false, false, true, address(registry));
        emit IProviderRegistry.CollateralLocked(prov[1], COLLATERAL, COLLATERAL);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ResultChallenged(id, prov[0], prov[1], expected);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        assertEq(keccak256(abi.encode(ch)), keccak256(abi.encode(expected)), "challenge as specified");
        assertEq(_lockedOf(prov[1]), COLLATERAL, "bond locked");
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
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJuryExcluded.selector, id, prov[0]));
        vm.prank(prov[0]);
        court.challenge(id, wordsOf(job), prov[0], RESULT);
    }

    /// @notice A challenger must be eligible for the job: wordsOf(the) registry's exact error.
    function test_challenge_byIneligibleAccountReverts() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        _expectChallengeRevert(id, job, outsider, _providerStatus(outsider, IProviderRegistry.ProviderStatus.None));
        _expectChallengeRevert(id, job, pending, _providerStatus(pending, IProviderRegistry.ProviderStatus.Pending));
        _expectChallengeRevert(
            id, job, fewTags, abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMissingTags.selector, fewTags, 0x2)
        );
        _expectChallengeRevert(
            id,
            job,
            lowMemory,
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInsufficientMemory.selector, lowMemory, 1024, MIN_MEMORY)
        );
        registry.slash(prov[1], STAKE - 105e18, bytes32("dao"));
        (uint256 id2, Job memory job2) = _k1Eth();
        _deliver(id2, job2, prov[0], RESULT);
        // 105 staked: ten deliveries lock 100, leaving 5 free for a bond of 10.
        for (uint256 i = 0; i < 10; ++i) {
            (uint256 x, Job memory jx) = _k1Eth();
            _deliver(x, jx, prov[1], RESULT);
        }
        _expectChallengeRevert(
            id2,
            job2,
            prov[1],
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector, prov[1], 5e18, COLLATERAL)
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
        bytes memory mismatch = abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, id);
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

    function _expectChallengeRevert(uint256 id, Job memory job, address who, bytes memory err)
        internal
    {
        vm.expectRevert(err);
        vm.prank(who);
        court.challenge(id, wordsOf(job), prov[0], RESULT);
    }
}

// ==================================================================== jury

contract InferenceMarketJuryTest is CourtFixture {
    /// @notice The provider and the challenger cannot sit on the jury.
    function test_juryCommit_partiesExcluded() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        for (uint256 i = 0; i < 2; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJuryExcluded.selector, id, prov[i]));
            vm.prank(prov[i]);
            court.juryCommit(id, wordsOf(job), ch, bytes32("c"));
        }
    }

    /// @notice A juror cannot take two seats.
    function test_juryCommit_sameJurorTwiceAlreadySeated() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        _juryCommit(id, job, ch, prov[2], RESULT);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadySeated.selector, id, prov[2]));
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
        (IInferenceMarketTypes.JobStatus status, uint8 seated,, uint40 startedAt) = market.jobState(id);
        assertEq(uint256(status), JURY_REVEALING, "JuryRevealing");
        assertEq(seated, 3, "three seated");
        assertEq(startedAt, block.timestamp, "reveal started now");
        for (uint256 i = 2; i < 5; ++i) assertEq(_lockedOf(prov[i]), COLLATERAL, "juror collateral locked");
        (address who,,) = market.seatOf(id, 1);
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
                IInferenceMarketTypes.InferenceMarketNotAssigned.selector, id, late, lateRank, uint40(lateOpens)
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
        vm.expectRevert(_providerStatus(outsider, IProviderRegistry.ProviderStatus.None));
        vm.prank(outsider);
        court.juryCommit(id, wordsOf(job), ch, bytes32("c"));
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMissingTags.selector, fewTags, 0x2));
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
        bytes memory mismatch = abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, id);
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
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotSeated.selector, id, uint8(1), jurors[0])
        );
        vm.prank(jurors[0]);
        court.juryReveal(id, wordsOf(job), ch, 1, RESULT, salt, OUTPUT);
        _juryReveal(id, job, ch, jurors[0], 0, RESULT);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadyRevealed.selector, id, jurors[0]));
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
            (,, uint40 opensAt) = market.assignment(wordsOf(job), _candidate(i));
            if (opensAt < bestAt) (best, bestAt) = (_candidate(i), opensAt);
        }
        if (bestAt > block.timestamp) vm.warp(bestAt);
    }
}

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
        uint256 toChallenger = rest * CHALLENGER_SHARE_BPS / BPS;
        uint256 toClient = rest - toChallenger;
        uint256 totalBefore = registry.totalStake();

        _revealFirst(id, job, ch, jurors, votes, 2);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[0], COLLATERAL, true);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ChallengeResolved(
            id, IInferenceMarketTypes.ChallengeOutcome.ProviderWrong, OTHER_RESULT, 3, toChallenger, 0, toClient
        );
        vm.recordLogs();
        _juryReveal(id, job, ch, jurors[2], 2, votes[2]);
        assertEq(_count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.SlashDistributed.selector), 0, "no faulty juror");

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
            assertEq(registry.getProvider(jurors[i]).served, 1, "juror served");
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
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ChallengeResolved(
            id, IInferenceMarketTypes.ChallengeOutcome.ProviderRight, RESULT, 3, 0, toProvider, 0
        );
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
        assertEq(registry.getProvider(prov[0]).served, 1, "provider served");
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
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector, prov[0], STAKE - 1, free)
        );
        registry.slash(prov[0], STAKE - 1, bytes32("dao"));
        registry.slash(prov[0], free, bytes32("dao"));
        assertEq(_stakeOf(prov[0]), c, "only the locked collateral is left");
        bytes32[] memory votes = _three(OTHER_RESULT, OTHER_RESULT, OTHER_RESULT);
        address[] memory jurors = _seatJury(id, job, ch, votes);
        uint256 rest = c - 3 * ch.juryFee;
        uint256 toChallenger = rest * CHALLENGER_SHARE_BPS / BPS;
        _revealFirst(id, job, ch, jurors, votes, 2);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[0], c, true);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ChallengeResolved(
            id, IInferenceMarketTypes.ChallengeOutcome.ProviderWrong, OTHER_RESULT, 3, toChallenger, 0, rest - toChallenger
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
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ChallengeResolved(id, IInferenceMarketTypes.ChallengeOutcome.Inconclusive, RESULT, 1, 0, 0, 0);
        vm.recordLogs();
        _juryReveal(id, job, ch, jurors[2], 2, votes[2]);
        assertEq(_count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.SeatSlashed.selector), 0, "nobody slashed");
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
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ChallengeResolved(id, IInferenceMarketTypes.ChallengeOutcome.Inconclusive, bytes32(0), 0, 0, 0, 0);
        vm.recordLogs();
        vm.prank(stranger);
        court.resolveChallenge(id, wordsOf(job), ch);
        assertEq(_count(vm.getRecordedLogs(), address(market), IInferenceMarketTypes.SeatSlashed.selector), 0, "nobody slashed");
        assertEq(_status(id), SETTLED, "Settled");
        assertEq(_ethCredit(prov[0]), FEE, "provider paid");
        assertEq(market.protocolFees(address(0)), _escrowNow() - FEE, "protocol fee");
        assertEq(registry.getProvider(prov[2]).missed + registry.getProvider(prov[2]).disagreed, 0, "juror not at fault");
        assertEq(registry.getProvider(prov[1]).disagreed, 0, "challenger not at fault");
        _assertNoStakeMoved(jurors);
        _assertSeatsCleared(id, 1);
        // Ended: no second resolution, no claim.
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotResolvable.selector, id, IInferenceMarketTypes.JobStatus.Settled
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
        (,,, uint40 startedAt) = market.jobState(id);
        vm.warp(uint256(startedAt) + ch.revealWindow + 1);

        uint256 poolToClient = COLLATERAL * CLIENT_SHARE_BPS / BPS;
        uint256 perRevealer = (COLLATERAL - poolToClient) / 2;
        uint256 rest = COLLATERAL - 2 * uint256(JURY_FEE);
        uint256 toChallenger = rest * CHALLENGER_SHARE_BPS / BPS;
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, jurors[2], COLLATERAL, false);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, COLLATERAL, poolToClient, perRevealer, 2);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ChallengeResolved(
            id, IInferenceMarketTypes.ChallengeOutcome.ProviderWrong, OTHER_RESULT, 2, toChallenger, 0, rest - toChallenger
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
        uint256 poolToClient = COLLATERAL * CLIENT_SHARE_BPS / BPS;
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
        (IInferenceMarketTypes.JobStatus status,,, uint40 startedAt) = market.jobState(id);
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
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, idOpen));
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
        uint256 toChallenger = rest * CHALLENGER_SHARE_BPS / BPS;
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
            (address who,,) = market.seatOf(id, uint8(i));
            assertEq(who, address(0), "seats deleted");
        }
    }

    /// @dev The candidate ranked first for `job` and the candidate whose rank opens next.
    function _assigneeAndNext(Job memory job)
        internal
        view
        returns (address assignee, address next, uint256 nextOpens)
    {
        uint256 firstAt = type(uint256).max;
        nextOpens = type(uint256).max;
        for (uint256 i = 0; i < CANDIDATES; ++i) {
            (,, uint40 opensAt) = market.assignment(wordsOf(job), _candidate(i));
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

// ==================================================================== policy

contract InferenceMarketChallengePolicyTest is CourtFixture {
    /// @notice The fixture's policy is readable through the market.
    function test_challengePolicy_readsInitialPolicy() public view {
        IInferenceMarketTypes.ChallengePolicy memory p = court.challengePolicy();
        assertEq(keccak256(abi.encode(p)), keccak256(abi.encode(_defaultChallengePolicy())), "initial policy");
    }

    /// @notice Each bound is enforced with the field's name and value; the edges are accepted and
    /// emit ChallengePolicySet.
    function test_setChallengePolicy_bounds() public {
        _expectPolicyRevert(_policy(0, 3, 0, 0), _outOfBounds("challengeWindow", 0));
        _expectPolicyRevert(_policy(30 days + 1, 3, 0, 0), _outOfBounds("challengeWindow", 30 days + 1));
        uint8[6] memory badSizes = [0, 1, 2, 4, 10, 11];
        for (uint256 i = 0; i < badSizes.length; ++i) {
            _expectPolicyRevert(_policy(60, badSizes[i], 0, 0), _outOfBounds("jurySize", badSizes[i]));
        }
        uint96 maxFee = uint96(COLLATERAL / 3);
        _expectPolicyRevert(_policy(60, 3, maxFee + 1, 0), _outOfBounds("juryFee", maxFee + 1));
        _expectPolicyRevert(_policy(60, 9, uint96(COLLATERAL / 9) + 1, 0), _outOfBounds("juryFee", COLLATERAL / 9 + 1));
        _expectPolicyRevert(_policy(60, 3, 0, 10_001), _outOfBounds("challengerShareBps", 10_001));

        _acceptPolicy(_policy(1, 3, maxFee, 10_000));
        _acceptPolicy(_policy(30 days, 9, uint96(COLLATERAL / 9), 0));
        _acceptPolicy(_policy(60, 5, 0, 1));
        _acceptPolicy(_policy(60, 7, 1, 9_999));
    }

    /// @notice setPolicy refuses a collateral below jurySize × juryFee (and accepts it equal).
    function test_setPolicy_collateralBelowJuryFeesReverts() public {
        uint128 floor = uint128(JURY) * JURY_FEE;
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = floor - 1;
        vm.expectRevert(_outOfBounds("collateralPerJob", floor - 1));
        IInferenceMarketCourt(address(market)).setPolicy(p);
        p.collateralPerJob = floor;
        IInferenceMarketCourt(address(market)).setPolicy(p);
        assertEq(market.policy().collateralPerJob, floor, "collateral at the floor accepted");
    }

    /// @notice Only the DAO sets the challenge policy, through the market.
    function test_setChallengePolicy_onlyAdmin() public {
        IInferenceMarketTypes.ChallengePolicy memory p = _policy(120, 5, 1, 100);
        vm.expectRevert(_unauthorized(stranger, market.DEFAULT_ADMIN_ROLE()));
        vm.prank(stranger);
        court.setChallengePolicy(p);
        vm.expectRevert(_unauthorized(guardian, market.DEFAULT_ADMIN_ROLE()));
        vm.prank(guardian);
        court.setChallengePolicy(p);
        _acceptPolicy(p);
    }

    /// @notice A new challenge window applies to jobs requested after it; a new jury policy to
    /// challenges made after it (the Challenge snapshots it).
    function test_setChallengePolicy_snapshotted() public {
        (uint256 oldId, Job memory oldJob) = _delivered(RESULT);
        _acceptPolicy(_policy(600, 5, 2e18, 2_500));
        (uint256 newId, Job memory newJob) = _k1Eth();
        assertEq(oldJob.challengeWindow, CHALLENGE_WINDOW, "old job keeps its window");
        assertEq(newJob.challengeWindow, 600, "new job takes the new one");
        _deliver(newId, newJob, prov[0], RESULT);
        vm.warp(_deliveredAt(oldId) + CHALLENGE_WINDOW + 1);
        assertEq(_claim(oldId, oldJob, prov[0], RESULT), 1, "old job claimable after its window");
        assertEq(_claim(newId, newJob, prov[0], RESULT), 0, "new job still open to challenge");
        IInferenceMarketTypes.Challenge memory ch = _challenge(newId, newJob, prov[0], RESULT, prov[1]);
        assertEq(ch.jurySize, 5, "jury size snapshotted");
        assertEq(ch.juryFee, 2e18, "jury fee snapshotted");
        assertEq(ch.challengerShareBps, 2_500, "share snapshotted");
    }

    function _expectPolicyRevert(IInferenceMarketTypes.ChallengePolicy memory p, bytes memory err) internal {
        vm.expectRevert(err);
        court.setChallengePolicy(p);
    }

    function _acceptPolicy(IInferenceMarketTypes.ChallengePolicy memory p) internal {
        vm.expectEmit(false, false, false, true, address(market));
        emit IInferenceMarketTypes.ChallengePolicySet(p);
        court.setChallengePolicy(p);
        assertEq(keccak256(abi.encode(court.challengePolicy())), keccak256(abi.encode(p)), "policy stored");
    }
}

// ==================================================================== fuzz

/// @notice Random policies, jury sizes, seatings and votes: the money adds up exactly, and an
/// honest provider with an honest jury majority is never slashed.
contract InferenceMarketCourtFuzzTest is CourtFixture {
    /// @dev A juror's vote: 0 silent, 1 the provider's result, 2 and 3 two other results.
    uint256 internal stakeBefore;

    struct Case {
        uint8 jurySize;
        uint96 juryFee;
        uint16 challengerShareBps;
        uint16 clientShareBps;
        uint16 protocolFeeBps;
        uint128 collateral;
        uint256 seated;
        uint8[] votes;
        bool token;
    }

    /// @dev What the specification says each party ends with.
    struct Expect {
        uint256 agreeing;
        bytes32 winner;
        bool quorum;
        uint256 faulty;
        uint256 pool;
        uint256 poolToClient;
        uint256 perRevealer;
        uint256 perJuror;
        uint256 toChallenger;
        uint256 toProvider;
        uint256 toClient;
        bool providerLost;
        bool challengerLost;
        bool unfilled;
    }

    /// @notice Any policy within its bounds, any jury size, any number of jurors seated, any
    /// votes and silences: after the challenge resolves, every unit is accounted for. Payment
    /// token: the market holds exactly the credits plus the protocol fees (the escrow went to the
    /// provider and the protocol, or back to the client). Stake token: the market holds exactly
    /// the stake credits, which equal what the registry's stakes lost; each account's credit and
    /// each stake equal the specification's; all collateral is released.
    function testFuzz_challenge_conservation(uint256 seed, uint8 sizeSeed, uint8 seatedSeed, bool token) public {
        Case memory c = _case(seed, sizeSeed, seatedSeed, token);
        (uint256 id, Job memory job, IInferenceMarketTypes.Challenge memory ch, address[] memory jurors) =
            _run(c);
        Expect memory e = _expect(c);
        _checkMoney(c, e, id, job, ch, jurors);
    }

    /// @notice Whatever the policy and the minority does, a provider that delivered the true
    /// result, judged by a jury whose majority reveals it, keeps its whole stake, is paid its
    /// fee and gets the challenger's bond less the jury fees; the job settles.
    function testFuzz_honestProvider_neverSlashed_withHonestMajority(uint256 seed, uint8 sizeSeed) public {
        Case memory c = _case(seed, sizeSeed, 0, false);
        c.seated = c.jurySize;
        uint256 quorum = c.jurySize / 2 + 1;
        uint256 honest = bound(seed >> 200, quorum, c.jurySize);
        for (uint256 i = 0; i < c.jurySize; ++i) {
            // The first `honest` seats tell the truth; the others anything, silence included.
            c.votes[i] = i < honest ? 1 : uint8(uint256(keccak256(abi.encode(seed, "minority", i))) % 4);
        }
        (uint256 id,, IInferenceMarketTypes.Challenge memory ch,) = _run(c);
        assertEq(_stakeOf(prov[0]), STAKE, "the honest provider keeps its whole stake");
        assertEq(_lockedOf(prov[0]), 0, "its collateral is released");
        assertEq(_ethCredit(prov[0]), FEE, "it is paid its fee");
        Expect memory e = _expect(c);
        assertTrue(e.challengerLost, "the challenger lost");
        assertEq(_stakeCredit(prov[0]), e.toProvider, "it gets the bond less the jury fees");
        assertEq(_stakeOf(ch.challenger), STAKE - c.collateral, "the challenger loses its bond");
        assertEq(_status(id), SETTLED, "Settled");
    }

    // ---------------------------------------------------------------- case building

    function _case(uint256 seed, uint8 sizeSeed, uint8 seatedSeed, bool token) internal pure returns (Case memory c) {
        c.jurySize = uint8(3 + 2 * (sizeSeed % 4));
        c.collateral = uint128(bound(seed, 1e18, 400e18));
        // The least collateral (1 token), plus a little: rounding of the jury's shares.
        if ((seed >> 250) % 4 == 0) c.collateral = uint128(bound(seed, 1e18, 1e18 + 20));
        uint256 maxFee = c.collateral / c.jurySize;
        c.juryFee = uint96(bound(seed >> 64, 0, maxFee));
        if ((seed >> 248) % 4 == 0) c.juryFee = uint96(maxFee);
        c.challengerShareBps = uint16(bound(seed >> 96, 0, BPS));
        c.clientShareBps = uint16(bound(seed >> 112, 0, BPS));
        c.protocolFeeBps = uint16(bound(seed >> 128, 0, 1_000));
        // Mostly a full jury; sometimes fewer seats, down to none.
        c.seated = seatedSeed % 4 == 0 ? bound(seatedSeed >> 2, 0, c.jurySize) : c.jurySize;
        c.votes = new uint8[](c.jurySize);
        for (uint256 i = 0; i < c.jurySize; ++i) c.votes[i] = uint8(uint256(keccak256(abi.encode(seed, "vote", i))) % 4);
        c.token = token;
    }

    function _hashOf(uint8 vote) internal pure returns (bytes32) {
        return vote == 1 ? RESULT : vote == 2 ? OTHER_RESULT : THIRD_RESULT;
    }

    /// @dev Sets the policies (moving through a zero jury fee so that the bounds hold at each
    /// step), delivers, challenges, seats and reveals as the case says, and resolves.
    function _run(Case memory c)
        internal
        returns (
            uint256 id,
            Job memory job,
            IInferenceMarketTypes.Challenge memory ch,
            address[] memory jurors
        )
    {
        stakeBefore = registry.totalStake();
        court.setChallengePolicy(_policy(CHALLENGE_WINDOW, c.jurySize, 0, c.challengerShareBps));
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = c.collateral;
        p.clientShareBps = c.clientShareBps;
        p.protocolFeeBps = c.protocolFeeBps;
        IInferenceMarketCourt(address(market)).setPolicy(p);
        court.setChallengePolicy(_policy(CHALLENGE_WINDOW, c.jurySize, c.juryFee, c.challengerShareBps));

        (id, job) = _k1(c.token ? address(payToken) : address(0));
        _deliver(id, job, prov[0], RESULT);
        ch = _challenge(id, job, prov[0], RESULT, prov[1]);
        bytes32[] memory commits = new bytes32[](c.seated);
        for (uint256 i = 0; i < c.seated; ++i) commits[i] = _hashOf(c.votes[i]);
        jurors = _seatJury(id, job, ch, commits);
        if (c.seated < c.jurySize) vm.warp(uint256(ch.challengedAt) + ch.commitWindow + 1);
        bool allReveal = c.seated != 0;
        for (uint256 i = 0; i < c.seated; ++i) {
            if (c.votes[i] == 0) allReveal = false;
        }
        uint256 quorum = c.jurySize / 2 + 1;
        if (c.seated >= quorum) {
            for (uint256 i = 0; i < c.seated; ++i) {
                if (c.votes[i] != 0) _juryReveal(id, job, ch, jurors[i], uint8(i), commits[i]);
            }
        }
        if (!allReveal || c.seated < quorum) {
            vm.warp(block.timestamp + ch.commitWindow + ch.revealWindow + 1);
            vm.prank(stranger);
            court.resolveChallenge(id, wordsOf(job), ch);
        }
        (IInferenceMarketTypes.JobStatus status,,,) = market.jobState(id);
        assertTrue(
            uint256(status) == SETTLED || uint256(status) == REFUNDED, "the challenge is resolved"
        );
    }

    /// @dev The specification's outcome for a case (every stake is far above the collateral).
    function _expect(Case memory c) internal pure returns (Expect memory e) {
        uint256 quorum = c.jurySize / 2 + 1;
        if (c.seated < quorum) {
            e.unfilled = true;
            return e;
        }
        for (uint8 v = 1; v <= 3; ++v) {
            uint256 n;
            for (uint256 i = 0; i < c.seated; ++i) {
                if (c.votes[i] == v) ++n;
            }
            if (n >= quorum) (e.winner, e.agreeing, e.quorum) = (_hashOf(v), n, true);
        }
        for (uint256 i = 0; i < c.seated; ++i) {
            if (c.votes[i] == 0 || (e.quorum && _hashOf(c.votes[i]) != e.winner)) ++e.faulty;
        }
        e.pool = e.faulty * c.collateral;
        uint256 compensated = c.seated - e.faulty;
        uint256 toClient = e.pool * c.clientShareBps / BPS;
        if (compensated != 0) e.perRevealer = (e.pool - toClient) / compensated;
        e.poolToClient = e.pool - e.perRevealer * compensated;
        if (!e.quorum) return e;
        e.perJuror = c.juryFee;
        if (e.agreeing * e.perJuror > c.collateral) e.perJuror = c.collateral / e.agreeing;
        uint256 rest = c.collateral - e.agreeing * e.perJuror;
        if (e.winner == RESULT) {
            e.challengerLost = true;
            e.toProvider = rest;
        } else {
            e.providerLost = true;
            e.toChallenger = rest * c.challengerShareBps / BPS;
            e.toClient = rest - e.toChallenger;
        }
    }

    function _checkMoney(
        Case memory c,
        Expect memory e,
        uint256 id,
        Job memory job,
        IInferenceMarketTypes.Challenge memory ch,
        address[] memory jurors
    ) internal view {
        address payment = job.token;
        uint256 escrow = market.escrowOf(1, FEE, c.protocolFeeBps);
        // Payment token: refund, or the fee and the protocol fee.
        if (e.providerLost) {
            assertEq(market.balanceOf(client, payment), escrow, "client refunded");
            assertEq(market.balanceOf(prov[0], payment), 0, "provider unpaid");
            assertEq(market.protocolFees(payment), 0, "no protocol fee");
            assertEq(_status(id), REFUNDED, "Refunded");
        } else {
            assertEq(market.balanceOf(client, payment), 0, "no refund");
            assertEq(market.balanceOf(prov[0], payment), FEE, "provider paid");
            assertEq(market.protocolFees(payment), escrow - FEE, "protocol fee");
            assertEq(_status(id), SETTLED, "Settled");
        }
        uint256 held = payment == address(0) ? address(market).balance : payToken.balanceOf(address(market));
        assertEq(held, escrow, "payment token: held = credits + protocol fees");

        // Stake token, account by account.
        uint256 credits = _stakeCredit(client) + _stakeCredit(prov[0]) + _stakeCredit(ch.challenger);
        assertEq(_stakeCredit(client), e.poolToClient + e.toClient, "client's stake credit");
        assertEq(_stakeCredit(prov[0]), e.toProvider, "provider's stake credit");
        assertEq(_stakeCredit(ch.challenger), e.toChallenger, "challenger's stake credit");
        uint256 lost = (e.providerLost ? c.collateral : 0) + (e.challengerLost ? c.collateral : 0);
        assertEq(_stakeOf(prov[0]), STAKE - (e.providerLost ? c.collateral : 0), "provider's stake");
        assertEq(_stakeOf(ch.challenger), STAKE - (e.challengerLost ? c.collateral : 0), "challenger's stake");
        assertEq(_lockedOf(prov[0]) + _lockedOf(ch.challenger), 0, "parties released");
        for (uint256 i = 0; i < jurors.length; ++i) {
            bool faulty = !e.unfilled && (c.votes[i] == 0 || (e.quorum && _hashOf(c.votes[i]) != e.winner));
            uint256 expected = e.unfilled || faulty ? 0 : e.perRevealer + e.perJuror;
            assertEq(_stakeCredit(jurors[i]), expected, "juror's stake credit");
            assertEq(_stakeOf(jurors[i]), STAKE - (faulty ? c.collateral : 0), "juror's stake");
            assertEq(_lockedOf(jurors[i]), 0, "juror released");
            credits += _stakeCredit(jurors[i]);
            if (faulty) lost += c.collateral;
        }
        assertEq(stakeToken.balanceOf(address(market)), credits, "stake token: held = credits");
        assertEq(credits, lost, "stake credited = stake the registry lost");
        assertEq(e.pool + (e.providerLost || e.challengerLost ? c.collateral : 0), lost, "spec: seized = pool + verdict");
        assertEq(
            stakeToken.balanceOf(address(registry)),
            registry.totalStake() + registry.slashedFunds(),
            "registry holds its stakes"
        );
        assertEq(registry.totalStake(), stakeBefore - lost, "registry stake moved = credits");
    }
}

// ==================================================================== finding: status errors of k = 1 jobs past Open

/// @notice FINDING (fails against 0bc4629): once a k = 1 job is delivered its word holds the
/// delivery's hash (then the challenge's), no longer the job's, so every entry point that checks
/// the job's hash first ({InferenceMarket-_checkedWord}, {InferenceMarket-_batchItemError})
/// refuses a delivered, challenged or claimed k = 1 job with InferenceMarketJobMismatch although
/// the parameters are exactly those emitted: a second deliverer, a runner expiring stale jobs and
/// a client cancelling are told their parameters are wrong instead of the job's status. The
/// documented errors (InvalidStatus, NotFinalizable, NotCancellable with the status) are what
/// these tests expect.
contract InferenceMarketK1StatusErrorsTest is CourtFixture {
    function test_submitResult_onDeliveredJobRevertsInvalidStatus() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.Delivered));
        vm.prank(prov[1]);
        market.submitResult(id, wordsOf(job), OTHER_RESULT, OUTPUT);
    }

    function test_submitResult_onClaimedJobRevertsInvalidStatus() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        _claim(id, job, prov[0], RESULT);
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.Settled));
        vm.prank(prov[1]);
        market.submitResult(id, wordsOf(job), OTHER_RESULT, OUTPUT);
    }

    function test_submitAttestations_deliveredJobRejectedInvalidStatus() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.expectEmit(true, true, false, true, address(market));
        emit IInferenceMarketTypes.AttestationRejected(id, prov[1], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector);
        assertEq(_relay(market, _one(_sign(market, pks[1], id, job, OTHER_RESULT))), 0, "not delivered twice");
    }

    function test_finalize_onDeliveredJobRevertsNotFinalizable() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(uint256(job.deadline) + 1);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Delivered));
        market.finalize(id, wordsOf(job));
    }

    function test_finalize_onChallengedJobRevertsNotFinalizable() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        _challenge(id, job, prov[0], RESULT, prov[1]);
        vm.warp(uint256(job.deadline) + 1);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Challenged));
        market.finalize(id, wordsOf(job));
    }

    function test_cancel_onDeliveredJobRevertsNotCancellable() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        models.retireVersion(modelId, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotCancellable.selector, id, IInferenceMarketTypes.JobStatus.Delivered
            )
        );
        vm.prank(client);
        market.cancel(id, wordsOf(job));
    }
}

/// @notice What a delivered job does today, whatever the error: it cannot be finalized,
/// cancelled or delivered again, and stays claimable after its deadline.
contract InferenceMarketDeliveredJobTest is CourtFixture {
    function test_delivered_cannotBeEndedOtherwiseAndStaysClaimable() public {
        (uint256 id, Job memory job) = _delivered(RESULT);
        vm.warp(uint256(job.deadline) + 1);
        vm.expectRevert();
        market.finalize(id, wordsOf(job));
        vm.expectRevert();
        vm.prank(prov[1]);
        market.submitResult(id, wordsOf(job), OTHER_RESULT, OUTPUT);
        models.retireVersion(modelId, 1);
        vm.expectRevert();
        vm.prank(client);
        market.cancel(id, wordsOf(job));
        assertEq(_status(id), DELIVERED, "still Delivered");
        assertEq(_claim(id, job, prov[0], RESULT), 1, "claimable after the deadline");
        assertEq(_ethCredit(client), 0, "no refund");
    }
}
