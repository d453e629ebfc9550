/**
 * An independent f64 reference of the whole decoder step (forward, mean cross-entropy loss,
 * backward), for the full-step test (llm.c's test_gpt2.c). Plain loops over Float64Arrays; it
 * shares no code with kernel/ (only the conventions: tensor names, input-major (in, out) linear
 * weights, head tied to wte, GELU tanh approximation, layernorm eps 1e-5, and the diagonal SSM
 * h_t = sigmoid(alpha) h_{t-1} + bc u_t, y_t = cc h_t + dc u_t). Read top to bottom.
 *
 * Regenerate the checked-in dump with: deno run -A tests/kernel/fixtures/make_reference.ts
 */

export const REF_VOCAB = 256;

export interface RefConfig {
  kind: "gpt" | "ssm";
  maxT: number;
  layers: number;
  heads: number;
  width: number;
}

export type Tensors = Record<string, Float64Array>;

/** Tensor names and shapes, in the kernel's flat-buffer order. */
export function refShapes(cfg: RefConfig): [string, number[]][] {
  const C = cfg.width;
  const out: [string, number[]][] = [["wte", [REF_VOCAB, C]], ["wpe", [cfg.maxT, C]]];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `h${l}.`;
    out.push([p + "ln1w", [C]], [p + "ln1b", [C]]);
    if (cfg.kind === "gpt") {
      out.push([p + "qkvw", [C, 3 * C]], [p + "qkvb", [3 * C]]);
    } else {
      out.push([p + "inw", [C, C]], [p + "inb", [C]], [p + "alpha", [C]], [p + "bc", [C]]);
      out.push([p + "cc", [C]], [p + "dc", [C]]);
    }
    out.push([p + "projw", [C, C]], [p + "projb", [C]]);
    out.push([p + "ln2w", [C]], [p + "ln2b", [C]], [p + "fcw", [C, 4 * C]], [p + "fcb", [4 * C]]);
    out.push([p + "fcprojw", [4 * C, C]], [p + "fcprojb", [C]]);
  }
  out.push(["lnfw", [C]], ["lnfb", [C]]);
  return out;
}

/**
 * Generic test weights from integer arithmetic only (mulberry32), rounded to f32 so the kernel
 * sees exactly the same values: matrices +-0.2 (wte +-0.5, so the logits are not all ~0), norm
 * gains 1 +- 0.2, biases +-0.1, SSM coefficients around their init.
 */
export function refWeights(cfg: RefConfig, seed: number): Tensors {
  let a = seed >>> 0;
  const uni = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1; // [-1, 1)
  };
  const w: Tensors = {};
  for (const [name, shape] of refShapes(cfg)) {
    const n = shape.reduce((x, y) => x * y, 1);
    const leaf = name.split(".").pop()!;
    const [base, amp] = leaf === "wte"
      ? [0, 0.5]
      : /ln.w$/.test(leaf)
      ? [1, 0.2]
      : leaf === "cc" || leaf === "dc"
      ? [1, 0.2]
      : leaf === "alpha"
      ? [1, 1]
      : leaf === "bc"
      ? [0.5, 0.2]
      : shape.length === 2
      ? [0, 0.2]
      : [0, 0.1];
    w[name] = Float64Array.from({ length: n }, () => Math.fround(base + amp * uni()));
  }
  return w;
}

// --- building blocks, each forward beside its backward ----------------------------------------

/** out (N,OC) = inp (N,IC) @ w (IC,OC) + b (OC) */
function linearForward(out: Float64Array, inp: Float64Array, w: Float64Array, b: Float64Array) {
  const OC = b.length, IC = w.length / OC, N = inp.length / IC;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      let s = b[o]!;
      for (let i = 0; i < IC; i++) s += inp[n * IC + i]! * w[i * OC + o]!;
      out[n * OC + o] = s;
    }
  }
}

function linearBackward(
  dinp: Float64Array,
  dw: Float64Array,
  db: Float64Array,
  dout: Float64Array,
  inp: Float64Array,
  w: Float64Array,
) {
  const OC = db.length, IC = dw.length / OC, N = inp.length / IC;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      const g = dout[n * OC + o]!;
      db[o]! += g;
      for (let i = 0; i < IC; i++) {
        dinp[n * IC + i]! += g * w[i * OC + o]!;
        dw[i * OC + o]! += g * inp[n * IC + i]!;
      }
    }
  }
}

