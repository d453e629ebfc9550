/**
 * A cryptographically secure generator with the {@link Prng} interface, for randomness that
 * must stay unpredictable: differential-privacy noise above all. Its stream is ChaCha20
 * (`@noble/ciphers`) keyed by a 32-byte secret drawn from `crypto.getRandomValues` unless a
 * key is given; whoever does not hold the key cannot predict or regenerate a single draw, and
 * nothing public (job spec, round, seed) enters it. The key exists so that the party that owns
 * the noise can redraw the same noise after a crash instead of releasing a second, differently
 * noised copy of the same aggregate (which would spend the privacy budget twice).
 *
 * @module
 */
import { chacha20 } from "@noble/ciphers/chacha.js";
import { Prng } from "./prng.ts";

/** Bytes of keystream generated at a time. */
const BLOCK_BYTES = 4096;

/** Length of a {@link SecureRng} key. */
export const SECURE_RNG_KEY_BYTES = 32;

/** A fresh secret key for a {@link SecureRng}. */
export function secureRngKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(SECURE_RNG_KEY_BYTES));
}

/**
 * ChaCha20-backed generator: uniform, Gaussian and Laplace draws exactly as {@link Prng}
 * derives them, from a secure stream.
 *
 * @example
 * ```ts
 * import { SecureRng, secureRngKey } from "./secure_rng.ts";
 * const a = new SecureRng(), b = new SecureRng();
 * console.assert(a.nextUint32() !== b.nextUint32() || a.nextUint32() !== b.nextUint32());
 * const key = secureRngKey();
 * console.assert(new SecureRng(key).nextGaussian() === new SecureRng(key).nextGaussian());
 * ```
 */
export class SecureRng extends Prng {
  readonly #key: Uint8Array;
  #words = new Uint32Array(0);
  #next = 0;
  #counter = 0;

  /** @param key 32 secret bytes; default: fresh from the platform's CSPRNG */
  constructor(key: Uint8Array = secureRngKey()) {
    super(0);
    if (key.length !== SECURE_RNG_KEY_BYTES) {
      throw new RangeError(`Cannot create SecureRng: key is ${key.length} bytes, not 32`);
    }
    this.#key = Uint8Array.from(key);
  }

  /** The next uniform 32-bit unsigned integer from the ChaCha20 stream. */
  override nextUint32(): number {
    if (this.#next === this.#words.length) this.#refill();
    return this.#words[this.#next++]!;
  }

  #refill(): void {
    const nonce = new Uint8Array(12);
    // Each refill is a fresh 64-block run of the stream: counter advances, nonce stays zero.
    const bytes = chacha20(this.#key, nonce, new Uint8Array(BLOCK_BYTES), undefined, this.#counter);
    this.#counter += BLOCK_BYTES / 64;
    this.#words = new Uint32Array(bytes.buffer, bytes.byteOffset, BLOCK_BYTES / 4);
    this.#next = 0;
  }
}
