// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IProofOfCompute
/// @notice What the job manager tells ProofOfCompute about assignments.
interface IProofOfCompute {
    /// @notice Lets `operator` commit proofs for `nodePubkey` on `jobId`: one per open round, for
    /// rounds below `rounds`.
    function authorize(bytes32 jobId, bytes32 nodePubkey, address operator, uint32 rounds) external;

    /// @notice Stops `operator` committing for `nodePubkey` on `jobId`; past work still counts.
    function deauthorize(bytes32 jobId, bytes32 nodePubkey, address operator) external;

    /// @notice Closes `round` of `jobId` for commits: from now on only round + 1 may be committed.
    /// Called by the job manager when it accepts the round's aggregate.
    function roundClosed(bytes32 jobId, uint32 round) external;

    /// @notice Stops every commit to `jobId` and closes the round it left open: its owner
    /// abandoned it, so no commit made from now on could be judged, and the commits already made
    /// to that round are judged as a closed round's (paid where a task group's majority confirms
    /// them).
    function sealCommits(bytes32 jobId) external;
}
