// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "../../utils/Test.sol";
import {IProviderRegistry} from "../../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "../../../../contracts/registry/ProviderRegistry.sol";
import {MockERC20} from "../../../../contracts/mocks/MockERC20.sol";
import {MockProviderMarket} from "../../utils/MockProviderMarket.sol";

/// @notice Drives a ProviderRegistry for invariant tests: several provider actors, a market
/// (MARKET_ROLE, a {MockProviderMarket}) that opens seats on what was pushed to it and ends each
/// as a seat would (release its collateral, or seize at most that), the DAO admin and the
/// guardian. Every action checks its preconditions first, so that most calls succeed, and keeps
/// ghost totals that the invariants compare with the registry.
contract ProviderRegistryHandler is Test {
    ProviderRegistry public immutable registry;
    MockERC20 public immutable token;
    address public immutable admin;
    MockProviderMarket public immutable market;
    address public immutable treasury;
    address public immutable guardian;

    address[] public actors;

    /// @notice Every token minted by the handler.
    uint256 public ghostMinted;
    /// @notice Every token slashed by the DAO ({IProviderRegistry.slash}).
    uint256 public ghostSlashed;
    /// @notice Every token seized for a faulty seat (sent to the market).
    uint256 public ghostSeized;
    /// @notice Slashed tokens sent to the treasury.
    uint256 public ghostSlashedWithdrawn;
    /// @notice Faults recorded through the market path.
    uint256 public ghostDisagreed;
    uint256 public ghostMissed;
    /// @notice Calls by non-market accounts to market functions, and by the market to the DAO's
    /// slash, that did not revert (must stay 0).
    uint256 public ghostUnauthorizedSuccesses;
    /// @notice DAO slashes above what no seat holds, frozen providers' deallocations and
    /// withdrawals, withdrawals while seats hold collateral, and guardian re-freezes that did not
    /// revert (must stay 0).
    uint256 public ghostForbiddenSuccesses;
    /// @notice Collateral of each actor's open seats: locks minus what their ends released or seized.
    mapping(address actor => uint256) public ghostOpenCollateral;
    /// @notice The open seats' collateral, one entry per seat not yet ended.
    mapping(address actor => uint256[]) internal _seats;
    /// @notice Successful calls per action, for a glance at coverage.
    mapping(bytes32 action => uint256) public calls;

    constructor(
        ProviderRegistry registry_,
        MockERC20 token_,
        address admin_,
        MockProviderMarket market_,
        address treasury_,
        address guardian_
    ) {
        registry = registry_;
        token = token_;
        admin = admin_;
        market = market_;
        treasury = treasury_;
        guardian = guardian_;
        for (uint256 i = 1; i <= 3; ++i) {
            actors.push(address(uint160(0x1000 + i)));
        }
    }

    // ---------------------------------------------------------------- provider actions

    function register(uint256 actorSeed, uint256 amount, uint256 tags, uint256 memorySeed) external {
        address a = _actor(actorSeed);
        IProviderRegistry.ProviderStatus s = registry.getProvider(a).status;
        if (s != IProviderRegistry.ProviderStatus.None && s != IProviderRegistry.ProviderStatus.Exited) return;
        amount = bound(amount, registry.minStake(), 1_000e18);
        _ensureFunds(a, amount);
        IProviderRegistry.Capabilities memory caps = IProviderRegistry.Capabilities({
            memoryMB: uint32(bound(memorySeed, 0, 100_000)),
            accelerator: "gpu",
            region: "eu",
            tags: tags & 0xff
        });
        vm.prank(a);
        registry.register(amount, caps, "ipfs://actor");
        ++calls["register"];
    }

    function addStake(uint256 actorSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        if (!_isRegistered(a)) return;
        amount = bound(amount, 1, 500e18);
        _ensureFunds(a, amount);
        vm.prank(a);
        registry.addStake(amount);
        ++calls["addStake"];
    }

    function updateCapabilities(uint256 actorSeed, uint256 tags, uint256 memorySeed) external {
        address a = _actor(actorSeed);
        if (!_isRegistered(a)) return;
        IProviderRegistry.Capabilities memory caps = IProviderRegistry.Capabilities({
            memoryMB: uint32(bound(memorySeed, 0, 100_000)),
            accelerator: "gpu",
            region: "eu",
            tags: tags & 0xff
        });
        vm.prank(a);
        registry.updateCapabilities(caps, "ipfs://actor2");
        ++calls["updateCapabilities"];
    }

    function requestExit(uint256 actorSeed) external {
        address a = _actor(actorSeed);
        if (!_isRegistered(a) || registry.getProvider(a).unbondingEndsAt != 0) return;
        vm.prank(a);
        registry.requestExit();
        ++calls["requestExit"];
    }

    function cancelExit(uint256 actorSeed) external {
        address a = _actor(actorSeed);
        if (!_isRegistered(a) || registry.getProvider(a).unbondingEndsAt == 0) return;
        vm.prank(a);
        registry.cancelExit();
        ++calls["cancelExit"];
    }

    function withdrawStake(uint256 actorSeed) external {
        address a = _actor(actorSeed);
        if (!_isRegistered(a)) return;
        IProviderRegistry.Provider memory p = registry.getProvider(a);
        if (p.unbondingEndsAt == 0) return;
        if (block.timestamp < p.unbondingEndsAt) vm.warp(p.unbondingEndsAt);
        // The market's free collateral comes back on its own; a seat's does not.
        if (registry.isFrozen(a) || market.seats(a) != 0) {
            vm.prank(a);
            try registry.withdrawStake() {
                ++ghostForbiddenSuccesses;
            } catch {}
            return;
        }
        uint256 before = token.balanceOf(a);
        vm.prank(a);
        registry.withdrawStake();
        assertEq(token.balanceOf(a) - before, p.stake, "withdrawn == stake");
        assertEq(market.free(a), 0, "the market's free collateral was reclaimed");
        ++calls["withdrawStake"];
    }

    // ---------------------------------------------------------------- market actions

    /// @notice Opens a seat as the market does, on the terms pushed to it (a roster member at or
    /// above the minimum, not frozen), with what it holds free plus the provider's free stake.
    function lock(uint256 actorSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        if (market.rosterSlot(a) == 0 || block.timestamp < market.frozenUntil(a)) return;
        uint256 available = market.free(a) + registry.freeStakeOf(a);
        if (available == 0) return;
        amount = bound(amount, 1, available);
        market.lock(a, amount);
        _seats[a].push(amount);
        ghostOpenCollateral[a] += amount;
        ++calls["lock"];
    }

    /// @notice Ends one open seat as the market does: without fault it releases its collateral;
    /// on a fault it seizes at most that collateral and releases the rest. Works whatever the
    /// provider's state (frozen included).
    function endSeat(uint256 actorSeed, uint256 seatSeed, uint256 seizeSeed, uint8 outcomeSeed) external {
        address a = _actor(actorSeed);
        uint256 n = _seats[a].length;
        if (n == 0) return;
        uint256 i = seatSeed % n;
        uint256 collateral = _seats[a][i];
        _seats[a][i] = _seats[a][n - 1];
        _seats[a].pop();
        uint256 outcome = outcomeSeed % 3;
        uint256 seized;
        if (outcome != 0) {
            IProviderRegistry.Fault fault =
                outcome == 1 ? IProviderRegistry.Fault.Disagreed : IProviderRegistry.Fault.Missed;
            seized = bound(seizeSeed, 0, collateral);
            market.seize(a, seized, fault, "job");
            if (fault == IProviderRegistry.Fault.Disagreed) ++ghostDisagreed;
            else ++ghostMissed;
        }
        market.release(a, collateral - seized);
        ghostOpenCollateral[a] -= collateral;
        ghostSeized += seized;
        ++calls["endSeat"];
    }

    /// @notice The provider takes back part of what the market holds free; refused while frozen.
    function deallocate(uint256 actorSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        uint256 free = market.free(a);
        if (!_isRegistered(a) || free == 0) return;
        amount = bound(amount, 1, free);
        if (registry.isFrozen(a)) {
            vm.prank(a);
            try registry.deallocate(address(market), amount) {
                ++ghostForbiddenSuccesses;
            } catch {}
            return;
        }
        vm.prank(a);
        registry.deallocate(address(market), amount);
        ++calls["deallocate"];
    }

    /// @notice Anyone pushes the providers' terms again: it must change nothing in the mirror.
    function syncProviders() external {
        registry.syncProviders(actors);
        ++calls["syncProviders"];
    }

    /// @notice A provider (not the market) tries to take collateral, seize, count faults or
    /// slash: it must always be refused. Successes are counted rather than reverted, so the
    /// evidence survives whatever `failOnRevert` is set to, and `invariant_countersOnlyByMarket`
    /// requires zero.
    function unauthorizedMarketCalls(uint256 actorSeed, uint256 targetSeed) external {
        address caller = _actor(actorSeed);
        address target = _actor(targetSeed);
        vm.prank(caller);
        try registry.seize(target, 0, IProviderRegistry.Fault.Missed, "rogue") {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        vm.prank(caller);
        try registry.allocate(target, 1, type(uint256).max) {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        vm.prank(caller);
        try registry.slash(target, 1, "rogue") {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        // A "market" the provider names itself cannot hand its stake back.
        vm.prank(caller);
        try registry.deallocate(target, 1) {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        // Since finding 3 the market slashes nothing directly; only the DAO does.
        vm.prank(address(market));
        try registry.slash(target, 1, "market") {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        vm.prank(caller);
        try registry.freeze(target) {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        vm.prank(guardian);
        try registry.unfreeze(target) {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        ++calls["unauthorized"];
    }

    // ---------------------------------------------------------------- DAO actions

    /// @notice A DAO slash of what no seat holds (the registry's free stake and the market's free
    /// collateral); one time in four it asks for more, and must be refused (finding 3).
    function adminSlash(uint256 actorSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        IProviderRegistry.Provider memory p = registry.getProvider(a);
        if (!_isRegistered(a)) return;
        uint256 free = p.stake - market.seats(a);
        if (amount % 4 == 0) {
            uint256 tooMuch = bound(amount, free + 1, uint256(p.stake) + 1);
            vm.prank(admin);
            try registry.slash(a, tooMuch, "dao") {
                ++ghostForbiddenSuccesses;
            } catch {}
            return;
        }
        if (free == 0) return;
        amount = bound(amount, 1, free);
        vm.prank(admin);
        registry.slash(a, amount, "dao");
        ghostSlashed += amount;
        ++calls["adminSlash"];
    }

    /// @notice The guardian freezes an actor when allowed (not frozen, cooldown over).
    function guardianFreeze(uint256 actorSeed) external {
        address a = _actor(actorSeed);
        if (!_isRegistered(a) || registry.freezePeriod() == 0) return;
        uint256 until = registry.getProvider(a).frozenUntil;
        if (until != 0 && block.timestamp < until + registry.freezePeriod()) {
            vm.prank(guardian);
            try registry.freeze(a) {
                ++ghostForbiddenSuccesses;
            } catch {}
            return;
        }
        vm.prank(guardian);
        registry.freeze(a);
        ++calls["guardianFreeze"];
    }

    function daoUnfreeze(uint256 actorSeed) external {
        address a = _actor(actorSeed);
        if (!_isRegistered(a) || !registry.isFrozen(a)) return;
        vm.prank(admin);
        registry.unfreeze(a);
        ++calls["daoUnfreeze"];
    }

    function withdrawSlashed(uint256 amount) external {
        uint256 available = registry.slashedFunds();
        if (available == 0) return;
        amount = bound(amount, 1, available);
        vm.prank(admin);
        registry.withdrawSlashed(treasury, amount);
        ghostSlashedWithdrawn += amount;
        ++calls["withdrawSlashed"];
    }

    function approve(uint256 actorSeed) external {
        address a = _actor(actorSeed);
        IProviderRegistry.ProviderStatus s = registry.getProvider(a).status;
        if (s != IProviderRegistry.ProviderStatus.Pending && s != IProviderRegistry.ProviderStatus.Suspended) return;
        uint256 declared = registry.getProvider(a).tags;
        vm.prank(admin);
        registry.approveProvider(a, declared);
        ++calls["approve"];
    }

    function suspend(uint256 actorSeed) external {
        address a = _actor(actorSeed);
        IProviderRegistry.ProviderStatus s = registry.getProvider(a).status;
        if (s != IProviderRegistry.ProviderStatus.Pending && s != IProviderRegistry.ProviderStatus.Approved) return;
        vm.prank(admin);
        registry.suspendProvider(a);
        ++calls["suspend"];
    }

    function setAdmissionPolicy(bool autoAdmit, uint256 threshold) external {
        vm.prank(admin);
        registry.setAdmissionPolicy(autoAdmit, uint128(bound(threshold, 100e18, 1_000e18)));
        ++calls["setAdmissionPolicy"];
    }

    function warp(uint256 secondsForward) external {
        vm.warp(block.timestamp + bound(secondsForward, 0, 10 days));
        ++calls["warp"];
    }

    // ---------------------------------------------------------------- views for the invariants

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function openSeats(address a) external view returns (uint256) {
        return _seats[a].length;
    }

    function sumStakes() external view returns (uint256 sum) {
        for (uint256 i = 0; i < actors.length; ++i) {
            sum += registry.getProvider(actors[i]).stake;
        }
    }

    function sumCounters() external view returns (uint256 disagreed, uint256 missed) {
        for (uint256 i = 0; i < actors.length; ++i) {
            IProviderRegistry.Provider memory p = registry.getProvider(actors[i]);
            disagreed += p.disagreed;
            missed += p.missed;
        }
    }

    function sumActorBalances() external view returns (uint256 sum) {
        for (uint256 i = 0; i < actors.length; ++i) {
            sum += token.balanceOf(actors[i]);
        }
    }

    // ---------------------------------------------------------------- internals

    function _actor(uint256 seed) private view returns (address) {
        return actors[seed % actors.length];
    }

    function _isRegistered(address a) private view returns (bool) {
        IProviderRegistry.ProviderStatus s = registry.getProvider(a).status;
        return s != IProviderRegistry.ProviderStatus.None && s != IProviderRegistry.ProviderStatus.Exited;
    }

    function _ensureFunds(address a, uint256 amount) private {
        uint256 balance = token.balanceOf(a);
        if (balance < amount) {
            token.mint(a, amount - balance);
            ghostMinted += amount - balance;
        }
        if (token.allowance(a, address(registry)) < amount) {
            vm.prank(a);
            token.approve(address(registry), type(uint256).max);
        }
    }
}
