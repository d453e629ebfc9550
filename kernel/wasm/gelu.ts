// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// GELU, tanh approximation (GPT-2). tanh is a clamped 13/6 rational polynomial (the one Eigen and
// XNNPACK use for f32, max error a few ulp): only mul/add/div/min/max, so it vectorises to f32x4
// and, like every op here, is bit-reproducible. Mathf.tanh was 10x slower and scalar-only.
// The f32x4 and scalar paths evaluate the same expression tree, so they agree bit for bit.
import { addr, ldf, stf } from "./util.ts";

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const K: f32 = 0.044715;
const K3: f32 = 0.134145; // 3 * K
const CLAMP: f32 = 7.90531110763549805; // tanh rounds to +-1 in f32 beyond this
const A1: f32 = 4.89352455891786e-03;
const A3: f32 = 6.37261928875436e-04;
const A5: f32 = 1.48572235717979e-05;
const A7: f32 = 5.12229709037114e-08;
const A9: f32 = -8.60467152213735e-11;
const A11: f32 = 2.00018790482477e-13;
const A13: f32 = -2.76076847742355e-16;
const B0: f32 = 4.89352518554385e-03;
const B2: f32 = 2.26843463243900e-03;
const B4: f32 = 1.18534705686654e-04;
const B6: f32 = 1.19825839466702e-06;

function tanhScalar(x: f32): f32 {
  x = x < -CLAMP ? -CLAMP : x;
  x = CLAMP < x ? CLAMP : x;
  const x2 = x * x;
  let p = x2 * A13 + A11;
  p = x2 * p + A9;
  p = x2 * p + A7;
  p = x2 * p + A5;
  p = x2 * p + A3;
  p = x2 * p + A1;
  p = x * p;
  let q = x2 * B6 + B4;
  q = x2 * q + B2;
  q = x2 * q + B0;
  return p / q;
}

function tanhVec(x: v128): v128 {
  // pmax/pmin (one instruction each; `a < b ? b : a` and `b < a ? b : a`), not max/min, whose
  // NaN and signed-zero rules cost V8 several instructions; the scalar form above matches them.
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-CLAMP)), f32x4.splat(CLAMP));
  const x2 = f32x4.mul(x, x);
  let p = f32x4.add(f32x4.mul(x2, f32x4.splat(A13)), f32x4.splat(A11));
  p = f32x4.add(f32x4.mul(x2, p), f32x4.splat(A9));
  p = f32x4.add(f32x4.mul(x2, p), f32x4.splat(A7));
  p = f32x4.add(f32x4.mul(x2, p), f32x4.splat(A5));
  p = f32x4.add(f32x4.mul(x2, p), f32x4.splat(A3));
  p = f32x4.add(f32x4.mul(x2, p), f32x4.splat(A1));
  p = f32x4.mul(x, p);
  let q = f32x4.add(f32x4.mul(x2, f32x4.splat(B6)), f32x4.splat(B4));
  q = f32x4.add(f32x4.mul(x2, q), f32x4.splat(B2));
  q = f32x4.add(f32x4.mul(x2, q), f32x4.splat(B0));
  return f32x4.div(p, q);
}

function geluScalar(x: f32): f32 {
  const t = tanhScalar(SQRT_2_OVER_PI * (x + K * x * x * x));
  return <f32> 0.5 * x * (<f32> 1 + t);
}

function geluGradScalar(x: f32): f32 {
  const t = tanhScalar(SQRT_2_OVER_PI * (x + K * x * x * x));
  const sech2: f32 = <f32> 1 - t * t;
  const du: f32 = SQRT_2_OVER_PI * (<f32> 1 + K3 * x * x);
  return <f32> 0.5 * (<f32> 1 + t) + <f32> 0.5 * x * sech2 * du;
}

// out, inp are (N)
export function geluForward(out: usize, inp: usize, N: i32): void {
  const vec = N & ~3;
  const half = f32x4.splat(0.5), one = f32x4.splat(1);
  const s = f32x4.splat(SQRT_2_OVER_PI), k = f32x4.splat(K);
  for (let i = 0; i < vec; i += 4) {
    const x = v128.load(addr(inp, i));
    const x3 = f32x4.mul(f32x4.mul(f32x4.mul(k, x), x), x);
    const t = tanhVec(f32x4.mul(s, f32x4.add(x, x3)));
    v128.store(addr(out, i), f32x4.mul(f32x4.mul(half, x), f32x4.add(one, t)));
  }
  for (let i = vec; i < N; i++) stf(out, i, geluScalar(ldf(inp, i)));
}

// dinp += dout * gelu'(inp)
export function geluBackward(dinp: usize, dout: usize, inp: usize, N: i32): void {
  const vec = N & ~3;
  const half = f32x4.splat(0.5), one = f32x4.splat(1);
  const s = f32x4.splat(SQRT_2_OVER_PI), k = f32x4.splat(K), k3 = f32x4.splat(K3);
  for (let i = 0; i < vec; i += 4) {
    const x = v128.load(addr(inp, i));
    const x3 = f32x4.mul(f32x4.mul(f32x4.mul(k, x), x), x);
    const t = tanhVec(f32x4.mul(s, f32x4.add(x, x3)));
    const sech2 = f32x4.sub(one, f32x4.mul(t, t));
    const du = f32x4.mul(s, f32x4.add(one, f32x4.mul(f32x4.mul(k3, x), x)));
    const g = f32x4.add(
      f32x4.mul(half, f32x4.add(one, t)),
      f32x4.mul(f32x4.mul(f32x4.mul(half, x), sech2), du),
    );
    const p = addr(dinp, i);
    v128.store(p, f32x4.add(v128.load(p), f32x4.mul(g, v128.load(addr(dout, i)))));
  }
  for (let i = vec; i < N; i++) {
    stf(dinp, i, ldf(dinp, i) + geluGradScalar(ldf(inp, i)) * ldf(dout, i));
  }
}

export function geluForwardNaive(out: usize, inp: usize, N: i32): void {
  for (let i = 0; i < N; i++) stf(out, i, geluScalar(ldf(inp, i)));
}

export function geluBackwardNaive(dinp: usize, dout: usize, inp: usize, N: i32): void {
  for (let i = 0; i < N; i++) {
    stf(dinp, i, ldf(dinp, i) + geluGradScalar(ldf(inp, i)) * ldf(dout, i));
  }
}
