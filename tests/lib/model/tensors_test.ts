import assert from "node:assert/strict";
import {
  canonicalizeSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  SafetensorsError,
  toFloat32,
} from "../../../lib/model/tensors.ts";
import { digestHex } from "../../../lib/crypto/digest.ts";

/** Builds a safetensors file by hand: any header text, any data. */
function rawFile(header: string, data: Uint8Array = new Uint8Array()): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("encodeSafetensors writes the exact canonical bytes", () => {
  // Prepare
  const tensors = {
    w: { shape: [2], data: new Float32Array([1, -2]) },
    a: { shape: [], data: new Int8Array([-1]) },
  };
  // Execute
  const bytes = encodeSafetensors(tensors, { metadata: { z: "1", format: "pt" } });
  // Assert
  const header =
    '{"__metadata__":{"format":"pt","z":"1"},"a":{"dtype":"I8","shape":[],"data_offsets":[0,1]},"w":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}';
  const padded = header + " ".repeat((8 - (header.length % 8)) % 8);
  const expected = rawFile(padded, new Uint8Array([0xff, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]));
  assert.deepEqual(bytes, expected);
});

Deno.test("encodeSafetensors is independent of insertion order (stable digest)", () => {
  // Prepare
  const w = new Float32Array([0.5, 1.5, 2.5, 3.5]);
  const b = new Float32Array([7]);
  // Execute
  const one = encodeSafetensors({
    "layer.w": { shape: [2, 2], data: w },
    "layer.b": { shape: [1], data: b },
  }, {
    metadata: { step: "3", job: "x" },
  });
  const two = encodeSafetensors({
    "layer.b": { shape: [1], data: b },
    "layer.w": { shape: [2, 2], data: w },
  }, {
    metadata: { job: "x", step: "3" },
  });
  // Assert
  assert.equal(digestHex(one), digestHex(two));
});

Deno.test("decodeSafetensors round-trips F32, I8, U8, F16, BF16, I32 and metadata", () => {
  // Prepare
  const f32 = new Float32Array([Math.PI, -0, 1e-30, 3e38]);
  const bytes = encodeSafetensors({
    f: { shape: [2, 2], data: f32 },
    i8: { shape: [3], data: new Int8Array([-128, 0, 127]) },
    u8: { shape: [1, 2], data: new Uint8Array([0, 255]) },
    h: { dtype: "F16", shape: [4], data: new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00]) },
    bf: { dtype: "BF16", shape: [1], data: new Uint16Array([0x3fc0]) },
    i32: { shape: [1], data: new Int32Array([-5]) },
  }, { metadata: { note: "hi" } });
  // Execute
  const file = decodeSafetensors(bytes.slice(0)); // fresh buffer
  // Assert
  assert.deepEqual(file.metadata, { note: "hi" });
  assert.deepEqual(file.tensors.f!.shape, [2, 2]);
  assert.deepEqual(toFloat32(file.tensors.f!), f32);
  assert.deepEqual([...toFloat32(file.tensors.i8!)], [-128, 0, 127]);
  assert.deepEqual([...toFloat32(file.tensors.u8!)], [0, 255]);
  assert.deepEqual([...toFloat32(file.tensors.h!)], [1, -2, 2 ** -24, Infinity]);
  assert.deepEqual([...toFloat32(file.tensors.bf!)], [1.5]);
  assert.deepEqual([...toFloat32(file.tensors.i32!)], [-5]);
  assert.deepEqual(canonicalizeSafetensors(bytes), bytes);
});

Deno.test("canonicalizeSafetensors normalises a file written by another tool", () => {
  // Prepare: pretty-printed JSON, tensors out of order, metadata last
  const header = `{
  "b": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
  "a": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]},
  "__metadata__": {"format": "pt"}
}`;
  const foreign = rawFile(header, new Uint8Array([9, 1, 2]));
  // Execute
  const canonical = canonicalizeSafetensors(foreign);
  // Assert
  const expected = encodeSafetensors({
    a: { shape: [2], data: new Uint8Array([1, 2]) },
    b: { shape: [1], data: new Uint8Array([9]) },
  }, { metadata: { format: "pt" } });
  assert.deepEqual(canonical, expected);
});

