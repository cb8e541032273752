// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {Test} from "../utils/Test.sol";
import {ConclaveToken} from "../../../contracts/governance/ConclaveToken.sol";
import {ConclaveGovernor} from "../../../contracts/governance/ConclaveGovernor.sol";
import {ConclaveTimelock} from "../../../contracts/governance/ConclaveTimelock.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "../../../contracts/registry/ProviderRegistry.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";
import {MockProviderMarket} from "../utils/MockProviderMarket.sol";

/// @notice Issue 11 finding 4 with the real governor and timelock, wired as the deployment wires
/// them: a provider that sees a slash proposal and asks to exit at once is still bonded when the
/// proposal executes; one with open seats is frozen by the guardian, its seats end, and the
/// proposal takes the stake they freed.
contract ProviderRegistryGovernanceTest is Test {
    uint256 internal constant START = 1_700_000_000;
    uint48 internal constant VOTING_DELAY = 1 days;
    uint32 internal constant VOTING_PERIOD = 5 days;
    uint256 internal constant TIMELOCK_DELAY = 2 days;
    uint256 internal constant DELAY = VOTING_DELAY + VOTING_PERIOD + TIMELOCK_DELAY; // 8 days
    /// @dev Shorter than the governance delay on purpose: the exit used to end after it.
    uint40 internal constant UNBONDING = 1 days;
    uint40 internal constant FREEZE = 16 days;

    address internal voter = address(0xA11CE);
    address internal guardian = address(0x6A4D);
    MockProviderMarket internal market;
    address internal provider = address(0xBAD);

    ConclaveToken internal token;
    ConclaveTimelock internal timelock;
    ConclaveGovernor internal governor;
    ProviderRegistry internal registry;
    MockERC20 internal stake;

    function setUp() public {
        vm.warp(START);
        address[] memory holders = new address[](1);
        uint256[] memory amounts = new uint256[](1);
        (holders[0], amounts[0]) = (voter, 100e18);
        token = new ConclaveToken("Conclave", "CNCL", holders, amounts);
        address[] memory proposers = new address[](0);
        address[] memory executors = new address[](1);
        timelock = new ConclaveTimelock(TIMELOCK_DELAY, proposers, executors, address(this));
        governor = new ConclaveGovernor(
            IVotes(address(token)),
            TimelockController(payable(address(timelock))),
            VOTING_DELAY,
            VOTING_PERIOD,
            0,
            4
        );
        timelock.grantRole(timelock.PROPOSER_ROLE(), address(governor));
        timelock.grantRole(timelock.CANCELLER_ROLE(), address(governor));
        timelock.renounceRole(timelock.DEFAULT_ADMIN_ROLE(), address(this));

        stake = new MockERC20("Stake", "STK", 18);
        registry = new ProviderRegistry(address(this), guardian, IERC20(address(stake)), 100e18, UNBONDING);
        // As node/deploy/stack.ts does: governance first, then the freeze period, then the roles.
        registry.setGovernance(IGovernor(address(governor)), TimelockController(payable(address(timelock))));
        registry.setFreezePeriod(FREEZE);
        market = new MockProviderMarket(registry);
        registry.grantRole(registry.MARKET_ROLE(), address(market));
        registry.setAdmissionPolicy(true, 100e18);
        registry.grantRole(registry.DEFAULT_ADMIN_ROLE(), address(timelock));
        registry.renounceRole(registry.DEFAULT_ADMIN_ROLE(), address(this));

        stake.mint(provider, 1_000e18);
        vm.prank(provider);
        stake.approve(address(registry), type(uint256).max);
        IProviderRegistry.Capabilities memory caps = IProviderRegistry.Capabilities({
            memoryMB: 8192,
            accelerator: "cpu",
            region: "eu",
            tags: 0
        });
        vm.prank(provider);
        registry.register(1_000e18, caps, "ipfs://bad");
        vm.prank(voter);
        token.delegate(voter);
        vm.warp(block.timestamp + 1);
    }

    function _slashProposal(
        uint256 amount
    ) internal view returns (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) {
        targets = new address[](1);
        values = new uint256[](1);
        calldatas = new bytes[](1);
        targets[0] = address(registry);
        calldatas[0] = abi.encodeCall(ProviderRegistry.slash, (provider, amount, bytes32("fraud")));
    }

    /// @dev Votes the proposal through and queues it; returns its eta.
    function _passAndQueue(uint256 amount, string memory description) internal returns (uint256 id, uint256 eta) {
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) = _slashProposal(amount);
        vm.warp(
            governor.proposalSnapshot(
                id = governor.hashProposal(targets, values, calldatas, keccak256(bytes(description)))
            ) + 1
        );
        vm.prank(voter);
        governor.castVote(id, 1);
        vm.warp(governor.proposalDeadline(id) + 1);
        governor.queue(targets, values, calldatas, keccak256(bytes(description)));
        eta = governor.proposalEta(id);
    }

    function _execute(uint256 amount, string memory description) internal {
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) = _slashProposal(amount);
        governor.execute(targets, values, calldatas, keccak256(bytes(description)));
    }

    function test_setUp_governanceDelay() public view {
        assertEq(registry.governanceDelay(), DELAY, "votingDelay + votingPeriod + timelock delay");
        assertEq(registry.freezePeriod(), FREEZE, "freeze period");
    }

    /// @dev The attack of finding 4: the provider reads a slash proposal in the mempool or its
    /// ProposalCreated event and asks to exit in the next block. With the 1-day unbonding period it
    /// used to withdraw on day 1, a week before the vote could execute.
    function test_exitRightAfterSlashProposal_stillBondedWhenItExecutes() public {
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) = _slashProposal(400e18);
        vm.prank(voter);
        governor.propose(targets, values, calldatas, "slash bad");

        vm.warp(block.timestamp + 1);
        vm.prank(provider);
        registry.requestExit();
        uint40 endsAt = registry.getProvider(provider).unbondingEndsAt;
        assertEq(endsAt, block.timestamp + DELAY, "unbonding covers the governance delay");

        vm.warp(block.timestamp + UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryUnbonding.selector, provider, endsAt));
        vm.prank(provider);
        registry.withdrawStake();

        (, uint256 eta) = _passAndQueue(400e18, "slash bad");
        // Executed at the first second it can be, the slash lands no later than the first second
        // the stake could leave. That boundary is a race within one block: the guardian's freeze
        // (below) is what holds a provider that exits in the proposal's own block.
        assertLe(eta, endsAt, "the proposal is executable before the stake can leave");
        vm.warp(eta - 1);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryUnbonding.selector, provider, endsAt));
        vm.prank(provider);
        registry.withdrawStake();
        vm.warp(eta);
        _execute(400e18, "slash bad");
        assertEq(registry.getProvider(provider).stake, 600e18, "slashed");
        assertEq(registry.slashedFunds(), 400e18, "to the DAO");

        vm.warp(endsAt);
        vm.prank(provider);
        registry.withdrawStake();
        assertEq(stake.balanceOf(provider), 600e18, "only the rest leaves");
    }

    /// @dev A provider with open seats: the DAO slash may take only free stake, so the guardian
    /// freezes it at once (no new seats, no withdrawal), the seats end (one faulty seat seized
    /// by the market), and the proposal executes on the stake that is free by then.
    function test_guardianFreezeHoldsStakeWhileTheDaoVotes() public {
        market.lock(provider, 900e18);
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) = _slashProposal(500e18);
        vm.prank(voter);
        governor.propose(targets, values, calldatas, "slash bad, seats open");
        vm.prank(guardian);
        registry.freeze(provider);
        uint40 until = uint40(block.timestamp + FREEZE);
        assertEq(registry.getProvider(provider).frozenUntil, until, "frozen");

        // It cannot take new work while the vote runs (the market reads the freeze pushed to
        // it), nor take back what the market holds free.
        assertEq(market.frozenUntil(provider), until, "pushed to the market");
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryFrozen.selector, provider, until));
        vm.prank(provider);
        registry.deallocate(address(market), 100e18);
        vm.prank(provider);
        registry.requestExit();

        // Its open seat still ends: faulty, 400 of its 900 collateral seized by the market.
        market.seize(provider, 400e18, IProviderRegistry.Fault.Disagreed, "job");
        market.release(provider, 500e18);

        (, uint256 eta) = _passAndQueue(500e18, "slash bad, seats open");
        vm.warp(eta);
        _execute(500e18, "slash bad, seats open");
        assertEq(registry.getProvider(provider).stake, 100e18, "seized 400 + slashed 500");
        assertEq(stake.balanceOf(address(market)), 400e18, "the seized part at the market");

        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ProviderRegistryFrozen.selector, provider, until));
        vm.prank(provider);
        registry.withdrawStake();
        vm.warp(until);
        vm.prank(provider);
        registry.withdrawStake();
        assertEq(stake.balanceOf(provider), 100e18, "the rest after the freeze");
    }

    /// @dev The DAO lengthens its voting period by a proposal; exits requested afterwards unbond
    /// for the longer delay (read live).
    function test_governorVotingPeriodRaised_laterExitsUnbondLonger() public {
        address[] memory targets = new address[](1);
        uint256[] memory values = new uint256[](1);
        bytes[] memory calldatas = new bytes[](1);
        targets[0] = address(governor);
        calldatas[0] = abi.encodeWithSignature("setVotingPeriod(uint32)", uint32(20 days));
        vm.prank(voter);
        uint256 id = governor.propose(targets, values, calldatas, "longer votes");
        vm.warp(governor.proposalSnapshot(id) + 1);
        vm.prank(voter);
        governor.castVote(id, 1);
        vm.warp(governor.proposalDeadline(id) + 1);
        governor.queue(targets, values, calldatas, keccak256("longer votes"));
        vm.warp(governor.proposalEta(id));
        governor.execute(targets, values, calldatas, keccak256("longer votes"));

        assertEq(registry.governanceDelay(), VOTING_DELAY + 20 days + TIMELOCK_DELAY, "live");
        vm.prank(provider);
        registry.requestExit();
        assertEq(
            registry.getProvider(provider).unbondingEndsAt,
            block.timestamp + VOTING_DELAY + 20 days + TIMELOCK_DELAY,
            "the longer delay"
        );
    }
}
