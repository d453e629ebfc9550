/**
 * Thread scaling of the training step, part of bench/kernel.ts (also runnable alone:
 * `deno run -A bench/kernel_threads.ts [--quick]`). The bench step (GPT, B16 T64 C128 L4, AdamW)
 * on kernel.wasm at one thread beside the threads build at 1, 2, ... cores, interleaved round by
 * round so background load hits all alike; medians and ratios to the one-thread kernel.wasm.
 * Each threaded result is also checked byte for byte against the single-thread one.
 */
import { sampleBatch } from "../kernel/data.ts";
import { DEFAULT_ADAMW, initOptState } from "../kernel/optimizer.ts";
import { initWeights, paramLayout } from "../kernel/params.ts";
import { loadThreadedKernel } from "../kernel/threads.ts";
import { createTrainer, type Hyper, type StepResult } from "../kernel/train_step.ts";
import { type Kernel, loadKernel } from "../kernel/wasm_module.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function sameBytes(a: StepResult, b: StepResult): boolean {
  const arrays = (r: StepResult) => [r.weights, r.grad, r.optState.m, r.optState.v];
  const eq = (x: Float32Array, y: Float32Array) => {
    const [u, v] = [new Uint32Array(x.buffer), new Uint32Array(y.buffer)];
    return u.length === v.length && u.every((w, i) => w === v[i]);
  };
  return a.loss === b.loss && arrays(a).every((x, i) => eq(x, arrays(b)[i]!));
}

/** Prints tokens/s per thread count and the speed-up over one thread. */
export async function runThreadsBench(reps: number): Promise<void> {
  const [B, T, C, L, NH] = [16, 64, 128, 4, 4];
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
  const counts = [...new Set([1, 2, navigator.hardwareConcurrency])];
  const kernels: [string, Kernel][] = [["kernel.wasm, 1 thread", loadKernel()]];
  for (const n of counts) {
    kernels.push([
      `threads build, ${n} thread${n > 1 ? "s" : ""}`,
      await loadThreadedKernel({ threads: n }),
    ]);
  }
  const layout = paramLayout(hyper.model);
  const w = initWeights(kernels[0]![1], layout, 1);
  const runs = kernels.map(([, k]) => createTrainer(k).trainStep);
  const times: number[][] = runs.map(() => []);
  let identical = true;
  for (let r = -3; r < reps; r++) {
    const batch = sampleBatch(text, B, T, 1, r + 3);
    let first: StepResult | undefined;
    for (const [i, step] of runs.entries()) {
      const t0 = performance.now();
      const out = step(w, initOptState("adamw", layout.size), batch, r + 3, hyper);
      if (r >= 0) times[i]!.push(performance.now() - t0);
      if (first === undefined) first = out;
      else identical &&= sameBytes(out, first);
    }
  }
  for (const [, k] of kernels) (k as { close?: () => void }).close?.();
  const base = median(times[0]!);
  console.log(
    `\nthreads: GPT step B=${B} T=${T} L=${L} C=${C}, AdamW, median of ${reps}, ` +
      `${navigator.hardwareConcurrency} cores`,
  );
  for (const [i, [label]] of kernels.entries()) {
    const ms = median(times[i]!);
    console.log(
      `${label.padEnd(26)} ${ms.toFixed(1).padStart(7)} ms/step ${
        ((B * T) / ms * 1000).toFixed(0).padStart(7)
      } tokens/s  ${(base / ms).toFixed(2)}x`,
    );
  }
  console.log(`results byte-identical to kernel.wasm at 1 thread: ${identical ? "yes" : "NO"}`);
}

if (import.meta.main) await runThreadsBench(Deno.args.includes("--quick") ? 5 : 25);
