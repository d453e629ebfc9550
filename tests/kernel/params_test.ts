import assert from "node:assert/strict";
import {
  initWeights,
  MAX_CONTEXT,
  MAX_LAYERS,
  MAX_PARAMS,
  MAX_WIDTH,
  type ModelConfig,
  paramLayout,
  paramViews,
  VOCAB,
} from "../../kernel/params.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";

const k = loadKernel();

Deno.test("GPT layout: GPT-2 parameter count, contiguous named tensors", () => {
  const [L, C, T] = [3, 16, 10];
  const layout = paramLayout({ kind: "gpt", maxT: T, layers: L, heads: 2, width: C });
  const perLayer = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) +
    (4 * C * C + C);
  assert.equal(layout.size, VOCAB * C + T * C + L * perLayer + 2 * C);
  let at = 0;
  for (const t of layout.tensors) {
    assert.equal(t.offset, at, t.name);
    at += t.size;
  }
  assert.equal(at, layout.size);
  const views = paramViews(layout, new Float32Array(layout.size));
  assert.equal(views["h2.qkvw"]!.length, 3 * C * C);
  assert.throws(() => paramViews(layout, new Float32Array(3)), RangeError);
});

Deno.test("configs that the kernel cannot run are rejected", () => {
  assert.throws(
    () => paramLayout({ kind: "gpt", maxT: 8, layers: 1, heads: 3, width: 16 }),
    RangeError,
  );
  assert.throws(
    () => paramLayout({ kind: "gpt", maxT: 8, layers: 1, heads: 2, width: 12 }),
    RangeError,
  );
  assert.throws(
    () => paramLayout({ kind: "ssm", maxT: 0, layers: 1, heads: 1, width: 8 }),
    RangeError,
  );
});

Deno.test("attacker: a config from a file's header cannot ask for an unbounded layout", () => {
  // Each bound refuses before a tensor is listed: 200M layers once exhausted the heap here.
  const base = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 1, width: 8 };
  for (
    const [cfg, why] of [
      [{ ...base, layers: 200_000_000 }, /at most 1024 layers/],
      [{ ...base, width: MAX_WIDTH * 2, heads: 2 }, /width 65536/],
      [{ ...base, maxT: MAX_CONTEXT + 1 }, /context/],
      [{ ...base, kind: "rnn" }, /kind must be/],
      [{ ...base, layers: MAX_LAYERS, width: MAX_WIDTH / 4, heads: 4 }, /parameters, at most/],
    ] as const
  ) {
    assert.throws(() => paramLayout(cfg as ModelConfig), why);
  }
  assert.ok(paramLayout({ ...base, layers: MAX_LAYERS }).size <= MAX_PARAMS);
});

Deno.test("initWeights: seeded, per-tensor init rules, no allocator leak", () => {
  const layout = paramLayout({ kind: "ssm", maxT: 8, layers: 2, heads: 1, width: 8 });
  const before = k.bytesInUse;
  const a = initWeights(k, layout, 9);
  assert.equal(k.bytesInUse, before);
  assert.deepEqual(initWeights(k, layout, 9), a);
  assert.notDeepEqual(initWeights(k, layout, 10), a);
  const v = paramViews(layout, a);
  assert.ok(v["h0.ln1w"]!.every((x) => x === 1));
  assert.ok(v["h1.fcb"]!.every((x) => x === 0));
  assert.equal(v["h0.alpha"]![0], 0);
  assert.equal(v["h0.alpha"]![7], 4);
  const wte = v["wte"]!;
  const sd = Math.sqrt(wte.reduce((s, x) => s + x * x, 0) / wte.length);
  assert.ok(Math.abs(sd - 0.02) < 0.002, `wte std ${sd}`);
});
