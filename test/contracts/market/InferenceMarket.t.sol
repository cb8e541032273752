// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AssignmentSpec} from "../utils/AssignmentSpec.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Test, Vm} from "../utils/Test.sol";
import {AttestationBatch} from "../utils/AttestationBatch.sol";
import {InferenceMarket} from "../../../contracts/market/InferenceMarket.sol";
import {InferenceMarketCourt} from "../../../contracts/market/InferenceMarketCourt.sol";
import {IInferenceMarket, IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {IInferenceMarketCourt} from "../../../contracts/interfaces/IInferenceMarketCourt.sol";
import {ModelRegistry} from "../../../contracts/registry/ModelRegistry.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {ProviderRegistry} from "../../../contracts/registry/ProviderRegistry.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";
import {FeeOnTransferERC20} from "../../../contracts/mocks/FeeOnTransferERC20.sol";
import {Job, wordsOf, jobFromWords} from "../utils/JobStruct.sol";

// Helper contracts live in this file: Hardhat may not find them when a single test file is run.

/// @notice Receives a callback on every transfer of a {HookERC20}.
interface ITransferHook {
    function onTokenTransfer(address from, address to, uint256 amount) external;
}

/// @notice Malicious ERC-20: after every transfer (transfer and transferFrom alike) it calls its
/// hook, which may re-enter whatever contract moved the tokens.
contract HookERC20 is ERC20 {
    address public hook;

    constructor() ERC20("Hook", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setHook(address hook_) external {
        hook = hook_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (hook != address(0) && from != address(0) && to != address(0)) {
            ITransferHook(hook).onTokenTransfer(from, to, value);
        }
    }
}

/// @notice An attacker account (client or payee): when armed, the next token-transfer callback or
/// ETH receipt makes one call to `target` with `payload` (a re-entry). With `bubble` the re-entry's
/// revert is re-thrown; without it the revert is swallowed and recorded.
contract Reenterer is ITransferHook {
    address public target;
    bytes public payload;
    bool public armed;
    bool public bubble;
    uint256 public attempts;
    bool public lastOk;
    bytes public lastReturn;

    function arm(address target_, bytes calldata payload_, bool bubble_) external {
        target = target_;
        payload = payload_;
        bubble = bubble_;
        armed = true;
    }

    function onTokenTransfer(address, address, uint256) external {
        _reenter();
    }

    receive() external payable {
        _reenter();
    }

    function _reenter() private {
        if (!armed) return;
        armed = false;
        ++attempts;
        (bool ok, bytes memory ret) = target.call(payload);
        lastOk = ok;
        lastReturn = ret;
        if (!ok && bubble) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}

/// @notice A client contract that cannot receive ETH (no receive, no fallback).
contract EthRejecter {}

/// @notice Shared fixture. The test contract is the DAO (`DEFAULT_ADMIN_ROLE` of both registries
/// and of the market); `guardian` may pause; providers have known private keys so they can sign
/// EIP-712 attestations.
abstract contract InferenceMarketFixture is Test {
    uint256 internal constant START = 1_700_000_000;
    string internal constant NAME = "resnet-50";
    /// @dev sha256("weights v1"), written out: calling the sha256 precompile would consume pranks.
    bytes32 internal constant WEIGHTS_SHA256 = 0x13e35c44395f6cade670c076230362267c5288989d3498e207877d62b859a6d8;
    string internal constant WEIGHTS_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    string internal constant SCHEMA_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    string internal constant INPUT_CID = "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom";

    uint96 internal constant FEE = 1e18;
    uint96 internal constant MIN_FEE = 1e17;
    uint16 internal constant PROTOCOL_FEE_BPS = 100;
    uint16 internal constant QUORUM_BPS = 5_000;
    uint8 internal constant MAX_K = 7;
    uint32 internal constant COMMIT_WINDOW = 120;
    uint32 internal constant REVEAL_WINDOW = 120;
    uint32 internal constant MAX_INLINE = 1024;
    uint40 internal constant MAX_DURATION = 1 days;
    uint128 internal constant COLLATERAL = 10e18;
    uint32 internal constant CHALLENGE_WINDOW = 60;
    uint16 internal constant CLIENT_SHARE_BPS = 5_000;
    uint40 internal constant DEPRECATION = 7 days;
    uint40 internal constant UNBONDING = 7 days;
    uint256 internal constant MIN_STAKE = 100e18;
    uint256 internal constant STAKE = 1_000e18;
    uint32 internal constant MIN_MEMORY = 2048;
    uint32 internal constant MEMORY = 4096;
    uint256 internal constant TAGS = 0x7;
    uint256 internal constant REQUIRED_TAGS = 0x3;
    uint256 internal constant NUM_PROVIDERS = 7;

    bytes32 internal constant RESULT = keccak256("result");
    bytes32 internal constant OTHER_RESULT = keccak256("other result");
    bytes32 internal constant THIRD_RESULT = keccak256("third result");
    bytes internal constant INPUT = hex"0102030405";
    bytes internal constant OUTPUT = "bafkreioutputoutputoutputoutputoutputoutputoutputoutput";

    uint256 internal constant PENDING_PK = 0xB1;
    uint256 internal constant LOW_MEMORY_PK = 0xB2;
    uint256 internal constant FEW_TAGS_PK = 0xB3;
    uint256 internal constant OUTSIDER_PK = 0xB4;

    address internal guardian = address(0x6A4D);
    address internal treasury = address(0x7EA5);
    address internal client = address(0xC11E47);
    address internal stranger = address(0x5757);

    MockERC20 internal stakeToken;
    MockERC20 internal payToken;
    ModelRegistry internal models;
    ProviderRegistry internal registry;
    InferenceMarket internal market;
    bytes32 internal modelId;

    uint256[NUM_PROVIDERS] internal pks;
    address[NUM_PROVIDERS] internal prov;
    /// @dev Registered, never approved.
    address internal pending;
    /// @dev Approved, 1024 MB (below the version's 2048).
    address internal lowMemory;
    /// @dev Approved, tags 0x1 (jobs require 0x3).
    address internal fewTags;
    /// @dev Never registered.
    address internal outsider;

    function setUp() public virtual {
        vm.warp(START);
        stakeToken = new MockERC20("Conclave Stake", "CSTK", 18);
        payToken = new MockERC20("USD Coin", "USDC", 18);
        models = new ModelRegistry(address(this), guardian, DEPRECATION);
        registry = new ProviderRegistry(address(this), guardian, stakeToken, uint128(MIN_STAKE), UNBONDING);

        (modelId,) = models.publishVersion(NAME, _versionParams());
        models.activateVersion(modelId, 1);

        market = new InferenceMarket(address(this), guardian, models, registry, treasury, _defaultPolicy(), _defaultChallengePolicy(), address(new InferenceMarketCourt(models, registry)));
        registry.grantRole(registry.MARKET_ROLE(), address(market));
        _court().setTokenAllowed(address(payToken), true, 1e18);

        for (uint256 i = 0; i < NUM_PROVIDERS; ++i) {
            pks[i] = 0xA1 + i;
            prov[i] = vm.addr(pks[i]);
            _register(prov[i], MEMORY, TAGS);
            registry.approveProvider(prov[i], TAGS);
        }
        pending = vm.addr(PENDING_PK);
        _register(pending, MEMORY, TAGS);
        lowMemory = vm.addr(LOW_MEMORY_PK);
        _register(lowMemory, 1024, TAGS);
        registry.approveProvider(lowMemory, TAGS);
        fewTags = vm.addr(FEW_TAGS_PK);
        _register(fewTags, MEMORY, 0x1);
        registry.approveProvider(fewTags, 0x1);
        outsider = vm.addr(OUTSIDER_PK);
    }

    // ---------------------------------------------------------------- set-up helpers

    function _versionParams() internal pure returns (IModelRegistry.VersionParams memory) {
        return IModelRegistry.VersionParams({
            weightsCid: WEIGHTS_CID,
            weightsSha256: WEIGHTS_SHA256,
            schemaCid: SCHEMA_CID,
            runtime: bytes32("onnxruntime-1.30-cpu"),
            outputQuantum: 1e14,
            minMemoryMB: MIN_MEMORY,
            minFee: MIN_FEE
        });
    }

    function _defaultPolicy() internal pure returns (IInferenceMarketTypes.Policy memory) {
        return IInferenceMarketTypes.Policy({
            protocolFeeBps: PROTOCOL_FEE_BPS,
            quorumBps: QUORUM_BPS,
            maxRedundancy: MAX_K,
            commitWindow: COMMIT_WINDOW,
            revealWindow: REVEAL_WINDOW,
            priorityWindow: 0,
            maxInlineInputBytes: MAX_INLINE,
            maxJobDuration: MAX_DURATION,
            collateralPerJob: COLLATERAL,
            clientShareBps: CLIENT_SHARE_BPS
        });
    }

    function _defaultChallengePolicy() internal pure returns (IInferenceMarketTypes.ChallengePolicy memory) {
        return IInferenceMarketTypes.ChallengePolicy({
            challengeWindow: CHALLENGE_WINDOW,
            jurySize: 3,
            juryFee: uint96(COLLATERAL / 10),
            challengerShareBps: 5_000
        });
    }

    function _register(address p, uint32 memoryMB, uint256 tags) internal {
        stakeToken.mint(p, STAKE);
        vm.prank(p);
        stakeToken.approve(address(registry), STAKE);
        IProviderRegistry.Capabilities memory caps = IProviderRegistry.Capabilities({
            memoryMB: memoryMB,
            accelerator: bytes32("cpu"),
            region: bytes32("eu-west"),
            tags: tags
        });
        vm.prank(p);
        registry.register(STAKE, caps, "ipfs://provider");
    }

    // ---------------------------------------------------------------- job helpers

    /// @dev A request on version 1, inline input, deadline in one hour.
    function _req(uint8 k, address token) internal view returns (IInferenceMarketTypes.JobRequest memory r) {
        r.modelId = modelId;
        r.version = 1;
        r.redundancy = k;
        r.feePerProvider = FEE;
        r.token = token;
        r.deadline = uint40(block.timestamp + 1 hours);
        r.requiredTags = REQUIRED_TAGS;
        r.input = INPUT;
    }

    function _escrow(uint8 k) internal view returns (uint256) {
        return market.escrowOf(k, FEE, PROTOCOL_FEE_BPS);
    }

    /// @dev Funds `who` with exactly the escrow, requests as `who` on `m`, and returns the `Job`
    /// decoded from {JobRequested}; checks that it equals the struct rebuilt from the request.
    function _requestOn(InferenceMarket m, address who, IInferenceMarketTypes.JobRequest memory r)
        internal
        returns (uint256 id, Job memory job)
    {
        uint256 escrow = m.escrowOf(r.redundancy, r.feePerProvider, m.policy().protocolFeeBps);
        Job memory expected = _expectedJob(m, r, who);
        uint256 value;
        if (r.token == address(0)) {
            vm.deal(who, who.balance + escrow);
            value = escrow;
        } else {
            MockERC20(r.token).mint(who, escrow);
            vm.prank(who);
            MockERC20(r.token).approve(address(m), escrow);
        }
        vm.recordLogs();
        vm.prank(who);
        id = m.requestJob{value: value}(r);
        job = _jobFromLogs(m, id, vm.getRecordedLogs());
        assertEq(keccak256(abi.encode(job)), keccak256(abi.encode(expected)), "emitted job == rebuilt job");
    }

    function _requestAs(address who, IInferenceMarketTypes.JobRequest memory r)
        internal
        returns (uint256 id, Job memory job)
    {
        return _requestOn(market, who, r);
    }

    function _request(uint8 k, address token) internal returns (uint256 id, Job memory job) {
        return _requestAs(client, _req(k, token));
    }

    function _requestEth(uint8 k) internal returns (uint256 id, Job memory job) {
        return _request(k, address(0));
    }

    /// @dev Finds the `Job` of `{JobRequested}(id)` emitted by `m` in `logs`.
    function _jobFromLogs(InferenceMarket m, uint256 id, Vm.Log[] memory logs)
        internal
        pure
        returns (Job memory job)
    {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(m) && logs[i].topics[0] == IInferenceMarketTypes.JobRequested.selector
                    && uint256(logs[i].topics[1]) == id
            ) {
                (uint256[6] memory words,,) = abi.decode(logs[i].data, (uint256[6], bytes, string));
                return jobFromWords(words);
            }
        }
        fail("JobRequested not found");
    }

    /// @dev The `Job` the market must store for `r` requested by `who` now, rebuilt by hand.
    function _expectedJob(InferenceMarket m, IInferenceMarketTypes.JobRequest memory r, address who)
        internal
        view
        returns (Job memory job)
    {
        IInferenceMarketTypes.Policy memory p = m.policy();
        job.seed = uint96(uint256(keccak256(abi.encode(block.prevrandao, m.nextJobId()))));
        // The registry resolves version 0 (to a rollout's canary, drawn from the seed, or the active one).
        (uint32 version,,,, bool counted) = models.jobTermsFor(r.modelId, r.version, job.seed);
        job.counted = counted;
        job.client = who;
        job.token = r.token;
        job.modelId = r.modelId;
        job.version = version;
        job.redundancy = r.redundancy;
        job.protocolFeeBps = p.protocolFeeBps;
        job.feePerProvider = r.feePerProvider;
        job.requestedAt = uint40(block.timestamp);
        job.deadline = r.deadline;
        job.minMemoryMB = models.getVersion(r.modelId, version).minMemoryMB;
        job.requiredTags = r.requiredTags;
        job.inputHash = r.input.length != 0 ? keccak256(r.input) : keccak256(bytes(r.inputCid));
        job.priorityWindow = p.priorityWindow;
        job.collateral = p.collateralPerJob;
        if (r.redundancy == 1) {
            job.challengeWindow = IInferenceMarketCourt(address(m)).challengePolicy().challengeWindow;
        } else {
            uint256 commitEnd = block.timestamp + p.commitWindow;
            job.commitDeadline = uint40(commitEnd < r.deadline ? commitEnd : r.deadline);
            job.revealWindow = p.revealWindow;
            uint256 quorum = (uint256(r.redundancy) * p.quorumBps) / 10_000 + 1;
            job.quorum = uint8(quorum > r.redundancy ? r.redundancy : quorum);
        }
    }

    function _status(uint256 id) internal view returns (uint256 status) {
        (IInferenceMarketTypes.JobStatus s,,,) = market.jobState(id);
        return uint256(s);
    }

    function _seated(uint256 id) internal view returns (uint256 seated) {
        (, uint8 s,,) = market.jobState(id);
        return s;
    }

    function _revealed(uint256 id) internal view returns (uint256 revealed) {
        (,, uint8 r,) = market.jobState(id);
        return r;
    }

    function _revealStart(uint256 id) internal view returns (uint256 startedAt) {
        (,,, uint40 t) = market.jobState(id);
        return t;
    }

    // ---------------------------------------------------------------- provider helpers

    function _submit(uint256 id, Job memory job, address p) internal {
        vm.prank(p);
        market.submitResult(id, wordsOf(job), RESULT, OUTPUT);
    }

    /// @dev The one-item claim batch of `p`'s delivery of `result` for the k = 1 job `id`.
    function _claimItem(uint256 id, Job memory job, address p, bytes32 result)
        internal
        pure
        returns (IInferenceMarketTypes.Claim[] memory claims)
    {
        claims = new IInferenceMarketTypes.Claim[](1);
        claims[0] = IInferenceMarketTypes.Claim({jobId: id, job: wordsOf(job), provider: p, resultHash: result});
    }

    /// @dev Waits out the challenge window of every delivery in `claims` on `m` (from the
    /// delivery time, jobState's time field) and claims them as a keeper; returns how many paid.
    function _claimBatchOn(InferenceMarket m, IInferenceMarketTypes.Claim[] memory claims)
        internal
        returns (uint256 claimed)
    {
        uint256 matured = block.timestamp;
        for (uint256 i = 0; i < claims.length; ++i) {
            (,,, uint40 deliveredAt) = m.jobState(claims[i].jobId);
            uint256 end = uint256(deliveredAt) + jobFromWords(claims[i].job).challengeWindow + 1;
            if (end > matured) matured = end;
        }
        vm.warp(matured);
        vm.prank(stranger);
        claimed = IInferenceMarketCourt(address(m)).claim(claims);
    }

    function _claimBatch(IInferenceMarketTypes.Claim[] memory claims) internal returns (uint256 claimed) {
        return _claimBatchOn(market, claims);
    }

    /// @dev Claims `p`'s matured delivery of `result` for job `id` on `m` (warping past its
    /// challenge window); the claim must pay.
    function _claimOn(InferenceMarket m, uint256 id, Job memory job, address p, bytes32 result)
        internal
    {
        (IInferenceMarketTypes.JobStatus status,,,) = m.jobState(id);
        assertEq(uint256(status), K1_DELIVERED, "a claim needs a delivered job");
        assertEq(_claimBatchOn(m, _claimItem(id, job, p, result)), 1, "claimed");
    }

    function _claimPaid(uint256 id, Job memory job, address p, bytes32 result) internal {
        _claimOn(market, id, job, p, result);
    }

    /// @dev Claims `p`'s matured delivery of {RESULT} (what {_submit} delivers) for job `id`.
    function _claimPaid(uint256 id, Job memory job, address p) internal {
        _claimOn(market, id, job, p, RESULT);
    }

    /// @dev The court's functions (the DAO's settings among them), served on the market's address.
    function _court() internal view returns (IInferenceMarketCourt) {
        return IInferenceMarketCourt(address(market));
    }

    /// @dev Sets `p`, first lowering the challenge policy's jury fee to what `p`'s collateral
    /// allows: setPolicy rejects a collateral below jurySize × juryFee. For k > 1 tests of small
    /// collaterals, where no challenge is made.
    function _setPolicyLoweringJuryFee(IInferenceMarketTypes.Policy memory p) internal {
        IInferenceMarketCourt court = IInferenceMarketCourt(address(market));
        IInferenceMarketTypes.ChallengePolicy memory c = court.challengePolicy();
        uint256 most = p.collateralPerJob / c.jurySize;
        if (c.juryFee > most) {
            c.juryFee = uint96(most);
            court.setChallengePolicy(c);
        }
        _court().setPolicy(p);
    }

    function _salt(address p) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", p));
    }

    function _commitment(uint256 id, address p, bytes32 result, bytes32 salt) internal pure returns (bytes32) {
        return keccak256(abi.encode(id, p, result, salt));
    }

    function _commit(uint256 id, Job memory job, address p, bytes32 result)
        internal
        returns (uint8 seat)
    {
        bytes32 c = _commitment(id, p, result, _salt(p));
        vm.prank(p);
        seat = market.commit(id, wordsOf(job), c);
    }

    function _reveal(uint256 id, Job memory job, address p, uint8 seat, bytes32 result) internal {
        bytes32 salt = _salt(p);
        vm.prank(p);
        market.reveal(id, wordsOf(job), seat, result, salt, OUTPUT);
    }

    function _sign(
        InferenceMarket m,
        uint256 pk,
        uint256 id,
        Job memory job,
        bytes32 result
    ) internal view returns (IInferenceMarketTypes.SignedResult memory item) {
        bytes32 digest = m.attestationDigest(id, wordsOf(job), result, OUTPUT);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        item = IInferenceMarketTypes.SignedResult({
            jobId: id,
            job: wordsOf(job),
            resultHash: result,
            outputRef: OUTPUT,
            signature: abi.encodePacked(r, s, v)
        });
    }

    /// @dev The address a signed item recovers to on `m` (what the market will see as signer).
    function _recovered(InferenceMarket m, IInferenceMarketTypes.SignedResult memory item)
        internal
        view
        returns (address)
    {
        bytes32 digest = m.attestationDigest(item.jobId, item.job, item.resultHash, item.outputRef);
        bytes memory sig = item.signature;
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
            v := byte(0, mload(add(sig, 0x60)))
        }
        return ecrecover(digest, v, r, s);
    }

    function _one(IInferenceMarketTypes.SignedResult memory item)
        internal
        pure
        returns (IInferenceMarketTypes.SignedResult[] memory items)
    {
        items = new IInferenceMarketTypes.SignedResult[](1);
        items[0] = item;
    }

    function _relay(InferenceMarket m, IInferenceMarketTypes.SignedResult[] memory items) internal returns (uint256) {
        vm.prank(stranger);
        return m.submitAttestations(AttestationBatch.encode(items));
    }

    // ---------------------------------------------------------------- log helpers

    struct Rejection {
        uint256 jobId;
        address provider;
        bytes4 reason;
    }

    function _rejections(Vm.Log[] memory logs, address emitter) internal pure returns (Rejection[] memory out) {
        uint256 n;
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == emitter && logs[i].topics[0] == IInferenceMarketTypes.AttestationRejected.selector) ++n;
        }
        out = new Rejection[](n);
        n = 0;
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == emitter && logs[i].topics[0] == IInferenceMarketTypes.AttestationRejected.selector) {
                out[n++] = Rejection({
                    jobId: uint256(logs[i].topics[1]),
                    provider: address(uint160(uint256(logs[i].topics[2]))),
                    reason: abi.decode(logs[i].data, (bytes4))
                });
            }
        }
    }

    function _assertRejection(Rejection memory rj, uint256 id, address p, bytes4 reason, string memory what)
        internal
        pure
    {
        assertEq(rj.jobId, id, string.concat(what, ": jobId"));
        assertEq(rj.provider, p, string.concat(what, ": provider"));
        assertEq(bytes32(rj.reason), bytes32(reason), string.concat(what, ": reason"));
    }

    /// @dev How many events an emitter emitted.
    function _countAll(Vm.Log[] memory logs, address emitter) internal pure returns (uint256 n) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == emitter) ++n;
        }
    }

    /// @dev How many events with `topic0` an emitter emitted.
    function _count(Vm.Log[] memory logs, address emitter, bytes32 topic0) internal pure returns (uint256 n) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == emitter && logs[i].topics[0] == topic0) ++n;
        }
    }

    // ---------------------------------------------------------------- error helpers

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _invalidStatus(uint256 id, IInferenceMarketTypes.JobStatus status) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, id, status);
    }

    function _notFinalizable(uint256 id, IInferenceMarketTypes.JobStatus status) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotFinalizable.selector, id, status);
    }

    function _providerStatus(address p, IProviderRegistry.ProviderStatus status) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInvalidStatus.selector, p, status);
    }

    function _reentrantCall() internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
    }

    uint256 internal constant OPEN = uint256(IInferenceMarketTypes.JobStatus.Open);
    uint256 internal constant REVEALING = uint256(IInferenceMarketTypes.JobStatus.Revealing);
    uint256 internal constant SETTLED = uint256(IInferenceMarketTypes.JobStatus.Settled);
    uint256 internal constant REFUNDED = uint256(IInferenceMarketTypes.JobStatus.Refunded);
    uint256 internal constant K1_DELIVERED = uint256(IInferenceMarketTypes.JobStatus.Delivered);
}

