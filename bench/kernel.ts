/**
 * Kernel benchmark, one run:  deno task bench:kernel [--quick] [--ladder [--sizes 86M,304M]]
 *  1. matmul GFLOP/s at the training shapes of the default model, kernel vs onnxruntime-web's
 *     wasm MatMul (1 thread; B as an input, and B as a constant initializer that ORT may prepack),
 *  2. training-step tokens/s for the GPT and SSM models, MFU against the kernel's own matmul peak,
 *     with the f32x4 ops and, in the same run, with every op but the GEMM on its naive scalar twin
 *     (bit-identical results; `--simd-only` skips that second measurement),
 *  3. memory per step (kernel linear memory, fresh JS arrays per step, process RSS),
 *  4. thread scaling of the step, byte-identical results checked (bench/kernel_threads.ts),
 *  5. the GPT step beside tfjs-backend-wasm 4.22 in the same run, tokens/s and ratio at 1 and 2
 *     threads (bench/kernel_tfjs.ts; tfjs threads are off under Deno, see there).
 * All figures are medians over repeated runs. `--ladder` runs only the model-size ladder instead
 * (124M- to 1.3B-class shapes, minutes per size; bench/kernel_ladder.ts).
 */
import { DEFAULT_ADAMW, initOptState } from "../kernel/optimizer.ts";
import { initWeights, type ModelConfig, paramLayout, VOCAB } from "../kernel/params.ts";
import { sampleBatch } from "../kernel/data.ts";
import { createTrainer, type Hyper } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { runLadder } from "./kernel_ladder.ts";
import { ortMatmul } from "./kernel_ort.ts";
import { runTfjsBench } from "./kernel_tfjs.ts";
import { runThreadsBench } from "./kernel_threads.ts";

if (Deno.args.includes("--ladder")) {
  await runLadder(Deno.args);
  Deno.exit(0);
}

