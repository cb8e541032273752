// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// The provider registry tests' shared fixture and helper contracts; each ProviderRegistry*.t.sol
// file holds the tests of one concern.

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "../utils/Test.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "../../../contracts/registry/ProviderRegistry.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";
import {MockProviderMarket} from "../utils/MockProviderMarket.sol";

/// @notice Shared fixture: a registry staking a plain ERC-20, an admin (the DAO), a guardian and
/// a market holding MARKET_ROLE (a {MockProviderMarket}, so that pushes land somewhere and
/// `locked` can be compared with what the market holds; `market` is its address).
abstract contract ProviderRegistryFixture is Test {
    uint128 internal constant MIN_STAKE = 100e18;
    uint40 internal constant UNBONDING = 7 days;
    uint256 internal constant T0 = 1_700_000_000;
    uint256 internal constant TAG_A = 1 << 0;
    uint256 internal constant TAG_B = 1 << 1;
    uint256 internal constant TAG_C = 1 << 7;
    uint256 internal constant TAG_HIGH = 1 << 255;
    uint32 internal constant MEM = 80_000;
    bytes32 internal constant ACCEL = "nvidia-h100";
    bytes32 internal constant REGION = "eu-west";
    string internal constant URI = "ipfs://provider";

    address internal admin = address(0xA11CE);
    address internal guardian = address(0x6A4D);
    MockProviderMarket internal mock;
    address internal market;
    address internal alice = address(0xA1);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA401);
    address internal eve = address(0xE5E);
    address internal treasury = address(0x7EA5);

    MockERC20 internal token;
    ProviderRegistry internal registry;
    bytes32 internal MARKET_ROLE;
    bytes32 internal GUARDIAN_ROLE;
    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;
    uint256 internal constant PENDING = uint256(IProviderRegistry.ProviderStatus.Pending);
    uint256 internal constant APPROVED = uint256(IProviderRegistry.ProviderStatus.Approved);
    uint256 internal constant SUSPENDED = uint256(IProviderRegistry.ProviderStatus.Suspended);
    uint256 internal constant EXITED = uint256(IProviderRegistry.ProviderStatus.Exited);

    function setUp() public virtual {
        vm.warp(T0);
        token = new MockERC20("Stake", "STK", 18);
        registry = new ProviderRegistry(admin, guardian, IERC20(address(token)), MIN_STAKE, UNBONDING);
        MARKET_ROLE = registry.MARKET_ROLE();
        GUARDIAN_ROLE = registry.GUARDIAN_ROLE();
        mock = new MockProviderMarket(registry);
        market = address(mock);
        vm.prank(admin);
        registry.grantRole(MARKET_ROLE, market);
    }

    function _caps(uint256 tags, uint32 mem) internal pure returns (IProviderRegistry.Capabilities memory) {
        return IProviderRegistry.Capabilities({memoryMB: mem, accelerator: ACCEL, region: REGION, tags: tags});
    }

    function _fund(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.prank(who);
        token.approve(address(registry), type(uint256).max);
    }

    function _register(address who, uint256 amount) internal {
        _register(who, amount, TAG_A | TAG_B, MEM);
    }

    function _register(address who, uint256 amount, uint256 tags, uint32 mem) internal {
        _fund(who, amount);
        vm.prank(who);
        registry.register(amount, _caps(tags, mem), URI);
    }

    function _registerApproved(address who, uint256 amount) internal {
        _register(who, amount);
        vm.prank(admin);
        registry.approveProvider(who, TAG_A | TAG_B);
    }

    function _registerApproved(address who, uint256 amount, uint256 tags, uint32 mem) internal {
        _register(who, amount, tags, mem);
        vm.prank(admin);
        registry.approveProvider(who, tags);
    }

    function _p(address who) internal view returns (IProviderRegistry.Provider memory) {
        return registry.getProvider(who);
    }

    function _status(address who) internal view returns (uint256) {
        return uint256(registry.getProvider(who).status);
    }

    /// @dev Opens a seat of `amount` at the market (which allocates all of `who`'s free stake).
    function _lock(address who, uint256 amount) internal {
        mock.lock(who, amount);
    }

    /// @dev Ends a seat of `amount` without fault: its collateral stays allocated, free at the market.
    function _release(address who, uint256 amount) internal {
        mock.release(who, amount);
    }

    /// @dev Ends a faulty seat, seizing `amount` of its collateral.
    function _seize(address who, uint256 amount, IProviderRegistry.Fault fault) internal {
        mock.seize(who, amount, fault, "job");
    }

    /// @dev Whether the market may seat `who`, from what was pushed to it: a roster member at or
    /// above the minimum stake, and not frozen (the real market's own check, reduced to these).
    function _seatable(address who) internal view returns (bool) {
        return mock.rosterSlot(who) != 0 && block.timestamp >= mock.frozenUntil(who);
    }

    function _exitAndWithdraw(address who) internal {
        vm.prank(who);
        registry.requestExit();
        vm.warp(block.timestamp + registry.unbondingPeriod());
        vm.prank(who);
        registry.withdrawStake();
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _invalidStatus(
        address provider,
        IProviderRegistry.ProviderStatus status
    ) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInvalidStatus.selector, provider, status);
    }

    function _notRegistered(address provider) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotRegistered.selector, provider);
    }
}

/// @notice A governor and timelock reduced to the three delays the registry reads.
contract MockGovernanceDelays {
    uint256 public votingDelay;
    uint256 public votingPeriod;
    uint256 public getMinDelay;

    function set(uint256 votingDelay_, uint256 votingPeriod_, uint256 minDelay_) external {
        (votingDelay, votingPeriod, getMinDelay) = (votingDelay_, votingPeriod_, minDelay_);
    }
}

/// @notice Checks the roster against the providers' records: a provider is a member exactly when
/// it is Approved and not exiting; `rosterAt` and `rosterIndexOf` are inverse; the size counts
/// the members among `all` (every provider the test ever registered).
library RosterCheck {
    error RosterInconsistent(string what, address provider, uint256 index);

    function check(ProviderRegistry registry, address[] memory all) internal view {
        uint256 members;
        uint256 size = registry.rosterSize();
        for (uint256 i = 0; i < all.length; ++i) {
            IProviderRegistry.Provider memory p = registry.getProvider(all[i]);
            bool shouldBe = p.status == IProviderRegistry.ProviderStatus.Approved && p.unbondingEndsAt == 0;
            (bool member, uint256 index) = registry.rosterIndexOf(all[i]);
            (, , , uint256 termsIndex, uint256 termsSize) = registry.providerTerms(all[i]);
            if (termsSize != size) revert RosterInconsistent("providerTerms size", all[i], termsSize);
            if (member != shouldBe) revert RosterInconsistent("membership", all[i], index);
            if (!member) {
                if (termsIndex != type(uint256).max) revert RosterInconsistent("non-member index", all[i], termsIndex);
                continue;
            }
            ++members;
            if (index >= size) revert RosterInconsistent("index past the end", all[i], index);
            if (termsIndex != index) revert RosterInconsistent("providerTerms index", all[i], termsIndex);
            if (registry.rosterAt(index) != all[i]) revert RosterInconsistent("rosterAt(index)", all[i], index);
        }
        if (members != size) revert RosterInconsistent("size", address(0), size);
        for (uint256 j = 0; j < size; ++j) {
            (bool member, uint256 index) = registry.rosterIndexOf(registry.rosterAt(j));
            if (!member || index != j) revert RosterInconsistent("slot", registry.rosterAt(j), j);
        }
    }
}
