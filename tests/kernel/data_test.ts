import assert from "node:assert/strict";
import {
  decodeBytes,
  encodeText,
  evalBatches,
  loadBrownShards,
  loadSotuShards,
  sampleBatch,
  unigramBaseline,
  untagBrown,
} from "../../kernel/data.ts";

Deno.test("untagBrown restores plain text", () => {
  const tagged =
    "\n\n\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ,/, it/pps ./.\n\n\tNext/ap ./.\n";
  assert.equal(untagBrown(tagged), 'The jury said " no ", it.\nNext.');
});

Deno.test("byte tokenisation round-trips UTF-8", () => {
  const s = "naïve café — ok";
  assert.equal(decodeBytes(encodeText(s)), s);
  assert.ok(encodeText(s).length > s.length);
});

Deno.test("sampleBatch: deterministic per (seed, step), targets are the next byte", () => {
  const data = encodeText("abcdefghijklmnopqrstuvwxyz".repeat(10));
  const a = sampleBatch(data, 3, 5, 1, 0);
  assert.deepEqual(sampleBatch(data, 3, 5, 1, 0), a);
  assert.notDeepEqual(sampleBatch(data, 3, 5, 1, 1), a);
  assert.notDeepEqual(sampleBatch(data, 3, 5, 2, 0), a);
  for (let i = 0; i < 15; i++) {
    if (i % 5 !== 4) assert.equal(a.targets[i], a.tokens[i + 1]);
    assert.equal(a.targets[i], a.tokens[i]! === 122 ? 97 : a.tokens[i]! + 1);
  }
  assert.throws(() => sampleBatch(data.subarray(0, 5), 1, 5, 0, 0), RangeError);
});

Deno.test("evalBatches tile the data without overlap", () => {
  const data = encodeText("0123456789".repeat(5));
  const batches = evalBatches(data, 2, 4, 100);
  assert.equal(batches.length, 6); // 49 usable targets / 8 per batch
  assert.deepEqual([...batches[1]!.tokens], [...encodeText("89012345")]);
});

Deno.test("unigram baseline: uniform bytes cost about 8 bits", () => {
  const all = Uint8Array.from({ length: 256 * 40 }, (_, i) => i % 256);
  const { bits, nats } = unigramBaseline(all, all);
  assert.ok(Math.abs(bits - 8) < 1e-9);
  assert.ok(Math.abs(nats - 8 * Math.LN2) < 1e-9);
});

Deno.test("corpus shards: 15 Brown genres, SotU per president, held-out tails", () => {
  const brown = loadBrownShards();
  assert.equal(brown.length, 15);
  assert.ok(brown.some((s) => s.name === "brown/science_fiction"));
  for (const s of brown) {
    assert.ok(s.train.length > 50_000 && s.val.length > 5_000, s.name);
    const ratio = s.val.length / (s.train.length + s.val.length);
    assert.ok(Math.abs(ratio - 0.1) < 0.01, `${s.name} val ratio ${ratio}`);
  }
  assert.ok(!decodeBytes(brown[0]!.train.subarray(0, 2000)).includes("/at "));
  const sotu = loadSotuShards();
  assert.ok(sotu.length >= 40 && sotu.every((s) => s.val.length > 0));
  assert.equal(loadSotuShards("all").length, 1);
});
