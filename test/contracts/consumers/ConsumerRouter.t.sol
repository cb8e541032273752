// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "hardhat/console.sol";
import {Test, Vm} from "../utils/Test.sol";
import {CourtFixture} from "../market/CourtFixture.sol";
import {InferenceMarket} from "../../../contracts/market/InferenceMarket.sol";
import {IInferenceMarket, IInferenceMarketTypes} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {ConsumerRouter} from "../../../contracts/consumers/ConsumerRouter.sol";
import {ConclaveConsumer} from "../../../contracts/consumers/ConclaveConsumer.sol";
import {CanonicalOutputs} from "../../../contracts/consumers/CanonicalOutputs.sol";
import {SpeechGate} from "../../../contracts/examples/SpeechGate.sol";
import {Job, wordsOf, jobFromWords} from "../utils/JobStruct.sol";

// Helper contracts live in this file: Hardhat may not find them when a single test file is run.

/// @notice A consumer whose callback records what it got, reverts, or burns gas, as set.
contract TestConsumer is ConclaveConsumer {
    using CanonicalOutputs for bytes;

    uint8 internal constant RECORD = 0;
    uint8 internal constant REVERT = 1;
    uint8 internal constant BURN = 2;
    uint8 internal constant REENTER = 3;
    uint8 internal constant HUGE_REVERT = 4;
    uint8 internal constant CHAIN = 5;

    IInferenceMarketTypes.JobRequest internal nextRequest;
    uint256 public chained;

    function setNextRequest(IInferenceMarketTypes.JobRequest calldata r) external {
        nextRequest = r;
    }

    uint8 public mode;
    uint256 public burn;
    uint256 public calls;
    uint256 public lastJobId;
    bytes32 public lastResultHash;
    bytes32 public lastOutputsHash;
    uint256 public lastOutputsLength;
    int64 public lastFirstElement;
    uint256 public gasAtEntry;

    error TestConsumerRefused(uint256 jobId);

    constructor(ConsumerRouter router_) ConclaveConsumer(router_) {}

    function setMode(uint8 mode_, uint256 burn_) external {
        (mode, burn) = (mode_, burn_);
    }

    function request(
        IInferenceMarketTypes.JobRequest calldata r,
        uint32 limit,
        uint128 price
    ) external returns (uint256) {
        return _requestInference(r, limit, price);
    }

    function withdrawAll() external {
        if (market.balanceOf(address(this), address(0)) != 0) _withdrawFromMarket(address(0), address(this));
        if (router.balanceOf(address(this)) != 0) _withdrawFromRouter(address(this));
    }

    function _fulfill(uint256 jobId, bytes32 resultHash, bytes calldata outputs) internal override {
        uint256 entry = gasleft();
        if (mode == REVERT) revert TestConsumerRefused(jobId);
        if (mode == REENTER) router.withdraw();
        if (mode == HUGE_REVERT) {
            bytes memory junk = new bytes(10_000);
            // solhint-disable-next-line no-inline-assembly
            assembly {
                revert(add(junk, 0x20), 10000)
            }
        }
        if (mode == CHAIN) {
            IInferenceMarketTypes.JobRequest memory next = nextRequest;
            next.deadline = uint40(block.timestamp + 1 hours);
            chained = _requestInference(next, 100_000, 1 gwei);
        }
        if (mode == BURN) {
            uint256 start = gasleft();
            while (start - gasleft() < burn) {}
        }
        ++calls;
        (lastJobId, lastResultHash, lastOutputsHash, lastOutputsLength) = (
            jobId,
            resultHash,
            keccak256(outputs),
            outputs.length
        );
        if (outputs.length != 0) {
            bytes memory p = outputs;
            lastFirstElement = p.element(p.outputAt(0), 0);
        }
        gasAtEntry = entry;
    }
}

/// @notice Exposes {CanonicalOutputs} for tests.
contract CanonicalOutputsHarness {
    using CanonicalOutputs for bytes;

    function count(bytes memory p) external pure returns (uint256) {
        return p.outputCount();
    }

    function at(bytes memory p, uint256 i) external pure returns (CanonicalOutputs.Output memory) {
        return p.outputAt(i);
    }

    function find(bytes memory p, string memory name) external pure returns (bool, CanonicalOutputs.Output memory) {
        return p.find(name);
    }

    function elements(bytes memory p, uint256 i) external pure returns (int64[] memory) {
        return p.elements(p.outputAt(i));
    }
}

/// @notice The router, a consumer and the real market, registries and court (the market tests'
/// fixture).
abstract contract ConsumerFixture is CourtFixture {
    uint32 internal constant LIMIT = 200_000;
    uint128 internal constant CAP = 10 gwei;
    uint256 internal constant MAX_INLINE_OUTPUT = 4096;

    /// @dev docs/canonical-hash-vectors.json, "single-f32": y F32[2] = [0.5, -1.25], quantum 1e-4.
    bytes internal constant PRE =
        hex"12000000434f4e434c4156452d524553554c542d56310100000001000000790300000046333201000000020000000000000088130000000000002ccfffffffffffff";
    bytes32 internal constant PRE_HASH = 0x7061192b776939702fa48cac99e2152b2f1017e493ba99527e3f5eabb9556736;

    uint256 internal constant R_FUNDED = uint256(ConsumerRouter.CallbackStatus.Funded);
    uint256 internal constant R_DELIVERED = uint256(ConsumerRouter.CallbackStatus.Delivered);
    uint256 internal constant R_HASH_ONLY = uint256(ConsumerRouter.CallbackStatus.HashOnly);
    uint256 internal constant R_FAILED = uint256(ConsumerRouter.CallbackStatus.Failed);
    uint256 internal constant R_RECLAIMED = uint256(ConsumerRouter.CallbackStatus.Reclaimed);

    ConsumerRouter internal router;
    TestConsumer internal consumer;
    address internal fulfiller = address(0xF0F1);

    function setUp() public virtual override {
        super.setUp();
        router = new ConsumerRouter(address(this), IInferenceMarket(address(market)), MAX_INLINE_OUTPUT);
        consumer = new TestConsumer(router);
        vm.deal(address(consumer), 100 ether);
    }

    function _consumerRequest(uint8 k) internal returns (uint256 id, Job memory job) {
        return _consumerRequestWith(consumer, k, LIMIT, CAP);
    }

    function _consumerRequestWith(
        TestConsumer c,
        uint8 k,
        uint32 limit,
        uint128 cap
    ) internal returns (uint256 id, Job memory job) {
        vm.recordLogs();
        id = c.request(_req(k, address(0)), limit, cap);
        job = _jobFromLogs(market, id, vm.getRecordedLogs());
        assertEq(job.client, address(c), "the consumer is the client");
    }

    /// @dev A k = 1 consumer job delivered by prov[0] with PRE_HASH, past its challenge window.
    function _k1Final() internal returns (uint256 id, Job memory job) {
        (id, job) = _consumerRequest(1);
        _deliver(id, job, prov[0], PRE_HASH);
        vm.warp(block.timestamp + job.challengeWindow + 1);
    }

    /// @dev A k = 3 consumer job settled on PRE_HASH by prov[0..2].
    function _k3Settled() internal returns (uint256 id, Job memory job) {
        (id, job) = _consumerRequest(3);
        uint8[3] memory seats;
        for (uint256 i = 0; i < 3; ++i) seats[i] = _commit(id, job, prov[i], PRE_HASH);
        for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], seats[i], PRE_HASH);
        assertEq(_status(id), SETTLED, "settled");
    }

    function _fulfill(
        uint256 id,
        Job memory job,
        address p,
        bytes memory outputs,
        uint256 gasPrice
    ) internal returns (bool delivered) {
        vm.txGasPrice(gasPrice);
        vm.prank(fulfiller, fulfiller);
        delivered = router.fulfill(id, wordsOf(job), p, PRE_HASH, outputs);
    }

    function _rstatus(uint256 id) internal view returns (uint256) {
        return uint256(router.requestOf(id).status);
    }

    /// @dev The router's books: its balance is the open deposits plus the credits of the
    /// accounts given.
    function _assertSolvent(uint256[] memory ids, address[] memory accounts) internal view {
        uint256 sum;
        for (uint256 i = 0; i < ids.length; ++i) sum += router.depositOf(ids[i]);
        for (uint256 i = 0; i < accounts.length; ++i) sum += router.balanceOf(accounts[i]);
        assertEq(address(router).balance, sum, "router balance == deposits + credits");
    }

    function _ids1(uint256 a) internal pure returns (uint256[] memory r) {
        r = new uint256[](1);
        r[0] = a;
    }

    function _accounts() internal view returns (address[] memory r) {
        r = new address[](2);
        (r[0], r[1]) = (fulfiller, address(consumer));
    }

    /// @dev The data of the first event `selector` emitted by the router in `logs`.
    function _eventData(Vm.Log[] memory logs, bytes32 selector) internal view returns (bytes memory) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == address(router) && logs[i].topics[0] == selector) return logs[i].data;
        }
        fail("event not found");
    }

    /// @dev CallbackReimbursed's reimbursed, refund and gas in `logs`.
    function _reimbursed(Vm.Log[] memory logs) internal view returns (uint256 reimbursed, uint256 refund, uint256 gas) {
        return abi.decode(_eventData(logs, ConsumerRouter.CallbackReimbursed.selector), (uint256, uint256, uint256));
    }

    function _hasEvent(Vm.Log[] memory logs, bytes32 selector) internal view returns (bool) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == address(router) && logs[i].topics[0] == selector) return true;
        }
        return false;
    }
}

