/**
 * Shamir secret sharing over the prime field GF(2^256 + 297), the smallest prime above 2^256,
 * so every 32-byte secret (a self-mask seed or an X25519 secret key) is a field element as is.
 *
 * A secret `s` is the constant term of a random polynomial `f` of degree `threshold - 1`; the
 * share for party `x` (a small positive integer, here the party's roster index + 1) is `f(x)`.
 * Any `threshold` shares give `s` back by Lagrange interpolation at 0; any fewer are uniformly
 * distributed whatever `s` is (perfect secrecy), which the tests check exhaustively on a small
 * field through the `prime` option.
 *
 * Shares travel as 33-byte big-endian field elements ({@link SHARE_BYTES}).
 *
 * @module
 */

/** The field: 2^256 + 297 (prime). */
export const SHAMIR_PRIME: bigint = (1n << 256n) + 297n;
/** Bytes of one share of a 32-byte secret: a field element, big-endian. */
export const SHARE_BYTES = 33;

/** How to split: threshold, evaluation points, field, randomness. */
export interface SplitParameters {
  /** Shares needed to rebuild the secret. */
  threshold: number;
  /** One evaluation point per share: distinct positive integers. */
  at: readonly number[];
  /** Field modulus (a prime); tests use a small one. Default {@link SHAMIR_PRIME}. */
  prime?: bigint;
  /** Source of secret randomness for the coefficients (default `crypto.getRandomValues`). */
  randomBytes?: (length: number) => Uint8Array;
}

/** How to combine: threshold and field. */
export interface CombineParameters {
  /** Shares used (the first `threshold` given). */
  threshold: number;
  /** Field modulus. Default {@link SHAMIR_PRIME}. */
  prime?: bigint;
}

/** One share: the evaluation point and the value there. */
export interface ShamirPoint {
  /** Evaluation point, a positive integer (never 0: f(0) is the secret). */
  x: number;
  /** f(x) in the field. */
  y: bigint;
}

/**
 * Splits `secret` into one share per point of `at`, any `threshold` of which recover it.
 *
 * @throws {RangeError} on a threshold outside [1, xs.length], repeated or non-positive points,
 *   or a secret outside the field
 * @example
 * ```ts
 * import { combineShares, splitSecret } from "./shamir.ts";
 * const ys = splitSecret(42n, { threshold: 2, at: [1, 2, 3] });
 * const points = [{ x: 3, y: ys[2]! }, { x: 1, y: ys[0]! }];
 * console.assert(combineShares(points, { threshold: 2 }) === 42n);
 * ```
 */
export function splitSecret(secret: bigint, parameters: SplitParameters): bigint[] {
  const { threshold, at: xs } = parameters;
  const p = parameters.prime ?? SHAMIR_PRIME;
  if (secret < 0n || secret >= p) throw new RangeError("Cannot split secret: outside the field");
  checkThreshold(threshold, xs.length);
  checkPoints(xs, p);
  const random = parameters.randomBytes ?? defaultRandomBytes;
  const coefficients = [secret];
  for (let i = 1; i < threshold; i++) coefficients.push(randomFieldElement(p, random));
  return xs.map((x) => {
    // Horner's rule from the highest coefficient down.
    let y = 0n;
    const bx = BigInt(x);
    for (let i = coefficients.length - 1; i >= 0; i--) y = (y * bx + coefficients[i]!) % p;
    return y;
  });
}

/**
 * Recovers the secret from the first `threshold` of `points` (Lagrange interpolation at 0).
 * Fewer than `threshold` points is an error, never a guess.
 *
 * @throws {RangeError} with fewer than `threshold` points or repeated points
 * @example
 * ```ts
 * import { combineShares, splitSecret } from "./shamir.ts";
 * const ys = splitSecret(7n, { threshold: 3, at: [1, 2, 3, 4] });
 * const points = [2, 3, 4].map((x) => ({ x, y: ys[x - 1]! }));
 * console.assert(combineShares(points, { threshold: 3 }) === 7n);
 * ```
 */
export function combineShares(
  points: readonly ShamirPoint[],
  parameters: CombineParameters,
): bigint {
  const { threshold } = parameters;
  const p = parameters.prime ?? SHAMIR_PRIME;
  checkThreshold(threshold, points.length);
  const used = points.slice(0, threshold);
  checkPoints(used.map((q) => q.x), p);
  let secret = 0n;
  for (let i = 0; i < used.length; i++) {
    // l_i(0) = prod_{j != i} x_j / (x_j - x_i); exact integers, reduced once.
    let num = 1n;
    let den = 1n;
    for (let j = 0; j < used.length; j++) {
      if (j === i) continue;
      num *= BigInt(used[j]!.x);
      den *= BigInt(used[j]!.x - used[i]!.x);
    }
    const coefficient = (mod(num, p) * invert(mod(den, p), p)) % p;
    secret = (secret + mod(used[i]!.y, p) * coefficient) % p;
  }
  return secret;
}

