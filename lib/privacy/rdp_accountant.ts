/**
 * Rényi-DP accountant for the (Poisson-)subsampled Gaussian mechanism, the mechanism of
 * DP-FedAvg / DP-SGD: each round samples clients with probability `q` and adds Gaussian
 * noise with multiplier `z` to the clipped sum.
 *
 * RDP at integer order α (Mironov, Talwar & Zhang 2019, "Rényi Differential Privacy of the
 * Sampled Gaussian Mechanism", eq. for integer α; add/remove-one neighbours):
 *
 *   A_α = Σ_{i=0..α} C(α, i) (1-q)^(α-i) q^i exp((i² - i) / (2 z²)),  RDP(α) = log(A_α) / (α-1)
 *
 * computed in log space. RDP composes additively over rounds. Conversion to (ε, δ) uses the
 * tighter bound of Balle et al. 2020 / Canonne, Kamath & Steinke 2020 (as TF-Privacy,
 * dp_accounting and Opacus do): ε = min_α RDP(α) + log1p(-1/α) - (log δ + log α)/(α - 1).
 * Only integer orders are used, so ε can be slightly above (never below) what libraries
 * with fractional orders report.
 *
 * @module
 */

/** Default orders: 2..64 and a few large ones for tiny budgets. */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 63 }, (_, i) => i + 2),
  80,
  96,
  128,
  256,
]);

/**
 * Thrown when accounting another round would push ε past the configured budget. The round
 * was not accounted: the caller must stop releasing aggregates.
 */
export class BudgetExceededError extends Error {
  /** Stable code for callers. */
  readonly code = "BUDGET_EXCEEDED" as const;
  /** ε the refused round would have reached. */
  readonly epsilon: number;
  /** The configured budget. */
  readonly maxEpsilon: number;
  /** @param details the ε that would be reached and the budget */
  constructor(details: { epsilon: number; maxEpsilon: number }) {
    super(
      `Cannot account another round: epsilon would reach ${details.epsilon.toFixed(4)}, ` +
        `budget is ${details.maxEpsilon}`,
    );
    this.name = "BudgetExceededError";
    this.epsilon = details.epsilon;
    this.maxEpsilon = details.maxEpsilon;
  }
}

/**
 * RDP of `steps` compositions of the sampled Gaussian mechanism at each integer order.
 *
 * @throws {RangeError} on q outside [0, 1], negative z or steps, or non-integer orders < 2
 * @example
 * ```ts
 * import { computeRdp } from "./rdp_accountant.ts";
 * // q = 1 is the plain Gaussian mechanism: RDP(α) = α / (2 z²).
 * console.assert(Math.abs(computeRdp(1, 2, 1, [4])[0]! - 0.5) < 1e-12);
 * ```
 */
