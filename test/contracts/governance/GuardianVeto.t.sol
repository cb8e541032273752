// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {GovernanceFixture} from "./Governance.t.sol";
import {ConclaveToken} from "../../../contracts/governance/ConclaveToken.sol";
import {ConclaveGovernor} from "../../../contracts/governance/ConclaveGovernor.sol";
import {ConclaveTimelock} from "../../../contracts/governance/ConclaveTimelock.sol";
import {GuardianVeto} from "../../../contracts/governance/GuardianVeto.sol";
import {IGuardianVeto} from "../../../contracts/interfaces/IGuardianVeto.sol";
import {ModelRegistry} from "../../../contracts/registry/ModelRegistry.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";

/// @dev The stack wired as node/deploy/stack.ts wires it: the governor proposes and cancels, the
/// GuardianVeto cancels, anyone executes, nobody else holds a timelock role; proposing needs 1 token.
contract GuardianVetoTest is GovernanceFixture {
    uint256 internal constant TIMELOCK_DELAY = 2 days;
    uint48 internal constant VOTING_DELAY = 1 days;
    uint32 internal constant VOTING_PERIOD = 1 weeks;
    uint256 internal constant THRESHOLD = 1e18;

    address internal guardian = address(0x6A4D);
    address internal newGuardian = address(0x6A4E);

    ConclaveToken internal token;
    ConclaveTimelock internal timelock;
    ConclaveGovernor internal governor;
    GuardianVeto internal veto;
    ModelRegistry internal registry;
    bytes32 internal modelId;
    bytes32 internal guardianRole;
    bytes32 internal cancellerRole;

    function setUp() public {
        vm.warp(START);
        token = _defaultToken();
        address[] memory proposers = new address[](0);
        address[] memory executors = new address[](1);
        timelock = new ConclaveTimelock(TIMELOCK_DELAY, proposers, executors, address(this));
        governor = new ConclaveGovernor(
            IVotes(address(token)),
            TimelockController(payable(address(timelock))),
            VOTING_DELAY,
            VOTING_PERIOD,
            THRESHOLD,
            4
        );
        veto = new GuardianVeto(TimelockController(payable(address(timelock))), guardian);
        cancellerRole = timelock.CANCELLER_ROLE();
        timelock.grantRole(timelock.PROPOSER_ROLE(), address(governor));
        timelock.grantRole(cancellerRole, address(governor));
        timelock.grantRole(cancellerRole, address(veto));
        timelock.renounceRole(timelock.DEFAULT_ADMIN_ROLE(), address(this));

        registry = new ModelRegistry(address(timelock), guardian, 30 days);
        guardianRole = registry.GUARDIAN_ROLE();
        vm.prank(carol);
        (modelId, ) = registry.publishVersion("resnet-50", _publishParams());

        vm.prank(alice);
        token.delegate(alice);
        vm.prank(bob);
        token.delegate(bob);
        vm.warp(START + 1);
    }

    // ------------------------------------------------------------ helpers

    struct Op {
        address[] targets;
        uint256[] values;
        bytes[] calldatas;
        string description;
    }

    function _one(address target, bytes memory data) internal pure returns (Op memory op) {
        op.targets = new address[](1);
        op.values = new uint256[](1);
        op.calldatas = new bytes[](1);
        op.targets[0] = target;
        op.calldatas[0] = data;
    }

    function _two(address t0, bytes memory d0, address t1, bytes memory d1) internal pure returns (Op memory op) {
        op.targets = new address[](2);
        op.values = new uint256[](2);
        op.calldatas = new bytes[](2);
        (op.targets[0], op.targets[1]) = (t0, t1);
        (op.calldatas[0], op.calldatas[1]) = (d0, d1);
    }

    function _activate() internal view returns (Op memory) {
        return _one(address(registry), abi.encodeCall(ModelRegistry.activateVersion, (modelId, 1)));
    }

    /// @dev What the CLI makes of a description: a random reference, then the proposer's suffix.
    function _suffixed(string memory text, address proposer) internal pure returns (string memory) {
        return string.concat(text, " [ref:0123456789abcdef]#proposer=", Strings.toHexString(proposer));
    }

    function _salt(string memory description) internal view returns (bytes32) {
        return bytes20(address(governor)) ^ keccak256(bytes(description));
    }

    function _operationId(Op memory op) internal view returns (bytes32) {
        return timelock.hashOperationBatch(op.targets, op.values, op.calldatas, 0, _salt(op.description));
    }

    /// @dev Proposes as alice, votes it through with alice's 60 % and queues it.
    function _queue(Op memory op) internal returns (uint256 proposalId) {
        vm.prank(alice);
        proposalId = governor.propose(op.targets, op.values, op.calldatas, op.description);
        vm.warp(block.timestamp + VOTING_DELAY + 1);
        vm.prank(alice);
        governor.castVote(proposalId, 1);
        vm.warp(block.timestamp + VOTING_PERIOD + 1);
        governor.queue(op.targets, op.values, op.calldatas, keccak256(bytes(op.description)));
        assertEq(uint256(governor.state(proposalId)), uint256(IGovernor.ProposalState.Queued), "queued");
    }

    function _veto(Op memory op) internal {
        veto.veto(op.targets, op.values, op.calldatas, 0, _salt(op.description));
    }

    // ------------------------------------------------------------ finding 5: front-running

    function test_propose_revertsWhenAnotherAccountFrontRunsTheSuffixedDescription() public {
        Op memory op = _activate();
        op.description = _suffixed("Suspend provider 0xabc", alice);

        // bob sees alice's transaction in the mempool and sends the same proposal first.
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorRestrictedProposer.selector, bob));
        vm.prank(bob);
        governor.propose(op.targets, op.values, op.calldatas, op.description);

        // The id is not burned: alice's proposal goes through with the id she expected.
        vm.prank(alice);
        uint256 id = governor.propose(op.targets, op.values, op.calldatas, op.description);
        assertEq(
            id,
            governor.hashProposal(op.targets, op.values, op.calldatas, keccak256(bytes(op.description))),
            "id"
        );
        assertEq(governor.proposalProposer(id), alice, "proposer");
    }

    function test_propose_unsuffixedDescriptionCanBeFrontRun() public {
        // Why the CLI adds the suffix: without it the first sender takes the id.
        Op memory op = _activate();
        op.description = "Activate resnet-50 v1";
        vm.prank(bob);
        governor.propose(op.targets, op.values, op.calldatas, op.description);
        uint256 id = governor.hashProposal(op.targets, op.values, op.calldatas, keccak256(bytes(op.description)));
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                id,
                IGovernor.ProposalState.Pending,
                bytes32(0)
            )
        );
        vm.prank(alice);
        governor.propose(op.targets, op.values, op.calldatas, op.description);
    }

    function test_propose_revertsBelowThreshold() public {
        Op memory op = _activate();
        op.description = _suffixed("stranger", stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IGovernor.GovernorInsufficientProposerVotes.selector, stranger, 0, THRESHOLD)
        );
        vm.prank(stranger);
        governor.propose(op.targets, op.values, op.calldatas, op.description);
    }

    // ------------------------------------------------------------ finding 14: veto

    function test_setUp_onlyGovernorAndVetoCancel() public view {
        assertTrue(timelock.hasRole(cancellerRole, address(veto)), "veto cancels");
        assertTrue(timelock.hasRole(cancellerRole, address(governor)), "governor cancels");
        assertFalse(timelock.hasRole(cancellerRole, guardian), "the guardian itself does not");
        assertFalse(timelock.hasRole(timelock.PROPOSER_ROLE(), address(veto)), "veto cannot propose");
        assertFalse(timelock.hasRole(timelock.PROPOSER_ROLE(), guardian), "guardian cannot propose");
        assertEq(veto.guardian(), guardian, "guardian");
        assertEq(veto.timelock(), address(timelock), "timelock");
    }

    function test_veto_cancelsQueuedProposal() public {
        Op memory op = _activate();
        op.description = _suffixed("Activate resnet-50 v1", alice);
        uint256 id = _queue(op);
        bytes32 operationId = _operationId(op);
        assertTrue(timelock.isOperationPending(operationId), "pending");

        vm.expectEmit(true, true, true, true, address(veto));
        emit IGuardianVeto.Vetoed(operationId, guardian);
        vm.prank(guardian);
        _veto(op);

        assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Canceled), "canceled");
        assertFalse(timelock.isOperation(operationId), "gone from the timelock");
        vm.warp(block.timestamp + TIMELOCK_DELAY + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                id,
                IGovernor.ProposalState.Canceled,
                bytes32(1 << uint8(IGovernor.ProposalState.Queued))
            )
        );
        governor.execute(op.targets, op.values, op.calldatas, keccak256(bytes(op.description)));
        assertEq(
            uint256(registry.getVersion(modelId, 1).status),
            uint256(IModelRegistry.VersionStatus.Published),
            "not run"
        );
    }

    function test_veto_revertsForNonGuardian() public {
        Op memory op = _activate();
        op.description = _suffixed("Activate resnet-50 v1", alice);
        _queue(op);
        address[3] memory others = [alice, stranger, address(governor)];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IGuardianVeto.GuardianVetoNotGuardian.selector, others[i]));
            vm.prank(others[i]);
            _veto(op);
        }
        assertTrue(timelock.isOperationPending(_operationId(op)), "still pending");
    }

    function testFuzz_veto_revertsForAnyoneButTheGuardian(address caller) public {
        vm.assume(caller != guardian);
        Op memory op = _activate();
        op.description = _suffixed("Activate resnet-50 v1", alice);
        _queue(op);
        vm.expectRevert(abi.encodeWithSelector(IGuardianVeto.GuardianVetoNotGuardian.selector, caller));
        vm.prank(caller);
        _veto(op);
    }

    function test_veto_revertsWhenNotPending() public {
        Op memory op = _activate();
        op.description = _suffixed("Activate resnet-50 v1", alice);
        // Not yet queued.
        vm.expectRevert(abi.encodeWithSelector(IGuardianVeto.GuardianVetoNotPending.selector, _operationId(op)));
        vm.prank(guardian);
        _veto(op);

        _queue(op);
        vm.warp(block.timestamp + TIMELOCK_DELAY);
        governor.execute(op.targets, op.values, op.calldatas, keccak256(bytes(op.description)));
        // Already executed.
        vm.expectRevert(abi.encodeWithSelector(IGuardianVeto.GuardianVetoNotPending.selector, _operationId(op)));
        vm.prank(guardian);
        _veto(op);
    }

    function test_veto_revertsForProposalRevokingTheGuardian() public {
        Op memory op = _one(address(registry), abi.encodeCall(IAccessControl.revokeRole, (guardianRole, guardian)));
        op.description = _suffixed("Revoke the guardian", alice);
        _queue(op);
        vm.expectRevert(abi.encodeWithSelector(IGuardianVeto.GuardianVetoProtectedCall.selector, 0));
        vm.prank(guardian);
        _veto(op);

        vm.warp(block.timestamp + TIMELOCK_DELAY);
        governor.execute(op.targets, op.values, op.calldatas, keccak256(bytes(op.description)));
        assertFalse(registry.hasRole(guardianRole, guardian), "revoked");
    }

    function test_veto_revertsForProposalsThatOnlyTouchGuardianRoles() public {
        GuardianVeto successor = new GuardianVeto(TimelockController(payable(address(timelock))), newGuardian);
        Op[4] memory ops = [
            _one(address(veto), abi.encodeCall(GuardianVeto.setGuardian, (newGuardian))),
            _two(
                address(timelock),
                abi.encodeCall(IAccessControl.grantRole, (cancellerRole, address(successor))),
                address(timelock),
                abi.encodeCall(IAccessControl.revokeRole, (cancellerRole, address(veto)))
            ),
            _one(address(registry), abi.encodeCall(IAccessControl.grantRole, (guardianRole, newGuardian))),
            _one(address(registry), abi.encodeCall(IAccessControl.renounceRole, (guardianRole, address(timelock))))
        ];
        for (uint256 i = 0; i < ops.length; ++i) {
            ops[i].description = _suffixed(string.concat("guardian change ", Strings.toString(i)), alice);
            _queue(ops[i]);
            vm.expectRevert(abi.encodeWithSelector(IGuardianVeto.GuardianVetoProtectedCall.selector, 0));
            vm.prank(guardian);
            _veto(ops[i]);
        }
    }

    /// @dev The attack the narrower rule stops: a captured majority adds a harmless role change to
    /// a harmful proposal so that the guardian cannot veto it.
    function test_veto_cancelsHarmfulProposalBundledWithARoleChange() public {
        Op memory op = _two(
            address(registry),
            abi.encodeCall(IAccessControl.grantRole, (guardianRole, newGuardian)),
            address(registry),
            abi.encodeCall(ModelRegistry.activateVersion, (modelId, 1))
        );
        op.description = _suffixed("Activate and add a guardian", alice);
        uint256 id = _queue(op);
        vm.prank(guardian);
        _veto(op);
        assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Canceled), "canceled");
    }

    function test_veto_cancelsRoleChangesThatAreNotGuardianManagement() public {
        bytes32 adminRole = registry.DEFAULT_ADMIN_ROLE();
        Op[3] memory ops = [
            // Handing the registry to an account is what a veto is for.
            _one(address(registry), abi.encodeCall(IAccessControl.grantRole, (adminRole, stranger))),
            _one(address(timelock), abi.encodeCall(IAccessControl.grantRole, (timelock.PROPOSER_ROLE(), stranger))),
            // A grantRole-shaped call that pays out is not a role change.
            _one(stranger, abi.encodeCall(IAccessControl.grantRole, (guardianRole, stranger)))
        ];
        ops[2].values[0] = 1 ether;
        vm.deal(address(timelock), 1 ether);
        for (uint256 i = 0; i < ops.length; ++i) {
            ops[i].description = _suffixed(string.concat("role grab ", Strings.toString(i)), alice);
            uint256 id = _queue(ops[i]);
            vm.prank(guardian);
            _veto(ops[i]);
            assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Canceled), "canceled");
        }
    }

    function testFuzz_protectedCall_onlyGuardianManagementWithoutValue(
        bytes4 selector,
        bytes32 role,
        uint256 value
    ) public view {
        address[] memory targets = new address[](1);
        uint256[] memory values = new uint256[](1);
        bytes[] memory payloads = new bytes[](1);
        targets[0] = address(registry);
        values[0] = value;
        payloads[0] = abi.encodeWithSelector(selector, role, guardian);
        (bool isProtected, ) = veto.protectedCall(targets, values, payloads);
        bool roleCall =
            selector == IAccessControl.grantRole.selector ||
                selector == IAccessControl.revokeRole.selector ||
                selector == IAccessControl.renounceRole.selector;
        bool expected = value == 0 && roleCall && (role == guardianRole || role == cancellerRole);
        assertTrue(isProtected == expected, "protected iff a value-less guardian or canceller role change");
    }

    // ------------------------------------------------------------ replacing the guardian

    function test_setGuardian_daoReplacesGuardianByVote() public {
        Op memory op = _one(address(veto), abi.encodeCall(GuardianVeto.setGuardian, (newGuardian)));
        op.description = _suffixed("Replace the guardian", alice);
        _queue(op);
        vm.warp(block.timestamp + TIMELOCK_DELAY);
        vm.expectEmit(true, true, true, true, address(veto));
        emit IGuardianVeto.GuardianChanged(guardian, newGuardian);
        governor.execute(op.targets, op.values, op.calldatas, keccak256(bytes(op.description)));
        assertEq(veto.guardian(), newGuardian, "replaced");

        Op memory next = _activate();
        next.description = _suffixed("Activate resnet-50 v1", alice);
        uint256 id = _queue(next);
        vm.expectRevert(abi.encodeWithSelector(IGuardianVeto.GuardianVetoNotGuardian.selector, guardian));
        vm.prank(guardian);
        _veto(next);
        vm.prank(newGuardian);
        _veto(next);
        assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Canceled), "new guardian vetoed");
    }

    function test_setGuardian_revertsForAnyoneButTheTimelock() public {
        address[3] memory others = [guardian, address(governor), alice];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IGuardianVeto.GuardianVetoNotTimelock.selector, others[i]));
            vm.prank(others[i]);
            veto.setGuardian(others[i]);
        }
        assertEq(veto.guardian(), guardian, "unchanged");
    }

    function test_setGuardian_noneLeavesNobodyToVeto() public {
        vm.prank(address(timelock));
        veto.setGuardian(address(0));
        Op memory op = _activate();
        op.description = _suffixed("Activate resnet-50 v1", alice);
        _queue(op);
        vm.expectRevert(abi.encodeWithSelector(IGuardianVeto.GuardianVetoNotGuardian.selector, address(0)));
        vm.prank(address(0));
        _veto(op);
    }
}