/**
 * Splits a secret of at most 32 bytes (read big-endian) into {@link SHARE_BYTES}-byte shares.
 *
 * @example
 * ```ts
 * import { combineBytes, splitBytes } from "./shamir.ts";
 * const secret = crypto.getRandomValues(new Uint8Array(32));
 * const shares = splitBytes(secret, { threshold: 2, at: [5, 9] });
 * const two = [{ x: 9, share: shares[1]! }, { x: 5, share: shares[0]! }];
 * const back = combineBytes(two, { threshold: 2 });
 * console.assert(back.join() === secret.join());
 * ```
 */
export function splitBytes(
  secret: Uint8Array,
  parameters: Omit<SplitParameters, "prime">,
): Uint8Array<ArrayBuffer>[] {
  if (secret.length > 32) throw new RangeError("Cannot split secret: longer than 32 bytes");
  return splitSecret(bytesToBigInt(secret), parameters)
    .map((y) => bigIntToBytes(y, SHARE_BYTES));
}

/**
 * Recovers a `length`-byte secret (default 32) from byte shares made by {@link splitBytes}.
 *
 * @throws {RangeError} with too few shares, or when the result does not fit `length` bytes
 *   (shares that were tampered with or belong to different secrets)
 * @example
 * ```ts
 * import { combineBytes, splitBytes } from "./shamir.ts";
 * const shares = splitBytes(new Uint8Array([1, 2]), { threshold: 1, at: [1] });
 * const back = combineBytes([{ x: 1, share: shares[0]! }], { threshold: 1, length: 2 });
 * console.assert(back.join() === "1,2");
 * ```
 */
export function combineBytes(
  shares: readonly { x: number; share: Uint8Array }[],
  parameters: { threshold: number; length?: number },
): Uint8Array<ArrayBuffer> {
  const { threshold, length = 32 } = parameters;
  const points = shares.map(({ x, share }) => {
    if (share.length !== SHARE_BYTES) {
      throw new RangeError(`Cannot combine shares: a share has ${share.length} bytes, not 33`);
    }
    return { x, y: bytesToBigInt(share) };
  });
  const secret = combineShares(points, { threshold });
  if (secret >> BigInt(8 * length) !== 0n) {
    throw new RangeError(`Cannot combine shares: the result does not fit ${length} bytes`);
  }
  return bigIntToBytes(secret, length);
}

function randomFieldElement(p: bigint, random: (length: number) => Uint8Array): bigint {
  const bits = p.toString(2).length;
  const bytes = Math.ceil(bits / 8);
  const topMask = (1 << (bits - 8 * (bytes - 1))) - 1;
  // Rejection sampling keeps the coefficients exactly uniform in [0, p).
  for (;;) {
    const raw = random(bytes).slice(0, bytes);
    if (raw.length !== bytes) throw new RangeError("Cannot draw randomness: source too short");
    raw[0] = raw[0]! & topMask;
    const v = bytesToBigInt(raw);
    if (v < p) return v;
  }
}

function checkThreshold(threshold: number, available: number): void {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > available) {
    throw new RangeError(
      `Cannot share: threshold ${threshold} must be an integer in [1, ${available}]`,
    );
  }
}

function checkPoints(xs: readonly number[], p: bigint): void {
  if (new Set(xs).size !== xs.length) throw new RangeError("Cannot share: repeated points");
  for (const x of xs) {
    if (!Number.isSafeInteger(x) || x < 1 || BigInt(x) >= p) {
      throw new RangeError(`Cannot share: point ${x} must be a positive integer below the prime`);
    }
  }
}

function mod(a: bigint, p: bigint): bigint {
  const r = a % p;
  return r < 0n ? r + p : r;
}

/** Inverse modulo the prime p by the extended Euclidean algorithm. */
function invert(a: bigint, p: bigint): bigint {
  let [oldR, r] = [a, p];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new RangeError("Cannot invert: not coprime with the prime");
  return mod(oldS, p);
}

function defaultRandomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function bigIntToBytes(v: bigint, length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
