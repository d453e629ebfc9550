import assert from "node:assert/strict";
import { biasCorrection } from "../../../kernel/optimizer.ts";
import { FedAvg } from "../../../lib/strategy/fed_avg.ts";
import { ServerAdam } from "../../../lib/strategy/server_adam.ts";
import { randomUpdates, sameBytes, shuffled, threeUpdates } from "./_updates.ts";

/** Reddi et al.'s Algorithm 2 for one coordinate, in f64, state rounded to f32 as stored. */
function reference(
  w: number,
  deltas: number[],
  o: { lr: number; beta1: number; beta2: number; tau: number; yogi: boolean },
): { w: number; m: number; v: number } {
  let m = 0, v = Math.fround(o.tau * o.tau);
  for (const d of deltas) {
    m = Math.fround(o.beta1 * m + (1 - o.beta1) * d);
    v = Math.fround(
      o.yogi
        ? v - (1 - o.beta2) * d * d * Math.sign(v - d * d)
        : o.beta2 * v + (1 - o.beta2) * d * d,
    );
    w = Math.fround(w + o.lr * m / (Math.sqrt(v) + o.tau));
  }
  return { w, m, v };
}

Deno.test("ServerAdam: FedAdam and FedYogi on the three updates match the paper's step", () => {
  // Prepare: FedAvg delta [1.25, 1.5, 0.5], two rounds of it.
  const delta = new FedAvg().aggregate(threeUpdates()).delta;
  for (const variant of ["adam", "yogi"] as const) {
    const o = { lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3, yogi: variant === "yogi" };
    const adam = new ServerAdam(3, { lr: 0.1, variant });
    const w = new Float32Array([1, 2, 3]);
    // Execute
    adam.step(w, delta);
    adam.step(w, delta);
    // Assert
    [1, 2, 3].forEach((w0, i) => {
      const r = reference(w0, [delta[i]!, delta[i]!], o);
      assert.equal(w[i], r.w, `${variant} w[${i}]`);
      assert.equal(adam.m[i], r.m, `${variant} m[${i}]`);
      assert.equal(adam.v[i], r.v, `${variant} v[${i}]`);
    });
    assert.equal(adam.steps, 2);
  }
});

/** Kingma and Ba's Algorithm 1 (no weight decay, eps = tau) on the pseudo-gradient -d. */
function adamReference(
  w: number,
  deltas: number[],
  o: { lr: number; beta1: number; beta2: number; tau: number },
  lrAt = (_k: number) => o.lr,
): number {
  let m = 0, v = 0;
  deltas.forEach((d, k) => {
    m = Math.fround(o.beta1 * m + (1 - o.beta1) * d);
    v = Math.fround(o.beta2 * v + (1 - o.beta2) * d * d);
    const c1 = biasCorrection(o.beta1, k + 1), c2 = biasCorrection(o.beta2, k + 1);
    w = Math.fround(w + lrAt(k) * (m / c1) / (Math.sqrt(v / c2) + o.tau));
  });
  return w;
}

Deno.test("ServerAdam: with biasCorrection it is Adam, full-sized from the first step", () => {
  const o = { lr: 0.01, beta1: 0.9, beta2: 0.95, tau: 1e-8 };
  const adam = new ServerAdam(2, { ...o, biasCorrection: true });
  const w = new Float32Array(2);
  // Step 1: m / c1 = d and v / c2 = d^2, so the step is lr * sign(d) (Reddi's rule: ~0.45 lr).
  adam.step(w, new Float32Array([2, -0.5]));
  assert.equal(w[0], Math.fround(0.01 * 2 / (2 + 1e-8)));
  assert.equal(w[1], Math.fround(-0.01 * 0.5 / (0.5 + 1e-8)));
  const reddi = new ServerAdam(1, { ...o });
  const r = new Float32Array(1);
  reddi.step(r, new Float32Array([2]));
  assert.ok(r[0]! < 0.5 * w[0]!, `without correction the first step is damped: ${r[0]}`);
  // Ten more steps match the reference, coordinate by coordinate.
  const ds = [0.3, -1, 0.02, 0.7, 0.7, -0.2, 1e-4, 3, -3, 0.5];
  const many = new ServerAdam(1, { ...o, biasCorrection: true });
  const x = new Float32Array([0.25]);
  for (const d of ds) many.step(x, new Float32Array([d]));
  assert.equal(x[0], adamReference(0.25, ds, o));
});

