// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {IModelRollouts} from "../interfaces/IModelRollouts.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IProviderRegistry} from "../interfaces/IProviderRegistry.sol";
import {InferenceMarketBase} from "./InferenceMarketBase.sol";
import {JobWords} from "./JobWords.sol";
import {JobWord, JobWordLib} from "./JobWord.sol";
import {ProviderWord} from "./ProviderWord.sol";

/// @title InferenceMarket
/// @notice Escrowed inference jobs. See {IInferenceMarket}; challenges of k = 1 results
/// ({IInferenceMarketCourt}) are served on this address by the court contract, which runs by
/// DELEGATECALL on this market's storage (see {InferenceMarketBase} for the storage).
contract InferenceMarket is InferenceMarketBase, IInferenceMarket {
    using SafeERC20 for IERC20;
    using JobWords for uint256[6];

    /// @inheritdoc IInferenceMarket
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(uint256 jobId,bytes32 modelId,uint32 version,bytes32 inputHash,bytes32 resultHash,bytes outputRef)"
    );

    // Table size of a batch (distinct providers).
    uint256 private constant BATCH_PAYEES = 8;

    // A batch item's length prefix (uint32, big-endian) and its fixed part after it: jobId, the
    // job's 6 words and resultHash (and in a signed batch a 65-byte signature at the end); the
    // outputRef is the rest.
    uint256 private constant ITEM_PREFIX = 4;

    uint256 private constant OWN_ITEM_FIXED = 0x20 + JOB_BYTES + 0x20;

    uint256 private constant ITEM_FIXED = OWN_ITEM_FIXED + 65;

    /// @inheritdoc IInferenceMarket
    address public immutable court;

    /// @param admin Initial `DEFAULT_ADMIN_ROLE` holder (see {GuardianPausable}).
    /// @param guardian Initial guardian, or address(0).
    /// @param models_ The model registry.
    /// @param providers_ The provider registry (this market needs its MARKET_ROLE).
    /// @param treasury_ Where protocol fees are sent.
    /// @param policy_ Initial policy.
    /// @param challengePolicy_ Initial challenge policy.
    /// @param court_ The court that serves the challenge functions, deployed with the same
    /// registries (see {IInferenceMarketCourt}).
    constructor(
        address admin,
        address guardian,
        IModelRegistry models_,
        IProviderRegistry providers_,
        address treasury_,
        Policy memory policy_,
        ChallengePolicy memory challengePolicy_,
        address court_
    ) InferenceMarketBase(admin, guardian, models_, providers_) {
        if (treasury_ == address(0) || court_ == address(0)) revert InferenceMarketZeroAddress();
        // The court runs on this market's storage with its own immutables: they must be ours.
        InferenceMarketBase c = InferenceMarketBase(court_);
        if (c.providers() != providers_ || c.models() != models_) revert InferenceMarketCourtMismatch(court_);
        court = court_;
        treasury = treasury_;
        emit TreasurySet(treasury_);
        _terms.nextJobId = 1;
        _setPolicy(policy_);
        _setChallengePolicy(challengePolicy_);
    }

    /// @notice Forwards {IInferenceMarketCourt}'s functions (and any other unknown call) to the
    /// court by DELEGATECALL: they run on this market's storage and balances.
    // solhint-disable-next-line no-complex-fallback
    fallback() external {
        address target = court;
        // solhint-disable-next-line no-inline-assembly
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) {
                revert(0, returndatasize())
            }
            return(0, returndatasize())
        }
    }

    // ------------------------------------------------------------------ clients

    /// @inheritdoc IInferenceMarket
    function requestJob(JobRequest calldata r) external payable whenNotPaused nonReentrant returns (uint256 jobId) {
        Terms storage p = _terms;
        if (_seatTerms.woundDown) revert InferenceMarketWoundDown();
        jobId = p.nextJobId++;
        uint256[6] memory job = _newJob(r, p, jobId);
        uint256 jobHash;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            // The pre-image is (jobId, job), as {_jobHash} hashes it, in free memory.
            let ptr := mload(0x40)
            mstore(ptr, jobId)
            mcopy(add(ptr, 0x20), job, JOB_BYTES)
            jobHash := keccak256(ptr, add(JOB_BYTES, 0x20))
        }
        _jobs[jobId] = JobWordLib.create(jobHash, JobStatus.Open);
        _collect(jobId, r.token, escrowOf(r.redundancy, r.feePerProvider, p.protocolFeeBps));
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
    function cancel(uint256 jobId, uint256[6] calldata job) external nonReentrant {
        JobWord word = _checkedWord(jobId, job);
        if (msg.sender != job.client()) revert InferenceMarketNotClient(jobId, msg.sender);
        JobStatus status = word.status();
        if (status != JobStatus.Open) revert InferenceMarketNotCancellable(jobId, status);
        if (models.acceptsJobs(job.modelId(), job.version()))
            revert InferenceMarketVersionStillAccepting(job.modelId(), job.version());
        (SeatView[] memory seats, , ) = _loadSeats(jobId, word);
        _jobs[jobId] = word.withStatus(JobStatus.Refunded);
        uint256 amount = escrowOf(job.redundancy(), job.feePerProvider(), job.protocolFeeBps());
        _credit(job.client(), job.token(), amount);
        _clearSeats(jobId, seats.length);
        emit JobCancelled(jobId, amount);
        _releaseSeats(job, seats);
    }

    // ------------------------------------------------------------------ the model registry's mirror

    /// @inheritdoc IInferenceMarket
    function syncModel(bytes32 modelId, uint256 word) external {
        if (msg.sender != address(models)) revert InferenceMarketNotModelRegistry(msg.sender);
        _mirror[modelId].word = word;
        emit ModelMirrored(modelId, word);
    }

    /// @inheritdoc IInferenceMarket
    function syncVersion(bytes32 modelId, uint32 version, uint256 word) external {
        if (msg.sender != address(models)) revert InferenceMarketNotModelRegistry(msg.sender);
        _mirror[modelId].versions[version] = word;
        emit VersionMirrored(modelId, version, word);
    }

    // ------------------------------------------------------------------ providers, k = 1

    /// @inheritdoc IInferenceMarket
    function submitResult(
        uint256 jobId,
        uint256[6] calldata job,
        bytes32 resultHash,
        bytes calldata outputRef
    ) external nonReentrant {
        _openJob(jobId, job);
        if (job.redundancy() != 1) revert InferenceMarketWrongRedundancy(jobId, job.redundancy());
        if (block.timestamp > job.deadline()) revert InferenceMarketDeadlinePassed(jobId, job.deadline());
        (uint256 seed, uint256 k, uint256 window, uint256 requestedAt) = _assignmentWords(job);
        _lockAssigned(jobId, job, 0, seed, k, window, requestedAt);
        _deliver(jobId, job, msg.sender, resultHash, outputRef);
    }

    /// @inheritdoc IInferenceMarket
    function submitAttestations(bytes calldata items) external nonReentrant returns (uint256 delivered) {
        // Whatever the items' order, each provider's terms and free stake are read once, and its
        // collateral locked once, at the end (or when the batch's table fills up, for batches of
        // many providers).
        return _deliverBatch(items, false);
    }

    /// @inheritdoc IInferenceMarket
    function submitResults(bytes calldata items) external nonReentrant returns (uint256 delivered) {
        // The sender's transaction signs the whole batch: no per-item signature to recover, and
        // the sender's terms and free stake are read once and its collateral locked once.
        return _deliverBatch(items, true);
    }

    // ------------------------------------------------------------------ k = 1 claims and challenges

    // ------------------------------------------------------------------ providers, k > 1

    /// @inheritdoc IInferenceMarket
    function commit(
        uint256 jobId,
        uint256[6] calldata job,
        bytes32 commitment
    ) external nonReentrant returns (uint8 seat) {
        JobWord word = _openJob(jobId, job);
        if (job.redundancy() < 2) revert InferenceMarketWrongRedundancy(jobId, job.redundancy());
        if (block.timestamp > job.commitDeadline()) revert InferenceMarketDeadlinePassed(jobId, job.commitDeadline());
        (uint256 seed, uint256 k, uint256 window, uint256 requestedAt) = _assignmentWords(job);
        seat = word.seated();
        _lockAssigned(jobId, job, seat, seed, k, window, requestedAt);
        _seats[jobId][seat] = uint160(msg.sender);
        _seatValues[jobId][seat] = _boundTo(commitment, msg.sender);
        word = word.withSeat();
        emit SeatCommitted(jobId, msg.sender, seat, commitment);
        if (seat + 1 == job.redundancy()) word = _startReveal(jobId, job, word, uint40(block.timestamp));
        _jobs[jobId] = word;
    }

    /// @inheritdoc IInferenceMarket
    function reveal(
        uint256 jobId,
        uint256[6] calldata job,
        uint8 seat,
        bytes32 resultHash,
        bytes32 salt,
        bytes calldata outputRef
    ) external nonReentrant {
        JobWord word = _checkedWord(jobId, job);
        JobStatus status = word.status();
        if (status == JobStatus.Open && _commitClosedWithQuorum(job, word)) {
            word = _startReveal(jobId, job, word, job.commitDeadline());
            status = JobStatus.Revealing;
        }
        if (status != JobStatus.Revealing) revert InferenceMarketInvalidStatus(jobId, status);
        uint40 revealDeadline = word.time() + job.revealWindow();
        if (block.timestamp > revealDeadline) revert InferenceMarketRevealClosed(jobId, revealDeadline);
        word = _revealSeat(jobId, word, seat, resultHash, salt, outputRef);
        if (word.revealed() == word.seated()) {
            _settleRound(jobId, job, word);
        } else {
            _jobs[jobId] = word;
        }
    }

    // ------------------------------------------------------------------ anyone

    /// @inheritdoc IInferenceMarket
    function finalize(uint256 jobId, uint256[6] calldata job) external nonReentrant {
        JobWord word = _checkedWord(jobId, job);
        JobStatus status = word.status();
        // A wound-down market refunds Open jobs at once (finding 12); the flag is read only where
        // finalize would otherwise refuse, so no live path pays for it.
        if (job.redundancy() == 1) {
            if (status != JobStatus.Open || (block.timestamp <= job.deadline() && !_seatTerms.woundDown)) {
                revert InferenceMarketNotFinalizable(jobId, status);
            }
            _refund(jobId, job, word);
            return;
        }
        if (status == JobStatus.Open) {
            bool commitOpen = block.timestamp <= job.commitDeadline();
            if (commitOpen && !_seatTerms.woundDown) revert InferenceMarketNotFinalizable(jobId, status);
            if (commitOpen || word.seated() < job.quorum()) {
                // Too few providers came, or the market was wound down before the seats filled:
                // nobody is at fault.
                (SeatView[] memory seats, , ) = _loadSeats(jobId, word);
                _refund(jobId, job, word);
                _clearSeats(jobId, seats.length);
                _releaseSeats(job, seats);
                return;
            }
            word = _startReveal(jobId, job, word, job.commitDeadline());
            status = JobStatus.Revealing;
        }
        if (status != JobStatus.Revealing || block.timestamp <= word.time() + job.revealWindow()) {
            revert InferenceMarketNotFinalizable(jobId, status);
        }
        _settleRound(jobId, job, word);
    }

    // ------------------------------------------------------------------ pause

    // ------------------------------------------------------------------ views

    /// @inheritdoc IInferenceMarket
    function policy() external view returns (Policy memory) {
        Terms storage t = _terms;
        return
            Policy({
                protocolFeeBps: t.protocolFeeBps,
                quorumBps: t.quorumBps,
                maxRedundancy: t.maxRedundancy,
                commitWindow: t.commitWindow,
                revealWindow: t.revealWindow,
                priorityWindow: t.priorityWindow,
                maxInlineInputBytes: t.maxInlineInputBytes,
                maxJobDuration: t.maxJobDuration,
                collateralPerJob: _seatTerms.collateralPerJob,
                clientShareBps: _seatTerms.clientShareBps
            });
    }

    /// @inheritdoc IInferenceMarket
    function jobState(
        uint256 jobId
    ) external view returns (JobStatus status, uint8 seated, uint8 revealed, uint40 revealStartedAt) {
        JobWord word = _jobs[jobId];
        return (word.status(), word.seated(), word.revealed(), word.time());
    }

    /// @inheritdoc IInferenceMarket
    function seatOf(uint256 jobId, uint8 seat) external view returns (address provider, bool revealed, bytes32 value) {
        provider = address(uint160(_seats[jobId][seat]));
        if (provider == address(0)) return (address(0), false, bytes32(0)); // no such seat, or the job ended
        revealed = _revealed(jobId, _jobs[jobId], seat);
        value = _seatValues[jobId][seat];
    }

    /// @inheritdoc IInferenceMarket
    function attestationDigest(
        uint256 jobId,
        uint256[6] calldata job,
        bytes32 resultHash,
        bytes calldata outputRef
    ) external view returns (bytes32) {
        return _attestationDigest(jobId, job, resultHash, outputRef);
    }

    /// @inheritdoc IInferenceMarket
    function assignment(
        uint256[6] calldata job,
        address provider
    ) external view returns (bool member, uint256 rank, uint40 opensAt) {
        uint256 slot = ProviderWord.rosterSlot(_providerWords[provider]);
        uint256 rosterSize = _seatTerms.rosterSize;
        if (slot == 0 || slot > rosterSize) return (false, 0, 0);
        uint256 rosterIndex = slot - 1;
        (rank, opensAt, ) = _rank(
            job.seed(),
            job.redundancy(),
            job.priorityWindow(),
            job.requestedAt(),
            rosterIndex,
            rosterSize
        );
        member = true;
    }

    /// @inheritdoc IInferenceMarket
    function isFinalResult(
        uint256 jobId,
        uint256[6] calldata job,
        address provider,
        bytes32 resultHash
    ) external view returns (bool) {
        JobWord word = _jobs[jobId];
        JobStatus status = word.status();
        uint256 h;
        if (job.redundancy() == 1) {
            if (status == JobStatus.Delivered) {
                // Final once its challenge window passed (it can no longer be challenged).
                if (block.timestamp <= uint256(word.time()) + job.challengeWindow()) return false;
            } else if (status != JobStatus.Settled) {
                return false;
            }
            h = _deliveryHash(jobId, job, provider, resultHash);
        } else {
            if (status != JobStatus.Settled) return false;
            h = _settledHash(jobId, job, resultHash);
        }
        // The job's parameters (its redundancy among them) are bound by the hash.
        return word.binds(h);
    }

    /// @inheritdoc IInferenceMarket
    function escrowOf(uint8 redundancy, uint96 feePerProvider, uint16 protocolFeeBps) public pure returns (uint256) {
        return _escrowOf(redundancy, feePerProvider, protocolFeeBps);
    }

    /// @inheritdoc IInferenceMarket
    function stakeToken() external view returns (IERC20) {
        return _stake;
    }

    /// @inheritdoc IInferenceMarket
    function protocolFees(address token) external view returns (uint256) {
        return _protocolFees[token];
    }

    /// @inheritdoc IInferenceMarket
    function nextJobId() external view returns (uint256) {
        return _terms.nextJobId;
    }

    /// @inheritdoc IInferenceMarket
    function balanceOf(address account, address token) external view returns (uint256) {
        return _balances[account][token];
    }

    /// @inheritdoc IInferenceMarket
    function isTokenAllowed(address token) external view returns (bool allowed) {
        return _paymentTokens[token].allowed;
    }

    /// @inheritdoc IInferenceMarket
    function minFeeIn(address token, uint96 minFeeWei) external view returns (uint256 minimum) {
        return token == address(0) ? minFeeWei : _minFeeIn(token, minFeeWei);
    }

    // ------------------------------------------------------------------ internals: jobs

    /// @dev Validates a request against the policy and the model registry; pins the version;
    /// returns the job's words (see {JobWords}).
    function _newJob(
        JobRequest calldata r,
        Terms storage p,
        uint256 jobId
    ) private view returns (uint256[6] memory job) {
        if (r.redundancy == 0 || r.redundancy > p.maxRedundancy) {
            revert InferenceMarketInvalidRedundancy(r.redundancy, p.maxRedundancy);
        }
        uint40 latest = uint40(block.timestamp) + p.maxJobDuration;
        if (r.deadline <= block.timestamp || r.deadline > latest) {
            revert InferenceMarketInvalidDeadline(r.deadline, uint40(block.timestamp) + 1, latest);
        }
        job[5] = uint256(_inputHash(r, p.maxInlineInputBytes));
        if (r.requiredTags > JobWords.MAX_TAGS) revert InferenceMarketTagsOutOfRange(r.requiredTags);
        // Neither input is the client's to choose: prevrandao is the chain's, job ids are sequential.
        // The seed also draws whether a version-0 request is a rollout's canary job.
        uint96 seed = uint96(uint256(keccak256(abi.encode(block.prevrandao, jobId))));
        (uint256 quorum, uint256 windows) = _phaseTerms(r, p);
        job[0] = JobWords.pack0(msg.sender, uint40(block.timestamp), r.deadline, r.redundancy, uint8(quorum));
        job[1] = JobWords.pack1(r.token, r.feePerProvider);
        job[2] =
            _modelTerms(r, seed) |
            (uint256(p.protocolFeeBps) << 176) |
            (uint256(p.priorityWindow) << 144) |
            windows;
        job[3] = JobWords.pack3(r.requiredTags, seed, _seatTerms.collateralPerJob);
        job[4] = uint256(r.modelId);
    }

    /// @dev The model registry's terms for a request, as placed in word 2 (version, minMemoryMB,
    /// counted): the version must accept jobs and the fee must reach its minimum in the token.
    /// Read from the registry's mirror in this market's storage ({syncModel}, {syncVersion}).
    function _modelTerms(JobRequest calldata r, uint96 seed) private view returns (uint256) {
        (uint32 version, bool accepting, uint96 minFee, uint32 minMemoryMB, bool counted) = _mirrorTerms(
            r.modelId,
            r.version,
            seed
        );
        if (!accepting) revert InferenceMarketVersionNotAccepting(r.modelId, version);
        // ETH needs no read; an ERC-20's allowlist word is read here, once, with its rate.
        uint256 minimum = r.token == address(0) ? minFee : _minFeeIn(r.token, minFee);
        if (r.feePerProvider < minimum) revert InferenceMarketFeeBelowMinimum(r.feePerProvider, minimum);
        return (uint256(version) << 224) | (uint256(minMemoryMB) << 192) | ((counted ? uint256(1) : 0) << 32);
    }

    /// @dev A request's quorum and its windows as placed in word 2 (see {JobWords}): k = 1 takes
    /// the challenge window; k > 1 a commit deadline (capped by the job's), the reveal window and
    /// a quorum above `quorumBps` of k (at most k).
    function _phaseTerms(
        JobRequest calldata r,
        Terms storage p
    ) private view returns (uint256 quorum, uint256 windows) {
        if (r.redundancy == 1) return (0, uint256(_seatTerms.challengeWindow) << 40);
        uint40 commitEnd = uint40(block.timestamp) + p.commitWindow;
        uint256 commitDeadline = commitEnd < r.deadline ? commitEnd : r.deadline;
        windows = (commitDeadline << 104) | (uint256(p.revealWindow) << 72);
        quorum = (uint256(r.redundancy) * p.quorumBps) / BPS + 1;
        if (quorum > r.redundancy) quorum = r.redundancy;
    }

    /// @dev A job's word, checked against `job` while the job is Open or Revealing. Past those, a
    /// k = 1 job's word binds its delivery or its challenge instead of the job, so it is returned
    /// unchecked: every caller refuses those statuses by name (without trusting `job`).
    function _checkedWord(uint256 jobId, uint256[6] calldata job) private view returns (JobWord word) {
        word = _jobs[jobId];
        JobStatus status = word.status();
        if (status != JobStatus.None && status != JobStatus.Open && status != JobStatus.Revealing) return word;
        if (!word.binds(_jobHash(jobId, job))) revert InferenceMarketJobMismatch(jobId);
    }

    function _openJob(uint256 jobId, uint256[6] calldata job) private view returns (JobWord word) {
        word = _checkedWord(jobId, job);
        if (word.status() != JobStatus.Open) revert InferenceMarketInvalidStatus(jobId, word.status());
    }

    function _commitClosedWithQuorum(uint256[6] calldata job, JobWord word) private view returns (bool) {
        return block.timestamp > job.commitDeadline() && word.seated() >= job.quorum();
    }

    function _startReveal(
        uint256 jobId,
        uint256[6] calldata job,
        JobWord word,
        uint40 startedAt
    ) private returns (JobWord) {
        word = word.withStatus(JobStatus.Revealing).withTime(startedAt);
        emit RevealStarted(jobId, startedAt + job.revealWindow());
        return word;
    }

    /// @dev The fields the assignment reads (seed, redundancy, priorityWindow, requestedAt).
    function _assignmentWords(
        uint256[6] calldata job
    ) private pure returns (uint256 seed, uint256 k, uint256 window, uint256 requestedAt) {
        return (job.seed(), job.redundancy(), job.priorityWindow(), job.requestedAt());
    }

    /// @dev The hash a settled k > 1 job's word binds: the job's and its winning result.
    function _settledHash(uint256 jobId, uint256[6] calldata job, bytes32 winner) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(_jobHash(jobId, job), winner)));
    }

    /// @dev Marks a k = 1 job delivered by `provider` (whose collateral the caller locks): the
    /// word now binds the delivery and holds its time.
    function _deliver(
        uint256 jobId,
        uint256[6] calldata job,
        address provider,
        bytes32 resultHash,
        bytes calldata outputRef
    ) private {
        _deliverBound(jobId, _jobHash(jobId, job), provider, resultHash, outputRef);
    }

    /// @dev {_deliver} with the job's hash already computed.
    function _deliverBound(
        uint256 jobId,
        uint256 jobHash,
        address provider,
        bytes32 resultHash,
        bytes calldata outputRef
    ) private {
        _jobs[jobId] = JobWordLib.create(_deliveryHashOf(jobHash, provider, resultHash), JobStatus.Delivered).withTime(
            block.timestamp
        );
        emit ResultSubmitted(jobId, provider, resultHash, outputRef);
    }

    /// @dev Frames the batch item at `at` (its length prefix): where the next item starts, and
    /// whether this one holds at least `fixedBytes` after its prefix. An item too short is rejected
    /// alone; one whose length runs past the end of `items` (or whose prefix is cut) rejects the
    /// rest at once, as whatever follows cannot be framed (`next` is then the end).
    function _framedItem(
        bytes calldata items,
        uint256 at,
        uint256 fixedBytes
    ) private returns (uint256 next, bool fits) {
        uint256 len;
        if (items.length - at >= ITEM_PREFIX) {
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                len := shr(224, calldataload(add(items.offset, at)))
            }
            next = at + ITEM_PREFIX + len; // len < 2^32: no overflow
        }
        if (next == 0 || next > items.length) {
            emit AttestationRejected(
                _itemJobId(items, at, items.length),
                address(0),
                InferenceMarketMalformedAttestation.selector
            );
            return (items.length, false);
        }
        fits = len >= fixedBytes;
        if (!fits) {
            emit AttestationRejected(
                _itemJobId(items, at, next),
                address(0),
                InferenceMarketMalformedAttestation.selector
            );
        }
    }

    /// @dev The job id a malformed item at `at` carries, if its bytes up to `end` hold one: for
    /// the rejection event only.
    function _itemJobId(bytes calldata items, uint256 at, uint256 end) private pure returns (uint256 jobId) {
        if (end < at + ITEM_PREFIX + 0x20) return 0;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            jobId := calldataload(add(items.offset, add(at, ITEM_PREFIX)))
        }
    }

    /// @dev Delivers each item of a batch: the sender's own results (`own`) or results signed by
    /// their providers. The items are framed here, from raw calldata, never by the ABI decoder:
    /// a malformed item is skipped like any other bad item instead of reverting the batch
    /// (finding 11). Each provider's collateral is locked once, at the end ({_flush}).
    function _deliverBatch(bytes calldata items, bool own) private returns (uint256 delivered) {
        // As for a single seat ({_lockFor}): a wound-down market takes no new delivery.
        if (_seatTerms.woundDown) revert InferenceMarketWoundDown();
        Batch memory b = Batch({payees: new Payee[](own ? 1 : BATCH_PAYEES), payeeCount: 0});
        Payee memory sender;
        if (own) sender = _payee(b, msg.sender);
        uint256 fixedBytes = own ? OWN_ITEM_FIXED : ITEM_FIXED;
        uint256 at = 0;
        while (at < items.length) {
            (uint256 next, bool fits) = _framedItem(items, at, fixedBytes);
            if (fits) {
                uint256 start = at + ITEM_PREFIX;
                if (own ? _deliverFramed(sender, items, start, next) : _deliverSigned(b, items, start, next))
                    ++delivered;
            }
            at = next;
        }
        _flush(b);
    }

    /// @dev Recovers the signer of a signed batch item (`items[start:end]`, after its prefix) and
    /// delivers it for them; returns whether it was delivered.
    function _deliverSigned(Batch memory b, bytes calldata items, uint256 start, uint256 end) private returns (bool) {
        (uint256 jobId, uint256[6] calldata job, bytes32 resultHash) = _itemFields(items, start);
        bytes calldata outputRef = items[start + OWN_ITEM_FIXED:end - 65];
        (address provider, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(
            _attestationDigest(jobId, job, resultHash, outputRef),
            items[end - 65:end]
        );
        if (err != ECDSA.RecoverError.NoError) {
            emit AttestationRejected(jobId, address(0), InferenceMarketInvalidSignature.selector);
            return false;
        }
        return _deliverFramed(_payee(b, provider), items, start, end - 65);
    }

    /// @dev Checks and delivers one framed item for `payee` (its outputRef is
    /// `items[start + OWN_ITEM_FIXED:refEnd]`); returns whether it was delivered. The job is a view
    /// into the item's bytes: none of its fields is read through Solidity's checked accessors
    /// before its hash matched the job word (a dirty word would revert there), so a garbage item
    /// is only ever rejected.
    function _deliverFramed(
        Payee memory payee,
        bytes calldata items,
        uint256 start,
        uint256 refEnd
    ) private returns (bool) {
        (uint256 jobId, uint256[6] calldata job, bytes32 resultHash) = _itemFields(items, start);
        uint256 jobHash = _jobHash(jobId, job);
        bytes4 reason = _batchItemError(jobId, jobHash, job, payee);
        if (reason == IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector && _topUp(payee, job)) {
            reason = bytes4(0);
        }
        if (reason != bytes4(0)) {
            emit AttestationRejected(jobId, payee.provider, reason);
            return false;
        }
        _deliverBound(jobId, jobHash, payee.provider, resultHash, items[start + OWN_ITEM_FIXED:refEnd]);
        payee.free -= job.collateral();
        return true;
    }

    /// @dev The fixed fields of the item whose body starts at `start`.
    function _itemFields(
        bytes calldata items,
        uint256 start
    ) private pure returns (uint256 jobId, uint256[6] calldata job, bytes32 resultHash) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := add(items.offset, start)
            jobId := calldataload(ptr)
            job := add(ptr, 0x20)
            resultHash := calldataload(add(ptr, add(0x20, JOB_BYTES)))
        }
    }

    /// @dev A provider's word as read once per batch, and its free collateral as the batch's
    /// items take it.
    struct Payee {
        address provider;
        uint256 word;
        uint256 free;
    }

    /// @dev A batch's providers.
    struct Batch {
        Payee[] payees;
        uint256 payeeCount;
    }

    /// @dev The batch's entry for `provider`, reading its word the first time (after writing
    /// back the table's words if it is full).
    function _payee(Batch memory b, address provider) private returns (Payee memory payee) {
        for (uint256 i = b.payeeCount; i > 0; --i) {
            if (b.payees[i - 1].provider == provider) return b.payees[i - 1];
        }
        if (b.payeeCount == BATCH_PAYEES) _flush(b);
        uint256 w = _providerWords[provider];
        payee = Payee(provider, w, ProviderWord.free(w));
        b.payees[b.payeeCount++] = payee;
    }

    /// @dev Allocates the payee's free stake in the registry when an item needs more collateral
    /// than its word holds; returns whether the item is now covered.
    function _topUp(Payee memory payee, uint256[6] calldata job) private returns (bool) {
        uint256 need = job.collateral() - payee.free;
        try providers.allocate(payee.provider, need, ProviderWord.MAX_FREE - payee.free) returns (uint256 added) {
            payee.free += added;
            return true;
        } catch {
            return false;
        }
    }

    /// @dev Writes back the free collateral of each provider in the table, and empties it (a
    /// provider seen again has its word read again).
    function _flush(Batch memory b) private {
        for (uint256 i = 0; i < b.payeeCount; ++i) {
            Payee memory payee = b.payees[i];
            if (payee.free != ProviderWord.free(payee.word)) {
                _providerWords[payee.provider] = ProviderWord.withFree(payee.word, payee.free);
            }
        }
        b.payeeCount = 0;
    }

    /// @dev The reason a batch item cannot be delivered, as an error selector (zero if it can).
    /// The job's fields are read only once its hash matched (see {_deliverFramed}).
    function _batchItemError(
        uint256 jobId,
        uint256 jobHash,
        uint256[6] calldata job,
        Payee memory payee
    ) private view returns (bytes4) {
        JobWord word = _jobs[jobId];
        JobStatus status = word.status();
        // Not open (delivered, ended): refused by status first, the word may bind a delivery.
        if (status != JobStatus.None && status != JobStatus.Open) return InferenceMarketInvalidStatus.selector;
        if (!word.binds(jobHash)) return InferenceMarketJobMismatch.selector;
        if (status != JobStatus.Open) return InferenceMarketInvalidStatus.selector;
        if (job.redundancy() != 1) return InferenceMarketWrongRedundancy.selector;
        if (block.timestamp > job.deadline()) return InferenceMarketDeadlinePassed.selector;
        uint256 w = payee.word;
        uint256 slot = ProviderWord.rosterSlot(w);
        if (slot == 0) return InferenceMarketProviderNotEligible.selector;
        if (block.timestamp < ProviderWord.frozenUntil(w)) return InferenceMarketProviderFrozen.selector;
        if (job.requiredTags() & ~ProviderWord.tags(w) != 0) return InferenceMarketProviderMissingTags.selector;
        if (ProviderWord.memoryMB(w) < job.minMemoryMB()) return InferenceMarketProviderInsufficientMemory.selector;
        (uint256 seed, uint256 k, uint256 window, uint256 requestedAt) = _assignmentWords(job);
        if (window != 0) {
            (, , bool open) = _rank(seed, k, window, requestedAt, slot - 1, _seatTerms.rosterSize);
            if (!open) return InferenceMarketNotAssigned.selector;
        }
        // Last: a shortfall is topped up from the registry by the caller.
        if (payee.free < job.collateral()) return IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector;
        return bytes4(0);
    }

    /// @dev Settles a k > 1 job at the end of its reveal phase.
    /// With a quorum the winners (revealed the quorum's hash) are paid the fee each, the rest of
    /// the escrow goes back to the client, and every other seat is faulty. Without a quorum the
    /// client is refunded, every revealer is compensated and only the silent seats are faulty:
    /// not revealing is a proven fault, disagreeing without a quorum is not (no fault counter).
    /// Each faulty seat loses the job's collateral (or what a DAO slash left of its stake); that
    /// pool is credited in the stake token ({_distributePool}) before the registry moves it here.
    function _settleRound(uint256 jobId, uint256[6] calldata job, JobWord word) private {
        Round memory r;
        SeatView[] memory seats;
        (seats, r.winner, r.agreeing) = _loadSeats(jobId, word);
        r.quorum = r.agreeing >= job.quorum();
        _classify(r, seats, job.collateral());

        // Effects: the job ends, seats are deleted, every credit is written.
        _clearSeats(jobId, seats.length);
        if (r.quorum) {
            // The settled word binds the winning result (keccak256(job hash, winner)), so that
            // {isFinalResult} can answer for it; nothing reads a settled word's job hash.
            _jobs[jobId] = word.withStatus(JobStatus.Settled).rebind(_settledHash(jobId, job, r.winner));
            r.refund = _creditRound(job, r.agreeing);
            for (uint256 i = 0; i < seats.length; ++i) {
                if (!seats[i].faulty) _credit(seats[i].provider, job.token(), job.feePerProvider());
            }
        } else {
            _jobs[jobId] = word.withStatus(JobStatus.Refunded);
            r.refund = escrowOf(job.redundancy(), job.feePerProvider(), job.protocolFeeBps());
            _credit(job.client(), job.token(), r.refund);
        }
        _distributePool(r, job.client(), seats);

        _settleSeats(jobId, job.collateral(), seats, r);
        if (r.compensated != seats.length) {
            emit SlashDistributed(jobId, r.pool, r.toClient, r.perRevealer, uint8(r.compensated));
        }
        if (r.quorum) emit JobSettled(jobId, r.winner, uint8(r.agreeing), r.refund);
        else emit JobRefunded(jobId, r.refund, true);
        _countRollout(jobId, job, _roundOutcome(r, seats));
    }

    /// @dev A round as a rollout counts it: no quorum failed; a quorum with a revealer that
    /// differed is disputed (a silent seat is a provider's fault, not the version's).
    function _roundOutcome(Round memory r, SeatView[] memory seats) private pure returns (IModelRollouts.JobOutcome) {
        if (!r.quorum) return IModelRollouts.JobOutcome.Failed;
        for (uint256 i = 0; i < seats.length; ++i) {
            if (seats[i].revealed && seats[i].resultHash != r.winner) return IModelRollouts.JobOutcome.Disputed;
        }
        return IModelRollouts.JobOutcome.Settled;
    }

    /// @dev Accrues a settled round's protocol fee (on the paid fees only) and credits the client
    /// the rest of the escrow; returns that refund.
    function _creditRound(uint256[6] calldata job, uint256 agreeing) private returns (uint256 refund) {
        uint256 paid = agreeing * job.feePerProvider();
        uint256 protocolFee = (paid * job.protocolFeeBps()) / BPS;
        refund = escrowOf(job.redundancy(), job.feePerProvider(), job.protocolFeeBps()) - paid - protocolFee;
        if (protocolFee != 0) _protocolFees[job.token()] += protocolFee;
        if (refund != 0) _credit(job.client(), job.token(), refund);
    }

    /// @dev Refunds a job that never ran (k = 1 expired, or too few seats taken): nobody's fault.
    function _refund(uint256 jobId, uint256[6] calldata job, JobWord word) private {
        _jobs[jobId] = word.withStatus(JobStatus.Refunded);
        uint256 amount = escrowOf(job.redundancy(), job.feePerProvider(), job.protocolFeeBps());
        _credit(job.client(), job.token(), amount);
        emit JobRefunded(jobId, amount, false);
        // Nobody served it in time: for a candidate under rollout that counts against it.
        _countRollout(jobId, job, IModelRollouts.JobOutcome.Failed);
    }

    // ------------------------------------------------------------------ internals: money

    function _collect(uint256 jobId, address token, uint256 amount) private {
        if (token == address(0)) {
            if (msg.value != amount) revert InferenceMarketIncorrectEscrow(jobId, msg.value, amount);
            return;
        }
        if (msg.value != 0) revert InferenceMarketIncorrectEscrow(jobId, msg.value, 0);
        // The allowlist was checked with the minimum fee (_newJob).
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

    // ------------------------------------------------------------------ internals: misc

    /// @dev A minimum fee in wei converted into an allowed ERC-20, rounded up so that a fee
    /// worth less than the minimum is never accepted: `ceil(minFeeWei × ratePerEth / 10^18)`.
    function _minFeeIn(address token, uint96 minFeeWei) private view returns (uint256) {
        PaymentToken storage t = _paymentTokens[token];
        uint256 word;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            // One read of the packed word ([ratePerEth:128][allowed:8]) instead of one per field.
            word := sload(t.slot)
        }
        if (word & 0xff == 0) revert InferenceMarketTokenNotAllowed(token);
        // Below 2^96 × 2^128 + 10^18: no overflow.
        unchecked {
            return (uint256(minFeeWei) * uint128(word >> 8) + (1e18 - 1)) / 1e18;
        }
    }

    function _inputHash(JobRequest calldata r, uint32 maxInline) private pure returns (bytes32) {
        uint256 inlineSize = r.input.length;
        uint256 cidSize = bytes(r.inputCid).length;
        if ((inlineSize == 0) == (cidSize == 0) || cidSize > 128)
            revert InferenceMarketInvalidInput(inlineSize, cidSize);
        if (inlineSize > maxInline) revert InferenceMarketInputTooLarge(inlineSize, maxInline);
        return inlineSize != 0 ? keccak256(r.input) : keccak256(bytes(r.inputCid));
    }

    /// @dev The EIP-712 digest of an Attestation, hashed in free memory (nothing allocated: a
    /// batch computes one per item). The Job's words are read raw (modelId, version, inputHash):
    /// a batch item's Job is not checked yet, and a dirty version word must not revert the batch
    /// (it only yields a digest nobody signed).
    function _attestationDigest(
        uint256 jobId,
        uint256[6] calldata job,
        bytes32 resultHash,
        bytes calldata outputRef
    ) private view returns (bytes32) {
        bytes32 typeHash = ATTESTATION_TYPEHASH;
        bytes32 structHash;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let modelId := calldataload(add(job, 0x80))
            let version := shr(224, calldataload(add(job, 0x40)))
            let inputHash := calldataload(add(job, 0xa0))
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
}
