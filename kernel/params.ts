/**
 * Model configuration and the flat parameter layout: every tensor is a named slice of one
 * Float32Array (llm.c style), so weights hash, copy and ship as a single buffer.
 */
import type { Kernel } from "./wasm_module.ts";

/** Byte-level vocabulary: tokens are raw UTF-8 bytes. */
export const VOCAB = 256;

export interface ModelConfig {
  /** "gpt": GPT-2 style decoder; "ssm": attention replaced by a diagonal linear recurrence. */
  kind: "gpt" | "ssm";
  /** Maximum context length (rows of the position table). */
  maxT: number;
  layers: number;
  heads: number;
  /** Residual stream width C. */
  width: number;
}

/** One tensor of the flat buffer. */
export interface TensorSpec {
  name: string;
  shape: number[];
  size: number;
  offset: number;
  /** How to initialise: normal with `std`, or the constant `value`. */
  init: { std: number } | { value: number } | { ramp: [number, number] };
  /** Whether AdamW weight decay applies (matrices yes; biases, norms, SSM coefficients no). */
  decay: boolean;
}

export interface ParamLayout {
  config: ModelConfig;
  tensors: TensorSpec[];
  byName: Map<string, TensorSpec>;
  size: number;
}

/**
 * The largest configuration the kernel takes: a config can come from an untrusted file's header,
 * and its layout (a dozen tensors a layer) and its weights are built before anything else is
 * checked, so a 114-byte checkpoint declaring 200M layers exhausted the heap. 2^32 parameters is
 * 16 GiB of f32 weights, more than a laptop trains (1.2B measured on 24 GiB).
 */
export const MAX_LAYERS = 1024;
export const MAX_WIDTH = 1 << 16;
export const MAX_CONTEXT = 1 << 20;
export const MAX_PARAMS = 2 ** 32;

/** Throws RangeError if the configuration cannot run on this kernel. */
export function validateConfig(cfg: ModelConfig): void {
  if (cfg.kind !== "gpt" && cfg.kind !== "ssm") {
    throw new RangeError(`Cannot build model: kind must be "gpt" or "ssm", not ${cfg.kind}`);
  }
  const ints = [cfg.maxT, cfg.layers, cfg.heads, cfg.width];
  if (!ints.every((x) => Number.isInteger(x) && x > 0)) {
    throw new RangeError(`Cannot build model: sizes must be positive integers`);
  }
  if (cfg.layers > MAX_LAYERS || cfg.width > MAX_WIDTH || cfg.maxT > MAX_CONTEXT) {
    throw new RangeError(
      `Cannot build model: at most ${MAX_LAYERS} layers, width ${MAX_WIDTH} and context ` +
        `${MAX_CONTEXT} (asked ${cfg.layers}, ${cfg.width}, ${cfg.maxT})`,
    );
  }
  if (cfg.width % cfg.heads !== 0 || (cfg.width / cfg.heads) % 4 !== 0) {
    throw new RangeError(
      `Cannot build model: head size ${cfg.width / cfg.heads} must be an integer multiple of 4`,
    );
  }
}

