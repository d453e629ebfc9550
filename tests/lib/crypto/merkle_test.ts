import assert from "node:assert/strict";
import { keccak256 as viemKeccak } from "viem";
import {
  chunkCount,
  chunkLeaf,
  merkleProof,
  merkleRoot,
  verifyMerkleProof,
} from "../../../lib/crypto/merkle.ts";
import { bytesToHex, concatBytes, type Hex, hexToBytes } from "../../../lib/crypto/digest.ts";

/** Naive reference written from the spec, with viem's keccak. */
function referenceRoot(bytes: Uint8Array, chunkSize: number): Hex {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.slice(i, i + chunkSize));
  if (chunks.length === 0) chunks.push(new Uint8Array());
  let level: Hex[] = chunks.map((c) => viemKeccak(concatBytes(new Uint8Array([0]), c)));
  while ((level.length & (level.length - 1)) !== 0) level.push(`0x${"00".repeat(32)}`);
  while (level.length > 1) {
    const next: Hex[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(
        viemKeccak(
          concatBytes(new Uint8Array([1]), hexToBytes(level[i]!), hexToBytes(level[i + 1]!)),
        ),
      );
    }
    level = next;
  }
  return level[0]!;
}

Deno.test("merkleRoot of empty input is keccak256(0x00)", () => {
  // Execute
  const root = merkleRoot(new Uint8Array());
  // Assert
  assert.equal(root, viemKeccak(new Uint8Array([0])));
  assert.equal(root, chunkLeaf(new Uint8Array()));
  assert.equal(chunkCount(0), 1);
});

Deno.test("merkleRoot matches the naive reference for sizes around chunk boundaries", () => {
  // Prepare
  const data = crypto.getRandomValues(new Uint8Array(5 * 4096 + 17));
  const sizes = [1, 4095, 4096, 4097, 8192, 3 * 4096, 3 * 4096 + 1, 5 * 4096 + 17];
  for (const size of sizes) {
    // Execute
    const bytes = data.subarray(0, size);
    // Assert
    assert.equal(merkleRoot(bytes), referenceRoot(bytes, 4096), `size ${size}`);
  }
  assert.equal(merkleRoot(data, 1000), referenceRoot(data, 1000));
});

Deno.test("merkleRoot fixed vectors (shared with the Solidity verifier tests)", () => {
  // Prepare: bytes 0..9, chunk size 4 -> chunks [0..3], [4..7], [8,9]; 4 leaves after padding
  const bytes = Uint8Array.from({ length: 10 }, (_, i) => i);
  // Execute
  const root = merkleRoot(bytes, 4);
  const l0 = viemKeccak(new Uint8Array([0, 0, 1, 2, 3]));
  const l1 = viemKeccak(new Uint8Array([0, 4, 5, 6, 7]));
  const l2 = viemKeccak(new Uint8Array([0, 8, 9]));
  const zero = new Uint8Array(32);
  const n0 = viemKeccak(concatBytes(new Uint8Array([1]), hexToBytes(l0), hexToBytes(l1)));
  const n1 = viemKeccak(concatBytes(new Uint8Array([1]), hexToBytes(l2), zero));
  // Assert
  assert.equal(root, viemKeccak(concatBytes(new Uint8Array([1]), hexToBytes(n0), hexToBytes(n1))));
  assert.deepEqual(merkleProof(bytes, 2, 4), [bytesToHex(zero), n0]);
});

Deno.test("every chunk's proof verifies, and only at its own index", () => {
  // Prepare
  const chunk = 64;
  const data = crypto.getRandomValues(new Uint8Array(chunk * 6 + 5)); // 7 chunks -> 8 leaves
  const root = merkleRoot(data, chunk);
  for (let i = 0; i < 7; i++) {
    // Execute
    const proof = merkleProof(data, i, chunk);
    const leaf = chunkLeaf(data.subarray(i * chunk, (i + 1) * chunk));
    // Assert
    assert.equal(proof.length, 3);
    assert.ok(verifyMerkleProof(root, leaf, i, proof), `index ${i}`);
    assert.ok(!verifyMerkleProof(root, leaf, i ^ 1, proof));
    assert.ok(!verifyMerkleProof(root, leaf, i + 8, proof), "index bits above depth");
  }
});

Deno.test("verifyMerkleProof rejects tampered chunks, siblings and roots", () => {
  // Prepare
  const data = crypto.getRandomValues(new Uint8Array(4096 * 4));
  const root = merkleRoot(data);
  const proof = merkleProof(data, 1);
  const chunk = data.slice(4096, 8192);
  chunk[5]! ^= 1;
  const badProof = [...proof];
  badProof[1] = `0x${"11".repeat(32)}`;
  const leaf = chunkLeaf(data.subarray(4096, 8192));
  // Execute / Assert
  assert.ok(verifyMerkleProof(root, leaf, 1, proof));
  assert.ok(!verifyMerkleProof(root, chunkLeaf(chunk), 1, proof));
  assert.ok(!verifyMerkleProof(root, leaf, 1, badProof));
  assert.ok(!verifyMerkleProof(merkleRoot(chunk), leaf, 1, proof));
  assert.ok(!verifyMerkleProof(root, leaf, 1, proof.slice(1)));
  assert.throws(() => merkleProof(data, 4), RangeError);
  assert.throws(() => merkleRoot(data, 0), RangeError);
});
