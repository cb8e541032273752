// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Test, Vm} from "../utils/Test.sol";
import {ModelRegistry} from "../../../contracts/registry/ModelRegistry.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";

/// @notice Shared fixture: a registry administered by `admin` (the timelock in production) with
/// `guardian` allowed to pause publishing.
abstract contract ModelRegistryFixture is Test {
    uint256 internal constant START = 1_700_000_000;
    uint40 internal constant PERIOD = 30 days;
    string internal constant NAME = "resnet-50";
    string internal constant WEIGHTS_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    /// @dev sha256("weights v1"), written out: calling the sha256 precompile would consume pranks.
    bytes32 internal constant WEIGHTS_SHA256 = 0x13e35c44395f6cade670c076230362267c5288989d3498e207877d62b859a6d8;
    string internal constant SCHEMA_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

    address internal admin = address(0xA11CE);
    address internal guardian = address(0x6A4D);
    address internal publisher = address(0xB0B);
    address internal stranger = address(0x5757);

    ModelRegistry internal registry;
    bytes32 internal modelId;

    function setUp() public virtual {
        vm.warp(START);
        registry = new ModelRegistry(admin, guardian, PERIOD);
        modelId = keccak256(bytes(NAME));
    }

    function _params() internal pure returns (IModelRegistry.VersionParams memory) {
        return
            IModelRegistry.VersionParams({
                weightsCid: WEIGHTS_CID,
                weightsSha256: WEIGHTS_SHA256,
                schemaCid: SCHEMA_CID,
                runtime: bytes32("onnxruntime-1.30-cpu"),
                outputQuantum: 1e14,
                minMemoryMB: 2048,
                minFee: 5e18
            });
    }

    function _publish() internal returns (uint32 version) {
        vm.prank(publisher);
        (, version) = registry.publishVersion(NAME, _params());
    }

    function _publishMany(uint256 n) internal {
        for (uint256 i = 0; i < n; ++i) _publish();
    }

    function _activate(uint32 version) internal {
        vm.prank(admin);
        registry.activateVersion(modelId, version);
    }

    function _retire(uint32 version) internal {
        vm.prank(admin);
        registry.retireVersion(modelId, version);
    }

    function _status(uint32 version) internal view returns (uint256) {
        return uint256(registry.getVersion(modelId, version).status);
    }

    function _activeVersion() internal view returns (uint256) {
        return registry.getModel(modelId).activeVersion;
    }

    /// @dev A string of `length` bytes, all "a".
    function _str(uint256 length) internal pure returns (string memory) {
        bytes memory b = new bytes(length);
        for (uint256 i = 0; i < length; ++i) b[i] = "a";
        return string(b);
    }

    /// @dev Expects the publisher's publishVersion(NAME, p) to revert with `err`.
    function _expectPublishRevert(IModelRegistry.VersionParams memory p, bytes memory err) internal {
        vm.expectRevert(err);
        vm.prank(publisher);
        registry.publishVersion(NAME, p);
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _invalidStatus(uint32 version, IModelRegistry.VersionStatus status) internal view returns (bytes memory) {
        return abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidStatus.selector, modelId, version, status);
    }

    function _unknownVersion(bytes32 id, uint32 version) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownVersion.selector, id, version);
    }

    uint256 internal constant PUBLISHED = uint256(IModelRegistry.VersionStatus.Published);
    uint256 internal constant ACTIVE = uint256(IModelRegistry.VersionStatus.Active);
    uint256 internal constant DEPRECATED = uint256(IModelRegistry.VersionStatus.Deprecated);
    uint256 internal constant RETIRED = uint256(IModelRegistry.VersionStatus.Retired);
}

