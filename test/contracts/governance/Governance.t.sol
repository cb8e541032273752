// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {Votes} from "@openzeppelin/contracts/governance/utils/Votes.sol";
import {Test} from "../utils/Test.sol";
import {ConclaveToken} from "../../../contracts/governance/ConclaveToken.sol";
import {ConclaveGovernor} from "../../../contracts/governance/ConclaveGovernor.sol";
import {ConclaveTimelock} from "../../../contracts/governance/ConclaveTimelock.sol";
import {ModelRegistry} from "../../../contracts/registry/ModelRegistry.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";

abstract contract GovernanceFixture is Test {
    uint256 internal constant START = 1_700_000_000;

    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA201);
    address internal stranger = address(0x5757);

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _token(address[] memory holders, uint256[] memory amounts) internal returns (ConclaveToken) {
        return new ConclaveToken("Conclave", "CNCL", holders, amounts);
    }

    /// @dev alice 60, bob 37, carol 3 (below the 4% quorum on her own); 100 tokens in all.
    function _defaultToken() internal returns (ConclaveToken) {
        address[] memory holders = new address[](3);
        uint256[] memory amounts = new uint256[](3);
        (holders[0], holders[1], holders[2]) = (alice, bob, carol);
        (amounts[0], amounts[1], amounts[2]) = (60e18, 37e18, 3e18);
        return _token(holders, amounts);
    }

    function _publishParams() internal pure returns (IModelRegistry.VersionParams memory) {
        return
            IModelRegistry.VersionParams({
                weightsCid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                weightsSha256: 0x13e35c44395f6cade670c076230362267c5288989d3498e207877d62b859a6d8,
                schemaCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
                runtime: bytes32("onnxruntime-1.30-cpu"),
                outputQuantum: 1e14,
                minMemoryMB: 2048,
                minFee: 5e18
            });
    }
}

// ==================================================================== ConclaveToken