/// @notice The happy paths: k = 1 and k = 3, reimbursement within the cap, the rest to the consumer.
contract ConsumerRouterFulfilTest is ConsumerFixture {
    function test_k1_deliversOutputsAndReimburses() public {
        (uint256 id, Job memory job) = _k1Final();
        uint256 held = router.depositOf(id);
        assertEq(held, (uint256(LIMIT) + router.FULFIL_OVERHEAD()) * CAP, "deposit");
        vm.recordLogs();
        assertTrue(_fulfill(id, job, prov[0], PRE, 3 gwei), "delivered");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertTrue(_hasEvent(logs, ConsumerRouter.CallbackDelivered.selector), "CallbackDelivered");
        assertEq(consumer.calls(), 1, "one callback");
        assertEq(consumer.lastJobId(), id, "job id");
        assertEq(consumer.lastResultHash(), PRE_HASH, "result hash");
        assertEq(consumer.lastOutputsHash(), keccak256(PRE), "outputs");
        assertEq(uint256(int256(consumer.lastFirstElement())), 5000, "decoded y[0] = 0.5 / 0.0001");
        uint256 paid = router.balanceOf(fulfiller);
        uint256 refund = router.balanceOf(address(consumer));
        assertEq(paid + refund, held, "deposit = reimbursed + refund");
        (uint256 reimbursed, uint256 refund_, uint256 gas) = _reimbursed(logs);
        (, , uint256 callbackGas, ) = abi.decode(
            _eventData(logs, ConsumerRouter.CallbackDelivered.selector),
            (bytes32, bool, uint256, bool)
        );
        assertEq(reimbursed, paid, "the event's reimbursement");
        assertEq(refund_, refund, "the event's refund");
        assertEq(paid, 3 gwei * gas, "the price x the fulfil's gas");
        assertGe(gas, callbackGas + router.FULFIL_FIXED_GAS(), "at least the callback and the fixed part");
        // Both credits are fresh here: 2 x 17,100 more than for existing balances.
        assertLe(gas, callbackGas + router.FULFIL_OVERHEAD(), "within the headroom");
        assertEq(_rstatus(id), R_DELIVERED, "delivered");
        assertEq(router.retryHashOf(id), bytes32(0), "nothing kept for a retry");
        assertEq(router.depositOf(id), 0, "nothing held");
        _assertSolvent(_ids1(id), _accounts());
        // Both withdraw: the router is empty.
        vm.prank(fulfiller, fulfiller);
        router.withdraw();
        assertEq(fulfiller.balance, paid, "fulfiller paid");
        consumer.withdrawAll();
        assertEq(address(router).balance, 0, "nothing stranded");
    }

    function test_k3_deliversOutputsAndReimbursesAtTheCap() public {
        (uint256 id, Job memory job) = _k3Settled();
        uint256 held = router.depositOf(id);
        // A gas price above the cap is reimbursed at the cap.
        assertTrue(_fulfill(id, job, address(0), PRE, 1000 gwei), "delivered");
        assertEq(consumer.lastOutputsHash(), keccak256(PRE), "outputs");
        uint256 paid = router.balanceOf(fulfiller);
        assertLe(paid, uint256(CAP) * (uint256(LIMIT) + router.FULFIL_OVERHEAD()), "capped price");
        assertEq(paid + router.balanceOf(address(consumer)), held, "deposit = reimbursed + refund");
        // The providers were paid by the market, the consumer got the unused escrow (none).
        for (uint256 i = 0; i < 3; ++i) assertEq(market.balanceOf(prov[i], address(0)), FEE, "provider paid");
    }

    function test_hashOnly_thenOutputsByRetry() public {
        (uint256 id, Job memory job) = _k3Settled();
        assertTrue(_fulfill(id, job, address(0), "", 1 gwei), "delivered hash only");
        assertEq(_rstatus(id), R_HASH_ONLY, "hash only");
        assertEq(consumer.lastOutputsLength(), 0, "no outputs");
        // Hash-only cannot be followed by another hash-only.
        vm.expectRevert(
            abi.encodeWithSelector(
                ConsumerRouter.ConsumerRouterInvalidStatus.selector,
                id,
                ConsumerRouter.CallbackStatus.HashOnly
            )
        );
        router.retryCallback(id, "");
        router.retryCallback(id, PRE);
        assertEq(_rstatus(id), R_DELIVERED, "outputs delivered");
        assertEq(consumer.lastOutputsHash(), keccak256(PRE), "outputs");
        assertEq(consumer.calls(), 2, "two callbacks");
    }

    function test_largeOutputs_refusedInline() public {
        router.setMaxInlineOutputBytes(256);
        (uint256 id, Job memory job) = _k3Settled();
        bytes memory big = new bytes(257);
        vm.prank(fulfiller, fulfiller);
        vm.expectRevert(abi.encodeWithSelector(ConsumerRouter.ConsumerRouterOutputsTooLarge.selector, id, 257, 256));
        router.fulfill(id, wordsOf(job), address(0), PRE_HASH, big);
        vm.expectRevert(
            abi.encodeWithSelector(
                ConsumerRouter.ConsumerRouterSettingOutOfBounds.selector,
                "maxInlineOutputBytes",
                255
            )
        );
        router.setMaxInlineOutputBytes(255);
    }

    function test_reclaim_afterRefund() public {
        (uint256 id, Job memory job) = _consumerRequest(1);
        uint256 held = router.depositOf(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                ConsumerRouter.ConsumerRouterJobNotRefunded.selector,
                id,
                IInferenceMarketTypes.JobStatus.Open
            )
        );
        router.reclaim(id);
        vm.warp(job.deadline + 1);
        market.finalize(id, wordsOf(job));
        vm.prank(stranger, stranger);
        router.reclaim(id);
        assertEq(router.balanceOf(address(consumer)), held, "deposit back");
        assertEq(_rstatus(id), R_RECLAIMED, "reclaimed");
        uint256 before = address(consumer).balance;
        consumer.withdrawAll();
        assertEq(address(consumer).balance, before + held + _escrow(1), "deposit and escrow back");
        assertEq(address(router).balance, 0, "nothing stranded");
    }
}

