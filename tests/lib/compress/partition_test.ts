import assert from "node:assert/strict";
import { gaussianDelta } from "../_helpers.ts";
import {
  createErrorFeedback,
  HEADER_BYTES,
  InvalidPayloadError,
} from "../../../lib/compress/codec.ts";
import {
  partIndices,
  partitionCodec,
  partitionSeed,
  readPartitionHeader,
  rebalancePartitionMean,
  THRESHOLD,
} from "../../../lib/compress/partition.ts";
import { decodePayload } from "../../../lib/compress/payload.ts";

Deno.test("partition: the parts of a round cover every coordinate exactly once", () => {
  const n = 10_007;
  for (const parts of [2, 3, 8, 16]) {
    const seen = new Uint8Array(n);
    for (let p = 0; p < parts; p++) {
      const idx = partIndices(n, partitionSeed(5, 2), parts, p);
      for (let j = 1; j < idx.length; j++) assert.ok(idx[j]! > idx[j - 1]!, "ascending");
      for (const i of idx) seen[i]!++;
      // Balanced to within 5 standard deviations of a binomial.
      const sd = Math.sqrt(n * (1 / parts) * (1 - 1 / parts));
      assert.ok(Math.abs(idx.length - n / parts) < 5 * sd, `part ${p}/${parts}: ${idx.length}`);
    }
    assert.ok(seen.every((c) => c === 1), `${parts} parts`);
  }
  // The partition rotates: a coordinate's part differs between rounds.
  const a = partIndices(n, partitionSeed(5, 0), 8, 0);
  const b = new Set(partIndices(n, partitionSeed(5, 1), 8, 0));
  const shared = [...a].filter((i) => b.has(i)).length;
  assert.ok(shared < a.length / 4, `${shared} of ${a.length} kept their part`);
});

Deno.test("partition: the slots' decoded payloads average back to the delta", () => {
  const n = 4_096;
  const parts = 8;
  const delta = gaussianDelta(n, 3);
  const seed = partitionSeed(11, 0);
  // Eight nodes with the same delta: each coordinate is sent by exactly one of them, so the
  // FedAvg mean of the decoded payloads is the ternary-rounded delta itself.
  const mean = new Float32Array(n);
  for (let slot = 0; slot < parts; slot++) {
    const codec = partitionCodec({ seed, slot, parts });
    const d = decodePayload(codec.encode(delta).bytes, n);
    for (let i = 0; i < n; i++) mean[i]! += d[i]! / parts;
  }
  let err = 0;
  let norm = 0;
  let dot = 0;
  let meanNorm = 0;
  for (let i = 0; i < n; i++) {
    err += (mean[i]! - delta[i]!) ** 2;
    norm += delta[i]! ** 2;
    dot += mean[i]! * delta[i]!;
    meanNorm += mean[i]! ** 2;
  }
  // Ternary rounding of Gaussian blocks: relative squared error ~0.19.
  assert.ok(err / norm < 0.3, `relative squared error ${err / norm}`);
  assert.ok(dot / Math.sqrt(norm * meanNorm) > 0.85, "cosine with the delta");
});

Deno.test("partition: ternary codes: 0 below 0.6 RMS, else the sign times the kept mean", () => {
  const n = 64;
  const parts = 2;
  const delta = gaussianDelta(n * parts * 4, 4);
  const seed = partitionSeed(1, 0);
  const codec = partitionCodec({ seed, slot: 1, parts, blockSize: n });
  const decoded = codec.decode(codec.encode(delta).bytes, delta.length);
  const idx = partIndices(delta.length, seed, parts, 1);
  for (let b = 0; b * n < idx.length; b++) {
    const block = [...idx.subarray(b * n, (b + 1) * n)];
    const rms = Math.sqrt(block.reduce((a, i) => a + delta[i]! ** 2, 0) / block.length);
    const kept = block.filter((i) => Math.abs(delta[i]!) > THRESHOLD * rms);
    const level = kept.reduce((a, i) => a + Math.abs(delta[i]!), 0) / kept.length;
    let err = 0;
    for (const i of block) {
      const want = kept.includes(i) ? Math.sign(delta[i]!) * level : 0;
      assert.ok(Math.abs(decoded[i]! / parts - want) <= 1e-6 * level, `value ${i}`);
      err += (decoded[i]! / parts - delta[i]!) ** 2;
    }
    // Gaussian blocks: ~0.19 of the variance (stochastic rounding to the absmax: ~0.9).
    assert.ok(err / block.length < 0.3 * rms ** 2, `block ${b}: error ${err / block.length}`);
  }
});

