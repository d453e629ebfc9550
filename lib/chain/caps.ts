/**
 * The node capability word of NodeCertRegistry (design doc, "Node Registration"): bit 0 hasGPU,
 * bit 1 hasTEE, bits 8-39 diskGB, bits 40-71 bandwidthMbps, bits 72-103 computeUnits,
 * counted from the least significant bit of the bytes32.
 *
 * @example
 * ```ts
 * import { decodeCaps, encodeCaps } from "./caps.ts";
 * const word = encodeCaps({ hasGPU: false, hasTEE: false, diskGB: 256, bandwidthMbps: 100, computeUnits: 8 });
 * console.log(decodeCaps(word).diskGB); // 256
 * ```
 */
import type { Hex } from "viem";

export interface Caps {
  hasGPU: boolean;
  hasTEE: boolean;
  diskGB: number;
  bandwidthMbps: number;
  computeUnits: number;
}

const U32 = 0xffffffffn;
const FIELDS = [["diskGB", 8n], ["bandwidthMbps", 40n], ["computeUnits", 72n]] as const;

/** Packs capabilities into the bytes32 word; each number must fit in 32 bits. */
export function encodeCaps(caps: Caps): Hex {
  let word = (caps.hasGPU ? 1n : 0n) | (caps.hasTEE ? 2n : 0n);
  for (const [name, shift] of FIELDS) {
    const v = caps[name];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RangeError(`Cannot encode caps: ${name} must be an integer in [0, 2^32), got ${v}`);
    }
    word |= BigInt(v) << shift;
  }
  return `0x${word.toString(16).padStart(64, "0")}`;
}

/** Unpacks a capability word; bits outside the layout are rejected. */
export function decodeCaps(word: Hex): Caps {
  if (!/^0x[0-9a-fA-F]{64}$/.test(word)) {
    throw new TypeError(`Cannot decode caps: not a bytes32: ${word}`);
  }
  const w = BigInt(word);
  const known = 3n | (U32 << 8n) | (U32 << 40n) | (U32 << 72n);
  if ((w & ~known) !== 0n) throw new RangeError(`Cannot decode caps: unknown bits set in ${word}`);
  return {
    hasGPU: (w & 1n) === 1n,
    hasTEE: (w & 2n) === 2n,
    diskGB: Number((w >> 8n) & U32),
    bandwidthMbps: Number((w >> 40n) & U32),
    computeUnits: Number((w >> 72n) & U32),
  };
}
