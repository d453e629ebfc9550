/**
 * Fixed training steps whose digests must be identical on every run, machine and runtime.
 * Shared by determinism_test.ts (Deno) and node_runner.ts (bundled and run under Node).
 */
import { encodeText, sampleBatch } from "../../kernel/data.ts";
import { digestGrad, digestWeights } from "../../kernel/digest.ts";
import { initOptState, type OptimizerConfig } from "../../kernel/optimizer.ts";
import { initWeights, type ModelConfig, paramLayout } from "../../kernel/params.ts";
import { createTrainer, type Hyper } from "../../kernel/train_step.ts";
import type { Kernel } from "../../kernel/wasm_module.ts";

export interface CaseResult {
  name: string;
  loss: number;
  gradNorm: number;
  weights: string;
  grad: string;
  m: string;
}

const TEXT = encodeText(
  "It was the best of times, it was the worst of times, it was the age of wisdom, it was the " +
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity. ".repeat(4),
);

const ADAMW: OptimizerConfig = {
  kind: "adamw",
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
};
const SGD: OptimizerConfig = { kind: "sgd", momentum: 0.9, weightDecay: 0.01 };

function hyper(model: ModelConfig, optimizer: OptimizerConfig): Hyper {
  return {
    model,
    B: 2,
    T: 16,
    accumSteps: 2,
    schedule: { lr: 1e-2, warmupSteps: 1, totalSteps: 10, minLrRatio: 0.1 },
    optimizer,
    gradClip: 0.5,
  };
}

export const CASES: { name: string; hyper: Hyper }[] = [
  {
    name: "gpt-adamw-dropout",
    hyper: {
      ...hyper({ kind: "gpt", maxT: 16, layers: 2, heads: 2, width: 16 }, ADAMW),
      dropout: 0.1,
    },
  },
  { name: "ssm-sgd", hyper: hyper({ kind: "ssm", maxT: 16, layers: 2, heads: 1, width: 12 }, SGD) },
];

/** Runs two consecutive steps of every case from a seeded init; returns digests of step 2. */
export function runCases(kernel: Kernel): CaseResult[] {
  const { trainStep } = createTrainer(kernel);
  return CASES.map(({ name, hyper: h }) => {
    const layout = paramLayout(h.model);
    let weights = initWeights(kernel, layout, 7);
    let opt = initOptState(h.optimizer.kind, layout.size);
    let last;
    for (let step = 0; step < 2; step++) {
      const batch = sampleBatch(TEXT, h.accumSteps * h.B, h.T, 99, step);
      last = trainStep(weights, opt, batch, 99 + step, h);
      weights = last.weights;
      opt = last.optState;
    }
    return {
      name,
      loss: last!.loss,
      gradNorm: last!.gradNorm,
      weights: digestWeights(weights),
      grad: digestGrad(last!.grad),
      m: digestWeights(opt.m),
    };
  });
}
