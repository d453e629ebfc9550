// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Layer normalisation over the last dimension, eps 1e-5, two-pass variance. Row sums use the
// canonical 4-lane order of util.ts and everything else is elementwise, so the f32x4 version and
// its naive twin agree bit for bit for any C.
import { addr, hsum, ldf, stf } from "./util.ts";

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
  const vec = C & ~3;
  for (let r = 0; r < N; r++) {
    const x = addr(inp, r * C);
    let acc = f32x4.splat(0);
    for (let i = 0; i < vec; i += 4) acc = f32x4.add(acc, v128.load(addr(x, i)));
    let m = hsum(acc);
    for (let i = vec; i < C; i++) m = m + ldf(x, i);
    m = m / <f32> C;
    const vm = f32x4.splat(m);
    acc = f32x4.splat(0);
    for (let i = 0; i < vec; i += 4) {
      const d = f32x4.sub(v128.load(addr(x, i)), vm);
      acc = f32x4.add(acc, f32x4.mul(d, d));
    }
    let v = hsum(acc);
    for (let i = vec; i < C; i++) {
      const d = ldf(x, i) - m;
      v = v + d * d;
    }
    v = v / <f32> C;
    const s: f32 = 1 / Mathf.sqrt(v + EPS);
    const vs = f32x4.splat(s);
    const o = addr(out, r * C);
    for (let i = 0; i < vec; i += 4) {
      const n = f32x4.mul(f32x4.sub(v128.load(addr(x, i)), vm), vs);
      const y = f32x4.add(f32x4.mul(n, v128.load(addr(weight, i))), v128.load(addr(bias, i)));
      v128.store(addr(o, i), y);
    }
    for (let i = vec; i < C; i++) {
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
  const vec = C & ~3;
  for (let r = 0; r < N; r++) {
    const d = addr(dout, r * C);
    const x = addr(inp, r * C);
    const dx = addr(dinp, r * C);
    const m = ldf(mean, r);
    const s = ldf(rstd, r);
    const vm = f32x4.splat(m), vs = f32x4.splat(s);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    for (let i = 0; i < vec; i += 4) {
      const norm = f32x4.mul(f32x4.sub(v128.load(addr(x, i)), vm), vs);
      const dnorm = f32x4.mul(v128.load(addr(weight, i)), v128.load(addr(d, i)));
      a0 = f32x4.add(a0, dnorm);
      a1 = f32x4.add(a1, f32x4.mul(dnorm, norm));
    }
    let dnormMean = hsum(a0);
    let dnormNormMean = hsum(a1);
    for (let i = vec; i < C; i++) {
      const norm = (ldf(x, i) - m) * s;
      const dnorm = ldf(weight, i) * ldf(d, i);
      dnormMean = dnormMean + dnorm;
      dnormNormMean = dnormNormMean + dnorm * norm;
    }
    dnormMean = dnormMean / <f32> C;
    dnormNormMean = dnormNormMean / <f32> C;
    const vdm = f32x4.splat(dnormMean), vdnm = f32x4.splat(dnormNormMean);
    for (let i = 0; i < vec; i += 4) {
      const g = v128.load(addr(d, i));
      const norm = f32x4.mul(f32x4.sub(v128.load(addr(x, i)), vm), vs);
      const dnorm = f32x4.mul(v128.load(addr(weight, i)), g);
      const pb = addr(dbias, i), pw = addr(dweight, i), px = addr(dx, i);
      v128.store(pb, f32x4.add(v128.load(pb), g));
      v128.store(pw, f32x4.add(v128.load(pw), f32x4.mul(norm, g)));
      const t = f32x4.sub(f32x4.sub(dnorm, vdm), f32x4.mul(norm, vdnm));
      v128.store(px, f32x4.add(v128.load(px), f32x4.mul(t, vs)));
    }
    for (let i = vec; i < C; i++) {
      const norm = (ldf(x, i) - m) * s;
      const dnorm = ldf(weight, i) * ldf(d, i);
      stf(dbias, i, ldf(dbias, i) + ldf(d, i));
      stf(dweight, i, ldf(dweight, i) + norm * ldf(d, i));
      stf(dx, i, ldf(dx, i) + (dnorm - dnormMean - norm * dnormNormMean) * s);
    }
  }
}

// The two halves of layernormBackward, for splitting it across threads: d(input) touches only its
// own row (split rows by offsetting the pointers), d(weight) and d(bias) sum over rows in
// ascending order per column (split columns with c0, c1). Together they give the bits of
// layernormBackward.
export function layernormBackwardInput(
  dinp: usize,
  dout: usize,
  inp: usize,
  weight: usize,
  mean: usize,
  rstd: usize,
  N: i32,
  C: i32,
): void {
  const vec = C & ~3;
  for (let r = 0; r < N; r++) {
    const d = addr(dout, r * C);
    const x = addr(inp, r * C);
    const dx = addr(dinp, r * C);
    const m = ldf(mean, r);
    const s = ldf(rstd, r);
    const vm = f32x4.splat(m), vs = f32x4.splat(s);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    for (let i = 0; i < vec; i += 4) {
      const norm = f32x4.mul(f32x4.sub(v128.load(addr(x, i)), vm), vs);
      const dnorm = f32x4.mul(v128.load(addr(weight, i)), v128.load(addr(d, i)));
      a0 = f32x4.add(a0, dnorm);
      a1 = f32x4.add(a1, f32x4.mul(dnorm, norm));
    }
    let dnormMean = hsum(a0);
    let dnormNormMean = hsum(a1);
    for (let i = vec; i < C; i++) {
      const norm = (ldf(x, i) - m) * s;
      const dnorm = ldf(weight, i) * ldf(d, i);
      dnormMean = dnormMean + dnorm;
      dnormNormMean = dnormNormMean + dnorm * norm;
    }
    dnormMean = dnormMean / <f32> C;
    dnormNormMean = dnormNormMean / <f32> C;
    const vdm = f32x4.splat(dnormMean), vdnm = f32x4.splat(dnormNormMean);
    for (let i = 0; i < vec; i += 4) {
      const norm = f32x4.mul(f32x4.sub(v128.load(addr(x, i)), vm), vs);
      const dnorm = f32x4.mul(v128.load(addr(weight, i)), v128.load(addr(d, i)));
      const px = addr(dx, i);
      const t = f32x4.sub(f32x4.sub(dnorm, vdm), f32x4.mul(norm, vdnm));
      v128.store(px, f32x4.add(v128.load(px), f32x4.mul(t, vs)));
    }
    for (let i = vec; i < C; i++) {
      const norm = (ldf(x, i) - m) * s;
      const dnorm = ldf(weight, i) * ldf(d, i);
      stf(dx, i, ldf(dx, i) + (dnorm - dnormMean - norm * dnormNormMean) * s);
    }
  }
}

// dweight, dbias (C) += column sums over the N rows (ascending), for columns [c0, c1) only
export function layernormBackwardParams(
  dweight: usize,
  dbias: usize,
  dout: usize,
  inp: usize,
  mean: usize,
  rstd: usize,
  N: i32,
  C: i32,
  c0: i32,
  c1: i32,
): void {
  const vec = c0 + ((c1 - c0) & ~3);
  for (let r = 0; r < N; r++) {
    const d = addr(dout, r * C);
    const x = addr(inp, r * C);
    const m = ldf(mean, r);
    const s = ldf(rstd, r);
    const vm = f32x4.splat(m), vs = f32x4.splat(s);
    for (let i = c0; i < vec; i += 4) {
      const g = v128.load(addr(d, i));
      const norm = f32x4.mul(f32x4.sub(v128.load(addr(x, i)), vm), vs);
      const pb = addr(dbias, i), pw = addr(dweight, i);
      v128.store(pb, f32x4.add(v128.load(pb), g));
      v128.store(pw, f32x4.add(v128.load(pw), f32x4.mul(norm, g)));
    }
    for (let i = vec; i < c1; i++) {
      const norm = (ldf(x, i) - m) * s;
      stf(dbias, i, ldf(dbias, i) + ldf(d, i));
      stf(dweight, i, ldf(dweight, i) + norm * ldf(d, i));
    }
  }
}

export function layernormForwardNaive(
  out: usize,
  mean: usize,
  rstd: usize,
  inp: usize,
  weight: usize,
  bias: usize,
  N: i32,
  C: i32,
): void {
  const vec = C & ~3;
  for (let r = 0; r < N; r++) {
    const x = addr(inp, r * C);
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    for (let i = 0; i < vec; i += 4) {
      s0 = s0 + ldf(x, i);
      s1 = s1 + ldf(x, i + 1);
      s2 = s2 + ldf(x, i + 2);
      s3 = s3 + ldf(x, i + 3);
    }
    let m = (s0 + s1) + (s2 + s3);
    for (let i = vec; i < C; i++) m = m + ldf(x, i);
    m = m / <f32> C;
    s0 = 0;
    s1 = 0;
    s2 = 0;
    s3 = 0;
    for (let i = 0; i < vec; i += 4) {
      const d0 = ldf(x, i) - m, d1 = ldf(x, i + 1) - m;
      const d2 = ldf(x, i + 2) - m, d3 = ldf(x, i + 3) - m;
      s0 = s0 + d0 * d0;
      s1 = s1 + d1 * d1;
      s2 = s2 + d2 * d2;
      s3 = s3 + d3 * d3;
    }
    let v = (s0 + s1) + (s2 + s3);
    for (let i = vec; i < C; i++) {
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

export function layernormBackwardNaive(
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
  const vec = C & ~3;
  for (let r = 0; r < N; r++) {
    const d = addr(dout, r * C);
    const x = addr(inp, r * C);
    const dx = addr(dinp, r * C);
    const m = ldf(mean, r);
    const s = ldf(rstd, r);
    // Lane j of the two canonical sums: elements i = j (mod 4) of the vectorised prefix.
    let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
    let b0: f32 = 0, b1: f32 = 0, b2: f32 = 0, b3: f32 = 0;
    for (let i = 0; i < vec; i += 4) {
      let dn = ldf(weight, i) * ldf(d, i);
      a0 = a0 + dn;
      b0 = b0 + dn * ((ldf(x, i) - m) * s);
      dn = ldf(weight, i + 1) * ldf(d, i + 1);
      a1 = a1 + dn;
      b1 = b1 + dn * ((ldf(x, i + 1) - m) * s);
      dn = ldf(weight, i + 2) * ldf(d, i + 2);
      a2 = a2 + dn;
      b2 = b2 + dn * ((ldf(x, i + 2) - m) * s);
      dn = ldf(weight, i + 3) * ldf(d, i + 3);
      a3 = a3 + dn;
      b3 = b3 + dn * ((ldf(x, i + 3) - m) * s);
    }
    let dnormMean = (a0 + a1) + (a2 + a3);
    let dnormNormMean = (b0 + b1) + (b2 + b3);
    for (let i = vec; i < C; i++) {
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