contract ModelRegistryTest is ModelRegistryFixture {
    // ================================================================ constructor

    function test_constructor_setsRolesAndDeprecationPeriod() public view {
        assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin), "admin role");
        assertTrue(registry.hasRole(registry.GUARDIAN_ROLE(), guardian), "guardian role");
        assertFalse(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), address(this)), "deployer is not admin");
        assertEq(registry.GUARDIAN_ROLE(), keccak256("GUARDIAN_ROLE"), "guardian role id");
        assertEq(registry.deprecationPeriod(), PERIOD, "deprecation period");
        assertEq(registry.MAX_DEPRECATION_PERIOD(), 365 days, "max period");
        assertFalse(registry.paused(), "not paused");
    }

    function test_constructor_zeroGuardianGrantsNoGuardianRole() public {
        ModelRegistry r = new ModelRegistry(admin, address(0), PERIOD);
        assertFalse(r.hasRole(r.GUARDIAN_ROLE(), address(0)), "address(0) is no guardian");
        vm.expectRevert(_unauthorized(guardian, r.GUARDIAN_ROLE()));
        vm.prank(guardian);
        r.pause();
    }

    function test_constructor_emitsDeprecationPeriodSet() public {
        vm.expectEmit(true, true, true, true);
        emit IModelRegistry.DeprecationPeriodSet(0, 7 days);
        new ModelRegistry(admin, guardian, 7 days);
    }

    function test_constructor_revertsWhenDeprecationPeriodAboveMaximum() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IModelRegistry.ModelRegistryInvalidDeprecationPeriod.selector,
                uint40(365 days + 1),
                uint40(365 days)
            )
        );
        new ModelRegistry(admin, guardian, 365 days + 1);
    }

    // ================================================================ publishVersion

    function test_publishVersion_createsModelAndFirstVersion() public {
        vm.prank(publisher);
        (bytes32 id, uint32 version) = registry.publishVersion(NAME, _params());

        assertEq(id, modelId, "model id");
        assertEq(id, registry.modelIdOf(NAME), "modelIdOf");
        assertEq(version, 1, "first version");

        IModelRegistry.Model memory m = registry.getModel(id);
        assertEq(m.name, NAME, "name");
        assertEq(m.versionCount, 1, "version count");
        assertEq(m.activeVersion, 0, "no active version");

        IModelRegistry.ModelVersion memory v = registry.getVersion(id, 1);
        IModelRegistry.VersionParams memory p = _params();
        assertEq(v.weightsCid, p.weightsCid, "weightsCid");
        assertEq(v.weightsSha256, p.weightsSha256, "weightsSha256");
        assertEq(v.schemaCid, p.schemaCid, "schemaCid");
        assertEq(v.runtime, p.runtime, "runtime");
        assertEq(v.outputQuantum, p.outputQuantum, "outputQuantum");
        assertEq(v.minMemoryMB, p.minMemoryMB, "minMemoryMB");
        assertEq(v.minFee, p.minFee, "minFee");
        assertEq(uint256(v.status), PUBLISHED, "status");
        assertEq(v.publishedAt, START, "publishedAt");
        assertEq(v.sunsetAt, 0, "sunsetAt");
        assertEq(v.publisher, publisher, "publisher");
        assertFalse(registry.acceptsJobs(id, 1), "published version takes no jobs");
    }

    function test_publishVersion_emitsModelCreatedAndVersionPublished() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.ModelCreated(modelId, NAME, publisher);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.VersionPublished(modelId, 1, publisher, _params());
        _publish();
    }

    function test_publishVersion_laterVersionEmitsOnlyVersionPublished() public {
        _publish();
        vm.warp(START + 1 hours);

        vm.recordLogs();
        vm.prank(publisher);
        (bytes32 id, uint32 version) = registry.publishVersion(NAME, _params());
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(id, modelId, "same model");
        assertEq(version, 2, "second version");
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].emitter, address(registry), "emitter");
        assertEq(logs[0].topics[0], IModelRegistry.VersionPublished.selector, "VersionPublished, no ModelCreated");
        assertEq(logs[0].topics[1], modelId, "topic modelId");
        assertEq(uint256(logs[0].topics[2]), 2, "topic version");
        assertEq(logs[0].topics[3], bytes32(uint256(uint160(publisher))), "topic publisher");

        IModelRegistry.ModelVersion memory v = registry.getVersion(modelId, 2);
        assertEq(v.publisher, publisher, "publisher");
        assertEq(v.publishedAt, START + 1 hours, "publishedAt");
        assertEq(registry.getModel(modelId).name, NAME, "name kept");
        assertEq(registry.getModel(modelId).versionCount, 2, "count");
    }

    // ================================================================ model names are owned (finding 16)

    function test_publishVersion_firstPublisherOwnsTheName() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.ModelOwnerChanged(modelId, address(0), publisher);
        _publish();
        assertEq(registry.getModel(modelId).owner, publisher, "owner");
    }

    /// @dev The attack: anyone could publish versions under another's name (and race it for
    /// version numbers, so that "v2" a DAO votes on is the squatter's weights).
    function test_publishVersion_strangerCannotPublishUnderAnothersName() public {
        _publish();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotModelOwner.selector, modelId, stranger, publisher)
        );
        registry.publishVersion(NAME, _params());
        assertEq(registry.getModel(modelId).versionCount, 1, "no version added");
    }

    function test_transferModel_twoSteps() public {
        _publish();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.ModelTransferStarted(modelId, publisher, stranger);
        vm.prank(publisher);
        registry.transferModel(modelId, stranger);
        assertEq(registry.pendingModelOwner(modelId), stranger, "pending");
        assertEq(registry.getModel(modelId).owner, publisher, "still the owner until accepted");

        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.ModelOwnerChanged(modelId, publisher, stranger);
        vm.prank(stranger);
        registry.acceptModel(modelId);
        assertEq(registry.getModel(modelId).owner, stranger, "new owner");
        assertEq(registry.pendingModelOwner(modelId), address(0), "offer consumed");

        vm.prank(publisher);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotModelOwner.selector, modelId, publisher, stranger)
        );
        registry.publishVersion(NAME, _params());
        vm.prank(stranger);
        (, uint32 version) = registry.publishVersion(NAME, _params());
        assertEq(version, 2, "the new owner publishes");
    }

    function test_transferModel_revertsForNonOwnerAndUnknownModel() public {
        _publish();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotModelOwner.selector, modelId, stranger, publisher)
        );
        registry.transferModel(modelId, stranger);
        bytes32 unknown = keccak256("nobody");
        vm.prank(publisher);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, unknown));
        registry.transferModel(unknown, stranger);
    }

    function test_acceptModel_onlyThePendingOwner_andAWithdrawnOfferCannotBeAccepted() public {
        _publish();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotPendingOwner.selector, modelId, stranger, address(0))
        );
        registry.acceptModel(modelId);

        vm.prank(publisher);
        registry.transferModel(modelId, guardian);
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotPendingOwner.selector, modelId, stranger, guardian)
        );
        registry.acceptModel(modelId);

        vm.prank(publisher);
        registry.transferModel(modelId, address(0));
        vm.prank(guardian);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotPendingOwner.selector, modelId, guardian, address(0))
        );
        registry.acceptModel(modelId);
        assertEq(registry.getModel(modelId).owner, publisher, "unchanged");
    }

    function test_setModelOwner_daoOnly_clearsOffer_andZeroClosesTheName() public {
        _publish();
        vm.prank(publisher);
        registry.transferModel(modelId, guardian);

        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, bytes32(0))
        );
        registry.setModelOwner(modelId, stranger);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.ModelOwnerChanged(modelId, publisher, stranger);
        vm.prank(admin);
        registry.setModelOwner(modelId, stranger);
        assertEq(registry.getModel(modelId).owner, stranger, "appointed");
        assertEq(registry.pendingModelOwner(modelId), address(0), "offer cleared");

        vm.prank(admin);
        registry.setModelOwner(modelId, address(0));
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotModelOwner.selector, modelId, stranger, address(0))
        );
        registry.publishVersion(NAME, _params());

        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, keccak256("nobody")));
        registry.setModelOwner(keccak256("nobody"), stranger);
    }

    function test_publishVersion_distinctNamesAreDistinctModels() public {
        _publish();
        vm.prank(publisher);
        (bytes32 otherId, uint32 version) = registry.publishVersion("whisper-tiny", _params());
        assertEq(otherId, keccak256("whisper-tiny"), "other id");
        assertTrue(otherId != modelId, "distinct ids");
        assertEq(version, 1, "numbering is per model");
        assertEq(registry.getModel(modelId).versionCount, 1, "first model untouched");
    }

    function test_publishVersion_acceptsBoundaryLengthsAndZeroFeeAndMemory() public {
        IModelRegistry.VersionParams memory p = _params();
        p.weightsCid = _str(128);
        p.schemaCid = _str(1);
        p.minFee = 0;
        p.minMemoryMB = 0;
        p.outputQuantum = 1;
        string memory name = _str(64);
        vm.prank(publisher);
        (bytes32 id, uint32 version) = registry.publishVersion(name, p);
        IModelRegistry.ModelVersion memory v = registry.getVersion(id, version);
        assertEq(registry.getModel(id).name, name, "64-byte name");
        assertEq(v.weightsCid, p.weightsCid, "128-byte CID");
        assertEq(v.schemaCid, p.schemaCid, "1-byte CID");
        assertEq(v.minFee, 0, "zero fee");
        assertEq(v.minMemoryMB, 0, "zero memory");
        assertEq(v.outputQuantum, 1, "quantum 1");
    }

    function test_publishVersion_revertsWhenNameEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidName.selector, ""));
        vm.prank(publisher);
        registry.publishVersion("", _params());
    }

    function test_publishVersion_revertsWhenNameTooLong() public {
        string memory name = _str(65);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidName.selector, name));
        vm.prank(publisher);
        registry.publishVersion(name, _params());
    }

    function test_publishVersion_revertsWhenWeightsCidEmpty() public {
        IModelRegistry.VersionParams memory p = _params();
        p.weightsCid = "";
        _expectPublishRevert(p, abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidCid.selector, ""));
    }

    function test_publishVersion_revertsWhenWeightsCidTooLong() public {
        IModelRegistry.VersionParams memory p = _params();
        p.weightsCid = _str(129);
        _expectPublishRevert(p, abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidCid.selector, p.weightsCid));
    }

    function test_publishVersion_revertsWhenSchemaCidEmpty() public {
        IModelRegistry.VersionParams memory p = _params();
        p.schemaCid = "";
        _expectPublishRevert(p, abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidCid.selector, ""));
    }

    function test_publishVersion_revertsWhenSchemaCidTooLong() public {
        IModelRegistry.VersionParams memory p = _params();
        p.schemaCid = _str(129);
        _expectPublishRevert(p, abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidCid.selector, p.schemaCid));
    }

    function test_publishVersion_revertsWhenWeightsHashZero() public {
        IModelRegistry.VersionParams memory p = _params();
        p.weightsSha256 = bytes32(0);
        _expectPublishRevert(
            p,
            abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidWeightsHash.selector, bytes32(0))
        );
    }

    function test_publishVersion_revertsWhenRuntimeZero() public {
        IModelRegistry.VersionParams memory p = _params();
        p.runtime = bytes32(0);
        _expectPublishRevert(
            p,
            abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidRuntime.selector, bytes32(0))
        );
    }

    function test_publishVersion_revertsWhenOutputQuantumZero() public {
        IModelRegistry.VersionParams memory p = _params();
        p.outputQuantum = 0;
        _expectPublishRevert(
            p,
            abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidOutputQuantum.selector, uint64(0))
        );
    }

    function test_publishVersion_checksNameBeforeParams() public {
        IModelRegistry.VersionParams memory p = _params();
        p.weightsCid = "";
        p.outputQuantum = 0;
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidName.selector, ""));
        vm.prank(publisher);
        registry.publishVersion("", p);
    }

    function test_publishVersion_revertsWhenPaused() public {
        vm.prank(guardian);
        registry.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(publisher);
        registry.publishVersion(NAME, _params());
        assertEq(registry.getModel(modelId).versionCount, 0, "nothing published");
    }

    function test_publishVersion_worksAgainAfterAdminUnpauses() public {
        vm.prank(guardian);
        registry.pause();
        vm.prank(admin);
        registry.unpause();
        assertEq(_publish(), 1, "published after unpause");
    }

    // ================================================================ activateVersion

    function test_activateVersion_revertsWhenCallerNotAdmin() public {
        _publish();
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        vm.prank(stranger);
        registry.activateVersion(modelId, 1);
    }

    function test_activateVersion_revertsWhenCallerIsGuardian() public {
        _publish();
        vm.expectRevert(_unauthorized(guardian, bytes32(0)));
        vm.prank(guardian);
        registry.activateVersion(modelId, 1);
    }

    function test_activateVersion_revertsWhenCallerIsPublisher() public {
        _publish();
        vm.expectRevert(_unauthorized(publisher, bytes32(0)));
        vm.prank(publisher);
        registry.activateVersion(modelId, 1);
    }

    function test_activateVersion_revertsWhenVersionUnknown() public {
        _publish();
        vm.startPrank(admin);
        vm.expectRevert(_unknownVersion(modelId, 2));
        registry.activateVersion(modelId, 2);
        vm.expectRevert(_unknownVersion(modelId, 0));
        registry.activateVersion(modelId, 0);
        vm.expectRevert(_unknownVersion(keccak256("nope"), 1));
        registry.activateVersion(keccak256("nope"), 1);
        vm.stopPrank();
    }

    function test_activateVersion_revertsWhenAlreadyActive() public {
        _publish();
        _activate(1);
        vm.expectRevert(_invalidStatus(1, IModelRegistry.VersionStatus.Active));
        vm.prank(admin);
        registry.activateVersion(modelId, 1);
    }

    function test_activateVersion_firstActivationHasNoPrevious() public {
        _publish();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.VersionActivated(modelId, 1, 0, 0);
        _activate(1);

        assertEq(_status(1), ACTIVE, "active");
        assertEq(_activeVersion(), 1, "activeVersion");
        assertEq(registry.getVersion(modelId, 1).sunsetAt, 0, "no sunset");
        assertTrue(registry.acceptsJobs(modelId, 1), "takes jobs");
    }

    function test_activateVersion_upgradeDeprecatesPreviousUntilSunset() public {
        _publishMany(2);
        _activate(1);
        vm.warp(START + 1 days);

        uint40 sunset = uint40(START + 1 days + PERIOD);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.VersionActivated(modelId, 2, 1, sunset);
        _activate(2);

        assertEq(_status(1), DEPRECATED, "v1 deprecated");
        assertEq(registry.getVersion(modelId, 1).sunsetAt, sunset, "v1 sunset");
        assertEq(_status(2), ACTIVE, "v2 active");
        assertEq(registry.getVersion(modelId, 2).sunsetAt, 0, "v2 no sunset");
        assertEq(_activeVersion(), 2, "activeVersion");
    }

    function test_activateVersion_rollbackToDeprecatedVersion() public {
        _publishMany(2);
        _activate(1);
        _activate(2);
        vm.warp(START + 2 days);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.VersionActivated(modelId, 1, 2, uint40(START + 2 days + PERIOD));
        _activate(1);

        assertEq(_status(1), ACTIVE, "v1 active again");
        assertEq(registry.getVersion(modelId, 1).sunsetAt, 0, "v1 sunset cleared");
        assertEq(_status(2), DEPRECATED, "v2 deprecated");
        assertEq(registry.getVersion(modelId, 2).sunsetAt, START + 2 days + PERIOD, "v2 sunset");
        assertEq(_activeVersion(), 1, "activeVersion");
        assertTrue(registry.acceptsJobs(modelId, 1), "v1 takes jobs");
    }

    function test_activateVersion_rollbackToDeprecatedVersionAfterItsSunset() public {
        _publishMany(2);
        _activate(1);
        _activate(2);
        vm.warp(START + PERIOD + 1);
        assertFalse(registry.acceptsJobs(modelId, 1), "v1 past sunset");

        _activate(1);
        assertEq(_status(1), ACTIVE, "v1 active");
        assertTrue(registry.acceptsJobs(modelId, 1), "v1 takes jobs again");
    }

    function test_activateVersion_rollbackToRetiredVersion() public {
        _publishMany(2);
        _activate(1);
        _activate(2);
        _retire(1);
        vm.warp(START + 3 days);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.VersionActivated(modelId, 1, 2, uint40(START + 3 days + PERIOD));
        _activate(1);

        assertEq(_status(1), ACTIVE, "v1 active");
        assertEq(_status(2), DEPRECATED, "v2 deprecated");
        assertEq(_activeVersion(), 1, "activeVersion");
    }

    function test_activateVersion_retiredVersionWhenNoneActive() public {
        _publish();
        _activate(1);
        _retire(1);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.VersionActivated(modelId, 1, 0, 0);
        _activate(1);
        assertEq(_status(1), ACTIVE, "reactivated");
        assertEq(_activeVersion(), 1, "activeVersion");
    }

    function test_activateVersion_skippingVersionsLeavesOthersPublished() public {
        _publishMany(3);
        _activate(1);
        _activate(3);
        assertEq(_status(1), DEPRECATED, "v1");
        assertEq(_status(2), PUBLISHED, "v2 untouched");
        assertEq(_status(3), ACTIVE, "v3");
    }

    function test_activateVersion_zeroDeprecationPeriodSunsetsImmediately() public {
        vm.prank(admin);
        registry.setDeprecationPeriod(0);
        _publishMany(2);
        _activate(1);
        _activate(2);
        assertEq(_status(1), DEPRECATED, "deprecated");
        assertEq(registry.getVersion(modelId, 1).sunsetAt, START, "sunset now");
        assertFalse(registry.acceptsJobs(modelId, 1), "no jobs at sunset");
    }

    function test_activateVersion_sunsetUsesPeriodAtActivationTime() public {
        _publishMany(2);
        _activate(1);
        _activate(2);
        vm.prank(admin);
        registry.setDeprecationPeriod(1 days);
        assertEq(registry.getVersion(modelId, 1).sunsetAt, START + PERIOD, "existing sunset unchanged");
        vm.warp(START + 2 days);
        assertTrue(registry.acceptsJobs(modelId, 1), "still before the original sunset");
    }

    function test_activateVersion_worksWhilePaused() public {
        _publish();
        vm.prank(guardian);
        registry.pause();
        _activate(1);
        assertEq(_status(1), ACTIVE, "pause only stops publishing");
    }

    // ================================================================ retireVersion

    function test_retireVersion_revertsWhenCallerNotAdmin() public {
        _publish();
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        vm.prank(stranger);
        registry.retireVersion(modelId, 1);
    }

    function test_retireVersion_revertsWhenCallerIsGuardian() public {
        _publish();
        vm.expectRevert(_unauthorized(guardian, bytes32(0)));
        vm.prank(guardian);
        registry.retireVersion(modelId, 1);
    }

    function test_retireVersion_revertsWhenVersionUnknown() public {
        vm.expectRevert(_unknownVersion(modelId, 1));
        vm.prank(admin);
        registry.retireVersion(modelId, 1);
    }

    function test_retireVersion_revertsWhenAlreadyRetired() public {
        _publish();
        _retire(1);
        vm.expectRevert(_invalidStatus(1, IModelRegistry.VersionStatus.Retired));
        vm.prank(admin);
        registry.retireVersion(modelId, 1);
    }

    function test_retireVersion_publishedVersion() public {
        _publish();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.VersionRetired(modelId, 1);
        _retire(1);
        assertEq(_status(1), RETIRED, "retired");
        assertEq(_activeVersion(), 0, "no active version");
        assertFalse(registry.acceptsJobs(modelId, 1), "no jobs");
    }

    function test_retireVersion_activeVersionClearsActiveVersion() public {
        _publish();
        _activate(1);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.VersionRetired(modelId, 1);
        _retire(1);

        assertEq(_status(1), RETIRED, "retired");
        assertEq(_activeVersion(), 0, "activeVersion cleared");
        assertFalse(registry.acceptsJobs(modelId, 1), "no jobs");
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNoActiveVersion.selector, modelId));
        registry.resolveVersion(modelId, 0);
    }

    function test_retireVersion_deprecatedVersionStopsJobsBeforeSunset() public {
        _publishMany(2);
        _activate(1);
        _activate(2);
        assertTrue(registry.acceptsJobs(modelId, 1), "deprecated, before sunset");
        _retire(1);
        assertEq(_status(1), RETIRED, "retired");
        assertFalse(registry.acceptsJobs(modelId, 1), "no jobs any more");
        assertEq(_activeVersion(), 2, "active version untouched");
    }

    function test_retireVersion_worksWhilePaused() public {
        _publish();
        vm.prank(guardian);
        registry.pause();
        _retire(1);
        assertEq(_status(1), RETIRED, "retired while paused");
    }

    // ================================================================ lifecycle

    function test_lifecycle_publishedActiveDeprecatedRetired() public {
        _publishMany(2);
        assertEq(_status(1), PUBLISHED, "published");
        assertFalse(registry.acceptsJobs(modelId, 1), "published: no jobs");

        _activate(1);
        assertEq(_status(1), ACTIVE, "active");
        assertTrue(registry.acceptsJobs(modelId, 1), "active: jobs");

        vm.warp(START + 10 days);
        _activate(2);
        uint256 sunset = START + 10 days + PERIOD;
        assertEq(_status(1), DEPRECATED, "deprecated");
        assertTrue(registry.acceptsJobs(modelId, 1), "deprecated, just deprecated: jobs");

        vm.warp(sunset - 1);
        assertTrue(registry.acceptsJobs(modelId, 1), "deprecated, 1s before sunset: jobs");
        vm.warp(sunset);
        assertFalse(registry.acceptsJobs(modelId, 1), "deprecated, at sunset: no jobs");
        vm.warp(sunset + 1);
        assertFalse(registry.acceptsJobs(modelId, 1), "deprecated, after sunset: no jobs");
        assertEq(_status(1), DEPRECATED, "status stays Deprecated after sunset");

        _retire(1);
        assertEq(_status(1), RETIRED, "retired");
        assertFalse(registry.acceptsJobs(modelId, 1), "retired: no jobs");
        assertTrue(registry.acceptsJobs(modelId, 2), "v2 still active");
    }

    // ================================================================ setDeprecationPeriod

    function test_setDeprecationPeriod_revertsWhenCallerNotAdmin() public {
        vm.expectRevert(_unauthorized(guardian, bytes32(0)));
        vm.prank(guardian);
        registry.setDeprecationPeriod(1 days);
    }

    function test_setDeprecationPeriod_revertsAboveMaximum() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IModelRegistry.ModelRegistryInvalidDeprecationPeriod.selector,
                uint40(365 days + 1),
                uint40(365 days)
            )
        );
        vm.prank(admin);
        registry.setDeprecationPeriod(365 days + 1);
        assertEq(registry.deprecationPeriod(), PERIOD, "unchanged");
    }

    function test_setDeprecationPeriod_acceptsMaximumAndZero() public {
        vm.startPrank(admin);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.DeprecationPeriodSet(PERIOD, 365 days);
        registry.setDeprecationPeriod(365 days);
        assertEq(registry.deprecationPeriod(), 365 days, "maximum");

        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.DeprecationPeriodSet(365 days, 0);
        registry.setDeprecationPeriod(0);
        assertEq(registry.deprecationPeriod(), 0, "zero");
        vm.stopPrank();
    }

    // ================================================================ acceptsJobs

    function test_acceptsJobs_falseForUnknownVersion() public view {
        assertFalse(registry.acceptsJobs(modelId, 0), "version 0");
        assertFalse(registry.acceptsJobs(modelId, 1), "unknown version");
    }

    // ================================================================ resolveVersion

    function test_resolveVersion_zeroResolvesToActiveVersion() public {
        _publishMany(3);
        _activate(2);
        assertEq(registry.resolveVersion(modelId, 0), 2, "active");
        _activate(1);
        assertEq(registry.resolveVersion(modelId, 0), 1, "after rollback");
    }

    function test_resolveVersion_revertsWhenZeroAndNoActiveVersion() public {
        _publish();
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNoActiveVersion.selector, modelId));
        registry.resolveVersion(modelId, 0);
    }

    function test_resolveVersion_revertsWhenZeroAndModelUnknown() public {
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNoActiveVersion.selector, unknown));
        registry.resolveVersion(unknown, 0);
    }

    function test_resolveVersion_returnsExistingVersionWhateverItsStatus() public {
        _publishMany(3);
        _activate(1);
        _activate(2);
        _retire(1);
        assertEq(registry.resolveVersion(modelId, 1), 1, "retired");
        assertEq(registry.resolveVersion(modelId, 2), 2, "active");
        assertEq(registry.resolveVersion(modelId, 3), 3, "published");
    }

    function test_resolveVersion_revertsWhenVersionUnknown() public {
        _publish();
        vm.expectRevert(_unknownVersion(modelId, 2));
        registry.resolveVersion(modelId, 2);
    }

    // ================================================================ jobTermsFor

    function test_jobTermsFor_zeroResolvesToActiveVersion() public {
        _publishMany(2);
        _activate(2);
        (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB, ) = registry.jobTermsFor(modelId, 0, 0);
        assertEq(resolved, 2, "resolved");
        assertTrue(accepting, "accepting");
        assertEq(minFee, 5e18, "minFee");
        assertEq(minMemoryMB, 2048, "minMemoryMB");
    }

    function test_jobTermsFor_zeroWithoutActiveVersionReturnsZeros() public {
        _publish();
        (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB, ) = registry.jobTermsFor(modelId, 0, 0);
        assertEq(resolved, 0, "resolved");
        assertFalse(accepting, "not accepting");
        assertEq(minFee, 0, "minFee");
        assertEq(minMemoryMB, 0, "minMemoryMB");
    }

    function test_jobTermsFor_explicitPublishedVersionNotAccepting() public {
        IModelRegistry.VersionParams memory p = _params();
        p.minFee = 7;
        p.minMemoryMB = 512;
        vm.prank(publisher);
        registry.publishVersion(NAME, p);
        (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB, ) = registry.jobTermsFor(modelId, 1, 0);
        assertEq(resolved, 1, "resolved");
        assertFalse(accepting, "published: not accepting");
        assertEq(minFee, 7, "minFee");
        assertEq(minMemoryMB, 512, "minMemoryMB");
    }

    function test_jobTermsFor_deprecatedVersionAcceptsUntilSunset() public {
        _publishMany(2);
        _activate(1);
        _activate(2);
        (, bool accepting, , , ) = registry.jobTermsFor(modelId, 1, 0);
        assertTrue(accepting, "before sunset");
        vm.warp(START + PERIOD);
        (, accepting, , , ) = registry.jobTermsFor(modelId, 1, 0);
        assertFalse(accepting, "at sunset");
    }

    function test_jobTermsFor_unknownVersionReturnsItNotAccepting() public view {
        (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB, ) = registry.jobTermsFor(modelId, 9, 0);
        assertEq(resolved, 9, "returned as given");
        assertFalse(accepting, "not accepting");
        assertEq(minFee, 0, "minFee");
        assertEq(minMemoryMB, 0, "minMemoryMB");
    }

    // ================================================================ getVersion / getModel

    function test_getVersion_revertsWhenUnknown() public {
        vm.expectRevert(_unknownVersion(modelId, 1));
        registry.getVersion(modelId, 1);
    }

    function test_getModel_unknownModelIsEmpty() public view {
        IModelRegistry.Model memory m = registry.getModel(modelId);
        assertEq(m.name, "", "name");
        assertEq(m.versionCount, 0, "count");
        assertEq(m.activeVersion, 0, "active");
    }

    // ================================================================ pause / unpause

    function test_pause_guardianCanPause() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit Pausable.Paused(guardian);
        vm.prank(guardian);
        registry.pause();
        assertTrue(registry.paused(), "paused");
    }

    function test_pause_adminCanPause() public {
        vm.prank(admin);
        registry.pause();
        assertTrue(registry.paused(), "paused");
    }

    function test_pause_revertsWhenCallerNeitherGuardianNorAdmin() public {
        vm.expectRevert(_unauthorized(stranger, registry.GUARDIAN_ROLE()));
        vm.prank(stranger);
        registry.pause();
    }

    function test_pause_revertsWhenAlreadyPaused() public {
        vm.prank(guardian);
        registry.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(guardian);
        registry.pause();
    }

    function test_unpause_revertsWhenCallerIsGuardian() public {
        vm.prank(guardian);
        registry.pause();
        vm.expectRevert(_unauthorized(guardian, bytes32(0)));
        vm.prank(guardian);
        registry.unpause();
        assertTrue(registry.paused(), "still paused");
    }

    function test_unpause_revertsWhenCallerIsStranger() public {
        vm.prank(guardian);
        registry.pause();
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        vm.prank(stranger);
        registry.unpause();
    }

    function test_unpause_adminCanUnpause() public {
        vm.prank(guardian);
        registry.pause();
        vm.expectEmit(true, true, true, true, address(registry));
        emit Pausable.Unpaused(admin);
        vm.prank(admin);
        registry.unpause();
        assertFalse(registry.paused(), "unpaused");
    }

    function test_unpause_revertsWhenNotPaused() public {
        vm.expectRevert(Pausable.ExpectedPause.selector);
        vm.prank(admin);
        registry.unpause();
    }

    // ================================================================ fuzz: publishVersion

    function testFuzz_publishVersion_nameLength(uint256 length) public {
        length = bound(length, 0, 160);
        string memory name = _str(length);
        if (length == 0 || length > 64) {
            vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidName.selector, name));
            vm.prank(publisher);
            registry.publishVersion(name, _params());
        } else {
            vm.prank(publisher);
            (bytes32 id, uint32 version) = registry.publishVersion(name, _params());
            assertEq(id, keccak256(bytes(name)), "id");
            assertEq(version, 1, "version");
            assertEq(registry.getModel(id).name, name, "name round-trips");
        }
    }

    function testFuzz_publishVersion_arbitraryName(string calldata name) public {
        uint256 length = bytes(name).length;
        if (length == 0 || length > 64) {
            vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidName.selector, name));
            vm.prank(publisher);
            registry.publishVersion(name, _params());
        } else {
            vm.prank(publisher);
            (bytes32 id, ) = registry.publishVersion(name, _params());
            assertEq(id, registry.modelIdOf(name), "modelIdOf");
            assertEq(registry.getModel(id).name, name, "name round-trips");
        }
    }

    function testFuzz_publishVersion_cidLengths(uint256 weightsLength, uint256 schemaLength) public {
        weightsLength = bound(weightsLength, 0, 300);
        schemaLength = bound(schemaLength, 0, 300);
        IModelRegistry.VersionParams memory p = _params();
        p.weightsCid = _str(weightsLength);
        p.schemaCid = _str(schemaLength);

        bool weightsOk = weightsLength >= 1 && weightsLength <= 128;
        bool schemaOk = schemaLength >= 1 && schemaLength <= 128;
        if (!weightsOk) {
            vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidCid.selector, p.weightsCid));
        } else if (!schemaOk) {
            vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidCid.selector, p.schemaCid));
        }
        vm.prank(publisher);
        registry.publishVersion(NAME, p);
        if (weightsOk && schemaOk) {
            IModelRegistry.ModelVersion memory v = registry.getVersion(modelId, 1);
            assertEq(v.weightsCid, p.weightsCid, "weightsCid");
            assertEq(v.schemaCid, p.schemaCid, "schemaCid");
        } else {
            assertEq(registry.getModel(modelId).versionCount, 0, "nothing stored");
        }
    }

    function testFuzz_publishVersion_roundTrip(
        bytes32 weightsSha256,
        bytes32 runtime,
        uint64 outputQuantum,
        uint32 minMemoryMB,
        uint96 minFee,
        address sender,
        uint40 timestamp
    ) public {
        IModelRegistry.VersionParams memory p = IModelRegistry.VersionParams({
            weightsCid: WEIGHTS_CID,
            weightsSha256: weightsSha256,
            schemaCid: SCHEMA_CID,
            runtime: runtime,
            outputQuantum: outputQuantum,
            minMemoryMB: minMemoryMB,
            minFee: minFee
        });
        vm.warp(timestamp);

        if (weightsSha256 == bytes32(0)) {
            vm.expectRevert(
                abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidWeightsHash.selector, bytes32(0))
            );
        } else if (runtime == bytes32(0)) {
            vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidRuntime.selector, bytes32(0)));
        } else if (outputQuantum == 0) {
            vm.expectRevert(
                abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidOutputQuantum.selector, uint64(0))
            );
        }
        vm.prank(sender);
        registry.publishVersion(NAME, p);

        if (weightsSha256 == bytes32(0) || runtime == bytes32(0) || outputQuantum == 0) {
            assertEq(registry.getModel(modelId).versionCount, 0, "nothing stored");
            return;
        }
        IModelRegistry.ModelVersion memory v = registry.getVersion(modelId, 1);
        assertEq(v.weightsSha256, weightsSha256, "weightsSha256");
        assertEq(v.runtime, runtime, "runtime");
        assertEq(v.outputQuantum, outputQuantum, "outputQuantum");
        assertEq(v.minMemoryMB, minMemoryMB, "minMemoryMB");
        assertEq(v.minFee, minFee, "minFee");
        assertEq(v.publisher, sender, "publisher");
        assertEq(v.publishedAt, timestamp, "publishedAt");
        assertEq(uint256(v.status), PUBLISHED, "status");
        (, bool accepting, uint96 fee, uint32 mem, ) = registry.jobTermsFor(modelId, 1, 0);
        assertFalse(accepting, "published: not accepting");
        assertEq(fee, minFee, "jobTerms minFee");
        assertEq(mem, minMemoryMB, "jobTerms minMemoryMB");
    }

    function testFuzz_publishVersion_versionsNumberedConsecutively(uint8 count) public {
        uint256 n = bound(count, 1, 20);
        for (uint256 i = 1; i <= n; ++i) {
            assertEq(_publish(), i, "version number");
        }
        assertEq(registry.getModel(modelId).versionCount, n, "count");
    }

    // ================================================================ fuzz: deprecation period / sunset

    function testFuzz_setDeprecationPeriod_bounds(uint40 period) public {
        if (period > 365 days) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IModelRegistry.ModelRegistryInvalidDeprecationPeriod.selector,
                    period,
                    uint40(365 days)
                )
            );
            vm.prank(admin);
            registry.setDeprecationPeriod(period);
            assertEq(registry.deprecationPeriod(), PERIOD, "unchanged");
        } else {
            vm.expectEmit(true, true, true, true, address(registry));
            emit IModelRegistry.DeprecationPeriodSet(PERIOD, period);
            vm.prank(admin);
            registry.setDeprecationPeriod(period);
            assertEq(registry.deprecationPeriod(), period, "set");
        }
    }

    function testFuzz_activateVersion_sunsetArithmetic(uint40 period, uint256 activatedAt, uint256 elapsed) public {
        period = uint40(bound(period, 0, 365 days));
        // Any realistic timestamp: from now until the year ~36000, where uint40 seconds end.
        activatedAt = bound(activatedAt, START, type(uint40).max - 365 days);
        elapsed = bound(elapsed, 0, 2 * uint256(period) + 1);

        vm.prank(admin);
        registry.setDeprecationPeriod(period);
        _publishMany(2);
        _activate(1);
        vm.warp(activatedAt);
        _activate(2);

        uint256 sunset = activatedAt + period;
        assertEq(registry.getVersion(modelId, 1).sunsetAt, sunset, "sunsetAt = activation + period");

        vm.warp(activatedAt + elapsed);
        bool expected = elapsed < period;
        assertTrue(registry.acceptsJobs(modelId, 1) == expected, "acceptsJobs iff now < sunsetAt");
        (, bool accepting, , , ) = registry.jobTermsFor(modelId, 1, 0);
        assertTrue(accepting == expected, "jobTerms agrees");
        assertTrue(registry.acceptsJobs(modelId, 2), "the active version always takes jobs");
    }
}