// ==================================================================== requestJob

contract InferenceMarketRequestTest is InferenceMarketFixture {
    function _expectRequestRevert(IInferenceMarketTypes.JobRequest memory r, uint256 value, bytes memory err) internal {
        vm.deal(client, value);
        vm.expectRevert(err);
        vm.prank(client);
        market.requestJob{value: value}(r);
    }

    function _invalidDeadline(uint40 deadline) internal view returns (bytes memory) {
        return abi.encodeWithSelector(
            IInferenceMarketTypes.InferenceMarketInvalidDeadline.selector,
            deadline,
            uint40(block.timestamp + 1),
            uint40(block.timestamp + MAX_DURATION)
        );
    }

    function _notAccepting(bytes32 id, uint32 version) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketVersionNotAccepting.selector, id, version);
    }

    function _string(uint256 length) internal pure returns (string memory) {
        bytes memory b = new bytes(length);
        for (uint256 i = 0; i < length; ++i) b[i] = "a";
        return string(b);
    }

    // ---------------------------------------------------------------- redundancy

    function test_requestJob_revertsWhenRedundancyZero() public {
        _expectRequestRevert(
            _req(0, address(0)),
            0,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidRedundancy.selector, uint8(0), MAX_K)
        );
    }

    function test_requestJob_revertsWhenRedundancyAboveMaximum() public {
        _expectRequestRevert(
            _req(MAX_K + 1, address(0)),
            0,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidRedundancy.selector, MAX_K + 1, MAX_K)
        );
    }

    function test_requestJob_acceptsMaximumRedundancy() public {
        (uint256 id, Job memory job) = _requestEth(MAX_K);
        assertEq(job.redundancy, MAX_K, "k");
        assertEq(address(market).balance, _escrow(MAX_K), "escrow");
        assertEq(_status(id), OPEN, "open");
    }

    // ---------------------------------------------------------------- deadline

    function test_requestJob_revertsWhenDeadlineIsNow() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.deadline = uint40(block.timestamp);
        _expectRequestRevert(r, _escrow(1), _invalidDeadline(r.deadline));
    }

    function test_requestJob_revertsWhenDeadlineInPast() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.deadline = uint40(block.timestamp - 1);
        _expectRequestRevert(r, _escrow(1), _invalidDeadline(r.deadline));
    }

    function test_requestJob_revertsWhenDeadlineBeyondMaxJobDuration() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.deadline = uint40(block.timestamp + MAX_DURATION + 1);
        _expectRequestRevert(r, _escrow(1), _invalidDeadline(r.deadline));
    }

    function test_requestJob_acceptsDeadlineBounds() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.deadline = uint40(block.timestamp + 1);
        (, Job memory early) = _requestAs(client, r);
        r.deadline = uint40(block.timestamp + MAX_DURATION);
        (, Job memory late) = _requestAs(client, r);
        assertEq(early.deadline, START + 1, "earliest deadline");
        assertEq(late.deadline, START + MAX_DURATION, "latest deadline");
    }

    // ---------------------------------------------------------------- input

    function test_requestJob_revertsWhenInputBothInlineAndCid() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.inputCid = INPUT_CID;
        _expectRequestRevert(
            r,
            _escrow(1),
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketInvalidInput.selector, INPUT.length, bytes(INPUT_CID).length
            )
        );
    }

    function test_requestJob_revertsWhenInputNeitherInlineNorCid() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.input = "";
        _expectRequestRevert(
            r, _escrow(1), abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidInput.selector, 0, 0)
        );
    }

    function test_requestJob_revertsWhenInlineInputTooLarge() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.input = new bytes(MAX_INLINE + 1);
        _expectRequestRevert(
            r,
            _escrow(1),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInputTooLarge.selector, MAX_INLINE + 1, MAX_INLINE)
        );
    }

    function test_requestJob_revertsWhenInputCidTooLong() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.input = "";
        r.inputCid = _string(129);
        _expectRequestRevert(
            r, _escrow(1), abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidInput.selector, 0, 129)
        );
    }

    function test_requestJob_acceptsInputAtSizeLimits() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.input = new bytes(MAX_INLINE);
        (, Job memory inlineJob) = _requestAs(client, r);
        assertEq(inlineJob.inputHash, keccak256(new bytes(MAX_INLINE)), "inline input hash");

        r.input = "";
        r.inputCid = _string(128);
        (, Job memory cidJob) = _requestAs(client, r);
        assertEq(cidJob.inputHash, keccak256(bytes(_string(128))), "cid input hash");
    }

    function test_requestJob_cidInputHashesCidBytes() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.input = "";
        r.inputCid = INPUT_CID;
        (uint256 id, Job memory job) = _requestAs(client, r);
        assertEq(job.inputHash, keccak256(bytes(INPUT_CID)), "input hash of CID");
        assertEq(_status(id), OPEN, "open");
    }

    // ---------------------------------------------------------------- version

    function test_requestJob_revertsWhenVersionOnlyPublished() public {
        models.publishVersion(NAME, _versionParams());
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.version = 2;
        _expectRequestRevert(r, _escrow(1), _notAccepting(modelId, 2));
    }

    function test_requestJob_revertsWhenVersionRetired() public {
        models.retireVersion(modelId, 1);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        _expectRequestRevert(r, _escrow(1), _notAccepting(modelId, 1));
    }

    function test_requestJob_revertsWhenVersionZeroAndNoActiveVersion() public {
        models.retireVersion(modelId, 1);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.version = 0;
        _expectRequestRevert(r, _escrow(1), _notAccepting(modelId, 0));
    }

    function test_requestJob_revertsWhenVersionUnknown() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.version = 9;
        _expectRequestRevert(r, _escrow(1), _notAccepting(modelId, 9));
    }

    function test_requestJob_revertsWhenModelUnknown() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.modelId = keccak256("no-such-model");
        r.version = 0;
        _expectRequestRevert(r, _escrow(1), _notAccepting(keccak256("no-such-model"), 0));
    }

    function test_requestJob_deprecatedVersionAcceptedUntilSunset() public {
        models.publishVersion(NAME, _versionParams());
        models.activateVersion(modelId, 2); // v1 Deprecated until START + DEPRECATION
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));

        vm.warp(START + DEPRECATION - 1);
        r.deadline = uint40(block.timestamp + 1 hours);
        (uint256 id, Job memory job) = _requestAs(client, r);
        assertEq(job.version, 1, "deprecated version still takes jobs before its sunset");
        assertEq(_status(id), OPEN, "open");
    }

    function test_requestJob_revertsWhenVersionDeprecatedPastSunset() public {
        models.publishVersion(NAME, _versionParams());
        models.activateVersion(modelId, 2);
        vm.warp(START + DEPRECATION);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        _expectRequestRevert(r, _escrow(1), _notAccepting(modelId, 1));
    }

    // ---------------------------------------------------------------- fee

    function test_requestJob_revertsWhenFeeBelowVersionMinimum() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.feePerProvider = MIN_FEE - 1;
        uint256 escrow = market.escrowOf(1, MIN_FEE - 1, PROTOCOL_FEE_BPS);
        _expectRequestRevert(
            r,
            escrow,
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketFeeBelowMinimum.selector, uint256(MIN_FEE - 1), uint256(MIN_FEE)
            )
        );
    }

    function test_requestJob_acceptsFeeEqualToMinimum() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.feePerProvider = MIN_FEE;
        (, Job memory job) = _requestAs(client, r);
        assertEq(job.feePerProvider, MIN_FEE, "fee");
        assertEq(address(market).balance, market.escrowOf(1, MIN_FEE, PROTOCOL_FEE_BPS), "escrow");
    }

    // ---------------------------------------------------------------- escrow

    function test_requestJob_revertsWhenEthEscrowTooLow() public {
        uint256 escrow = _escrow(1);
        _expectRequestRevert(
            _req(1, address(0)),
            escrow - 1,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketIncorrectEscrow.selector, 1, escrow - 1, escrow)
        );
    }

    function test_requestJob_revertsWhenNoEthSent() public {
        uint256 escrow = _escrow(3);
        _expectRequestRevert(
            _req(3, address(0)),
            0,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketIncorrectEscrow.selector, 1, 0, escrow)
        );
    }

    function test_requestJob_revertsWhenEthEscrowTooHigh() public {
        uint256 escrow = _escrow(1);
        _expectRequestRevert(
            _req(1, address(0)),
            escrow + 1,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketIncorrectEscrow.selector, 1, escrow + 1, escrow)
        );
    }

    function test_requestJob_revertsWhenEthSentWithTokenJob() public {
        uint256 escrow = _escrow(1);
        payToken.mint(client, escrow);
        vm.prank(client);
        payToken.approve(address(market), escrow);
        _expectRequestRevert(
            _req(1, address(payToken)),
            1,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketIncorrectEscrow.selector, 1, 1, 0)
        );
        assertEq(payToken.balanceOf(client), escrow, "no tokens pulled");
    }

    function test_requestJob_revertsWhenTokenNotAllowed() public {
        MockERC20 other = new MockERC20("Other", "OTH", 18);
        other.mint(client, _escrow(1));
        vm.prank(client);
        other.approve(address(market), _escrow(1));
        _expectRequestRevert(
            _req(1, address(other)),
            0,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketTokenNotAllowed.selector, address(other))
        );
    }

    function test_requestJob_revertsWhenTokenDisallowedAgain() public {
        _court().setTokenAllowed(address(payToken), false, 0);
        assertFalse(market.isTokenAllowed(address(payToken)), "disallowed");
        _expectRequestRevert(
            _req(1, address(payToken)),
            0,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketTokenNotAllowed.selector, address(payToken))
        );
    }

    function test_requestJob_revertsWhenFeeOnTransferToken() public {
        FeeOnTransferERC20 fot = new FeeOnTransferERC20();
        _court().setTokenAllowed(address(fot), true, 1e18);
        uint256 escrow = _escrow(1);
        fot.mint(client, escrow);
        vm.prank(client);
        fot.approve(address(market), escrow);
        _expectRequestRevert(
            _req(1, address(fot)),
            0,
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketTransferShortfall.selector, address(fot), escrow, escrow - escrow / 100
            )
        );
        assertEq(fot.balanceOf(client), escrow, "nothing moved");
        assertEq(market.nextJobId(), 1, "no job id consumed");
    }

    function test_requestJob_revertsWhenAllowanceMissing() public {
        uint256 escrow = _escrow(1);
        payToken.mint(client, escrow);
        _expectRequestRevert(
            _req(1, address(payToken)),
            0,
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(market), uint256(0), escrow
            )
        );
    }

    function test_requestJob_revertsWhenPaused() public {
        vm.prank(guardian);
        market.pause();
        _expectRequestRevert(_req(1, address(0)), _escrow(1), abi.encodeWithSelector(Pausable.EnforcedPause.selector));
    }

    // ---------------------------------------------------------------- success

    function test_requestJob_escrowsEthAndEmitsJob() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        uint256 escrow = _escrow(1);
        Job memory expected = _expectedJob(market, r, client);
        vm.deal(client, escrow);

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRequested(1, client, modelId, wordsOf(expected), r.input, r.inputCid);
        vm.prank(client);
        uint256 id = market.requestJob{value: escrow}(r);

        assertEq(id, 1, "first job id");
        assertEq(market.nextJobId(), 2, "next id");
        assertEq(escrow, FEE + (uint256(FEE) * PROTOCOL_FEE_BPS) / 10_000, "escrow formula");
        assertEq(address(market).balance, escrow, "market holds the escrow");
        assertEq(client.balance, 0, "client paid");
        (IInferenceMarketTypes.JobStatus status, uint8 seated, uint8 revealed, uint40 startedAt) = market.jobState(id);
        assertEq(uint256(status), OPEN, "open");
        assertEq(seated + revealed + startedAt, 0, "no seats");
        assertEq(expected.commitDeadline, 0, "k = 1 has no commit deadline");
        assertEq(expected.quorum, 0, "k = 1 has no quorum");
        // A k = 1 delivery locks the collateral until its claim; the window is snapshotted too.
        assertEq(expected.collateral, COLLATERAL, "k = 1 snapshots the collateral");
        assertEq(expected.challengeWindow, CHALLENGE_WINDOW, "k = 1 snapshots the challenge window");
    }

    function test_requestJob_escrowsTokenAndEmitsJob() public {
        IInferenceMarketTypes.JobRequest memory r = _req(3, address(payToken));
        uint256 escrow = _escrow(3);
        Job memory expected = _expectedJob(market, r, client);
        payToken.mint(client, escrow + 5);
        vm.prank(client);
        payToken.approve(address(market), type(uint256).max);

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRequested(1, client, modelId, wordsOf(expected), r.input, r.inputCid);
        vm.prank(client);
        uint256 id = market.requestJob(r);

        assertEq(id, 1, "id");
        assertEq(payToken.balanceOf(address(market)), escrow, "market holds exactly the escrow");
        assertEq(payToken.balanceOf(client), 5, "client keeps the rest");
        assertEq(address(market).balance, 0, "no ETH");
    }

    function test_requestJob_idsIncrementAndFailedRequestConsumesNone() public {
        (uint256 a,) = _requestEth(1);
        _expectRequestRevert(
            _req(0, address(0)),
            0,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidRedundancy.selector, uint8(0), MAX_K)
        );
        (uint256 b,) = _request(2, address(payToken));
        assertEq(a, 1, "first");
        assertEq(b, 2, "second");
        assertEq(market.nextJobId(), 3, "next");
    }

    function test_requestJob_versionZeroResolvesToActiveAndIsPinned() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.version = 0;
        (uint256 id, Job memory job) = _requestAs(client, r);
        assertEq(job.version, 1, "resolved to the active version");

        // The DAO activates v2: the job stays on v1, new v0 requests get v2.
        models.publishVersion(NAME, _versionParams());
        models.activateVersion(modelId, 2);
        (, Job memory later) = _requestAs(client, r);
        assertEq(later.version, 2, "later requests resolve to v2");

        Job memory moved = job;
        moved.version = 2;
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, id));
        vm.prank(prov[0]);
        market.submitResult(id, wordsOf(moved), RESULT, OUTPUT);

        job.version = 1;
        _submit(id, job, prov[0]);
        assertEq(_status(id), K1_DELIVERED, "served on the pinned, now deprecated, version");
        _claimPaid(id, job, prov[0]);
        assertEq(_status(id), SETTLED, "and paid");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "fee credited");
    }

    function test_requestJob_snapshotsRoundParametersForRedundantJobs() public {
        uint8[4] memory ks = [2, 3, 4, 7];
        uint8[4] memory quorums = [2, 2, 3, 4];
        for (uint256 i = 0; i < ks.length; ++i) {
            (, Job memory job) = _requestEth(ks[i]);
            assertEq(job.quorum, quorums[i], "quorum = floor(k/2) + 1 at 50 %");
            assertEq(job.commitDeadline, START + COMMIT_WINDOW, "commit deadline = now + commit window");
            assertEq(job.revealWindow, REVEAL_WINDOW, "reveal window");
            assertEq(job.collateral, COLLATERAL, "collateral");
            assertEq(job.protocolFeeBps, PROTOCOL_FEE_BPS, "fee bps");
            assertEq(job.minMemoryMB, MIN_MEMORY, "memory from the version");
            assertEq(job.requestedAt, START, "requestedAt");
        }
    }

    function test_requestJob_commitDeadlineCappedByDeadline() public {
        IInferenceMarketTypes.JobRequest memory r = _req(3, address(0));
        r.deadline = uint40(block.timestamp + COMMIT_WINDOW - 30);
        (, Job memory job) = _requestAs(client, r);
        assertEq(job.commitDeadline, r.deadline, "capped by the client's deadline");
    }

    function test_requestJob_fullQuorumPolicyRequiresEveryProvider() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.quorumBps = 10_000;
        _court().setPolicy(p);
        (, Job memory job) = _requestEth(3);
        assertEq(job.quorum, 3, "quorum capped at k");
    }

    function testFuzz_requestJob_escrowEqualsEscrowOf(uint8 kSeed, uint96 feeSeed, uint16 bpsSeed) public {
        uint8 k = uint8(bound(kSeed, 1, MAX_K));
        uint96 fee = uint96(bound(feeSeed, MIN_FEE, type(uint96).max));
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.protocolFeeBps = uint16(bound(bpsSeed, 0, 1_000));
        _court().setPolicy(p);

        IInferenceMarketTypes.JobRequest memory r = _req(k, address(0));
        r.feePerProvider = fee;
        (, Job memory job) = _requestAs(client, r);
        uint256 fees = uint256(k) * fee;
        uint256 escrow = market.escrowOf(k, fee, p.protocolFeeBps);
        assertEq(escrow, fees + (fees * p.protocolFeeBps) / 10_000, "escrowOf formula");
        assertEq(address(market).balance, escrow, "market holds escrowOf");
        assertEq(job.protocolFeeBps, p.protocolFeeBps, "bps snapshot");
    }
}

// ==================================================================== submitResult (k = 1)

