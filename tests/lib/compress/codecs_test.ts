import assert from "node:assert/strict";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex } from "../../../lib/crypto/digest.ts";
import { merkleRoot } from "../../../lib/crypto/merkle.ts";
import { gaussianDelta } from "../_helpers.ts";
import {
  type Codec,
  commitPayload,
  createErrorFeedback,
  HEADER_BYTES,
} from "../../../lib/compress/codec.ts";
import { fp32Codec } from "../../../lib/compress/fp32.ts";
import { int8Codec } from "../../../lib/compress/quantize_int8.ts";
import { int4Codec } from "../../../lib/compress/quantize_int4.ts";
import { topKCodec } from "../../../lib/compress/top_k.ts";
import { topKInt8Codec } from "../../../lib/compress/top_k_int8.ts";
import { decodePayload } from "../../../lib/compress/payload.ts";

/** Max |x - y| within each block of `blockSize`, divided by that block's absmax. */
function maxRelBlockError(x: Float32Array, y: Float32Array, blockSize: number): number {
  let worst = 0;
  for (let b = 0; b < x.length; b += blockSize) {
    let absmax = 0;
    let err = 0;
    for (let i = b; i < Math.min(x.length, b + blockSize); i++) {
      absmax = Math.max(absmax, Math.abs(x[i]!));
      err = Math.max(err, Math.abs(x[i]! - y[i]!));
    }
    if (absmax > 0) worst = Math.max(worst, err / absmax);
  }
  return worst;
}

Deno.test("fp32 codec round-trips exactly", () => {
  const delta = gaussianDelta(1001, 1);
  const codec = fp32Codec();
  const { bytes } = codec.encode(delta);
  assert.equal(bytes.length, HEADER_BYTES + 4 * delta.length);
  assert.deepEqual(codec.decode(bytes, delta.length), delta);
});

Deno.test("int8 blockwise error is at most absmax/254 per block, ~3.8x smaller", () => {
  const delta = gaussianDelta(10_000, 2);
  delta[17] = 0.5; // an outlier only hurts its own block
  const codec = int8Codec({ blockSize: 64 });
  const { bytes } = codec.encode(delta);
  const out = codec.decode(bytes, delta.length);
  assert.ok(maxRelBlockError(delta, out, 64) <= 1 / 254 + 1e-6);
  const ratio = (4 * delta.length) / bytes.length;
  assert.ok(ratio > 3.7 && ratio < 4, `ratio ${ratio}`);
});

Deno.test("int4 blockwise error is at most absmax/14 per block, ~7x smaller, odd length", () => {
  const delta = gaussianDelta(10_001, 3);
  const codec = int4Codec({ blockSize: 64 });
  const { bytes } = codec.encode(delta);
  const out = codec.decode(bytes, delta.length);
  assert.ok(maxRelBlockError(delta, out, 64) <= 1 / 14 + 1e-6);
  assert.ok((4 * delta.length) / bytes.length > 7);
});

Deno.test("stochastic rounding is seeded and unbiased", () => {
  const delta = new Float32Array(20_000).fill(0.3);
  delta[0] = 1; // absmax 1: 0.3 sits between int4 codes 2/7 and 3/7
  const a = int4Codec({ rounding: "stochastic", seed: 5, blockSize: 20_000 });
  const b = int4Codec({ rounding: "stochastic", seed: 5, blockSize: 20_000 });
  const bytesA = a.encode(delta).bytes;
  assert.deepEqual(bytesA, b.encode(delta).bytes);
  const out = a.decode(bytesA, delta.length);
  let mean = 0;
  for (let i = 1; i < out.length; i++) mean += out[i]! / (out.length - 1);
  assert.ok(Math.abs(mean - 0.3) < 0.005, `mean ${mean}`); // nearest would give 2/7 = 0.286
});

Deno.test("top-k keeps exactly the k largest magnitudes", () => {
  const delta = new Float32Array([0.1, -5, 0.2, 3, -0.05, 4]);
  const codec = topKCodec({ k: 3 });
  const out = codec.decode(codec.encode(delta).bytes, delta.length);
  assert.deepEqual(Array.from(out), [0, -5, 0, 3, 0, 4]);
});

Deno.test("top-k + int8 at 1% density is >= 100x smaller than fp32", () => {
  const delta = gaussianDelta(200_000, 4);
  const codec = topKInt8Codec({ fraction: 0.01 });
  const { bytes } = codec.encode(delta, createErrorFeedback(delta.length));
  const ratio = (4 * delta.length) / bytes.length;
  console.log(`topk-int8 1%: ${bytes.length} bytes, ${ratio.toFixed(1)}x fewer than fp32`);
  assert.ok(ratio >= 100, `ratio ${ratio}`);
  const out = codec.decode(bytes, delta.length);
  let nonzero = 0;
  for (const x of out) if (x !== 0) nonzero++;
  assert.ok(nonzero <= 2000 && nonzero > 1900);
});

Deno.test("error feedback: sum of transmitted + residual equals sum of inputs", () => {
  const codecs: Codec[] = [
    topKCodec({ fraction: 0.05 }),
    topKInt8Codec({ fraction: 0.05, blockSize: 16 }),
    int4Codec(),
    int8Codec({ rounding: "stochastic", seed: 1 }),
  ];
  for (const codec of codecs) {
    // Prepare
    const length = 2000;
    const state = createErrorFeedback(length);
    const inputs = new Float64Array(length);
    const sent = new Float64Array(length);
    // Execute: 10 rounds
    for (let round = 0; round < 10; round++) {
      const delta = gaussianDelta(length, 100 + round);
      for (let i = 0; i < length; i++) inputs[i]! += delta[i]!;
      const out = codec.decode(codec.encode(delta, state).bytes, length);
      for (let i = 0; i < length; i++) sent[i]! += out[i]!;
    }
    // Assert
    for (let i = 0; i < length; i++) {
      const gap = Math.abs(sent[i]! + state.residual[i]! - inputs[i]!);
      assert.ok(gap < 1e-8, `${codec.name}: coordinate ${i} off by ${gap}`);
    }
  }
});

Deno.test("error feedback eventually sends small coordinates", () => {
  const codec = topKCodec({ k: 1 });
  const state = createErrorFeedback(2);
  const sent = [0, 0];
  for (let r = 0; r < 10; r++) {
    const out = codec.decode(codec.encode(new Float32Array([1, 0.3]), state).bytes, 2);
    sent[0]! += out[0]!;
    sent[1]! += out[1]!;
  }
  assert.ok(sent[1]! > 1.5, `small coordinate sent ${sent[1]}`);
});

Deno.test("decodePayload dispatches on the header's codec id", () => {
  const delta = gaussianDelta(300, 6);
  for (const codec of [fp32Codec(), int8Codec(), int4Codec(), topKCodec(), topKInt8Codec()]) {
    const { bytes } = codec.encode(delta);
    assert.deepEqual(decodePayload(bytes, delta.length), codec.decode(bytes, delta.length));
  }
});

Deno.test("payload commitment is keccak256 + lib/merkle root of the sent bytes", () => {
  const { bytes } = topKInt8Codec().encode(gaussianDelta(1_000_000, 7));
  const c = commitPayload(bytes);
  assert.equal(c.digest, bytesToHex(keccak_256(bytes)));
  assert.equal(c.merkleRoot, merkleRoot(bytes));
  assert.equal(c.byteLength, bytes.length);
});

Deno.test("encode refuses non-finite values", () => {
  assert.throws(() => int8Codec().encode(new Float32Array([1, NaN])), RangeError);
  assert.throws(() => topKCodec().encode(new Float32Array([Infinity])), /not finite/);
});
