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
    }

    /// @notice Reward-relevant facts of `jobId`.
    function termsOf(bytes32 jobId) external view returns (JobTerms memory);

    /// @notice Every node ever assigned to `jobId`, reassigned ones included.
    function nodesOf(bytes32 jobId) external view returns (bytes32[] memory);

    /// @notice The operator that was assigned `nodePubkey` for `jobId`.
    function assignedOperator(bytes32 jobId, bytes32 nodePubkey) external view returns (address);

    /// @notice Moves `amount` of the job's escrow to `to`'s withdrawable balance.
    function credit(bytes32 jobId, address to, uint256 amount) external;

    /// @notice Marks the job finalized and returns the unspent escrow to its owner.
    function markFinalized(bytes32 jobId) external returns (uint256 refund);
}
