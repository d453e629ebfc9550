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
 *   artha.json               the kernel ModelConfig and provenance (job, round, digests)
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
import { exportOnnx, hfTensorName, LAYERNORM_EPS } from "../../kernel/onnx_export.ts";
import { type ModelConfig, paramLayout, VOCAB } from "../../kernel/params.ts";
import { decodeSafetensors, encodeSafetensors, SafetensorsError, toFloat32 } from "./tensors.ts";

/** File name of the ONNX graph inside the folder (where transformers.js looks for it). */
export const ONNX_FILE = "onnx/model.onnx";
export const WEIGHTS_FILE = "model.safetensors";
export const ARTHA_FILE = "artha.json";

/** Folder files by relative path. */
export type ModelFiles = Record<string, Uint8Array>;

/** What artha.json holds. */
export interface ArthaModelInfo {
  format: "arthatrain-hf-gpt2";
  version: 1;
  model: ModelConfig;
  /** Provenance, e.g. job id, round, checkpoint CID, weights digest. */
  metadata: Record<string, string>;
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

function configJson(config: ModelConfig): unknown {
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
    "transformers.js_config": { dtype: "fp32", use_external_data_format: false },
  };
}

const jsonBytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + "\n");

/** Exports flat kernel weights as the folder's files. */
export function exportHfModel(
  config: ModelConfig,
  weights: Float32Array,
  metadata: Record<string, string> = {},
): ModelFiles {
  const layout = paramLayout(config);
  if (weights.length !== layout.size) {
    throw new RangeError(`Cannot export model: ${weights.length} values, needs ${layout.size}`);
  }
  const onnx = exportOnnx(config, weights); // throws TypeError for non-GPT models
  const tensors = Object.fromEntries(layout.tensors.map((t) => [hfTensorName(t.name), {
    shape: t.shape,
    data: weights.subarray(t.offset, t.offset + t.size),
  }]));
  const info: ArthaModelInfo = {
    format: "arthatrain-hf-gpt2",
    version: 1,
    model: config,
    metadata,
  };
  return {
    "config.json": jsonBytes(configJson(config)),
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
    [WEIGHTS_FILE]: encodeSafetensors(tensors, {
      metadata: { format: "pt", "artha.model": JSON.stringify(config) },
    }),
    [ONNX_FILE]: onnx,
    [ARTHA_FILE]: jsonBytes(info),
  };
}

/** A folder read back: kernel config, flat weights and the ONNX bytes. */
export interface HfModel {
  config: ModelConfig;
  weights: Float32Array;
  onnx: Uint8Array;
  info: ArthaModelInfo;
}

/** Reads a folder written by exportHfModel (checks every file it needs is there). */
export function readHfModel(files: ModelFiles): HfModel {
  for (const name of [ARTHA_FILE, WEIGHTS_FILE, ONNX_FILE]) {
    if (!files[name]) {
      throw new SafetensorsError(
        `Cannot read model folder: ${name} is missing; export it with exportHfModel`,
      );
    }
  }
  const info = JSON.parse(new TextDecoder().decode(files[ARTHA_FILE])) as ArthaModelInfo;
  if (info.format !== "arthatrain-hf-gpt2") {
    throw new SafetensorsError(`Cannot read model folder: format ${info.format} is not supported`);
  }
  const layout = paramLayout(info.model);
  const st = decodeSafetensors(files[WEIGHTS_FILE]!);
  const weights = new Float32Array(layout.size);
  for (const t of layout.tensors) {
    const tensor = st.tensors[hfTensorName(t.name)];
    if (!tensor || tensor.shape.reduce((a, b) => a * b, 1) !== t.size) {
      throw new SafetensorsError(`Cannot read model folder: tensor ${hfTensorName(t.name)} is bad`);
    }
    weights.set(toFloat32(tensor), t.offset);
  }
  return { config: info.model, weights, onnx: files[ONNX_FILE]!, info };
}
