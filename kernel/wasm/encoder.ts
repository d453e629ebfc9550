// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Token + position embedding lookup. Gathers and scatter-adds only; the backward visits (b,t)
// in ascending order so repeated tokens accumulate in a fixed order.
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
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const o = addr(out, (b * T + t) * C);
      const te = addr(wte, ldi(tokens, b * T + t) * C);
      const pe = addr(wpe, t * C);
      for (let c = 0; c < C; c++) stf(o, c, ldf(te, c) + ldf(pe, c));
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
