// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Vm} from "../../utils/Test.sol";
import {AttestationBatch} from "../../utils/AttestationBatch.sol";
import {InferenceMarket} from "../../../../contracts/market/InferenceMarket.sol";
import {IInferenceMarketTypes} from "../../../../contracts/interfaces/IInferenceMarket.sol";
import {IInferenceMarketCourt} from "../../../../contracts/interfaces/IInferenceMarketCourt.sol";
import {ProviderRegistry} from "../../../../contracts/registry/ProviderRegistry.sol";
import {IProviderRegistry} from "../../../../contracts/interfaces/IProviderRegistry.sol";
import {ModelRegistry} from "../../../../contracts/registry/ModelRegistry.sol";
import {MockERC20} from "../../../../contracts/mocks/MockERC20.sol";
import {Job, wordsOf} from "../../utils/JobStruct.sol";
import {MarketSpec} from "./MarketSpec.sol";
import {
    MarketStack,
    MIN_FEE,
    MIN_MEMORY,
    STAKE,
    COLLATERAL,
    CLIENT_SHARE_BPS,
    ACTIVE_VERSION,
    TREASURY
} from "./MarketStack.sol";

/// @notice Drives the whole stack for the invariant fuzzer: three clients request jobs (k 1..4,
/// random fee, ETH / token A / token B, random deadline), seven providers with private keys
/// submit k = 1 results (locking collateral), sign batches (some items deliberately bad), claim
/// matured deliveries in batches (some items deliberately bad), challenge deliveries, sit on
/// juries (commit and reveal, sometimes silent or wrong), resolve challenges, commit to k > 1 jobs with
/// recorded hashes and salts (mostly the true result, sometimes one of two wrong ones), reveal
/// (sometimes with a wrong salt or as the wrong provider), finalize, withdraw, exit (a suspended
/// provider's exit keeps it suspended, and it may not register afresh); the DAO (this contract)
/// slashes through the registry (possibly below the minimum stake, which ends eligibility until
/// stake is added), suspends and re-approves providers; time passes.
/// @dev Every call's outcome is predicted from a ghost model written from the specification;
/// a disagreement (valid call reverted, invalid call accepted, wrong error, wrong event) is
/// recorded in `surprises` instead of reverting, since a reverting handler call would just be
/// discarded by the fuzzer. Money is modelled per account and token; events are observed to
/// attribute provider fees to jobs; the registry (stake, locked, slashed funds, counters) is
/// modelled as {IProviderRegistry} specifies it; challenges as {IInferenceMarketCourt} specifies
/// them. Seeds are hashed on entry (see {_h}); picks prefer jobs (and actors) where the action is
/// valid, so that runs reach settled k > 1 rounds and every way a challenge ends.
contract InferenceMarketHandler {
    Vm private constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    // Seven providers: a jury of three beside the two parties, even with one of them unable to
    // serve jobs that require tag bit 1 and another exiting or suspended.
    uint256 public constant PROVIDER_COUNT = 7;
    uint256 public constant CLIENT_COUNT = 3;
    uint256 public constant TOKEN_COUNT = 3;
    /// @dev The payment tokens, and the stake token (credited from slashed seats).
    uint256 public constant BALANCE_TOKEN_COUNT = TOKEN_COUNT + 1;
    uint256 public constant ACCOUNT_COUNT = CLIENT_COUNT + PROVIDER_COUNT + 1;
    uint256 private constant BAD_KEY = 0xBAD0BAD0;
    uint256 private constant MAX_WARP = 3 hours;
    uint256 private constant MAX_FEE = 1e20;
    uint256 private constant MAX_BATCH = 6;
    uint32 private constant PRIORITY_WINDOW = 60;
    // Longer than most short warps (up to 15 minutes), so that deliveries are often challenged.
    uint32 private constant HANDLER_CHALLENGE_WINDOW = 20 minutes;
    uint256 private constant MAX_CLAIMS = 4;

    uint8 private constant PICK_ANY = 0; // any unfinished job
    uint8 private constant PICK_K1 = 1;
    uint8 private constant PICK_COMMIT = 2;
    uint8 private constant PICK_REVEAL = 3;
    uint8 private constant PICK_SEATED = 4;
    uint8 private constant PICK_FINALIZABLE = 5;
    uint8 private constant PICK_K1_LIVE = 6; // k = 1 before its deadline
    uint8 private constant PICK_COMMIT_LIVE = 7; // k > 1 before its commit deadline
    uint8 private constant PICK_DELIVERED = 8; // k = 1 Delivered
    uint8 private constant PICK_CLAIMABLE = 9; // Delivered, challenge window over
    uint8 private constant PICK_CHALLENGEABLE = 10; // Delivered, within the challenge window
    uint8 private constant PICK_CHALLENGED = 11; // Challenged or JuryRevealing
    uint8 private constant PICK_JURY_COMMIT = 12; // Challenged, within the jury's commit window
    uint8 private constant PICK_JURY_REVEAL = 13; // the jury may reveal now
    uint8 private constant PICK_RESOLVABLE = 14; // resolveChallenge would resolve it now

    InferenceMarket public immutable market;
    ProviderRegistry public immutable registry;
    ModelRegistry public immutable models;
    MockERC20 public immutable stakeToken;
    MockERC20 public immutable tokenA;
    MockERC20 public immutable tokenB;
    bytes32 public immutable modelId;
    address public immutable treasury;
    address public immutable badSigner;

    uint256[PROVIDER_COUNT] private _keys;
    address[PROVIDER_COUNT] public providerAt;
    address[CLIENT_COUNT] public clientAt;

    struct JobInfo {
        Job job;
        uint256 escrow;
        IInferenceMarketTypes.JobStatus status; // the model's status (mirrors the lazy reveal start)
        // The job word's time: the reveal start (k > 1, jury), or the delivery time (k = 1).
        uint40 revealStart;
        uint8 revealedCount;
        // DeliveryClaimed / ChallengeResolved / JobSettled / JobRefunded observed for the job.
        uint8 terminalEvents;
        // k = 1: the delivery (the job word then binds it instead of the job).
        bool delivered;
        address deliverer;
        bytes32 resultHash;
        uint40 deliveredAt;
        // k = 1: the challenge, as emitted (its seats are the jury's, in `_seats`).
        bool challenged;
        IInferenceMarketTypes.Challenge ch;
    }

    struct Seat {
        address provider;
        bytes32 resultHash;
        bytes32 salt;
        bool revealed;
    }

    /// @dev A batch item as predicted: delivered when `reason` is zero. `altReason`, when set,
    /// is also accepted (see {_pastOpenMismatch}).
    struct Pred {
        uint256 jobId;
        address signer;
        bytes4 reason;
        bytes4 altReason;
        bool signerKnown;
        bool tampered;
        bytes32 resultHash;
    }

    /// @dev A claim item as predicted: paid when `reason` is zero.
    struct ClaimPred {
        uint256 jobId;
        address provider;
        bytes4 reason;
    }

    uint256[] private _jobIds;
    uint256[] private _open;
    uint256[] private _done;
    mapping(uint256 jobId => uint256 indexPlusOne) private _openPos;
    mapping(uint256 jobId => JobInfo) private _info;
    mapping(uint256 jobId => Seat[]) private _seats;

    // Per (provider, job): served by the model's account, and provider-fee credits observed.
    mapping(address provider => mapping(uint256 jobId => bool)) public served;
    mapping(address account => mapping(uint256 jobId => uint256)) public feeCredits;

    // Money, per token (address(0) = ETH).
    mapping(address token => uint256) public ghostEscrow; // escrow of unfinished jobs
    mapping(address token => uint256) public ghostCredits; // credited, not withdrawn (spec)
    mapping(address account => mapping(address token => uint256)) public ghostBalance; // spec
    mapping(address token => uint256) public observedCredits; // credits the events imply − withdrawals
    mapping(address token => uint256) public ghostProtocolFees; // accrued, not sent to the treasury

    // Stake token flows into and out of the registry.
    uint256 public ghostStakeIn;
    uint256 public ghostStakeOut;
    mapping(address provider => bool) public daoSlashed;
    // Whether the DAO suspended the provider (and has not approved it again); a suspension
    // survives exit and stake withdrawal.
    mapping(address provider => bool) public ghostSuspended;

    // The registry and the market's provider words as specified: stake, the collateral held by
    // open seats (allocated stake that no DAO slash reaches; the registry's `locked` is that plus
    // what the market holds free), slashed funds, fault counters.
    mapping(address provider => uint256) public ghostStake;
    mapping(address provider => uint256) public ghostLocked;
    uint256 public ghostSlashedFunds;
    mapping(address provider => uint256) public ghostDisagreed;
    mapping(address provider => uint256) public ghostMissed;

    // Batch bookkeeping.
    uint256 private _batchNonce;
    mapping(uint256 jobId => uint256 nonce) private _takenInBatch;
    // Claims paid earlier in the claim batch being predicted.
    mapping(uint256 jobId => uint256 nonce) private _claimedInBatch;
    // The stake seized from a challenge's losing party, observed in its SeatSlashed event.
    mapping(uint256 jobId => uint256) private _partySeized;
    // Reveals observed in ResultRevealed events, to attribute a JobSettled's fees.
    mapping(uint256 jobId => address[]) private _revealedBy;
    mapping(uint256 jobId => mapping(address provider => bytes32)) private _revealedHash;

    // Disagreements between the model and the market; every invariant run expects none.
    uint256 public surprises;
    string public firstSurprise;
    bytes public firstSurpriseData;

    // Coverage: successful (or correctly refused) actions by name.
    mapping(bytes32 action => uint256) public hits;
    // Coverage: correctly refused calls by error selector.
    mapping(bytes4 selector => uint256) public refusals;

    /// @dev Counts handler calls that were not discarded (coverage).
    modifier counted() {
        ++hits["calls"];
        _;
    }

    /// @dev Spreads a fuzzer seed over all 256 bits: the fuzzer favours small and edge values,
    /// which would otherwise always pick the same (often invalid) branch of the mode decisions.
    function _h(uint256 seed, uint256 salt) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, salt)));
    }

    constructor() {
        // Assignment on: a provider's rank opens within four windows; warps cover the rest.
        IInferenceMarketTypes.Policy memory policy = MarketStack.defaultPolicy();
        policy.priorityWindow = PRIORITY_WINDOW;
        MarketStack.Stack memory s = MarketStack.deploy(TREASURY, policy);
        market = s.market;
        registry = s.registry;
        models = s.models;
        stakeToken = s.stakeToken;
        tokenA = s.tokenA;
        tokenB = s.tokenB;
        modelId = s.modelId;
        treasury = TREASURY;
        badSigner = vm.addr(BAD_KEY);
        IInferenceMarketTypes.ChallengePolicy memory cp = IInferenceMarketCourt(address(market)).challengePolicy();
        cp.challengeWindow = HANDLER_CHALLENGE_WINDOW;
        IInferenceMarketCourt(address(market)).setChallengePolicy(cp);
        for (uint256 i = 0; i < PROVIDER_COUNT; ++i) {
            _keys[i] = 0xC0FFEE00 + i + 1;
            address provider = vm.addr(_keys[i]);
            providerAt[i] = provider;
            // The last provider lacks tag bit 1: it cannot serve jobs that require it.
            MarketStack.register(s, provider, STAKE, i == PROVIDER_COUNT - 1 ? 1 : 3);
            ghostStakeIn += STAKE;
            ghostStake[provider] = STAKE;
        }
        for (uint256 i = 0; i < CLIENT_COUNT; ++i) {
            clientAt[i] = address(uint160(uint256(keccak256(abi.encode("conclave-client", i)))));
        }
    }

    // ================================================================== actions: clients

    function requestJob(
        uint256 clientSeed,
        uint256 kSeed,
        uint256 feeSeed,
        uint256 tokenSeed,
        uint256 deadlineSeed,
        uint256 miscSeed
    ) external counted {
        clientSeed = _h(clientSeed, 0);
        kSeed = _h(kSeed, 1);
        feeSeed = _h(feeSeed, 2);
        tokenSeed = _h(tokenSeed, 3);
        deadlineSeed = _h(deadlineSeed, 4);
        miscSeed = _h(miscSeed, 5);
        IInferenceMarketTypes.Policy memory p = market.policy();
        address client = clientAt[clientSeed % CLIENT_COUNT];
        IInferenceMarketTypes.JobRequest memory r = _buildRequest(p, kSeed, feeSeed, tokenSeed, deadlineSeed, miscSeed);
        bytes memory expected = _requestError(p, r);
        uint256 escrow = MarketSpec.escrow(r.redundancy, r.feePerProvider, p.protocolFeeBps);
        _fund(client, r.token, escrow);
        uint256 expectedId = market.nextJobId();
        vm.recordLogs();
        vm.prank(client);
        try market.requestJob{value: r.token == address(0) ? escrow : 0}(r) returns (uint256 jobId) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            if (expected.length != 0) {
                _surprise("requestJob: invalid request accepted", expected);
                return;
            }
            if (jobId != expectedId) _surprise("requestJob: unexpected job id", abi.encode(jobId, expectedId));
            _recordJob(jobId, client, r, p, escrow, logs);
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_checkRevert("requestJob", err, expected)) ++hits["requestJob.refused"];
        }
    }

    /// @notice An account withdraws its balance; one time in eight the treasury withdraws the
    /// protocol fees instead.
    function withdraw(uint256 accountSeed, uint256 tokenSeed) external counted {
        accountSeed = _h(accountSeed, 0);
        tokenSeed = _h(tokenSeed, 1);
        if (accountSeed % 8 == 0) {
            _withdrawProtocolFees(tokenAt((accountSeed >> 8) % TOKEN_COUNT));
            return;
        }
        (address account, address token) = _pickBalance(accountSeed, tokenSeed);
        uint256 expectedAmount = ghostBalance[account][token];
        bytes memory expected =
            expectedAmount == 0
                ? abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector,
                    account,
                    token
                )
                : bytes("");
        uint256 before = _balanceOf(token, account);
        vm.prank(account);
        try market.withdraw(token) returns (uint256 amount) {
            if (expected.length != 0 || amount != expectedAmount) {
                _surprise("withdraw: amount differs from the account's credits", abi.encode(amount, expectedAmount));
            }
            if (_balanceOf(token, account) != before + amount) _surprise("withdraw: amount not received", "");
            ghostBalance[account][token] = 0;
            ghostCredits[token] = _sub(ghostCredits[token], expectedAmount);
            observedCredits[token] = _sub(observedCredits[token], amount);
            ++hits["withdraw"];
        } catch (bytes memory err) {
            if (_checkRevert("withdraw", err, expected)) ++hits["withdraw.refused"];
        }
    }

    function _withdrawProtocolFees(address token) private {
        uint256 expectedAmount = ghostProtocolFees[token];
        bytes memory expected =
            expectedAmount == 0
                ? abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector,
                    treasury,
                    token
                )
                : bytes("");
        uint256 before = _balanceOf(token, treasury);
        vm.prank(treasury);
        try IInferenceMarketCourt(address(market)).withdrawProtocolFees(token) returns (uint256 amount) {
            if (expected.length != 0 || amount != expectedAmount) {
                _surprise(
                    "withdrawProtocolFees: amount differs from the accrued fees",
                    abi.encode(amount, expectedAmount)
                );
            }
            if (_balanceOf(token, treasury) != before + amount) _surprise("withdrawProtocolFees: not received", "");
            ghostProtocolFees[token] = 0;
            ++hits["withdrawProtocolFees"];
        } catch (bytes memory err) {
            if (_checkRevert("withdrawProtocolFees", err, expected)) ++hits["withdrawProtocolFees.refused"];
        }
    }

    // ================================================================== actions: providers, k = 1

    function submitResult(uint256 jobSeed, uint256 providerSeed, uint256 resultSeed) external counted {
        jobSeed = _h(jobSeed, 0);
        providerSeed = _h(providerSeed, 1);
        resultSeed = _h(resultSeed, 2);
        // Mostly a job still before its deadline; one time in eight any k = 1 job.
        (bool found, uint256 jobId) = _pick(jobSeed, resultSeed % 8 == 0 ? PICK_K1 : PICK_K1_LIVE);
        if (!found) (found, jobId) = _pick(jobSeed, PICK_K1);
        if (!found) return;
        address provider = providerAt[providerSeed % PROVIDER_COUNT];
        JobInfo storage info = _info[jobId];
        // Three times in four a provider that may deliver now, if there is one.
        if ((providerSeed >> 128) % 4 != 0) {
            for (uint256 i = 0; i < PROVIDER_COUNT; ++i) {
                address candidate = providerAt[(providerSeed + i) % PROVIDER_COUNT];
                if (_submitError(jobId, info, candidate).length == 0) {
                    provider = candidate;
                    break;
                }
            }
        }
        bytes memory expected = _submitError(jobId, info, provider);
        Job memory job = info.job;
        bytes32 resultHash = keccak256(abi.encode("result", jobId, resultSeed));
        vm.recordLogs();
        vm.prank(provider);
        try market.submitResult(jobId, wordsOf(job), resultHash, "ipfs://bafy-output") {
            _observe(vm.getRecordedLogs());
            if (expected.length != 0) {
                _surprise("submitResult: accepted although invalid", expected);
                return;
            }
            _deliverModel(jobId, provider, resultHash);
            ++hits["submitResult"];
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_checkRevertAlt("submitResult", err, expected, _pastOpenMismatch(jobId)))
                ++hits["submitResult.refused"];
        }
    }

    /// @notice A relayed batch of signed k = 1 results; items are good, or signed by a stranger,
    /// or with an invalid signature (v = 0), or for tampered job parameters, or signed over another result,
    /// or duplicates, or for jobs that are not open k = 1 jobs.
    function submitBatch(uint256 seed, uint256 countSeed) external counted {
        seed = _h(seed, 0);
        countSeed = _h(countSeed, 1);
        if (_jobIds.length == 0) return;
        uint256 n = bound(countSeed, 1, MAX_BATCH);
        ++_batchNonce;
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](n);
        Pred[] memory pred = new Pred[](n);
        uint256 expectedDelivered;
        // Collateral the batch's earlier items lock, per provider (read once, locked at the end).
        uint256[] memory locking = new uint256[](PROVIDER_COUNT);
        for (uint256 i = 0; i < n; ++i) {
            (items[i], pred[i]) = _batchItem(
                uint256(keccak256(abi.encode(seed, i))),
                seed,
                i,
                i == 0 ? 0 : items[i - 1].jobId
            );
            if (pred[i].reason == bytes4(0)) {
                (pred[i].reason, pred[i].altReason) = _batchReason(
                    pred[i].jobId,
                    pred[i].tampered,
                    pred[i].signer,
                    locking
                );
            }
            if (pred[i].reason == bytes4(0)) {
                ++expectedDelivered;
                _takenInBatch[pred[i].jobId] = _batchNonce;
                locking[_providerIndex(pred[i].signer)] += _info[pred[i].jobId].job.collateral;
            }
        }
        _runBatch("batch", address(0), AttestationBatch.encode(items), pred, expectedDelivered);
    }

    /// @notice A provider's own batch of k = 1 results (no signatures): items are good, or for
    /// tampered job parameters, or duplicates, or for jobs that are not open k = 1 jobs, or beyond
    /// the provider's free stake or eligibility, predicted as for a signed batch.
    function submitOwnBatch(uint256 seed, uint256 countSeed) external counted {
        seed = _h(seed, 0);
        countSeed = _h(countSeed, 1);
        if (_jobIds.length == 0) return;
        uint256 n = bound(countSeed, 1, MAX_BATCH);
        ++_batchNonce;
        address provider = providerAt[(seed >> 8) % PROVIDER_COUNT];
        bytes memory encoded;
        Pred[] memory pred = new Pred[](n);
        uint256 expectedDelivered;
        uint256[] memory locking = new uint256[](PROVIDER_COUNT);
        for (uint256 i = 0; i < n; ++i) {
            uint256 s = uint256(keccak256(abi.encode(seed, i)));
            // 0-6 good, 7 tampered job, 8-9 duplicate of the previous item's job.
            uint256 kind = s % 10;
            uint256 jobId;
            if (kind >= 8 && i != 0) {
                jobId = pred[i - 1].jobId;
            } else if ((s >> 8) % 8 == 0) {
                jobId = _jobIds[(s >> 16) % _jobIds.length];
            } else {
                (bool found, uint256 id) = _pickNth(seed >> 16, i, PICK_K1_LIVE);
                jobId = found ? id : _jobIds[(s >> 16) % _jobIds.length];
            }
            Job memory job = _info[jobId].job;
            if (kind == 7) job.feePerProvider += 1;
            bytes32 resultHash = keccak256(abi.encode("own result", jobId, s));
            encoded = bytes.concat(
                encoded,
                AttestationBatch.encodeOwnItem(
                    jobId,
                    wordsOf(job),
                    resultHash,
                    abi.encodePacked("ipfs://own-", uint16(s >> 48))
                )
            );
            pred[i] = Pred(jobId, provider, 0, 0, true, kind == 7, resultHash);
            (pred[i].reason, pred[i].altReason) = _batchReason(jobId, kind == 7, provider, locking);
            if (pred[i].reason == bytes4(0)) {
                ++expectedDelivered;
                _takenInBatch[jobId] = _batchNonce;
                locking[_providerIndex(provider)] += _info[jobId].job.collateral;
            }
        }
        _runBatch("ownBatch", provider, encoded, pred, expectedDelivered);
    }

    /// @dev Sends a batch (signed, relayed by this handler, when `provider` is zero; else the
    /// provider's own) and checks every item went as `pred` says.
    function _runBatch(
        string memory name,
        address provider,
        bytes memory encoded,
        Pred[] memory pred,
        uint256 expectedDelivered
    ) private {
        uint256 n = pred.length;
        uint256[] memory balancesBefore = _batchBalances();
        vm.recordLogs();
        function(bytes memory) external returns (uint256) send =
            provider == address(0) ? market.submitAttestations : market.submitResults;
        if (provider != address(0)) vm.prank(provider);
        try send(encoded) returns (uint256 delivered) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            if (delivered != expectedDelivered) {
                _surprise(string.concat(name, ": delivered count"), abi.encode(delivered, expectedDelivered));
            }
            _checkBatchLogs(logs, pred);
            _observe(logs);
            _checkBatchCredits(balancesBefore, pred);
            for (uint256 i = 0; i < n; ++i) {
                if (pred[i].reason == bytes4(0)) _deliverModel(pred[i].jobId, pred[i].signer, pred[i].resultHash);
            }
            ++hits[bytes32(bytes(name))];
            if (expectedDelivered != 0) ++hits[bytes32(bytes(string.concat(name, ".delivered")))];
            if (expectedDelivered != n) ++hits[bytes32(bytes(string.concat(name, ".rejectedItems")))];
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            _surprise(string.concat(name, " reverted"), err);
        }
    }

    // ================================================================== actions: claims and challenges

    /// @notice Anyone claims a batch of 1-4 k = 1 deliveries: mostly matured ones, sometimes
    /// still challengeable ones, duplicates, another provider or result, or any job at all
    /// (open, ended, k > 1). Each item is paid or skipped exactly as predicted.
    function claim(uint256 seed, uint256 countSeed) external counted {
        seed = _h(seed, 0);
        countSeed = _h(countSeed, 1);
        if (_jobIds.length == 0) return;
        uint256 n = bound(countSeed, 1, MAX_CLAIMS);
        ++_batchNonce;
        IInferenceMarketTypes.Claim[] memory cs = new IInferenceMarketTypes.Claim[](n);
        ClaimPred[] memory pred = new ClaimPred[](n);
        uint256 expectedPaid;
        for (uint256 i = 0; i < n; ++i) {
            uint256 s = uint256(keccak256(abi.encode(seed, i)));
            if (i != 0 && s % 6 == 0) {
                cs[i] = cs[i - 1]; // the same claim twice in a batch
            } else {
                cs[i] = _claimItem(s);
            }
            pred[i] = _claimPrediction(cs[i]);
            if (pred[i].reason == bytes4(0)) {
                ++expectedPaid;
                _claimedInBatch[cs[i].jobId] = _batchNonce;
            }
        }
        vm.recordLogs();
        vm.prank(address(uint160(uint256(keccak256(abi.encode("keeper", countSeed % 3))))));
        try IInferenceMarketCourt(address(market)).claim(cs) returns (uint256 paid) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            if (paid != expectedPaid) _surprise("claim: paid count", abi.encode(paid, expectedPaid));
            _checkClaimLogs(logs, pred);
            _observe(logs);
            for (uint256 i = 0; i < n; ++i) {
                if (pred[i].reason != bytes4(0)) continue;
                _payDeliveryModel(pred[i].jobId);
                address provider = pred[i].provider;
                _releaseModel(provider, _info[pred[i].jobId].job.collateral);
                ++hits["claim"];
            }
            if (expectedPaid != n) ++hits["claim.skipped"];
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            _surprise("claim reverted", err);
        }
    }

    /// @notice An eligible provider (or, one time in eight, a stranger) challenges a delivery:
    /// mostly one still within its window, sometimes any unfinished k = 1 job; the deliverer
    /// challenging itself, an ineligible challenger, a closed window and a second challenge are
    /// refused with the exact error.
    function challenge(uint256 jobSeed, uint256 challengerSeed) external counted {
        jobSeed = _h(jobSeed, 0);
        challengerSeed = _h(challengerSeed, 1);
        (bool found, uint256 jobId) = _pick(jobSeed, challengerSeed % 4 == 0 ? PICK_K1 : PICK_CHALLENGEABLE);
        if (!found) (found, jobId) = _pick(jobSeed, PICK_K1);
        if (!found) return;
        JobInfo storage info = _info[jobId];
        address challenger =
            (challengerSeed >> 8) % 8 == 0 ? badSigner : providerAt[(challengerSeed >> 16) % PROVIDER_COUNT];
        // Three times in four a provider that may challenge now, if there is one.
        if ((challengerSeed >> 64) % 4 != 0) {
            for (uint256 i = 0; i < PROVIDER_COUNT; ++i) {
                address candidate = providerAt[((challengerSeed >> 16) + i) % PROVIDER_COUNT];
                if (_challengeError(jobId, info, candidate).length == 0) {
                    challenger = candidate;
                    break;
                }
            }
        }
        // An open job has no delivery to name: any provider and result (refused on its status).
        address provider = info.delivered ? info.deliverer : providerAt[0];
        bytes32 resultHash = info.delivered ? info.resultHash : bytes32(jobSeed);
        bytes memory expected = _challengeError(jobId, info, challenger);
        IInferenceMarketTypes.Challenge memory spec = MarketSpec.challengeOf(
            jobId,
            provider,
            resultHash,
            challenger,
            market.policy(),
            IInferenceMarketCourt(address(market)).challengePolicy()
        );
        Job memory job = info.job;
        vm.recordLogs();
        vm.prank(challenger);
        try IInferenceMarketCourt(address(market)).challenge(jobId, wordsOf(job), provider, resultHash) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            _observe(logs);
            if (expected.length != 0) {
                _surprise("challenge: accepted although invalid", expected);
                return;
            }
            (bool emitted, IInferenceMarketTypes.Challenge memory ch) = _challengeFromLogs(logs, jobId);
            if (!emitted || keccak256(abi.encode(ch)) != keccak256(abi.encode(spec))) {
                _surprise("challenge: emitted Challenge differs from the specification", abi.encode(ch));
            }
            info.status = IInferenceMarketTypes.JobStatus.Challenged;
            info.challenged = true;
            info.ch = spec;
            info.revealStart = 0; // the job word binds the challenge now, without a time
            ghostLocked[challenger] += job.collateral;
            ++hits["challenge"];
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_checkRevert("challenge", err, expected)) ++hits["challenge.refused"];
        }
    }

    /// @notice Jurors commit to a challenged job: wordsOf(usually) as many as the jury has seats left,
    /// sometimes fewer; sometimes a party or a seated juror tries too. Votes: mostly the
    /// delivered result, often another ("the truth"), sometimes a third.
    function juryCommit(uint256 jobSeed, uint256 providerSeed, uint256 countSeed, uint256 hashSeed) external counted {
        jobSeed = _h(jobSeed, 0);
        providerSeed = _h(providerSeed, 1);
        countSeed = _h(countSeed, 2);
        hashSeed = _h(hashSeed, 3);
        (bool found, uint256 jobId) = _pick(jobSeed, hashSeed % 8 == 0 ? PICK_CHALLENGED : PICK_JURY_COMMIT);
        if (!found) (found, jobId) = _pick(jobSeed, PICK_CHALLENGED);
        if (!found) return;
        JobInfo storage info = _info[jobId];
        uint256 size = info.ch.jurySize;
        uint256 n = countSeed % 4 == 0 ? bound(countSeed >> 2, 1, size) : size;
        // Half the time the jurors wait for the next jury rank to open (within the commit window),
        // as runners do.
        if ((countSeed >> 64) % 2 == 0) _waitForJuryRank(jobId, info);
        if ((hashSeed >> 128) % 8 == 0) {
            // A party, or a juror already seated, tries to take a seat.
            address again =
                _seats[jobId].length != 0 && (hashSeed >> 136) % 2 == 0
                    ? _seats[jobId][0].provider
                    : (hashSeed >> 140) % 2 == 0
                        ? info.ch.provider
                        : info.ch.challenger;
            _juryCommitOne(jobId, again, hashSeed);
        }
        uint256 seated;
        for (uint256 i = 0; i < PROVIDER_COUNT && seated < n; ++i) {
            if (info.status != IInferenceMarketTypes.JobStatus.Challenged) break;
            address provider = providerAt[((providerSeed % PROVIDER_COUNT) + i) % PROVIDER_COUNT];
            if (_isSeated(jobId, provider) || provider == info.ch.provider || provider == info.ch.challenger) continue;
            if (_juryCommitOne(jobId, provider, uint256(keccak256(abi.encode(hashSeed, i))))) ++seated;
        }
    }

    /// @notice Jurors reveal: mostly on a job whose jury may reveal now, sometimes on any
    /// challenged job (InvalidStatus, RevealClosed); sometimes with a wrong salt, as another
    /// provider, or twice.
    function juryReveal(uint256 jobSeed, uint256 seatSeed, uint256 countSeed, uint256 badSeed) external counted {
        jobSeed = _h(jobSeed, 0);
        seatSeed = _h(seatSeed, 1);
        countSeed = _h(countSeed, 2);
        badSeed = _h(badSeed, 3);
        (bool found, uint256 jobId) = _pick(jobSeed, badSeed % 8 == 0 ? PICK_CHALLENGED : PICK_JURY_REVEAL);
        if (!found) (found, jobId) = _pick(jobSeed, PICK_CHALLENGED);
        if (!found || _seats[jobId].length == 0) return;
        uint256 n = countSeed % 4 == 0 ? bound(countSeed >> 2, 1, 4) : _seats[jobId].length;
        for (uint256 i = 0; i < n; ++i) {
            if (_terminal(_info[jobId].status)) break;
            _juryRevealOne(jobId, (seatSeed % 64) + i, uint256(keccak256(abi.encode(badSeed, i))));
        }
    }

    /// @notice Anyone resolves a challenge: half the time one that can be resolved now, else any
    /// unfinished k = 1 job or an ended one (NotResolvable, or JobMismatch for a job that was
    /// never challenged).
    function resolveChallenge(uint256 jobSeed, uint256 callerSeed) external counted {
        jobSeed = _h(jobSeed, 0);
        callerSeed = _h(callerSeed, 1);
        uint256 jobId;
        bool found;
        if (callerSeed % 8 == 0 && _done.length != 0) {
            (found, jobId) = (true, _done[jobSeed % _done.length]);
        } else {
            (found, jobId) = _pick(jobSeed, callerSeed % 2 == 0 ? PICK_RESOLVABLE : PICK_CHALLENGED);
            if (!found) (found, jobId) = _pick(jobSeed, PICK_K1);
        }
        if (!found) return;
        JobInfo storage info = _info[jobId];
        (bytes memory expected, uint8 outcome) = _resolveExpectation(jobId);
        Job memory job = info.job;
        IInferenceMarketTypes.Challenge memory ch = info.ch;
        vm.recordLogs();
        vm.prank(address(uint160(uint256(keccak256(abi.encode("runner", callerSeed % 4))))));
        try IInferenceMarketCourt(address(market)).resolveChallenge(jobId, wordsOf(job), ch) {
            _observe(vm.getRecordedLogs());
            if (expected.length != 0) {
                _surprise("resolveChallenge: accepted although not resolvable", expected);
                return;
            }
            if (outcome == 1) {
                _resolveUnfilledModel(jobId);
            } else {
                if (info.status == IInferenceMarketTypes.JobStatus.Challenged) {
                    info.status = IInferenceMarketTypes.JobStatus.JuryRevealing;
                    info.revealStart = ch.challengedAt + ch.commitWindow;
                }
                _resolveModel(jobId);
            }
            ++hits["resolveChallenge"];
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_checkRevert("resolveChallenge", err, expected)) ++hits["resolveChallenge.refused"];
        }
    }

    // ================================================================== actions: providers, k > 1

    function commit(uint256 jobSeed, uint256 providerSeed, uint256 countSeed, uint256 hashSeed) external counted {
        jobSeed = _h(jobSeed, 0);
        providerSeed = _h(providerSeed, 1);
        countSeed = _h(countSeed, 2);
        hashSeed = _h(hashSeed, 3);
        // Mostly a job still before its commit deadline; one time in eight any open k > 1 job.
        (bool found, uint256 jobId) = _pick(jobSeed, hashSeed % 8 == 0 ? PICK_COMMIT : PICK_COMMIT_LIVE);
        if (!found) (found, jobId) = _pick(jobSeed, PICK_COMMIT);
        if (!found) return;
        // Usually fill every seat left; one time in four only some.
        uint256 k = _info[jobId].job.redundancy;
        uint256 n = countSeed % 4 == 0 ? bound(countSeed >> 2, 1, k) : k;
        // Usually skip providers already seated; one time in eight try them too (AlreadySeated).
        bool trySeated = (hashSeed >> 128) % 8 == 0;
        if (trySeated && _seats[jobId].length != 0) _commitOne(jobId, _seats[jobId][0].provider, hashSeed);
        uint256 seated;
        for (uint256 i = 0; i < PROVIDER_COUNT && seated < n; ++i) {
            if (_info[jobId].status != IInferenceMarketTypes.JobStatus.Open) break;
            address provider = providerAt[((providerSeed % PROVIDER_COUNT) + i) % PROVIDER_COUNT];
            if (!trySeated && _isSeated(jobId, provider)) continue;
            if (_commitOne(jobId, provider, uint256(keccak256(abi.encode(hashSeed, i))))) ++seated;
        }
    }

    function reveal(uint256 jobSeed, uint256 seatSeed, uint256 countSeed, uint256 badSeed) external counted {
        jobSeed = _h(jobSeed, 0);
        seatSeed = _h(seatSeed, 1);
        countSeed = _h(countSeed, 2);
        badSeed = _h(badSeed, 3);
        // Mostly a job whose reveal phase is on; sometimes any job with seats (InvalidStatus,
        // RevealClosed).
        (bool found, uint256 jobId) = _pick(jobSeed, badSeed % 8 == 0 ? PICK_SEATED : PICK_REVEAL);
        if (!found) (found, jobId) = _pick(jobSeed, PICK_SEATED);
        if (!found) return;
        // Usually every seat reveals; one time in four only some.
        uint256 n = countSeed % 4 == 0 ? bound(countSeed >> 2, 1, 4) : _seats[jobId].length;
        for (uint256 i = 0; i < n; ++i) {
            if (_terminal(_info[jobId].status)) break;
            _revealOne(jobId, (seatSeed % 64) + i, uint256(keccak256(abi.encode(badSeed, i))));
        }
    }

    // ================================================================== actions: anyone

    function finalize(uint256 jobSeed, uint256 callerSeed) external counted {
        jobSeed = _h(jobSeed, 0);
        callerSeed = _h(callerSeed, 1);
        // Half the time a job that can be finalized now, otherwise any unfinished job.
        (bool found, uint256 jobId) = _pick(jobSeed, callerSeed % 2 == 0 ? PICK_FINALIZABLE : PICK_ANY);
        if (!found) (found, jobId) = _pick(jobSeed, PICK_ANY);
        if (!found) return;
        (bytes memory expected, uint8 outcome) = _finalizeExpectation(jobId);
        Job memory job = _info[jobId].job;
        vm.recordLogs();
        vm.prank(address(uint160(uint256(keccak256(abi.encode("runner", callerSeed % 4))))));
        try market.finalize(jobId, wordsOf(job)) {
            _observe(vm.getRecordedLogs());
            if (expected.length != 0) {
                _surprise("finalize: accepted although not finalizable", expected);
                return;
            }
            if (outcome == 1) {
                _releaseSeatsModel(jobId); // too few seats (if any): nobody at fault
                _refundModel(jobId);
                ++hits["finalize.refund"];
            } else {
                JobInfo storage info = _info[jobId];
                if (info.status == IInferenceMarketTypes.JobStatus.Open) {
                    info.status = IInferenceMarketTypes.JobStatus.Revealing;
                    info.revealStart = info.job.commitDeadline;
                }
                _settleModel(jobId);
                ++hits["finalize.settle"];
            }
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_checkRevertAlt("finalize", err, expected, _pastOpenMismatch(jobId))) ++hits["finalize.refused"];
        }
    }

    /// @notice Tries to move a job that already ended (or passes tampered parameters for an open
    /// one): every attempt must revert with the exact error.
    function poke(uint256 jobSeed, uint256 op) external counted {
        jobSeed = _h(jobSeed, 0);
        op = _h(op, 1);
        // 0-3 finalize (the likeliest way to end a job twice), 4 submit, 5 commit, 6 reveal,
        // 7 tampered parameters for an unfinished job.
        bool tamper = op % 8 == 7;
        uint256 jobId;
        if (tamper) {
            if (_open.length == 0) return;
            jobId = _open[jobSeed % _open.length];
        } else {
            if (_done.length == 0) return;
            jobId = _done[jobSeed % _done.length];
        }
        JobInfo storage info = _info[jobId];
        if (!tamper && (op >> 12) % 4 == 0) {
            _pokeCourt(jobId, op);
            return;
        }
        Job memory job = info.job;
        uint256 action =
            tamper
                ? (op >> 4) % 4
                : op % 8 < 4
                    ? 3
                    : (op % 8) - 4;
        bytes memory expected;
        // Past Open and Revealing (a delivered or challenged k = 1 job) the market refuses by status
        // before it reads the parameters.
        bool byStatus =
            info.status != IInferenceMarketTypes.JobStatus.Open &&
                info.status != IInferenceMarketTypes.JobStatus.Revealing;
        if (tamper) job.deadline += 1;
        if (tamper && !byStatus) {
            expected = abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, jobId);
        } else if (action == 3) {
            expected = abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNotFinalizable.selector,
                jobId,
                info.status
            );
        } else {
            expected = abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketInvalidStatus.selector,
                jobId,
                info.status
            );
        }
        bytes memory data;
        if (action == 0) data = abi.encodeCall(market.submitResult, (jobId, wordsOf(job), bytes32(op), bytes("")));
        else if (action == 1) data = abi.encodeCall(market.commit, (jobId, wordsOf(job), bytes32(op)));
        else if (action == 2)
            data = abi.encodeCall(market.reveal, (jobId, wordsOf(job), 0, bytes32(op), bytes32(0), bytes("")));
        else data = abi.encodeCall(market.finalize, (jobId, wordsOf(job)));
        vm.prank(providerAt[(op >> 8) % PROVIDER_COUNT]);
        (bool ok, bytes memory ret) = address(market).call(data);
        if (ok) {
            _surprise("poke: an ended job (or tampered parameters) was accepted", data);
        } else if (_checkRevertAlt("poke", ret, expected, tamper ? bytes("") : _pastOpenMismatch(jobId))) {
            ++hits["poke"];
        }
    }

    /// @dev An ended job is challenged (InvalidStatus with its status) or its challenge resolved
    /// again (NotResolvable; JobMismatch if it was never challenged).
    function _pokeCourt(uint256 jobId, uint256 op) private {
        JobInfo storage info = _info[jobId];
        bytes memory data;
        bytes memory expected;
        if ((op >> 16) % 2 == 0) {
            address provider = info.delivered ? info.deliverer : providerAt[0];
            data = abi.encodeCall(
                IInferenceMarketCourt.challenge,
                (jobId, wordsOf(info.job), provider, info.resultHash)
            );
            expected = abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketInvalidStatus.selector,
                jobId,
                info.status
            );
        } else {
            data = abi.encodeCall(IInferenceMarketCourt.resolveChallenge, (jobId, wordsOf(info.job), info.ch));
            (expected, ) = _resolveExpectation(jobId);
        }
        vm.prank(providerAt[(op >> 8) % PROVIDER_COUNT]);
        (bool ok, bytes memory ret) = address(market).call(data);
        if (ok) {
            _surprise("poke: an ended job was challenged or resolved", data);
        } else if (_checkRevert("pokeCourt", ret, expected)) {
            ++hits["pokeCourt"];
        }
    }

    function warp(uint256 secondsSeed) external counted {
        secondsSeed = _h(secondsSeed, 0);
        // Half the time a short step (within a commit or reveal window), else up to 3 hours.
        vm.warp(block.timestamp + bound(secondsSeed >> 1, 1, secondsSeed % 2 == 0 ? 15 minutes : MAX_WARP));
        ++hits["warp"];
    }

    // ================================================================== actions: DAO and stake

    /// @notice Stake movements: the DAO slashes a provider's free stake directly through the
    /// registry (which can take it below the minimum stake; more than the free stake is refused), the DAO withdraws slashed funds, the DAO suspends a
    /// provider or approves a suspended one again, or a provider adds stake.
    function stake(uint256 op, uint256 providerSeed, uint256 amountSeed) external counted {
        op = _h(op, 0);
        providerSeed = _h(providerSeed, 1);
        amountSeed = _h(amountSeed, 2);
        uint256 mode = op % 8; // 0-1 slash, 2 withdraw slashed funds, 3 suspension, 4-7 add stake
        if (mode < 2) _daoSlash(providerSeed, amountSeed);
        else if (mode == 2) _daoWithdrawSlashed(amountSeed);
        else if (mode == 3) _daoSuspension(providerSeed);
        else _addStake(providerSeed, amountSeed);
    }

    /// @dev The DAO suspends a Pending or Approved provider, or approves a Suspended one again
    /// (with whatever stake it has left: possibly below the minimum, or none after an exit).
    function _daoSuspension(uint256 providerSeed) private {
        // Three times in four the DAO lifts a suspension if there is one (suspensions stay short,
        // so that most providers keep serving), else it acts on a seed-chosen provider.
        uint256 index = providerSeed % PROVIDER_COUNT;
        if ((providerSeed >> 128) % 4 != 0) {
            (bool found, uint256 suspendedIndex) = _suspendedProvider(providerSeed);
            if (found) index = suspendedIndex;
        }
        address provider = providerAt[index];
        IProviderRegistry.ProviderStatus status = registry.getProvider(provider).status;
        bool suspend;
        if (status == IProviderRegistry.ProviderStatus.Approved || status == IProviderRegistry.ProviderStatus.Pending) {
            suspend = true;
        } else if (status != IProviderRegistry.ProviderStatus.Suspended) {
            return; // None or Exited: nothing to suspend or approve
        }
        if (suspend == ghostSuspended[provider]) _surprise("suspension: registry status differs from model", "");
        bytes memory data =
            suspend
                ? abi.encodeCall(registry.suspendProvider, (provider))
                : abi.encodeCall(registry.approveProvider, (provider, registry.getProvider(provider).tags));
        (bool ok, bytes memory ret) = address(registry).call(data);
        if (!ok) {
            _surprise("suspension reverted", ret);
            return;
        }
        ghostSuspended[provider] = suspend;
        IProviderRegistry.ProviderStatus expected =
            suspend ? IProviderRegistry.ProviderStatus.Suspended : IProviderRegistry.ProviderStatus.Approved;
        if (registry.getProvider(provider).status != expected) _surprise("suspension: wrong status", "");
        ++hits[suspend ? bytes32("suspend") : bytes32("reapprove")];
    }

    function _daoSlash(uint256 providerSeed, uint256 amountSeed) private {
        address provider = providerAt[providerSeed % PROVIDER_COUNT];
        IProviderRegistry.Provider memory before = registry.getProvider(provider);
        if (!_registered(before.status) || before.stake == 0) return;
        // Issue 11 finding 3: the DAO takes only stake no seat holds as collateral (the registry
        // reclaims what the market holds free first).
        uint256 seats = before.locked - marketFree(provider);
        uint256 free = before.stake - seats;
        if (free == 0 || amountSeed % 16 == 1) {
            try registry.slash(provider, free + 1, bytes32("dao")) {
                _surprise("daoSlash: took locked collateral", "");
            } catch (bytes memory err) {
                _checkRevert(
                    "daoSlash: over the free stake",
                    err,
                    abi.encodeWithSelector(
                        IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector,
                        provider,
                        free + 1,
                        free
                    )
                );
            }
            return;
        }
        // Mostly small slashes (the provider keeps working), sometimes anything up to the free stake.
        uint256 max = amountSeed % 8 == 0 ? free : _min(free, COLLATERAL);
        uint256 amount = bound(amountSeed >> 2, 1, max);
        uint256 slashedBefore = registry.slashedFunds();
        try registry.slash(provider, amount, bytes32("dao")) {
            daoSlashed[provider] = true;
            _slashModel(provider, amount);
            IProviderRegistry.Provider memory afterSlash = registry.getProvider(provider);
            if (afterSlash.stake != before.stake - amount) _surprise("daoSlash: stake", "");
            if (afterSlash.locked - marketFree(provider) != seats) _surprise("daoSlash: seat collateral", "");
            if (registry.slashedFunds() != slashedBefore + amount) _surprise("daoSlash: slashedFunds", "");
            ++hits["daoSlash"];
        } catch (bytes memory err) {
            _surprise("daoSlash reverted", err);
        }
    }

    function _daoWithdrawSlashed(uint256 amountSeed) private {
        uint256 available = registry.slashedFunds();
        if (available == 0) return;
        uint256 amount = bound(amountSeed, 1, available);
        uint256 before = stakeToken.balanceOf(treasury);
        try registry.withdrawSlashed(treasury, amount) {
            ghostStakeOut += amount;
            ghostSlashedFunds -= amount;
            if (stakeToken.balanceOf(treasury) != before + amount) _surprise("withdrawSlashed: not received", "");
            ++hits["daoWithdrawSlashed"];
        } catch (bytes memory err) {
            _surprise("withdrawSlashed reverted", err);
        }
    }

    function _addStake(uint256 providerSeed, uint256 amountSeed) private {
        address provider = providerAt[providerSeed % PROVIDER_COUNT];
        if (!_registered(registry.getProvider(provider).status)) return;
        uint256 amount = bound(amountSeed, 1, STAKE);
        stakeToken.mint(provider, amount);
        vm.prank(provider);
        stakeToken.approve(address(registry), amount);
        vm.prank(provider);
        try registry.addStake(amount) {
            ghostStakeIn += amount;
            ghostStake[provider] += amount;
            ++hits["addStake"];
        } catch (bytes memory err) {
            _surprise("addStake reverted", err);
        }
    }

    /// @notice Exit steps: request exit, cancel it (so providers come back), withdraw the stake
    /// after unbonding; a provider that exited registers again.
    function exitStep(uint256 providerSeed, uint256 opSeed) external counted {
        providerSeed = _h(providerSeed, 0);
        opSeed = _h(opSeed, 1);
        uint256 index = providerSeed % PROVIDER_COUNT;
        // Half the time a suspended provider, if there is one: suspended providers head for the
        // door (see below), so that runs reach an exit that keeps the suspension.
        if ((opSeed >> 16) % 2 == 0) {
            (bool found, uint256 suspendedIndex) = _suspendedProvider(providerSeed);
            if (found) index = suspendedIndex;
        }
        address provider = providerAt[index];
        IProviderRegistry.Provider memory pv = registry.getProvider(provider);
        if (!_registered(pv.status)) {
            if (opSeed % 2 == 0) _reRegister(provider, index);
            return;
        }
        uint256 op = opSeed % 4; // 0 request exit, 1 and 2 cancel it, 3 withdraw the stake
        // At most two providers head for the door of their own accord at a time: exiting
        // providers take no work, and juries need three besides the two parties.
        if (op == 0 && pv.unbondingEndsAt == 0 && _exitingCount() >= 2) op = 1 + ((opSeed >> 4) % 2);
        if (pv.status == IProviderRegistry.ProviderStatus.Suspended) {
            uint256 mode = (opSeed >> 8) % 4;
            if (mode == 0) {
                // It tries to register afresh to launder its suspension (exited or not): the
                // registry must refuse, even with auto-admission on.
                _registerWhileSuspended(provider, index);
                return;
            }
            if (mode != 1) op = pv.unbondingEndsAt == 0 ? 0 : 3; // request exit, or withdraw
        }
        bytes memory expected;
        bytes memory data;
        if (op == 0) {
            data = abi.encodeCall(registry.requestExit, ());
            if (pv.unbondingEndsAt != 0) {
                expected = abi.encodeWithSelector(
                    IProviderRegistry.ProviderRegistryExiting.selector,
                    provider,
                    pv.unbondingEndsAt
                );
            }
        } else if (op <= 2) {
            data = abi.encodeCall(registry.cancelExit, ());
            if (pv.unbondingEndsAt == 0) {
                expected = abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotExiting.selector, provider);
            }
        } else {
            data = abi.encodeCall(registry.withdrawStake, ());
            expected = _withdrawStakeError(provider, pv);
        }
        uint256 before = stakeToken.balanceOf(provider);
        vm.prank(provider);
        (bool ok, bytes memory ret) = address(registry).call(data);
        if (!ok) {
            if (_checkRevert("exitStep", ret, expected)) ++hits["exitStep.refused"];
            return;
        }
        if (expected.length != 0) {
            _surprise("exitStep: accepted although invalid", expected);
            return;
        }
        if (op == 3) {
            ghostStakeOut += ghostStake[provider];
            if (stakeToken.balanceOf(provider) != before + ghostStake[provider]) {
                _surprise("withdrawStake: not the whole stake received", "");
            }
            ghostStake[provider] = 0;
            // Exited, unless suspended: a suspension outlives the exit (with no stake left).
            IProviderRegistry.ProviderStatus expectedStatus =
                ghostSuspended[provider]
                    ? IProviderRegistry.ProviderStatus.Suspended
                    : IProviderRegistry.ProviderStatus.Exited;
            IProviderRegistry.Provider memory afterExit = registry.getProvider(provider);
            if (afterExit.status != expectedStatus || afterExit.unbondingEndsAt != 0) {
                _surprise("withdrawStake: status after exit", abi.encode(afterExit.status, expectedStatus));
            }
            ++hits[ghostSuspended[provider] ? bytes32("withdrawStake.suspended") : bytes32("withdrawStake")];
        } else {
            ++hits[op == 0 ? bytes32("requestExit") : bytes32("cancelExit")];
        }
    }

    // ================================================================== views for the invariants

    function jobCount() external view returns (uint256) {
        return _jobIds.length;
    }

    function jobIdAt(uint256 i) external view returns (uint256) {
        return _jobIds[i];
    }

    function openJobCount() external view returns (uint256) {
        return _open.length;
    }

    function jobOf(uint256 jobId) external view returns (Job memory) {
        return _info[jobId].job;
    }

    /// @return status The model's status.
    /// @return seated Seats taken.
    /// @return revealed Seats revealed.
    /// @return revealStart When the reveal phase started (0 if not yet).
    /// @return terminalEvents Terminal events observed.
    /// @return escrow The job's escrow.
    function modelOf(
        uint256 jobId
    )
        external
        view
        returns (
            IInferenceMarketTypes.JobStatus status,
            uint256 seated,
            uint256 revealed,
            uint40 revealStart,
            uint256 terminalEvents,
            uint256 escrow
        )
    {
        JobInfo storage info = _info[jobId];
        return (
            info.status,
            _seats[jobId].length,
            info.revealedCount,
            info.revealStart,
            info.terminalEvents,
            info.escrow
        );
    }

    /// @notice Collateral that `provider` holds in jobs not yet settled or refunded: its k > 1
    /// seats, its k = 1 deliveries (until claimed or resolved), its challenge bonds and its jury
    /// seats.
    function openSeatCollateral(address provider) external view returns (uint256 total) {
        for (uint256 i = 0; i < _open.length; ++i) {
            JobInfo storage info = _info[_open[i]];
            (uint256 kSeats, uint256 deliveries, uint256 bonds, uint256 jurySeats) = _openLocks(_open[i], provider);
            total += (kSeats + deliveries + bonds + jurySeats) * info.job.collateral;
        }
    }

    /// @notice Over every unfinished job: wordsOf(open) k > 1 seats, open deliveries, open bonds and jury
    /// seats, and the collateral they hold (each the job's collateral).
    function openCollateralBreakdown()
        external
        view
        returns (uint256 kSeats, uint256 deliveries, uint256 bonds, uint256 jurySeats, uint256 collateral)
    {
        for (uint256 i = 0; i < _open.length; ++i) {
            (uint256 s, uint256 d, uint256 b, uint256 j) = _openLocks(_open[i], address(0));
            (kSeats, deliveries, bonds, jurySeats) = (kSeats + s, deliveries + d, bonds + b, jurySeats + j);
            collateral += (s + d + b + j) * _info[_open[i]].job.collateral;
        }
    }

    /// @dev What an unfinished job locks, for `provider` (or for everyone: address(0)).
    function _openLocks(
        uint256 jobId,
        address provider
    ) private view returns (uint256 kSeats, uint256 deliveries, uint256 bonds, uint256 jurySeats) {
        JobInfo storage info = _info[jobId];
        Seat[] storage seats = _seats[jobId];
        uint256 n;
        for (uint256 j = 0; j < seats.length; ++j) {
            if (provider == address(0) || seats[j].provider == provider) ++n;
        }
        if (info.job.redundancy > 1) return (n, 0, 0, 0);
        IInferenceMarketTypes.JobStatus status = info.status;
        if (status == IInferenceMarketTypes.JobStatus.Open) return (0, 0, 0, 0);
        if (provider == address(0) || info.deliverer == provider) deliveries = 1;
        if (
            status != IInferenceMarketTypes.JobStatus.Delivered &&
            (provider == address(0) || info.ch.challenger == provider)
        ) {
            bonds = 1;
        }
        jurySeats = n;
    }

    function accountAt(uint256 i) public view returns (address) {
        if (i < CLIENT_COUNT) return clientAt[i];
        if (i < CLIENT_COUNT + PROVIDER_COUNT) return providerAt[i - CLIENT_COUNT];
        return treasury;
    }

    function tokenAt(uint256 i) public view returns (address) {
        if (i == 0) return address(0);
        return i == 1 ? address(tokenA) : address(tokenB);
    }

    /// @dev A token the market may hold credits in: a payment token, or (last) the stake token.
    function balanceTokenAt(uint256 i) public view returns (address) {
        return i < TOKEN_COUNT ? tokenAt(i) : address(stakeToken);
    }

    // ================================================================== model: jobs

    function _buildRequest(
        IInferenceMarketTypes.Policy memory p,
        uint256 kSeed,
        uint256 feeSeed,
        uint256 tokenSeed,
        uint256 deadlineSeed,
        uint256 miscSeed
    ) private view returns (IInferenceMarketTypes.JobRequest memory r) {
        r.modelId = modelId;
        r.version = uint32(miscSeed % 2) * ACTIVE_VERSION; // 0 = "the active one", or its number
        r.redundancy = kSeed % 2 == 0 ? 1 : uint8(bound(kSeed >> 1, 2, p.maxRedundancy)); // half k = 1
        r.feePerProvider = uint96(bound(feeSeed, MIN_FEE, MAX_FEE));
        if ((feeSeed >> 200) % 16 == 0) r.feePerProvider = MIN_FEE - 1;
        r.token = tokenAt(tokenSeed % TOKEN_COUNT);
        // Mostly within two hours (windows are one hour), one time in four up to a day.
        uint256 deadline = block.timestamp + bound(deadlineSeed, 1, (deadlineSeed >> 64) % 4 == 0 ? 1 days : 2 hours);
        uint256 mode = (deadlineSeed >> 128) % 16;
        if (mode == 0)
            deadline = block.timestamp; // too early
        else if (mode == 1) deadline = block.timestamp + p.maxJobDuration + 1 + ((deadlineSeed >> 140) % 1 days);
        else if (mode == 2) deadline = block.timestamp + p.maxJobDuration; // the latest allowed
        r.deadline = uint40(deadline);
        uint256 tagMode = (miscSeed >> 8) % 4;
        r.requiredTags =
            tagMode == 2
                ? 1
                : tagMode == 3
                    ? 2
                    : 0;
        if ((miscSeed >> 16) % 2 == 0) r.input = abi.encodePacked("safetensors", miscSeed);
        else r.inputCid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    }

    function _requestError(
        IInferenceMarketTypes.Policy memory p,
        IInferenceMarketTypes.JobRequest memory r
    ) private view returns (bytes memory) {
        uint256 earliest = block.timestamp + 1;
        uint256 latest = block.timestamp + p.maxJobDuration;
        if (r.deadline < earliest || r.deadline > latest) {
            return
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketInvalidDeadline.selector,
                    r.deadline,
                    earliest,
                    latest
                );
        }
        if (r.feePerProvider < MIN_FEE) {
            return
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketFeeBelowMinimum.selector,
                    r.feePerProvider,
                    MIN_FEE
                );
        }
        return "";
    }

    function _recordJob(
        uint256 jobId,
        address client,
        IInferenceMarketTypes.JobRequest memory r,
        IInferenceMarketTypes.Policy memory p,
        uint256 escrow,
        Vm.Log[] memory logs
    ) private {
        Job memory spec = MarketSpec.job(
            jobId,
            r,
            p,
            client,
            ACTIVE_VERSION,
            MIN_MEMORY,
            IInferenceMarketCourt(address(market)).challengePolicy().challengeWindow
        );
        (bool found, uint256 loggedId, Job memory logged) = MarketSpec.requestedJob(logs, address(market));
        if (!found || loggedId != jobId || MarketSpec.hashOf(logged) != MarketSpec.hashOf(spec)) {
            _surprise("requestJob: emitted Job differs from the specification", abi.encode(logged));
        }
        JobInfo storage info = _info[jobId];
        info.job = spec;
        info.escrow = escrow;
        info.status = IInferenceMarketTypes.JobStatus.Open;
        _jobIds.push(jobId);
        _open.push(jobId);
        _openPos[jobId] = _open.length;
        ghostEscrow[r.token] += escrow;
        ++hits["requestJob"];
        if (r.redundancy > 1) ++hits["requestJob.k>1"];
    }

    /// @dev A k = 1 job was delivered by `provider`: it locks the job's collateral and is paid
    /// nothing yet (see {_payDeliveryModel}); the job word binds the delivery and its time.
    function _deliverModel(uint256 jobId, address provider, bytes32 resultHash) private {
        JobInfo storage info = _info[jobId];
        info.status = IInferenceMarketTypes.JobStatus.Delivered;
        info.delivered = true;
        info.deliverer = provider;
        info.resultHash = resultHash;
        info.deliveredAt = uint40(block.timestamp);
        info.revealStart = uint40(block.timestamp);
        ghostLocked[provider] += info.job.collateral;
    }

    /// @dev A k = 1 job's delivery is paid (claimed, or upheld by a challenge): its provider earns
    /// the fee and the rest of the escrow is the protocol fee; the job is Settled.
    function _payDeliveryModel(uint256 jobId) private {
        JobInfo storage info = _info[jobId];
        address provider = info.deliverer;
        _finish(jobId, IInferenceMarketTypes.JobStatus.Settled);
        served[provider][jobId] = true;
        _creditModel(provider, info.job.token, info.job.feePerProvider);
        ghostProtocolFees[info.job.token] += info.escrow - info.job.feePerProvider;
    }

    function _refundModel(uint256 jobId) private {
        JobInfo storage info = _info[jobId];
        _finish(jobId, IInferenceMarketTypes.JobStatus.Refunded);
        _creditModel(info.job.client, info.job.token, info.escrow);
    }

    /// @dev End of a reveal phase: a hash revealed by at least `quorum` seats wins (at most one
    /// can, quorum > k/2); its revealers are paid, the client gets the unpaid part back, and every
    /// other seat is faulty. Without such a hash the client is refunded in full, every revealer
    /// is compensated, and only the silent seats are faulty. A faulty seat loses min(collateral,
    /// stake) to the market (the registry releases first, then seizes); the pool is credited in
    /// the stake token: the client's share (bps, rounded down) plus the dust, and equal parts to
    /// the compensated seats. Counters: winners served, faulty seats disagreed or missed, others
    /// nothing.
    function _settleModel(uint256 jobId) private {
        JobInfo storage info = _info[jobId];
        Seat[] storage seats = _seats[jobId];
        bytes32 winner;
        uint256 agreeing;
        for (uint256 i = 0; i < seats.length; ++i) {
            if (!seats[i].revealed) continue;
            uint256 count;
            for (uint256 j = 0; j < seats.length; ++j) {
                if (seats[j].revealed && seats[j].resultHash == seats[i].resultHash) ++count;
            }
            if (count >= info.job.quorum) (winner, agreeing) = (seats[i].resultHash, count);
        }
        bool quorum = agreeing != 0;
        address token = info.job.token;
        (bool[] memory faulty, uint256 pool, uint256 compensated) = _seatOutcomesModel(jobId, winner, quorum);
        if (quorum) {
            _finish(jobId, IInferenceMarketTypes.JobStatus.Settled);
            uint256 paid = agreeing * info.job.feePerProvider;
            uint256 fee = MarketSpec.protocolFee(agreeing, info.job.feePerProvider, info.job.protocolFeeBps);
            ghostProtocolFees[token] += fee;
            _creditModel(info.job.client, token, info.escrow - paid - fee);
            ++hits["settle.quorum"];
            if (agreeing < seats.length) ++hits["settle.withSlash"];
        } else {
            _refundModel(jobId);
            ++hits["settle.noQuorum"];
            if (compensated < seats.length) ++hits["settle.noQuorumWithSlash"];
        }
        if (pool == 0) return;
        uint256 toClient = (pool * CLIENT_SHARE_BPS) / 10_000;
        uint256 per = compensated == 0 ? 0 : (pool - toClient) / compensated;
        _creditModel(info.job.client, address(stakeToken), pool - per * compensated);
        for (uint256 i = 0; i < seats.length; ++i) {
            if (!faulty[i]) _creditModel(seats[i].provider, address(stakeToken), per);
        }
        ++hits["settle.compensated"];
    }

    /// @dev Each seat of a settling round: released; a winner paid and counted served; a faulty
    /// seat seized and counted. Returns which seats are faulty, the pool and how many are not.
    function _seatOutcomesModel(
        uint256 jobId,
        bytes32 winner,
        bool quorum
    ) private returns (bool[] memory faulty, uint256 pool, uint256 compensated) {
        JobInfo storage info = _info[jobId];
        Seat[] storage seats = _seats[jobId];
        uint256 collateral = info.job.collateral;
        faulty = new bool[](seats.length);
        for (uint256 i = 0; i < seats.length; ++i) {
            address provider = seats[i].provider;
            faulty[i] = !seats[i].revealed || (quorum && seats[i].resultHash != winner);
            // A seat's collateral is allocated stake: it is seized whole.
            uint256 seized = faulty[i] ? collateral : 0;
            _releaseModel(provider, collateral);
            if (!faulty[i]) {
                ++compensated;
                if (!quorum) continue;
                served[provider][jobId] = true;
                _creditModel(provider, info.job.token, info.job.feePerProvider);
                continue;
            }
            _seizeModel(provider, seized);
            pool += seized;
            if (seats[i].revealed) ++ghostDisagreed[provider];
            else ++ghostMissed[provider];
        }
    }

    /// @dev Releases every seat's collateral, counting nothing (too few seats: nobody at fault).
    function _releaseSeatsModel(uint256 jobId) private {
        Seat[] storage seats = _seats[jobId];
        for (uint256 i = 0; i < seats.length; ++i) {
            _releaseModel(seats[i].provider, _info[jobId].job.collateral);
        }
    }

    function _releaseModel(address provider, uint256 collateral) private {
        ghostLocked[provider] -= _min(collateral, ghostLocked[provider]);
    }

    /// @dev A DAO slash: stake no seat holds, to the DAO's slashed funds; the seats' collateral
    /// is untouched.
    function _slashModel(address provider, uint256 amount) private {
        ghostStake[provider] -= amount;
        ghostSlashedFunds += amount;
        if (ghostLocked[provider] > ghostStake[provider]) _surprise("model: a DAO slash reached a seat", "");
    }

    /// @dev A market seizure of a faulty seat's whole collateral: the tokens leave the registry
    /// for the market.
    function _seizeModel(address provider, uint256 amount) private {
        ghostStake[provider] -= amount;
        ghostStakeOut += amount;
    }

    function _finish(uint256 jobId, IInferenceMarketTypes.JobStatus status) private {
        JobInfo storage info = _info[jobId];
        if (_terminal(info.status)) {
            _surprise("model: a job ended twice", abi.encode(jobId));
            return;
        }
        info.status = status;
        uint256 pos = _openPos[jobId];
        uint256 last = _open[_open.length - 1];
        _open[pos - 1] = last;
        _openPos[last] = pos;
        _open.pop();
        delete _openPos[jobId];
        _done.push(jobId);
        ghostEscrow[info.job.token] = _sub(ghostEscrow[info.job.token], info.escrow);
    }

    function _creditModel(address account, address token, uint256 amount) private {
        if (amount == 0) return;
        ghostBalance[account][token] += amount;
        ghostCredits[token] += amount;
    }

    function _submitError(uint256 jobId, JobInfo storage info, address provider) private view returns (bytes memory) {
        if (info.status != IInferenceMarketTypes.JobStatus.Open) {
            return
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, jobId, info.status);
        }
        if (block.timestamp > info.job.deadline) {
            return
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector,
                    jobId,
                    info.job.deadline
                );
        }
        bytes memory err = _eligibilityError(provider, info.job.collateral, info.job.requiredTags);
        if (err.length != 0) return err;
        return MarketSpec.assignmentError(jobId, info.job, provider, registry);
    }

    /// @dev The market's reason, in its order, why `provider` may not take a seat (empty if it
    /// may): its word (pushed by the registry) first, then the collateral: the word's free
    /// collateral, topped up with all of the registry's free stake when short.
    function _eligibilityError(
        address provider,
        uint256 collateral,
        uint256 requiredTags
    ) private view returns (bytes memory) {
        IProviderRegistry.Provider memory pv = registry.getProvider(provider);
        // Slashes (the market's and the DAO's) can take a provider below the minimum stake: it
        // then takes no job, k = 1 included, until it adds stake.
        if (
            pv.status != IProviderRegistry.ProviderStatus.Approved ||
            pv.unbondingEndsAt != 0 ||
            pv.stake < registry.minStake()
        ) {
            return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector, provider);
        }
        uint256 missing = requiredTags & ~pv.grantedTags;
        if (missing != 0) {
            return
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketProviderMissingTags.selector,
                    provider,
                    missing
                );
        }
        uint256 free = marketFree(provider);
        if (free < collateral) {
            uint256 registryFree = pv.stake - pv.locked;
            if (registryFree < collateral - free) {
                return
                    abi.encodeWithSelector(
                        IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                        provider,
                        registryFree,
                        collateral - free
                    );
            }
        }
        return "";
    }

    /// @notice The collateral the market holds free for `provider` (allocated, in no seat).
    function marketFree(address provider) public view returns (uint256 free) {
        (, , , , , free) = IInferenceMarketCourt(address(market)).providerCollateral(provider);
    }

    /// @notice The collateral `provider` can put in seats: the market's free collateral and the
    /// registry's free stake (a seat allocates all of it when the market's is short).
    function _available(address provider, IProviderRegistry.Provider memory pv) private view returns (uint256) {
        return pv.stake - pv.locked + marketFree(provider);
    }

    // ------------------------------------------------------------------ batches

    /// @dev Item `i` of a batch. Two times in three the whole batch is one provider's (as a
    /// provider relaying its own results would send it), else each item has a random signer;
    /// good items take the open k = 1 jobs in turn.
    /// The caller predicts the item's reason ({_batchReason}) unless the signature is invalid.
    function _batchItem(
        uint256 s,
        uint256 batchSeed,
        uint256 i,
        uint256 previousJobId
    ) private view returns (IInferenceMarketTypes.SignedResult memory it, Pred memory pr) {
        // 0-4 good, 5 stranger's key, 6 invalid signature (v = 0: a batch item's signature is
        // always its last 65 bytes, so a short one would only misframe), 7 tampered job, 8 signed another
        // result, 9 duplicate of the previous item's job.
        uint256 kind = s % 10;
        uint256 jobId;
        if (kind == 9 && previousJobId != 0) {
            jobId = previousJobId;
        } else if ((s >> 8) % 8 == 0) {
            jobId = _jobIds[(s >> 16) % _jobIds.length]; // any job: wordsOf(ended), k > 1, expired
        } else {
            (bool found, uint256 id) = _pickNth(batchSeed >> 16, i, PICK_K1_LIVE);
            jobId = found ? id : _jobIds[(s >> 16) % _jobIds.length];
        }
        uint256 signerIndex = batchSeed % 3 == 0 ? (s >> 32) % PROVIDER_COUNT : (batchSeed >> 8) % PROVIDER_COUNT;
        uint256 key = kind == 5 ? BAD_KEY : _keys[signerIndex];
        Job memory job = _info[jobId].job;
        bytes32 resultHash = keccak256(abi.encode("result", jobId, s));
        bytes memory outputRef = abi.encodePacked("ipfs://bafy-output-", uint16(s >> 48));
        bytes32 digest = MarketSpec.attestationDigest(
            address(market),
            jobId,
            job,
            kind == 8 ? ~resultHash : resultHash,
            outputRef
        );
        (uint8 v, bytes32 r, bytes32 sg) = vm.sign(key, digest);
        bytes memory signature = abi.encodePacked(r, sg, kind == 6 ? 0 : v);
        if (kind == 7) job.feePerProvider += 1; // not in the digest: the signature still recovers
        it = IInferenceMarketTypes.SignedResult(jobId, wordsOf(job), resultHash, outputRef, signature);

        pr.jobId = jobId;
        pr.resultHash = resultHash;
        pr.signerKnown = kind != 8;
        if (kind == 6) {
            pr.reason = IInferenceMarketTypes.InferenceMarketInvalidSignature.selector;
            return (it, pr);
        }
        pr.signer = kind == 8 ? address(0) : vm.addr(key);
        pr.tampered = kind == 7;
    }

    /// @dev The reason `_batchItemError` must give, in its order, and an alternative also
    /// accepted (zero if none); zero when the item is delivered. `locking` is the collateral the
    /// batch's earlier items of each provider lock.
    function _batchReason(
        uint256 jobId,
        bool tampered,
        address signer,
        uint256[] memory locking
    ) private view returns (bytes4, bytes4) {
        JobInfo storage info = _info[jobId];
        bool taken = _takenInBatch[jobId] == _batchNonce;
        // A job that is not open (delivered before this batch or by an earlier item, or ended) is
        // refused by its status first, whatever parameters the item passes.
        if (taken || info.status != IInferenceMarketTypes.JobStatus.Open) {
            return (IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, 0);
        }
        if (tampered) return (IInferenceMarketTypes.InferenceMarketJobMismatch.selector, 0);
        return (_batchTermsReason(jobId, info, signer, locking), 0);
    }

    function _batchTermsReason(
        uint256 jobId,
        JobInfo storage info,
        address signer,
        uint256[] memory locking
    ) private view returns (bytes4) {
        if (info.job.redundancy != 1) return IInferenceMarketTypes.InferenceMarketWrongRedundancy.selector;
        if (block.timestamp > info.job.deadline) return IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector;
        IProviderRegistry.Provider memory pv = registry.getProvider(signer);
        // The market reads the provider's word: one the registry pushed as taking no seat (not
        // Approved, exiting, or staking less than the minimum) is ProviderNotEligible.
        if (
            pv.status != IProviderRegistry.ProviderStatus.Approved ||
            pv.unbondingEndsAt != 0 ||
            pv.stake < registry.minStake()
        ) {
            return IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector;
        }
        if (info.job.requiredTags & ~pv.grantedTags != 0) {
            return IInferenceMarketTypes.InferenceMarketProviderMissingTags.selector;
        }
        if (MarketSpec.assignmentError(jobId, info.job, signer, registry).length != 0) {
            return IInferenceMarketTypes.InferenceMarketNotAssigned.selector;
        }
        // Last: the word's free collateral, topped up with all of the registry's free stake.
        if (_available(signer, pv) - locking[_providerIndex(signer)] < info.job.collateral) {
            return IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector;
        }
        return bytes4(0);
    }

    /// @dev ResultSubmitted and AttestationRejected come in item order and match the prediction.
    function _checkBatchLogs(Vm.Log[] memory logs, Pred[] memory pred) private {
        uint256 nextDelivered = _nextPred(pred, 0, true);
        uint256 nextRejected = _nextPred(pred, 0, false);
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter != address(market)) continue;
            bytes32 sig = logs[i].topics[0];
            if (sig == IInferenceMarketTypes.ResultSubmitted.selector) {
                if (
                    nextDelivered == pred.length ||
                    uint256(logs[i].topics[1]) != pred[nextDelivered].jobId ||
                    address(uint160(uint256(logs[i].topics[2]))) != pred[nextDelivered].signer
                ) {
                    _surprise("batch: unexpected delivery", abi.encode(logs[i].topics[1], logs[i].topics[2]));
                    return;
                }
                nextDelivered = _nextPred(pred, nextDelivered + 1, true);
            } else if (sig == IInferenceMarketTypes.AttestationRejected.selector) {
                bytes4 reason = abi.decode(logs[i].data, (bytes4));
                if (
                    nextRejected == pred.length ||
                    uint256(logs[i].topics[1]) != pred[nextRejected].jobId ||
                    (reason != pred[nextRejected].reason &&
                        (pred[nextRejected].altReason == bytes4(0) || reason != pred[nextRejected].altReason)) ||
                    (pred[nextRejected].signerKnown &&
                        address(uint160(uint256(logs[i].topics[2]))) != pred[nextRejected].signer)
                ) {
                    _surprise("batch: unexpected rejection", abi.encode(logs[i].topics[1], reason));
                    return;
                }
                nextRejected = _nextPred(pred, nextRejected + 1, false);
            }
        }
        if (nextDelivered != pred.length || nextRejected != pred.length) _surprise("batch: missing events", "");
    }

    function _nextPred(Pred[] memory pred, uint256 from, bool delivered) private pure returns (uint256 i) {
        for (i = from; i < pred.length; ++i) {
            if ((pred[i].reason == bytes4(0)) == delivered) return i;
        }
    }

    /// @dev Every provider's (and the stranger's) balance in every token, in a fixed order.
    function _batchBalances() private view returns (uint256[] memory b) {
        b = new uint256[]((PROVIDER_COUNT + 1) * TOKEN_COUNT);
        for (uint256 i = 0; i < PROVIDER_COUNT + 1; ++i) {
            address account = i < PROVIDER_COUNT ? providerAt[i] : badSigner;
            for (uint256 t = 0; t < TOKEN_COUNT; ++t) b[i * TOKEN_COUNT + t] = market.balanceOf(account, tokenAt(t));
        }
    }

    /// @dev A batch credits nobody anything: k = 1 fees are paid at claim (the collateral the
    /// delivered items lock is checked by the invariants).
    function _checkBatchCredits(uint256[] memory before, Pred[] memory) private {
        uint256[] memory actual = _batchBalances();
        for (uint256 k = 0; k < actual.length; ++k) {
            if (actual[k] != before[k]) {
                _surprise("batch: a delivery credited something", abi.encode(k, actual[k], before[k]));
            }
        }
    }

    /// @dev A provider's index (PROVIDER_COUNT for anyone else: `locking` has no slot for it, so
    /// such a signer must be refused before its free stake is read).
    function _providerIndex(address provider) private view returns (uint256 i) {
        for (i = 0; i < PROVIDER_COUNT; ++i) {
            if (providerAt[i] == provider) return i;
        }
    }

    function _tokenIndex(address token) private view returns (uint256) {
        return
            token == address(0)
                ? 0
                : token == address(tokenA)
                    ? 1
                    : 2;
    }

    // ------------------------------------------------------------------ claims and challenges

    /// @dev A claim item: kinds 0-4 a delivered job (mostly a matured one), 5 another provider
    /// (perhaps the deliverer after all), 6 another result, 7 any job at all.
    function _claimItem(uint256 s) private view returns (IInferenceMarketTypes.Claim memory c) {
        uint256 kind = s % 8;
        (bool found, uint256 jobId) = (false, 0);
        if (kind < 5) {
            (found, jobId) = _pick(s >> 8, kind < 4 ? PICK_CLAIMABLE : PICK_DELIVERED);
            if (!found) (found, jobId) = _pick(s >> 8, PICK_DELIVERED);
        }
        if (!found) jobId = _jobIds[(s >> 16) % _jobIds.length];
        JobInfo storage info = _info[jobId];
        address provider = info.delivered ? info.deliverer : providerAt[(s >> 24) % PROVIDER_COUNT];
        bytes32 resultHash = info.delivered ? info.resultHash : bytes32(s);
        if (kind == 5) provider = providerAt[(s >> 24) % PROVIDER_COUNT];
        if (kind == 6) resultHash = ~resultHash;
        c = IInferenceMarketTypes.Claim({
            jobId: jobId,
            job: wordsOf(info.job),
            provider: provider,
            resultHash: resultHash
        });
    }

    /// @dev Why {IInferenceMarketCourt.claim} must skip an item, in its order (zero: paid).
    function _claimPrediction(IInferenceMarketTypes.Claim memory c) private view returns (ClaimPred memory pr) {
        JobInfo storage info = _info[c.jobId];
        pr.jobId = c.jobId;
        pr.provider = c.provider;
        bool paidInBatch = _claimedInBatch[c.jobId] == _batchNonce;
        if (paidInBatch || info.status != IInferenceMarketTypes.JobStatus.Delivered) {
            pr.reason = IInferenceMarketTypes.InferenceMarketInvalidStatus.selector;
        } else if (c.provider != info.deliverer || c.resultHash != info.resultHash) {
            pr.reason = IInferenceMarketTypes.InferenceMarketJobMismatch.selector;
        } else if (block.timestamp <= uint256(info.deliveredAt) + info.job.challengeWindow) {
            pr.reason = IInferenceMarketTypes.InferenceMarketChallengeWindowOpen.selector;
        }
    }

    /// @dev DeliveryClaimed and ClaimSkipped come in item order and match the prediction.
    function _checkClaimLogs(Vm.Log[] memory logs, ClaimPred[] memory pred) private {
        uint256 k;
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter != address(market)) continue;
            bytes32 sig = logs[i].topics[0];
            bool paid = sig == IInferenceMarketTypes.DeliveryClaimed.selector;
            if (!paid && sig != IInferenceMarketTypes.ClaimSkipped.selector) continue;
            if (k == pred.length) {
                _surprise("claim: an event too many", abi.encode(logs[i].topics[1]));
                return;
            }
            ClaimPred memory pr = pred[k++];
            bool ok = uint256(logs[i].topics[1]) == pr.jobId;
            if (paid) {
                uint256 fee = abi.decode(logs[i].data, (uint256));
                ok =
                    ok &&
                    pr.reason == bytes4(0) &&
                    address(uint160(uint256(logs[i].topics[2]))) == pr.provider &&
                    fee == _info[pr.jobId].job.feePerProvider;
            } else {
                ok = ok && abi.decode(logs[i].data, (bytes4)) == pr.reason && pr.reason != bytes4(0);
            }
            if (!ok) {
                _surprise("claim: event differs from the prediction", abi.encode(k - 1, pr.jobId, pr.reason));
                return;
            }
        }
        if (k != pred.length) _surprise("claim: missing events", abi.encode(k, pred.length));
    }

    /// @dev The error {IInferenceMarketCourt.challenge} must raise, in its order (empty: accepted).
    function _challengeError(
        uint256 jobId,
        JobInfo storage info,
        address challenger
    ) private view returns (bytes memory) {
        if (info.status != IInferenceMarketTypes.JobStatus.Delivered) {
            return
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, jobId, info.status);
        }
        uint40 endsAt = info.deliveredAt + info.job.challengeWindow;
        if (block.timestamp > endsAt) {
            return
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketChallengeWindowClosed.selector,
                    jobId,
                    endsAt
                );
        }
        if (challenger == info.deliverer) {
            return
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJuryExcluded.selector, jobId, challenger);
        }
        return _eligibilityError(challenger, info.job.collateral, info.job.requiredTags);
    }

    function _challengeFromLogs(
        Vm.Log[] memory logs,
        uint256 jobId
    ) private view returns (bool found, IInferenceMarketTypes.Challenge memory ch) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(market) &&
                logs[i].topics[0] == IInferenceMarketTypes.ResultChallenged.selector &&
                uint256(logs[i].topics[1]) == jobId
            ) return (true, abi.decode(logs[i].data, (IInferenceMarketTypes.Challenge)));
        }
        return (false, ch);
    }

    function _juryQuorum(JobInfo storage info) private view returns (uint256) {
        return uint256(info.ch.jurySize) / 2 + 1;
    }

    /// @dev When fewer eligible non-party providers not seated yet have an open jury rank than
    /// the jury has seats left, warps to the earliest opening of a closed one within the commit
    /// window.
    function _waitForJuryRank(uint256 jobId, JobInfo storage info) private {
        if (info.status != IInferenceMarketTypes.JobStatus.Challenged) return;
        uint256 commitDeadline = uint256(info.ch.challengedAt) + info.ch.commitWindow;
        uint256 earliest = type(uint256).max;
        uint256 open;
        for (uint256 i = 0; i < PROVIDER_COUNT; ++i) {
            address p = providerAt[i];
            if (p == info.ch.provider || p == info.ch.challenger || _isSeated(jobId, p)) continue;
            if (_eligibilityError(p, info.job.collateral, info.job.requiredTags).length != 0) continue;
            bytes memory notOpen = MarketSpec.juryAssignmentError(jobId, info.job, info.ch, p, registry);
            if (notOpen.length == 0) {
                if (++open + _seats[jobId].length >= info.ch.jurySize) return;
                continue;
            }
            uint256 opensAt;
            assembly ("memory-safe") {
                opensAt := and(mload(add(notOpen, 0x84)), 0xffffffffff) // NotAssigned's 4th argument
            }
            if (opensAt < earliest) earliest = opensAt;
        }
        if (earliest <= commitDeadline && earliest > block.timestamp) {
            vm.warp(earliest);
            ++hits["juryWait"];
        }
    }

    function _juryCommitOne(uint256 jobId, address provider, uint256 s) private returns (bool) {
        JobInfo storage info = _info[jobId];
        uint256 c = s % 8;
        // Mostly the delivered result, often another one ("the truth"), sometimes a third.
        bytes32 resultHash =
            c < 4
                ? info.resultHash
                : c < 7
                    ? keccak256(abi.encode("truth", jobId))
                    : keccak256(abi.encode("wrong", jobId));
        bytes32 salt = keccak256(abi.encode("jury salt", s));
        bytes32 commitment = MarketSpec.commitment(jobId, provider, resultHash, salt);
        bytes memory expected = _juryCommitError(jobId, info, provider);
        Job memory job = info.job;
        IInferenceMarketTypes.Challenge memory ch = info.ch;
        vm.recordLogs();
        vm.prank(provider);
        try IInferenceMarketCourt(address(market)).juryCommit(jobId, wordsOf(job), ch, commitment) returns (
            uint8 seat
        ) {
            _observe(vm.getRecordedLogs());
            if (expected.length != 0) {
                _surprise("juryCommit: accepted although invalid", expected);
                return false;
            }
            Seat[] storage seats = _seats[jobId];
            if (seat != seats.length) _surprise("juryCommit: unexpected seat", abi.encode(seat, seats.length));
            seats.push(Seat(provider, resultHash, salt, false));
            ghostLocked[provider] += job.collateral;
            if (seats.length == ch.jurySize) {
                info.status = IInferenceMarketTypes.JobStatus.JuryRevealing;
                info.revealStart = uint40(block.timestamp);
            }
            ++hits["juryCommit"];
            return true;
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_checkRevert("juryCommit", err, expected)) ++hits["juryCommit.refused"];
            return false;
        }
    }

    function _juryCommitError(
        uint256 jobId,
        JobInfo storage info,
        address provider
    ) private view returns (bytes memory) {
        if (info.status != IInferenceMarketTypes.JobStatus.Challenged) {
            return
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, jobId, info.status);
        }
        uint40 commitDeadline = info.ch.challengedAt + info.ch.commitWindow;
        if (block.timestamp > commitDeadline) {
            return
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector,
                    jobId,
                    commitDeadline
                );
        }
        if (provider == info.ch.provider || provider == info.ch.challenger) {
            return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJuryExcluded.selector, jobId, provider);
        }
        if (_isSeated(jobId, provider)) {
            return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadySeated.selector, jobId, provider);
        }
        bytes memory err = _eligibilityError(provider, info.job.collateral, info.job.requiredTags);
        if (err.length != 0) return err;
        return MarketSpec.juryAssignmentError(jobId, info.job, info.ch, provider, registry);
    }

    function _juryRevealOne(uint256 jobId, uint256 seatSeed, uint256 bad) private {
        Seat[] storage seats = _seats[jobId];
        (uint8 seat, address caller, bytes32 salt) = _revealAttempt(seats, seatSeed, bad);
        bytes memory expected = _juryRevealError(jobId, seat, caller, salt);
        JobInfo storage info = _info[jobId];
        Job memory job = info.job;
        IInferenceMarketTypes.Challenge memory ch = info.ch;
        bytes32 resultHash = seats[seat].resultHash;
        vm.recordLogs();
        vm.prank(caller);
        try
            IInferenceMarketCourt(address(market)).juryReveal(
                jobId,
                wordsOf(job),
                ch,
                seat,
                resultHash,
                salt,
                "ipfs://bafy-jury"
            )
        {
            _observe(vm.getRecordedLogs());
            if (expected.length != 0) {
                _surprise("juryReveal: accepted although invalid", expected);
                return;
            }
            if (info.status == IInferenceMarketTypes.JobStatus.Challenged) {
                info.status = IInferenceMarketTypes.JobStatus.JuryRevealing;
                info.revealStart = ch.challengedAt + ch.commitWindow;
            }
            seats[seat].revealed = true;
            ++info.revealedCount;
            ++hits["juryReveal"];
            if (info.revealedCount == seats.length) _resolveModel(jobId);
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_checkRevert("juryReveal", err, expected)) ++hits["juryReveal.refused"];
        }
    }

    function _juryRevealError(
        uint256 jobId,
        uint8 seat,
        address caller,
        bytes32 salt
    ) private view returns (bytes memory) {
        JobInfo storage info = _info[jobId];
        IInferenceMarketTypes.JobStatus status = info.status;
        uint256 start = info.revealStart;
        uint40 commitDeadline = info.ch.challengedAt + info.ch.commitWindow;
        if (
            status == IInferenceMarketTypes.JobStatus.Challenged &&
            block.timestamp > commitDeadline &&
            _seats[jobId].length >= _juryQuorum(info)
        ) {
            status = IInferenceMarketTypes.JobStatus.JuryRevealing;
            start = commitDeadline;
        }
        if (status != IInferenceMarketTypes.JobStatus.JuryRevealing) {
            return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, jobId, status);
        }
        uint256 revealDeadline = start + info.ch.revealWindow;
        if (block.timestamp > revealDeadline) {
            return
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketRevealClosed.selector,
                    jobId,
                    revealDeadline
                );
        }
        return _seatError(jobId, seat, caller, salt);
    }

    /// @dev Whether a challenged job's jury may reveal now (in the model).
    function _juryRevealPhase(uint256 jobId, JobInfo storage info) private view returns (bool) {
        uint256 start = info.revealStart;
        if (info.status == IInferenceMarketTypes.JobStatus.Challenged) {
            uint256 commitDeadline = uint256(info.ch.challengedAt) + info.ch.commitWindow;
            if (block.timestamp <= commitDeadline || _seats[jobId].length < _juryQuorum(info)) return false;
            start = commitDeadline;
        } else if (info.status != IInferenceMarketTypes.JobStatus.JuryRevealing) {
            return false;
        }
        return block.timestamp <= start + info.ch.revealWindow;
    }

    /// @dev (expected revert, outcome): outcome 1 = too few jurors (Inconclusive, all released),
    /// 2 = resolve the jury's round.
    function _resolveExpectation(uint256 jobId) private view returns (bytes memory, uint8) {
        JobInfo storage info = _info[jobId];
        // A job never challenged: its word binds the job or its delivery, not this (zero) challenge.
        if (!info.challenged) {
            return (abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, jobId), 0);
        }
        IInferenceMarketTypes.JobStatus status = info.status;
        uint256 start = info.revealStart;
        if (status == IInferenceMarketTypes.JobStatus.Challenged) {
            uint256 commitDeadline = uint256(info.ch.challengedAt) + info.ch.commitWindow;
            if (block.timestamp <= commitDeadline) return (_notResolvable(jobId, status), 0);
            if (_seats[jobId].length < _juryQuorum(info)) return ("", 1);
            status = IInferenceMarketTypes.JobStatus.JuryRevealing;
            start = commitDeadline;
        }
        if (
            status != IInferenceMarketTypes.JobStatus.JuryRevealing || block.timestamp <= start + info.ch.revealWindow
        ) {
            return (_notResolvable(jobId, status), 0);
        }
        return ("", 2);
    }

    function _notResolvable(uint256 jobId, IInferenceMarketTypes.JobStatus status) private pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotResolvable.selector, jobId, status);
    }

    /// @dev The end of a jury round, as {IInferenceMarketCourt} specifies it. The jurors are
    /// settled like a k > 1 round (silent jurors, and with a quorum those outside it, are faulty:
    /// they lose min(collateral, stake), shared by the client's share and the others); then the
    /// verdict: without a quorum the provider is paid (Inconclusive); with a quorum on the
    /// delivered result the challenger's bond (min(collateral, stake)) pays each majority juror
    /// the jury fee (capped at an equal share) and the provider the rest, and the provider is
    /// paid; with a quorum on another result the provider's collateral pays the jurors, then the
    /// challenger its share of the rest and the client the rest, and the client gets its escrow
    /// back. Counters: majority jurors served (with a quorum), faulty jurors disagreed or missed,
    /// the losing party disagreed, a paid provider served.
    function _resolveModel(uint256 jobId) private {
        JobInfo storage info = _info[jobId];
        Seat[] storage seats = _seats[jobId];
        bytes32 winner;
        uint256 agreeing;
        for (uint256 i = 0; i < seats.length; ++i) {
            if (!seats[i].revealed) continue;
            uint256 count;
            for (uint256 j = 0; j < seats.length; ++j) {
                if (seats[j].revealed && seats[j].resultHash == seats[i].resultHash) ++count;
            }
            if (count >= _juryQuorum(info)) (winner, agreeing) = (seats[i].resultHash, count);
        }
        bool quorum = agreeing != 0;
        (bool[] memory faulty, uint256 pool, uint256 compensated) = _juryOutcomesModel(jobId, winner, quorum);
        if (pool != 0) {
            uint256 toClient = (pool * CLIENT_SHARE_BPS) / 10_000;
            uint256 per = compensated == 0 ? 0 : (pool - toClient) / compensated;
            _creditModel(info.job.client, address(stakeToken), pool - per * compensated);
            for (uint256 i = 0; i < seats.length; ++i) {
                if (!faulty[i]) _creditModel(seats[i].provider, address(stakeToken), per);
            }
            ++hits["resolve.jurorSlashed"];
        }
        if (!quorum) {
            _payDeliveryModel(jobId);
            _releaseModel(info.ch.provider, info.job.collateral);
            _releaseModel(info.ch.challenger, info.job.collateral);
            ++hits["resolve.inconclusive"];
            return;
        }
        _verdictModel(jobId, winner, agreeing, faulty);
    }

    function _juryOutcomesModel(
        uint256 jobId,
        bytes32 winner,
        bool quorum
    ) private returns (bool[] memory faulty, uint256 pool, uint256 compensated) {
        Seat[] storage seats = _seats[jobId];
        uint256 collateral = _info[jobId].job.collateral;
        faulty = new bool[](seats.length);
        for (uint256 i = 0; i < seats.length; ++i) {
            address juror = seats[i].provider;
            faulty[i] = !seats[i].revealed || (quorum && seats[i].resultHash != winner);
            uint256 seized = faulty[i] ? _min(collateral, ghostStake[juror]) : 0;
            _releaseModel(juror, collateral);
            if (!faulty[i]) {
                ++compensated;
                continue;
            }
            _seizeModel(juror, seized);
            pool += seized;
            if (seats[i].revealed) ++ghostDisagreed[juror];
            else ++ghostMissed[juror];
        }
    }

    function _verdictModel(uint256 jobId, bytes32 winner, uint256 agreeing, bool[] memory faulty) private {
        JobInfo storage info = _info[jobId];
        IInferenceMarketTypes.Challenge storage ch = info.ch;
        uint256 collateral = info.job.collateral;
        bool providerWrong = winner != ch.resultHash;
        address loser = providerWrong ? ch.provider : ch.challenger;
        uint256 seized = _min(collateral, ghostStake[loser]);
        uint256 perJuror = ch.juryFee;
        if (agreeing * perJuror > seized) perJuror = seized / agreeing;
        uint256 rest = seized - agreeing * perJuror;
        Seat[] storage seats = _seats[jobId];
        for (uint256 i = 0; i < seats.length; ++i) {
            if (!faulty[i]) _creditModel(seats[i].provider, address(stakeToken), perJuror);
        }
        if (providerWrong) {
            _finish(jobId, IInferenceMarketTypes.JobStatus.Refunded);
            _creditModel(info.job.client, info.job.token, info.escrow);
            uint256 toChallenger = (rest * ch.challengerShareBps) / 10_000;
            _creditModel(ch.challenger, address(stakeToken), toChallenger);
            _creditModel(info.job.client, address(stakeToken), rest - toChallenger);
            ++hits["resolve.providerWrong"];
        } else {
            _payDeliveryModel(jobId);
            _creditModel(ch.provider, address(stakeToken), rest);
            ++hits["resolve.providerRight"];
        }
        _releaseModel(ch.provider, collateral);
        _releaseModel(ch.challenger, collateral);
        _seizeModel(loser, seized);
        ++ghostDisagreed[loser];
    }

    /// @dev Too few jurors came: nobody is at fault; the provider is paid and every collateral
    /// released.
    function _resolveUnfilledModel(uint256 jobId) private {
        JobInfo storage info = _info[jobId];
        _payDeliveryModel(jobId);
        _releaseSeatsModel(jobId);
        _releaseModel(info.ch.provider, info.job.collateral);
        _releaseModel(info.ch.challenger, info.job.collateral);
        ++hits["resolve.unfilled"];
    }

    /// @dev As {_checkRevert}, also accepting `alt` when it is not empty.
    function _checkRevertAlt(
        string memory where,
        bytes memory err,
        bytes memory expected,
        bytes memory alt
    ) private returns (bool) {
        if (alt.length != 0 && keccak256(err) == keccak256(alt)) {
            ++refusals[bytes4(alt)];
            return true;
        }
        return _checkRevert(where, err, expected);
    }

    /// @dev FINDING (see InferenceMarketK1StatusErrorsTest in InferenceMarketCourtStatusErrors.t.sol): once a
    /// k = 1 job is delivered its word binds the delivery (then the challenge), so the market's
    /// entry points that check the job's hash before its status refuse it with JobMismatch
    /// instead of the status error {IInferenceMarket} documents. Both are accepted here, so that
    /// the invariants hold before and after the fix; empty for a job never delivered.
    function _pastOpenMismatch(uint256 jobId) private pure returns (bytes memory) {
        // The market names a delivered job's status (no longer a job mismatch): no alternative.
        jobId;
        return "";
    }

    // ------------------------------------------------------------------ commit / reveal

    function _commitOne(uint256 jobId, address provider, uint256 s) private returns (bool ok) {
        JobInfo storage info = _info[jobId];
        bytes32 resultHash = _resultChoice(jobId, s);
        bytes32 salt = keccak256(abi.encode("salt", s));
        bytes32 commitment = MarketSpec.commitment(jobId, provider, resultHash, salt);
        bytes memory expected = _commitError(jobId, info, provider);
        Job memory job = info.job;
        // One time in three through commitAll (a batch of one): the same checks, a refusal skipped.
        if ((s >> 200) % 3 == 0) return _commitInBatch(jobId, provider, resultHash, salt, commitment, expected);
        vm.recordLogs();
        vm.prank(provider);
        try market.commit(jobId, wordsOf(job), commitment) returns (uint8 seat) {
            _observe(vm.getRecordedLogs());
            if (expected.length != 0) {
                _surprise("commit: accepted although invalid", expected);
                return false;
            }
            if (seat != _seats[jobId].length)
                _surprise("commit: unexpected seat", abi.encode(seat, _seats[jobId].length));
            _seatModel(jobId, provider, resultHash, salt);
            ++hits["commit"];
            return true;
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_checkRevert("commit", err, expected)) ++hits["commit.refused"];
        }
    }

    /// @dev {IInferenceMarketCourt.commitAll} with one item: seated as by {commit}, or skipped
    /// (CommitSkipped naming the error {commit} would raise) without reverting.
    function _commitInBatch(
        uint256 jobId,
        address provider,
        bytes32 resultHash,
        bytes32 salt,
        bytes32 commitment,
        bytes memory expected
    ) private returns (bool) {
        IInferenceMarketTypes.Commit[] memory items = new IInferenceMarketTypes.Commit[](1);
        items[0] = IInferenceMarketTypes.Commit(jobId, wordsOf(_info[jobId].job), commitment);
        vm.recordLogs();
        vm.prank(provider);
        try IInferenceMarketCourt(address(market)).commitAll(items) returns (uint256 committed) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            _observe(logs);
            bytes32 skipped = IInferenceMarketTypes.CommitSkipped.selector;
            if (!_batchItemAsExpected("commitAll", logs, skipped, jobId, provider, committed, expected)) return false;
            if (expected.length != 0) return false;
            _seatModel(jobId, provider, resultHash, salt);
            ++hits["commitAll"];
            return true;
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            _surprise("commitAll: reverted", err);
            return false;
        }
    }

    /// @dev A seat taken: the model's seats, locked collateral and (at the last seat) the reveal's start.
    function _seatModel(uint256 jobId, address provider, bytes32 resultHash, bytes32 salt) private {
        JobInfo storage info = _info[jobId];
        Seat[] storage seats = _seats[jobId];
        seats.push(Seat(provider, resultHash, salt, false));
        ghostLocked[provider] += info.job.collateral;
        if (seats.length == info.job.redundancy) {
            info.status = IInferenceMarketTypes.JobStatus.Revealing;
            info.revealStart = uint40(block.timestamp);
        }
    }

    /// @dev A batch of one item: done (count 1, no skip event) when `expected` is empty, else skipped
    /// (count 0, one `skipEvent` naming the job, the sender and `expected`'s selector).
    function _batchItemAsExpected(
        string memory where,
        Vm.Log[] memory logs,
        bytes32 skipEvent,
        uint256 jobId,
        address provider,
        uint256 done,
        bytes memory expected
    ) private returns (bool) {
        bytes4 reason;
        uint256 skips;
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter != address(market) || logs[i].topics[0] != skipEvent) continue;
            ++skips;
            if (uint256(logs[i].topics[1]) != jobId || address(uint160(uint256(logs[i].topics[2]))) != provider)
                _surprise(string.concat(where, ": skip names another item"), abi.encode(jobId, provider));
            reason = abi.decode(logs[i].data, (bytes4));
        }
        if (expected.length == 0) {
            if (done == 1 && skips == 0) return true;
            _surprise(string.concat(where, ": valid item not done"), abi.encode(done, reason));
            return false;
        }
        if (done != 0 || skips != 1 || reason != bytes4(expected)) {
            _surprise(
                string.concat(where, ": refused item not skipped as expected"),
                abi.encode(done, reason, expected)
            );
            return false;
        }
        ++refusals[bytes4(expected)];
        ++hits[bytes32(bytes(string.concat(where, ".skipped")))];
        return true;
    }

    /// @dev Mostly the true result; sometimes one of two wrong ones (shared by whoever picks it).
    function _resultChoice(uint256 jobId, uint256 s) private pure returns (bytes32) {
        uint256 c = s % 8;
        if (c < 6) return keccak256(abi.encode("truth", jobId));
        return keccak256(abi.encode("wrong", jobId, c));
    }

    function _commitError(uint256 jobId, JobInfo storage info, address provider) private view returns (bytes memory) {
        if (info.status != IInferenceMarketTypes.JobStatus.Open) {
            return
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, jobId, info.status);
        }
        if (block.timestamp > info.job.commitDeadline) {
            return
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector,
                    jobId,
                    info.job.commitDeadline
                );
        }
        Seat[] storage seats = _seats[jobId];
        for (uint256 i = 0; i < seats.length; ++i) {
            if (seats[i].provider == provider) {
                return
                    abi.encodeWithSelector(
                        IInferenceMarketTypes.InferenceMarketAlreadySeated.selector,
                        jobId,
                        provider
                    );
            }
        }
        bytes memory err = _eligibilityError(provider, info.job.collateral, info.job.requiredTags);
        if (err.length != 0) return err;
        return MarketSpec.assignmentError(jobId, info.job, provider, registry);
    }

    function _revealOne(uint256 jobId, uint256 seatSeed, uint256 bad) private {
        Seat[] storage seats = _seats[jobId];
        (uint8 seat, address caller, bytes32 salt) = _revealAttempt(seats, seatSeed, bad);
        bytes memory expected = _revealError(jobId, seat, caller, salt);
        // One time in three through revealAll (a batch of one): the same checks, a refusal skipped.
        if ((bad >> 200) % 3 == 0) return _revealInBatch(jobId, seat, caller, salt, expected);
        Job memory job = _info[jobId].job;
        vm.recordLogs();
        vm.prank(caller);
        try market.reveal(jobId, wordsOf(job), seat, seats[seat].resultHash, salt, "ipfs://bafy-revealed") {
            _observe(vm.getRecordedLogs());
            if (expected.length != 0) {
                _surprise("reveal: accepted although invalid", expected);
                return;
            }
            _revealModel(jobId, seat);
            ++hits["reveal"];
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            if (_checkRevert("reveal", err, expected)) ++hits["reveal.refused"];
        }
    }

    /// @dev {IInferenceMarketCourt.revealAll} with one item: revealed as by {reveal} (the last
    /// reveal settling the job), or skipped (RevealSkipped naming the error {reveal} would raise).
    function _revealInBatch(uint256 jobId, uint8 seat, address caller, bytes32 salt, bytes memory expected) private {
        IInferenceMarketTypes.Reveal[] memory items = new IInferenceMarketTypes.Reveal[](1);
        items[0] = IInferenceMarketTypes.Reveal(
            jobId,
            wordsOf(_info[jobId].job),
            seat,
            _seats[jobId][seat].resultHash,
            salt,
            "ipfs://bafy-revealed"
        );
        vm.recordLogs();
        vm.prank(caller);
        try IInferenceMarketCourt(address(market)).revealAll(items) returns (uint256 revealed) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            _observe(logs);
            bytes32 skipped = IInferenceMarketTypes.RevealSkipped.selector;
            if (!_batchItemAsExpected("revealAll", logs, skipped, jobId, caller, revealed, expected)) return;
            if (expected.length != 0) return;
            _revealModel(jobId, seat);
            ++hits["revealAll"];
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            _surprise("revealAll: reverted", err);
        }
    }

    /// @dev A seat revealed: the model's reveal phase (started at the commit deadline if it was
    /// not), and the settlement once every seat revealed.
    function _revealModel(uint256 jobId, uint8 seat) private {
        JobInfo storage info = _info[jobId];
        if (info.status == IInferenceMarketTypes.JobStatus.Open) {
            info.status = IInferenceMarketTypes.JobStatus.Revealing;
            info.revealStart = info.job.commitDeadline;
        }
        _seats[jobId][seat].revealed = true;
        ++info.revealedCount;
        if (info.revealedCount == _seats[jobId].length) _settleModel(jobId);
    }

    /// @dev A reveal attempt: mostly a seat that has not revealed, by its provider with its salt;
    /// sometimes a wrong salt, maybe another provider, or a seat that revealed already.
    function _revealAttempt(
        Seat[] storage seats,
        uint256 seatSeed,
        uint256 bad
    ) private view returns (uint8 seat, address caller, bytes32 salt) {
        uint256 len = seats.length;
        seat = uint8(seatSeed % len);
        for (uint256 j = 0; j < len; ++j) {
            uint256 idx = (seatSeed + j) % len;
            if (!seats[idx].revealed) {
                seat = uint8(idx);
                break;
            }
        }
        caller = seats[seat].provider;
        salt = seats[seat].salt;
        uint256 mode = bad % 10;
        if (mode == 0) {
            salt = keccak256(abi.encode(salt)); // wrong salt
        } else if (mode == 1) {
            caller = providerAt[(bad >> 8) % PROVIDER_COUNT]; // maybe not the seat's provider
        } else if (mode == 2) {
            for (uint256 j = 0; j < len; ++j) {
                if (seats[j].revealed) {
                    (seat, caller, salt) = (uint8(j), seats[j].provider, seats[j].salt); // reveal twice
                    break;
                }
            }
        }
    }

    function _revealError(uint256 jobId, uint8 seat, address caller, bytes32 salt) private view returns (bytes memory) {
        JobInfo storage info = _info[jobId];
        Seat[] storage seats = _seats[jobId];
        uint256 start = info.revealStart;
        if (info.status == IInferenceMarketTypes.JobStatus.Open) {
            if (block.timestamp <= info.job.commitDeadline || seats.length < info.job.quorum) {
                return
                    abi.encodeWithSelector(
                        IInferenceMarketTypes.InferenceMarketInvalidStatus.selector,
                        jobId,
                        IInferenceMarketTypes.JobStatus.Open
                    );
            }
            start = info.job.commitDeadline;
        }
        uint256 revealDeadline = start + info.job.revealWindow;
        if (block.timestamp > revealDeadline) {
            return
                abi.encodeWithSelector(
                    IInferenceMarketTypes.InferenceMarketRevealClosed.selector,
                    jobId,
                    revealDeadline
                );
        }
        return _seatError(jobId, seat, caller, salt);
    }

    /// @dev The error of a reveal of `seat` (a k > 1 seat or a jury seat) by `caller` with `salt`
    /// once the reveal phase is on; empty if it is the seat's own, first, reveal.
    function _seatError(uint256 jobId, uint8 seat, address caller, bytes32 salt) private view returns (bytes memory) {
        Seat[] storage seats = _seats[jobId];
        if (seat >= seats.length || seats[seat].provider != caller) {
            return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotSeated.selector, jobId, seat, caller);
        }
        if (seats[seat].revealed) {
            return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadyRevealed.selector, jobId, caller);
        }
        if (salt != seats[seat].salt) {
            return
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, jobId, caller);
        }
        return "";
    }

    /// @dev (expected revert, outcome): outcome 1 = refund, 2 = settle the reveal round.
    function _finalizeExpectation(uint256 jobId) private view returns (bytes memory, uint8) {
        JobInfo storage info = _info[jobId];
        IInferenceMarketTypes.JobStatus status = info.status;
        if (info.job.redundancy == 1) {
            if (status != IInferenceMarketTypes.JobStatus.Open || block.timestamp <= info.job.deadline) {
                return (_notFinalizable(jobId, status), 0);
            }
            return ("", 1);
        }
        uint256 start = info.revealStart;
        if (status == IInferenceMarketTypes.JobStatus.Open) {
            if (block.timestamp <= info.job.commitDeadline) return (_notFinalizable(jobId, status), 0);
            if (_seats[jobId].length < info.job.quorum) return ("", 1);
            status = IInferenceMarketTypes.JobStatus.Revealing;
            start = info.job.commitDeadline;
        }
        if (status != IInferenceMarketTypes.JobStatus.Revealing || block.timestamp <= start + info.job.revealWindow) {
            return (_notFinalizable(jobId, status), 0);
        }
        return ("", 2);
    }

    function _notFinalizable(
        uint256 jobId,
        IInferenceMarketTypes.JobStatus status
    ) private pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotFinalizable.selector, jobId, status);
    }

    // ------------------------------------------------------------------ stake

    function _withdrawStakeError(
        address provider,
        IProviderRegistry.Provider memory pv
    ) private view returns (bytes memory) {
        if (pv.unbondingEndsAt == 0) {
            return abi.encodeWithSelector(IProviderRegistry.ProviderRegistryNotExiting.selector, provider);
        }
        if (block.timestamp < pv.unbondingEndsAt) {
            return
                abi.encodeWithSelector(
                    IProviderRegistry.ProviderRegistryUnbonding.selector,
                    provider,
                    pv.unbondingEndsAt
                );
        }
        // The market's free collateral is reclaimed first: what the seats hold stays locked.
        uint256 seats = pv.locked - marketFree(provider);
        if (seats != 0) {
            return abi.encodeWithSelector(IProviderRegistry.ProviderRegistryCollateralLocked.selector, provider, seats);
        }
        return "";
    }

    function _reRegister(address provider, uint256 index) private {
        stakeToken.mint(provider, STAKE);
        vm.prank(provider);
        stakeToken.approve(address(registry), STAKE);
        vm.prank(provider);
        try registry.register(STAKE, MarketStack.caps(index == PROVIDER_COUNT - 1 ? 1 : 3), "ipfs://provider") {
            ghostStakeIn += STAKE;
            ghostStake[provider] = STAKE;
            if (registry.getProvider(provider).status != IProviderRegistry.ProviderStatus.Approved) {
                _surprise("register: not auto-admitted", "");
            }
            ++hits["reRegister"];
        } catch (bytes memory err) {
            _surprise("register reverted", err);
        }
    }

    function _exitingCount() private view returns (uint256 n) {
        for (uint256 i = 0; i < PROVIDER_COUNT; ++i) {
            if (registry.getProvider(providerAt[i]).unbondingEndsAt != 0) ++n;
        }
    }

    /// @dev A provider that the DAO suspended, from a seed-chosen index.
    function _suspendedProvider(uint256 seed) private view returns (bool, uint256) {
        for (uint256 i = 0; i < PROVIDER_COUNT; ++i) {
            uint256 index = (seed + i) % PROVIDER_COUNT;
            if (ghostSuspended[providerAt[index]]) return (true, index);
        }
        return (false, 0);
    }

    function _registerWhileSuspended(address provider, uint256 index) private {
        stakeToken.mint(provider, STAKE);
        vm.prank(provider);
        stakeToken.approve(address(registry), STAKE);
        bytes memory expected = abi.encodeWithSelector(
            IProviderRegistry.ProviderRegistryAlreadyRegistered.selector,
            provider,
            IProviderRegistry.ProviderStatus.Suspended
        );
        vm.prank(provider);
        try registry.register(STAKE, MarketStack.caps(index == PROVIDER_COUNT - 1 ? 1 : 3), "ipfs://provider") {
            ghostStakeIn += STAKE; // keeps the stake invariants meaningful if this ever happens
            _surprise("register: a suspended provider registered again", "");
        } catch (bytes memory err) {
            if (_checkRevert("registerWhileSuspended", err, expected)) ++hits["registerWhileSuspended.refused"];
        }
    }

    // ------------------------------------------------------------------ observation

    /// @dev Reads the market's events as an indexer would (credits have no event of their own):
    /// DeliveryClaimed credits its provider the job's fee; ChallengeResolved credits the provider's
    /// fee or the client's escrow, and the losing party's seized stake (its SeatSlashed) to the
    /// jurors and parties (see {_observeResolution}); JobSettled credits the fee to each
    /// provider whose observed ResultRevealed hash won (as many as `agreeing`) and
    /// `clientRefund` to the client; JobRefunded credits `amount` to the client. Provider fees
    /// are attributed to jobs, and terminal events counted per job.
    function _observe(Vm.Log[] memory logs) private {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter != address(market) || logs[i].topics.length < 2) continue;
            bytes32 sig = logs[i].topics[0];
            uint256 jobId = uint256(logs[i].topics[1]);
            Job storage job = _info[jobId].job;
            if (sig == IInferenceMarketTypes.DeliveryClaimed.selector) {
                ++_info[jobId].terminalEvents;
                ++feeCredits[address(uint160(uint256(logs[i].topics[2])))][jobId];
                uint256 fee = abi.decode(logs[i].data, (uint256));
                if (fee != job.feePerProvider)
                    _surprise("DeliveryClaimed: fee differs from the job's", abi.encode(jobId));
                observedCredits[job.token] += fee;
            } else if (sig == IInferenceMarketTypes.SeatSlashed.selector) {
                _observePartySlash(jobId, address(uint160(uint256(logs[i].topics[2]))), logs[i].data);
            } else if (sig == IInferenceMarketTypes.ChallengeResolved.selector) {
                _observeResolution(jobId, logs[i].data);
            } else if (sig == IInferenceMarketTypes.ResultRevealed.selector) {
                address provider = address(uint160(uint256(logs[i].topics[2])));
                (bytes32 resultHash, ) = abi.decode(logs[i].data, (bytes32, bytes));
                _revealedBy[jobId].push(provider);
                _revealedHash[jobId][provider] = resultHash;
            } else if (sig == IInferenceMarketTypes.JobSettled.selector) {
                ++_info[jobId].terminalEvents;
                (bytes32 winner, uint8 agreeing, uint256 clientRefund) = abi.decode(
                    logs[i].data,
                    (bytes32, uint8, uint256)
                );
                address[] storage revealers = _revealedBy[jobId];
                uint256 paid;
                for (uint256 r = 0; r < revealers.length; ++r) {
                    if (_revealedHash[jobId][revealers[r]] != winner) continue;
                    ++feeCredits[revealers[r]][jobId];
                    ++paid;
                }
                if (paid != agreeing)
                    _surprise("JobSettled: agreeing differs from the winning reveals", abi.encode(jobId));
                observedCredits[job.token] += paid * job.feePerProvider + clientRefund;
            } else if (sig == IInferenceMarketTypes.JobRefunded.selector) {
                ++_info[jobId].terminalEvents;
                (uint256 amount, ) = abi.decode(logs[i].data, (uint256, bool));
                observedCredits[job.token] += amount;
            } else if (sig == IInferenceMarketTypes.SlashDistributed.selector) {
                (uint256 pool, uint256 toClient, uint256 perRevealer, uint8 revealers) = abi.decode(
                    logs[i].data,
                    (uint256, uint256, uint256, uint8)
                );
                if (toClient + perRevealer * revealers != pool)
                    _surprise("SlashDistributed: parts differ from the pool", abi.encode(jobId));
                observedCredits[address(stakeToken)] += pool;
            }
        }
    }

    /// @dev The losing party's seized stake (in its SeatSlashed, before ChallengeResolved) is all
    /// credited: to the majority jurors, and the challenger and the client, or the provider.
    /// Faulty jurors' SeatSlashed are counted by SlashDistributed instead.
    function _observePartySlash(uint256 jobId, address provider, bytes memory data) private {
        JobInfo storage info = _info[jobId];
        if (!info.challenged || (provider != info.ch.provider && provider != info.ch.challenger)) return;
        (uint256 amount, ) = abi.decode(data, (uint256, bool));
        _partySeized[jobId] = amount;
        observedCredits[address(stakeToken)] += amount;
    }

    /// @dev ChallengeResolved: the client's escrow refunded (provider wrong) or the provider's fee
    /// credited; `agreeing` counts the observed jury reveals of `juryHash`; the parts it names
    /// plus each majority juror's fee (the challenge's, capped at an equal share) make up the
    /// loser's seized stake.
    function _observeResolution(uint256 jobId, bytes memory data) private {
        JobInfo storage info = _info[jobId];
        ++info.terminalEvents;
        (
            IInferenceMarketTypes.ChallengeOutcome outcome,
            bytes32 juryHash,
            uint8 agreeing,
            uint256 toChallenger,
            uint256 toProvider,
            uint256 toClient
        ) = abi.decode(data, (IInferenceMarketTypes.ChallengeOutcome, bytes32, uint8, uint256, uint256, uint256));
        if (outcome == IInferenceMarketTypes.ChallengeOutcome.ProviderWrong) {
            observedCredits[info.job.token] += info.escrow;
        } else {
            ++feeCredits[info.ch.provider][jobId];
            observedCredits[info.job.token] += info.job.feePerProvider;
        }
        uint256 count;
        address[] storage revealers = _revealedBy[jobId];
        for (uint256 r = 0; r < revealers.length; ++r) {
            if (_revealedHash[jobId][revealers[r]] == juryHash && juryHash != bytes32(0)) ++count;
        }
        if (count != agreeing)
            _surprise("ChallengeResolved: agreeing differs from the jury's reveals", abi.encode(jobId));
        uint256 parts = toChallenger + toProvider + toClient;
        if (outcome == IInferenceMarketTypes.ChallengeOutcome.Inconclusive) {
            if (parts != 0) _surprise("ChallengeResolved: an inconclusive challenge moved stake", abi.encode(jobId));
            return;
        }
        uint256 seized = _partySeized[jobId];
        uint256 perJuror = info.ch.juryFee;
        if (agreeing * perJuror > seized) perJuror = seized / agreeing;
        if (parts + agreeing * perJuror != seized) {
            _surprise(
                "ChallengeResolved: parts and jury fees differ from the seized stake",
                abi.encode(jobId, parts, seized)
            );
        }
    }

    // ------------------------------------------------------------------ helpers

    /// @dev A job from the open list, starting at a seed-chosen index.
    function _pick(uint256 seed, uint8 kind) private view returns (bool, uint256) {
        uint256 n = _open.length;
        if (n == 0) return (false, 0);
        uint256 start = seed % n;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = _open[(start + i) % n];
            if (_matches(id, kind)) return (true, id);
        }
        return (false, 0);
    }

    function _matches(uint256 id, uint8 kind) private view returns (bool) {
        JobInfo storage info = _info[id];
        if ((kind == PICK_K1 || kind == PICK_K1_LIVE || kind >= PICK_DELIVERED) && info.job.redundancy != 1)
            return false;
        if (
            kind == PICK_K1_LIVE &&
            (info.status != IInferenceMarketTypes.JobStatus.Open || block.timestamp > info.job.deadline)
        ) return false;
        if (kind >= PICK_DELIVERED) return _matchesCourt(id, info, kind);
        if (
            (kind == PICK_COMMIT || kind == PICK_COMMIT_LIVE) &&
            (info.job.redundancy == 1 || info.status != IInferenceMarketTypes.JobStatus.Open)
        ) return false;
        if (kind == PICK_COMMIT_LIVE && block.timestamp > info.job.commitDeadline) return false;
        if (kind == PICK_SEATED && (info.job.redundancy == 1 || _seats[id].length == 0)) return false;
        if (kind == PICK_REVEAL && !_revealPhase(id, info)) return false;
        if (kind == PICK_FINALIZABLE) {
            (bytes memory expected, ) = _finalizeExpectation(id);
            if (expected.length != 0) return false;
        }
        return true;
    }

    /// @dev The k = 1 pick kinds: deliveries and challenges.
    function _matchesCourt(uint256 id, JobInfo storage info, uint8 kind) private view returns (bool) {
        IInferenceMarketTypes.JobStatus status = info.status;
        if (kind <= PICK_CHALLENGEABLE) {
            if (status != IInferenceMarketTypes.JobStatus.Delivered) return false;
            bool matured = block.timestamp > uint256(info.deliveredAt) + info.job.challengeWindow;
            return kind == PICK_DELIVERED || (kind == PICK_CLAIMABLE) == matured;
        }
        if (kind == PICK_CHALLENGED) {
            return
                status == IInferenceMarketTypes.JobStatus.Challenged ||
                status == IInferenceMarketTypes.JobStatus.JuryRevealing;
        }
        if (kind == PICK_JURY_COMMIT) {
            return
                status == IInferenceMarketTypes.JobStatus.Challenged &&
                block.timestamp <= uint256(info.ch.challengedAt) + info.ch.commitWindow;
        }
        if (kind == PICK_JURY_REVEAL) return _juryRevealPhase(id, info);
        (bytes memory expected, ) = _resolveExpectation(id);
        return expected.length == 0;
    }

    /// @dev The `nth` (modulo their number) job of a kind, counting from a seed-chosen index.
    function _pickNth(uint256 seed, uint256 nth, uint8 kind) private view returns (bool, uint256) {
        uint256 n = _open.length;
        if (n == 0) return (false, 0);
        uint256 start = seed % n;
        uint256 matching;
        for (uint256 i = 0; i < n; ++i) {
            if (_matches(_open[i], kind)) ++matching;
        }
        if (matching == 0) return (false, 0);
        uint256 target = nth % matching;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = _open[(start + i) % n];
            if (!_matches(id, kind)) continue;
            if (target == 0) return (true, id);
            --target;
        }
        return (false, 0);
    }

    /// @dev Whether a k > 1 job takes reveals now (in the model).
    function _revealPhase(uint256 jobId, JobInfo storage info) private view returns (bool) {
        if (info.job.redundancy == 1 || _terminal(info.status)) return false;
        uint256 start = info.revealStart;
        if (info.status == IInferenceMarketTypes.JobStatus.Open) {
            if (block.timestamp <= info.job.commitDeadline || _seats[jobId].length < info.job.quorum) return false;
            start = info.job.commitDeadline;
        }
        return block.timestamp <= start + info.job.revealWindow;
    }

    function _isSeated(uint256 jobId, address provider) private view returns (bool) {
        Seat[] storage seats = _seats[jobId];
        for (uint256 i = 0; i < seats.length; ++i) {
            if (seats[i].provider == provider) return true;
        }
        return false;
    }

    /// @dev Mostly an (account, token) with a balance to withdraw; sometimes any pair.
    function _pickBalance(uint256 accountSeed, uint256 tokenSeed) private view returns (address, address) {
        uint256 pairs = ACCOUNT_COUNT * BALANCE_TOKEN_COUNT;
        uint256 start = accountSeed % pairs;
        if (tokenSeed % 8 != 0) {
            for (uint256 i = 0; i < pairs; ++i) {
                uint256 k = (start + i) % pairs;
                address account = accountAt(k / BALANCE_TOKEN_COUNT);
                address token = balanceTokenAt(k % BALANCE_TOKEN_COUNT);
                if (ghostBalance[account][token] != 0) return (account, token);
            }
        }
        return (accountAt(start / BALANCE_TOKEN_COUNT), balanceTokenAt(start % BALANCE_TOKEN_COUNT));
    }

    function _fund(address client, address token, uint256 amount) private {
        if (token == address(0)) {
            vm.deal(client, client.balance + amount);
        } else {
            MockERC20(token).mint(client, amount);
            vm.prank(client);
            IERC20(token).approve(address(market), amount);
        }
    }

    function _balanceOf(address token, address account) private view returns (uint256) {
        return token == address(0) ? account.balance : IERC20(token).balanceOf(account);
    }

    /// @dev True when the revert was the expected one; records a surprise otherwise.
    function _checkRevert(string memory where, bytes memory err, bytes memory expected) private returns (bool) {
        if (expected.length == 0) {
            _surprise(string.concat(where, ": valid call reverted"), err);
            return false;
        }
        if (keccak256(err) != keccak256(expected)) {
            _surprise(string.concat(where, ": wrong revert"), abi.encode(err, expected));
            return false;
        }
        ++refusals[bytes4(expected)];
        return true;
    }

    function _surprise(string memory where, bytes memory data) private {
        if (surprises == 0) {
            firstSurprise = where;
            firstSurpriseData = data;
        }
        ++surprises;
    }

    function _sub(uint256 a, uint256 b) private returns (uint256) {
        if (b > a) {
            _surprise("ghost underflow", abi.encode(a, b));
            return 0;
        }
        return a - b;
    }

    function _terminal(IInferenceMarketTypes.JobStatus status) private pure returns (bool) {
        return status == IInferenceMarketTypes.JobStatus.Settled || status == IInferenceMarketTypes.JobStatus.Refunded;
    }

    function _registered(IProviderRegistry.ProviderStatus status) private pure returns (bool) {
        return status != IProviderRegistry.ProviderStatus.None && status != IProviderRegistry.ProviderStatus.Exited;
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) return min;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + (x % (size + 1));
    }
}
