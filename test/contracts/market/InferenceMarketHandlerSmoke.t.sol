// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {InferenceMarketHandler} from "./handlers/InferenceMarketHandler.sol";
import {InferenceMarketFuzzFixture} from "./InferenceMarketFuzzFixture.sol";

/// @notice The invariant handler's own test: it reaches the deep states the invariants need.
contract InferenceMarketHandlerSmokeTest is InferenceMarketFuzzFixture {
    uint256 internal constant SMOKE_STEPS = 2_000;

    // ------------------------------------------------------------------ handler smoke test

    /// @notice The invariant handler reaches deep states (deliveries, batches, settled and
    /// refunded rounds, slashes, withdrawals, suspensions that survive an exit) and its model
    /// agrees with the market throughout.
    function test_handler_reachesDeepStatesWithoutSurprises() public {
        InferenceMarketHandler h = new InferenceMarketHandler();
        for (uint256 step = 0; step < SMOKE_STEPS; ++step) {
            uint256 r = uint256(keccak256(abi.encode("smoke", step)));
            uint256 a = uint256(keccak256(abi.encode(r, 1)));
            uint256 b = uint256(keccak256(abi.encode(r, 2)));
            uint256 c = uint256(keccak256(abi.encode(r, 3)));
            // The court's actions weigh more: a challenge needs a delivery within its window, a jury
            // a challenge within its commit window.
            uint256 f = r % 24;
            if (f <= 1) h.requestJob(a, b, c, r >> 8, r >> 16, r >> 24);
            else if (f == 2) h.submitResult(a, b, c);
            else if (f == 3 && (r >> 32) % 2 == 0) h.submitBatch(a, b);
            else if (f == 3) h.submitOwnBatch(a, b);
            else if (f == 4) h.commit(a, b, c, r >> 8);
            else if (f == 5) h.reveal(a, b, c, r >> 8);
            else if (f == 6) h.finalize(a, b);
            else if (f == 7) h.withdraw(a, b);
            else if (f == 8) h.warp(a);
            else if (f == 9) h.stake(r >> 8, a, b);
            else if (f == 10) h.exitStep(a, b);
            else if (f == 11) h.juryCommit(a, b, c, r >> 8);
            else if (f == 12) h.poke(a, b);
            else if (f == 13) h.claim(a, b);
            else if (f == 14) h.challenge(a, b);
            else if (f == 15) h.juryCommit(a, b, c, r >> 8);
            else if (f == 16) h.juryReveal(a, b, c, r >> 8);
            else if (f == 17) h.resolveChallenge(a, b);
            else if (f <= 19) h.challenge(a, b);
            else if (f <= 21) h.juryCommit(a, b, c, r >> 8);
            else h.juryReveal(a, b, c, r >> 8);
        }
        assertEq(h.surprises(), 0, string.concat("model disagreement: ", h.firstSurprise()));
        string[39] memory reached = [
            "requestJob",
            "requestJob.k>1",
            "requestJob.refused",
            "submitResult",
            "batch.delivered",
            "batch.rejectedItems",
            "ownBatch.delivered",
            "ownBatch.rejectedItems",
            "commit",
            "commit.refused",
            "commitAll",
            "commitAll.skipped",
            "reveal",
            "reveal.refused",
            "revealAll",
            "revealAll.skipped",
            "settle.quorum",
            "settle.withSlash",
            "settle.noQuorum",
            "settle.noQuorumWithSlash",
            "settle.compensated",
            "finalize.refund",
            "withdraw",
            "poke",
            "suspend",
            "reapprove",
            "withdrawStake.suspended",
            "registerWhileSuspended.refused",
            "claim",
            "claim.skipped",
            "challenge",
            "challenge.refused",
            "juryCommit",
            "juryCommit.refused",
            "juryReveal",
            "juryReveal.refused",
            "resolveChallenge",
            "resolveChallenge.refused",
            "pokeCourt"
        ];
        for (uint256 i = 0; i < reached.length; ++i) {
            assertGe(h.hits(bytes32(bytes(reached[i]))), 1, string.concat("never reached: ", reached[i]));
        }
        assertGe(h.hits("daoSlash"), 1, "never reached: daoSlash");
        // Every way a challenge ends.
        string[5] memory ends = [
            "resolve.providerWrong",
            "resolve.providerRight",
            "resolve.inconclusive",
            "resolve.unfilled",
            "resolve.jurorSlashed"
        ];
        string memory counts;
        for (uint256 i = 0; i < ends.length; ++i) {
            counts = string.concat(counts, ends[i], "=", Strings.toString(h.hits(bytes32(bytes(ends[i])))), " ");
        }
        counts = string.concat(
            counts,
            "challenge=",
            Strings.toString(h.hits("challenge")),
            " juryReveal=",
            Strings.toString(h.hits("juryReveal")),
            " juryCommit=",
            Strings.toString(h.hits("juryCommit")),
            " submit=",
            Strings.toString(h.hits("submitResult"))
        );
        for (uint256 i = 0; i < ends.length; ++i) {
            assertGe(h.hits(bytes32(bytes(ends[i]))), 1, string.concat("never reached: ", ends[i], " (", counts, ")"));
        }
    }
}
