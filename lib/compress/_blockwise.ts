/**
 * Blockwise absmax quantisation shared by the int8, int4 and top-k-int8 codecs: values are
 * cut into blocks of `blockSize`; each block stores one fp32 scale `absmax / maxCode` and
 * one signed code per value in [-maxCode, maxCode]. Nearest rounding (half away from zero)
 * bounds the error by `scale / 2`; stochastic rounding (seeded) is unbiased instead.
 *
 * @module
 */
import type { Prng } from "../crypto/prng.ts";

/** How codes are rounded. */
export type Rounding = "nearest" | "stochastic";

/** Quantised values: one scale per block, one code per value. */
export interface Quantized {
  scales: Float32Array;
  codes: Int8Array;
}

/** Number of blocks for `length` values. */
export function blockCount(length: number, blockSize: number): number {
  return Math.ceil(length / blockSize);
}

/** Checks a block size fits the header's uint16 parameter. */
export function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 0xffff) {
    throw new RangeError(`Cannot quantise: block size ${blockSize} is not in [1, 65535]`);
  }
}

/** Quantises `values` to codes in [-maxCode, maxCode]. */
export function quantizeBlocks(
  values: Float32Array,
  maxCode: number,
  blockSize: number,
  rounding: Rounding,
  rng?: Prng,
): Quantized {
  const n = values.length;
  const nb = blockCount(n, blockSize);
  const scales = new Float32Array(nb);
  const codes = new Int8Array(n);
  for (let b = 0; b < nb; b++) {
    const start = b * blockSize;
    const end = Math.min(n, start + blockSize);
    let absmax = 0;
    for (let i = start; i < end; i++) {
      const a = Math.abs(values[i]!);
      if (a > absmax) absmax = a;
    }
    const scale = Math.fround(absmax / maxCode);
    scales[b] = scale;
    if (scale === 0) continue; // all zeros (codes already 0)
    const inv = 1 / scale;
    for (let i = start; i < end; i++) {
      const x = values[i]! * inv;
      let q: number;
      if (rounding === "stochastic") {
        q = Math.floor(x + rng!.nextFloat());
      } else {
        q = x < 0 ? -Math.round(-x) : Math.round(x);
      }
      codes[i] = q > maxCode ? maxCode : q < -maxCode ? -maxCode : q;
    }
  }
  return { scales, codes };
}

/** Inverse of {@link quantizeBlocks}: `code * scale` per value, into `out`. */
export function dequantizeBlocks(
  q: Quantized,
  blockSize: number,
  out: Float32Array = new Float32Array(q.codes.length),
): Float32Array {
  const n = q.codes.length;
  for (let b = 0; b < q.scales.length; b++) {
    const scale = q.scales[b]!;
    const end = Math.min(n, (b + 1) * blockSize);
    for (let i = b * blockSize; i < end; i++) out[i] = q.codes[i]! * scale;
  }
  return out;
}

/** Reads `count` little-endian fp32 values at `offset` (copies: the offset may be unaligned). */
export function readFloat32s(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const copy = bytes.slice(offset, offset + count * 4);
  return new Float32Array(copy.buffer, 0, count);
}

/** Writes fp32 values at `offset` of `out` (host order; every supported host is little-endian). */
export function writeFloat32s(out: Uint8Array, offset: number, values: Float32Array): void {
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
}
