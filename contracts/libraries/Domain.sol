// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Domain
/// @notice The one EIP-712 domain of every message an ArthaTrain party signs (node bindings,
/// hardware attestations, DID key proofs, per-step TrainProofs): name "ArthaTrain", version "1",
/// the chain id and the contract that checks the signature. A signature made for one deployment or
/// chain therefore never verifies for another (lib/domain.ts computes the same digests with viem's
/// hashTypedData).
library Domain {
    /// @notice keccak256 of the EIP-712 domain type.
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @notice keccak256("ArthaTrain").
    bytes32 internal constant NAME_HASH = keccak256("ArthaTrain");
    /// @notice keccak256("1"): bump with any change to a signed message's layout.
    bytes32 internal constant VERSION_HASH = keccak256("1");

    /// @notice The domain separator of `verifyingContract` on the current chain.
    function separator(address verifyingContract) internal view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, verifyingContract));
    }

    /// @notice The EIP-712 digest of a struct hash under `verifyingContract`'s domain.
    function digest(address verifyingContract, bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", separator(verifyingContract), structHash));
    }
}
