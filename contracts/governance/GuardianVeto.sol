// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IGuardianVeto} from "../interfaces/IGuardianVeto.sol";

/// @title GuardianVeto
/// @notice Holds the timelock's CANCELLER_ROLE so that the guardian can veto a queued proposal
/// during the timelock delay. The guardian can only cancel; the DAO replaces it by vote.
/// @dev Operations made only of guardian-management calls cannot be vetoed. An operation that
/// mixes such a call with anything else can: if a single role change protected the whole
/// operation, a captured DAO would add one to every proposal and the veto would be void.
contract GuardianVeto is IGuardianVeto {
    bytes32 private constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 private constant CANCELLER_ROLE = keccak256("CANCELLER_ROLE");

    TimelockController private immutable _timelock;
    address private _guardian;

    /// @param timelock_ The DAO's timelock; this contract must be granted its CANCELLER_ROLE.
    /// @param guardian_ The first guardian; address(0) for none.
    constructor(TimelockController timelock_, address guardian_) {
        _timelock = timelock_;
        _guardian = guardian_;
        emit GuardianChanged(address(0), guardian_);
    }

    /// @inheritdoc IGuardianVeto
    function timelock() external view returns (address) {
        return address(_timelock);
    }

    /// @inheritdoc IGuardianVeto
    function guardian() external view returns (address) {
        return _guardian;
    }

    /// @inheritdoc IGuardianVeto
    function protectedCall(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads
    ) public view returns (bool isProtected, uint256 index) {
        uint256 n = targets.length;
        // A scheduled operation always has equal lengths; anything else is not one the veto guards.
        if (n == 0 || values.length != n || payloads.length != n) return (false, 0);
        for (uint256 i = 0; i < n; ++i) {
            if (!_managesGuardian(targets[i], values[i], payloads[i])) return (false, 0);
        }
        return (true, 0);
    }

    /// @inheritdoc IGuardianVeto
    function veto(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt
    ) external {
        if (msg.sender != _guardian || msg.sender == address(0)) revert GuardianVetoNotGuardian(msg.sender);
        bytes32 id = _timelock.hashOperationBatch(targets, values, payloads, predecessor, salt);
        if (!_timelock.isOperationPending(id)) revert GuardianVetoNotPending(id);
        (bool isProtected, uint256 index) = protectedCall(targets, values, payloads);
        if (isProtected) revert GuardianVetoProtectedCall(index);
        _timelock.cancel(id);
        emit Vetoed(id, msg.sender);
    }

    /// @inheritdoc IGuardianVeto
    function setGuardian(address newGuardian) external {
        if (msg.sender != address(_timelock)) revert GuardianVetoNotTimelock(msg.sender);
        address previous = _guardian;
        _guardian = newGuardian;
        emit GuardianChanged(previous, newGuardian);
    }

    /// @dev A call that only appoints, removes or replaces a guardian or a canceller: a call to
    /// this contract, or grantRole/revokeRole/renounceRole of GUARDIAN_ROLE or CANCELLER_ROLE,
    /// carrying no value and nothing beyond its two arguments.
    function _managesGuardian(address target, uint256 value, bytes calldata payload) private view returns (bool) {
        if (value != 0) return false;
        if (target == address(this)) return true;
        if (payload.length != 68) return false;
        bytes4 selector = bytes4(payload[:4]);
        if (
            selector != IAccessControl.grantRole.selector &&
            selector != IAccessControl.revokeRole.selector &&
            selector != IAccessControl.renounceRole.selector
        ) return false;
        bytes32 role = bytes32(payload[4:36]);
        return role == GUARDIAN_ROLE || role == CANCELLER_ROLE;
    }
}
