// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./CourtFixture.sol";

// ==================================================================== policy

contract InferenceMarketChallengePolicyTest is CourtFixture {
    /// @notice The fixture's policy is readable through the market.
    function test_challengePolicy_readsInitialPolicy() public view {
        IInferenceMarketTypes.ChallengePolicy memory p = court.challengePolicy();
        assertEq(keccak256(abi.encode(p)), keccak256(abi.encode(_defaultChallengePolicy())), "initial policy");
    }

    /// @notice Each bound is enforced with the field's name and value; the edges are accepted and
    /// emit ChallengePolicySet.
    function test_setChallengePolicy_bounds() public {
        _expectPolicyRevert(_policy(0, 3, 0, 0), _outOfBounds("challengeWindow", 0));
        _expectPolicyRevert(_policy(30 days + 1, 3, 0, 0), _outOfBounds("challengeWindow", 30 days + 1));
        uint8[6] memory badSizes = [0, 1, 2, 4, 10, 11];
        for (uint256 i = 0; i < badSizes.length; ++i) {
            _expectPolicyRevert(_policy(60, badSizes[i], 0, 0), _outOfBounds("jurySize", badSizes[i]));
        }
        uint96 maxFee = uint96(COLLATERAL / 3);
        _expectPolicyRevert(_policy(60, 3, maxFee + 1, 0), _outOfBounds("juryFee", maxFee + 1));
        _expectPolicyRevert(_policy(60, 9, uint96(COLLATERAL / 9) + 1, 0), _outOfBounds("juryFee", COLLATERAL / 9 + 1));
        _expectPolicyRevert(_policy(60, 3, 0, 10_001), _outOfBounds("challengerShareBps", 10_001));

        _acceptPolicy(_policy(1, 3, maxFee, 10_000));
        _acceptPolicy(_policy(30 days, 9, uint96(COLLATERAL / 9), 0));
        _acceptPolicy(_policy(60, 5, 0, 1));
        _acceptPolicy(_policy(60, 7, 1, 9_999));
    }

    /// @notice setPolicy refuses a collateral below jurySize × juryFee (and accepts it equal).
    function test_setPolicy_collateralBelowJuryFeesReverts() public {
        uint128 floor = uint128(JURY) * JURY_FEE;
        IInferenceMarketTypes.Policy memory p = _defaultPolicy();
        p.collateralPerJob = floor - 1;
        vm.expectRevert(_outOfBounds("collateralPerJob", floor - 1));
        IInferenceMarketCourt(address(market)).setPolicy(p);
        p.collateralPerJob = floor;
        IInferenceMarketCourt(address(market)).setPolicy(p);
        assertEq(market.policy().collateralPerJob, floor, "collateral at the floor accepted");
    }

    /// @notice Only the DAO sets the challenge policy, through the market.
    function test_setChallengePolicy_onlyAdmin() public {
        IInferenceMarketTypes.ChallengePolicy memory p = _policy(120, 5, 1, 100);
        vm.expectRevert(_unauthorized(stranger, market.DEFAULT_ADMIN_ROLE()));
        vm.prank(stranger);
        court.setChallengePolicy(p);
        vm.expectRevert(_unauthorized(guardian, market.DEFAULT_ADMIN_ROLE()));
        vm.prank(guardian);
        court.setChallengePolicy(p);
        _acceptPolicy(p);
    }

    /// @notice A new challenge window applies to jobs requested after it; a new jury policy to
    /// challenges made after it (the Challenge snapshots it).
    function test_setChallengePolicy_snapshotted() public {
        (uint256 oldId, Job memory oldJob) = _delivered(RESULT);
        _acceptPolicy(_policy(600, 5, 2e18, 2_500));
        (uint256 newId, Job memory newJob) = _k1Eth();
        assertEq(oldJob.challengeWindow, CHALLENGE_WINDOW, "old job keeps its window");
        assertEq(newJob.challengeWindow, 600, "new job takes the new one");
        _deliver(newId, newJob, prov[0], RESULT);
        vm.warp(_deliveredAt(oldId) + CHALLENGE_WINDOW + 1);
        assertEq(_claim(oldId, oldJob, prov[0], RESULT), 1, "old job claimable after its window");
        assertEq(_claim(newId, newJob, prov[0], RESULT), 0, "new job still open to challenge");
        IInferenceMarketTypes.Challenge memory ch = _challenge(newId, newJob, prov[0], RESULT, prov[1]);
        assertEq(ch.jurySize, 5, "jury size snapshotted");
        assertEq(ch.juryFee, 2e18, "jury fee snapshotted");
        assertEq(ch.challengerShareBps, 2_500, "share snapshotted");
    }

    function _expectPolicyRevert(IInferenceMarketTypes.ChallengePolicy memory p, bytes memory err) internal {
        vm.expectRevert(err);
        court.setChallengePolicy(p);
    }

    function _acceptPolicy(IInferenceMarketTypes.ChallengePolicy memory p) internal {
        vm.expectEmit(false, false, false, true, address(market));
        emit IInferenceMarketTypes.ChallengePolicySet(p);
        court.setChallengePolicy(p);
        assertEq(keccak256(abi.encode(court.challengePolicy())), keccak256(abi.encode(p)), "policy stored");
    }
}
