// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "../utils/Test.sol";
import {InferenceMarket} from "../../../contracts/market/InferenceMarket.sol";
import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {IInferenceMarketCourt} from "../../../contracts/interfaces/IInferenceMarketCourt.sol";
import {ProviderRegistry} from "../../../contracts/registry/ProviderRegistry.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {START} from "./handlers/MarketStack.sol";
import {InferenceMarketHandler} from "./handlers/InferenceMarketHandler.sol";

/// @notice The handler as deployed by the invariant suite. Hardhat emits artifacts only for contracts
/// declared in the root files of a build, and the invariant fuzzer only targets contracts whose
/// bytecode it can match to an artifact; when this file is run on its own the handler's file is not
/// a root, so the fuzzer would find "No contracts to fuzz". Declaring this thin subclass here makes
/// the target identifiable however the tests are invoked.
contract InferenceMarketInvariantHandler is InferenceMarketHandler {}

/// @notice Random sequences of requests, deliveries, batches, claims, challenges, jury commits
/// and reveals, challenge resolutions, commits, reveals, finalizations, withdrawals, DAO slashes,
/// exits and time jumps against the whole stack.
contract InferenceMarketInvariantTest is Test {
    InferenceMarketHandler internal handler;
    InferenceMarket internal market;
    ProviderRegistry internal registry;

    function setUp() public {
        vm.warp(START);
        handler = new InferenceMarketInvariantHandler();
        market = handler.market();
        registry = handler.registry();
        targetContract(address(handler));
    }

    /// @notice For ETH, each payment ERC-20 and the stake token (credited from slashed seats,
    /// never escrowed): the market holds exactly the escrow of unfinished jobs
    /// plus the credited, unwithdrawn balances plus the protocol fees not yet sent to the
    /// treasury; those balances (read with balanceOf over every account, the treasury included,
    /// which is never credited) equal the ghost model's, account by account, and the credits the
    /// events imply net of withdrawals; the accrued protocol fees equal the model's.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 100
    function invariant_balanceEqualsEscrowPlusCredits() public view {
        for (uint256 t = 0; t < handler.BALANCE_TOKEN_COUNT(); ++t) {
            address token = handler.balanceTokenAt(t);
            uint256 held = token == address(0) ? address(market).balance : IERC20(token).balanceOf(address(market));
            uint256 escrow = handler.ghostEscrow(token);
            uint256 credits = handler.ghostCredits(token);
            uint256 fees = handler.ghostProtocolFees(token);
            assertEq(held, escrow + credits + fees, "market balance = escrow of unfinished jobs + credits + fees");
            assertEq(market.protocolFees(token), fees, "protocolFees = model");

            uint256 sum;
            for (uint256 a = 0; a < handler.ACCOUNT_COUNT(); ++a) {
                address account = handler.accountAt(a);
                uint256 balance = market.balanceOf(account, token);
                assertEq(balance, handler.ghostBalance(account, token), "balanceOf = the account's credits per spec");
                sum += balance;
            }
            assertEq(sum, credits, "sum of balanceOf over all accounts = ghost credits");
            assertEq(
                handler.observedCredits(token),
                credits,
                "credits per the events net of withdrawals = ghost credits"
            );

            uint256 openEscrow;
            for (uint256 i = 0; i < handler.jobCount(); ++i) {
                uint256 jobId = handler.jobIdAt(i);
                (IInferenceMarketTypes.JobStatus status, , , , , uint256 jobEscrow) = handler.modelOf(jobId);
                if (!_terminal(status) && handler.jobOf(jobId).token == token) openEscrow += jobEscrow;
            }
            assertEq(openEscrow, escrow, "ghost escrow = sum over unfinished jobs");
        }
    }

    /// @notice Every job is settled or refunded at most once (one terminal event), exactly once
    /// if it ended, and an ended job's status never changes afterwards (the handler also keeps
    /// trying to move ended jobs; see {InferenceMarketHandler.poke}).
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 100
    function invariant_noJobSettlesTwice() public view {
        for (uint256 i = 0; i < handler.jobCount(); ++i) {
            uint256 jobId = handler.jobIdAt(i);
            (IInferenceMarketTypes.JobStatus modelStatus, , , , uint256 terminalEvents, ) = handler.modelOf(jobId);
            (IInferenceMarketTypes.JobStatus status, , , ) = market.jobState(jobId);
            assertLe(terminalEvents, 1, "a job was settled or refunded twice");
            assertEq(uint256(status), uint256(modelStatus), "job status = model status");
            if (_terminal(modelStatus)) assertEq(terminalEvents, 1, "an ended job without its terminal event");
            else assertEq(terminalEvents, 0, "a terminal event for a job that has not ended");
        }
    }

    /// @notice Provider fees go only to providers that served the job (delivered it, k = 1, and
    /// were paid at claim or by a challenge that did not find them wrong, or
    /// revealed the winning hash, k > 1), once; and every such provider was paid. Client
    /// refunds and treasury fees are not provider fees.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 100
    function invariant_onlyServersCredited() public view {
        address stranger = handler.badSigner();
        for (uint256 i = 0; i < handler.jobCount(); ++i) {
            uint256 jobId = handler.jobIdAt(i);
            for (uint256 p = 0; p < handler.PROVIDER_COUNT(); ++p) {
                address provider = handler.providerAt(p);
                uint256 credits = handler.feeCredits(provider, jobId);
                bool served = handler.served(provider, jobId);
                assertLe(credits, 1, "a provider was paid twice for a job");
                if (credits != 0) assertTrue(served, "a provider was paid for a job it did not serve");
                if (served) assertEq(credits, 1, "a provider served a job and was not paid");
            }
            assertEq(handler.feeCredits(stranger, jobId), 0, "a stranger was paid a provider fee");
        }
    }

    /// @notice The registry holds exactly totalStake + slashedFunds (and what flowed in minus
    /// out); totalStake is the sum of the stakes; no provider has more locked than staked.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 100
    function invariant_registryStakeConserved() public view {
        uint256 held = handler.stakeToken().balanceOf(address(registry));
        assertEq(held, registry.totalStake() + registry.slashedFunds(), "stake balance = totalStake + slashedFunds");
        assertEq(held, handler.ghostStakeIn() - handler.ghostStakeOut(), "stake balance = deposits - withdrawals");
        assertEq(registry.slashedFunds(), handler.ghostSlashedFunds(), "slashedFunds = model");
        uint256 sum;
        for (uint256 p = 0; p < handler.PROVIDER_COUNT(); ++p) {
            address provider = handler.providerAt(p);
            IProviderRegistry.Provider memory pv = registry.getProvider(provider);
            assertLe(pv.locked, pv.stake, "locked <= stake");
            assertEq(pv.stake, handler.ghostStake(provider), "stake = model (only losing seats and the DAO slash)");
            assertEq(pv.disagreed, handler.ghostDisagreed(provider), "disagreed counter = model");
            assertEq(pv.missed, handler.ghostMissed(provider), "missed counter = model");
            sum += pv.stake;
        }
        assertEq(sum, registry.totalStake(), "totalStake = sum of stakes");
    }

    /// @notice A provider's seat collateral (the registry's `locked`, its stake allocated to the
    /// market, less what the market holds free) is exactly the collateral it holds in jobs not
    /// yet settled or refunded: k > 1 seats, k = 1 deliveries not yet claimed or resolved,
    /// challenge bonds and jury seats. A DAO slash cannot change that (it takes free stake, the
    /// market's free collateral first, never a seat's), and a faulty seat loses its collateral
    /// whole. It equals the model too.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 100
    function invariant_lockedMatchesOpenSeats() public view {
        for (uint256 p = 0; p < handler.PROVIDER_COUNT(); ++p) {
            address provider = handler.providerAt(p);
            uint256 expected = handler.openSeatCollateral(provider);
            uint256 locked = registry.getProvider(provider).locked;
            uint256 free = handler.marketFree(provider);
            assertLe(free, locked, "market free <= allocated");
            assertEq(locked - free, expected, "seat collateral = open seats' collateral");
            assertEq(locked - free, handler.ghostLocked(provider), "seat collateral = model");
        }
    }

    /// @notice The allocation identity: with one market, each provider's allocated stake (the
    /// registry's `locked`) is the market's free collateral for it plus the collateral of its open
    /// seats, and it never exceeds the stake.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 100
    function invariant_allocationIdentity() public view {
        for (uint256 p = 0; p < handler.PROVIDER_COUNT(); ++p) {
            address provider = handler.providerAt(p);
            IProviderRegistry.Provider memory pv = registry.getProvider(provider);
            assertEq(
                pv.locked,
                handler.marketFree(provider) + handler.openSeatCollateral(provider),
                "allocated = market free + open seats' collateral"
            );
            assertLe(pv.locked, pv.stake, "allocated <= stake");
        }
    }

    /// @notice Over all providers, the collateral in seats equals job.collateral x (open k > 1
    /// seats + open k = 1 deliveries + open challenge bonds + jury seats) over the unfinished jobs,
    /// DAO slashes or not.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 100
    function invariant_lockedEqualsOpenCollateral() public view {
        (, , , , uint256 expected) = handler.openCollateralBreakdown();
        uint256 seats;
        uint256 ghost;
        for (uint256 p = 0; p < handler.PROVIDER_COUNT(); ++p) {
            address provider = handler.providerAt(p);
            seats += registry.getProvider(provider).locked - handler.marketFree(provider);
            ghost += handler.ghostLocked(provider);
        }
        assertEq(seats, ghost, "total seat collateral = model");
        assertEq(seats, expected, "total seat collateral = collateral x (seats + deliveries + bonds + jury seats)");
    }

    /// @notice Each provider's word in the market is what the registry says after every change
    /// (stake moves, slashes, suspensions, exits with the roster's swap-and-pop): it may take a
    /// seat exactly when it is a roster member at or above the minimum stake, at its roster index,
    /// and the market knows the roster's size.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 100
    function invariant_providerWordsFollowRegistry() public view {
        IInferenceMarketCourt court = IInferenceMarketCourt(address(market));
        uint256 size = registry.rosterSize();
        for (uint256 p = 0; p < handler.PROVIDER_COUNT(); ++p) {
            address provider = handler.providerAt(p);
            (bool eligible, , , uint256 index, uint256 rosterSize, ) = court.providerCollateral(provider);
            (bool member, uint256 registryIndex) = registry.rosterIndexOf(provider);
            bool active = member && registry.getProvider(provider).stake >= registry.minStake();
            assertEq(rosterSize, size, "roster size pushed");
            assertTrue(eligible == active, "eligible = member at or above the minimum (no freezes here)");
            assertEq(index, active ? registryIndex : type(uint256).max, "roster index pushed");
        }
    }

    /// @notice The handler's model of every call agreed with the market (outcome, error with its
    /// arguments, events), and each job's seats, reveals and reveal start match it.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 100
    function invariant_marketFollowsModel() public view {
        assertEq(handler.surprises(), 0, string.concat("model disagreement: ", handler.firstSurprise()));
        for (uint256 i = 0; i < handler.jobCount(); ++i) {
            uint256 jobId = handler.jobIdAt(i);
            (, uint256 seated, uint256 revealed, uint40 revealStart, , ) = handler.modelOf(jobId);
            (, uint8 mSeated, uint8 mRevealed, uint40 mRevealStart) = market.jobState(jobId);
            assertEq(mSeated, seated, "seated = model");
            assertEq(mRevealed, revealed, "revealed = model");
            assertEq(mRevealStart, revealStart, "reveal start = model");
        }
    }

    function _terminal(IInferenceMarketTypes.JobStatus status) private pure returns (bool) {
        return status == IInferenceMarketTypes.JobStatus.Settled || status == IInferenceMarketTypes.JobStatus.Refunded;
    }
}