contract InferenceMarketSubmitTest is InferenceMarketFixture {
    function _expectSubmitRevert(uint256 id, Job memory job, address p, bytes memory err) internal {
        vm.expectRevert(err);
        vm.prank(p);
        market.submitResult(id, wordsOf(job), RESULT, OUTPUT);
    }

    function test_submitResult_paysProviderAndTreasury() public {
        (uint256 id, Job memory job) = _requestEth(1);
        address p = prov[0];
        uint256 protocolFee = _escrow(1) - FEE;
        assertEq(protocolFee, 1e16, "1 % of the fee");

        // Delivery: the provider locks the job's collateral; nothing is paid yet.
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralLocked(p, COLLATERAL, COLLATERAL);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ResultSubmitted(id, p, RESULT, OUTPUT);
        vm.recordLogs();
        _submit(id, job, p);
        assertEq(_countAll(vm.getRecordedLogs(), address(market)), 1, "ResultSubmitted says it all");

        (IInferenceMarketTypes.JobStatus status,,, uint40 deliveredAt) = market.jobState(id);
        assertEq(uint256(status), K1_DELIVERED, "delivered");
        assertEq(deliveredAt, block.timestamp, "delivery time");
        assertEq(market.balanceOf(p, address(0)), 0, "no fee before the claim");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee before the claim");
        assertEq(registry.getProvider(p).served, 0, "served only at the claim");
        assertEq(registry.getProvider(p).locked, COLLATERAL, "collateral locked");

        // The last second of the challenge window: not claimable, nothing moves.
        vm.warp(uint256(deliveredAt) + CHALLENGE_WINDOW);
        vm.prank(stranger);
        assertEq(IInferenceMarketCourt(address(market)).claim(_claimItem(id, job, p, RESULT)), 0, "window open");
        assertEq(market.balanceOf(p, address(0)), 0, "still nothing paid");
        assertEq(registry.getProvider(p).locked, COLLATERAL, "still locked");

        // Claim (by anyone) once the window has passed: fee, protocol fee, collateral back.
        vm.warp(uint256(deliveredAt) + CHALLENGE_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.DeliveryClaimed(id, p, FEE);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralReleased(p, COLLATERAL, 0);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.OutcomeRecorded(p, IProviderRegistry.Outcome.Served);
        vm.prank(stranger);
        assertEq(IInferenceMarketCourt(address(market)).claim(_claimItem(id, job, p, RESULT)), 1, "claimed");

        assertEq(_status(id), SETTLED, "settled");
        assertEq(market.balanceOf(p, address(0)), FEE, "provider credited the fee");
        assertEq(market.protocolFees(address(0)), protocolFee, "protocol fee accrued");
        assertEq(market.balanceOf(treasury, address(0)), 0, "the treasury has no balance");
        assertEq(market.balanceOf(client, address(0)), 0, "no refund");
        assertEq(market.balanceOf(stranger, address(0)), 0, "the keeper earns nothing");
        assertEq(registry.getProvider(p).served, 1, "served counter");
        assertEq(registry.getProvider(p).locked, 0, "collateral released");

        vm.prank(p);
        assertEq(market.withdraw(address(0)), FEE, "provider withdraws");
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ProtocolFeesWithdrawn(address(0), treasury, protocolFee);
        vm.prank(treasury);
        assertEq(_court().withdrawProtocolFees(address(0)), protocolFee, "treasury withdraws");
        assertEq(market.protocolFees(address(0)), 0, "fees cleared");
        assertEq(p.balance, FEE, "provider ETH");
        assertEq(treasury.balance, protocolFee, "treasury ETH");
        assertEq(address(market).balance, 0, "market empty");
    }

    function test_submitResult_paysInToken() public {
        (uint256 id, Job memory job) = _request(1, address(payToken));
        _submit(id, job, prov[1]);
        assertEq(market.balanceOf(prov[1], address(payToken)), 0, "nothing before the claim");
        assertEq(market.protocolFees(address(payToken)), 0, "no protocol fee before the claim");
        _claimPaid(id, job, prov[1]);
        assertEq(market.balanceOf(prov[1], address(payToken)), FEE, "provider credited in the token");
        assertEq(market.protocolFees(address(payToken)), _escrow(1) - FEE, "protocol fee accrued in the token");
        assertEq(market.balanceOf(prov[1], address(0)), 0, "no ETH credit");
        assertEq(payToken.balanceOf(address(market)), _escrow(1), "tokens stay until withdrawn");
    }

    function test_submitResult_usesProtocolFeeSnapshot() public {
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.protocolFeeBps = 1_000;
        _court().setPolicy(p);
        _submit(id, job, prov[0]);
        // The fee accrues at the claim, still at the bps of the request.
        p.protocolFeeBps = 500;
        _court().setPolicy(p);
        _claimPaid(id, job, prov[0]);
        assertEq(market.protocolFees(address(0)), 1e16, "fee at the bps of the request");
        assertEq(market.balanceOf(prov[0], address(0)) + 1e16, address(market).balance, "all escrow credited");
    }

    function test_submitResult_revertsOnJobMismatch() public {
        (uint256 id, Job memory job) = _requestEth(1);
        job.feePerProvider = FEE * 2; // a provider trying to get paid more
        _expectSubmitRevert(
            id, job, prov[0], abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, id)
        );
        assertEq(_status(id), OPEN, "still open");
    }

    function test_submitResult_revertsOnUnknownJob() public {
        (, Job memory job) = _requestEth(1);
        _expectSubmitRevert(
            7, job, prov[0], abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, 7)
        );
    }

    function test_submitResult_revertsOnSecondSubmit() public {
        (uint256 id, Job memory job) = _requestEth(1);
        _submit(id, job, prov[0]);
        // A delivered job's word binds the delivery: the market names its status.
        bytes memory delivered = _invalidStatus(id, IInferenceMarketTypes.JobStatus.Delivered);
        _expectSubmitRevert(id, job, prov[1], delivered);
        _expectSubmitRevert(id, job, prov[0], delivered);
        _claimPaid(id, job, prov[0]);
        bytes memory settled = _invalidStatus(id, IInferenceMarketTypes.JobStatus.Settled);
        _expectSubmitRevert(id, job, prov[1], settled);
        _expectSubmitRevert(id, job, prov[0], settled);
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid once");
        assertEq(market.balanceOf(prov[1], address(0)), 0, "second provider not paid");
        assertEq(registry.getProvider(prov[1]).locked, 0, "second provider locked nothing");
    }

    function test_submitResult_revertsAfterRefund() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));
        _expectSubmitRevert(id, job, prov[0], _invalidStatus(id, IInferenceMarketTypes.JobStatus.Refunded));
    }

    function test_submitResult_acceptsAtDeadline() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline);
        _submit(id, job, prov[0]);
        assertEq(_status(id), K1_DELIVERED, "the deadline itself is still in time");
        // The claim comes after the deadline: it is bound to the delivery's window, not to it.
        _claimPaid(id, job, prov[0]);
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
    }

    function test_submitResult_revertsAfterDeadline() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline + 1);
        _expectSubmitRevert(
            id,
            job,
            prov[0],
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector, id, job.deadline)
        );
    }

    function test_submitResult_revertsOnRedundantJob() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _expectSubmitRevert(
            id, job, prov[0], abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketWrongRedundancy.selector, id, 3)
        );
    }

    /// @dev Finding 10: retiring a version used to block delivery of jobs requested before, and
    /// their escrow stayed locked until the deadline. A job pins its version: it is still served.
    function test_submitResult_versionRetiredAfterRequest_stillDelivered() public {
        (uint256 id, Job memory job) = _requestEth(1);
        models.retireVersion(modelId, 1);
        _submit(id, job, prov[0]);
        assertEq(_status(id), K1_DELIVERED, "delivered");
        _claimPaid(id, job, prov[0]);
        assertEq(_status(id), SETTLED, "claimed");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
    }

    function test_cancel_clientGetsEscrowBackOnceVersionRetired() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketVersionStillAccepting.selector, modelId, uint32(1)));
        market.cancel(id, wordsOf(job));

        models.retireVersion(modelId, 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotClient.selector, id, stranger));
        market.cancel(id, wordsOf(job));

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobCancelled(id, _escrow(1));
        vm.prank(client);
        market.cancel(id, wordsOf(job));
        assertEq(_status(id), uint256(IInferenceMarketTypes.JobStatus.Refunded), "ended");
        assertEq(market.balanceOf(client, address(0)), _escrow(1), "escrow credited back");
        _expectSubmitRevert(id, job, prov[0], _invalidStatus(id, IInferenceMarketTypes.JobStatus.Refunded));
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotCancellable.selector, id, IInferenceMarketTypes.JobStatus.Refunded));
        market.cancel(id, wordsOf(job));
    }

    function test_cancel_afterSunset_andNotOnceDelivered() public {
        (uint256 id, Job memory job) = _requestEth(1);
        (uint256 done, Job memory doneJob) = _requestEth(1);
        _submit(done, doneJob, prov[0]);
        // A newer version makes v1 Deprecated; past its sunset it takes no jobs.
        models.publishVersion(NAME, _versionParams());
        models.activateVersion(modelId, 2);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketVersionStillAccepting.selector, modelId, uint32(1)));
        market.cancel(id, wordsOf(job));
        vm.warp(models.getVersion(modelId, 1).sunsetAt);
        vm.prank(client);
        market.cancel(id, wordsOf(job));
        assertEq(market.balanceOf(client, address(0)), _escrow(1), "refunded");
        // Delivered, then claimed: not cancellable, by status.
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotCancellable.selector, done, IInferenceMarketTypes.JobStatus.Delivered));
        market.cancel(done, wordsOf(doneJob));
        _claimPaid(done, doneJob, prov[0]);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotCancellable.selector, done, IInferenceMarketTypes.JobStatus.Settled));
        market.cancel(done, wordsOf(doneJob));
        assertEq(market.balanceOf(client, address(0)), _escrow(1), "only the open job refunded");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "the delivered job paid");
    }

    function test_submitResult_jobWithoutRequiredTagsAcceptsAnyTags() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.requiredTags = 0;
        (uint256 id, Job memory job) = _requestAs(client, r);
        _submit(id, job, fewTags);
        _claimPaid(id, job, fewTags);
        assertEq(market.balanceOf(fewTags, address(0)), FEE, "paid");
    }
}

// ==================================================================== submitAttestations

contract InferenceMarketAttestationTest is InferenceMarketFixture {
    function test_attestationDigest_isEip712OverTheAttestation() public view {
        Job memory job;
        job.modelId = modelId;
        job.version = 3;
        job.inputHash = keccak256(INPUT);
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("ConclaveInferenceMarket"),
                keccak256("1"),
                block.chainid,
                address(market)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Attestation(uint256 jobId,bytes32 modelId,uint32 version,bytes32 inputHash,bytes32 resultHash,bytes outputRef)"
                ),
                uint256(42),
                modelId,
                uint32(3),
                keccak256(INPUT),
                RESULT,
                keccak256(OUTPUT)
            )
        );
        assertEq(
            market.attestationDigest(42, wordsOf(job), RESULT, OUTPUT),
            keccak256(abi.encodePacked("\x19\x01", domain, structHash)),
            "digest"
        );
        assertEq(market.ATTESTATION_TYPEHASH(), keccak256(
            "Attestation(uint256 jobId,bytes32 modelId,uint32 version,bytes32 inputHash,bytes32 resultHash,bytes outputRef)"
        ), "typehash");
    }

    function test_submitAttestations_emptyBatchDeliversNothing() public {
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](0);
        assertEq(_relay(market, items), 0, "nothing delivered");
    }

    function test_submitAttestations_deliversRunAndCreditsOnce() public {
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](3);
        IInferenceMarketTypes.Claim[] memory claims = new IInferenceMarketTypes.Claim[](3);
        for (uint256 i = 0; i < 3; ++i) {
            (uint256 id, Job memory job) = _requestEth(1);
            items[i] = _sign(market, pks[0], id, job, RESULT);
            claims[i] = _claimItem(id, job, prov[0], RESULT)[0];
        }
        vm.recordLogs();
        uint256 delivered = _relay(market, items);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(delivered, 3, "three delivered");
        for (uint256 i = 1; i <= 3; ++i) assertEq(_status(i), K1_DELIVERED, "delivered");
        assertEq(_count(logs, address(market), IInferenceMarketTypes.ResultSubmitted.selector), 3, "three results");
        assertEq(_countAll(logs, address(market)), 3, "no event beyond the results");
        assertEq(_count(logs, address(registry), IProviderRegistry.CollateralLocked.selector), 1, "one lock for the run");
        assertEq(registry.getProvider(prov[0]).locked, 3 * uint256(COLLATERAL), "three collaterals locked");
        assertEq(market.balanceOf(prov[0], address(0)), 0, "nothing paid before the claim");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee before the claim");

        assertEq(_claimBatch(claims), 3, "three claimed");
        for (uint256 i = 1; i <= 3; ++i) assertEq(_status(i), SETTLED, "settled");
        assertEq(registry.getProvider(prov[0]).locked, 0, "collateral released");
        assertEq(market.balanceOf(prov[0], address(0)), 3 * uint256(FEE), "three fees");
        assertEq(market.protocolFees(address(0)), 3 * (_escrow(1) - FEE), "three protocol fees");
        assertEq(market.balanceOf(stranger, address(0)), 0, "the relayer earns nothing");
        assertEq(registry.getProvider(prov[0]).served, 3, "served += 3");
    }

    function test_submitAttestations_countsOncePerProvider() public {
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](6);
        // p0 ETH, p0 ETH, p1 ETH, p0 token, p0 token, p0 ETH: one counter write per provider.
        address[6] memory tokens = [address(0), address(0), address(0), address(payToken), address(payToken), address(0)];
        uint256[6] memory signer = [uint256(0), 0, 1, 0, 0, 0];
        IInferenceMarketTypes.Claim[] memory claims = new IInferenceMarketTypes.Claim[](6);
        for (uint256 i = 0; i < 6; ++i) {
            (uint256 id, Job memory job) = _request(1, tokens[i]);
            items[i] = _sign(market, pks[signer[i]], id, job, RESULT);
            claims[i] = _claimItem(id, job, prov[signer[i]], RESULT)[0];
        }
        vm.recordLogs();
        assertEq(_relay(market, items), 6, "all delivered");
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(_countAll(logs, address(market)), 6, "one event per result");
        assertEq(_count(logs, address(registry), IProviderRegistry.CollateralLocked.selector), 2, "one write per provider");
        assertEq(registry.getProvider(prov[0]).locked, 5 * uint256(COLLATERAL), "p0 locked five collaterals");
        assertEq(registry.getProvider(prov[1]).locked, COLLATERAL, "p1 locked one");
        assertEq(market.balanceOf(prov[0], address(0)) + market.balanceOf(prov[1], address(0)), 0, "unpaid until claimed");

        assertEq(_claimBatch(claims), 6, "all claimed");
        assertEq(market.balanceOf(prov[0], address(0)), 3 * uint256(FEE), "p0 ETH");
        assertEq(market.balanceOf(prov[0], address(payToken)), 2 * uint256(FEE), "p0 token");
        assertEq(market.balanceOf(prov[1], address(0)), FEE, "p1 ETH");
        assertEq(registry.getProvider(prov[0]).served, 5, "p0 served");
        assertEq(registry.getProvider(prov[1]).served, 1, "p1 served");
    }

    function test_submitAttestations_skipsBadItemsAndDeliversGoodOnes() public {
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](7);
        Job memory job;
        // 1: good.
        (, job) = _requestEth(1);
        items[0] = _sign(market, pks[0], 1, job, RESULT);
        // 2: malformed signature (64 bytes).
        (, job) = _requestEth(1);
        items[1] = _sign(market, pks[0], 2, job, RESULT);
        bytes memory sig = items[1].signature;
        assembly ("memory-safe") {
            mstore(sig, 64)
        }
        // 3: signed, but the job struct passed is not the job's.
        (, job) = _requestEth(1);
        job.deadline += 1 days;
        items[2] = _sign(market, pks[0], 3, job, RESULT);
        // 4: already delivered by another provider.
        (, job) = _requestEth(1);
        items[3] = _sign(market, pks[0], 4, job, RESULT);
        _submit(4, job, prov[1]);
        IInferenceMarketTypes.Claim[] memory claims = new IInferenceMarketTypes.Claim[](3);
        claims[0] = _claimItem(4, job, prov[1], RESULT)[0];
        // 5: signed by a provider the DAO never approved.
        (, job) = _requestEth(1);
        items[4] = _sign(market, PENDING_PK, 5, job, RESULT);
        // 6: deadline passed.
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.deadline = uint40(block.timestamp + 10);
        (, job) = _requestAs(client, r);
        items[5] = _sign(market, pks[0], 6, job, RESULT);
        // 7: good.
        (, job) = _requestEth(1);
        items[6] = _sign(market, pks[0], 7, job, RESULT);
        claims[1] = _claimItem(1, jobFromWords(items[0].job), prov[0], RESULT)[0];
        claims[2] = _claimItem(7, job, prov[0], RESULT)[0];

        vm.warp(block.timestamp + 11);
        uint256 marketEth = address(market).balance;
        uint256 feesBefore = market.protocolFees(address(0));
        vm.recordLogs();
        uint256 delivered = _relay(market, items);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(delivered, 2, "two delivered");
        Rejection[] memory rj = _rejections(logs, address(market));
        assertEq(rj.length, 5, "five rejected");
        _assertRejection(rj[0], 2, address(0), IInferenceMarketTypes.InferenceMarketInvalidSignature.selector, "bad sig");
        _assertRejection(rj[1], 3, prov[0], IInferenceMarketTypes.InferenceMarketJobMismatch.selector, "wrong job");
        // A delivered job's word binds the delivery: the job's own parameters no longer match.
        _assertRejection(rj[2], 4, prov[0], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, "delivered");
        _assertRejection(
            rj[3], 5, pending, IProviderRegistry.ProviderRegistryInvalidStatus.selector, "unapproved signer"
        );
        _assertRejection(rj[4], 6, prov[0], IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector, "late");

        assertEq(_status(1), K1_DELIVERED, "1 delivered");
        assertEq(_status(7), K1_DELIVERED, "7 delivered");
        assertEq(registry.getProvider(prov[0]).locked, 2 * uint256(COLLATERAL), "p0 locked for two");
        assertEq(registry.getProvider(pending).locked, 0, "pending locked nothing");
        assertEq(market.balanceOf(prov[0], address(0)), 0, "p0 unpaid before the claims");
        assertEq(_claimBatch(claims), 3, "jobs 4, 1 and 7 claimed");
        assertEq(_status(2), OPEN, "2 unchanged");
        assertEq(_status(3), OPEN, "3 unchanged");
        assertEq(_status(5), OPEN, "5 unchanged");
        assertEq(_status(6), OPEN, "6 unchanged");
        assertEq(market.balanceOf(prov[0], address(0)), 2 * uint256(FEE), "p0 paid for two");
        assertEq(market.balanceOf(prov[1], address(0)), FEE, "job 4 paid once, to p1");
        assertEq(market.balanceOf(pending, address(0)), 0, "pending unpaid");
        // Runs: [p0: 1 (2, 3, 4 rejected)] [pending: none] [p0: 6 rejected, 7].
        assertEq(_count(logs, address(market), IInferenceMarketTypes.ResultSubmitted.selector), 2, "two results");
        // Jobs 1, 7 and (p1's) 4 are claimed: the rejected items accrue nothing.
        assertEq(
            market.protocolFees(address(0)) - feesBefore, 3 * (_escrow(1) - FEE), "protocol fee for delivered items only"
        );
        assertEq(registry.getProvider(prov[0]).served, 2, "p0 served 2");
        assertEq(registry.getProvider(pending).served, 0, "pending served 0");
        assertEq(address(market).balance, marketEth, "no ETH moved");
    }

    function test_submitAttestations_rejectsIneligibleSigners() public {
        registry.suspendProvider(prov[5]);
        vm.prank(prov[6]);
        registry.requestExit();
        uint256[5] memory keys = [pks[5], pks[6], LOW_MEMORY_PK, FEW_TAGS_PK, OUTSIDER_PK];
        address[5] memory signers = [prov[5], prov[6], lowMemory, fewTags, outsider];
        bytes4[5] memory reasons = [
            IProviderRegistry.ProviderRegistryInvalidStatus.selector,
            IProviderRegistry.ProviderRegistryInvalidStatus.selector,
            IProviderRegistry.ProviderRegistryInsufficientMemory.selector,
            IProviderRegistry.ProviderRegistryMissingTags.selector,
            IProviderRegistry.ProviderRegistryInvalidStatus.selector
        ];
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](6);
        for (uint256 i = 0; i < 5; ++i) {
            (uint256 id, Job memory job) = _requestEth(1);
            items[i] = _sign(market, keys[i], id, job, RESULT);
        }
        (uint256 kId, Job memory kJob) = _requestEth(3);
        items[5] = _sign(market, pks[0], kId, kJob, RESULT);

        vm.recordLogs();
        assertEq(_relay(market, items), 0, "nothing delivered");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        assertEq(rj.length, 6, "six rejected");
        for (uint256 i = 0; i < 5; ++i) {
            _assertRejection(rj[i], i + 1, signers[i], reasons[i], "ineligible");
            assertEq(_status(i + 1), OPEN, "unchanged");
            assertEq(market.balanceOf(signers[i], address(0)), 0, "unpaid");
        }
        _assertRejection(rj[5], kId, prov[0], IInferenceMarketTypes.InferenceMarketWrongRedundancy.selector, "k > 1");
        assertEq(_status(kId), OPEN, "k > 1 job unchanged");
    }

    function test_submitAttestations_versionRetiredAfterRequest_stillDelivered() public {
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id, job, RESULT);
        models.retireVersion(modelId, 1);
        assertEq(_relay(market, _one(item)), 1, "delivered");
        assertEq(_status(id), K1_DELIVERED, "delivered");
        _claimPaid(id, job, prov[0]);
        assertEq(_status(id), SETTLED, "settled");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
    }

    function test_submitAttestations_rejectsSignatureOverOtherResult() public {
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id, job, RESULT);
        item.resultHash = OTHER_RESULT; // tampered by the relayer
        address signer = _recovered(market, item);
        assertTrue(signer != prov[0], "recovers to someone else");

        vm.recordLogs();
        assertEq(_relay(market, _one(item)), 0, "rejected");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(rj[0], id, signer, IProviderRegistry.ProviderRegistryInvalidStatus.selector, "tampered");
        assertEq(_status(id), OPEN, "open");
        assertEq(market.balanceOf(prov[0], address(0)), 0, "unpaid");
    }

    function test_submitAttestations_cannotReplayOnAnotherJob() public {
        // Two jobs with identical parameters: only the id (and so the assignment seed) differs.
        (uint256 id1, Job memory job1) = _requestEth(1);
        (uint256 id2, Job memory job2) = _requestEth(1);
        Job memory job2SameSeed = _copy(job2);
        job2SameSeed.seed = job1.seed;
        assertEq(keccak256(abi.encode(job1)), keccak256(abi.encode(job2SameSeed)), "identical but for the seed");

        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id1, job1, RESULT);
        IInferenceMarketTypes.SignedResult memory replay = _sign(market, pks[0], id1, job1, RESULT);
        // The attestation does not cover the seed: the same signature, job 2's own parameters.
        replay.jobId = id2;
        replay.job = wordsOf(job2);
        address signer = _recovered(market, replay);
        assertTrue(signer != prov[0], "the signature does not bind job 2");

        vm.recordLogs();
        assertEq(_relay(market, _one(replay)), 0, "replay rejected");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(rj[0], id2, signer, IProviderRegistry.ProviderRegistryInvalidStatus.selector, "replay");
        assertEq(_status(id2), OPEN, "job 2 open");

        assertEq(_relay(market, _one(item)), 1, "original delivered");
        vm.recordLogs();
        assertEq(_relay(market, _one(item)), 0, "same item twice rejected");
        rj = _rejections(vm.getRecordedLogs(), address(market));
        // A delivered job's word binds the delivery: the job's own parameters no longer match.
        _assertRejection(rj[0], id1, prov[0], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, "delivered");
        assertEq(registry.getProvider(prov[0]).locked, COLLATERAL, "locked once");
        _claimPaid(id1, job1, prov[0]);
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid once");
    }

    function _copy(Job memory job) internal pure returns (Job memory) {
        return abi.decode(abi.encode(job), (Job));
    }

    function test_submitAttestations_cannotReplayOnAnotherMarket() public {
        InferenceMarket other = new InferenceMarket(address(this), guardian, models, registry, treasury, _defaultPolicy(), _defaultChallengePolicy(), address(new InferenceMarketCourt(models, registry)));
        registry.grantRole(registry.MARKET_ROLE(), address(other));
        (uint256 id, Job memory job) = _requestEth(1);
        (uint256 otherId, Job memory otherJob) = _requestOn(other, client, _req(1, address(0)));
        assertEq(id, otherId, "same id");
        assertEq(keccak256(abi.encode(job)), keccak256(abi.encode(otherJob)), "same job struct");

        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id, job, RESULT);
        address signer = _recovered(other, item);
        assertTrue(signer != prov[0], "the domain binds the market");
        vm.recordLogs();
        assertEq(_relay(other, _one(item)), 0, "rejected by the other market");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(other));
        _assertRejection(rj[0], id, signer, IProviderRegistry.ProviderRegistryInvalidStatus.selector, "other market");
        (IInferenceMarketTypes.JobStatus status,,,) = other.jobState(otherId);
        assertEq(uint256(status), OPEN, "other market's job open");
        assertEq(other.balanceOf(prov[0], address(0)), 0, "unpaid there");

        assertEq(_relay(market, _one(item)), 1, "accepted where it was signed");
        assertEq(_relay(other, _one(_sign(other, pks[0], otherId, otherJob, RESULT))), 1, "control: other's own");
    }

    function test_submitAttestations_cannotReplayOnAnotherChain() public {
        uint256 chainId = block.chainid;
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[0], id, job, RESULT);

        vm.chainId(chainId + 1);
        address signer = _recovered(market, item);
        assertTrue(signer != prov[0], "the domain binds the chain");
        vm.recordLogs();
        assertEq(_relay(market, _one(item)), 0, "rejected on another chain");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        _assertRejection(rj[0], id, signer, IProviderRegistry.ProviderRegistryInvalidStatus.selector, "other chain");
        assertEq(_status(id), OPEN, "open");

        vm.chainId(chainId);
        assertEq(_relay(market, _one(item)), 1, "accepted on its own chain");
    }

    /// @dev Each delivered item locks the job's collateral: a batch counts a provider's free stake
    /// down item by item, rejects the item that would overdraw it and delivers the rest.
    function test_submitAttestations_rejectsItemBeyondFreeStake() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        uint256 c = (STAKE * 2) / 5; // two fit in a stake, three do not
        p.collateralPerJob = uint128(c);
        _court().setPolicy(p);
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](4);
        Job[4] memory jobs;
        for (uint256 i = 0; i < 4; ++i) {
            (, jobs[i]) = _requestEth(1);
            items[i] = _sign(market, pks[i == 3 ? 1 : 0], i + 1, jobs[i], RESULT);
        }
        vm.recordLogs();
        assertEq(_relay(market, items), 3, "three delivered");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        Rejection[] memory rj = _rejections(logs, address(market));
        assertEq(rj.length, 1, "one rejected");
        _assertRejection(
            rj[0], 3, prov[0], IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector, "overdraws"
        );
        assertEq(_status(3), OPEN, "job 3 still open");
        assertEq(_status(4), K1_DELIVERED, "the batch went on");
        assertEq(registry.getProvider(prov[0]).locked, 2 * c, "p0 locked two collaterals");
        assertEq(registry.getProvider(prov[1]).locked, c, "p1 locked one");
        assertEq(_count(logs, address(registry), IProviderRegistry.CollateralLocked.selector), 2, "one lock per provider");

        // A claim releases its collateral: p0 can now take job 3.
        _claimPaid(1, jobs[0], prov[0]);
        assertEq(_relay(market, _one(items[2])), 1, "delivered once stake is free");
        assertEq(registry.getProvider(prov[0]).locked, 2 * c, "p0 locked two again");
    }

    function test_submitAttestations_sameJobTwiceInBatchPaysOnce() public {
        (uint256 id, Job memory job) = _requestEth(1);
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](2);
        items[0] = _sign(market, pks[0], id, job, RESULT);
        items[1] = _sign(market, pks[1], id, job, RESULT);
        vm.recordLogs();
        assertEq(_relay(market, items), 1, "first wins");
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        // Delivered by the first item: the job's word binds that delivery, not the job.
        _assertRejection(rj[0], id, prov[1], IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, "second");
        assertEq(registry.getProvider(prov[1]).locked, 0, "p1 locked nothing");
        _claimPaid(id, job, prov[0]);
        assertEq(_claimBatch(_claimItem(id, job, prov[1], RESULT)), 0, "p1 cannot claim it");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "p0 paid");
        assertEq(market.balanceOf(prov[1], address(0)), 0, "p1 not");
    }
}

