// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// The market tests' shared fixture (InferenceMarketFixture) and helper contracts; each
// InferenceMarket*.t.sol file holds the tests of one concern and imports this file whole.

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

        market = _newMarket();
        registry.grantRole(registry.MARKET_ROLE(), address(market));
        // Before any model is published: the registry pushes its mirror to the market from then on.
        models.grantRole(models.MARKET_ROLE(), address(market));
        (modelId, ) = models.publishVersion(NAME, _versionParams());
        models.activateVersion(modelId, 1);
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

    /// @dev Gives another market `m` MARKET_ROLE on the model registry and pushes it the mirror of
    /// every version of the fixture's model (a market granted the role after publication is not
    /// synced by the grant).
    /// @dev A market on the fixture's registries with the default policies; no role granted yet.
    function _newMarket() internal returns (InferenceMarket) {
        return
            new InferenceMarket(
                address(this),
                guardian,
                models,
                registry,
                treasury,
                _defaultPolicy(),
                _defaultChallengePolicy(),
                address(new InferenceMarketCourt(models, registry))
            );
    }

    /// @dev Another market on the same registries, as the DAO would add one: MARKET_ROLE on the
    /// provider registry with the fixture's providers pushed to it (a market granted the role
    /// after they registered is not synced by the grant), and on the model registry with the
    /// model's mirror pushed to it.
    function _secondMarket() internal returns (InferenceMarket m) {
        m = _newMarket();
        registry.grantRole(registry.MARKET_ROLE(), address(m));
        registry.syncProviders(_fixtureProviders());
        _mirrorTo(address(m));
    }

    /// @dev Every provider the fixture registered.
    function _fixtureProviders() internal view returns (address[] memory all) {
        all = new address[](NUM_PROVIDERS + 3);
        for (uint256 i = 0; i < NUM_PROVIDERS; ++i) all[i] = prov[i];
        all[NUM_PROVIDERS] = pending;
        all[NUM_PROVIDERS + 1] = lowMemory;
        all[NUM_PROVIDERS + 2] = fewTags;
    }

    function _mirrorTo(address m) internal {
        models.grantRole(models.MARKET_ROLE(), m);
        uint32 n = models.getModel(modelId).versionCount;
        uint32[] memory versions = new uint32[](n);
        for (uint32 v = 1; v <= n; ++v) versions[v - 1] = v;
        models.syncModel(modelId, versions);
    }

    function _versionParams() internal pure returns (IModelRegistry.VersionParams memory) {
        return
            IModelRegistry.VersionParams({
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
        return
            IInferenceMarketTypes.Policy({
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
        return
            IInferenceMarketTypes.ChallengePolicy({
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
    function _requestOn(
        InferenceMarket m,
        address who,
        IInferenceMarketTypes.JobRequest memory r
    ) internal returns (uint256 id, Job memory job) {
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

    function _requestAs(
        address who,
        IInferenceMarketTypes.JobRequest memory r
    ) internal returns (uint256 id, Job memory job) {
        return _requestOn(market, who, r);
    }

    function _request(uint8 k, address token) internal returns (uint256 id, Job memory job) {
        return _requestAs(client, _req(k, token));
    }

    function _requestEth(uint8 k) internal returns (uint256 id, Job memory job) {
        return _request(k, address(0));
    }

    /// @dev Finds the `Job` of `{JobRequested}(id)` emitted by `m` in `logs`.
    function _jobFromLogs(InferenceMarket m, uint256 id, Vm.Log[] memory logs) internal pure returns (Job memory job) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(m) &&
                logs[i].topics[0] == IInferenceMarketTypes.JobRequested.selector &&
                uint256(logs[i].topics[1]) == id
            ) {
                (uint256[6] memory words, , ) = abi.decode(logs[i].data, (uint256[6], bytes, string));
                return jobFromWords(words);
            }
        }
        fail("JobRequested not found");
    }

    /// @dev The `Job` the market must store for `r` requested by `who` now, rebuilt by hand.
    function _expectedJob(
        InferenceMarket m,
        IInferenceMarketTypes.JobRequest memory r,
        address who
    ) internal view returns (Job memory job) {
        IInferenceMarketTypes.Policy memory p = m.policy();
        job.seed = uint96(uint256(keccak256(abi.encode(block.prevrandao, m.nextJobId()))));
        // The registry resolves version 0 (to a rollout's canary, drawn from the seed, or the active one).
        (uint32 version, , , , bool counted) = models.jobTermsFor(r.modelId, r.version, job.seed);
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
        (IInferenceMarketTypes.JobStatus s, , , ) = market.jobState(id);
        return uint256(s);
    }

    function _seated(uint256 id) internal view returns (uint256 seated) {
        (, uint8 s, , ) = market.jobState(id);
        return s;
    }

    function _revealed(uint256 id) internal view returns (uint256 revealed) {
        (, , uint8 r, ) = market.jobState(id);
        return r;
    }

    function _revealStart(uint256 id) internal view returns (uint256 startedAt) {
        (, , , uint40 t) = market.jobState(id);
        return t;
    }

    // ---------------------------------------------------------------- provider helpers

    function _submit(uint256 id, Job memory job, address p) internal {
        vm.prank(p);
        market.submitResult(id, wordsOf(job), RESULT, OUTPUT);
    }

    /// @dev The one-item claim batch of `p`'s delivery of `result` for the k = 1 job `id`.
    function _claimItem(
        uint256 id,
        Job memory job,
        address p,
        bytes32 result
    ) internal pure returns (IInferenceMarketTypes.Claim[] memory claims) {
        claims = new IInferenceMarketTypes.Claim[](1);
        claims[0] = IInferenceMarketTypes.Claim({jobId: id, job: wordsOf(job), provider: p, resultHash: result});
    }

    /// @dev Waits out the challenge window of every delivery in `claims` on `m` (from the
    /// delivery time, jobState's time field) and claims them as a keeper; returns how many paid.
    function _claimBatchOn(
        InferenceMarket m,
        IInferenceMarketTypes.Claim[] memory claims
    ) internal returns (uint256 claimed) {
        uint256 matured = block.timestamp;
        for (uint256 i = 0; i < claims.length; ++i) {
            (, , , uint40 deliveredAt) = m.jobState(claims[i].jobId);
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
    function _claimOn(InferenceMarket m, uint256 id, Job memory job, address p, bytes32 result) internal {
        (IInferenceMarketTypes.JobStatus status, , , ) = m.jobState(id);
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

    function _commit(uint256 id, Job memory job, address p, bytes32 result) internal returns (uint8 seat) {
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
    function _recovered(
        InferenceMarket m,
        IInferenceMarketTypes.SignedResult memory item
    ) internal view returns (address) {
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

    function _one(
        IInferenceMarketTypes.SignedResult memory item
    ) internal pure returns (IInferenceMarketTypes.SignedResult[] memory items) {
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
            if (logs[i].emitter == emitter && logs[i].topics[0] == IInferenceMarketTypes.AttestationRejected.selector)
                ++n;
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

    function _assertRejection(
        Rejection memory rj,
        uint256 id,
        address p,
        bytes4 reason,
        string memory what
    ) internal pure {
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

    // ---------------------------------------------------------------- collateral helpers

    /// @dev The collateral `m` holds free for `p` (allocated, in no seat).
    function _freeOn(InferenceMarket m, address p) internal view returns (uint256 free) {
        (, , , , , free) = IInferenceMarketCourt(address(m)).providerCollateral(p);
    }

    /// @dev The collateral the fixture's market holds free for `p`.
    function _free(address p) internal view returns (uint256) {
        return _freeOn(market, p);
    }

    /// @dev The collateral held by `p`'s open seats, for a provider allocated to the fixture's
    /// market alone: what it allocated less what the market holds free. Asserts the allocation
    /// identity on the way (allocated = free here + seats, so free here <= allocated).
    function _held(address p) internal view returns (uint256) {
        uint256 allocated = registry.getProvider(p).locked;
        uint256 free = _free(p);
        require(free <= allocated, "market free exceeds the allocation");
        return allocated - free;
    }

    /// @dev The faults counted against `p` (disagreements and misses).
    function _faults(address p) internal view returns (uint256) {
        IProviderRegistry.Provider memory r = registry.getProvider(p);
        return uint256(r.disagreed) + r.missed;
    }

    // ---------------------------------------------------------------- error helpers

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _invalidStatus(uint256 id, IInferenceMarketTypes.JobStatus status) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidStatus.selector, id, status);
    }

    function _jobMismatch(uint256 id) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketJobMismatch.selector, id);
    }

    function _notSeated(uint256 id, uint8 seat, address provider) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotSeated.selector, id, seat, provider);
    }

    function _notFinalizable(uint256 id, IInferenceMarketTypes.JobStatus status) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketNotFinalizable.selector, id, status);
    }

    /// @dev The market's refusal of a provider that may take no seat (not an Approved member,
    /// exiting, or under the minimum stake).
    function _notEligible(address p) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketProviderNotEligible.selector, p);
    }

    function _missingTags(address p, uint256 missing) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketProviderMissingTags.selector, p, missing);
    }

    function _lowMemory(address p, uint32 memoryMB, uint32 required) internal pure returns (bytes memory) {
        return
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketProviderInsufficientMemory.selector,
                p,
                memoryMB,
                required
            );
    }

    function _frozen(address p, uint40 until) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketProviderFrozen.selector, p, until);
    }

    /// @dev The registry's refusal to allocate `minimum` (the seat's shortfall) from `free`.
    function _insufficientStake(address p, uint256 free, uint256 minimum) internal pure returns (bytes memory) {
        return
            abi.encodeWithSelector(IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector, p, free, minimum);
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
