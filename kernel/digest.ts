/**
 * keccak256 digests of tensors, the values workers commit on-chain and validators recompute.
 * Bytes are the little-endian f32 words (the typed-array layout on every supported platform),
 * with every NaN rewritten to {@link CANONICAL_NAN_BITS}: wasm leaves the sign and payload of a
 * NaN it produces to the CPU (x86 gives 0xffc00000, ARM64 0x7fc00000), so hashing raw NaN bits
 * made an honest node's digests depend on its CPU type (found in the verification audit).
 * Merkle roots over fixed chunks, for opening single chunks in a challenge, belong to lib/.
 */
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex } from "@noble/hashes/utils.js";

/** The one NaN that is hashed and committed: the positive quiet NaN (ARM64's default NaN). */
export const CANONICAL_NAN_BITS = 0x7fc00000;

/**
 * Rewrites every NaN of `data` in place to {@link CANONICAL_NAN_BITS}; returns how many it found.
 * One read-only scan when there is none (the common case: the scan costs a few percent of the
 * keccak pass it precedes).
 *
 * @example
 * ```ts
 * import { CANONICAL_NAN_BITS, canonicalizeNaN } from "./digest.ts";
 * const a = new Float32Array(new Uint32Array([0xffc00000, 0x3f800000]).buffer);
 * console.assert(canonicalizeNaN(a) === 1 && new Uint32Array(a.buffer)[0] === CANONICAL_NAN_BITS);
 * ```
 */
export function canonicalizeNaN(data: Float32Array): number {
  let found = 0;
  let bits: Uint32Array | undefined;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (x !== x) {
      bits ??= new Uint32Array(data.buffer, data.byteOffset, data.length);
      bits[i] = CANONICAL_NAN_BITS;
      found++;
    }
  }
  return found;
}

/**
 * The bytes of `data` as hashed: a view of it when it holds no NaN, else a copy whose NaNs are
 * {@link CANONICAL_NAN_BITS} (`data` itself is left alone).
 */
export function canonicalF32Bytes(data: Float32Array): Uint8Array {
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (x !== x) {
      const copy = data.slice();
      canonicalizeNaN(copy);
      return new Uint8Array(copy.buffer);
    }
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** 0x-prefixed keccak256 of the bytes of a Float32Array, NaNs canonical. */
export function digestF32(data: Float32Array): string {
  return "0x" + bytesToHex(keccak_256(canonicalF32Bytes(data)));
}

/** Digest of a weight buffer. */
export const digestWeights = (weights: Float32Array): string => digestF32(weights);

/** Digest of a gradient buffer. */
export const digestGrad = (grad: Float32Array): string => digestF32(grad);
