/**
 * Chunk openings for challenges and gradient sampling: which chunks of a committed update the
 * chain asks for (VerificationManager.chunkIndex), and the chunks with their Merkle proofs
 * (lib/crypto/merkle.ts scheme) that answer it. An index in the padding of the tree opens the zero leaf
 * with an empty chunk, so a challenge never asks an honest node for something it cannot give.
 *
 * @example
 * ```ts
 * import { challengeIndices, openChunks, treeDepth } from "./chunk_openings.ts";
 * import { chunkLeaf, merkleRoot, verifyMerkleProof } from "../crypto/merkle.ts";
 * import { hexToBytes } from "../crypto/digest.ts";
 * const bytes = new Uint8Array(4 * 4096).fill(3);
 * const seed = `0x${"ab".repeat(32)}` as const;
 * const o = openChunks(bytes, seed, 2);
 * console.assert(treeDepth(bytes.length) === 2);
 * console.assert(o.indices.join() === challengeIndices(seed, 2, 2).join());
 * const leaf = chunkLeaf(hexToBytes(o.chunks[0]!));
 * console.assert(verifyMerkleProof(merkleRoot(bytes), leaf, o.indices[0]!, o.proofs[0]!));
 * ```
 */
import { encodeAbiParameters, type Hex, keccak256 } from "viem";
import { bytesToHex, keccak256Concat } from "../crypto/digest.ts";
import { chunkCount, MERKLE_CHUNK_SIZE } from "../crypto/merkle.ts";

const ZERO = new Uint8Array(32);

/** Depth of the Merkle tree of an input of `byteLength` bytes (0 for one chunk). */
export function treeDepth(byteLength: number, chunkSize: number = MERKLE_CHUNK_SIZE): number {
  let depth = 0;
  while (2 ** depth < chunkCount(byteLength, chunkSize)) depth++;
  return depth;
}

/** The chunk indices a challenge with `seed` asks for, as VerificationManager.chunkIndex. */
export function challengeIndices(seed: Hex, count: number, depth: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < count; j++) {
    const h = BigInt(
      keccak256(encodeAbiParameters([{ type: "bytes32" }, { type: "uint256" }], [seed, BigInt(j)])),
    );
    out.push(Number(h % (1n << BigInt(depth))));
  }
  return out;
}

/** The openings that answer a challenge: chunk bytes (hex, "0x" for padding) and proofs. */
export interface ChunkOpenings {
  indices: number[];
  chunks: Hex[];
  proofs: Hex[][];
}

/** Opens the chunks of `bytes` a challenge with `seed` and `count` asks for. */
export function openChunks(
  bytes: Uint8Array,
  seed: Hex,
  count: number,
  chunkSize: number = MERKLE_CHUNK_SIZE,
): ChunkOpenings {
  const levels = buildLevels(bytes, chunkSize);
  const depth = levels.length - 1;
  const real = chunkCount(bytes.length, chunkSize);
  const indices = challengeIndices(seed, count, depth);
  const chunks = indices.map((i) =>
    i < real ? bytesToHex(bytes.subarray(i * chunkSize, (i + 1) * chunkSize)) : "0x" as Hex
  );
  const proofs = indices.map((index) => {
    const proof: Hex[] = [];
    let i = index;
    for (let level = 0; level < depth; level++) {
      proof.push(bytesToHex(levels[level]![i ^ 1]!));
      i >>= 1;
    }
    return proof;
  });
  return { indices, chunks, proofs };
}

function buildLevels(bytes: Uint8Array, chunkSize: number): Uint8Array[][] {
  const count = chunkCount(bytes.length, chunkSize);
  let width = 1;
  while (width < count) width *= 2;
  const level: Uint8Array[] = [];
  for (let i = 0; i < width; i++) {
    level.push(
      i < count
        ? keccak256Concat(new Uint8Array([0]), bytes.subarray(i * chunkSize, (i + 1) * chunkSize))
        : ZERO,
    );
  }
  const levels = [level];
  let cur = level;
  while (cur.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < cur.length; i += 2) {
      next.push(keccak256Concat(new Uint8Array([1]), cur[i]!, cur[i + 1]!));
    }
    levels.push(next);
    cur = next;
  }
  return levels;
}
