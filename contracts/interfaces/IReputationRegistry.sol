// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IReputationRegistry
/// @notice What other ArthaTrain contracts report to the reputation registry.
interface IReputationRegistry {
    /// @notice Records one deal (an assigned task) and whether it succeeded.
    function recordDeal(bytes32 nodePubkey, bool success) external;
    /// @notice Records one verified or failed proof.
    function recordProof(bytes32 nodePubkey, bool passed) external;
    /// @notice Records a finished or failed job.
    function recordJob(bytes32 nodePubkey, bool completed) external;
    /// @notice Records a slash (resets the slash-free epoch streak).
    function recordSlash(bytes32 nodePubkey) external;
    /// @notice Records a protocol violation that did not (yet) cost stake.
    function recordViolation(bytes32 nodePubkey) external;
}
