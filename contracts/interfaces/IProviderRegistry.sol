// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IGuardianPausable} from "./IGuardianPausable.sol";

/// @title IProviderRegistry
/// @notice The compute-provider whitelist: stake in an ERC-20 fixed at deployment, capabilities,
/// admission by the DAO (by vote, or automatically above a DAO-set stake), two-step exit with an
/// unbonding period at least as long as the governance delay, a guardian freeze, slashing of free
/// stake by the DAO, stake allocated as collateral to DAO-authorised markets (which lock it per
/// seat in their own storage and seize it for faults), and per-provider fault counters. What a
/// market checks a provider against is pushed to it on every change
/// ({IInferenceMarketCourt-syncProvider}).
interface IProviderRegistry is IGuardianPausable {
    /// @notice Admission status. Exiting is tracked apart (`unbondingEndsAt != 0`).
    enum ProviderStatus {
        None,
        Pending,
        Approved,
        Suspended,
        Exited
    }

    /// @notice A provider's proven fault in a job, for the counters: it revealed a result other
    /// than the quorum's (or lost a challenge), or it did not reveal at all.
    enum Fault {
        Disagreed,
        Missed
    }

    /// @notice What a provider declares about its machine.
    /// @param memoryMB Memory available for a model.
    /// @param accelerator Accelerator label, e.g. "cpu" or "nvidia-h100" as bytes32.
    /// @param region Region label, e.g. "eu-west" as bytes32.
    /// @param tags Bit set of capability and compliance tags the provider declares. They are
    /// informational: eligibility uses the tags the DAO granted ({approveProvider},
    /// {setGrantedTags}, or `tags & autoGrantMask` on automatic admission), so a declaration
    /// changed after the vote grants nothing. Bit meanings are a DAO convention published off-chain.
    struct Capabilities {
        uint32 memoryMB;
        bytes32 accelerator;
        bytes32 region;
        uint256 tags;
    }

    /// @notice A provider's record. `stake` includes `locked` (stake allocated to markets: held by
    /// their open seats, or free for their next ones); `locked <= stake` always. The provider is frozen while `block.timestamp < frozenUntil`.
    /// `tags` are the declared tags, `grantedTags` those the DAO granted (what jobs require).
    struct Provider {
        uint128 stake;
        uint128 locked;
        uint40 unbondingEndsAt;
        uint40 frozenUntil;
        uint256 grantedTags;
        ProviderStatus status;
        uint32 memoryMB;
        uint56 disagreed;
        uint56 missed;
        uint256 tags;
        bytes32 accelerator;
        bytes32 region;
        string metadataURI;
    }

