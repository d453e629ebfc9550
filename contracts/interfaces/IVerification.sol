// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {INodeCertRegistry} from "./INodeCertRegistry.sol";
import {IAIJobManager} from "./IAIJobManager.sol";

/// @title IPoCVerification
/// @notice What the verification contracts need from ProofOfCompute.
interface IPoCVerification {
    /// @notice The result hash `nodePubkey` committed for `round` of `jobId` (zero if none).
    function resultOf(bytes32 jobId, uint32 round, bytes32 nodePubkey) external view returns (bytes32);
    /// @notice The round of `jobId` that takes commits now; every round below it is closed, so its
    /// set of commits is final.
    function openRoundOf(bytes32 jobId) external view returns (uint32);
    /// @notice The block in which `round` of `jobId` closed (zero while open). Its hash is the
    /// round's randomness: unknown to anyone while the round's work was being committed.
    function closedBlockOf(bytes32 jobId, uint32 round) external view returns (uint256);
    /// @notice The job manager whose jobs ProofOfCompute takes commits for (their terms fix a
    /// round's steps, so no caller has to say how many there are).
    function jobManager() external view returns (IAIJobManager);
    /// @notice Records that a challenge, dispute or attestation on `jobId` started: the job's
    /// settlement waits for it. Refused once the settlement is due.
    function openCase(bytes32 jobId) external;
    /// @notice Records that a case opened with `openCase` ended.
    function closeCase(bytes32 jobId) external;
    /// @notice A task group's settled majority agrees with `nodePubkey`'s commit to `round`: a
    /// passed proof on its reputation, and if that is the round an abandoned job left open, the
    /// commit is paid.
    function confirmCommit(bytes32 jobId, uint32 round, bytes32 nodePubkey) external;
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
/// @notice What the verification contracts read of a node in NodeCertRegistry.
interface INodeCertView {
    /// @notice The node's verification offences so far, its stake and whether it is active.
    function standingOf(bytes32 nodePubkey) external view returns (uint32 offences, uint256 stake, bool active);
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
    /// members committed, and whether it is a strict majority of the whole group as it stood in
    /// that round (at least two agreeing; a replaced member and its replacement count once): a
    /// majority of the group cannot be overturned by commits still to come.
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
