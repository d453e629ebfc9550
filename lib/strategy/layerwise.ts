/**
 * Layer-wise merging (design doc, "Layer-Wise Merging"): the flat parameter buffer is cut into named views
 * (llm.c style, `name -> [offset, length]`), and each layer is combined by its own rule: a
 * different strategy (say, a robust one for the output head), a weight applied to the combined
 * layer delta (0.5 = damped), or `freeze` (delta 0, e.g. embeddings kept fixed).
 * Parameters outside every view, and views without a rule, use the default strategy.
 *
 * Updates invalid over the whole buffer (length, non-finite, samples) are rejected once, before
 * any layer runs; a layer strategy may still reject a node for that layer only, reported as
 * `layer <name>: <reason>`.
 *
 * @example
 * ```ts
 * import { Layerwise } from "./layerwise.ts";
 * const merge = new Layerwise({ wte: [0, 2], h0: [2, 2] }, { rules: { wte: { freeze: true } } });
 * const out = merge.aggregate([
 *   { nodeId: "0xa", delta: new Float32Array([1, 1, 1, 3]), numSamples: 1 },
 *   { nodeId: "0xb", delta: new Float32Array([3, 3, 3, 5]), numSamples: 1 },
 * ]);
 * console.log(out.delta); // Float32Array [0, 0, 2, 4]
 * ```
 *
 * @module
 */
import {
  type AggregateResult,
  type ClientUpdate,
  partitionValid,
  type RejectedUpdate,
  type Strategy,
} from "./strategy.ts";
import { FedAvg } from "./fed_avg.ts";

/** Named views into the flat parameter buffer: name -> [offset, length]. */
export type LayerViews = Record<string, readonly [number, number]>;

/** How one layer is combined. */
export interface LayerRule {
  /** Strategy for this layer (default: the Layerwise default strategy). */
  strategy?: Strategy;
  /** Factor applied to the combined layer delta (default 1). */
  weight?: number;
  /** Keep the layer fixed: its delta is 0. */
  freeze?: boolean;
}

/** Options of {@link Layerwise}. */
export interface LayerwiseOptions {
  /** Strategy for layers without a rule and uncovered parameters (default FedAvg). */
  defaultStrategy?: Strategy;
  /** Per-layer rules by view name. */
  rules?: Record<string, LayerRule>;
}

/** Combines each named layer with its own rule. */
export class Layerwise implements Strategy {
  readonly name = "layerwise";
  readonly views: LayerViews;
  #default: Strategy;
  #rules: Record<string, LayerRule>;

  /** Checks the views are valid, non-overlapping ranges and that rules name real views. */
  constructor(views: LayerViews, options: LayerwiseOptions = {}) {
    const ranges = Object.entries(views).sort((a, b) => a[1][0] - b[1][0]);
    let end = 0;
    for (const [name, [offset, length]] of ranges) {
      if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0) {
        throw new RangeError(`Cannot use view ${name}: [${offset}, ${length}] is not valid`);
      }
      if (offset < end) throw new RangeError(`Cannot use view ${name}: overlaps another view`);
      end = offset + length;
    }
    for (const name of Object.keys(options.rules ?? {})) {
      if (!(name in views)) throw new RangeError(`Cannot use rule ${name}: no such view`);
    }
    this.views = views;
    this.#default = options.defaultStrategy ?? new FedAvg();
    this.#rules = options.rules ?? {};
  }

  /** Combines the round's updates; throws RangeError when none is usable. */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    if (updates.length === 0) throw new RangeError("Cannot aggregate: no updates");
    const length = updates[0]!.delta.length;
    for (const [name, [offset, len]] of Object.entries(this.views)) {
      if (offset + len > length) {
        throw new RangeError(`Cannot aggregate: view ${name} ends past ${length} parameters`);
      }
    }
    const { valid, rejected } = partitionValid(updates, length);
    if (valid.length === 0) {
      throw new RangeError(`Cannot aggregate: no valid update (${rejected.length} rejected)`);
    }
    const out = new Float32Array(length);
    const layerRejects: RejectedUpdate[] = [];
    const ruled = new Set(Object.keys(this.#rules));
    const hasUnruled = Object.keys(this.views).some((n) => !ruled.has(n)) ||
      coveredCount(this.views) < length;
    let accepted = valid.map((u) => u.nodeId);
    if (hasUnruled) {
      // One pass over the whole buffer for everything the default strategy handles.
      const base = this.#default.aggregate(valid);
      out.set(base.delta);
      accepted = base.accepted;
      layerRejects.push(...base.rejected);
    }
    for (const [name, rule] of Object.entries(this.#rules)) {
      const [offset, len] = this.views[name]!;
      const target = out.subarray(offset, offset + len);
      if (rule.freeze || len === 0) {
        target.fill(0);
        continue;
      }
      const slices = valid.map((u) => ({ ...u, delta: u.delta.subarray(offset, offset + len) }));
      const layer = (rule.strategy ?? this.#default).aggregate(slices);
      const w = rule.weight ?? 1;
      for (let i = 0; i < len; i++) target[i] = layer.delta[i]! * w;
      for (const r of layer.rejected) {
        layerRejects.push({ nodeId: r.nodeId, reason: `layer ${name}: ${r.reason}` });
      }
    }
    return { delta: out, accepted, rejected: [...rejected, ...layerRejects] };
  }
}

function coveredCount(views: LayerViews): number {
  let n = 0;
  for (const [, len] of Object.values(views)) n += len;
  return n;
}

/** A layer rule a job spec can carry (no strategy objects in JSON). */
export interface LayerWeightRule {
  weight?: number;
  freeze?: boolean;
}

/**
 * Applies per-layer weight/freeze rules to an already combined delta, in place: the same result
 * as {@link Layerwise} with FedAvg for every layer, without holding every update at once (so it
 * follows the streaming aggregate). Rule keys are view names, or prefixes ending in `*`.
 *
 * @example
 * ```ts
 * import { applyLayerRules } from "./layerwise.ts";
 * const d = new Float32Array([1, 1, 2, 2]);
 * applyLayerRules(d, { wte: [0, 2], "h0.w": [2, 2] }, { wte: { freeze: true }, "h0.*": { weight: 0.5 } });
 * console.log(d); // Float32Array [0, 0, 1, 1]
 * ```
 */
export function applyLayerRules(
  delta: Float32Array,
  views: LayerViews,
  rules: Record<string, LayerWeightRule>,
): Float32Array {
  const ruleFor = (name: string): LayerWeightRule | undefined =>
    rules[name] ??
      Object.entries(rules).find(([k]) => k.endsWith("*") && name.startsWith(k.slice(0, -1)))?.[1];
  for (const [name, [offset, length]] of Object.entries(views)) {
    const rule = ruleFor(name);
    if (!rule) continue;
    const factor = rule.freeze ? 0 : rule.weight ?? 1;
    if (factor === 1) continue;
    for (let i = offset; i < offset + length; i++) delta[i] = delta[i]! * factor;
  }
  return delta;
}
