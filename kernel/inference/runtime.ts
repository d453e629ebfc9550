/**
 * The inference runtime: picks a backend, then generates bytes with sampling. Selection is
 * automatic and overridable (the `backend` option; lib/config.ts reads ARTHA_INFER_BACKEND): onnxruntime-node where a
 * native binding loads (Deno, Node), else onnxruntime-web; "kernel" runs the training forward.
 *
 * The context is the model's maxT positions. A prompt longer than that keeps its last maxT bytes;
 * when generation fills the context, the runtime re-reads the last half of it and continues (a
 * context shift, like llama.cpp's), identically on every backend.
 *
 * @example
 * ```ts
 * import { createBackend, generate } from "./runtime.ts";
 * import { exportOnnx } from "../onnx_export.ts";
 * import { paramLayout } from "../params.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const weights = new Float32Array(paramLayout(config).size);
 * const backend = await createBackend({ config, weights, onnx: exportOnnx(config, weights) }, {
 *   backend: "kernel",
 * });
 * const ids = [];
 * for await (const t of generate(backend, [104, 105], { maxTokens: 3, seed: 1 })) ids.push(t);
 * console.assert(ids.length === 3);
 * ```
 */
import type { ModelConfig } from "../params.ts";
import { loadKernel } from "../wasm_module.ts";
import type { BackendName, DecoderBackend, DecoderState } from "./backend.ts";
import { createKernelBackend } from "./kernel_backend.ts";
import { createOrtBackend, type OnnxGraph, type OrtBackendOptions } from "./ort_backend.ts";
import { createRng, sampleToken, type SamplingOptions } from "./sampler.ts";

export type { BackendName, DecoderBackend } from "./backend.ts";

/**
 * What a backend is built from: the kernel config, flat weights and the exported graph (with
 * its external data, if its weights are outside it).
 */
export interface LoadedModel extends OnnxGraph {
  config: ModelConfig;
  weights: Float32Array;
}

export interface BackendOptions extends OrtBackendOptions {
  /** "auto" (default), or a backend name. */
  backend?: BackendName | "auto";
}

export const BACKENDS: readonly BackendName[] = ["ort-node", "ort-web", "kernel"];

/** Creates the requested backend, or the best one that loads here. */
export async function createBackend(
  model: LoadedModel,
  options: BackendOptions = {},
): Promise<DecoderBackend> {
  const want = options.backend ?? "auto";
  if (want !== "auto" && !BACKENDS.includes(want as BackendName)) {
    throw new RangeError(`Cannot create backend "${want}": use auto, ${BACKENDS.join(", ")}`);
  }
  if (want === "kernel") return createKernelBackend(loadKernel(), model.config, model.weights);
  if (want !== "auto") {
    return await createOrtBackend(
      want as BackendName & `ort-${string}`,
      model,
      model.config,
      options,
    );
  }
  const native = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" ||
    typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions
        ?.node ===
      "string";
  if (native) {
    try {
      return await createOrtBackend("ort-node", model, model.config, options);
    } catch {
      // no native binding on this platform: fall through to wasm
    }
  }
  return await createOrtBackend("ort-web", model, model.config, options);
}

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** PRNG seed (default 0). */
  seed?: number;
  signal?: AbortSignal;
}

/** Yields generated token ids (bytes) one by one. */
export async function* generate(
  backend: DecoderBackend,
  prompt: ArrayLike<number>,
  options: GenerateOptions,
): AsyncGenerator<number> {
  const maxT = backend.config.maxT;
  const rng = createRng(options.seed ?? 0);
  let history = Array.from(prompt).slice(-maxT);
  if (history.length === 0) throw new RangeError("Cannot generate: the prompt is empty");
  let { logits, state } = await backend.step(history, null);
  for (let i = 0; i < options.maxTokens; i++) {
    options.signal?.throwIfAborted();
    const row = logits.subarray(logits.length - 256);
    const token = sampleToken(row, options, rng);
    yield token;
    if (i + 1 === options.maxTokens) break;
    history.push(token);
    let s: DecoderState | null = state;
    let feed = [token];
    if (s.length + 1 > maxT) {
      history = history.slice(-Math.ceil(maxT / 2));
      feed = history;
      s = null;
    }
    ({ logits, state } = await backend.step(feed, s));
  }
}
