// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {IModelRegistry} from "./IModelRegistry.sol";
import {IProviderRegistry} from "./IProviderRegistry.sol";

/// @title IInferenceMarketTypes
/// @notice The types, events and errors of the inference market, shared by {IInferenceMarket} and
/// {IInferenceMarketCourt} (the challenge functions, served by the market through its court).
/// @dev See {IInferenceMarket} for the market as a whole.
interface IInferenceMarketTypes {
    /// @notice A job's lifecycle.
    /// Open: takes a result (k = 1) or commits (k > 1). Revealing: every seat is taken (or the
    /// commit deadline passed with a quorum seated); seated providers reveal. Settled: paid out.
    /// Refunded: the client got its escrow back (expired, no quorum, or a k = 1 result a jury
    /// found wrong). Delivered (k = 1): a result is in, the provider's collateral is locked, and
    /// it may be challenged until the challenge window ends; then its fee is claimed.
    /// Challenged: a challenger locked a bond; a jury of other providers commits its results.
    /// JuryRevealing: the jurors reveal; the last reveal (or {resolveChallenge}) resolves it.
    enum JobStatus {
        None,
        Open,
        Revealing,
        Settled,
        Refunded,
        Delivered,
        Challenged,
        JuryRevealing
    }

    /// @notice How a challenge of a k = 1 result ended.
    /// ProviderWrong: a jury quorum revealed another result; the provider's collateral pays the
    /// majority jurors, the challenger and the client, and the client's escrow is refunded.
    /// ProviderRight: a jury quorum revealed the provider's result; the challenger's bond pays
    /// the majority jurors and the provider, which is paid its fee. Inconclusive: no quorum (or
    /// too few jurors came); the provider is paid (optimistic default) and the bond released.
    enum ChallengeOutcome {
        ProviderWrong,
        ProviderRight,
        Inconclusive
    }

    /// @notice What a client asks for.
    /// @param modelId The model (keccak256 of its name in the ModelRegistry).
    /// @param version The exact version, or 0 for the version active now (pinned at request).
    /// @param redundancy k: how many providers must compute the result (1 = first result wins).
    /// @param feePerProvider What each paid provider earns, in `token` units; at least the version's
    /// minimum fee in that token (see {IInferenceMarket-minFeeIn}).
    /// @param token address(0) for ETH, or a DAO-allowlisted ERC-20.
    /// @param deadline k = 1: last moment to deliver. k > 1: last moment to commit (capped by the
    /// DAO's commit window). Past it anyone may finalize the job.
    /// @param requiredTags Capability tags every serving provider must have.
    /// @param input The input tensors (safetensors bytes) inline, up to the DAO's size limit.
    /// @param inputCid Or the IPFS CID of the input; exactly one of `input` and `inputCid` is set.
    struct JobRequest {
        bytes32 modelId;
        uint32 version;
        uint8 redundancy;
        uint96 feePerProvider;
        address token;
        uint40 deadline;
        uint256 requiredTags;
        bytes input;
        string inputCid;
    }

    // A job's immutable parameters, fixed at request (policy values are snapshots), travel as six
    // packed words, `uint256[6] job`: see {JobWords} for the layout and the field getters. Fields:
    // client, token, modelId, version (pinned), redundancy (k), quorum (equal revealed results that
    // settle a k > 1 job), protocolFeeBps, feePerProvider, requestedAt, deadline, commitDeadline
    // (k > 1), revealWindow (k > 1), priorityWindow (seconds each rank beyond the first k waits for
    // its turn; 0: no assignment, see {assignment}), minMemoryMB, collateral (stake each seated or
    // delivering provider locks), requiredTags (bits 0-63), inputHash (keccak256 of the inline
    // input bytes, or of the input CID's UTF-8 bytes), seed (the low 96 bits of
    // `keccak256(abi.encode(block.prevrandao, jobId))` at request: draws the job's provider order
    // on the roster; the client chooses neither input), challengeWindow (k = 1: seconds after a
    // delivery during which it may be challenged and its fee not yet claimed) and counted (the
    // version was a running rollout's candidate at request: the market reports how the job ends
    // to the model registry, see {IModelRollouts-countJob}).

