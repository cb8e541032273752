// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "../../utils/Test.sol";
import {IProviderRegistry} from "../../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "../../../../contracts/registry/ProviderRegistry.sol";
import {MockERC20} from "../../../../contracts/mocks/MockERC20.sol";

/// @notice Drives a ProviderRegistry for invariant tests: several provider actors, a market
/// (MARKET_ROLE) and the DAO admin. Every action checks its preconditions first, so that most
/// calls succeed, and keeps ghost totals that the invariants compare with the registry.
contract ProviderRegistryHandler is Test {
    ProviderRegistry public immutable registry;
    MockERC20 public immutable token;
    address public immutable admin;
    address public immutable market;
    address public immutable treasury;

    address[] public actors;

    /// @notice Every token minted by the handler.
    uint256 public ghostMinted;
    /// @notice Every token slashed by the DAO or the market ({IProviderRegistry.slash}).
    uint256 public ghostSlashed;
    /// @notice Every token seized in settlement (sent to the market).
    uint256 public ghostSeized;
    /// @notice Slashed tokens sent to the treasury.
    uint256 public ghostSlashedWithdrawn;
    /// @notice Outcomes recorded through the market path.
    uint256 public ghostServed;
    uint256 public ghostDisagreed;
    uint256 public ghostMissed;
    /// @notice Calls by non-market accounts to market functions that did not revert (must stay 0).
    uint256 public ghostUnauthorizedSuccesses;
    /// @notice Successful calls per action, for a glance at coverage.
    mapping(bytes32 action => uint256) public calls;

    constructor(ProviderRegistry registry_, MockERC20 token_, address admin_, address market_, address treasury_) {
        registry = registry_;
        token = token_;
        admin = admin_;
        market = market_;
        treasury = treasury_;
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
        if (p.unbondingEndsAt == 0 || p.locked != 0) return;
        if (block.timestamp < p.unbondingEndsAt) vm.warp(p.unbondingEndsAt);
        uint256 before = token.balanceOf(a);
        vm.prank(a);
        registry.withdrawStake();
        assertEq(token.balanceOf(a) - before, p.stake, "withdrawn == stake");
        ++calls["withdrawStake"];
    }

    // ---------------------------------------------------------------- market actions

    function lockCollateral(uint256 actorSeed, uint256 amount, uint256 tagMask, uint256 memorySeed) external {
        address a = _actor(actorSeed);
        IProviderRegistry.Provider memory p = registry.getProvider(a);
        amount = bound(amount, 0, p.stake - p.locked);
        uint256 requiredTags = p.tags & tagMask;
        uint32 minMemoryMB = uint32(bound(memorySeed, 0, p.memoryMB));
        if (!registry.isEligible(a, amount, requiredTags, minMemoryMB)) return;
        vm.prank(market);
        registry.lockCollateral(a, amount, requiredTags, minMemoryMB);
        ++calls["lockCollateral"];
    }

    function settle(uint256 actorSeed, uint256 collateral, uint256 slashAmount, uint8 outcomeSeed) external {
        address a = _actor(actorSeed);
        IProviderRegistry.Provider memory p = registry.getProvider(a);
        // Mostly honest releases; sometimes more than locked, to exercise the caps.
        collateral = bound(collateral, 0, uint256(p.locked) + 1e18);
        slashAmount = slashAmount % 4 == 0 ? bound(slashAmount, 0, 2 * uint256(p.stake) + 1) : 0;
        IProviderRegistry.Outcome outcome = IProviderRegistry.Outcome(outcomeSeed % 3);
        vm.prank(market);
        registry.settle(a, collateral, slashAmount, outcome, "job");
        ghostSeized += slashAmount > p.stake ? p.stake : slashAmount;
        _countGhost(outcome);
        ++calls["settle"];
    }

    function recordServed(uint256 actorSeed) external {
        address a = _actor(actorSeed);
        if (!registry.isEligible(a, 0, 0, 0)) return;
        vm.prank(market);
        registry.recordServed(a, 1);
        _countGhost(IProviderRegistry.Outcome.Served);
        ++calls["recordServed"];
    }

    function marketSlash(uint256 actorSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        uint256 stake = registry.getProvider(a).stake;
        if (!_isRegistered(a) || stake == 0) return;
        amount = bound(amount, 1, stake);
        vm.prank(market);
        registry.slash(a, amount, "market");
        ghostSlashed += amount;
        ++calls["marketSlash"];
    }

    /// @notice A provider (not the market) tries to touch counters, collateral and stake: it
    /// must always be refused. Successes are counted rather than reverted, so the evidence survives
    /// whatever `failOnRevert` is set to, and `invariant_countersOnlyByMarket` requires zero.
    function unauthorizedMarketCalls(uint256 actorSeed, uint256 targetSeed) external {
        address caller = _actor(actorSeed);
        address target = _actor(targetSeed);
        vm.prank(caller);
        try registry.settle(target, 0, 1, IProviderRegistry.Outcome.Served, "rogue") {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        vm.prank(caller);
        try registry.recordServed(target, 1) {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        vm.prank(caller);
        try registry.slash(target, 1, "rogue") {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        vm.prank(caller);
        try registry.lockCollateral(target, 0, 0, 0) {
            ++ghostUnauthorizedSuccesses;
        } catch {}
        ++calls["unauthorized"];
    }

    // ---------------------------------------------------------------- DAO actions

    function adminSlash(uint256 actorSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        uint256 stake = registry.getProvider(a).stake;
        if (!_isRegistered(a) || stake == 0) return;
        amount = bound(amount, 1, stake);
        vm.prank(admin);
        registry.slash(a, amount, "dao");
        ghostSlashed += amount;
        ++calls["adminSlash"];
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
        vm.prank(admin);
        registry.approveProvider(a);
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

    function sumStakes() external view returns (uint256 sum) {
        for (uint256 i = 0; i < actors.length; ++i) {
            sum += registry.getProvider(actors[i]).stake;
        }
    }

    function sumCounters() external view returns (uint256 served, uint256 disagreed, uint256 missed) {
        for (uint256 i = 0; i < actors.length; ++i) {
            IProviderRegistry.Provider memory p = registry.getProvider(actors[i]);
            served += p.served;
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

    function _countGhost(IProviderRegistry.Outcome outcome) private {
        if (outcome == IProviderRegistry.Outcome.Served) ++ghostServed;
        else if (outcome == IProviderRegistry.Outcome.Disagreed) ++ghostDisagreed;
        else ++ghostMissed;
    }
}
