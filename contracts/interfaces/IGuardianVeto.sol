// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IGuardianVeto
/// @notice The guardian's veto over operations queued in the DAO's timelock. The veto contract is
/// a canceller of the timelock, and the guardian acts through it: the guardian can cancel a queued
/// operation, but cannot propose, execute or move funds. It cannot block its own replacement:
/// operations made only of guardian-management calls cannot be vetoed, and the DAO replaces the
/// guardian by vote.
interface IGuardianVeto {
    /// @notice The guardian cancelled a pending timelock operation.
    /// @param operationId The timelock's id of the operation (`hashOperationBatch`).
    /// @param guardian The guardian that vetoed it.
    event Vetoed(bytes32 indexed operationId, address indexed guardian);

    /// @notice The DAO replaced the guardian.
    /// @param previousGuardian The guardian until now (address(0): none).
    /// @param newGuardian The guardian from now on (address(0): none, nobody can veto).
    event GuardianChanged(address indexed previousGuardian, address indexed newGuardian);

    /// @notice The caller is not the guardian.
    /// @param caller The account that tried to veto.
    error GuardianVetoNotGuardian(address caller);

    /// @notice The caller is not the timelock; only the DAO replaces the guardian.
    /// @param caller The account that tried to set the guardian.
    error GuardianVetoNotTimelock(address caller);

    /// @notice The operation is not pending in the timelock (never scheduled, already executed
    /// or already cancelled).
    /// @param operationId The id computed from the call's arguments.
    error GuardianVetoNotPending(bytes32 operationId);

    /// @notice Every call of the operation manages the guardian itself (a call to this contract,
    /// or a role change of GUARDIAN_ROLE or CANCELLER_ROLE without value): vetoing it would let
    /// the guardian block its own replacement.
    /// @param index The first such call of the operation.
    error GuardianVetoProtectedCall(uint256 index);

    /// @notice The timelock whose operations the guardian can veto.
    function timelock() external view returns (address);

    /// @notice The current guardian; address(0) when there is none.
    function guardian() external view returns (address);

    /// @notice Whether `veto` would refuse this operation as protected, and the index it would name.
    /// @param targets The operation's call targets.
    /// @param values The operation's call values (wei).
    /// @param payloads The operation's calldata.
    /// @return isProtected True when every call of the operation manages the guardian.
    /// @return index The index `GuardianVetoProtectedCall` would carry (0 when not protected).
    function protectedCall(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads
    ) external view returns (bool isProtected, uint256 index);

    /// @notice Cancels a pending timelock operation. Only the guardian. The arguments are those
    /// the operation was scheduled with; for a governor proposal the predecessor is 0 and the salt
    /// is `bytes20(governor) ^ descriptionHash` (GovernorTimelockControl), after which the
    /// governor reports the proposal as Canceled.
    /// @param targets The operation's call targets.
    /// @param values The operation's call values (wei).
    /// @param payloads The operation's calldata.
    /// @param predecessor The operation's predecessor id.
    /// @param salt The operation's salt.
    function veto(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt
    ) external;

    /// @notice Replaces the guardian. Only the timelock (a DAO vote). address(0) leaves no guardian.
    /// @param newGuardian The new guardian.
    function setGuardian(address newGuardian) external;
}