    /// @notice A challenge of a k = 1 delivery, fixed when it is made (policy values are
    /// snapshots); later calls pass it back as emitted in {ResultChallenged}.
    /// @param provider Who delivered the challenged result.
    /// @param resultHash The challenged result.
    /// @param challenger Who challenged (its bond is the job's collateral).
    /// @param jurySeed Where the jury's order starts on the roster (from prevrandao at challenge).
    /// @param challengedAt When the challenge was made: the jury's ranks open from it.
    /// @param commitWindow Seconds the jurors have to commit, from `challengedAt`.
    /// @param revealWindow Seconds the jurors have to reveal, from the reveal's start.
    /// @param jurySize How many jurors sit; a majority of them is the jury's quorum.
    /// @param juryFee Stake tokens each majority juror earns from the loser's collateral.
    /// @param challengerShareBps The challenger's share of a wrong provider's collateral, after
    /// the jurors' fees; the client gets the rest.
    struct Challenge {
        address provider;
        bytes32 resultHash;
        address challenger;
        uint256 jurySeed;
        uint40 challengedAt;
        uint32 commitWindow;
        uint32 revealWindow;
        uint8 jurySize;
        uint96 juryFee;
        uint16 challengerShareBps;
    }

    /// @notice A matured k = 1 delivery whose fee is claimed (see {claim}).
    struct Claim {
        uint256 jobId;
        uint256[6] job;
        address provider;
        bytes32 resultHash;
    }

    /// @notice One seat's commit in a {commitAll} batch: the arguments of {commit}.
    struct Commit {
        uint256 jobId;
        uint256[6] job;
        bytes32 commitment;
    }

    /// @notice One seat's reveal in a {revealAll} batch: the arguments of {reveal}.
    struct Reveal {
        uint256 jobId;
        uint256[6] job;
        uint8 seat;
        bytes32 resultHash;
        bytes32 salt;
        bytes outputRef;
    }

    /// @notice DAO policy for k = 1 challenges (see {setChallengePolicy}).
    /// @param challengeWindow Seconds a delivery may be challenged (snapshotted into new jobs).
    /// @param jurySize Jurors per challenge: odd, 3 to 9.
    /// @param juryFee Stake tokens each majority juror earns from the loser's collateral;
    /// `jurySize × juryFee` may not exceed the collateral per job.
    /// @param challengerShareBps The challenger's share of a wrong provider's collateral after
    /// the jurors' fees (the client gets the rest).
    struct ChallengePolicy {
        uint32 challengeWindow;
        uint8 jurySize;
        uint96 juryFee;
        uint16 challengerShareBps;
    }

    /// @notice The fields of one item of a signed batch ({IInferenceMarket-submitAttestations}),
    /// for off-chain encoders and tests: the market reads items from raw bytes, not as this
    /// ABI type. `signature` is the provider's 65-byte EIP-712 `Attestation` signature (r, s, v).
    struct SignedResult {
        uint256 jobId;
        uint256[6] job;
        bytes32 resultHash;
        bytes outputRef;
        bytes signature;
    }

    /// @notice DAO policy. All values are bounded on-chain (see the setters).
    /// @param priorityWindow Seconds a job gives each provider rank beyond the first k before the
    /// next rank may serve (snapshotted into new jobs); 0 turns assignment off. At most 1 hour.
    /// @param clientShareBps The client's share of the stake slashed from a k > 1 job's faulty
    /// seats; the rest goes in equal parts to the compensated revealers (see {SlashDistributed}).
    /// At most 10,000. Read at settlement, not snapshotted: a change applies to jobs settling
    /// after it.
    /// @param collateralPerJob Stake each seat (k > 1 seat, k = 1 delivery, challenge bond, jury
    /// seat) locks, snapshotted into new jobs: at least 1 stake token (10^18 base units) and at
    /// least `jurySize × juryFee`.
    struct Policy {
        uint16 protocolFeeBps;
        uint16 quorumBps;
        uint8 maxRedundancy;
        uint32 commitWindow;
        uint32 revealWindow;
        uint32 priorityWindow;
        uint32 maxInlineInputBytes;
        uint40 maxJobDuration;
        uint128 collateralPerJob;
        uint16 clientShareBps;
    }

