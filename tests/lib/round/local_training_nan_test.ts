/**
 * lib/round/local_training.ts: training a job's terms drive to NaN commits the same digests on
 * every CPU type. Wasm leaves a produced NaN's sign and payload to the CPU (x86 0xffc00000, ARM64
 * 0x7fc00000); before the fix the raw bits were hashed, so an honest node on the minority
 * architecture of a redundancy group was outvoted and slashed (found in the verification audit).
 */
import assert from "node:assert/strict";
import { createTrainer, type TrainStepFn } from "../../../kernel/train_step.ts";
import { loadKernel } from "../../../kernel/wasm_module.ts";
import { initWeights, paramLayout } from "../../../kernel/params.ts";
import { defaultHyper, f32Bytes, trainLocal } from "../../../lib/round/local_training.ts";
import { nodeKeyFromSecret } from "../../../lib/crypto/keys.ts";
import { UNCHECKED_DOMAIN as domain } from "../../../lib/crypto/domain.ts";

/** Flips the sign bit of every NaN in `a`, in place; returns how many. */
function flipNaNSigns(a: Float32Array): number {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!)) {
      bits[i] = bits[i]! ^ 0x80000000;
      n++;
    }
  }
  return n;
}

/** The same kernel on "the other CPU": every NaN it returns has the other sign bit. */
function otherCpu(
  trainer: { trainStep: TrainStepFn },
): { trainStep: TrainStepFn; flipped: number } {
  const out = {
    flipped: 0,
    trainStep: ((weights, state, batch, seed, hyper) => {
      const r = trainer.trainStep(weights, state, batch, seed, hyper);
      for (const a of [r.weights, r.grad, r.optState.m, r.optState.v]) {
        out.flipped += flipNaNSigns(a);
      }
      const loss = Number.isNaN(r.loss)
        ? new Float32Array(new Uint32Array([0xffc00000]).buffer)[0]!
        : r.loss;
      return { ...r, loss };
    }) as TrainStepFn,
  };
  return out;
}

Deno.test("a round driven to NaN by huge initial weights has the same digests on either CPU type", () => {
  // Prepare: finite weights x1e37 (start_job checks only that they are finite)
  const kernel = loadKernel();
  const hyper = defaultHyper({ kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 }, {
    B: 2,
    T: 16,
  });
  const global = initWeights(kernel, paramLayout(hyper.model), 1).map((x) => x * 1e37);
  const task = {
    jobId: `0x${"11".repeat(32)}` as const,
    round: 0,
    seed: 3,
    localSteps: 2,
    proofEvery: 1,
    data: new TextEncoder().encode("a small shard of text to train on. ".repeat(20)),
    hyper,
    domain,
  };
  const key = nodeKeyFromSecret(new Uint8Array(32).fill(5));
  const options = { now: () => 1_700_000_000n };
  const arm = otherCpu(createTrainer(kernel));
  // Execute
  const x86 = trainLocal(createTrainer(kernel), global, task, key, options);
  const other = trainLocal(arm, global, task, key, options);
  // Assert: the run did reach NaN, and the simulated CPU did produce other bits
  assert.ok(x86.delta.some(Number.isNaN) && arm.flipped > 0);
  assert.equal(other.weightsDigest, x86.weightsDigest);
  assert.equal(other.gradientDigest, x86.gradientDigest);
  assert.equal(other.lossDigest, x86.lossDigest);
  assert.deepEqual(other.stepRecords, x86.stepRecords);
  assert.equal(other.proofsRoot, x86.proofsRoot);
  // What is delivered and opened in a challenge is the canonical bytes that were hashed.
  assert.deepEqual(f32Bytes(other.delta), f32Bytes(x86.delta));
  const bits = new Uint32Array(other.delta.buffer);
  assert.ok(bits.every((b, i) => !Number.isNaN(other.delta[i]!) || b === 0x7fc00000));
});