/// @notice Every refusal, with its named error.
contract ConsumerRouterRefusalTest is ConsumerFixture {
    function test_wrongOutputs_reverts() public {
        (uint256 id, Job memory job) = _k1Final();
        bytes memory bad = PRE;
        bad[bad.length - 1] = 0x00;
        vm.prank(fulfiller, fulfiller);
        vm.expectRevert(
            abi.encodeWithSelector(ConsumerRouter.ConsumerRouterOutputsMismatch.selector, id, keccak256(bad), PRE_HASH)
        );
        router.fulfill(id, wordsOf(job), prov[0], PRE_HASH, bad);
    }

    function test_k1WithinChallengeWindow_notFinal() public {
        (uint256 id, Job memory job) = _consumerRequest(1);
        _deliver(id, job, prov[0], PRE_HASH);
        vm.prank(fulfiller, fulfiller);
        vm.expectRevert(abi.encodeWithSelector(ConsumerRouter.ConsumerRouterNotFinal.selector, id, PRE_HASH));
        router.fulfill(id, wordsOf(job), prov[0], PRE_HASH, PRE);
        vm.warp(block.timestamp + job.challengeWindow);
        vm.prank(fulfiller, fulfiller);
        vm.expectRevert(abi.encodeWithSelector(ConsumerRouter.ConsumerRouterNotFinal.selector, id, PRE_HASH));
        router.fulfill(id, wordsOf(job), prov[0], PRE_HASH, PRE); // the window's last second
        vm.warp(block.timestamp + 1);
        // Another provider than the deliverer: not final.
        vm.prank(fulfiller, fulfiller);
        vm.expectRevert(abi.encodeWithSelector(ConsumerRouter.ConsumerRouterNotFinal.selector, id, PRE_HASH));
        router.fulfill(id, wordsOf(job), prov[1], PRE_HASH, PRE);
        assertTrue(_fulfill(id, job, prov[0], PRE, 1 gwei), "final now");
    }

    function test_openK3_notFinal() public {
        (uint256 id, Job memory job) = _consumerRequest(3);
        _commit(id, job, prov[0], PRE_HASH);
        vm.prank(fulfiller, fulfiller);
        vm.expectRevert(abi.encodeWithSelector(ConsumerRouter.ConsumerRouterNotFinal.selector, id, PRE_HASH));
        router.fulfill(id, wordsOf(job), address(0), PRE_HASH, PRE);
    }

    function test_jobOfAnotherClient_reverts() public {
        // An EOA's job, settled: nobody funded it.
        (uint256 id, Job memory job) = _requestEth(3);
        uint8[3] memory seats;
        for (uint256 i = 0; i < 3; ++i) seats[i] = _commit(id, job, prov[i], PRE_HASH);
        for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], seats[i], PRE_HASH);
        vm.prank(fulfiller, fulfiller);
        vm.expectRevert(abi.encodeWithSelector(ConsumerRouter.ConsumerRouterNotFunded.selector, id));
        router.fulfill(id, wordsOf(job), address(0), PRE_HASH, PRE);
        // A consumer funds a callback for it: still not its job.
        uint256 d = router.depositFor(LIMIT, CAP);
        vm.deal(address(this), d);
        router.deposit{value: d}(id, LIMIT, CAP);
        vm.prank(fulfiller, fulfiller);
        vm.expectRevert(
            abi.encodeWithSelector(ConsumerRouter.ConsumerRouterNotClient.selector, id, client, address(this))
        );
        router.fulfill(id, wordsOf(job), address(0), PRE_HASH, PRE);
        // A job id not requested yet cannot be funded (no squatting on a consumer's next id).
        uint256 next = market.nextJobId();
        vm.deal(address(this), d);
        vm.expectRevert(abi.encodeWithSelector(ConsumerRouter.ConsumerRouterUnknownJob.selector, next, next));
        router.deposit{value: d}(next, LIMIT, CAP);
    }

    function test_secondFulfil_reverts() public {
        (uint256 id, Job memory job) = _k3Settled();
        assertTrue(_fulfill(id, job, address(0), PRE, 1 gwei), "first");
        vm.prank(fulfiller, fulfiller);
        vm.expectRevert(
            abi.encodeWithSelector(
                ConsumerRouter.ConsumerRouterInvalidStatus.selector,
                id,
                ConsumerRouter.CallbackStatus.Delivered
            )
        );
        router.fulfill(id, wordsOf(job), address(0), PRE_HASH, PRE);
        vm.expectRevert(
            abi.encodeWithSelector(
                ConsumerRouter.ConsumerRouterInvalidStatus.selector,
                id,
                ConsumerRouter.CallbackStatus.Delivered
            )
        );
        router.retryCallback(id, PRE);
        vm.expectRevert(
            abi.encodeWithSelector(
                ConsumerRouter.ConsumerRouterInvalidStatus.selector,
                id,
                ConsumerRouter.CallbackStatus.Delivered
            )
        );
        router.reclaim(id);
    }

    function test_deposit_bounds() public {
        (uint256 id, ) = _requestEth(1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ConsumerRouter.ConsumerRouterIncorrectDeposit.selector,
                id,
                1,
                router.depositFor(LIMIT, CAP)
            )
        );
        router.deposit{value: 1}(id, LIMIT, CAP);
        vm.expectRevert(
            abi.encodeWithSelector(ConsumerRouter.ConsumerRouterCallbackGasOutOfBounds.selector, 0, 5_000_000)
        );
        router.deposit(id, 0, CAP);
        vm.expectRevert(abi.encodeWithSelector(ConsumerRouter.ConsumerRouterGasPriceOutOfBounds.selector, 0, 1e15));
        router.deposit(id, LIMIT, 0);
        // A second deposit for a job.
        (uint256 cid, ) = _consumerRequest(1);
        uint256 d = router.depositFor(LIMIT, CAP);
        vm.deal(address(this), d);
        vm.expectRevert(
            abi.encodeWithSelector(ConsumerRouter.ConsumerRouterAlreadyFunded.selector, cid, address(consumer))
        );
        router.deposit{value: d}(cid, LIMIT, CAP);
    }

    function test_rawFulfill_onlyRouter() public {
        vm.prank(stranger, stranger);
        vm.expectRevert(abi.encodeWithSelector(ConclaveConsumer.ConclaveConsumerOnlyRouter.selector, stranger));
        consumer.rawFulfill(1, PRE_HASH, PRE);
    }
}

