// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Residual add and bias add. Each output element depends on one addition only, so the f32x4 and
// scalar versions are bit-identical by construction.
import { addr, ldf, stf } from "./util.ts";
import { biasGrad, biasGradNaive } from "./matmul.ts";

// out, a, b are (N)
export function residualForward(out: usize, a: usize, b: usize, N: i32): void {
  const vec = N & ~3;
  for (let i = 0; i < vec; i += 4) {
    v128.store(addr(out, i), f32x4.add(v128.load(addr(a, i)), v128.load(addr(b, i))));
  }
  for (let i = vec; i < N; i++) stf(out, i, ldf(a, i) + ldf(b, i));
}

// da += dout; db += dout
export function residualBackward(da: usize, db: usize, dout: usize, N: i32): void {
  const vec = N & ~3;
  for (let i = 0; i < vec; i += 4) {
    const g = v128.load(addr(dout, i));
    v128.store(addr(da, i), f32x4.add(v128.load(addr(da, i)), g));
    v128.store(addr(db, i), f32x4.add(v128.load(addr(db, i)), g));
  }
  for (let i = vec; i < N; i++) {
    stf(da, i, ldf(da, i) + ldf(dout, i));
    stf(db, i, ldf(db, i) + ldf(dout, i));
  }
}

export function residualForwardNaive(out: usize, a: usize, b: usize, N: i32): void {
  for (let i = 0; i < N; i++) stf(out, i, ldf(a, i) + ldf(b, i));
}

export function residualBackwardNaive(da: usize, db: usize, dout: usize, N: i32): void {
  for (let i = 0; i < N; i++) {
    stf(da, i, ldf(da, i) + ldf(dout, i));
    stf(db, i, ldf(db, i) + ldf(dout, i));
  }
}

// out (N,C) = inp (N,C) + bias (C) broadcast over rows
export function biasAddForward(out: usize, inp: usize, bias: usize, N: i32, C: i32): void {
  const vec = C & ~3;
  for (let r = 0; r < N; r++) {
    const o = addr(out, r * C);
    const x = addr(inp, r * C);
    for (let c = 0; c < vec; c += 4) {
      v128.store(addr(o, c), f32x4.add(v128.load(addr(x, c)), v128.load(addr(bias, c))));
    }
    for (let c = vec; c < C; c++) stf(o, c, ldf(x, c) + ldf(bias, c));
  }
}

// dinp (N,C) += dout; dbias (C) += column sums of dout, rows ascending
export function biasAddBackward(dinp: usize, dbias: usize, dout: usize, N: i32, C: i32): void {
  residualBackwardHalf(dinp, dout, N * C);
  biasGrad(dbias, dout, N, C);
}

function residualBackwardHalf(da: usize, dout: usize, N: i32): void {
  const vec = N & ~3;
  for (let i = 0; i < vec; i += 4) {
    v128.store(addr(da, i), f32x4.add(v128.load(addr(da, i)), v128.load(addr(dout, i))));
  }
  for (let i = vec; i < N; i++) stf(da, i, ldf(da, i) + ldf(dout, i));
}

export function biasAddForwardNaive(out: usize, inp: usize, bias: usize, N: i32, C: i32): void {
  for (let r = 0; r < N; r++) {
    for (let c = 0; c < C; c++) stf(out, r * C + c, ldf(inp, r * C + c) + ldf(bias, c));
  }
}

export function biasAddBackwardNaive(
  dinp: usize,
  dbias: usize,
  dout: usize,
  N: i32,
  C: i32,
): void {
  for (let i = 0; i < N * C; i++) stf(dinp, i, ldf(dinp, i) + ldf(dout, i));
  biasGradNaive(dbias, dout, N, C);
}
