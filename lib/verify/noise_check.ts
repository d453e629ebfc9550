/**
 * A statistical check of a DP round's secret noise that anyone who can recompute the round's clean
 * mean can run (validators recompute every counted update from the committed digests, the round's
 * starting checkpoint, seeds and shards). The noise itself stays secret; what is checked is that
 * the released step minus the clean mean looks like what the accountant was told: i.i.d. Gaussian
 * noise of std `sigma` per coordinate, independent of anything public.
 *
 * With r = (checkpoint(r+1) - checkpoint(r)) - clean mean over d parameters:
 *
 * - scale: Q = ||r||^2 / sigma^2 is chi-square with d degrees of freedom; it must lie within
 *   the Laurent-Massart (2000) bounds d - 2 sqrt(d x) <= Q <= d + 2 sqrt(d x) + 2 x, each side
 *   exceeded with probability at most e^-x. Zero noise, half the noise or noise on part of the
 *   coordinates fall below; a large shift of the aggregate falls above.
 * - location: the coordinates' mean, sum(r) / (sigma sqrt d), is standard normal; |.| <= t with
 *   P(|Z| > t) <= 2 e^(-t^2 / 2). A small constant shift of every coordinate fails here.
 * - independence from the public: for each vector anyone could regenerate (the generator seeded
 *   from the public spec and round, an earlier round's noise), <r, g> / (sigma ||g||) is standard
 *   normal when the noise is independent of g: noise reused from a public seed gives sqrt(d).
 *
 * The false-alarm probability `falseAlarm` (default 1e-6) is split evenly over the tests, and the
 * bounds are tail bounds, not approximations: an honest coordinator is accused with probability at
 * most `falseAlarm`. What it cannot catch: noise drawn honestly once and reused in a way nobody can
 * regenerate, or a deviation smaller than the noise (the check tests the noise's law, not one draw).
 *
 * `sigma` is the noise std on the mean: for central DP-FedAvg z x clip / n (z raised to z_delta
 * with adaptive clipping), for secure aggregation the std the sum carries, `SecAggResult.noiseStd`
 * (sigma sqrt(s / (minSurvivors - 1)), more than the charged sigma), over n ({@link meanNoiseStd}).
 *
 * @example
 * ```ts
 * import { checkNoise } from "./noise_check.ts";
 * const d = 10_000, sigma = 0.01;
 * const clean = new Float64Array(d);
 * const released = clean.map(() => {
 *   const u = 1 - Math.random(), v = Math.random();
 *   return sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
 * });
 * console.assert(checkNoise(released, clean, sigma).ok);
 * console.assert(!checkNoise(clean, clean, sigma).ok); // no noise at all
 * ```
 *
 * @module
 */

/** Options of {@link checkNoise}. */
export interface NoiseCheckOptions {
  /** Probability that honest noise fails the check (default 1e-6). */
  falseAlarm?: number;
  /** Vectors anyone could regenerate: the noise must not correlate with any of them. */
  predictable?: readonly ArrayLike<number>[];
}

/** Which test failed, with its statistic and bounds. */
export interface NoiseCheckResult {
  ok: boolean;
  /** ||r||^2 / sigma^2 and its bounds (d in expectation). */
  chiSquare: { value: number; low: number; high: number };
  /** sum(r) / (sigma sqrt d) and its bound. */
  meanZ: { value: number; bound: number };
  /** <r, g> / (sigma ||g||) for each predictable vector, and their bound. */
  predictableZ: { values: number[]; bound: number };
  /** Why it failed ("scale", "location", "predictable"), empty when ok. */
  failed: string[];
}

const DEFAULT_FALSE_ALARM = 1e-6;

/**
 * Std of the DP noise on a round's mean: the sum's noise std over the `counted` updates.
 *
 * @example
 * ```ts
 * import { meanNoiseStd } from "./noise_check.ts";
 * console.assert(meanNoiseStd(0.05, 4) === 0.0125);
 * ```
 */
export function meanNoiseStd(sumNoiseStd: number, counted: number): number {
  if (!(sumNoiseStd > 0) || !(counted >= 1)) {
    throw new RangeError(`Cannot size noise: std ${sumNoiseStd} over ${counted} updates`);
  }
  return sumNoiseStd / counted;
}

/**
 * Checks that `released - clean` is Gaussian noise of std `sigma` per coordinate.
 *
 * @throws {RangeError} when the vectors differ in length, or sigma or falseAlarm is out of range
 */
export function checkNoise(
  released: ArrayLike<number>,
  clean: ArrayLike<number>,
  sigma: number,
  options: NoiseCheckOptions = {},
): NoiseCheckResult {
  const d = released.length;
  const alpha = options.falseAlarm ?? DEFAULT_FALSE_ALARM;
  const predictable = options.predictable ?? [];
  if (clean.length !== d || d === 0) {
    throw new RangeError(`Cannot check noise: ${d} released vs ${clean.length} clean values`);
  }
  if (!(sigma > 0) || !Number.isFinite(sigma)) {
    throw new RangeError(`Cannot check noise: sigma ${sigma}`);
  }
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`Cannot check noise: falseAlarm ${alpha}`);
  const perTest = alpha / (2 + predictable.length);
  const residual = Float64Array.from(released, (x, i) => (x - clean[i]!) / sigma);
  const chiSquare = chiSquareTest(residual, perTest);
  const meanZ = { value: sum(residual) / Math.sqrt(d), bound: normalBound(perTest) };
  const predictableZ = {
    values: predictable.map((g) => projection(residual, g)),
    bound: normalBound(perTest),
  };
  const failed: string[] = [];
  if (!(chiSquare.value >= chiSquare.low && chiSquare.value <= chiSquare.high)) {
    failed.push("scale");
  }
  if (!(Math.abs(meanZ.value) <= meanZ.bound)) failed.push("location");
  if (!predictableZ.values.every((z) => Math.abs(z) <= predictableZ.bound)) {
    failed.push("predictable");
  }
  return { ok: failed.length === 0, chiSquare, meanZ, predictableZ, failed };
}

/** Q = ||r||^2 (r already in units of sigma) and its two-sided Laurent-Massart bounds. */
function chiSquareTest(r: Float64Array, alpha: number) {
  const d = r.length;
  let q = 0;
  for (const x of r) q += x * x;
  const x = Math.log(2 / alpha); // each side e^-x = alpha / 2
  return { value: q, low: d - 2 * Math.sqrt(d * x), high: d + 2 * Math.sqrt(d * x) + 2 * x };
}

/** t with 2 e^(-t^2/2) = alpha: a bound on P(|Z| > t) for a standard normal Z. */
function normalBound(alpha: number): number {
  return Math.sqrt(2 * Math.log(2 / alpha));
}

/** <r, g> / ||g||: standard normal when r is i.i.d. N(0, 1) independent of g. */
function projection(r: Float64Array, g: ArrayLike<number>): number {
  if (g.length !== r.length) {
    throw new RangeError(`Cannot check noise: predictable vector of ${g.length} values`);
  }
  let dot = 0;
  let gg = 0;
  for (let i = 0; i < r.length; i++) {
    dot += r[i]! * g[i]!;
    gg += g[i]! * g[i]!;
  }
  return gg === 0 ? 0 : dot / Math.sqrt(gg);
}

function sum(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x;
  return s;
}
