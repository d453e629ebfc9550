// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title INodeCertRegistry
/// @notice What other ArthaTrain contracts need from the node registry.
interface INodeCertRegistry {
    /// @notice Node roles, in increasing stake tier order.
    enum NodeRole {
        Basic,
        GPUProvider,
        TEE,
        Priority
    }

    /// @notice Why stake was taken from a node.
    enum SlashReason {
        MissedHeartbeats,
        FailedVerification,
        FakeGradients,
        Cheating,
        FailedJob
    }

    /// @notice The operator account of `nodePubkey`, or the zero address if unknown.
    function operatorOf(bytes32 nodePubkey) external view returns (address);

    /// @notice The node keys `operator` registered, in order (deactivated ones included).
    function nodesOf(address operator) external view returns (bytes32[] memory);

    /// @notice Whether `nodePubkey` is active and may take compute work.
    function isComputeEligible(bytes32 nodePubkey) external view returns (bool);

    /// @notice Whether `nodePubkey` is active and heartbeated within the last interval.
    function isLive(bytes32 nodePubkey) external view returns (bool);

    /// @notice The node's stake now (zero once withdrawn or slashed away).
    function stakeOf(bytes32 nodePubkey) external view returns (uint256);

    /// @notice Slashes `bps` basis points of the node's current stake; slashed stake is burned
    /// (it stays in the registry and nobody can withdraw it).
    function slashBps(bytes32 nodePubkey, uint256 bps, SlashReason reason, bool deactivate)
        external
        returns (uint256 amount);
}
