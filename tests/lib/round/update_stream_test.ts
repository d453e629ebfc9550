import assert from "node:assert/strict";
import { paramLayout } from "../../../kernel/params.ts";
import type { ModelConfig } from "../../../kernel/params.ts";
import { fp32Codec } from "../../../lib/compress/fp32.ts";
import { int8Codec } from "../../../lib/compress/quantize_int8.ts";
import { InvalidPayloadError } from "../../../lib/compress/codec.ts";
import { encodeCheckpoint } from "../../../lib/model/checkpoint.ts";
import { encodeSafetensors, SafetensorsError } from "../../../lib/model/tensors.ts";
import { decodeUpdateBytes } from "../../../lib/round/update_envelope.ts";
import { decodeUpdateInto } from "../../../lib/round/update_stream.ts";

const MODEL: ModelConfig = { kind: "gpt", maxT: 8, layers: 2, heads: 2, width: 8 };
const LENGTH = paramLayout(MODEL).size;
const DELTA = Float32Array.from({ length: LENGTH }, (_, i) => Math.sin(i) * 1e-3);

/** `bytes` cut into chunks of `size` bytes (the last one shorter). */
function* chunked(bytes: Uint8Array, size: number) {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}
const stream = (bytes: Uint8Array, size: number) => ReadableStream.from(chunked(bytes, size));

/** The update as the whole-file decoder reads it, and as decoded while streaming. */
async function both(bytes: Uint8Array, size: number, model?: ModelConfig) {
  const into = new Float32Array(LENGTH).fill(NaN);
  await decodeUpdateInto(stream(bytes, size), into, model);
  return { whole: decodeUpdateBytes(bytes, LENGTH).delta, streamed: into };
}

Deno.test("decodeUpdateInto: fp32 payloads, checkpoints and compressed payloads, any chunking", async () => {
  // Prepare: the three forms a worker uploads
  const forms = {
    fp32: fp32Codec().encode(DELTA).bytes,
    checkpoint: encodeCheckpoint(MODEL, DELTA, { kind: "delta" }),
    int8: int8Codec().encode(DELTA).bytes,
  };
  for (const [name, bytes] of Object.entries(forms)) {
    for (const size of [1, 7, 12, 4096, bytes.length]) {
      for (const model of [MODEL, undefined]) {
        // Execute
        const { whole, streamed } = await both(bytes, size, model);
        // Assert
        assert.deepEqual(
          new Uint8Array(streamed.buffer),
          new Uint8Array(whole.buffer),
          `${name}, chunks of ${size}`,
        );
      }
    }
  }
});

Deno.test("decodeUpdateInto: a checkpoint laid out otherwise is decoded the general way", async () => {
  // Prepare: same values, but one tensor stored as F16 (not copied in place)
  const layout = paramLayout(MODEL);
  const tensors = Object.fromEntries(layout.tensors.map((t) => [t.name, {
    shape: t.shape,
    data: DELTA.slice(t.offset, t.offset + t.size),
  }]));
  const first = layout.tensors[0]!;
  const half = new Uint16Array(first.size); // zeros in f16
  const bytes = encodeSafetensors(
    { ...tensors, [first.name]: { shape: first.shape, dtype: "F16" as const, data: half } },
    { metadata: { "artha.model": JSON.stringify(MODEL) } },
  );
  // Execute
  const { whole, streamed } = await both(bytes, 100, MODEL);
  // Assert
  assert.deepEqual(streamed, whole);
  assert.equal(streamed[first.offset], 0);
});

Deno.test("decodeUpdateInto: truncated or overlong files fail as the whole-file decoder's do", async () => {
  // Prepare
  const fp32 = fp32Codec().encode(DELTA).bytes;
  const ckpt = encodeCheckpoint(MODEL, DELTA);
  const longer = (b: Uint8Array) => Uint8Array.from([...b, 0, 0, 0, 0]);
  const into = new Float32Array(LENGTH);
  // Execute, Assert
  for (const bytes of [fp32.subarray(0, fp32.length - 4), longer(fp32)]) {
    await assert.rejects(decodeUpdateInto(stream(bytes, 33), into), InvalidPayloadError);
    assert.throws(() => decodeUpdateBytes(bytes, LENGTH), InvalidPayloadError);
  }
  for (const bytes of [ckpt.subarray(0, ckpt.length - 4), longer(ckpt)]) {
    await assert.rejects(decodeUpdateInto(stream(bytes, 33), into, MODEL), SafetensorsError);
    assert.throws(() => decodeUpdateBytes(bytes, LENGTH), SafetensorsError);
  }
  await assert.rejects(decodeUpdateInto(stream(new Uint8Array(3), 1), into), SafetensorsError);
  await assert.rejects(
    decodeUpdateInto(stream(fp32, 50), new Float32Array(LENGTH + 1)),
    /header holds \d+ values, the model expects/,
  );
});
