/**
 * Token sampling: temperature, top-k and a seeded 32-bit PRNG (mulberry32), so a (seed, logits)
 * pair always picks the same token on every backend and machine. Temperature 0 is greedy (ties go
 * to the lowest token id).
 *
 * @example
 * ```ts
 * import { createRng, sampleToken } from "./sampler.ts";
 * const logits = new Float32Array(256);
 * logits[65] = 10;
 * console.assert(sampleToken(logits, { temperature: 0 }, createRng(1)) === 65);
 * ```
 */

export interface SamplingOptions {
  /** 0 = greedy; otherwise logits are divided by it (default 1). */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined = all). */
  topK?: number;
}

/** A seeded generator of uniform numbers in [0, 1). */
export type Rng = () => number;

/** mulberry32: small, fast, and the same sequence everywhere for a 32-bit seed. */
export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks the next token from one row of logits. */
export function sampleToken(logits: Float32Array, options: SamplingOptions, rng: Rng): number {
  const temperature = options.temperature ?? 1;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new RangeError(`Cannot sample: temperature ${temperature} is not a finite number >= 0`);
  }
  const V = logits.length;
  const ids = Array.from({ length: V }, (_, i) => i);
  ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (temperature === 0) return ids[0]!;
  const k = options.topK && options.topK > 0 ? Math.min(options.topK, V) : V;
  const top = ids.slice(0, k);
  const max = logits[top[0]!]!;
  const weights = top.map((i) => Math.exp((logits[i]! - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng() * total;
  for (let i = 0; i < k; i++) {
    u -= weights[i]!;
    if (u < 0) return top[i]!;
  }
  return top[k - 1]!;
}
