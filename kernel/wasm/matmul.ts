// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Matrix multiply: a packed, register-tiled f32x4 GEMM and the linear layer built on it.
// Every output element is summed over k in ascending order from 0 (mul then add, never fused),
// then the bias is added, then the old value when accumulating. The naive version follows the
// same order, so the two agree bit for bit on every shape and machine.
import { addr, ldf, scratch, stf } from "./util.ts";

const MR = 4; // rows per register tile
const NR = 8; // columns per register tile (two f32x4)
// k-block: one (KC,NR) block of packed B (8 KiB) stays in L1 while every row panel of packed A
// streams past it. Partial sums go to memory between blocks and resume exactly where they stopped,
// so each element is still one chain of adds over k ascending from 0.
const KC = 256;

// Bytes of scratch gemm needs for an (M,K)x(K,N) product: packed A, one packed B panel, and the
// partial-sum tiles of one column panel.
export function gemmScratchBytes(M: i32, K: i32): i32 {
  const mPad = ((M + MR - 1) / MR) * MR;
  return (mPad * K + K * NR + mPad * NR) << 2;
}

function elemA(A: usize, m: i32, k: i32, M: i32, K: i32, transA: bool): f32 {
  return transA ? ldf(A, k * M + m) : ldf(A, m * K + k);
}

function elemB(B: usize, k: i32, n: i32, K: i32, N: i32, transB: bool): f32 {
  return transB ? ldf(B, n * K + k) : ldf(B, k * N + n);
}

// Stores the 4x4 transpose of rows r0..r3 (each 4 consecutive k) as four k-major columns at
// dst, dst + step, dst + 2 step, dst + 3 step (bytes).
@inline
function storeTransposed(dst: usize, step: usize, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + step, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * step, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * step, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

// Packs MR rows of op(A) starting at row m0 into k-major order (dst[k*MR + i]); rows at or past
// mEnd (the end of the rows being computed, <= M) are zero padded.
function packA(dst: usize, A: usize, m0: i32, mEnd: i32, M: i32, K: i32, transA: bool): void {
  if (m0 + MR > mEnd) {
    for (let k = 0; k < K; k++) {
      for (let i = 0; i < MR; i++) {
        const m = m0 + i;
        stf(dst, k * MR + i, m < mEnd ? elemA(A, m, k, M, K, transA) : 0);
      }
    }
  } else if (transA) {
    for (let k = 0; k < K; k++) v128.store(addr(dst, k * MR), v128.load(addr(A, k * M + m0)));
  } else {
    const a0 = addr(A, m0 * K), a1 = addr(A, (m0 + 1) * K);
    const a2 = addr(A, (m0 + 2) * K), a3 = addr(A, (m0 + 3) * K);
    const vec = K & ~3;
    for (let k = 0; k < vec; k += 4) {
      const o = <usize> k << 2;
      storeTransposed(
        addr(dst, k * MR),
        MR << 2,
        v128.load(a0 + o),
        v128.load(a1 + o),
        v128.load(a2 + o),
        v128.load(a3 + o),
      );
    }
    for (let k = vec; k < K; k++) {
      for (let i = 0; i < MR; i++) stf(dst, k * MR + i, elemA(A, m0 + i, k, M, K, false));
    }
  }
}

// Packs NR columns of op(B) starting at column n0 into k-major order (dst[k*NR + j]), zero padded.
function packB(dst: usize, B: usize, n0: i32, K: i32, N: i32, transB: bool): void {
  if (n0 + NR > N) {
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < NR; j++) {
        const n = n0 + j;
        stf(dst, k * NR + j, n < N ? elemB(B, k, n, K, N, transB) : 0);
      }
    }
  } else if (!transB) {
    for (let k = 0; k < K; k++) {
      const src = addr(B, k * N + n0);
      const d = addr(dst, k * NR);
      v128.store(d, v128.load(src));
      v128.store(d, v128.load(src, 16), 16);
    }
  } else {
    const vec = K & ~3;
    for (let g = 0; g < NR; g += 4) {
      const b0 = addr(B, (n0 + g) * K), b1 = addr(B, (n0 + g + 1) * K);
      const b2 = addr(B, (n0 + g + 2) * K), b3 = addr(B, (n0 + g + 3) * K);
      for (let k = 0; k < vec; k += 4) {
        const o = <usize> k << 2;
        storeTransposed(
          addr(dst, k * NR + g),
          NR << 2,
          v128.load(b0 + o),
          v128.load(b1 + o),
          v128.load(b2 + o),
          v128.load(b3 + o),
        );
      }
    }
    for (let k = vec; k < K; k++) {
      for (let j = 0; j < NR; j++) stf(dst, k * NR + j, elemB(B, k, n0 + j, K, N, true));
    }
  }
}

