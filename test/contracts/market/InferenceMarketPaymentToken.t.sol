// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// solhint-disable-next-line no-global-import
import "./InferenceMarketFixture.sol";

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
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketTokenNotAllowed.selector, address(other))
        );
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
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketPolicyOutOfBounds.selector, "ratePerEth", 0)
        );
        _court().setTokenAllowed(address(usdc), true, 0);
        assertEq(market.minFeeIn(address(usdc), MIN_FEE), 300e6, "unchanged");
    }

    function test_setTokenAllowed_disallowingRevertsRequests() public {
        vm.expectEmit(true, true, true, true, address(market));
        emit IInferenceMarketTypes.TokenAllowed(address(usdc), false, 0);
        _court().setTokenAllowed(address(usdc), false, 0);
        assertFalse(market.isTokenAllowed(address(usdc)), "disallowed");
        _expectTokenRevert(
            usdc,
            300e6,
            abi.encodeWithSelector(IInferenceMarketTypes.InferenceMarketTokenNotAllowed.selector, address(usdc))
        );
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
