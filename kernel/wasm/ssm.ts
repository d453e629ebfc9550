// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Diagonal linear recurrence (a minimal S4D/LRU-style SSM block), independent per channel:
//   h_t = a * h_{t-1} + b * x_t,   y_t = c * h_t + d * x_t,   h_{-1} = 0,   a = sigmoid(alpha)
// The sigmoid keeps |a| < 1 so the scan is stable whatever the optimiser does to alpha. Channels
// are independent and each is scanned in time order, so the f32x4 version (4 channels at once) and
// the scalar version perform the same operations per channel and agree bit for bit.
// Scratch: 2*C floats (a and the d(a) accumulator).
import { addr, ldf, scratch, stf } from "./util.ts";

function sigmoid(x: f32): f32 {
  return <f32> 1 / (<f32> 1 + Mathf.exp(-x));
}

// out, h are (B,T,C) (h saved for backward), inp is (B,T,C), alpha/bc/cc/dc are (C)
export function ssmForward(
  out: usize,
  h: usize,
  inp: usize,
  alpha: usize,
  bc: usize,
  cc: usize,
  dc: usize,
  B: i32,
  T: i32,
  C: i32,
): void {
  const a = scratch();
  for (let c = 0; c < C; c++) stf(a, c, sigmoid(ldf(alpha, c)));
  const vec = C & ~3;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < vec; c += 4) {
      const va = v128.load(addr(a, c));
      const vb = v128.load(addr(bc, c));
      const vc = v128.load(addr(cc, c));
      const vd = v128.load(addr(dc, c));
      let hp = f32x4.splat(0);
      for (let t = 0; t < T; t++) {
        const i = (b * T + t) * C + c;
        const x = v128.load(addr(inp, i));
        hp = f32x4.add(f32x4.mul(va, hp), f32x4.mul(vb, x));
        v128.store(addr(h, i), hp);
        v128.store(addr(out, i), f32x4.add(f32x4.mul(vc, hp), f32x4.mul(vd, x)));
      }
    }
    for (let c = vec; c < C; c++) ssmChannelForward(out, h, inp, a, bc, cc, dc, b, c, T, C);
  }
}

// dinp (B,T,C) += ...; dalpha, dbc, dcc, ddc (C) += ...
export function ssmBackward(
  dinp: usize,
  dalpha: usize,
  dbc: usize,
  dcc: usize,
  ddc: usize,
  dout: usize,
  inp: usize,
  h: usize,
  alpha: usize,
  bc: usize,
  cc: usize,
  dc: usize,
  B: i32,
  T: i32,
  C: i32,
): void {
  const a = scratch();
  for (let c = 0; c < C; c++) stf(a, c, sigmoid(ldf(alpha, c)));
  const vec = C & ~3;
  for (let c = 0; c < vec; c += 4) {
    const va = v128.load(addr(a, c));
    const vb = v128.load(addr(bc, c));
    const vc = v128.load(addr(cc, c));
    const vd = v128.load(addr(dc, c));
    let sa = f32x4.splat(0), sb = f32x4.splat(0), sc = f32x4.splat(0), sd = f32x4.splat(0);
    for (let b = 0; b < B; b++) {
      let carry = f32x4.splat(0);
      for (let t = T - 1; t >= 0; t--) {
        const i = (b * T + t) * C + c;
        const dy = v128.load(addr(dout, i));
        const x = v128.load(addr(inp, i));
        const hv = v128.load(addr(h, i));
        const hprev = t > 0 ? v128.load(addr(h, i - C)) : f32x4.splat(0);
        const g = f32x4.add(f32x4.mul(dy, vc), f32x4.mul(va, carry));
        const pdx = addr(dinp, i);
        v128.store(
          pdx,
          f32x4.add(v128.load(pdx), f32x4.add(f32x4.mul(dy, vd), f32x4.mul(g, vb))),
        );
        sb = f32x4.add(sb, f32x4.mul(g, x));
        sc = f32x4.add(sc, f32x4.mul(dy, hv));
        sd = f32x4.add(sd, f32x4.mul(dy, x));
        sa = f32x4.add(sa, f32x4.mul(g, hprev));
        carry = g;
      }
    }
    const one = f32x4.splat(1);
    const pa = addr(dalpha, c);
    v128.store(pa, f32x4.add(v128.load(pa), f32x4.mul(sa, f32x4.mul(va, f32x4.sub(one, va)))));
    v128.store(addr(dbc, c), f32x4.add(v128.load(addr(dbc, c)), sb));
    v128.store(addr(dcc, c), f32x4.add(v128.load(addr(dcc, c)), sc));
    v128.store(addr(ddc, c), f32x4.add(v128.load(addr(ddc, c)), sd));
  }
  for (let c = vec; c < C; c++) {
    ssmChannelBackward(dinp, dalpha, dbc, dcc, ddc, dout, inp, h, a, bc, cc, dc, c, B, T, C);
  }
}