    /// @notice A job was requested and its escrow taken. `job` is what later calls pass back.
    event JobRequested(
        uint256 indexed jobId,
        address indexed client,
        bytes32 indexed modelId,
        uint256[6] job,
        bytes input,
        string inputCid
    );
    /// @notice A k = 1 result was delivered: the client may use it at once. `provider` locked the
    /// job's collateral; its fee is claimed ({claim}) once the challenge window passed unchallenged.
    event ResultSubmitted(uint256 indexed jobId, address indexed provider, bytes32 resultHash, bytes outputRef);
    /// @notice A matured k = 1 delivery was paid: `provider` was credited `fee`, the rest of the
    /// escrow accrued to {protocolFees}, and its collateral was released.
    event DeliveryClaimed(uint256 indexed jobId, address indexed provider, uint256 fee);
    /// @notice An item of a {claim} batch was skipped; `reason` is the selector of the error it
    /// would have raised on its own. Nothing changed for that job.
    event ClaimSkipped(uint256 indexed jobId, bytes4 reason);
    /// @notice An item of a {revealAll} batch was skipped; `reason` is the selector of the error
    /// {reveal} raised for it. Nothing changed for that job.
    event RevealSkipped(uint256 indexed jobId, address indexed provider, bytes4 reason);
    /// @notice An item of a {commitAll} batch was skipped; `reason` is the selector of the error
    /// {commit} raised for it. Nothing changed for that job.
    event CommitSkipped(uint256 indexed jobId, address indexed provider, bytes4 reason);
    /// @notice The DAO wound the market down (finding 12): no new requests, deliveries, commits or
    /// challenges; Open jobs may be finalized at once as refunds; jobs past Open run to their end;
    /// claims and withdrawals work forever.
    event MarketWoundDown();
    /// @notice A k = 1 delivery was challenged: the challenger locked its bond and a jury is
    /// drawn from `challenge.jurySeed` (see {juryCommit}).
    event ResultChallenged(
        uint256 indexed jobId,
        address indexed provider,
        address indexed challenger,
        Challenge challenge
    );
    /// @notice A challenge was resolved (see {ChallengeOutcome}). `juryHash` is the jury's most
    /// revealed result and `agreeing` how many revealed it. Credited in the stake token:
    /// `toChallenger`, `toProvider` and `toClient` (beyond the escrow refund or fee); each majority
    /// juror got the challenge's `juryFee`, or an equal share of the loser's seized collateral
    /// when a DAO slash left the loser less than `agreeing × juryFee`. Faulty jurors are in {SeatSlashed} and
    /// {SlashDistributed}, the losing party in {SeatSlashed}.
    event ChallengeResolved(
        uint256 indexed jobId,
        ChallengeOutcome outcome,
        bytes32 juryHash,
        uint8 agreeing,
        uint256 toChallenger,
        uint256 toProvider,
        uint256 toClient
    );
    /// @notice The DAO changed the challenge policy.
    event ChallengePolicySet(ChallengePolicy policy);
    /// @notice An item of a signed batch was skipped; `reason` is the selector of the error it
    /// would have raised on its own. Nothing changed for that job. A malformed item
    /// ({InferenceMarketMalformedAttestation}) names the job id it carries if it is long enough
    /// to carry one (else 0) and no provider.
    event AttestationRejected(uint256 indexed jobId, address indexed provider, bytes4 reason);
    /// @notice A provider took seat `seat` of a k > 1 job and locked collateral.
    event SeatCommitted(uint256 indexed jobId, address indexed provider, uint8 seat, bytes32 commitment);
    /// @notice The reveal phase of a k > 1 job began.
    event RevealStarted(uint256 indexed jobId, uint40 revealDeadline);
    /// @notice A seated provider revealed its result.
    event ResultRevealed(uint256 indexed jobId, address indexed provider, bytes32 resultHash, bytes outputRef);
    /// @notice A k > 1 job reached its quorum: the `agreeing` providers that revealed `resultHash`
    /// were credited the fee each, the protocol fee on their fees accrued to {protocolFees}, and
    /// `clientRefund` was credited to the client.
    event JobSettled(uint256 indexed jobId, bytes32 resultHash, uint8 agreeing, uint256 clientRefund);
    /// @notice The client's escrow, `amount`, was credited back: expired (k = 1 or too few seats)
    /// or no quorum.
    event JobRefunded(uint256 indexed jobId, uint256 amount, bool noQuorum);
    /// @notice The model registry refused the report of how a counted job ended (for example its
    /// MARKET_ROLE was revoked in a migration); the job settled all the same.
    event RolloutCountFailed(uint256 indexed jobId);
    /// @notice The model registry pushed a model's word into this market's mirror: its active
    /// version and that version's minimum fee and memory, and the running rollout's candidate and
    /// canary share (layout: {ModelMirror}).
    event ModelMirrored(bytes32 indexed modelId, uint256 word);
    /// @notice The model registry pushed a version's word into this market's mirror: its status,
    /// sunset, minimum fee and memory (layout: {ModelMirror}).
    event VersionMirrored(bytes32 indexed modelId, uint32 indexed version, uint256 word);
    /// @notice The provider registry pushed `provider`'s terms ({ProviderWord}, free collateral
    /// left out) and the roster's size.
    event ProviderMirrored(address indexed provider, uint256 terms, uint256 rosterSize);
    /// @notice `amount` of the collateral held free for `provider` went back to the registry.
    event CollateralReclaimed(address indexed provider, uint256 amount);
    /// @notice A seated provider's collateral was slashed: it did not reveal (always a fault), or
    /// it revealed a result other than the quorum's. `amount` stake tokens (the job's collateral
    /// in full: a seat's collateral is allocated stake that no DAO slash reaches) moved from the registry to this
    /// market and are shared out as {SlashDistributed} says.
    event SeatSlashed(uint256 indexed jobId, address indexed provider, uint256 amount, bool revealed);
    /// @notice The stake slashed from a job's faulty seats (`pool`, in the registry's stake token)
    /// was credited to internal balances: `toClient` to the client (its `clientShareBps` share
    /// plus the rounding dust, or all of it when nobody is compensated) and `perRevealer` to each
    /// of the `revealers` compensated seats: the winners with a quorum, every revealer without one.
    /// Emitted after the round's {SeatSlashed} events whenever it has a faulty seat (with a zero
    /// pool when the job's collateral is 0), before {JobSettled} or {JobRefunded}.
    event SlashDistributed(uint256 indexed jobId, uint256 pool, uint256 toClient, uint256 perRevealer, uint8 revealers);
    /// @notice An account withdrew its balance, sent to `to` (itself, or the address it named).
    event Withdrawn(address indexed account, address indexed token, uint256 amount, address indexed to);
    /// @notice The client cancelled an open job whose version stopped taking jobs: its escrow,
    /// `refund`, was credited back and any seats released with no fault.
    event JobCancelled(uint256 indexed jobId, uint256 refund);
    /// @notice The DAO changed the policy.
    event PolicySet(Policy policy);
    /// @notice The DAO allowed or disallowed a payment token, and set its rate: `ratePerEth` token
    /// base units are worth 10^18 wei (1 ETH) when converting a version's minimum fee.
    event TokenAllowed(address indexed token, bool allowed, uint128 ratePerEth);
    /// @notice The DAO changed where protocol fees are sent.
    event TreasurySet(address indexed treasury);
    /// @notice The protocol fees accrued in `token` were sent to the treasury.
    event ProtocolFeesWithdrawn(address indexed token, address indexed treasury, uint256 amount);

