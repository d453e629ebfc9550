import { loadKernel } from "../../../kernel/wasm_module.ts";
import { type Arrays, checkOp } from "../op_check.ts";

const k = loadKernel();
const [N, V] = [5, 11];
const DLOSS = 0.37;

Deno.test("fused softmax cross-entropy forward/backward, finite for extreme logits", () => {
  checkOp(k, {
    name: "crossEntropy",
    inputs: { logits: { size: N * V } },
    ints: { targets: Int32Array.from([0, 10, 3, 3, 7]) },
    outputs: { out: N, probs: N * V },
    diff: ["logits"],
    scales: [1, 1e-3, 60],
    // The kernel takes one scalar dloss (the mean-loss scale), so the upstream gradient is uniform.
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
    reference: (x: Arrays, ints) => {
      const out = new Float64Array(N);
      for (let r = 0; r < N; r++) {
        const row = x.logits!.subarray(r * V, (r + 1) * V);
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((a, b) => a + Math.exp(b - mx), 0));
        out[r] = lse - row[ints.targets![r]!]!;
      }
      return out;
    },
  });
});
