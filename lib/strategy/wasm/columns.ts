// @ts-nocheck -- AssemblyScript, compiled by scripts/build_aggregate.ts; Deno cannot type it.
// deno-lint-ignore-file
//
// Coordinate-wise kernels of the robust rules (median, trimmed mean, Bulyan). `count` slots hold
// one block of `len` coordinates of each update (slot u at slots + u * stride); a column is the
// `count` values of one coordinate. Four columns are handled per v128, one per lane.

// f32 bits <-> keys whose signed order is the total order of the values (-0 < +0): negative
// values get their magnitude bits flipped. The map is its own inverse.
function toKeys(p: usize, len: i32): void {
  const magnitude = i32x4.splat(0x7fffffff);
  for (let j = 0; j < len; j += 4) {
    const q = p + (<usize> j << 2);
    const v = v128.load(q);
    v128.store(q, v128.xor(v, v128.and(i32x4.shr_s(v, 31), magnitude)));
  }
}

// Compare-exchange of slots a < b over the block: min key to a, max key to b.
function exchange(pa: usize, pb: usize, len: i32): void {
  for (let j = 0; j < len; j += 4) {
    const qa = pa + (<usize> j << 2);
    const qb = pb + (<usize> j << 2);
    const x = v128.load(qa);
    const y = v128.load(qb);
    v128.store(qa, i32x4.min_s(x, y));
    v128.store(qb, i32x4.max_s(x, y));
  }
}

// Sorts every column ascending in place: Batcher's merge exchange (Knuth 5.2.2 M), a sorting
// network for any count, on keys (so the result is the sorted multiset, whatever the slot order).
export function sortColumns(slots: usize, stride: usize, count: i32, len: i32): void {
  for (let u = 0; u < count; u++) toKeys(slots + <usize> u * stride, len);
  if (count > 1) {
    let t = 0;
    while ((1 << t) < count) t++;
    for (let p = 1 << (t - 1); p > 0; p >>= 1) {
      let q = 1 << (t - 1);
      let r = 0;
      let d = p;
      while (d > 0) {
        for (let i = 0; i < count - d; i++) {
          if ((i & p) == r) {
            exchange(slots + <usize> i * stride, slots + <usize> (i + d) * stride, len);
          }
        }
        d = q - p;
        q >>= 1;
        r = p;
      }
    }
  }
  for (let u = 0; u < count; u++) toKeys(slots + <usize> u * stride, len);
}

// out[j] = median of sorted column j: the middle value, or f32((a + b) / 2) in f64 for even count.
export function medianColumns(out: usize, slots: usize, stride: usize, count: i32, len: i32): void {
  const h = count >> 1;
  const hi = slots + <usize> h * stride;
  if (count & 1) {
    memory.copy(out, hi, <usize> len << 2);
    return;
  }
  const lo = slots + <usize> (h - 1) * stride;
  const half = f64x2.splat(0.5);
  for (let j = 0; j < len; j += 4) {
    const o = <usize> j << 2;
    const a = v128.load(lo + o);
    const b = v128.load(hi + o);
    const s0 = f64x2.mul(f64x2.add(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(b)), half);
    const a1 = i64x2.shuffle(a, a, 1, 1);
    const b1 = i64x2.shuffle(b, b, 1, 1);
    const s1 = f64x2.mul(f64x2.add(f64x2.promote_low_f32x4(a1), f64x2.promote_low_f32x4(b1)), half);
    v128.store(
      out + o,
      i64x2.shuffle(f32x4.demote_f64x2_zero(s0), f32x4.demote_f64x2_zero(s1), 0, 2),
    );
  }
}

// Bulyan's window per column: of sorted values s[0..count), the `beta` closest to the median m,
// as found by dropping the farther end until `beta` remain (ties drop the top). Its start is the
// number of k in [0, count - beta) with m - s[k] > s[k + beta] - m: that difference falls as k
// grows, the two-pointer drop removes s[k] exactly when it is positive, and the count needs no
// branches, so four columns go at once (f64 differences, as the two-pointer form computes them).
export function windowLows(
  lows: usize,
  slots: usize,
  stride: usize,
  count: i32,
  beta: i32,
  len: i32,
): void {
  const h = count >> 1;
  const half = f64x2.splat(0.5);
  for (let j = 0; j < len; j += 4) {
    const col = slots + (<usize> j << 2);
    // Medians of the four columns, low pair and high pair, in f64.
    const mid = v128.load(col + <usize> h * stride);
    let m0 = f64x2.promote_low_f32x4(mid);
    let m1 = f64x2.promote_low_f32x4(i64x2.shuffle(mid, mid, 1, 1));
    if (!(count & 1)) {
      const below = v128.load(col + <usize> (h - 1) * stride);
      m0 = f64x2.mul(f64x2.add(f64x2.promote_low_f32x4(below), m0), half);
      m1 = f64x2.mul(
        f64x2.add(f64x2.promote_low_f32x4(i64x2.shuffle(below, below, 1, 1)), m1),
        half,
      );
    }
    let c0 = i64x2.splat(0);
    let c1 = i64x2.splat(0);
    for (let k = 0; k < count - beta; k++) {
      const a = v128.load(col + <usize> k * stride);
      const b = v128.load(col + <usize> (k + beta) * stride);
      const a0 = f64x2.promote_low_f32x4(a);
      const a1 = f64x2.promote_low_f32x4(i64x2.shuffle(a, a, 1, 1));
      const b0 = f64x2.promote_low_f32x4(b);
      const b1 = f64x2.promote_low_f32x4(i64x2.shuffle(b, b, 1, 1));
      c0 = i64x2.sub(c0, f64x2.gt(f64x2.sub(m0, a0), f64x2.sub(b0, m0))); // true is -1
      c1 = i64x2.sub(c1, f64x2.gt(f64x2.sub(m1, a1), f64x2.sub(b1, m1)));
    }
    v128.store(lows + (<usize> j << 2), i32x4.shuffle(c0, c1, 0, 2, 4, 6));
  }
}

// Zeroes, in every column, the values outside its window [lows[j], lows[j] + beta), so an exact
// sum over all slots (deposit) sums exactly the window.
export function maskWindows(
  slots: usize,
  stride: usize,
  count: i32,
  lows: usize,
  beta: i32,
  len: i32,
): void {
  const width = i32x4.splat(beta);
  for (let u = 0; u < count; u++) {
    const p = slots + <usize> u * stride;
    const k = i32x4.splat(u);
    for (let j = 0; j < len; j += 4) {
      const q = p + (<usize> j << 2);
      const lo = v128.load(lows + (<usize> j << 2));
      const inside = v128.and(i32x4.ge_s(k, lo), i32x4.lt_s(k, i32x4.add(lo, width)));
      v128.store(q, v128.and(v128.load(q), inside));
    }
  }
}
