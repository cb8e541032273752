// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// The fixture of the InferenceMarketFuzz*.t.sol files (fuzz tests of the market's arithmetic and
// timing through the real stack).

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "../utils/Test.sol";
import {AttestationBatch} from "../utils/AttestationBatch.sol";
import {InferenceMarket} from "../../../contracts/market/InferenceMarket.sol";
import {IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {IInferenceMarketCourt} from "../../../contracts/interfaces/IInferenceMarketCourt.sol";
import {IProviderRegistry} from "../../../contracts/interfaces/IProviderRegistry.sol";
import {MockERC20} from "../../../contracts/mocks/MockERC20.sol";
import {Job, wordsOf} from "../utils/JobStruct.sol";
import {MarketSpec} from "./handlers/MarketSpec.sol";
import {MarketStack, START, MIN_MEMORY, ACTIVE_VERSION, TREASURY} from "./handlers/MarketStack.sol";

/// @notice The market's fuzz tests' shared fixture: the real stack with eight providers (and one
/// without tag bit 1), and the helpers that request, deliver, commit and check rounds.
abstract contract InferenceMarketFuzzFixture is Test {
    uint256 internal constant PROVIDERS = 8;
    address internal constant CLIENT = address(0xC11E27);

    MarketStack.Stack internal s;
    InferenceMarket internal market;
    uint256[PROVIDERS] internal keys;
    address[PROVIDERS] internal provs;
    /// @dev A provider without tag bit 1 (used by the batch test only).
    uint256 internal narrowKey = 0xF00DFF;
    address internal narrow;

    function setUp() public virtual {
        vm.warp(START);
        IInferenceMarketTypes.Policy memory p = MarketStack.defaultPolicy();
        p.maxRedundancy = 32;
        s = MarketStack.deploy(TREASURY, p);
        market = s.market;
        for (uint256 i = 0; i < PROVIDERS; ++i) {
            keys[i] = 0xF00D00 + i + 1;
            provs[i] = vm.addr(keys[i]);
            MarketStack.register(s, provs[i], 1_000e18, 3);
        }
        narrow = vm.addr(narrowKey);
        MarketStack.register(s, narrow, 1_000e18, 1);
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Balances before a round.
    struct Before {
        uint256 client;
        uint256 treasury;
        uint256[PROVIDERS] provider;
        uint256[PROVIDERS] stake;
    }

    /// @dev One k-seat job where seats 0..a−1 reveal the true result and the others a distinct
    /// result each, or (bit i of `silentMask`) stay silent; checks the round's credits.
    function _roundWithAgreeing(uint8 k, uint96 fee, uint256 a, uint256 silentMask) internal {
        (uint256 jobId, Job memory job) = _request(k, fee, address(s.tokenA), uint40(block.timestamp + 2 hours), a);
        Before memory b;
        b.client = market.balanceOf(CLIENT, address(s.tokenA));
        b.treasury = market.protocolFees(address(s.tokenA));
        for (uint256 i = 0; i < k; ++i) {
            b.provider[i] = market.balanceOf(provs[i], address(s.tokenA));
            b.stake[i] = s.registry.getProvider(provs[i]).stake;
            _commit(jobId, job, i, _roundHash(jobId, i, a));
        }
        bool allRevealed = true;
        for (uint256 i = 0; i < k; ++i) {
            if (i >= a && (silentMask >> i) & 1 == 1) {
                allRevealed = false;
                continue;
            }
            vm.prank(provs[i]);
            market.reveal(jobId, wordsOf(job), uint8(i), _roundHash(jobId, i, a), _salt(jobId, i), "");
        }
        if (!allRevealed) {
            vm.warp(block.timestamp + job.revealWindow + 1);
            market.finalize(jobId, wordsOf(job));
        }
        _checkRound(jobId, job, a, silentMask, b);
    }

    function _roundHash(uint256 jobId, uint256 i, uint256 a) internal pure returns (bytes32) {
        return i < a ? keccak256(abi.encode("truth", jobId)) : keccak256(abi.encode("other", jobId, i));
    }

    function _checkRound(uint256 jobId, Job memory job, uint256 a, uint256 silentMask, Before memory b) internal view {
        address token = address(s.tokenA);
        bool quorate = a >= job.quorum;
        uint256 treasuryEarned = market.protocolFees(token) - b.treasury;
        uint256 total = market.balanceOf(CLIENT, token) - b.client + treasuryEarned;
        for (uint256 i = 0; i < job.redundancy; ++i) {
            uint256 earned = market.balanceOf(provs[i], token) - b.provider[i];
            total += earned;
            assertEq(
                earned,
                quorate && i < a ? job.feePerProvider : 0,
                "a provider earns the fee iff in a quorate majority"
            );
            uint256 lost = b.stake[i] - s.registry.getProvider(provs[i]).stake;
            bool silent = i >= a && (silentMask >> i) & 1 == 1;
            assertEq(
                lost,
                silent || (quorate && i >= a) ? job.collateral : 0,
                "slashed iff silent or outside a quorate majority"
            );
        }
        assertEq(
            total,
            MarketSpec.escrow(job.redundancy, job.feePerProvider, job.protocolFeeBps),
            "credits sum to the escrow"
        );
        uint256 protocolFee = quorate ? MarketSpec.protocolFee(a, job.feePerProvider, job.protocolFeeBps) : 0;
        assertEq(treasuryEarned, protocolFee, "protocol fee on the paid fees only");
        _assertStatus(
            jobId,
            quorate ? IInferenceMarketTypes.JobStatus.Settled : IInferenceMarketTypes.JobStatus.Refunded
        );
    }

    function _deliver(
        uint256 jobId,
        Job memory job,
        address provider,
        bytes32 resultHash,
        bool viaBatch,
        bytes4 expectedError
    ) internal {
        if (!viaBatch) {
            if (expectedError != bytes4(0)) {
                vm.expectRevert(abi.encodeWithSelector(expectedError, jobId, job.deadline));
            }
            vm.prank(provider);
            market.submitResult(jobId, wordsOf(job), resultHash, "ipfs://bafy-output");
            return;
        }
        IInferenceMarketTypes.SignedResult[] memory items = new IInferenceMarketTypes.SignedResult[](1);
        items[0] = _signed(jobId, job, provider, resultHash);
        if (expectedError != bytes4(0)) {
            vm.expectEmit(true, true, false, true, address(market));
            emit IInferenceMarketTypes.AttestationRejected(jobId, provider, expectedError);
        }
        assertEq(
            market.submitAttestations(AttestationBatch.encode(items)),
            expectedError == bytes4(0) ? 1 : 0,
            "delivered count"
        );
    }

    function _signed(
        uint256 jobId,
        Job memory job,
        address signer,
        bytes32 resultHash
    ) internal view returns (IInferenceMarketTypes.SignedResult memory) {
        uint256 key = signer == narrow ? narrowKey : 0;
        for (uint256 i = 0; i < PROVIDERS; ++i) {
            if (provs[i] == signer) key = keys[i];
        }
        bytes memory outputRef = abi.encodePacked("ipfs://bafy-", resultHash);
        (uint8 v, bytes32 r, bytes32 sg) = vm.sign(
            key,
            MarketSpec.attestationDigest(address(market), jobId, job, resultHash, outputRef)
        );
        return
            IInferenceMarketTypes.SignedResult(jobId, wordsOf(job), resultHash, outputRef, abi.encodePacked(r, sg, v));
    }

    function _tokenAt(uint256 t) internal view returns (address) {
        return
            t == 0
                ? address(0)
                : t == 1
                    ? address(s.tokenA)
                    : address(s.tokenB);
    }

    function _tokenIndex(address token) internal view returns (uint256) {
        return
            token == address(0)
                ? 0
                : token == address(s.tokenA)
                    ? 1
                    : 2;
    }

    function _indexOf(uint256[] memory ids, uint256 id) internal pure returns (uint256) {
        for (uint256 i = 0; i < ids.length; ++i) {
            if (ids[i] == id) return i;
        }
        return type(uint256).max;
    }

    function _commit(uint256 jobId, Job memory job, uint256 i, bytes32 resultHash) internal {
        bytes32 commitment = MarketSpec.commitment(jobId, provs[i], resultHash, _salt(jobId, i));
        vm.prank(provs[i]);
        assertEq(market.commit(jobId, wordsOf(job), commitment), i, "seat index");
    }

    function _salt(uint256 jobId, uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", jobId, i));
    }

    function _setPolicy(uint16 bps, uint16 quorumBps, uint40 maxJobDuration) internal {
        IInferenceMarketTypes.Policy memory p = MarketStack.defaultPolicy();
        p.protocolFeeBps = bps;
        p.quorumBps = quorumBps;
        p.maxRedundancy = 32;
        p.maxJobDuration = maxJobDuration;
        IInferenceMarketCourt(address(market)).setPolicy(p);
    }

    function _requestOf(
        uint8 k,
        uint96 fee,
        address token,
        uint40 deadline,
        uint256 seed
    ) internal view returns (IInferenceMarketTypes.JobRequest memory r) {
        r.modelId = s.modelId;
        r.version = uint32(seed % 2);
        r.redundancy = k;
        r.feePerProvider = fee;
        r.token = token;
        r.deadline = deadline;
        r.requiredTags = seed % 3 == 0 ? 2 : 0;
        if (seed % 4 < 2) r.input = abi.encodePacked("safetensors", seed);
        else r.inputCid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    }

    /// @dev Funds the client, requests, and checks the emitted Job against the specification.
    function _request(
        uint8 k,
        uint96 fee,
        address token,
        uint40 deadline,
        uint256 seed
    ) internal returns (uint256 jobId, Job memory job) {
        IInferenceMarketTypes.JobRequest memory r = _requestOf(k, fee, token, deadline, seed);
        IInferenceMarketTypes.Policy memory p = market.policy();
        uint256 escrow = MarketSpec.escrow(k, fee, p.protocolFeeBps);
        if (token == address(0)) {
            vm.deal(CLIENT, escrow);
        } else {
            MockERC20(token).mint(CLIENT, escrow);
            vm.prank(CLIENT);
            IERC20(token).approve(address(market), escrow);
        }
        uint256 expectedId = market.nextJobId();
        vm.recordLogs();
        vm.prank(CLIENT);
        jobId = market.requestJob{value: token == address(0) ? escrow : 0}(r);
        bool found;
        uint256 loggedId;
        (found, loggedId, job) = MarketSpec.requestedJob(vm.getRecordedLogs(), address(market));
        assertTrue(found, "JobRequested emitted");
        assertEq(loggedId, jobId, "logged id");
        assertEq(jobId, expectedId, "sequential id");
        assertEq(
            MarketSpec.hashOf(job),
            MarketSpec.hashOf(
                MarketSpec.job(
                    jobId,
                    r,
                    p,
                    CLIENT,
                    ACTIVE_VERSION,
                    MIN_MEMORY,
                    IInferenceMarketCourt(address(market)).challengePolicy().challengeWindow
                )
            ),
            "Job = spec"
        );
    }

    function _assertStatus(uint256 jobId, IInferenceMarketTypes.JobStatus expected) internal view {
        (IInferenceMarketTypes.JobStatus status, , , ) = market.jobState(jobId);
        assertEq(uint256(status), uint256(expected), "job status");
    }

    function _held(address token) internal view returns (uint256) {
        return _balance(token, address(market));
    }

    function _balance(address token, address account) internal view returns (uint256) {
        return token == address(0) ? account.balance : IERC20(token).balanceOf(account);
    }

    /// @dev The collateral the market holds free for `p` (allocated, in no seat).
    function _freeCollateral(address p) internal view returns (uint256 free) {
        (, , , , , free) = IInferenceMarketCourt(address(market)).providerCollateral(p);
    }

    /// @dev The collateral held by `p`'s open seats (the stack has one market): what `p`
    /// allocated less what the market holds free.
    function _seatCollateral(address p) internal view returns (uint256) {
        return s.registry.getProvider(p).locked - _freeCollateral(p);
    }

    /// @dev The faults counted against `p`.
    function _faults(address p) internal view returns (uint256) {
        IProviderRegistry.Provider memory r = s.registry.getProvider(p);
        return uint256(r.disagreed) + r.missed;
    }
}