/** out = (x - mean) / sqrt(var + 1e-5) * w + b per row; returns the normalised rows and rstd. */
function layernormForward(out: Float64Array, x: Float64Array, w: Float64Array, b: Float64Array) {
  const C = w.length, N = x.length / C;
  const norm = new Float64Array(x.length), rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0, v = 0;
    for (let i = 0; i < C; i++) m += x[n * C + i]! / C;
    for (let i = 0; i < C; i++) v += (x[n * C + i]! - m) ** 2 / C;
    rstd[n] = 1 / Math.sqrt(v + 1e-5);
    for (let i = 0; i < C; i++) {
      norm[n * C + i] = (x[n * C + i]! - m) * rstd[n]!;
      out[n * C + i] = norm[n * C + i]! * w[i]! + b[i]!;
    }
  }
  return { norm, rstd };
}

function layernormBackward(
  dx: Float64Array,
  dw: Float64Array,
  db: Float64Array,
  dout: Float64Array,
  saved: { norm: Float64Array; rstd: Float64Array },
  w: Float64Array,
) {
  const C = w.length, N = dout.length / C;
  for (let n = 0; n < N; n++) {
    let mean = 0, meanNorm = 0;
    for (let i = 0; i < C; i++) {
      const dn = dout[n * C + i]! * w[i]!;
      mean += dn / C;
      meanNorm += (dn * saved.norm[n * C + i]!) / C;
    }
    for (let i = 0; i < C; i++) {
      const j = n * C + i, dn = dout[j]! * w[i]!;
      db[i]! += dout[j]!;
      dw[i]! += dout[j]! * saved.norm[j]!;
      dx[j]! += (dn - mean - saved.norm[j]! * meanNorm) * saved.rstd[n]!;
    }
  }
}

const GELU_S = Math.sqrt(2 / Math.PI);

function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_S * (x + 0.044715 * x ** 3)));
}

function geluGrad(x: number): number {
  const t = Math.tanh(GELU_S * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_S * (1 + 3 * 0.044715 * x * x);
}

/** Causal attention on qkv (B,T,3C) -> y (B,T,C); returns the softmax weights per (b,h,t). */
function attentionForward(y: Float64Array, qkv: Float64Array, B: number, T: number, NH: number) {
  const C = y.length / (B * T), hs = C / NH;
  const probs: Float64Array[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * 3 * C + h * hs;
        const p = new Float64Array(t + 1);
        for (let t2 = 0; t2 <= t; t2++) {
          const k = (b * T + t2) * 3 * C + C + h * hs;
          for (let i = 0; i < hs; i++) p[t2]! += qkv[q + i]! * qkv[k + i]! / Math.sqrt(hs);
        }
        const mx = Math.max(...p);
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) sum += p[t2] = Math.exp(p[t2]! - mx);
        for (let t2 = 0; t2 <= t; t2++) {
          p[t2]! /= sum;
          const v = (b * T + t2) * 3 * C + 2 * C + h * hs;
          for (let i = 0; i < hs; i++) y[(b * T + t) * C + h * hs + i]! += p[t2]! * qkv[v + i]!;
        }
        probs.push(p);
      }
    }
  }
  return probs;
}

function attentionBackward(
  dqkv: Float64Array,
  dy: Float64Array,
  qkv: Float64Array,
  probs: Float64Array[],
  B: number,
  T: number,
  NH: number,
) {
  const C = dy.length / (B * T), hs = C / NH;
  let idx = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const p = probs[idx++]!;
        const q = (b * T + t) * 3 * C + h * hs, d = (b * T + t) * C + h * hs;
        const dp = new Float64Array(t + 1);
        for (let t2 = 0; t2 <= t; t2++) {
          const v = (b * T + t2) * 3 * C + 2 * C + h * hs;
          for (let i = 0; i < hs; i++) {
            dp[t2]! += dy[d + i]! * qkv[v + i]!;
            dqkv[v + i]! += p[t2]! * dy[d + i]!;
          }
        }
        let pdp = 0;
        for (let t2 = 0; t2 <= t; t2++) pdp += p[t2]! * dp[t2]!;
        for (let t2 = 0; t2 <= t; t2++) {
          const ds = (p[t2]! * (dp[t2]! - pdp)) / Math.sqrt(hs);
          const k = (b * T + t2) * 3 * C + C + h * hs;
          for (let i = 0; i < hs; i++) {
            dqkv[q + i]! += ds * qkv[k + i]!;
            dqkv[k + i]! += ds * qkv[q + i]!;
          }
        }
      }
    }
  }
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Diagonal recurrence on u (B,T,C) -> y (B,T,C); returns the states h. */
function ssmForward(y: Float64Array, u: Float64Array, w: Tensors, p: string, B: number, T: number) {
  const C = w[p + "bc"]!.length;
  const h = new Float64Array(u.length);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const a = sigmoid(w[p + "alpha"]![c]!);
      let prev = 0;
      for (let t = 0; t < T; t++) {
        const j = (b * T + t) * C + c;
        h[j] = prev = a * prev + w[p + "bc"]![c]! * u[j]!;
        y[j] = w[p + "cc"]![c]! * h[j]! + w[p + "dc"]![c]! * u[j]!;
      }
    }
  }
  return h;
}

