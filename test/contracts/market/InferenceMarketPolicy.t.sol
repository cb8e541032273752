// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

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
        new InferenceMarket(
            address(this),
            guardian,
            IModelRegistry(address(0)),
            registry,
            treasury,
            _defaultPolicy(),
            _defaultChallengePolicy(),
            court
        );
        vm.expectRevert(err);
        new InferenceMarket(
            address(this),
            guardian,
            models,
            IProviderRegistry(address(0)),
            treasury,
            _defaultPolicy(),
            _defaultChallengePolicy(),
            court
        );
        vm.expectRevert(err);
        new InferenceMarket(
            address(this),
            guardian,
            models,
            registry,
            address(0),
            _defaultPolicy(),
            _defaultChallengePolicy(),
            court
        );
        vm.expectRevert(err);
        new InferenceMarket(
            address(this),
            guardian,
            models,
            registry,
            treasury,
            _defaultPolicy(),
            _defaultChallengePolicy(),
            address(0)
        );
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
        assertEq(
            IInferenceMarketCourt(address(market)).challengePolicy().juryFee,
            uint256(1e18) / 3,
            "jury fee lowered first"
        );
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
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketTagsOutOfRange.selector, r.requiredTags)
        );
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
                IInferenceMarketTypes.InferenceMarketNothingToWithdraw.selector,
                treasury,
                address(payToken)
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