// ==================================================================== eligibility (both entry points)

/// @notice The registry's eligibility checks as both entry points that take work refuse them, a
/// k = 1 delivery ({IInferenceMarket-submitResult}) and a k > 1 commit: each reason is listed once.
contract InferenceMarketEligibilityTest is InferenceMarketFixture {
    function test_submitResult_refusesEveryIneligibleProvider() public {
        _checkEligibility(1);
    }

    function test_commit_refusesEveryIneligibleProvider() public {
        _checkEligibility(3);
    }

    function _checkEligibility(uint8 k) private {
        (uint256 id, Job memory job) = _requestEth(k);
        _expectServeRevert(id, job, outsider, _providerStatus(outsider, IProviderRegistry.ProviderStatus.None));
        _expectServeRevert(id, job, pending, _providerStatus(pending, IProviderRegistry.ProviderStatus.Pending));
        _expectServeRevert(
            id, job, fewTags, abi.encodeWithSelector(IProviderRegistry.ProviderRegistryMissingTags.selector, fewTags, uint256(0x2))
        );
        _expectServeRevert(
            id,
            job,
            lowMemory,
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInsufficientMemory.selector, lowMemory, uint32(1024), MIN_MEMORY)
        );
        registry.suspendProvider(prov[0]);
        _expectServeRevert(id, job, prov[0], _providerStatus(prov[0], IProviderRegistry.ProviderStatus.Suspended));
        vm.prank(prov[1]);
        registry.requestExit();
        _expectServeRevert(
            id,
            job,
            prov[1],
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryExiting.selector, prov[1], uint40(block.timestamp + UNBONDING))
        );
        // A collateral above the whole stake: no free stake covers a seat.
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = uint128(STAKE + 1);
        _court().setPolicy(p);
        (uint256 id2, Job memory job2) = _requestEth(k);
        _expectServeRevert(
            id2,
            job2,
            prov[2],
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector, prov[2], STAKE, STAKE + 1)
        );
        assertEq(_status(id), OPEN, "still open");
        assertEq(_status(id2), OPEN, "still open");
    }

    /// @dev Expects `p` to be refused `err` when it serves job `id`: a delivery for k = 1, a commit otherwise.
    function _expectServeRevert(uint256 id, Job memory job, address p, bytes memory err) private {
        bytes32 c = _commitment(id, p, RESULT, _salt(p));
        vm.expectRevert(err);
        vm.prank(p);
        if (job.redundancy == 1) market.submitResult(id, wordsOf(job), RESULT, OUTPUT);
        else market.commit(id, wordsOf(job), c);
    }
}

// ==================================================================== commit / reveal (k > 1)

contract InferenceMarketCommitRevealTest is InferenceMarketFixture {
    function _expectCommitRevert(uint256 id, Job memory job, address p, bytes memory err) internal {
        bytes32 c = _commitment(id, p, RESULT, _salt(p));
        vm.expectRevert(err);
        vm.prank(p);
        market.commit(id, wordsOf(job), c);
    }

    function _expectRevealRevert(
        uint256 id,
        Job memory job,
        address p,
        uint8 seat,
        bytes32 result,
        bytes32 salt,
        bytes memory err
    ) internal {
        vm.expectRevert(err);
        vm.prank(p);
        market.reveal(id, wordsOf(job), seat, result, salt, OUTPUT);
    }

    /// @dev Requests a k-job and seats providers 0..k-1, committing `results[i]`.
    function _seatAll(uint8 k, bytes32[] memory results) internal returns (uint256 id, Job memory job) {
        (id, job) = _requestEth(k);
        for (uint256 i = 0; i < k; ++i) {
            assertEq(_commit(id, job, prov[i], results[i]), i, "seat index");
        }
    }

    function _results3(bytes32 a, bytes32 b, bytes32 c) internal pure returns (bytes32[] memory r) {
        r = new bytes32[](3);
        (r[0], r[1], r[2]) = (a, b, c);
    }

    function _stake(address p) internal view returns (uint256) {
        return registry.getProvider(p).stake;
    }

    function _locked(address p) internal view returns (uint256) {
        return registry.getProvider(p).locked;
    }

    // ---------------------------------------------------------------- commit

    function test_commit_seatsProviderAndLocksCollateral() public {
        (uint256 id, Job memory job) = _requestEth(3);
        bytes32 c = _commitment(id, prov[0], RESULT, _salt(prov[0]));

        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralLocked(prov[0], COLLATERAL, COLLATERAL);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatCommitted(id, prov[0], 0, c);
        vm.prank(prov[0]);
        uint8 seat = market.commit(id, wordsOf(job), c);

        assertEq(seat, 0, "first seat");
        (address p, bool revealed, bytes32 value) = market.seatOf(id, 0);
        assertEq(p, prov[0], "seat provider");
        assertFalse(revealed, "not revealed");
        assertEq(value, keccak256(abi.encode(c, prov[0])), "commitment stored, bound to its provider");
        assertEq(_locked(prov[0]), COLLATERAL, "collateral locked");
        assertEq(_stake(prov[0]), STAKE, "stake unchanged");
        assertEq(_status(id), OPEN, "still open");
        assertEq(_seated(id), 1, "one seated");
        assertEq(_commit(id, job, prov[1], RESULT), 1, "second seat");
    }

    function test_commit_lastSeatStartsReveal() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        vm.warp(START + 30);
        _commit(id, job, prov[1], RESULT);
        bytes32 c = _commitment(id, prov[2], RESULT, _salt(prov[2]));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.RevealStarted(id, uint40(START + 30 + REVEAL_WINDOW));
        vm.prank(prov[2]);
        market.commit(id, wordsOf(job), c);
        assertEq(_status(id), REVEALING, "revealing");
        assertEq(_seated(id), 3, "three seated");
        assertEq(_revealStart(id), START + 30, "reveal starts at the last commit");
    }

    function test_commit_revertsWhenAlreadySeated() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _expectCommitRevert(
            id,
            job,
            prov[0],
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadySeated.selector, id, prov[0])
        );
        assertEq(_locked(prov[0]), COLLATERAL, "locked once");
    }

    function test_commit_revertsOnSingleRedundancyJob() public {
        (uint256 id, Job memory job) = _requestEth(1);
        _expectCommitRevert(
            id, job, prov[0], abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketWrongRedundancy.selector, id, 1)
        );
    }

    function test_commit_revertsOnJobMismatch() public {
        (uint256 id, Job memory job) = _requestEth(3);
        job.collateral = 0; // a provider trying to lock nothing
        _expectCommitRevert(
            id, job, prov[0], abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, id)
        );
    }

    function test_commit_acceptsAtCommitDeadline() public {
        (uint256 id, Job memory job) = _requestEth(3);
        vm.warp(job.commitDeadline);
        assertEq(_commit(id, job, prov[0], RESULT), 0, "the deadline itself is in time");
    }

    function test_commit_revertsAfterCommitDeadline() public {
        (uint256 id, Job memory job) = _requestEth(3);
        vm.warp(job.commitDeadline + 1);
        _expectCommitRevert(
            id,
            job,
            prov[0],
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketDeadlinePassed.selector, id, job.commitDeadline)
        );
    }

    function test_commit_revertsWhenSeatsFull() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _expectCommitRevert(id, job, prov[3], _invalidStatus(id, IInferenceMarketTypes.JobStatus.Revealing));
        assertEq(_locked(prov[3]), 0, "nothing locked");
    }

    function test_commit_versionRetiredAfterRequest_stillServed() public {
        (uint256 id, Job memory job) = _requestEth(3);
        models.retireVersion(modelId, 1);
        uint8[3] memory seats;
        for (uint256 i = 0; i < 3; ++i) seats[i] = _commit(id, job, prov[i], RESULT);
        for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], seats[i], RESULT);
        assertEq(_status(id), uint256(IInferenceMarketTypes.JobStatus.Settled), "settled");
    }

    function test_cancel_openK3Job_releasesSeatsWithoutFault() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        assertEq(_locked(prov[0]), COLLATERAL, "locked by the seat");
        models.retireVersion(modelId, 1);
        vm.prank(client);
        market.cancel(id, wordsOf(job));
        assertEq(_locked(prov[0]), 0, "released");
        assertEq(_stake(prov[0]), STAKE, "not slashed");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "refunded");
        (address seatProvider,,) = market.seatOf(id, 0);
        assertEq(seatProvider, address(0), "seats cleared");
    }

    function test_cancel_revealingJob_reverts() public {
        (uint256 id, Job memory job) = _requestEth(3);
        for (uint256 i = 0; i < 3; ++i) _commit(id, job, prov[i], RESULT);
        models.retireVersion(modelId, 1);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotCancellable.selector, id, IInferenceMarketTypes.JobStatus.Revealing));
        market.cancel(id, wordsOf(job));
    }

    function test_commit_locksCollateralSnapshotNotCurrentPolicy() public {
        (uint256 id, Job memory job) = _requestEth(3);
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = 500e18;
        _court().setPolicy(p);
        _commit(id, job, prov[0], RESULT);
        assertEq(_locked(prov[0]), COLLATERAL, "collateral of the request");
    }

    // ---------------------------------------------------------------- reveal

    function test_reveal_revertsWhileCommitOpen() public {
        (uint256 id, Job memory job) = _requestEth(3);
        uint8 seat = _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        _expectRevealRevert(
            id, job, prov[0], seat, RESULT, _salt(prov[0]), _invalidStatus(id, IInferenceMarketTypes.JobStatus.Open)
        );
    }

    function test_reveal_revertsWhenCommitClosedWithoutQuorum() public {
        (uint256 id, Job memory job) = _requestEth(3);
        uint8 seat = _commit(id, job, prov[0], RESULT);
        vm.warp(job.commitDeadline + 1);
        _expectRevealRevert(
            id, job, prov[0], seat, RESULT, _salt(prov[0]), _invalidStatus(id, IInferenceMarketTypes.JobStatus.Open)
        );
    }

    function test_reveal_revertsOnJobMismatch() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        job.quorum = 1;
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, id)
        );
    }

    function test_reveal_revertsOnWrongSalt() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            keccak256("wrong salt"),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, id, prov[0])
        );
    }

    function test_reveal_revertsOnWrongResult() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            OTHER_RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, id, prov[0])
        );
    }

    function test_reveal_revertsWhenNotSeated() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _expectRevealRevert(
            id,
            job,
            prov[3],
            0,
            RESULT,
            _salt(prov[3]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotSeated.selector, id, 0, prov[3])
        );
        // A seated provider naming someone else's seat, or a seat that does not exist.
        _expectRevealRevert(
            id,
            job,
            prov[0],
            1,
            RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotSeated.selector, id, 1, prov[0])
        );
        _expectRevealRevert(
            id,
            job,
            prov[0],
            5,
            RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotSeated.selector, id, 5, prov[0])
        );
    }

    function test_reveal_revertsOnDoubleReveal() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketAlreadyRevealed.selector, id, prov[0])
        );
        assertEq(_revealed(id), 1, "counted once");
    }

    function test_reveal_acceptsAtRevealDeadline() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        vm.warp(START + REVEAL_WINDOW);
        _reveal(id, job, prov[0], 0, RESULT);
        assertEq(_revealed(id), 1, "the deadline itself is in time");
    }

    function test_reveal_revertsAfterRevealWindow() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        vm.warp(START + REVEAL_WINDOW + 1);
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketRevealClosed.selector, id, uint40(START + REVEAL_WINDOW)
            )
        );
    }

    function test_reveal_storesResultAndEmits() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ResultRevealed(id, prov[1], RESULT, OUTPUT);
        _reveal(id, job, prov[1], 1, RESULT);
        (address p, bool revealed, bytes32 value) = market.seatOf(id, 1);
        assertEq(p, prov[1], "provider");
        assertTrue(revealed, "revealed");
        assertEq(value, RESULT, "value is now the result hash");
        assertEq(_status(id), REVEALING, "still revealing");
    }

    // ---------------------------------------------------------------- settlement

    function test_reveal_allAgreeSettlesAndPaysEveryone() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        uint256 protocolFee = (3 * uint256(FEE) * PROTOCOL_FEE_BPS) / 10_000;
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobSettled(id, RESULT, 3, 0);
        _reveal(id, job, prov[2], 2, RESULT);

        assertEq(_status(id), SETTLED, "settled");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(market.balanceOf(prov[i], address(0)), FEE, "fee");
            assertEq(_locked(prov[i]), 0, "collateral released");
            assertEq(_stake(prov[i]), STAKE, "not slashed");
            assertEq(registry.getProvider(prov[i]).served, 1, "served");
        }
        assertEq(market.protocolFees(address(0)), protocolFee, "protocol fee");
        assertEq(market.balanceOf(client, address(0)), 0, "no refund");
        assertEq(_escrow(3), 3 * uint256(FEE) + protocolFee, "all escrow accounted");
        assertEq(registry.slashedFunds(), 0, "nothing slashed");
    }

    function test_reveal_allAgreeRefundsOnlyRounding() public {
        // fee 333, 1 %: escrow = 999 + 9; paid 999, protocol 9, refund 0.
        IModelRegistry.VersionParams memory vp = _versionParams();
        vp.minFee = 0;
        models.publishVersion(NAME, vp);
        models.activateVersion(modelId, 2);
        IInferenceMarketTypes.JobRequest memory r = _req(3, address(0));
        r.version = 2;
        r.feePerProvider = 333;
        (uint256 id, Job memory job) = _requestAs(client, r);
        for (uint256 i = 0; i < 3; ++i) _commit(id, job, prov[i], RESULT);
        for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], uint8(i), RESULT);
        uint256 credited = market.protocolFees(address(0)) + market.balanceOf(client, address(0));
        for (uint256 i = 0; i < 3; ++i) credited += market.balanceOf(prov[i], address(0));
        assertEq(credited, address(market).balance, "every wei credited");
        assertLe(market.balanceOf(client, address(0)), 1, "client refund is rounding at most");
    }

    function test_reveal_minoritySlashedMajorityPaid() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, OTHER_RESULT, RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, OTHER_RESULT);
        uint256 fees = 3 * uint256(FEE);
        uint256 paidProtocol = (2 * uint256(FEE) * PROTOCOL_FEE_BPS) / 10_000;
        uint256 refund = FEE + (fees * PROTOCOL_FEE_BPS) / 10_000 - paidProtocol;

        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.ProviderSlashed(prov[1], address(market), COLLATERAL, bytes32(id));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[1], COLLATERAL, true);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, COLLATERAL, COLLATERAL / 2, COLLATERAL / 4, 2);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobSettled(id, RESULT, 2, refund);
        _reveal(id, job, prov[2], 2, RESULT);

        assertEq(_status(id), SETTLED, "settled");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "majority paid");
        assertEq(market.balanceOf(prov[2], address(0)), FEE, "majority paid");
        assertEq(market.balanceOf(prov[1], address(0)), 0, "minority unpaid");
        assertEq(_stake(prov[1]), STAKE - COLLATERAL, "minority slashed");
        assertEq(_locked(prov[1]), 0, "minority collateral no longer locked");
        assertEq(registry.slashedFunds(), 0, "a seat's slash no longer accrues to the DAO");
        assertEq(stakeToken.balanceOf(address(market)), COLLATERAL, "the seized collateral is in the market");
        assertEq(market.balanceOf(client, address(stakeToken)), COLLATERAL / 2, "client: its share of the slash");
        assertEq(market.balanceOf(prov[0], address(stakeToken)), COLLATERAL / 4, "winner: half the rest");
        assertEq(market.balanceOf(prov[2], address(stakeToken)), COLLATERAL / 4, "winner: half the rest");
        assertEq(market.balanceOf(prov[1], address(stakeToken)), 0, "the slashed seat gets nothing");
        assertEq(registry.getProvider(prov[1]).disagreed, 1, "disagreed++");
        assertEq(registry.getProvider(prov[1]).served, 0, "not served");
        assertEq(registry.getProvider(prov[0]).served, 1, "served++");
        assertEq(_stake(prov[0]), STAKE, "majority keeps its stake");
        assertEq(_locked(prov[0]), 0, "majority collateral released");
        assertEq(market.balanceOf(client, address(0)), refund, "client gets one fee and its protocol share back");
        assertEq(refund, FEE + 1e16, "exact refund");
        assertEq(market.protocolFees(address(0)), paidProtocol, "protocol fee on paid fees only");
    }

    function test_finalize_slashesNonRevealer() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, RESULT, RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Revealing));
        market.finalize(id, wordsOf(job));

        vm.warp(START + REVEAL_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[2], COLLATERAL, false);
        vm.prank(stranger);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), SETTLED, "settled");
        assertEq(_stake(prov[2]), STAKE - COLLATERAL, "non-revealer slashed");
        assertEq(_locked(prov[2]), 0, "released");
        assertEq(registry.getProvider(prov[2]).missed, 1, "missed++");
        assertEq(registry.getProvider(prov[2]).disagreed, 0, "not a disagreement");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
        assertEq(market.balanceOf(prov[1], address(0)), FEE, "paid");
        assertEq(market.balanceOf(client, address(0)), FEE + 1e16, "one fee and its protocol share back");
        assertEq(market.balanceOf(stranger, address(0)), 0, "finalizing pays nothing");
    }

    function test_reveal_threeDifferentResultsRefundsClient() public {
        (uint256 id, Job memory job) = _seatAll(3, _results3(RESULT, OTHER_RESULT, THIRD_RESULT));
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, OTHER_RESULT);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, _escrow(3), true);
        _reveal(id, job, prov[2], 2, THIRD_RESULT);

        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "full refund");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee");
        assertEq(registry.slashedFunds(), 0, "nobody slashed");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(_stake(prov[i]), STAKE, "stake kept");
            assertEq(_locked(prov[i]), 0, "collateral released");
            assertEq(market.balanceOf(prov[i], address(0)), 0, "unpaid");
            assertEq(registry.getProvider(prov[i]).served, 0, "not served");
        }
    }

    function test_reveal_tieWithoutQuorumRefundsClient() public {
        bytes32[] memory results = new bytes32[](4);
        (results[0], results[1], results[2], results[3]) = (RESULT, OTHER_RESULT, RESULT, OTHER_RESULT);
        (uint256 id, Job memory job) = _seatAll(4, results);
        assertEq(job.quorum, 3, "k = 4 needs 3");
        for (uint256 i = 0; i < 4; ++i) _reveal(id, job, prov[i], uint8(i), results[i]);

        assertEq(_status(id), REFUNDED, "2 vs 2 is no quorum");
        assertEq(market.balanceOf(client, address(0)), _escrow(4), "full refund");
        assertEq(registry.slashedFunds(), 0, "nobody slashed");
        for (uint256 i = 0; i < 4; ++i) {
            assertEq(_stake(prov[i]), STAKE, "stake kept");
            assertEq(_locked(prov[i]), 0, "collateral released");
            assertEq(market.balanceOf(prov[i], address(0)), 0, "unpaid");
        }
    }

    function test_finalize_tooFewSeatsRefundsAndReleases() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Open));
        market.finalize(id, wordsOf(job));

        vm.warp(job.commitDeadline + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, _escrow(3), false);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "full refund");
        assertEq(_locked(prov[0]), 0, "collateral released");
        assertEq(_stake(prov[0]), STAKE, "not slashed");
        IProviderRegistry.Provider memory rec = registry.getProvider(prov[0]);
        assertEq(rec.served + rec.disagreed + rec.missed, 0, "no counter moved");
    }

    function test_finalize_noSeatsRefunds() public {
        (uint256 id, Job memory job) = _request(2, address(payToken));
        vm.warp(job.commitDeadline + 1);
        market.finalize(id, wordsOf(job));
        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(payToken)), _escrow(2), "token refund");
    }

    function test_reveal_revertsAtCommitDeadlineWhileCommitStillOpen() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        vm.warp(job.commitDeadline);
        // At the deadline itself commits are still taken, so no reveal may happen yet (a reveal
        // here would let a late committer copy the revealed result in the same second).
        _expectRevealRevert(
            id, job, prov[0], 0, RESULT, _salt(prov[0]), _invalidStatus(id, IInferenceMarketTypes.JobStatus.Open)
        );
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Open));
        market.finalize(id, wordsOf(job));
        assertEq(_commit(id, job, prov[2], RESULT), 2, "last seat taken at the deadline");
        assertEq(_status(id), REVEALING, "full: revealing");
        assertEq(_revealStart(id), job.commitDeadline, "reveal starts at the last commit");
    }

    function test_jobState_staysOpenUntilRevealOrFinalizeStartsTheRound() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        vm.warp(job.commitDeadline + 1);
        // The transition to Revealing is lazy: the stored status only changes on the next call.
        assertEq(_status(id), OPEN, "stored status still Open");
        assertEq(_revealStart(id), 0, "no reveal start stored yet");
        _reveal(id, job, prov[0], 0, RESULT);
        assertEq(_status(id), REVEALING, "revealing after the first reveal");
        assertEq(_revealStart(id), job.commitDeadline, "from the commit deadline");
    }

    function test_reveal_afterCommitDeadlineWithQuorumSeated() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        vm.warp(job.commitDeadline + 1);

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.RevealStarted(id, job.commitDeadline + job.revealWindow);
        _reveal(id, job, prov[0], 0, RESULT);
        assertEq(_status(id), REVEALING, "revealing");
        assertEq(_revealStart(id), job.commitDeadline, "reveal phase counted from the commit deadline");

        // No late commit.
        _expectCommitRevert(
            id, job, prov[2], _invalidStatus(id, IInferenceMarketTypes.JobStatus.Revealing)
        );
        _reveal(id, job, prov[1], 1, RESULT);

        uint256 refund = _escrow(3) - 2 * uint256(FEE) - (2 * uint256(FEE) * PROTOCOL_FEE_BPS) / 10_000;
        assertEq(_status(id), SETTLED, "all seated revealed: settled");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid");
        assertEq(market.balanceOf(prov[1], address(0)), FEE, "paid");
        assertEq(market.balanceOf(client, address(0)), refund, "empty seat refunded");
        assertEq(registry.slashedFunds(), 0, "nobody slashed");
    }

    function test_reveal_afterCommitDeadlineRevealWindowCountsFromDeadline() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        uint40 revealDeadline = job.commitDeadline + job.revealWindow;
        vm.warp(revealDeadline + 1);
        _expectRevealRevert(
            id,
            job,
            prov[0],
            0,
            RESULT,
            _salt(prov[0]),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketRevealClosed.selector, id, revealDeadline)
        );
        // Nobody revealed: no quorum, refund, no slash; the counters record the misses.
        market.finalize(id, wordsOf(job));
        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "full refund");
        assertEq(registry.slashedFunds(), 0, "no slash without a quorum");
        assertEq(registry.getProvider(prov[0]).missed, 1, "missed recorded");
        assertEq(_locked(prov[0]) + _locked(prov[1]), 0, "released");
    }

    function testFuzz_reveal_settlementConservesEscrow(uint8 kSeed, uint256 votes, uint96 feeSeed) public {
        uint8 k = uint8(bound(kSeed, 2, MAX_K));
        IInferenceMarketTypes.JobRequest memory r = _req(k, address(0));
        r.feePerProvider = uint96(bound(feeSeed, MIN_FEE, 1e24));
        (uint256 id, Job memory job) = _requestAs(client, r);
        uint256 agree;
        for (uint256 i = 0; i < k; ++i) {
            bool a = (votes >> i) & 1 == 1;
            if (a) ++agree;
            _commit(id, job, prov[i], a ? RESULT : OTHER_RESULT);
        }
        for (uint256 i = 0; i < k; ++i) {
            _reveal(id, job, prov[i], uint8(i), (votes >> i) & 1 == 1 ? RESULT : OTHER_RESULT);
        }
        _checkSettlement(id, job, agree > k - agree ? agree : k - agree);
    }

    function _checkSettlement(uint256 id, Job memory job, uint256 majority) internal view {
        uint256 credited = market.protocolFees(address(0)) + market.balanceOf(client, address(0));
        uint256 paidSeats;
        for (uint256 i = 0; i < job.redundancy; ++i) {
            credited += market.balanceOf(prov[i], address(0));
            if (market.balanceOf(prov[i], address(0)) != 0) ++paidSeats;
            assertEq(_locked(prov[i]), 0, "no collateral left locked");
        }
        assertEq(credited, address(market).balance, "escrow fully credited");
        if (majority >= job.quorum) {
            assertEq(_status(id), SETTLED, "settled");
            assertEq(paidSeats, majority, "majority paid");
            uint256 pool = (job.redundancy - majority) * uint256(COLLATERAL);
            assertEq(stakeToken.balanceOf(address(market)), pool, "minority's collateral seized by the market");
            uint256 stakeCredits = market.balanceOf(client, address(stakeToken));
            for (uint256 i = 0; i < job.redundancy; ++i) stakeCredits += market.balanceOf(prov[i], address(stakeToken));
            assertEq(stakeCredits, pool, "the seized stake is credited, all of it");
            assertEq(registry.slashedFunds(), 0, "nothing accrues to the DAO");
        } else {
            assertEq(_status(id), REFUNDED, "refunded");
            assertEq(paidSeats, 0, "nobody paid");
            assertEq(market.balanceOf(client, address(0)), address(market).balance, "full refund");
            assertEq(registry.slashedFunds(), 0, "nobody slashed");
        }
    }
}

