/**
 * The published model format: a Hugging Face-style GPT-2 folder that transformers.js 4.x loads
 * offline (`env.allowRemoteModels = false`, `dtype: "fp32"`) and PyTorch `transformers` can read:
 *
 *   config.json              model_type gpt2, gelu_new (tanh GELU), eps 1e-5, tied head
 *   generation_config.json   sampling defaults
 *   tokenizer.json           byte-level BPE over the 256 byte symbols, no merges (id = byte)
 *   tokenizer_config.json
 *   model.safetensors        HF GPT-2 tensor names; Conv1D (in, out) layout = the kernel's
 *   onnx/model.onnx          kernel/onnx_export.ts (KV cache inputs and outputs)
 *   onnx/model.onnx_data     only past protobuf's 2 GB: the graph's weights as external data
 *   artha.json               the kernel ModelConfig and provenance (job, round, digests)
 *
 * A graph with its weights inside cannot pass 2 GB (protobuf), so a larger model's graph keeps
 * only references to `model.onnx_data`; config.json then says `use_external_data_format: true`
 * (transformers.js loads `<graph>_data` beside the graph) and artha.json names the data file.
 * Files past {@link MAX_BUFFER_BYTES} are exported as chunk lists (views of the weights), since
 * a single buffer that large is refused by Node's fs and by browsers; write them with
 * {@link writeModelFiles}. Smaller models keep one buffer per file and their embedded graph.
 *
 * @example
 * ```ts
 * import { exportHfModel, readHfModel } from "./hf_model.ts";
 * import { paramLayout } from "../../kernel/params.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const weights = new Float32Array(paramLayout(config).size).fill(0.25);
 * const files = exportHfModel(config, weights);
 * console.assert(readHfModel(files).weights[3] === 0.25 && "onnx/model.onnx" in files);
 * ```
 */
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { concatBytes } from "../crypto/digest.ts";
import {
  exportOnnx,
  exportOnnxExternal,
  hfTensorName,
  LAYERNORM_EPS,
} from "../../kernel/onnx_export.ts";
import { type ModelConfig, paramLayout, VOCAB } from "../../kernel/params.ts";
import {
  decodeSafetensors,
  encodeSafetensorsChunks,
  SafetensorsError,
  toFloat32,
} from "./tensors.ts";

/** File name of the ONNX graph inside the folder (where transformers.js looks for it). */
export const ONNX_FILE = "onnx/model.onnx";
/** The graph's external data: `${ONNX_FILE}_data`, the name transformers.js loads. */
export const ONNX_DATA_FILE = "onnx/model.onnx_data";
export const WEIGHTS_FILE = "model.safetensors";
export const ARTHA_FILE = "artha.json";

/** Protobuf's limit on one serialized message (2 GiB - 1), so on a graph with its weights. */
export const ONNX_PROTOBUF_LIMIT = 2 ** 31 - 1;
/**
 * Largest file exported as one buffer (2 GiB - 1): Node's fs.readFile/writeFile refuse more,
 * and so do some browsers' ArrayBuffers.
 */
export const MAX_BUFFER_BYTES = 2 ** 31 - 1;

/** Folder files by relative path. */
export type ModelFiles = Record<string, Uint8Array>;
/** A file's bytes: one buffer, or chunks that are the file back to back (views, not copies). */
export type FileContent = Uint8Array | Uint8Array[];
/** Folder files as exported, where a file past {@link MAX_BUFFER_BYTES} is a chunk list. */
export type ModelFileChunks = Record<string, FileContent>;

/** What artha.json holds. */
export interface ArthaModelInfo {
  format: "arthatrain-hf-gpt2";
  version: 1;
  model: ModelConfig;
  /** Provenance, e.g. job id, round, checkpoint CID, weights digest. */
  metadata: Record<string, string>;
  /** Only when the graph's weights are external data: that file, relative to the folder. */
  onnxData?: string;
}

/** Where the export switches layouts; the defaults are the limits above. */
export interface ExportHfModelOptions {
  /** Above this many bytes, a graph with its weights inside goes external instead (0: always). */
  maxOnnxBytes?: number;
  /** Files above this many bytes become chunk lists. */
  maxBufferBytes?: number;
}

/** GPT-2's reversible byte -> printable character map (the byte-level BPE alphabet). */
export function byteToUnicode(): string[] {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(keep(b) ? b : 256 + n++);
  return out;
}

function tokenizerJson(): unknown {
  const vocab = Object.fromEntries(byteToUnicode().map((ch, id) => [ch, id]));
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { ...byteLevel, use_regex: false },
    post_processor: null,
    decoder: { ...byteLevel, use_regex: false },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
}

function configJson(config: ModelConfig, externalData: boolean): unknown {
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    vocab_size: VOCAB,
    n_positions: config.maxT,
    n_ctx: config.maxT,
    n_embd: config.width,
    n_layer: config.layers,
    n_head: config.heads,
    n_inner: 4 * config.width,
    activation_function: "gelu_new",
    layer_norm_epsilon: LAYERNORM_EPS,
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    initializer_range: 0.02,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    use_cache: true,
    bos_token_id: null,
    eos_token_id: null,
    pad_token_id: null,
    torch_dtype: "float32",
    "transformers.js_config": { dtype: "fp32", use_external_data_format: externalData },
  };
}

const jsonBytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + "\n");

/**
 * Exports flat kernel weights as the folder's files, each as one buffer.
 *
 * @throws {RangeError} when a file passes `maxBufferBytes`; use exportHfModelChunks then
 */
export function exportHfModel(
  config: ModelConfig,
  weights: Float32Array,
  metadata: Record<string, string> = {},
  options: ExportHfModelOptions = {},
): ModelFiles {
  const files: ModelFiles = {};
  for (
    const [name, content] of Object.entries(exportHfModelChunks(config, weights, metadata, options))
  ) {
    if (Array.isArray(content)) {
      const bytes = content.reduce((n, c) => n + c.length, 0);
      throw new RangeError(
        `Cannot export ${name} as one buffer: it is ${bytes} bytes; use exportHfModelChunks`,
      );
    }
    files[name] = content;
  }
  return files;
}

/**
 * Exports the folder's files with large ones as chunk lists that alias `weights` (write them
 * before the weights change). The graph goes external when, with its weights inside, it could
 * pass `maxOnnxBytes`; files past `maxBufferBytes` stay chunk lists.
 *
 * @example
 * ```ts
 * import { exportHfModelChunks, ONNX_DATA_FILE } from "./hf_model.ts";
 * import { paramLayout } from "../../kernel/params.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const weights = new Float32Array(paramLayout(config).size);
 * const files = exportHfModelChunks(config, weights, {}, { maxOnnxBytes: 0, maxBufferBytes: 64 });
 * console.assert(Array.isArray(files[ONNX_DATA_FILE]) && Array.isArray(files["model.safetensors"]));
 * ```
 */
export function exportHfModelChunks(
  config: ModelConfig,
  weights: Float32Array,
  metadata: Record<string, string> = {},
  options: ExportHfModelOptions = {},
): ModelFileChunks {
  const layout = paramLayout(config);
  if (weights.length !== layout.size) {
    throw new RangeError(`Cannot export model: ${weights.length} values, needs ${layout.size}`);
  }
  const maxBuffer = options.maxBufferBytes ?? MAX_BUFFER_BYTES;
  // Only views of the weights: cheap to build even when the embedded graph is what is kept.
  const ext = exportOnnxExternal(config, weights, ONNX_DATA_FILE.slice("onnx/".length));
  // With its weights inside, the graph is at most this big: each inline tensor costs at most 6
  // bytes of framing (tag, length), fewer than its external reference (location, offset, length).
  const embeddedBound = ext.model.length + weights.byteLength;
  const external = embeddedBound > (options.maxOnnxBytes ?? ONNX_PROTOBUF_LIMIT);
  const tensors = Object.fromEntries(layout.tensors.map((t) => [hfTensorName(t.name), {
    shape: t.shape,
    data: weights.subarray(t.offset, t.offset + t.size),
  }]));
  const st = encodeSafetensorsChunks(tensors, {
    metadata: { format: "pt", "artha.model": JSON.stringify(config) },
  });
  const info: ArthaModelInfo = {
    format: "arthatrain-hf-gpt2",
    version: 1,
    model: config,
    metadata,
    ...(external ? { onnxData: ONNX_DATA_FILE } : {}),
  };
  return {
    "config.json": jsonBytes(configJson(config, external)),
    "generation_config.json": jsonBytes({ do_sample: true, temperature: 1, top_k: 40 }),
    "tokenizer.json": jsonBytes(tokenizerJson()),
    "tokenizer_config.json": jsonBytes({
      tokenizer_class: "GPT2Tokenizer",
      model_max_length: config.maxT,
      add_prefix_space: false,
      clean_up_tokenization_spaces: false,
      bos_token: null,
      eos_token: null,
      unk_token: null,
      pad_token: null,
    }),
    [WEIGHTS_FILE]: fitContent(st.chunks, st.byteLength, maxBuffer),
    ...(external
      ? {
        [ONNX_FILE]: ext.model,
        [ONNX_DATA_FILE]: fitContent(ext.data, ext.dataBytes, maxBuffer),
      }
      : { [ONNX_FILE]: exportOnnx(config, weights) }),
    [ARTHA_FILE]: jsonBytes(info),
  };
}

/** One buffer when the file fits in one, else the chunks as they are. */
function fitContent(chunks: Uint8Array[], byteLength: number, maxBuffer: number): FileContent {
  return byteLength > maxBuffer ? chunks : concatBytes(...chunks);
}

