/**
 * keccak256 digests and the byte/hex helpers the rest of `lib/` shares.
 *
 * Digests are keccak256 everywhere (the EVM's hash), so a digest computed here is the
 * `bytes32` a contract computes for the same bytes.
 *
 * @module
 */
import { createKeccak } from "hash-wasm";

// One WASM keccak instance (about 7x @noble/hashes here); each call runs init/update/digest
// without awaiting, so sharing it is safe on JavaScript's single thread.
const hasher = await createKeccak(256);

/** A 0x-prefixed hex string. */
export type Hex = `0x${string}`;

/**
 * keccak256 of `data` as 32 raw bytes.
 *
 * @example
 * ```ts
 * import { keccak256 } from "./digest.ts";
 * console.assert(keccak256(new Uint8Array()).length === 32);
 * ```
 */
export function keccak256(data: Uint8Array): Uint8Array<ArrayBuffer> {
  hasher.init();
  hasher.update(data);
  return hasher.digest("binary") as Uint8Array<ArrayBuffer>;
}

/**
 * keccak256 of the concatenation of `parts`, without copying them together.
 *
 * @example
 * ```ts
 * import { keccak256, keccak256Concat } from "./digest.ts";
 * const a = keccak256Concat(new Uint8Array([1]), new Uint8Array([2]));
 * console.assert(a.join() === keccak256(new Uint8Array([1, 2])).join());
 * ```
 */
export function keccak256Concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  hasher.init();
  for (const p of parts) hasher.update(p);
  return hasher.digest("binary") as Uint8Array<ArrayBuffer>;
}

/**
 * keccak256 of `data` as 0x-prefixed hex (the on-chain `bytes32`).
 *
 * @example
 * ```ts
 * import { digestHex } from "./digest.ts";
 * console.assert(
 *   digestHex(new Uint8Array()) ===
 *     "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
 * );
 * ```
 */
export function digestHex(data: Uint8Array): Hex {
  return bytesToHex(keccak256(data));
}

const HEX_DIGITS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * Encodes bytes as lowercase 0x-prefixed hex.
 *
 * @example
 * ```ts
 * import { bytesToHex } from "./digest.ts";
 * console.assert(bytesToHex(new Uint8Array([1, 255])) === "0x01ff");
 * ```
 */
export function bytesToHex(bytes: Uint8Array): Hex {
  let out = "0x";
  for (const b of bytes) out += HEX_DIGITS[b];
  return out as Hex;
}

/**
 * Decodes 0x-prefixed hex (either case) to bytes.
 *
 * @throws {TypeError} when the string is not 0x-prefixed, even-length hex
 * @example
 * ```ts
 * import { hexToBytes } from "./digest.ts";
 * console.assert(hexToBytes("0x01ff")[1] === 255);
 * ```
 */
export function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  if (typeof hex !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(hex)) {
    throw new TypeError(
      `Cannot decode hex: expected 0x-prefixed even-length hex, got ${String(hex).slice(0, 20)}`,
    );
  }
  const out = new Uint8Array((hex.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}

/**
 * Concatenates byte arrays.
 *
 * @example
 * ```ts
 * import { concatBytes } from "./digest.ts";
 * console.assert(concatBytes(new Uint8Array([1]), new Uint8Array([2])).length === 2);
 * ```
 */
export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Constant-time (for equal lengths) byte comparison.
 *
 * @example
 * ```ts
 * import { equalBytes } from "./digest.ts";
 * console.assert(equalBytes(new Uint8Array([1]), new Uint8Array([1])));
 * ```
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
