// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IGuardianPausable} from "./IGuardianPausable.sol";
import {IModelRollouts} from "./IModelRollouts.sol";

/// @title IModelRegistry
/// @notice Model versions: where the weights are (IPFS CID), what their bytes hash to (sha256),
/// their input/output schema, the runtime that must run them and how outputs are quantized.
/// A model is a named series of versions numbered from 1. Anyone publishes; only the DAO's
/// timelock moves a version through its lifecycle.
interface IModelRegistry is IModelRollouts, IGuardianPausable {
    /// @notice Lifecycle of a version. `Deprecated` versions keep taking jobs until their sunset.
    enum VersionStatus {
        None,
        Published,
        Active,
        Deprecated,
        Retired
    }

    /// @notice What a publisher supplies for a version.
    /// @param weightsCid CID of the ONNX weights (CIDv1, as `ipfs add --cid-version=1` prints it).
    /// @param weightsSha256 sha256 of the weight bytes.
    /// @param schemaCid CID of the JSON schema (input/output names, dtypes, shapes).
    /// @param runtime Runtime id pinned for determinism, e.g. "onnxruntime-1.30-cpu" as bytes32.
    /// @param outputQuantum Quantum for float outputs in the canonical result hash, 18 decimals
    /// (1e14 = 0.0001).
    /// @param minMemoryMB Memory a provider needs to serve the version.
    /// @param minFee Smallest fee per provider a job on this version may offer, in wei: a job paid
    /// in ETH offers at least this; one paid in an ERC-20 at least its value at the DAO's rate for
    /// that token (see {IInferenceMarket-minFeeIn}).
    struct VersionParams {
        string weightsCid;
        bytes32 weightsSha256;
        string schemaCid;
        bytes32 runtime;
        uint64 outputQuantum;
        uint32 minMemoryMB;
        uint96 minFee;
    }

    /// @notice A stored version. The third slot packs everything a market reads per job.
    struct ModelVersion {
        bytes32 weightsSha256;
        bytes32 runtime;
        uint96 minFee;
        uint64 outputQuantum;
        uint32 minMemoryMB;
        VersionStatus status;
        uint40 sunsetAt;
        uint40 publishedAt;
        address publisher;
        string weightsCid;
        string schemaCid;
    }

    /// @notice A model's name, number of versions, active version (0 when none), owner and running
    /// rollout's candidate (0 when none).
    struct Model {
        string name;
        uint32 versionCount;
        uint32 activeVersion;
        /// @dev Who may publish versions under the name: its first publisher, then whoever it
        /// hands the name to (two steps) or the DAO appoints. address(0): nobody.
        address owner;
        /// @dev The running rollout's candidate (0: no rollout runs). In the slot every request
        /// reads anyway, so a model without a rollout costs a request no extra read.
        uint32 rolloutCandidate;
    }

    /// @notice The owner of a model name offered it to `pendingOwner` (address(0): offer withdrawn).
    event ModelTransferStarted(bytes32 indexed modelId, address indexed owner, address indexed pendingOwner);
    /// @notice A model name changed hands (accepted by the new owner, or set by the DAO).
    event ModelOwnerChanged(bytes32 indexed modelId, address indexed previousOwner, address indexed newOwner);
    /// @notice A model name was used for the first time.
    event ModelCreated(bytes32 indexed modelId, string name, address indexed creator);
    /// @notice A version was published; it takes no jobs until the DAO activates it.
    event VersionPublished(
        bytes32 indexed modelId,
        uint32 indexed version,
        address indexed publisher,
        VersionParams params
    );
    /// @notice The DAO activated a version (a rollback when it is older than the previous one).
    /// `previousVersion` (0 if none) is now Deprecated until `previousSunsetAt`.
    event VersionActivated(
        bytes32 indexed modelId,
        uint32 indexed version,
        uint32 previousVersion,
        uint40 previousSunsetAt
    );
    /// @notice The DAO retired a version; it takes no new jobs.
    event VersionRetired(bytes32 indexed modelId, uint32 indexed version);
    /// @notice The DAO changed how long a deprecated version keeps taking jobs.
    event DeprecationPeriodSet(uint40 oldPeriod, uint40 newPeriod);