/// @notice Callbacks that revert or run out of gas neither block the settlement nor the pay.
contract ConsumerRouterFailureTest is ConsumerFixture {
    function test_revertingCallback_recordedThenRetried() public {
        consumer.setMode(1, 0);
        (uint256 id, Job memory job) = _k3Settled();
        uint256 held = router.depositOf(id);
        vm.recordLogs();
        assertFalse(_fulfill(id, job, address(0), PRE, 2 gwei), "callback failed");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        (bytes memory reason, uint256 gasUsed) = abi.decode(
            _eventData(logs, ConsumerRouter.CallbackFailed.selector),
            (bytes, uint256)
        );
        assertEq(
            keccak256(reason),
            keccak256(abi.encodeWithSelector(TestConsumer.TestConsumerRefused.selector, id)),
            "reason"
        );
        assertLe(gasUsed, LIMIT, "gas used within the limit");
        assertEq(_rstatus(id), R_FAILED, "failed");
        assertEq(router.retryHashOf(id), PRE_HASH, "result kept for a retry");
        // The market settled and paid the providers regardless; the fulfiller was reimbursed.
        assertEq(_status(id), SETTLED, "market settled");
        for (uint256 i = 0; i < 3; ++i) assertEq(market.balanceOf(prov[i], address(0)), FEE, "provider paid");
        assertEq(router.balanceOf(fulfiller) + router.balanceOf(address(consumer)), held, "deposit shared");
        // A later retry (the consumer fixed its state) delivers; wrong outputs are refused.
        consumer.setMode(0, 0);
        bytes memory bad = PRE;
        bad[30] = 0x01;
        vm.expectRevert(
            abi.encodeWithSelector(ConsumerRouter.ConsumerRouterOutputsMismatch.selector, id, keccak256(bad), PRE_HASH)
        );
        router.retryCallback(id, bad);
        vm.prank(stranger, stranger);
        assertTrue(router.retryCallback(id, PRE), "retry delivered");
        assertEq(_rstatus(id), R_DELIVERED, "delivered");
        assertEq(consumer.lastOutputsHash(), keccak256(PRE), "outputs");
        assertEq(router.balanceOf(stranger), 0, "a retry is not reimbursed");
    }

    function test_outOfGasCallback_recordedThenRetriedWithMoreGas() public {
        consumer.setMode(2, 400_000); // needs twice its limit
        (uint256 id, Job memory job) = _k1Final();
        vm.recordLogs();
        assertFalse(_fulfill(id, job, prov[0], PRE, 1 gwei), "out of gas");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        (bytes memory reason, uint256 gasUsed) = abi.decode(
            _eventData(logs, ConsumerRouter.CallbackFailed.selector),
            (bytes, uint256)
        );
        assertEq(reason.length, 0, "out of gas: no reason");
        assertGe(gasUsed, LIMIT, "the whole limit was used");
        assertLe(gasUsed, uint256(LIMIT) + 5_000, "and no more (the CALL's own cost aside)");
        assertEq(_rstatus(id), R_FAILED, "failed");
        // The delivery is still claimable by its provider: the market is untouched.
        _claimPaid(id, job, prov[0], PRE_HASH);
        // A retry with the callback's limit only fails again; with more gas it delivers.
        assertFalse(router.retryCallback{gas: 300_000}(id, PRE), "still out of gas");
        assertEq(_rstatus(id), R_FAILED, "still failed");
        assertTrue(router.retryCallback{gas: 1_000_000}(id, PRE), "delivered with more gas");
        assertEq(_rstatus(id), R_DELIVERED, "delivered");
        assertEq(consumer.calls(), 1, "one successful callback");
    }

    function test_reentrantCallback_refusedAndRecorded() public {
        consumer.setMode(3, 0);
        (uint256 id, Job memory job) = _k3Settled();
        vm.recordLogs();
        assertFalse(_fulfill(id, job, address(0), PRE, 1 gwei), "re-entry refused");
        (bytes memory reason, ) = abi.decode(
            _eventData(vm.getRecordedLogs(), ConsumerRouter.CallbackFailed.selector),
            (bytes, uint256)
        );
        assertEq(bytes4(reason), bytes4(keccak256("ReentrancyGuardReentrantCall()")), "the guard's error");
        _assertSolvent(_ids1(id), _accounts());
    }

    function test_hugeRevertData_cappedAt256Bytes() public {
        consumer.setMode(4, 0);
        (uint256 id, Job memory job) = _k3Settled();
        vm.recordLogs();
        assertFalse(_fulfill(id, job, address(0), PRE, 1 gwei), "reverted");
        (bytes memory reason, ) = abi.decode(
            _eventData(vm.getRecordedLogs(), ConsumerRouter.CallbackFailed.selector),
            (bytes, uint256)
        );
        assertEq(reason.length, 256, "capped");
    }

    /// @notice A callback may request and fund its next job (deposit is not guarded).
    function test_callbackChainsTheNextJob() public {
        consumer.setNextRequest(_req(1, address(0)));
        consumer.setMode(5, 0);
        (uint256 id, Job memory job) = _consumerRequestWith(consumer, 3, 400_000, CAP);
        uint8[3] memory seats;
        for (uint256 i = 0; i < 3; ++i) seats[i] = _commit(id, job, prov[i], PRE_HASH);
        for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], seats[i], PRE_HASH);
        assertTrue(_fulfill(id, job, address(0), PRE, 1 gwei), "delivered");
        uint256 next = consumer.chained();
        assertEq(next, id + 1, "next job requested");
        assertEq(_rstatus(next), R_FUNDED, "and funded");
    }

    function test_tooLittleGas_revertsBeforeTheCallback() public {
        (uint256 id, Job memory job) = _k3Settled();
        bytes memory data = abi.encodeCall(ConsumerRouter.fulfill, (id, wordsOf(job), address(0), PRE_HASH, PRE));
        // Enough for the checks, not for the callback's limit after the 1/64 rule.
        vm.prank(fulfiller, fulfiller);
        (bool ok, bytes memory ret) = address(router).call{gas: router.requiredGas(LIMIT) - 1_000}(data);
        assertFalse(ok, "refused");
        assertEq(bytes4(ret), ConsumerRouter.ConsumerRouterInsufficientGas.selector, "InsufficientGas");
        assertEq(consumer.calls(), 0, "the callback did not run");
        assertEq(_rstatus(id), R_FUNDED, "still funded");
        // With enough gas the callback gets exactly its limit.
        vm.prank(fulfiller, fulfiller);
        (ok, ) = address(router).call{gas: router.requiredGas(LIMIT) + 60_000}(data);
        assertTrue(ok, "fulfilled");
        assertEq(consumer.calls(), 1, "the callback ran");
        assertLe(consumer.gasAtEntry(), LIMIT, "no more than the limit");
        assertGe(consumer.gasAtEntry(), uint256(LIMIT) - 2_000, "all of the limit");
    }
}

/// @notice The market change: a settled job's word binds its result.
contract ConsumerRouterFinalityTest is ConsumerFixture {
    function test_settledK3_bindsWinner() public {
        (uint256 id, Job memory job) = _k3Settled();
        assertTrue(market.isFinalResult(id, wordsOf(job), address(0), PRE_HASH), "winner final");
        assertTrue(market.isFinalResult(id, wordsOf(job), prov[5], PRE_HASH), "provider ignored for k > 1");
        assertFalse(market.isFinalResult(id, wordsOf(job), address(0), OTHER_RESULT), "another hash is not");
        Job memory other = job;
        other.feePerProvider += 1;
        assertFalse(market.isFinalResult(id, wordsOf(other), address(0), PRE_HASH), "other parameters are not");
        assertFalse(market.isFinalResult(id + 1, wordsOf(job), address(0), PRE_HASH), "another id is not");
    }

    function test_k1_finalAfterWindowClaimAndUpheldChallenge() public {
        (uint256 id, Job memory job) = _consumerRequest(1);
        assertFalse(market.isFinalResult(id, wordsOf(job), prov[0], PRE_HASH), "open");
        _deliver(id, job, prov[0], PRE_HASH);
        assertFalse(market.isFinalResult(id, wordsOf(job), prov[0], PRE_HASH), "within the window");
        vm.warp(block.timestamp + job.challengeWindow + 1);
        assertTrue(market.isFinalResult(id, wordsOf(job), prov[0], PRE_HASH), "matured");
        assertFalse(market.isFinalResult(id, wordsOf(job), prov[0], OTHER_RESULT), "another result");
        _claimPaid(id, job, prov[0], PRE_HASH);
        assertTrue(market.isFinalResult(id, wordsOf(job), prov[0], PRE_HASH), "claimed");

        // Challenged and upheld by the jury: final, with the delivery's provider.
        (uint256 id2, Job memory job2) = _consumerRequest(1);
        _deliver(id2, job2, prov[0], PRE_HASH);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id2, job2, prov[0], PRE_HASH, prov[1]);
        assertFalse(market.isFinalResult(id2, wordsOf(job2), prov[0], PRE_HASH), "challenged");
        bytes32[] memory results = _three(PRE_HASH, PRE_HASH, PRE_HASH);
        address[] memory jurors = _seatJury(id2, job2, ch, results);
        _revealAll(id2, job2, ch, jurors, results);
        assertEq(_status(id2), SETTLED, "upheld");
        assertTrue(market.isFinalResult(id2, wordsOf(job2), prov[0], PRE_HASH), "upheld delivery final");
        assertFalse(market.isFinalResult(id2, wordsOf(job2), prov[1], PRE_HASH), "not the challenger's");
        assertTrue(_fulfill(id2, job2, prov[0], PRE, 1 gwei), "fulfilled");
    }

    function test_k1_wrongByJury_reclaims() public {
        (uint256 id, Job memory job) = _consumerRequest(1);
        _deliver(id, job, prov[0], OTHER_RESULT);
        IInferenceMarketTypes.Challenge memory ch = _challenge(id, job, prov[0], OTHER_RESULT, prov[1]);
        bytes32[] memory results = _three(PRE_HASH, PRE_HASH, PRE_HASH);
        address[] memory jurors = _seatJury(id, job, ch, results);
        _revealAll(id, job, ch, jurors, results);
        assertFalse(market.isFinalResult(id, wordsOf(job), prov[0], OTHER_RESULT), "refunded: no result");
        router.reclaim(id);
        assertEq(_rstatus(id), R_RECLAIMED, "reclaimed");
    }
}

