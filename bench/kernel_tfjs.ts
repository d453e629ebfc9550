/**
 * The kernel beside tfjs-backend-wasm 4.22 on the bench's GPT training step (B16 T64 C128 L4,
 * byte vocabulary), part of bench/kernel.ts (alone: `deno run -A bench/kernel_tfjs.ts [--quick]`).
 *
 * The peer runs the same GPT (same parameter shapes, tied head, tanh GELU, causal attention,
 * mean cross-entropy) as a tfjs step: forward, loss, gradients via `tf.variableGrads` (through
 * `optimizer.minimize`) and `tf.train.adam`. Every linear is a 2-D `tf.matMul` on (B*T, C) rows,
 * so its gradients are the two plain GEMMs `dY W^T` and `X^T dY` (no batched or broadcast
 * matmul); only the attention scores use a batched matmul, as they must. The wasm files load
 * offline from node_modules (`setWasmPaths` with the dist folder's file URL).
 *
 * Threads: tfjs-backend-wasm reports `WASM_HAS_MULTITHREAD_SUPPORT` false whenever `IS_NODE` is
 * true, which it is under Deno, and forcing the flag fails in emscripten's node worker path
 * (ERR_WORKER_PATH), so the peer runs at 1 thread only under Deno. The 2-thread row therefore
 * compares the kernel's threads build at 2 threads with tfjs at 1 and says so.
 */
// The union package: tfjs-core 4.22 plus its gradient registrations (tfjs-core alone registers
// none, and its per-file ESM sources use extensionless imports Deno cannot load).
import * as tf from "@tensorflow/tfjs";
import { setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { sampleBatch } from "../kernel/data.ts";
import { DEFAULT_ADAMW, initOptState, type OptState } from "../kernel/optimizer.ts";
import { initWeights, paramLayout, VOCAB } from "../kernel/params.ts";
import { loadThreadedKernel } from "../kernel/threads.ts";
import { type Batch, createTrainer, type Hyper } from "../kernel/train_step.ts";
import { type Kernel, loadKernel } from "../kernel/wasm_module.ts";

const [B, T, C, L, NH] = [16, 64, 128, 4, 4];
const BT = B * T;
const HS = C / NH;
const GELU_K = Math.sqrt(2 / Math.PI);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Loads tfjs-backend-wasm from node_modules (no network) at one thread. */
async function initTfjs(): Promise<void> {
  const dist = new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url);
  setWasmPaths(dist.href);
  setThreadsCount(1);
  if (!await tf.setBackend("wasm")) throw new Error("Cannot start tfjs-backend-wasm");
  await tf.ready();
}

/** The GPT's variables, shaped as the kernel's parameter layout, from the kernel's init. */
function tfjsVariables(flat: Float32Array): Map<string, tf.Variable> {
  const layout = paramLayout({ kind: "gpt", maxT: T, layers: L, heads: NH, width: C });
  const vars = new Map<string, tf.Variable>();
  for (const t of layout.tensors) {
    const v = flat.slice(t.offset, t.offset + t.size);
    vars.set(t.name, tf.variable(tf.tensor(v, t.shape), true, t.name));
  }
  return vars;
}

function layerNorm(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
  return tf.add(tf.mul(xhat, w), b);
}

/**
 * x @ w whose gradients are plain GEMMs on explicitly transposed operands, dx = dy @ w^T and
 * dw = x^T @ dy: tfjs-backend-wasm's matMul with transposeA/transposeB set runs 3-4x slower than
 * a transpose plus an untransposed matMul (measured at 1024x128x512), and tf.matMul's own
 * gradient uses those flags.
 */
const gemm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(sw)),
        tf.matMul(tf.transpose(sx), dy as tf.Tensor2D),
      ];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

/** A linear layer on (rows, in) as one plain GEMM; weights are input-major (in, out). */
const linear = (x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D =>
  tf.add(gemm(x, w as tf.Tensor2D), b);

const gelu = (x: tf.Tensor2D): tf.Tensor2D => {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), GELU_K);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
};

/** (BT, C) slice i of qkv as (B*NH, T, HS) heads. */
const heads = (qkv: tf.Tensor2D, i: number): tf.Tensor3D =>
  tf.reshape(
    tf.transpose(tf.reshape(tf.slice(qkv, [0, i * C], [BT, C]), [B, T, NH, HS]), [0, 2, 1, 3]),
    [B * NH, T, HS],
  );

