// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== requestJob

contract InferenceMarketRequestTest is InferenceMarketFixture {
    function _expectRequestRevert(IInferenceMarketTypes.JobRequest memory r, uint256 value, bytes memory err) internal {
        vm.deal(client, value);
        vm.expectRevert(err);
        vm.prank(client);
        market.requestJob{value: value}(r);
    }

    function _invalidDeadline(uint40 deadline) internal view returns (bytes memory) {
        return
            abi.encodeWithSelector(
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
                IInferenceMarketTypes.InferenceMarketInvalidInput.selector,
                INPUT.length,
                bytes(INPUT_CID).length
            )
        );
    }

    function test_requestJob_revertsWhenInputNeitherInlineNorCid() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.input = "";
        _expectRequestRevert(
            r,
            _escrow(1),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidInput.selector, 0, 0)
        );
    }

    function test_requestJob_revertsWhenInlineInputTooLarge() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.input = new bytes(MAX_INLINE + 1);
        _expectRequestRevert(
            r,
            _escrow(1),
            abi.encodeWithSelector(
                IInferenceMarketTypes.InferenceMarketInputTooLarge.selector,
                MAX_INLINE + 1,
                MAX_INLINE
            )
        );
    }

    function test_requestJob_revertsWhenInputCidTooLong() public {
        IInferenceMarketTypes.JobRequest memory r = _req(1, address(0));
        r.input = "";
        r.inputCid = _string(129);
        _expectRequestRevert(
            r,
            _escrow(1),
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidInput.selector, 0, 129)
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
                IInferenceMarketTypes.InferenceMarketFeeBelowMinimum.selector,
                uint256(MIN_FEE - 1),
                uint256(MIN_FEE)
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
                IInferenceMarketTypes.InferenceMarketTransferShortfall.selector,
                address(fot),
                escrow,
                escrow - escrow / 100
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
                IERC20Errors.ERC20InsufficientAllowance.selector,
                address(market),
                uint256(0),
                escrow
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
        (uint256 a, ) = _requestEth(1);
        _expectRequestRevert(
            _req(0, address(0)),
            0,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketInvalidRedundancy.selector, uint8(0), MAX_K)
        );
        (uint256 b, ) = _request(2, address(payToken));
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
        vm.expectRevert(_jobMismatch(id));
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
