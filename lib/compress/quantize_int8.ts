/**
 * 8-bit blockwise absmax quantisation: per block of 64 values one fp32 scale, one int8 code
 * per value (~3.8x fewer bytes than fp32; error <= absmax/254 per value with nearest
 * rounding).
 *
 * @module
 */
import { type Codec, CODEC_ID } from "./codec.ts";
import { denseQuantizedCodec, type QuantizeOptions } from "./_quantized_codec.ts";

export type { QuantizeOptions } from "./_quantized_codec.ts";

/**
 * Creates the int8 blockwise codec.
 *
 * @example
 * ```ts
 * import { int8Codec } from "./quantize_int8.ts";
 * const codec = int8Codec({ blockSize: 2 });
 * const out = codec.decode(codec.encode(new Float32Array([1, -0.5, 0, 2])).bytes, 4);
 * console.assert(Math.abs(out[1]! + 0.5) <= 1 / 254);
 * ```
 */
export function int8Codec(options: QuantizeOptions = {}): Codec {
  return denseQuantizedCodec("int8", CODEC_ID.int8, 8, options);
}
