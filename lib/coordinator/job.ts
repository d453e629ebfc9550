/**
 * Job helpers shared by the coordinator verbs: reading a job's spec and checkpoints
 * from SVDB, and validation loss of a checkpoint on the spec's held-out bytes.
 */
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { evalBatches } from "../../kernel/data.ts";
import { decodeCheckpoint } from "../model/checkpoint.ts";
import { type JobSpec, parseJobSpec, roundHyper } from "../job/job_spec.ts";
import type { Store } from "../store/store.ts";
import { type JobRecord, updateKey, type UpdateRecord } from "./state.ts";

let trainer: ReturnType<typeof createTrainer> | undefined;

/** The kernel trainer of this process (one WASM instance, created on first use). */
export function processTrainer(): ReturnType<typeof createTrainer> {
  return trainer ??= createTrainer(loadKernel());
}

const specCache = new Map<string, JobSpec>();

/** The spec stored under `cid` (cached: content addressing makes it immutable). */
export async function loadSpec(store: Store, cid: string): Promise<JobSpec> {
  let spec = specCache.get(cid);
  if (!spec) {
    spec = parseJobSpec(await store.get(cid));
    specCache.set(cid, spec);
  }
  return spec;
}

/** The flat weights of a checkpoint CID. */
export async function loadWeights(store: Store, cid: string): Promise<Float32Array> {
  return decodeCheckpoint(await store.get(cid)).weights;
}

/** Most validation batches evaluated per round (bounds the coordinator's work). */
export const VAL_BATCHES = 8;

/** Mean validation loss (nats/byte) of `weights` on the spec's held-out bytes. */
export async function validationLoss(
  store: Store,
  spec: JobSpec,
  weights: Float32Array,
): Promise<number> {
  const val = await store.get(spec.validation);
  const hyper = { ...roundHyper(spec, 0), accumSteps: 1 };
  const batches = evalBatches(val, hyper.B, hyper.T, VAL_BATCHES);
  if (batches.length === 0) throw new RangeError("Cannot evaluate: validation set too small");
  const t = processTrainer();
  let sum = 0;
  for (const b of batches) sum += t.evalLoss(weights, b, hyper);
  return sum / batches.length;
}

/**
 * A node's slot in a job: its task group's index in the assignment (redundant nodes share a
 * group, so they share a slot and their partition payloads stay byte-identical). -1 when
 * the node is not assigned.
 */
export function slotOf(assigned: readonly string[], spec: JobSpec, node: string): number {
  const i = assigned.indexOf(node);
  return i < 0 ? -1 : Math.floor(i / (spec.verification?.redundancy ?? 1));
}

/**
 * The slot `node` delivered its update of `round` from (recorded at intake; a reassignment
 * since then may have moved the node), else its slot in the assignment now.
 */
export async function deliveredSlot(
  kv: Deno.Kv,
  job: Pick<JobRecord, "jobId" | "assigned">,
  spec: JobSpec,
  round: number,
  node: string,
): Promise<number> {
  const u = (await kv.get<UpdateRecord>(updateKey(job.jobId, round, node))).value;
  return u?.slot ?? slotOf(job.assigned, spec, node);
}
