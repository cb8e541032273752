// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceMarketTypes} from "../interfaces/IInferenceMarket.sol";
import {ConclaveConsumer} from "../consumers/ConclaveConsumer.sol";
import {ConsumerRouter} from "../consumers/ConsumerRouter.sol";

/// @title SwitchConsumer
/// @notice A test consumer whose callback records what it got, or reverts, or burns all its gas,
/// as switched ({setMode}). Anyone may use it: never deploy it to a real chain.
contract SwitchConsumer is ConclaveConsumer {
    /// @notice The callback records the result.
    uint8 public constant RECORD = 0;
    /// @notice The callback reverts with {SwitchConsumerRefused}.
    uint8 public constant REVERT = 1;
    /// @notice The callback loops until it runs out of gas.
    uint8 public constant BURN = 2;

    /// @notice What the callback does now.
    uint8 public mode;
    /// @notice Callbacks that returned.
    uint256 public calls;
    /// @notice Times each job was delivered (returned).
    mapping(uint256 jobId => uint256) public deliveries;
    /// @notice The result hash each job's callback got.
    mapping(uint256 jobId => bytes32) public resultHashes;
    /// @notice keccak256 of the outputs each job's callback got (of empty bytes for a hash only).
    mapping(uint256 jobId => bytes32) public outputsHashes;
    /// @notice The length of the outputs each job's callback got.
    mapping(uint256 jobId => uint256) public outputsLengths;

    /// @notice The callback of job `jobId` refused it (mode {REVERT}).
    error SwitchConsumerRefused(uint256 jobId);

    /// @notice A request was made: job `jobId`.
    event Requested(uint256 indexed jobId);

    /// @param router_ The consumer router.
    constructor(ConsumerRouter router_) ConclaveConsumer(router_) {}

    /// @notice Sets what the callback does.
    /// @param mode_ {RECORD}, {REVERT} or {BURN}.
    function setMode(uint8 mode_) external {
        mode = mode_;
    }

    /// @notice Requests a job paid from this contract's balance and funds its callback.
    /// @param r The job.
    /// @param callbackGasLimit The callback's gas.
    /// @param maxGasPrice The gas price cap.
    /// @return jobId The job.
    function request(
        IInferenceMarketTypes.JobRequest calldata r,
        uint32 callbackGasLimit,
        uint128 maxGasPrice
    ) external returns (uint256 jobId) {
        jobId = _requestInference(r, callbackGasLimit, maxGasPrice);
        emit Requested(jobId);
    }

    /// @notice Withdraws this contract's market and router credits into it.
    function withdrawAll() external {
        if (market.balanceOf(address(this), address(0)) != 0) _withdrawFromMarket(address(0), address(this));
        if (router.balanceOf(address(this)) != 0) _withdrawFromRouter(address(this));
    }

    /// @inheritdoc ConclaveConsumer
    function _fulfill(uint256 jobId, bytes32 resultHash, bytes calldata outputs) internal override {
        uint8 m = mode;
        if (m == REVERT) revert SwitchConsumerRefused(jobId);
        if (m == BURN) {
            // solhint-disable-next-line no-empty-blocks
            while (true) {}
        }
        ++calls;
        ++deliveries[jobId];
        resultHashes[jobId] = resultHash;
        outputsHashes[jobId] = keccak256(outputs);
        outputsLengths[jobId] = outputs.length;
    }
}
