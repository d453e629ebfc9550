// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Fused softmax + cross-entropy. The loss is log-sum-exp minus the target logit, which stays
// finite for extreme logits where -log(prob) would underflow to -log(0).
import { addr, ldf, ldi, stf } from "./util.ts";

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
    let mx: f32 = -Infinity;
    for (let i = 0; i < V; i++) mx = max(mx, ldf(x, i));
    let sum: f32 = 0;
    for (let i = 0; i < V; i++) {
      const e = Mathf.exp(ldf(x, i) - mx);
      stf(p, i, e);
      sum = sum + e;
    }
    const inv: f32 = 1 / sum;
    for (let i = 0; i < V; i++) stf(p, i, ldf(p, i) * inv);
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
