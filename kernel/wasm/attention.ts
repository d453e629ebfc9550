// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Causal multi-head self-attention (llm.c layout). q.k uses the canonical 4-lane dot product (four
// keys at a time in the f32x4 version, same bits), the row softmax is the canonical one of util.ts
// and the value sums accumulate over t2 in ascending order, so the f32x4 and scalar versions agree
// bit for bit. Head size must be a multiple of 4. Backward needs T floats of scratch for one row of
// d(att) and uses the O(T) softmax-backward identity instead of llm.c's O(T^2) loop.
import {
  addr,
  dot,
  dot4,
  dot4Naive,
  dot4x4,
  dotNaive,
  expSumRow,
  expSumRowNaive,
  hmax,
  ldf,
  scaleRow,
  scaleRowNaive,
  scratch,
  stf,
} from "./util.ts";

// out is (B,T,C), att is (B,NH,T,T) (saved softmax weights), inp is (B,T,3C) = [q | k | v]
export function attentionForward(
  out: usize,
  att: usize,
  inp: usize,
  B: i32,
  T: i32,
  C: i32,
  NH: i32,
): void {
  attentionForwardHeads(out, att, inp, B, T, C, NH, 0, B * NH);
}

// attentionForward for the (batch, head) pairs u = b * NH + h in [u0, u1): the unit of work of
// one thread (pairs share nothing, so any split gives the bits of the whole).
export function attentionForwardHeads(
  out: usize,
  att: usize,
  inp: usize,
  B: i32,
  T: i32,
  C: i32,
  NH: i32,
  u0: i32,
  u1: i32,
): void {
  const hs = C / NH;
  const C3 = C * 3;
  const scale: f32 = 1 / Mathf.sqrt(<f32> hs);
  const vscale = f32x4.splat(scale);
  const stride = <usize> C3 << 2;
  for (let u = u0; u < u1; u++) {
    const b = u / NH, h = u % NH;
    for (let t = 0; t < T; t++) {
      const q = addr(inp, (b * T + t) * C3 + h * hs);
      const row = addr(att, ((b * NH + h) * T + t) * T);
      const keys = addr(inp, b * T * C3 + C + h * hs);
      let vmx = f32x4.splat(-Infinity);
      let t2 = 0;
      for (; t2 + 4 <= t + 1; t2 += 4) {
        const s = f32x4.mul(dot4x4(q, addr(keys, t2 * C3), stride, hs), vscale);
        v128.store(addr(row, t2), s);
        vmx = f32x4.max(vmx, s);
      }
      let mx = hmax(vmx);
      for (; t2 <= t; t2++) {
        const s = dot4(q, addr(keys, t2 * C3), hs) * scale;
        stf(row, t2, s);
        mx = max(mx, s);
      }
      scaleRow(row, <f32> 1 / expSumRow(row, row, mx, t + 1), t + 1);
      for (let t2 = t + 1; t2 < T; t2++) stf(row, t2, 0);
      // Four output lanes stay in a register across all t2 (same per-element order as naive).
      const o = addr(out, (b * T + t) * C + h * hs);
      const values = addr(inp, b * T * C3 + C * 2 + h * hs);
      for (let i = 0; i < hs; i += 4) {
        let acc = f32x4.splat(0);
        let pv = addr(values, i);
        for (let t2 = 0; t2 <= t; t2++) {
          acc = f32x4.add(acc, f32x4.mul(f32x4.splat(ldf(row, t2)), v128.load(pv)));
          pv += stride;
        }
        v128.store(addr(o, i), acc);
      }
    }
  }
}

// dinp (B,T,3C) += d(q|k|v)
export function attentionBackward(
  dinp: usize,
  dout: usize,
  inp: usize,
  att: usize,
  B: i32,
  T: i32,
  C: i32,
  NH: i32,
): void {
  attentionBackwardHeads(dinp, dout, inp, att, B, T, C, NH, 0, B * NH);
}

