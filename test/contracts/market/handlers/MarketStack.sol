// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// The market stack the invariant handler and the fuzz tests deploy, and its parameters.

import {Vm} from "../../utils/Test.sol";
import {InferenceMarket} from "../../../../contracts/market/InferenceMarket.sol";
import {InferenceMarketCourt} from "../../../../contracts/market/InferenceMarketCourt.sol";
import {IInferenceMarketTypes} from "../../../../contracts/interfaces/IInferenceMarket.sol";
import {IInferenceMarketCourt} from "../../../../contracts/interfaces/IInferenceMarketCourt.sol";
import {ProviderRegistry} from "../../../../contracts/registry/ProviderRegistry.sol";
import {IProviderRegistry} from "../../../../contracts/interfaces/IProviderRegistry.sol";
import {ModelRegistry} from "../../../../contracts/registry/ModelRegistry.sol";
import {IModelRegistry} from "../../../../contracts/interfaces/IModelRegistry.sol";
import {MockERC20} from "../../../../contracts/mocks/MockERC20.sol";

uint256 constant START = 1_700_000_000;
uint96 constant MIN_FEE = 1e15;
uint32 constant MIN_MEMORY = 2048;
uint256 constant MIN_STAKE = 50e18;
uint256 constant STAKE = 100e18;
uint128 constant COLLATERAL = 10e18;
uint32 constant CHALLENGE_WINDOW = 60;
uint16 constant CLIENT_SHARE_BPS = 5_000;
uint40 constant UNBONDING = 30 minutes;
uint32 constant ACTIVE_VERSION = 1;
address constant TREASURY = address(0x7EA5);

/// @notice Deploys the whole stack with the calling contract as the DAO (admin of everything).
library MarketStack {
    Vm private constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    struct Stack {
        ModelRegistry models;
        ProviderRegistry registry;
        InferenceMarket market;
        MockERC20 stakeToken;
        MockERC20 tokenA;
        MockERC20 tokenB;
        bytes32 modelId;
    }

    function defaultPolicy() internal pure returns (IInferenceMarketTypes.Policy memory) {
        return
            IInferenceMarketTypes.Policy({
                protocolFeeBps: 250,
                quorumBps: 6000,
                maxRedundancy: 4,
                commitWindow: 1 hours,
                revealWindow: 1 hours,
                priorityWindow: 0,
                maxInlineInputBytes: 1024,
                maxJobDuration: 1 days,
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

    function deploy(address treasury, IInferenceMarketTypes.Policy memory policy) internal returns (Stack memory s) {
        address dao = address(this);
        s.models = new ModelRegistry(dao, address(0), 30 days);
        s.stakeToken = new MockERC20("Conclave", "CNCL", 18);
        s.tokenA = new MockERC20("Token A", "TKA", 18);
        s.tokenB = new MockERC20("Token B", "TKB", 6);
        s.registry = new ProviderRegistry(dao, address(0), s.stakeToken, uint128(MIN_STAKE), UNBONDING);
        s.registry.setAdmissionPolicy(true, uint128(MIN_STAKE));
        // Auto-admission grants the declared tags here (finding 6: the DAO chooses which).
        s.registry.setAutoGrantMask(type(uint256).max);
        s.market = new InferenceMarket(
            dao,
            address(0),
            s.models,
            s.registry,
            treasury,
            policy,
            _defaultChallengePolicy(),
            address(new InferenceMarketCourt(s.models, s.registry))
        );
        s.registry.grantRole(s.registry.MARKET_ROLE(), address(s.market));
        // Before any model is published: the registry pushes its mirror to the market from then on.
        s.models.grantRole(s.models.MARKET_ROLE(), address(s.market));
        IInferenceMarketCourt(address(s.market)).setTokenAllowed(address(s.tokenA), true, 1e18);
        IInferenceMarketCourt(address(s.market)).setTokenAllowed(address(s.tokenB), true, 1e18);
        (s.modelId, ) = s.models.publishVersion(
            "resnet-50",
            IModelRegistry.VersionParams({
                weightsCid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                weightsSha256: 0x13e35c44395f6cade670c076230362267c5288989d3498e207877d62b859a6d8,
                schemaCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
                runtime: bytes32("onnxruntime-1.30-cpu"),
                outputQuantum: 1e14,
                minMemoryMB: MIN_MEMORY,
                minFee: MIN_FEE
            })
        );
        s.models.activateVersion(s.modelId, ACTIVE_VERSION);
    }

    function caps(uint256 tags) internal pure returns (IProviderRegistry.Capabilities memory) {
        return
            IProviderRegistry.Capabilities({
                memoryMB: 16_384,
                accelerator: bytes32("cpu"),
                region: bytes32("eu-west"),
                tags: tags
            });
    }

    /// @dev Mints `stake` to `provider` and registers it (auto-admitted: stake ≥ the threshold).
    function register(Stack memory s, address provider, uint256 stake, uint256 tags) internal {
        s.stakeToken.mint(provider, stake);
        vm.prank(provider);
        s.stakeToken.approve(address(s.registry), stake);
        vm.prank(provider);
        s.registry.register(stake, caps(tags), "ipfs://provider");
    }
}
