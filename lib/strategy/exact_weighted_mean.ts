/**
 * Batch exact FedAvg: `sum(w_i v_i) / sum(w_i)` with the sum of fixed_point_sum.ts (definition,
 * error bound), bit-identical to adding the vectors to a `FixedPointSum` in any order and
 * dividing by the exact total weight. Block-major: a block of coordinates of every vector is
 * copied into wasm memory, checked, summed and divided before the next block, so each vector is
 * read from memory once and only one block of limbs exists.
 *
 * @example
 * ```ts
 * import { exactWeightedMean } from "./exact_weighted_mean.ts";
 * const { mean } = exactWeightedMean(
 *   [new Float32Array([1, 2, 3]), new Float32Array([2, 0, -1]), new Float32Array([0, 4, 1])],
 *   [1, 2, 1],
 * );
 * console.log(mean); // Float32Array [1.25, 1.5, 0.5]
 * ```
 *
 * @module
 */
import {
  acquireWorkspace,
  BLOCK,
  CARRY_EVERY,
  GROUP,
  padded,
  type TermError,
  type Workspace,
} from "./_aggregate_wasm.ts";
import { ExactWeightSum, MAX_UPDATES } from "./fixed_point_sum.ts";

/** What {@link exactWeightedMean} returns. */
export interface ExactMean {
  /** The weighted mean of the usable vectors; undefined when none is usable. */
  mean: Float32Array | undefined;
  /** Index -> problem of every vector left out (non-finite, or a term >= MAX_TERM). */
  invalid: Map<number, TermError>;
  /** Exact sum of the usable weights. */
  total: number;
}

const LAYOUT = { slots: GROUP, slotFloats: BLOCK, accCoordinates: BLOCK };
let workspace: Workspace | undefined;

/**
 * The weighted mean of the usable `vectors` (weights must pass `checkWeight`); vectors with a
 * non-finite value or a term >= MAX_TERM are left out and reported in `invalid`.
 *
 * @throws {RangeError} when there is no vector, lengths differ, or there are > MAX_UPDATES
 */
export function exactWeightedMean(
  vectors: readonly Float32Array[],
  weights: readonly number[],
): ExactMean {
  if (vectors.length === 0 || vectors.length !== weights.length) {
    throw new RangeError(`Cannot average: ${vectors.length} vectors, ${weights.length} weights`);
  }
  if (vectors.length > MAX_UPDATES) {
    throw new RangeError(`Cannot average: more than ${MAX_UPDATES} vectors; use clusters`);
  }
  const length = vectors[0]!.length;
  if (vectors.some((v) => v.length !== length)) {
    throw new RangeError("Cannot average: vectors differ in length");
  }
  const ws = workspace ??= acquireWorkspace(LAYOUT);
  const invalid = new Map<number, TermError>();
  let usable = vectors.map((_, i) => i);
  let mean = meanOf(ws, vectors, weights, usable, invalid);
  if (mean === undefined) {
    // A vector turned out unusable part-way: find every such vector first, then run once more.
    for (const i of usable) {
      const problem = invalid.get(i) ?? scanVector(ws, vectors[i]!, weights[i]!);
      if (problem !== undefined) invalid.set(i, problem);
    }
    usable = usable.filter((i) => !invalid.has(i));
    mean = usable.length > 0 ? meanOf(ws, vectors, weights, usable, invalid) : undefined;
  }
  return { mean, invalid, total: totalOf(weights, usable) };
}

function totalOf(weights: readonly number[], usable: readonly number[]): number {
  const total = new ExactWeightSum();
  for (const i of usable) total.add(weights[i]!);
  return total.value;
}

/** One block-major pass; undefined (after recording the culprits) if a vector is unusable. */
function meanOf(
  ws: Workspace,
  vectors: readonly Float32Array[],
  weights: readonly number[],
  usable: readonly number[],
  invalid: Map<number, TermError>,
): Float32Array | undefined {
  const length = vectors[0]!.length;
  const total = totalOf(weights, usable);
  const heaviest = Math.max(...usable.map((i) => weights[i]!));
  const out = new Float32Array(length);
  for (let b = 0; b < length; b += BLOCK) {
    const len = Math.min(BLOCK, length - b);
    ws.zero(ws.acc, padded(len) * 16);
    let sinceCarry = 0;
    for (let g = 0; g < usable.length; g += GROUP) {
      const group = usable.slice(g, g + GROUP);
      ws.stage(0, vectors, weights, group, b, len, false);
      if (sinceCarry + group.length > CARRY_EVERY) {
        ws.kernels.carry(ws.acc, padded(len));
        sinceCarry = 0;
      }
      const bound = ws.deposit(ws.acc, 0, group.length, len);
      sinceCarry += group.length;
      if (ws.suspect(bound, heaviest)) {
        // Maybe a bad value: scan the staged slots (still there) one by one.
        ws.scan(0, group.length, len);
        group.forEach((i, s) => {
          const problem = ws.problem(s, weights[i]!);
          if (problem !== undefined) invalid.set(i, problem);
        });
        if (group.some((i) => invalid.has(i))) return undefined;
      }
    }
    ws.finalize(ws.acc, len, total, out, b);
  }
  return out;
}

/** Checks one whole vector through the scan kernel. */
function scanVector(ws: Workspace, values: Float32Array, weight: number): TermError | undefined {
  for (let b = 0; b < values.length; b += BLOCK) {
    const len = Math.min(BLOCK, values.length - b);
    const problem = ws.stage(0, [values], [weight], [0], b, len)[0];
    if (problem !== undefined) return problem;
  }
  return undefined;
}
