// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IInferenceMarketTypes} from "../interfaces/IInferenceMarket.sol";
import {ConclaveConsumer} from "../consumers/ConclaveConsumer.sol";
import {ConsumerRouter} from "../consumers/ConsumerRouter.sol";
import {CanonicalOutputs} from "../consumers/CanonicalOutputs.sol";

/// @title SpeechGate
/// @notice Example consumer: asks the sample model `silero-vad-v5` (Silero VAD v5, a 512-sample
/// 16 kHz frame and its recurrent state → a speech probability `output` F32[1, 1] and the next
/// state `stateN` F32[2, 1, 128]; see models/silero-vad-v5.schema.json) whether an audio frame
/// holds speech, and records the verdict on-chain. The probability arrives quantized with the
/// version's `outputQuantum` (10^14, i.e. 0.0001: 10,000 quanta = probability 1). A frame is
/// "speech" when its probability reaches {threshold}; {requireSpeech} gates an action on it.
/// @dev The owner funds the contract with ETH and submits frames ({submitFrame}): the job's
/// escrow and the callback's deposit are paid from the contract's balance. The outputs (about
/// 2.2 KB with `stateN`) must fit the router's `maxInlineOutputBytes`; a hash-only delivery
/// leaves the verdict pending until the outputs are delivered by a retry.
contract SpeechGate is ConclaveConsumer, Ownable {
    using CanonicalOutputs for bytes;

    /// @notice A frame's verdict.
    /// @param requested The frame was submitted (job `jobId` is this contract's).
    /// @param delivered The verdict is in.
    /// @param speech The probability reached the threshold.
    /// @param probability The speech probability in quanta (0 to 10,000).
    struct Verdict {
        bool requested;
        bool delivered;
        bool speech;
        int64 probability;
    }

    /// @notice The model: keccak256("silero-vad-v5") in the ModelRegistry.
    bytes32 public immutable modelId;

    /// @notice The probability, in quanta, at which a frame is speech (5,000 = 0.5).
    int64 public threshold;

    /// @notice The gas the callback is given (the decoding and the verdict's storage).
    uint32 public callbackGasLimit;

    /// @notice The highest gas price a fulfiller is reimbursed at.
    uint128 public maxGasPrice;

    /// @notice Verdicts by job id.
    mapping(uint256 jobId => Verdict) public verdicts;

    /// @notice A frame was submitted as job `jobId`, with `k` providers.
    event FrameSubmitted(uint256 indexed jobId, uint8 k);
    /// @notice Job `jobId`'s verdict: `probability` quanta, speech or not.
    event SpeechVerdict(uint256 indexed jobId, int64 probability, bool speech);
    /// @notice Job `jobId` was delivered as a hash only: the verdict waits for the outputs.
    event VerdictPending(uint256 indexed jobId, bytes32 resultHash);
    /// @notice The owner changed the threshold or the callback's gas terms.
    event SettingsSet(int64 threshold, uint32 callbackGasLimit, uint128 maxGasPrice);
    /// @notice An action gated on job `jobId`'s speech verdict ran.
    event GateOpened(uint256 indexed jobId, address indexed caller);

    /// @notice Job `jobId` is not a frame of this contract, or its verdict is in already.
    error SpeechGateUnexpectedJob(uint256 jobId);
    /// @notice The outputs of job `jobId` have no `output` tensor.
    error SpeechGateNoProbability(uint256 jobId);
    /// @notice Job `jobId`'s frame is not speech (yet): `probability` quanta, `delivered` or not.
    error SpeechGateNotSpeech(uint256 jobId, int64 probability, bool delivered);
    /// @notice Sending `amount` wei to `to` failed.
    error SpeechGateEthTransferFailed(address to, uint256 amount);
    /// @notice The threshold `threshold` is outside [0, 10,000] quanta.
    error SpeechGateThresholdOutOfBounds(int64 threshold);

    /// @param router_ The consumer router (its market is the market).
    /// @param modelId_ The silero-vad-v5 model id.
    /// @param owner_ Who submits frames and withdraws.
    /// @param threshold_ The speech threshold in quanta.
    /// @param callbackGasLimit_ The callback's gas.
    /// @param maxGasPrice_ The callback's gas price cap.
    constructor(
        ConsumerRouter router_,
        bytes32 modelId_,
        address owner_,
        int64 threshold_,
        uint32 callbackGasLimit_,
        uint128 maxGasPrice_
    ) ConclaveConsumer(router_) Ownable(owner_) {
        modelId = modelId_;
        _setSettings(threshold_, callbackGasLimit_, maxGasPrice_);
    }

    /// @notice Asks `k` providers whether a frame holds speech, paying `feePerProvider` wei each
    /// and the callback's deposit from this contract's balance.
    /// @param input The frame as the model's safetensors input (`input`, `state`, `sr`) inline,
    /// or empty when `inputCid` is given.
    /// @param inputCid The input's IPFS CID, or empty.
    /// @param k How many providers (1: one, with the challenge window; 3: a quorum).
    /// @param feePerProvider The fee per provider in wei.
    /// @param deadline The job's deadline.
    /// @return jobId The job.
    function submitFrame(
        bytes calldata input,
        string calldata inputCid,
        uint8 k,
        uint96 feePerProvider,
        uint40 deadline
    ) external onlyOwner returns (uint256 jobId) {
        IInferenceMarketTypes.JobRequest memory r;
        r.modelId = modelId;
        r.redundancy = k;
        r.feePerProvider = feePerProvider;
        r.deadline = deadline;
        r.input = input;
        r.inputCid = inputCid;
        jobId = _requestInference(r, callbackGasLimit, maxGasPrice);
        verdicts[jobId].requested = true;
        emit FrameSubmitted(jobId, k);
    }

    /// @notice Runs only for a frame judged speech: the gate's action (here an event).
    /// @param jobId The frame's job.
    function requireSpeech(uint256 jobId) external {
        Verdict memory v = verdicts[jobId];
        if (!v.speech) revert SpeechGateNotSpeech(jobId, v.probability, v.delivered);
        emit GateOpened(jobId, msg.sender);
    }

    /// @notice Sets the threshold and the callback's gas terms (for frames submitted later).
    /// @param threshold_ The threshold in quanta (0 to 10,000).
    /// @param callbackGasLimit_ The callback's gas.
    /// @param maxGasPrice_ The gas price cap.
    function setSettings(int64 threshold_, uint32 callbackGasLimit_, uint128 maxGasPrice_) external onlyOwner {
        _setSettings(threshold_, callbackGasLimit_, maxGasPrice_);
    }

    /// @notice Withdraws refunds and unused escrow from the market, unused deposits from the
    /// router, and the contract's balance, to `to`.
    /// @param to The recipient.
    function withdrawAll(address payable to) external onlyOwner {
        if (market.balanceOf(address(this), address(0)) != 0) _withdrawFromMarket(address(0), address(this));
        if (router.balanceOf(address(this)) != 0) _withdrawFromRouter(address(this));
        uint256 amount = address(this).balance;
        (bool ok, ) = to.call{value: amount}("");
        if (!ok) revert SpeechGateEthTransferFailed(to, amount);
    }

    /// @inheritdoc ConclaveConsumer
    function _fulfill(uint256 jobId, bytes32 resultHash, bytes calldata outputs) internal override {
        Verdict storage v = verdicts[jobId];
        if (!v.requested || v.delivered) revert SpeechGateUnexpectedJob(jobId);
        if (outputs.length == 0) {
            emit VerdictPending(jobId, resultHash);
            return;
        }
        bytes memory preimage = outputs;
        (bool found, CanonicalOutputs.Output memory out) = preimage.find("output");
        if (!found || out.count == 0) revert SpeechGateNoProbability(jobId);
        int64 probability = preimage.element(out, 0);
        bool speech = probability >= threshold;
        (v.delivered, v.speech, v.probability) = (true, speech, probability);
        emit SpeechVerdict(jobId, probability, speech);
    }

    function _setSettings(int64 threshold_, uint32 callbackGasLimit_, uint128 maxGasPrice_) private {
        if (threshold_ < 0 || threshold_ > 10_000) revert SpeechGateThresholdOutOfBounds(threshold_);
        // The router checks the gas terms at each deposit.
        router.depositFor(callbackGasLimit_, maxGasPrice_);
        (threshold, callbackGasLimit, maxGasPrice) = (threshold_, callbackGasLimit_, maxGasPrice_);
        emit SettingsSet(threshold_, callbackGasLimit_, maxGasPrice_);
    }
}