// attentionBackward for the pairs u = b * NH + h in [u0, u1). A pair's d(k) and d(v) rows take
// their contributions from the pair's own query rows in ascending t, whichever pairs run
// alongside, so any split gives the bits of the whole (and of the naive b, t, h loop order).
export function attentionBackwardHeads(
  dinp: usize,
  dout: usize,
  inp: usize,
  att: usize,
  B: i32,
  T: i32,
  C: i32,
  NH: i32,
  u0: i32,
  u1: i32,
): void {
  const hs = C / NH;
  const C3 = C * 3;
  const scale: f32 = 1 / Mathf.sqrt(<f32> hs);
  const stride = <usize> C3 << 2;
  const datt = scratch();
  for (let u = u0; u < u1; u++) {
    const b = u / NH, h = u % NH;
    for (let t = 0; t < T; t++) {
      const q = addr(inp, (b * T + t) * C3 + h * hs);
      const dq = addr(dinp, (b * T + t) * C3 + h * hs);
      const row = addr(att, ((b * NH + h) * T + t) * T);
      const d = addr(dout, (b * T + t) * C + h * hs);
      const values = addr(inp, b * T * C3 + C * 2 + h * hs);
      let t2 = 0;
      for (; t2 + 4 <= t + 1; t2 += 4) {
        v128.store(addr(datt, t2), dot4x4(d, addr(values, t2 * C3), stride, hs));
      }
      for (; t2 <= t; t2++) stf(datt, t2, dot4(addr(values, t2 * C3), d, hs));
      for (let t2 = 0; t2 <= t; t2++) {
        const off = (b * T + t2) * C3 + C * 2 + h * hs;
        const a = f32x4.splat(ldf(row, t2));
        const dv = addr(dinp, off);
        for (let i = 0; i < hs; i += 4) {
          const p = addr(dv, i);
          v128.store(p, f32x4.add(v128.load(p), f32x4.mul(a, v128.load(addr(d, i)))));
        }
      }
      const s = dot(row, datt, t + 1);
      for (let t2 = 0; t2 <= t; t2++) {
        const g = f32x4.splat(ldf(row, t2) * (ldf(datt, t2) - s) * scale);
        const off = (b * T + t2) * C3 + C + h * hs;
        const k = addr(inp, off);
        const dk = addr(dinp, off);
        for (let i = 0; i < hs; i += 4) {
          const pq = addr(dq, i);
          const pk = addr(dk, i);
          v128.store(pq, f32x4.add(v128.load(pq), f32x4.mul(v128.load(addr(k, i)), g)));
          v128.store(pk, f32x4.add(v128.load(pk), f32x4.mul(v128.load(addr(q, i)), g)));
        }
      }
    }
  }
}

export function attentionForwardNaive(
  out: usize,
  att: usize,
  inp: usize,
  B: i32,
  T: i32,
  C: i32,
  NH: i32,
): void {
  const hs = C / NH;
  const C3 = C * 3;
  const scale: f32 = 1 / Mathf.sqrt(<f32> hs);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const q = addr(inp, (b * T + t) * C3 + h * hs);
        const row = addr(att, ((b * NH + h) * T + t) * T);
        let mx: f32 = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const s = dot4Naive(q, addr(inp, (b * T + t2) * C3 + C + h * hs), hs) * scale;
          stf(row, t2, s);
          mx = max(mx, s);
        }
        scaleRowNaive(row, <f32> 1 / expSumRowNaive(row, row, mx, t + 1), t + 1);
        for (let t2 = t + 1; t2 < T; t2++) stf(row, t2, 0);
        const o = addr(out, (b * T + t) * C + h * hs);
        for (let i = 0; i < hs; i++) stf(o, i, 0);
        for (let t2 = 0; t2 <= t; t2++) {
          const v = addr(inp, (b * T + t2) * C3 + C * 2 + h * hs);
          const a = ldf(row, t2);
          for (let i = 0; i < hs; i++) stf(o, i, ldf(o, i) + a * ldf(v, i));
        }
      }
    }
  }
}

export function attentionBackwardNaive(
  dinp: usize,
  dout: usize,
  inp: usize,
  att: usize,
  B: i32,
  T: i32,
  C: i32,
  NH: i32,
): void {
  const hs = C / NH;
  const C3 = C * 3;
  const scale: f32 = 1 / Mathf.sqrt(<f32> hs);
  const datt = scratch();
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const q = addr(inp, (b * T + t) * C3 + h * hs);
        const dq = addr(dinp, (b * T + t) * C3 + h * hs);
        const row = addr(att, ((b * NH + h) * T + t) * T);
        const d = addr(dout, (b * T + t) * C + h * hs);
        for (let t2 = 0; t2 <= t; t2++) {
          const off = (b * T + t2) * C3 + C * 2 + h * hs;
          stf(datt, t2, dot4Naive(addr(inp, off), d, hs));
          const a = ldf(row, t2);
          const dv = addr(dinp, off);
          for (let i = 0; i < hs; i++) stf(dv, i, ldf(dv, i) + a * ldf(d, i));
        }
        const s = dotNaive(row, datt, t + 1);
        for (let t2 = 0; t2 <= t; t2++) {
          const g = ldf(row, t2) * (ldf(datt, t2) - s) * scale;
          const off = (b * T + t2) * C3 + C + h * hs;
          const k = addr(inp, off);
          const dk = addr(dinp, off);
          for (let i = 0; i < hs; i++) {
            stf(dq, i, ldf(dq, i) + ldf(k, i) * g);
            stf(dk, i, ldf(dk, i) + ldf(q, i) * g);
          }
        }
      }
    }
  }
}