/// @notice Fuzz: the reimbursement arithmetic, and whole fulfils at any gas price and use.
contract ConsumerRouterFuzzTest is ConsumerFixture {
    /// @notice The reimbursement never exceeds the deposit nor the price times the gas, is that in
    /// full when the deposit allows, and deposit = reimbursed + refund.
    function testFuzz_reimbursement(uint256 gasPrice, uint256 cap, uint64 gas, uint256 limit) public view {
        limit = bound(limit, 1, router.MAX_CALLBACK_GAS_LIMIT());
        cap = bound(cap, 1, router.MAX_GAS_PRICE());
        uint256 held = router.depositFor(limit, cap);
        uint256 paid = router.reimbursement(gasPrice, cap, gas, held);
        uint256 price = gasPrice < cap ? gasPrice : cap;
        assertLe(paid, held, "never above the deposit");
        assertLe(paid, price * uint256(gas), "never above price x gas");
        if (price * uint256(gas) <= held) assertEq(paid, price * uint256(gas), "in full within the deposit");
        else assertEq(paid, held, "the whole deposit beyond it");
        if (gas <= limit + router.FULFIL_OVERHEAD())
            assertEq(paid, price * uint256(gas), "in full within the headroom");
        assertEq(held, paid + (held - paid), "deposit = reimbursed + refund");
    }

    /// @notice The charged gas: the standard cost (the fixed part, the measured execution, 4 a
    /// calldata token, 17,100 a fresh credit) or EIP-7623's floor, whichever is higher.
    function testFuzz_fulfilGas(uint64 execution, uint32 tokens, uint8 freshSeed) public view {
        uint256 fresh = freshSeed % 3;
        uint256 gas = router.fulfilGas(execution, tokens, fresh, true);
        uint256 standard = router.FULFIL_FIXED_GAS() + execution + 4 * uint256(tokens) + 17_100 * fresh;
        uint256 floor = 21_000 + 10 * uint256(tokens);
        assertEq(gas, standard > floor ? standard : floor, "max(standard, floor)");
        assertGe(router.fulfilGas(uint256(execution) + 1, tokens, fresh, true), gas, "monotone in the execution");
        if (fresh < 2)
            assertEq(
                router.fulfilGas(execution, tokens, fresh + 1, true),
                standard + 17_100 >= floor ? standard + 17_100 : floor,
                "a fresh credit"
            );
    }

    /// @notice The calldata tokens match a byte-by-byte count, for any bytes and any length.
    function testFuzz_calldataTokens(bytes calldata data) public view {
        assertEq(router.calldataTokens(data), _tokens(data), "tokens");
    }

    /// @notice A slice's bytes only (0 to 700: several four-word steps and a rest): the rest of
    /// its last word is not counted, whatever it holds.
    function testFuzz_calldataTokens_ignoresWhatFollows(uint256 length, uint256 seed) public view {
        length = bound(length, 0, 700);
        bytes memory data = new bytes(length);
        for (uint256 i = 0; i < length; ++i) data[i] = bytes1(uint8(uint256(keccak256(abi.encode(seed, i)))));
        // selector, offset, length, the bytes, then 64 bytes of 0xff where the padding would be.
        bytes memory call = abi.encodePacked(ConsumerRouter.calldataTokens.selector, uint256(32), length, data);
        call = abi.encodePacked(call, bytes32(type(uint256).max), bytes32(type(uint256).max));
        (bool ok, bytes memory ret) = address(router).staticcall(call);
        assertTrue(ok, "counted");
        assertEq(abi.decode(ret, (uint256)), _tokens(data), "the slice's tokens only");
    }

    function _tokens(bytes memory data) internal pure returns (uint256 tokens) {
        for (uint256 i = 0; i < data.length; ++i) tokens += data[i] == 0 ? 1 : 4;
    }

    /// @notice A whole fulfil at any gas price, callback gas, cap and outcome: the deposit is shared
    /// by the fulfiller (the price times the gas, at most the deposit) and the consumer, and once
    /// both withdraw nothing is left in the router.
    /// hardhat-config: fuzz.runs = 64
    function testFuzz_fulfil_sharesTheDeposit(
        uint256 gasPrice,
        uint256 burn,
        uint256 limitSeed,
        uint256 capSeed,
        bool fail_,
        bool hashOnly
    ) public {
        uint32 limit = uint32(bound(limitSeed, 60_000, 1_000_000));
        uint128 cap = uint128(bound(capSeed, 1, 1e12));
        gasPrice = bound(gasPrice, 0, 1e13);
        consumer.setMode(fail_ ? 1 : 2, bound(burn, 0, uint256(limit) * 2));
        (uint256 id, Job memory job) = _consumerRequestWith(consumer, 3, limit, cap);
        uint8[3] memory seats;
        for (uint256 i = 0; i < 3; ++i) seats[i] = _commit(id, job, prov[i], PRE_HASH);
        for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], seats[i], PRE_HASH);
        uint256 held = router.depositOf(id);
        vm.txGasPrice(gasPrice);
        vm.recordLogs();
        vm.prank(fulfiller, fulfiller);
        router.fulfill{gas: uint256(limit) * 2 + 300_000}(
            id,
            wordsOf(job),
            address(0),
            PRE_HASH,
            hashOnly ? bytes("") : PRE
        );
        _checkShared(id, held, gasPrice < cap ? gasPrice : cap, limit);
    }

    function _checkShared(uint256 id, uint256 held, uint256 price, uint256 limit) internal {
        (uint256 reimbursed, uint256 refund, uint256 gas) = _reimbursed(vm.getRecordedLogs());
        uint256 paid = router.balanceOf(fulfiller);
        assertEq(paid, reimbursed, "credited what the event says");
        assertLe(paid, held, "at most the deposit");
        assertEq(paid, price * gas < held ? price * gas : held, "the price x the gas, at most the deposit");
        assertLe(gas, limit + router.FULFIL_OVERHEAD(), "within the headroom");
        assertEq(paid + router.balanceOf(address(consumer)), held, "deposit = reimbursed + refund");
        assertEq(refund, held - paid, "the refund");
        assertEq(router.depositOf(id), 0, "nothing held");
        _assertSolvent(_ids1(id), _accounts());
        // Nothing stranded: both withdraw, the router is empty.
        if (paid != 0) {
            vm.prank(fulfiller, fulfiller);
            router.withdraw();
        }
        consumer.withdrawAll();
        assertEq(address(router).balance, 0, "nothing stranded");
    }
}

