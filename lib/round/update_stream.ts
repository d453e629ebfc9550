/**
 * Decodes a stored update straight into a caller's buffer while its blocks stream in, so the
 * coordinator never holds a whole update file: a 124M-parameter delta is ~500 MB, and the
 * buffer it lands in is a slot of the exact sum (lib/strategy/slot_sum.ts) in wasm memory.
 *
 * The two uncompressed forms workers send are copied into place as they arrive: an fp32
 * payload (lib/compress "ACZ1" header, then the values) and a delta checkpoint (safetensors
 * whose every tensor is F32 and matches the model's layout). Anything else (a compressed
 * payload, a quarter of the size or less, or a checkpoint laid out otherwise) is gathered and
 * decoded by decodeUpdateBytes, with its checks and messages. Either way the result is the
 * bytes decodeUpdateBytes returns.
 *
 * @example
 * ```ts
 * import { decodeUpdateInto } from "./update_stream.ts";
 * import { fp32Codec } from "../compress/fp32.ts";
 * const { bytes } = fp32Codec().encode(new Float32Array([0.5, -1]));
 * const into = new Float32Array(2);
 * await decodeUpdateInto(ReadableStream.from([bytes.subarray(0, 5), bytes.subarray(5)]), into);
 * console.assert(into[1] === -1);
 * ```
 *
 * @module
 */
import { paramLayout } from "../../kernel/params.ts";
import type { ModelConfig } from "../../kernel/params.ts";
import {
  CODEC_ID,
  HEADER_BYTES,
  InvalidPayloadError,
  MAGIC,
  readHeader,
} from "../compress/codec.ts";
import { MAX_HEADER_BYTES, SafetensorsError } from "../model/tensors.ts";
import { decodeCheckpoint } from "../model/checkpoint.ts";
import { decodeUpdateBytes } from "./update_envelope.ts";

