/**
 * The coordinator's forward passes for inference, one at a time, each after a turn of the event
 * loop. A pass runs on the coordinator's one thread (the kernel's WASM and onnxruntime-node's
 * `run` are synchronous): found in the inference audit, a kernel backend's generation ran its
 * passes back to back in microtasks, holding every other route (heartbeats, updates, closes) for
 * the whole generation, and concurrent generations chained theirs. In the lane another request
 * waits one pass and {@link TURN_EVERY_MS} at most. Private to the model cache.
 *
 * @module
 */
import type { DecoderBackend } from "../../kernel/inference/backend.ts";

/**
 * Most ms of passes between two turns of the event loop. A turn is a timer (only timers let the
 * loop's I/O in: a MessageChannel message or setImmediate did not here), which Deno, as browsers,
 * clamps to ~2 ms when chained; one after each pass cost a small model's 1,024-token generation
 * ~2 s, one per 20 ms of passes costs at most ~10%.
 */
export const TURN_EVERY_MS = 20;

/** Runs one task at a time, in arrival order, with a turn of the event loop every so often. */
export class InferenceLane {
  #tail: Promise<unknown> = Promise.resolve();
  #since = performance.now();

  /** Runs `task` once every task before it ended (and, when due, the event loop had a turn). */
  run<T>(task: () => Promise<T>): Promise<T> {
    const turn = this.#tail.then(() => this.#turnIfDue()).then(task);
    this.#tail = turn.catch(() => {}); // a failed pass fails its own request, not the lane
    return turn;
  }

  async #turnIfDue(): Promise<void> {
    if (performance.now() - this.#since < TURN_EVERY_MS) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#since = performance.now();
  }
}

/** `backend` whose every forward pass goes through `lane`. */
export function inLane(backend: DecoderBackend, lane: InferenceLane): DecoderBackend {
  return {
    name: backend.name,
    device: backend.device,
    config: backend.config,
    step: (tokens, state) => lane.run(() => backend.step(tokens, state)),
    dispose: () => backend.dispose(),
  };
}
