import { loadKernel } from "../../../kernel/wasm_module.ts";
import { checkOp } from "../op_check.ts";

const k = loadKernel();

Deno.test("residual forward/backward (length not a multiple of 4)", () => {
  const N = 23;
  checkOp(k, {
    name: "residual",
    inputs: { a: { size: N }, b: { size: N } },
    outputs: { out: N },
    diff: ["a", "b"],
    hasNaive: true,
    forward: (k, p, naive) =>
      (naive ? k.ops.residualForwardNaive : k.ops.residualForward)(p.out!, p.a!, p.b!, N),
    backward: (k, _p, d, dout, naive) =>
      (naive ? k.ops.residualBackwardNaive : k.ops.residualBackward)(d.a!, d.b!, dout, N),
    reference: (x) => x.a!.map((v, i) => v + x.b![i]!),
  });
});

Deno.test("bias add forward/backward", () => {
  const [N, C] = [5, 11];
  checkOp(k, {
    name: "biasAdd",
    inputs: { inp: { size: N * C }, bias: { size: C } },
    outputs: { out: N * C },
    diff: ["inp", "bias"],
    hasNaive: true,
    forward: (k, p, naive) =>
      (naive ? k.ops.biasAddForwardNaive : k.ops.biasAddForward)(p.out!, p.inp!, p.bias!, N, C),
    backward: (k, _p, d, dout, naive) =>
      (naive ? k.ops.biasAddBackwardNaive : k.ops.biasAddBackward)(d.inp!, d.bias!, dout, N, C),
    reference: (x) => x.inp!.map((v, i) => v + x.bias![i % C]!),
  });
});
