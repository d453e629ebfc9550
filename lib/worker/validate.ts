/**
 * A committee member's task on a spot-checked round: recompute the target's round from the
 * round's starting checkpoint with the kernel, and attest the result hash on chain. The chain
 * compares it with the target's commit by committee majority. Fetching and recomputing are
 * separate steps so a browser tab can recompute in its Web Worker on inputs it fetched.
 *
 * @example
 * ```ts ignore
 * import { attestTask, recomputeTask } from "./validate.ts";
 * await attestTask(client, { addresses, validatorNode, task, resultHash: await recomputeTask(trainer, gateway, task) });
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { ChainCallError } from "../chain/send_contract.ts";
import { attestResult } from "../verify/committee_chain.ts";
import { recomputeTarget, recomputeTargetYielding } from "../verify/validation_task.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { Gateway } from "./gateway.ts";
import type { ValidationTask } from "./task.ts";
import { BETWEEN_STEPS_MS, type Trainer } from "./train.ts";

/** Reverts that mean there is nothing left to attest: not an error. */
const ATTESTED = [
  "Verification__AlreadyAttested", // attested before a crash
  "Verification__AttestationsSettled", // the target was settled meanwhile
  "Verification__AttestationClosed", // the window closed meanwhile
  "PoC__VerificationOver", // the job's settlement is due: no attestation opens a case now
];

/** What recomputing a target's round needs: fetched (and re-hashed) by the gateway. */
export interface ValidationInputs {
  spec: JobSpec;
  /** The round's starting checkpoint. */
  global: Float32Array;
  /** The target's shard. */
  data: Uint8Array;
}

/**
 * The result hash an honest target committed for the task's round; with `between`, run between
 * its steps (at most every BETWEEN_STEPS_MS) for the node's other duties.
 */
export async function recomputeTask(
  trainer: Trainer,
  gateway: Gateway,
  task: ValidationTask,
  between?: () => Promise<void>,
): Promise<Hex> {
  const inputs = await fetchValidationInputs(gateway, task);
  if (!between) return recomputeInputs(trainer, task, inputs);
  return await recomputeTargetYielding(trainer, { ...inputs, task }, {
    between,
    everyMs: BETWEEN_STEPS_MS,
  });
}

/** Fetches the spec, the round's starting checkpoint and the target's shard. */
export async function fetchValidationInputs(
  gateway: Gateway,
  task: ValidationTask,
): Promise<ValidationInputs> {
  const spec = await gateway.spec(task.specCid);
  const global = await gateway.weights(task.checkpointCid, spec.model);
  return { spec, global, data: await gateway.get(task.shard.cid, undefined, true) };
}

/**
 * Recomputes the target's round from fetched inputs: no I/O, so it runs where the kernel is (the
 * worker's thread, or a browser tab's Web Worker with the inputs posted to it).
 */
export function recomputeInputs(
  trainer: Trainer,
  task: ValidationTask,
  inputs: ValidationInputs,
): Hex {
  return recomputeTarget(trainer, { ...inputs, task });
}

/** Attests `resultHash` for the task's target as `validatorNode`. */
export async function attestTask(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; validatorNode: Hex; task: ValidationTask; resultHash: Hex },
): Promise<void> {
  const { task } = params;
  try {
    await attestResult(client, {
      addresses: params.addresses,
      jobId: task.jobId,
      round: task.round,
      validatorNode: params.validatorNode,
      targetNode: task.target,
      resultHash: params.resultHash,
    });
  } catch (e) {
    if (!(e instanceof ChainCallError && ATTESTED.includes(e.errorName ?? ""))) throw e;
  }
}
