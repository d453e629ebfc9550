// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IAIJobManager
/// @notice What ProofOfCompute needs from the job manager.
interface IAIJobManager {
    /// @notice Life cycle of a job.
    enum JobStatus {
        None,
        Open,
        Running,
        Completed,
        Finalized,
        Cancelled
    }

    /// @notice Reward-relevant facts of a job.
    struct JobTerms {
        address owner;
        JobStatus status;
        uint32 rounds;
        uint256 budget;
        uint256 escrow;
        uint256 baseRatePerSecond;
        uint32 targetImprovementBps;
        uint32 achievedImprovementBps;
        /// @dev The work one committed round stands for, fixed by the job at submission: rewards
        /// are paid for this, never for what a node says it did.
        uint32 stepsPerRound;
        uint32 samplesPerStep;
        uint32 secondsPerStep;
        /// @dev When the last round closed or the owner abandoned the job (0 while running);
        /// settlement waits a delay after it.
        uint64 completedAt;
    }

    /// @notice What the dispute game needs of a job: its status, open round, the steps one round
    /// has, and the digest of the last anchored checkpoint.
    struct RoundInfo {
        JobStatus status;
        uint32 currentRound;
        uint32 stepsPerRound;
        bytes32 latestWeightsDigest;
    }

    /// @notice Round facts of `jobId` (see RoundInfo).
    function roundInfo(bytes32 jobId) external view returns (RoundInfo memory);

    /// @notice Reward-relevant facts of `jobId`.
    function termsOf(bytes32 jobId) external view returns (JobTerms memory);

    /// @notice Every node ever assigned to `jobId`, reassigned ones included.
    function nodesOf(bytes32 jobId) external view returns (bytes32[] memory);

    /// @notice How many nodes were ever assigned to `jobId` (the length of nodesOf).
    function nodeCount(bytes32 jobId) external view returns (uint256);

    /// @notice The `index`-th node ever assigned to `jobId` (nodesOf(jobId)[index]), so a caller
    /// walking a large job pays per node read, not for the whole list each time.
    function nodeAt(bytes32 jobId, uint256 index) external view returns (bytes32);

    /// @notice Whether `nodePubkey` currently holds a task of `jobId` (false once reassigned away).
    function isAssigned(bytes32 jobId, bytes32 nodePubkey) external view returns (bool);

    /// @notice The operator that was assigned `nodePubkey` for `jobId`.
    function assignedOperator(bytes32 jobId, bytes32 nodePubkey) external view returns (address);

    /// @notice Moves `amount` of the job's escrow to `to`'s withdrawable balance.
    function credit(bytes32 jobId, address to, uint256 amount) external;

    /// @notice Marks the job finalized and returns the unspent escrow to its owner.
    function markFinalized(bytes32 jobId) external returns (uint256 refund);
}
