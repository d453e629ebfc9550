// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Row-wise softmax (max-subtracted), on the canonical exp and 4-lane sums of util.ts, which the
// attention rows and cross-entropy share; the f32x4 version and its naive twin agree bit for bit.
import {
  addr,
  dot,
  dotNaive,
  expSumRow,
  expSumRowNaive,
  ldf,
  rowMax,
  rowMaxNaive,
  scaleRow,
  scaleRowNaive,
  stf,
} from "./util.ts";

// out, inp are (N,V)
export function softmaxForward(out: usize, inp: usize, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const x = addr(inp, r * V);
    const o = addr(out, r * V);
    const sum = expSumRow(o, x, rowMax(x, V), V);
    scaleRow(o, <f32> 1 / sum, V);
  }
}

// dinp += out * (dout - sum(out * dout))
export function softmaxBackward(dinp: usize, dout: usize, out: usize, N: i32, V: i32): void {
  const vec = V & ~3;
  for (let r = 0; r < N; r++) {
    const y = addr(out, r * V);
    const d = addr(dout, r * V);
    const dx = addr(dinp, r * V);
    const s = dot(y, d, V);
    const vs = f32x4.splat(s);
    for (let i = 0; i < vec; i += 4) {
      const p = addr(dx, i);
      const g = f32x4.mul(v128.load(addr(y, i)), f32x4.sub(v128.load(addr(d, i)), vs));
      v128.store(p, f32x4.add(v128.load(p), g));
    }
    for (let i = vec; i < V; i++) stf(dx, i, ldf(dx, i) + ldf(y, i) * (ldf(d, i) - s));
  }
}

export function softmaxForwardNaive(out: usize, inp: usize, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const x = addr(inp, r * V);
    const o = addr(out, r * V);
    const sum = expSumRowNaive(o, x, rowMaxNaive(x, V), V);
    scaleRowNaive(o, <f32> 1 / sum, V);
  }
}

export function softmaxBackwardNaive(dinp: usize, dout: usize, out: usize, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const y = addr(out, r * V);
    const d = addr(dout, r * V);
    const dx = addr(dinp, r * V);
    const s = dotNaive(y, d, V);
    for (let i = 0; i < V; i++) stf(dx, i, ldf(dx, i) + ldf(y, i) * (ldf(d, i) - s));
  }
}
