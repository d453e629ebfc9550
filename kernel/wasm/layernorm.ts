// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Layer normalisation over the last dimension, eps 1e-5. Sums run in ascending index order in f32.
import { addr, ldf, stf } from "./util.ts";

const EPS: f32 = 1e-5;

// out is (N,C), mean and rstd are (N) (saved for backward), inp is (N,C), weight/bias are (C)
export function layernormForward(
  out: usize,
  mean: usize,
  rstd: usize,
  inp: usize,
  weight: usize,
  bias: usize,
  N: i32,
  C: i32,
): void {
  for (let r = 0; r < N; r++) {
    const x = addr(inp, r * C);
    let m: f32 = 0;
    for (let i = 0; i < C; i++) m = m + ldf(x, i);
    m = m / <f32> C;
    let v: f32 = 0;
    for (let i = 0; i < C; i++) {
      const d = ldf(x, i) - m;
      v = v + d * d;
    }
    v = v / <f32> C;
    const s: f32 = 1 / Mathf.sqrt(v + EPS);
    const o = addr(out, r * C);
    for (let i = 0; i < C; i++) {
      stf(o, i, (ldf(x, i) - m) * s * ldf(weight, i) + ldf(bias, i));
    }
    stf(mean, r, m);
    stf(rstd, r, s);
  }
}

// dinp += ..., dweight += ..., dbias += ... (standard layernorm backward, as in llm.c)
export function layernormBackward(
  dinp: usize,
  dweight: usize,
  dbias: usize,
  dout: usize,
  inp: usize,
  weight: usize,
  mean: usize,
  rstd: usize,
  N: i32,
  C: i32,
): void {
  for (let r = 0; r < N; r++) {
    const d = addr(dout, r * C);
    const x = addr(inp, r * C);
    const dx = addr(dinp, r * C);
    const m = ldf(mean, r);
    const s = ldf(rstd, r);
    let dnormMean: f32 = 0;
    let dnormNormMean: f32 = 0;
    for (let i = 0; i < C; i++) {
      const norm = (ldf(x, i) - m) * s;
      const dnorm = ldf(weight, i) * ldf(d, i);
      dnormMean = dnormMean + dnorm;
      dnormNormMean = dnormNormMean + dnorm * norm;
    }
    dnormMean = dnormMean / <f32> C;
    dnormNormMean = dnormNormMean / <f32> C;
    for (let i = 0; i < C; i++) {
      const norm = (ldf(x, i) - m) * s;
      const dnorm = ldf(weight, i) * ldf(d, i);
      stf(dbias, i, ldf(dbias, i) + ldf(d, i));
      stf(dweight, i, ldf(dweight, i) + norm * ldf(d, i));
      stf(dx, i, ldf(dx, i) + (dnorm - dnormMean - norm * dnormNormMean) * s);
    }
  }
}
