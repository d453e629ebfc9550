import { loadKernel } from "../../../kernel/wasm_module.ts";
import { type Arrays, checkOp } from "../op_check.ts";

const k = loadKernel();

function attentionRef(x: Arrays, B: number, T: number, C: number, NH: number): Float64Array {
  const hs = C / NH;
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
}

for (const [B, T, C, NH] of [[2, 5, 8, 2], [1, 7, 12, 1]] as const) {
  Deno.test(`causal self-attention forward/backward B${B} T${T} C${C} NH${NH}`, () => {
    checkOp(k, {
      name: "attention",
      inputs: { inp: { size: B * T * 3 * C } },
      outputs: { out: B * T * C, att: B * NH * T * T },
      diff: ["inp"],
      scratchBytes: T * 4,
      hasNaive: true,
      scales: [1, 1e-3, 8],
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
      reference: (x) => attentionRef(x, B, T, C, NH),
    });
  });
}
