/**
 * What a worker keeps across crashes: the state file (an update trained but not yet delivered)
 * and, beside it, each job's error-feedback residual, staged with a pending update and adopted
 * once the update went out, so a retry re-encodes from the same residual.
 *
 * @example
 * ```ts
 * import { WorkerState } from "./state.ts";
 * const dir = await Deno.makeTempDir();
 * const state = new WorkerState(`${dir}/worker.json`);
 * await state.savePending({ jobId: "0x01", round: 0, envelope: "{}" });
 * console.assert((await state.pending())?.round === 0);
 * await state.savePending(undefined);
 * console.assert((await state.pending()) === undefined);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
import type { Hex } from "viem";
import { writeFileAtomic } from "../store/atomic.ts";
import { createErrorFeedback, type ErrorFeedbackState } from "../compress/codec.ts";

/** An update saved before it is posted: re-sent as is after a crash, never retrained. */
export interface PendingUpdate {
  jobId: Hex;
  round: number;
  /** The signed envelope as posted (JSON). */
  envelope: string;
}

/** The state file's content. */
interface SavedState {
  pending?: PendingUpdate;
}

const PRIVATE = { mode: 0o600 };

/** A worker's crash state at `path` (no path: kept in memory only, nothing survives). */
export class WorkerState {
  readonly path?: string;
  /** Error-feedback residual per job: what compression left out, added to the next update. */
  #residuals = new Map<string, ErrorFeedbackState>();

  constructor(path?: string) {
    this.path = path;
  }

  /** The update saved but not yet delivered, if any. */
  async pending(): Promise<PendingUpdate | undefined> {
    if (!this.path) return undefined;
    try {
      return (JSON.parse(await Deno.readTextFile(this.path)) as SavedState).pending;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw new Error(`Cannot read worker state ${this.path}: delete it to start over`, {
        cause: e,
      });
    }
  }

  /** Saves `pending` (undefined: the last one was delivered). */
  async savePending(pending: PendingUpdate | undefined): Promise<void> {
    if (!this.path) return;
    const state: SavedState = pending ? { pending } : {};
    await writeFileAtomic(this.path, new TextEncoder().encode(JSON.stringify(state)), PRIVATE);
  }

  /** The job's error-feedback residual: in memory, else from disk, else zeros. */
  async residualFor(jobId: Hex, length: number): Promise<ErrorFeedbackState> {
    const known = this.#residuals.get(jobId);
    if (known) return known;
    const path = this.#residualPath(jobId);
    // A staged residual without a pending update is from a crash before the update was saved:
    // the round is trained again from the current residual, so drop it.
    if (path) await removeIfExists(this.#residualPath(jobId, true)!);
    const state = (path && await readResidual(path, length)) || createErrorFeedback(length);
    this.#residuals.set(jobId, state);
    return state;
  }

  /** Stages the residual that goes with the update about to be saved as pending. */
  async stageResidual(jobId: Hex, state: ErrorFeedbackState): Promise<void> {
    const path = this.#residualPath(jobId, true);
    if (!path) return;
    const r = state.residual;
    await writeFileAtomic(path, new Uint8Array(r.buffer, r.byteOffset, r.byteLength), PRIVATE);
  }

  /** The update went out: its residual becomes the next round's input (memory and disk). */
  async adoptResidual(jobId: Hex, state?: ErrorFeedbackState): Promise<void> {
    const staged = this.#residualPath(jobId, true);
    if (staged) {
      try {
        await Deno.rename(staged, this.#residualPath(jobId)!);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    if (state) this.#residuals.set(jobId, state);
    else this.#residuals.delete(jobId); // reloaded from disk on next use
  }

  /**
   * Residual files sit beside the state file: `<state>.<jobId>.residual` is the input of the
   * next round, `.next` the one staged with a pending update (raw f32, one per parameter).
   */
  #residualPath(jobId: string, staged = false): string | undefined {
    return this.path && `${this.path}.${jobId.toLowerCase()}.residual${staged ? ".next" : ""}`;
  }
}

async function removeIfExists(path: string): Promise<void> {
  await Deno.remove(path).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/** A residual file of a `length`-parameter model, or undefined when there is none. */
async function readResidual(
  path: string,
  length: number,
): Promise<ErrorFeedbackState | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  if (bytes.length !== 4 * length) {
    throw new Error(
      `Cannot read residual ${path}: ${bytes.length} bytes, the model has ${length} ` +
        `parameters; delete it to start over`,
    );
  }
  return { residual: new Float32Array(bytes.buffer, bytes.byteOffset, length) };
}
