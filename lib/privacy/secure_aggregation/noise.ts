/**
 * Distributed DP noise for secure aggregation: each client adds its share of the Gaussian
 * noise before masking, so the server only ever sees the noised sum.
 *
 * Accounting. The job wants noise of std `sigma` (= z * C for noise multiplier z and L2 clip
 * C) on the sum. The server may output a sum over any survivor set of at least `minSurvivors`
 * (t) clients, and nobody knows in advance which; and the sum is public, so every client in it can
 * subtract its own share. So each client adds variance sigma^2 / (t - 1): a sum over s >= t
 * survivors carries s * sigma^2 / (t - 1), and less any one survivor's share still
 * (s - 1) * sigma^2 / (t - 1) >= sigma^2. Found in the privacy audit: at sigma^2 / t a sum of
 * exactly t survivors left one of them sigma sqrt((t - 1) / t) (0.82 sigma at t = 3) while the
 * accountant charged sigma. The accountant charges sigma, safe for every s >= t against the
 * server, the public and any one client; the exact std of the round's sum is
 * {@link survivingNoiseStd}. With c colluding clients, size t so that (s - c) / (t - 1) >= 1
 * still holds, or account with sigma * sqrt((t - c) / (t - 1)).
 *
 * Sampling. Noise must be unpredictable even to someone who knows every public input, so it
 * comes from `crypto.getRandomValues` (never the seeded `Prng`): two 53-bit uniforms per pair
 * of normals through the Box-Muller transform, in double precision, added before fixed-point
 * rounding. Known limit: this is continuous Gaussian noise rounded to the fixed-point grid, not
 * the distributed discrete Gaussian of Kairouz et al. 2021; at the scales used (2^20 or finer)
 * the difference is far below the noise, but it is not a formal floating-point-safe sampler.
 *
 * @module
 */

const TWO_POW_26 = 2 ** 26;
const TWO_POW_53 = 2 ** 53;
/** Words per `getRandomValues` call (its 65,536-byte limit). */
const WORDS_PER_DRAW = 16_384;

/**
 * Std of the noise each client adds: sigma / sqrt(minSurvivors - 1), so a sum of any
 * `minSurvivors` less one client's own share still carries sigma. A sum of one client cannot hide
 * it from itself: noise needs `minSurvivors` >= 2.
 *
 * @example
 * ```ts
 * import { clientNoiseStd } from "./noise.ts";
 * console.assert(clientNoiseStd(2, 5) === 1);
 * ```
 */
export function clientNoiseStd(sumNoiseStd: number, minSurvivors: number): number {
  if (!(sumNoiseStd >= 0) || !Number.isFinite(sumNoiseStd)) {
    throw new RangeError(`Cannot size noise: std ${sumNoiseStd}`);
  }
  if (!Number.isInteger(minSurvivors) || minSurvivors < 1) {
    throw new RangeError(`Cannot size noise: minSurvivors ${minSurvivors}`);
  }
  if (sumNoiseStd === 0) return 0;
  if (minSurvivors < 2) {
    throw new RangeError("Cannot size noise: a sum of one client is no sum (minSurvivors < 2)");
  }
  return sumNoiseStd / Math.sqrt(minSurvivors - 1);
}

/**
 * Std of the noise actually in a sum over `survivors` clients: sigma * sqrt(survivors / (t - 1)),
 * more than sigma whenever survivors >= t.
 *
 * @example
 * ```ts
 * import { survivingNoiseStd } from "./noise.ts";
 * console.assert(survivingNoiseStd(1, { minSurvivors: 5, survivors: 9 }) === 1.5);
 * ```
 */
export function survivingNoiseStd(
  sumNoiseStd: number,
  round: { minSurvivors: number; survivors: number },
): number {
  const { minSurvivors, survivors } = round;
  if (clientNoiseStd(sumNoiseStd, minSurvivors) === 0) return 0; // validates
  // sigma * sqrt(s / (t - 1)), not the client std * sqrt(s), which may round below sigma.
  return sumNoiseStd * Math.sqrt(survivors / (minSurvivors - 1));
}

/**
 * `length` independent normal variates of std `std` from the operating system's CSPRNG.
 *
 * @example
 * ```ts
 * import { secureGaussian } from "./noise.ts";
 * const z = secureGaussian(20_000, 2);
 * const variance = z.reduce((s, x) => s + x * x, 0) / z.length;
 * console.assert(Math.abs(variance - 4) < 0.3);
 * ```
 */
export function secureGaussian(length: number, std: number): Float64Array<ArrayBuffer> {
  if (!Number.isInteger(length) || length < 0) throw new RangeError(`Cannot draw ${length}`);
  if (!(std >= 0) || !Number.isFinite(std)) throw new RangeError(`Cannot draw: std ${std}`);
  const out = new Float64Array(length);
  const words = new Uint32Array(WORDS_PER_DRAW);
  for (let i = 0; i < length;) {
    crypto.getRandomValues(words);
    // Four words make two 53-bit uniforms, which make two normals.
    for (let w = 0; w + 3 < words.length && i < length; w += 4) {
      const u1 = (uniform53(words[w]!, words[w + 1]!) + 1) / TWO_POW_53; // (0, 1]: log is finite
      const u2 = uniform53(words[w + 2]!, words[w + 3]!) / TWO_POW_53;
      const r = std * Math.sqrt(-2 * Math.log(u1));
      out[i++] = r * Math.cos(2 * Math.PI * u2);
      if (i < length) out[i++] = r * Math.sin(2 * Math.PI * u2);
    }
  }
  return out;
}

/** An integer uniform in [0, 2^53) from the top 27 bits of `a` and 26 bits of `b`. */
function uniform53(a: number, b: number): number {
  return (a >>> 5) * TWO_POW_26 + (b >>> 6);
}