// The register tile: c (MR,NR) at cp = [c +] sum over kn steps of packed A (ap) x packed B (bp).
function microKernel(cp: usize, ap: usize, bp: usize, kn: i32, resume: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  if (resume) {
    c00 = v128.load(cp);
    c01 = v128.load(cp, 16);
    c10 = v128.load(cp, 32);
    c11 = v128.load(cp, 48);
    c20 = v128.load(cp, 64);
    c21 = v128.load(cp, 80);
    c30 = v128.load(cp, 96);
    c31 = v128.load(cp, 112);
  }
  for (let k = 0; k < kn; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    // One load of the 4 packed rows, then lane broadcasts by shuffle: measured ~20-30% faster
    // in V8 than four load32_splat, and ~15% faster than an 8x4 tile over a pre-broadcast B
    // panel (twice the loads): this loop is bound by loads/uops, not math.
    const av = v128.load(ap);
    let a = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.shuffle<f32>(av, av, 3, 3, 3, 3);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    ap += MR << 2;
    bp += NR << 2;
  }
  v128.store(cp, c00);
  v128.store(cp, c01, 16);
  v128.store(cp, c10, 32);
  v128.store(cp, c11, 48);
  v128.store(cp, c20, 64);
  v128.store(cp, c21, 80);
  v128.store(cp, c30, 96);
  v128.store(cp, c31, 112);
}

// out (M,N) = [out +] (op(A) (M,K) @ op(B) (K,N) [+ bias (N)]); op transposes when trans is set,
// so A is stored (K,M) when transA and B is stored (N,K) when transB. bias may be 0.
export function gemm(
  out: usize,
  A: usize,
  B: usize,
  bias: usize,
  M: i32,
  K: i32,
  N: i32,
  transA: bool,
  transB: bool,
  accumulate: bool,
): void {
  gemmRows(out, A, B, bias, M, K, N, transA, transB, accumulate, 0, M);
}

// gemm restricted to output rows [m0, m1): the unit of work of one thread. Each output element is
// the same chain of adds whichever rows are computed with it, so any split of the rows gives the
// bits of the whole product. Needs gemmScratchBytes(m1 - m0, K) of scratch.
export function gemmRows(
  out: usize,
  A: usize,
  B: usize,
  bias: usize,
  M: i32,
  K: i32,
  N: i32,
  transA: bool,
  transB: bool,
  accumulate: bool,
  m0: i32,
  m1: i32,
): void {
  if (m1 <= m0) return;
  const mPanels = (m1 - m0 + MR - 1) / MR;
  const pa = scratch();
  const pb = pa + ((<usize> (mPanels * MR * K)) << 2);
  const partial = pb + ((<usize> (K * NR)) << 2);
  // Pack A once into k-major panels of MR rows, zero padded: the micro-kernel then reads one
  // contiguous stream, and padding rows only produce values that are never stored.
  for (let p = 0; p < mPanels; p++) {
    packA(pa + ((<usize> (p * MR * K)) << 2), A, m0 + p * MR, m1, M, K, transA);
  }
  for (let n0 = 0; n0 < N; n0 += NR) {
    packB(pb, B, n0, K, N, transB);
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kn = min(KC, K - k0);
      const bp = pb + ((<usize> (k0 * NR)) << 2);
      for (let p = 0; p < mPanels; p++) {
        const ap = pa + ((<usize> (p * MR * K + k0 * MR)) << 2);
        microKernel(partial + ((<usize> (p * MR * NR)) << 2), ap, bp, kn, k0 > 0);
      }
    }
    for (let p = 0; p < mPanels; p++) {
      const tile = partial + ((<usize> (p * MR * NR)) << 2);
      const r0 = m0 + p * MR;
      if (r0 + MR <= m1 && n0 + NR <= N) {
        for (let i = 0; i < MR; i++) {
          storeRow(out, tile + ((<usize> (i * NR)) << 2), bias, (r0 + i) * N + n0, n0, accumulate);
        }
      } else {
        // Edge tile: finish the valid elements in scalar, same order.
        for (let i = 0; i < MR && r0 + i < m1; i++) {
          for (let j = 0; j < NR && n0 + j < N; j++) {
            let r = ldf(tile, i * NR + j);
            if (bias) r = r + ldf(bias, n0 + j);
            const o = (r0 + i) * N + n0 + j;
            if (accumulate) r = ldf(out, o) + r;
            stf(out, o, r);
          }
        }
      }
    }
  }
}