contract ConclaveTokenTest is GovernanceFixture {
    ConclaveToken internal token;

    function setUp() public {
        vm.warp(START);
        token = _defaultToken();
    }

    function test_constructor_mintsToHolders() public view {
        assertEq(token.balanceOf(alice), 60e18, "alice");
        assertEq(token.balanceOf(bob), 37e18, "bob");
        assertEq(token.balanceOf(carol), 3e18, "carol");
        assertEq(token.totalSupply(), 100e18, "total supply");
        assertEq(token.name(), "Conclave", "name");
        assertEq(token.symbol(), "CNCL", "symbol");
        assertEq(token.decimals(), 18, "decimals");
    }

    function test_constructor_revertsWhenMoreHoldersThanAmounts() public {
        address[] memory holders = new address[](2);
        (holders[0], holders[1]) = (alice, bob);
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = 1e18;
        vm.expectRevert(abi.encodeWithSelector(ConclaveToken.ConclaveTokenLengthMismatch.selector, 2, 1));
        _token(holders, amounts);
    }

    function test_constructor_revertsWhenMoreAmountsThanHolders() public {
        address[] memory holders = new address[](0);
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = 1e18;
        vm.expectRevert(abi.encodeWithSelector(ConclaveToken.ConclaveTokenLengthMismatch.selector, 0, 1));
        _token(holders, amounts);
    }

    function testFuzz_constructor_lengthMismatch(uint256 holderCount, uint256 amountCount) public {
        holderCount = bound(holderCount, 0, 8);
        amountCount = bound(amountCount, 0, 8);
        address[] memory holders = new address[](holderCount);
        uint256[] memory amounts = new uint256[](amountCount);
        for (uint256 i = 0; i < holderCount; ++i) holders[i] = address(uint160(0x1000 + i));
        for (uint256 i = 0; i < amountCount; ++i) amounts[i] = (i + 1) * 1e18;

        if (holderCount != amountCount) {
            vm.expectRevert(
                abi.encodeWithSelector(ConclaveToken.ConclaveTokenLengthMismatch.selector, holderCount, amountCount)
            );
            _token(holders, amounts);
        } else {
            ConclaveToken t = _token(holders, amounts);
            uint256 total;
            for (uint256 i = 0; i < holderCount; ++i) {
                assertEq(t.balanceOf(holders[i]), amounts[i], "balance");
                total += amounts[i];
            }
            assertEq(t.totalSupply(), total, "supply");
        }
    }

    function test_CLOCK_MODE_isTimestamp() public view {
        assertEq(token.CLOCK_MODE(), "mode=timestamp", "CLOCK_MODE");
    }

    function test_clock_isBlockTimestamp() public {
        assertEq(token.clock(), START, "at start");
        vm.warp(START + 12345);
        vm.roll(block.number + 1000);
        assertEq(token.clock(), START + 12345, "follows the timestamp, not the block number");
    }

    function test_delegate_givesVotes() public {
        assertEq(token.getVotes(alice), 0, "no votes before delegating");

        vm.prank(alice);
        token.delegate(alice);
        assertEq(token.delegates(alice), alice, "self-delegated");
        assertEq(token.getVotes(alice), 60e18, "votes = balance");

        vm.prank(carol);
        token.delegate(alice);
        assertEq(token.getVotes(alice), 63e18, "carol's balance adds to alice");
        assertEq(token.getVotes(carol), 0, "carol has delegated hers away");
    }

    function test_delegate_votesCheckpointedByTimestamp() public {
        vm.prank(alice);
        token.delegate(alice);
        vm.warp(START + 100);
        vm.prank(alice);
        token.transfer(bob, 10e18);
        vm.warp(START + 200);

        assertEq(token.getPastVotes(alice, START - 1), 0, "before delegation");
        assertEq(token.getPastVotes(alice, START), 60e18, "at delegation");
        assertEq(token.getPastVotes(alice, START + 99), 60e18, "before transfer");
        assertEq(token.getPastVotes(alice, START + 100), 50e18, "after transfer");
        assertEq(token.getVotes(bob), 0, "bob has not delegated");
        assertEq(token.getPastTotalSupply(START + 150), 100e18, "past supply");
    }

    function test_getPastVotes_revertsForFutureTimepoint() public {
        vm.expectRevert(abi.encodeWithSelector(Votes.ERC5805FutureLookup.selector, START, uint48(START)));
        token.getPastVotes(alice, START);
    }

    function test_permit_setsAllowance() public {
        uint256 ownerKey = 0xA11CE5;
        address owner = vm.addr(ownerKey);
        uint256 deadline = START + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                owner,
                bob,
                5e18,
                token.nonces(owner),
                deadline
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, digest);

        token.permit(owner, bob, 5e18, deadline, v, r, s);
        assertEq(token.allowance(owner, bob), 5e18, "allowance");
        assertEq(token.nonces(owner), 1, "nonce used");
    }
}

// ==================================================================== GuardianPausable (via ModelRegistry)

