/**
 * The interface every inference backend implements: run new tokens after a cached context and
 * return their logits. ORT backends keep the transformer's KV cache in the state; the kernel
 * backend keeps the token history and recomputes (it has no cache).
 */
import type { ModelConfig } from "../params.ts";

export type BackendName = "ort-node" | "ort-web" | "kernel";

/** Opaque per-sequence context; `length` tokens are in it. */
export interface DecoderState {
  readonly length: number;
}

export interface DecoderBackend {
  readonly name: BackendName;
  /** Where it runs: "cpu", "cuda", "wasm", "webgpu". */
  readonly device: string;
  readonly config: ModelConfig;
  /**
   * Logits (n, 256) of `tokens` following `state` (null: an empty context). The new state holds
   * state.length + n tokens, which must not exceed config.maxT.
   */
  step(
    tokens: number[],
    state: DecoderState | null,
  ): Promise<{ logits: Float32Array; state: DecoderState }>;
  /** Frees the session. */
  dispose(): Promise<void>;
}

/** Throws RangeError when a step would overflow the position table. */
export function checkStep(config: ModelConfig, tokens: number[], past: number): void {
  if (tokens.length < 1 || past + tokens.length > config.maxT) {
    throw new RangeError(
      `Cannot run step: ${past} + ${tokens.length} tokens exceed the context of ${config.maxT}`,
    );
  }
}