export function computeRdp(
  q: number,
  noiseMultiplier: number,
  steps: number,
  orders: readonly number[] = DEFAULT_ORDERS,
): number[] {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Cannot compute RDP: q ${q} is not in [0, 1]`);
  if (!(noiseMultiplier >= 0)) {
    throw new RangeError(`Cannot compute RDP: noise multiplier ${noiseMultiplier} is negative`);
  }
  if (!(steps >= 0) || !Number.isInteger(steps)) {
    throw new RangeError(`Cannot compute RDP: steps ${steps} is not a non-negative integer`);
  }
  return orders.map((alpha) => {
    if (!Number.isInteger(alpha) || alpha < 2) {
      throw new RangeError(`Cannot compute RDP: order ${alpha} is not an integer >= 2`);
    }
    if (q === 0 || steps === 0) return 0;
    if (noiseMultiplier === 0) return Infinity;
    return (steps * logA(q, noiseMultiplier, alpha)) / (alpha - 1);
  });
}

/**
 * The smallest ε over `orders` for the given RDP curve and δ.
 *
 * @example
 * ```ts
 * import { rdpToEpsilon } from "./rdp_accountant.ts";
 * const orders = Array.from({ length: 31 }, (_, i) => i + 2);
 * const { epsilon, order } = rdpToEpsilon(orders, orders.map(() => 1.1), 1e-5);
 * console.assert(Math.abs(epsilon - 1.32783806176) < 1e-9 && order === 32);
 * ```
 */
export function rdpToEpsilon(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
): { epsilon: number; order: number } {
  if (!(delta > 0 && delta < 1)) {
    throw new RangeError(`Cannot convert RDP: delta ${delta} is not in (0, 1)`);
  }
  if (orders.length !== rdp.length || orders.length === 0) {
    throw new RangeError(`Cannot convert RDP: ${orders.length} orders, ${rdp.length} values`);
  }
  // No privacy loss at any order: the mechanism reveals nothing (the bound below would still
  // report a small positive epsilon from its log(alpha) term).
  if (rdp.every((r) => r === 0)) return { epsilon: 0, order: orders[0]! };
  let best = Infinity;
  let bestOrder = orders[0]!;
  for (let j = 0; j < orders.length; j++) {
    const a = orders[j]!;
    const eps = rdp[j]! + Math.log1p(-1 / a) - (Math.log(delta) + Math.log(a)) / (a - 1);
    if (eps < best) {
      best = eps;
      bestOrder = a;
    }
  }
  return { epsilon: Math.max(0, best), order: bestOrder };
}

/** Options of {@link RdpAccountant}. */
export interface RdpAccountantOptions {
  /** Target δ of the reported (ε, δ). */
  delta: number;
  /** Budget: rounds that would exceed it are refused. Default: unlimited. */
  maxEpsilon?: number;
  /** RDP orders (integers >= 2). */
  orders?: readonly number[];
}

/**
 * Tracks the privacy spent by a job over rounds and refuses to go over budget.
 *
 * @example
 * ```ts
 * import { BudgetExceededError, RdpAccountant } from "./rdp_accountant.ts";
 * const acc = new RdpAccountant({ delta: 1e-5, maxEpsilon: 1 });
 * acc.spend(0.01, 1.1, 100);
 * console.assert(acc.epsilon > 0 && acc.epsilon <= 1);
 * try {
 *   acc.spend(0.01, 1.1, 100_000);
 * } catch (e) {
 *   console.assert(e instanceof BudgetExceededError && acc.steps === 100);
 * }
 * ```
 */
export class RdpAccountant {
  readonly delta: number;
  readonly maxEpsilon: number;
  readonly orders: readonly number[];
  #rdp: number[];
  #steps = 0;

  constructor(options: RdpAccountantOptions) {
    this.orders = options.orders ?? DEFAULT_ORDERS;
    this.#rdp = computeRdp(0, 1, 0, this.orders); // validates orders; all zeros
    rdpToEpsilon(this.orders, this.#rdp, options.delta); // validates delta
    this.delta = options.delta;
    this.maxEpsilon = options.maxEpsilon ?? Infinity;
    if (!(this.maxEpsilon > 0)) {
      throw new RangeError(`Cannot create accountant: budget ${this.maxEpsilon} is not > 0`);
    }
  }

  /** Rounds accounted so far. */
  get steps(): number {
    return this.#steps;
  }

  /** ε spent so far at {@link delta}. */
  get epsilon(): number {
    return rdpToEpsilon(this.orders, this.#rdp, this.delta).epsilon;
  }

  /** ε that spending `steps` more rounds of (q, z) would reach, without spending them. */
  epsilonAfter(q: number, noiseMultiplier: number, steps = 1): number {
    const add = computeRdp(q, noiseMultiplier, steps, this.orders);
    return rdpToEpsilon(this.orders, this.#rdp.map((r, j) => r + add[j]!), this.delta).epsilon;
  }

  /**
   * Accounts `steps` rounds of the sampled Gaussian mechanism; returns the new ε.
   *
   * @throws {BudgetExceededError} when the new ε would exceed the budget (nothing recorded)
   */
  spend(q: number, noiseMultiplier: number, steps = 1): number {
    const add = computeRdp(q, noiseMultiplier, steps, this.orders);
    const next = this.#rdp.map((r, j) => r + add[j]!);
    const { epsilon } = rdpToEpsilon(this.orders, next, this.delta);
    if (epsilon > this.maxEpsilon) {
      throw new BudgetExceededError({ epsilon, maxEpsilon: this.maxEpsilon });
    }
    this.#rdp = next;
    this.#steps += steps;
    return epsilon;
  }
}

/** log A_α for integer α, by log-sum-exp over the binomial expansion. */
function logA(q: number, sigma: number, alpha: number): number {
  if (q === 1) return (alpha * (alpha - 1)) / (2 * sigma * sigma);
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const terms: number[] = [];
  let logBinom = 0;
  let max = -Infinity;
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log(alpha - i + 1) - Math.log(i);
    const t = logBinom + i * logQ + (alpha - i) * log1mQ + (i * i - i) / (2 * sigma * sigma);
    terms.push(t);
    if (t > max) max = t;
  }
  let sum = 0;
  for (const t of terms) sum += Math.exp(t - max);
  return max + Math.log(sum);
}
