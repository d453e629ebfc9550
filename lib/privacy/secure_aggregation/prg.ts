/**
 * The mask generator: a 32-byte seed expanded into a vector of uniform 32-bit words.
 *
 * PRG(seed) = AES-256-CTR keystream under key `seed`, counter block starting at zero (64-bit
 * counter), read as little-endian 32-bit words. AES is a pseudo-random permutation, so its
 * counter-mode keystream is indistinguishable from uniform for any length we use (far below
 * 2^64 blocks); WebCrypto runs it natively (about 1 GB/s here: 0.8 ms for the demo model's
 * 118,528 words, 3.7 ms for 1M), which is why masks cost little next to the network. Every seed
 * is used for one vector only: self-mask seeds are fresh per round and pairwise seeds are
 * derived per round and pair (see `client.ts`), so no keystream is ever reused.
 *
 * @module
 */

/** Bytes of a PRG seed (an AES-256 key). */
export const SEED_BYTES = 32;

// Masks are read through Uint32Array views, whose byte order is the host's; every platform
// Deno ships on is little-endian, and client and server must agree, so refuse any other.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("Cannot load secure aggregation: host is not little-endian");
}

let zeros = new Uint8Array(0);

/**
 * Expands `seed` into `length` pseudo-random 32-bit words.
 *
 * @throws {TypeError} when the seed is not 32 bytes
 * @example
 * ```ts
 * import { expandSeed } from "./prg.ts";
 * const seed = new Uint8Array(32).fill(7);
 * const [a, b] = [await expandSeed(seed, 4), await expandSeed(seed, 4)];
 * console.assert(a.length === 4 && a.join() === b.join());
 * ```
 */
export async function expandSeed(seed: Uint8Array, length: number): Promise<Uint32Array> {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new TypeError(`Cannot expand seed: expected ${SEED_BYTES} bytes`);
  }
  if (!Number.isInteger(length) || length < 0) {
    throw new RangeError(`Cannot expand seed: length ${length}`);
  }
  const key = await crypto.subtle.importKey("raw", seed.slice(), "AES-CTR", false, ["encrypt"]);
  if (zeros.length < 4 * length) zeros = new Uint8Array(4 * length);
  const stream = await crypto.subtle.encrypt(
    { name: "AES-CTR", counter: new Uint8Array(16), length: 64 },
    key,
    zeros.subarray(0, 4 * length),
  );
  return new Uint32Array(stream);
}

/**
 * Adds PRG(`seed`) into `target`, mod 2^32.
 *
 * @example
 * ```ts
 * import { addMask, subtractMask } from "./prg.ts";
 * const v = new Uint32Array([1, 2, 3]);
 * const seed = crypto.getRandomValues(new Uint8Array(32));
 * await addMask(v, seed);
 * await subtractMask(v, seed);
 * console.assert(v.join() === "1,2,3");
 * ```
 */
export async function addMask(target: Uint32Array, seed: Uint8Array): Promise<void> {
  const mask = await expandSeed(seed, target.length);
  // Stores into a Uint32Array reduce mod 2^32: the ring addition.
  for (let i = 0; i < target.length; i++) target[i] = target[i]! + mask[i]!;
}

/**
 * Subtracts PRG(`seed`) from `target`, mod 2^32.
 *
 * @example
 * ```ts
 * import { expandSeed, subtractMask } from "./prg.ts";
 * const seed = new Uint8Array(32).fill(1);
 * const v = await expandSeed(seed, 2);
 * await subtractMask(v, seed);
 * console.assert(v.join() === "0,0");
 * ```
 */
export async function subtractMask(target: Uint32Array, seed: Uint8Array): Promise<void> {
  const mask = await expandSeed(seed, target.length);
  for (let i = 0; i < target.length; i++) target[i] = target[i]! - mask[i]!;
}
