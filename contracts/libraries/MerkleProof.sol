// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title MerkleProof
/// @notice Verifies openings of the keccak256 chunk trees of lib/merkle.ts, byte for byte:
/// `leaf = keccak256(0x00 ++ chunk)`, `parent = keccak256(0x01 ++ left ++ right)`, the leaf level
/// padded to a power of two with bytes32(0), a proof is the sibling hashes bottom-up and bit k of
/// the index says whether the node at level k is a right child.
/// @dev The 0x00/0x01 prefixes separate leaves from inner nodes, so a proof of one depth can never
/// pass for another: the depth of a valid proof is fixed by the root.
library MerkleProof {
    /// @notice The leaf hash of one chunk.
    function leafOf(bytes calldata chunk) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), chunk));
    }

    /// @notice The leaf hash of a 32-byte chunk (trees over digests, e.g. per-step weights digests).
    function leafOfWord(bytes32 word) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), word));
    }

    /// @notice Whether `leaf` sits at `index` under `root`. Rejects an index with bits above the
    /// proof depth, so one proof cannot stand for two positions (as verifyMerkleProof does).
    function verify(bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        internal
        pure
        returns (bool)
    {
        uint256 depth = proof.length;
        if (depth < 256 && index >> depth != 0) return false;
        bytes32 node = leaf;
        for (uint256 k = 0; k < depth; ++k) {
            bytes32 sibling = proof[k];
            node = index & 1 == 0
                ? keccak256(abi.encodePacked(bytes1(0x01), node, sibling))
                : keccak256(abi.encodePacked(bytes1(0x01), sibling, node));
            index >>= 1;
        }
        return node == root;
    }
}
