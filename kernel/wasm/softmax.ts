// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Row-wise softmax (max-subtracted). Used directly by attention's internals and cross-entropy;
// exported as its own op so it is tested on its own.
import { addr, ldf, stf } from "./util.ts";

// out, inp are (N,V)
export function softmaxForward(out: usize, inp: usize, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const x = addr(inp, r * V);
    const o = addr(out, r * V);
    let mx: f32 = -Infinity;
    for (let i = 0; i < V; i++) mx = max(mx, ldf(x, i));
    let sum: f32 = 0;
    for (let i = 0; i < V; i++) {
      const e = Mathf.exp(ldf(x, i) - mx);
      stf(o, i, e);
      sum = sum + e;
    }
    const inv: f32 = 1 / sum;
    for (let i = 0; i < V; i++) stf(o, i, ldf(o, i) * inv);
  }
}

// dinp += out * (dout - sum(out * dout))
export function softmaxBackward(dinp: usize, dout: usize, out: usize, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const y = addr(out, r * V);
    const d = addr(dout, r * V);
    const dx = addr(dinp, r * V);
    let s: f32 = 0;
    for (let i = 0; i < V; i++) s = s + ldf(y, i) * ldf(d, i);
    for (let i = 0; i < V; i++) stf(dx, i, ldf(dx, i) + ldf(y, i) * (ldf(d, i) - s));
  }
}