    /// @notice `token` is not on the DAO's allowlist of payment tokens.
    error InferenceMarketTokenNotAllowed(address token);
    /// @notice k is 0 or above the policy's `maximum` redundancy.
    error InferenceMarketInvalidRedundancy(uint8 redundancy, uint8 maximum);
    /// @notice The fee per provider is below the version's minimum, `minimum`, in the job's
    /// payment token (the minimum in wei converted at the token's rate, rounded up).
    error InferenceMarketFeeBelowMinimum(uint256 fee, uint256 minimum);
    /// @notice The deadline is not in [`earliest`, `latest`] (now + 1 s to now + the policy's longest job).
    error InferenceMarketInvalidDeadline(uint40 deadline, uint40 earliest, uint40 latest);
    /// @notice A request's required tags use a bit above 63: a job's words hold tags 0-63.
    error InferenceMarketTagsOutOfRange(uint256 requiredTags);
    /// @notice The inline input is `size` bytes, above the policy's `maximum`.
    error InferenceMarketInputTooLarge(uint256 size, uint256 maximum);
    /// @notice Exactly one of the inline input and the input CID must be set (a CID of at most 128 bytes).
    error InferenceMarketInvalidInput(uint256 inlineSize, uint256 cidSize);
    /// @notice The requested version (or the one version 0 resolved to) does not take jobs.
    error InferenceMarketVersionNotAccepting(bytes32 modelId, uint32 version);
    /// @notice Only the job's client may cancel it.
    error InferenceMarketNotClient(uint256 jobId, address caller);
    /// @notice A job is cancelled only once its version stopped taking jobs (retired, or past its
    /// sunset); until then providers may still serve it.
    error InferenceMarketVersionStillAccepting(bytes32 modelId, uint32 version);
    /// @notice Only an open job (no result delivered, reveal not started) can be cancelled.
    error InferenceMarketNotCancellable(uint256 jobId, JobStatus status);
    /// @notice The ETH sent, `paid`, is not the escrow `required` (0 for an ERC-20 job).
    error InferenceMarketIncorrectEscrow(uint256 jobId, uint256 paid, uint256 required);
    /// @notice The market received `received` of `token` where `expected` was due (fee-on-transfer tokens are refused).
    error InferenceMarketTransferShortfall(address token, uint256 expected, uint256 received);
    /// @notice The job words passed do not hash to the job's stored binding (wrong words, or another job's).
    error InferenceMarketJobMismatch(uint256 jobId);
    /// @notice The job is not in a status that allows this call.
    error InferenceMarketInvalidStatus(uint256 jobId, JobStatus status);
    /// @notice The job's deadline (k = 1) or commit deadline (k > 1), `deadline`, has passed.
    error InferenceMarketDeadlinePassed(uint256 jobId, uint40 deadline);
    /// @notice The job cannot be finalized yet (its deadline or reveal window is still open) or any more.
    error InferenceMarketNotFinalizable(uint256 jobId, JobStatus status);
    /// @notice The call is for the other kind of job (k = 1 delivery vs k > 1 commit).
    error InferenceMarketWrongRedundancy(uint256 jobId, uint8 redundancy);
    /// @notice `provider` already holds a seat of this job.
    error InferenceMarketAlreadySeated(uint256 jobId, address provider);
    /// @notice `provider` does not hold `seat` of this job.
    error InferenceMarketNotSeated(uint256 jobId, uint8 seat, address provider);
    /// @notice `provider` already revealed its seat.
    error InferenceMarketAlreadyRevealed(uint256 jobId, address provider);
    /// @notice The revealed result and salt do not open the seat's commitment.
    error InferenceMarketCommitmentMismatch(uint256 jobId, address provider);
    /// @notice The reveal window ended at `revealDeadline`.
    error InferenceMarketRevealClosed(uint256 jobId, uint40 revealDeadline);
    /// @notice `account` has no credited balance in `token`.
    error InferenceMarketNothingToWithdraw(address account, address token);
    /// @notice Sending `amount` wei to `to` failed (use {withdrawTo} for a contract that cannot receive ETH).
    error InferenceMarketEthTransferFailed(address to, uint256 amount);
    /// @notice A policy value, `value` of `field`, is outside its bounds (see the setters).
    error InferenceMarketPolicyOutOfBounds(string field, uint256 value);
    /// @notice An address that must be set (registry, court, treasury, recipient) is zero.
    error InferenceMarketZeroAddress();
    /// @notice A signed batch item's signature does not recover (malformed or malleable).
    error InferenceMarketInvalidSignature(uint256 jobId);
    /// @notice The market was wound down ({IInferenceMarketCourt-windDown}): it takes no new
    /// requests (deliveries, commits and challenges are refused by the registry,
    /// `ProviderRegistryMarketRetired`).
    error InferenceMarketWoundDown();
    /// @notice A signed batch's item at byte `offset` of the batch is malformed: shorter than an
    /// item's fixed part, or its length runs past the end of the batch (which rejects the rest
    /// of the batch). Only ever reported as an {AttestationRejected} reason.
    error InferenceMarketMalformedAttestation(uint256 offset);
    /// @notice `provider`'s rank in the job's assignment is not open yet: it opens at `opensAt`.
    error InferenceMarketNotAssigned(uint256 jobId, address provider, uint256 rank, uint40 opensAt);
    /// @notice The delivery may still be challenged until `endsAt`: its fee is not claimable yet.
    error InferenceMarketChallengeWindowOpen(uint256 jobId, uint40 endsAt);
    /// @notice The delivery's challenge window ended at `endedAt`.
    error InferenceMarketChallengeWindowClosed(uint256 jobId, uint40 endedAt);
    /// @notice A party to a challenge (its provider or challenger) cannot challenge its own result
    /// or sit on its jury.
    error InferenceMarketJuryExcluded(uint256 jobId, address account);
    /// @notice The court given to the market was deployed with other registries than the market's.
    error InferenceMarketCourtMismatch(address court);
    /// @notice The challenge cannot be resolved yet: jurors may still commit or reveal.
    error InferenceMarketNotResolvable(uint256 jobId, JobStatus status);
    /// @notice Only the model registry ({models}) pushes its mirror; `caller` is not it.
    error InferenceMarketNotModelRegistry(address caller);
    /// @notice Only the provider registry may push providers or reclaim their collateral.
    error InferenceMarketNotProviderRegistry(address caller);
    /// @notice `provider` may take no seat: not an Approved roster member, exiting, or under the
    /// registry's minimum stake.
    error InferenceMarketProviderNotEligible(address provider);
    /// @notice `provider` is frozen until `until`.
    error InferenceMarketProviderFrozen(address provider, uint40 until);
    /// @notice `provider` lacks the granted tags `missing` that the job requires.
    error InferenceMarketProviderMissingTags(address provider, uint256 missing);
    /// @notice `provider` has `memoryMB`, the job's version needs `required`.
    error InferenceMarketProviderInsufficientMemory(address provider, uint32 memoryMB, uint32 required);
}

