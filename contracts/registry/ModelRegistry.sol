// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IModelRollouts} from "../interfaces/IModelRollouts.sol";
import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {GuardianPausable} from "../governance/GuardianPausable.sol";
import {ModelMirror} from "../market/ModelMirror.sol";

/// @title ModelRegistry
/// @notice Source of truth for model versions. See {IModelRegistry}.
/// @dev Publishing a new name is open (and pausable by the guardian, against spam); later versions
/// of a name come only from its owner; every status change is `DEFAULT_ADMIN_ROLE`, which only
/// the timelock holds after deployment.
/// Every change of what {jobTermsFor} returns is pushed to the markets that hold MARKET_ROLE
/// (at most {MAX_MARKETS}), which read their mirror at request instead of calling this registry.
contract ModelRegistry is IModelRegistry, GuardianPausable {
    /// @inheritdoc IModelRegistry
    uint40 public constant MAX_DEPRECATION_PERIOD = 365 days;
    uint256 private constant MAX_NAME_LENGTH = 64;
    uint256 private constant MAX_CID_LENGTH = 128;
    uint256 private constant BPS = 10_000;
    /// @inheritdoc IModelRegistry
    uint16 public constant MAX_CANARY_BPS = 5_000;
    /// @inheritdoc IModelRegistry
    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");
    /// @inheritdoc IModelRegistry
    uint256 public constant MAX_MARKETS = 4;

    /// @inheritdoc IModelRegistry
    uint40 public deprecationPeriod;

    mapping(bytes32 modelId => Model) private _models;
    mapping(bytes32 modelId => mapping(uint32 version => ModelVersion)) private _versions;
    mapping(bytes32 modelId => address) private _pendingOwners;
    mapping(bytes32 modelId => Rollout) private _rollouts;
    mapping(bytes32 modelId => mapping(uint32 version => VersionCounters)) private _counters;
    /// @dev The holders of MARKET_ROLE, in the order granted (swap-and-pop on revocation): the
    /// markets every change is pushed to.
    address[] private _markets;

    /// @param admin Initial `DEFAULT_ADMIN_ROLE` holder (see {GuardianPausable}).
    /// @param guardian Initial guardian, or address(0).
    /// @param deprecationPeriod_ Initial deprecation period in seconds.
    constructor(address admin, address guardian, uint40 deprecationPeriod_) GuardianPausable(admin, guardian) {
        _setDeprecationPeriod(deprecationPeriod_);
    }

    /// @inheritdoc IModelRegistry
    function publishVersion(
        string calldata name,
        VersionParams calldata p
    ) external whenNotPaused returns (bytes32 modelId, uint32 version) {
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
        _pushVersion(modelId, version);
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
        if (msg.sender != pending || pending == address(0))
            revert ModelRegistryNotPendingOwner(modelId, msg.sender, pending);
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
        Rollout storage rollout = _rollouts[modelId];
        if (rollout.status == RolloutStatus.Running) {
            // The DAO decided by itself: its choice ends the canary either way.
            if (rollout.plan.candidate == version) _endRollout(modelId, rollout, RolloutStatus.Promoted, "");
            else _endRollout(modelId, rollout, RolloutStatus.Aborted, "the DAO activated another version");
        }
        _activate(modelId, version);
    }

    function _activate(bytes32 modelId, uint32 version) private {
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
        if (previous != 0) _pushVersion(modelId, previous);
        _pushVersion(modelId, version);
        _pushModel(modelId);
    }

    /// @inheritdoc IModelRegistry
    function retireVersion(bytes32 modelId, uint32 version) external onlyRole(DEFAULT_ADMIN_ROLE) {
        ModelVersion storage v = _existing(modelId, version);
        if (v.status == VersionStatus.Retired) revert ModelRegistryInvalidStatus(modelId, version, v.status);
        Rollout storage rollout = _rollouts[modelId];
        // Retiring either side of a running canary ends it: nothing left to compare or to pin to.
        if (
            rollout.status == RolloutStatus.Running &&
            (rollout.plan.candidate == version || v.status == VersionStatus.Active)
        ) {
            _endRollout(modelId, rollout, RolloutStatus.Aborted, "the DAO retired a version of the rollout");
        }
        if (v.status == VersionStatus.Active) _models[modelId].activeVersion = 0;
        v.status = VersionStatus.Retired;
        emit VersionRetired(modelId, version);
        _pushVersion(modelId, version);
        _pushModel(modelId);
    }

    /// @inheritdoc IModelRegistry
    function setDeprecationPeriod(uint40 period) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDeprecationPeriod(period);
    }

    /// @inheritdoc IModelRegistry
    function acceptsJobs(bytes32 modelId, uint32 version) public view returns (bool) {
        ModelVersion storage v = _versions[modelId][version];
        return
            v.status == VersionStatus.Active ||
            (v.status == VersionStatus.Deprecated && block.timestamp < v.sunsetAt) ||
            (v.status == VersionStatus.Published && _isCandidate(modelId, version));
    }

    /// @inheritdoc IModelRegistry
    function jobTermsFor(
        bytes32 modelId,
        uint32 version,
        uint256 seed
    ) external view returns (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB, bool counted) {
        Model storage model = _models[modelId];
        uint32 candidate = model.rolloutCandidate;
        resolved = version == 0 ? model.activeVersion : version;
        if (candidate != 0) {
            if (version == 0 && resolved != 0 && seed % BPS < _rollouts[modelId].plan.canaryBps) resolved = candidate;
            // A client that names the candidate outright is counted too: its jobs are its jobs.
            counted = resolved == candidate;
        }
        ModelVersion storage v = _versions[modelId][resolved];
        accepting = resolved != 0 && acceptsJobs(modelId, resolved);
        minFee = v.minFee;
        minMemoryMB = v.minMemoryMB;
    }

    // ------------------------------------------------------------------ rollouts

    /// @inheritdoc IModelRollouts
    function startRollout(bytes32 modelId, RolloutPlan calldata plan) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Rollout storage rollout = _rollouts[modelId];
        if (rollout.status == RolloutStatus.Running)
            revert ModelRegistryRolloutRunning(modelId, rollout.plan.candidate);
        uint32 champion = _models[modelId].activeVersion;
        if (champion == 0) revert ModelRegistryNoActiveVersion(modelId);
        VersionStatus status = _existing(modelId, plan.candidate).status;
        if (status != VersionStatus.Published) revert ModelRegistryInvalidStatus(modelId, plan.candidate, status);
        if (plan.canaryBps == 0 || plan.canaryBps > MAX_CANARY_BPS)
            revert ModelRegistryInvalidRolloutPlan("canaryBps", plan.canaryBps);
        if (plan.promoteAfterJobs == 0) revert ModelRegistryInvalidRolloutPlan("promoteAfterJobs", 0);
        if (plan.abortAfterJobs == 0) revert ModelRegistryInvalidRolloutPlan("abortAfterJobs", 0);
        if (plan.maxDisputedBps > BPS) revert ModelRegistryInvalidRolloutPlan("maxDisputedBps", plan.maxDisputedBps);
        if (plan.maxFailedBps > BPS) revert ModelRegistryInvalidRolloutPlan("maxFailedBps", plan.maxFailedBps);
        if (plan.minDuration > MAX_DEPRECATION_PERIOD)
            revert ModelRegistryInvalidRolloutPlan("minDuration", plan.minDuration);
        _rollouts[modelId] = Rollout({plan: plan, startedAt: uint40(block.timestamp), status: RolloutStatus.Running});
        _models[modelId].rolloutCandidate = plan.candidate;
        // A candidate rolled out again (after an abort) starts from zero.
        delete _counters[modelId][plan.candidate];
        emit RolloutStarted(modelId, plan.candidate, champion, plan);
        _pushModel(modelId);
    }

    /// @inheritdoc IModelRollouts
    function promoteRollout(bytes32 modelId) external {
        Rollout storage rollout = _running(modelId);
        string memory unmet = _promotionUnmet(rollout, _counters[modelId][rollout.plan.candidate]);
        if (bytes(unmet).length != 0) revert ModelRegistryRolloutRuleNotMet(modelId, unmet);
        uint32 candidate = rollout.plan.candidate;
        _endRollout(modelId, rollout, RolloutStatus.Promoted, "");
        _activate(modelId, candidate);
    }

    /// @inheritdoc IModelRollouts
    function abortRollout(bytes32 modelId) external {
        Rollout storage rollout = _running(modelId);
        string memory reason = "aborted by the guardian or the DAO";
        if (!hasRole(GUARDIAN_ROLE, msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            reason = _abortReason(rollout.plan, _counters[modelId][rollout.plan.candidate]);
            if (bytes(reason).length == 0) revert ModelRegistryRolloutRuleNotMet(modelId, "abort rule");
        }
        _endRollout(modelId, rollout, RolloutStatus.Aborted, reason);
        _pushModel(modelId);
    }

    /// @inheritdoc IModelRollouts
    function countJob(bytes32 modelId, uint32 version, JobOutcome outcome) external onlyRole(MARKET_ROLE) {
        VersionCounters storage c = _counters[modelId][version];
        if (outcome == JobOutcome.Settled) ++c.settled;
        else if (outcome == JobOutcome.Disputed) ++c.disputed;
        else ++c.failed;
        emit RolloutJobCounted(modelId, version, outcome, c);
    }

    /// @inheritdoc IModelRollouts
    function rolloutOf(
        bytes32 modelId
    ) external view returns (Rollout memory rollout, VersionCounters memory counters) {
        rollout = _rollouts[modelId];
        counters = _counters[modelId][rollout.plan.candidate];
    }

    /// @inheritdoc IModelRollouts
    function rolloutVerdict(bytes32 modelId) external view returns (bool promotable, bool abortable) {
        Rollout storage rollout = _rollouts[modelId];
        if (rollout.status != RolloutStatus.Running) return (false, false);
        VersionCounters storage c = _counters[modelId][rollout.plan.candidate];
        promotable = bytes(_promotionUnmet(rollout, c)).length == 0;
        abortable = bytes(_abortReason(rollout.plan, c)).length != 0;
    }

    function _running(bytes32 modelId) private view returns (Rollout storage rollout) {
        rollout = _rollouts[modelId];
        if (rollout.status != RolloutStatus.Running) revert ModelRegistryNoRunningRollout(modelId);
    }

    function _isCandidate(bytes32 modelId, uint32 version) private view returns (bool) {
        return version != 0 && _models[modelId].rolloutCandidate == version;
    }

    /// @dev The first unmet part of the promotion rule, or "" when it holds.
    function _promotionUnmet(Rollout storage rollout, VersionCounters storage c) private view returns (string memory) {
        RolloutPlan storage plan = rollout.plan;
        if (block.timestamp < uint256(rollout.startedAt) + plan.minDuration) return "minimum duration";
        uint256 ended = uint256(c.settled) + c.disputed + c.failed;
        if (ended < plan.promoteAfterJobs) return "jobs ended";
        if (uint256(c.disputed) * BPS > ended * plan.maxDisputedBps) return "disputed share";
        if (uint256(c.failed) * BPS > ended * plan.maxFailedBps) return "failed share";
        return "";
    }

    /// @dev Why the abort rule holds, or "" when it does not.
    function _abortReason(RolloutPlan storage plan, VersionCounters storage c) private view returns (string memory) {
        uint256 ended = uint256(c.settled) + c.disputed + c.failed;
        if (ended < plan.abortAfterJobs) return "";
        if (uint256(c.disputed) * BPS > ended * plan.maxDisputedBps) return "disputed share above the plan's maximum";
        if (uint256(c.failed) * BPS > ended * plan.maxFailedBps) return "failed share above the plan's maximum";
        return "";
    }

    function _endRollout(bytes32 modelId, Rollout storage rollout, RolloutStatus status, string memory reason) private {
        rollout.status = status;
        _models[modelId].rolloutCandidate = 0;
        if (status == RolloutStatus.Promoted) emit RolloutPromoted(modelId, rollout.plan.candidate, msg.sender);
        else emit RolloutAborted(modelId, rollout.plan.candidate, msg.sender, reason);
    }

    // ------------------------------------------------------------------ the markets' mirror

    /// @inheritdoc IModelRegistry
    function syncModel(bytes32 modelId, uint32[] calldata versions) external {
        _existingModel(modelId);
        for (uint256 i = 0; i < versions.length; ++i) {
            _existing(modelId, versions[i]);
            _pushVersion(modelId, versions[i]);
        }
        _pushModel(modelId);
    }

    /// @inheritdoc IModelRegistry
    function mirroredMarkets() external view returns (address[] memory) {
        return _markets;
    }

    /// @inheritdoc IModelRegistry
    function mirrorWords(
        bytes32 modelId,
        uint32 version
    ) external view returns (uint256 modelWord, uint256 versionWord) {
        return (_modelWord(modelId), _versionWord(modelId, version));
    }

    /// @dev Adds a new holder of MARKET_ROLE to the markets pushed to (at most {MAX_MARKETS}).
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == MARKET_ROLE) {
            if (_markets.length == MAX_MARKETS) revert ModelRegistryTooManyMarkets(account, MAX_MARKETS);
            _markets.push(account);
        }
    }

    /// @dev Drops a holder of MARKET_ROLE from the markets pushed to (its mirror stays as it was).
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == MARKET_ROLE) {
            uint256 last = _markets.length - 1;
            for (uint256 i = 0; i <= last; ++i) {
                if (_markets[i] == account) {
                    _markets[i] = _markets[last];
                    break;
                }
            }
            _markets.pop();
        }
    }

    /// @dev The model word a market mirrors (see {ModelMirror}): the active version's terms and the
    /// running rollout's candidate and share.
    function _modelWord(bytes32 modelId) private view returns (uint256) {
        Model storage model = _models[modelId];
        uint32 active = model.activeVersion;
        uint32 candidate = model.rolloutCandidate;
        ModelVersion storage v = _versions[modelId][active];
        return
            ModelMirror.modelWord(
                active,
                v.minFee,
                v.minMemoryMB,
                candidate,
                candidate == 0 ? 0 : _rollouts[modelId].plan.canaryBps
            );
    }

    /// @dev The version word a market mirrors (see {ModelMirror}).
    function _versionWord(bytes32 modelId, uint32 version) private view returns (uint256) {
        ModelVersion storage v = _versions[modelId][version];
        return ModelMirror.versionWord(uint8(v.status), v.sunsetAt, v.minFee, v.minMemoryMB);
    }

    /// @dev Pushes the model word to every market. An account without code (a holder of the role
    /// that is not a market) has no mirror and is skipped.
    function _pushModel(bytes32 modelId) private {
        uint256 n = _markets.length;
        if (n == 0) return;
        uint256 word = _modelWord(modelId);
        for (uint256 i = 0; i < n; ++i) {
            address market = _markets[i];
            if (market.code.length != 0) IInferenceMarket(market).syncModel(modelId, word);
        }
    }

    /// @dev Pushes a version's word to every market (see {_pushModel}).
    function _pushVersion(bytes32 modelId, uint32 version) private {
        uint256 n = _markets.length;
        if (n == 0) return;
        uint256 word = _versionWord(modelId, version);
        for (uint256 i = 0; i < n; ++i) {
            address market = _markets[i];
            if (market.code.length != 0) IInferenceMarket(market).syncVersion(modelId, version, word);
        }
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
        if (period > MAX_DEPRECATION_PERIOD)
            revert ModelRegistryInvalidDeprecationPeriod(period, MAX_DEPRECATION_PERIOD);
        emit DeprecationPeriodSet(deprecationPeriod, period);
        deprecationPeriod = period;
    }
}
