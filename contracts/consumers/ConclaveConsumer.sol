// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IInferenceMarket, IInferenceMarketTypes} from "../interfaces/IInferenceMarket.sol";
import {IConclaveConsumer} from "./IConclaveConsumer.sol";
import {ConsumerRouter} from "./ConsumerRouter.sol";

/// @title ConclaveConsumer
/// @notice Base of a contract that pays for inference on the market and receives the verified
/// result in a callback ({_fulfill}). The contract is the job's client: it requests the job
/// itself ({_requestInference}, ETH or an allowed ERC-20, any k), so the market credits it any
/// refund, unused escrow or slash compensation ({_withdrawFromMarket}); in the same call it
/// deposits the callback's gas at its price cap into the {ConsumerRouter}, whose unused part is
/// credited to it there ({_withdrawFromRouter}). A job that ends without a result frees the
/// deposit through {ConsumerRouter-reclaim}.
/// @dev The inheriting contract must hold the ETH (or tokens) it spends: the escrow and the
/// deposit. It implements {_fulfill}; a callback that reverts or runs out of gas is recorded by
/// the router and can be retried ({ConsumerRouter-retryCallback}), so {_fulfill} may revert on
/// outputs it cannot use without losing anything but the callback's gas.
abstract contract ConclaveConsumer is IConclaveConsumer {
    using SafeERC20 for IERC20;

    /// @notice The market jobs are requested on.
    IInferenceMarket public immutable market;

    /// @notice The router that delivers results.
    ConsumerRouter public immutable router;

    /// @notice Only the router may deliver results; `caller` is not it.
    error ConclaveConsumerOnlyRouter(address caller);

    /// @notice The router was deployed for another market (`routerMarket`).
    error ConclaveConsumerRouterMismatch(address routerMarket);

    /// @param router_ The router (its market is the market).
    constructor(ConsumerRouter router_) {
        IInferenceMarket m = router_.market();
        if (address(m) == address(0)) revert ConclaveConsumerRouterMismatch(address(m));
        router = router_;
        market = m;
    }

    /// @notice Accepts ETH: withdrawals from the market and the router, and funding.
    receive() external payable virtual {}

    /// @inheritdoc IConclaveConsumer
    function rawFulfill(uint256 jobId, bytes32 resultHash, bytes calldata outputs) external {
        if (msg.sender != address(router)) revert ConclaveConsumerOnlyRouter(msg.sender);
        _fulfill(jobId, resultHash, outputs);
    }

    /// @notice Receives a job's final result (see {IConclaveConsumer-rawFulfill}).
    /// @param jobId The job.
    /// @param resultHash The final canonical result hash.
    /// @param outputs The canonical preimage (decode with {CanonicalOutputs}), or empty (hash only).
    function _fulfill(uint256 jobId, bytes32 resultHash, bytes calldata outputs) internal virtual;

    /// @notice Requests a job and funds its callback: escrows the job's fee from this contract's
    /// balance (ETH, or an allowed ERC-20 approved to the market here) and deposits
    /// `(callbackGasLimit + FULFIL_OVERHEAD) × maxGasPrice` wei with the router.
    /// @param request The job (`request.token` address(0) for ETH).
    /// @param callbackGasLimit The gas {_fulfill} gets (measure it; 1 to the router's maximum).
    /// @param maxGasPrice The highest gas price the fulfiller is reimbursed at.
    /// @return jobId The market's job id.
    function _requestInference(
        IInferenceMarketTypes.JobRequest memory request,
        uint32 callbackGasLimit,
        uint128 maxGasPrice
    ) internal returns (uint256 jobId) {
        uint256 escrow = market.escrowOf(request.redundancy, request.feePerProvider, market.policy().protocolFeeBps);
        if (request.token == address(0)) {
            jobId = market.requestJob{value: escrow}(request);
        } else {
            IERC20(request.token).forceApprove(address(market), escrow);
            jobId = market.requestJob(request);
        }
        router.deposit{value: router.depositFor(callbackGasLimit, maxGasPrice)}(jobId, callbackGasLimit, maxGasPrice);
    }

    /// @notice Withdraws this contract's market balance of `token` (refunds, unused escrow,
    /// slash compensation) to `to`.
    /// @param token The token, address(0) for ETH.
    /// @param to The recipient (this contract to keep it).
    /// @return amount What was sent.
    function _withdrawFromMarket(address token, address to) internal returns (uint256 amount) {
        return market.withdrawTo(token, to);
    }

    /// @notice Withdraws this contract's router credits (unused callback deposits) to `to`.
    /// @param to The recipient (this contract to keep it).
    /// @return amount What was sent.
    function _withdrawFromRouter(address to) internal returns (uint256 amount) {
        return router.withdrawTo(to);
    }
}