/// @title IInferenceMarketLinks
/// @notice The market's links to the registries and to the treasury, which the market and its
/// court ({IInferenceMarketCourt}) both read.
interface IInferenceMarketLinks {
    /// @notice Where models' status and terms are read; fixed at deployment.
    function models() external view returns (IModelRegistry);

    /// @notice Where providers' admission, stake and counters live; fixed at deployment.
    function providers() external view returns (IProviderRegistry);

    /// @notice Where protocol fees are sent: the DAO's timelock (see {IInferenceMarketCourt-setTreasury}).
    function treasury() external view returns (address);
}

/// @title IInferenceMarket
/// @notice Clients escrow a fee per provider for an inference job on a pinned model version;
/// providers deliver results (k = 1) or commit and reveal them (k > 1); payouts and refunds are
/// credited to internal balances and withdrawn by their owners.
/// @dev Only a hash of a job's immutable parameters (the {Job} struct) is stored, packed with its
/// status in one slot; every later call passes the parameters back as they were emitted in
/// {JobRequested} and the market checks them against the hash. Credits to internal balances
/// have no event of their own; the events of the changes that cause them say who gets what:
/// {DeliveryClaimed} (the provider, the job's fee), {ChallengeResolved} (the parties and
/// jurors of a challenge), {JobSettled} (the providers whose
/// {ResultRevealed} hash won, the fee each; the client, `clientRefund`), {JobRefunded} (the
/// client, `amount`), {SlashDistributed} (the stake slashed from faulty seats, credited in the
/// registry's stake token to the client and the compensated revealers).
interface IInferenceMarket is IInferenceMarketTypes, IInferenceMarketLinks, IERC5267 {
    /// @notice Requests a job and escrows `k × fee` plus the protocol fee (exact `msg.value` for
    /// ETH; pulled with transferFrom for an ERC-20, rejected if the token delivers less).
    /// @param request The job.
    /// @return jobId The new job's id.
    function requestJob(JobRequest calldata request) external payable returns (uint256 jobId);

