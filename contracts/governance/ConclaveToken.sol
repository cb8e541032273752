// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title ConclaveToken
/// @notice The DAO's voting token (ERC20 + ERC20Permit + ERC20Votes). The whole supply is minted
/// once at deployment to the initial holders; there is no owner and no later minting.
/// @dev The clock is the block timestamp (ERC-6372 `mode=timestamp`), so governance delays are
/// expressed in seconds on every chain, including L2s with irregular block times.
contract ConclaveToken is ERC20, ERC20Permit, ERC20Votes {
    /// @notice The holders and amounts arrays differ in length.
    error ConclaveTokenLengthMismatch(uint256 holders, uint256 amounts);

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param holders Initial holders.
    /// @param amounts Amount minted to each holder (18 decimals).
    constructor(
        string memory name_,
        string memory symbol_,
        address[] memory holders,
        uint256[] memory amounts
    ) ERC20(name_, symbol_) ERC20Permit(name_) {
        if (holders.length != amounts.length) revert ConclaveTokenLengthMismatch(holders.length, amounts.length);
        for (uint256 i = 0; i < holders.length; ++i) {
            _mint(holders[i], amounts[i]);
        }
    }

    /// @notice The current timepoint of the votes clock: the block timestamp.
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @notice Describes the clock (ERC-6372).
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }
}
