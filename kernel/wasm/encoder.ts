// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Token + position embedding lookup. Gathers and scatter-adds only; the backward visits (b,t)
// in ascending order so repeated tokens accumulate in a fixed order. Elementwise per row, so the
// f32x4 version and its naive twin agree bit for bit.
import { addr, ldf, ldi, stf } from "./util.ts";

// out is (B,T,C), tokens is (B,T) i32, wte is (V,C), wpe is (maxT,C)
export function encoderForward(
  out: usize,
  tokens: usize,
  wte: usize,
  wpe: usize,
  B: i32,
  T: i32,
  C: i32,
): void {
  const vec = C & ~3;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const o = addr(out, (b * T + t) * C);
      const te = addr(wte, ldi(tokens, b * T + t) * C);
      const pe = addr(wpe, t * C);
      for (let c = 0; c < vec; c += 4) {
        v128.store(addr(o, c), f32x4.add(v128.load(addr(te, c)), v128.load(addr(pe, c))));
      }
      for (let c = vec; c < C; c++) stf(o, c, ldf(te, c) + ldf(pe, c));
    }
  }
}

// dwte[token] += dout; dwpe[t] += dout
export function encoderBackward(
  dwte: usize,
  dwpe: usize,
  dout: usize,
  tokens: usize,
  B: i32,
  T: i32,
  C: i32,
): void {
  const vec = C & ~3;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const d = addr(dout, (b * T + t) * C);
      const te = addr(dwte, ldi(tokens, b * T + t) * C);
      const pe = addr(dwpe, t * C);
      for (let c = 0; c < vec; c += 4) {
        const g = v128.load(addr(d, c));
        v128.store(addr(te, c), f32x4.add(v128.load(addr(te, c)), g));
        v128.store(addr(pe, c), f32x4.add(v128.load(addr(pe, c)), g));
      }
      for (let c = vec; c < C; c++) {
        stf(te, c, ldf(te, c) + ldf(d, c));
        stf(pe, c, ldf(pe, c) + ldf(d, c));
      }
    }
  }
}

export function encoderForwardNaive(
  out: usize,
  tokens: usize,
  wte: usize,
  wpe: usize,
  B: i32,
  T: i32,
  C: i32,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const o = addr(out, (b * T + t) * C);
      const te = addr(wte, ldi(tokens, b * T + t) * C);
      const pe = addr(wpe, t * C);
      for (let c = 0; c < C; c++) stf(o, c, ldf(te, c) + ldf(pe, c));
    }
  }
}

export function encoderBackwardNaive(
  dwte: usize,
  dwpe: usize,
  dout: usize,
  tokens: usize,
  B: i32,
  T: i32,
  C: i32,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const d = addr(dout, (b * T + t) * C);
      const te = addr(dwte, ldi(tokens, b * T + t) * C);
      const pe = addr(dwpe, t * C);
      for (let c = 0; c < C; c++) {
        stf(te, c, ldf(te, c) + ldf(d, c));
        stf(pe, c, ldf(pe, c) + ldf(d, c));
      }
    }
  }
}
