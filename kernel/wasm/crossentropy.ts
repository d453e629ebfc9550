// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Fused softmax + cross-entropy. The loss is log-sum-exp minus the target logit, which stays
// finite for extreme logits where -log(prob) would underflow to -log(0). The softmax is the
// shared canonical one (util.ts), so the f32x4 version and its naive twin agree bit for bit.
import {
  addr,
  expSumRow,
  expSumRowNaive,
  ldf,
  ldi,
  rowMax,
  rowMaxNaive,
  scaleRow,
  scaleRowNaive,
  stf,
} from "./util.ts";

// losses is (N), probs is (N,V), logits is (N,V), targets is (N) i32
export function crossEntropyForward(
  losses: usize,
  probs: usize,
  logits: usize,
  targets: usize,
  N: i32,
  V: i32,
): void {
  for (let r = 0; r < N; r++) {
    const x = addr(logits, r * V);
    const p = addr(probs, r * V);
    const mx = rowMax(x, V);
    const sum = expSumRow(p, x, mx, V);
    scaleRow(p, <f32> 1 / sum, V);
    stf(losses, r, Mathf.log(sum) + mx - ldf(x, ldi(targets, r)));
  }
}

// dlogits += (probs - onehot(target)) * dloss, where dloss is d(total loss)/d(loss of one row)
export function crossEntropyBackward(
  dlogits: usize,
  probs: usize,
  targets: usize,
  dloss: f32,
  N: i32,
  V: i32,
): void {
  const vec = V & ~3;
  const vd = f32x4.splat(dloss);
  const one = f32x4.splat(1);
  const iota = i32x4(0, 1, 2, 3);
  for (let r = 0; r < N; r++) {
    const p = addr(probs, r * V);
    const d = addr(dlogits, r * V);
    const tgt = ldi(targets, r);
    const vt = i32x4.splat(tgt);
    for (let i = 0; i < vec; i += 4) {
      const ind = v128.and(i32x4.eq(i32x4.add(iota, i32x4.splat(i)), vt), one);
      const pd = addr(d, i);
      const g = f32x4.mul(f32x4.sub(v128.load(addr(p, i)), ind), vd);
      v128.store(pd, f32x4.add(v128.load(pd), g));
    }
    for (let i = vec; i < V; i++) {
      const ind: f32 = i == tgt ? 1 : 0;
      stf(d, i, ldf(d, i) + (ldf(p, i) - ind) * dloss);
    }
  }
}

export function crossEntropyForwardNaive(
  losses: usize,
  probs: usize,
  logits: usize,
  targets: usize,
  N: i32,
  V: i32,
): void {
  for (let r = 0; r < N; r++) {
    const x = addr(logits, r * V);
    const p = addr(probs, r * V);
    const mx = rowMaxNaive(x, V);
    const sum = expSumRowNaive(p, x, mx, V);
    scaleRowNaive(p, <f32> 1 / sum, V);
    stf(losses, r, Mathf.log(sum) + mx - ldf(x, ldi(targets, r)));
  }
}

export function crossEntropyBackwardNaive(
  dlogits: usize,
  probs: usize,
  targets: usize,
  dloss: f32,
  N: i32,
  V: i32,
): void {
  for (let r = 0; r < N; r++) {
    const p = addr(probs, r * V);
    const d = addr(dlogits, r * V);
    const tgt = ldi(targets, r);
    for (let i = 0; i < V; i++) {
      const ind: f32 = i == tgt ? 1 : 0;
      stf(d, i, ldf(d, i) + (ldf(p, i) - ind) * dloss);
    }
  }
}
