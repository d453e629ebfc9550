/**
 * Fixed-point encoding of float updates into the ring Z_{2^32} (a `Uint32Array` whose
 * arithmetic wraps), where masks cancel exactly.
 *
 * Each value is clipped to `[-clip, clip]`, the client's DP noise (if any) is added in double
 * precision, and the result is rounded to the nearest multiple of `1 / scale` and stored as
 * its two's complement residue mod 2^32. The sum of the residues of `n` clients, read back as
 * a signed 32-bit integer and divided by `scale`, is the exact sum of the rounded values as
 * long as that sum stays inside (-2^31, 2^31). {@link fixedPointScale} picks the largest power
 * of two for which it does: `n` clipped values plus {@link OVERFLOW_TAIL_STDS} standard
 * deviations of the summed noise plus each client's rounding half-step. A power of two keeps
 * `x * scale` and the division on decode exact in floating point.
 *
 * Error: the decoded sum differs from the sum of the clipped (noised) values by at most
 * `n / (2 * scale)` per coordinate (round to nearest, deterministic).
 *
 * @module
 */

/** Bits of the ring: values live in Z_{2^32}. */
export const RING_BITS = 32;
/** Headroom for the summed Gaussian noise, in standard deviations (P(overflow) < 1e-23). */
export const OVERFLOW_TAIL_STDS = 10;
const HALF_RING = 2 ** (RING_BITS - 1);

/** What the fixed-point scale must accommodate. */
export interface FixedPointRange {
  /** Each value is clipped to [-clip, clip]. */
  clip: number;
  /** Most inputs that can be summed (the roster size). */
  clients: number;
  /** Largest std the summed DP noise can have (0 without noise). */
  sumNoiseStd?: number;
}

/**
 * The largest power-of-two scale at which `clients` clipped, noised values cannot overflow
 * the signed 32-bit range when summed.
 *
 * @throws {RangeError} on a non-positive clip or client count, or a range no scale >= 1 fits
 * @example
 * ```ts
 * import { fixedPointScale } from "./fixed_point.ts";
 * // 8 clients clipped to [-1, 1]: 8 * scale must stay below 2^31 - 8.
 * console.assert(fixedPointScale({ clip: 1, clients: 8 }) === 2 ** 27);
 * ```
 */
export function fixedPointScale(range: FixedPointRange): number {
  const { clip, clients, sumNoiseStd = 0 } = range;
  if (!(clip > 0) || !Number.isFinite(clip)) throw new RangeError(`Cannot scale: clip ${clip}`);
  if (!Number.isInteger(clients) || clients < 1) {
    throw new RangeError(`Cannot scale: ${clients} clients`);
  }
  if (!(sumNoiseStd >= 0) || !Number.isFinite(sumNoiseStd)) {
    throw new RangeError(`Cannot scale: noise std ${sumNoiseStd}`);
  }
  // Integer headroom left after every client's rounding half-step.
  const room = HALF_RING - 1 - clients;
  const magnitude = clients * clip + OVERFLOW_TAIL_STDS * sumNoiseStd;
  const scale = 2 ** Math.floor(Math.log2(room / magnitude));
  if (!(scale >= 1)) {
    throw new RangeError(`Cannot scale: ${clients} clients of range ${clip} overflow 32 bits`);
  }
  return scale;
}

/** How to encode: scale, clip and the client's DP noise. */
export interface EncodeParameters {
  /** Fixed-point scale ({@link fixedPointScale}). */
  scale: number;
  /** Values are clipped to [-clip, clip] (before the noise is added). */
  clip: number;
  /** Noise to add after clipping, same length as the values. */
  noise?: Float64Array;
}

/**
 * Clips `values` to `[-clip, clip]`, adds `noise` (optional), rounds at `scale` and returns
 * the residues mod 2^32.
 *
 * @throws {RangeError} on a non-finite value or a noise vector of another length
 * @example
 * ```ts
 * import { encodeFixedPoint } from "./fixed_point.ts";
 * const enc = encodeFixedPoint(new Float32Array([0.5, -0.25, 9]), { scale: 4, clip: 1 });
 * console.assert(enc.join() === [2, 2 ** 32 - 1, 4].join());
 * ```
 */
export function encodeFixedPoint(
  values: Float32Array | Float64Array,
  parameters: EncodeParameters,
): Uint32Array<ArrayBuffer> {
  const { scale, clip, noise } = parameters;
  if (noise && noise.length !== values.length) {
    throw new RangeError(`Cannot encode: ${noise.length} noise values for ${values.length}`);
  }
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`Cannot encode: value ${i} is ${v}`);
    const clipped = v > clip ? clip : v < -clip ? -clip : v;
    const noised = noise ? clipped + noise[i]! : clipped;
    // ToUint32 (`>>> 0`) of the rounded integer is its residue mod 2^32, negatives included.
    out[i] = Math.round(noised * scale) >>> 0;
  }
  return out;
}

/**
 * Reads a ring sum back as signed integers and divides by `scale`.
 *
 * @example
 * ```ts
 * import { decodeFixedPoint, encodeFixedPoint } from "./fixed_point.ts";
 * const a = encodeFixedPoint(new Float32Array([0.5, -0.75]), { scale: 256, clip: 1 });
 * const b = encodeFixedPoint(new Float32Array([-1, 0.25]), { scale: 256, clip: 1 });
 * const sum = a.map((x, i) => x + b[i]!); // Uint32Array: wraps mod 2^32
 * console.assert(decodeFixedPoint(sum, 256).join() === "-0.5,-0.5");
 * ```
 */
export function decodeFixedPoint(sum: Uint32Array, scale: number): Float64Array<ArrayBuffer> {
  const signed = new Int32Array(sum.buffer, sum.byteOffset, sum.length);
  const out = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = signed[i]! / scale;
  return out;
}
