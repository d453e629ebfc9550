import assert from "node:assert/strict";
import { digestF32, digestGrad, digestWeights } from "../../kernel/digest.ts";

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
