import assert from "node:assert/strict";
import { keccak_256 } from "@noble/hashes/sha3.js";
import {
  bytesToHex,
  concatBytes,
  digestHex,
  equalBytes,
  hexToBytes,
  keccak256,
  keccak256Concat,
} from "../../../lib/crypto/digest.ts";
import { randomBytes } from "../_helpers.ts";

Deno.test("keccak256 (WASM) equals @noble/hashes keccak_256 on many sizes", () => {
  for (const size of [0, 1, 135, 136, 137, 4096, 4097, 100_003]) {
    // Prepare
    const data = randomBytes(size, size + 3);
    // Execute / Assert
    assert.deepEqual(keccak256(data), keccak_256(data), `size ${size}`);
    assert.deepEqual(
      keccak256Concat(data.subarray(0, size >> 1), data.subarray(size >> 1)),
      keccak_256(data),
    );
  }
  assert.equal(
    digestHex(new TextEncoder().encode("abc")),
    "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
  );
});

Deno.test("hex helpers round-trip and reject malformed hex", () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(hexToBytes(bytesToHex(bytes)), bytes);
  assert.deepEqual(hexToBytes("0xABcd"), new Uint8Array([0xab, 0xcd]));
  for (const bad of ["abcd", "0xabc", "0xzz", ""]) assert.throws(() => hexToBytes(bad), TypeError);
  assert.deepEqual(
    concatBytes(new Uint8Array([1]), new Uint8Array(), new Uint8Array([2])),
    new Uint8Array([1, 2]),
  );
  assert.ok(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.ok(!equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  assert.ok(!equalBytes(new Uint8Array([1]), new Uint8Array([1, 2])));
});
