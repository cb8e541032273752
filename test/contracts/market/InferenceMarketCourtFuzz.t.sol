// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./CourtFixture.sol";

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
        (uint256 id, Job memory job, IInferenceMarketTypes.Challenge memory ch, address[] memory jurors) = _run(c);
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
        (uint256 id, , IInferenceMarketTypes.Challenge memory ch, ) = _run(c);
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
        for (uint256 i = 0; i < c.jurySize; ++i)
            c.votes[i] = uint8(uint256(keccak256(abi.encode(seed, "vote", i))) % 4);
        c.token = token;
    }

    function _hashOf(uint8 vote) internal pure returns (bytes32) {
        return
            vote == 1
                ? RESULT
                : vote == 2
                    ? OTHER_RESULT
                    : THIRD_RESULT;
    }

    /// @dev Sets the policies (moving through a zero jury fee so that the bounds hold at each
    /// step), delivers, challenges, seats and reveals as the case says, and resolves.
    function _run(
        Case memory c
    )
        internal
        returns (uint256 id, Job memory job, IInferenceMarketTypes.Challenge memory ch, address[] memory jurors)
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
        (IInferenceMarketTypes.JobStatus status, , , ) = market.jobState(id);
        assertTrue(uint256(status) == SETTLED || uint256(status) == REFUNDED, "the challenge is resolved");
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
        uint256 toClient = (e.pool * c.clientShareBps) / BPS;
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
            e.toChallenger = (rest * c.challengerShareBps) / BPS;
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
        assertEq(
            e.pool + (e.providerLost || e.challengerLost ? c.collateral : 0),
            lost,
            "spec: seized = pool + verdict"
        );
        assertEq(
            stakeToken.balanceOf(address(registry)),
            registry.totalStake() + registry.slashedFunds(),
            "registry holds its stakes"
        );
        assertEq(registry.totalStake(), stakeBefore - lost, "registry stake moved = credits");
    }
}
