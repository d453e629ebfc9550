import assert from "node:assert/strict";
import { applyDelta } from "../../../lib/coordinator/round_apply.ts";
import type { Context } from "../../../lib/coordinator/context.ts";
import type { JobRecord } from "../../../lib/coordinator/state.ts";
import type { JobSpec } from "../../../lib/job/job_spec.ts";
import { loadWeights } from "../../../lib/coordinator/job.ts";
import { paramLayout } from "../../../kernel/params.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { Store } from "../../../lib/store/store.ts";
import { serverOptimizerFor } from "../../../lib/strategy/server_optimizer.ts";

const MODEL = { kind: "gpt", maxT: 8, layers: 1, heads: 1, width: 8 } as const;
const P = paramLayout(MODEL).size;

/** The fields applyDelta reads: the model and the aggregation. */
function specWith(aggregation: Partial<JobSpec["aggregation"]>): JobSpec {
  return {
    model: MODEL,
    aggregation: {
      strategy: "fedavg",
      quorum: 0.8,
      deadlineMs: 1,
      clusterSize: 16,
      ...aggregation,
    },
  } as JobSpec;
}

/** Three rounds through applyDelta, the state carried in the job record as round_close does. */
async function threeRounds(spec: JobSpec, deltas: Float32Array[], roundsPerStep = 1) {
  const ctx = { store: new Store(new MemoryBlockstore()) } as Context;
  let job = { round: 0, jobId: `0x${"ab".repeat(32)}` } as JobRecord;
  let weights: Float32Array = new Float32Array(P).map((_, i) => Math.cos(i));
  const cids: (string | undefined)[] = [];
  for (const delta of deltas) {
    const out = await applyDelta(ctx, job, spec, weights, delta);
    weights = out.weights;
    cids.push(out.outerVelocityCid);
    job = { ...job, round: job.round + roundsPerStep, outerVelocityCid: out.outerVelocityCid };
  }
  return { ctx, weights, cids };
}

const deltas = [1, 2, 3].map((r) => new Float32Array(P).map((_, i) => Math.sin(i * r) * 1e-2));

Deno.test("applyDelta: each server optimizer resumes from SVDB as if it never stopped", async () => {
  for (
    const aggregation of [
      { strategy: "diloco", outerLr: 0.7, outerMomentum: 0.9 },
      { strategy: "fedavgm" },
      { strategy: "fedadam", outerLr: 0.01 },
      { strategy: "fedyogi", outerLr: 0.01, outerTau: 1e-2 },
      { strategy: "fedadam", outerLr: 0.01, outerBiasCorrection: true },
    ] as const
  ) {
    // Prepare: the same optimizer kept in memory for all three rounds.
    const spec = specWith(aggregation);
    const direct = serverOptimizerFor(spec.aggregation, P)!;
    const expected = new Float32Array(P).map((_, i) => Math.cos(i));
    for (const d of deltas) direct.step(expected, d);
    // Execute: a fresh optimizer per round, loaded from the stored state.
    const { weights, cids } = await threeRounds(spec, deltas);
    // Assert
    assert.deepEqual(new Uint8Array(weights.buffer), new Uint8Array(expected.buffer));
    assert.equal(new Set(cids).size, 3, `${aggregation.strategy}: a new state each round`);
  }
});

Deno.test("applyDelta: bias correction counts the server's steps, not the job's rounds", async () => {
  // A round that closes without updates takes no step; the stored count keeps Adam's 1 - beta^t.
  const spec = specWith({ strategy: "fedadam", outerLr: 0.01, outerBiasCorrection: true });
  const direct = serverOptimizerFor(spec.aggregation, P)!;
  const expected = new Float32Array(P).map((_, i) => Math.cos(i));
  for (const d of deltas) direct.step(expected, d);
  const { weights } = await threeRounds(spec, deltas, 2);
  assert.deepEqual(new Uint8Array(weights.buffer), new Uint8Array(expected.buffer));
});

Deno.test("applyDelta: an lr warmup counts the server's steps, for momentum rules too", async () => {
  // With rounds that close without a step between the stored ones, every optimizer must resume
  // its warmup from the steps it took, which the job's round overstates.
  for (
    const aggregation of [
      { strategy: "diloco", outerWarmupRounds: 3 },
      { strategy: "fedavgm", outerWarmupRounds: 3 },
      { strategy: "fedadam", outerLr: 0.01, outerBiasCorrection: true, outerWarmupRounds: 3 },
    ] as const
  ) {
    const spec = specWith(aggregation);
    const direct = serverOptimizerFor(spec.aggregation, P)!;
    const expected = new Float32Array(P).map((_, i) => Math.cos(i));
    for (const d of deltas) direct.step(expected, d);
    const { weights } = await threeRounds(spec, deltas, 2);
    assert.deepEqual(
      new Uint8Array(weights.buffer),
      new Uint8Array(expected.buffer),
      aggregation.strategy,
    );
  }
});

Deno.test("applyDelta: DiLoCo's velocity stays a model checkpoint; FedAvg stores nothing", async () => {
  const diloco = await threeRounds(specWith({ strategy: "diloco" }), deltas);
  const velocity = await loadWeights(diloco.ctx.store, diloco.cids.at(-1)!);
  assert.equal(velocity.length, P);
  const fedavg = await threeRounds(specWith({ strategy: "fedavg" }), deltas);
  assert.deepEqual(fedavg.cids, [undefined, undefined, undefined]);
  const plain = new Float32Array(P).map((_, i) => Math.cos(i));
  for (const d of deltas) for (let i = 0; i < P; i++) plain[i] = plain[i]! + d[i]!;
  assert.deepEqual(fedavg.weights, plain);
});
