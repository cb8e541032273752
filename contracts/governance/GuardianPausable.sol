// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @title GuardianPausable
/// @notice Access model shared by every Conclave contract. `DEFAULT_ADMIN_ROLE` belongs to the
/// DAO's timelock; `GUARDIAN_ROLE` may pause the intake of new work (never move funds, never
/// unpause); only the DAO unpauses and (re)assigns the guardian with `grantRole`/`revokeRole`.
abstract contract GuardianPausable is AccessControl, Pausable {
    /// @notice Role allowed to pause.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @param admin Initial holder of `DEFAULT_ADMIN_ROLE` (the timelock, or a deployer that hands
    /// the role to the timelock and renounces it once wiring is done).
    /// @param guardian Initial guardian; address(0) for none.
    constructor(address admin, address guardian) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (guardian != address(0)) _grantRole(GUARDIAN_ROLE, guardian);
    }

    /// @notice Stops the intake of new work. Callable by the guardian or the DAO.
    function pause() external {
        if (!hasRole(GUARDIAN_ROLE, msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, GUARDIAN_ROLE);
        }
        _pause();
    }

    /// @notice Resumes the intake of new work. Callable by the DAO only.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }
}
