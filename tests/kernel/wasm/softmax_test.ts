import { loadKernel } from "../../../kernel/wasm_module.ts";
import { type Arrays, checkOp } from "../op_check.ts";

const k = loadKernel();
const [N, V] = [3, 9];

export function softmaxRef(x: Float64Array, N: number, V: number): Float64Array {
  const out = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    const row = x.subarray(r * V, (r + 1) * V);
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const s = e.reduce((a, b) => a + b, 0);
    for (let i = 0; i < V; i++) out[r * V + i] = e[i]! / s;
  }
  return out;
}

Deno.test("softmax forward/backward, including near-one-hot logits", () => {
  checkOp(k, {
    name: "softmax",
    inputs: { inp: { size: N * V } },
    outputs: { out: N * V },
    diff: ["inp"],
    scales: [1, 1e-3, 30],
    hasNaive: true,
    forward: (k, p, naive) =>
      (naive ? k.ops.softmaxForwardNaive : k.ops.softmaxForward)(p.out!, p.inp!, N, V),
    backward: (k, p, d, dout, naive) =>
      (naive ? k.ops.softmaxBackwardNaive : k.ops.softmaxBackward)(d.inp!, dout, p.out!, N, V),
    reference: (x: Arrays) => softmaxRef(x.inp!, N, V),
  });
});
