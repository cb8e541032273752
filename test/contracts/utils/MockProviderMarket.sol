// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderWord} from "../../../contracts/market/ProviderWord.sol";

/// @notice A market reduced to what the provider registry sees of it: the mirror of the pushed
/// terms ({syncProvider}), a per-provider ledger of collateral held free and held by seats, and
/// the calls a real market makes when a seat opens, ends or is found faulty. The registry tests
/// use it so that `locked` can be checked against what a market really holds.
contract MockProviderMarket {
    IProviderRegistry public immutable registry;

    /// @notice The last terms the registry pushed, per provider.
    mapping(address provider => uint256) public terms;
    /// @notice How many pushes each provider received (to tell "pushed zeros" from "never pushed").
    mapping(address provider => uint256) public pushes;
    /// @notice Collateral allocated to this market that no seat holds.
    mapping(address provider => uint256) public free;
    /// @notice Collateral held by open seats.
    mapping(address provider => uint256) public seats;
    /// @notice The roster size of the last push.
    uint256 public rosterSize;

    error MockProviderMarketNotRegistry(address caller);

    constructor(IProviderRegistry registry_) {
        registry = registry_;
    }

    /// @dev Only the registry: a mirror anyone could write would prove nothing.
    function syncProvider(address provider, uint256 terms_, uint256 rosterSize_) external {
        if (msg.sender != address(registry)) revert MockProviderMarketNotRegistry(msg.sender);
        terms[provider] = terms_;
        rosterSize = rosterSize_;
        ++pushes[provider];
    }

    /// @dev Gives back only what no seat holds, as the real market does.
    function reclaimCollateral(address provider, uint256 amount) external returns (uint256 taken) {
        if (msg.sender != address(registry)) revert MockProviderMarketNotRegistry(msg.sender);
        uint256 available = free[provider];
        taken = available < amount ? available : amount;
        free[provider] = available - taken;
    }

    /// @notice Opens a seat holding `amount`: tops the free collateral up from the registry (all
    /// the provider's free stake, as the real market asks for) when it is short.
    function lock(address provider, uint256 amount) external {
        uint256 available = free[provider];
        if (available < amount) {
            available += registry.allocate(provider, amount - available, type(uint96).max - available);
        }
        free[provider] = available - amount;
        seats[provider] += amount;
    }

    /// @notice Ends a seat without fault: its collateral becomes free here again (not in the registry).
    function release(address provider, uint256 amount) external {
        seats[provider] -= amount;
        free[provider] += amount;
    }

    /// @notice Ends a faulty seat: `amount` of its collateral is seized, the rest of it is the
    /// caller's to {release}.
    function seize(address provider, uint256 amount, IProviderRegistry.Fault fault, bytes32 reason) external {
        seats[provider] -= amount;
        registry.seize(provider, amount, fault, reason);
    }

    /// @notice Winds down as a market does: it leaves MARKET_ROLE for RETIRED_MARKET_ROLE.
    function retire() external {
        registry.retireMarket();
    }

    function rosterSlot(address provider) external view returns (uint32) {
        return ProviderWord.rosterSlot(terms[provider]);
    }

    function frozenUntil(address provider) external view returns (uint40) {
        return ProviderWord.frozenUntil(terms[provider]);
    }

    function memoryMB(address provider) external view returns (uint32) {
        return ProviderWord.memoryMB(terms[provider]);
    }

    function tags(address provider) external view returns (uint256) {
        return ProviderWord.tags(terms[provider]);
    }
}
