// @ts-nocheck -- AssemblyScript, compiled by scripts/build_aggregate.ts; Deno cannot type it.
// deno-lint-ignore-file
//
// Pairwise squared L2 distances (Krum, Bulyan) over one block of `count` slots, added to the
// count x count f64 matrix `dist` (upper triangle, row-major). Differences and squares in f64
// (a difference of two f32 is exact there), summed in a fixed order: per pair, two f64 lanes
// over the block, then the lanes; blocks in coordinate order by the host. The result depends
// only on the two vectors, never on other slots or on the order updates arrived in.

// Slots promoted to f64 once per block: slot u, coordinate j at wide + (u * len + j) * 8.
function widen(wide: usize, slots: usize, stride: usize, count: i32, len: i32): void {
  for (let u = 0; u < count; u++) {
    const p = slots + <usize> u * stride;
    const w = wide + <usize> u * (<usize> len << 3);
    for (let j = 0; j < len; j += 4) {
      const v = v128.load(p + (<usize> j << 2));
      v128.store(w + (<usize> j << 3), f64x2.promote_low_f32x4(v));
      v128.store(w + (<usize> j << 3), f64x2.promote_low_f32x4(i64x2.shuffle(v, v, 1, 1)), 16);
    }
  }
}

// Sum over the block of (a - b)^2 for two widened rows: four f64x2 lanes (so the adds do not
// wait on each other), then the lanes in a fixed order.
function pairSum(a: usize, b: usize, len: i32): f64 {
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let s2 = f64x2.splat(0);
  let s3 = f64x2.splat(0);
  for (let j = 0; j < len; j += 8) {
    const o = <usize> j << 3;
    const d0 = f64x2.sub(v128.load(a + o), v128.load(b + o));
    const d1 = f64x2.sub(v128.load(a + o, 16), v128.load(b + o, 16));
    const d2 = f64x2.sub(v128.load(a + o, 32), v128.load(b + o, 32));
    const d3 = f64x2.sub(v128.load(a + o, 48), v128.load(b + o, 48));
    s0 = f64x2.add(s0, f64x2.mul(d0, d0));
    s1 = f64x2.add(s1, f64x2.mul(d1, d1));
    s2 = f64x2.add(s2, f64x2.mul(d2, d2));
    s3 = f64x2.add(s3, f64x2.mul(d3, d3));
  }
  const s = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
  return f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
}

// dist[a * count + b] += block part of |x_a - x_b|^2 for a < b. `wide` has count * len * 8 bytes.
export function squaredDistances(
  dist: usize,
  wide: usize,
  slots: usize,
  stride: usize,
  count: i32,
  len: i32,
): void {
  widen(wide, slots, stride, count, len);
  const row = <usize> len << 3;
  for (let a = 0; a < count; a++) {
    for (let b = a + 1; b < count; b++) {
      const at = dist + ((<usize> a * count + b) << 3);
      store<f64>(at, load<f64>(at) + pairSum(wide + <usize> a * row, wide + <usize> b * row, len));
    }
  }
}
