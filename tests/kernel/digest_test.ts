import assert from "node:assert/strict";
import {
  CANONICAL_NAN_BITS,
  canonicalizeNaN,
  digestF32,
  digestGrad,
  digestWeights,
} from "../../kernel/digest.ts";

Deno.test("digestF32 is keccak256 of the little-endian f32 bytes, view-offset independent", () => {
  // keccak256 of the empty string (Ethereum's well-known constant).
  assert.equal(
    digestF32(new Float32Array(0)),
    "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
  );
  const whole = Float32Array.from([0, 1.5, -2, 3]);
  assert.equal(digestF32(whole.subarray(1, 3)), digestF32(Float32Array.from([1.5, -2])));
  assert.notEqual(digestF32(Float32Array.from([0])), digestF32(Float32Array.from([-0])));
  assert.equal(digestWeights(whole), digestGrad(whole));
});

Deno.test("every NaN pattern digests as the canonical NaN (x86 and ARM64 NaNs agree)", () => {
  const nan = (bits: number) => new Float32Array(new Uint32Array([bits, 0x3f800000]).buffer);
  const x86 = nan(0xffc00000);
  const arm = nan(0x7fc00000);
  assert.equal(digestF32(x86), digestF32(arm));
  assert.equal(digestF32(nan(0x7f800001)), digestF32(arm)); // a signalling payload too
  assert.equal(new Uint32Array(x86.buffer)[0], 0xffc00000); // digestF32 leaves its input alone
  assert.equal(canonicalizeNaN(x86), 1);
  assert.deepEqual(new Uint32Array(x86.buffer), new Uint32Array([CANONICAL_NAN_BITS, 0x3f800000]));
  assert.notEqual(digestF32(Float32Array.from([Infinity])), digestF32(Float32Array.from([NaN])));
});
