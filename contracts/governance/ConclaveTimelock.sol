// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title ConclaveTimelock
/// @notice OpenZeppelin's TimelockController, unchanged; it holds the DAO treasury and is the
/// admin of every Conclave contract. Named here only so that it gets a build artifact.
contract ConclaveTimelock is TimelockController {
    /// @param minDelay Seconds between queueing and execution.
    /// @param proposers Accounts granted the proposer and canceller roles.
    /// @param executors Accounts granted the executor role (address(0): anyone may execute).
    /// @param admin Optional bootstrap admin, which must renounce after wiring (address(0): none).
    constructor(
        uint256 minDelay,
        address[] memory proposers,
        address[] memory executors,
        address admin
    ) TimelockController(minDelay, proposers, executors, admin) {}
}