    /// @notice Delivers the result of a k = 1 job; the caller must be an eligible provider whose
    /// rank is open (see {assignment}) with the job's collateral free, which it locks. The client
    /// reads the result from {ResultSubmitted} at once; the fee is claimed ({claim}) after the
    /// job's challenge window, during which any other eligible provider may {challenge} it.
    /// A result is bound to its sender: a copy of a pending result taken from the mempool reverts
    /// during the assignee's window ({InferenceMarketNotAssigned}). Residual risk: once that window
    /// passed, the next rank may copy a late assignee's pending result; the copier then locks its
    /// own collateral and answers for the result in a challenge.
    /// @param jobId The job.
    /// @param job The job's parameters as emitted in {JobRequested}.
    /// @param resultHash The canonical result hash.
    /// @param outputRef Where the outputs are (an IPFS CID, or the outputs inline when small).
    function submitResult(
        uint256 jobId,
        uint256[6] calldata job,
        bytes32 resultHash,
        bytes calldata outputRef
    ) external;

    /// @notice Delivers many signed k = 1 results in one transaction (anyone may relay them).
    /// `items` is the items concatenated, each framed as
    /// `[len:uint32][jobId:32][job:6 words][resultHash:32][outputRef][signature:65]`,
    /// `len` counting the bytes after it (so `outputRef` is `len − 321` bytes) and the signature
    /// being the provider's EIP-712 `Attestation` as (r, s, v) (see {attestationDigest}; the
    /// TypeScript `encodeAttestationBatch` writes this framing). The market frames the bytes
    /// itself, so no item can make the call revert: each item is checked on its own, and an
    /// item that fails any check (malformed framing, bad signature, wrong parameters, job not
    /// open, deadline passed, provider not eligible or not assigned yet
    /// ({InferenceMarketNotAssigned}'s selector)) is skipped with {AttestationRejected} and
    /// changes nothing; the other items are delivered. An item shorter than 321 bytes is skipped
    /// alone; a length running past the end of `items` rejects the remainder with one event, and
    /// the items before it are delivered.
    /// @param items The framed signed results.
    /// @return delivered How many items were delivered.
    function submitAttestations(bytes calldata items) external returns (uint256 delivered);

    /// @notice Delivers many k = 1 results of the caller's own in one transaction: the batch a
    /// provider sends itself, signed once by its transaction (no per-item signature). Each item is
    /// framed as `[len:uint32][jobId:32][job:6 words][resultHash:32][outputRef]`, `len` counting
    /// the bytes after it (so `outputRef` is `len − 256` bytes; the TypeScript
    /// `encodeResultBatch` writes this framing). Every item is checked as {submitResult} checks
    /// it, and one that fails is skipped with {AttestationRejected} (the caller named as its
    /// provider) exactly as in {submitAttestations}; the caller's eligibility and free stake are
    /// read once and the collateral of the delivered items locked once.
    /// @param items The framed results.
    /// @return delivered How many items were delivered.
    function submitResults(bytes calldata items) external returns (uint256 delivered);

    /// @notice Takes a seat of an open k > 1 job by committing
    /// `keccak256(abi.encode(jobId, provider, resultHash, salt))`, and locks collateral. The caller
    /// must be eligible and its rank open (see {assignment}).
    /// @param jobId The job.
    /// @param job The job's parameters.
    /// @param commitment The commitment.
    /// @return seat The seat index, passed back to {reveal}.
    function commit(uint256 jobId, uint256[6] calldata job, bytes32 commitment) external returns (uint8 seat);

