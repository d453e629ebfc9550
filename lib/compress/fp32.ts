/**
 * The identity codec: raw little-endian fp32 behind the header. The baseline every ratio is
 * measured against, and the codec to use when bandwidth does not matter.
 *
 * @module
 */
import {
  type Codec,
  CODEC_ID,
  type EncodeResult,
  type ErrorFeedbackState,
  expectHeader,
  HEADER_BYTES,
  InvalidPayloadError,
  withResidual,
  writeHeader,
} from "./codec.ts";
import { readFloat32s, writeFloat32s } from "./_blockwise.ts";

/**
 * Creates the lossless fp32 codec (error feedback is accepted and stays zero).
 *
 * @example
 * ```ts
 * import { fp32Codec } from "./fp32.ts";
 * const codec = fp32Codec();
 * const { bytes } = codec.encode(new Float32Array([1.5, -2]));
 * console.assert(codec.decode(bytes, 2)[1] === -2 && bytes.length === 12 + 8);
 * ```
 */
export function fp32Codec(): Codec {
  return {
    name: "fp32",
    id: CODEC_ID.fp32,
    stateless: true,
    encode(delta: Float32Array, state?: ErrorFeedbackState): EncodeResult {
      const values = withResidual(delta, state);
      const bytes = writeHeader(CODEC_ID.fp32, 0, values.length, values.length * 4);
      writeFloat32s(bytes, HEADER_BYTES, values);
      if (state) state.residual.fill(0);
      return { bytes, state };
    },
    decode(bytes: Uint8Array, length: number): Float32Array {
      expectHeader(bytes, CODEC_ID.fp32, length);
      const expected = HEADER_BYTES + length * 4;
      if (bytes.length !== expected) {
        throw new InvalidPayloadError(`fp32 body is ${bytes.length} bytes, expected ${expected}`);
      }
      return readFloat32s(bytes, HEADER_BYTES, length);
    },
  };
}
