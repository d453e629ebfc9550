/**
 * 4-bit blockwise absmax quantisation: per block of 64 values one fp32 scale, codes in
 * [-7, 7] packed two per byte (~7.1x fewer bytes than fp32; error <= absmax/14 per value
 * with nearest rounding). Pair it with error feedback: the residual carries what 4 bits drop.
 *
 * @module
 */
import { type Codec, CODEC_ID } from "./codec.ts";
import { denseQuantizedCodec, type QuantizeOptions } from "./_quantized_codec.ts";

export type { QuantizeOptions } from "./_quantized_codec.ts";

/**
 * Creates the int4 blockwise codec.
 *
 * @example
 * ```ts
 * import { int4Codec } from "./quantize_int4.ts";
 * const codec = int4Codec({ blockSize: 4 });
 * const out = codec.decode(codec.encode(new Float32Array([0.7, -0.1, 0.3])).bytes, 3);
 * console.assert(Math.abs(out[0]! - 0.7) < 1e-6 && Math.abs(out[2]! - 0.3) <= 0.05);
 * ```
 */
export function int4Codec(options: QuantizeOptions = {}): Codec {
  return denseQuantizedCodec("int4", CODEC_ID.int4, 4, options);
}