// ==================================================================== slashing and compensation

/// @notice Issue 11 finding 1 (a silent seat is always slashed and pays those it harmed) and
/// finding 8 (a seat's commitment is bound to the provider that committed it).
contract InferenceMarketSlashingTest is InferenceMarketFixture {
    uint8 internal constant SILENT = 0;
    uint8 internal constant TRUTH = 1;
    uint8 internal constant OTHER = 2;
    uint8 internal constant THIRD = 3;

    function _hashOf(uint8 mode) internal pure returns (bytes32) {
        if (mode == OTHER) return OTHER_RESULT;
        if (mode == THIRD) return THIRD_RESULT;
        return RESULT;
    }

    /// @dev Seats prov[0..k-1] on a new ETH job (seat i = prov[i]); every seat whose mode is not
    /// SILENT reveals its hash; if any seat is silent, the reveal window passes and a stranger
    /// finalizes. Events are expected by the caller before this runs the last step.
    function _commitAll(uint8[] memory modes) internal returns (uint256 id, Job memory job) {
        (id, job) = _requestEth(uint8(modes.length));
        for (uint256 i = 0; i < modes.length; ++i) _commit(id, job, prov[i], _hashOf(modes[i]));
    }

    /// @dev Reveals every non-silent seat but the last one that is not silent (returned, or
    /// type(uint256).max when all are silent).
    function _revealAllButLast(uint256 id, Job memory job, uint8[] memory modes)
        internal
        returns (uint256 last)
    {
        last = type(uint256).max;
        for (uint256 i = 0; i < modes.length; ++i) {
            if (modes[i] == SILENT) continue;
            if (last != type(uint256).max) _reveal(id, job, prov[last], uint8(last), _hashOf(modes[last]));
            last = i;
        }
    }

    function _round(uint8[] memory modes) internal returns (uint256 id, Job memory job) {
        (id, job) = _commitAll(modes);
        uint256 last = _revealAllButLast(id, job, modes);
        if (last != type(uint256).max) _reveal(id, job, prov[last], uint8(last), _hashOf(modes[last]));
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        if (_status(id) == REVEALING) {
            vm.prank(stranger);
            market.finalize(id, wordsOf(job));
        }
    }

    function _modes(uint8 a, uint8 b) internal pure returns (uint8[] memory m) {
        m = new uint8[](2);
        (m[0], m[1]) = (a, b);
    }

    function _modes(uint8 a, uint8 b, uint8 c) internal pure returns (uint8[] memory m) {
        m = new uint8[](3);
        (m[0], m[1], m[2]) = (a, b, c);
    }

    function _modes(uint8 a, uint8 b, uint8 c, uint8 d, uint8 e) internal pure returns (uint8[] memory m) {
        m = new uint8[](5);
        (m[0], m[1], m[2], m[3], m[4]) = (a, b, c, d, e);
    }

    function _stakeOf(address p) internal view returns (uint256) {
        return registry.getProvider(p).stake;
    }

    function _lockedOf(address p) internal view returns (uint256) {
        return registry.getProvider(p).locked;
    }

    function _stakeCredit(address who) internal view returns (uint256) {
        return market.balanceOf(who, address(stakeToken));
    }

    function _assertCounters(address p, uint256 served, uint256 disagreed, uint256 missed) internal view {
        IProviderRegistry.Provider memory r = registry.getProvider(p);
        assertEq(r.served, served, "served counter");
        assertEq(r.disagreed, disagreed, "disagreed counter");
        assertEq(r.missed, missed, "missed counter");
    }

    // ---------------------------------------------------------------- the issue's attack

    /// @notice Finding 1: a squatter takes one seat of a k = 2 job and never reveals. The quorum
    /// (2) cannot be reached, but the squatter still loses its collateral: half to the client,
    /// half to the honest revealer, who also gets its own collateral back and no "disagreed" mark.
    function test_settle_k2SilentSeat_noQuorum_slashedAndCompensated() public {
        uint8[] memory modes = _modes(TRUTH, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        assertEq(job.quorum, 2, "k = 2 needs both");
        _reveal(id, job, prov[0], 0, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        uint256 escrow = _escrow(2);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.ProviderSlashed(prov[1], address(market), COLLATERAL, bytes32(id));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[1], COLLATERAL, false);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, COLLATERAL, COLLATERAL / 2, COLLATERAL / 2, 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, escrow, true);
        vm.prank(stranger);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), REFUNDED, "no quorum: refunded");
        assertEq(market.balanceOf(client, address(0)), escrow, "client: the escrow E");
        assertEq(_stakeCredit(client), COLLATERAL / 2, "client: + c/2");
        assertEq(_stakeCredit(prov[0]), COLLATERAL / 2, "revealer: c/2");
        assertEq(market.balanceOf(prov[0], address(0)), 0, "revealer: no fee without a quorum");
        assertEq(_stakeOf(prov[0]), STAKE, "revealer: its c back");
        assertEq(_lockedOf(prov[0]), 0, "revealer: nothing locked");
        _assertCounters(prov[0], 0, 0, 0); // no "disagreed" mark
        assertEq(_stakeOf(prov[1]), STAKE - COLLATERAL, "squatter: loses c");
        assertEq(_lockedOf(prov[1]), 0, "squatter: nothing locked");
        _assertCounters(prov[1], 0, 0, 1);
        assertEq(registry.slashedFunds(), 0, "nothing to the DAO");
        assertEq(stakeToken.balanceOf(address(market)), COLLATERAL, "the market holds what it credited");
        assertEq(registry.totalStake(), stakeToken.balanceOf(address(registry)), "registry: stake = its balance");

        // The credits are real: both withdraw their stake tokens.
        vm.prank(prov[0]);
        market.withdraw(address(stakeToken));
        vm.prank(client);
        market.withdraw(address(stakeToken));
        assertEq(stakeToken.balanceOf(prov[0]), COLLATERAL / 2, "revealer withdrew c/2");
        assertEq(stakeToken.balanceOf(client), COLLATERAL / 2, "client withdrew c/2");
        assertEq(stakeToken.balanceOf(address(market)), 0, "market emptied");
    }

    /// @notice k = 3, two squatters (the quorum of 2 is out of reach): both lose c; the client
    /// takes half of 2c, the one revealer the other half.
    function test_settle_k3TwoSilent_noQuorum() public {
        uint8[] memory modes = _modes(TRUTH, SILENT, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        _reveal(id, job, prov[0], 0, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, 2 * uint256(COLLATERAL), COLLATERAL, COLLATERAL, 1);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), _escrow(3), "client: E");
        assertEq(_stakeCredit(client), COLLATERAL, "client: half the pool");
        assertEq(_stakeCredit(prov[0]), COLLATERAL, "revealer: the other half");
        _assertCounters(prov[0], 0, 0, 0);
        for (uint256 i = 1; i < 3; ++i) {
            assertEq(_stakeOf(prov[i]), STAKE - COLLATERAL, "squatter loses c");
            _assertCounters(prov[i], 0, 0, 1);
        }
        assertEq(stakeToken.balanceOf(address(market)), 2 * uint256(COLLATERAL), "pool held");
    }

    /// @notice k = 3, one silent seat, the other two agree (quorum): each winner gets f + c/4,
    /// the client its unused escrow + c/2.
    function test_settle_k3OneSilent_withQuorum() public {
        (uint256 id,) = _round(_modes(TRUTH, TRUTH, SILENT));
        assertEq(_status(id), SETTLED, "settled");
        for (uint256 i = 0; i < 2; ++i) {
            assertEq(market.balanceOf(prov[i], address(0)), FEE, "winner: f");
            assertEq(_stakeCredit(prov[i]), COLLATERAL / 4, "winner: c/4");
            assertEq(_stakeOf(prov[i]), STAKE, "winner keeps its stake");
            _assertCounters(prov[i], 1, 0, 0);
        }
        assertEq(market.balanceOf(client, address(0)), FEE + 1e16, "client: one fee and its protocol share");
        assertEq(_stakeCredit(client), COLLATERAL / 2, "client: c/2");
        assertEq(_stakeOf(prov[2]), STAKE - COLLATERAL, "silent seat loses c");
        _assertCounters(prov[2], 0, 0, 1);
    }

    /// @notice Nobody reveals: every seat is slashed and the client takes the whole pool (there
    /// is no honest revealer to share it with).
    function test_settle_allSilent_clientTakesPool() public {
        uint8[] memory modes = _modes(SILENT, SILENT, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, 3 * uint256(COLLATERAL), 3 * uint256(COLLATERAL), 0, 0);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, _escrow(3), true);
        market.finalize(id, wordsOf(job));

        assertEq(market.balanceOf(client, address(0)), _escrow(3), "client: E");
        assertEq(_stakeCredit(client), 3 * uint256(COLLATERAL), "client: the whole pool");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(_stakeOf(prov[i]), STAKE - COLLATERAL, "every seat loses c");
            _assertCounters(prov[i], 0, 0, 1);
        }
    }

    /// @notice k = 5 (quorum 3): three agree, one disagrees, one is silent. Both faulty seats
    /// lose c; the 2c pool goes half to the client, half to the three winners (c/3 each), and the
    /// rounding dust to the client.
    function test_settle_minorityAndSilent() public {
        (uint256 id,) = _round(_modes(TRUTH, OTHER, TRUTH, SILENT, TRUTH));
        uint256 pool = 2 * uint256(COLLATERAL);
        uint256 per = (pool / 2) / 3;
        assertEq(_status(id), SETTLED, "settled");
        assertEq(_stakeCredit(client), pool - 3 * per, "client: half the pool and the dust");
        assertEq(pool - 3 * per, COLLATERAL + 1, "dust of 1");
        for (uint256 i = 0; i < 5; i += 2) {
            assertEq(_stakeCredit(prov[i]), per, "winner: its share");
            assertEq(market.balanceOf(prov[i], address(0)), FEE, "winner: f");
            _assertCounters(prov[i], 1, 0, 0);
        }
        assertEq(_stakeOf(prov[1]), STAKE - COLLATERAL, "minority loses c");
        _assertCounters(prov[1], 0, 1, 0);
        assertEq(_stakeOf(prov[3]), STAKE - COLLATERAL, "silent loses c");
        _assertCounters(prov[3], 0, 0, 1);
        assertEq(_stakeCredit(prov[1]) + _stakeCredit(prov[3]), 0, "faulty seats get nothing");
    }

    /// @notice Without a quorum, revealers that disagree are not at fault: they share the silent
    /// seat's stake and get no counter.
    function test_settle_noQuorum_disagreeingRevealersCompensatedNotMarked() public {
        (uint256 id,) = _round(_modes(TRUTH, OTHER, SILENT));
        assertEq(_status(id), REFUNDED, "no quorum");
        assertEq(_stakeCredit(client), COLLATERAL / 2, "client: c/2");
        for (uint256 i = 0; i < 2; ++i) {
            assertEq(_stakeCredit(prov[i]), COLLATERAL / 4, "revealer: c/4");
            assertEq(_stakeOf(prov[i]), STAKE, "revealer keeps its stake");
            _assertCounters(prov[i], 0, 0, 0);
        }
        _assertCounters(prov[2], 0, 0, 1);
    }

    /// @notice c = 10^18 + 1, three revealers, two silent seats (k = 5, quorum 3): the pool does
    /// not split evenly; the dust goes to the client, nothing is lost or created.
    function test_settle_roundingDustToClient() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        uint256 c = 1e18 + 1;
        p.collateralPerJob = uint128(c);
        _setPolicyLoweringJuryFee(p);
        (uint256 id, Job memory job) = _round(_modes(TRUTH, SILENT, TRUTH, SILENT, TRUTH));
        assertEq(job.collateral, c, "snapshotted collateral");
        uint256 pool = 2 * c;
        uint256 toClient = (pool * CLIENT_SHARE_BPS) / 10_000; // 1e18 + 1
        uint256 per = (pool - toClient) / 3; // 333333333333333333
        assertEq(per, 333_333_333_333_333_333, "per revealer, rounded down");
        assertEq(_stakeCredit(client), pool - 3 * per, "client: its share and the dust");
        assertEq(_stakeCredit(client), 1e18 + 3, "dust of 2");
        uint256 sum = _stakeCredit(client);
        for (uint256 i = 0; i < 5; ++i) sum += _stakeCredit(prov[i]);
        assertEq(sum, pool, "credits = pool");
        assertEq(stakeToken.balanceOf(address(market)), pool, "pool held");
        assertEq(_status(id), SETTLED, "three of five agree");
    }

    /// @notice clientShareBps = 0 gives the revealers the whole pool; 10,000 gives it all to the
    /// client. The policy is read at settlement.
    function test_settle_clientShareBpsBounds() public {
        uint8[] memory modes = _modes(TRUTH, TRUTH, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.clientShareBps = 0;
        _court().setPolicy(p);
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        market.finalize(id, wordsOf(job));
        assertEq(_stakeCredit(client), 0, "share 0: nothing to the client");
        assertEq(_stakeCredit(prov[0]), COLLATERAL / 2, "winners share the pool");

        p.clientShareBps = 10_000;
        _court().setPolicy(p);
        (id,) = _round(modes);
        assertEq(_stakeCredit(client), COLLATERAL, "share 10,000: all to the client");
        assertEq(_stakeCredit(prov[0]), COLLATERAL / 2, "winners get nothing more");
    }

    /// @notice Issue 11 finding 3: a DAO slash can no longer leave a silent seat with less stake
    /// than its collateral (it used to, and settlement then seized only what was left): the slash
    /// takes only free stake, and the seat loses exactly its collateral to those it harmed.
    function test_settle_daoSlashCannotReachSeatCollateral() public {
        uint8[] memory modes = _modes(TRUTH, SILENT);
        (uint256 id, Job memory job) = _commitAll(modes);
        uint256 free = STAKE - COLLATERAL;
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistrySlashExceedsFreeStake.selector, prov[1], STAKE - 4e18, free
            )
        );
        registry.slash(prov[1], STAKE - 4e18, bytes32("dao"));
        registry.slash(prov[1], free, bytes32("dao"));
        _reveal(id, job, prov[0], 0, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SeatSlashed(id, prov[1], COLLATERAL, false);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.SlashDistributed(id, COLLATERAL, COLLATERAL / 2, COLLATERAL / 2, 1);
        market.finalize(id, wordsOf(job));
        assertEq(_stakeOf(prov[1]), 0, "its collateral, the rest the DAO took");
        assertEq(_stakeCredit(client), COLLATERAL / 2, "client");
        assertEq(_stakeCredit(prov[0]), COLLATERAL / 2, "revealer");
        assertEq(registry.slashedFunds(), free, "only the DAO's slash accrues to the DAO");
    }


    /// @notice No fault, no SlashDistributed: the happy path reads no stake and moves no stake.
    function test_settle_allAgree_noSlashEvent() public {
        uint8[] memory modes = _modes(TRUTH, TRUTH, TRUTH);
        (uint256 id, Job memory job) = _commitAll(modes);
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        vm.recordLogs();
        _reveal(id, job, prov[2], 2, RESULT);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != IInferenceMarketTypes.SlashDistributed.selector, "no SlashDistributed");
            assertTrue(logs[i].topics[0] != IInferenceMarketTypes.SeatSlashed.selector, "no SeatSlashed");
        }
        assertEq(_status(id), SETTLED, "settled");
    }

    // ---------------------------------------------------------------- finding 8

    /// @notice Finding 8: a seated provider crafts its commitment so that another address could
    /// reveal its seat (old scheme: stored value = commitment XOR provider). The other address
    /// cannot reveal it, and the seat, never revealed by its holder, is slashed as silent.
    function test_reveal_otherAddressCannotRevealCraftedCommitment() public {
        (uint256 id, Job memory job) = _requestEth(3);
        address accomplice = prov[3];
        bytes32 accompliceSalt = _salt(accomplice);
        bytes32 forAccomplice = _commitment(id, accomplice, RESULT, accompliceSalt);
        // XOR-crafted: under `stored = commitment ^ provider`, the accomplice's reveal matched.
        bytes32 crafted = forAccomplice ^ bytes32(uint256(uint160(accomplice))) ^ bytes32(uint256(uint160(prov[0])));
        vm.prank(prov[0]);
        market.commit(id, wordsOf(job), crafted);
        // Raw: under `stored = commitment` without the provider, the accomplice's reveal matched.
        vm.prank(prov[1]);
        market.commit(id, wordsOf(job), forAccomplice);
        _commit(id, job, prov[2], RESULT);

        for (uint8 seat = 0; seat < 2; ++seat) {
            vm.expectRevert(
                abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotSeated.selector, id, seat, accomplice)
            );
            vm.prank(accomplice);
            market.reveal(id, wordsOf(job), seat, RESULT, accompliceSalt, OUTPUT);
        }
        // Nor can the seat holders reveal with the accomplice's opening.
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, id, prov[0]));
        vm.prank(prov[0]);
        market.reveal(id, wordsOf(job), 0, RESULT, accompliceSalt, OUTPUT);
        assertEq(_revealed(id), 0, "nothing revealed");

        _reveal(id, job, prov[2], 2, RESULT);
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        market.finalize(id, wordsOf(job));
        assertEq(_status(id), REFUNDED, "one revealer of three: no quorum");
        assertEq(_stakeOf(prov[0]), STAKE - COLLATERAL, "crafting seat slashed as silent");
        assertEq(_stakeOf(prov[1]), STAKE - COLLATERAL, "crafting seat slashed as silent");
        assertEq(_stakeCredit(accomplice), 0, "the accomplice earns nothing");
        assertEq(_stakeCredit(prov[2]), COLLATERAL, "the honest revealer is compensated");
    }

    // ---------------------------------------------------------------- conservation

    /// @notice Any k ≤ 7, any mix of silent, truthful and other seats, any collateral and client
    /// share: the payment-token credits (client, providers, protocol fee) sum to the escrow E;
    /// the stake-token credits sum to |F|·c (F: silent seats, plus with a quorum the revealers
    /// of another hash) and the market holds exactly that; every seat's c is released (kept) or
    /// seized exactly once; counters record only F.
    /// @dev One seat after settlement (`winner` zero: no quorum): returns whether it was faulty.
    function _checkSeat(address p, uint8 mode, bytes32 winner, uint256 c) internal view returns (bool isFaulty) {
        bool quorum = winner != bytes32(0);
        isFaulty = mode == SILENT || (quorum && _hashOf(mode) != winner);
        assertEq(_lockedOf(p), 0, "every seat released");
        assertEq(_stakeOf(p), isFaulty ? STAKE - c : STAKE, "c seized iff faulty, once");
        if (isFaulty) assertEq(_stakeCredit(p), 0, "a faulty seat is not compensated");
        bool winnerSeat = quorum && !isFaulty;
        assertEq(market.balanceOf(p, address(0)), winnerSeat ? FEE : 0, "fee iff a winner");
        _assertCounters(p, winnerSeat ? 1 : 0, isFaulty && mode != SILENT ? 1 : 0, mode == SILENT ? 1 : 0);
    }

    function testFuzz_settle_conservation(uint8 kSeed, uint256 modeSeed, uint128 cSeed, uint16 shareSeed) public {
        uint8 k = uint8(bound(kSeed, 2, MAX_K));
        uint256 c = bound(cSeed, 1e18, STAKE);
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = uint128(c);
        p.clientShareBps = uint16(bound(shareSeed, 0, 10_000));
        _setPolicyLoweringJuryFee(p);
        uint8[] memory modes = new uint8[](k);
        uint256 truthful;
        uint256 others;
        for (uint256 i = 0; i < k; ++i) {
            modes[i] = uint8((modeSeed >> (2 * i)) % 3); // SILENT, TRUTH or OTHER
            if (modes[i] == TRUTH) ++truthful;
            if (modes[i] == OTHER) ++others;
        }
        (uint256 id, Job memory job) = _round(modes);

        bytes32 winner;
        if (truthful >= job.quorum) winner = RESULT;
        else if (others >= job.quorum) winner = OTHER_RESULT;
        uint256 faulty;
        uint256 paymentCredits = market.balanceOf(client, address(0)) + market.protocolFees(address(0));
        uint256 stakeCredits = _stakeCredit(client);
        for (uint256 i = 0; i < k; ++i) {
            if (_checkSeat(prov[i], modes[i], winner, c)) ++faulty;
            paymentCredits += market.balanceOf(prov[i], address(0));
            stakeCredits += _stakeCredit(prov[i]);
        }
        bool quorum = winner != bytes32(0);
        assertEq(paymentCredits, _escrow(k), "payment-token credits = E");
        assertEq(address(market).balance, _escrow(k), "ETH held = E");
        assertEq(stakeCredits, faulty * c, "stake-token credits = |F| c");
        assertEq(stakeToken.balanceOf(address(market)), faulty * c, "stake held = |F| c");
        assertEq(registry.slashedFunds(), 0, "nothing to the DAO");
        assertEq(_status(id), quorum ? SETTLED : REFUNDED, "status");
    }
}

