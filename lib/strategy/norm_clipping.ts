/**
 * Norm clipping around another strategy: each update's delta is scaled so its L2 norm is
 * at most a bound — fixed, or `factor x` the median norm of the round (so a few huge
 * Byzantine updates cannot move the bound) — then the wrapped strategy aggregates.
 * Bounds the influence of any one update to `bound / n` under a mean; it does not stop
 * direction attacks (sign flips), so wrap a robust strategy when that matters.
 *
 * @example
 * ```ts
 * import { NormClipping } from "./norm_clipping.ts";
 * import type { Strategy } from "./strategy.ts";
 * const first: Strategy = {
 *   name: "first",
 *   aggregate: (us) => ({ delta: us[0]!.delta, accepted: [us[0]!.nodeId], rejected: [] }),
 * };
 * const r = new NormClipping(first, { bound: 1 }).aggregate([
 *   { nodeId: "0xa", delta: new Float32Array([3, 4]), numSamples: 1 },
 * ]);
 * console.assert(Math.abs(r.delta[0]! - 0.6) < 1e-6);
 * ```
 *
 * @module
 */
import type { AggregateResult, ClientUpdate, Strategy } from "./strategy.ts";
import { median, norm, prepareUpdates } from "./_robust.ts";

/** Options of {@link NormClipping}. */
export interface NormClippingOptions {
  /** Fixed L2 bound; default: `factor x` median norm of the round's valid updates. */
  bound?: number;
  /** Multiplier of the median norm when no fixed bound is given (default 1). */
  factor?: number;
  /** Model length; default: the most common delta length. */
  length?: number;
}

/** Clips every update to an L2 bound, then delegates. */
export class NormClipping implements Strategy {
  readonly name: string;
  readonly inner: Strategy;
  readonly #bound: number | undefined;
  readonly #factor: number;
  readonly #length: number | undefined;

  constructor(inner: Strategy, options: NormClippingOptions = {}) {
    this.inner = inner;
    this.name = `clip+${inner.name}`;
    this.#bound = options.bound;
    this.#factor = options.factor ?? 1;
    this.#length = options.length;
    if (this.#bound !== undefined && !(this.#bound > 0 && Number.isFinite(this.#bound))) {
      throw new RangeError(`Cannot create norm clipping: bound ${this.#bound} is not positive`);
    }
    if (!(this.#factor > 0 && Number.isFinite(this.#factor))) {
      throw new RangeError(`Cannot create norm clipping: factor ${this.#factor} is not positive`);
    }
  }

  /** The bound used for these (valid) updates. */
  boundFor(valid: readonly ClientUpdate[]): number {
    return this.#bound ?? this.#factor * median(valid.map((u) => norm(u.delta)));
  }

  /** Combines the round's updates; throws RangeError when none is usable. */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    const { valid, rejected, length } = prepareUpdates(updates, this.name, this.#length);
    const bound = this.boundFor(valid);
    const clipped = valid.map((u) => {
      const nrm = norm(u.delta);
      if (!(nrm > bound)) return u;
      const s = bound / nrm;
      const delta = new Float32Array(u.delta.length);
      for (let i = 0; i < delta.length; i++) delta[i] = u.delta[i]! * s;
      return { ...u, delta };
    });
    const inner = this.inner.aggregate(clipped);
    if (inner.delta.length !== length) {
      throw new RangeError(`Cannot aggregate with ${this.name}: inner returned wrong length`);
    }
    return { ...inner, rejected: [...rejected, ...inner.rejected] };
  }
}