    /// @notice A provider registered (or registered again after exiting).
    event ProviderRegistered(
        address indexed provider,
        uint256 stake,
        ProviderStatus status,
        Capabilities caps,
        string metadataURI
    );
    /// @notice A provider changed its declared capabilities or metadata.
    event CapabilitiesUpdated(address indexed provider, Capabilities caps, string metadataURI);
    /// @notice Stake was added.
    event StakeAdded(address indexed provider, uint256 amount, uint256 newStake);
    /// @notice A provider's admission status changed.
    event ProviderStatusChanged(address indexed provider, ProviderStatus oldStatus, ProviderStatus newStatus);
    /// @notice A provider asked to exit; its stake can be withdrawn from `unbondingEndsAt`.
    event ExitRequested(address indexed provider, uint40 unbondingEndsAt);
    /// @notice A provider withdrew its exit request.
    event ExitCancelled(address indexed provider);
    /// @notice A provider that exited withdrew its stake.
    event StakeWithdrawn(address indexed provider, uint256 amount);
    /// @notice `amount` of the provider's stake was allocated to `market` as collateral; the
    /// provider's allocated stake is now `newLocked`.
    event CollateralAllocated(address indexed provider, address indexed market, uint256 amount, uint256 newLocked);
    /// @notice `amount` of collateral `market` held free went back to the provider's free stake.
    event CollateralDeallocated(address indexed provider, address indexed market, uint256 amount, uint256 newLocked);
    /// @notice Stake was slashed: by the DAO ({slash}, free stake only; the amount accrues to {slashedFunds}), or
    /// seized for a faulty seat by the market `by` ({seize}; the amount went to that market).
    event ProviderSlashed(address indexed provider, address indexed by, uint256 amount, bytes32 reason);
    /// @notice A fault counter was incremented.
    event FaultRecorded(address indexed provider, Fault fault);
    /// @notice The DAO changed the admission policy.
    event AdmissionPolicySet(bool autoAdmit, uint128 autoAdmitStake);
    /// @notice The DAO changed the minimum stake.
    event MinStakeSet(uint128 minStake);
    /// @notice The DAO changed the unbonding period.
    event UnbondingPeriodSet(uint40 period);
    /// @notice The DAO withdrew slashed funds.
    event SlashedFundsWithdrawn(address indexed to, uint256 amount);
    /// @notice The DAO granted `provider` exactly `tags` (what a job's required tags are checked against).
    event TagsGranted(address indexed provider, uint256 tags);
    /// @notice The DAO changed the tags granted on automatic admission (`declared & mask`).
    event AutoGrantMaskSet(uint256 mask);
    /// @notice The DAO named the governor and timelock whose delays bound the unbonding and freeze
    /// periods ({governanceDelay}).
    event GovernanceSet(address indexed governor, address indexed timelock);
    /// @notice The DAO changed the freeze period.
    event FreezePeriodSet(uint40 period);
    /// @notice `by` (the guardian or the DAO) froze `provider` until `until`.
    event ProviderFrozen(address indexed provider, address indexed by, uint40 until);
    /// @notice The DAO lifted `provider`'s freeze.
    event ProviderUnfrozen(address indexed provider);
    /// @notice `provider` joined the roster (became Approved and not exiting) at `index`, the
    /// roster's last position.
    event RosterJoined(address indexed provider, uint256 index);
    /// @notice `provider` left the roster (suspended or exiting) from `index`; `moved`, the member
    /// that was last, now holds `index` (address(0) when the leaver was the last member itself).
    event RosterLeft(address indexed provider, uint256 index, address moved);
    /// @notice `market` left MARKET_ROLE and holds RETIRED_MARKET_ROLE: it is allocated no new
    /// collateral, is pushed nothing, and still seizes for the seats it opened (finding 12).
    event MarketRetired(address indexed market);

