/**
 * Layer-wise merging (design doc, "Technique: Layer-Wise Merging"): the flat parameter buffer is
 * cut into named views (llm.c style, `name -> [offset, length]`), and a job's rules weight a
 * layer's combined delta (0.5 = damped) or freeze it (delta 0, e.g. embeddings kept fixed).
 * Applied to the round's combined delta (lib/strategy/combine_round.ts), so it follows the
 * streaming aggregate without holding every update at once.
 *
 * @module
 */

/** Named views into the flat parameter buffer: name -> [offset, length]. */
export type LayerViews = Record<string, readonly [number, number]>;

/** A layer rule a job spec carries. */
export interface LayerWeightRule {
  weight?: number;
  freeze?: boolean;
}

/**
 * Applies per-layer weight/freeze rules to an already combined delta, in place. Rule keys are
 * view names, or prefixes ending in `*` (an exact name wins over a prefix); views without a
 * rule and parameters outside every view keep their delta.
 *
 * @example
 * ```ts
 * import { applyLayerRules } from "./layerwise.ts";
 * const d = new Float32Array([1, 1, 2, 2]);
 * const rules = { wte: { freeze: true }, "h0.*": { weight: 0.5 } };
 * applyLayerRules(d, { wte: [0, 2], "h0.w": [2, 2] }, rules);
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