export function ssmForwardNaive(
  out: usize,
  h: usize,
  inp: usize,
  alpha: usize,
  bc: usize,
  cc: usize,
  dc: usize,
  B: i32,
  T: i32,
  C: i32,
): void {
  const a = scratch();
  for (let c = 0; c < C; c++) stf(a, c, sigmoid(ldf(alpha, c)));
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) ssmChannelForward(out, h, inp, a, bc, cc, dc, b, c, T, C);
  }
}

export function ssmBackwardNaive(
  dinp: usize,
  dalpha: usize,
  dbc: usize,
  dcc: usize,
  ddc: usize,
  dout: usize,
  inp: usize,
  h: usize,
  alpha: usize,
  bc: usize,
  cc: usize,
  dc: usize,
  B: i32,
  T: i32,
  C: i32,
): void {
  const a = scratch();
  for (let c = 0; c < C; c++) stf(a, c, sigmoid(ldf(alpha, c)));
  for (let c = 0; c < C; c++) {
    ssmChannelBackward(dinp, dalpha, dbc, dcc, ddc, dout, inp, h, a, bc, cc, dc, c, B, T, C);
  }
}

function ssmChannelForward(
  out: usize,
  h: usize,
  inp: usize,
  a: usize,
  bc: usize,
  cc: usize,
  dc: usize,
  b: i32,
  c: i32,
  T: i32,
  C: i32,
): void {
  const va = ldf(a, c), vb = ldf(bc, c), vc = ldf(cc, c), vd = ldf(dc, c);
  let hp: f32 = 0;
  for (let t = 0; t < T; t++) {
    const i = (b * T + t) * C + c;
    const x = ldf(inp, i);
    hp = va * hp + vb * x;
    stf(h, i, hp);
    stf(out, i, vc * hp + vd * x);
  }
}

function ssmChannelBackward(
  dinp: usize,
  dalpha: usize,
  dbc: usize,
  dcc: usize,
  ddc: usize,
  dout: usize,
  inp: usize,
  h: usize,
  a: usize,
  bc: usize,
  cc: usize,
  dc: usize,
  c: i32,
  B: i32,
  T: i32,
  C: i32,
): void {
  const va = ldf(a, c), vb = ldf(bc, c), vc = ldf(cc, c), vd = ldf(dc, c);
  let sa: f32 = 0, sb: f32 = 0, sc: f32 = 0, sd: f32 = 0;
  for (let b = 0; b < B; b++) {
    let carry: f32 = 0;
    for (let t = T - 1; t >= 0; t--) {
      const i = (b * T + t) * C + c;
      const dy = ldf(dout, i);
      const x = ldf(inp, i);
      const hprev: f32 = t > 0 ? ldf(h, i - C) : 0;
      const g = dy * vc + va * carry;
      stf(dinp, i, ldf(dinp, i) + (dy * vd + g * vb));
      sb = sb + g * x;
      sc = sc + dy * ldf(h, i);
      sd = sd + dy * x;
      sa = sa + g * hprev;
      carry = g;
    }
  }
  stf(dalpha, c, ldf(dalpha, c) + sa * (va * (<f32> 1 - va)));
  stf(dbc, c, ldf(dbc, c) + sb);
  stf(dcc, c, ldf(dcc, c) + sc);
  stf(ddc, c, ldf(ddc, c) + sd);
}
