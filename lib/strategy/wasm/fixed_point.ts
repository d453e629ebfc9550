// @ts-nocheck -- AssemblyScript, compiled by scripts/build_aggregate.ts; Deno cannot type it.
// deno-lint-ignore-file
//
// Exact fixed-point sums of weighted f32 deltas (lib/strategy/fixed_point_sum.ts has the design
// and the error bound). Every term x = n * d (f64, exact for integer n < 2^29) is rounded once to
// the grid 2^-64 and split into two integer limbs, both counted in i64 lanes:
//
//   hi = RN(x / 2^-14)                 |hi| <= 2^42      (|x| < 2^28)
//   lo = RN((x - hi * 2^-14) / 2^-64)  |lo| <= 2^49
//
// Integer additions are associative, so the limbs hold the same values in any order. Rounding to
// a grid uses the magic-constant trick: for |y| < 2^51 * g, (y + 1.5 * 2^52 * g) rounds y to a
// multiple of g (ties to even) and its bit pattern is bits(1.5 * 2^52 * g) + y / g; the constants
// are passed in (never folded into the loops) and their bit patterns subtracted once per call.
// `f64x2.nearest` (also ties to even) gives the same hi as that trick would.
//
// Accumulator layout: 8 elements per 128 bytes, as four (hi pair, lo pair) blocks of v128.
// Lengths are multiples of 8; the host zero-pads the tail.

const HI_GRID: f64 = 1.0 / 16384.0; // 2^-14
const LO_GRID: f64 = 1.0 / 18446744073709551616.0; // 2^-64

// Max |d| per slot, as f32 bits with the sign cleared (>= 0x7f800000: Inf or NaN). Unsigned
// max of the bits is the max of the magnitudes, and NaN bits exceed Infinity's.
export function scanMaxBits(slots: usize, stride: usize, count: i32, len: i32, out: usize): void {
  const mask = i32x4.splat(0x7fffffff);
  for (let u = 0; u < count; u++) {
    const p = slots + <usize> u * stride;
    let m0 = i32x4.splat(0);
    let m1 = i32x4.splat(0);
    let j = 0;
    for (; j + 16 <= len; j += 16) {
      const q = p + (<usize> j << 2);
      m0 = i32x4.max_u(m0, v128.and(v128.load(q), mask));
      m1 = i32x4.max_u(m1, v128.and(v128.load(q, 16), mask));
      m0 = i32x4.max_u(m0, v128.and(v128.load(q, 32), mask));
      m1 = i32x4.max_u(m1, v128.and(v128.load(q, 48), mask));
    }
    for (; j < len; j += 8) {
      const q = p + (<usize> j << 2);
      m0 = i32x4.max_u(m0, v128.and(v128.load(q), mask));
      m1 = i32x4.max_u(m1, v128.and(v128.load(q, 16), mask));
    }
    const m = i32x4.max_u(m0, m1);
    const a = max<u32>(<u32> i32x4.extract_lane(m, 0), <u32> i32x4.extract_lane(m, 1));
    const b = max<u32>(<u32> i32x4.extract_lane(m, 2), <u32> i32x4.extract_lane(m, 3));
    store<u32>(out + (<usize> u << 2), max<u32>(a, b));
  }
}