    /// @notice Reveals a seated provider's result. The last reveal settles the job: with a quorum
    /// the agreeing seats are paid and every other seat (silent or revealed otherwise) is
    /// slashed; without one the client is refunded and only the silent seats are slashed (not
    /// revealing is a proven fault; disagreeing without a quorum is not). Slashed stake is
    /// shared out as {SlashDistributed} says. Only the provider that committed a seat can reveal
    /// it: the seat stores its commitment bound to that provider.
    /// @param jobId The job.
    /// @param job The job's parameters.
    /// @param seat The caller's seat.
    /// @param resultHash The result hash committed to.
    /// @param salt The commitment's salt.
    /// @param outputRef Where the outputs are.
    function reveal(
        uint256 jobId,
        uint256[6] calldata job,
        uint8 seat,
        bytes32 resultHash,
        bytes32 salt,
        bytes calldata outputRef
    ) external;

    /// @notice Ends a job that can end: a k = 1 job past its deadline, a k > 1 job whose commit
    /// deadline passed without a quorum of seats, or whose reveal phase is over. Anyone may call;
    /// runners do it as a service. Refunds are credited to the client.
    /// @param jobId The job.
    /// @param job The job's parameters.
    function finalize(uint256 jobId, uint256[6] calldata job) external;

    /// @notice Sends the caller's whole balance of `token` (address(0) = ETH) to the caller.
    /// @param token The token.
    /// @return amount What was sent.
    function withdraw(address token) external returns (uint256 amount);

    /// @notice Sends the caller's whole balance of `token` (address(0) = ETH) to `to`: for an
    /// account that cannot receive ETH itself (a contract), or a cold wallet.
    /// @param token The token.
    /// @param to The recipient (not address(0)).
    /// @return amount What was sent.
    function withdrawTo(address token, address to) external returns (uint256 amount);

    /// @notice Cancels an open job whose model version no longer takes jobs (retired, or past its
    /// sunset), client only: the escrow is credited back and any seats released with no fault.
    /// Until then a job pinned to a version is served even if the version is retired meanwhile.
    /// @param jobId The job.
    /// @param job The job's parameters.
    function cancel(uint256 jobId, uint256[6] calldata job) external;

    /// @notice Writes a model's word in this market's mirror of the model registry (the registry
    /// only: {InferenceMarketNotModelRegistry} otherwise). Requests read the mirror instead of
    /// calling {IModelRegistry-jobTermsFor}; the registry pushes the word on every change of the
    /// model's active version or running rollout, to each holder of its MARKET_ROLE.
    /// A market granted that role after a model was published holds no word for it until someone
    /// calls {IModelRegistry-syncModel}; until then its requests for the model revert
    /// {InferenceMarketVersionNotAccepting}. A market that left the role keeps the words it had.
    /// @param modelId The model.
    /// @param word The model word (layout: {ModelMirror}).
    function syncModel(bytes32 modelId, uint256 word) external;

    /// @notice Writes a version's word in this market's mirror of the model registry (the
    /// registry only), pushed on every change of the version's status (see {syncModel}).
    /// @param modelId The model.
    /// @param version The version.
    /// @param word The version word (layout: {ModelMirror}).
    function syncVersion(bytes32 modelId, uint32 version, uint256 word) external;

    /// @notice The current policy.
    function policy() external view returns (Policy memory);

    /// @notice A job's status, seats taken and reveals made (jury seats for a challenged job), and
    /// when its reveal began (k > 1 or jury), or when it was delivered (a Delivered k = 1 job;
    /// it may be claimed after that plus the job's `challengeWindow`).
    function jobState(
        uint256 jobId
    ) external view returns (JobStatus status, uint8 seated, uint8 revealed, uint40 revealStartedAt);

    /// @notice A seat of a k > 1 job: the provider, whether it revealed, and, before the reveal,
    /// `keccak256(abi.encode(commitment, provider))` (the commitment bound to its provider; the
    /// commitment itself is in {SeatCommitted}), or, once revealed, its result hash. All zero once the job has ended: its seats are deleted
    /// (SeatCommitted and ResultRevealed keep the record).
    function seatOf(uint256 jobId, uint8 seat) external view returns (address provider, bool revealed, bytes32 value);

    /// @notice The EIP-712 digest a provider signs for a result.
    function attestationDigest(
        uint256 jobId,
        uint256[6] calldata job,
        bytes32 resultHash,
        bytes calldata outputRef
    ) external view returns (bytes32);

