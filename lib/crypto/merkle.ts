/**
 * keccak256 Merkle trees over fixed-size chunks, laid out so the Solidity verifier can
 * recompute any root from one chunk and its proof.
 *
 * Scheme (must match the contracts byte for byte):
 * - the input is cut into `chunkSize`-byte chunks; the last chunk keeps its real length;
 *   an empty input is one empty chunk;
 * - `leaf_i = keccak256(0x00 ++ chunk_i)`;
 * - the leaf level is padded to the next power of two with `bytes32(0)` leaves;
 * - `parent = keccak256(0x01 ++ left ++ right)`; a single leaf is its own root;
 * - a proof is the sibling hashes bottom-up; bit `k` of the index says whether the node at
 *   level `k` is a right child (1) or a left child (0).
 *
 * @module
 */
import { bytesToHex, type Hex, hexToBytes, keccak256Concat } from "./digest.ts";

/** Default chunk size in bytes. */
export const MERKLE_CHUNK_SIZE = 4096;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);
const ZERO = new Uint8Array(32);

/**
 * The leaf hash of one chunk: `keccak256(0x00 ++ chunk)`.
 *
 * @example
 * ```ts
 * import { chunkLeaf } from "./merkle.ts";
 * console.assert(chunkLeaf(new Uint8Array()).length === 66);
 * ```
 */
export function chunkLeaf(chunk: Uint8Array): Hex {
  return bytesToHex(leafBytes(chunk));
}

/**
 * Merkle root of `bytes` cut into `chunkSize`-byte chunks.
 *
 * @example
 * ```ts
 * import { chunkLeaf, merkleRoot } from "./merkle.ts";
 * const data = new Uint8Array(10);
 * console.assert(merkleRoot(data) === chunkLeaf(data)); // one chunk: root = leaf
 * ```
 */
export function merkleRoot(bytes: Uint8Array, chunkSize: number = MERKLE_CHUNK_SIZE): Hex {
  const levels = buildLevels(leaves(bytes, chunkSize));
  return bytesToHex(levels[levels.length - 1]![0]!);
}

/**
 * Number of chunks (leaves before padding) of an input of `byteLength` bytes.
 *
 * @example
 * ```ts
 * import { chunkCount } from "./merkle.ts";
 * console.assert(chunkCount(0) === 1 && chunkCount(4097) === 2);
 * ```
 */
export function chunkCount(byteLength: number, chunkSize: number = MERKLE_CHUNK_SIZE): number {
  checkChunkSize(chunkSize);
  return Math.max(1, Math.ceil(byteLength / chunkSize));
}

/**
 * The proof that chunk `index` of `bytes` is in {@link merkleRoot}`(bytes, chunkSize)`:
 * sibling hashes from the leaf level up.
 *
 * @throws {RangeError} when `index` is not a chunk of `bytes`
 * @example
 * ```ts
 * import { chunkLeaf, merkleProof, merkleRoot, verifyMerkleProof } from "./merkle.ts";
 * const data = new Uint8Array(10_000);
 * const proof = merkleProof(data, 2);
 * const leaf = chunkLeaf(data.subarray(8192));
 * console.assert(verifyMerkleProof(merkleRoot(data), leaf, 2, proof));
 * ```
 */
export function merkleProof(
  bytes: Uint8Array,
  index: number,
  chunkSize: number = MERKLE_CHUNK_SIZE,
): Hex[] {
  const count = chunkCount(bytes.length, chunkSize);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`Cannot build Merkle proof: index ${index} is not in [0, ${count})`);
  }
  const levels = buildLevels(leaves(bytes, chunkSize));
  const proof: Hex[] = [];
  let i = index;
  for (let level = 0; level < levels.length - 1; level++) {
    proof.push(bytesToHex(levels[level]![i ^ 1]!));
    i >>= 1;
  }
  return proof;
}

/**
 * Checks that `leaf` sits at `index` under `root`. Rejects an index with bits above the
 * proof depth, so one proof cannot stand for two positions.
 *
 * @example
 * ```ts
 * import { chunkLeaf, merkleProof, merkleRoot, verifyMerkleProof } from "./merkle.ts";
 * const data = Uint8Array.from({ length: 9000 }, (_, i) => i % 251);
 * const leaf = chunkLeaf(data.subarray(0, 4096));
 * console.assert(verifyMerkleProof(merkleRoot(data), leaf, 0, merkleProof(data, 0)));
 * console.assert(!verifyMerkleProof(merkleRoot(data), leaf, 1, merkleProof(data, 0)));
 * ```
 */
export function verifyMerkleProof(root: Hex, leaf: Hex, index: number, proof: Hex[]): boolean {
  if (!Number.isInteger(index) || index < 0 || index >= 2 ** proof.length) return false;
  let node = hexToBytes(leaf);
  if (node.length !== 32) return false;
  let i = index;
  for (const siblingHex of proof) {
    const sibling = hexToBytes(siblingHex);
    if (sibling.length !== 32) return false;
    node = (i & 1) === 0 ? parent(node, sibling) : parent(sibling, node);
    i >>= 1;
  }
  return bytesToHex(node) === root.toLowerCase();
}

function checkChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`Cannot chunk bytes: chunk size ${chunkSize} is not a positive integer`);
  }
}

function leafBytes(chunk: Uint8Array): Uint8Array<ArrayBuffer> {
  return keccak256Concat(LEAF_PREFIX, chunk);
}

function parent(left: Uint8Array, right: Uint8Array): Uint8Array<ArrayBuffer> {
  return keccak256Concat(NODE_PREFIX, left, right);
}

function leaves(bytes: Uint8Array, chunkSize: number): Uint8Array[] {
  const count = chunkCount(bytes.length, chunkSize);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    out.push(leafBytes(bytes.subarray(i * chunkSize, (i + 1) * chunkSize)));
  }
  return out;
}

/** Levels from the padded leaves (index 0) to the root (last, one node). */
function buildLevels(leafLevel: Uint8Array[]): Uint8Array[][] {
  let width = 1;
  while (width < leafLevel.length) width *= 2;
  const padded = leafLevel.slice();
  while (padded.length < width) padded.push(ZERO);
  const levels = [padded];
  let level = padded;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(parent(level[i]!, level[i + 1]!));
    levels.push(next);
    level = next;
  }
  return levels;
}
