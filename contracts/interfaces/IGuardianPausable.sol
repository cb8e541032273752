// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title IGuardianPausable
/// @notice The access model every Conclave contract shares (see {GuardianPausable}):
/// `DEFAULT_ADMIN_ROLE` is the DAO's timelock, which grants and revokes roles; `GUARDIAN_ROLE`
/// may pause the intake of new work, and only the DAO unpauses. The events and errors are
/// OpenZeppelin's {Pausable}'s, with the same signatures.
interface IGuardianPausable is IAccessControl {
    /// @notice `account` paused the intake of new work.
    event Paused(address account);
    /// @notice `account` resumed the intake of new work.
    event Unpaused(address account);

    /// @notice The call takes new work, which is paused.
    error EnforcedPause();
    /// @notice The call needs the intake of new work paused, and it is not.
    error ExpectedPause();

    /// @notice The role allowed to pause.
    /// @return The role's id, keccak256("GUARDIAN_ROLE").
    function GUARDIAN_ROLE() external view returns (bytes32); // solhint-disable-line func-name-mixedcase

    /// @notice Stops the intake of new work (never moves funds). Callable by the guardian or the DAO.
    function pause() external;

    /// @notice Resumes the intake of new work. Callable by the DAO only.
    function unpause() external;

    /// @notice Whether the intake of new work is paused.
    /// @return True if paused.
    function paused() external view returns (bool);
}
