import { loadKernel } from "../../../kernel/wasm_module.ts";
import { checkOp } from "../op_check.ts";

const k = loadKernel();

Deno.test("encoder (token + position embedding) forward/backward with repeated tokens", () => {
  const [B, T, C, V] = [2, 5, 6, 7];
  const tokens = Int32Array.from([3, 1, 3, 6, 0, 3, 3, 2, 6, 1]);
  checkOp(k, {
    name: "encoder",
    inputs: { wte: { size: V * C }, wpe: { size: T * C } },
    ints: { tokens },
    outputs: { out: B * T * C },
    diff: ["wte", "wpe"],
    scales: [1, 1e-3, 1e3],
    hasNaive: true,
    forward: (k, p, naive) =>
      (naive ? k.ops.encoderForwardNaive : k.ops.encoderForward)(
        p.out!,
        p.tokens!,
        p.wte!,
        p.wpe!,
        B,
        T,
        C,
      ),
    backward: (k, p, d, dout, naive) =>
      (naive ? k.ops.encoderBackwardNaive : k.ops.encoderBackward)(
        d.wte!,
        d.wpe!,
        dout,
        p.tokens!,
        B,
        T,
        C,
      ),
    reference: (x, ints) => {
      const out = new Float64Array(B * T * C);
      for (let bt = 0; bt < B * T; bt++) {
        for (let c = 0; c < C; c++) {
          out[bt * C + c] = x.wte![ints.tokens![bt]! * C + c]! + x.wpe![(bt % T) * C + c]!;
        }
      }
      return out;
    },
  });
});
