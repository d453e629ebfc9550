import { loadKernel } from "../../../kernel/wasm_module.ts";
import { type Arrays, checkOp } from "../op_check.ts";

const k = loadKernel();

function ssmRef(x: Arrays, B: number, T: number, C: number): Float64Array {
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const a = 1 / (1 + Math.exp(-x.alpha![c]!));
      let h = 0;
      for (let t = 0; t < T; t++) {
        const i = (b * T + t) * C + c;
        h = a * h + x.bc![c]! * x.inp![i]!;
        out[i] = x.cc![c]! * h + x.dc![c]! * x.inp![i]!;
      }
    }
  }
  return out;
}

// C = 6: one f32x4 group of channels plus a scalar tail.
for (const [B, T, C] of [[2, 6, 6], [1, 9, 4]] as const) {
  Deno.test(`diagonal SSM scan forward/backward B${B} T${T} C${C}`, () => {
    checkOp(k, {
      name: "ssm",
      inputs: {
        inp: { size: B * T * C },
        alpha: { size: C },
        bc: { size: C },
        cc: { size: C },
        dc: { size: C },
      },
      outputs: { out: B * T * C, h: B * T * C },
      diff: ["inp", "alpha", "bc", "cc", "dc"],
      scratchBytes: 2 * C * 4,
      hasNaive: true,
      scales: [1, 1e-3, 6],
      forward: (k, p, naive) =>
        (naive ? k.ops.ssmForwardNaive : k.ops.ssmForward)(
          p.out!,
          p.h!,
          p.inp!,
          p.alpha!,
          p.bc!,
          p.cc!,
          p.dc!,
          B,
          T,
          C,
        ),
      backward: (k, p, d, dout, naive) =>
        (naive ? k.ops.ssmBackwardNaive : k.ops.ssmBackward)(
          d.inp!,
          d.alpha!,
          d.bc!,
          d.cc!,
          d.dc!,
          dout,
          p.inp!,
          p.h!,
          p.alpha!,
          p.bc!,
          p.cc!,
          p.dc!,
          B,
          T,
          C,
        ),
      reference: (x) => ssmRef(x, B, T, C),
    });
  });
}