Deno.test("decodeSafetensors rejects malformed files with an actionable message", () => {
  // Prepare
  const ok = '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const data = new Uint8Array(8);
  const hugeLen = new Uint8Array(16);
  new DataView(hugeLen.buffer).setBigUint64(0, 1n << 40n, true);
  const cases: [string, Uint8Array, RegExp][] = [
    ["short", new Uint8Array(3), /truncated or not safetensors/],
    ["huge header", hugeLen, /exceeds/],
    ["not json object", rawFile("[1,2]   "), /start with '\{'/],
    ["bad json", rawFile("{nope}"), /not valid UTF-8 JSON/],
    ["dtype", rawFile(ok.replace("F32", "F4"), data), /unknown dtype "F4"/],
    // Object.prototype names are not dtypes (an `in` check let them through).
    ["constructor", rawFile(ok.replace("F32", "constructor"), data), /unknown dtype "constructor"/],
    ["toString", rawFile(ok.replace("F32", "toString"), data), /unknown dtype "toString"/],
    ["__proto__", rawFile(ok.replace("F32", "__proto__"), data), /unknown dtype "__proto__"/],
    [
      "overflowing shape",
      rawFile(ok.replace("[2]", "[9007199254740991,9007199254740991]"), data),
      /more (elements|bytes) than can be addressed/,
    ],
    ["shape", rawFile(ok.replace("[2]", "[-2]"), data), /non-negative integers/],
    ["size", rawFile(ok.replace("[2]", "[3]"), data), /needs 12/],
    ["truncated data", rawFile(ok, data.subarray(0, 4)), /truncated, re-download/],
    ["trailing", rawFile(ok, new Uint8Array(9)), /trailing bytes/],
    [
      "overlap",
      rawFile(
        '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
        new Uint8Array(3),
      ),
      /overlap or gap/,
    ],
    ["metadata", rawFile('{"__metadata__":{"a":1}}'), /not a string/],
  ];
  for (const [label, bytes, pattern] of cases) {
    // Execute / Assert
    assert.throws(
      () => decodeSafetensors(bytes),
      (e) =>
        e instanceof SafetensorsError && e.code === "SAFETENSORS_INVALID" &&
        pattern.test(e.message),
      label,
    );
  }
});

Deno.test("encodeSafetensors rejects shape/data mismatches", () => {
  assert.throws(
    () => encodeSafetensors({ x: { shape: [3], data: new Float32Array(2) } }),
    TypeError,
  );
  assert.throws(
    () => encodeSafetensors({ x: { shape: [1], data: new Uint16Array(1) } }),
    /explicit dtype/,
  );
  assert.throws(
    () => encodeSafetensors({ x: { dtype: "F32", shape: [2], data: new Uint16Array(2) } }),
    TypeError,
  );
});

Deno.test("decodeSafetensors reads every dtype of the format (U16/U32/U64, both FP8 kinds)", () => {
  // Prepare: values with exact FP8 codes, written by hand as the reference implementation does.
  const cases: [string, Uint8Array, number[]][] = [
    ["U16", new Uint8Array(new Uint16Array([1, 65535]).buffer), [1, 65535]],
    ["U32", new Uint8Array(new Uint32Array([7, 2 ** 31]).buffer), [7, 2 ** 31]],
    ["U64", new Uint8Array(new BigUint64Array([3n, 1n << 40n]).buffer), [3, 2 ** 40]],
    // E4M3: 0x38 = 1.0, 0xc4 = -3.0 (0x7e = 448, the largest normal).
    ["F8_E4M3", new Uint8Array([0x38, 0xc4]), [1, -3]],
    // E5M2: 0x3c = 1.0, 0xc2 = -3.0.
    ["F8_E5M2", new Uint8Array([0x3c, 0xc2]), [1, -3]],
  ];
  for (const [dtype, bytes, values] of cases) {
    const file = rawFile(
      `{"t":{"dtype":"${dtype}","shape":[2],"data_offsets":[0,${bytes.length}]}}`,
      bytes,
    );
    // Execute
    const t = decodeSafetensors(file).tensors.t!;
    // Assert
    assert.equal(t.dtype, dtype);
    assert.deepEqual([...toFloat32(t)], values, dtype);
  }
});
