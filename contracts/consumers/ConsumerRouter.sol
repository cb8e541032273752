// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IInferenceMarket, IInferenceMarketTypes} from "../interfaces/IInferenceMarket.sol";
import {JobWords} from "../market/JobWords.sol";
import {IConclaveConsumer} from "./IConclaveConsumer.sol";

/// @title ConsumerRouter
/// @notice Delivers the final results of market jobs to the contracts that requested them
/// ("consumers", see {ConclaveConsumer}), and pays whoever delivers for the fulfil's gas out of a
/// deposit the consumer made for that job.
///
/// A consumer requests a job on the market itself (it is the job's client: refunds, slash
/// compensation and unused escrow are credited to it by the market), then deposits
/// `(callbackGasLimit + FULFIL_OVERHEAD) × maxGasPrice` wei here for that job ({deposit}).
/// Once the market says a result is final ({IInferenceMarket-isFinalResult}), anyone (runners,
/// as a service) calls {fulfill} with the outputs: the router checks them against the result
/// hash (the canonical result hash is keccak256 of its preimage, and the preimage is what the
/// consumer receives) and calls the consumer's `rawFulfill` with exactly `callbackGasLimit` gas,
/// after the market's state is final, so a callback can neither block a settlement nor the
/// providers' pay. A callback that reverts or runs out of gas does not revert the fulfil: it is
/// recorded ({CallbackFailed}) and anyone may {retryCallback} later, at its own cost. The
/// fulfiller is credited `min(tx.gasprice, maxGasPrice) ×` the gas its transaction is charged
/// (measured: see {fulfilGas}), at most the deposit; the rest is credited to the consumer in the
/// same transaction. A job that ends without a result (refunded or cancelled) lets anyone
/// {reclaim} the deposit for the consumer. Credits are withdrawn ({withdraw}, {withdrawTo}).
///
/// Invariant: the router's ETH balance equals the deposits of funded jobs plus the credited,
/// unwithdrawn balances.
/// @dev Residual risks, accepted: (1) the router cannot tell a preimage's size from its hash, so
/// a fulfiller may deliver a small result as a hash only (empty outputs); the job's status is
/// then {CallbackStatus.HashOnly} and anyone may later deliver the outputs with
/// {retryCallback} (once). (2) A deposit for a job whose client is not the depositor can never be
/// fulfilled ({ConsumerRouterNotClient}); it is reclaimable only if that job is refunded. Such
/// a deposit also takes the job's only slot, so a consumer that requested in one transaction
/// and deposits in a later one can be blocked ({ConsumerRouterAlreadyFunded}). The
/// {ConclaveConsumer} base requests and deposits in one call, so its deposits always name its
/// own job and cannot be pre-empted (a job id that does not exist yet cannot be funded). (3) A
/// fulfil that costs more than the deposit (a callback that used its whole limit plus outputs
/// larger than {FULFIL_OVERHEAD} was sized for, see there) is reimbursed the deposit only: the
/// fulfiller bears the rest, so runners deliver such outputs as a hash. (4) Only a fulfil sent
/// by an account without code straight to the router ({fulfill} called by `tx.origin`) is
/// reimbursed the transaction's whole gas: the 21,000 base, its calldata, the credits and the
/// fresh slots. A fulfil through a contract (a batch, a wrapper, an EIP-7702-delegated account) is
/// reimbursed its measured execution only: such a caller builds the router's calldata in memory
/// and may write its credit slots earlier in the transaction, so neither is the router's to price.
/// The calldata must be the canonical encoding ({ConsumerRouterNonCanonicalCalldata}): padding
/// after the outputs would otherwise be reimbursed as calldata. An access list's intrinsic cost is
/// not reimbursed (its warm accesses are cheaper and measured as such); gas refunds the callback
/// earns lower what the fulfiller pays but not what it is reimbursed; a credit that is not written
/// (the consumer's when the fulfil takes the whole deposit) is counted all the same. On a rollup
/// the L1 data fee is not reimbursed.
contract ConsumerRouter is AccessControl, ReentrancyGuardTransient {
    /// @notice Where a job's callback stands.
    /// None: no deposit. Funded: deposited, not fulfilled. Delivered: the callback ran with the
    /// outputs (or the hash only, then retried with the outputs). HashOnly: the callback ran
    /// with the hash only; a retry may deliver the outputs. Failed: the callback reverted or ran
    /// out of gas; a retry may deliver. Reclaimed: the job ended without a result and the deposit
    /// went back to the consumer.
    enum CallbackStatus {
        None,
        Funded,
        Delivered,
        HashOnly,
        Failed,
        Reclaimed
    }

    /// @notice A funded callback: one storage slot. The deposit is not stored: it is
    /// {depositFor}`(callbackGasLimit, maxGasPrice)` while the status is Funded, else 0.
    /// @param consumer Who deposited (must be the job's client to be fulfilled).
    /// @param callbackGasLimit The gas the callback gets.
    /// @param status See {CallbackStatus}.
    /// @param maxGasPrice The highest gas price reimbursed, in wei (at most {MAX_GAS_PRICE} < 2^56).
    struct Request {
        address consumer;
        uint32 callbackGasLimit;
        CallbackStatus status;
        uint56 maxGasPrice;
    }

    /// @notice The deposit's headroom on top of the callback's gas limit: what a fulfil costs
    /// beside its callback in the worst realistic case. The deposit is
    /// `(callbackGasLimit + FULFIL_OVERHEAD) × maxGasPrice`; a fulfil is reimbursed the gas it is
    /// charged ({fulfilGas}), at most that. Measured with real transactions
    /// (test/market/router-reimbursement.test.ts): the fulfiller's and the consumer's first
    /// credits (two fresh slots), a callback that runs out of gas (its whole limit; the result is
    /// stored for a retry) and 4,096 bytes of non-zero outputs in calldata (the default
    /// {maxInlineOutputBytes}) are charged 196,475 gas beside the callback's limit; with a cheap
    /// callback that reverts, 199,809 in all. A 256-byte revert reason adds about 2,200, job words
    /// with more non-zero bytes up to about 1,500: 220,000 covers these. A typical fulfil, warm
    /// credits and silero-vad-v5's 2,164-byte preimage: 91,345 beside the callback (bench). A
    /// fulfil that costs more than the deposit (outputs beyond 4 KB, which the DAO may allow up to
    /// {MAX_INLINE_OUTPUT_BYTES}, with a callback that uses most of its limit) is reimbursed the
    /// deposit and no more: runners deliver outputs above 4,096 bytes as a hash
    /// (node/consumers/fulfil-policy.ts).
    uint256 public constant FULFIL_OVERHEAD = 220_000;

    /// @notice The gas of a fulfil transaction that {fulfill} cannot measure with `gasleft()`, for
    /// two credits to non-zero balances: the 21,000 base cost; before the measurement starts, the
    /// call's dispatch, argument decoding and re-entrancy guard; after it ends, the reimbursement's
    /// arithmetic, the two credits (SSTORE 2,900 each: their slots were read, warm, before the
    /// end), {CallbackReimbursed} (about 2,650) and the return. Measured so that {fulfilGas}
    /// equals the receipt's gas used of every fulfil in test/market/router-reimbursement.test.ts
    /// (first and later credits, hash only, reverting and out-of-gas callbacks, outputs from none
    /// to 64 KB): it does not vary with them.
    uint256 public constant FULFIL_FIXED_GAS = 32_903;

    /// @notice The extra gas of a credit written to a fresh (zero) balance slot: SSTORE from zero
    /// costs 20,000 instead of 2,900 (EIP-2200, EIP-2929).
    uint256 public constant FRESH_CREDIT_GAS = 17_100;

    /// @notice The gas a transaction pays per calldata token (EIP-2028: 16 a non-zero byte, 4 a
    /// zero byte, i.e. 4 a token where a non-zero byte is 4 tokens).
    uint256 public constant CALLDATA_TOKEN_GAS = 4;

    /// @notice EIP-7623's floor: a transaction is charged at least 21,000 + 10 a calldata token.
    uint256 public constant CALLDATA_FLOOR_TOKEN_GAS = 10;

    /// @notice A transaction's base cost.
    uint256 public constant TX_BASE_GAS = 21_000;

    /// @notice The largest callback gas limit a consumer may fund.
    uint256 public constant MAX_CALLBACK_GAS_LIMIT = 5_000_000;

    /// @notice The largest gas price cap a consumer may set: 10^6 gwei.
    uint256 public constant MAX_GAS_PRICE = 1e15;

    /// @notice Bounds of {maxInlineOutputBytes}.
    uint256 public constant MIN_INLINE_OUTPUT_BYTES = 256;

    /// @notice Bounds of {maxInlineOutputBytes}.
    uint256 public constant MAX_INLINE_OUTPUT_BYTES = 64 * 1024;

    /// @dev Gas kept for the CALL itself (cold account access) and the check before it.
    uint256 private constant CALL_RESERVE = 5_000;

    /// @dev Gas kept for the bookkeeping after the callback (two credits, a failure's status and
    /// result, the events).
    uint256 private constant POST_CALL_RESERVE = 90_000;

    /// @dev Gas kept for the bookkeeping after a retried callback (status, event).
    uint256 private constant RETRY_RESERVE = 10_000;

    /// @dev Where {fulfill}'s outputs start in canonical calldata: the selector, a 10-word head
    /// (jobId, job's 6 words, provider, resultHash, the outputs' offset) and their length word.
    uint256 private constant CANONICAL_OUTPUTS_OFFSET = 4 + 11 * 32;

    /// @dev The most bytes of a failed callback's revert data recorded in {CallbackFailed}.
    uint256 private constant MAX_REASON_BYTES = 256;

    /// @notice The market whose jobs this router delivers.
    IInferenceMarket public immutable market;

    /// @notice The largest outputs delivered inline; larger results are delivered as their hash
    /// only (empty outputs). DAO-set within [MIN_INLINE_OUTPUT_BYTES, MAX_INLINE_OUTPUT_BYTES].
    uint256 public maxInlineOutputBytes;

    mapping(uint256 jobId => Request) private _requests;

    /// @dev The result of a job whose callback may be retried (Failed or HashOnly); not written
    /// on a successful delivery with the outputs.
    mapping(uint256 jobId => bytes32) private _retryHashes;

    mapping(address account => uint256) private _balances;

    /// @notice `consumer` deposited `deposit` wei for the callback of job `jobId`.
    event CallbackFunded(
        uint256 indexed jobId,
        address indexed consumer,
        uint32 callbackGasLimit,
        uint128 maxGasPrice,
        uint256 deposit
    );
    /// @notice The consumer's callback of job `jobId` ran and returned: with the outputs
    /// (`hashOnly` false) or the hash only. `gasUsed` is the callback's gas; `retry` whether it
    /// was delivered by {retryCallback}.
    event CallbackDelivered(uint256 indexed jobId, bytes32 resultHash, bool hashOnly, uint256 gasUsed, bool retry);
    /// @notice The consumer's callback of job `jobId` reverted (`reason`, its first 256 bytes of
    /// revert data) or ran out of gas (empty `reason`); it may be retried ({retryCallback}).
    event CallbackFailed(uint256 indexed jobId, bytes reason, uint256 gasUsed);
    /// @notice Job `jobId` was fulfilled by `fulfiller`: credited `reimbursed` wei for `gas` (the
    /// gas its transaction is charged, {fulfilGas}) at the price reimbursed, at most the deposit;
    /// the rest of the deposit, `refund`, was credited to `consumer`.
    event CallbackReimbursed(
        uint256 indexed jobId,
        address indexed fulfiller,
        address indexed consumer,
        uint256 reimbursed,
        uint256 refund,
        uint256 gas
    );
    /// @notice Job `jobId` ended without a result; its deposit, `amount`, was credited to `consumer`.
    event DepositReclaimed(uint256 indexed jobId, address indexed consumer, uint256 amount);
    /// @notice `account` withdrew `amount` wei of credits to `to`.
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    /// @notice The DAO set {maxInlineOutputBytes}.
    event MaxInlineOutputBytesSet(uint256 maxInlineOutputBytes);

    /// @notice No deposit was made for job `jobId`.
    error ConsumerRouterNotFunded(uint256 jobId);
    /// @notice A fulfil's calldata is not the canonical ABI encoding (the outputs right after the
    /// head, zero-padded, nothing after): its `length` bytes against the `expected` for its outputs.
    error ConsumerRouterNonCanonicalCalldata(uint256 length, uint256 expected);
    /// @notice Job `jobId` already has a deposit, by `consumer`.
    error ConsumerRouterAlreadyFunded(uint256 jobId, address consumer);
    /// @notice Job `jobId` does not exist yet (the market's next id is `nextJobId`).
    error ConsumerRouterUnknownJob(uint256 jobId, uint256 nextJobId);
    /// @notice The deposit must be exactly `required` wei; `paid` was sent.
    error ConsumerRouterIncorrectDeposit(uint256 jobId, uint256 paid, uint256 required);
    /// @notice A callback gas limit of `limit` is outside [1, `maximum`].
    error ConsumerRouterCallbackGasOutOfBounds(uint256 limit, uint256 maximum);
    /// @notice A gas price cap of `price` is outside [1, `maximum`].
    error ConsumerRouterGasPriceOutOfBounds(uint256 price, uint256 maximum);
    /// @notice The call is not allowed in the callback's `status`.
    error ConsumerRouterInvalidStatus(uint256 jobId, CallbackStatus status);
    /// @notice The job's client, `client`, is not `consumer`, who funded the callback.
    error ConsumerRouterNotClient(uint256 jobId, address client, address consumer);
    /// @notice The market does not hold `resultHash` as the job's final result (not final yet,
    /// another result, or other job parameters).
    error ConsumerRouterNotFinal(uint256 jobId, bytes32 resultHash);
    /// @notice The outputs hash to `outputsHash`, not to the job's result `resultHash`.
    error ConsumerRouterOutputsMismatch(uint256 jobId, bytes32 outputsHash, bytes32 resultHash);
    /// @notice `size` bytes of outputs exceed {maxInlineOutputBytes}, `maximum`: deliver the hash
    /// only (empty outputs).
    error ConsumerRouterOutputsTooLarge(uint256 jobId, uint256 size, uint256 maximum);
    /// @notice `available` gas cannot give the callback its full limit and finish (EIP-150's
    /// 63/64 rule); send at least `required`.
    error ConsumerRouterInsufficientGas(uint256 jobId, uint256 available, uint256 required);
    /// @notice The job did not end without a result: its market status is `status`.
    error ConsumerRouterJobNotRefunded(uint256 jobId, IInferenceMarketTypes.JobStatus status);
    /// @notice `account` has no credit to withdraw.
    error ConsumerRouterNothingToWithdraw(address account);
    /// @notice Sending `amount` wei to `to` failed.
    error ConsumerRouterEthTransferFailed(address to, uint256 amount);
    /// @notice An address was zero.
    error ConsumerRouterZeroAddress();
    /// @notice A setting's `value` is out of its bounds.
    error ConsumerRouterSettingOutOfBounds(string field, uint256 value);

    /// @param admin The `DEFAULT_ADMIN_ROLE` holder (the DAO's timelock): sets {maxInlineOutputBytes}.
    /// @param market_ The market.
    /// @param maxInlineOutputBytes_ The initial {maxInlineOutputBytes}.
    constructor(address admin, IInferenceMarket market_, uint256 maxInlineOutputBytes_) {
        if (admin == address(0) || address(market_) == address(0)) revert ConsumerRouterZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        market = market_;
        _setMaxInlineOutputBytes(maxInlineOutputBytes_);
    }

    // ------------------------------------------------------------------ consumers

    /// @notice Funds the callback of job `jobId` (requested on the market by the caller, who
    /// must be its client): exactly {depositFor}`(callbackGasLimit, maxGasPrice)` wei.
    /// @dev Not guarded against re-entry: a callback may request its next job and fund it. It
    /// touches only a new job's record.
    /// @param jobId The job (already requested: below the market's next id).
    /// @param callbackGasLimit The gas the callback gets, 1 to {MAX_CALLBACK_GAS_LIMIT}.
    /// @param maxGasPrice The highest gas price reimbursed, 1 to {MAX_GAS_PRICE} wei.
    function deposit(uint256 jobId, uint32 callbackGasLimit, uint128 maxGasPrice) external payable {
        Request storage q = _requests[jobId];
        if (q.status != CallbackStatus.None) revert ConsumerRouterAlreadyFunded(jobId, q.consumer);
        // A deposit for a job that does not exist yet could squat the id of the consumer's
        // coming job.
        uint256 next = market.nextJobId();
        if (jobId == 0 || jobId >= next) revert ConsumerRouterUnknownJob(jobId, next);
        uint256 required = depositFor(callbackGasLimit, maxGasPrice);
        if (msg.value != required) revert ConsumerRouterIncorrectDeposit(jobId, msg.value, required);
        q.consumer = msg.sender;
        q.callbackGasLimit = callbackGasLimit;
        q.status = CallbackStatus.Funded;
        q.maxGasPrice = uint56(maxGasPrice); // at most MAX_GAS_PRICE < 2^56 (depositFor)
        emit CallbackFunded(jobId, msg.sender, callbackGasLimit, maxGasPrice, required);
    }

    /// @notice Credits the deposit of a job that ended without a result (the market's status
    /// is Refunded: expired, cancelled, no quorum, or a k = 1 result a jury found wrong) back to
    /// its consumer. Anyone may call.
    /// @param jobId The job.
    function reclaim(uint256 jobId) external nonReentrant {
        Request storage q = _requests[jobId];
        if (q.status != CallbackStatus.Funded) revert ConsumerRouterInvalidStatus(jobId, q.status);
        (IInferenceMarketTypes.JobStatus status, , , ) = market.jobState(jobId);
        if (status != IInferenceMarketTypes.JobStatus.Refunded) revert ConsumerRouterJobNotRefunded(jobId, status);
        uint256 amount = _held(q);
        address consumer = q.consumer;
        q.status = CallbackStatus.Reclaimed;
        _balances[consumer] += amount;
        emit DepositReclaimed(jobId, consumer, amount);
    }

    /// @notice Sends the caller's credits to the caller.
    /// @return amount What was sent.
    function withdraw() external nonReentrant returns (uint256 amount) {
        return _withdraw(msg.sender);
    }

    /// @notice Sends the caller's credits to `to` (for a contract that cannot receive ETH).
    /// @param to The recipient.
    /// @return amount What was sent.
    function withdrawTo(address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ConsumerRouterZeroAddress();
        return _withdraw(to);
    }

    // ------------------------------------------------------------------ fulfillers

    /// @notice Delivers a job's final result to its consumer and reimburses the caller the gas
    /// its transaction is charged ({fulfilGas}; see the contract's notes). Reverts unless the job
    /// is funded and not yet fulfilled, `job.client` funded it, the market holds `resultHash` as
    /// the job's final result, `outputs` hash to `resultHash` (or are empty: hash only) and fit
    /// {maxInlineOutputBytes}, and the call carries enough gas to give the callback its full
    /// limit (EIP-150). A callback that reverts or runs out of gas does not revert this.
    /// @param jobId The job.
    /// @param job The job's parameters as emitted in the market's JobRequested.
    /// @param provider The k = 1 job's delivering provider (ignored for k > 1).
    /// @param resultHash The job's final result.
    /// @param outputs The canonical result preimage, or empty to deliver the hash only.
    /// @return delivered Whether the callback returned without reverting.
    function fulfill(
        uint256 jobId,
        uint256[6] calldata job,
        address provider,
        bytes32 resultHash,
        bytes calldata outputs
    ) external nonReentrant returns (bool delivered) {
        // First: everything from here to the reimbursement is measured; the rest is FULFIL_FIXED_GAS.
        uint256 start = gasleft();
        _checkCanonical(outputs);
        Request storage q = _requests[jobId];
        _checkFulfil(jobId, job, provider, resultHash, q);
        return _fulfil(jobId, q, resultHash, outputs, start);
    }

    /// @notice Delivers a failed callback again (or a hash-only one with its outputs), paid by
    /// the caller (no reimbursement). `outputs` are checked against the stored result hash; a
    /// hash-only delivery may only be followed by the outputs themselves. The callback gets at
    /// least its limit (EIP-150 checked) and all the gas the caller sent beyond it (minus the
    /// router's own), so a callback that ran out of gas can be retried with more.
    /// @param jobId The job.
    /// @param outputs The canonical result preimage, or empty (hash only; not after HashOnly).
    /// @return delivered Whether the callback returned without reverting (a failure stays
    /// retriable and is recorded with {CallbackFailed}).
    function retryCallback(uint256 jobId, bytes calldata outputs) external nonReentrant returns (bool delivered) {
        Request storage q = _requests[jobId];
        CallbackStatus status = q.status;
        if (status != CallbackStatus.Failed && (status != CallbackStatus.HashOnly || outputs.length == 0)) {
            revert ConsumerRouterInvalidStatus(jobId, status);
        }
        bytes32 resultHash = _retryHashes[jobId];
        bool hashOnly = _checkOutputs(jobId, resultHash, outputs);
        q.status = hashOnly ? CallbackStatus.HashOnly : CallbackStatus.Delivered;
        bytes memory data = abi.encodeCall(IConclaveConsumer.rawFulfill, (jobId, resultHash, outputs));
        uint256 gasUsed;
        bytes memory reason;
        (delivered, gasUsed, reason) = _retryCall(jobId, q, data);
        if (delivered) {
            if (!hashOnly) delete _retryHashes[jobId];
            emit CallbackDelivered(jobId, resultHash, hashOnly, gasUsed, true);
        } else {
            q.status = status; // still retriable as before
            emit CallbackFailed(jobId, reason, gasUsed);
        }
    }

    // ------------------------------------------------------------------ DAO

    /// @notice Sets {maxInlineOutputBytes}; DAO only.
    /// @param maxInlineOutputBytes_ The new size, within [MIN_INLINE_OUTPUT_BYTES, MAX_INLINE_OUTPUT_BYTES].
    function setMaxInlineOutputBytes(uint256 maxInlineOutputBytes_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMaxInlineOutputBytes(maxInlineOutputBytes_);
    }

    // ------------------------------------------------------------------ views

    /// @notice A job's callback record.
    /// @param jobId The job.
    /// @return request See {Request}.
    function requestOf(uint256 jobId) external view returns (Request memory request) {
        return _requests[jobId];
    }

    /// @notice The wei held for a job's callback: its deposit while Funded, else 0.
    /// @param jobId The job.
    /// @return The deposit held.
    function depositOf(uint256 jobId) external view returns (uint256) {
        return _held(_requests[jobId]);
    }

    /// @notice The result kept for a retry of a failed or hash-only callback (else 0).
    /// @param jobId The job.
    /// @return The result hash.
    function retryHashOf(uint256 jobId) external view returns (bytes32) {
        return _retryHashes[jobId];
    }

    /// @notice An account's credits (wei).
    /// @param account The account.
    /// @return The credited, unwithdrawn wei.
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    /// @notice The deposit a callback needs: `(callbackGasLimit + FULFIL_OVERHEAD) × maxGasPrice`,
    /// the most its fulfil is reimbursed. Reverts if either is out of bounds.
    /// @param callbackGasLimit The callback's gas limit.
    /// @param maxGasPrice The gas price cap.
    /// @return The deposit in wei.
    function depositFor(uint256 callbackGasLimit, uint256 maxGasPrice) public pure returns (uint256) {
        if (callbackGasLimit == 0 || callbackGasLimit > MAX_CALLBACK_GAS_LIMIT) {
            revert ConsumerRouterCallbackGasOutOfBounds(callbackGasLimit, MAX_CALLBACK_GAS_LIMIT);
        }
        if (maxGasPrice == 0 || maxGasPrice > MAX_GAS_PRICE)
            revert ConsumerRouterGasPriceOutOfBounds(maxGasPrice, MAX_GAS_PRICE);
        return (callbackGasLimit + FULFIL_OVERHEAD) * maxGasPrice;
    }

    /// @notice What a fulfiller is reimbursed: `min(gasPrice, maxGasPrice) × gas`, at most `held`
    /// (the deposit).
    /// @param gasPrice The fulfil's gas price (tx.gasprice).
    /// @param maxGasPrice The consumer's cap.
    /// @param gas The gas the fulfil is charged ({fulfilGas}).
    /// @param held The deposit.
    /// @return paid The reimbursement; `held - paid` goes to the consumer.
    function reimbursement(
        uint256 gasPrice,
        uint256 maxGasPrice,
        uint256 gas,
        uint256 held
    ) public pure returns (uint256 paid) {
        uint256 price = gasPrice < maxGasPrice ? gasPrice : maxGasPrice;
        if (price == 0) return 0;
        // Saturate instead of overflowing: anything above the deposit is capped anyway.
        if (gas > held / price) return held;
        paid = price * gas;
        if (paid > held) paid = held;
    }

    /// @notice The gas a fulfil transaction is charged, from what {fulfill} measured:
    /// `max(FULFIL_FIXED_GAS + executionGas + 4 × tokens + FRESH_CREDIT_GAS × freshCredits,
    /// 21,000 + 10 × tokens)`: EIP-2028's calldata cost, or EIP-7623's floor where the floor is
    /// higher (execution below 6 gas a token: small callbacks with large, mostly non-zero
    /// outputs). Exact on a chain with EIP-7623 (Prague and later: Ethereum since May 2025, and
    /// the project's local networks); on an older one the floor term over-pays in that one case,
    /// within the deposit.
    /// @param executionGas `gasleft()` at the start of {fulfill} minus at the reimbursement.
    /// @param tokens The call's calldata tokens ({calldataTokens} of `msg.data`).
    /// @param freshCredits How many of the two credits write a zero balance slot (0 to 2).
    /// @param direct Whether the fulfil was the transaction's own call (see the contract's note
    /// 4); if not, the gas is `executionGas` alone.
    /// @return The gas.
    function fulfilGas(
        uint256 executionGas,
        uint256 tokens,
        uint256 freshCredits,
        bool direct
    ) public pure returns (uint256) {
        if (!direct) return executionGas;
        uint256 standard =
            FULFIL_FIXED_GAS + executionGas + CALLDATA_TOKEN_GAS * tokens + FRESH_CREDIT_GAS * freshCredits;
        uint256 floor = TX_BASE_GAS + CALLDATA_FLOOR_TOKEN_GAS * tokens;
        return standard > floor ? standard : floor;
    }

    /// @notice EIP-7623's calldata tokens of `data`: one a zero byte, four a non-zero byte (so
    /// EIP-2028's cost is 4 a token). Counted exactly, four words at a time: 2 to 2.5 gas a byte
    /// (measured in test/market/router-reimbursement.test.ts: 4,825 for 2,164 bytes shaped like a
    /// preimage). An upper bound of 16 gas a byte would cost nothing to compute but over-pay each
    /// zero byte 12, and canonical preimages are mostly zero bytes (small little-endian integers:
    /// 19,464 gas for those 2,164 bytes); it also could not bound EIP-7623's floor better than 40
    /// gas a byte (over-paying a zero byte 30), while an exact count makes {fulfilGas} exact under
    /// both rules.
    /// @param data The bytes.
    /// @return tokens `zero bytes + 4 × non-zero bytes`.
    function calldataTokens(bytes calldata data) public pure returns (uint256 tokens) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            // A byte's flag, 1 if it is non-zero, in its own byte of a word: bit 7 of
            // ((b & 0x7f) + 0x7f) | b, shifted down (no carry leaves a byte). Flags of up to four
            // words are summed byte by byte (at most 4 a byte), then the bytes are summed by a
            // multiplication: the top byte of x × 0x0101…01 is the sum of x's bytes (at most 128).
            let lo := 0x7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f
            let hi := not(lo)
            let ones := 0x0101010101010101010101010101010101010101010101010101010101010101
            let nonZero := 0
            let p := data.offset
            let end := add(p, data.length)
            for {
                let blocks := add(p, and(data.length, not(127)))
            } lt(p, blocks) {
                p := add(p, 128)
            } {
                let w := calldataload(p)
                let f := shr(7, and(or(add(and(w, lo), lo), w), hi))
                w := calldataload(add(p, 32))
                f := add(f, shr(7, and(or(add(and(w, lo), lo), w), hi)))
                w := calldataload(add(p, 64))
                f := add(f, shr(7, and(or(add(and(w, lo), lo), w), hi)))
                w := calldataload(add(p, 96))
                f := add(f, shr(7, and(or(add(and(w, lo), lo), w), hi)))
                nonZero := add(nonZero, shr(248, mul(f, ones)))
            }
            // The rest a word at a time; of the last word only the bytes before the end (calldata
            // may go on after them).
            for {} lt(p, end) {
                p := add(p, 32)
            } {
                let w := calldataload(p)
                let rest := sub(end, p)
                if lt(rest, 32) {
                    w := and(w, not(shr(mul(8, rest), not(0))))
                }
                nonZero := add(nonZero, shr(248, mul(shr(7, and(or(add(and(w, lo), lo), w), hi)), ones)))
            }
            tokens := add(data.length, mul(3, nonZero))
        }
    }

    /// @notice The least gas {fulfill} must have left at the callback for `callbackGasLimit`
    /// (EIP-150: a CALL forwards at most 63/64 of what is left), with the router's reserves.
    /// @param callbackGasLimit The callback's gas limit.
    /// @return The gas.
    function requiredGas(uint256 callbackGasLimit) public pure returns (uint256) {
        return _requiredGas(callbackGasLimit, POST_CALL_RESERVE);
    }

    // ------------------------------------------------------------------ internals

    /// @dev The checks of {fulfill} but the outputs': funded and not fulfilled, the job's client
    /// funded it, and the market holds the result as final.
    function _checkFulfil(
        uint256 jobId,
        uint256[6] calldata job,
        address provider,
        bytes32 resultHash,
        Request storage q
    ) private view {
        CallbackStatus status = q.status;
        if (status != CallbackStatus.Funded) {
            if (status == CallbackStatus.None) revert ConsumerRouterNotFunded(jobId);
            revert ConsumerRouterInvalidStatus(jobId, status);
        }
        address consumer = q.consumer;
        address client = JobWords.client(job);
        if (client != consumer) revert ConsumerRouterNotClient(jobId, client, consumer);
        if (!market.isFinalResult(jobId, job, provider, resultHash)) revert ConsumerRouterNotFinal(jobId, resultHash);
    }

    /// @dev {fulfill} once its job checked: checks the outputs, counts the calldata, marks the job
    /// delivered, calls back with exactly the limit, then records a failure, emits the outcome
    /// and shares the deposit (last: its gas after `gasleft()` is FULFIL_FIXED_GAS).
    function _fulfil(
        uint256 jobId,
        Request storage q,
        bytes32 resultHash,
        bytes calldata outputs,
        uint256 start
    ) private returns (bool ok) {
        bool hashOnly = _checkOutputs(jobId, resultHash, outputs);
        uint256 held = _held(q);
        // Only a direct call's calldata is the transaction's (see note 4). Counted before the
        // callback, so that POST_CALL_RESERVE need not cover it.
        uint256 tokens = _direct() ? calldataTokens(msg.data) : 0;

        // Effects before the callback: the job is delivered (a re-entrant or second fulfil is
        // refused; its deposit is no longer held), and a hash-only result kept for a retry.
        q.status = hashOnly ? CallbackStatus.HashOnly : CallbackStatus.Delivered;
        if (hashOnly) _retryHashes[jobId] = resultHash;

        bytes memory data = abi.encodeCall(IConclaveConsumer.rawFulfill, (jobId, resultHash, outputs));
        uint256 gasUsed;
        bytes memory reason;
        (ok, gasUsed, reason) = _deliverCallback(jobId, q, data);

        // After the callback: only what depends on its outcome (guarded against re-entry).
        if (!ok) {
            q.status = CallbackStatus.Failed;
            _retryHashes[jobId] = resultHash;
        }
        if (ok) emit CallbackDelivered(jobId, resultHash, hashOnly, gasUsed, false);
        else emit CallbackFailed(jobId, reason, gasUsed);
        _reimburse(jobId, q, held, start, tokens);
    }

    /// @dev Calls the consumer with exactly its limit (see {_callConsumer}).
    function _deliverCallback(
        uint256 jobId,
        Request storage q,
        bytes memory data
    ) private returns (bool, uint256, bytes memory) {
        uint256 limit = q.callbackGasLimit;
        return _callConsumer(jobId, q.consumer, limit, limit, POST_CALL_RESERVE, data);
    }

    /// @dev Calls the consumer with all the gas left but the router's reserve (at least its
    /// limit, checked in {_callConsumer}).
    function _retryCall(
        uint256 jobId,
        Request storage q,
        bytes memory data
    ) private returns (bool, uint256, bytes memory) {
        uint256 keep = CALL_RESERVE + RETRY_RESERVE + 1_000;
        uint256 left = gasleft();
        uint256 give = left > keep ? left - keep : 0;
        return _callConsumer(jobId, q.consumer, q.callbackGasLimit, give, RETRY_RESERVE, data);
    }

    /// @dev Credits the fulfiller the gas its transaction is charged ({fulfilGas}: measured from
    /// `start`) at the price reimbursed, at most `held`, and the consumer the rest. Balances cannot
    /// change during the callback (crediting and withdrawing are guarded), so they are read here.
    function _reimburse(uint256 jobId, Request storage q, uint256 held, uint256 start, uint256 tokens) private {
        address consumer = q.consumer;
        uint256 fresh = (_balances[msg.sender] == 0 ? 1 : 0) + (_balances[consumer] == 0 ? 1 : 0);
        bool direct = _direct();
        // From here on: FULFIL_FIXED_GAS.
        uint256 gas = fulfilGas(start - gasleft(), tokens, fresh, direct);
        uint256 paid = reimbursement(tx.gasprice, q.maxGasPrice, gas, held);
        _balances[msg.sender] += paid;
        if (held != paid) _balances[consumer] += held - paid;
        emit CallbackReimbursed(jobId, msg.sender, consumer, paid, held - paid, gas);
    }

    /// @dev The deposit a request holds: all of it while Funded, nothing after.
    function _held(Request storage q) private view returns (uint256) {
        if (q.status != CallbackStatus.Funded) return 0;
        return (uint256(q.callbackGasLimit) + FULFIL_OVERHEAD) * q.maxGasPrice;
    }

    /// @dev Whether this call is the transaction's own: sent by `tx.origin`, an account without
    /// code (an EIP-7702-delegated account has code and runs it before calling).
    function _direct() private view returns (bool) {
        // solhint-disable-next-line avoid-tx-origin
        return msg.sender == tx.origin && msg.sender.code.length == 0;
    }

    /// @dev Refuses a fulfil whose calldata is not the canonical encoding: the outputs' length word
    /// right after the 10-word head, their bytes zero-padded to a word, nothing after. Padding or a
    /// gap would be counted as calldata in the reimbursement.
    function _checkCanonical(bytes calldata outputs) private pure {
        uint256 size = outputs.length;
        uint256 expected = CANONICAL_OUTPUTS_OFFSET + ((size + 31) & ~uint256(31));
        uint256 offset;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            offset := outputs.offset
        }
        bool canonical = offset == CANONICAL_OUTPUTS_OFFSET && msg.data.length == expected;
        uint256 tail = size % 32;
        if (canonical && tail != 0) {
            uint256 last;
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                last := calldataload(add(offset, sub(size, tail)))
            }
            canonical = last << (8 * tail) == 0;
        }
        if (!canonical) revert ConsumerRouterNonCanonicalCalldata(msg.data.length, expected);
    }

    /// @dev Checks `outputs` against `resultHash`; returns whether they are empty (hash only).
    function _checkOutputs(uint256 jobId, bytes32 resultHash, bytes calldata outputs) private view returns (bool) {
        uint256 size = outputs.length;
        if (size == 0) return true;
        uint256 maximum = maxInlineOutputBytes;
        if (size > maximum) revert ConsumerRouterOutputsTooLarge(jobId, size, maximum);
        bytes32 h = keccak256(outputs);
        if (h != resultHash) revert ConsumerRouterOutputsMismatch(jobId, h, resultHash);
        return false;
    }

    function _requiredGas(uint256 gasAmount, uint256 postReserve) private pure returns (uint256) {
        uint256 forCall = (gasAmount * 64 + 62) / 63; // ceil(gasAmount × 64 / 63)
        uint256 forAfter = gasAmount + postReserve;
        return CALL_RESERVE + (forCall > forAfter ? forCall : forAfter);
    }

    /// @dev Calls the consumer with `give` gas (at least `limit`), after checking that the gas
    /// left lets the CALL forward all of `limit` and keep `postReserve`; returns whether it
    /// returned, the gas it used (measured around the CALL) and up to 256 bytes of revert data.
    /// The return data is never copied whole (a callee cannot make the router pay for a huge
    /// one).
    function _callConsumer(
        uint256 jobId,
        address consumer,
        uint256 limit,
        uint256 give,
        uint256 postReserve,
        bytes memory data
    ) private returns (bool ok, uint256 gasUsed, bytes memory reason) {
        uint256 required = _requiredGas(limit, postReserve);
        uint256 available = gasleft();
        if (available < required) revert ConsumerRouterInsufficientGas(jobId, available, required);
        if (give < limit) give = limit;
        uint256 before = gasleft();
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            ok := call(give, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
        gasUsed = before - gasleft();
        if (!ok) {
            uint256 size;
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                size := returndatasize()
            }
            if (size > MAX_REASON_BYTES) size = MAX_REASON_BYTES;
            reason = new bytes(size);
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                returndatacopy(add(reason, 0x20), 0, size)
            }
        }
    }

    function _withdraw(address to) private returns (uint256 amount) {
        amount = _balances[msg.sender];
        if (amount == 0) revert ConsumerRouterNothingToWithdraw(msg.sender);
        _balances[msg.sender] = 0;
        emit Withdrawn(msg.sender, to, amount);
        (bool ok, ) = to.call{value: amount}("");
        if (!ok) revert ConsumerRouterEthTransferFailed(to, amount);
    }

    function _setMaxInlineOutputBytes(uint256 size) private {
        if (size < MIN_INLINE_OUTPUT_BYTES || size > MAX_INLINE_OUTPUT_BYTES) {
            revert ConsumerRouterSettingOutOfBounds("maxInlineOutputBytes", size);
        }
        maxInlineOutputBytes = size;
        emit MaxInlineOutputBytesSet(size);
    }
}
