/**
 * A worker's memory budget from the victim's side (found in the worker audit): refuseMemory sized
 * one training step only, not the job's error-feedback residual (an f32 a parameter, kept between
 * rounds, and the copy each round encodes into). A compressed job the step alone fit in took the
 * machine past the budget its owner set with --max-memory.
 */
import assert from "node:assert/strict";
import { refuseMemory } from "../../lib/worker/task_check.ts";
import { chooseTrainer } from "../../lib/job/planner.ts";
import { roundHyper } from "../../lib/job/job_spec.ts";
import { paramLayout } from "../../kernel/params.ts";

const spec = {
  model: { kind: "gpt", maxT: 64, layers: 2, heads: 4, width: 256 },
  batch: { B: 2, T: 64, accumSteps: 1 },
  optimizer: { lr: 3e-3, minLrRatio: 0.1, weightDecay: 0.01, gradClip: 1 },
  rounds: 3,
  localSteps: 2,
  seed: 7,
} as const;

/** Exactly what a step of `spec` takes: its trainer's plan plus its sampled tokens. */
function stepBytes(): number {
  const hyper = roundHyper(spec as never, 0);
  const choice = chooseTrainer(hyper, {});
  return choice[choice.kind].total + 8 * hyper.B * hyper.T * hyper.accumSteps;
}

Deno.test("victim: a compressed job whose residual does not fit beside the step is refused", () => {
  // Prepare: a budget the step fits exactly, with room for less than the residual and its copy.
  const params = paramLayout(spec.model).size;
  const budget = { budget: stepBytes() + 4 * params };
  const plain = spec as never;
  const topk = { ...spec, compression: { codec: "topk-int8", fraction: 0.05 } } as never;
  const fp32 = { ...spec, compression: { codec: "fp32" } } as never;

  // Execute, Assert: the step alone fits; with a residual kept (top-k) it does not; a codec that
  // keeps none (fp32) still fits.
  assert.equal(refuseMemory(plain, 0, budget), undefined);
  assert.match(refuseMemory(topk, 0, budget) ?? "", /needs .* more than the .*--max-memory/);
  assert.equal(refuseMemory(fp32, 0, budget), undefined);
  assert.equal(refuseMemory(topk, 0, { budget: stepBytes() + 8 * params }), undefined);
});

Deno.test("victim: a step whose workspace exceeds 32-bit WASM memory is refused at any RAM", () => {
  // Prepare: a tiny model with a batch of 32,768 x 64 (found in the kernel audit): its workspace
  // is ~10 GiB of linear memory with either trainer, while its FLOPs pass refuseStepWork.
  const hostile = {
    ...spec,
    model: { kind: "gpt", maxT: 64, layers: 1, heads: 1, width: 4 },
    batch: { B: 32_768, T: 64, accumSteps: 1 },
  } as never;
  const terabyte = { budget: 2 ** 40 };

  // Execute, Assert: refused for the WASM memory, not the budget; the same model with a small
  // batch still trains.
  assert.match(refuseMemory(hostile, 0, terabyte) ?? "", /WASM memory \(offload trainer\)/);
  const small = { ...(hostile as object), batch: { B: 8, T: 64, accumSteps: 1 } } as never;
  assert.equal(refuseMemory(small, 0, terabyte), undefined);
});