// acc += sum over slots u < count of RN(w[u] * slot_u, 2^-64), limb-wise. The host passes the
// weights times 2^14, so y = w * 2^14 * d is x in units of the hi grid: hi = nearest(y) (ties
// to even), and y - hi, exact and at most 1/2, is rounded to 2^-50 by the magic constant
// sg = 1.5 * 2^2. Within a call the hi parts are summed in f64 (exact: at most 16 * 2^42 < 2^53)
// and turned into integers once, through sh = 1.5 * 2^52 (ulp 1). Returns the OR of all the
// values' bits with the sign cleared: as an f32 it bounds every |value| from above, and it has
// an all-ones exponent when any value is Inf or NaN (a check without a second pass).
export function deposit(
  acc: usize,
  slots: usize,
  stride: usize,
  weights: usize,
  count: i32,
  len: i32,
  sh: f64,
  sg: f64,
): u32 {
  let seen = i32x4.splat(0);
  const vsh = f64x2.splat(sh);
  const vsg = f64x2.splat(sg);
  const zero = f64x2.splat(0);
  // The bit patterns of the constants were added once per term (lo) or per call (hi).
  const oh = i64x2.splat(reinterpret<i64>(sh));
  const ol = i64x2.splat(<i64> count * reinterpret<i64>(sg));
  for (let j = 0; j < len; j += 8) {
    const a = acc + (<usize> j << 4);
    let h0 = zero;
    let h1 = zero;
    let h2 = zero;
    let h3 = zero;
    let l0 = v128.load(a, 16);
    let l1 = v128.load(a, 48);
    let l2 = v128.load(a, 80);
    let l3 = v128.load(a, 112);
    let p = slots + (<usize> j << 2);
    for (let u = 0; u < count; u++) {
      seen = v128.or(seen, v128.or(v128.load(p), v128.load(p, 16)));
      const n = v128.load64_splat(weights + (<usize> u << 3));
      const y0 = f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(p)), n);
      const y1 = f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(p, 8)), n);
      const y2 = f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(p, 16)), n);
      const y3 = f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(p, 24)), n);
      p += stride;
      const q0 = f64x2.nearest(y0);
      const q1 = f64x2.nearest(y1);
      const q2 = f64x2.nearest(y2);
      const q3 = f64x2.nearest(y3);
      h0 = f64x2.add(h0, q0);
      h1 = f64x2.add(h1, q1);
      h2 = f64x2.add(h2, q2);
      h3 = f64x2.add(h3, q3);
      l0 = i64x2.add(l0, f64x2.add(f64x2.sub(y0, q0), vsg));
      l1 = i64x2.add(l1, f64x2.add(f64x2.sub(y1, q1), vsg));
      l2 = i64x2.add(l2, f64x2.add(f64x2.sub(y2, q2), vsg));
      l3 = i64x2.add(l3, f64x2.add(f64x2.sub(y3, q3), vsg));
    }
    v128.store(a, i64x2.add(v128.load(a), i64x2.sub(f64x2.add(h0, vsh), oh)));
    v128.store(a, i64x2.sub(l0, ol), 16);
    v128.store(a, i64x2.add(v128.load(a, 32), i64x2.sub(f64x2.add(h1, vsh), oh)), 32);
    v128.store(a, i64x2.sub(l1, ol), 48);
    v128.store(a, i64x2.add(v128.load(a, 64), i64x2.sub(f64x2.add(h2, vsh), oh)), 64);
    v128.store(a, i64x2.sub(l2, ol), 80);
    v128.store(a, i64x2.add(v128.load(a, 96), i64x2.sub(f64x2.add(h3, vsh), oh)), 96);
    v128.store(a, i64x2.sub(l3, ol), 112);
  }
  const bits = <u32> i32x4.extract_lane(seen, 0) | <u32> i32x4.extract_lane(seen, 1) |
    <u32> i32x4.extract_lane(seen, 2) | <u32> i32x4.extract_lane(seen, 3);
  return bits & 0x7fffffff;
}

// Moves lo's bits at and above 2^50 into hi, so lo is in [0, 2^50): same value, room for more.
export function carry(acc: usize, len: i32): void {
  const mask = i64x2.splat(0x3ffffffffffff);
  for (let j = 0; j < len; j += 2) {
    const a = acc + (<usize> j << 4);
    const lo = v128.load(a, 16);
    v128.store(a, i64x2.add(v128.load(a), i64x2.shr_s(lo, 50)));
    v128.store(a, v128.and(lo, mask), 16);
  }
}

// acc += src (another accumulator's limbs), then carry.
export function addLimbs(acc: usize, src: usize, len: i32): void {
  for (let j = 0; j < len; j += 2) {
    const a = acc + (<usize> j << 4);
    const b = src + (<usize> j << 4);
    v128.store(a, i64x2.add(v128.load(a), v128.load(b)));
    v128.store(a, i64x2.add(v128.load(a, 16), v128.load(b, 16)), 16);
  }
  carry(acc, len);
}

// out[j] = f32(S_j / total), S_j = hi * 2^-14 + lo * 2^-64 after a carry (lo in [0, 2^50)):
// hi = hh * 2^32 + hl, so S = (hh * 2^18 + hl * 2^-14) + lo * 2^-64, each product exact in f64.
// The carry is done in registers (acc is left as it was). A deterministic function of the exact
// sum and total.
export function finalize(acc: usize, out: usize, len: i32, total: f64): void {
  const mask = i64x2.splat(0x3ffffffffffff);
  const vt = f64x2.splat(total);
  const two52 = i64x2.splat(0x4330000000000000); // bits of 2^52: bits | x is 2^52 + x, x < 2^52
  const f52 = f64x2.splat(4503599627370496.0);
  const low32 = i64x2.splat(0xffffffff);
  const s18 = f64x2.splat(262144.0);
  const sHi = f64x2.splat(HI_GRID);
  const sLo = f64x2.splat(LO_GRID);
  for (let j = 0; j < len; j += 2) {
    const a = acc + (<usize> j << 4);
    const raw = v128.load(a, 16);
    const hi = i64x2.add(v128.load(a), i64x2.shr_s(raw, 50));
    const lo = v128.and(raw, mask);
    // hh: the high words (signed) of hi, in i32 lanes 0 and 1; hl, lo: exact through 2^52.
    const hh = f64x2.convert_low_i32x4_s(i32x4.shuffle(hi, hi, 1, 3, 1, 3));
    const hl = f64x2.sub(v128.or(v128.and(hi, low32), two52), f52);
    const lf = f64x2.sub(v128.or(lo, two52), f52);
    const s = f64x2.add(f64x2.add(f64x2.mul(hh, s18), f64x2.mul(hl, sHi)), f64x2.mul(lf, sLo));
    const q = f64x2.div(s, vt);
    v128.store64_lane(out + (<usize> j << 2), f32x4.demote_f64x2_zero(q), 0);
  }
}
