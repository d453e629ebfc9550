// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Inverted dropout with a counter-based mask: element i of stream s under seed k keeps iff
// hash(k, s, i) >= p, so the mask depends only on (seed, stream, index), never on call order.
// This is what the train step's `seed` feeds: a validator replaying the step gets the same mask.
import { addr, ldf, stf } from "./util.ts";

function mix64(x: u64): u64 {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EB;
  return x ^ (x >> 31);
}

// out, mask, inp are (N); mask holds 0 or 1/(1-p) and is saved for backward. out may alias inp.
export function dropoutForward(
  out: usize,
  mask: usize,
  inp: usize,
  N: i32,
  p: f32,
  seed: u32,
  stream: u32,
): void {
  const base = mix64(((<u64> seed) << 32) | (<u64> stream));
  const scale: f32 = <f32> 1 / (<f32> 1 - p);
  const INV24: f32 = 1.0 / 16777216.0;
  for (let i = 0; i < N; i++) {
    const u: f32 = <f32> (<u32> (mix64(base + <u64> i) >> 40)) * INV24;
    const m: f32 = u >= p ? scale : 0;
    stf(mask, i, m);
    stf(out, i, ldf(inp, i) * m);
  }
}

// dinp += dout * mask (elementwise: the f32x4 version and its naive twin agree bit for bit)
export function dropoutBackward(dinp: usize, dout: usize, mask: usize, N: i32): void {
  const vec = N & ~3;
  for (let i = 0; i < vec; i += 4) {
    const p = addr(dinp, i);
    const g = f32x4.mul(v128.load(addr(dout, i)), v128.load(addr(mask, i)));
    v128.store(p, f32x4.add(v128.load(p), g));
  }
  for (let i = vec; i < N; i++) stf(dinp, i, ldf(dinp, i) + ldf(dout, i) * ldf(mask, i));
}

export function dropoutBackwardNaive(dinp: usize, dout: usize, mask: usize, N: i32): void {
  for (let i = 0; i < N; i++) stf(dinp, i, ldf(dinp, i) + ldf(dout, i) * ldf(mask, i));
}
