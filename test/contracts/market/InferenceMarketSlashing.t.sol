// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== slashing and compensation

/// @notice Issue 11 finding 1 (a silent seat is always slashed and pays those it harmed) and
/// finding 8 (a seat's commitment is bound to the provider that committed it).
contract InferenceMarketSlashingTest is InferenceMarketFixture {
    uint8 internal constant SILENT = 0;
    uint8 internal constant TRUTH = 1;
    uint8 internal constant OTHER = 2;
    uint8 internal constant THIRD = 3;

    function _hashOf(uint8 mode) internal pure returns (bytes32) {
        if (mode == OTHER) return OTHER_RESULT;
        if (mode == THIRD) return THIRD_RESULT;
        return RESULT;
    }

    /// @dev Seats prov[0..k-1] on a new ETH job (seat i = prov[i]); every seat whose mode is not
    /// SILENT reveals its hash; if any seat is silent, the reveal window passes and a stranger
    /// finalizes. Events are expected by the caller before this runs the last step.
    function _commitAll(uint8[] memory modes) internal returns (uint256 id, Job memory job) {
        (id, job) = _requestEth(uint8(modes.length));
        for (uint256 i = 0; i < modes.length; ++i) _commit(id, job, prov[i], _hashOf(modes[i]));
    }

    /// @dev Reveals every non-silent seat but the last one that is not silent (returned, or
    /// type(uint256).max when all are silent).
    function _revealAllButLast(uint256 id, Job memory job, uint8[] memory modes) internal returns (uint256 last) {
        last = type(uint256).max;
        for (uint256 i = 0; i < modes.length; ++i) {
            if (modes[i] == SILENT) continue;
            if (last != type(uint256).max) _reveal(id, job, prov[last], uint8(last), _hashOf(modes[last]));
            last = i;
        }
    }

    function _round(uint8[] memory modes) internal returns (uint256 id, Job memory job) {
        (id, job) = _commitAll(modes);
        uint256 last = _revealAllButLast(id, job, modes);
        if (last != type(uint256).max) _reveal(id, job, prov[last], uint8(last), _hashOf(modes[last]));
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        if (_status(id) == REVEALING) {
            vm.prank(stranger);
            market.finalize(id, wordsOf(job));
        }
    }

    function _modes(uint8 a, uint8 b) internal pure returns (uint8[] memory m) {
        m = new uint8[](2);
        (m[0], m[1]) = (a, b);
    }

    function _modes(uint8 a, uint8 b, uint8 c) internal pure returns (uint8[] memory m) {
        m = new uint8[](3);
        (m[0], m[1], m[2]) = (a, b, c);
    }

    function _modes(uint8 a, uint8 b, uint8 c, uint8 d, uint8 e) internal pure returns (uint8[] memory m) {
        m = new uint8[](5);
        (m[0], m[1], m[2], m[3], m[4]) = (a, b, c, d, e);
    }

    function _stakeOf(address p) internal view returns (uint256) {
        return registry.getProvider(p).stake;
    }

    function _lockedOf(address p) internal view returns (uint256) {
        return _held(p);
    }

    function _stakeCredit(address who) internal view returns (uint256) {
        return market.balanceOf(who, address(stakeToken));
    }

    function _assertCounters(address p, uint256 disagreed, uint256 missed) internal view {
        IProviderRegistry.Provider memory r = registry.getProvider(p);
        assertEq(r.disagreed, disagreed, "disagreed counter");
        assertEq(r.missed, missed, "missed counter");
    }

    // ---------------------------------------------------------------- the issue's attack

    /// @notice Finding 1: a squatter takes one seat of a k = 2 job and never reveals. The quorum
    /// (2) cannot be reached, but the squatter still loses its collateral: half to the client,
    /// half to the honest revealer, who also gets its own collateral back and no "disagreed" mark.
    function test_settle_k2SilentSeat_noQuorum_slashedAndCompensated() public {
        uint8[] memory modes = _modes(TRUTH, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        assertEq(job.quorum, 2, "k = 2 needs both");
        _reveal(id, job, prov[0], 0, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        uint256 escrow = _escrow(2);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.ProviderSlashed(prov[1], address(market), COLLATERAL, bytes32(id));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[1], COLLATERAL, false);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, COLLATERAL, COLLATERAL / 2, COLLATERAL / 2, 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, escrow, true);
        vm.prank(stranger);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), REFUNDED, "no quorum: refunded");
        assertEq(market.balanceOf(client, address(0)), escrow, "client: the escrow E");
        assertEq(_stakeCredit(client), COLLATERAL / 2, "client: + c/2");
        assertEq(_stakeCredit(prov[0]), COLLATERAL / 2, "revealer: c/2");
        assertEq(market.balanceOf(prov[0], address(0)), 0, "revealer: no fee without a quorum");
        assertEq(_stakeOf(prov[0]), STAKE, "revealer: its c back");
        assertEq(_lockedOf(prov[0]), 0, "revealer: nothing locked");
        _assertCounters(prov[0], 0, 0); // no "disagreed" mark
        assertEq(_stakeOf(prov[1]), STAKE - COLLATERAL, "squatter: loses c");
        assertEq(_lockedOf(prov[1]), 0, "squatter: nothing locked");
        _assertCounters(prov[1], 0, 1);
        assertEq(registry.slashedFunds(), 0, "nothing to the DAO");
        assertEq(stakeToken.balanceOf(address(market)), COLLATERAL, "the market holds what it credited");
        assertEq(registry.totalStake(), stakeToken.balanceOf(address(registry)), "registry: stake = its balance");

        // The credits are real: both withdraw their stake tokens.
        vm.prank(prov[0]);
        market.withdraw(address(stakeToken));
        vm.prank(client);
        market.withdraw(address(stakeToken));
        assertEq(stakeToken.balanceOf(prov[0]), COLLATERAL / 2, "revealer withdrew c/2");
        assertEq(stakeToken.balanceOf(client), COLLATERAL / 2, "client withdrew c/2");
        assertEq(stakeToken.balanceOf(address(market)), 0, "market emptied");
    }

    /// @notice k = 3, two squatters (the quorum of 2 is out of reach): both lose c; the client
    /// takes half of 2c, the one revealer the other half.
    function test_settle_k3TwoSilent_noQuorum() public {
        uint8[] memory modes = _modes(TRUTH, SILENT, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        _reveal(id, job, prov[0], 0, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, 2 * uint256(COLLATERAL), COLLATERAL, COLLATERAL, 1);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "client: E");
        assertEq(_stakeCredit(client), COLLATERAL, "client: half the pool");
        assertEq(_stakeCredit(prov[0]), COLLATERAL, "revealer: the other half");
        _assertCounters(prov[0], 0, 0);
        for (uint256 i = 1; i < 3; ++i) {
            assertEq(_stakeOf(prov[i]), STAKE - COLLATERAL, "squatter loses c");
            _assertCounters(prov[i], 0, 1);
        }
        assertEq(stakeToken.balanceOf(address(market)), 2 * uint256(COLLATERAL), "pool held");
    }

    /// @notice k = 3, one silent seat, the other two agree (quorum): each winner gets f + c/4,
    /// the client its unused escrow + c/2.
    function test_settle_k3OneSilent_withQuorum() public {
        (uint256 id, ) = _round(_modes(TRUTH, TRUTH, SILENT));
        assertEq(_status(id), SETTLED, "settled");
        for (uint256 i = 0; i < 2; ++i) {
            assertEq(market.balanceOf(prov[i], address(0)), FEE, "winner: f");
            assertEq(_stakeCredit(prov[i]), COLLATERAL / 4, "winner: c/4");
            assertEq(_stakeOf(prov[i]), STAKE, "winner keeps its stake");
            _assertCounters(prov[i], 0, 0);
        }
        assertEq(market.balanceOf(client, address(0)), FEE + 1e16, "client: one fee and its protocol share");
        assertEq(_stakeCredit(client), COLLATERAL / 2, "client: c/2");
        assertEq(_stakeOf(prov[2]), STAKE - COLLATERAL, "silent seat loses c");
        _assertCounters(prov[2], 0, 1);
    }

    /// @notice Nobody reveals: every seat is slashed and the client takes the whole pool (there
    /// is no honest revealer to share it with).
    function test_settle_allSilent_clientTakesPool() public {
        uint8[] memory modes = _modes(SILENT, SILENT, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, 3 * uint256(COLLATERAL), 3 * uint256(COLLATERAL), 0, 0);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, _escrow(3), true);
        market.finalize(id, wordsOf(job));

        assertEq(market.balanceOf(client, address(0)), _escrow(3), "client: E");
        assertEq(_stakeCredit(client), 3 * uint256(COLLATERAL), "client: the whole pool");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(_stakeOf(prov[i]), STAKE - COLLATERAL, "every seat loses c");
            _assertCounters(prov[i], 0, 1);
        }
    }

    /// @notice k = 5 (quorum 3): three agree, one disagrees, one is silent. Both faulty seats
    /// lose c; the 2c pool goes half to the client, half to the three winners (c/3 each), and the
    /// rounding dust to the client.
    function test_settle_minorityAndSilent() public {
        (uint256 id, ) = _round(_modes(TRUTH, OTHER, TRUTH, SILENT, TRUTH));
        uint256 pool = 2 * uint256(COLLATERAL);
        uint256 per = (pool / 2) / 3;
        assertEq(_status(id), SETTLED, "settled");
        assertEq(_stakeCredit(client), pool - 3 * per, "client: half the pool and the dust");
        assertEq(pool - 3 * per, COLLATERAL + 1, "dust of 1");
        for (uint256 i = 0; i < 5; i += 2) {
            assertEq(_stakeCredit(prov[i]), per, "winner: its share");
            assertEq(market.balanceOf(prov[i], address(0)), FEE, "winner: f");
            _assertCounters(prov[i], 0, 0);
        }
        assertEq(_stakeOf(prov[1]), STAKE - COLLATERAL, "minority loses c");
        _assertCounters(prov[1], 1, 0);
        assertEq(_stakeOf(prov[3]), STAKE - COLLATERAL, "silent loses c");
        _assertCounters(prov[3], 0, 1);
        assertEq(_stakeCredit(prov[1]) + _stakeCredit(prov[3]), 0, "faulty seats get nothing");
    }

    /// @notice Without a quorum, revealers that disagree are not at fault: they share the silent
    /// seat's stake and get no counter.
    function test_settle_noQuorum_disagreeingRevealersCompensatedNotMarked() public {
        (uint256 id, ) = _round(_modes(TRUTH, OTHER, SILENT));
        assertEq(_status(id), REFUNDED, "no quorum");
        assertEq(_stakeCredit(client), COLLATERAL / 2, "client: c/2");
        for (uint256 i = 0; i < 2; ++i) {
            assertEq(_stakeCredit(prov[i]), COLLATERAL / 4, "revealer: c/4");
            assertEq(_stakeOf(prov[i]), STAKE, "revealer keeps its stake");
            _assertCounters(prov[i], 0, 0);
        }
        _assertCounters(prov[2], 0, 1);
    }

    /// @notice c = 10^18 + 1, three revealers, two silent seats (k = 5, quorum 3): the pool does
    /// not split evenly; the dust goes to the client, nothing is lost or created.
    function test_settle_roundingDustToClient() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        uint256 c = 1e18 + 1;
        p.collateralPerJob = uint128(c);
        _setPolicyLoweringJuryFee(p);
        (uint256 id, Job memory job) = _round(_modes(TRUTH, SILENT, TRUTH, SILENT, TRUTH));
        assertEq(job.collateral, c, "snapshotted collateral");
        uint256 pool = 2 * c;
        uint256 toClient = (pool * CLIENT_SHARE_BPS) / 10_000; // 1e18 + 1
        uint256 per = (pool - toClient) / 3; // 333333333333333333
        assertEq(per, 333_333_333_333_333_333, "per revealer, rounded down");
        assertEq(_stakeCredit(client), pool - 3 * per, "client: its share and the dust");
        assertEq(_stakeCredit(client), 1e18 + 3, "dust of 2");
        uint256 sum = _stakeCredit(client);
        for (uint256 i = 0; i < 5; ++i) sum += _stakeCredit(prov[i]);
        assertEq(sum, pool, "credits = pool");
        assertEq(stakeToken.balanceOf(address(market)), pool, "pool held");
        assertEq(_status(id), SETTLED, "three of five agree");
    }

    /// @notice clientShareBps = 0 gives the revealers the whole pool; 10,000 gives it all to the
    /// client. The policy is read at settlement.
    function test_settle_clientShareBpsBounds() public {
        uint8[] memory modes = _modes(TRUTH, TRUTH, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.clientShareBps = 0;
        _court().setPolicy(p);
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        market.finalize(id, wordsOf(job));
        assertEq(_stakeCredit(client), 0, "share 0: nothing to the client");
        assertEq(_stakeCredit(prov[0]), COLLATERAL / 2, "winners share the pool");

        p.clientShareBps = 10_000;
        _court().setPolicy(p);
        (id, ) = _round(modes);
        assertEq(_stakeCredit(client), COLLATERAL, "share 10,000: all to the client");
        assertEq(_stakeCredit(prov[0]), COLLATERAL / 2, "winners get nothing more");
    }

    /// @notice Issue 11 finding 3: a DAO slash can no longer leave a silent seat with less stake
    /// than its collateral (it used to, and settlement then seized only what was left): the slash
    /// takes only free stake, and the seat loses exactly its collateral to those it harmed.
    function test_settle_daoSlashCannotReachSeatCollateral() public {
        uint8[] memory modes = _modes(TRUTH, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        uint256 free = STAKE - COLLATERAL;
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector,
                prov[1],
                STAKE - 4e18,
                free
            )
        );
        registry.slash(prov[1], STAKE - 4e18, bytes32("dao"));
        // The seat allocated the whole stake: the slash reclaims the market's free collateral.
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralDeallocated(prov[1], address(market), free, COLLATERAL);
        registry.slash(prov[1], free, bytes32("dao"));
        assertEq(_free(prov[1]), 0, "nothing free in the market");
        assertEq(_lockedOf(prov[1]), COLLATERAL, "the seat's collateral untouched");
        _reveal(id, job, prov[0], 0, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[1], COLLATERAL, false);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, COLLATERAL, COLLATERAL / 2, COLLATERAL / 2, 1);
        market.finalize(id, wordsOf(job));
        assertEq(_stakeOf(prov[1]), 0, "its collateral, the rest the DAO took");
        assertEq(_stakeCredit(client), COLLATERAL / 2, "client");
        assertEq(_stakeCredit(prov[0]), COLLATERAL / 2, "revealer");
        assertEq(registry.slashedFunds(), free, "only the DAO's slash accrues to the DAO");
    }

    /// @notice No fault, no SlashDistributed: the happy path reads no stake and moves no stake.
    function test_settle_allAgree_noSlashEvent() public {
        uint8[] memory modes = _modes(TRUTH, TRUTH, TRUTH);
        (uint256 id, Job memory job) = _commitAll(modes);
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        vm.recordLogs();
        _reveal(id, job, prov[2], 2, RESULT);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != IInferenceMarketTypes.SlashDistributed.selector, "no SlashDistributed");
            assertTrue(logs[i].topics[0] != IInferenceMarketTypes.SeatSlashed.selector, "no SeatSlashed");
        }
        assertEq(_status(id), SETTLED, "settled");
    }

    // ---------------------------------------------------------------- finding 8

    /// @notice Finding 8: a seated provider crafts its commitment so that another address could
    /// reveal its seat (old scheme: stored value = commitment XOR provider). The other address
    /// cannot reveal it, and the seat, never revealed by its holder, is slashed as silent.
    function test_reveal_otherAddressCannotRevealCraftedCommitment() public {
        (uint256 id, Job memory job) = _requestEth(3);
        address accomplice = prov[3];
        bytes32 accompliceSalt = _salt(accomplice);
        bytes32 forAccomplice = _commitment(id, accomplice, RESULT, accompliceSalt);
        // XOR-crafted: under `stored = commitment ^ provider`, the accomplice's reveal matched.
        bytes32 crafted = forAccomplice ^ bytes32(uint256(uint160(accomplice))) ^ bytes32(uint256(uint160(prov[0])));
        vm.prank(prov[0]);
        market.commit(id, wordsOf(job), crafted);
        // Raw: under `stored = commitment` without the provider, the accomplice's reveal matched.
        vm.prank(prov[1]);
        market.commit(id, wordsOf(job), forAccomplice);
        _commit(id, job, prov[2], RESULT);

        for (uint8 seat = 0; seat < 2; ++seat) {
            vm.expectRevert(_notSeated(id, seat, accomplice));
            vm.prank(accomplice);
            market.reveal(id, wordsOf(job), seat, RESULT, accompliceSalt, OUTPUT);
        }
        // Nor can the seat holders reveal with the accomplice's opening.
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, id, prov[0])
        );
        vm.prank(prov[0]);
        market.reveal(id, wordsOf(job), 0, RESULT, accompliceSalt, OUTPUT);
        assertEq(_revealed(id), 0, "nothing revealed");

        _reveal(id, job, prov[2], 2, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        market.finalize(id, wordsOf(job));
        assertEq(_status(id), REFUNDED, "one revealer of three: no quorum");
        assertEq(_stakeOf(prov[0]), STAKE - COLLATERAL, "crafting seat slashed as silent");
        assertEq(_stakeOf(prov[1]), STAKE - COLLATERAL, "crafting seat slashed as silent");
        assertEq(_stakeCredit(accomplice), 0, "the accomplice earns nothing");
        assertEq(_stakeCredit(prov[2]), COLLATERAL, "the honest revealer is compensated");
    }

    // ---------------------------------------------------------------- conservation

    /// @notice Any k ≤ 7, any mix of silent, truthful and other seats, any collateral and client
    /// share: the payment-token credits (client, providers, protocol fee) sum to the escrow E;
    /// the stake-token credits sum to |F|·c (F: silent seats, plus with a quorum the revealers
    /// of another hash) and the market holds exactly that; every seat's c is released (kept) or
    /// seized exactly once; counters record only F.
    /// @dev One seat after settlement (`winner` zero: no quorum): returns whether it was faulty.
    function _checkSeat(address p, uint8 mode, bytes32 winner, uint256 c) internal view returns (bool isFaulty) {
        bool quorum = winner != bytes32(0);
        isFaulty = mode == SILENT || (quorum && _hashOf(mode) != winner);
        assertEq(_lockedOf(p), 0, "every seat released");
        assertEq(_stakeOf(p), isFaulty ? STAKE - c : STAKE, "c seized iff faulty, once");
        if (isFaulty) assertEq(_stakeCredit(p), 0, "a faulty seat is not compensated");
        bool winnerSeat = quorum && !isFaulty;
        assertEq(market.balanceOf(p, address(0)), winnerSeat ? FEE : 0, "fee iff a winner");
        _assertCounters(p, isFaulty && mode != SILENT ? 1 : 0, mode == SILENT ? 1 : 0);
    }

    function testFuzz_settle_conservation(uint8 kSeed, uint256 modeSeed, uint128 cSeed, uint16 shareSeed) public {
        uint8 k = uint8(bound(kSeed, 2, MAX_K));
        uint256 c = bound(cSeed, 1e18, STAKE);
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = uint128(c);
        p.clientShareBps = uint16(bound(shareSeed, 0, 10_000));
        _setPolicyLoweringJuryFee(p);
        uint8[] memory modes = new uint8[](k);
        uint256 truthful;
        uint256 others;
        for (uint256 i = 0; i < k; ++i) {
            modes[i] = uint8((modeSeed >> (2 * i)) % 3); // SILENT, TRUTH or OTHER
            if (modes[i] == TRUTH) ++truthful;
            if (modes[i] == OTHER) ++others;
        }
        (uint256 id, Job memory job) = _round(modes);

        bytes32 winner;
        if (truthful >= job.quorum) winner = RESULT;
        else if (others >= job.quorum) winner = OTHER_RESULT;
        uint256 faulty;
        uint256 paymentCredits = market.balanceOf(client, address(0)) + market.protocolFees(address(0));
        uint256 stakeCredits = _stakeCredit(client);
        for (uint256 i = 0; i < k; ++i) {
            if (_checkSeat(prov[i], modes[i], winner, c)) ++faulty;
            paymentCredits += market.balanceOf(prov[i], address(0));
            stakeCredits += _stakeCredit(prov[i]);
        }
        bool quorum = winner != bytes32(0);
        assertEq(paymentCredits, _escrow(k), "payment-token credits = E");
        assertEq(address(market).balance, _escrow(k), "ETH held = E");
        assertEq(stakeCredits, faulty * c, "stake-token credits = |F| c");
        assertEq(stakeToken.balanceOf(address(market)), faulty * c, "stake held = |F| c");
        assertEq(registry.slashedFunds(), 0, "nothing to the DAO");
        assertEq(_status(id), quorum ? SETTLED : REFUNDED, "status");
    }
}