Deno.test("ServerAdam: a resumed biasCorrection run continues from the loaded step count", () => {
  const ds = [0.5, -0.25, 1, 2].map((d) => new Float32Array([d, -d]));
  const straight = new ServerAdam(2, { lr: 0.1, biasCorrection: true });
  const a = new Float32Array([1, 1]);
  for (const d of ds) straight.step(a, d);
  const first = new ServerAdam(2, { lr: 0.1, biasCorrection: true });
  const b = new Float32Array([1, 1]);
  for (const d of ds.slice(0, 2)) first.step(b, d);
  const resumed = new ServerAdam(2, { lr: 0.1, biasCorrection: true });
  resumed.load(first.m.slice(), first.v.slice(), first.steps);
  for (const d of ds.slice(2)) resumed.step(b, d);
  assert.deepEqual(b, a);
  // Loaded with another count, the correction differs: the count is part of the state.
  const wrong = new ServerAdam(2, { lr: 0.1, biasCorrection: true });
  const saved = new ServerAdam(2, { lr: 0.1, biasCorrection: true });
  const c = new Float32Array([1, 1]);
  for (const d of ds.slice(0, 2)) saved.step(c, d);
  wrong.load(saved.m.slice(), saved.v.slice(), 0);
  for (const d of ds.slice(2)) wrong.step(c, d);
  assert.notDeepEqual(c, a);
});

Deno.test("ServerAdam: warmupSteps ramps the lr over the first steps, then it is Adam's", () => {
  const o = { lr: 0.01, beta1: 0.9, beta2: 0.95, tau: 1e-8 };
  const ds = [0.3, -1, 0.02, 0.7, 0.7, -0.2];
  const warm = new ServerAdam(1, { ...o, biasCorrection: true, warmupSteps: 3 });
  const a = new Float32Array([0.25]);
  for (const d of ds) warm.step(a, new Float32Array([d]));
  // Steps 0, 1, 2 at lr / 3, 2 lr / 3, lr (the kernel's warmup), then lr.
  const lrAt = (k: number) => k < 3 ? (o.lr * (k + 1)) / 3 : o.lr;
  assert.equal(a[0], adamReference(0.25, ds, o, lrAt));
  assert.notEqual(a[0], adamReference(0.25, ds, o));
  // A resumed warmup continues from the loaded count, not from its start.
  const first = new ServerAdam(1, { ...o, biasCorrection: true, warmupSteps: 3 });
  const b = new Float32Array([0.25]);
  for (const d of ds.slice(0, 2)) first.step(b, new Float32Array([d]));
  const resumed = new ServerAdam(1, { ...o, biasCorrection: true, warmupSteps: 3 });
  resumed.load(first.m.slice(), first.v.slice(), first.steps);
  for (const d of ds.slice(2)) resumed.step(b, new Float32Array([d]));
  assert.deepEqual(b, a);
  assert.throws(() => new ServerAdam(1, { lr: 0.1, warmupSteps: -2 }), /warmupSteps -2/);
});

Deno.test("ServerAdam: the first step is about lr in the delta's direction (sign-like)", () => {
  // m = 0.1 d, v ~ 0.01 d^2: m / sqrt(v) ~ sign(d) when |d| >> tau / 0.1 (tau shaves ~2%).
  const adam = new ServerAdam(2, { lr: 0.01 });
  const w = new Float32Array(2);
  adam.step(w, new Float32Array([2, -0.5]));
  assert.ok(w[0]! > 0.0097 && w[0]! < 0.01 && w[1]! < -0.0097 && w[1]! > -0.01, `${w}`);
});