    /// @notice The model name is empty or longer than 64 bytes.
    error ModelRegistryInvalidName(string name);
    /// @notice A CID is empty or longer than 128 bytes.
    error ModelRegistryInvalidCid(string cid);
    /// @notice The weights hash is zero.
    error ModelRegistryInvalidWeightsHash(bytes32 weightsSha256);
    /// @notice The runtime id is zero.
    error ModelRegistryInvalidRuntime(bytes32 runtime);
    /// @notice The output quantum is zero.
    error ModelRegistryInvalidOutputQuantum(uint64 outputQuantum);
    /// @notice No such version.
    error ModelRegistryUnknownVersion(bytes32 modelId, uint32 version);
    /// @notice The version is not in a status that allows the change.
    error ModelRegistryInvalidStatus(bytes32 modelId, uint32 version, VersionStatus status);
    /// @notice The model has no active version.
    error ModelRegistryNoActiveVersion(bytes32 modelId);
    /// @notice The deprecation period is above the allowed maximum.
    error ModelRegistryInvalidDeprecationPeriod(uint40 period, uint40 maximum);
    /// @notice Only the model name's owner may publish versions under it or hand it on.
    error ModelRegistryNotModelOwner(bytes32 modelId, address caller, address owner);
    /// @notice Only the address the owner offered the name to may accept it.
    error ModelRegistryNotPendingOwner(bytes32 modelId, address caller, address pendingOwner);
    /// @notice No version was ever published under this model id.
    error ModelRegistryUnknownModel(bytes32 modelId);
    /// @notice MARKET_ROLE is held by `maximum` accounts already; `market` cannot be added (every
    /// change is pushed to each holder: revoke one first).
    error ModelRegistryTooManyMarkets(address market, uint256 maximum);

    /// @notice Publishes a new version of the model `name`. The first publisher of a name owns it;
    /// later versions only come from its owner, so nobody can publish under another's name or race
    /// it for version numbers.
    /// @param name Model name, 1 to 64 bytes; its id is `keccak256(bytes(name))`.
    /// @param params The version's data.
    /// @return modelId The model's id.
    /// @return version The new version number (1 for a new model).
    function publishVersion(
        string calldata name,
        VersionParams calldata params
    ) external returns (bytes32 modelId, uint32 version);

    /// @notice Offers the model name to `newOwner`, who becomes owner by {acceptModel} (owner
    /// only). address(0) withdraws a pending offer. Two steps, so a typo cannot lose the name.
    /// @param modelId The model.
    /// @param newOwner The address offered the name.
    function transferModel(bytes32 modelId, address newOwner) external;

    /// @notice Accepts the model name offered by its owner (the pending owner only).
    /// @param modelId The model.
    function acceptModel(bytes32 modelId) external;

    /// @notice Sets a model name's owner (DAO only): recovers a name whose owner lost its key or
    /// misbehaves; address(0) closes the name to new versions. Clears any pending offer.
    /// @param modelId The model.
    /// @param newOwner The new owner.
    function setModelOwner(bytes32 modelId, address newOwner) external;

    /// @notice The address a model name is offered to, or address(0).
    /// @param modelId The model.
    /// @return The pending owner.
    function pendingModelOwner(bytes32 modelId) external view returns (address);

    /// @notice Makes `version` the active one (DAO only). The previously active version becomes
    /// Deprecated until now + deprecationPeriod. Works from Published (an upgrade) and from
    /// Deprecated or Retired (a rollback).
    /// @param modelId The model.
    /// @param version The version to activate.
    function activateVersion(bytes32 modelId, uint32 version) external;

    /// @notice Retires a version (DAO only): it takes no new jobs. Retiring the active version
    /// leaves the model without one.
    /// @param modelId The model.
    /// @param version The version to retire.
    function retireVersion(bytes32 modelId, uint32 version) external;

    /// @notice Sets how long a deprecated version keeps taking jobs (DAO only, at most 365 days).
    /// @param period Seconds.
    function setDeprecationPeriod(uint40 period) external;

