/**
 * The large-model pipeline of bench/job_124m.ts at a size the suite can afford: a chain, the
 * coordinator's functions, two Workers whose trainer is forced onto the offload step (a resident
 * budget of 0 bytes), one round of two local steps, finalize and the ONNX export with external
 * data. The final checkpoint must be, bit for bit, what an in-process reference computes with the
 * resident step (the two trainers agree byte for byte); each update must have gone up through
 * POST /svdb/private, past a `maxBlobBytes` set below its size (the limit follows the job), and come back
 * out of the store as the bytes the reference encodes; and the exported
 * graph must load in onnxruntime with its data file and match the in-memory export.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { runLargeJob, SIZES } from "../../bench/job_124m.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { exportOnnx } from "../../kernel/onnx_export.ts";
import { decodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { encodeUpdate } from "../../lib/worker/train.ts";
import { type JobSpec, parseJobSpec, taskSeed, taskShard } from "../../lib/job/job_spec.ts";
import { trainLocal } from "../../lib/round/local_training.ts";
import { roundTask } from "../../lib/round/round_task.ts";
import { combinePlanOf, combineRound } from "../../lib/strategy/combine_round.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { arthaDomain } from "../../lib/crypto/domain.ts";
import type { JobRecord, UpdateRecord } from "../../lib/coordinator/state.ts";
import { updateKey } from "../../lib/coordinator/state.ts";
import type { Store } from "../../lib/store/store.ts";
import type { LocalCoordinator } from "../../functions/local.ts";

const LOCAL_STEPS = 2;

/** Round 0 recomputed in process with the resident trainer: each node's update and the mean. */
async function reference(store: Store, spec: JobSpec, job: JobRecord, verifyingContract: string) {
  const global = decodeCheckpoint(await store.get(spec.initialWeights)).weights;
  const trainer = createTrainer(loadKernel());
  const updates = [];
  for (const node of job.assigned) {
    const task = job.taskOf[node]!;
    const r = trainLocal(
      trainer,
      global,
      roundTask(
        spec,
        { jobId: job.jobId, round: 0, seed: taskSeed(spec, task) },
        arthaDomain(31337, verifyingContract as `0x${string}`),
        await store.get(spec.shards[taskShard(spec, task)]!.cid),
      ),
      generateNodeKey(),
    );
    updates.push({
      nodeId: node,
      delta: r.delta,
      numSamples: r.samples,
      slot: task,
      bytes: encodeUpdate(spec, 0, r),
    });
  }
  const { delta } = combineRound(combinePlanOf(spec, 0), updates);
  const weights = global.slice();
  for (let i = 0; i < weights.length; i++) weights[i] = weights[i]! + delta[i]!;
  return { weights, updates };
}

/** The checks that need the coordinator's store, run before it closes. */
async function checkAgainstReference(local: LocalCoordinator, specCid: string, job: JobRecord) {
  const { store, kv, chain } = local.ctx;
  // The spec as workers read it (canonical key order: the model config is in every update).
  const spec = parseJobSpec(await store.get(specCid));
  const want = await reference(store, spec, job, chain.addresses.proofs);
  const final = decodeCheckpoint(await store.get(job.globalCid)).weights;
  assert.deepEqual(
    new Uint8Array(final.buffer),
    new Uint8Array(want.weights.buffer),
    "final checkpoint",
  );
  for (const u of want.updates) {
    const record = (await kv.get<UpdateRecord>(updateKey(job.jobId, 0, u.nodeId))).value!;
    const stored = await store.get(record.updateCid);
    assert.deepEqual(stored, u.bytes, `${u.nodeId}'s update as the reference encodes it`);
  }
}

/** Logits of a few tokens from an empty KV cache. */
async function logits(session: ort.InferenceSession, spec: JobSpec): Promise<Float32Array> {
  const { layers, heads, width } = spec.model as { layers: number; heads: number; width: number };
  const tokens = [84, 104, 101, 32, 106, 117, 114, 121];
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [1, tokens.length]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(tokens.length).fill(1n), [
      1,
      tokens.length,
    ]),
  };
  for (let l = 0; l < layers; l++) {
    for (const kv of ["key", "value"]) {
      const empty = new ort.Tensor("float32", new Float32Array(0), [1, heads, 0, width / heads]);
      feeds[`past_key_values.${l}.${kv}`] = empty;
    }
  }
  return (await session.run(feeds)).logits!.data as Float32Array;
}

Deno.test({
  name: "a mid-size job through the offload trainer, SVDB uploads and external-data ONNX",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "artha-large-job-" });
    try {
      // Execute: the bench's pipeline, the offload step forced by a zero resident budget
      let final: Float32Array | undefined;
      const r = await runLargeJob({
        ...SIZES.mid!,
        localSteps: LOCAL_STEPS,
        budget: 0,
        // Below an update's 1.6 MB: the uploads pass only by the job's own limit.
        config: { maxBlobBytes: 256 * 1024 },
        dir,
        inspect: async (local, result) => {
          await checkAgainstReference(local, result.specCid, result.job);
          final = decodeCheckpoint(await local.ctx.store.get(result.job.globalCid)).weights;
        },
      });
      // Assert: the offload path ran, updates went through the gateway, the job settled
      assert.equal(r.choice.kind, "offload");
      assert.equal(r.job.status, "finalized");
      const uploads = r.requests.filter((q) => q.method === "POST" && q.path === "/svdb/private");
      assert.deepEqual(uploads.map((q) => q.status), [201, 201], "one update upload per node");
      // Assert: the external-data ONNX loads from disk and matches the in-memory export
      const fromDisk = await ort.InferenceSession.create(r.onnx.model);
      const inline = await ort.InferenceSession.create(exportOnnx(r.spec.model, final!));
      assert.deepEqual(await logits(fromDisk, r.spec), await logits(inline, r.spec));
      assert.ok((await Deno.stat(r.onnx.data)).size >= final!.byteLength);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
