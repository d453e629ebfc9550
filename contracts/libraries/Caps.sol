// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Caps
/// @notice Decodes the capability word of a node. Layout (design doc, "Node Registration"):
/// bit 0 hasGPU, bit 1 hasTEE, bits 8-39 diskGB, bits 40-71 bandwidthMbps,
/// bits 72-103 computeUnits. Bits are counted from the least significant end of the word.
library Caps {
    uint256 internal constant HAS_GPU_BIT = 0;
    uint256 internal constant HAS_TEE_BIT = 1;
    uint256 internal constant DISK_SHIFT = 8;
    uint256 internal constant BANDWIDTH_SHIFT = 40;
    uint256 internal constant COMPUTE_SHIFT = 72;
    uint256 internal constant U32_MASK = 0xffffffff;

    function hasGPU(bytes32 caps) internal pure returns (bool) {
        return (uint256(caps) >> HAS_GPU_BIT) & 1 == 1;
    }

    function hasTEE(bytes32 caps) internal pure returns (bool) {
        return (uint256(caps) >> HAS_TEE_BIT) & 1 == 1;
    }

    function diskGB(bytes32 caps) internal pure returns (uint32) {
        return uint32((uint256(caps) >> DISK_SHIFT) & U32_MASK);
    }

    function bandwidthMbps(bytes32 caps) internal pure returns (uint32) {
        return uint32((uint256(caps) >> BANDWIDTH_SHIFT) & U32_MASK);
    }

    function computeUnits(bytes32 caps) internal pure returns (uint32) {
        return uint32((uint256(caps) >> COMPUTE_SHIFT) & U32_MASK);
    }
}