    /// @notice The token delivered less than it was asked to send (fee-on-transfer tokens).
    error ProviderRegistryTransferShortfall(uint256 expected, uint256 received);
    /// @notice The amount is zero.
    error ProviderRegistryZeroAmount();
    /// @notice The stake is below the minimum.
    error ProviderRegistryStakeBelowMinimum(uint256 stake, uint256 minimum);
    /// @notice The provider is already registered.
    error ProviderRegistryAlreadyRegistered(address provider, ProviderStatus status);
    /// @notice The account is not a registered provider.
    error ProviderRegistryNotRegistered(address provider);
    /// @notice The provider's status does not allow this.
    error ProviderRegistryInvalidStatus(address provider, ProviderStatus status);
    /// @notice The provider is exiting.
    error ProviderRegistryExiting(address provider, uint40 unbondingEndsAt);
    /// @notice The provider is not exiting.
    error ProviderRegistryNotExiting(address provider);
    /// @notice The unbonding period is not over.
    error ProviderRegistryUnbonding(address provider, uint40 unbondingEndsAt);
    /// @notice Collateral is still held by open seats in a market (`locked` is what stays
    /// allocated after the markets gave back what they held free).
    error ProviderRegistryCollateralLocked(address provider, uint256 locked);
    /// @notice Not enough unlocked stake.
    error ProviderRegistryInsufficientFreeStake(address provider, uint256 free, uint256 required);
    /// @notice The provider lacks required tags (the missing bits are given).
    error ProviderRegistryMissingTags(address provider, uint256 missing);
    /// @notice The provider declared less memory than required.
    error ProviderRegistryInsufficientMemory(address provider, uint32 memoryMB, uint32 required);
    /// @notice A DAO slash asked for more than the provider's stake not locked as collateral:
    /// locked collateral answers only to its seat's outcome.
    error ProviderRegistrySlashExceedsFreeStake(address provider, uint256 amount, uint256 free);
    /// @notice The provider is frozen until `until` (no new collateral, no withdrawal; or, for the
    /// guardian, a freeze that is already running).
    error ProviderRegistryFrozen(address provider, uint40 until);
    /// @notice The guardian froze this provider before; it may freeze it again from `availableAt`.
    error ProviderRegistryFreezeCooldown(address provider, uint40 availableAt);
    /// @notice The provider is not frozen.
    error ProviderRegistryNotFrozen(address provider);
    /// @notice No freeze period is set (and no governance delay): a freeze would last 0 seconds.
    error ProviderRegistryFreezeDisabled();
    /// @notice The unbonding period is shorter than the governance delay.
    error ProviderRegistryUnbondingBelowGovernanceDelay(uint40 period, uint256 delay);
    /// @notice The freeze period is shorter than the governance delay.
    error ProviderRegistryFreezeBelowGovernanceDelay(uint40 period, uint256 delay);
    /// @notice The freeze period is above the allowed maximum.
    error ProviderRegistryInvalidFreezePeriod(uint40 period, uint40 maximum);
    /// @notice More slashed funds asked than accrued.
    error ProviderRegistryInsufficientSlashedFunds(uint256 amount, uint256 available);
    /// @notice The unbonding period is above the allowed maximum.
    error ProviderRegistryInvalidUnbondingPeriod(uint40 period, uint40 maximum);
    /// @notice The metadata URI is longer than 256 bytes.
    error ProviderRegistryInvalidMetadataURI(string metadataURI);
    /// @notice The address is zero.
    error ProviderRegistryZeroAddress();
    /// @notice No roster member holds this index.
    error ProviderRegistryRosterIndexOutOfBounds(uint256 index, uint256 rosterSize);
    /// @notice A retired market (wound down, or its MARKET_ROLE revoked) is allocated no new
    /// collateral; it may only seize for the seats it opened before ({seize}).
    error ProviderRegistryMarketRetired(address market);
    /// @notice `market` holds neither MARKET_ROLE nor RETIRED_MARKET_ROLE.
    error ProviderRegistryNotMarket(address market);
    /// @notice `market` holds `available` of `provider`'s collateral free (or the provider has
    /// `available` allocated in all), less than `amount`.
    error ProviderRegistryInsufficientAllocation(address provider, address market, uint256 available, uint256 amount);
    /// @notice Granting MARKET_ROLE to `market` would exceed `maximum` markets.
    error ProviderRegistryTooManyMarkets(address market, uint256 maximum);

    /// @notice Registers the caller with `amount` of stake (pulled with transferFrom). It is
    /// Approved at once if the DAO's auto-admission is on and `amount` reaches its threshold,
    /// Pending otherwise. An account that exited may register again; its counters are kept.
    /// @param amount Stake, at least `minStake`.
    /// @param caps Declared capabilities.
    /// @param metadataURI Where the provider describes itself (at most 256 bytes).
    function register(uint256 amount, Capabilities calldata caps, string calldata metadataURI) external;

    /// @notice Adds stake; a Pending provider crossing the auto-admission threshold is approved.
    /// @param amount Tokens to pull.
    function addStake(uint256 amount) external;

    /// @notice Replaces the caller's declared capabilities and metadata URI.
    /// @param caps Capabilities.
    /// @param metadataURI Metadata URI.
    function updateCapabilities(Capabilities calldata caps, string calldata metadataURI) external;

    /// @notice First step of exit: the caller stops taking jobs and its stake unbonds until
    /// `now + max(unbondingPeriod, governanceDelay())`, so that a slash proposed when the exit is
    /// requested can still execute before the stake leaves.
    function requestExit() external;

    /// @notice Withdraws an exit request before the stake is withdrawn.
    function cancelExit() external;