    /// @notice Whether a version may take new jobs now: Active, Deprecated before its sunset, or
    /// the candidate of a running rollout (its canary jobs).
    /// @param modelId The model.
    /// @param version The version.
    /// @return True if a job may be requested on it now.
    function acceptsJobs(bytes32 modelId, uint32 version) external view returns (bool);

    /// @notice Resolves `version` 0 to the active version; other numbers are returned as they are
    /// after checking that they exist.
    /// @param modelId The model.
    /// @param version A version number, or 0 for "the active one".
    /// @return The concrete version number.
    function resolveVersion(bytes32 modelId, uint32 version) external view returns (uint32);

    /// @notice A stored version.
    /// @param modelId The model.
    /// @param version The version.
    /// @return The version's data.
    function getVersion(bytes32 modelId, uint32 version) external view returns (ModelVersion memory);

    /// @notice A model's name, version count, active version and owner.
    /// @param modelId The model.
    /// @return The model.
    function getModel(bytes32 modelId) external view returns (Model memory);

    /// @notice What a market needs to accept a job on a version, in one call. While the model has a
    /// running rollout, a request for version 0 is pinned to the candidate when
    /// `seed % 10,000 < canaryBps`, and then counted (the market reports how it ends with
    /// {IModelRollouts-countJob}).
    /// @param modelId The model.
    /// @param version A version number, or 0 for "the active one" (or the canary).
    /// @param seed The request's seed: unpredictable to the client when it signs (the market's
    /// job seed, from prevrandao).
    /// @return resolved The concrete version (0 when `version` was 0 and none is active).
    /// @return accepting Whether the version takes new jobs now.
    /// @return minFee The version's minimum fee per provider, in wei.
    /// @return minMemoryMB The memory a provider needs.
    /// @return counted Whether the market must report the job's outcome.
    function jobTermsFor(
        bytes32 modelId,
        uint32 version,
        uint256 seed
    ) external view returns (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB, bool counted);

    /// @notice Pushes a model's word and the words of `versions` to every market holding
    /// MARKET_ROLE (anyone may call it). The registry pushes them by itself on every change of what
    /// {jobTermsFor} returns; this call is for a market granted the role after the model was
    /// published, which is NOT synced when the role is granted and refuses the model's requests
    /// until then. Pass every version that may take jobs (the active one, Deprecated ones before
    /// their sunset, a running rollout's candidate) and, for exact minimum fees and memory in
    /// {IInferenceMarketCourt-mirroredJobTerms}, any other version a client may name.
    /// @param modelId The model (reverts {ModelRegistryUnknownModel} when never published).
    /// @param versions Versions to push (each must exist: {ModelRegistryUnknownVersion}).
    function syncModel(bytes32 modelId, uint32[] calldata versions) external;

    /// @notice The markets every change is pushed to: the holders of MARKET_ROLE (at most
    /// {MAX_MARKETS}). Holders without code (not markets) are listed but skipped.
    /// @return The markets, in no particular order.
    function mirroredMarkets() external view returns (address[] memory);

    /// @notice The words a market's mirror holds for the model and the version when in sync (see
    /// {ModelMirror}).
    /// @param modelId The model.
    /// @param version The version.
    /// @return modelWord The model word.
    /// @return versionWord The version word.
    function mirrorWords(
        bytes32 modelId,
        uint32 version
    ) external view returns (uint256 modelWord, uint256 versionWord);

    /// @notice The most holders of MARKET_ROLE (markets pushed to) at a time.
    function MAX_MARKETS() external view returns (uint256);

    /// @notice The id of a model name.
    /// @param name The name.
    /// @return keccak256 of the name's bytes.
    function modelIdOf(string calldata name) external pure returns (bytes32);
    /// @notice Upper bound for the deprecation period.
    function MAX_DEPRECATION_PERIOD() external view returns (uint40);

    /// @notice At most half the version-0 requests go to a canary.
    function MAX_CANARY_BPS() external view returns (uint16);

    /// @notice Held by the market: it reports the outcome of counted jobs.
    function MARKET_ROLE() external view returns (bytes32);

    /// @notice How long a version stays Deprecated (and takes jobs) after a newer one is activated.
    function deprecationPeriod() external view returns (uint40);
}
