import { loadKernel } from "../../../kernel/wasm_module.ts";
import { type Arrays, checkOp } from "../op_check.ts";

const k = loadKernel();
const [N, C] = [4, 10]; // C = 10: two f32x4 steps and a scalar tail

function layernormRef(x: Arrays): Float64Array {
  const out = new Float64Array(N * C);
  for (let r = 0; r < N; r++) {
    const row = x.inp!.subarray(r * C, (r + 1) * C);
    const m = row.reduce((a, b) => a + b, 0) / C;
    const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / C;
    const s = 1 / Math.sqrt(v + 1e-5);
    for (let i = 0; i < C; i++) out[r * C + i] = (row[i]! - m) * s * x.weight![i]! + x.bias![i]!;
  }
  return out;
}

function spec(name: string, gen?: (z: number) => number, scales?: number[]) {
  return {
    name,
    inputs: { inp: { size: N * C, gen }, weight: { size: C }, bias: { size: C } },
    outputs: { out: N * C, mean: N, rstd: N },
    diff: ["inp", "weight", "bias"],
    scales,
    hasNaive: true,
    forward: (
      k: typeof import("../../../kernel/wasm_module.ts").Kernel.prototype,
      p: Record<string, number>,
      naive: boolean,
    ) =>
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
    backward: (
      k: typeof import("../../../kernel/wasm_module.ts").Kernel.prototype,
      p: Record<string, number>,
      d: Record<string, number>,
      dout: number,
      naive: boolean,
    ) =>
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
    reference: layernormRef,
  };
}

Deno.test("layernorm forward/backward", () => checkOp(k, spec("layernorm")));

// Rows with a large common offset: a one-pass E[x^2]-E[x]^2 variance would lose all precision.
Deno.test("layernorm with a large mean offset", () => {
  checkOp(k, {
    ...spec("layernorm+offset", (z) => 300 + z, [1, 0.1]),
    fwdTol: 2e-4,
    gradTol: 2e-3,
  });
});