contract GuardianPausableTest is GovernanceFixture {
    address internal admin = address(0xAD);
    address internal guardian = address(0x6A4D);
    address internal newGuardian = address(0x6A4E);

    ModelRegistry internal registry;
    bytes32 internal guardianRole;

    function setUp() public {
        vm.warp(START);
        registry = new ModelRegistry(admin, guardian, 30 days);
        guardianRole = registry.GUARDIAN_ROLE();
    }

    function test_getRoleAdmin_guardianRoleIsAdministeredByDefaultAdmin() public view {
        assertEq(registry.getRoleAdmin(guardianRole), bytes32(0), "role admin");
    }

    function test_guardian_reassignedByAdmin() public {
        vm.startPrank(admin);
        registry.grantRole(guardianRole, newGuardian);
        registry.revokeRole(guardianRole, guardian);
        vm.stopPrank();
        assertFalse(registry.hasRole(guardianRole, guardian), "old revoked");
        assertTrue(registry.hasRole(guardianRole, newGuardian), "new granted");

        vm.expectRevert(_unauthorized(guardian, guardianRole));
        vm.prank(guardian);
        registry.pause();
        assertFalse(registry.paused(), "old guardian could not pause");

        vm.expectEmit(true, true, true, true, address(registry));
        emit Pausable.Paused(newGuardian);
        vm.prank(newGuardian);
        registry.pause();
        assertTrue(registry.paused(), "new guardian paused");

        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(alice);
        registry.publishVersion("resnet-50", _publishParams());
    }

    function test_guardian_newGuardianCannotUnpause() public {
        vm.prank(admin);
        registry.grantRole(guardianRole, newGuardian);
        vm.prank(newGuardian);
        registry.pause();

        vm.expectRevert(_unauthorized(newGuardian, bytes32(0)));
        vm.prank(newGuardian);
        registry.unpause();

        vm.prank(admin);
        registry.unpause();
        assertFalse(registry.paused(), "admin unpaused");
    }

    function test_grantRole_revertsWhenGuardianGrantsGuardian() public {
        vm.expectRevert(_unauthorized(guardian, bytes32(0)));
        vm.prank(guardian);
        registry.grantRole(guardianRole, newGuardian);
        assertFalse(registry.hasRole(guardianRole, newGuardian), "not granted");
    }

    function test_grantRole_revertsWhenStrangerGrantsGuardian() public {
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        vm.prank(stranger);
        registry.grantRole(guardianRole, stranger);
    }

    function test_revokeRole_revertsWhenGuardianRevokesAnother() public {
        vm.prank(admin);
        registry.grantRole(guardianRole, newGuardian);
        vm.expectRevert(_unauthorized(guardian, bytes32(0)));
        vm.prank(guardian);
        registry.revokeRole(guardianRole, newGuardian);
        assertTrue(registry.hasRole(guardianRole, newGuardian), "still guardian");
    }

    function test_renounceRole_guardianStepsDown() public {
        vm.prank(guardian);
        registry.renounceRole(guardianRole, guardian);
        vm.expectRevert(_unauthorized(guardian, guardianRole));
        vm.prank(guardian);
        registry.pause();
    }

    function test_pause_twoGuardiansCanEachPause() public {
        vm.prank(admin);
        registry.grantRole(guardianRole, newGuardian);
        vm.prank(guardian);
        registry.pause();
        vm.prank(admin);
        registry.unpause();
        vm.prank(newGuardian);
        registry.pause();
        assertTrue(registry.paused(), "second guardian paused");
    }
}

// ==================================================================== Governor + Timelock wiring