/// @notice Gas: the market's and router's overhead around a callback, k = 1.
contract ConsumerRouterGasTest is ConsumerFixture {
    function test_gas_overheadAroundCallback_k1() public {
        consumer.setMode(0, 0);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        vm.recordLogs();
        uint256 g = gasleft();
        uint256 id = consumer.request(r, LIMIT, CAP);
        uint256 requestGas = g - gasleft();
        Job memory job = _jobFromLogs(market, id, vm.getRecordedLogs());
        vm.prank(prov[0], prov[0]);
        g = gasleft();
        market.submitResult(id, wordsOf(job), PRE_HASH, OUTPUT);
        uint256 submitGas = g - gasleft();
        vm.warp(block.timestamp + job.challengeWindow + 1);
        vm.recordLogs();
        vm.prank(fulfiller, fulfiller);
        g = gasleft();
        router.fulfill(id, wordsOf(job), prov[0], PRE_HASH, PRE);
        uint256 fulfilGas = g - gasleft();
        Vm.Log[] memory logs = vm.getRecordedLogs();
        (, , uint256 callbackGas, ) = abi.decode(
            _eventData(logs, ConsumerRouter.CallbackDelivered.selector),
            (bytes32, bool, uint256, bool)
        );
        // Each transaction also pays 21,000 and its calldata (measured here: execution only).
        uint256 calldataFulfil = _calldataGas(
            abi.encodeCall(ConsumerRouter.fulfill, (id, wordsOf(job), prov[0], PRE_HASH, PRE))
        );
        uint256 overhead = requestGas + submitGas + fulfilGas - callbackGas + 3 * 21_000 + calldataFulfil;
        console.log("k = 1 consumer: request (market + router deposit), execution gas", requestGas);
        console.log("k = 1 consumer: submitResult, execution gas", submitGas);
        console.log("k = 1 consumer: fulfil, execution gas", fulfilGas);
        console.log("k = 1 consumer: of which the callback", callbackGas);
        console.log("k = 1 consumer: fulfil calldata gas (job + 67-byte preimage)", calldataFulfil);
        console.log(
            "k = 1 overhead around the callback (3 txs incl. 21k each, fulfil calldata; request/submit calldata excluded)",
            overhead
        );
        uint256 beside = fulfilGas - callbackGas + 21_000 + calldataFulfil;
        console.log("fulfil overhead (execution - callback + 21k + calldata), vs FULFIL_OVERHEAD", beside);
        assertLe(beside, router.FULFIL_OVERHEAD(), "FULFIL_OVERHEAD covers a small fulfil");
        // The router's own figure: what it measured plus what it cannot (FULFIL_FIXED_GAS), the
        // two fresh credits here. It is checked against real receipts in
        // test/market/router-reimbursement.test.ts (a Solidity test's calls are not transactions).
        (, , uint256 reimbursedGas) = _reimbursed(logs);
        console.log("fulfil gas as the router reimburses it", reimbursedGas);
        assertGe(reimbursedGas, callbackGas + router.FULFIL_FIXED_GAS() + 2 * 17_100, "at least the fixed part");
        assertLe(reimbursedGas, callbackGas + router.FULFIL_OVERHEAD(), "within the headroom");
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 gas) {
        for (uint256 i = 0; i < data.length; ++i) gas += data[i] == 0 ? 4 : 16;
    }
}

/// @notice {CanonicalOutputs} against docs/canonical-hash-vectors.json.
contract CanonicalOutputsTest is Test {
    CanonicalOutputsHarness internal h;

    /// @dev "sorted-mixed": label I64[1] = [2]; logits F32[1, 3] = [0.123456, -0.004999, 2.5] at quantum 0.01.
    bytes internal constant MIXED =
        hex"12000000434f4e434c4156452d524553554c542d563102000000050000006c6162656c030000004936340100000001000000000000000200000000000000060000006c6f676974730300000046333202000000010000000000000003000000000000000c000000000000000000000000000000fa00000000000000";
    /// @dev "edge-f64": z F64[7] = [NaN, +Inf, -Inf, 1e30, 2.5, -2.5, -0] at quantum 1.
    bytes internal constant EDGE =
        hex"12000000434f4e434c4156452d524553554c542d563101000000010000007a030000004636340100000007000000000000000000000000000080ffffffffffffff7f0100000000000080ffffffffffffff7f0300000000000000feffffffffffffff0000000000000000";

    function setUp() public {
        h = new CanonicalOutputsHarness();
    }

    function test_vectors_hashes() public pure {
        assertEq(
            keccak256(MIXED),
            0x8f76486b93fba008cdc51fe6f7475c4a07f0c1ae6bdee847701829ffc1e74929,
            "sorted-mixed hash"
        );
        assertEq(keccak256(EDGE), 0xeca02df23179634ff5b30aba65b22eb342f482031accc8ba875ced625f138f41, "edge-f64 hash");
    }

    function test_sortedMixed_decodes() public view {
        assertEq(h.count(MIXED), 2, "two outputs");
        CanonicalOutputs.Output memory label = h.at(MIXED, 0);
        assertEq(string(label.name), "label", "name 0");
        assertEq(string(label.dtype), "I64", "dtype 0");
        assertEq(label.shape.length, 1, "rank 0");
        assertEq(label.count, 1, "count 0");
        int64[] memory v = h.elements(MIXED, 0);
        assertEq(uint256(int256(v[0])), 2, "label = 2");
        (bool found, CanonicalOutputs.Output memory logits) = h.find(MIXED, "logits");
        assertTrue(found, "logits found");
        assertEq(string(logits.dtype), "F32", "dtype 1");
        assertEq(logits.shape.length, 2, "rank 1");
        assertEq(logits.shape[0], 1, "dim 0");
        assertEq(logits.shape[1], 3, "dim 1");
        v = h.elements(MIXED, 1);
        assertEq(v.length, 3, "three");
        assertEq(uint256(int256(v[0])), 12, "0.123456 / 0.01 -> 12");
        assertEq(uint256(int256(v[1])), 0, "-0.004999 / 0.01 -> 0");
        assertEq(uint256(int256(v[2])), 250, "2.5 / 0.01 -> 250");
        (found, ) = h.find(MIXED, "logit");
        assertFalse(found, "prefix is not a match");
    }

    function test_edgeF64_signedValues() public view {
        int64[] memory v = h.elements(EDGE, 0);
        assertEq(v.length, 7, "seven");
        assertTrue(v[0] == type(int64).min, "NaN -> -2^63");
        assertTrue(v[1] == type(int64).max, "+Inf -> 2^63 - 1");
        assertTrue(v[2] == type(int64).min + 1, "-Inf -> -2^63 + 1");
        assertTrue(v[3] == type(int64).max, "1e30 clamped");
        assertTrue(v[4] == 3, "2.5 -> 3");
        assertTrue(v[5] == -2, "-2.5 -> -2");
        assertTrue(v[6] == 0, "-0 -> 0");
    }

    function test_malformed_reverts() public {
        bytes memory cut = new bytes(MIXED.length - 1);
        for (uint256 i = 0; i < cut.length; ++i) cut[i] = MIXED[i];
        (bool ok, ) = address(h).call(abi.encodeCall(CanonicalOutputsHarness.elements, (cut, 1)));
        assertFalse(ok, "cut preimage refused");
        bytes memory wrong = MIXED;
        wrong[4] = "X";
        (ok, ) = address(h).call(abi.encodeCall(CanonicalOutputsHarness.count, (wrong)));
        assertFalse(ok, "wrong header refused");
        (ok, ) = address(h).call(abi.encodeCall(CanonicalOutputsHarness.at, (MIXED, 2)));
        assertFalse(ok, "no third output");
    }
}