/**
 * Writes exported files under `dir` (creating it), chunk lists streamed chunk by chunk.
 *
 * @example
 * ```ts
 * import { exportHfModelChunks, writeModelFiles } from "./hf_model.ts";
 * import { paramLayout } from "../../kernel/params.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const dir = await Deno.makeTempDir();
 * await writeModelFiles(dir, exportHfModelChunks(config, new Float32Array(paramLayout(config).size)));
 * console.assert((await Deno.stat(`${dir}/onnx/model.onnx`)).isFile);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeModelFiles(dir: string, files: ModelFileChunks): Promise<void> {
  const root = resolve(dir);
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    // The names may come from a downloaded folder: none may land outside `dir`.
    const rel = relative(root, resolve(path));
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
      throw new RangeError(`Cannot write model file "${name}": it is outside ${dir}`);
    }
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeFile(path, Array.isArray(content) ? ReadableStream.from(content) : content);
  }
}

/** A folder read back: kernel config, flat weights and the ONNX graph (a LoadedModel). */
export interface HfModel {
  config: ModelConfig;
  weights: Float32Array;
  onnx: Uint8Array;
  /** The graph's external data in memory, by the name the graph gives it. */
  onnxData?: { path: string; data: Uint8Array }[];
  /** The graph on disk with its data beside it (read from a directory, external layout). */
  onnxPath?: string;
  info: ArthaModelInfo;
}

/** Reads a folder written by exportHfModel (checks every file it needs is there). */
export function readHfModel(files: ModelFiles): HfModel {
  const need = (name: string) => {
    const bytes = files[name];
    if (!bytes) {
      throw new SafetensorsError(
        `Cannot read model folder: ${name} is missing; export it with exportHfModel`,
      );
    }
    return bytes;
  };
  const info = parseInfo(need(ARTHA_FILE));
  const model = hfModelOf(info, need(WEIGHTS_FILE), need(ONNX_FILE));
  if (!info.onnxData) return model;
  return { ...model, onnxData: [{ path: basename(info.onnxData), data: need(info.onnxData) }] };
}

/**
 * Reads a folder from disk. An external-data graph is given by path (onnxruntime-node maps its
 * data file itself), so the data file is never held in memory here.
 *
 * @example
 * ```ts
 * import { exportHfModelChunks, readHfModelDir, writeModelFiles } from "./hf_model.ts";
 * import { paramLayout } from "../../kernel/params.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const dir = await Deno.makeTempDir();
 * const weights = new Float32Array(paramLayout(config).size).fill(0.5);
 * await writeModelFiles(dir, exportHfModelChunks(config, weights, {}, { maxOnnxBytes: 0 }));
 * const model = await readHfModelDir(dir);
 * console.assert(model.onnxPath?.endsWith("model.onnx") && model.weights[0] === 0.5);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readHfModelDir(dir: string): Promise<HfModel> {
  const need = async (name: string) => {
    try {
      return await Deno.readFile(join(dir, name));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new SafetensorsError(
        `Cannot read model folder ${dir}: ${name} is missing; export it with exportHfModel`,
        { cause: e },
      );
    }
  };
  const info = parseInfo(await need(ARTHA_FILE));
  const model = hfModelOf(info, await need(WEIGHTS_FILE), await need(ONNX_FILE));
  if (!info.onnxData) return model;
  const data = join(dir, info.onnxData);
  if (!(await Deno.stat(data).catch(() => null))?.isFile) {
    throw new SafetensorsError(`Cannot read model folder ${dir}: ${info.onnxData} is missing`);
  }
  return { ...model, onnxPath: join(dir, ONNX_FILE) };
}

function parseInfo(bytes: Uint8Array): ArthaModelInfo {
  let info: ArthaModelInfo;
  try {
    info = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new SafetensorsError(`Cannot read model folder: ${ARTHA_FILE} is not JSON`, { cause });
  }
  if (info.format !== "arthatrain-hf-gpt2") {
    throw new SafetensorsError(`Cannot read model folder: format ${info.format} is not supported`);
  }
  // The graph names its data file relative to itself: it must sit beside the graph.
  if (info.onnxData !== undefined && dirname(info.onnxData) !== dirname(ONNX_FILE)) {
    throw new SafetensorsError(
      `Cannot read model folder: onnxData ${info.onnxData} is not in onnx/`,
    );
  }
  return info;
}

function hfModelOf(info: ArthaModelInfo, safetensors: Uint8Array, onnx: Uint8Array): HfModel {
  let layout;
  try {
    layout = paramLayout(info.model);
  } catch (cause) {
    throw new SafetensorsError(`Cannot read model folder: ${(cause as Error).message}`, { cause });
  }
  const st = decodeSafetensors(safetensors);
  // Checked against the file before the weights are allocated (as decodeCheckpoint does).
  for (const t of layout.tensors) {
    const tensor = st.tensors[hfTensorName(t.name)];
    if (!tensor || tensor.shape.reduce((a, b) => a * b, 1) !== t.size) {
      throw new SafetensorsError(`Cannot read model folder: tensor ${hfTensorName(t.name)} is bad`);
    }
  }
  const weights = new Float32Array(layout.size);
  for (const t of layout.tensors) {
    weights.set(toFloat32(st.tensors[hfTensorName(t.name)]!), t.offset);
  }
  return { config: info.model, weights, onnx, info };
}
