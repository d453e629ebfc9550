// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IProofOfCompute
/// @notice What the job manager tells ProofOfCompute about assignments.
interface IProofOfCompute {
    /// @notice Lets `operator` commit proofs for `nodePubkey` on `jobId`, for rounds below `rounds`.
    function authorize(bytes32 jobId, bytes32 nodePubkey, address operator, uint32 rounds) external;

    /// @notice Stops `operator` committing for `nodePubkey` on `jobId`; past work still counts.
    function deauthorize(bytes32 jobId, bytes32 nodePubkey, address operator) external;
}
