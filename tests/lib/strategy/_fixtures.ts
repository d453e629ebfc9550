import type { ClientUpdate } from "../../../lib/strategy/strategy.ts";

/** FedAvg computed inline (fed_avg.ts belongs to another module): sum(n_i d_i) / sum(n_i). */
export function weightedMeanOf(updates: readonly ClientUpdate[]): Float32Array {
  const length = updates[0]!.delta.length;
  const acc = new Float64Array(length);
  let total = 0;
  for (const u of updates) {
    total += u.numSamples;
    for (let i = 0; i < length; i++) acc[i]! += u.numSamples * u.delta[i]!;
  }
  return Float32Array.from(acc, (x) => x / total);
}

/** Shorthand for an update. */
export function upd(nodeId: string, values: number[], numSamples = 1): ClientUpdate {
  return { nodeId, delta: new Float32Array(values), numSamples };
}

/** Asserts two arrays agree within `tol`. */
export function assertClose(actual: ArrayLike<number>, expected: number[], tol = 1e-6): void {
  if (actual.length !== expected.length) {
    throw new Error(`length ${actual.length} != ${expected.length}`);
  }
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol)) {
      throw new Error(`[${i}] ${Array.from(actual)} != ${expected}`);
    }
  }
}
