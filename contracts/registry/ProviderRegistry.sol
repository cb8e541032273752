// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IProviderRegistry} from "../interfaces/IProviderRegistry.sol";
import {IInferenceMarketCourt} from "../interfaces/IInferenceMarketCourt.sol";
import {GuardianPausable} from "../governance/GuardianPausable.sol";
import {ProviderWord} from "../market/ProviderWord.sol";

/// @title ProviderRegistry
/// @notice The compute-provider whitelist. See {IProviderRegistry}.
/// @dev Invariant: `stakeToken.balanceOf(this) == sum(stake) + slashedFunds` (stake seized by a
/// market leaves `stake` and the registry together). The roster (see
/// {providerTerms}) holds exactly the Approved providers that are not exiting; every transition
/// into or out of that condition updates it in O(1) ({_syncRoster}). Unbonding stake
/// stays in `stake` (and slashable) until withdrawn, for at least the governance delay, so a
/// slash proposed when a provider asks to exit executes before it can withdraw.
/// Invariant: `locked <= stake`, and `locked` is the stake the provider allocated to markets
/// ({allocate}): the sum over markets of their seats' collateral and their free collateral. The
/// DAO slashes free stake, reclaiming the markets' free collateral first ({slash}); a market
/// seizes at most a seat's collateral, which is allocated stake ({seize}). Every change of what
/// a market checks a provider against is pushed to the markets ({IInferenceMarketCourt-syncProvider}).
/// The guardian's pause stops new registrations only; stake can always be added and exited, and
/// withdrawn unless the provider is frozen ({freeze}).
contract ProviderRegistry is IProviderRegistry, GuardianPausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @inheritdoc IProviderRegistry
    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");
    /// @inheritdoc IProviderRegistry
    bytes32 public constant RETIRED_MARKET_ROLE = keccak256("RETIRED_MARKET_ROLE");
    /// @inheritdoc IProviderRegistry
    uint40 public constant MAX_UNBONDING_PERIOD = 180 days;
    /// @inheritdoc IProviderRegistry
    uint40 public constant MAX_FREEZE_PERIOD = 180 days;
    /// @inheritdoc IProviderRegistry
    uint256 public constant MAX_MARKETS = 8;
    uint256 private constant MAX_METADATA_URI_LENGTH = 256;

    /// @inheritdoc IProviderRegistry
    IERC20 public immutable stakeToken;
    /// @inheritdoc IProviderRegistry
    uint128 public minStake;
    /// @dev Shares {minStake}'s slot: {providerTerms} and the pushes read both at once.
    uint32 private _rosterSize;
    /// @inheritdoc IProviderRegistry
    uint128 public autoAdmitStake;
    /// @inheritdoc IProviderRegistry
    uint40 public unbondingPeriod;
    /// @inheritdoc IProviderRegistry
    bool public autoAdmit;
    /// @inheritdoc IProviderRegistry
    uint256 public slashedFunds;
    /// @inheritdoc IProviderRegistry
    uint256 public totalStake;
    /// @inheritdoc IProviderRegistry
    IGovernor public governor;
    /// @inheritdoc IProviderRegistry
    TimelockController public timelock;
    /// @inheritdoc IProviderRegistry
    uint40 public freezePeriod;
    /// @inheritdoc IProviderRegistry
    uint256 public autoGrantMask;

    /// @dev A {Provider} as stored: the fault counters are 32 bits (4.3e9 disagreements or misses,
    /// each a paid transaction), so that the roster slot (index + 1, 0 = not a member) and the
    /// freeze fit in the word that {providerTerms} and the pushes read anyway.
    struct Record {
        uint128 stake;
        uint128 locked;
        uint40 unbondingEndsAt;
        ProviderStatus status;
        uint32 memoryMB;
        uint32 disagreed;
        uint32 missed;
        uint32 rosterSlot;
        uint40 frozenUntil;
        uint256 grantedTags;
        uint256 tags;
        bytes32 accelerator;
        bytes32 region;
        string metadataURI;
    }

    mapping(address provider => Record) private _providers;
    /// @dev The roster: Approved providers that are not exiting, in slots 0 .. _rosterSize - 1.
    mapping(uint256 index => address provider) private _rosterAt;
    /// @dev Every account granted MARKET_ROLE, in the order granted (at most {MAX_MARKETS}): the
    /// active ones are pushed to, and all may hold allocated stake (a retired market keeps what
    /// its open seats hold until they end).
    address[] private _markets;
    /// @dev What each market holds of each provider's allocated stake (in its seats or free):
    /// a market seizes and gives back only its own, so a faulty market cannot reach what
    /// another holds. The sum over markets is `locked`.
    mapping(address provider => mapping(address market => uint256)) private _allocations;

    /// @param admin Initial `DEFAULT_ADMIN_ROLE` holder (see {GuardianPausable}).
    /// @param guardian Initial guardian, or address(0).
    /// @param stakeToken_ Token staked by providers.
    /// @param minStake_ Minimum stake.
    /// @param unbondingPeriod_ Unbonding period in seconds.
    constructor(
        address admin,
        address guardian,
        IERC20 stakeToken_,
        uint128 minStake_,
        uint40 unbondingPeriod_
    ) GuardianPausable(admin, guardian) {
        if (address(stakeToken_) == address(0)) revert ProviderRegistryZeroAddress();
        stakeToken = stakeToken_;
        minStake = minStake_;
        emit MinStakeSet(minStake_);
        _setUnbondingPeriod(unbondingPeriod_);
    }

    // ---------------------------------------------------------------- providers

    /// @inheritdoc IProviderRegistry
    function register(
        uint256 amount,
        Capabilities calldata caps,
        string calldata metadataURI
    ) external whenNotPaused nonReentrant {
        Record storage p = _providers[msg.sender];
        if (p.status != ProviderStatus.None && p.status != ProviderStatus.Exited) {
            revert ProviderRegistryAlreadyRegistered(msg.sender, p.status);
        }
        if (amount < minStake || amount == 0) revert ProviderRegistryStakeBelowMinimum(amount, minStake);
        _checkMetadataURI(metadataURI);

        uint128 received = _pull(amount);
        ProviderStatus status = _admits(received) ? ProviderStatus.Approved : ProviderStatus.Pending;
        p.stake = received;
        p.status = status;
        _writeCapabilities(p, caps, metadataURI);
        totalStake += received;
        emit ProviderRegistered(msg.sender, received, status, caps, metadataURI);
        if (status == ProviderStatus.Approved) _grant(p, msg.sender, caps.tags & autoGrantMask);
        _syncRoster(p, msg.sender);
    }

    /// @inheritdoc IProviderRegistry
    function addStake(uint256 amount) external nonReentrant {
        Record storage p = _registered(msg.sender);
        if (amount == 0) revert ProviderRegistryZeroAmount();
        uint128 received = _pull(amount);
        p.stake += received;
        totalStake += received;
        emit StakeAdded(msg.sender, received, p.stake);
        if (p.status == ProviderStatus.Pending && _admits(p.stake)) {
            p.status = ProviderStatus.Approved;
            emit ProviderStatusChanged(msg.sender, ProviderStatus.Pending, ProviderStatus.Approved);
            _grant(p, msg.sender, p.tags & autoGrantMask);
        }
        // The roster, and whether the stake now reaches the minimum, as the markets see it.
        _syncRoster(p, msg.sender);
    }

    /// @inheritdoc IProviderRegistry
    function updateCapabilities(Capabilities calldata caps, string calldata metadataURI) external {
        Record storage p = _registered(msg.sender);
        _checkMetadataURI(metadataURI);
        _writeCapabilities(p, caps, metadataURI);
        emit CapabilitiesUpdated(msg.sender, caps, metadataURI);
        _push(p, msg.sender);
    }

    /// @inheritdoc IProviderRegistry
    function requestExit() external {
        Record storage p = _registered(msg.sender);
        if (p.unbondingEndsAt != 0) revert ProviderRegistryExiting(msg.sender, p.unbondingEndsAt);
        // Read live: a later lengthening of the governance delays lengthens later exits too.
        uint256 period = _max(unbondingPeriod, governanceDelay());
        uint40 endsAt = SafeCast.toUint40(block.timestamp + period);
        // A zero period still needs a non-zero marker: exiting is `unbondingEndsAt != 0`.
        if (endsAt == 0) endsAt = 1;
        p.unbondingEndsAt = endsAt;
        emit ExitRequested(msg.sender, endsAt);
        _syncRoster(p, msg.sender);
    }

    /// @inheritdoc IProviderRegistry
    function cancelExit() external {
        Record storage p = _registered(msg.sender);
        if (p.unbondingEndsAt == 0) revert ProviderRegistryNotExiting(msg.sender);
        p.unbondingEndsAt = 0;
        emit ExitCancelled(msg.sender);
        _syncRoster(p, msg.sender);
    }

    /// @inheritdoc IProviderRegistry
    function withdrawStake() external nonReentrant {
        Record storage p = _registered(msg.sender);
        uint40 endsAt = p.unbondingEndsAt;
        if (endsAt == 0) revert ProviderRegistryNotExiting(msg.sender);
        if (block.timestamp < endsAt) revert ProviderRegistryUnbonding(msg.sender, endsAt);
        if (block.timestamp < p.frozenUntil) revert ProviderRegistryFrozen(msg.sender, p.frozenUntil);
        // Takes back what the markets hold free; what their open seats hold stays locked.
        if (p.locked != 0) _reclaim(p, msg.sender, p.locked);
        if (p.locked != 0) revert ProviderRegistryCollateralLocked(msg.sender, p.locked);

        uint128 amount = p.stake;
        ProviderStatus old = p.status;
        p.stake = 0;
        p.unbondingEndsAt = 0;
        // A later registration is judged afresh (by a vote, or the auto-grant mask of its time).
        p.grantedTags = 0;
        totalStake -= amount;
        // A suspension outlives the exit: only the DAO lifts it, so exiting and registering again
        // cannot launder it (even with auto-admission on).
        if (old != ProviderStatus.Suspended) {
            p.status = ProviderStatus.Exited;
            emit ProviderStatusChanged(msg.sender, old, ProviderStatus.Exited);
        }
        emit StakeWithdrawn(msg.sender, amount);
        if (amount != 0) stakeToken.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- DAO

    /// @inheritdoc IProviderRegistry
    function approveProvider(address provider, uint256 grantedTags) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Record storage p = _move(provider, ProviderStatus.Pending, ProviderStatus.Suspended, ProviderStatus.Approved);
        _grant(p, provider, grantedTags);
        _syncRoster(p, provider);
    }

    /// @inheritdoc IProviderRegistry
    function setGrantedTags(address provider, uint256 tags) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Record storage p = _registered(provider);
        _grant(p, provider, tags);
        _push(p, provider);
    }

    /// @inheritdoc IProviderRegistry
    function setAutoGrantMask(uint256 mask) external onlyRole(DEFAULT_ADMIN_ROLE) {
        autoGrantMask = mask;
        emit AutoGrantMaskSet(mask);
    }

    /// @inheritdoc IProviderRegistry
    function suspendProvider(address provider) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Record storage p = _move(provider, ProviderStatus.Pending, ProviderStatus.Approved, ProviderStatus.Suspended);
        _syncRoster(p, provider);
    }

    /// @inheritdoc IProviderRegistry
    function setAdmissionPolicy(bool autoAdmit_, uint128 autoAdmitStake_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        autoAdmit = autoAdmit_;
        autoAdmitStake = autoAdmitStake_;
        emit AdmissionPolicySet(autoAdmit_, autoAdmitStake_);
    }

    /// @inheritdoc IProviderRegistry
    function setMinStake(uint128 minStake_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        minStake = minStake_;
        emit MinStakeSet(minStake_);
    }

    /// @inheritdoc IProviderRegistry
    function setUnbondingPeriod(uint40 period) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 delay = governanceDelay();
        if (period < delay) revert ProviderRegistryUnbondingBelowGovernanceDelay(period, delay);
        _setUnbondingPeriod(period);
    }

    /// @inheritdoc IProviderRegistry
    function setGovernance(IGovernor governor_, TimelockController timelock_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(governor_) == address(0) || address(timelock_) == address(0)) revert ProviderRegistryZeroAddress();
        governor = governor_;
        timelock = timelock_;
        emit GovernanceSet(address(governor_), address(timelock_));
    }

    /// @inheritdoc IProviderRegistry
    function setFreezePeriod(uint40 period) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (period > MAX_FREEZE_PERIOD) revert ProviderRegistryInvalidFreezePeriod(period, MAX_FREEZE_PERIOD);
        uint256 delay = governanceDelay();
        if (period < delay) revert ProviderRegistryFreezeBelowGovernanceDelay(period, delay);
        freezePeriod = period;
        emit FreezePeriodSet(period);
    }

    /// @inheritdoc IProviderRegistry
    function freeze(address provider) external {
        bool dao = hasRole(DEFAULT_ADMIN_ROLE, msg.sender);
        if (!dao && !hasRole(GUARDIAN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, GUARDIAN_ROLE);
        }
        Record storage p = _registered(provider);
        uint256 period = _freezePeriod();
        if (period == 0) revert ProviderRegistryFreezeDisabled();
        uint40 until = p.frozenUntil;
        if (!dao) {
            // The guardian holds a provider for one period at a time, then lets it go for as long:
            // only a vote keeps it frozen longer, so a rogue guardian cannot lock stake for good.
            if (block.timestamp < until) revert ProviderRegistryFrozen(provider, until);
            if (until != 0 && block.timestamp < until + period) {
                revert ProviderRegistryFreezeCooldown(provider, SafeCast.toUint40(until + period));
            }
        }
        until = SafeCast.toUint40(block.timestamp + period);
        p.frozenUntil = until;
        emit ProviderFrozen(provider, msg.sender, until);
        _push(p, provider);
    }

    /// @inheritdoc IProviderRegistry
    function unfreeze(address provider) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Record storage p = _registered(provider);
        if (block.timestamp >= p.frozenUntil) revert ProviderRegistryNotFrozen(provider);
        // Ends now rather than at 0: the guardian's cooldown then runs from the DAO's decision.
        p.frozenUntil = uint40(block.timestamp);
        emit ProviderUnfrozen(provider);
        _push(p, provider);
    }

    /// @inheritdoc IProviderRegistry
    function slash(address provider, uint256 amount, bytes32 reason) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Record storage p = _registered(provider);
        if (amount == 0) revert ProviderRegistryZeroAmount();
        // Collateral the markets hold free is reclaimed first (a frozen provider cannot
        // deallocate it meanwhile); collateral in open seats is never slashed here.
        if (amount > p.stake - p.locked) _reclaim(p, provider, amount - (p.stake - p.locked));
        uint256 free = p.stake - p.locked;
        if (amount > free) revert ProviderRegistrySlashExceedsFreeStake(provider, amount, free);
        _slash(p, provider, uint128(amount), reason);
        // The roster does not change; whether the stake still reaches the minimum may.
        _push(p, provider);
    }

    /// @inheritdoc IProviderRegistry
    function withdrawSlashed(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert ProviderRegistryZeroAddress();
        if (amount > slashedFunds) revert ProviderRegistryInsufficientSlashedFunds(amount, slashedFunds);
        slashedFunds -= amount;
        emit SlashedFundsWithdrawn(to, amount);
        stakeToken.safeTransfer(to, amount);
    }

    // ---------------------------------------------------------------- market

    /// @inheritdoc IProviderRegistry
    function allocate(address provider, uint256 minimum, uint256 maximum) external returns (uint256 amount) {
        if (!hasRole(MARKET_ROLE, msg.sender)) {
            if (hasRole(RETIRED_MARKET_ROLE, msg.sender)) revert ProviderRegistryMarketRetired(msg.sender);
            revert AccessControlUnauthorizedAccount(msg.sender, MARKET_ROLE);
        }
        Record storage p = _providers[provider];
        uint256 free = p.stake - p.locked;
        if (free < minimum || minimum == 0) revert ProviderRegistryInsufficientFreeStake(provider, free, minimum);
        amount = free < maximum ? free : maximum;
        uint128 newLocked = p.locked + uint128(amount);
        p.locked = newLocked;
        _allocations[provider][msg.sender] += amount;
        emit CollateralAllocated(provider, msg.sender, amount, newLocked);
    }

    /// @inheritdoc IProviderRegistry
    function deallocate(address market, uint256 amount) external nonReentrant {
        Record storage p = _registered(msg.sender);
        if (amount == 0) revert ProviderRegistryZeroAmount();
        if (block.timestamp < p.frozenUntil) revert ProviderRegistryFrozen(msg.sender, p.frozenUntil);
        if (!hasRole(MARKET_ROLE, market) && !hasRole(RETIRED_MARKET_ROLE, market)) {
            revert ProviderRegistryNotMarket(market);
        }
        uint256 taken = IInferenceMarketCourt(market).reclaimCollateral(msg.sender, amount);
        if (taken != amount) revert ProviderRegistryInsufficientAllocation(msg.sender, market, taken, amount);
        _deallocated(p, msg.sender, market, taken);
    }

    /// @inheritdoc IProviderRegistry
    function seize(address provider, uint256 amount, Fault fault, bytes32 reason) external onlyMarket {
        Record storage p = _providers[provider];
        // The market seizes only its seats' collateral, which it was allocated: no cap binds.
        uint256 held = _allocations[provider][msg.sender];
        if (amount > held) revert ProviderRegistryInsufficientAllocation(provider, msg.sender, held, amount);
        if (amount != 0) {
            uint128 seized = uint128(amount);
            _allocations[provider][msg.sender] = held - amount;
            p.stake -= seized;
            p.locked -= seized;
            totalStake -= seized;
            emit ProviderSlashed(provider, msg.sender, seized, reason);
        }
        if (fault == Fault.Disagreed) ++p.disagreed;
        else ++p.missed;
        emit FaultRecorded(provider, fault);
        // The stake may now be under the minimum: the markets must see it.
        _push(p, provider);
        // Last: the market has credited these tokens already.
        if (amount != 0) stakeToken.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IProviderRegistry
    function retireMarket() external onlyMarket {
        // Revoking MARKET_ROLE grants RETIRED_MARKET_ROLE (see {_revokeRole}).
        _revokeRole(MARKET_ROLE, msg.sender);
    }

    /// @dev Adds a new holder of MARKET_ROLE to the markets (at most {MAX_MARKETS}, counting the
    /// retired ones: their seats may hold allocated stake until they end).
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == MARKET_ROLE && !hasRole(RETIRED_MARKET_ROLE, account)) {
            if (_markets.length == MAX_MARKETS) revert ProviderRegistryTooManyMarkets(account, MAX_MARKETS);
            _markets.push(account);
        }
    }

    /// @dev A market leaving MARKET_ROLE, by {retireMarket}, the DAO's `revokeRole` or its own
    /// `renounceRole`, becomes a retired market: it keeps ending the seats it opened.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == MARKET_ROLE) {
            _grantRole(RETIRED_MARKET_ROLE, account);
            emit MarketRetired(account);
        }
    }

    /// @dev An active or a retired market (see {RETIRED_MARKET_ROLE}).
    modifier onlyMarket() {
        if (!hasRole(MARKET_ROLE, msg.sender) && !hasRole(RETIRED_MARKET_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, MARKET_ROLE);
        }
        _;
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IProviderRegistry
    function providerTerms(address provider) external view returns (bool, uint256, uint32, uint256, uint256) {
        Record storage p = _providers[provider];
        bool active =
            p.status == ProviderStatus.Approved &&
                p.unbondingEndsAt == 0 &&
                block.timestamp >= p.frozenUntil &&
                p.stake >= minStake;
        uint32 slot = p.rosterSlot;
        // A non-member's index is out of range on purpose: `index < size` means "member".
        uint256 index = slot == 0 ? type(uint256).max : uint256(slot) - 1;
        return (active, p.grantedTags, p.memoryMB, index, _rosterSize);
    }

    /// @inheritdoc IProviderRegistry
    function syncProviders(address[] calldata accounts) external {
        for (uint256 i = 0; i < accounts.length; ++i) _push(_providers[accounts[i]], accounts[i]);
    }

    /// @inheritdoc IProviderRegistry
    function allocationOf(address provider, address market) external view returns (uint256) {
        return _allocations[provider][market];
    }

    /// @inheritdoc IProviderRegistry
    function markets() external view returns (address[] memory) {
        return _markets;
    }

    /// @inheritdoc IProviderRegistry
    function freeStakeOf(address provider) external view returns (uint256) {
        Record storage p = _providers[provider];
        return p.stake - p.locked;
    }

    /// @inheritdoc IProviderRegistry
    function stakeOf(address provider) external view returns (uint256) {
        return _providers[provider].stake;
    }

    /// @inheritdoc IProviderRegistry
    function rosterSize() external view returns (uint256) {
        return _rosterSize;
    }

    /// @inheritdoc IProviderRegistry
    function rosterAt(uint256 index) external view returns (address) {
        if (index >= _rosterSize) revert ProviderRegistryRosterIndexOutOfBounds(index, _rosterSize);
        return _rosterAt[index];
    }

    /// @inheritdoc IProviderRegistry
    function rosterIndexOf(address provider) external view returns (bool member, uint256 index) {
        uint32 slot = _providers[provider].rosterSlot;
        if (slot != 0) (member, index) = (true, slot - 1);
    }

    /// @inheritdoc IProviderRegistry
    function getProvider(address provider) external view returns (Provider memory) {
        Record storage p = _providers[provider];
        return
            Provider({
                stake: p.stake,
                locked: p.locked,
                unbondingEndsAt: p.unbondingEndsAt,
                frozenUntil: p.frozenUntil,
                grantedTags: p.grantedTags,
                status: p.status,
                memoryMB: p.memoryMB,
                disagreed: p.disagreed,
                missed: p.missed,
                tags: p.tags,
                accelerator: p.accelerator,
                region: p.region,
                metadataURI: p.metadataURI
            });
    }

    /// @inheritdoc IProviderRegistry
    function governanceDelay() public view returns (uint256) {
        IGovernor g = governor;
        if (address(g) == address(0)) return 0;
        return g.votingDelay() + g.votingPeriod() + timelock.getMinDelay();
    }

    /// @inheritdoc IProviderRegistry
    function isFrozen(address provider) external view returns (bool) {
        return block.timestamp < _providers[provider].frozenUntil;
    }

    // ---------------------------------------------------------------- internals

    /// @dev Puts `provider` on the roster or takes it off, to match its record: a member is
    /// Approved and not exiting. Leaving is swap-and-pop (the last member takes the freed index),
    /// so ranks of other providers shift only when a member leaves.
    function _syncRoster(Record storage p, address provider) private {
        bool member = p.status == ProviderStatus.Approved && p.unbondingEndsAt == 0;
        uint32 slot = p.rosterSlot;
        if (member == (slot != 0)) return _push(p, provider);
        if (member) {
            uint32 size = _rosterSize;
            _rosterAt[size] = provider;
            p.rosterSlot = size + 1;
            _rosterSize = size + 1;
            emit RosterJoined(provider, size);
            return _push(p, provider);
        }
        uint32 last = _rosterSize - 1;
        uint32 index = slot - 1;
        address moved;
        if (index != last) {
            moved = _rosterAt[last];
            _rosterAt[index] = moved;
            _providers[moved].rosterSlot = slot;
        }
        delete _rosterAt[last];
        _rosterSize = last;
        p.rosterSlot = 0;
        emit RosterLeft(provider, index, moved);
        _push(p, provider);
        if (moved != address(0)) _push(_providers[moved], moved);
    }

    /// @dev Pushes what the markets check `provider` against ({ProviderWord}) to every active
    /// market, with the roster's size. A provider that may take no seat (not a member, or under
    /// the minimum stake) is pushed as all zeros: nothing of it is read then. An account without
    /// code (a holder of the role that is not a market) is skipped.
    function _push(Record storage p, address provider) private {
        uint256 terms;
        uint32 slot = p.rosterSlot;
        if (slot != 0 && p.stake >= minStake)
            terms = ProviderWord.terms(slot, p.frozenUntil, p.memoryMB, p.grantedTags);
        uint256 size = _rosterSize;
        uint256 n = _markets.length;
        for (uint256 i = 0; i < n; ++i) {
            address market = _markets[i];
            if (market.code.length != 0 && hasRole(MARKET_ROLE, market)) {
                IInferenceMarketCourt(market).syncProvider(provider, terms, size);
            }
        }
    }

    /// @dev Takes back up to `amount` of the collateral the markets hold free for `provider`.
    function _reclaim(Record storage p, address provider, uint256 amount) private {
        uint256 n = _markets.length;
        for (uint256 i = 0; i < n && amount != 0; ++i) {
            address market = _markets[i];
            if (market.code.length == 0) continue;
            uint256 taken = IInferenceMarketCourt(market).reclaimCollateral(provider, amount);
            if (taken != 0) {
                amount -= taken;
                _deallocated(p, provider, market, taken);
            }
        }
    }

    /// @dev A market gave back `amount`: it cannot give back more than it was allocated.
    function _deallocated(Record storage p, address provider, address market, uint256 amount) private {
        uint256 held = _allocations[provider][market];
        if (amount > held) revert ProviderRegistryInsufficientAllocation(provider, market, held, amount);
        _allocations[provider][market] = held - amount;
        uint128 newLocked = p.locked - uint128(amount);
        p.locked = newLocked;
        emit CollateralDeallocated(provider, market, amount, newLocked);
    }

    /// @dev `amount` is at most the free stake: `locked` stays below the new stake.
    function _slash(Record storage p, address provider, uint128 amount, bytes32 reason) private {
        p.stake -= amount;
        totalStake -= amount;
        slashedFunds += amount;
        emit ProviderSlashed(provider, msg.sender, amount, reason);
    }

    function _grant(Record storage p, address provider, uint256 tags) private {
        p.grantedTags = tags;
        emit TagsGranted(provider, tags);
    }

    /// @dev The DAO's status change of a registered provider, from `from` or `orFrom` to `to`. The
    /// status is read once: the registered check is {_registered}'s, on the same read.
    function _move(
        address provider,
        ProviderStatus from,
        ProviderStatus orFrom,
        ProviderStatus to
    ) private returns (Record storage p) {
        p = _providers[provider];
        ProviderStatus old = p.status;
        if (old == ProviderStatus.None || old == ProviderStatus.Exited) revert ProviderRegistryNotRegistered(provider);
        if (old != from && old != orFrom) revert ProviderRegistryInvalidStatus(provider, old);
        p.status = to;
        emit ProviderStatusChanged(provider, old, to);
    }

    function _registered(address provider) private view returns (Record storage p) {
        p = _providers[provider];
        if (p.status == ProviderStatus.None || p.status == ProviderStatus.Exited) {
            revert ProviderRegistryNotRegistered(provider);
        }
    }

    function _admits(uint256 stake) private view returns (bool) {
        return autoAdmit && stake >= autoAdmitStake;
    }

    /// @dev Pulls `amount` and rejects tokens that deliver less than asked (fee-on-transfer).
    function _pull(uint256 amount) private returns (uint128) {
        uint256 before = stakeToken.balanceOf(address(this));
        stakeToken.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = stakeToken.balanceOf(address(this)) - before;
        if (received != amount) revert ProviderRegistryTransferShortfall(amount, received);
        return SafeCast.toUint128(received);
    }

    function _writeCapabilities(Record storage p, Capabilities calldata caps, string calldata metadataURI) private {
        p.memoryMB = caps.memoryMB;
        p.accelerator = caps.accelerator;
        p.region = caps.region;
        p.tags = caps.tags;
        p.metadataURI = metadataURI;
    }

    function _checkMetadataURI(string calldata metadataURI) private pure {
        if (bytes(metadataURI).length > MAX_METADATA_URI_LENGTH) revert ProviderRegistryInvalidMetadataURI(metadataURI);
    }

    /// @dev The freeze period in force: a later lengthening of the governance delays lengthens
    /// freezes too, as it does exits.
    function _freezePeriod() private view returns (uint256) {
        return _max(freezePeriod, governanceDelay());
    }

    function _max(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a : b;
    }

    function _setUnbondingPeriod(uint40 period) private {
        if (period > MAX_UNBONDING_PERIOD) revert ProviderRegistryInvalidUnbondingPeriod(period, MAX_UNBONDING_PERIOD);
        unbondingPeriod = period;
        emit UnbondingPeriodSet(period);
    }
}