Deno.test("partition: >= 100x fewer bytes than fp32, deterministic, state untouched", () => {
  const n = 118_528; // the reference job's GPT
  const delta = gaussianDelta(n, 5);
  const codec = partitionCodec({ seed: partitionSeed(1337, 3), slot: 5, parts: 8 });
  const state = createErrorFeedback(n);
  const a = codec.encode(delta, state).bytes;
  const b = codec.encode(delta).bytes;
  assert.deepEqual(a, b, "a resend has the same bytes");
  assert.ok(state.residual.every((x) => x === 0), "no residual: other nodes send the rest");
  const ratio = (HEADER_BYTES + 4 * n) / a.length;
  assert.ok(ratio >= 100, `ratio ${ratio}`);
  const h = readPartitionHeader(a);
  assert.deepEqual(
    { parts: h.parts, slot: h.slot, seed: h.seed, blockSize: h.blockSize },
    { parts: 8, slot: 5, seed: partitionSeed(1337, 3), blockSize: 64 },
  );
  const decoded = decodePayload(a, n);
  const idx = new Set(partIndices(n, h.seed, 8, 5));
  for (let i = 0; i < n; i += 97) {
    if (!idx.has(i)) assert.equal(decoded[i], 0, "coordinates outside the part decode to 0");
  }
});

Deno.test("partition: malformed payloads and options are refused with reasons", () => {
  const n = 1_000;
  const codec = partitionCodec({ seed: 3, slot: 1, parts: 4 });
  const good = codec.encode(gaussianDelta(n, 6)).bytes;
  const bad = (mutate: (b: Uint8Array) => Uint8Array, reason: RegExp) => {
    assert.throws(() => decodePayload(mutate(good.slice()), n), (e: unknown) => {
      assert.ok(e instanceof InvalidPayloadError, String(e));
      assert.match(e.message, reason);
      return true;
    });
  };
  bad((b) => b.subarray(0, b.length - 1), /header implies/);
  bad((b) => new Uint8Array([...b, 0]), /header implies/);
  bad((b) => (b[HEADER_BYTES + 8]! ^= 1, b), /counts/); // count
  bad((b) => (b[HEADER_BYTES + 4]! ^= 1, b), /counts/); // seed: another part
  bad((b) => (b[HEADER_BYTES]! = 1, b[HEADER_BYTES + 1] = 0, b), /1 parts/);
  bad((b) => (b[b.length - 10] = 250, b), /exceeds 242/);
  bad((b) => (new DataView(b.buffer).setFloat32(HEADER_BYTES + 12, NaN, true), b), /scale/);
  assert.throws(() => decodePayload(good, n + 1), /model expects/);
  // The last byte packs count mod 5 codes; a non-zero spare digit is refused.
  const odd = partitionCodec({ seed: 3, slot: 0, parts: 2 });
  let len = 10;
  while (partIndices(len, 3, 2, 0).length % 5 === 0) len++;
  const tail = odd.encode(new Float32Array(len)).bytes;
  tail[tail.length - 1] = 242;
  assert.throws(() => decodePayload(tail, len), /spare digits/);
  assert.throws(() => partitionCodec({ seed: 1, slot: 0, parts: 1 }), /parts 1/);
  assert.throws(() => partitionCodec({ seed: -1, slot: 0 }), /seed -1/);
  assert.throws(() => partitionCodec({ seed: 1, slot: 1.5 }), /slot 1.5/);
  assert.throws(() => codec.encode(new Float32Array([NaN])), /not finite/);
});

Deno.test("partition: rebalancing makes each coordinate the mean of the nodes that sent it", () => {
  const n = 2_000;
  const parts = 4;
  const seed = partitionSeed(3, 1);
  // Node k's delta is the constant k + 1: the per-coordinate mean of its senders is known.
  const slots = [0, 1, 2, 4, 5]; // part 3 missing, parts 0 and 1 held twice
  const mean = new Float32Array(n);
  const deltas = slots.map((_, k) => new Float32Array(n).fill(k + 1));
  for (let k = 0; k < slots.length; k++) {
    const codec = partitionCodec({ seed, slot: slots[k]!, parts });
    const d = codec.decode(codec.encode(deltas[k]!).bytes, n);
    for (let i = 0; i < n; i++) mean[i]! += d[i]! / slots.length;
  }
  const cover = rebalancePartitionMean(mean, { seed, parts, slots });
  assert.deepEqual(cover, [2, 2, 1, 0]);
  // Constant blocks round exactly (every value is its block's level).
  const want = [(1 + 4) / 2, (2 + 5) / 2, 3, 0];
  for (let i = 0; i < n; i++) {
    const p = [0, 1, 2, 3].find((q) => partIndices(n, seed, parts, q).includes(i))!;
    assert.ok(Math.abs(mean[i]! - want[p]!) < 1e-5, `coordinate ${i} in part ${p}: ${mean[i]}`);
    if (i > 200) break;
  }
  // A full, even assignment is left as it is.
  const even = new Float32Array(10).fill(2);
  rebalancePartitionMean(even, { seed, parts, slots: [0, 1, 2, 3, 4, 5, 6, 7] });
  assert.ok(even.every((x) => x === 2));
  assert.throws(() => rebalancePartitionMean(even, { seed, parts, slots: [-1] }), /slot -1/);
});