// ==================================================================== adversarial

contract InferenceMarketAdversarialTest is InferenceMarketFixture {
    HookERC20 internal hookToken;
    Reenterer internal attacker;

    function setUp() public override {
        super.setUp();
        hookToken = new HookERC20();
        attacker = new Reenterer();
        hookToken.setHook(address(attacker));
        _court().setTokenAllowed(address(hookToken), true, 1e18);
    }

    /// @dev The attacker, as a client, gets `escrow` credited back from an expired job.
    function _attackerRefund(address token) internal returns (uint256 id, Job memory job) {
        (id, job) = _requestAs(address(attacker), _req(1, token));
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));
        assertEq(market.balanceOf(address(attacker), token), _escrow(1), "refund credited");
    }

    // ---------------------------------------------------------------- copying results

    function test_commit_copierCannotJoinOnceRevealsOpen() public {
        (uint256 id, Job memory job) = _requestEth(3);
        for (uint256 i = 0; i < 3; ++i) _commit(id, job, prov[i], RESULT);
        _reveal(id, job, prov[0], 0, RESULT); // RESULT is now public
        bytes32 c = _commitment(id, prov[3], RESULT, _salt(prov[3]));
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.Revealing));
        vm.prank(prov[3]);
        market.commit(id, wordsOf(job), c);
        assertEq(market.balanceOf(prov[3], address(0)), 0, "copier unpaid");
        assertEq(_locked(prov[3]), 0, "copier never seated");
    }

    function test_commit_copierCannotJoinAfterCommitDeadline() public {
        (uint256 id, Job memory job) = _requestEth(3);
        _commit(id, job, prov[0], RESULT);
        _commit(id, job, prov[1], RESULT);
        vm.warp(job.commitDeadline + 1);
        _reveal(id, job, prov[0], 0, RESULT);
        bytes32 c = _commitment(id, prov[3], RESULT, _salt(prov[3]));
        vm.expectRevert(_invalidStatus(id, IInferenceMarketTypes.JobStatus.Revealing));
        vm.prank(prov[3]);
        market.commit(id, wordsOf(job), c);
    }

    function test_reveal_copiedCommitmentCannotBeRevealed() public {
        (uint256 id, Job memory job) = _requestEth(3);
        bytes32 honest = _commitment(id, prov[0], RESULT, _salt(prov[0]));
        vm.prank(prov[0]);
        market.commit(id, wordsOf(job), honest);
        // The copier lifts the honest commitment from the chain.
        vm.prank(prov[1]);
        uint8 copierSeat = market.commit(id, wordsOf(job), honest);
        _commit(id, job, prov[2], RESULT);

        _reveal(id, job, prov[0], 0, RESULT); // result and salt are now public
        bytes32 honestSalt = _salt(prov[0]);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketCommitmentMismatch.selector, id, prov[1]));
        vm.prank(prov[1]);
        market.reveal(id, wordsOf(job), copierSeat, RESULT, honestSalt, OUTPUT);
        _reveal(id, job, prov[2], 2, RESULT);

        vm.warp(START + REVEAL_WINDOW + 1);
        market.finalize(id, wordsOf(job));
        assertEq(market.balanceOf(prov[1], address(0)), 0, "copier unpaid");
        assertEq(_stakeOf(prov[1]), STAKE - COLLATERAL, "copier slashed as a non-revealer");
        assertEq(registry.getProvider(prov[1]).missed, 1, "missed");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "honest paid");
        assertEq(market.balanceOf(prov[2], address(0)), FEE, "honest paid");
    }

    function test_commit_suspendedExitingProviderTakesNoNewWork() public {
        (uint256 id, Job memory job) = _requestEth(2);
        (uint256 id2, Job memory job2) = _requestEth(2);
        (uint256 id3, Job memory job3) = _requestEth(1);
        _commit(id, job, prov[0], RESULT);
        registry.suspendProvider(prov[0]);
        vm.prank(prov[0]);
        registry.requestExit();
        bytes32 c = _commitment(id2, prov[0], RESULT, _salt(prov[0]));
        vm.expectRevert(_providerStatus(prov[0], IProviderRegistry.ProviderStatus.Suspended));
        vm.prank(prov[0]);
        market.commit(id2, wordsOf(job2), c);
        vm.expectRevert(_providerStatus(prov[0], IProviderRegistry.ProviderStatus.Suspended));
        vm.prank(prov[0]);
        market.submitResult(id3, wordsOf(job3), RESULT, OUTPUT);
        vm.recordLogs();
        assertEq(_relay(market, _one(_sign(market, pks[0], id3, job3, RESULT))), 0, "batch rejects it too");
        assertEq(_rejections(vm.getRecordedLogs(), address(market)).length, 1, "one rejection");
        // Its existing seat still settles: it was eligible when it committed.
        _commit(id, job, prov[1], RESULT);
        _reveal(id, job, prov[0], 0, RESULT);
        _reveal(id, job, prov[1], 1, RESULT);
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "paid for the seat it held");
        assertEq(_locked(prov[0]), 0, "released, so it can finish exiting");
    }

    function _stakeOf(address p) internal view returns (uint256) {
        return registry.getProvider(p).stake;
    }

    function _locked(address p) internal view returns (uint256) {
        return registry.getProvider(p).locked;
    }

    // ---------------------------------------------------------------- malicious ERC-20

    function test_requestJob_reentrantTokenCannotRequestTwice() public {
        uint256 escrow = _escrow(1);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(hookToken));
        hookToken.mint(address(attacker), 2 * escrow);
        vm.prank(address(attacker));
        hookToken.approve(address(market), type(uint256).max);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.requestJob, (r)), false);

        vm.prank(address(attacker));
        uint256 id = market.requestJob(r);

        assertEq(id, 1, "outer request");
        assertEq(attacker.attempts(), 1, "re-entry attempted");
        assertFalse(attacker.lastOk(), "re-entry failed");
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(market.nextJobId(), 2, "one job");
        assertEq(hookToken.balanceOf(address(market)), escrow, "escrow pulled once");
        assertEq(hookToken.balanceOf(address(attacker)), escrow, "attacker paid once");
    }

    function test_requestJob_revertsWhenTokenReentryBubbles() public {
        uint256 escrow = _escrow(1);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(hookToken));
        hookToken.mint(address(attacker), 2 * escrow);
        vm.prank(address(attacker));
        hookToken.approve(address(market), type(uint256).max);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.requestJob, (r)), true);

        vm.expectRevert(_reentrantCall());
        vm.prank(address(attacker));
        market.requestJob(r);
        assertEq(market.nextJobId(), 1, "no job");
        assertEq(hookToken.balanceOf(address(market)), 0, "nothing pulled");
    }

    function test_requestJob_reentrantTokenCannotWithdrawMidRequest() public {
        _attackerRefund(address(hookToken));
        uint256 escrow = _escrow(1);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(hookToken));
        r.deadline = uint40(block.timestamp + 1 hours);
        hookToken.mint(address(attacker), escrow);
        vm.prank(address(attacker));
        hookToken.approve(address(market), escrow);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.withdraw, (address(hookToken))), false);

        vm.prank(address(attacker));
        market.requestJob(r);
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(market.balanceOf(address(attacker), address(hookToken)), escrow, "credit untouched");
        assertEq(hookToken.balanceOf(address(market)), 2 * escrow, "refund + new escrow held");
    }

    function test_withdraw_reentrantTokenPaysOnce() public {
        _attackerRefund(address(hookToken));
        uint256 escrow = _escrow(1);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.withdraw, (address(hookToken))), false);

        vm.prank(address(attacker));
        uint256 amount = market.withdraw(address(hookToken));

        assertEq(amount, escrow, "withdrew the refund");
        assertEq(attacker.attempts(), 1, "re-entry attempted");
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(hookToken.balanceOf(address(attacker)), escrow, "paid once");
        assertEq(hookToken.balanceOf(address(market)), 0, "market empty");
        assertEq(market.balanceOf(address(attacker), address(hookToken)), 0, "balance cleared");
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector, address(attacker), address(hookToken)
            )
        );
        vm.prank(address(attacker));
        market.withdraw(address(hookToken));
    }

    function test_withdraw_reentrantTokenCannotFinalize() public {
        (uint256 id1, Job memory job1) = _requestAs(address(attacker), _req(1, address(hookToken)));
        (uint256 id2, Job memory job2) = _requestAs(address(attacker), _req(1, address(hookToken)));
        uint256 escrow = _escrow(1);
        vm.warp(job1.deadline + 1);
        market.finalize(id1, wordsOf(job1));
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.finalize, (id2, wordsOf(job2))), false);

        vm.prank(address(attacker));
        market.withdraw(address(hookToken));
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(_status(id2), OPEN, "job 2 untouched");
        assertEq(market.balanceOf(address(attacker), address(hookToken)), 0, "nothing credited meanwhile");

        market.finalize(id2, wordsOf(job2));
        vm.prank(address(attacker));
        market.withdraw(address(hookToken));
        assertEq(hookToken.balanceOf(address(attacker)), 2 * escrow, "each escrow returned once");
        assertEq(hookToken.balanceOf(address(market)), 0, "market empty");
    }

    // ---------------------------------------------------------------- ETH receivers

    function test_withdraw_reentrantReceiverBubblingFailsTransfer() public {
        _attackerRefund(address(0));
        uint256 escrow = _escrow(1);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.withdraw, (address(0))), true);

        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketEthTransferFailed.selector, address(attacker), escrow)
        );
        vm.prank(address(attacker));
        market.withdraw(address(0));
        assertEq(market.balanceOf(address(attacker), address(0)), escrow, "balance kept");
        assertEq(address(market).balance, escrow, "ETH kept");
        assertEq(address(attacker).balance, 0, "nothing sent");
    }

    function test_withdraw_reentrantReceiverGetsBalanceOnce() public {
        _attackerRefund(address(0));
        uint256 escrow = _escrow(1);
        attacker.arm(address(market), abi.encodeCall(IInferenceMarket.withdraw, (address(0))), false);

        vm.prank(address(attacker));
        assertEq(market.withdraw(address(0)), escrow, "withdrew");
        assertEq(attacker.attempts(), 1, "re-entry attempted");
        assertEq(keccak256(attacker.lastReturn()), keccak256(_reentrantCall()), "blocked by the guard");
        assertEq(address(attacker).balance, escrow, "paid once");
        assertEq(address(market).balance, 0, "market empty");
        assertEq(market.balanceOf(address(attacker), address(0)), 0, "balance cleared");
    }

    function test_withdraw_clientRejectingEthKeepsRefund() public {
        EthRejecter rejecter = new EthRejecter();
        (uint256 id, Job memory job) = _requestAs(address(rejecter), _req(1, address(0)));
        uint256 escrow = _escrow(1);
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));

        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketEthTransferFailed.selector, address(rejecter), escrow)
        );
        vm.prank(address(rejecter));
        market.withdraw(address(0));
        assertEq(market.balanceOf(address(rejecter), address(0)), escrow, "refund kept");
        assertEq(address(market).balance, escrow, "ETH kept");

        // Finding 16: such a client names another recipient.
        address payable cold = payable(address(0xC01D));
        vm.prank(address(rejecter));
        vm.expectRevert(IInferenceMarketTypes.InferenceMarketZeroAddress.selector);
        market.withdrawTo(address(0), address(0));
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.Withdrawn(address(rejecter), address(0), escrow, cold);
        vm.prank(address(rejecter));
        assertEq(market.withdrawTo(address(0), cold), escrow, "amount");
        assertEq(cold.balance, escrow, "sent to the named address");
        assertEq(market.balanceOf(address(rejecter), address(0)), 0, "balance spent");
    }
}

// ==================================================================== finalize, withdraw, pause

contract InferenceMarketLifecycleTest is InferenceMarketFixture {
    function test_finalize_singleRevertsBeforeOrAtDeadline() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Open));
        market.finalize(id, wordsOf(job));
        vm.warp(job.deadline);
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Open));
        market.finalize(id, wordsOf(job));
    }

    function test_finalize_singleAfterDeadlineRefundsClient() public {
        (uint256 id, Job memory job) = _requestEth(1);
        uint256 escrow = _escrow(1);
        vm.warp(job.deadline + 1);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.JobRefunded(id, escrow, false);
        vm.prank(stranger);
        market.finalize(id, wordsOf(job));

        assertEq(_status(id), REFUNDED, "refunded");
        assertEq(market.balanceOf(client, address(0)), escrow, "escrow credited, protocol fee included");
        assertEq(market.protocolFees(address(0)), 0, "no protocol fee on a refund");
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.Withdrawn(client, address(0), escrow, client);
        vm.prank(client);
        assertEq(market.withdraw(address(0)), escrow, "withdrawn");
        assertEq(client.balance, escrow, "client has its ETH back");
        assertEq(address(market).balance, 0, "market empty");
    }

    function test_finalize_revertsWhenAlreadyRefunded() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));
        vm.expectRevert(_notFinalizable(id, IInferenceMarketTypes.JobStatus.Refunded));
        market.finalize(id, wordsOf(job));
        assertEq(market.balanceOf(client, address(0)), _escrow(1), "credited once");
    }

    function test_finalize_revertsWhenSettled() public {
        (uint256 id, Job memory job) = _requestEth(1);
        _submit(id, job, prov[0]);
        vm.warp(job.deadline + 1);
        // Delivered, then claimed: not finalizable, by status.
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotFinalizable.selector, id, IInferenceMarketTypes.JobStatus.Delivered));
        market.finalize(id, wordsOf(job));
        _claimPaid(id, job, prov[0]);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotFinalizable.selector, id, IInferenceMarketTypes.JobStatus.Settled));
        market.finalize(id, wordsOf(job));
        assertEq(market.balanceOf(client, address(0)), 0, "no refund");

        (uint256 id3, Job memory job3) = _requestEth(2);
        _commit(id3, job3, prov[0], RESULT);
        _commit(id3, job3, prov[1], RESULT);
        _reveal(id3, job3, prov[0], 0, RESULT);
        _reveal(id3, job3, prov[1], 1, RESULT);
        vm.warp(block.timestamp + 1 days);
        vm.expectRevert(_notFinalizable(id3, IInferenceMarketTypes.JobStatus.Settled));
        market.finalize(id3, wordsOf(job3));
    }

    function test_finalize_revertsOnJobMismatch() public {
        (uint256 id, Job memory job) = _requestEth(1);
        vm.warp(job.deadline + 1);
        job.client = stranger; // redirect the refund
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, id));
        market.finalize(id, wordsOf(job));
    }

    function test_withdraw_revertsWhenNothingToWithdraw() public {
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector, stranger, address(0))
        );
        vm.prank(stranger);
        market.withdraw(address(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector, stranger, address(payToken)
            )
        );
        vm.prank(stranger);
        market.withdraw(address(payToken));
    }

    function test_withdraw_movesEthAndTokenSeparately() public {
        (uint256 a, Job memory ja) = _requestEth(1);
        (uint256 b, Job memory jb) = _request(1, address(payToken));
        _submit(a, ja, prov[0]);
        _submit(b, jb, prov[0]);
        _claimPaid(a, ja, prov[0]);
        _claimPaid(b, jb, prov[0]);

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.Withdrawn(prov[0], address(payToken), FEE, prov[0]);
        vm.prank(prov[0]);
        assertEq(market.withdraw(address(payToken)), FEE, "token amount");
        assertEq(payToken.balanceOf(prov[0]), FEE, "tokens received");
        assertEq(market.balanceOf(prov[0], address(payToken)), 0, "token balance cleared");
        assertEq(market.balanceOf(prov[0], address(0)), FEE, "ETH balance untouched");
        assertEq(payToken.balanceOf(address(market)), _escrow(1) - FEE, "treasury's share stays");

        vm.prank(prov[0]);
        assertEq(market.withdraw(address(0)), FEE, "ETH amount");
        assertEq(prov[0].balance, FEE, "ETH received");
        assertEq(address(market).balance, _escrow(1) - FEE, "treasury's share stays");

        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector, prov[0], address(0))
        );
        vm.prank(prov[0]);
        market.withdraw(address(0));
    }

    function test_withdraw_tokenStillPaysAfterTokenDisallowed() public {
        (uint256 id, Job memory job) = _request(1, address(payToken));
        _court().setTokenAllowed(address(payToken), false, 0);
        _submit(id, job, prov[0]);
        _claimPaid(id, job, prov[0]);
        vm.prank(prov[0]);
        assertEq(market.withdraw(address(payToken)), FEE, "paid in the job's token");
    }

    function test_pause_stopsOnlyRequestJob() public {
        (uint256 single, Job memory singleJob) = _requestEth(1);
        (uint256 expiring, Job memory expiringJob) = _requestEth(1);
        (uint256 signed, Job memory signedJob) = _requestEth(1);
        (uint256 round, Job memory roundJob) = _requestEth(2);
        IInferenceMarketTypes.SignedResult memory item = _sign(market, pks[2], signed, signedJob, RESULT);

        vm.prank(guardian);
        market.pause();
        assertTrue(market.paused(), "paused");

        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        uint256 escrow = _escrow(1);
        vm.deal(client, escrow);
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(client);
        market.requestJob{value: escrow}(r);

        _submit(single, singleJob, prov[0]);
        assertEq(_status(single), K1_DELIVERED, "submit works");
        assertEq(_relay(market, _one(item)), 1, "attestations still delivered");
        assertEq(_status(signed), K1_DELIVERED, "batch works");
        _commit(round, roundJob, prov[0], RESULT);
        _commit(round, roundJob, prov[1], RESULT);
        _reveal(round, roundJob, prov[0], 0, RESULT);
        _reveal(round, roundJob, prov[1], 1, RESULT);
        vm.warp(expiringJob.deadline + 1);
        market.finalize(expiring, wordsOf(expiringJob));
        _claimPaid(single, singleJob, prov[0]);
        _claimPaid(signed, signedJob, prov[2]);
        vm.prank(prov[0]);
        market.withdraw(address(0));
        vm.prank(client);
        market.withdraw(address(0));

        assertEq(_status(single), SETTLED, "claim works");
        assertEq(_status(signed), SETTLED, "claim of a batch delivery works");
        assertEq(_status(round), SETTLED, "commit and reveal work");
        assertEq(_status(expiring), REFUNDED, "finalize works");
        assertEq(prov[0].balance, 2 * uint256(FEE), "provider withdrew");
        assertEq(client.balance, escrow * 2, "client withdrew (plus the unspent request ETH)");
    }

    function test_pause_guardianCannotUnpauseDaoCan() public {
        vm.prank(guardian);
        market.pause();
        vm.expectRevert(_unauthorized(guardian, market.DEFAULT_ADMIN_ROLE()));
        vm.prank(guardian);
        market.unpause();
        assertTrue(market.paused(), "still paused");

        market.unpause();
        assertFalse(market.paused(), "DAO unpaused");
        (uint256 id,) = _requestEth(1);
        assertEq(_status(id), OPEN, "requests accepted again");
    }

    function test_pause_strangerCannotPause() public {
        vm.expectRevert(_unauthorized(stranger, market.GUARDIAN_ROLE()));
        vm.prank(stranger);
        market.pause();
        market.pause();
        assertTrue(market.paused(), "the DAO may pause too");
    }
}

