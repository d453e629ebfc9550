/**
 * The thread splits of kernel/parallel.ts, op by op: each op run as n parts (one after another
 * on one instance, ragged sizes so parts are uneven or empty) must match the f64 reference and
 * finite differences, and the naive whole op bit for bit.
 */
import { splitSequential } from "../../../kernel/parallel.ts";
import { Kernel, loadKernel } from "../../../kernel/wasm_module.ts";
import { type Arrays, checkOp } from "../op_check.ts";

const base = loadKernel();
/** A kernel over the same instance whose parallel ops run as n sequential parts. */
const split = (n: number) => new Kernel(splitSequential(base.ops, n));

function matmulRef(x: Arrays, BT: number, C: number, OC: number): Float64Array {
  const out = new Float64Array(BT * OC);
  for (let r = 0; r < BT; r++) {
    for (let o = 0; o < OC; o++) {
      let s = x.bias![o]!;
      for (let c = 0; c < C; c++) s += x.inp![r * C + c]! * x.weight![c * OC + o]!;
      out[r * OC + o] = s;
    }
  }
  return out;
}

for (const n of [2, 3, 5]) {
  for (const [BT, C, OC] of [[7, 13, 11], [30, 9, 21], [3, 300, 5]] as const) {
    Deno.test(`split ${n}: matmul ${BT}x${C}x${OC}`, () => {
      const k = split(n);
      checkOp(k, {
        name: "matmul",
        inputs: { inp: { size: BT * C }, weight: { size: C * OC }, bias: { size: OC } },
        outputs: { out: BT * OC },
        diff: ["inp", "weight", "bias"],
        scratchBytes: Math.max(
          k.ops.gemmScratchBytes(BT, C),
          k.ops.gemmScratchBytes(BT, OC),
          k.ops.gemmScratchBytes(C, BT),
        ),
        hasNaive: true,
        forward: (k, p, naive) =>
          (naive ? k.ops.matmulForwardNaive : k.ops.matmulForward)(
            p.out!,
            p.inp!,
            p.weight!,
            p.bias!,
            BT,
            C,
            OC,
          ),
        backward: (k, p, d, dout, naive) =>
          (naive ? k.ops.matmulBackwardNaive : k.ops.matmulBackward)(
            d.inp!,
            d.weight!,
            d.bias!,
            dout,
            p.inp!,
            p.weight!,
            BT,
            C,
            OC,
          ),
        reference: (x) => matmulRef(x, BT, C, OC),
      });
    });
  }

  Deno.test(`split ${n}: layernorm 5x10`, () => {
    const [N, C] = [5, 10];
    checkOp(split(n), {
      name: "layernorm",
      inputs: { inp: { size: N * C }, weight: { size: C }, bias: { size: C } },
      outputs: { out: N * C, mean: N, rstd: N },
      diff: ["inp", "weight", "bias"],
      hasNaive: true,
      forward: (k, p, naive) =>
        (naive ? k.ops.layernormForwardNaive : k.ops.layernormForward)(
          p.out!,
          p.mean!,
          p.rstd!,
          p.inp!,
          p.weight!,
          p.bias!,
          N,
          C,
        ),
      backward: (k, p, d, dout, naive) =>
        (naive ? k.ops.layernormBackwardNaive : k.ops.layernormBackward)(
          d.inp!,
          d.weight!,
          d.bias!,
          dout,
          p.inp!,
          p.weight!,
          p.mean!,
          p.rstd!,
          N,
          C,
        ),
      reference: (x) => {
        const out = new Float64Array(N * C);
        for (let r = 0; r < N; r++) {
          const row = x.inp!.subarray(r * C, (r + 1) * C);
          const m = row.reduce((a, b) => a + b, 0) / C;
          const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / C;
          const s = 1 / Math.sqrt(v + 1e-5);
          for (let i = 0; i < C; i++) {
            out[r * C + i] = (row[i]! - m) * s * x.weight![i]! + x.bias![i]!;
          }
        }
        return out;
      },
    });
  });

  for (const [B, T, C, NH] of [[2, 5, 8, 2], [1, 7, 12, 3]] as const) {
    Deno.test(`split ${n}: attention B${B} T${T} C${C} NH${NH}`, () => {
      const hs = C / NH;
      checkOp(split(n), {
        name: "attention",
        inputs: { inp: { size: B * T * 3 * C } },
        outputs: { out: B * T * C, att: B * NH * T * T },
        diff: ["inp"],
        scratchBytes: T * 4,
        hasNaive: true,
        scales: [1, 8],
        forward: (k, p, naive) =>
          (naive ? k.ops.attentionForwardNaive : k.ops.attentionForward)(
            p.out!,
            p.att!,
            p.inp!,
            B,
            T,
            C,
            NH,
          ),
        backward: (k, p, d, dout, naive) =>
          (naive ? k.ops.attentionBackwardNaive : k.ops.attentionBackward)(
            d.inp!,
            dout,
            p.inp!,
            p.att!,
            B,
            T,
            C,
            NH,
          ),
        reference: (x) => {
          const inp = x.inp!;
          const out = new Float64Array(B * T * C);
          for (let b = 0; b < B; b++) {
            for (let t = 0; t < T; t++) {
              for (let h = 0; h < NH; h++) {
                const q = (b * T + t) * 3 * C + h * hs;
                const s: number[] = [];
                for (let t2 = 0; t2 <= t; t2++) {
                  const kk = (b * T + t2) * 3 * C + C + h * hs;
                  let dot = 0;
                  for (let i = 0; i < hs; i++) dot += inp[q + i]! * inp[kk + i]!;
                  s.push(dot / Math.sqrt(hs));
                }
                const mx = Math.max(...s);
                const e = s.map((v) => Math.exp(v - mx));
                const sum = e.reduce((a, v) => a + v, 0);
                for (let t2 = 0; t2 <= t; t2++) {
                  const v = (b * T + t2) * 3 * C + 2 * C + h * hs;
                  for (let i = 0; i < hs; i++) {
                    out[(b * T + t) * C + h * hs + i]! += (e[t2]! / sum) * inp[v + i]!;
                  }
                }
              }
            }
          }
          return out;
        },
      });
    });
  }

  Deno.test(`split ${n}: cross-entropy 5x11`, () => {
    const [N, V, DLOSS] = [5, 11, 0.37];
    checkOp(split(n), {
      name: "crossEntropy",
      inputs: { logits: { size: N * V } },
      ints: { targets: Int32Array.from([0, 10, 3, 3, 7]) },
      outputs: { out: N, probs: N * V },
      diff: ["logits"],
      dout: () => DLOSS,
      hasNaive: true,
      forward: (k, p, naive) =>
        (naive ? k.ops.crossEntropyForwardNaive : k.ops.crossEntropyForward)(
          p.out!,
          p.probs!,
          p.logits!,
          p.targets!,
          N,
          V,
        ),
      backward: (k, p, d, _dout, naive) =>
        (naive ? k.ops.crossEntropyBackwardNaive : k.ops.crossEntropyBackward)(
          d.logits!,
          p.probs!,
          p.targets!,
          DLOSS,
          N,
          V,
        ),
      reference: (x, ints) => {
        const out = new Float64Array(N);
        for (let r = 0; r < N; r++) {
          const row = x.logits!.subarray(r * V, (r + 1) * V);
          const mx = Math.max(...row);
          out[r] = mx + Math.log(row.reduce((a, b) => a + Math.exp(b - mx), 0)) -
            row[ints.targets![r]!]!;
        }
        return out;
      },
    });
  });

  Deno.test(`split ${n}: gelu over 23 elements`, () => {
    const N = 23;
    checkOp(split(n), {
      name: "gelu",
      inputs: { inp: { size: N } },
      outputs: { out: N },
      diff: ["inp"],
      hasNaive: true,
      forward: (k, p, naive) =>
        (naive ? k.ops.geluForwardNaive : k.ops.geluForward)(p.out!, p.inp!, N),
      backward: (k, p, d, dout, naive) =>
        (naive ? k.ops.geluBackwardNaive : k.ops.geluBackward)(d.inp!, dout, p.inp!, N),
      reference: (x) =>
        x.inp!.map((v) =>
          0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))
        ),
    });
  });
}
