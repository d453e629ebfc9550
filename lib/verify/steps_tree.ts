/**
 * The per-step weights digests s_0..s_N of a round as a Merkle tree of 32-byte chunks (the
 * lib/crypto/merkle.ts scheme), the root a dispute party commits to before bisection.
 *
 * @example
 * ```ts
 * import { stepsProof, stepsRoot } from "./steps_tree.ts";
 * import { chunkLeaf, verifyMerkleProof } from "../crypto/merkle.ts";
 * import { hexToBytes } from "../crypto/digest.ts";
 * const d = [1, 2, 3].map((i) => `0x${String(i).repeat(64)}` as const);
 * console.assert(verifyMerkleProof(stepsRoot(d), chunkLeaf(hexToBytes(d[2]!)), 2, stepsProof(d, 2)));
 * ```
 */
import type { Hex } from "viem";
import { concatBytes, hexToBytes } from "../crypto/digest.ts";
import { merkleProof, merkleRoot } from "../crypto/merkle.ts";

const bytesOf = (digests: Hex[]) => concatBytes(...digests.map((d) => hexToBytes(d)));

/** Root over the step digests. */
export function stepsRoot(digests: Hex[]): Hex {
  if (digests.length === 0) throw new RangeError("Cannot build steps root: no digests");
  return merkleRoot(bytesOf(digests), 32);
}

/** Opening of digest `index`. */
export function stepsProof(digests: Hex[], index: number): Hex[] {
  return merkleProof(bytesOf(digests), index, 32);
}
