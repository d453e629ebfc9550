/** The kernel's own forward pass as a backend: exact training numerics, no KV cache. */
import { createForward } from "../forward.ts";
import type { ModelConfig } from "../params.ts";
import { VOCAB } from "../params.ts";
import type { Kernel } from "../wasm_module.ts";
import { checkStep, type DecoderBackend, type DecoderState } from "./backend.ts";

interface KernelState extends DecoderState {
  tokens: number[];
}

/** A backend over `kernel` with `weights` (the flat training buffer). */
export function createKernelBackend(
  kernel: Kernel,
  config: ModelConfig,
  weights: Float32Array,
): DecoderBackend {
  const fwd = createForward(kernel, config, weights);
  return {
    name: "kernel",
    device: "wasm-simd",
    config,
    // deno-lint-ignore require-await -- async so a bad step is a rejection, as on ORT
    async step(tokens, state) {
      const past = (state as KernelState | null)?.tokens ?? [];
      checkStep(config, tokens, past.length);
      const all = [...past, ...tokens];
      const logits = fwd.logits(all).slice(past.length * VOCAB);
      const next: KernelState = { length: all.length, tokens: all };
      return { logits, state: next };
    },
    dispose: () => Promise.resolve(),
  };
}
