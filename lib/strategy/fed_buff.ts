/**
 * FedBuff's staleness discount (Nguyen et al. 2022, "Federated Learning with Buffered
 * Asynchronous Aggregation"): an update trained against a checkpoint τ rounds old counts
 * s(τ) = 1 / sqrt(1 + τ) of its weight. The coordinator applies it where a round combines its
 * updates (`combineRound`, and the cluster sums of hierarchical rounds); the round itself is the
 * buffer, so there is no separate buffered aggregator.
 *
 * @module
 */

/** Polynomial staleness discount of FedBuff: `1 / sqrt(1 + tau)`. */
export function sqrtStaleness(tau: number): number {
  return 1 / Math.sqrt(1 + tau);
}
