// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {Job, wordsOf} from "../utils/JobStruct.sol";
import {MarketSpec} from "./handlers/MarketSpec.sol";
import {MarketStack, MIN_FEE} from "./handlers/MarketStack.sol";
import {InferenceMarketFuzzFixture} from "./InferenceMarketFuzzFixture.sol";

/// @notice Fuzz tests of the escrow and the settlement splits through the real stack.
contract InferenceMarketFuzzSplitsTest is InferenceMarketFuzzFixture {
    // ------------------------------------------------------------------ escrow and splits

    /// @notice escrowOf is k × fee plus floor(k × fee × bps / 10 000), never overflows for any
    /// uint96 fee and k ≤ 255, and for every number a ≤ k of paid providers the paid fees plus
    /// their protocol fee fit in the escrow (the client's refund is never negative).
    function testFuzz_escrowOf_formula(uint8 kSeed, uint96 fee, uint16 bps) public view {
        uint256 k = bound(kSeed, 1, 32);
        uint256 escrow = market.escrowOf(uint8(k), fee, bps);
        uint256 fees = k * fee;
        assertEq(escrow, fees + (fees * bps) / 10_000, "escrow = k*fee + k*fee*bps/10000");
        // Floor property, independent of the formula's shape.
        assertLe(escrow * 10_000, fees * (10_000 + uint256(bps)), "escrow rounds down");
        assertTrue(escrow * 10_000 + 10_000 > fees * (10_000 + uint256(bps)), "escrow rounds down by < 1");
        for (uint256 a = 0; a <= k; ++a) {
            uint256 paid = a * fee;
            assertLe(paid + MarketSpec.protocolFee(a, fee, bps), escrow, "a paid providers fit in the escrow");
        }
        // The extreme: k = 255, fee and bps at their type maxima.
        uint256 maxEscrow = market.escrowOf(type(uint8).max, type(uint96).max, type(uint16).max);
        assertEq(maxEscrow, MarketSpec.escrow(255, type(uint96).max, type(uint16).max), "no overflow at the maxima");
    }

    /// @notice A job with any uint96 fee and k ≤ 32 takes exactly its escrow (ETH or ERC-20) and,
    /// once it expires unserved, gives all of it back.
    function testFuzz_requestJob_escrowTakenAndRefundedExactly(
        uint8 kSeed,
        uint96 feeSeed,
        uint16 bpsSeed,
        bool eth
    ) public {
        uint8 k = uint8(bound(kSeed, 1, 32));
        uint96 fee = uint96(bound(feeSeed, MIN_FEE, type(uint96).max));
        uint16 bps = uint16(bound(bpsSeed, 0, 1_000));
        _setPolicy(bps, 6000, 1 days);
        address token = eth ? address(0) : address(s.tokenA);
        uint256 escrow = MarketSpec.escrow(k, fee, bps);
        assertEq(market.escrowOf(k, fee, bps), escrow, "escrowOf = spec");

        (uint256 jobId, Job memory job) = _request(k, fee, token, uint40(block.timestamp + 1 hours), 0);
        assertEq(_held(token), escrow, "market holds exactly the escrow");
        assertEq(_balance(token, CLIENT), 0, "the client paid all it was given");

        vm.warp(uint256(k == 1 ? job.deadline : job.commitDeadline) + 1);
        vm.expectEmit(true, false, false, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(jobId, escrow, false);
        market.finalize(jobId, wordsOf(job));
        assertEq(market.balanceOf(CLIENT, token), escrow, "refund = escrow");
        vm.prank(CLIENT);
        assertEq(market.withdraw(token), escrow, "withdrawn = escrow");
        assertEq(_balance(token, CLIENT), escrow, "the client got it all back");
        assertEq(_held(token), 0, "nothing left in the market");
    }

    /// @notice For every number a = 0..k of providers revealing the same result (the others
    /// reveal distinct results or stay silent), the credits of the round sum exactly to the
    /// escrow: with a ≥ quorum each of the a providers gets the fee, the treasury the protocol
    /// fee on a × fee, the client the rest, the others are slashed; below the quorum the client
    /// gets everything back and only the silent seats are slashed. The slashed stake is credited
    /// in the stake token, all of it, and the market holds exactly that.
    function testFuzz_settlement_splitsSumToEscrow(
        uint8 kSeed,
        uint96 feeSeed,
        uint16 bpsSeed,
        uint16 quorumSeed,
        uint256 silentMask
    ) public {
        uint8 k = uint8(bound(kSeed, 2, PROVIDERS));
        uint96 fee = uint96(bound(feeSeed, MIN_FEE, 1e28));
        uint16 bps = uint16(bound(bpsSeed, 0, 1_000));
        _setPolicy(bps, uint16(bound(quorumSeed, 5_000, 10_000)), 1 days);
        for (uint256 a = 0; a <= k; ++a) {
            _roundWithAgreeing(k, fee, a, silentMask >> (a * 8));
            vm.warp(block.timestamp + 1);
        }
        for (uint256 i = 0; i < PROVIDERS; ++i) {
            assertEq(_seatCollateral(provs[i]), 0, "all collateral released");
        }
        // No job left open: the market holds exactly what it credited.
        uint256 credited = market.balanceOf(CLIENT, address(s.tokenA)) + market.protocolFees(address(s.tokenA));
        for (uint256 i = 0; i < PROVIDERS; ++i) credited += market.balanceOf(provs[i], address(s.tokenA));
        assertEq(s.tokenA.balanceOf(address(market)), credited, "market balance = credits");
        uint256 stakeCredited = market.balanceOf(CLIENT, address(s.stakeToken));
        for (uint256 i = 0; i < PROVIDERS; ++i) stakeCredited += market.balanceOf(provs[i], address(s.stakeToken));
        assertEq(s.stakeToken.balanceOf(address(market)), stakeCredited, "market stake balance = stake credits");
        assertEq(s.registry.slashedFunds(), 0, "seat slashes do not accrue to the DAO");
    }

    /// @notice A k = 12 round (seats past the eight whose reveals the job word tracks): random
    /// seats reveal the truth, another result, or nothing; a reveal twice, by a stranger to the
    /// seat, or with a wrong salt is refused with the exact error, for low and high seats alike;
    /// seatOf reports each seat (its commitment bound to its provider, then its result);
    /// settlement pays exactly the truthful revealers iff they reach the quorum, and slashes the
    /// others with a quorum, the silent ones always.
    function testFuzz_reveal_beyondEightSeats(uint256 truthMask, uint256 silentMask) public {
        _setPolicy(250, 6000, 1 days);
        for (uint256 i = 0; i < WIDE; ++i) {
            wide[i] = vm.addr(0xE11E00 + i);
            MarketStack.register(s, wide[i], 1_000e18, 3);
        }
        (uint256 jobId, Job memory job) = _request(
            uint8(WIDE),
            MIN_FEE,
            address(s.tokenA),
            uint40(block.timestamp + 2 hours),
            1
        );
        for (uint256 i = 0; i < WIDE; ++i) {
            vm.prank(wide[i]);
            market.commit(
                jobId,
                wordsOf(job),
                MarketSpec.commitment(jobId, wide[i], _wideHash(jobId, truthMask, i), _salt(jobId, i))
            );
        }
        uint256 agreeing;
        uint256 silent = silentMask & ((1 << WIDE) - 1);
        for (uint256 i = 0; i < WIDE; ++i) {
            bool reveals = (silent >> i) & 1 == 0;
            if (reveals && (truthMask >> i) & 1 == 1) ++agreeing;
            // Everyone revealing: the last reveal settles, checked below.
            _wideSeat(jobId, job, _wideHash(jobId, truthMask, i), i, reveals && !(silent == 0 && i + 1 == WIDE));
        }
        if (silent == 0) {
            vm.prank(wide[WIDE - 1]);
            market.reveal(
                jobId,
                wordsOf(job),
                uint8(WIDE - 1),
                _wideHash(jobId, truthMask, WIDE - 1),
                _salt(jobId, WIDE - 1),
                ""
            );
        } else {
            vm.warp(block.timestamp + job.revealWindow + 1);
            market.finalize(jobId, wordsOf(job));
        }
        bool quorate = agreeing >= job.quorum;
        for (uint256 i = 0; i < WIDE; ++i) {
            bool paid = quorate && (truthMask >> i) & 1 == 1 && (silent >> i) & 1 == 0;
            assertEq(market.balanceOf(wide[i], address(s.tokenA)), paid ? job.feePerProvider : 0, "paid iff agreeing");
            uint256 lost = 1_000e18 - s.registry.getProvider(wide[i]).stake;
            bool faulty = (silent >> i) & 1 == 1 || (quorate && !paid);
            assertEq(lost, faulty ? job.collateral : 0, "slashed iff silent or outside a quorate majority");
            assertEq(_seatCollateral(wide[i]), 0, "collateral released");
            (address who, bool r, bytes32 v) = market.seatOf(jobId, uint8(i));
            assertTrue(who == address(0) && !r && v == bytes32(0), "an ended job's seats are deleted");
        }
        _assertStatus(
            jobId,
            quorate ? IInferenceMarketTypes.JobStatus.Settled : IInferenceMarketTypes.JobStatus.Refunded
        );
        (, uint8 seated, uint8 revealedCount, ) = market.jobState(jobId);
        assertEq(seated, WIDE, "the job word keeps the seat count");
        assertEq(revealedCount, WIDE - _popcount(silent), "and the reveal count");
    }

    function _assertSeat(uint256 jobId, uint256 i, bool revealed, bytes32 value) internal view {
        (address who, bool r, bytes32 v) = market.seatOf(jobId, uint8(i));
        assertEq(who, wide[i], "seat provider");
        assertTrue(r == revealed, "seat revealed flag");
        assertEq(v, value, "seat value: commitment, or result hash once revealed");
    }

    function _popcount(uint256 x) internal pure returns (uint256 n) {
        for (; x != 0; x >>= 1) n += x & 1;
    }

    uint256 internal constant WIDE = 12;
    address[WIDE] internal wide;

    function _wideHash(uint256 jobId, uint256 truthMask, uint256 i) internal pure returns (bytes32) {
        return (truthMask >> i) & 1 == 1 ? keccak256(abi.encode("truth", jobId)) : keccak256(abi.encode("other", i));
    }

    /// @dev Seat i: seatOf before; a stranger and a wrong salt refused; if `reveals`, the reveal,
    /// seatOf after, and a second reveal refused.
    function _wideSeat(uint256 jobId, Job memory job, bytes32 h, uint256 i, bool reveals) internal {
        bytes32 commitment = MarketSpec.commitment(jobId, wide[i], h, _salt(jobId, i));
        _assertSeat(jobId, i, false, keccak256(abi.encode(commitment, wide[i])));
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotSeated.selector,
                jobId,
                uint8(i),
                wide[(i + 1) % WIDE]
            )
        );
        vm.prank(wide[(i + 1) % WIDE]);
        market.reveal(jobId, wordsOf(job), uint8(i), h, _salt(jobId, i), "");
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, jobId, wide[i])
        );
        vm.prank(wide[i]);
        market.reveal(jobId, wordsOf(job), uint8(i), h, _salt(jobId, i + 100), "");
        if (!reveals) return;
        vm.prank(wide[i]);
        market.reveal(jobId, wordsOf(job), uint8(i), h, _salt(jobId, i), "");
        _assertSeat(jobId, i, true, h);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadyRevealed.selector, jobId, wide[i])
        );
        vm.prank(wide[i]);
        market.reveal(jobId, wordsOf(job), uint8(i), h, _salt(jobId, i), "");
    }
}