/** Mean cross-entropy of the GPT on one batch; every intermediate stays 2-D outside attention. */
function gptLoss(
  v: Map<string, tf.Variable>,
  inputs: tf.Tensor1D,
  targets: tf.Tensor1D,
  mask: tf.Tensor,
): tf.Scalar {
  const p = (name: string) => v.get(name)!;
  // Embedding as GEMMs (tfjs-backend-wasm has no UnsortedSegmentSum for gather's gradient):
  // one-hot rows times wte, plus wpe broadcast over the batch.
  const tok = gemm(
    tf.cast(tf.oneHot(inputs, VOCAB), "float32") as tf.Tensor2D,
    p("wte") as tf.Tensor2D,
  );
  let x: tf.Tensor2D = tf.reshape(tf.add(tf.reshape(tok, [B, T, C]), p("wpe")), [BT, C]); // (BT,C)
  for (let l = 0; l < L; l++) {
    const h = `h${l}.`;
    const qkv = linear(layerNorm(x, p(h + "ln1w"), p(h + "ln1b")), p(h + "qkvw"), p(h + "qkvb"));
    const scores = tf.matMul(heads(qkv, 0), heads(qkv, 1), false, true);
    const att = tf.softmax(tf.add(tf.mul(scores, 1 / Math.sqrt(HS)), mask)) as tf.Tensor3D;
    const y = tf.reshape(
      tf.transpose(tf.reshape(tf.matMul(att, heads(qkv, 2)), [B, NH, T, HS]), [0, 2, 1, 3]),
      [BT, C],
    ) as tf.Tensor2D;
    x = tf.add(x, linear(y, p(h + "projw"), p(h + "projb")));
    const f = gelu(linear(layerNorm(x, p(h + "ln2w"), p(h + "ln2b")), p(h + "fcw"), p(h + "fcb")));
    x = tf.add(x, linear(f, p(h + "fcprojw"), p(h + "fcprojb")));
  }
  const xf = layerNorm(x, p("lnfw"), p("lnfb"));
  const logp = tf.logSoftmax(gemm(xf, tf.transpose(p("wte")) as tf.Tensor2D));
  return tf.div(tf.neg(tf.sum(tf.mul(logp, tf.cast(tf.oneHot(targets, VOCAB), "float32")))), BT);
}

/** One tfjs training step closure (forward, loss, variableGrads, Adam update). */
function tfjsStep(v: Map<string, tf.Variable>): (batch: Batch) => Promise<number> {
  const opt = tf.train.adam(1e-3, 0.9, 0.95, 1e-8);
  const mask = tf.tidy(() =>
    tf.reshape(tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([T, T]), -1, 0), 1), 1e9), [1, T, T])
  );
  const varList = [...v.values()];
  return async (batch) => {
    const cost = tf.tidy(() => {
      const inputs = tf.tensor1d(batch.tokens, "int32");
      const targets = tf.tensor1d(batch.targets, "int32");
      return opt.minimize(() => gptLoss(v, inputs, targets, mask), true, varList)!;
    });
    const loss = (await cost.data())[0]!;
    cost.dispose();
    return loss;
  };
}

/** Prints tokens/s of the kernel and tfjs-backend-wasm at 1 and 2 threads and the ratio. */
export async function runTfjsBench(reps: number): Promise<void> {
  await initTfjs();
  const hyper: Hyper = {
    model: { kind: "gpt", maxT: T, layers: L, heads: NH, width: C },
    B,
    T,
    accumSteps: 1,
    gradClip: 1,
    schedule: { lr: 1e-3, warmupSteps: 10, totalSteps: 1000, minLrRatio: 0.1 },
    optimizer: { ...DEFAULT_ADAMW, weightDecay: 0.1 },
  };
  const text = new TextEncoder().encode(
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, " +
      "must be in want of a wife. ".repeat(40),
  );
  const kernels: [string, Kernel][] = [
    ["kernel.wasm, 1 thread", loadKernel()],
    ["threads build, 2 threads", await loadThreadedKernel({ threads: 2 })],
  ];
  const layout = paramLayout(hyper.model);
  const w0 = initWeights(kernels[0]![1], layout, 1);
  const states = kernels.map(([, k]) => ({
    step: createTrainer(k).trainStep,
    w: w0.slice() as Float32Array,
    opt: initOptState("adamw", layout.size) as OptState,
  }));
  const vars = tfjsVariables(w0);
  const tfStep = tfjsStep(vars);
  const times: number[][] = [[], [], []];
  let tfLoss = 0, kLoss = 0;
  for (let r = -3; r < reps; r++) {
    const batch = sampleBatch(text, B, T, 1, r + 3);
    for (const [i, s] of states.entries()) {
      const t0 = performance.now();
      const out = s.step(s.w, s.opt, batch, r + 3, hyper);
      if (r >= 0) times[i]!.push(performance.now() - t0);
      [s.w, s.opt, kLoss] = [out.weights, out.optState, out.loss];
    }
    const t0 = performance.now();
    tfLoss = await tfStep(batch);
    if (r >= 0) times[2]!.push(performance.now() - t0);
  }
  for (const [, k] of kernels) (k as { close?: () => void }).close?.();
  for (const v of vars.values()) v.dispose();
  const [k1, k2, tfjs] = times.map(median) as [number, number, number];
  const tps = (ms: number) => (BT / ms * 1000).toFixed(0).padStart(7);
  console.log(
    `\nvs tfjs-backend-wasm 4.22 (XNNPACK, SIMD): GPT step B=${B} T=${T} L=${L} C=${C}, ` +
      `median of ${reps}; tfjs: Adam, variableGrads, 2-D GEMM linears`,
  );
  console.log("threads   kernel tokens/s   tfjs tokens/s   ratio");
  console.log(`1         ${tps(k1)}           ${tps(tfjs)}         ${(tfjs / k1).toFixed(2)}x`);
  console.log(
    `2         ${tps(k2)}           ${tps(tfjs)}*        ${(tfjs / k2).toFixed(2)}x` +
      "   * tfjs at 1 thread: its wasm threads are off under Deno (IS_NODE)",
  );
  console.log(`last-step loss: kernel ${kLoss.toFixed(4)}, tfjs ${tfLoss.toFixed(4)}`);
}

if (import.meta.main) await runTfjsBench(Deno.args.includes("--quick") ? 5 : 15);
