// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {INodeCertRegistry} from "./INodeCertRegistry.sol";

/// @title IPoCVerification
/// @notice What the verification contracts need from ProofOfCompute.
interface IPoCVerification {
    /// @notice The result hash `nodePubkey` committed for `round` of `jobId` (zero if none).
    function resultOf(bytes32 jobId, uint32 round, bytes32 nodePubkey) external view returns (bytes32);
    /// @notice Zero quality on the job, a slash of `slashBps` of stake, a failed proof on reputation.
    function penalise(
        bytes32 jobId,
        bytes32 nodePubkey,
        uint256 slashBps,
        INodeCertRegistry.SlashReason reason,
        bool deactivate
    ) external;
}

/// @title INodeCertView
/// @notice The node record of NodeCertRegistry.getNode (same ABI layout), for the offence count.
interface INodeCertView {
    /// @notice NodeCertRegistry.NodeCert with the role as its uint8 ABI encoding.
    struct NodeCert {
        bytes32 nodePubkey;
        address operator;
        uint8 role;
        string region;
        bytes32 caps;
        bytes32 slaId;
        uint256 stake;
        uint64 registeredAt;
        uint64 lastHeartbeat;
        uint64 unlocksAt;
        uint32 missesPenalised;
        uint32 offences;
        bytes32 hwHash;
        bool active;
    }

    /// @notice The record of `nodePubkey`.
    function getNode(bytes32 nodePubkey) external view returns (NodeCert memory);
    /// @notice The operator account of `nodePubkey`, or the zero address if unknown.
    function operatorOf(bytes32 nodePubkey) external view returns (address);
    /// @notice Whether `nodePubkey` is active and may take compute work.
    function isComputeEligible(bytes32 nodePubkey) external view returns (bool);
}

/// @title IReputationView
/// @notice Reputation reads and the proof outcome the verification contracts report.
interface IReputationView {
    /// @notice The weighted reputation of a node, 0 to 1,000,000.
    function reputationOf(bytes32 nodePubkey) external view returns (uint256);
    /// @notice Records one verified or failed proof.
    function recordProof(bytes32 nodePubkey, bool passed) external;
}

/// @title IVerificationManager
/// @notice What DisputeGame needs from VerificationManager: task groups, their redundancy
/// majority, and the one penalty path (with offence escalation).
interface IVerificationManager {
    /// @notice The task group of `nodePubkey` on `jobId` (0 when unset).
    function groupOf(bytes32 jobId, bytes32 nodePubkey) external view returns (uint32);
    /// @notice The most common committed result of a task group in a round, its count, how many
    /// members committed, and whether it is a strict majority of them (at least two agreeing).
    function groupMajority(bytes32 jobId, uint32 round, uint32 group)
        external
        view
        returns (bytes32 majority, uint256 count, uint256 committed, bool consensus);
    /// @notice Penalises a node (and escalates to 100% plus deactivation at the offence limit).
    function penaliseFor(
        bytes32 jobId,
        bytes32 nodePubkey,
        uint256 slashBps,
        INodeCertRegistry.SlashReason reason,
        bool deactivate
    ) external;
}