contract GovernanceWiringTest is GovernanceFixture {
    uint256 internal constant TIMELOCK_DELAY = 2 days;
    uint48 internal constant VOTING_DELAY = 1 days;
    uint32 internal constant VOTING_PERIOD = 1 weeks;

    address internal guardian = address(0x6A4D);

    ConclaveToken internal token;
    ConclaveTimelock internal timelock;
    ConclaveGovernor internal governor;
    ModelRegistry internal registry;
    bytes32 internal modelId;

    /// @dev Deployed and wired exactly as the deployment does it.
    function setUp() public {
        vm.warp(START);
        token = _defaultToken();

        address[] memory proposers = new address[](0);
        address[] memory executors = new address[](1);
        executors[0] = address(0);
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

        registry = new ModelRegistry(address(timelock), guardian, 30 days);
        vm.prank(carol);
        (modelId, ) = registry.publishVersion("resnet-50", _publishParams());
    }

    // ------------------------------------------------------------ helpers

    function _activationProposal()
        internal
        view
        returns (address[] memory targets, uint256[] memory values, bytes[] memory calldatas)
    {
        targets = new address[](1);
        values = new uint256[](1);
        calldatas = new bytes[](1);
        targets[0] = address(registry);
        calldatas[0] = abi.encodeCall(ModelRegistry.activateVersion, (modelId, 1));
    }

    function _bitmap(IGovernor.ProposalState s) internal pure returns (bytes32) {
        return bytes32(1 << uint8(s));
    }

    function _state(uint256 proposalId) internal view returns (uint256) {
        return uint256(governor.state(proposalId));
    }

    // ------------------------------------------------------------ wiring

    function test_setUp_timelockRoles() public view {
        assertTrue(timelock.hasRole(timelock.PROPOSER_ROLE(), address(governor)), "governor proposes");
        assertTrue(timelock.hasRole(timelock.CANCELLER_ROLE(), address(governor)), "governor cancels");
        assertTrue(timelock.hasRole(timelock.EXECUTOR_ROLE(), address(0)), "anyone executes");
        assertFalse(timelock.hasRole(timelock.EXECUTOR_ROLE(), address(governor)), "no dedicated executor");
        assertFalse(timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), address(this)), "deployer renounced admin");
        assertFalse(timelock.hasRole(timelock.PROPOSER_ROLE(), address(this)), "deployer is no proposer");
        assertFalse(timelock.hasRole(timelock.CANCELLER_ROLE(), address(this)), "deployer is no canceller");
        assertTrue(timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), address(timelock)), "timelock administers itself");
        assertFalse(timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), address(governor)), "governor is no admin");
        assertEq(timelock.getMinDelay(), TIMELOCK_DELAY, "min delay");
    }

    function test_setUp_governorSettings() public view {
        assertEq(governor.timelock(), address(timelock), "timelock");
        assertEq(address(governor.token()), address(token), "token");
        assertEq(governor.votingDelay(), VOTING_DELAY, "voting delay");
        assertEq(governor.votingPeriod(), VOTING_PERIOD, "voting period");
        assertEq(governor.proposalThreshold(), 0, "threshold");
        assertEq(governor.quorumNumerator(), 4, "quorum numerator");
        assertEq(governor.name(), "ConclaveGovernor", "name");
        assertEq(governor.CLOCK_MODE(), "mode=timestamp", "governor clock mode");
        assertEq(governor.clock(), block.timestamp, "governor clock");
    }

    function test_setUp_registryAdministeredOnlyByTimelock() public view {
        assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), address(timelock)), "timelock is admin");
        assertFalse(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), address(this)), "deployer is not");
        assertFalse(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), address(governor)), "governor is not");
    }

    function test_grantRole_deployerCannotRegrantAfterRenouncing() public {
        bytes32 proposerRole = timelock.PROPOSER_ROLE();
        vm.expectRevert(_unauthorized(address(this), bytes32(0)));
        timelock.grantRole(proposerRole, address(this));
    }

    // ------------------------------------------------------------ proposals

    function test_proposal_activatesVersionThroughTimelock() public {
        vm.prank(alice);
        token.delegate(alice);
        vm.prank(bob);
        token.delegate(bob);

        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) = _activationProposal();
        string memory description = "Activate resnet-50 v1";
        bytes32 descriptionHash = keccak256(bytes(description));

        vm.prank(alice);
        uint256 proposalId = governor.propose(targets, values, calldatas, description);
        assertEq(proposalId, governor.hashProposal(targets, values, calldatas, descriptionHash), "id");
        assertEq(_state(proposalId), uint256(IGovernor.ProposalState.Pending), "pending");
        assertEq(governor.proposalSnapshot(proposalId), START + VOTING_DELAY, "snapshot in seconds");
        assertEq(governor.proposalDeadline(proposalId), START + VOTING_DELAY + VOTING_PERIOD, "deadline");

        vm.warp(START + VOTING_DELAY + 1);
        assertEq(_state(proposalId), uint256(IGovernor.ProposalState.Active), "active");
        vm.prank(alice);
        governor.castVote(proposalId, 1); // For
        vm.prank(bob);
        governor.castVote(proposalId, 0); // Against
        (uint256 against, uint256 forVotes, uint256 abstain) = governor.proposalVotes(proposalId);
        assertEq(forVotes, 60e18, "for");
        assertEq(against, 37e18, "against");
        assertEq(abstain, 0, "abstain");

        vm.warp(START + VOTING_DELAY + VOTING_PERIOD + 1);
        assertEq(_state(proposalId), uint256(IGovernor.ProposalState.Succeeded), "succeeded");

        governor.queue(targets, values, calldatas, descriptionHash);
        assertEq(_state(proposalId), uint256(IGovernor.ProposalState.Queued), "queued");
        uint256 eta = governor.proposalEta(proposalId);
        assertEq(eta, block.timestamp + TIMELOCK_DELAY, "eta");
        assertEq(_status(1), uint256(IModelRegistry.VersionStatus.Published), "not yet active");

        vm.warp(eta);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.VersionActivated(modelId, 1, 0, 0);
        vm.prank(stranger); // the executor role is open
        governor.execute(targets, values, calldatas, descriptionHash);

        assertEq(_state(proposalId), uint256(IGovernor.ProposalState.Executed), "executed");
        assertEq(_status(1), uint256(IModelRegistry.VersionStatus.Active), "version active");
        assertEq(registry.getModel(modelId).activeVersion, 1, "activeVersion");
        assertTrue(registry.acceptsJobs(modelId, 1), "takes jobs");
    }

    function test_proposal_executeBeforeTimelockDelayReverts() public {
        vm.prank(alice);
        token.delegate(alice);
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) = _activationProposal();
        bytes32 descriptionHash = keccak256("early");
        vm.prank(alice);
        uint256 proposalId = governor.propose(targets, values, calldatas, "early");
        vm.warp(START + VOTING_DELAY + 1);
        vm.prank(alice);
        governor.castVote(proposalId, 1);
        vm.warp(START + VOTING_DELAY + VOTING_PERIOD + 1);
        governor.queue(targets, values, calldatas, descriptionHash);

        bytes32 salt = bytes20(address(governor)) ^ descriptionHash;
        bytes32 operationId = timelock.hashOperationBatch(targets, values, calldatas, 0, salt);
        assertTrue(timelock.isOperationPending(operationId), "scheduled in the timelock");
        vm.warp(governor.proposalEta(proposalId) - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector,
                operationId,
                bytes32(1 << uint8(TimelockController.OperationState.Ready))
            )
        );
        governor.execute(targets, values, calldatas, descriptionHash);
        assertEq(_status(1), uint256(IModelRegistry.VersionStatus.Published), "still published");
    }

    function test_proposal_defeatedWithoutQuorum() public {
        vm.prank(carol);
        token.delegate(carol);
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) = _activationProposal();
        vm.prank(carol);
        uint256 proposalId = governor.propose(targets, values, calldatas, "carol alone");
        vm.warp(START + VOTING_DELAY + 1);
        vm.prank(carol);
        governor.castVote(proposalId, 1);
        vm.warp(START + VOTING_DELAY + VOTING_PERIOD + 1);

        assertEq(governor.quorum(START + VOTING_DELAY), 4e18, "quorum is 4% of supply");
        assertEq(_state(proposalId), uint256(IGovernor.ProposalState.Defeated), "defeated: 3% < 4%");
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                proposalId,
                IGovernor.ProposalState.Defeated,
                _bitmap(IGovernor.ProposalState.Succeeded)
            )
        );
        governor.queue(targets, values, calldatas, keccak256("carol alone"));
    }

    function test_proposal_undelegatedVotesCountZero() public {
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) = _activationProposal();
        vm.prank(alice);
        uint256 proposalId = governor.propose(targets, values, calldatas, "no delegation");
        vm.warp(START + VOTING_DELAY + 1);
        vm.prank(alice);
        uint256 weight = governor.castVote(proposalId, 1);
        assertEq(weight, 0, "tokens carry no votes until delegated");
        vm.warp(START + VOTING_DELAY + VOTING_PERIOD + 1);
        assertEq(_state(proposalId), uint256(IGovernor.ProposalState.Defeated), "defeated");
    }

    // ------------------------------------------------------------ bypass attempts

    function test_timelockSchedule_revertsForNonProposer() public {
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) = _activationProposal();
        bytes32 proposerRole = timelock.PROPOSER_ROLE();

        vm.expectRevert(_unauthorized(address(this), proposerRole));
        timelock.schedule(targets[0], 0, calldatas[0], bytes32(0), bytes32(0), TIMELOCK_DELAY);

        vm.expectRevert(_unauthorized(alice, proposerRole));
        vm.prank(alice);
        timelock.schedule(targets[0], 0, calldatas[0], bytes32(0), bytes32(0), TIMELOCK_DELAY);

        vm.expectRevert(_unauthorized(stranger, proposerRole));
        vm.prank(stranger);
        timelock.scheduleBatch(targets, values, calldatas, bytes32(0), bytes32(0), TIMELOCK_DELAY);
    }

    function test_registryActivate_revertsWhenCalledDirectlyByGovernorOrDeployer() public {
        vm.expectRevert(_unauthorized(address(governor), bytes32(0)));
        vm.prank(address(governor));
        registry.activateVersion(modelId, 1);

        vm.expectRevert(_unauthorized(address(this), bytes32(0)));
        registry.activateVersion(modelId, 1);
    }

    function _status(uint32 version) internal view returns (uint256) {
        return uint256(registry.getVersion(modelId, version).status);
    }
}
