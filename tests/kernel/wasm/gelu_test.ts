import { loadKernel } from "../../../kernel/wasm_module.ts";
import { checkOp } from "../op_check.ts";

const k = loadKernel();

Deno.test("gelu (tanh approximation) forward/backward, saturated inputs, f32x4 == scalar", () => {
  const N = 37;
  const c = Math.sqrt(2 / Math.PI);
  checkOp(k, {
    name: "gelu",
    inputs: { inp: { size: N } },
    outputs: { out: N },
    diff: ["inp"],
    scales: [1, 1e-3, 30],
    hasNaive: true,
    forward: (k, p, naive) =>
      (naive ? k.ops.geluForwardNaive : k.ops.geluForward)(p.out!, p.inp!, N),
    backward: (k, p, d, dout, naive) =>
      (naive ? k.ops.geluBackwardNaive : k.ops.geluBackward)(d.inp!, dout, p.inp!, N),
    reference: (x) => x.inp!.map((v) => 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v ** 3)))),
  });
});
