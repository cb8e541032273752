// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// The court tests' shared fixture (CourtFixture); each InferenceMarketCourt*.t.sol file holds
// the tests of one concern and imports this file whole.

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

    function _claimOf(
        uint256 id,
        Job memory job,
        address p,
        bytes32 result
    ) internal pure returns (IInferenceMarketTypes.Claim memory) {
        return IInferenceMarketTypes.Claim({jobId: id, job: wordsOf(job), provider: p, resultHash: result});
    }

    function _claims1(
        IInferenceMarketTypes.Claim memory c
    ) internal pure returns (IInferenceMarketTypes.Claim[] memory cs) {
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
    function _challenge(
        uint256 id,
        Job memory job,
        address p,
        bytes32 result,
        address challenger
    ) internal returns (IInferenceMarketTypes.Challenge memory ch) {
        vm.recordLogs();
        vm.prank(challenger);
        court.challenge(id, wordsOf(job), p, result);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(market) &&
                logs[i].topics[0] == IInferenceMarketTypes.ResultChallenged.selector
            ) {
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
    function _juryOpensAt(
        Job memory job,
        IInferenceMarketTypes.Challenge memory ch,
        address p
    ) internal view returns (uint256 rank, uint256 opensAt) {
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
    function _jurors(
        Job memory job,
        IInferenceMarketTypes.Challenge memory ch,
        uint256 count
    ) internal view returns (address[] memory jurors) {
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

    function _policy(
        uint32 window,
        uint8 size,
        uint96 fee,
        uint16 share
    ) internal pure returns (IInferenceMarketTypes.ChallengePolicy memory) {
        return
            IInferenceMarketTypes.ChallengePolicy({
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
        return _held(p);
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

    /// @dev Expects the market's next {IInferenceMarketTypes-ChallengeResolved} to carry these figures.
    function _expectResolved(
        uint256 id,
        IInferenceMarketTypes.ChallengeOutcome outcome,
        bytes32 juryHash,
        uint8 agreeing,
        uint256 toChallenger,
        uint256 toProvider,
        uint256 toClient
    ) internal {
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.ChallengeResolved(
            id,
            outcome,
            juryHash,
            agreeing,
            toChallenger,
            toProvider,
            toClient
        );
    }
}
