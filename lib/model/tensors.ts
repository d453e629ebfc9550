/**
 * safetensors read/write with a canonical layout, so the keccak256 digest of the bytes of
 * a set of tensors is stable across machines and runs.
 *
 * File layout: 8-byte little-endian header length `N`, `N` bytes of JSON header (padded
 * with spaces to a multiple of 8), then the tensor data. Canonical form, as written by
 * {@link encodeSafetensors}: `__metadata__` first (keys sorted), then tensors sorted by
 * name, no whitespace inside the JSON, data laid out contiguously in header order.
 *
 * Every header is checked before it is trusted (length, JSON, dtypes, shapes, offsets
 * inside the buffer, no gaps or overlaps); failures throw {@link SafetensorsError} with a
 * message that says what to do.
 *
 * @module
 */
import { concatBytes } from "../crypto/digest.ts";

/** Element types understood by the reader. */
export type DType =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "F8_E4M3"
  | "F8_E5M2"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Typed arrays accepted as tensor data. */
export type TensorArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | BigUint64Array
  | Uint32Array;

/** A tensor to write. `dtype` defaults from the array type (F16/BF16 need it given). */
export interface TensorInput {
  /** Element type; required for F16/BF16 (pass raw bits as Uint16Array) and BOOL. */
  dtype?: DType;
  /** Dimensions; `[]` is a scalar. */
  shape: readonly number[];
  /** Elements in row-major order; length must equal the product of `shape`. */
  data: TensorArray;
}

/** A tensor read from a file. `bytes` is a view into the file's buffer (little-endian). */
export interface Tensor {
  /** Element type. */
  dtype: DType;
  /** Dimensions. */
  shape: number[];
  /** Raw little-endian element bytes. */
  bytes: Uint8Array;
}

/** A decoded safetensors file. */
export interface SafetensorsFile {
  /** `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
  /** Tensors by name. */
  tensors: Record<string, Tensor>;
}

/** Thrown when bytes are not a valid safetensors file. */
export class SafetensorsError extends Error {
  /** Stable error code. */
  readonly code = "SAFETENSORS_INVALID";
  /** @param message what is wrong and how to fix it */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SafetensorsError";
  }
}

const ARRAY_DTYPE = new Map<unknown, DType>([
  [Float64Array, "F64"],
  [Float32Array, "F32"],
  [BigInt64Array, "I64"],
  [Int32Array, "I32"],
  [Int16Array, "I16"],
  [Int8Array, "I8"],
  [BigUint64Array, "U64"],
  [Uint32Array, "U32"],
  [Uint8Array, "U8"],
]);

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("Cannot use safetensors: this host is big-endian; the format is little-endian");
}

/**
 * Encodes tensors as canonical safetensors bytes.
 *
 * @throws {TypeError} on a dtype/array mismatch or a shape that does not match the data
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./tensors.ts";
 * const bytes = encodeSafetensors({ w: { shape: [2], data: new Float32Array([1, 2]) } });
 * console.assert(decodeSafetensors(bytes).tensors.w?.shape[0] === 2);
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, TensorInput>,
  options: { metadata?: Record<string, string> } = {},
): Uint8Array<ArrayBuffer> {
  return concatBytes(...encodeSafetensorsChunks(tensors, options).chunks);
}

/**
 * The bytes of {@link encodeSafetensors} as chunks, without joining them: the length prefix and
 * header, then a view of each tensor's data (no copy). For files too large to hold twice, or past
 * the 2 GB a single buffer may have in some runtimes: stream the chunks to a store or a file.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, encodeSafetensorsChunks } from "./tensors.ts";
 * const w = { w: { shape: [2], data: new Float32Array([1, 2]) } };
 * const { chunks, byteLength } = encodeSafetensorsChunks(w);
 * console.assert(byteLength === encodeSafetensors(w).length && chunks[1]!.buffer === w.w.data.buffer);
 * ```
 */
export function encodeSafetensorsChunks(
  tensors: Record<string, TensorInput>,
  options: { metadata?: Record<string, string> } = {},
): { chunks: Uint8Array[]; byteLength: number } {
  const header: Record<string, unknown> = {};
  const metadata = options.metadata ?? {};
  if (Object.keys(metadata).length > 0) {
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(metadata).sort()) {
      if (typeof metadata[k] !== "string") {
        throw new TypeError(`Cannot encode safetensors: metadata "${k}" must be a string`);
      }
      sorted[k] = metadata[k];
    }
    header.__metadata__ = sorted;
  }
  const names = Object.keys(tensors).sort();
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") {
      throw new TypeError('Cannot encode safetensors: "__metadata__" is not a tensor name');
    }
    const t = tensors[name]!;
    const dtype = t.dtype ?? ARRAY_DTYPE.get(t.data.constructor);
    if (dtype === undefined) {
      throw new TypeError(`Cannot encode safetensors: tensor "${name}" needs an explicit dtype`);
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const count = elementCount(t.shape, name);
    if (
      t.data.BYTES_PER_ELEMENT !== DTYPE_SIZE[dtype] || bytes.length !== count * DTYPE_SIZE[dtype]
    ) {
      throw new TypeError(
        `Cannot encode safetensors: tensor "${name}" has ${t.data.length} ${t.data.constructor.name} elements, shape [${t.shape}] of ${dtype} needs ${count}`,
      );
    }
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { chunks: [head, ...parts], byteLength: head.length + offset };
}

