// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Causal multi-head self-attention (llm.c layout). q.k uses the canonical 4-lane dot product and
// the value sums accumulate over t2 in ascending order, so the f32x4 and scalar versions agree bit
// for bit. Head size must be a multiple of 4. Backward needs T floats of scratch for one row of
// d(att) and uses the O(T) softmax-backward identity instead of llm.c's O(T^2) loop.
import { addr, dot4, dot4Naive, ldf, scratch, stf } from "./util.ts";

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
          const k = addr(inp, (b * T + t2) * C3 + C + h * hs);
          const s = dot4(q, k, hs) * scale;
          stf(row, t2, s);
          mx = max(mx, s);
        }
        let sum: f32 = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const e = Mathf.exp(ldf(row, t2) - mx);
          stf(row, t2, e);
          sum = sum + e;
        }
        const inv: f32 = 1 / sum;
        for (let t2 = 0; t2 <= t; t2++) stf(row, t2, ldf(row, t2) * inv);
        for (let t2 = t + 1; t2 < T; t2++) stf(row, t2, 0);
        const o = addr(out, (b * T + t) * C + h * hs);
        for (let i = 0; i < hs; i += 4) v128.store(addr(o, i), f32x4.splat(0));
        for (let t2 = 0; t2 <= t; t2++) {
          const v = addr(inp, (b * T + t2) * C3 + C * 2 + h * hs);
          const a = f32x4.splat(ldf(row, t2));
          for (let i = 0; i < hs; i += 4) {
            const po = addr(o, i);
            v128.store(po, f32x4.add(v128.load(po), f32x4.mul(a, v128.load(addr(v, i)))));
          }
        }
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
          stf(datt, t2, dot4(addr(inp, off), d, hs));
          const a = f32x4.splat(ldf(row, t2));
          const dv = addr(dinp, off);
          for (let i = 0; i < hs; i += 4) {
            const p = addr(dv, i);
            v128.store(p, f32x4.add(v128.load(p), f32x4.mul(a, v128.load(addr(d, i)))));
          }
        }
        let s: f32 = 0;
        for (let t2 = 0; t2 <= t; t2++) s = s + ldf(row, t2) * ldf(datt, t2);
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
        let sum: f32 = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const e = Mathf.exp(ldf(row, t2) - mx);
          stf(row, t2, e);
          sum = sum + e;
        }
        const inv: f32 = 1 / sum;
        for (let t2 = 0; t2 <= t; t2++) stf(row, t2, ldf(row, t2) * inv);
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
        let s: f32 = 0;
        for (let t2 = 0; t2 <= t; t2++) s = s + ldf(row, t2) * ldf(datt, t2);
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