/// @notice Random requests, deliveries, time, fulfils (callbacks that return, revert or run out
/// of gas, at any gas price), retries, refunds with reclaims and withdrawals, by consumers of
/// varied gas terms.
contract ConsumerRouterHandler {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    bytes internal constant PRE =
        hex"12000000434f4e434c4156452d524553554c542d56310100000001000000790300000046333201000000020000000000000088130000000000002ccfffffffffffff";
    bytes32 internal constant PRE_HASH = 0x7061192b776939702fa48cac99e2152b2f1017e493ba99527e3f5eabb9556736;

    InferenceMarket public market;
    ConsumerRouter public router;
    TestConsumer[2] public consumers;
    address[3] public providers;
    address[2] public fulfillers = [address(0xF0F1), address(0xF0F2)];
    IInferenceMarketTypes.JobRequest internal template;

    uint256[] public ids;
    mapping(uint256 id => Job) internal jobs;
    mapping(uint256 id => address) public deliverer;
    uint256 public reimbursedTotal;
    uint256 public capTotal;

    constructor(
        InferenceMarket market_,
        ConsumerRouter router_,
        TestConsumer[2] memory consumers_,
        address[3] memory providers_,
        IInferenceMarketTypes.JobRequest memory template_
    ) {
        (market, router, consumers, providers, template) = (market_, router_, consumers_, providers_, template_);
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function accounts() external view returns (address[] memory r) {
        r = new address[](4);
        (r[0], r[1], r[2], r[3]) = (fulfillers[0], fulfillers[1], address(consumers[0]), address(consumers[1]));
    }

    function request(uint256 c, uint256 limitSeed, uint256 capSeed) external {
        TestConsumer consumer = consumers[c % 2];
        uint32 limit = uint32(50_000 + (limitSeed % 500_000));
        uint128 cap = uint128(1 + (capSeed % 1e11));
        IInferenceMarketTypes.JobRequest memory r = template;
        r.deadline = uint40(block.timestamp + 1 hours);
        vm.recordLogs();
        uint256 id = consumer.request(r, limit, cap);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(market) && logs[i].topics[0] == IInferenceMarketTypes.JobRequested.selector
            ) {
                (uint256[6] memory words, , ) = abi.decode(logs[i].data, (uint256[6], bytes, string));
                jobs[id] = jobFromWords(words);
            }
        }
        ids.push(id);
    }

    function deliver(uint256 j, uint256 p) external {
        if (ids.length == 0) return;
        uint256 id = ids[j % ids.length];
        address provider = providers[p % 3];
        vm.prank(provider, provider);
        try market.submitResult(id, wordsOf(jobs[id]), PRE_HASH, "out") {
            deliverer[id] = provider;
        } catch {}
    }

    function warp(uint256 s) external {
        vm.warp(block.timestamp + 1 + (s % 2 hours));
    }

    function fulfill(uint256 j, uint256 f, uint256 gasPrice, uint256 mode) external {
        if (ids.length == 0) return;
        uint256 id = ids[j % ids.length];
        ConsumerRouter.Request memory q = router.requestOf(id);
        if (q.consumer == address(0)) return;
        uint256 held = router.depositOf(id);
        TestConsumer(payable(q.consumer)).setMode(uint8(mode % 3), mode % 3 == 2 ? uint256(q.callbackGasLimit) * 2 : 0);
        vm.txGasPrice(gasPrice % 1e12);
        address who = fulfillers[f % 2];
        uint256 before = router.balanceOf(who);
        vm.prank(who, who);
        try router.fulfill(id, wordsOf(jobs[id]), deliverer[id], PRE_HASH, f % 5 == 0 ? bytes("") : PRE) {
            uint256 paid = router.balanceOf(who) - before;
            reimbursedTotal += paid;
            capTotal += held;
            if (paid > held) revert("reimbursed above the deposit");
        } catch {}
    }

    function retry(uint256 j, uint256 mode) external {
        if (ids.length == 0) return;
        uint256 id = ids[j % ids.length];
        address c = router.requestOf(id).consumer;
        if (c == address(0)) return;
        TestConsumer(payable(c)).setMode(uint8(mode % 2), 0);
        try router.retryCallback(id, PRE) {} catch {}
    }

    function finalizeAndReclaim(uint256 j) external {
        if (ids.length == 0) return;
        uint256 id = ids[j % ids.length];
        try market.finalize(id, wordsOf(jobs[id])) {} catch {}
        try router.reclaim(id) {} catch {}
    }

    function withdraw(uint256 w) external {
        uint256 k = w % 4;
        if (k < 2) {
            vm.prank(fulfillers[k]);
            try router.withdraw() {} catch {}
        } else {
            consumers[k - 2].withdrawAll();
        }
    }
}

/// @notice The router's solvency: its ETH is exactly the open deposits plus the credits.
contract ConsumerRouterInvariantTest is ConsumerFixture {
    ConsumerRouterHandler internal handler;

    function setUp() public override {
        super.setUp();
        TestConsumer other = new TestConsumer(router);
        vm.deal(address(other), 1_000 ether);
        vm.deal(address(consumer), 1_000 ether);
        handler = new ConsumerRouterHandler(
            market,
            router,
            [consumer, other],
            [prov[0], prov[1], prov[2]],
            _req(1, address(0))
        );
        targetContract(address(handler));
    }

    /// @notice Balance = open deposits + credits; every fulfilled or reclaimed job holds nothing;
    /// reimbursements never exceeded the deposits they came from.
    /// hardhat-config: invariant.runs = 32
    /// hardhat-config: invariant.depth = 40
    function invariant_routerSolvent() public view {
        uint256 n = handler.idCount();
        uint256 held;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = handler.ids(i);
            ConsumerRouter.Request memory q = router.requestOf(id);
            uint256 d = router.depositOf(id);
            if (q.status != ConsumerRouter.CallbackStatus.Funded) assertEq(d, 0, "no deposit held after the end");
            else
                assertEq(
                    d,
                    router.depositFor(q.callbackGasLimit, q.maxGasPrice),
                    "the whole deposit held while funded"
                );
            held += d;
        }
        address[] memory accounts = handler.accounts();
        uint256 credits;
        for (uint256 i = 0; i < accounts.length; ++i) credits += router.balanceOf(accounts[i]);
        assertEq(address(router).balance, held + credits, "router balance == deposits + credits");
        assertLe(handler.reimbursedTotal(), handler.capTotal(), "reimbursed <= deposits");
    }
}

/// @notice The example dApp with silero-vad-v5's outputs, and an ERC-20-paid consumer job.
contract SpeechGateTest is ConsumerFixture {
    SpeechGate internal gate;

    function setUp() public override {
        super.setUp();
        gate = new SpeechGate(router, modelId, address(this), 5_000, 150_000, CAP);
        vm.deal(address(gate), 10 ether);
    }

    function _u32(uint256 v) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(v), uint8(v >> 8), uint8(v >> 16), uint8(v >> 24));
    }

    function _i64(int64 v) internal pure returns (bytes memory) {
        uint64 u = uint64(v);
        bytes memory b = new bytes(8);
        for (uint256 i = 0; i < 8; ++i) b[i] = bytes1(uint8(u >> (8 * i)));
        return b;
    }

    function _str(string memory s) internal pure returns (bytes memory) {
        return abi.encodePacked(_u32(bytes(s).length), s);
    }

    /// @dev silero-vad-v5's canonical preimage: output F32[1, 1] = probability (quanta), stateN
    /// F32[2, 1, 128].
    function _silero(int64 probability) internal pure returns (bytes memory p) {
        p = abi.encodePacked(_str("CONCLAVE-RESULT-V1"), _u32(2), _str("output"), _str("F32"));
        p = abi.encodePacked(p, _u32(2), _i64(1), _i64(1), _i64(probability));
        p = abi.encodePacked(p, _str("stateN"), _str("F32"), _u32(3));
        p = abi.encodePacked(p, _i64(2), _i64(1), _i64(128));
        for (uint256 i = 0; i < 256; ++i) p = abi.encodePacked(p, _i64(int64(int256(i % 7)) - 3));
    }

    function _frame(uint8 k, int64 probability) internal returns (uint256 id, Job memory job, bytes memory pre) {
        pre = _silero(probability);
        bytes32 h = keccak256(pre);
        vm.recordLogs();
        id = gate.submitFrame(INPUT, "", k, FEE, uint40(block.timestamp + 1 hours));
        job = _jobFromLogs(market, id, vm.getRecordedLogs());
        if (k == 1) {
            _deliver(id, job, prov[0], h);
            vm.warp(block.timestamp + job.challengeWindow + 1);
        } else {
            uint8[3] memory seats;
            for (uint256 i = 0; i < 3; ++i) seats[i] = _commit(id, job, prov[i], h);
            for (uint256 i = 0; i < 3; ++i) _reveal(id, job, prov[i], seats[i], h);
        }
        vm.prank(fulfiller, fulfiller);
        assertTrue(router.fulfill(id, wordsOf(job), k == 1 ? prov[0] : address(0), h, pre), "delivered");
    }

    function test_speechFrame_k3_opensTheGate() public {
        (uint256 id, , bytes memory pre) = _frame(3, 8_123);
        assertEq(pre.length, 2_164, "silero's preimage is 2,164 bytes");
        (bool requested, bool delivered, bool speech, int64 probability) = gate.verdicts(id);
        assertTrue(requested && delivered && speech, "speech");
        assertEq(uint256(int256(probability)), 8_123, "probability 0.8123");
        gate.requireSpeech(id);
    }

    function test_silence_k1_keepsTheGateShut() public {
        (uint256 id, , ) = _frame(1, 120);
        (, bool delivered, bool speech, ) = gate.verdicts(id);
        assertTrue(delivered && !speech, "silence");
        vm.expectRevert(abi.encodeWithSelector(SpeechGate.SpeechGateNotSpeech.selector, id, int64(120), true));
        gate.requireSpeech(id);
        // Unused deposits and escrow come back to the owner.
        uint256 before = address(0xBEEF).balance;
        gate.withdrawAll(payable(address(0xBEEF)));
        assertGe(address(0xBEEF).balance, before + 8.9 ether, "the balance less the fee and the gas withdrawn");
        assertEq(address(gate).balance, 0, "gate emptied");
    }

    function test_stateN_decodes() public {
        CanonicalOutputsHarness h = new CanonicalOutputsHarness();
        bytes memory pre = _silero(5_000);
        (bool found, CanonicalOutputs.Output memory s) = h.find(pre, "stateN");
        assertTrue(found, "stateN");
        assertEq(s.count, 256, "256 elements");
        assertEq(s.shape[2], 128, "shape [2, 1, 128]");
        int64[] memory v = h.elements(pre, 1);
        assertTrue(v[0] == -3 && v[4] == 1 && v[255] == int64(int256(255 % 7)) - 3, "elements");
    }

    function test_erc20Job_consumerFulfilled() public {
        uint256 escrow = _escrow(1);
        payToken.mint(address(consumer), escrow);
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(payToken));
        vm.recordLogs();
        uint256 id = consumer.request(r, LIMIT, CAP);
        Job memory job = _jobFromLogs(market, id, vm.getRecordedLogs());
        assertEq(job.token, address(payToken), "paid in the token");
        assertEq(payToken.balanceOf(address(consumer)), 0, "escrow pulled");
        _deliver(id, job, prov[0], PRE_HASH);
        vm.warp(block.timestamp + job.challengeWindow + 1);
        assertTrue(_fulfill(id, job, prov[0], PRE, 1 gwei), "delivered");
        assertEq(consumer.lastOutputsHash(), keccak256(PRE), "outputs");
    }
}