/** A stream of byte chunks, read from the front. */
class ChunkReader {
  #buffered: Uint8Array[] = [];
  #size = 0;
  #source: AsyncIterator<Uint8Array>;
  #ended = false;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.#source = chunks[Symbol.asyncIterator]();
  }

  /** The first `n` bytes (fewer at the end of the stream), kept for {@link rest}. */
  async peek(n: number): Promise<Uint8Array> {
    while (this.#size < n && !this.#ended) {
      const next = await this.#source.next();
      if (next.done) this.#ended = true;
      else if (next.value.length > 0) {
        this.#buffered.push(next.value);
        this.#size += next.value.length;
      }
    }
    return join(this.#buffered, Math.min(n, this.#size));
  }

  /** Every chunk from the front: those peeked at, then the rest of the stream. */
  async *rest(): AsyncGenerator<Uint8Array> {
    yield* this.#buffered;
    this.#buffered = [];
    if (this.#ended) return;
    for (let next = await this.#source.next(); !next.done; next = await this.#source.next()) {
      yield next.value;
    }
  }

  /** The whole stream as one buffer. */
  async all(): Promise<Uint8Array> {
    const chunks = await Array.fromAsync(this.rest());
    return join(chunks, chunks.reduce((n, c) => n + c.length, 0));
  }
}

function join(chunks: readonly Uint8Array[], n: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length >= n) return chunks[0]!.subarray(0, n);
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    if (at >= n) break;
    const part = c.subarray(0, n - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Where a run of the data section goes: `[begin, end)` of the data to byte `to` of the output. */
type Segment = { begin: number; end: number; to: number };

/**
 * Decodes the update streamed by `chunks` into `into` (the model's parameter count of values).
 * The model's config, when given, is the layout a checkpoint must have to be copied in place;
 * without it the checkpoint names its own (`artha.model` metadata).
 *
 * @throws {InvalidPayloadError | SafetensorsError | RangeError} as decodeUpdateBytes does
 */
export async function decodeUpdateInto(
  chunks: AsyncIterable<Uint8Array>,
  into: Float32Array,
  model?: ModelConfig,
): Promise<void> {
  const reader = new ChunkReader(chunks);
  const out = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  const head = await reader.peek(HEADER_BYTES);
  if (head.length >= MAGIC.length && MAGIC.every((b, i) => head[i] === b)) {
    const header = readHeader(head);
    if (header.codecId === CODEC_ID.fp32 && header.length === into.length) {
      const segments = [{ begin: 0, end: into.byteLength, to: 0 }];
      await copyData(reader.rest(), HEADER_BYTES, segments, out, (got) =>
        new InvalidPayloadError(
          `fp32 body is ${got} bytes, expected ${HEADER_BYTES + into.byteLength}`,
        ));
      return;
    }
  } else {
    const plan = await checkpointPlan(reader, model);
    const segments = plan?.size === into.length ? plan : undefined;
    if (segments) {
      await copyData(
        reader.rest(),
        segments.dataStart,
        segments.segments,
        out,
        (got) =>
          new SafetensorsError(
            `Cannot read safetensors: data section is ${got - segments.dataStart} bytes, the ` +
              `header's tensors take ${into.byteLength}`,
          ),
      );
      return;
    }
  }
  into.set(decodeUpdateBytes(await reader.all(), into.length).delta);
}

/**
 * A checkpoint (the weights a worker downloads) decoded as its blocks stream in, into a fresh
 * array of the size its own `artha.model` names: the file is never held whole when its tensors
 * are all F32 in the model's layout (anything else is gathered and decoded by decodeCheckpoint).
 * Given `model` (the job's), the file must be that model's checkpoint in that layout: its own
 * metadata then sizes nothing, and nothing else is gathered (a header naming a huge model, or a
 * file that is not a checkpoint at all, would otherwise be allocated or read whole before its CID
 * check could fail).
 *
 * @throws {SafetensorsError} as decodeCheckpoint does, or when not a checkpoint of `model`
 */
export async function decodeCheckpointStream(
  chunks: AsyncIterable<Uint8Array>,
  model?: ModelConfig,
): Promise<Float32Array> {
  const reader = new ChunkReader(chunks);
  const plan = await checkpointPlan(reader, model);
  if (!plan && model) {
    throw new SafetensorsError(
      "Cannot read checkpoint: not one of the job's model, F32 in its layout",
    );
  }
  if (!plan) return decodeCheckpoint(await reader.all()).weights;
  const weights = new Float32Array(plan.size);
  const out = new Uint8Array(weights.buffer);
  await copyData(reader.rest(), plan.dataStart, plan.segments, out, (got) =>
    new SafetensorsError(
      `Cannot read safetensors: data section is ${got - plan.dataStart} bytes, the header's ` +
        `tensors take ${weights.byteLength}`,
    ));
  return weights;
}

/**
 * The data segments of a checkpoint whose tensors are exactly the model's (given, or the one
 * its metadata names), all F32, contiguous, with the model's parameter count; undefined for
 * anything else (decoded the general way).
 */
async function checkpointPlan(
  reader: ChunkReader,
  model: ModelConfig | undefined,
): Promise<{ dataStart: number; segments: Segment[]; size: number } | undefined> {
  const prefix = await reader.peek(8);
  if (prefix.length < 8) return undefined;
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n || n > BigInt(MAX_HEADER_BYTES)) return undefined;
  const head = await reader.peek(8 + Number(n));
  if (head.length < 8 + Number(n)) return undefined;
  let header: Record<string, { dtype?: unknown; shape?: unknown; data_offsets?: unknown }>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(8)));
    const meta = (header.__metadata__ ?? {}) as Record<string, unknown>;
    model ??= JSON.parse(String(meta["artha.model"])) as ModelConfig;
    const layout = paramLayout(model);
    if (Object.keys(header).length !== layout.tensors.length + 1) {
      return undefined;
    }
    const segments: Segment[] = [];
    for (const t of layout.tensors) {
      const e = header[t.name];
      const offsets = e?.data_offsets as unknown[] | undefined;
      if (
        e?.dtype !== "F32" || JSON.stringify(e.shape) !== JSON.stringify(t.shape) ||
        !Array.isArray(offsets) || offsets.length !== 2 ||
        !Number.isSafeInteger(offsets[0]) || offsets[1] !== (offsets[0] as number) + t.size * 4
      ) return undefined;
      segments.push({ begin: offsets[0] as number, end: offsets[1] as number, to: t.offset * 4 });
    }
    segments.sort((a, b) => a.begin - b.begin);
    // Contiguous from 0, as safetensors requires: every byte of the data goes somewhere once.
    if (segments.some((s, i) => s.begin !== (i === 0 ? 0 : segments[i - 1]!.end))) {
      return undefined;
    }
    return { dataStart: 8 + Number(n), segments, size: layout.size };
  } catch {
    return undefined; // not our layout: the general decoder says what is wrong
  }
}

/**
 * Copies the stream's bytes from `dataStart` on into `out` by `segments`, which cover the data
 * section exactly; any other total length is `wrongSize(total)`.
 */
async function copyData(
  chunks: AsyncIterable<Uint8Array>,
  dataStart: number,
  segments: Segment[],
  out: Uint8Array,
  wrongSize: (total: number) => Error,
): Promise<void> {
  const dataEnd = dataStart + segments.at(-1)!.end;
  let pos = 0; // bytes of the stream seen
  let s = 0;
  for await (const chunk of chunks) {
    const chunkEnd = pos + chunk.length;
    for (let at = Math.max(pos, dataStart); at < Math.min(chunkEnd, dataEnd);) {
      while (segments[s]!.end <= at - dataStart) s++;
      const seg = segments[s]!;
      const upto = Math.min(chunkEnd, dataStart + seg.end);
      out.set(chunk.subarray(at - pos, upto - pos), seg.to + (at - dataStart - seg.begin));
      at = upto;
    }
    pos = chunkEnd;
  }
  if (pos !== dataEnd) throw wrongSize(pos);
}