    /// @notice Second step of exit: after unbonding, with no collateral locked and not frozen,
    /// sends the whole stake back to the caller. The provider becomes Exited, except a Suspended one, which stays
    /// Suspended (with no stake) until the DAO approves it again.
    function withdrawStake() external;

    /// @notice Approves a Pending or Suspended provider and grants it `grantedTags` (DAO only).
    /// The DAO votes on explicit tags, so a declaration changed during the vote grants nothing.
    /// @param provider The provider.
    /// @param grantedTags The capability and compliance tags the DAO vouches for.
    function approveProvider(address provider, uint256 grantedTags) external;

    /// @notice Replaces the tags granted to a registered provider (DAO only).
    /// @param provider The provider.
    /// @param tags The granted tags.
    function setGrantedTags(address provider, uint256 tags) external;

    /// @notice Sets which declared tags automatic admission grants (DAO only; 0 by default: none).
    /// @param mask Bit mask applied to the declared tags.
    function setAutoGrantMask(uint256 mask) external;

    /// @notice Suspends a Pending or Approved provider (DAO only): it takes no new jobs.
    /// @param provider The provider.
    function suspendProvider(address provider) external;

    /// @notice Sets the admission policy (DAO only).
    /// @param autoAdmit Whether registrations with enough stake are approved without a vote.
    /// @param autoAdmitStake The stake that admits automatically.
    function setAdmissionPolicy(bool autoAdmit, uint128 autoAdmitStake) external;

    /// @notice Sets the minimum stake to register (DAO only). The markets' copies of who may take
    /// seats change only as each provider is pushed again: the DAO's proposal calls
    /// {syncProviders} with the roster in the same batch (the CLI's `dao propose` does).
    /// @param minStake Token units.
    function setMinStake(uint128 minStake) external;

    /// @notice Sets the unbonding period (DAO only, at most 180 days, and once governance is set
    /// at least {governanceDelay}).
    /// @param period Seconds.
    function setUnbondingPeriod(uint40 period) external;

    /// @notice Names the governor and timelock whose delays bound exits and freezes (DAO only).
    /// @param governor The DAO's governor (timestamp clock: its delays are seconds).
    /// @param timelock The timelock that executes its proposals.
    function setGovernance(IGovernor governor, TimelockController timelock) external;

    /// @notice Sets how long a freeze lasts (DAO only): at least {governanceDelay}, at most 180 days.
    /// @param period Seconds.
    function setFreezePeriod(uint40 period) external;

    /// @notice Freezes `provider` for the freeze period (the guardian or the DAO): the markets,
    /// to which the freeze is pushed, give it no new seat (no delivery, commit, challenge or jury
    /// seat); it cannot withdraw its stake nor {deallocate}, and reads as inactive in
    /// {providerTerms}; its open seats still settle and pay it. The guardian
    /// cannot extend a running freeze, nor freeze the same provider again within one freeze
    /// period after the last freeze ended; the DAO can do both, and {unfreeze}. A freeze holds
    /// the stake while the DAO votes on a slash.
    /// @param provider The provider.
    function freeze(address provider) external;

    /// @notice Lifts a freeze (DAO only). The guardian's cooldown counts from now.
    /// @param provider The provider.
    function unfreeze(address provider) external;

    /// @notice Slashes a provider's stake that no seat holds (DAO only): its unallocated stake,
    /// then what the markets hold free for it (reclaimed first). A seat's collateral answers only
    /// to the seat's outcome ({seize}): to reach it, the DAO waits for the provider's seats to
    /// end, after freezing it ({freeze}) so that it takes no new ones, cannot deallocate and
    /// cannot withdraw.
    /// @param provider The provider.
    /// @param amount Tokens to slash, at most the stake no seat holds.
    /// @param reason A short reason code (e.g. a job id or "dao").
    function slash(address provider, uint256 amount, bytes32 reason) external;

    /// @notice Sends slashed funds to `to` (DAO only).
    /// @param to Recipient.
    /// @param amount Tokens.
    function withdrawSlashed(address to, uint256 amount) external;

