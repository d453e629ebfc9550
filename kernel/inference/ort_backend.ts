/**
 * onnxruntime backends over the exported graph (kernel/onnx_export.ts): onnxruntime-node (native
 * CPU; CUDA when the binding lists it and a GPU is present) and onnxruntime-web (wasm; WebGPU only
 * when navigator.gpu offers a real, non-fallback adapter). The state is the KV cache.
 */
import type { ModelConfig } from "../params.ts";
import { checkStep, type DecoderBackend, type DecoderState } from "./backend.ts";

// The subset of the onnxruntime-common API both packages expose.
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  dispose?(): void;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  Tensor: new (type: string, data: unknown, dims: number[]) => OrtTensor;
  InferenceSession: {
    create(bytes: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession>;
  };
}

interface OrtState extends DecoderState {
  past: Record<string, OrtTensor>;
}

export interface OrtBackendOptions {
  /** Force a device: "cpu" | "cuda" for ort-node, "wasm" | "webgpu" for ort-web. */
  device?: string;
  /** Intra-op threads (ort-node) or wasm threads (ort-web). */
  threads?: number;
}

async function hasRealWebGpu(): Promise<boolean> {
  // deno-lint-ignore no-explicit-any
  const gpu = (globalThis.navigator as any)?.gpu;
  if (!gpu) return false;
  try {
    const adapter = await gpu.requestAdapter();
    return !!adapter && !(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false);
  } catch {
    return false;
  }
}

async function hasCuda(mod: unknown): Promise<boolean> {
  // deno-lint-ignore no-explicit-any
  const list = (mod as any).listSupportedBackends?.() as { name: string }[] | undefined;
  if (!list?.some((b) => b.name === "cuda")) return false;
  try {
    await Deno.stat("/dev/nvidia0");
    return true;
  } catch {
    return false;
  }
}

/** Loads onnxruntime-node or -web and creates a session over the ONNX bytes. */
export async function createOrtBackend(
  name: "ort-node" | "ort-web",
  onnx: Uint8Array,
  config: ModelConfig,
  options: OrtBackendOptions = {},
): Promise<DecoderBackend> {
  let ort: OrtModule;
  let device: string;
  const sessionOptions: Record<string, unknown> = { graphOptimizationLevel: "all" };
  if (name === "ort-node") {
    const mod = await import("onnxruntime-node");
    ort = mod as unknown as OrtModule;
    device = options.device ?? (await hasCuda(mod) ? "cuda" : "cpu");
    if (options.threads) sessionOptions.intraOpNumThreads = options.threads;
  } else {
    device = options.device ?? (await hasRealWebGpu() ? "webgpu" : "wasm");
    const mod = device === "webgpu"
      ? await import("onnxruntime-web/webgpu")
      : await import("onnxruntime-web");
    // deno-lint-ignore no-explicit-any
    if (options.threads) (mod as any).env.wasm.numThreads = options.threads;
    ort = mod as unknown as OrtModule;
  }
  sessionOptions.executionProviders = device === "cpu" ? ["cpu"] : [device];
  const session = await ort.InferenceSession.create(onnx, sessionOptions);
  const L = config.layers, NH = config.heads, hs = config.width / config.heads;
  const empty = () => {
    const past: Record<string, OrtTensor> = {};
    for (let l = 0; l < L; l++) {
      for (const kv of ["key", "value"]) {
        past[`past_key_values.${l}.${kv}`] = new ort.Tensor("float32", new Float32Array(0), [
          1,
          NH,
          0,
          hs,
        ]);
      }
    }
    return past;
  };
  return {
    name,
    device,
    config,
    async step(tokens, state) {
      const s = state as OrtState | null;
      const past = s?.past ?? empty();
      const length = (s?.length ?? 0) + tokens.length;
      checkStep(config, tokens, s?.length ?? 0);
      const feeds: Record<string, OrtTensor> = {
        ...past,
        input_ids: new ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [1, tokens.length]),
        attention_mask: new ort.Tensor("int64", new BigInt64Array(length).fill(1n), [1, length]),
      };
      const out = await session.run(feeds);
      const next: Record<string, OrtTensor> = {};
      for (let l = 0; l < L; l++) {
        for (const kv of ["key", "value"]) {
          next[`past_key_values.${l}.${kv}`] = out[`present.${l}.${kv}`]!;
        }
      }
      const logits = out.logits!.data as Float32Array;
      return { logits, state: { length, past: next } as OrtState };
    },
    dispose: () => session.release(),
  };
}