// ==================================================================== policy and admin

contract InferenceMarketPolicyTest is InferenceMarketFixture {
    function _expectOutOfBounds(IInferenceMarketTypes.Policy memory p, string memory field, uint256 value) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketPolicyOutOfBounds.selector, field, value)
        );
        _court().setPolicy(p);
    }

    function test_constructor_setsState() public view {
        assertTrue(market.hasRole(market.DEFAULT_ADMIN_ROLE(), address(this)), "admin");
        assertTrue(market.hasRole(market.GUARDIAN_ROLE(), guardian), "guardian");
        assertEq(address(market.models()), address(models), "models");
        assertEq(address(market.providers()), address(registry), "providers");
        assertEq(market.treasury(), treasury, "treasury");
        assertEq(market.nextJobId(), 1, "ids start at 1");
        assertEq(keccak256(abi.encode(market.policy())), keccak256(abi.encode(_defaultPolicy())), "policy");
        assertTrue(market.isTokenAllowed(address(payToken)), "pay token allowed");
    }

    function test_constructor_revertsOnZeroAddresses() public {
        bytes memory err = abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketZeroAddress.selector);
        address court = address(new InferenceMarketCourt(models, registry));
        vm.expectRevert(err);
        new InferenceMarket(address(this), guardian, IModelRegistry(address(0)), registry, treasury, _defaultPolicy(), _defaultChallengePolicy(), court);
        vm.expectRevert(err);
        new InferenceMarket(address(this), guardian, models, IProviderRegistry(address(0)), treasury, _defaultPolicy(), _defaultChallengePolicy(), court);
        vm.expectRevert(err);
        new InferenceMarket(address(this), guardian, models, registry, address(0), _defaultPolicy(), _defaultChallengePolicy(), court);
        vm.expectRevert(err);
        new InferenceMarket(address(this), guardian, models, registry, treasury, _defaultPolicy(), _defaultChallengePolicy(), address(0));
        vm.expectRevert(err);
        new InferenceMarketCourt(IModelRegistry(address(0)), registry);
    }

    function test_constructor_revertsOnPolicyOutOfBounds() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.maxRedundancy = 0;
        address court = address(new InferenceMarketCourt(models, registry));
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketPolicyOutOfBounds.selector, "maxRedundancy", 0)
        );
        new InferenceMarket(address(this), guardian, models, registry, treasury, p, _defaultChallengePolicy(), court);
    }

    function test_setPolicy_updatesAndEmits() public {
        IInferenceMarketTypes.Policy memory p = IInferenceMarketTypes.Policy({
            protocolFeeBps: 250,
            quorumBps: 6_667,
            maxRedundancy: 9,
            commitWindow: 600,
            revealWindow: 900,
            priorityWindow: 5,
            maxInlineInputBytes: 0,
            maxJobDuration: 2 days,
            collateralPerJob: 5e18, // at least jurySize × juryFee (3 × 1e18)
            clientShareBps: 3_000
        });
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.PolicySet(p);
        _court().setPolicy(p);
        assertEq(keccak256(abi.encode(market.policy())), keccak256(abi.encode(p)), "stored");
    }

    function test_setPolicy_acceptsBoundaryValues() public {
        IInferenceMarketTypes.Policy memory low = IInferenceMarketTypes.Policy({
            protocolFeeBps: 0,
            quorumBps: 5_000,
            maxRedundancy: 1,
            commitWindow: 1,
            revealWindow: 1,
            priorityWindow: 0,
            maxInlineInputBytes: 0,
            maxJobDuration: 1 minutes,
            collateralPerJob: 1e18,
            clientShareBps: 0
        });
        // The least collateral (1 token, finding 16) needs a jury fee of at most a third of it.
        _setPolicyLoweringJuryFee(low);
        assertEq(IInferenceMarketCourt(address(market)).challengePolicy().juryFee, uint256(1e18) / 3, "jury fee lowered first");
        assertEq(keccak256(abi.encode(market.policy())), keccak256(abi.encode(low)), "low bounds");
        IInferenceMarketTypes.Policy memory high = IInferenceMarketTypes.Policy({
            protocolFeeBps: 1_000,
            quorumBps: 10_000,
            maxRedundancy: 32,
            commitWindow: 30 days,
            revealWindow: 30 days,
            priorityWindow: 1 hours,
            maxInlineInputBytes: 64 * 1024,
            maxJobDuration: 365 days,
            collateralPerJob: type(uint96).max, // a job's words hold 96 bits of collateral
            clientShareBps: 10_000
        });
        _court().setPolicy(high);
        assertEq(keccak256(abi.encode(market.policy())), keccak256(abi.encode(high)), "high bounds");
    }

    /// @dev A collateral below jurySize × juryFee could not pay a challenge's jurors.
    function test_setPolicy_revertsWhenCollateralBelowJuryFees() public {
        IInferenceMarketTypes.ChallengePolicy memory c = IInferenceMarketCourt(address(market)).challengePolicy();
        uint256 least = uint256(c.jurySize) * c.juryFee;
        assertEq(least, 3e18, "fixture: 3 jurors, 1e18 each");
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = uint128(least - 1);
        _expectOutOfBounds(p, "collateralPerJob", least - 1);
        p.collateralPerJob = uint128(least);
        _court().setPolicy(p);
        assertEq(market.policy().collateralPerJob, least, "the least collateral accepted");
    }

    /// @dev A job's words hold 96 bits of collateral: a policy above that is refused, not cut.
    function test_setPolicy_revertsWhenCollateralAboveJobWords() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = uint128(type(uint96).max) + 1;
        _expectOutOfBounds(p, "collateralPerJob", uint256(type(uint96).max) + 1);
    }

    /// @dev A job's words hold required tags 0-63: a request naming tag 64 is refused with the
    /// tags, and one naming tag 63 is taken and keeps it.
    function test_requestJob_revertsWhenTagsAboveBit63() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.requiredTags = uint256(1) << 64;
        uint256 escrow = _escrow(1);
        vm.deal(client, client.balance + escrow);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketTagsOutOfRange.selector, r.requiredTags));
        market.requestJob{value: escrow}(r);
        r.requiredTags = uint256(1) << 63;
        (, Job memory job) = _requestAs(client, r);
        assertEq(job.requiredTags, uint256(1) << 63, "tag 63 kept");
    }

    /// @dev The words of one fixed job, field by field: the same vector is checked by the
    /// TypeScript codec (test/node/job-words.test.ts), so both sides pack alike.
    function test_jobWords_sharedVector() public pure {
        Job memory job = Job({
            client: address(0x1111111111111111111111111111111111111111),
            token: address(0x2222222222222222222222222222222222222222),
            modelId: bytes32(uint256(0x33)),
            version: 7,
            redundancy: 3,
            quorum: 2,
            protocolFeeBps: 250,
            feePerProvider: 0.01 ether,
            requestedAt: 1_700_000_000,
            deadline: 1_700_003_600,
            commitDeadline: 1_700_000_120,
            revealWindow: 120,
            priorityWindow: 3,
            minMemoryMB: 512,
            collateral: 10 ether,
            requiredTags: 0x10001,
            inputHash: bytes32(uint256(0x44)),
            seed: 0xabcdef0123456789abcdef01,
            challengeWindow: 0,
            counted: true
        });
        uint256[6] memory w = wordsOf(job);
        assertEq(w[0], 0x1111111111111111111111111111111111111111006553f100006553ff100302, "w0");
        assertEq(w[1], 0x222222222222222222222222222222222222222200000000002386f26fc10000, "w1");
        assertEq(w[2], 0x000000070000020000fa00000003006553f17800000078000000000100000000, "w2");
        assertEq(w[3], 0x0000000000010001abcdef0123456789abcdef01000000008ac7230489e80000, "w3");
        assertEq(w[4], 0x33, "w4: modelId");
        assertEq(w[5], 0x44, "w5: inputHash");
        assertEq(keccak256(abi.encode(jobFromWords(w))), keccak256(abi.encode(job)), "round trip");
    }

    function test_setPolicy_revertsWhenClientShareAboveHundredPercent() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.clientShareBps = 10_001;
        _expectOutOfBounds(p, "clientShareBps", 10_001);
    }

    function test_setPolicy_revertsWhenPriorityWindowAboveOneHour() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.priorityWindow = 1 hours + 1;
        _expectOutOfBounds(p, "priorityWindow", 1 hours + 1);
    }

    function test_setPolicy_revertsWhenProtocolFeeAboveTenPercent() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.protocolFeeBps = 1_001;
        _expectOutOfBounds(p, "protocolFeeBps", 1_001);
    }

    function test_setPolicy_revertsWhenQuorumBelowHalf() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.quorumBps = 4_999;
        _expectOutOfBounds(p, "quorumBps", 4_999);
    }

    function test_setPolicy_revertsWhenQuorumAboveHundredPercent() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.quorumBps = 10_001;
        _expectOutOfBounds(p, "quorumBps", 10_001);
    }

    function test_setPolicy_revertsWhenMaxRedundancyZero() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.maxRedundancy = 0;
        _expectOutOfBounds(p, "maxRedundancy", 0);
    }

    function test_setPolicy_revertsWhenMaxRedundancyAbove32() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.maxRedundancy = 33;
        _expectOutOfBounds(p, "maxRedundancy", 33);
    }

    function test_setPolicy_revertsWhenCommitWindowZero() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.commitWindow = 0;
        _expectOutOfBounds(p, "commitWindow", 0);
    }

    function test_setPolicy_revertsWhenCommitWindowAbove30Days() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.commitWindow = 30 days + 1;
        _expectOutOfBounds(p, "commitWindow", 30 days + 1);
    }

    function test_setPolicy_revertsWhenRevealWindowZero() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.revealWindow = 0;
        _expectOutOfBounds(p, "revealWindow", 0);
    }

    function test_setPolicy_revertsWhenRevealWindowAbove30Days() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.revealWindow = 30 days + 1;
        _expectOutOfBounds(p, "revealWindow", 30 days + 1);
    }

    function test_setPolicy_revertsWhenInlineInputAbove64KiB() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.maxInlineInputBytes = 64 * 1024 + 1;
        _expectOutOfBounds(p, "maxInlineInputBytes", 64 * 1024 + 1);
    }

    function test_setPolicy_revertsWhenJobDurationBelowOneMinute() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.maxJobDuration = 59;
        _expectOutOfBounds(p, "maxJobDuration", 59);
    }

    function test_setPolicy_revertsWhenJobDurationAboveOneYear() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.maxJobDuration = 365 days + 1;
        _expectOutOfBounds(p, "maxJobDuration", 365 days + 1);
    }

    function test_setPolicy_revertsWhenNotAdmin() public {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        bytes32 adminRole = market.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(_unauthorized(stranger, adminRole));
        vm.prank(stranger);
        _court().setPolicy(p);
        vm.expectRevert(_unauthorized(guardian, adminRole));
        vm.prank(guardian);
        _court().setPolicy(p);
    }

    function test_setTokenAllowed_allowsAndDisallows() public {
        MockERC20 t = new MockERC20("T", "T", 6);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.TokenAllowed(address(t), true, 3_000e6);
        _court().setTokenAllowed(address(t), true, 3_000e6);
        assertTrue(market.isTokenAllowed(address(t)), "allowed");
        _court().setTokenAllowed(address(t), false, 0);
        assertFalse(market.isTokenAllowed(address(t)), "disallowed");
    }

    function test_setTokenAllowed_revertsOnZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketZeroAddress.selector));
        _court().setTokenAllowed(address(0), true, 1e18);
    }

    function test_setTokenAllowed_revertsWhenNotAdmin() public {
        bytes32 adminRole = market.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(_unauthorized(stranger, adminRole));
        vm.prank(stranger);
        _court().setTokenAllowed(address(payToken), false, 0);
        vm.expectRevert(_unauthorized(guardian, adminRole));
        vm.prank(guardian);
        _court().setTokenAllowed(address(payToken), false, 0);
        assertTrue(market.isTokenAllowed(address(payToken)), "unchanged");
    }

    function test_setTreasury_redirectsLaterProtocolFees() public {
        (uint256 id, Job memory job) = _requestEth(1);
        _submit(id, job, prov[0]);
        _claimPaid(id, job, prov[0]);
        address newTreasury = address(0x7EA52);
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.TreasurySet(newTreasury);
        _court().setTreasury(newTreasury);
        assertEq(market.treasury(), newTreasury, "stored");
        vm.expectRevert(_unauthorized(treasury, market.DEFAULT_ADMIN_ROLE()));
        vm.prank(treasury);
        _court().withdrawProtocolFees(address(0));
        vm.prank(newTreasury);
        assertEq(_court().withdrawProtocolFees(address(0)), _escrow(1) - FEE, "fees withdrawn");
        assertEq(newTreasury.balance, _escrow(1) - FEE, "fees go to the new treasury");
        assertEq(treasury.balance, 0, "old treasury gets nothing");
    }

    function test_withdrawProtocolFees_daoSendsToTreasuryPerToken() public {
        (uint256 a, Job memory ja) = _requestEth(1);
        (uint256 b, Job memory jb) = _request(1, address(payToken));
        _submit(a, ja, prov[0]);
        _submit(b, jb, prov[1]);
        _claimPaid(a, ja, prov[0]);
        _claimPaid(b, jb, prov[1]);
        uint256 fee = _escrow(1) - FEE;
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ProtocolFeesWithdrawn(address(payToken), treasury, fee);
        assertEq(_court().withdrawProtocolFees(address(payToken)), fee, "token fees");
        assertEq(payToken.balanceOf(treasury), fee, "tokens to the treasury");
        assertEq(payToken.balanceOf(address(market)), FEE, "the provider's fee stays");
        assertEq(market.protocolFees(address(0)), fee, "ETH fees untouched");
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector, treasury, address(payToken)
            )
        );
        _court().withdrawProtocolFees(address(payToken));
    }

    function test_withdrawProtocolFees_revertsForOthers() public {
        (uint256 id, Job memory job) = _requestEth(1);
        _submit(id, job, prov[0]);
        _claimPaid(id, job, prov[0]);
        bytes32 adminRole = market.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(_unauthorized(stranger, adminRole));
        vm.prank(stranger);
        _court().withdrawProtocolFees(address(0));
        vm.expectRevert(_unauthorized(prov[0], adminRole));
        vm.prank(prov[0]);
        _court().withdrawProtocolFees(address(0));
        vm.expectRevert(_unauthorized(guardian, adminRole));
        vm.prank(guardian);
        _court().withdrawProtocolFees(address(0));
        assertEq(market.protocolFees(address(0)), _escrow(1) - FEE, "unchanged");
    }

    function test_setTreasury_revertsOnZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketZeroAddress.selector));
        _court().setTreasury(address(0));
    }

    function test_setTreasury_revertsWhenNotAdmin() public {
        bytes32 adminRole = market.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(_unauthorized(stranger, adminRole));
        vm.prank(stranger);
        _court().setTreasury(stranger);
        vm.expectRevert(_unauthorized(guardian, adminRole));
        vm.prank(guardian);
        _court().setTreasury(guardian);
        assertEq(market.treasury(), treasury, "unchanged");
    }
}

// ==================================================================== assignment

