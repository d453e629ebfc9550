/**
 * The inference runtime: picks a backend, then generates bytes with sampling. Selection is
 * automatic and overridable (the `backend` option; lib/config.ts reads ARTHA_INFER_BACKEND): onnxruntime-node where a
 * native binding loads (Deno, Node), else onnxruntime-web; "kernel" runs the training forward.
 *
 * The context is the model's maxT positions, or fewer when the caller says (`context`: a server
 * bounds its memory by it, see {@link attentionBytes}). A prompt longer than that keeps its last
 * bytes; when generation fills the context, the runtime re-reads the last half of it and continues
 * (a context shift, like llama.cpp's), identically on every backend.
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
  /** Positions attended over, at most the model's maxT (its default). */
  context?: number;
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
  const maxT = Math.min(backend.config.maxT, options.context ?? Infinity);
  if (!(maxT >= 1)) throw new RangeError(`Cannot generate: context ${options.context} below 1`);
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

/**
 * f32 (heads, S, T) tensors the exported graph makes in a layer's attention (MatMul, Mul, Where,
 * Softmax); onnxruntime frees them before the next layer. Measured: 1.7 GiB at 8 heads and 4096
 * positions, 3.3 of them.
 */
const ORT_ATTENTION_COPIES = 4;

/**
 * Bytes of attention scores `backend` holds to run `T` positions in one step: heads x T x T f32,
 * quadratic in T, so what bounds a served model's memory is the positions it is run over, not its
 * weights. The kernel backend runs the training network, which keeps every layer's scores (for a
 * backward), in a network per power-of-two length up to maxT, each kept once built.
 *
 * @example
 * ```ts
 * import { attentionBytes } from "./runtime.ts";
 * const config = { kind: "gpt" as const, maxT: 4096, layers: 2, heads: 8, width: 32 };
 * console.assert(attentionBytes({ name: "ort-node", config }, 4096) === 2 ** 31);
 * ```
 */
export function attentionBytes(
  backend: Pick<DecoderBackend, "name" | "config">,
  T: number,
): number {
  const { kind, heads, layers, maxT } = backend.config;
  if (kind !== "gpt") return 0;
  if (backend.name !== "kernel") return ORT_ATTENTION_COPIES * heads * T * T * 4;
  let squares = 0;
  for (let b = 1;; b *= 2) {
    squares += Math.min(b, maxT) ** 2;
    if (b >= T || b >= maxT) break;
  }
  return layers * heads * squares * 4;
}
