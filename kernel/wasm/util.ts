// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Shared pointer helpers for the kernel ops. All tensors are f32 (or i32 for token ids) living in
// linear memory owned by the TypeScript side; ops receive byte pointers and element counts.

// Scratch region (bytes) handed in by the host: gemm packing panels and per-row temporaries.
// A global rather than an argument so the public op signatures stay llm.c-shaped.
let scratchBase: usize = 0;

export function setScratch(ptr: usize): void {
  scratchBase = ptr;
}

export function scratch(): usize {
  return scratchBase;
}

export function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize> i << 2));
}

export function stf(p: usize, i: i32, v: f32): void {
  store<f32>(p + (<usize> i << 2), v);
}

export function ldi(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize> i << 2));
}

export function addr(p: usize, i: i32): usize {
  return p + (<usize> i << 2);
}

// Canonical dot product: four interleaved partial sums (lane j takes i % 4 == j), combined as
// (s0 + s1) + (s2 + s3). The SIMD and scalar versions below produce identical bits, which is what
// lets every SIMD op be checked bit-for-bit against its naive reference. n must be a multiple of 4.

export function dot4(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  for (let i = 0; i < n; i += 4) {
    acc = f32x4.add(acc, f32x4.mul(v128.load(addr(a, i)), v128.load(addr(b, i))));
  }
  return (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) +
    (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
}

export function dot4Naive(a: usize, b: usize, n: i32): f32 {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let i = 0; i < n; i += 4) {
    s0 = s0 + ldf(a, i) * ldf(b, i);
    s1 = s1 + ldf(a, i + 1) * ldf(b, i + 1);
    s2 = s2 + ldf(a, i + 2) * ldf(b, i + 2);
    s3 = s3 + ldf(a, i + 3) * ldf(b, i + 3);
  }
  return (s0 + s1) + (s2 + s3);
}

// Canonical 4-lane reductions with a tail, the order every SIMD op and its naive twin share:
// lane j sums the elements i = j (mod 4) of the vectorised prefix n & ~3 in ascending order, the
// lanes combine as (l0 + l1) + (l2 + l3), then the tail elements are added in ascending order.
// For n a multiple of 4, dot() is dot4().

export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

export function hmax(v: v128): f32 {
  return max(
    max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)),
    max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)),
  );
}

export function dot(a: usize, b: usize, n: i32): f32 {
  const vec = n & ~3;
  let acc = f32x4.splat(0);
  for (let i = 0; i < vec; i += 4) {
    acc = f32x4.add(acc, f32x4.mul(v128.load(addr(a, i)), v128.load(addr(b, i))));
  }
  let s = hsum(acc);
  for (let i = vec; i < n; i++) s = s + ldf(a, i) * ldf(b, i);
  return s;
}

export function dotNaive(a: usize, b: usize, n: i32): f32 {
  const vec = n & ~3;
  let s = dot4Naive(a, b, vec);
  for (let i = vec; i < n; i++) s = s + ldf(a, i) * ldf(b, i);
  return s;
}

// Canonical f32 exp (Cephes expf): x = n ln2 + r with ln2 split in two constants, a degree-5
// polynomial in r, then the scale 2^n built in the exponent bits. Only min/max/floor/mul/add and
// an exact float->int conversion, never fused: the f32x4 and scalar versions evaluate the same
// expression tree and agree bit for bit on every engine (Mathf.exp is scalar-only). Max error
// ~2 ulp. Inputs below EXP_LO (including -inf) give +0, so masked softmax entries vanish.
const EXP_HI: f32 = 88.0;
const EXP_LO: f32 = -87.0;
const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const E0: f32 = 1.9875691500e-4;
const E1: f32 = 1.3981999507e-3;
const E2: f32 = 8.3334519073e-3;
const E3: f32 = 4.1665795894e-2;
const E4: f32 = 1.6666665459e-1;
const E5: f32 = 5.0000001201e-1;

export function expScalar(x: f32): f32 {
  let c = x < EXP_LO ? EXP_LO : x;
  c = EXP_HI < c ? EXP_HI : c;
  const n = floor<f32>(c * LOG2E + <f32> 0.5);
  let r = c - n * LN2_HI;
  r = r - n * LN2_LO;
  const r2 = r * r;
  let p = r * E0 + E1;
  p = r * p + E2;
  p = r * p + E3;
  p = r * p + E4;
  p = r * p + E5;
  p = p * r2 + r + <f32> 1;
  const y = p * reinterpret<f32>((<i32> n + 127) << 23);
  return x < EXP_LO ? <f32> 0 : y;
}