/// @notice Drives a ModelRegistry for the invariant fuzzer: anyone publishes, random non-admin
/// senders try to activate/retire (and must always be refused), and the admin activates/retires.
/// It keeps a ghost model of what every status, sunset and active version should be, computed
/// from the specification in {IModelRegistry} and updated only on the admin path.
/// @dev Never reverts: surprises are recorded in counters that the invariants assert to be zero
/// (a reverting handler call would simply be discarded by the fuzzer).
contract ModelRegistryHandler {
    Vm private constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    uint256 public constant MODEL_COUNT = 3;
    uint256 private constant MAX_WARP = 60 days;

    ModelRegistry public immutable registry;
    address public immutable admin;
    address public immutable guardian;

    bytes32[MODEL_COUNT] public modelIds;

    // Ghost state: the registry as the specification says it should be.
    mapping(bytes32 modelId => uint32) public ghostVersionCount;
    mapping(bytes32 modelId => uint32) public ghostActiveVersion;
    mapping(bytes32 modelId => mapping(uint32 version => IModelRegistry.VersionStatus)) public ghostStatus;
    mapping(bytes32 modelId => mapping(uint32 version => uint40)) public ghostSunsetAt;
    uint256 public ghostTotalPublished;

    // Log of the status changes made through the admin path.
    uint256 public ghostAdminStatusChanges;

    // Surprises; every invariant run expects them to stay zero.
    uint256 public nonAdminStatusChanges; // a non-admin activate/retire that did not revert
    uint256 public wrongNonAdminReverts; // a non-admin revert that was not AccessControlUnauthorizedAccount
    uint256 public unexpectedAdminOutcomes; // the admin call succeeded/reverted against the ghost model
    uint256 public unexpectedPublishReverts;
    uint256 public nonOwnerPublishes; // a later version published by someone other than the owner
    uint256 public ownershipSurprises; // an offer, accept or appointment that went against the ghost

    mapping(bytes32 modelId => address) public ghostOwner;
    mapping(bytes32 modelId => address) public ghostPending;

    constructor(ModelRegistry registry_, address admin_, address guardian_) {
        registry = registry_;
        admin = admin_;
        guardian = guardian_;
        for (uint256 i = 0; i < MODEL_COUNT; ++i) {
            modelIds[i] = keccak256(bytes(_name(i)));
        }
    }

    // ---------------------------------------------------------------- actions

    function publish(uint256 modelSeed, uint256 publisherSeed, uint96 minFee, uint32 minMemoryMB) external {
        uint256 m = modelSeed % MODEL_COUNT;
        bytes32 modelId = modelIds[m];
        address publisher = _actor(publisherSeed);
        IModelRegistry.VersionParams memory p = IModelRegistry.VersionParams({
            weightsCid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
            weightsSha256: keccak256(abi.encode(modelId, ghostVersionCount[modelId])),
            schemaCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
            runtime: bytes32("onnxruntime-1.30-cpu"),
            outputQuantum: 1e14,
            minMemoryMB: minMemoryMB,
            minFee: minFee
        });
        // A new name is anyone's; a later version only its owner's.
        bool allowed = ghostVersionCount[modelId] == 0 || ghostOwner[modelId] == publisher;
        vm.prank(publisher);
        try registry.publishVersion(_name(m), p) returns (bytes32 id, uint32 version) {
            if (!allowed) ++nonOwnerPublishes;
            uint32 expected = ghostVersionCount[modelId] + 1;
            if (id != modelId || version != expected) ++unexpectedAdminOutcomes;
            if (expected == 1) ghostOwner[modelId] = publisher;
            ghostVersionCount[modelId] = expected;
            ghostStatus[modelId][expected] = IModelRegistry.VersionStatus.Published;
            ++ghostTotalPublished;
        } catch (bytes memory reason) {
            bytes memory notOwner = abi.encodeWithSelector(
                IModelRegistry.ModelRegistryNotModelOwner.selector,
                modelId,
                publisher,
                ghostOwner[modelId]
            );
            if (allowed || keccak256(reason) != keccak256(notOwner)) ++unexpectedPublishReverts;
        }
    }

    /// @notice An actor offers a name to another (only the owner's offer may succeed).
    function offer(uint256 modelSeed, uint256 fromSeed, uint256 toSeed) external {
        bytes32 modelId = modelIds[modelSeed % MODEL_COUNT];
        (address from, address to) = (_actor(fromSeed), _actor(toSeed));
        vm.prank(from);
        try registry.transferModel(modelId, to) {
            if (ghostVersionCount[modelId] == 0 || ghostOwner[modelId] != from) ++ownershipSurprises;
            ghostPending[modelId] = to;
        } catch {
            if (ghostVersionCount[modelId] != 0 && ghostOwner[modelId] == from) ++ownershipSurprises;
        }
    }

    /// @notice An actor accepts a name (only the pending owner may).
    function accept(uint256 modelSeed, uint256 bySeed) external {
        bytes32 modelId = modelIds[modelSeed % MODEL_COUNT];
        address by = _actor(bySeed);
        vm.prank(by);
        try registry.acceptModel(modelId) {
            if (ghostPending[modelId] != by || by == address(0)) ++ownershipSurprises;
            ghostOwner[modelId] = by;
            ghostPending[modelId] = address(0);
        } catch {
            if (ghostPending[modelId] == by && by != address(0)) ++ownershipSurprises;
        }
    }

    /// @notice The DAO appoints an owner (any existing name).
    function appoint(uint256 modelSeed, uint256 toSeed) external {
        bytes32 modelId = modelIds[modelSeed % MODEL_COUNT];
        address to = _actor(toSeed);
        vm.prank(admin);
        try registry.setModelOwner(modelId, to) {
            if (ghostVersionCount[modelId] == 0) ++ownershipSurprises;
            ghostOwner[modelId] = to;
            ghostPending[modelId] = address(0);
        } catch {
            if (ghostVersionCount[modelId] != 0) ++ownershipSurprises;
        }
    }

    function activateAsNonAdmin(uint256 modelSeed, uint256 versionSeed, uint256 callerSeed) external {
        (bytes32 modelId, uint32 version) = _pickAnyVersion(modelSeed, versionSeed);
        address caller = _nonAdmin(callerSeed);
        vm.prank(caller);
        try registry.activateVersion(modelId, version) {
            ++nonAdminStatusChanges;
        } catch (bytes memory reason) {
            _checkUnauthorized(reason, caller);
        }
    }

    function retireAsNonAdmin(uint256 modelSeed, uint256 versionSeed, uint256 callerSeed) external {
        (bytes32 modelId, uint32 version) = _pickAnyVersion(modelSeed, versionSeed);
        address caller = _nonAdmin(callerSeed);
        vm.prank(caller);
        try registry.retireVersion(modelId, version) {
            ++nonAdminStatusChanges;
        } catch (bytes memory reason) {
            _checkUnauthorized(reason, caller);
        }
    }

    function activateAsAdmin(uint256 modelSeed, uint256 versionSeed) external {
        (bytes32 modelId, uint32 version, bool exists) = _pickExistingVersion(modelSeed, versionSeed);
        if (!exists) return;
        IModelRegistry.VersionStatus status = ghostStatus[modelId][version];
        bool shouldRevert = status == IModelRegistry.VersionStatus.Active;

        vm.prank(admin);
        try registry.activateVersion(modelId, version) {
            if (shouldRevert) {
                ++unexpectedAdminOutcomes;
                return;
            }
            uint32 previous = ghostActiveVersion[modelId];
            if (previous != 0) {
                ghostStatus[modelId][previous] = IModelRegistry.VersionStatus.Deprecated;
                ghostSunsetAt[modelId][previous] = uint40(block.timestamp) + registry.deprecationPeriod();
                ++ghostAdminStatusChanges;
            }
            ghostStatus[modelId][version] = IModelRegistry.VersionStatus.Active;
            ghostSunsetAt[modelId][version] = 0;
            ghostActiveVersion[modelId] = version;
            ++ghostAdminStatusChanges;
        } catch (bytes memory reason) {
            bytes memory expected = abi.encodeWithSelector(
                IModelRegistry.ModelRegistryInvalidStatus.selector,
                modelId,
                version,
                status
            );
            if (!shouldRevert || keccak256(reason) != keccak256(expected)) ++unexpectedAdminOutcomes;
        }
    }

    function retireAsAdmin(uint256 modelSeed, uint256 versionSeed) external {
        (bytes32 modelId, uint32 version, bool exists) = _pickExistingVersion(modelSeed, versionSeed);
        if (!exists) return;
        IModelRegistry.VersionStatus status = ghostStatus[modelId][version];
        bool shouldRevert = status == IModelRegistry.VersionStatus.Retired;

        vm.prank(admin);
        try registry.retireVersion(modelId, version) {
            if (shouldRevert) {
                ++unexpectedAdminOutcomes;
                return;
            }
            if (status == IModelRegistry.VersionStatus.Active) ghostActiveVersion[modelId] = 0;
            ghostStatus[modelId][version] = IModelRegistry.VersionStatus.Retired;
            ++ghostAdminStatusChanges;
        } catch (bytes memory reason) {
            bytes memory expected = abi.encodeWithSelector(
                IModelRegistry.ModelRegistryInvalidStatus.selector,
                modelId,
                version,
                status
            );
            if (!shouldRevert || keccak256(reason) != keccak256(expected)) ++unexpectedAdminOutcomes;
        }
    }

    /// @notice Lets time pass so that deprecated versions reach their sunset.
    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + (seconds_ % (MAX_WARP + 1)));
    }

    // ---------------------------------------------------------------- helpers

    function modelName(uint256 index) external pure returns (string memory) {
        return _name(index);
    }

    function _name(uint256 index) private pure returns (string memory) {
        if (index == 0) return "resnet-50";
        if (index == 1) return "whisper-tiny";
        return "llama-3.2-1b";
    }

    /// @dev Any version number from 0 to count + 1, so that non-existent versions are tried too.
    function _pickAnyVersion(
        uint256 modelSeed,
        uint256 versionSeed
    ) private view returns (bytes32 modelId, uint32 version) {
        modelId = modelIds[modelSeed % MODEL_COUNT];
        version = uint32(versionSeed % (uint256(ghostVersionCount[modelId]) + 2));
    }

    function _pickExistingVersion(
        uint256 modelSeed,
        uint256 versionSeed
    ) private view returns (bytes32 modelId, uint32 version, bool exists) {
        modelId = modelIds[modelSeed % MODEL_COUNT];
        uint32 count = ghostVersionCount[modelId];
        if (count == 0) return (modelId, 0, false);
        version = uint32(1 + (versionSeed % count));
        exists = true;
    }

    /// @dev One of four publishers (few, so owners publish again and offers reach real accounts).
    function _actor(uint256 seed) private pure returns (address) {
        return address(uint160(0xA0 + (seed % 4)));
    }

    /// @dev The guardian, or an arbitrary address derived from the seed, never the admin.
    function _nonAdmin(uint256 seed) private view returns (address caller) {
        if (seed % 4 == 0) return guardian;
        caller = address(uint160(uint256(keccak256(abi.encode("non-admin", seed)))));
        if (caller == admin) caller = address(0xBAD);
    }

    function _checkUnauthorized(bytes memory reason, address caller) private {
        bytes memory expected = abi.encodeWithSelector(
            IAccessControl.AccessControlUnauthorizedAccount.selector,
            caller,
            bytes32(0)
        );
        if (keccak256(reason) != keccak256(expected)) ++wrongNonAdminReverts;
    }
}