/**
 * Decodes and validates safetensors bytes. Tensor bytes are views into `bytes`.
 *
 * @throws {SafetensorsError} when the bytes are truncated or the header is invalid
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors, toFloat32 } from "./tensors.ts";
 * const bytes = encodeSafetensors({ b: { shape: [1], data: new Int8Array([-3]) } });
 * console.assert(toFloat32(decodeSafetensors(bytes).tensors.b!)[0] === -3);
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsFile {
  const { header, dataStart } = readHeader(bytes);
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Record<string, Tensor> = {};
  const spans: Span[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      readMetadata(entry, metadata);
      continue;
    }
    const { dtype, shape, begin, end } = readTensorEntry(name, entry, dataLen);
    spans.push([begin, end, name]);
    tensors[name] = { dtype, shape, bytes: bytes.subarray(dataStart + begin, dataStart + end) };
  }
  checkContiguous(spans, dataLen);
  return { metadata, tensors };
}

/** A tensor's `[begin, end)` in the data section, and its name. */
type Span = [number, number, string];

function invalid(msg: string, cause?: unknown): SafetensorsError {
  return new SafetensorsError(`Cannot read safetensors: ${msg}`, cause ? { cause } : undefined);
}

/** Checks the length prefix and parses the JSON header; the data section starts after it. */
function readHeader(bytes: Uint8Array): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) {
    throw invalid(
      `got ${bytes.length} bytes, fewer than the 8-byte header length; the file is truncated or not safetensors`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw invalid(
      `header length ${headerLen} exceeds the ${
        bytes.length - 8
      } bytes after it (limit ${MAX_HEADER_BYTES}); the file is truncated or not safetensors, re-download it`,
    );
  }
  const n = Number(headerLen);
  if (n < 2 || bytes[8] !== 0x7b) {
    throw invalid("header does not start with '{'; this is not a safetensors file");
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (cause) {
    throw invalid("header is not valid UTF-8 JSON; the file is corrupt, re-export it", cause);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw invalid("header is not a JSON object");
  }
  return { header: header as Record<string, unknown>, dataStart: 8 + n };
}

/** Copies the `__metadata__` entry into `metadata`, checking it is a map of strings. */
function readMetadata(entry: unknown, metadata: Record<string, string>): void {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    throw invalid("__metadata__ is not an object of strings");
  }
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== "string") throw invalid(`__metadata__ "${k}" is not a string`);
    metadata[k] = v;
  }
}