/// @notice Relays a fulfil built in memory, as a batching contract or an attacker's wrapper would,
/// and measures the gas the router's call took.
contract FulfilRelay {
    uint256 public lastCallGas;

    function relay(address router, bytes calldata data) external returns (bool ok, bytes memory ret) {
        uint256 before = gasleft();
        (ok, ret) = router.call(data);
        lastCallGas = before - gasleft();
    }

    function withdraw(ConsumerRouter router) external {
        router.withdraw();
    }

    receive() external payable {}
}

/// @notice Attacks on the measured reimbursement (review of session 15): calldata padded after
/// the outputs would be reimbursed as calldata, and a wrapper contract builds the router's
/// calldata in memory, so its calldata and base cost are not the transaction's. Both used to
/// drain a consumer's deposit into the fulfiller's credit.
contract ConsumerRouterReimbursementAttackTest is ConsumerFixture {
    /// @dev The canonical fulfil calldata for a final k = 1 job.
    function _call(uint256 id, Job memory job, bytes memory outputs) internal view returns (bytes memory) {
        return abi.encodeCall(ConsumerRouter.fulfill, (id, wordsOf(job), prov[0], PRE_HASH, outputs));
    }

    function test_paddedCalldata_refused() public {
        (uint256 id, Job memory job) = _k1Final();
        bytes memory canonical = _call(id, job, PRE);
        bytes memory junk = new bytes(13_000);
        for (uint256 i = 0; i < junk.length; ++i) junk[i] = 0xff;
        bytes memory padded = bytes.concat(canonical, junk);
        vm.txGasPrice(5 gwei);
        vm.prank(fulfiller, fulfiller);
        (bool ok, bytes memory ret) = address(router).call(padded);
        assertFalse(ok, "padded calldata refused");
        assertEq(
            keccak256(ret),
            keccak256(
                abi.encodeWithSelector(
                    ConsumerRouter.ConsumerRouterNonCanonicalCalldata.selector,
                    padded.length,
                    canonical.length
                )
            ),
            "the error names the length and the canonical one"
        );
        // The same bytes, canonically encoded, go through.
        vm.prank(fulfiller, fulfiller);
        (ok, ) = address(router).call(canonical);
        assertTrue(ok, "canonical calldata accepted");
        assertEq(_rstatus(id), R_DELIVERED, "delivered");
    }

    function test_nonZeroPaddingOrGap_refused() public {
        (uint256 id, Job memory job) = _k1Final();
        bytes memory canonical = _call(id, job, PRE);
        assertTrue(PRE.length % 32 != 0, "the preimage leaves padding in its last word");
        // Non-zero bytes in the last word's padding.
        bytes memory dirty = bytes.concat(canonical);
        dirty[dirty.length - 1] = 0x01;
        vm.prank(fulfiller, fulfiller);
        (bool ok, bytes memory ret) = address(router).call(dirty);
        assertFalse(ok, "dirty padding refused");
        assertEq(bytes4(ret), ConsumerRouter.ConsumerRouterNonCanonicalCalldata.selector, "dirty padding");
        // A word of junk between the head and the outputs (offset 0x160 instead of 0x140).
        bytes memory head = new bytes(4 + 320);
        for (uint256 i = 0; i < head.length; ++i) head[i] = canonical[i];
        head[4 + 9 * 32 + 31] = 0x60;
        head[4 + 9 * 32 + 30] = 0x01;
        bytes memory tail = new bytes(canonical.length - head.length);
        for (uint256 i = 0; i < tail.length; ++i) tail[i] = canonical[head.length + i];
        bytes memory gapped = bytes.concat(head, bytes32(type(uint256).max), tail);
        vm.prank(fulfiller, fulfiller);
        (ok, ret) = address(router).call(gapped);
        assertFalse(ok, "a gap before the outputs refused");
        assertEq(bytes4(ret), ConsumerRouter.ConsumerRouterNonCanonicalCalldata.selector, "gap");
        assertEq(_rstatus(id), R_FUNDED, "still funded");
    }

    function test_wrapper_paidNoMoreThanItsCallUsed() public {
        (uint256 id, Job memory job) = _k1Final();
        FulfilRelay relay = new FulfilRelay();
        uint256 held = router.depositOf(id);
        vm.txGasPrice(5 gwei);
        vm.recordLogs();
        // The wrapper is the router's caller; the transaction's sender is the fulfiller.
        vm.prank(fulfiller, fulfiller);
        (bool ok, ) = relay.relay(address(router), _call(id, job, PRE));
        assertTrue(ok, "relayed fulfil went through");
        (uint256 reimbursed, uint256 refund, uint256 gas) = _reimbursed(vm.getRecordedLogs());
        assertEq(router.balanceOf(address(relay)), reimbursed, "the wrapper is credited");
        assertEq(reimbursed, 5 gwei * gas, "at the price");
        // Only what the router measured of its own execution: less than the call took (the
        // call's dispatch and the bookkeeping after the measurement are not paid), and none of
        // the base cost or calldata a transaction of its own would have been charged.
        assertLe(gas + 1, relay.lastCallGas(), "no more than the router's call used");
        assertEq(reimbursed + refund, held, "the rest to the consumer");
        _assertSolvent(_ids1(id), _accountsWith(address(relay)));
    }

    function _accountsWith(address extra) internal view returns (address[] memory r) {
        r = new address[](3);
        (r[0], r[1], r[2]) = (fulfiller, address(consumer), extra);
    }
}
