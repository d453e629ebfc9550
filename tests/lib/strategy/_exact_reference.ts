/**
 * Plain-TypeScript reference of lib/strategy/fixed_point_sum.ts, in BigInt: slow and obviously
 * exact, so the wasm kernels can be checked bit for bit against it.
 */

const GRID_BITS = 64n; // terms are rounded to 2^-64
const LO_BITS = 50n; // canonical limbs: S * 2^64 = hi * 2^50 + lo, lo in [0, 2^50)

/** Nearest integer, ties to even, of a double below 2^53 in magnitude (exact arithmetic). */
function roundHalfEven(y: number): bigint {
  if (Math.abs(y) >= 2 ** 52) return BigInt(y);
  const floor = Math.floor(y);
  const diff = y - floor; // exact: |y| < 2^52
  const up = diff > 0.5 || (diff === 0.5 && floor % 2 !== 0);
  return BigInt(up ? floor + 1 : floor);
}

/** RN(w * v, 2^-64) * 2^64 as an integer. */
export function termUnits(v: number, w: number): bigint {
  const x = w * v; // the f64 product, as the kernels compute it
  const scaled = x * 2 ** 64; // exact: a power of two
  if (Math.abs(scaled) >= 2 ** 53) return BigInt(scaled); // already an integer
  return roundHalfEven(scaled);
}

/** S_j * 2^64 for every coordinate. */
export function referenceSums(
  vectors: readonly Float32Array[],
  weights: readonly number[],
): bigint[] {
  const length = vectors[0]!.length;
  const sums = new Array<bigint>(length).fill(0n);
  vectors.forEach((v, i) => {
    for (let j = 0; j < length; j++) sums[j] = sums[j]! + termUnits(v[j]!, weights[i]!);
  });
  return sums;
}

/** The canonical finalisation of the kernels: f32(((hh 2^18 + hl 2^-14) + lo 2^-64) / total). */
export function finalizeUnits(units: bigint, total: number): number {
  const hi = units >> LO_BITS; // floor
  const lo = units - (hi << LO_BITS);
  const hh = hi >> 32n;
  const hl = hi & 0xffffffffn;
  const s = (Number(hh) * 2 ** 18 + Number(hl) * 2 ** -14) + Number(lo) * 2 ** -Number(GRID_BITS);
  return Math.fround(s / total);
}

/** The reference weighted mean (weights summed exactly; fine for tests' integer or dyadic weights). */
export function referenceMean(
  vectors: readonly Float32Array[],
  weights: readonly number[],
): Float32Array {
  const total = weights.reduce((a, b) => a + b, 0);
  return Float32Array.from(referenceSums(vectors, weights), (s) => finalizeUnits(s, total));
}
