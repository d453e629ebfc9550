import assert from "node:assert/strict";
import { CODEC_ID, InvalidPayloadError, writeHeader } from "../../../lib/compress/codec.ts";
import { int8Codec } from "../../../lib/compress/quantize_int8.ts";
import { topKCodec } from "../../../lib/compress/top_k.ts";
import { topKInt8Codec } from "../../../lib/compress/top_k_int8.ts";
import { decodePayload } from "../../../lib/compress/payload.ts";
import { decodeIndexGaps, encodeIndexGaps } from "../../../lib/compress/delta.ts";

const delta = new Float32Array([0.5, -1, 0.25, 2, 0, -0.75, 1.5, 0.1]);

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InvalidPayloadError, String(e));
    assert.equal(e.code, "INVALID_PAYLOAD");
    assert.match(e.message, /^Cannot decode update payload: /);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("header: too short, bad magic, wrong version", () => {
  const { bytes } = int8Codec().encode(delta);
  rejects(() => int8Codec().decode(bytes.slice(0, 5), 8), /shorter than the 12-byte header/);
  const badMagic = bytes.slice();
  badMagic[0] = 0x50;
  rejects(() => decodePayload(badMagic, 8), /magic 0x50435a31 is not "ACZ1"/);
  const badVersion = bytes.slice();
  badVersion[4] = 9;
  rejects(() => decodePayload(badVersion, 8), /format version 9 is not supported/);
});

Deno.test("header: wrong codec, unknown codec, length mismatch", () => {
  const { bytes } = int8Codec().encode(delta);
  rejects(() => topKCodec().decode(bytes, 8), /codec id 3 in header, expected 2/);
  const unknown = bytes.slice();
  unknown[5] = 77;
  rejects(() => decodePayload(unknown, 8), /codec id 77 is unknown/);
  rejects(() => int8Codec().decode(bytes, 9), /header holds 8 values, the model expects 9/);
});

Deno.test("body: truncated, trailing bytes, bad scale, out-of-range index", () => {
  const dense = int8Codec().encode(delta).bytes;
  rejects(() => decodePayload(dense.slice(0, dense.length - 1), 8), /body is 23 bytes/);
  const badScale = dense.slice();
  new DataView(badScale.buffer).setFloat32(12, NaN, true);
  rejects(() => decodePayload(badScale, 8), /scale NaN of block 0/);

  const sparse = topKInt8Codec({ k: 2 }).encode(delta).bytes;
  const trailing = new Uint8Array(sparse.length + 1);
  trailing.set(sparse);
  rejects(() => decodePayload(trailing, 8), /1 trailing bytes/);
  rejects(() => decodePayload(sparse.slice(0, sparse.length - 1), 8), /truncated/);

  const k9 = topKCodec({ k: 2 }).encode(delta).bytes;
  new DataView(k9.buffer).setUint32(12, 9, true);
  rejects(() => decodePayload(k9, 8), /entry count 9 exceeds 8/);

  // A hand-made top-k payload whose index gap points past the end.
  const evil = writeHeader(CODEC_ID.topk, 0, 8, 4 + 4 + 1);
  new DataView(evil.buffer).setUint32(12, 1, true);
  evil[evil.length - 1] = 20;
  rejects(() => decodePayload(evil, 8), /index 20 is outside a delta of 8 values/);
});

Deno.test("index gaps: varint round trip and validation", () => {
  const indices = new Uint32Array([0, 1, 127, 128, 300, 70_000, 4_000_000_000]);
  const bytes = encodeIndexGaps(indices);
  const { indices: back, end } = decodeIndexGaps(bytes, 0, indices.length, 2 ** 32);
  assert.deepEqual(back, indices);
  assert.equal(end, bytes.length);
  assert.throws(() => encodeIndexGaps(new Uint32Array([3, 3])), RangeError);
  rejects(() => decodeIndexGaps(new Uint8Array([0x80, 0x80]), 0, 1, 10), /truncated/);
});