    /// @notice Allocates the provider's free stake to the calling market (MARKET_ROLE) as
    /// collateral: all of it up to `maximum`, and at least `minimum` or it reverts
    /// ({ProviderRegistryInsufficientFreeStake}). The market calls it when a seat needs more
    /// collateral than it holds free for the provider, and checks the provider's terms itself.
    /// Allocated stake cannot be withdrawn; the provider takes it back with {deallocate}, and
    /// {withdrawStake} and {slash} take back what the markets hold free.
    /// @param provider The provider.
    /// @param minimum The least to allocate (non-zero).
    /// @param maximum The most to allocate.
    /// @return amount The stake allocated.
    function allocate(address provider, uint256 minimum, uint256 maximum) external returns (uint256 amount);

    /// @notice Takes `amount` of the collateral `market` holds free for the caller back into its
    /// free stake (to allocate it to another market, or to be withdrawn). Not while frozen: a
    /// stake that a slash proposal targets stays where the DAO can reach it.
    /// @param market A market, active or retired.
    /// @param amount The amount (reverts unless the market holds that much free).
    function deallocate(address market, uint256 amount) external;

    /// @notice Seizes `amount` of the provider's stake allocated to the calling market ({allocationOf}) for a proven fault (a market,
    /// active or retired, for the seats it opened) and counts the fault. The tokens go to the
    /// calling market, which credits them to those the fault harmed (the client and the honest
    /// revealers); only the DAO's {slash} feeds {slashedFunds}. It works whatever the
    /// provider's state (frozen, exiting, suspended): an open seat always ends.
    /// @param provider The provider.
    /// @param amount Stake tokens to move to the caller (0 only counts the fault).
    /// @param fault The fault to count.
    /// @param reason Reason code for the {ProviderSlashed} event.
    function seize(address provider, uint256 amount, Fault fault, bytes32 reason) external;

    /// @notice Pushes each provider's terms to every active market again (anyone): for a market
    /// granted MARKET_ROLE after the providers registered, or any doubt about a mirror.
    /// @param accounts The providers.
    function syncProviders(address[] calldata accounts) external;

    /// @notice What `market` holds of `provider`'s allocated stake (in its seats or free); the sum
    /// over markets is the provider's `locked`. A market seizes and gives back only from its own.
    /// @param provider The provider.
    /// @param market The market.
    /// @return The stake allocated to that market.
    function allocationOf(address provider, address market) external view returns (uint256);

    /// @notice Every account granted MARKET_ROLE, active or retired, in the order granted.
    /// @return The markets.
    function markets() external view returns (address[] memory);

    /// @notice The most markets MARKET_ROLE can be granted to, counting retired ones.
    function MAX_MARKETS() external view returns (uint256);

    /// @notice A provider's stake not allocated to any market (0 if it has none).
    /// @param provider The provider.
    function freeStakeOf(address provider) external view returns (uint256);

    /// @notice A provider's stake (including its locked collateral).
    /// @param provider The provider.
    /// @return The stake, in stake token units.
    function stakeOf(address provider) external view returns (uint256);

    /// @notice The ERC-20 that providers stake, fixed at deployment.
    /// @return The token.
    function stakeToken() external view returns (IERC20);

    /// @notice Retires the calling market (finding 12): it leaves MARKET_ROLE for
    /// RETIRED_MARKET_ROLE, so it can be allocated no new collateral but still seizes for the
    /// seats it opened ({seize}), and its jobs run to completion. Called by a
    /// market that winds down ({IInferenceMarketCourt-windDown}); a no-op for a market already
    /// retired. The DAO's `revokeRole(MARKET_ROLE, market)` retires a market the same way.
    function retireMarket() external;