    /// @notice Where `provider` stands in a job's assignment ("assignment, not a race").
    /// The roster is the registry's ordered set of Approved providers that are not exiting, of
    /// size n. The provider at roster index i has rank `(a × i + seed % n) mod n`, where the
    /// multiplier a is drawn from bits 64 and up of the seed in [1, n - 1] and stepped up
    /// (wrapping to 1) to the first value coprime with n, so ranks are a permutation of the
    /// roster and consecutive indexes (members that joined one after another) get ranks a apart:
    /// a block of consecutive members holds all first k ranks of a job about as rarely as its
    /// share of the roster predicts. Ranks below k are open at request; rank r ≥ k opens at
    /// `requestedAt + (r - k + 1) × priorityWindow`, so when assigned providers do not serve,
    /// the next ones step in one window at a time and eventually everybody may. Eligibility
    /// (stake, tags, memory) is checked apart: an ineligible member's rank simply passes unused.
    /// With `priorityWindow` 0 every rank is open at once.
    /// Residual risks: the assignee is protected from mempool copies only during its window;
    /// after it, a later rank may copy a late assignee's pending result (k = 1) and be paid. A
    /// roster change while a job is open (a member joins or leaves) changes n and so may reorder
    /// every rank of that job: a provider may find its turn earlier or later than it computed.
    /// @param job The job's parameters (not checked against a stored job).
    /// @param provider The provider.
    /// @return member Whether `provider` is on the roster (when false, `rank` and `opensAt` are 0).
    /// @return rank Its rank for this job.
    /// @return opensAt When its rank opens (`requestedAt` for ranks below k).
    function assignment(
        uint256[6] calldata job,
        address provider
    ) external view returns (bool member, uint256 rank, uint40 opensAt);

    /// @notice Whether `resultHash` is a job's final result: nothing can change it any more, and
    /// the job's pay went (or goes, for a matured k = 1 delivery not yet claimed) to whoever
    /// produced it. True for a Settled k > 1 job whose quorum revealed `resultHash` (`provider`
    /// is ignored), a Settled k = 1 job delivered by `provider` with `resultHash` (claimed, or
    /// upheld by a challenge), or a Delivered k = 1 job by `provider` with `resultHash` whose
    /// challenge window has passed unchallenged. False for anything else, including a `job`
    /// that is not the job's parameters (the settled word binds them with the result). For
    /// on-chain consumers (see ConsumerRouter).
    /// @param jobId The job.
    /// @param job The job's parameters as emitted in {JobRequested}.
    /// @param provider The k = 1 job's delivering provider (ignored for k > 1).
    /// @param resultHash The result.
    /// @return final_ True if `resultHash` is the job's final result.
    function isFinalResult(
        uint256 jobId,
        uint256[6] calldata job,
        address provider,
        bytes32 resultHash
    ) external view returns (bool final_);

    /// @notice The smallest fee per provider a job paid in `token` may offer on a version whose
    /// minimum fee is `minFeeWei`: `minFeeWei` itself for ETH (address(0)), else
    /// `ceil(minFeeWei × ratePerEth / 10^18)` at the DAO's rate for the token (see {TokenAllowed}).
    /// Reverts with {InferenceMarketTokenNotAllowed} for a token that is not allowed.
    /// @param token The payment token, address(0) for ETH.
    /// @param minFeeWei The version's minimum fee (`IModelRegistry.jobTermsFor`), in wei.
    /// @return minimum The minimum fee per provider in `token` base units.
    function minFeeIn(address token, uint96 minFeeWei) external view returns (uint256 minimum);

    /// @notice Whether an ERC-20 may pay for jobs.
    /// @param token The token.
    /// @return allowed True if allowlisted.
    function isTokenAllowed(address token) external view returns (bool allowed);

    /// @notice The amount escrowed for a job: `k × fee` plus the protocol fee.
    function escrowOf(uint8 redundancy, uint96 feePerProvider, uint16 protocolFeeBps) external pure returns (uint256);

    /// @notice The contract that serves {IInferenceMarketCourt}'s functions on this market's
    /// address (by DELEGATECALL from the market's fallback); fixed at deployment.
    function court() external view returns (address);

    /// @notice The id the next job will get.
    function nextJobId() external view returns (uint256);

    /// @notice An account's withdrawable balance of a token.
    function balanceOf(address account, address token) external view returns (uint256);

    /// @notice The registry's stake token, in which slashed collateral is credited (see
    /// {SlashDistributed}); fixed at deployment.
    function stakeToken() external view returns (IERC20);

    /// @notice Protocol fees accrued in a token and not yet sent to the treasury.
    function protocolFees(address token) external view returns (uint256);
    /// @notice EIP-712 type of a signed result.
    function ATTESTATION_TYPEHASH() external view returns (bytes32);
}