/// @notice Random publishing and activate/retire attempts by the admin and by non-admins.
contract ModelRegistryInvariantTest is ModelRegistryFixture {
    ModelRegistryHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new ModelRegistryHandler(registry, admin, guardian);
        targetContract(address(handler));
    }

    /// @notice Every status is the one the admin path's ghost log says, and no non-admin attempt
    /// ever changed a status (each reverted with AccessControlUnauthorizedAccount).
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 32
    function invariant_onlyAdminChangesStatus() public view {
        assertEq(handler.nonAdminStatusChanges(), 0, "a non-admin changed a status");
        assertEq(handler.wrongNonAdminReverts(), 0, "a non-admin call reverted with the wrong error");
        assertEq(handler.unexpectedAdminOutcomes(), 0, "the admin path disagreed with the ghost model");
        uint256 changed;
        for (uint256 m = 0; m < handler.MODEL_COUNT(); ++m) {
            bytes32 id = handler.modelIds(m);
            uint32 count = handler.ghostVersionCount(id);
            for (uint32 v = 1; v <= count; ++v) {
                IModelRegistry.ModelVersion memory stored = registry.getVersion(id, v);
                assertEq(uint256(stored.status), uint256(handler.ghostStatus(id, v)), "status = ghost log");
                if (stored.status != IModelRegistry.VersionStatus.Published) ++changed;
                if (stored.status == IModelRegistry.VersionStatus.Deprecated) {
                    assertEq(stored.sunsetAt, handler.ghostSunsetAt(id, v), "sunsetAt = ghost");
                }
            }
        }
        // Every version that left Published did so through a logged admin call.
        assertLe(changed, handler.ghostAdminStatusChanges(), "status changes outside the admin path");
    }

    /// @notice activeVersion is Active, and it is the only Active version of its model.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 32
    function invariant_atMostOneActive() public view {
        for (uint256 m = 0; m < handler.MODEL_COUNT(); ++m) {
            bytes32 id = handler.modelIds(m);
            IModelRegistry.Model memory model = registry.getModel(id);
            uint256 active;
            for (uint32 v = 1; v <= model.versionCount; ++v) {
                if (registry.getVersion(id, v).status == IModelRegistry.VersionStatus.Active) {
                    ++active;
                    assertEq(v, model.activeVersion, "an Active version that is not activeVersion");
                }
            }
            assertLe(active, 1, "more than one Active version");
            assertEq(active, model.activeVersion == 0 ? 0 : 1, "activeVersion without an Active version");
            assertEq(model.activeVersion, handler.ghostActiveVersion(id), "activeVersion = ghost");
        }
    }

    /// @notice Version counts match what the handler published, per model and in total.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 32
    function invariant_versionCountsMatchGhost() public view {
        assertEq(handler.unexpectedPublishReverts(), 0, "a valid publish reverted");
        uint256 total;
        for (uint256 m = 0; m < handler.MODEL_COUNT(); ++m) {
            bytes32 id = handler.modelIds(m);
            IModelRegistry.Model memory model = registry.getModel(id);
            assertEq(model.versionCount, handler.ghostVersionCount(id), "versionCount = ghost");
            if (model.versionCount != 0) assertEq(model.name, handler.modelName(m), "name");
            total += model.versionCount;
        }
        assertEq(total, handler.ghostTotalPublished(), "total = ghost");
    }

    /// @notice A name's owner is its first publisher, or whoever accepted it from the owner or
    /// was appointed by the DAO; nobody else ever published a later version of it.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 32
    function invariant_onlyOwnersPublishLaterVersions() public view {
        assertEq(handler.nonOwnerPublishes(), 0, "a non-owner published a later version");
        assertEq(handler.ownershipSurprises(), 0, "an ownership change went against the ghost model");
        for (uint256 m = 0; m < handler.MODEL_COUNT(); ++m) {
            bytes32 id = handler.modelIds(m);
            assertEq(registry.getModel(id).owner, handler.ghostOwner(id), "owner = ghost");
            assertEq(registry.pendingModelOwner(id), handler.ghostPending(id), "pending owner = ghost");
        }
    }

    /// @notice acceptsJobs follows status and sunset: Active, or Deprecated before sunsetAt.
    /// hardhat-config: invariant.runs = 64
    /// hardhat-config: invariant.depth = 32
    function invariant_acceptsJobsFollowsStatusAndSunset() public view {
        for (uint256 m = 0; m < handler.MODEL_COUNT(); ++m) {
            bytes32 id = handler.modelIds(m);
            uint32 count = handler.ghostVersionCount(id);
            for (uint32 v = 1; v <= count; ++v) {
                IModelRegistry.VersionStatus s = handler.ghostStatus(id, v);
                bool expected =
                    s == IModelRegistry.VersionStatus.Active ||
                        (s == IModelRegistry.VersionStatus.Deprecated &&
                            block.timestamp < handler.ghostSunsetAt(id, v));
                assertTrue(registry.acceptsJobs(id, v) == expected, "acceptsJobs");
            }
        }
    }
}