function ssmBackward(
  du: Float64Array,
  g: Tensors,
  dy: Float64Array,
  u: Float64Array,
  h: Float64Array,
  w: Tensors,
  p: string,
  B: number,
  T: number,
) {
  const C = w[p + "bc"]!.length;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const a = sigmoid(w[p + "alpha"]![c]!);
      let dh = 0; // d(loss)/d(h_t) through h_{t+1}, ..., carried backwards in time
      for (let t = T - 1; t >= 0; t--) {
        const j = (b * T + t) * C + c;
        g[p + "cc"]![c]! += dy[j]! * h[j]!;
        g[p + "dc"]![c]! += dy[j]! * u[j]!;
        du[j]! += dy[j]! * w[p + "dc"]![c]!;
        dh += dy[j]! * w[p + "cc"]![c]!;
        const hPrev = t > 0 ? h[j - C]! : 0;
        g[p + "bc"]![c]! += dh * u[j]!;
        du[j]! += dh * w[p + "bc"]![c]!;
        g[p + "alpha"]![c]! += dh * hPrev * a * (1 - a);
        dh *= a;
      }
    }
  }
}

// --- the step ----------------------------------------------------------------------------------

/**
 * Mean next-token cross-entropy of (B,T) tokens/targets under weights `w`, and its gradient with
 * respect to every tensor.
 */
