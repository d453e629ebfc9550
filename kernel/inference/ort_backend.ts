/**
 * onnxruntime backends over the exported graph (kernel/onnx_export.ts): onnxruntime-node (native
 * CPU; CUDA when the binding lists it and a GPU is present) and onnxruntime-web (wasm; WebGPU only
 * when navigator.gpu offers a real, non-fallback adapter). The state is the KV cache.
 *
 * A graph past 2 GB keeps its weights as external data: onnxruntime-node then opens the graph by
 * path and maps the data file beside it; onnxruntime-web is handed the data file's bytes.
 */
import { dirname, join } from "node:path";
import onnxProto from "onnx-proto";
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
    create(model: Uint8Array | string, options?: Record<string, unknown>): Promise<OrtSession>;
  };
}

/** An exported graph, and where its external data is when its weights are not inside it. */
export interface OnnxGraph {
  onnx: Uint8Array;
  /** External data files in memory, by the name (`location`) the graph gives them. */
  onnxData?: { path: string; data: Uint8Array }[];
  /** The graph's file, its data files beside it: ort-node reads them without a copy in JS. */
  onnxPath?: string;
}

/** Every external data file the graph names (its initializers' `location`s). */
export function externalDataFiles(onnx: Uint8Array): string[] {
  const graph = onnxProto.onnx.ModelProto.decode(onnx).graph;
  const names = new Set<string>();
  for (const t of graph?.initializer ?? []) {
    const location = t.externalData?.find((e) => e.key === "location")?.value;
    if (location) names.add(location);
  }
  return [...names];
}

/** The external data ort-web needs in memory: given, or read from beside the graph's file. */
async function dataInMemory(graph: OnnxGraph): Promise<OnnxGraph["onnxData"]> {
  if (graph.onnxData || !graph.onnxPath) return graph.onnxData;
  const dir = dirname(graph.onnxPath);
  const files = externalDataFiles(graph.onnx);
  return await Promise.all(
    files.map(async (path) => ({ path, data: await Deno.readFile(join(dir, path)) })),
  );
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

/** Loads onnxruntime-node or -web and creates a session over the graph. */
export async function createOrtBackend(
  name: "ort-node" | "ort-web",
  graph: OnnxGraph,
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
  let source: Uint8Array | string = graph.onnx;
  if (name === "ort-node" && graph.onnxPath) source = graph.onnxPath;
  else {
    const externalData = name === "ort-node" ? graph.onnxData : await dataInMemory(graph);
    if (externalData) sessionOptions.externalData = externalData;
  }
  const session = await ort.InferenceSession.create(source, sessionOptions);
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
