/**
 * A seeded, deterministic pseudo-random generator for everything in `lib/` that needs
 * randomness to be reproducible (DP noise, stochastic rounding, synthetic tests).
 * `Math.random` is never used: a run with the same seed draws the same numbers on every
 * machine, which is what lets a validator recompute a noised aggregate.
 *
 * Generator: xoshiro128** (Blackman & Vigna), 32-bit state words seeded by splitmix32 so
 * that nearby seeds give unrelated streams. Gaussian draws use the Box-Muller transform
 * on 53-bit uniforms; Laplace draws use the inverse CDF. Not cryptographically secure.
 *
 * @module
 */

/** A seeded generator of uniform, Gaussian and Laplace variates. */
export class Prng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spare: number | undefined;

  /**
   * Creates a generator from a 32-bit integer seed (any number; it is truncated).
   *
   * @example
   * ```ts
   * import { Prng } from "./prng.ts";
   * const a = new Prng(42), b = new Prng(42);
   * console.assert(a.nextUint32() === b.nextUint32());
   * ```
   */
  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /**
   * The next uniform 32-bit unsigned integer.
   *
   * @example
   * ```ts
   * import { Prng } from "./prng.ts";
   * const v = new Prng(1).nextUint32();
   * console.assert(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
   * ```
   */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /**
   * A uniform double in [0, 1) with 53 random bits.
   *
   * @example
   * ```ts
   * import { Prng } from "./prng.ts";
   * const u = new Prng(7).nextFloat();
   * console.assert(u >= 0 && u < 1);
   * ```
   */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * A standard normal variate N(0, 1) (Box-Muller; the second value of each pair is kept).
   *
   * @example
   * ```ts
   * import { Prng } from "./prng.ts";
   * console.assert(Number.isFinite(new Prng(3).nextGaussian()));
   * ```
   */
  nextGaussian(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const u1 = 1 - this.nextFloat(); // (0, 1]: log is finite
    const u2 = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.#spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /**
   * A Laplace variate with location 0 and scale `b` (variance 2 b^2).
   *
   * @example
   * ```ts
   * import { Prng } from "./prng.ts";
   * console.assert(Number.isFinite(new Prng(3).nextLaplace(1)));
   * ```
   */
  nextLaplace(b: number): number {
    const u = this.nextFloat() - 0.5; // [-0.5, 0.5)
    const a = Math.abs(u);
    // 1 - 2|u| is in (0, 1]; u = -0.5 maps to log(0) = -inf, so nudge it.
    return -b * Math.sign(u || 1) * Math.log(Math.max(1 - 2 * a, Number.MIN_VALUE));
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
