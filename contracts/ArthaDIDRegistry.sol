// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Domain} from "./libraries/Domain.sol";
import {Ed25519} from "./libraries/Ed25519.sol";

/// @title ArthaDIDRegistry
/// @notice did:artha identifiers: the on-chain half of a DID document (keys, metadata CID,
/// revocation), data-access grants from data owners to grantee DIDs, and consent records.
/// Every change is an event, so the event log is the audit trail.
/// @dev A DID is bound to its key and its controller: its hash must be keccak256 of its first
/// Ed25519 auth key, and that key signs (EIP-712 DIDControl) the account that controls it and the
/// encryption key grants are wrapped to. So nobody can register another person's DID, nor point
/// it at their own encryption key; a key rotation is signed by the new key the same way.
contract ArthaDIDRegistry {
    /// @notice Thrown when a DID hash or key is zero.
    error DID__InvalidArgument(string field);
    /// @notice Thrown when a DID is created twice.
    error DID__AlreadyExists(bytes32 didHash);
    /// @notice Thrown when a DID is unknown.
    error DID__UnknownDID(bytes32 didHash);
    /// @notice Thrown when the caller does not control the DID.
    error DID__NotController(address caller, bytes32 didHash);
    /// @notice Thrown when a revoked DID is used.
    error DID__Revoked(bytes32 didHash);
    /// @notice Thrown when a dataset is registered twice.
    error DID__DatasetExists(bytes32 datasetId);
    /// @notice Thrown when a dataset is unknown.
    error DID__UnknownDataset(bytes32 datasetId);
    /// @notice Thrown when the caller does not own the dataset.
    error DID__NotDatasetOwner(address caller, bytes32 datasetId);
    /// @notice Thrown when a grantee has no valid grant.
    error DID__NoAccess(bytes32 datasetId, bytes32 granteeDid);
    /// @notice Thrown when an expiry lies in the past.
    error DID__ExpiryInPast(uint64 expiresAt, uint256 now_);
    /// @notice Thrown when a DID hash is not keccak256 of its auth key.
    error DID__HashMismatch(bytes32 didHash, bytes32 expected);
    /// @notice Thrown when the auth key's signature over DIDControl does not verify.
    error DID__BadKeyProof(bytes32 didHash, bytes32 authKey);
    /// @notice Thrown when a grant's key was wrapped to an encryption key the grantee no longer holds.
    error DID__KeyChanged(bytes32 granteeDid, bytes32 wrappedTo, bytes32 current);

    /// @notice Emitted when a DID is created.
    event DIDCreated(bytes32 indexed didHash, address indexed owner, bytes32 authKey, bytes32 encKey, string metaCid);
    /// @notice Emitted when a DID's keys change.
    event KeysRotated(bytes32 indexed didHash, bytes32 authKey, bytes32 encKey);
    /// @notice Emitted when a DID's document CID changes.
    event MetadataUpdated(bytes32 indexed didHash, string metaCid);
    /// @notice Emitted when a DID is revoked.
    event DIDRevoked(bytes32 indexed didHash);
    /// @notice Emitted when control of a DID moves to another account.
    event DIDOwnerChanged(bytes32 indexed didHash, address indexed newOwner);
    /// @notice Emitted when a data owner registers an (encrypted) dataset.
    event DatasetRegistered(bytes32 indexed datasetId, bytes32 indexed ownerDid, string cid);
    /// @notice Emitted when the owner re-encrypts a dataset under a new data key: grants made for
    /// earlier keys stop working, so a revoked grantee that kept its wrapped key cannot read the new
    /// version.
    event DatasetRotated(bytes32 indexed datasetId, string cid, uint32 keyVersion);
    /// @notice Emitted when access is granted; `wrappedKeyCid` holds the data key wrapped for the
    /// grantee's encKey.
    event DataAccessGranted(bytes32 indexed datasetId, bytes32 indexed granteeDid, string wrappedKeyCid, uint64 expiresAt);
    /// @notice Emitted when access is revoked.
    event DataAccessRevoked(bytes32 indexed datasetId, bytes32 indexed granteeDid);
    /// @notice Emitted on every recorded use of a dataset.
    event DataAccessed(bytes32 indexed datasetId, bytes32 indexed granteeDid, address indexed accessor, bytes32 purposeHash);
    /// @notice Emitted when a subject gives or withdraws consent for a purpose.
    event ConsentRecorded(bytes32 indexed subjectDid, bytes32 indexed purposeHash, bool given);

    struct DIDDocument {
        bytes32 didHash;
        address owner;
        bytes32 authKey;
        bytes32 encKey;
        string metaCid;
        uint64 created;
        uint64 updated;
        bool revoked;
        /// @dev Key proofs are signed over this nonce, which every rotation bumps (no replay).
        uint32 keyNonce;
    }

    /// @notice EIP-712 type an auth key signs to take control of a DID for an account.
    bytes32 public constant DID_CONTROL_TYPEHASH =
        keccak256("DIDControl(bytes32 didHash,address controller,bytes32 encKey,uint256 nonce)");

    struct Dataset {
        bytes32 ownerDid;
        uint32 keyVersion;
        string cid;
    }

    struct Grant {
        uint64 grantedAt;
        uint64 expiresAt;
        bool active;
        /// @dev The dataset key version the wrapped key opens; older versions grant nothing.
        uint32 keyVersion;
        /// @dev The grantee's key nonce the key was wrapped for: rotating its keys (a lost or
        /// stolen key) ends the grant until the owner wraps for the new one.
        uint32 granteeKeyNonce;
        string wrappedKeyCid;
    }

    mapping(bytes32 didHash => DIDDocument doc) private _dids;
    mapping(bytes32 datasetId => Dataset dataset) private _datasets;
    mapping(bytes32 datasetId => mapping(bytes32 granteeDid => Grant grant)) private _grants;
    mapping(bytes32 subjectDid => mapping(bytes32 purposeHash => bool given)) private _consents;

    // --------------------------------------------------------------------------- DIDs

    /// @notice Creates a DID controlled by the caller. `didHash` must be keccak256(authKey) and
    /// `keyProof` the auth key's Ed25519 signature over `controlDigest(didHash, msg.sender, encKey)`.
    /// @param didHash The identifier (did:artha:<didHash>).
    /// @param authKey Ed25519 authentication key.
    /// @param encKey X25519 key-agreement key.
    /// @param metaCid SVDB CID of the full DID document.
    /// @param keyProof 64-byte Ed25519 signature (R ++ S) of `authKey`.
    function createDID(
        bytes32 didHash,
        bytes32 authKey,
        bytes32 encKey,
        string calldata metaCid,
        bytes calldata keyProof
    ) external {
        if (didHash == bytes32(0)) revert DID__InvalidArgument("didHash");
        if (authKey == bytes32(0)) revert DID__InvalidArgument("authKey");
        if (encKey == bytes32(0)) revert DID__InvalidArgument("encKey");
        if (_dids[didHash].owner != address(0)) revert DID__AlreadyExists(didHash);
        bytes32 expected = keccak256(abi.encodePacked(authKey));
        if (didHash != expected) revert DID__HashMismatch(didHash, expected);
        _checkKeyProof(didHash, authKey, encKey, 0, keyProof);
        _dids[didHash] = DIDDocument({
            didHash: didHash,
            owner: msg.sender,
            authKey: authKey,
            encKey: encKey,
            metaCid: metaCid,
            created: uint64(block.timestamp),
            updated: uint64(block.timestamp),
            revoked: false,
            keyNonce: 1
        });
        emit DIDCreated(didHash, msg.sender, authKey, encKey, metaCid);
    }

    /// @notice Replaces both keys of a DID and points it at the document that lists them, in one
    /// transaction (so the DID resolves at every block). Controller only; the new auth key proves
    /// itself with a signature over `controlDigest(didHash, msg.sender, encKey)` at the DID's
    /// current nonce.
    /// @param didHash The DID.
    /// @param authKey New Ed25519 authentication key.
    /// @param encKey New X25519 key-agreement key.
    /// @param metaCid SVDB CID of the document with the new keys.
    /// @param keyProof 64-byte Ed25519 signature (R ++ S) of the new `authKey`.
    function rotateKeys(
        bytes32 didHash,
        bytes32 authKey,
        bytes32 encKey,
        string calldata metaCid,
        bytes calldata keyProof
    ) external {
        if (authKey == bytes32(0)) revert DID__InvalidArgument("authKey");
        if (encKey == bytes32(0)) revert DID__InvalidArgument("encKey");
        DIDDocument storage d = _controlled(didHash);
        _checkKeyProof(didHash, authKey, encKey, d.keyNonce, keyProof);
        d.keyNonce += 1;
        d.authKey = authKey;
        d.encKey = encKey;
        d.metaCid = metaCid;
        d.updated = uint64(block.timestamp);
        emit KeysRotated(didHash, authKey, encKey);
        emit MetadataUpdated(didHash, metaCid);
    }

    /// @notice Points a DID at a new document CID. Controller only.
    /// @param didHash The DID.
    /// @param metaCid SVDB CID of its new document.
    function updateMetadata(bytes32 didHash, string calldata metaCid) external {
        DIDDocument storage d = _controlled(didHash);
        d.metaCid = metaCid;
        d.updated = uint64(block.timestamp);
        emit MetadataUpdated(didHash, metaCid);
    }

    /// @notice Hands control of a DID to another account. Controller only.
    /// @param didHash The DID.
    /// @param newOwner The account that controls it from now on.
    function changeOwner(bytes32 didHash, address newOwner) external {
        if (newOwner == address(0)) revert DID__InvalidArgument("newOwner");
        DIDDocument storage d = _controlled(didHash);
        d.owner = newOwner;
        d.updated = uint64(block.timestamp);
        emit DIDOwnerChanged(didHash, newOwner);
    }

    /// @notice Revokes a DID for good; its grants stop working: those made to it, and those of
    /// the datasets it owns (a revoked owner can no longer revoke them one by one). Controller
    /// only.
    /// @param didHash The DID.
    function revokeDID(bytes32 didHash) external {
        DIDDocument storage d = _controlled(didHash);
        d.revoked = true;
        d.updated = uint64(block.timestamp);
        emit DIDRevoked(didHash);
    }

    /// @notice The on-chain document of a DID.
    /// @param didHash The DID.
    /// @return The document (owner zero when it was never created).
    function getDID(bytes32 didHash) external view returns (DIDDocument memory) {
        return _dids[didHash];
    }

    /// @notice The EIP-712 digest an auth key signs so that `controller` may create (nonce 0) or
    /// rotate to it (the DID's current `keyNonce`) with encryption key `encKey`.
    /// @param didHash The DID.
    /// @param controller The account that may then control it.
    /// @param encKey The X25519 key it receives data keys on.
    /// @param nonce 0 to create, else the DID's current key nonce.
    /// @return The digest to sign.
    function controlDigest(bytes32 didHash, address controller, bytes32 encKey, uint256 nonce)
        public
        view
        returns (bytes32)
    {
        return Domain.digest(
            address(this), keccak256(abi.encode(DID_CONTROL_TYPEHASH, didHash, controller, encKey, nonce))
        );
    }

    /// @notice The EIP-712 domain separator of this contract (ArthaTrain v1, this chain).
    function domainSeparator() external view returns (bytes32) {
        return Domain.separator(address(this));
    }

    // ----------------------------------------------------------------------- datasets

    /// @notice Registers an encrypted dataset owned by one of the caller's DIDs.
    /// @param datasetId keccak256(ownerDid ++ cid): bound to its owner, so nobody who sees the
    /// registration coming can take the id first for a dataset of their own.
    /// @param ownerDid The owning DID (controlled by the caller).
    /// @param cid SVDB CID of the ciphertext.
    function registerDataset(bytes32 datasetId, bytes32 ownerDid, string calldata cid) external {
        if (datasetId != keccak256(abi.encodePacked(ownerDid, cid))) revert DID__InvalidArgument("datasetId");
        _controlled(ownerDid);
        if (_datasets[datasetId].ownerDid != bytes32(0)) revert DID__DatasetExists(datasetId);
        _datasets[datasetId] = Dataset({ownerDid: ownerDid, keyVersion: 1, cid: cid});
        emit DatasetRegistered(datasetId, ownerDid, cid);
    }

    /// @notice Grants a DID access to a dataset. Dataset owner only.
    /// @param datasetId The dataset.
    /// @param granteeDid The grantee; must exist and not be revoked.
    /// @param encKey The grantee encKey the data key was wrapped to; it must still be the grantee's,
    /// because the grant is stamped with the grantee's key nonce when it lands: a grantee rotating
    /// a stolen key while the grant is in flight would otherwise get a grant that names its new
    /// key and that the old key opens.
    /// @param wrappedKeyCid SVDB CID of the data key wrapped for `encKey`.
    /// @param expiresAt Unix time the grant ends; 0 for no expiry.
    function grantDataAccess(
        bytes32 datasetId,
        bytes32 granteeDid,
        bytes32 encKey,
        string calldata wrappedKeyCid,
        uint64 expiresAt
    ) external {
        Dataset storage ds = _ownedDataset(datasetId);
        DIDDocument storage g = _dids[granteeDid];
        if (g.owner == address(0)) revert DID__UnknownDID(granteeDid);
        if (g.revoked) revert DID__Revoked(granteeDid);
        if (g.encKey != encKey) revert DID__KeyChanged(granteeDid, encKey, g.encKey);
        if (expiresAt != 0 && expiresAt <= block.timestamp) revert DID__ExpiryInPast(expiresAt, block.timestamp);
        _grants[datasetId][granteeDid] = Grant({
            grantedAt: uint64(block.timestamp),
            expiresAt: expiresAt,
            active: true,
            keyVersion: ds.keyVersion,
            granteeKeyNonce: g.keyNonce,
            wrappedKeyCid: wrappedKeyCid
        });
        emit DataAccessGranted(datasetId, granteeDid, wrappedKeyCid, expiresAt);
    }

    /// @notice Points a dataset at a re-encrypted version under a new data key and bumps its key
    /// version, which ends every existing grant (hard revocation): re-grant the DIDs that keep
    /// access with keys wrapped for the new data key. Dataset owner only.
    /// @param datasetId The dataset.
    /// @param cid SVDB CID of the new ciphertext.
    function rotateDataset(bytes32 datasetId, string calldata cid) external {
        Dataset storage ds = _ownedDataset(datasetId);
        ds.keyVersion += 1;
        ds.cid = cid;
        emit DatasetRotated(datasetId, cid, ds.keyVersion);
    }

    /// @notice Revokes a grant. Dataset owner only.
    /// @param datasetId The dataset.
    /// @param granteeDid The grantee whose grant ends.
    function revokeDataAccess(bytes32 datasetId, bytes32 granteeDid) external {
        _ownedDataset(datasetId);
        Grant storage gr = _grants[datasetId][granteeDid];
        if (!gr.active) revert DID__NoAccess(datasetId, granteeDid);
        gr.active = false;
        emit DataAccessRevoked(datasetId, granteeDid);
    }

    /// @notice Records a use of a dataset by a grantee, for the audit trail. The grantee's
    /// controller only, and only while the grant is valid.
    /// @param datasetId The dataset.
    /// @param granteeDid The grantee DID (controlled by the caller).
    /// @param purposeHash keccak256 of the purpose (e.g. the job id).
    function recordAccess(bytes32 datasetId, bytes32 granteeDid, bytes32 purposeHash) external {
        _controlled(granteeDid);
        if (!hasAccess(datasetId, granteeDid)) revert DID__NoAccess(datasetId, granteeDid);
        emit DataAccessed(datasetId, granteeDid, msg.sender, purposeHash);
    }

    /// @notice Whether a grantee may use a dataset now: an active, unexpired grant of the dataset's
    /// current key version, wrapped for the grantee's current keys, to a DID not revoked, of a
    /// dataset whose owner DID is not revoked.
    /// @param datasetId The dataset.
    /// @param granteeDid The grantee.
    /// @return Whether the grant stands.
    function hasAccess(bytes32 datasetId, bytes32 granteeDid) public view returns (bool) {
        Grant storage gr = _grants[datasetId][granteeDid];
        DIDDocument storage g = _dids[granteeDid];
        Dataset storage ds = _datasets[datasetId];
        return gr.active && !g.revoked && !_dids[ds.ownerDid].revoked && gr.keyVersion == ds.keyVersion
            && gr.granteeKeyNonce == g.keyNonce && (gr.expiresAt == 0 || block.timestamp < gr.expiresAt);
    }

    /// @notice The grant of a grantee on a dataset.
    /// @param datasetId The dataset.
    /// @param granteeDid The grantee.
    /// @return The grant (grantedAt zero when none was made).
    function getGrant(bytes32 datasetId, bytes32 granteeDid) external view returns (Grant memory) {
        return _grants[datasetId][granteeDid];
    }

    /// @notice The record of a dataset.
    /// @param datasetId The dataset.
    /// @return The dataset (ownerDid zero when it was never registered).
    function getDataset(bytes32 datasetId) external view returns (Dataset memory) {
        return _datasets[datasetId];
    }

    // ------------------------------------------------------------------------ consent

    /// @notice Gives or withdraws the consent of a subject for a purpose. Controller only.
    /// @param subjectDid The subject's DID.
    /// @param purposeHash keccak256 of the purpose.
    /// @param given Whether it consents.
    function recordConsent(bytes32 subjectDid, bytes32 purposeHash, bool given) external {
        _controlled(subjectDid);
        _consents[subjectDid][purposeHash] = given;
        emit ConsentRecorded(subjectDid, purposeHash, given);
    }

    /// @notice Whether a subject currently consents to a purpose; a revoked subject consents to nothing.
    /// @dev A revoked DID controls nothing, so its consent could never be withdrawn: it ends with the DID.
    /// @param subjectDid The subject's DID.
    /// @param purposeHash keccak256 of the purpose.
    /// @return Whether it consents now.
    function hasConsent(bytes32 subjectDid, bytes32 purposeHash) external view returns (bool) {
        return !_dids[subjectDid].revoked && _consents[subjectDid][purposeHash];
    }

    // ---------------------------------------------------------------------- internals

    function _checkKeyProof(bytes32 didHash, bytes32 authKey, bytes32 encKey, uint256 nonce, bytes calldata proof)
        private
        view
    {
        bytes32 digest = controlDigest(didHash, msg.sender, encKey, nonce);
        if (
            proof.length != 64
                || !Ed25519.verify(authKey, bytes32(proof[0:32]), bytes32(proof[32:64]), abi.encodePacked(digest))
        ) revert DID__BadKeyProof(didHash, authKey);
    }

    function _controlled(bytes32 didHash) private view returns (DIDDocument storage d) {
        d = _dids[didHash];
        if (d.owner == address(0)) revert DID__UnknownDID(didHash);
        if (d.owner != msg.sender) revert DID__NotController(msg.sender, didHash);
        if (d.revoked) revert DID__Revoked(didHash);
    }

    function _ownedDataset(bytes32 datasetId) private view returns (Dataset storage ds) {
        ds = _datasets[datasetId];
        if (ds.ownerDid == bytes32(0)) revert DID__UnknownDataset(datasetId);
        DIDDocument storage owner = _dids[ds.ownerDid];
        if (owner.owner != msg.sender) revert DID__NotDatasetOwner(msg.sender, datasetId);
        if (owner.revoked) revert DID__Revoked(ds.ownerDid);
    }
}