/** Checks one tensor's header entry: dtype, shape, and offsets inside a `dataLen` section. */
function readTensorEntry(
  name: string,
  entry: unknown,
  dataLen: number,
): { dtype: DType; shape: number[]; begin: number; end: number } {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e !== "object" || e === null) throw invalid(`tensor "${name}" entry is not an object`);
  // Own keys only: `in` would take "constructor" or "toString" from Object.prototype.
  if (typeof e.dtype !== "string" || !Object.hasOwn(DTYPE_SIZE, e.dtype)) {
    throw invalid(
      `tensor "${name}" has unknown dtype ${JSON.stringify(e.dtype)}; supported: ${
        Object.keys(DTYPE_SIZE).join(", ")
      }`,
    );
  }
  const dtype = e.dtype as DType;
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalid(
      `tensor "${name}" shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`,
    );
  }
  const offs = e.data_offsets;
  if (
    !Array.isArray(offs) || offs.length !== 2 ||
    !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]
  ) {
    throw invalid(`tensor "${name}" data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
  }
  const [begin, end] = offs as [number, number];
  let expected: number;
  try {
    expected = elementCount(e.shape, name) * DTYPE_SIZE[dtype];
  } catch (cause) {
    throw invalid(
      `tensor "${name}" shape [${e.shape}] has more elements than can be addressed`,
      cause,
    );
  }
  if (!Number.isSafeInteger(expected)) {
    throw invalid(`tensor "${name}" shape [${e.shape}] has more bytes than can be addressed`);
  }
  if (end - begin !== expected) {
    throw invalid(
      `tensor "${name}" spans ${
        end - begin
      } bytes but shape [${e.shape}] of ${dtype} needs ${expected}`,
    );
  }
  if (end > dataLen) {
    throw invalid(
      `tensor "${name}" ends at byte ${end} but the data section has ${dataLen} bytes; the file is truncated, re-download it`,
    );
  }
  return { dtype, shape: e.shape as number[], begin, end };
}

/** Checks the tensors tile the data section exactly: no gap, overlap or trailing bytes. */
function checkContiguous(spans: Span[], dataLen: number): void {
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cursor = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== cursor) {
      throw invalid(
        `tensor "${name}" starts at ${begin}, expected ${cursor} (overlap or gap in data_offsets)`,
      );
    }
    cursor = end;
  }
  if (cursor !== dataLen) {
    throw invalid(
      `data section has ${dataLen} bytes but tensors cover ${cursor}; trailing bytes or a gap`,
    );
  }
}

/**
 * Re-encodes a file in canonical form (same tensors and metadata), e.g. to compare digests
 * of files written by other tools.
 *
 * @example
 * ```ts
 * import { canonicalizeSafetensors, encodeSafetensors } from "./tensors.ts";
 * const bytes = encodeSafetensors({ x: { shape: [], data: new Float32Array([1]) } });
 * console.assert(canonicalizeSafetensors(bytes).length === bytes.length);
 * ```
 */
export function canonicalizeSafetensors(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const file = decodeSafetensors(bytes);
  const inputs: Record<string, TensorInput> = {};
  for (const [name, t] of Object.entries(file.tensors)) {
    inputs[name] = { dtype: t.dtype, shape: t.shape, data: rawArray(t) };
  }
  return encodeSafetensors(inputs, { metadata: file.metadata });
}

/**
 * Converts a tensor of any supported dtype to float32 values (a copy).
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors, toFloat32 } from "./tensors.ts";
 * const half = new Uint16Array([0x3c00, 0xc000]); // 1.0, -2.0 in F16
 * const bytes = encodeSafetensors({ h: { dtype: "F16", shape: [2], data: half } });
 * console.assert(toFloat32(decodeSafetensors(bytes).tensors.h!)[1] === -2);
 * ```
 */
export function toFloat32(tensor: Tensor): Float32Array<ArrayBuffer> {
  const b = tensor.bytes.slice(); // aligned copy
  switch (tensor.dtype) {
    case "F32":
      return new Float32Array(b.buffer);
    case "F64":
      return Float32Array.from(new Float64Array(b.buffer));
    case "F16":
      return Float32Array.from(new Uint16Array(b.buffer), halfToFloat);
    case "BF16": {
      const src = new Uint16Array(b.buffer);
      const bits = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
      return new Float32Array(bits.buffer);
    }
    case "I64":
      return Float32Array.from(new BigInt64Array(b.buffer), (v) => Number(v));
    case "I32":
      return Float32Array.from(new Int32Array(b.buffer));
    case "I16":
      return Float32Array.from(new Int16Array(b.buffer));
    case "I8":
      return Float32Array.from(new Int8Array(b.buffer));
    case "U64":
      return Float32Array.from(new BigUint64Array(b.buffer), (v) => Number(v));
    case "U32":
      return Float32Array.from(new Uint32Array(b.buffer));
    case "U16":
      return Float32Array.from(new Uint16Array(b.buffer));
    // E5M2 is the upper byte of an IEEE half; E4M3 (OCP FP8) has no infinities, one NaN code.
    case "F8_E5M2":
      return Float32Array.from(b, (v) => halfToFloat(v << 8));
    case "F8_E4M3":
      return Float32Array.from(b, e4m3ToFloat);
    case "U8":
    case "BOOL":
      return Float32Array.from(b);
  }
}

/** OCP FP8 E4M3 (bias 7, subnormals, S.1111.111 is NaN, no infinity) to number. */
function e4m3ToFloat(v: number): number {
  const sign = v & 0x80 ? -1 : 1;
  const exp = (v >> 3) & 0xf;
  const frac = v & 0x7;
  if (exp === 0xf && frac === 0x7) return NaN;
  if (exp === 0) return sign * (frac / 8) * 2 ** -6;
  return sign * (1 + frac / 8) * 2 ** (exp - 7);
}

/** IEEE 754 half (bits) to number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function elementCount(shape: readonly number[], name: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new TypeError(`Cannot use tensor "${name}": shape [${shape}] has a bad dimension`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new TypeError(`Cannot use tensor "${name}": too large`);
  return n;
}

function rawArray(t: Tensor): TensorArray {
  const b = t.bytes.slice();
  switch (DTYPE_SIZE[t.dtype]) {
    case 8:
      if (t.dtype === "U64") return new BigUint64Array(b.buffer);
      return t.dtype === "F64" ? new Float64Array(b.buffer) : new BigInt64Array(b.buffer);
    case 4:
      if (t.dtype === "U32") return new Uint32Array(b.buffer);
      return t.dtype === "F32" ? new Float32Array(b.buffer) : new Int32Array(b.buffer);
    case 2:
      return t.dtype === "I16" ? new Int16Array(b.buffer) : new Uint16Array(b.buffer);
    default:
      return t.dtype === "I8" ? new Int8Array(b.buffer) : b;
  }
}