export function expVec(x: v128): v128 {
  // pmax/pmin: single instructions with the scalar form's exact semantics (see gelu.ts).
  const c = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  const n = f32x4.floor(f32x4.add(f32x4.mul(c, f32x4.splat(LOG2E)), f32x4.splat(0.5)));
  let r = f32x4.sub(c, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  const r2 = f32x4.mul(r, r);
  let p = f32x4.add(f32x4.mul(r, f32x4.splat(E0)), f32x4.splat(E1));
  p = f32x4.add(f32x4.mul(r, p), f32x4.splat(E2));
  p = f32x4.add(f32x4.mul(r, p), f32x4.splat(E3));
  p = f32x4.add(f32x4.mul(r, p), f32x4.splat(E4));
  p = f32x4.add(f32x4.mul(r, p), f32x4.splat(E5));
  p = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1));
  const e = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(p, e), f32x4.lt(x, f32x4.splat(EXP_LO)));
}

// Softmax building blocks on one row of n floats (attention rows, cross-entropy, softmax).

export function rowMax(x: usize, n: i32): f32 {
  const vec = n & ~3;
  let acc = f32x4.splat(-Infinity);
  for (let i = 0; i < vec; i += 4) acc = f32x4.max(acc, v128.load(addr(x, i)));
  let m = hmax(acc);
  for (let i = vec; i < n; i++) m = max(m, ldf(x, i));
  return m;
}

export function rowMaxNaive(x: usize, n: i32): f32 {
  let m: f32 = -Infinity;
  for (let i = 0; i < n; i++) m = max(m, ldf(x, i));
  return m;
}

// out[i] = exp(x[i] - mx); returns their canonical sum. out may alias x.
export function expSumRow(out: usize, x: usize, mx: f32, n: i32): f32 {
  const vec = n & ~3;
  const vm = f32x4.splat(mx);
  let acc = f32x4.splat(0);
  for (let i = 0; i < vec; i += 4) {
    const e = expVec(f32x4.sub(v128.load(addr(x, i)), vm));
    v128.store(addr(out, i), e);
    acc = f32x4.add(acc, e);
  }
  let s = hsum(acc);
  for (let i = vec; i < n; i++) {
    const e = expScalar(ldf(x, i) - mx);
    stf(out, i, e);
    s = s + e;
  }
  return s;
}

export function expSumRowNaive(out: usize, x: usize, mx: f32, n: i32): f32 {
  const vec = n & ~3;
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let i = 0; i < vec; i += 4) {
    const e0 = expScalar(ldf(x, i) - mx), e1 = expScalar(ldf(x, i + 1) - mx);
    const e2 = expScalar(ldf(x, i + 2) - mx), e3 = expScalar(ldf(x, i + 3) - mx);
    stf(out, i, e0);
    stf(out, i + 1, e1);
    stf(out, i + 2, e2);
    stf(out, i + 3, e3);
    s0 = s0 + e0;
    s1 = s1 + e1;
    s2 = s2 + e2;
    s3 = s3 + e3;
  }
  let s = (s0 + s1) + (s2 + s3);
  for (let i = vec; i < n; i++) {
    const e = expScalar(ldf(x, i) - mx);
    stf(out, i, e);
    s = s + e;
  }
  return s;
}

// x[i] *= s
export function scaleRow(x: usize, s: f32, n: i32): void {
  const vec = n & ~3;
  const vs = f32x4.splat(s);
  for (let i = 0; i < vec; i += 4) v128.store(addr(x, i), f32x4.mul(v128.load(addr(x, i)), vs));
  for (let i = vec; i < n; i++) stf(x, i, ldf(x, i) * s);
}

export function scaleRowNaive(x: usize, s: f32, n: i32): void {
  for (let i = 0; i < n; i++) stf(x, i, ldf(x, i) * s);
}

// Lane j = dot4(q, k + j * stride) for four rows k, k + stride, ... (stride in bytes): the four
// accumulators are reduced by a transpose-add that forms (l0 + l1) + (l2 + l3) per row, so each
// lane is bit-identical to dot4 while q is loaded once for four rows.
export function dot4x4(q: usize, k: usize, stride: usize, n: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const k1 = k + stride, k2 = k + 2 * stride, k3 = k + 3 * stride;
  for (let i = 0; i < n; i += 4) {
    const vq = v128.load(addr(q, i));
    const o = <usize> i << 2;
    a0 = f32x4.add(a0, f32x4.mul(vq, v128.load(k + o)));
    a1 = f32x4.add(a1, f32x4.mul(vq, v128.load(k1 + o)));
    a2 = f32x4.add(a2, f32x4.mul(vq, v128.load(k2 + o)));
    a3 = f32x4.add(a3, f32x4.mul(vq, v128.load(k3 + o)));
  }
  const s01 = f32x4.add(
    v128.shuffle<f32>(a0, a1, 0, 2, 4, 6),
    v128.shuffle<f32>(a0, a1, 1, 3, 5, 7),
  );
  const s23 = f32x4.add(
    v128.shuffle<f32>(a2, a3, 0, 2, 4, 6),
    v128.shuffle<f32>(a2, a3, 1, 3, 5, 7),
  );
  return f32x4.add(
    v128.shuffle<f32>(s01, s23, 0, 2, 4, 6),
    v128.shuffle<f32>(s01, s23, 1, 3, 5, 7),
  );
}
