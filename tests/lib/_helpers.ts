import { Prng } from "../../lib/crypto/prng.ts";

/** Deterministic pseudo-random bytes (xorshift32), fast for multi-megabyte test data. */
export function randomBytes(length: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, Math.floor(length / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** A delta of `length` Gaussian values of std `scale` (seeded): what one round's update looks like. */
export function gaussianDelta(length: number, seed: number, scale = 1e-3): Float32Array {
  const rng = new Prng(seed);
  return Float32Array.from({ length }, () => scale * rng.nextGaussian());
}
