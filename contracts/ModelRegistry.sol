// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ModelRegistry
/// @notice Models trained on ArthaTrain: per-round checkpoints and published versions, each
/// addressed by an SVDB CID, so inference can check that a CID really is a published model.
/// @dev A CID names bytes, not an owner: any number of models may publish the same CID, and a
/// model is identified by its id (keccak256(owner, name)), never by a CID. So nobody can claim a
/// CID first to block its owner's publication or to have lookups attribute it to them.
contract ModelRegistry {
    /// @notice Thrown when a model id is registered twice.
    error ModelRegistry__AlreadyRegistered(bytes32 modelId);
    /// @notice Thrown when a model id is unknown.
    error ModelRegistry__UnknownModel(bytes32 modelId);
    /// @notice Thrown when the caller is not the model owner.
    error ModelRegistry__NotModelOwner(address caller, bytes32 modelId);
    /// @notice Thrown when the caller may neither own nor publish checkpoints of the model.
    error ModelRegistry__NotPublisher(address caller, bytes32 modelId);
    /// @notice Thrown when a CID is empty.
    error ModelRegistry__EmptyCid();
    /// @notice Thrown when a checkpoint round does not increase.
    error ModelRegistry__StaleRound(uint256 round, uint256 latest);

    /// @notice Emitted when a model is registered.
    event ModelRegistered(bytes32 indexed modelId, address indexed owner, string name, bytes32 indexed jobId);
    /// @notice Emitted when a checkpoint is added.
    event CheckpointAdded(bytes32 indexed modelId, uint256 round, string cid, bytes32 weightsDigest);
    /// @notice Emitted when a version is published for inference.
    event ModelPublished(bytes32 indexed modelId, uint256 version, string cid, bytes32 weightsDigest);
    /// @notice Emitted when a model owner adds or removes a checkpoint publisher.
    event PublisherSet(bytes32 indexed modelId, address indexed publisher, bool allowed);

    struct Model {
        address owner;
        bytes32 jobId;
        uint64 registeredAt;
        uint32 checkpoints;
        uint32 versions;
        uint256 latestRound;
        string name;
        string latestCheckpointCid;
        string publishedCid;
        bytes32 publishedDigest;
    }

    mapping(bytes32 modelId => Model model) private _models;
    mapping(bytes32 modelId => mapping(address publisher => bool allowed)) private _publishers;
    mapping(bytes32 cidHash => uint256 count) private _publications;
    mapping(bytes32 modelId => mapping(bytes32 cidHash => bool published)) private _publishedBy;

    /// @notice Registers a model; its id is keccak256(owner, name).
    /// @param name Human-readable name, unique per owner.
    /// @param jobId The training job that produces it (zero if none).
    /// @return modelId The new id.
    function registerModel(string calldata name, bytes32 jobId) external returns (bytes32 modelId) {
        modelId = keccak256(abi.encode(msg.sender, name));
        if (_models[modelId].owner != address(0)) revert ModelRegistry__AlreadyRegistered(modelId);
        Model storage m = _models[modelId];
        m.owner = msg.sender;
        m.jobId = jobId;
        m.registeredAt = uint64(block.timestamp);
        m.name = name;
        emit ModelRegistered(modelId, msg.sender, name, jobId);
    }

    /// @notice Lets `publisher` (e.g. the aggregator) add checkpoints. Model owner only.
    function setPublisher(bytes32 modelId, address publisher, bool allowed) external {
        _ownedModel(modelId);
        _publishers[modelId][publisher] = allowed;
        emit PublisherSet(modelId, publisher, allowed);
    }

    /// @notice Records the checkpoint of a round. The model owner or a publisher only.
    /// @param modelId The model.
    /// @param round Training round; must increase.
    /// @param cid SVDB CID of the checkpoint.
    /// @param weightsDigest Merkle root of the weights.
    function addCheckpoint(bytes32 modelId, uint256 round, string calldata cid, bytes32 weightsDigest) external {
        Model storage m = _model(modelId);
        if (msg.sender != m.owner && !_publishers[modelId][msg.sender]) {
            revert ModelRegistry__NotPublisher(msg.sender, modelId);
        }
        if (bytes(cid).length == 0) revert ModelRegistry__EmptyCid();
        if (m.checkpoints > 0 && round <= m.latestRound) revert ModelRegistry__StaleRound(round, m.latestRound);
        m.checkpoints += 1;
        m.latestRound = round;
        m.latestCheckpointCid = cid;
        emit CheckpointAdded(modelId, round, cid, weightsDigest);
    }

    /// @notice Publishes a version for inference. Model owner only.
    /// @param modelId The model.
    /// @param cid SVDB CID of the exported model folder.
    /// @param weightsDigest Merkle root of the weights.
    /// @return version The version number, from 1.
    function publishModel(bytes32 modelId, string calldata cid, bytes32 weightsDigest)
        external
        returns (uint256 version)
    {
        Model storage m = _ownedModel(modelId);
        if (bytes(cid).length == 0) revert ModelRegistry__EmptyCid();
        bytes32 cidHash = keccak256(bytes(cid));
        m.versions += 1;
        m.publishedCid = cid;
        m.publishedDigest = weightsDigest;
        _publications[cidHash] += 1;
        _publishedBy[modelId][cidHash] = true;
        version = m.versions;
        emit ModelPublished(modelId, version, cid, weightsDigest);
    }

    /// @notice The record of a model.
    function getModel(bytes32 modelId) external view returns (Model memory) {
        return _models[modelId];
    }

    /// @notice Whether any model published `cid` (what inference checks before serving it).
    function isPublished(string calldata cid) external view returns (bool) {
        return _publications[keccak256(bytes(cid))] > 0;
    }

    /// @notice Whether `modelId` published `cid` as one of its versions.
    function isPublishedBy(bytes32 modelId, string calldata cid) external view returns (bool) {
        return _publishedBy[modelId][keccak256(bytes(cid))];
    }

    /// @notice Whether `publisher` may add checkpoints to `modelId`.
    function isPublisher(bytes32 modelId, address publisher) external view returns (bool) {
        return _publishers[modelId][publisher];
    }

    function _model(bytes32 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        if (m.owner == address(0)) revert ModelRegistry__UnknownModel(modelId);
    }

    function _ownedModel(bytes32 modelId) private view returns (Model storage m) {
        m = _model(modelId);
        if (m.owner != msg.sender) revert ModelRegistry__NotModelOwner(msg.sender, modelId);
    }
}