/** The tensor list for a configuration, in buffer order. */
export function paramLayout(cfg: ModelConfig): ParamLayout {
  validateConfig(cfg);
  const C = cfg.width;
  const std = 0.02;
  // GPT-2 scales the init of projections that write into the residual stream by 1/sqrt(2L).
  const resStd = std / Math.sqrt(2 * cfg.layers);
  const tensors: TensorSpec[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], init: TensorSpec["init"], decay: boolean) => {
    const size = shape.reduce((a, b) => a * b, 1);
    tensors.push({ name, shape, size, offset, init, decay });
    offset += size;
  };
  add("wte", [VOCAB, C], { std }, true);
  add("wpe", [cfg.maxT, C], { std }, true);
  for (let l = 0; l < cfg.layers; l++) {
    const p = `h${l}.`;
    add(p + "ln1w", [C], { value: 1 }, false);
    add(p + "ln1b", [C], { value: 0 }, false);
    if (cfg.kind === "gpt") {
      add(p + "qkvw", [C, 3 * C], { std }, true);
      add(p + "qkvb", [3 * C], { value: 0 }, false);
      add(p + "projw", [C, C], { std: resStd }, true);
      add(p + "projb", [C], { value: 0 }, false);
    } else {
      add(p + "inw", [C, C], { std }, true);
      add(p + "inb", [C], { value: 0 }, false);
      // a = sigmoid(alpha) ramps from 0.5 to ~0.98 across channels: a spread of memory lengths.
      add(p + "alpha", [C], { ramp: [0, 4] }, false);
      add(p + "bc", [C], { value: 0.1 }, false);
      add(p + "cc", [C], { value: 1 }, false);
      add(p + "dc", [C], { value: 1 }, false);
      add(p + "projw", [C, C], { std: resStd }, true);
      add(p + "projb", [C], { value: 0 }, false);
    }
    add(p + "ln2w", [C], { value: 1 }, false);
    add(p + "ln2b", [C], { value: 0 }, false);
    add(p + "fcw", [C, 4 * C], { std }, true);
    add(p + "fcb", [4 * C], { value: 0 }, false);
    add(p + "fcprojw", [4 * C, C], { std: resStd }, true);
    add(p + "fcprojb", [C], { value: 0 }, false);
  }
  add("lnfw", [C], { value: 1 }, false);
  add("lnfb", [C], { value: 0 }, false);
  if (offset > MAX_PARAMS) {
    throw new RangeError(`Cannot build model: ${offset} parameters, at most ${MAX_PARAMS}`);
  }
  return { config: cfg, tensors, byName: new Map(tensors.map((t) => [t.name, t])), size: offset };
}

/**
 * Where layer `l`'s tensors sit in the flat buffer: one contiguous range, the same size for every
 * layer (kernel/offload.ts streams layers through linear memory by these ranges).
 */
export function layerRange(layout: ParamLayout, l: number): { offset: number; size: number } {
  const first = layout.byName.get(`h${l}.ln1w`);
  const next = layout.byName.get(l + 1 < layout.config.layers ? `h${l + 1}.ln1w` : "lnfw");
  if (!first || !next) throw new RangeError(`Cannot find layer ${l}`);
  return { offset: first.offset, size: next.offset - first.offset };
}

/** Whether a tensor belongs to a layer (`h{l}.name`) rather than the embeddings or final norm. */
export function isLayerTensor(name: string): boolean {
  return /^h\d+\./.test(name);
}

/** Named views into a flat buffer (weights or gradients) laid out by `layout`. */
export function paramViews(layout: ParamLayout, flat: Float32Array): Record<string, Float32Array> {
  if (flat.length !== layout.size) {
    throw new RangeError(`Cannot view params: buffer has ${flat.length}, layout ${layout.size}`);
  }
  const views: Record<string, Float32Array> = {};
  for (const t of layout.tensors) views[t.name] = flat.subarray(t.offset, t.offset + t.size);
  return views;
}

/**
 * Deterministic initial weights from a 32-bit seed. Random tensors use the kernel's own PRNG and
 * Box-Muller (no Math.random, no host libm), one stream per tensor index.
 */
export function initWeights(kernel: Kernel, layout: ParamLayout, seed: number): Float32Array {
  const out = new Float32Array(layout.size);
  // One tensor at a time through linear memory, so models larger than it can be initialised.
  layout.tensors.forEach((t, stream) => {
    const init = t.init;
    const view = out.subarray(t.offset, t.offset + t.size);
    if ("std" in init) {
      const mark = kernel.mark();
      const p = kernel.alloc(t.size);
      kernel.ops.initNormal(p, t.size, seed >>> 0, stream, init.std);
      view.set(kernel.f32(p, t.size));
      kernel.release(mark);
    } else if ("value" in init) {
      view.fill(init.value);
    } else {
      const [lo, hi] = init.ramp;
      for (let i = 0; i < t.size; i++) view[i] = lo + ((hi - lo) * i) / Math.max(1, t.size - 1);
    }
  });
  return out;
}
