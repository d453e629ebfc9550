/**
 * The one op checker (tinygrad's helper_test_op, llm.c's gradient checks): for an op it
 *  1. runs the WASM forward and compares it with a plain-TypeScript f64 reference,
 *  2. runs the WASM backward on a random upstream gradient into zeroed input gradients, then
 *     again without zeroing, requiring twice the result ("+=" accumulation, not overwrite),
 *  3. compares those gradients with central finite differences of the f64 reference,
 *  4. if the op has a naive scalar twin, requires the SIMD forward and backward to match it
 *     bit for bit (both follow the same reduction order),
 * at several input scales, including extreme ones.
 */
import assert from "node:assert/strict";
import type { Kernel } from "../../kernel/wasm_module.ts";

export type Arrays = Record<string, Float64Array>;

export interface OpSpec {
  name: string;
  /** Float inputs: element count and, optionally, a generator for x given a N(0,1) draw. */
  inputs: Record<string, { size: number; gen?: (z: number, i: number) => number }>;
  /** Integer inputs (token ids, targets), fixed. */
  ints?: Record<string, Int32Array>;
  /** Float outputs: element count. `out` is the one whose gradient flows back. */
  outputs: Record<string, number>;
  /** Names of float inputs to differentiate (others are treated as constants). */
  diff: string[];
  /** Scratch bytes the op needs. */
  scratchBytes?: number;
  /** WASM forward on pointers. */
  forward(k: Kernel, p: Record<string, number>, naive: boolean): void;
  /** WASM backward: `d` maps input name -> gradient pointer, `dout` is d(loss)/d(out). */
  backward(
    k: Kernel,
    p: Record<string, number>,
    d: Record<string, number>,
    dout: number,
    naive: boolean,
  ): void;
  /** f64 reference of `out`. */
  reference(x: Arrays, ints: Record<string, Int32Array>): Float64Array;
  /** Upstream gradient: random by default; ops with a scalar dloss use a constant. */
  dout?: (z: number, i: number) => number;
  hasNaive?: boolean;
  /** Input scales to test; default [1, 1e-3, 30]. */
  scales?: number[];
  /** Relative tolerances (of the largest magnitude), default 5e-5 forward, 2e-4 gradients. */
  fwdTol?: number;
  gradTol?: number;
}

/** Deterministic N(0,1) draws from a 32-bit seed (mulberry32 + Box-Muller). */
export function gaussians(seed: number, n: number): Float64Array {
  let a = seed >>> 0;
  const uni = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.sqrt(-2 * Math.log(uni())) * Math.cos(2 * Math.PI * uni());
  }
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function assertClose(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  floor = 1e-6,
) {
  assert.equal(got.length, want.length, `${what}: length`);
  const scale = Math.max(maxAbs(want), floor);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    assert.ok(Number.isFinite(g), `${what}[${i}] is ${g}`);
    assert.ok(
      Math.abs(g - w) <= tol * scale,
      `${what}[${i}]: got ${g}, want ${w} (scale ${scale})`,
    );
  }
}

/** Runs every check of `spec` on kernel `k`; throws AssertionError on the first failure. */
export function checkOp(k: Kernel, spec: OpSpec): void {
  const scales = spec.scales ?? [1, 1e-3, 30];
  const ints = spec.ints ?? {};
  scales.forEach((scale, si) => {
    const tag = `${spec.name} @scale ${scale}`;
    const mark = k.mark();
    // f32-rounded inputs: the reference sees exactly the values the kernel sees.
    const x: Arrays = {};
    Object.entries(spec.inputs).forEach(([name, { size, gen }], j) => {
      const z = gaussians(1000 * si + 17 * j + 1, size);
      x[name] = Float64Array.from(z, (v, i) => Math.fround(gen ? gen(v * scale, i) : v * scale));
    });
    const p: Record<string, number> = {};
    for (const [name, v] of Object.entries(x)) p[name] = k.fromF32(Float32Array.from(v));
    for (const [name, v] of Object.entries(ints)) p[name] = k.fromI32(v);
    for (const [name, size] of Object.entries(spec.outputs)) p[name] = k.alloc(size);
    const scratch = k.alloc(Math.ceil((spec.scratchBytes ?? 0) / 4) + 16);
    k.ops.setScratch(scratch);
    const outSize = spec.outputs.out!;
    const read = (ptr: number, n: number) => k.f32(ptr, n).slice();

    // 1. forward vs f64 reference
    spec.forward(k, p, false);
    const out = read(p.out!, outSize);
    assertClose(`${tag} forward`, out, spec.reference(x, ints), spec.fwdTol ?? 5e-5);

    // 2. backward into zeroed gradients, then once more on top: must accumulate
    const dz = gaussians(7 + si, outSize);
    const dout64 = Float64Array.from(dz, (v, i) => Math.fround(spec.dout ? spec.dout(v, i) : v));
    const doutPtr = k.fromF32(Float32Array.from(dout64));
    const d: Record<string, number> = {};
    for (const name of spec.diff) d[name] = k.alloc(x[name]!.length);
    const zeroGrads = () => spec.diff.forEach((n) => k.f32(d[n]!, x[n]!.length).fill(0));
    zeroGrads();
    spec.backward(k, p, d, doutPtr, false);
    const grads: Record<string, Float32Array> = {};
    for (const name of spec.diff) grads[name] = read(d[name]!, x[name]!.length);
    spec.backward(k, p, d, doutPtr, false);
    for (const name of spec.diff) {
      const twice = grads[name]!.map((v) => 2 * v);
      assertClose(`${tag} d${name} accumulates`, read(d[name]!, x[name]!.length), twice, 1e-5);
    }

    // 3. gradients vs central differences of the f64 reference, L = sum(out * dout)
    const loss = (xs: Arrays) => {
      const o = spec.reference(xs, ints);
      let s = 0;
      for (let i = 0; i < o.length; i++) s += o[i]! * dout64[i]!;
      return s;
    };
    for (const name of spec.diff) {
      const v = x[name]!;
      const fd = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const orig = v[i]!;
        const h = 1e-6 * Math.max(1, Math.abs(orig));
        v[i] = orig + h;
        const lp = loss(x);
        v[i] = orig - h;
        const lm = loss(x);
        v[i] = orig;
        fd[i] = (lp - lm) / (2 * h);
      }
      // When every gradient is tiny (saturated softmax), f32 cancellation error is relative to
      // the upstream gradient, not to the result: floor the scale at 1e-3 |dout|.
      const floor = 1e-3 * maxAbs(dout64);
      assertClose(`${tag} d${name}`, grads[name]!, fd, spec.gradTol ?? 2e-4, floor);
    }

    // 4. SIMD == naive, bit for bit
    if (spec.hasNaive) {
      for (const [name, size] of Object.entries(spec.outputs)) {
        const simd = read(p[name]!, size);
        k.f32(p[name]!, size).fill(Number.NaN);
        spec.forward(k, p, true);
        assert.deepEqual(read(p[name]!, size), simd, `${tag}: naive forward ${name} differs`);
      }
      zeroGrads();
      spec.backward(k, p, d, doutPtr, true);
      for (const name of spec.diff) {
        const naive = read(d[name]!, x[name]!.length);
        assert.deepEqual(naive, grads[name], `${tag}: naive backward d${name} differs`);
      }
    }
    k.release(mark);
  });
}