function storeRow(out: usize, t: usize, bias: usize, o: i32, n0: i32, accumulate: bool): void {
  let r0 = v128.load(t);
  let r1 = v128.load(t, 16);
  const po = addr(out, o);
  if (bias) {
    const pb = addr(bias, n0);
    r0 = f32x4.add(r0, v128.load(pb));
    r1 = f32x4.add(r1, v128.load(pb, 16));
  }
  if (accumulate) {
    r0 = f32x4.add(v128.load(po), r0);
    r1 = f32x4.add(v128.load(po, 16), r1);
  }
  v128.store(po, r0);
  v128.store(po, r1, 16);
}

export function gemmNaive(
  out: usize,
  A: usize,
  B: usize,
  bias: usize,
  M: i32,
  K: i32,
  N: i32,
  transA: bool,
  transB: bool,
  accumulate: bool,
): void {
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc: f32 = 0;
      for (let k = 0; k < K; k++) {
        acc = acc + elemA(A, m, k, M, K, transA) * elemB(B, k, n, K, N, transB);
      }
      if (bias) acc = acc + ldf(bias, n);
      if (accumulate) acc = ldf(out, m * N + n) + acc;
      stf(out, m * N + n, acc);
    }
  }
}

// out is (BT,OC), inp is (BT,C), weight is (C,OC) (input-major so the forward streams rows of
// weight through the f32x4 tile), bias is (OC) or 0.
export function matmulForward(
  out: usize,
  inp: usize,
  weight: usize,
  bias: usize,
  BT: i32,
  C: i32,
  OC: i32,
): void {
  gemm(out, inp, weight, bias, BT, C, OC, false, false, false);
}

// dinp (BT,C) += dout @ weight^T; dweight (C,OC) += inp^T @ dout; dbias (OC) += column sums.
export function matmulBackward(
  dinp: usize,
  dweight: usize,
  dbias: usize,
  dout: usize,
  inp: usize,
  weight: usize,
  BT: i32,
  C: i32,
  OC: i32,
): void {
  if (dinp) gemm(dinp, dout, weight, 0, BT, OC, C, false, true, true);
  gemm(dweight, inp, dout, 0, C, BT, OC, true, false, true);
  if (dbias) biasGrad(dbias, dout, BT, OC);
}

export function matmulForwardNaive(
  out: usize,
  inp: usize,
  weight: usize,
  bias: usize,
  BT: i32,
  C: i32,
  OC: i32,
): void {
  gemmNaive(out, inp, weight, bias, BT, C, OC, false, false, false);
}

export function matmulBackwardNaive(
  dinp: usize,
  dweight: usize,
  dbias: usize,
  dout: usize,
  inp: usize,
  weight: usize,
  BT: i32,
  C: i32,
  OC: i32,
): void {
  if (dinp) gemmNaive(dinp, dout, weight, 0, BT, OC, C, false, true, true);
  gemmNaive(dweight, inp, dout, 0, C, BT, OC, true, false, true);
  if (dbias) biasGradNaive(dbias, dout, BT, OC);
}

// dbias (OC) += sum over rows of dout (N,OC), rows in ascending order.
export function biasGrad(dbias: usize, dout: usize, N: i32, OC: i32): void {
  biasGradCols(dbias, dout, N, OC, 0, OC);
}

// biasGrad restricted to columns [o0, o1): each column keeps its own ascending-row sum, so a
// split over columns gives the bits of the whole.
export function biasGradCols(dbias: usize, dout: usize, N: i32, OC: i32, o0: i32, o1: i32): void {
  const vec = o0 + ((o1 - o0) & ~3);
  for (let r = 0; r < N; r++) {
    const row = addr(dout, r * OC);
    for (let o = o0; o < vec; o += 4) {
      const pd = addr(dbias, o);
      v128.store(pd, f32x4.add(v128.load(pd), v128.load(addr(row, o))));
    }
    for (let o = vec; o < o1; o++) stf(dbias, o, ldf(dbias, o) + ldf(row, o));
  }
}

export function biasGradNaive(dbias: usize, dout: usize, N: i32, OC: i32): void {
  for (let r = 0; r < N; r++) {
    for (let o = 0; o < OC; o++) stf(dbias, o, ldf(dbias, o) + ldf(dout, r * OC + o));
  }
}