    /// @notice What a market needs to check a provider that locks no collateral (k = 1 jobs),
    /// including its place in the roster (the ordered set of Approved providers that are not
    /// exiting) from which the market derives a job's assignment. One call, one registry read.
    /// @param provider The provider.
    /// @return active Approved, not exiting, not frozen, and staking at least the minimum stake. An
    /// active provider is always a roster member (the roster does not look at stake, tags, memory
    /// or freezes: a frozen member keeps its place and its assignment windows pass to others).
    /// @return tags The provider's granted tags (not the declared ones).
    /// @return memoryMB The provider's declared memory.
    /// @return rosterIndex The provider's roster index, `type(uint256).max` when it is not a
    /// member (meaningless then; `rosterIndex < rosterSize` exactly for members).
    /// @return rosterSize The number of roster members.
    function providerTerms(
        address provider
    ) external view returns (bool active, uint256 tags, uint32 memoryMB, uint256 rosterIndex, uint256 rosterSize);

    /// @notice The number of roster members (Approved providers that are not exiting).
    /// @return The roster's size.
    function rosterSize() external view returns (uint256);

    /// @notice The roster member at `index` (reverts past the end). Indexes change only when a
    /// member leaves: the last member takes the leaver's index ({RosterLeft}).
    /// @param index From 0 to `rosterSize() - 1`.
    /// @return The provider.
    function rosterAt(uint256 index) external view returns (address);

    /// @notice Whether `provider` is on the roster, and its index there (0 when not a member).
    /// @param provider The provider.
    /// @return member True if Approved and not exiting.
    /// @return index Its roster index.
    function rosterIndexOf(address provider) external view returns (bool member, uint256 index);

    /// @notice A provider's record.
    /// @param provider The provider.
    /// @return The record.
    function getProvider(address provider) external view returns (Provider memory);

    /// @notice The governance delay that exits and freezes must cover, read live:
    /// `governor.votingDelay() + governor.votingPeriod() + timelock.getMinDelay()` (seconds), or
    /// 0 while no governance is set.
    /// @return Seconds.
    function governanceDelay() external view returns (uint256);

    /// @notice Whether `provider` is frozen now.
    /// @param provider The provider.
    /// @return True while `block.timestamp < frozenUntil`.
    function isFrozen(address provider) external view returns (bool);
    /// @notice Role of the markets that may be allocated collateral, seize it and count faults.
    function MARKET_ROLE() external view returns (bytes32);

    /// @notice Role of retired markets (finding 12): they may seize for the seats they opened and
    /// count faults, but are allocated no new collateral. A market gets it
    /// when it leaves MARKET_ROLE, however it leaves ({retireMarket}, or the DAO's `revokeRole`),
    /// so that a migration never strands a job's escrow or collateral. The DAO may revoke it too
    /// (cutting a faulty market off entirely, at the price of its open seats).
    function RETIRED_MARKET_ROLE() external view returns (bytes32);

    /// @notice Upper bound for the unbonding period.
    function MAX_UNBONDING_PERIOD() external view returns (uint40);

    /// @notice Upper bound for the freeze period.
    function MAX_FREEZE_PERIOD() external view returns (uint40);

    /// @notice Smallest stake that may register.
    function minStake() external view returns (uint128);

    /// @notice Stake at or above which registration is approved without a vote, if `autoAdmit`.
    function autoAdmitStake() external view returns (uint128);

    /// @notice Seconds between an exit request and the stake's withdrawal.
    function unbondingPeriod() external view returns (uint40);

    /// @notice Whether the auto-admission policy is on.
    function autoAdmit() external view returns (bool);

    /// @notice Slashed tokens not yet withdrawn by the DAO.
    function slashedFunds() external view returns (uint256);

    /// @notice Sum of all providers' stake.
    function totalStake() external view returns (uint256);

    /// @notice The DAO's governor, whose delays the unbonding and freeze periods cover (zero: unset).
    function governor() external view returns (IGovernor);

    /// @notice The timelock that executes the governor's proposals (zero: unset).
    function timelock() external view returns (TimelockController);

    /// @notice Seconds a freeze lasts (at least {governanceDelay} when set).
    function freezePeriod() external view returns (uint40);

    /// @notice Declared tags that automatic admission grants (`declared & autoGrantMask`).
    function autoGrantMask() external view returns (uint256);
}
