/**
 * The token-mixing half of a residual block. The GPT model mixes with causal self-attention,
 * the SSM model with a diagonal linear recurrence; everything else (embeddings, layer norms,
 * MLP, tied head, loss) is shared in network.ts.
 */
import type { Kernel } from "./wasm_module.ts";

/** What a mixer sees: sizes and pointer lookups for parameters, gradients and activations. */
export interface MixerContext {
  k: Kernel;
  B: number;
  T: number;
  C: number;
  NH: number;
  /** Byte pointer of parameter `h{layer}.{name}`. */
  param(layer: number, name: string): number;
  /** Byte pointer of the gradient of `h{layer}.{name}`. */
  grad(layer: number, name: string): number;
  /** Byte pointer of this layer's activation `name` (from `actSizes`). */
  act(layer: number, name: string): number;
  /** Byte pointer of this layer's activation gradient `name` (from `dactSizes`); zeroed per step. */
  dact(layer: number, name: string): number;
}

export interface Mixer {
  /** Per-layer activations to keep for backward, in f32 elements. */
  actSizes(B: number, T: number, C: number, NH: number): Record<string, number>;
  /** Per-layer activation gradients, in f32 elements. */
  dactSizes(B: number, T: number, C: number, NH: number): Record<string, number>;
  /** Scratch bytes needed beyond the matmuls (which network.ts sizes itself). */
  scratchBytes(B: number, T: number, C: number): number;
  /** The mixer's linear layers as [in, out] widths, so network.ts can size gemm scratch. */
  linears(C: number): [number, number][];
  /** out (BT,C) = mix(inp (BT,C)) */
  forward(ctx: MixerContext, layer: number, out: number, inp: number): void;
  /** dinp (BT,C) += ...; parameter gradients += ... */
  backward(ctx: MixerContext, layer: number, dinp: number, dout: number, inp: number): void;
}
