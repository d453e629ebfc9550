/**
 * keccak256 digests of tensors, the values workers commit on-chain and validators recompute.
 * Bytes are the little-endian f32 words (the typed-array layout on every supported platform).
 * Merkle roots over fixed chunks, for opening single chunks in a challenge, belong to lib/.
 */
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex } from "@noble/hashes/utils.js";

/** 0x-prefixed keccak256 of the raw bytes of a Float32Array. */
export function digestF32(data: Float32Array): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return "0x" + bytesToHex(keccak_256(bytes));
}

/** Digest of a weight buffer. */
export const digestWeights = (weights: Float32Array): string => digestF32(weights);

/** Digest of a gradient buffer. */
export const digestGrad = (grad: Float32Array): string => digestF32(grad);
