// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

// ==================================================================== eligibility (both entry points)

/// @notice The market's eligibility checks (on the provider's word that the registry pushed, then
/// the collateral) as both entry points that take work refuse them, a k = 1 delivery
/// ({IInferenceMarket-submitResult}) and a k > 1 commit: each reason is listed once.
contract InferenceMarketEligibilityTest is InferenceMarketFixture {
    function test_submitResult_refusesEveryIneligibleProvider() public {
        _checkEligibility(1);
    }

    function test_commit_refusesEveryIneligibleProvider() public {
        _checkEligibility(3);
    }

    function _checkEligibility(uint8 k) private {
        (uint256 id, Job memory job) = _requestEth(k);
        _expectServeRevert(id, job, outsider, _notEligible(outsider));
        _expectServeRevert(id, job, pending, _notEligible(pending));
        _expectServeRevert(id, job, fewTags, _missingTags(fewTags, uint256(0x2)));
        _expectServeRevert(id, job, lowMemory, _lowMemory(lowMemory, uint32(1024), MIN_MEMORY));
        registry.suspendProvider(prov[0]);
        _expectServeRevert(id, job, prov[0], _notEligible(prov[0]));
        vm.prank(prov[1]);
        registry.requestExit();
        _expectServeRevert(id, job, prov[1], _notEligible(prov[1]));
        // A collateral above the whole stake: no free stake covers a seat.
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = uint128(STAKE + 1);
        _court().setPolicy(p);
        (uint256 id2, Job memory job2) = _requestEth(k);
        _expectServeRevert(
            id2,
            job2,
            prov[2],
            abi.encodeWithSelector(
                IProviderRegistry.ProviderRegistryInsufficientFreeStake.selector,
                prov[2],
                STAKE,
                STAKE + 1
            )
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