export function referenceStep(
  cfg: RefConfig,
  w: Tensors,
  tokens: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
): { loss: number; grads: Tensors } {
  const C = cfg.width, BT = B * T, V = REF_VOCAB;
  const f64 = (n: number) => new Float64Array(n);
  const W = (name: string) => w[name]!;

  // forward
  const x0 = f64(BT * C);
  for (let n = 0; n < BT; n++) {
    for (let c = 0; c < C; c++) {
      x0[n * C + c] = W("wte")[tokens[n]! * C + c]! + W("wpe")[(n % T) * C + c]!;
    }
  }
  const layers: Record<string, unknown>[] = [];
  let x = x0;
  for (let l = 0; l < cfg.layers; l++) {
    const p = `h${l}.`;
    const ln1 = f64(BT * C), mix = f64(BT * C), res2 = f64(BT * C), ln2 = f64(BT * C);
    const fch = f64(BT * 4 * C), fchg = f64(BT * 4 * C), fcproj = f64(BT * C), res3 = f64(BT * C);
    const ln1s = layernormForward(ln1, x, W(p + "ln1w"), W(p + "ln1b"));
    const y = f64(BT * C);
    const saved: Record<string, unknown> = { x, ln1, ln1s, y, res2, ln2, fch, fchg };
    if (cfg.kind === "gpt") {
      const qkv = f64(BT * 3 * C);
      linearForward(qkv, ln1, W(p + "qkvw"), W(p + "qkvb"));
      saved.qkv = qkv;
      saved.probs = attentionForward(y, qkv, B, T, cfg.heads);
    } else {
      const u = f64(BT * C);
      linearForward(u, ln1, W(p + "inw"), W(p + "inb"));
      saved.u = u;
      saved.h = ssmForward(y, u, w, p, B, T);
    }
    linearForward(mix, y, W(p + "projw"), W(p + "projb"));
    for (let i = 0; i < BT * C; i++) res2[i] = x[i]! + mix[i]!;
    saved.ln2s = layernormForward(ln2, res2, W(p + "ln2w"), W(p + "ln2b"));
    linearForward(fch, ln2, W(p + "fcw"), W(p + "fcb"));
    for (let i = 0; i < fch.length; i++) fchg[i] = gelu(fch[i]!);
    linearForward(fcproj, fchg, W(p + "fcprojw"), W(p + "fcprojb"));
    for (let i = 0; i < BT * C; i++) res3[i] = res2[i]! + fcproj[i]!;
    layers.push(saved);
    x = res3;
  }
  const lnf = f64(BT * C);
  const lnfs = layernormForward(lnf, x, W("lnfw"), W("lnfb"));
  const probs = f64(BT * V);
  let loss = 0;
  for (let n = 0; n < BT; n++) {
    const logits = f64(V);
    for (let v = 0; v < V; v++) {
      for (let c = 0; c < C; c++) logits[v]! += lnf[n * C + c]! * W("wte")[v * C + c]!;
    }
    const mx = Math.max(...logits);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[v]! - mx);
    for (let v = 0; v < V; v++) probs[n * V + v] = Math.exp(logits[v]! - mx) / sum;
    loss += (mx + Math.log(sum) - logits[targets[n]!]!) / BT;
  }

  // backward
  const g: Tensors = {};
  for (const [name, t] of Object.entries(w)) g[name] = f64(t.length);
  const G = (name: string) => g[name]!;
  const dlnf = f64(BT * C);
  for (let n = 0; n < BT; n++) {
    for (let v = 0; v < V; v++) {
      const dl = (probs[n * V + v]! - (v === targets[n] ? 1 : 0)) / BT;
      for (let c = 0; c < C; c++) {
        dlnf[n * C + c]! += dl * W("wte")[v * C + c]!;
        G("wte")[v * C + c]! += dl * lnf[n * C + c]!;
      }
    }
  }
  let dx = f64(BT * C);
  layernormBackward(dx, G("lnfw"), G("lnfb"), dlnf, lnfs, W("lnfw"));
  for (let l = cfg.layers - 1; l >= 0; l--) {
    const p = `h${l}.`;
    const s = layers[l]! as Record<string, Float64Array> & {
      ln1s: { norm: Float64Array; rstd: Float64Array };
      ln2s: { norm: Float64Array; rstd: Float64Array };
      probs: Float64Array[];
    };
    const dres2 = dx.slice(); // residual: d(res3) flows to res2 and to the MLP branch
    const dfchg = f64(BT * 4 * C), dfch = f64(BT * 4 * C), dln2 = f64(BT * C);
    linearBackward(dfchg, G(p + "fcprojw"), G(p + "fcprojb"), dx, s.fchg!, W(p + "fcprojw"));
    for (let i = 0; i < dfch.length; i++) dfch[i] = dfchg[i]! * geluGrad(s.fch![i]!);
    linearBackward(dln2, G(p + "fcw"), G(p + "fcb"), dfch, s.ln2!, W(p + "fcw"));
    layernormBackward(dres2, G(p + "ln2w"), G(p + "ln2b"), dln2, s.ln2s, W(p + "ln2w"));
    const dxPrev = dres2.slice(); // residual again: d(res2) flows to x and to the mixer branch
    const dy = f64(BT * C), dln1 = f64(BT * C);
    linearBackward(dy, G(p + "projw"), G(p + "projb"), dres2, s.y!, W(p + "projw"));
    if (cfg.kind === "gpt") {
      const dqkv = f64(BT * 3 * C);
      attentionBackward(dqkv, dy, s.qkv!, s.probs, B, T, cfg.heads);
      linearBackward(dln1, G(p + "qkvw"), G(p + "qkvb"), dqkv, s.ln1!, W(p + "qkvw"));
    } else {
      const du = f64(BT * C);
      ssmBackward(du, g, dy, s.u!, s.h!, w, p, B, T);
      linearBackward(dln1, G(p + "inw"), G(p + "inb"), du, s.ln1!, W(p + "inw"));
    }
    layernormBackward(dxPrev, G(p + "ln1w"), G(p + "ln1b"), dln1, s.ln1s, W(p + "ln1w"));
    dx = dxPrev;
  }
  for (let n = 0; n < BT; n++) {
    for (let c = 0; c < C; c++) {
      G("wte")[tokens[n]! * C + c]! += dx[n * C + c]!;
      G("wpe")[(n % T) * C + c]! += dx[n * C + c]!;
    }
  }
  return { loss, grads: g };
}

/**
 * Self-check of the reference: for every tensor, the directional derivative along its own
 * gradient by f64 central differences vs |g|. Returns the worst relative error.
 */
export function refGradientCheck(
  cfg: RefConfig,
  w: Tensors,
  tokens: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
): number {
  const { grads } = referenceStep(cfg, w, tokens, targets, B, T);
  let worst = 0;
  for (const [name, g] of Object.entries(grads)) {
    const norm = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
    if (norm === 0) continue;
    const eps = 1e-5;
    const shifted = (sign: number) => {
      const x = { ...w, [name]: w[name]!.map((v, i) => v + (sign * eps * g[i]!) / norm) };
      return referenceStep(cfg, x, tokens, targets, B, T).loss;
    };
    const fd = (shifted(1) - shifted(-1)) / (2 * eps);
    worst = Math.max(worst, Math.abs(fd - norm) / norm);
  }
  return worst;
}
