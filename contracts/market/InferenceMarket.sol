// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IProviderRegistry} from "../interfaces/IProviderRegistry.sol";
import {GuardianPausable} from "../governance/GuardianPausable.sol";

/// @title InferenceMarket
/// @notice Escrowed inference jobs. See {IInferenceMarket}.
/// @dev Storage per job is one word: the top 184 bits of keccak256(abi.encode(job)) and the
/// mutable state (status, seats, reveals, reveal start, which of seats 0-7 revealed). Seats of
/// k > 1 jobs take two words each: the provider (with a revealed flag for seats 8 and up), and
/// `keccak256(abi.encode(commitment, provider))`, replaced by the result hash on reveal. Hashing
/// the provider in binds the seat to its committer (only it can reveal the seat), without a read
/// of the provider word on the reveal path. (A XOR with the provider did not bind: a seated
/// provider could commit `keccak(jobId, other, r, s) ^ other ^ itself` and let `other` reveal.)
/// No function loops over providers or jobs; {finalize} and the last {reveal} loop over the k
/// seats of their own job (k ≤ 32).
/// Invariant: for each token, the contract's balance equals the escrow of unfinished jobs plus
/// the sum of credited, unwithdrawn balances plus the protocol fees not yet sent to the treasury.
contract InferenceMarket is IInferenceMarket, GuardianPausable, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type of a signed result.
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(uint256 jobId,bytes32 modelId,uint32 version,bytes32 inputHash,bytes32 resultHash,bytes outputRef)"
    );

    uint16 private constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint8 private constant MAX_REDUNDANCY = 32;
    uint32 private constant MAX_WINDOW = 30 days;
    uint32 private constant MAX_INLINE_INPUT = 64 * 1024;
    uint40 private constant MIN_JOB_DURATION = 1 minutes;
    uint40 private constant MAX_JOB_DURATION = 365 days;
    uint32 private constant MAX_PRIORITY_WINDOW = 1 hours;
    uint256 private constant BPS = 10_000;
    // A Job's ABI encoding: 18 static words (see {_jobHash}).
    uint256 private constant JOB_BYTES = 0x240;
    // Table sizes of a batch (distinct providers; distinct (provider or protocol, token) pairs).
    uint256 private constant BATCH_PAYEES = 8;
    uint256 private constant BATCH_OWED = 16;

    // Job word layout: [hash:184][status:8][seated:8][revealed:8][revealStartedAt:40][revealedSeats:8]
    // (bit i of revealedSeats: seat i revealed, for seats 0-7).
    uint256 private constant HASH_MASK = ~uint256(0) << 72;
    uint256 private constant STATUS_SHIFT = 64;
    uint256 private constant SEATED_SHIFT = 56;
    uint256 private constant REVEALED_SHIFT = 48;
    uint256 private constant REVEAL_START_SHIFT = 8;
    uint256 private constant MASKED_SEATS = 8;
    // Seat word layout: [provider:160][revealed:8] (the flag is used for seats 8 and up).
    uint256 private constant SEAT_REVEALED = 1 << 160;

    /// @notice Where models' status and terms are read.
    IModelRegistry public immutable models;
    /// @notice Where providers' admission, stake and counters live.
    IProviderRegistry public immutable providers;
    /// @inheritdoc IInferenceMarket
    IERC20 public immutable stakeToken;
    /// @notice Where protocol fees are sent (the DAO's timelock).
    address public treasury;

    /// @dev The policy (but its collateral), the job counter and the paused flag share one slot:
    /// a request reads and writes that slot only.
    struct Terms {
        uint16 protocolFeeBps;
        uint16 quorumBps;
        uint8 maxRedundancy;
        uint32 commitWindow;
        uint32 revealWindow;
        uint32 maxInlineInputBytes;
        uint40 maxJobDuration;
        uint16 priorityWindow;
        uint56 nextJobId;
        bool paused;
    }

    Terms private _terms;
    uint128 private _collateralPerJob;
    /// @dev Shares {_collateralPerJob}'s slot; read only when a settlement slashes.
    uint16 private _clientShareBps;

    mapping(uint256 jobId => uint256 word) private _jobs;
    mapping(uint256 jobId => mapping(uint256 seat => uint256 word)) private _seats;
    mapping(uint256 jobId => mapping(uint256 seat => bytes32 value)) private _seatValues;
    mapping(address token => bool) private _allowedTokens;
    mapping(address account => mapping(address token => uint256)) private _balances;
    /// @inheritdoc IInferenceMarket
    mapping(address token => uint256) public protocolFees;

    /// @param admin Initial `DEFAULT_ADMIN_ROLE` holder (see {GuardianPausable}).
    /// @param guardian Initial guardian, or address(0).
    /// @param models_ The model registry.
    /// @param providers_ The provider registry (this market needs its MARKET_ROLE).
    /// @param treasury_ Where protocol fees are sent.
    /// @param policy_ Initial policy.
    constructor(
        address admin,
        address guardian,
        IModelRegistry models_,
        IProviderRegistry providers_,
        address treasury_,
        Policy memory policy_
    ) GuardianPausable(admin, guardian) EIP712("ConclaveInferenceMarket", "1") {
        if (address(models_) == address(0) || address(providers_) == address(0) || treasury_ == address(0)) {
            revert InferenceMarketZeroAddress();
        }
        models = models_;
        providers = providers_;
        stakeToken = providers_.stakeToken();
        treasury = treasury_;
        emit TreasurySet(treasury_);
        _terms.nextJobId = 1;
        _setPolicy(policy_);
    }

    // ------------------------------------------------------------------ clients

    /// @inheritdoc IInferenceMarket
    function requestJob(JobRequest calldata r) external payable whenNotPaused nonReentrant returns (uint256 jobId) {
        Terms storage p = _terms;
        jobId = p.nextJobId++;
        Job memory job = _newJob(r, p, jobId);
        uint256 jobHash;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            // A memory Job is its ABI encoding: 18 words, each field clean in its own word.
            jobHash := keccak256(job, JOB_BYTES)
        }
        _jobs[jobId] = (jobHash & HASH_MASK) | (uint256(JobStatus.Open) << STATUS_SHIFT);
        _collect(jobId, r.token, escrowOf(r.redundancy, r.feePerProvider, job.protocolFeeBps));
        emit JobRequested(jobId, msg.sender, r.modelId, job, r.input, r.inputCid);
    }

    /// @inheritdoc IInferenceMarket
    function withdraw(address token) external nonReentrant returns (uint256 amount) {
        return _withdraw(token, msg.sender);
    }

    /// @inheritdoc IInferenceMarket
    function withdrawTo(address token, address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert InferenceMarketZeroAddress();
        return _withdraw(token, to);
    }

    /// @inheritdoc IInferenceMarket
    function cancel(uint256 jobId, Job calldata job) external nonReentrant {
        uint256 word = _checkedWord(jobId, job);
        if (msg.sender != job.client) revert InferenceMarketNotClient(jobId, msg.sender);
        JobStatus status = _status(word);
        if (status != JobStatus.Open) revert InferenceMarketNotCancellable(jobId, status);
        if (models.acceptsJobs(job.modelId, job.version)) revert InferenceMarketVersionStillAccepting(job.modelId, job.version);
        (SeatView[] memory seats,,) = _loadSeats(jobId, word);
        _jobs[jobId] = _withStatus(word, JobStatus.Refunded);
        uint256 amount = escrowOf(job.redundancy, job.feePerProvider, job.protocolFeeBps);
        _credit(job.client, job.token, amount);
        _clearSeats(jobId, seats.length);
        emit JobCancelled(jobId, amount);
        _releaseSeats(jobId, job, seats);
    }

    // ------------------------------------------------------------------ providers, k = 1

    /// @inheritdoc IInferenceMarket
    function submitResult(uint256 jobId, Job calldata job, bytes32 resultHash, bytes calldata outputRef)
        external
        nonReentrant
    {
        uint256 word = _openJob(jobId, job);
        if (job.redundancy != 1) revert InferenceMarketWrongRedundancy(jobId, job.redundancy);
        if (block.timestamp > job.deadline) revert InferenceMarketDeadlinePassed(jobId, job.deadline);
        (bool active, uint256 tags, uint32 memoryMB, uint256 rosterIndex, uint256 rosterSize) =
            providers.providerTerms(msg.sender);
        if (!active || job.requiredTags & ~tags != 0 || memoryMB < job.minMemoryMB) {
            // Let the registry name the exact reason.
            providers.checkEligible(msg.sender, 0, job.requiredTags, job.minMemoryMB);
        }
        _requireAssigned(jobId, job, msg.sender, rosterIndex, rosterSize);
        _deliver(jobId, word, msg.sender, resultHash, outputRef);
        uint256 protocolFee = _k1ProtocolFee(job);
        if (protocolFee != 0) protocolFees[job.token] += protocolFee;
        _credit(msg.sender, job.token, job.feePerProvider);
        providers.recordServed(msg.sender, 1);
    }

    /// @inheritdoc IInferenceMarket
    function submitAttestations(SignedResult[] calldata items) external nonReentrant returns (uint256 delivered) {
        // Whatever the items' order, each provider's terms are read once, and its credits (per
        // token), its served count and the protocol fees (per token) are written once, at the end
        // (or when the batch's small tables fill up, for batches of many providers and tokens).
        Batch memory b = Batch({
            payees: new Payee[](BATCH_PAYEES),
            payeeCount: 0,
            owed: new Owed[](BATCH_OWED),
            owedCount: 0
        });
        for (uint256 i = 0; i < items.length; ++i) {
            SignedResult calldata it = items[i];
            (address provider, ECDSA.RecoverError err,) =
                ECDSA.tryRecoverCalldata(_attestationDigest(it.jobId, it.job, it.resultHash, it.outputRef), it.signature);
            if (err != ECDSA.RecoverError.NoError) {
                emit AttestationRejected(it.jobId, address(0), InferenceMarketInvalidSignature.selector);
                continue;
            }
            Payee memory payee = _payee(b, provider);
            (bytes4 reason, uint256 word) = _batchItemError(it, payee);
            if (reason != bytes4(0)) {
                emit AttestationRejected(it.jobId, provider, reason);
                continue;
            }
            _deliver(it.jobId, word, provider, it.resultHash, it.outputRef);
            ++payee.served;
            _owe(b, provider, it.job.token, it.job.feePerProvider);
            _owe(b, address(0), it.job.token, _k1ProtocolFee(it.job));
            ++delivered;
        }
        _flush(b);
    }

    // ------------------------------------------------------------------ providers, k > 1

    /// @inheritdoc IInferenceMarket
    function commit(uint256 jobId, Job calldata job, bytes32 commitment) external nonReentrant returns (uint8 seat) {
        uint256 word = _openJob(jobId, job);
        if (job.redundancy < 2) revert InferenceMarketWrongRedundancy(jobId, job.redundancy);
        if (block.timestamp > job.commitDeadline) revert InferenceMarketDeadlinePassed(jobId, job.commitDeadline);
        seat = uint8(word >> SEATED_SHIFT);
        for (uint256 i = 0; i < seat; ++i) {
            if (address(uint160(_seats[jobId][i])) == msg.sender) revert InferenceMarketAlreadySeated(jobId, msg.sender);
        }
        (uint256 rosterIndex, uint256 rosterSize) =
            providers.lockCollateral(msg.sender, job.collateral, job.requiredTags, job.minMemoryMB);
        // After the lock (the registry's one call checks eligibility and gives the roster place);
        // a revert here undoes the lock.
        _requireAssigned(jobId, job, msg.sender, rosterIndex, rosterSize);
        _seats[jobId][seat] = uint160(msg.sender);
        _seatValues[jobId][seat] = _boundTo(commitment, msg.sender);
        word += 1 << SEATED_SHIFT;
        emit SeatCommitted(jobId, msg.sender, seat, commitment);
        if (seat + 1 == job.redundancy) word = _startReveal(jobId, job, word, uint40(block.timestamp));
        _jobs[jobId] = word;
    }

    /// @inheritdoc IInferenceMarket
    function reveal(
        uint256 jobId,
        Job calldata job,
        uint8 seat,
        bytes32 resultHash,
        bytes32 salt,
        bytes calldata outputRef
    ) external nonReentrant {
        uint256 word = _checkedWord(jobId, job);
        JobStatus status = _status(word);
        if (status == JobStatus.Open && _commitClosedWithQuorum(job, word)) {
            word = _startReveal(jobId, job, word, job.commitDeadline);
            status = JobStatus.Revealing;
        }
        if (status != JobStatus.Revealing) revert InferenceMarketInvalidStatus(jobId, status);
        uint40 revealDeadline = uint40(word >> REVEAL_START_SHIFT) + job.revealWindow;
        if (block.timestamp > revealDeadline) revert InferenceMarketRevealClosed(jobId, revealDeadline);

        if (seat >= uint8(word >> SEATED_SHIFT)) revert InferenceMarketNotSeated(jobId, seat, msg.sender);
        bool revealed = _revealed(jobId, word, seat);
        // The stored value is the commitment hashed with its provider: it matches only the
        // seat's own provider, with the committed result and salt.
        bytes32 bound = _boundTo(keccak256(abi.encode(jobId, msg.sender, resultHash, salt)), msg.sender);
        if (revealed || bound != _seatValues[jobId][seat]) {
            // Name the exact error (the seat's provider is only read on this path).
            if (address(uint160(_seats[jobId][seat])) != msg.sender) {
                revert InferenceMarketNotSeated(jobId, seat, msg.sender);
            }
            if (revealed) revert InferenceMarketAlreadyRevealed(jobId, msg.sender);
            revert InferenceMarketCommitmentMismatch(jobId, msg.sender);
        }
        if (seat < MASKED_SEATS) word |= 1 << seat;
        else _seats[jobId][seat] |= SEAT_REVEALED;
        _seatValues[jobId][seat] = resultHash;
        word += 1 << REVEALED_SHIFT;
        emit ResultRevealed(jobId, msg.sender, resultHash, outputRef);
        if (uint8(word >> REVEALED_SHIFT) == uint8(word >> SEATED_SHIFT)) {
            _settleRound(jobId, job, word);
        } else {
            _jobs[jobId] = word;
        }
    }

    // ------------------------------------------------------------------ anyone

    /// @inheritdoc IInferenceMarket
    function finalize(uint256 jobId, Job calldata job) external nonReentrant {
        uint256 word = _checkedWord(jobId, job);
        JobStatus status = _status(word);
        if (job.redundancy == 1) {
            if (status != JobStatus.Open || block.timestamp <= job.deadline) {
                revert InferenceMarketNotFinalizable(jobId, status);
            }
            _refund(jobId, job, word);
            return;
        }
        if (status == JobStatus.Open) {
            if (block.timestamp <= job.commitDeadline) revert InferenceMarketNotFinalizable(jobId, status);
            if (uint8(word >> SEATED_SHIFT) < job.quorum) {
                // Too few providers came: nobody is at fault.
                (SeatView[] memory seats,,) = _loadSeats(jobId, word);
                _refund(jobId, job, word);
                _clearSeats(jobId, seats.length);
                _releaseSeats(jobId, job, seats);
                return;
            }
            word = _startReveal(jobId, job, word, job.commitDeadline);
            status = JobStatus.Revealing;
        }
        if (status != JobStatus.Revealing || block.timestamp <= uint40(word >> REVEAL_START_SHIFT) + job.revealWindow) {
            revert InferenceMarketNotFinalizable(jobId, status);
        }
        _settleRound(jobId, job, word);
    }

    // ------------------------------------------------------------------ DAO

    /// @inheritdoc IInferenceMarket
    function withdrawProtocolFees(address token) external nonReentrant returns (uint256 amount) {
        address to = treasury;
        if (msg.sender != to && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, DEFAULT_ADMIN_ROLE);
        }
        amount = protocolFees[token];
        if (amount == 0) revert InferenceMarketNothingToWithdraw(to, token);
        protocolFees[token] = 0;
        emit ProtocolFeesWithdrawn(token, to, amount);
        _send(token, to, amount);
    }

    /// @inheritdoc IInferenceMarket
    function setPolicy(Policy calldata policy_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setPolicy(policy_);
    }

    /// @inheritdoc IInferenceMarket
    function setTokenAllowed(address token, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert InferenceMarketZeroAddress();
        _allowedTokens[token] = allowed;
        emit TokenAllowed(token, allowed);
    }

    /// @inheritdoc IInferenceMarket
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert InferenceMarketZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    // ------------------------------------------------------------------ pause

    /// @notice Whether the guardian or the DAO paused new requests.
    /// @dev The flag lives in the request slot (see {Terms}) instead of {Pausable}'s own slot.
    /// @return True if paused.
    function paused() public view override returns (bool) {
        return _terms.paused;
    }

    /// @dev See {paused}.
    function _pause() internal override whenNotPaused {
        _terms.paused = true;
        emit Paused(_msgSender());
    }

    /// @dev See {paused}.
    function _unpause() internal override whenPaused {
        _terms.paused = false;
        emit Unpaused(_msgSender());
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IInferenceMarket
    function policy() external view returns (Policy memory) {
        Terms storage t = _terms;
        return Policy({
            protocolFeeBps: t.protocolFeeBps,
            quorumBps: t.quorumBps,
            maxRedundancy: t.maxRedundancy,
            commitWindow: t.commitWindow,
            revealWindow: t.revealWindow,
            priorityWindow: t.priorityWindow,
            maxInlineInputBytes: t.maxInlineInputBytes,
            maxJobDuration: t.maxJobDuration,
            collateralPerJob: _collateralPerJob,
            clientShareBps: _clientShareBps
        });
    }

    /// @inheritdoc IInferenceMarket
    function jobState(uint256 jobId)
        external
        view
        returns (JobStatus status, uint8 seated, uint8 revealed, uint40 revealStartedAt)
    {
        uint256 word = _jobs[jobId];
        return (_status(word), uint8(word >> SEATED_SHIFT), uint8(word >> REVEALED_SHIFT), uint40(word >> REVEAL_START_SHIFT));
    }

    /// @inheritdoc IInferenceMarket
    function seatOf(uint256 jobId, uint8 seat) external view returns (address provider, bool revealed, bytes32 value) {
        provider = address(uint160(_seats[jobId][seat]));
        if (provider == address(0)) return (address(0), false, bytes32(0)); // no such seat, or the job ended
        revealed = _revealed(jobId, _jobs[jobId], seat);
        value = _seatValues[jobId][seat];
    }

    /// @inheritdoc IInferenceMarket
    function attestationDigest(uint256 jobId, Job calldata job, bytes32 resultHash, bytes calldata outputRef)
        external
        view
        returns (bytes32)
    {
        return _attestationDigest(jobId, job, resultHash, outputRef);
    }

    /// @inheritdoc IInferenceMarket
    function assignment(Job calldata job, address provider)
        external
        view
        returns (bool member, uint256 rank, uint40 opensAt)
    {
        (,,, uint256 rosterIndex, uint256 rosterSize) = providers.providerTerms(provider);
        if (rosterIndex >= rosterSize) return (false, 0, 0);
        (rank, opensAt,) = _rank(job.seed, job.redundancy, job.priorityWindow, job.requestedAt, rosterIndex, rosterSize);
        member = true;
    }

    /// @inheritdoc IInferenceMarket
    function escrowOf(uint8 redundancy, uint96 feePerProvider, uint16 protocolFeeBps) public pure returns (uint256) {
        uint256 fees = uint256(redundancy) * feePerProvider;
        return fees + (fees * protocolFeeBps) / BPS;
    }

    /// @inheritdoc IInferenceMarket
    function nextJobId() external view returns (uint256) {
        return _terms.nextJobId;
    }

    /// @inheritdoc IInferenceMarket
    function balanceOf(address account, address token) external view returns (uint256) {
        return _balances[account][token];
    }

    /// @notice Whether an ERC-20 may pay for jobs.
    /// @param token The token.
    /// @return allowed True if allowlisted.
    function isTokenAllowed(address token) external view returns (bool allowed) {
        return _allowedTokens[token];
    }

    // ------------------------------------------------------------------ internals: jobs

    /// @dev Validates a request against the policy and the model registry; pins the version.
    function _newJob(JobRequest calldata r, Terms storage p, uint256 jobId) private view returns (Job memory job) {
        if (r.redundancy == 0 || r.redundancy > p.maxRedundancy) {
            revert InferenceMarketInvalidRedundancy(r.redundancy, p.maxRedundancy);
        }
        uint40 latest = uint40(block.timestamp) + p.maxJobDuration;
        if (r.deadline <= block.timestamp || r.deadline > latest) {
            revert InferenceMarketInvalidDeadline(r.deadline, uint40(block.timestamp) + 1, latest);
        }
        job.inputHash = _inputHash(r, p.maxInlineInputBytes);
        (uint32 version, bool accepting, uint96 minFee, uint32 minMemoryMB) = models.jobTerms(r.modelId, r.version);
        if (!accepting) revert InferenceMarketVersionNotAccepting(r.modelId, version);
        if (r.feePerProvider < minFee) revert InferenceMarketFeeBelowMinimum(r.feePerProvider, minFee);
        job.client = msg.sender;
        job.token = r.token;
        job.modelId = r.modelId;
        job.version = version;
        job.redundancy = r.redundancy;
        job.protocolFeeBps = p.protocolFeeBps;
        job.feePerProvider = r.feePerProvider;
        job.requestedAt = uint40(block.timestamp);
        job.deadline = r.deadline;
        job.minMemoryMB = minMemoryMB;
        job.requiredTags = r.requiredTags;
        job.priorityWindow = p.priorityWindow;
        // Neither input is the client's to choose: prevrandao is the chain's, job ids are sequential.
        job.seed = uint256(keccak256(abi.encode(block.prevrandao, jobId)));
        if (r.redundancy > 1) {
            uint40 commitEnd = uint40(block.timestamp) + p.commitWindow;
            job.commitDeadline = commitEnd < r.deadline ? commitEnd : r.deadline;
            job.revealWindow = p.revealWindow;
            uint256 quorum = (uint256(r.redundancy) * p.quorumBps) / BPS + 1;
            job.quorum = uint8(quorum > r.redundancy ? r.redundancy : quorum);
            job.collateral = _collateralPerJob;
        }
    }

    function _checkedWord(uint256 jobId, Job calldata job) private view returns (uint256 word) {
        word = _jobs[jobId];
        if (word & HASH_MASK != _jobHash(job) & HASH_MASK) revert InferenceMarketJobMismatch(jobId);
    }

    function _openJob(uint256 jobId, Job calldata job) private view returns (uint256 word) {
        word = _checkedWord(jobId, job);
        if (_status(word) != JobStatus.Open) revert InferenceMarketInvalidStatus(jobId, _status(word));
    }

    /// @dev Whether a seat revealed: a bit of the job word for seats 0-7, a flag of the seat word
    /// for the others.
    function _revealed(uint256 jobId, uint256 word, uint256 seat) private view returns (bool) {
        if (seat < MASKED_SEATS) return word & (1 << seat) != 0;
        return _seats[jobId][seat] & SEAT_REVEALED != 0;
    }

    function _status(uint256 word) private pure returns (JobStatus) {
        return JobStatus(uint8(word >> STATUS_SHIFT));
    }

    function _withStatus(uint256 word, JobStatus status) private pure returns (uint256) {
        return (word & ~(uint256(0xff) << STATUS_SHIFT)) | (uint256(status) << STATUS_SHIFT);
    }

    function _commitClosedWithQuorum(Job calldata job, uint256 word) private view returns (bool) {
        return block.timestamp > job.commitDeadline && uint8(word >> SEATED_SHIFT) >= job.quorum;
    }

    function _startReveal(uint256 jobId, Job calldata job, uint256 word, uint40 startedAt) private returns (uint256) {
        word = _withStatus(word, JobStatus.Revealing) | (uint256(startedAt) << REVEAL_START_SHIFT);
        emit RevealStarted(jobId, startedAt + job.revealWindow);
        return word;
    }

    /// @dev A roster member's rank for a job, when that rank opens, and whether it is open now
    /// (see {assignment}). `rosterIndex < rosterSize` is the caller's to ensure.
    function _rank(
        uint256 seed,
        uint256 k,
        uint256 window,
        uint256 requestedAt,
        uint256 rosterIndex,
        uint256 rosterSize
    ) private view returns (uint256 rank, uint40 opensAt, bool open) {
        unchecked {
            // rosterIndex < rosterSize < 2^32 and seed % rosterSize < rosterSize: no overflow.
            rank = (rosterIndex + rosterSize - seed % rosterSize) % rosterSize;
            if (rank < k || window == 0) return (rank, uint40(requestedAt), true);
            // rank < 2^32, window < 2^32, requestedAt < 2^40: far below 2^256.
            uint256 at = requestedAt + (rank - k + 1) * window;
            // A rank opening beyond uint40 time never opens.
            opensAt = at > type(uint40).max ? type(uint40).max : uint40(at);
            open = block.timestamp >= at;
        }
    }

    /// @dev Reverts unless `provider` (an eligible provider, hence a roster member) may serve the
    /// job now. Only called after the job's hash matched: every word of `job` is clean, so the
    /// fields are read as raw calldata words (Solidity's per-field reads cost several hundred gas).
    function _requireAssigned(
        uint256 jobId,
        Job calldata job,
        address provider,
        uint256 rosterIndex,
        uint256 rosterSize
    ) private view {
        (uint256 seed, uint256 k, uint256 window, uint256 requestedAt) = _assignmentWords(job);
        if (window == 0) return;
        (uint256 rank, uint40 opensAt, bool open) = _rank(seed, k, window, requestedAt, rosterIndex, rosterSize);
        if (!open) revert InferenceMarketNotAssigned(jobId, provider, rank, opensAt);
    }

    /// @dev The Job words the assignment reads (seed, redundancy, priorityWindow, requestedAt),
    /// raw: for a Job whose hash matched only (see {_requireAssigned}).
    function _assignmentWords(Job calldata job)
        private
        pure
        returns (uint256 seed, uint256 k, uint256 window, uint256 requestedAt)
    {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            seed := calldataload(add(job, 0x220))
            k := calldataload(add(job, 0x80))
            window := calldataload(add(job, 0x180))
            requestedAt := calldataload(add(job, 0x100))
        }
    }

    /// @dev Marks a k = 1 job delivered; the caller credits the provider and the protocol fee.
    function _deliver(uint256 jobId, uint256 word, address provider, bytes32 resultHash, bytes calldata outputRef)
        private
    {
        _jobs[jobId] = _withStatus(word, JobStatus.Settled);
        emit ResultSubmitted(jobId, provider, resultHash, outputRef);
    }

    /// @dev A k = 1 job's protocol fee: the escrow's remainder, so nothing is lost to rounding.
    function _k1ProtocolFee(Job calldata job) private pure returns (uint256) {
        return escrowOf(1, job.feePerProvider, job.protocolFeeBps) - job.feePerProvider;
    }

    /// @dev A provider's terms as read once per batch, and how many of its items were delivered.
    struct Payee {
        address provider;
        bool active;
        uint32 memoryMB;
        uint256 tags;
        uint256 served;
        uint256 rosterIndex;
        uint256 rosterSize;
    }

    /// @dev An amount a batch owes in a token to a provider, or to the protocol (account zero).
    struct Owed {
        address account;
        address token;
        uint256 amount;
    }

    /// @dev A batch's running totals.
    struct Batch {
        Payee[] payees;
        uint256 payeeCount;
        Owed[] owed;
        uint256 owedCount;
    }

    /// @dev The batch's entry for `provider`, reading its terms from the registry the first time
    /// (after flushing the batch's totals if the table is full).
    function _payee(Batch memory b, address provider) private returns (Payee memory payee) {
        for (uint256 i = b.payeeCount; i > 0; --i) {
            if (b.payees[i - 1].provider == provider) return b.payees[i - 1];
        }
        if (b.payeeCount == BATCH_PAYEES) _flush(b);
        (bool active, uint256 tags, uint32 memoryMB, uint256 rosterIndex, uint256 rosterSize) =
            providers.providerTerms(provider);
        payee = Payee(provider, active, memoryMB, tags, 0, rosterIndex, rosterSize);
        b.payees[b.payeeCount++] = payee;
    }

    /// @dev Adds `amount` to what the batch owes `account` in `token` (after flushing the
    /// batch's totals if the table is full).
    function _owe(Batch memory b, address account, address token, uint256 amount) private {
        if (amount == 0) return;
        for (uint256 i = b.owedCount; i > 0; --i) {
            Owed memory o = b.owed[i - 1];
            if (o.account == account && o.token == token) {
                o.amount += amount;
                return;
            }
        }
        if (b.owedCount == BATCH_OWED) _flush(b);
        b.owed[b.owedCount++] = Owed(account, token, amount);
    }

    /// @dev Writes a batch's totals: credits and protocol fees, then the registry's served
    /// counters. Both tables are emptied (a provider seen again has its terms read again).
    function _flush(Batch memory b) private {
        for (uint256 i = 0; i < b.owedCount; ++i) {
            Owed memory o = b.owed[i];
            if (o.account == address(0)) protocolFees[o.token] += o.amount;
            else _credit(o.account, o.token, o.amount);
        }
        b.owedCount = 0;
        for (uint256 i = 0; i < b.payeeCount; ++i) {
            Payee memory payee = b.payees[i];
            if (payee.served != 0) providers.recordServed(payee.provider, payee.served);
        }
        b.payeeCount = 0;
    }

    /// @dev The reason a batch item cannot be delivered, as an error selector (zero if it can),
    /// and the job's word.
    function _batchItemError(SignedResult calldata it, Payee memory payee)
        private
        view
        returns (bytes4, uint256 word)
    {
        word = _jobs[it.jobId];
        if (word & HASH_MASK != _jobHash(it.job) & HASH_MASK) {
            return (InferenceMarketJobMismatch.selector, word);
        }
        if (_status(word) != JobStatus.Open) return (InferenceMarketInvalidStatus.selector, word);
        if (it.job.redundancy != 1) return (InferenceMarketWrongRedundancy.selector, word);
        if (block.timestamp > it.job.deadline) return (InferenceMarketDeadlinePassed.selector, word);
        if (!payee.active) return (IProviderRegistry.ProviderRegistryInvalidStatus.selector, word);
        if (it.job.requiredTags & ~payee.tags != 0) {
            return (IProviderRegistry.ProviderRegistryMissingTags.selector, word);
        }
        if (payee.memoryMB < it.job.minMemoryMB) {
            return (IProviderRegistry.ProviderRegistryInsufficientMemory.selector, word);
        }
        (uint256 seed, uint256 k, uint256 window, uint256 requestedAt) = _assignmentWords(it.job);
        if (window != 0) {
            (,, bool open) = _rank(seed, k, window, requestedAt, payee.rosterIndex, payee.rosterSize);
            if (!open) return (InferenceMarketNotAssigned.selector, word);
        }
        return (bytes4(0), word);
    }

    /// @dev A seat as read at settlement, and what settlement makes of it: faulty seats lose
    /// `seized` stake tokens.
    struct SeatView {
        address provider;
        bool revealed;
        bytes32 resultHash;
        bool faulty;
        uint256 seized;
    }

    /// @dev What a settlement computes before it writes anything.
    struct Round {
        bytes32 winner;
        uint256 agreeing;
        bool quorum;
        uint256 compensated; // seats that are not faulty
        uint256 pool; // stake seized from the faulty seats
        uint256 refund; // credited to the client in the job's token
        uint256 toClient; // of the pool
        uint256 perRevealer; // of the pool
    }

    /// @dev Settles a k > 1 job at the end of its reveal phase.
    /// With a quorum the winners (revealed the quorum's hash) are paid the fee each, the rest of
    /// the escrow goes back to the client, and every other seat is faulty. Without a quorum the
    /// client is refunded, every revealer is compensated and only the silent seats are faulty:
    /// not revealing is a proven fault, disagreeing without a quorum is not (no fault counter).
    /// Each faulty seat loses the job's collateral (or what a DAO slash left of its stake); that
    /// pool is credited in the stake token ({_distributePool}) before the registry moves it here.
    function _settleRound(uint256 jobId, Job calldata job, uint256 word) private {
        Round memory r;
        SeatView[] memory seats;
        (seats, r.winner, r.agreeing) = _loadSeats(jobId, word);
        r.quorum = r.agreeing >= job.quorum;
        _classify(r, seats, job.collateral);

        // Effects: the job ends, seats are deleted, every credit is written.
        _clearSeats(jobId, seats.length);
        if (r.quorum) {
            _jobs[jobId] = _withStatus(word, JobStatus.Settled);
            r.refund = _creditRound(job, r.agreeing);
            for (uint256 i = 0; i < seats.length; ++i) {
                if (!seats[i].faulty) _credit(seats[i].provider, job.token, job.feePerProvider);
            }
        } else {
            _jobs[jobId] = _withStatus(word, JobStatus.Refunded);
            r.refund = escrowOf(job.redundancy, job.feePerProvider, job.protocolFeeBps);
            _credit(job.client, job.token, r.refund);
        }
        _distributePool(r, job.client, seats);

        _settleSeats(jobId, job.collateral, seats, r);
        if (r.compensated != seats.length) {
            emit SlashDistributed(jobId, r.pool, r.toClient, r.perRevealer, uint8(r.compensated));
        }
        if (r.quorum) emit JobSettled(jobId, r.winner, uint8(r.agreeing), r.refund);
        else emit JobRefunded(jobId, r.refund, true);
    }

    /// @dev Marks the faulty seats (silent, or revealed otherwise than a quorum) and reads what
    /// each can lose now: the collateral, or less if a DAO slash left less stake. Views only.
    function _classify(Round memory r, SeatView[] memory seats, uint256 collateral) private view {
        for (uint256 i = 0; i < seats.length; ++i) {
            SeatView memory seat = seats[i];
            if (seat.revealed && (!r.quorum || seat.resultHash == r.winner)) {
                ++r.compensated;
                continue;
            }
            seat.faulty = true;
            if (collateral == 0) continue;
            uint256 stake = providers.stakeOf(seat.provider);
            seat.seized = stake < collateral ? stake : collateral;
            r.pool += seat.seized;
        }
    }

    /// @dev The registry releases each seat's collateral, counts its outcome, and moves each
    /// faulty seat's seized stake here; the tokens must back the pool credited before.
    function _settleSeats(uint256 jobId, uint256 collateral, SeatView[] memory seats, Round memory r) private {
        uint256 held = r.pool != 0 ? stakeToken.balanceOf(address(this)) : 0;
        IProviderRegistry.Outcome kept = r.quorum ? IProviderRegistry.Outcome.Served : IProviderRegistry.Outcome.Released;
        for (uint256 i = 0; i < seats.length; ++i) {
            SeatView memory seat = seats[i];
            if (seat.faulty) {
                providers.settle(seat.provider, collateral, seat.seized, _fault(seat), bytes32(jobId));
                emit SeatSlashed(jobId, seat.provider, seat.seized, seat.revealed);
            } else {
                providers.settle(seat.provider, collateral, 0, kept, bytes32(jobId));
            }
        }
        if (r.pool != 0) {
            uint256 received = stakeToken.balanceOf(address(this)) - held;
            if (received != r.pool) revert InferenceMarketTransferShortfall(address(stakeToken), r.pool, received);
        }
    }

    /// @dev Credits the stake slashed from a round's faulty seats (the pool, in the stake token):
    /// the client's `clientShareBps` share, the rest in equal parts to the compensated
    /// (non-faulty) seats, the rounding dust (and everything, when none is compensated) to the
    /// client.
    function _distributePool(Round memory r, address client, SeatView[] memory seats) private {
        uint256 pool = r.pool;
        if (pool == 0) return;
        uint256 toClient = (pool * _clientShareBps) / BPS;
        uint256 per;
        if (r.compensated != 0) per = (pool - toClient) / r.compensated;
        toClient = pool - per * r.compensated;
        (r.toClient, r.perRevealer) = (toClient, per);
        if (toClient != 0) _credit(client, address(stakeToken), toClient);
        if (per == 0) return;
        for (uint256 i = 0; i < seats.length; ++i) {
            if (!seats[i].faulty) _credit(seats[i].provider, address(stakeToken), per);
        }
    }

    /// @dev Accrues a settled round's protocol fee (on the paid fees only) and credits the client
    /// the rest of the escrow; returns that refund.
    function _creditRound(Job calldata job, uint256 agreeing) private returns (uint256 refund) {
        uint256 paid = agreeing * job.feePerProvider;
        uint256 protocolFee = (paid * job.protocolFeeBps) / BPS;
        refund = escrowOf(job.redundancy, job.feePerProvider, job.protocolFeeBps) - paid - protocolFee;
        if (protocolFee != 0) protocolFees[job.token] += protocolFee;
        if (refund != 0) _credit(job.client, job.token, refund);
    }

    /// @dev Deletes an ended job's seats (the events keep the record): the storage is refunded.
    function _clearSeats(uint256 jobId, uint256 seated) private {
        for (uint256 i = 0; i < seated; ++i) {
            delete _seats[jobId][i];
            delete _seatValues[jobId][i];
        }
    }

    /// @dev Reads a job's seats and finds the most common revealed hash. With quorum > k/2 at
    /// most one hash can reach the quorum, so ties below it do not matter.
    function _loadSeats(uint256 jobId, uint256 word)
        private
        view
        returns (SeatView[] memory seats, bytes32 winner, uint256 agreeing)
    {
        uint256 seated = uint8(word >> SEATED_SHIFT);
        seats = new SeatView[](seated);
        for (uint256 i = 0; i < seated; ++i) {
            uint256 seatWord = _seats[jobId][i];
            SeatView memory seat = seats[i];
            seat.provider = address(uint160(seatWord));
            if (i < MASKED_SEATS ? word & (1 << i) == 0 : seatWord & SEAT_REVEALED == 0) continue;
            seat.revealed = true;
            seat.resultHash = _seatValues[jobId][i];
            uint256 count = 1;
            for (uint256 j = 0; j < i; ++j) {
                if (seats[j].revealed && seats[j].resultHash == seat.resultHash) ++count;
            }
            if (count > agreeing) (winner, agreeing) = (seat.resultHash, count);
        }
    }

    function _fault(SeatView memory seat) private pure returns (IProviderRegistry.Outcome) {
        return seat.revealed ? IProviderRegistry.Outcome.Disagreed : IProviderRegistry.Outcome.Missed;
    }

    /// @dev Releases every seat's collateral with no fault and no counter: too few seats were
    /// taken for the job to run.
    function _releaseSeats(uint256 jobId, Job calldata job, SeatView[] memory seats) private {
        for (uint256 i = 0; i < seats.length; ++i) {
            providers.settle(seats[i].provider, job.collateral, 0, IProviderRegistry.Outcome.Released, bytes32(jobId));
        }
    }

    /// @dev Refunds a job that never ran (k = 1 expired, or too few seats taken): nobody's fault.
    function _refund(uint256 jobId, Job calldata job, uint256 word) private {
        _jobs[jobId] = _withStatus(word, JobStatus.Refunded);
        uint256 amount = escrowOf(job.redundancy, job.feePerProvider, job.protocolFeeBps);
        _credit(job.client, job.token, amount);
        emit JobRefunded(jobId, amount, false);
    }

    // ------------------------------------------------------------------ internals: money

    /// @dev Credits have no event of their own: the event of the change that causes them says
    /// who gets what (ResultSubmitted, JobSettled with the ResultRevealed events, JobRefunded,
    /// SlashDistributed with the SeatSlashed and ResultRevealed events).
    function _credit(address account, address token, uint256 amount) private {
        _balances[account][token] += amount;
    }

    function _collect(uint256 jobId, address token, uint256 amount) private {
        if (token == address(0)) {
            if (msg.value != amount) revert InferenceMarketIncorrectEscrow(jobId, msg.value, amount);
            return;
        }
        if (msg.value != 0) revert InferenceMarketIncorrectEscrow(jobId, msg.value, 0);
        if (!_allowedTokens[token]) revert InferenceMarketTokenNotAllowed(token);
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = IERC20(token).balanceOf(address(this)) - before;
        if (received != amount) revert InferenceMarketTransferShortfall(token, amount, received);
    }

    function _withdraw(address token, address to) private returns (uint256 amount) {
        amount = _balances[msg.sender][token];
        if (amount == 0) revert InferenceMarketNothingToWithdraw(msg.sender, token);
        _balances[msg.sender][token] = 0;
        emit Withdrawn(msg.sender, token, amount, to);
        _send(token, to, amount);
    }

    function _send(address token, address to, uint256 amount) private {
        if (token == address(0)) {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert InferenceMarketEthTransferFailed(to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }

    // ------------------------------------------------------------------ internals: misc

    function _inputHash(JobRequest calldata r, uint32 maxInline) private pure returns (bytes32) {
        uint256 inlineSize = r.input.length;
        uint256 cidSize = bytes(r.inputCid).length;
        if ((inlineSize == 0) == (cidSize == 0) || cidSize > 128) revert InferenceMarketInvalidInput(inlineSize, cidSize);
        if (inlineSize > maxInline) revert InferenceMarketInputTooLarge(inlineSize, maxInline);
        return inlineSize != 0 ? keccak256(r.input) : keccak256(bytes(r.inputCid));
    }

    /// @dev The EIP-712 digest of an Attestation, hashed in scratch memory (nothing allocated:
    /// a batch computes one per item).
    function _attestationDigest(uint256 jobId, Job calldata job, bytes32 resultHash, bytes calldata outputRef)
        private
        view
        returns (bytes32)
    {
        bytes32 typeHash = ATTESTATION_TYPEHASH;
        bytes32 modelId = job.modelId;
        uint32 version = job.version;
        bytes32 inputHash = job.inputHash;
        bytes32 structHash;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, outputRef.offset, outputRef.length)
            let outputRefHash := keccak256(ptr, outputRef.length)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), jobId)
            mstore(add(ptr, 0x40), modelId)
            mstore(add(ptr, 0x60), version)
            mstore(add(ptr, 0x80), inputHash)
            mstore(add(ptr, 0xa0), resultHash)
            mstore(add(ptr, 0xc0), outputRefHash)
            structHash := keccak256(ptr, 0xe0)
        }
        return _hashTypedDataV4(structHash);
    }

    /// @dev keccak256(abi.encode(job)) of a calldata Job, hashed in scratch memory: every field of
    /// a Job is static, so its ABI encoding is its 18 calldata words. A Job passed with dirty
    /// padding hashes differently and is refused as a mismatch.
    function _jobHash(Job calldata job) private pure returns (uint256 h) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, job, JOB_BYTES)
            h := keccak256(ptr, JOB_BYTES)
        }
    }

    /// @dev A seat's stored commitment: `keccak256(abi.encode(commitment, provider))`, hashed in
    /// scratch space.
    function _boundTo(bytes32 commitment, address provider) private pure returns (bytes32 bound) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(0x00, commitment)
            mstore(0x20, and(provider, 0xffffffffffffffffffffffffffffffffffffffff))
            bound := keccak256(0x00, 0x40)
        }
    }

    function _setPolicy(Policy memory p) private {
        if (p.protocolFeeBps > MAX_PROTOCOL_FEE_BPS) revert InferenceMarketPolicyOutOfBounds("protocolFeeBps", p.protocolFeeBps);
        if (p.quorumBps < BPS / 2 || p.quorumBps > BPS) revert InferenceMarketPolicyOutOfBounds("quorumBps", p.quorumBps);
        if (p.maxRedundancy == 0 || p.maxRedundancy > MAX_REDUNDANCY) {
            revert InferenceMarketPolicyOutOfBounds("maxRedundancy", p.maxRedundancy);
        }
        if (p.commitWindow == 0 || p.commitWindow > MAX_WINDOW) revert InferenceMarketPolicyOutOfBounds("commitWindow", p.commitWindow);
        if (p.revealWindow == 0 || p.revealWindow > MAX_WINDOW) revert InferenceMarketPolicyOutOfBounds("revealWindow", p.revealWindow);
        if (p.maxInlineInputBytes > MAX_INLINE_INPUT) {
            revert InferenceMarketPolicyOutOfBounds("maxInlineInputBytes", p.maxInlineInputBytes);
        }
        if (p.priorityWindow > MAX_PRIORITY_WINDOW) {
            revert InferenceMarketPolicyOutOfBounds("priorityWindow", p.priorityWindow);
        }
        if (p.maxJobDuration < MIN_JOB_DURATION || p.maxJobDuration > MAX_JOB_DURATION) {
            revert InferenceMarketPolicyOutOfBounds("maxJobDuration", p.maxJobDuration);
        }
        if (p.clientShareBps > BPS) revert InferenceMarketPolicyOutOfBounds("clientShareBps", p.clientShareBps);
        Terms storage t = _terms;
        t.protocolFeeBps = p.protocolFeeBps;
        t.quorumBps = p.quorumBps;
        t.maxRedundancy = p.maxRedundancy;
        t.commitWindow = p.commitWindow;
        t.revealWindow = p.revealWindow;
        t.priorityWindow = uint16(p.priorityWindow); // bounded by MAX_PRIORITY_WINDOW above
        t.maxInlineInputBytes = p.maxInlineInputBytes;
        t.maxJobDuration = p.maxJobDuration;
        _collateralPerJob = p.collateralPerJob;
        _clientShareBps = p.clientShareBps;
        emit PolicySet(p);
    }
}
