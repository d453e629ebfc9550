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
