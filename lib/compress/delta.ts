/**
 * Delta encoding helpers: model deltas (local - global, what clients send instead of
 * weights) and gap + LEB128-varint coding of sorted indices (what sparse codecs send
 * instead of 4-byte indices: at 1% density most gaps fit in one byte).
 *
 * @module
 */
import { InvalidPayloadError } from "./codec.ts";

/**
 * `local - global`, elementwise, into a new array.
 *
 * @throws {RangeError} when the lengths differ
 * @example
 * ```ts
 * import { weightDelta } from "./delta.ts";
 * const d = weightDelta(new Float32Array([3, 1]), new Float32Array([1, 1]));
 * console.assert(d[0] === 2 && d[1] === 0);
 * ```
 */
export function weightDelta(local: Float32Array, global: Float32Array): Float32Array {
  if (local.length !== global.length) {
    throw new RangeError(
      `Cannot compute delta: local has ${local.length} values, global ${global.length}`,
    );
  }
  const out = new Float32Array(local.length);
  for (let i = 0; i < out.length; i++) out[i] = local[i]! - global[i]!;
  return out;
}

/**
 * `global + scale * delta`, elementwise, into a new array (the server step).
 *
 * @throws {RangeError} when the lengths differ
 * @example
 * ```ts
 * import { applyDelta } from "./delta.ts";
 * console.assert(applyDelta(new Float32Array([1]), new Float32Array([2]), 0.5)[0] === 2);
 * ```
 */
export function applyDelta(global: Float32Array, delta: Float32Array, scale = 1): Float32Array {
  if (delta.length !== global.length) {
    throw new RangeError(
      `Cannot apply delta: delta has ${delta.length} values, global ${global.length}`,
    );
  }
  const out = new Float32Array(global.length);
  for (let i = 0; i < out.length; i++) out[i] = global[i]! + scale * delta[i]!;
  return out;
}

/**
 * Encodes strictly increasing indices as varint gaps (first index, then differences).
 *
 * @throws {RangeError} when the indices are not strictly increasing
 * @example
 * ```ts
 * import { encodeIndexGaps } from "./delta.ts";
 * console.assert(encodeIndexGaps(new Uint32Array([5, 6, 300])).length === 4);
 * ```
 */
export function encodeIndexGaps(indices: Uint32Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(indices.length * 5);
  let pos = 0;
  let prev = -1;
  for (let i = 0; i < indices.length; i++) {
    const idx = indices[i]!;
    if (idx <= prev) {
      throw new RangeError(
        `Cannot encode indices: index ${idx} at ${i} is not above the previous ${prev}`,
      );
    }
    let gap = idx - prev - 1; // >= 0
    prev = idx;
    while (gap >= 0x80) {
      out[pos++] = (gap & 0x7f) | 0x80;
      gap >>>= 7;
    }
    out[pos++] = gap;
  }
  return out.slice(0, pos);
}

/**
 * Decodes `count` varint gaps starting at `offset`; checks every index is below `limit`.
 *
 * @throws {InvalidPayloadError} when the bytes are truncated, a varint is too long, or an
 * index is out of range
 * @example
 * ```ts
 * import { decodeIndexGaps, encodeIndexGaps } from "./delta.ts";
 * const bytes = encodeIndexGaps(new Uint32Array([5, 6, 300]));
 * const { indices, end } = decodeIndexGaps(bytes, 0, 3, 1000);
 * console.assert(indices[2] === 300 && end === bytes.length);
 * ```
 */
export function decodeIndexGaps(
  bytes: Uint8Array,
  offset: number,
  count: number,
  limit: number,
): { indices: Uint32Array; end: number } {
  const indices = new Uint32Array(count);
  let pos = offset;
  let prev = -1;
  for (let i = 0; i < count; i++) {
    let gap = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length) {
        throw new InvalidPayloadError(`index list truncated at index ${i} of ${count}`);
      }
      const b = bytes[pos++]!;
      if (shift > 28) throw new InvalidPayloadError(`varint at index ${i} exceeds 32 bits`);
      gap += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    const idx = prev + 1 + gap;
    if (idx >= limit) {
      throw new InvalidPayloadError(`index ${idx} is outside a delta of ${limit} values`);
    }
    indices[i] = idx;
    prev = idx;
  }
  return { indices, end: pos };
}