const quick = Deno.args.includes("--quick");
const simdOnly = Deno.args.includes("--simd-only");
const REPS = quick ? 5 : 25;
const [B, T, C, L, NH] = [16, 64, 128, 4, 4];
const BT = B * T;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function timeMs(fn: () => unknown, reps = REPS): Promise<number> {
  for (let i = 0; i < 3; i++) await fn(); // warm-up: let V8 tier up to optimised code
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

// --- 1. matmul ---------------------------------------------------------------------------
// [label, M, K, N, transA, transB]: forward linears, the tied head, and the backward products.
const shapes: [string, number, number, number, 0 | 1, 0 | 1][] = [
  ["qkv fwd", BT, C, 3 * C, 0, 0],
  ["fc fwd", BT, C, 4 * C, 0, 0],
  ["fcproj fwd", BT, 4 * C, C, 0, 0],
  ["head fwd", BT, C, VOCAB, 0, 1],
  ["fc dinp", BT, 4 * C, C, 0, 1],
  ["fc dW", C, BT, 4 * C, 1, 0],
];
const k = loadKernel();
console.log(`matmul, median of ${REPS} (GFLOP/s; ORT = onnxruntime-web 1.30 wasm, 1 thread)`);
console.log("shape                 M x K x N          kernel   ORT(B input)  ORT(B const)  ratio");
let peak = 0;
const ratios: number[] = [];
for (const [label, M, K, N, tA, tB] of shapes) {
  const mark = k.mark();
  const a = k.alloc(M * K), b = k.alloc(K * N), out = k.alloc(M * N);
  k.ops.setScratch(k.alloc(k.ops.gemmScratchBytes(M, K) / 4));
  k.ops.initNormal(a, M * K, 1, 0, 1);
  k.ops.initNormal(b, K * N, 1, 1, 1);
  const flops = 2 * M * K * N;
  // ORT gets its operands already in the row-major layout its MatMul expects.
  const A = k.f32(a, M * K).slice(), Bm = k.f32(b, K * N).slice();
  const sessions = [
    await ortMatmul(M, K, N, A, Bm, false),
    await ortMatmul(M, K, N, A, Bm, true),
  ];
  // Interleave the three contenders round by round so background load hits them alike.
  const runs: (() => unknown)[] = [
    () => k.ops.gemm(out, a, b, 0, M, K, N, tA, tB, 0),
    ...sessions.map((s) => s.run),
  ];
  const times: number[][] = runs.map(() => []);
  for (let r = -3; r < REPS; r++) {
    for (const [i, run] of runs.entries()) {
      const t0 = performance.now();
      await run();
      if (r >= 0) times[i]!.push(performance.now() - t0);
    }
  }
  for (const s of sessions) await s.release();
  const [ours, ...ort] = times.map((t) => flops / median(t) / 1e6) as [number, number, number];
  peak = Math.max(peak, ours);
  const best = Math.max(...ort);
  ratios.push(ours / best);
  console.log(
    `${label.padEnd(12)} ${`${M}x${K}x${N}`.padStart(18)}  ${ours.toFixed(1).padStart(8)}` +
      `  ${ort[0]!.toFixed(1).padStart(12)}  ${ort[1]!.toFixed(1).padStart(12)}  ${
        (ours / best).toFixed(2)
      }x`,
  );
  k.release(mark);
}
console.log(
  `kernel matmul peak ${peak.toFixed(1)} GFLOP/s; ratio vs best ORT: median ${
    median(ratios).toFixed(2)
  }x, ` +
    `min ${Math.min(...ratios).toFixed(2)}x`,
);

// --- 2. training step --------------------------------------------------------------------
/** Model FLOPs of one step: matmuls + attention, forward x3 for forward+backward. */
function stepFlops(m: ModelConfig, tokens: number): number {
  const c = m.width;
  const mixer = m.kind === "gpt" ? 4 * c * c : 2 * c * c; // qkv+proj, or in+out projections
  const perToken = 2 * (m.layers * (mixer + 8 * c * c) + c * VOCAB);
  const attn = m.kind === "gpt" ? 2 * 2 * m.layers * c * ((T + 1) / 2) : 0; // causal q.k and a.v
  return 3 * tokens * (perToken + attn);
}

const text = new TextEncoder().encode(
  "It is a truth universally acknowledged, that a single man in possession of a good fortune, " +
    "must be in want of a wife. ".repeat(40),
);
console.log(
  `\ntraining step, B=${B} T=${T} (${BT} tokens), L=${L} C=${C}, AdamW, median of ${REPS}`,
);
const variants = simdOnly ? [false] : [false, true];
for (
  const [kind, scalarOps] of (["gpt", "ssm"] as const).flatMap((k) =>
    variants.map((v) => [k, v] as const)
  )
) {
  const kk = loadKernel(undefined, { scalarOps });
  const { trainStep } = createTrainer(kk);
  const model: ModelConfig = { kind, maxT: T, layers: L, heads: NH, width: C };
  const hyper: Hyper = {
    model,
    B,
    T,
    accumSteps: 1,
    gradClip: 1,
    schedule: { lr: 1e-3, warmupSteps: 10, totalSteps: 1000, minLrRatio: 0.1 },
    optimizer: { ...DEFAULT_ADAMW, weightDecay: 0.1 },
  };
  const layout = paramLayout(model);
  let w = initWeights(kk, layout, 1);
  let opt = initOptState("adamw", layout.size);
  let step = 0;
  const ms = await timeMs(() => {
    const r = trainStep(w, opt, sampleBatch(text, B, T, 1, step++), step, hyper);
    w = r.weights;
    opt = r.optState;
  });
  const flops = stepFlops(model, BT);
  const gflops = flops / ms / 1e6;
  const wasmMiB = kk.ops.memory.buffer.byteLength / 2 ** 20;
  const paramMiB = (layout.size * 4) / 2 ** 20;
  const tag = scalarOps ? `${kind} (scalar ops)` : kind;
  console.log(
    `${tag}: ${layout.size} params, ${ms.toFixed(1)} ms/step, ${
      (BT / ms * 1000).toFixed(0)
    } tokens/s, ` +
      `${gflops.toFixed(1)} GFLOP/s model, MFU ${
        ((100 * gflops) / peak).toFixed(0)
      }% of kernel matmul peak`,
  );
  if (scalarOps) continue; // same memory as the f32x4 run
  const state = 4 * paramMiB; // params, grads, AdamW m and v
  const line = [
    `     memory: wasm linear ${wasmMiB.toFixed(1)} MiB`,
    `(params+grads+m+v ${state.toFixed(1)}, activations+scratch ${(wasmMiB - state).toFixed(1)})`,
    `+ ${state.toFixed(1)} MiB of fresh JS arrays per step (weights, grad, m, v);`,
    `process RSS ${(Deno.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  ];
  console.log(line.join(" "));
}

// --- 4. threads ---------------------------------------------------------------------------
await runThreadsBench(REPS);

// --- 5. tfjs-backend-wasm -----------------------------------------------------------------
await runTfjsBench(REPS);
