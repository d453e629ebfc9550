// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Parameter init, optimiser updates and reductions. They live in WASM rather than TypeScript so
// that every floating-point operation of a training step, including log/cos in the initialiser,
// comes from this module and not from the host's Math implementation.
// The updates are elementwise (f32x4.sqrt and division are correctly rounded like their scalar
// forms), so the f32x4 versions and their naive twins agree bit for bit.
import { addr, ldf, stf } from "./util.ts";

function splitmix64(x: u64): u64 {
  let z = x + 0x9E3779B97F4A7C15;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
  return z ^ (z >> 31);
}

// out (n) ~ N(0, std^2); stream separates tensors drawn from the same seed.
// Box-Muller in f32 on 24-bit uniforms; u1 is in (0,1] so the log is finite.
export function initNormal(out: usize, n: i32, seed: u32, stream: u32, std: f32): void {
  let state: u64 = ((<u64> seed) << 32) | (<u64> stream);
  state = splitmix64(state);
  const TWO_PI: f32 = 6.283185307179586;
  const INV24: f32 = 1.0 / 16777216.0;
  for (let i = 0; i < n; i += 2) {
    state += 1;
    const x = splitmix64(state);
    const u1: f32 = (<f32> (<u32> (x >> 40)) + 1) * INV24;
    const u2: f32 = <f32> (<u32> ((x >> 16) & 0xFFFFFF)) * INV24;
    const r = Mathf.sqrt(<f32> -2 * Mathf.log(u1));
    stf(out, i, std * r * Mathf.cos(TWO_PI * u2));
    if (i + 1 < n) stf(out, i + 1, std * r * Mathf.sin(TWO_PI * u2));
  }
}

// AdamW (decoupled weight decay); bc1 = 1 - beta1^t and bc2 = 1 - beta2^t come from the host.
// params, grads, m, v are (n)
export function adamwUpdate(
  params: usize,
  grads: usize,
  m: usize,
  v: usize,
  n: i32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  wd: f32,
  bc1: f32,
  bc2: f32,
): void {
  const vec = n & ~3;
  const b1 = f32x4.splat(beta1), b2 = f32x4.splat(beta2);
  const c1 = f32x4.splat(<f32> 1 - beta1), c2 = f32x4.splat(<f32> 1 - beta2);
  const vbc1 = f32x4.splat(bc1), vbc2 = f32x4.splat(bc2);
  const veps = f32x4.splat(eps), vwd = f32x4.splat(wd), vlr = f32x4.splat(lr);
  for (let i = 0; i < vec; i += 4) {
    const pg = addr(grads, i), pm = addr(m, i), pv = addr(v, i), pp = addr(params, i);
    const g = v128.load(pg);
    const mi = f32x4.add(f32x4.mul(b1, v128.load(pm)), f32x4.mul(c1, g));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(pv)), f32x4.mul(f32x4.mul(c2, g), g));
    v128.store(pm, mi);
    v128.store(pv, vi);
    const mhat = f32x4.div(mi, vbc1);
    const vhat = f32x4.div(vi, vbc2);
    const p = v128.load(pp);
    const u = f32x4.add(f32x4.div(mhat, f32x4.add(f32x4.sqrt(vhat), veps)), f32x4.mul(vwd, p));
    v128.store(pp, f32x4.sub(p, f32x4.mul(vlr, u)));
  }
  adamwUpdateNaive(
    addr(params, vec),
    addr(grads, vec),
    addr(m, vec),
    addr(v, vec),
    n - vec,
    lr,
    beta1,
    beta2,
    eps,
    wd,
    bc1,
    bc2,
  );
}

export function adamwUpdateNaive(
  params: usize,
  grads: usize,
  m: usize,
  v: usize,
  n: i32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  wd: f32,
  bc1: f32,
  bc2: f32,
): void {
  for (let i = 0; i < n; i++) {
    const g = ldf(grads, i);
    const mi = beta1 * ldf(m, i) + (<f32> 1 - beta1) * g;
    const vi = beta2 * ldf(v, i) + (<f32> 1 - beta2) * g * g;
    stf(m, i, mi);
    stf(v, i, vi);
    const mhat = mi / bc1;
    const vhat = vi / bc2;
    const p = ldf(params, i);
    stf(params, i, p - lr * (mhat / (Mathf.sqrt(vhat) + eps) + wd * p));
  }
}

// SGD with (heavy-ball) momentum and L2 weight decay folded into the gradient.
export function sgdMomentumUpdate(
  params: usize,
  grads: usize,
  mom: usize,
  n: i32,
  lr: f32,
  mu: f32,
  wd: f32,
): void {
  const vec = n & ~3;
  const vmu = f32x4.splat(mu), vwd = f32x4.splat(wd), vlr = f32x4.splat(lr);
  for (let i = 0; i < vec; i += 4) {
    const pp = addr(params, i), pm = addr(mom, i);
    const p = v128.load(pp);
    const g = f32x4.add(v128.load(addr(grads, i)), f32x4.mul(vwd, p));
    const b = f32x4.add(f32x4.mul(vmu, v128.load(pm)), g);
    v128.store(pm, b);
    v128.store(pp, f32x4.sub(p, f32x4.mul(vlr, b)));
  }
  sgdMomentumUpdateNaive(addr(params, vec), addr(grads, vec), addr(mom, vec), n - vec, lr, mu, wd);
}

export function sgdMomentumUpdateNaive(
  params: usize,
  grads: usize,
  mom: usize,
  n: i32,
  lr: f32,
  mu: f32,
  wd: f32,
): void {
  for (let i = 0; i < n; i++) {
    const p = ldf(params, i);
    const b = mu * ldf(mom, i) + (ldf(grads, i) + wd * p);
    stf(mom, i, b);
    stf(params, i, p - lr * b);
  }
}

// Sum of squares in f64, ascending order (global gradient norm for clipping).
export function sumSquares(p: usize, n: i32): f64 {
  return sumSquaresFrom(p, n, 0);
}

// s + sum of squares, ascending: continues a sum over a buffer passed in chunks, with the bits of
// one pass over the whole (gradients that live outside linear memory, kernel/offload.ts).
export function sumSquaresFrom(p: usize, n: i32, s: f64): f64 {
  for (let i = 0; i < n; i++) {
    const x = <f64> ldf(p, i);
    s += x * x;
  }
  return s;
}

// p[0..n) = 0 (gradient and activation-gradient buffers before each step).
export function fillZero(p: usize, n: i32): void {
  memory.fill(p, 0, (<usize> n) << 2);
}

// Sum in f64, ascending order (mean loss).
export function sumF64(p: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64> ldf(p, i);
  return s;
}

export function scaleInPlace(p: usize, n: i32, s: f32): void {
  const vec = n & ~3;
  const vs = f32x4.splat(s);
  for (let i = 0; i < vec; i += 4) v128.store(addr(p, i), f32x4.mul(v128.load(addr(p, i)), vs));
  for (let i = vec; i < n; i++) stf(p, i, ldf(p, i) * s);
}

export function scaleInPlaceNaive(p: usize, n: i32, s: f32): void {
  for (let i = 0; i < n; i++) stf(p, i, ldf(p, i) * s);
}
