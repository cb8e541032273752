// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "../utils/Test.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "../../../contracts/registry/ProviderRegistry.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";
import {ProviderRegistryHandler} from "./handlers/ProviderRegistryHandler.sol";
import {RosterCheck} from "./ProviderRegistryFixture.sol";
import {MockProviderMarket} from "../utils/MockProviderMarket.sol";
import {ProviderWord} from "../../../contracts/market/ProviderWord.sol";

/// @notice The handler as deployed by the invariant suite. Hardhat emits artifacts only for contracts
/// declared in the root files of a build, and the invariant fuzzer only targets contracts whose
/// bytecode it can match to an artifact; when this file is run on its own the handler's file is not
/// a root, so the fuzzer would find "No contracts to fuzz". Declaring this thin subclass here makes
/// the target identifiable however the tests are invoked.
contract ProviderRegistryInvariantHandler is ProviderRegistryHandler {
    constructor(
        ProviderRegistry registry_,
        MockERC20 token_,
        address admin_,
        MockProviderMarket market_,
        address treasury_,
        address guardian_
    ) ProviderRegistryHandler(registry_, token_, admin_, market_, treasury_, guardian_) {}
}

/// @notice Stateful invariant tests: a handler drives several providers, the market and the DAO.
contract ProviderRegistryInvariantTest is Test {
    ProviderRegistryInvariantHandler internal handler;
    ProviderRegistry internal registry;
    MockERC20 internal token;

    function setUp() public {
        vm.warp(1_700_000_000);
        address admin = address(0xA11CE);
        token = new MockERC20("Stake", "STK", 18);
        registry = new ProviderRegistry(admin, address(0x6A4D), IERC20(address(token)), 100e18, 7 days);
        handler = new ProviderRegistryInvariantHandler(
            registry,
            token,
            admin,
            new MockProviderMarket(registry),
            address(0x7EA5),
            address(0x6A4D)
        );
        vm.startPrank(admin);
        registry.grantRole(registry.MARKET_ROLE(), address(handler.market()));
        registry.setFreezePeriod(1 days);
        // Start with auto-admission on, so that about half the registrations are approved at once
        // and reach the market paths; the handler flips the policy and approves/suspends too.
        registry.setAdmissionPolicy(true, 500e18);
        vm.stopPrank();
        targetContract(address(handler));
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_balanceEqualsStakesPlusSlashed() public view {
        uint256 sum = handler.sumStakes();
        uint256 balance = token.balanceOf(address(registry));
        assertEq(balance, sum + registry.slashedFunds(), "balance == sum(stake) + slashed");
        assertEq(balance, registry.totalStake() + registry.slashedFunds(), "balance == totalStake + slashed");
        assertEq(sum, registry.totalStake(), "sum(stake) == totalStake");
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_lockedNeverExceedsStake() public view {
        uint256 n = handler.actorCount();
        for (uint256 i = 0; i < n; ++i) {
            IProviderRegistry.Provider memory p = registry.getProvider(handler.actors(i));
            assertLe(p.locked, p.stake, "locked <= stake");
            // Finding 3: no DAO slash can shrink `locked` below the collateral of the open seats.
            assertLe(handler.ghostOpenCollateral(handler.actors(i)), p.locked, "open seats' collateral <= locked");
            if (p.status == IProviderRegistry.ProviderStatus.Exited) {
                assertEq(p.stake, 0, "exited holds no stake");
                assertEq(p.locked, 0, "exited holds no lock");
            }
        }
    }

    /// @dev `locked` is exactly what the (only) market holds for the provider, free or in seats:
    /// no allocation, reclaim, deallocation or seizure moves one side without the other.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_lockedIsWhatTheMarketHolds() public view {
        MockProviderMarket market = handler.market();
        uint256 n = handler.actorCount();
        for (uint256 i = 0; i < n; ++i) {
            address a = handler.actors(i);
            assertEq(registry.getProvider(a).locked, market.free(a) + market.seats(a), "locked == free + seats");
            assertEq(market.seats(a), handler.ghostOpenCollateral(a), "seats == open seats' collateral");
        }
    }

    /// @dev The market seats providers on its mirror alone: it must be what the registry would
    /// push now.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_pushedTermsMatchRegistry() public view {
        MockProviderMarket market = handler.market();
        uint256 n = handler.actorCount();
        for (uint256 i = 0; i < n; ++i) {
            address a = handler.actors(i);
            IProviderRegistry.Provider memory p = registry.getProvider(a);
            (, uint256 tags, uint32 memoryMB, uint256 index, uint256 size) = registry.providerTerms(a);
            uint256 expected =
                index < size && p.stake >= registry.minStake()
                    ? ProviderWord.terms(uint32(index + 1), p.frozenUntil, memoryMB, tags)
                    : 0;
            assertEq(market.terms(a), expected, "mirror == terms");
        }
        assertEq(market.rosterSize(), registry.rosterSize(), "mirror's roster size");
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_countersOnlyByMarket() public view {
        (uint256 disagreed, uint256 missed) = handler.sumCounters();
        assertEq(disagreed, handler.ghostDisagreed(), "disagreed == market-recorded disagreed");
        assertEq(missed, handler.ghostMissed(), "missed == market-recorded missed");
        assertEq(handler.ghostUnauthorizedSuccesses(), 0, "non-market calls to market functions all refused");
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_forbiddenCallsRefused() public view {
        assertEq(
            handler.ghostForbiddenSuccesses(),
            0,
            "slash above what no seat holds, frozen deallocation or withdrawal, withdrawal with open seats, guardian re-freeze"
        );
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_tokensConserved() public view {
        uint256 held =
            handler.sumActorBalances() +
                token.balanceOf(address(registry)) +
                token.balanceOf(handler.treasury()) +
                token.balanceOf(address(handler.market()));
        assertEq(handler.ghostSlashedWithdrawn(), token.balanceOf(handler.treasury()), "treasury == withdrawn");
        assertEq(handler.ghostSeized(), token.balanceOf(address(handler.market())), "market == seized for faults");
        assertEq(held, handler.ghostMinted(), "actors + registry + withdrawn + seized == minted");
        assertEq(token.totalSupply(), handler.ghostMinted(), "supply == minted");
    }

    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_slashedFundsAccounting() public view {
        assertEq(
            registry.slashedFunds() + handler.ghostSlashedWithdrawn(),
            handler.ghostSlashed(),
            "slashedFunds + withdrawn == slashed"
        );
    }

    /// @dev The roster is exactly the Approved, not exiting actors, and index and array agree.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 128
    /// hardhat-config: invariant.failOnRevert = true
    function invariant_rosterMatchesRecords() public view {
        uint256 n = handler.actorCount();
        address[] memory all = new address[](n);
        for (uint256 i = 0; i < n; ++i) all[i] = handler.actors(i);
        RosterCheck.check(registry, all);
    }
}
