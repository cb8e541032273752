// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IGuardianPausable} from "../interfaces/IGuardianPausable.sol";

/// @title GuardianPausable
/// @notice Access model shared by every Conclave contract. `DEFAULT_ADMIN_ROLE` belongs to the
/// DAO's timelock; `GUARDIAN_ROLE` may pause the intake of new work (never move funds, never
/// unpause); only the DAO unpauses and (re)assigns the guardian with `grantRole`/`revokeRole`.
/// @dev The pause flag is OpenZeppelin's {Pausable} (the same storage slot, events, errors and
/// modifiers) written out here: inheriting {Pausable} beside {IGuardianPausable} would define
/// `paused()` twice, and the override that resolves it costs every paused check an extra call.
abstract contract GuardianPausable is IGuardianPausable, AccessControl {
    /// @inheritdoc IGuardianPausable
    bytes32 public constant override GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    bool private _paused;

    modifier whenNotPaused() {
        _requireNotPaused();
        _;
    }

    modifier whenPaused() {
        _requirePaused();
        _;
    }

    /// @param admin Initial holder of `DEFAULT_ADMIN_ROLE` (the timelock, or a deployer that hands
    /// the role to the timelock and renounces it once wiring is done).
    /// @param guardian Initial guardian; address(0) for none.
    constructor(address admin, address guardian) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (guardian != address(0)) _grantRole(GUARDIAN_ROLE, guardian);
    }

    /// @inheritdoc IGuardianPausable
    function pause() external {
        if (!hasRole(GUARDIAN_ROLE, msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, GUARDIAN_ROLE);
        }
        _pause();
    }

    /// @inheritdoc IGuardianPausable
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    /// @inheritdoc IGuardianPausable
    function paused() public view virtual returns (bool) {
        return _paused;
    }

    function _requireNotPaused() internal view virtual {
        if (paused()) revert EnforcedPause();
    }

    function _requirePaused() internal view virtual {
        if (!paused()) revert ExpectedPause();
    }

    function _pause() internal virtual whenNotPaused {
        _paused = true;
        emit Paused(_msgSender());
    }

    function _unpause() internal virtual whenPaused {
        _paused = false;
        emit Unpaused(_msgSender());
    }
}