Deno.test("ServerAdam: Yogi's second moment grows additively, Adam's decays toward d^2", () => {
  const yogi = new ServerAdam(1, { lr: 1, variant: "yogi", tau: 0.5 });
  const adam = new ServerAdam(1, { lr: 1, tau: 0.5 });
  for (const o of [yogi, adam]) o.step(new Float32Array(1), new Float32Array([1]));
  // v0 = 0.25 < d^2 = 1: Yogi adds 0.01 * 1; Adam keeps 0.99 * 0.25 and adds 0.01.
  assert.equal(yogi.v[0], Math.fround(0.25 + 0.01));
  assert.equal(adam.v[0], Math.fround(0.99 * 0.25 + 0.01));
  // d^2 = 0.01 < v: Yogi takes 0.01 * 0.01 away; it never drops below beta2 * v.
  yogi.step(new Float32Array(1), new Float32Array([0.1]));
  assert.equal(yogi.v[0], Math.fround(Math.fround(0.26) - 0.01 * 0.1 * 0.1));
});

Deno.test("ServerAdam: bit-identical across runs, coordinate orders and a save/resume", () => {
  // Prepare: 8 random updates of 5,000 params, mixed scales; three rounds.
  const n = 5_000;
  const deltas = [1, 2, 3].map((s) => new FedAvg().aggregate(randomUpdates(8, n, s)).delta);
  const w0 = new Float32Array(n).map((_, i) => Math.sin(i));
  const run = (order: number[]) => {
    const adam = new ServerAdam(n, { lr: 0.03, variant: "yogi" });
    const w = new Float32Array(order.map((i) => w0[i]!));
    for (const d of deltas) adam.step(w, new Float32Array(order.map((i) => d[i]!)));
    const back = new Float32Array(n);
    order.forEach((i, k) => back[i] = w[k]!);
    return back;
  };
  const identity = Array.from({ length: n }, (_, i) => i);
  // Execute
  const a = run(identity), b = run(identity), c = run(shuffled(identity, 7));
  const first = new ServerAdam(n, { lr: 0.03, variant: "yogi" });
  const resumed = w0.slice();
  first.step(resumed, deltas[0]!);
  const second = new ServerAdam(n, { lr: 0.03, variant: "yogi" });
  second.load(first.m.slice(), first.v.slice(), first.steps);
  second.step(resumed, deltas[1]!);
  second.step(resumed, deltas[2]!);
  // Assert
  assert.ok(sameBytes(a, b) && sameBytes(a, c) && sameBytes(a, resumed));
  assert.equal(second.steps, 3);
  assert.ok(first.m instanceof Float32Array && first.v instanceof Float32Array);
});

Deno.test("ServerAdam: bad options and lengths are refused", () => {
  assert.throws(() => new ServerAdam(0, { lr: 1 }), RangeError);
  assert.throws(() => new ServerAdam(2, { lr: 0 }), RangeError);
  assert.throws(() => new ServerAdam(2, { lr: 1, beta1: 1 }), RangeError);
  assert.throws(() => new ServerAdam(2, { lr: 1, beta2: -0.1 }), RangeError);
  assert.throws(() => new ServerAdam(2, { lr: 1, tau: 0 }), RangeError);
  assert.throws(
    () => new ServerAdam(2, { lr: 1, variant: "adagrad" as "adam" }),
    /variant adagrad/,
  );
  const adam = new ServerAdam(2, { lr: 1 });
  assert.throws(() => adam.step(new Float32Array(3), new Float32Array(2)), RangeError);
  assert.throws(() => adam.load(new Float32Array(2), new Float32Array(3), 1), RangeError);
});
