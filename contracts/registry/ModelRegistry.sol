// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {GuardianPausable} from "../governance/GuardianPausable.sol";

/// @title ModelRegistry
/// @notice Source of truth for model versions. See {IModelRegistry}.
/// @dev Publishing a new name is open (and pausable by the guardian, against spam); later versions
/// of a name come only from its owner; every status change is `DEFAULT_ADMIN_ROLE`, which only
/// the timelock holds after deployment.
contract ModelRegistry is IModelRegistry, GuardianPausable {
    /// @notice Upper bound for the deprecation period.
    uint40 public constant MAX_DEPRECATION_PERIOD = 365 days;
    uint256 private constant MAX_NAME_LENGTH = 64;
    uint256 private constant MAX_CID_LENGTH = 128;

    /// @notice How long a version stays Deprecated (and takes jobs) after a newer one is activated.
    uint40 public deprecationPeriod;

    mapping(bytes32 modelId => Model) private _models;
    mapping(bytes32 modelId => mapping(uint32 version => ModelVersion)) private _versions;
    mapping(bytes32 modelId => address) private _pendingOwners;

    /// @param admin Initial `DEFAULT_ADMIN_ROLE` holder (see {GuardianPausable}).
    /// @param guardian Initial guardian, or address(0).
    /// @param deprecationPeriod_ Initial deprecation period in seconds.
    constructor(address admin, address guardian, uint40 deprecationPeriod_) GuardianPausable(admin, guardian) {
        _setDeprecationPeriod(deprecationPeriod_);
    }

    /// @inheritdoc IModelRegistry
    function publishVersion(string calldata name, VersionParams calldata p)
        external
        whenNotPaused
        returns (bytes32 modelId, uint32 version)
    {
        uint256 nameLength = bytes(name).length;
        if (nameLength == 0 || nameLength > MAX_NAME_LENGTH) revert ModelRegistryInvalidName(name);
        _checkCid(p.weightsCid);
        _checkCid(p.schemaCid);
        if (p.weightsSha256 == bytes32(0)) revert ModelRegistryInvalidWeightsHash(p.weightsSha256);
        if (p.runtime == bytes32(0)) revert ModelRegistryInvalidRuntime(p.runtime);
        if (p.outputQuantum == 0) revert ModelRegistryInvalidOutputQuantum(p.outputQuantum);

        modelId = keccak256(bytes(name));
        Model storage model = _models[modelId];
        if (model.versionCount == 0) {
            model.name = name;
            model.owner = msg.sender;
            emit ModelCreated(modelId, name, msg.sender);
            emit ModelOwnerChanged(modelId, address(0), msg.sender);
        } else if (model.owner != msg.sender) {
            revert ModelRegistryNotModelOwner(modelId, msg.sender, model.owner);
        }
        version = ++model.versionCount;
        _versions[modelId][version] = ModelVersion({
            weightsSha256: p.weightsSha256,
            runtime: p.runtime,
            minFee: p.minFee,
            outputQuantum: p.outputQuantum,
            minMemoryMB: p.minMemoryMB,
            status: VersionStatus.Published,
            sunsetAt: 0,
            publishedAt: uint40(block.timestamp),
            publisher: msg.sender,
            weightsCid: p.weightsCid,
            schemaCid: p.schemaCid
        });
        emit VersionPublished(modelId, version, msg.sender, p);
    }

    /// @inheritdoc IModelRegistry
    function transferModel(bytes32 modelId, address newOwner) external {
        address owner = _existingModel(modelId).owner;
        if (msg.sender != owner) revert ModelRegistryNotModelOwner(modelId, msg.sender, owner);
        _pendingOwners[modelId] = newOwner;
        emit ModelTransferStarted(modelId, owner, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function acceptModel(bytes32 modelId) external {
        address pending = _pendingOwners[modelId];
        if (msg.sender != pending || pending == address(0)) revert ModelRegistryNotPendingOwner(modelId, msg.sender, pending);
        _setOwner(modelId, _models[modelId], pending);
    }

    /// @inheritdoc IModelRegistry
    function setModelOwner(bytes32 modelId, address newOwner) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setOwner(modelId, _existingModel(modelId), newOwner);
    }

    /// @inheritdoc IModelRegistry
    function pendingModelOwner(bytes32 modelId) external view returns (address) {
        return _pendingOwners[modelId];
    }

    /// @inheritdoc IModelRegistry
    function activateVersion(bytes32 modelId, uint32 version) external onlyRole(DEFAULT_ADMIN_ROLE) {
        ModelVersion storage v = _existing(modelId, version);
        if (v.status == VersionStatus.Active) revert ModelRegistryInvalidStatus(modelId, version, v.status);

        Model storage model = _models[modelId];
        uint32 previous = model.activeVersion;
        uint40 previousSunsetAt = 0;
        if (previous != 0) {
            ModelVersion storage prev = _versions[modelId][previous];
            previousSunsetAt = uint40(block.timestamp) + deprecationPeriod;
            prev.status = VersionStatus.Deprecated;
            prev.sunsetAt = previousSunsetAt;
        }
        v.status = VersionStatus.Active;
        v.sunsetAt = 0;
        model.activeVersion = version;
        emit VersionActivated(modelId, version, previous, previousSunsetAt);
    }

    /// @inheritdoc IModelRegistry
    function retireVersion(bytes32 modelId, uint32 version) external onlyRole(DEFAULT_ADMIN_ROLE) {
        ModelVersion storage v = _existing(modelId, version);
        if (v.status == VersionStatus.Retired) revert ModelRegistryInvalidStatus(modelId, version, v.status);
        if (v.status == VersionStatus.Active) _models[modelId].activeVersion = 0;
        v.status = VersionStatus.Retired;
        emit VersionRetired(modelId, version);
    }

    /// @inheritdoc IModelRegistry
    function setDeprecationPeriod(uint40 period) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDeprecationPeriod(period);
    }

    /// @inheritdoc IModelRegistry
    function acceptsJobs(bytes32 modelId, uint32 version) public view returns (bool) {
        ModelVersion storage v = _versions[modelId][version];
        return v.status == VersionStatus.Active
            || (v.status == VersionStatus.Deprecated && block.timestamp < v.sunsetAt);
    }

    /// @inheritdoc IModelRegistry
    function jobTerms(bytes32 modelId, uint32 version)
        external
        view
        returns (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB)
    {
        resolved = version == 0 ? _models[modelId].activeVersion : version;
        ModelVersion storage v = _versions[modelId][resolved];
        accepting = resolved != 0 && acceptsJobs(modelId, resolved);
        minFee = v.minFee;
        minMemoryMB = v.minMemoryMB;
    }

    /// @inheritdoc IModelRegistry
    function resolveVersion(bytes32 modelId, uint32 version) external view returns (uint32) {
        if (version == 0) {
            uint32 active = _models[modelId].activeVersion;
            if (active == 0) revert ModelRegistryNoActiveVersion(modelId);
            return active;
        }
        _existing(modelId, version);
        return version;
    }

    /// @inheritdoc IModelRegistry
    function getVersion(bytes32 modelId, uint32 version) external view returns (ModelVersion memory) {
        return _existing(modelId, version);
    }

    /// @inheritdoc IModelRegistry
    function getModel(bytes32 modelId) external view returns (Model memory) {
        return _models[modelId];
    }

    /// @inheritdoc IModelRegistry
    function modelIdOf(string calldata name) external pure returns (bytes32) {
        return keccak256(bytes(name));
    }

    function _existing(bytes32 modelId, uint32 version) private view returns (ModelVersion storage v) {
        v = _versions[modelId][version];
        if (v.status == VersionStatus.None) revert ModelRegistryUnknownVersion(modelId, version);
    }

    function _existingModel(bytes32 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.versionCount == 0) revert ModelRegistryUnknownModel(modelId);
    }

    function _setOwner(bytes32 modelId, Model storage model, address newOwner) private {
        address previous = model.owner;
        model.owner = newOwner;
        delete _pendingOwners[modelId];
        emit ModelOwnerChanged(modelId, previous, newOwner);
    }

    function _checkCid(string calldata cid) private pure {
        uint256 length = bytes(cid).length;
        if (length == 0 || length > MAX_CID_LENGTH) revert ModelRegistryInvalidCid(cid);
    }

    function _setDeprecationPeriod(uint40 period) private {
        if (period > MAX_DEPRECATION_PERIOD) revert ModelRegistryInvalidDeprecationPeriod(period, MAX_DEPRECATION_PERIOD);
        emit DeprecationPeriodSet(deprecationPeriod, period);
        deprecationPeriod = period;
    }
}
