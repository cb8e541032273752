// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IInferenceMarketLinks, IInferenceMarketTypes} from "../interfaces/IInferenceMarket.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IModelRollouts} from "../interfaces/IModelRollouts.sol";
import {IProviderRegistry} from "../interfaces/IProviderRegistry.sol";
import {GuardianPausable} from "../governance/GuardianPausable.sol";
import {JobWords} from "./JobWords.sol";
import {JobWord, JobWordLib} from "./JobWord.sol";
import {ModelMirror} from "./ModelMirror.sol";
import {ProviderWord} from "./ProviderWord.sol";

/// @title InferenceMarketBase
/// @notice The storage and the shared internals of the inference market: {InferenceMarket} and its
/// court ({InferenceMarketCourt}, which the market runs by DELEGATECALL) both inherit it, so both
/// see the same storage layout. It holds no external function of its own.
/// @dev Storage per job is one word: the top 200 bits of a hash and the mutable state (status,
/// seats, reveals, a time, which of seats 0-7 revealed). The hash is keccak256(abi.encode(jobId,
/// job)) while the job is open or revealing, that of the settled result (job hash, winner) once
/// a k > 1 job settled, that of the delivery (job hash, provider, result) once a k = 1 result is
/// in (and again once it is Settled, claimed or upheld), and that of the challenge (job hash,
/// Challenge) while it is challenged (a refunded job keeps the last). Binding the jobId means a job's parameters cannot be replayed on another id, and
/// 200 bits put a birthday search for two colliding pre-images at 2^100 (finding 13); on chains
/// whose prevrandao is constant the seed adds nothing and 2^100 is the bound. Seats
/// of k > 1 jobs and juries take two words each: the provider (with a revealed flag for seats 8
/// and up), and `keccak256(abi.encode(commitment, provider))`, replaced by the result hash on
/// reveal. Hashing the provider in binds the seat to its committer (only it can reveal the seat),
/// without a read of the provider word on the reveal path. (A XOR with the provider did not
/// bind: a seated provider could commit `keccak(jobId, other, r, s) ^ other ^ itself` and let
/// `other` reveal.) No function loops over providers or jobs; settlements loop over the seats of
/// their own job (k ≤ 32, juries ≤ 9).
/// Invariant: for each token, the market's balance equals the escrow of unfinished jobs plus the
/// sum of credited, unwithdrawn balances plus the protocol fees not yet sent to the treasury.
abstract contract InferenceMarketBase is
    IInferenceMarketTypes,
    IInferenceMarketLinks,
    GuardianPausable,
    ReentrancyGuardTransient,
    EIP712
{
    using SafeERC20 for IERC20;
    using JobWords for uint256[6];

    uint16 internal constant MAX_PROTOCOL_FEE_BPS = 1_000;

    uint8 internal constant MAX_REDUNDANCY = 32;

    uint32 internal constant MAX_WINDOW = 30 days;

    uint32 internal constant MAX_INLINE_INPUT = 64 * 1024;

    uint40 internal constant MIN_JOB_DURATION = 1 minutes;

    uint40 internal constant MAX_JOB_DURATION = 365 days;

    uint32 internal constant MAX_PRIORITY_WINDOW = 1 hours;

    uint256 internal constant BPS = 10_000;

    // A job's ABI encoding: its 6 packed words (see {JobWords}).
    uint256 internal constant JOB_BYTES = 0xc0;

    /// @dev The least collateral per seat: one stake token (10^18 base units; the stake token is
    /// the registry's 18-decimal ConclaveToken).
    uint128 internal constant MIN_COLLATERAL = 1e18;

    uint8 internal constant MIN_JURY = 3;

    uint8 internal constant MAX_JURY = 9;

    // The job word's layout and its accessors: {JobWord}.

    // Seat word layout: [provider:160][revealed:8] (the flag is used for seats 8 and up).
    uint256 internal constant SEAT_REVEALED = 1 << 160;

    /// @inheritdoc IInferenceMarketLinks
    IModelRegistry public immutable override models;

    /// @inheritdoc IInferenceMarketLinks
    IProviderRegistry public immutable override providers;

    /// @dev The registry's stake token (see {IInferenceMarket-stakeToken}).
    IERC20 internal immutable _stake;

    /// @inheritdoc IInferenceMarketLinks
    address public override treasury;

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
        uint48 nextJobId;
        bool paused;
    }

    Terms internal _terms;

    /// @dev The slot of what a seat and a request read besides the job: the collateral per seat and
    /// the challenge window (snapshotted into each job at request), the client's share of a
    /// slashed pool (read only when a settlement slashes), the registry's roster size (pushed with
    /// every provider, {syncProvider}; read by assigned seats) and the wind-down flag (finding 12,
    /// see {IInferenceMarketCourt-windDown}: once wound down, nothing new is taken, not even on
    /// collateral already allocated here). One slot, one cold read per transaction.
    struct SeatTerms {
        uint128 collateralPerJob;
        uint16 clientShareBps;
        uint32 challengeWindow;
        uint32 rosterSize;
        bool woundDown;
    }

    SeatTerms internal _seatTerms;

    /// @dev The rest of the challenge policy, read only when a challenge is made.
    struct JuryTerms {
        uint8 size;
        uint96 fee;
        uint16 challengerShareBps;
    }

    JuryTerms internal _jury;

    mapping(uint256 jobId => JobWord word) internal _jobs;

    mapping(uint256 jobId => mapping(uint256 seat => uint256 word)) internal _seats;

    mapping(uint256 jobId => mapping(uint256 seat => bytes32 value)) internal _seatValues;

    /// @dev A payment token's allowlist word: whether jobs may be paid in it, and its rate (base
    /// units per 10^18 wei) that converts a version's minimum fee, in wei, into the token. One
    /// slot, read once per ERC-20 request.
    struct PaymentToken {
        bool allowed;
        uint128 ratePerEth;
    }

    mapping(address token => PaymentToken) internal _paymentTokens;

    mapping(address account => mapping(address token => uint256)) internal _balances;

    /// @dev Protocol fees accrued per token (see {IInferenceMarket-protocolFees}).
    mapping(address token => uint256) internal _protocolFees;

    /// @dev A model's part of the model registry's mirror (see {ModelMirror}): its word, pushed by
    /// the registry on every change of its active version or running rollout, and one word per
    /// version, pushed on every change of the version's status.
    struct MirroredModel {
        uint256 word;
        mapping(uint32 version => uint256 word) versions;
    }

    mapping(bytes32 modelId => MirroredModel) internal _mirror;

    /// @dev Each provider's word ({ProviderWord}): the registry's terms and the collateral held
    /// free here. A seat's collateral is in neither the word nor the registry's free stake: the
    /// seat's own event records the lock, and the settlement gives it back or seizes it.
    mapping(address provider => uint256 word) internal _providerWords;

    /// @dev {IModelRegistry-jobTermsFor} computed from the mirror: the same rule on the same
    /// values. A version-0 request that is not drawn as a canary reads the model word alone.
    function _mirrorTerms(
        bytes32 modelId,
        uint32 version,
        uint256 seed
    ) internal view returns (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB, bool counted) {
        MirroredModel storage mirrored = _mirror[modelId];
        uint256 m = mirrored.word;
        uint32 candidate = ModelMirror.rolloutCandidate(m);
        resolved = version;
        if (version == 0) {
            resolved = ModelMirror.activeVersion(m);
            if (candidate == 0 || resolved == 0 || seed % BPS >= ModelMirror.canaryBps(m)) {
                // The active version (Active, so accepting) or none (0, 0, 0, as the registry's
                // empty version 0 gives).
                return (
                    resolved,
                    resolved != 0,
                    ModelMirror.activeMinFee(m),
                    ModelMirror.activeMinMemoryMB(m),
                    candidate != 0 && resolved == candidate
                );
            }
            resolved = candidate;
        }
        counted = candidate != 0 && resolved == candidate;
        uint256 v = mirrored.versions[resolved];
        uint8 status = ModelMirror.status(v);
        accepting =
            resolved != 0 &&
            (status == ModelMirror.STATUS_ACTIVE ||
                (status == ModelMirror.STATUS_DEPRECATED && block.timestamp < ModelMirror.sunsetAt(v)) ||
                (status == ModelMirror.STATUS_PUBLISHED && resolved == candidate));
        minFee = ModelMirror.minFee(v);
        minMemoryMB = ModelMirror.minMemoryMB(v);
    }

    /// @dev Locks the caller's collateral for `job` once it holds none of the job's first `seated`
    /// seats (k > 1 jobs and juries; 0 for a k = 1 delivery), then reverts unless its rank under the
    /// assignment (`seed`, `k`, `window`, `startedAt`: see {_rank}; none when `window` is 0) is open.
    function _lockAssigned(
        uint256 jobId,
        uint256[6] calldata job,
        uint256 seated,
        uint256 seed,
        uint256 k,
        uint256 window,
        uint256 startedAt
    ) internal {
        for (uint256 i = 0; i < seated; ++i) {
            if (address(uint160(_seats[jobId][i])) == msg.sender)
                revert InferenceMarketAlreadySeated(jobId, msg.sender);
        }
        // A revert below undoes the lock.
        uint256 rosterIndex = _lockFor(msg.sender, job.collateral(), job.requiredTags(), job.minMemoryMB());
        if (window == 0) return;
        (uint256 rank, uint40 opensAt, bool open) = _rank(
            seed,
            k,
            window,
            startedAt,
            rosterIndex,
            _seatTerms.rosterSize
        );
        if (!open) revert InferenceMarketNotAssigned(jobId, msg.sender, rank, opensAt);
    }

    /// @dev Checks `provider` against the job's needs on its word and takes `amount` of its free
    /// collateral for a seat, first allocating all of its free stake in the registry (up to the
    /// word's room) when the word holds too little; returns its roster index.
    function _lockFor(
        address provider,
        uint256 amount,
        uint256 requiredTags,
        uint32 minMemoryMB
    ) internal returns (uint256 rosterIndex) {
        if (_seatTerms.woundDown) revert InferenceMarketWoundDown();
        uint256 w = _providerWords[provider];
        uint256 slot = ProviderWord.rosterSlot(w);
        if (slot == 0) revert InferenceMarketProviderNotEligible(provider);
        uint40 until = ProviderWord.frozenUntil(w);
        if (block.timestamp < until) revert InferenceMarketProviderFrozen(provider, until);
        uint256 missing = requiredTags & ~ProviderWord.tags(w);
        if (missing != 0) revert InferenceMarketProviderMissingTags(provider, missing);
        uint32 memoryMB = ProviderWord.memoryMB(w);
        if (memoryMB < minMemoryMB) revert InferenceMarketProviderInsufficientMemory(provider, memoryMB, minMemoryMB);
        uint256 free = ProviderWord.free(w);
        if (free < amount) free += providers.allocate(provider, amount - free, ProviderWord.MAX_FREE - free);
        _providerWords[provider] = ProviderWord.withFree(w, free - amount);
        return slot - 1;
    }

    /// @dev Gives a seat's collateral back to the provider's free collateral here.
    function _release(address provider, uint256 amount) internal {
        // free + amount ≤ the allocation, which the registry caps below 2^96 per market.
        if (amount != 0) _providerWords[provider] += amount;
    }

    /// @dev Reveals the caller's seat (a k > 1 seat or a jury seat) and returns the job word
    /// with the reveal counted; the caller writes it or settles.
    function _revealSeat(
        uint256 jobId,
        JobWord word,
        uint8 seat,
        bytes32 resultHash,
        bytes32 salt,
        bytes calldata outputRef
    ) internal returns (JobWord) {
        if (seat >= word.seated()) revert InferenceMarketNotSeated(jobId, seat, msg.sender);
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
        if (seat >= JobWordLib.MASKED_SEATS) _seats[jobId][seat] |= SEAT_REVEALED;
        _seatValues[jobId][seat] = resultHash;
        word = word.withReveal(seat); // at most 32 reveals: the 6-bit field cannot overflow
        emit ResultRevealed(jobId, msg.sender, resultHash, outputRef);
        return word;
    }

    /// @notice Whether the guardian or the DAO paused new requests.
    /// @dev The flag lives in the request slot (see {Terms}) instead of {GuardianPausable}'s own slot.
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

    /// @dev Whether a seat revealed: a bit of the job word for seats 0-7, a flag of the seat word
    /// for the others.
    function _revealed(uint256 jobId, JobWord word, uint256 seat) internal view returns (bool) {
        if (seat < JobWordLib.MASKED_SEATS) return word.seatRevealed(seat);
        return _seats[jobId][seat] & SEAT_REVEALED != 0;
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
    ) internal view returns (uint256 rank, uint40 opensAt, bool open) {
        unchecked {
            // Affine in the roster index: members holding a run of consecutive indexes (join
            // order) get ranks `multiplier` apart, not a run of ranks, so such a cartel does not
            // hold all first k seats of a job any more often than its share of the roster allows.
            rank = addmod(
                mulmod(_rankMultiplier(seed, rosterSize), rosterIndex, rosterSize),
                seed % rosterSize,
                rosterSize
            );
            if (rank < k || window == 0) return (rank, uint40(requestedAt), true);
            // rank < 2^32, window < 2^32, requestedAt < 2^40: far below 2^256.
            uint256 at = requestedAt + (rank - k + 1) * window;
            // A rank opening beyond uint40 time never opens.
            opensAt = at > type(uint40).max ? type(uint40).max : uint40(at);
            open = block.timestamp >= at;
        }
    }

    /// @dev The job's rank multiplier on a roster of `n`: drawn from bits 64+ of the seed in
    /// [1, n - 1], then stepped up (wrapping to 1) to the first value coprime with n, so that
    /// `(multiplier × i + seed % n) mod n` is a permutation of the roster. The step count is
    /// bounded by the largest gap between integers coprime with n (under 100 for n < 2^32).
    function _rankMultiplier(uint256 seed, uint256 n) internal pure returns (uint256 a) {
        if (n <= 2) return 1;
        unchecked {
            // n ≥ 3: n - 1 ≥ 2, and a stays in [1, n - 1].
            a = 1 + ((seed >> 64) % (n - 1));
            while (_gcd(a, n) != 1) a = a + 1 == n ? 1 : a + 1;
        }
    }

    /// @dev Euclid's algorithm; in assembly because it runs on every assigned delivery and commit.
    function _gcd(uint256 x, uint256 y) private pure returns (uint256 g) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            for {} y {} {
                let r := mod(x, y)
                x := y
                y := r
            }
            g := x
        }
    }

    /// @dev Credits a k = 1 job's fee to its provider and accrues the protocol fee.
    function _payDelivery(uint256[6] calldata job, address provider) internal {
        uint256 protocolFee = _k1ProtocolFee(job);
        if (protocolFee != 0) _protocolFees[job.token()] += protocolFee;
        _credit(provider, job.token(), job.feePerProvider());
    }

    /// @dev A k = 1 job's protocol fee: the escrow's remainder, so nothing is lost to rounding.
    function _k1ProtocolFee(uint256[6] calldata job) internal pure returns (uint256) {
        return _escrowOf(1, job.feePerProvider(), job.protocolFeeBps()) - job.feePerProvider();
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

    /// @dev Reports how a job on a rollout's candidate ended; the registry counts it. A refused
    /// report never blocks a settlement (nor the pay of those it settles).
    function _countRollout(uint256 jobId, uint256[6] calldata job, IModelRollouts.JobOutcome outcome) internal {
        if (!job.counted()) return;
        try models.countJob(job.modelId(), job.version(), outcome) {} catch {
            emit RolloutCountFailed(jobId);
        }
    }

    /// @dev Marks the faulty seats (silent, or revealed otherwise than a quorum); each loses its
    /// collateral, which is allocated stake that no slash can take first.
    function _classify(Round memory r, SeatView[] memory seats, uint256 collateral) internal pure {
        for (uint256 i = 0; i < seats.length; ++i) {
            SeatView memory seat = seats[i];
            if (seat.revealed && (!r.quorum || seat.resultHash == r.winner)) {
                ++r.compensated;
                continue;
            }
            seat.faulty = true;
            seat.seized = collateral;
            r.pool += collateral;
        }
    }

    /// @dev Gives each sound seat's collateral back here, and has the registry seize each faulty
    /// seat's collateral (moved here) and count its fault; the tokens must back the pool
    /// credited before.
    function _settleSeats(uint256 jobId, uint256 collateral, SeatView[] memory seats, Round memory r) internal {
        uint256 held = r.pool != 0 ? _stake.balanceOf(address(this)) : 0;
        for (uint256 i = 0; i < seats.length; ++i) {
            SeatView memory seat = seats[i];
            if (seat.faulty) {
                providers.seize(seat.provider, seat.seized, _fault(seat), bytes32(jobId));
                emit SeatSlashed(jobId, seat.provider, seat.seized, seat.revealed);
            } else {
                _release(seat.provider, collateral);
            }
        }
        if (r.pool != 0) {
            uint256 received = _stake.balanceOf(address(this)) - held;
            if (received != r.pool) revert InferenceMarketTransferShortfall(address(_stake), r.pool, received);
        }
    }

    /// @dev Credits the stake slashed from a round's faulty seats (the pool, in the stake token):
    /// the client's `clientShareBps` share, the rest in equal parts to the compensated
    /// (non-faulty) seats, the rounding dust (and everything, when none is compensated) to the
    /// client.
    function _distributePool(Round memory r, address client, SeatView[] memory seats) internal {
        uint256 pool = r.pool;
        if (pool == 0) return;
        uint256 toClient = (pool * _seatTerms.clientShareBps) / BPS;
        uint256 per;
        if (r.compensated != 0) per = (pool - toClient) / r.compensated;
        toClient = pool - per * r.compensated;
        (r.toClient, r.perRevealer) = (toClient, per);
        if (toClient != 0) _credit(client, address(_stake), toClient);
        if (per == 0) return;
        for (uint256 i = 0; i < seats.length; ++i) {
            if (!seats[i].faulty) _credit(seats[i].provider, address(_stake), per);
        }
    }

    /// @dev Deletes an ended job's seats (the events keep the record): the storage is refunded.
    function _clearSeats(uint256 jobId, uint256 seated) internal {
        for (uint256 i = 0; i < seated; ++i) {
            delete _seats[jobId][i];
            delete _seatValues[jobId][i];
        }
    }

    /// @dev Reads a job's seats and finds the most common revealed hash. With quorum > k/2 at
    /// most one hash can reach the quorum, so ties below it do not matter.
    function _loadSeats(
        uint256 jobId,
        JobWord word
    ) internal view returns (SeatView[] memory seats, bytes32 winner, uint256 agreeing) {
        uint256 seated = word.seated();
        seats = new SeatView[](seated);
        for (uint256 i = 0; i < seated; ++i) {
            uint256 seatWord = _seats[jobId][i];
            SeatView memory seat = seats[i];
            seat.provider = address(uint160(seatWord));
            if (i < JobWordLib.MASKED_SEATS ? !word.seatRevealed(i) : seatWord & SEAT_REVEALED == 0) continue;
            seat.revealed = true;
            seat.resultHash = _seatValues[jobId][i];
            uint256 count = 1;
            for (uint256 j = 0; j < i; ++j) {
                if (seats[j].revealed && seats[j].resultHash == seat.resultHash) ++count;
            }
            if (count > agreeing) (winner, agreeing) = (seat.resultHash, count);
        }
    }

    function _fault(SeatView memory seat) internal pure returns (IProviderRegistry.Fault) {
        return seat.revealed ? IProviderRegistry.Fault.Disagreed : IProviderRegistry.Fault.Missed;
    }

    /// @dev Gives every seat's collateral back, with no fault: too few seats were taken for the
    /// job to run.
    function _releaseSeats(uint256[6] calldata job, SeatView[] memory seats) internal {
        for (uint256 i = 0; i < seats.length; ++i) _release(seats[i].provider, job.collateral());
    }

    /// @dev Credits have no event of their own: the event of the change that causes them says
    /// who gets what (ResultSubmitted, JobSettled with the ResultRevealed events, JobRefunded,
    /// SlashDistributed with the SeatSlashed and ResultRevealed events).
    function _credit(address account, address token, uint256 amount) internal {
        _balances[account][token] += amount;
    }

    /// @dev The hash a k = 1 delivery binds: the job's, its provider and its result.
    function _deliveryHash(
        uint256 jobId,
        uint256[6] calldata job,
        address provider,
        bytes32 resultHash
    ) internal pure returns (uint256) {
        return _deliveryHashOf(_jobHash(jobId, job), provider, resultHash);
    }

    /// @dev {_deliveryHash} from the job's hash: `keccak256(abi.encode(jobHash, provider,
    /// resultHash))`, hashed in free memory without allocating it (a batch hashes one per item).
    function _deliveryHashOf(uint256 jobHash, address provider, bytes32 resultHash) internal pure returns (uint256 h) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, jobHash)
            mstore(add(ptr, 0x20), and(provider, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x40), resultHash)
            h := keccak256(ptr, 0x60)
        }
    }

    /// @dev keccak256(abi.encode(jobId, job)): the same words passed for another id hash
    /// differently (finding 13).
    function _jobHash(uint256 jobId, uint256[6] calldata job) internal pure returns (uint256) {
        return JobWords.hash(jobId, job);
    }

    /// @dev A seat's stored commitment: `keccak256(abi.encode(commitment, provider))`, hashed in
    /// scratch space.
    function _boundTo(bytes32 commitment, address provider) internal pure returns (bytes32 bound) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(0x00, commitment)
            mstore(0x20, and(provider, 0xffffffffffffffffffffffffffffffffffffffff))
            bound := keccak256(0x00, 0x40)
        }
    }

    /// @param admin Initial `DEFAULT_ADMIN_ROLE` holder (see {GuardianPausable}).
    /// @param guardian Initial guardian, or address(0).
    /// @param models_ The model registry.
    /// @param providers_ The provider registry (the market needs its MARKET_ROLE).
    constructor(
        address admin,
        address guardian,
        IModelRegistry models_,
        IProviderRegistry providers_
    ) GuardianPausable(admin, guardian) EIP712("ConclaveInferenceMarket", "1") {
        if (address(models_) == address(0) || address(providers_) == address(0)) revert InferenceMarketZeroAddress();
        models = models_;
        providers = providers_;
        _stake = providers_.stakeToken();
    }

    /// @dev The amount escrowed for a job: `k × fee` plus the protocol fee.
    function _escrowOf(uint8 redundancy, uint96 feePerProvider, uint16 protocolFeeBps) internal pure returns (uint256) {
        uint256 fees = uint256(redundancy) * feePerProvider;
        return fees + (fees * protocolFeeBps) / BPS;
    }

    function _setPolicy(Policy memory p) internal {
        if (p.protocolFeeBps > MAX_PROTOCOL_FEE_BPS)
            revert InferenceMarketPolicyOutOfBounds("protocolFeeBps", p.protocolFeeBps);
        if (p.quorumBps < BPS / 2 || p.quorumBps > BPS)
            revert InferenceMarketPolicyOutOfBounds("quorumBps", p.quorumBps);
        if (p.maxRedundancy == 0 || p.maxRedundancy > MAX_REDUNDANCY) {
            revert InferenceMarketPolicyOutOfBounds("maxRedundancy", p.maxRedundancy);
        }
        if (p.commitWindow == 0 || p.commitWindow > MAX_WINDOW)
            revert InferenceMarketPolicyOutOfBounds("commitWindow", p.commitWindow);
        if (p.revealWindow == 0 || p.revealWindow > MAX_WINDOW)
            revert InferenceMarketPolicyOutOfBounds("revealWindow", p.revealWindow);
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
        // At least one stake token, so that no seat can be abandoned for free (finding 16), and
        // enough to pay a challenge's jurors.
        // At most what a job's words hold (see {JobWords}).
        if (
            p.collateralPerJob < MIN_COLLATERAL ||
            p.collateralPerJob > JobWords.MAX_COLLATERAL ||
            uint256(_jury.size) * _jury.fee > p.collateralPerJob
        ) {
            revert InferenceMarketPolicyOutOfBounds("collateralPerJob", p.collateralPerJob);
        }
        Terms storage t = _terms;
        t.protocolFeeBps = p.protocolFeeBps;
        t.quorumBps = p.quorumBps;
        t.maxRedundancy = p.maxRedundancy;
        t.commitWindow = p.commitWindow;
        t.revealWindow = p.revealWindow;
        t.priorityWindow = uint16(p.priorityWindow); // bounded by MAX_PRIORITY_WINDOW above
        t.maxInlineInputBytes = p.maxInlineInputBytes;
        t.maxJobDuration = p.maxJobDuration;
        _seatTerms.collateralPerJob = p.collateralPerJob;
        _seatTerms.clientShareBps = p.clientShareBps;
        emit PolicySet(p);
    }

    /// @dev Sends ETH (address(0)) or an ERC-20; the caller has written its effects.
    function _send(address token, address to, uint256 amount) internal {
        if (token == address(0)) {
            (bool ok, ) = to.call{value: amount}("");
            if (!ok) revert InferenceMarketEthTransferFailed(to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }

    function _setChallengePolicy(ChallengePolicy memory c) internal {
        if (c.challengeWindow == 0 || c.challengeWindow > MAX_WINDOW) {
            revert InferenceMarketPolicyOutOfBounds("challengeWindow", c.challengeWindow);
        }
        if (c.jurySize < MIN_JURY || c.jurySize > MAX_JURY || c.jurySize % 2 == 0) {
            revert InferenceMarketPolicyOutOfBounds("jurySize", c.jurySize);
        }
        if (uint256(c.jurySize) * c.juryFee > _seatTerms.collateralPerJob)
            revert InferenceMarketPolicyOutOfBounds("juryFee", c.juryFee);
        if (c.challengerShareBps > BPS)
            revert InferenceMarketPolicyOutOfBounds("challengerShareBps", c.challengerShareBps);
        _seatTerms.challengeWindow = c.challengeWindow;
        _jury.size = c.jurySize;
        _jury.fee = c.juryFee;
        _jury.challengerShareBps = c.challengerShareBps;
        emit ChallengePolicySet(c);
    }
}