/// @notice Assignment instead of a race (issue 11, finding 15 and the on-chain half of finding 2).
/// The roster is exactly prov[0..6] at indexes 0..6 (the fixture's lowMemory and fewTags are
/// suspended), and the policy's priority window is W.
contract InferenceMarketAssignmentTest is InferenceMarketFixture {
    uint32 internal constant W = 10;

    function setUp() public override {
        super.setUp();
        registry.suspendProvider(lowMemory);
        registry.suspendProvider(fewTags);
        _setWindow(W);
    }

    function _setWindow(uint32 window) internal {
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.priorityWindow = window;
        _court().setPolicy(p);
    }

    /// @dev The provider holding `rank` for `job` (every prov is a roster member).
    function _atRank(Job memory job, uint256 rank) internal view returns (address who, uint256 pk) {
        for (uint256 i = 0; i < NUM_PROVIDERS; ++i) {
            (bool member, uint256 r,) = market.assignment(wordsOf(job), prov[i]);
            assertTrue(member, "prov is a member");
            if (r == rank) return (prov[i], pks[i]);
        }
        fail("no provider holds the rank");
    }

    function _notAssigned(uint256 id, address p, uint256 rank, uint256 opensAt) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(
            IInferenceMarketTypes.InferenceMarketNotAssigned.selector, id, p, rank, uint40(opensAt)
        );
    }

    function test_requestJob_snapshotsWindowAndSeed() public {
        (uint256 id, Job memory job) = _requestEth(1);
        assertEq(job.priorityWindow, W, "window snapshot");
        assertEq(job.seed, uint96(uint256(keccak256(abi.encode(block.prevrandao, id)))), "seed: the low 96 bits");
        (, Job memory next) = _requestEth(1);
        assertTrue(next.seed != job.seed, "seeds differ per job");
    }

    function test_assignment_ranksArePermutationDrawnBySeed() public {
        (, Job memory job) = _requestEth(1);
        uint256 a = AssignmentSpec.multiplier(job.seed, NUM_PROVIDERS);
        uint256 seen;
        for (uint256 i = 0; i < NUM_PROVIDERS; ++i) {
            (bool member, uint256 rank, uint40 opensAt) = market.assignment(wordsOf(job), prov[i]);
            assertTrue(member, "member");
            assertEq(rank, (a * i + job.seed % NUM_PROVIDERS) % NUM_PROVIDERS, "rank formula");
            assertEq(opensAt, rank == 0 ? job.requestedAt : job.requestedAt + rank * W, "opensAt");
            seen |= 1 << rank;
        }
        assertEq(seen, (1 << NUM_PROVIDERS) - 1, "every rank once");
        (bool outsiderMember,,) = market.assignment(wordsOf(job), lowMemory);
        assertFalse(outsiderMember, "a suspended provider is no member");
    }

    function test_submitResult_onlyRankZeroAtRequest() public {
        (uint256 id, Job memory job) = _requestEth(1);
        for (uint256 rank = 1; rank < NUM_PROVIDERS; ++rank) {
            (address p,) = _atRank(job, rank);
            vm.expectRevert(_notAssigned(id, p, rank, job.requestedAt + rank * W));
            _submit(id, job, p);
        }
        (address first,) = _atRank(job, 0);
        _submit(id, job, first);
        assertEq(_status(id), K1_DELIVERED, "rank 0 delivered");
        assertEq(market.balanceOf(first, address(0)), 0, "not paid before the claim");
        _claimPaid(id, job, first);
        assertEq(market.balanceOf(first, address(0)), FEE, "rank 0 paid");
    }

    function test_submitResult_rankOneOpensAfterOneWindow() public {
        (uint256 id, Job memory job) = _requestEth(1);
        (address second,) = _atRank(job, 1);
        (address third,) = _atRank(job, 2);
        vm.warp(job.requestedAt + W - 1);
        vm.expectRevert(_notAssigned(id, second, 1, job.requestedAt + W));
        _submit(id, job, second);
        vm.warp(job.requestedAt + W);
        vm.expectRevert(_notAssigned(id, third, 2, job.requestedAt + 2 * W));
        _submit(id, job, third);
        _submit(id, job, second);
        assertEq(_status(id), K1_DELIVERED, "rank 1 delivered once its window came");
        assertEq(registry.getProvider(third).locked, 0, "the refused rank locked nothing");
        _claimPaid(id, job, second);
        assertEq(market.balanceOf(second, address(0)), FEE, "rank 1 paid once its window came");
    }

    function test_submitResult_everyRankEventuallyOpens() public {
        (uint256 id, Job memory job) = _requestEth(1);
        (address last,) = _atRank(job, NUM_PROVIDERS - 1);
        vm.warp(job.requestedAt + (NUM_PROVIDERS - 1) * W);
        _submit(id, job, last);
        assertEq(_status(id), K1_DELIVERED, "the last rank delivered");
    }

    /// @dev Finding 2: a copier (approved, not assigned) replays the assignee's (resultHash,
    /// outputRef) from the mempool inside the assignee's window: it reverts, the assignee is paid.
    function test_submitResult_mempoolCopyInAssigneesWindowReverts() public {
        (uint256 id, Job memory job) = _requestEth(1);
        (address assignee,) = _atRank(job, 0);
        (address copier,) = _atRank(job, 3);
        bytes32 seen = keccak256("assignee's result");
        bytes memory ref = "bafkreiassigneeoutput";
        vm.warp(job.requestedAt + W - 1);
        vm.expectRevert(_notAssigned(id, copier, 3, job.requestedAt + 3 * W));
        vm.prank(copier);
        market.submitResult(id, wordsOf(job), seen, ref);

        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.ResultSubmitted(id, assignee, seen, ref);
        vm.prank(assignee);
        market.submitResult(id, wordsOf(job), seen, ref);
        assertEq(registry.getProvider(copier).locked, 0, "the copier locked nothing");
        _claimPaid(id, job, assignee, seen);
        assertEq(market.balanceOf(copier, address(0)), 0, "the copier earns nothing");
        assertEq(market.balanceOf(assignee, address(0)), FEE, "the assignee is paid");
    }

    function test_commit_firstKRanksAtOnce() public {
        (uint256 id, Job memory job) = _requestEth(3);
        for (uint256 rank = 0; rank < 3; ++rank) {
            (address p,) = _atRank(job, rank);
            _commit(id, job, p, RESULT);
        }
        assertEq(_status(id), REVEALING, "three seats taken at request time");
    }

    function test_commit_rankKOnlyAfterAWindow() public {
        (uint256 id, Job memory job) = _requestEth(3);
        (address r0,) = _atRank(job, 0);
        (address r1,) = _atRank(job, 1);
        (address r3,) = _atRank(job, 3);
        (address r4,) = _atRank(job, 4);
        _commit(id, job, r0, RESULT);
        _commit(id, job, r1, RESULT);
        vm.expectRevert(_notAssigned(id, r3, 3, job.requestedAt + W));
        _commit(id, job, r3, RESULT);
        assertEq(registry.getProvider(r3).locked, 0, "the refused commit locked nothing");
        vm.warp(job.requestedAt + W);
        vm.expectRevert(_notAssigned(id, r4, 4, job.requestedAt + 2 * W));
        _commit(id, job, r4, RESULT);
        _commit(id, job, r3, RESULT);
        assertEq(_status(id), REVEALING, "rank 3 stepped in for the missing rank 2");
    }

    function test_submitAttestations_unassignedItemRejectedBatchGoesOn() public {
        (uint256 idA, Job memory jobA) = _requestEth(1);
        (uint256 idB, Job memory jobB) = _requestEth(1);
        (address late, uint256 latePk) = _atRank(jobA, 2);
        (address assigned, uint256 assignedPk) = _atRank(jobB, 0);
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](2);
        items[0] = _sign(market, latePk, idA, jobA, RESULT);
        items[1] = _sign(market, assignedPk, idB, jobB, RESULT);
        vm.recordLogs();
        uint256 delivered = _relay(market, items);
        Rejection[] memory rj = _rejections(vm.getRecordedLogs(), address(market));
        assertEq(delivered, 1, "the assigned item delivered");
        assertEq(rj.length, 1, "one rejection");
        _assertRejection(rj[0], idA, late, IInferenceMarketTypes.InferenceMarketNotAssigned.selector, "unassigned");
        assertEq(_status(idA), OPEN, "job A still open");
        assertEq(_status(idB), K1_DELIVERED, "job B delivered");
        assertEq(registry.getProvider(late).locked, 0, "the rejected item locked nothing");
        _claimPaid(idB, jobB, assigned);
        assertEq(market.balanceOf(assigned, address(0)), FEE, "assignee paid");
        assertEq(market.balanceOf(late, address(0)), 0, "early rank 2 unpaid");
    }

    function test_priorityWindowZero_everybodyAtOnce() public {
        _setWindow(0);
        (uint256 id, Job memory job) = _requestEth(1);
        assertEq(job.priorityWindow, 0, "no window");
        (address last,) = _atRank(job, NUM_PROVIDERS - 1);
        (,, uint40 opensAt) = market.assignment(wordsOf(job), last);
        assertEq(opensAt, job.requestedAt, "every rank open at request");
        _submit(id, job, last);
        assertEq(_status(id), K1_DELIVERED, "the last rank delivered at once");

        (uint256 id3, Job memory job3) = _requestEth(3);
        for (uint256 rank = NUM_PROVIDERS - 1; rank >= NUM_PROVIDERS - 3; --rank) {
            (address p,) = _atRank(job3, rank);
            _commit(id3, job3, p, RESULT);
        }
        assertEq(_status(id3), REVEALING, "the last three ranks took the seats");
    }

    /// @dev A job keeps the window it was requested with: a policy change does not move its ranks.
    function test_priorityWindow_isSnapshotPerJob() public {
        (uint256 id, Job memory job) = _requestEth(1);
        _setWindow(0);
        (address second,) = _atRank(job, 1);
        vm.expectRevert(_notAssigned(id, second, 1, job.requestedAt + W));
        _submit(id, job, second);
    }

    /// @dev A roster change mid-job moves ranks (documented): the job's rank 0 leaves, the size
    /// shrinks, and the assignment is recomputed from the new roster.
    function test_assignment_followsRosterChanges() public {
        (uint256 id, Job memory job) = _requestEth(1);
        (address first,) = _atRank(job, 0);
        registry.suspendProvider(first);
        (bool member,,) = market.assignment(wordsOf(job), first);
        assertFalse(member, "left the roster");
        uint256 size = registry.rosterSize();
        assertEq(size, NUM_PROVIDERS - 1, "roster shrank");
        address now0;
        for (uint256 i = 0; i < size; ++i) {
            if (AssignmentSpec.rank(job.seed, i, size) == 0) now0 = registry.rosterAt(i);
        }
        (, uint256 rank,) = market.assignment(wordsOf(job), now0);
        assertEq(rank, 0, "rank 0 recomputed on the new roster");
        _submit(id, job, now0);
        assertEq(_status(id), K1_DELIVERED, "delivered by the new rank 0");
    }

    /// @dev Fairness: over 1,000 seeds each of 5 providers is rank 0 about a fifth of the time.
    /// The seeds are fixed (deterministic); the bounds are ±25 % around 200.
    function test_assignment_rankZeroSpreadsOverFiveProviders() public {
        registry.suspendProvider(prov[5]);
        registry.suspendProvider(prov[6]);
        assertEq(registry.rosterSize(), 5, "five members");
        Job memory job;
        job.redundancy = 1;
        job.priorityWindow = W;
        uint256[5] memory firsts;
        for (uint256 s = 0; s < 1_000; ++s) {
            job.seed = uint256(keccak256(abi.encode("fairness", s)));
            for (uint256 i = 0; i < 5; ++i) {
                (, uint256 rank,) = market.assignment(wordsOf(job), prov[i]);
                if (rank == 0) ++firsts[i];
            }
        }
        for (uint256 i = 0; i < 5; ++i) {
            assertGe(firsts[i], 150, "rank 0 share not below 15 %");
            assertLe(firsts[i], 250, "rank 0 share not above 25 %");
        }
    }

    /// @dev Fairness on real requests: 100 jobs, the market's own seeds.
    function test_assignment_rankZeroSpreadsOverRequestedJobs() public {
        registry.suspendProvider(prov[5]);
        registry.suspendProvider(prov[6]);
        uint256[5] memory firsts;
        for (uint256 j = 0; j < 100; ++j) {
            (, Job memory job) = _requestEth(1);
            for (uint256 i = 0; i < 5; ++i) {
                (, uint256 rank,) = market.assignment(wordsOf(job), prov[i]);
                if (rank == 0) ++firsts[i];
            }
        }
        for (uint256 i = 0; i < 5; ++i) {
            assertGe(firsts[i], 5, "rank 0 share not below 5 %");
            assertLe(firsts[i], 40, "rank 0 share not above 40 %");
        }
    }

    /// @dev The same vector as test/node/scheduler.test.ts: on a roster of 5, seed 2 × 2^64 + 7
    /// gives the multiplier 1 + 2 % 4 = 3 and the offset 4, so roster index i has rank
    /// (3i + 4) mod 5.
    function test_assignment_affineVectorMatchesTheRunner() public {
        registry.suspendProvider(prov[5]);
        registry.suspendProvider(prov[6]);
        Job memory job;
        job.redundancy = 1;
        job.priorityWindow = W;
        job.seed = (2 << 64) + 7;
        uint8[5] memory expected = [4, 2, 0, 3, 1];
        for (uint256 i = 0; i < 5; ++i) {
            (, uint256 rank,) = market.assignment(wordsOf(job), registry.rosterAt(i));
            assertEq(rank, expected[i], "rank of roster index i");
        }
    }

    /// @dev Attack (docs/market-v2.md §1.4): 3 of 7 members joined one after another (roster
    /// indexes 0-2) and want both seats of k = 2 jobs. A rotation of the roster handed them both
    /// in 2 of 7 seeds (29 %); a uniform draw would in (3 × 2) / (7 × 6) = 14 %. With affine ranks
    /// they hold both no more often than a uniform draw allows (fixed seeds: deterministic).
    function test_assignment_consecutiveCartelDoesNotHoldFirstK() public view {
        assertEq(registry.rosterSize(), NUM_PROVIDERS, "seven members");
        Job memory job;
        job.redundancy = 2;
        job.priorityWindow = W;
        uint256 held;
        for (uint256 s = 0; s < 700; ++s) {
            job.seed = uint256(keccak256(abi.encode("cartel", s)));
            uint256 cartelSeats;
            for (uint256 i = 0; i < 3; ++i) {
                (, uint256 rank,) = market.assignment(wordsOf(job), registry.rosterAt(i));
                if (rank < 2) ++cartelSeats;
            }
            if (cartelSeats == 2) ++held;
        }
        assertLe(held, 130, "both seats in at most about 19 % of jobs (a rotation: 29 %)");
    }

    /// @dev A multiplier sharing a factor with the roster size is stepped to the next coprime one
    /// (the ranks stay a permutation for every roster size and seed).
    function testFuzz_assignment_permutationForAnyRosterSize(uint256 seed, uint8 suspended) public {
        uint256 gone = bound(suspended, 0, NUM_PROVIDERS - 1);
        for (uint256 i = 0; i < gone; ++i) registry.suspendProvider(prov[NUM_PROVIDERS - 1 - i]);
        uint256 n = registry.rosterSize();
        seed = uint96(seed); // a job's words hold a 96-bit seed
        Job memory job;
        job.redundancy = 1;
        job.priorityWindow = W;
        job.seed = seed;
        uint256 seen;
        for (uint256 i = 0; i < n; ++i) {
            (bool member, uint256 rank,) = market.assignment(wordsOf(job), registry.rosterAt(i));
            assertTrue(member, "member");
            assertEq(rank, AssignmentSpec.rank(seed, i, n), "rank formula");
            seen |= 1 << rank;
        }
        assertEq(seen, (1 << n) - 1, "permutation");
    }

    /// @dev For any seed, the ranks are a permutation of 0..n-1 and exactly one provider is open
    /// at request for k = 1, two after one window.
    function testFuzz_assignment_ranksArePermutation(uint256 seed, uint8 elapsedWindows) public view {
        Job memory job;
        job.redundancy = 1;
        job.priorityWindow = W;
        job.requestedAt = uint40(block.timestamp);
        job.seed = seed;
        uint256 elapsed = bound(elapsedWindows, 0, NUM_PROVIDERS);
        uint256 seen;
        uint256 open;
        for (uint256 i = 0; i < NUM_PROVIDERS; ++i) {
            (, uint256 rank, uint40 opensAt) = market.assignment(wordsOf(job), prov[i]);
            assertLe(rank, NUM_PROVIDERS - 1, "rank in range");
            seen |= 1 << rank;
            if (opensAt <= job.requestedAt + elapsed * W) ++open;
        }
        assertEq(seen, (1 << NUM_PROVIDERS) - 1, "permutation");
        assertEq(open, elapsed + 1 > NUM_PROVIDERS ? NUM_PROVIDERS : elapsed + 1, "one more rank per window");
    }
}

// ==================================================================== payment tokens (finding 7)

/// @notice A version's minimum fee is in wei and converted into each ERC-20 at the DAO's rate
/// (issue 11, finding 7). Before, `minFee` was one raw number for every token: 0.1 of an
/// 18-decimal token worth a millionth of an ETH met a minimum meant as 0.1 ETH, and no 6-decimal
/// fee below 10^11 dollars did. The version's minimum is MIN_FEE = 0.1 ETH.
contract InferenceMarketPaymentTokenTest is InferenceMarketFixture {
    /// @dev 6 decimals at 3,000 dollars per ETH: 0.1 ETH is 300 dollars, 300e6 base units.
    uint128 internal constant USDC_RATE = 3_000e6;
    /// @dev 18 decimals at a million tokens per ETH: 0.1 ETH is 100,000 tokens.
    uint128 internal constant MEME_RATE = 1_000_000e18;

    MockERC20 internal usdc;
    MockERC20 internal meme;

    function setUp() public override {
        super.setUp();
        usdc = new MockERC20("USD Coin", "USDC", 6);
        meme = new MockERC20("Meme", "MEME", 18);
        _court().setTokenAllowed(address(usdc), true, USDC_RATE);
        _court().setTokenAllowed(address(meme), true, MEME_RATE);
    }

    function _reqFee(address token, uint96 fee) internal view returns (IInferenceMarketTypes.JobRequest memory r) {
        r = _req(1, token);
        r.feePerProvider = fee;
    }

    function _belowMinimum(uint256 fee, uint256 minimum) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketFeeBelowMinimum.selector, fee, minimum);
    }

    function _expectRefused(IInferenceMarketTypes.JobRequest memory r, uint256 value, bytes memory err) internal {
        vm.deal(client, value);
        vm.expectRevert(err);
        vm.prank(client);
        market.requestJob{value: value}(r);
    }

    /// @dev Funds and approves the escrow of a k = 1 request for `fee`, then expects `err`.
    function _expectTokenRevert(MockERC20 token, uint96 fee, bytes memory err) internal {
        uint256 escrow = market.escrowOf(1, fee, PROTOCOL_FEE_BPS);
        token.mint(client, escrow);
        vm.prank(client);
        token.approve(address(market), escrow);
        _expectRefused(_reqFee(address(token), fee), 0, err);
    }

    function test_minFeeIn_convertsAtTheRate() public view {
        assertEq(market.minFeeIn(address(0), MIN_FEE), MIN_FEE, "ETH: the minimum itself");
        assertEq(market.minFeeIn(address(usdc), MIN_FEE), 300e6, "0.1 ETH = 300 USDC");
        assertEq(market.minFeeIn(address(meme), MIN_FEE), 100_000e18, "0.1 ETH = 100,000 MEME");
        assertEq(market.minFeeIn(address(payToken), MIN_FEE), MIN_FEE, "rate 1e18: same number");
        assertEq(market.minFeeIn(address(usdc), 0), 0, "free version");
    }

    function test_minFeeIn_roundsUp() public {
        // 1 base unit per ETH: any non-zero minimum is at least 1 unit, never 0.
        _court().setTokenAllowed(address(usdc), true, 1);
        assertEq(market.minFeeIn(address(usdc), 1), 1, "1 wei -> 1 unit");
        assertEq(market.minFeeIn(address(usdc), 1e18), 1, "1 ETH -> 1 unit");
        assertEq(market.minFeeIn(address(usdc), 1e18 + 1), 2, "just over 1 ETH -> 2 units");
    }

    function test_minFeeIn_revertsForTokenNotAllowed() public {
        MockERC20 other = new MockERC20("Other", "OTH", 6);
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketTokenNotAllowed.selector, address(other)));
        market.minFeeIn(address(other), MIN_FEE);
    }

    /// @dev The attack of finding 7: the raw minimum, paid in a token worth far less than ETH.
    function test_requestJob_cheapTokenCannotPayTheRawMinimum() public {
        _expectTokenRevert(meme, MIN_FEE, _belowMinimum(MIN_FEE, 100_000e18));
        (, Job memory job) = _requestAs(client, _reqFee(address(meme), 100_000e18));
        assertEq(job.feePerProvider, 100_000e18, "the converted minimum is accepted");
    }

    function test_requestJob_sixDecimalTokenAtTheConvertedMinimum() public {
        _expectTokenRevert(usdc, 300e6 - 1, _belowMinimum(300e6 - 1, 300e6));
        (uint256 id, Job memory job) = _requestAs(client, _reqFee(address(usdc), 300e6));
        assertEq(job.token, address(usdc), "token");
        assertEq(usdc.balanceOf(address(market)), market.escrowOf(1, 300e6, PROTOCOL_FEE_BPS), "escrow");
        // The job runs and pays in the token as any other.
        _submit(id, job, prov[0]);
        _claimPaid(id, job, prov[0]);
        assertEq(market.balanceOf(prov[0], address(usdc)), 300e6, "provider paid in USDC");
    }

    function test_requestJob_eighteenDecimalTokenAtTheConvertedMinimum() public {
        _court().setTokenAllowed(address(payToken), true, 2_000e18); // 2,000 per ETH
        _expectTokenRevert(payToken, 200e18 - 1, _belowMinimum(200e18 - 1, 200e18));
        (, Job memory job) = _requestAs(client, _reqFee(address(payToken), 200e18));
        assertEq(job.feePerProvider, 200e18, "fee");
    }

    function test_requestJob_ethIgnoresTokenRates() public {
        (, Job memory job) = _requestAs(client, _reqFee(address(0), MIN_FEE));
        assertEq(job.feePerProvider, MIN_FEE, "ETH pays the wei minimum");
        _expectRefused(
            _reqFee(address(0), MIN_FEE - 1),
            market.escrowOf(1, MIN_FEE - 1, PROTOCOL_FEE_BPS),
            _belowMinimum(MIN_FEE - 1, MIN_FEE)
        );
    }

    function test_requestJob_rateChangeAppliesToLaterRequestsOnly() public {
        (uint256 id, Job memory job) = _requestAs(client, _reqFee(address(usdc), 300e6));
        _court().setTokenAllowed(address(usdc), true, 6_000e6); // the dollar halves against ETH
        _expectTokenRevert(usdc, 300e6, _belowMinimum(300e6, 600e6));
        // The job requested before keeps its fee and still pays.
        _submit(id, job, prov[0]);
        _claimPaid(id, job, prov[0]);
        assertEq(market.balanceOf(prov[0], address(usdc)), 300e6, "paid the old fee");
    }

    /// @dev Whatever the rate and the fee, a request is accepted exactly when the fee reaches
    /// `minFeeIn` (the minimum rounded up), and the escrow is the token's.
    function testFuzz_requestJob_tokenFeeAcceptedIffAtLeastConvertedMinimum(uint128 rate, uint96 fee) public {
        rate = uint128(bound(rate, 1, 1e30));
        _court().setTokenAllowed(address(usdc), true, rate);
        uint256 minimum = market.minFeeIn(address(usdc), MIN_FEE);
        assertEq(minimum, (uint256(MIN_FEE) * rate + 1e18 - 1) / 1e18, "ceil(minFee * rate / 1e18)");
        assertGe(minimum * 1e18, uint256(MIN_FEE) * rate, "never below the minimum's value");
        fee = uint96(bound(fee, 0, type(uint96).max / 2));
        if (fee < minimum) {
            _expectTokenRevert(usdc, fee, _belowMinimum(fee, minimum));
        } else {
            (, Job memory job) = _requestAs(client, _reqFee(address(usdc), fee));
            assertEq(job.feePerProvider, fee, "accepted");
        }
    }

    function test_setTokenAllowed_revertsOnZeroRateWhenAllowing() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketPolicyOutOfBounds.selector, "ratePerEth", 0));
        _court().setTokenAllowed(address(usdc), true, 0);
        assertEq(market.minFeeIn(address(usdc), MIN_FEE), 300e6, "unchanged");
    }

    function test_setTokenAllowed_disallowingRevertsRequests() public {
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.TokenAllowed(address(usdc), false, 0);
        _court().setTokenAllowed(address(usdc), false, 0);
        assertFalse(market.isTokenAllowed(address(usdc)), "disallowed");
        _expectTokenRevert(usdc, 300e6, abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketTokenNotAllowed.selector, address(usdc)));
    }

    /// @dev The DAO's settings moved to the court: called on the court's own address, they refuse.
    function test_daoSettings_refuseDirectCallsToTheCourt() public {
        IInferenceMarketCourt court = IInferenceMarketCourt(market.court());
        vm.expectRevert(InferenceMarketCourt.InferenceMarketCourtDirectCall.selector);
        court.setTokenAllowed(address(usdc), true, 1);
        vm.expectRevert(InferenceMarketCourt.InferenceMarketCourtDirectCall.selector);
        court.setPolicy(_defaultPolicy());
        vm.expectRevert(InferenceMarketCourt.InferenceMarketCourtDirectCall.selector);
        court.setTreasury(stranger);
        vm.expectRevert(InferenceMarketCourt.InferenceMarketCourtDirectCall.selector);
        court.withdrawProtocolFees(address(0));
    }
}
