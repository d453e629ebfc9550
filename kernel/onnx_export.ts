/**
 * ONNX export of the kernel's GPT (opset 17), in the layout Hugging Face's GPT-2 decoder uses, so
 * transformers.js and onnxruntime load it as a `gpt2` model with a KV cache:
 *
 *   in:  input_ids (B,S) i64, attention_mask (B,P+S) i64, past_key_values.{l}.key/value (B,NH,P,hs)
 *   out: logits (B,S,V), present.{l}.key/value (B,NH,P+S,hs)
 *
 * The graph is the kernel's forward op for op (network.ts): linear weights are already stored
 * (C, OC), so each linear is MatMul + Add; layernorm eps 1e-5; the head is MatMul with wte^T (tied);
 * GELU uses the same tanh approximation with the same clamped 13/6 rational tanh, op by op in the
 * kernel's evaluation order (kernel/wasm/gelu.ts), so it is not a second approximation. Positions
 * come from the attention mask's running sum (left padding works), as in HF's GPT-2.
 *
 * @example
 * ```ts
 * import { exportOnnx } from "./onnx_export.ts";
 * import { paramLayout } from "./params.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const bytes = exportOnnx(config, new Float32Array(paramLayout(config).size));
 * console.assert(bytes.length > 1000);
 * ```
 */
import onnxProto from "onnx-proto";
import { type ModelConfig, paramLayout, paramViews, VOCAB } from "./params.ts";

const { onnx } = onnxProto;
type NodeAttr = number | number[] | string;

/** ONNX opset and IR version written (IR 8 is what opset 17 ships with). */
export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
/** Layernorm epsilon of kernel/wasm/layernorm.ts. */
export const LAYERNORM_EPS = 1e-5;

// GELU and rational tanh constants of kernel/wasm/gelu.ts (f32 there; Float32Array rounds here).
const GELU = { s: 0.7978845608028654, k: 0.044715, clamp: 7.90531110763549805 };
const TANH_P = [
  -2.76076847742355e-16,
  2.00018790482477e-13,
  -8.60467152213735e-11,
  5.12229709037114e-08,
  1.48572235717979e-05,
  6.37261928875436e-04,
  4.89352455891786e-03,
];
const TANH_Q = [
  1.19825839466702e-06,
  1.18534705686654e-04,
  2.26843463243900e-03,
  4.89352518554385e-03,
];

/** HF GPT-2 name of each kernel tensor (Conv1D weights are (in, out) like the kernel's). */
export function hfTensorName(name: string): string {
  const top: Record<string, string> = {
    wte: "transformer.wte.weight",
    wpe: "transformer.wpe.weight",
    lnfw: "transformer.ln_f.weight",
    lnfb: "transformer.ln_f.bias",
  };
  if (top[name]) return top[name]!;
  const m = /^h(\d+)\.(\w+)$/.exec(name);
  const layer: Record<string, string> = {
    ln1w: "ln_1.weight",
    ln1b: "ln_1.bias",
    qkvw: "attn.c_attn.weight",
    qkvb: "attn.c_attn.bias",
    projw: "attn.c_proj.weight",
    projb: "attn.c_proj.bias",
    ln2w: "ln_2.weight",
    ln2b: "ln_2.bias",
    fcw: "mlp.c_fc.weight",
    fcb: "mlp.c_fc.bias",
    fcprojw: "mlp.c_proj.weight",
    fcprojb: "mlp.c_proj.bias",
  };
  if (!m || !layer[m[2]!]) throw new RangeError(`Cannot name tensor ${name}: not a GPT tensor`);
  return `transformer.h.${m[1]}.${layer[m[2]!]}`;
}

/** Byte alignment of each tensor in the external data file (what onnxruntime maps best). */
export const EXTERNAL_DATA_ALIGN = 64;

/** Where the weights go when they leave the protobuf: one file, tensors back to back. */
interface ExternalData {
  location: string;
  /** Views of the weights (and zero padding), in file order: nothing is copied. */
  chunks: Uint8Array[];
  offset: number;
}

/** A small graph builder: nodes in order, fresh names for intermediate values. */
class Graph {
  nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  #n = 0;
  readonly #external?: ExternalData;

  constructor(external?: ExternalData) {
    this.#external = external;
  }

  op(type: string, inputs: string[], attrs: Record<string, NodeAttr> = {}, out?: string): string {
    const name = out ?? `${type.toLowerCase()}_${this.#n++}`;
    this.nodes.push(onnx.NodeProto.create({
      opType: type,
      name: `${name}_node`,
      input: inputs,
      output: [name],
      attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
    }));
    return name;
  }

  f32(name: string, dims: number[], data: Float32Array | number[]): string {
    const f = data instanceof Float32Array ? data : Float32Array.from(data);
    const raw = new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType: 1, rawData: raw }));
    return name;
  }

  /** A weight: inline, or with external data a reference to its bytes in the data file. */
  weight(name: string, dims: number[], data: Float32Array): string {
    const ext = this.#external;
    if (!ext) return this.f32(name, dims, data);
    const pad = (EXTERNAL_DATA_ALIGN - ext.offset % EXTERNAL_DATA_ALIGN) % EXTERNAL_DATA_ALIGN;
    if (pad) ext.chunks.push(new Uint8Array(pad));
    ext.offset += pad;
    ext.chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const externalData = [
      { key: "location", value: ext.location },
      { key: "offset", value: String(ext.offset) },
      { key: "length", value: String(data.byteLength) },
    ];
    ext.offset += data.byteLength;
    this.initializers.push(
      onnx.TensorProto.create({ name, dims, dataType: 1, dataLocation: 1, externalData }),
    );
    return name;
  }

  i64(name: string, dims: number[], data: number[]): string {
    const raw = new Uint8Array(new BigInt64Array(data.map(BigInt)).buffer);
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType: 7, rawData: raw }));
    return name;
  }

  /** A scalar f32 constant (name derived from the value, shared between uses). */
  scalar(value: number): string {
    const name = `const_f32_${value}`;
    if (!this.initializers.some((t) => t.name === name)) this.f32(name, [], [value]);
    return name;
  }
}

function attr(name: string, v: NodeAttr) {
  if (typeof v === "string") return onnx.AttributeProto.create({ name, type: 3, s: enc(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: 7, ints: v });
  if (Number.isInteger(v)) return onnx.AttributeProto.create({ name, type: 2, i: v });
  return onnx.AttributeProto.create({ name, type: 1, f: v });
}

const enc = (s: string) => new TextEncoder().encode(s);

function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) => typeof d === "number" ? { dimValue: d } : { dimParam: d }),
        },
      },
    },
  });
}

/** gelu(x) exactly as kernel/wasm/gelu.ts evaluates it (same operations, same order). */
function gelu(g: Graph, x: string): string {
  const x3 = g.op("Mul", [g.op("Mul", [g.op("Mul", [g.scalar(GELU.k), x]), x]), x]);
  let u = g.op("Mul", [g.scalar(GELU.s), g.op("Add", [x, x3])]);
  u = g.op("Clip", [u, g.scalar(-GELU.clamp), g.scalar(GELU.clamp)]);
  const u2 = g.op("Mul", [u, u]);
  let p = g.op("Add", [g.op("Mul", [u2, g.scalar(TANH_P[0]!)]), g.scalar(TANH_P[1]!)]);
  for (const a of TANH_P.slice(2)) p = g.op("Add", [g.op("Mul", [u2, p]), g.scalar(a)]);
  p = g.op("Mul", [u, p]);
  let q = g.op("Add", [g.op("Mul", [u2, g.scalar(TANH_Q[0]!)]), g.scalar(TANH_Q[1]!)]);
  for (const b of TANH_Q.slice(2)) q = g.op("Add", [g.op("Mul", [u2, q]), g.scalar(b)]);
  const t = g.op("Div", [p, q]);
  return g.op("Mul", [g.op("Mul", [g.scalar(0.5), x]), g.op("Add", [g.scalar(1), t])]);
}

/** Serialises the GPT with `weights` (flat kernel buffer) as an ONNX model with a KV cache. */
export function exportOnnx(config: ModelConfig, weights: Float32Array): Uint8Array {
  return buildOnnx(config, weights);
}

/**
 * The same model with every weight as external data (ONNX's `data_location: EXTERNAL`, with
 * `location`, `offset`, `length`), for models whose weights pass protobuf's 2 GB limit: the graph
 * is small, and `data` lists the bytes of the file named `location`, to be written beside it in
 * order. The chunks are views of `weights` (and zero padding aligning each tensor to
 * {@link EXTERNAL_DATA_ALIGN}), so nothing is copied. onnxruntime reads it from a path (the data
 * file beside the graph) or, in the browser, with `externalData: [{ path: location, data }]`.
 *
 * @example
 * ```ts
 * import { exportOnnxExternal } from "./onnx_export.ts";
 * import { paramLayout } from "./params.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const weights = new Float32Array(paramLayout(config).size);
 * const { model, data } = exportOnnxExternal(config, weights, "model.onnx_data");
 * const bytes = data.reduce((n, c) => n + c.length, 0);
 * console.assert(model.length < bytes && bytes >= weights.byteLength);
 * ```
 */
export function exportOnnxExternal(
  config: ModelConfig,
  weights: Float32Array,
  location: string,
): { model: Uint8Array; data: Uint8Array[]; dataBytes: number } {
  if (!location || location.includes("/") || location.includes("\\")) {
    throw new TypeError(`Cannot export ONNX: external data location "${location}" is not a name`);
  }
  const external: ExternalData = { location, chunks: [], offset: 0 };
  const model = buildOnnx(config, weights, external);
  return { model, data: external.chunks, dataBytes: external.offset };
}

function buildOnnx(
  config: ModelConfig,
  weights: Float32Array,
  external?: ExternalData,
): Uint8Array {
  if (config.kind !== "gpt") {
    throw new TypeError(`Cannot export ${config.kind} model: only "gpt" has an ONNX export`);
  }
  const layout = paramLayout(config);
  const w = paramViews(layout, weights);
  const { layers: L, heads: NH, width: C } = config;
  const hs = C / NH;
  const g = new Graph(external);
  const P = (name: string) => {
    const t = layout.byName.get(name)!;
    return g.initializers.some((i) => i.name === hfTensorName(name))
      ? hfTensorName(name)
      : g.weight(hfTensorName(name), t.shape, w[name]!);
  };

  // Shapes and positions. S new tokens after P cached ones; total = P + S = mask length.
  const axis1 = g.i64("axis_1", [1], [1]);
  const zero = g.i64("zero", [], [0]);
  const one = g.i64("one", [], [1]);
  const past = g.op("Shape", ["past_key_values.0.key"], { start: 2, end: 3 });
  const total = g.op("Shape", ["attention_mask"], { start: 1, end: 2 });
  const pastS = g.op("Squeeze", [past]);
  const totalS = g.op("Squeeze", [total]);
  const cum = g.op("Sub", [g.op("CumSum", ["attention_mask", g.i64("cum_axis", [], [1])]), one]);
  const pos = g.op("Max", [g.op("Slice", [cum, past, total, axis1]), zero]);
  let x = g.op("Add", [g.op("Gather", [P("wte"), "input_ids"]), g.op("Gather", [P("wpe"), pos])]);

  // allowed (B,1,S,total): key j visible to query i iff j <= P + i and attention_mask[b,j] is 1.
  const qpos = g.op("Range", [pastS, totalS, one]);
  const kpos = g.op("Range", [zero, totalS, one]);
  const causal = g.op("LessOrEqual", [
    g.op("Unsqueeze", [kpos, g.i64("ax0", [1], [0])]),
    g.op("Unsqueeze", [qpos, g.i64("ax1", [1], [1])]),
  ]);
  const padOk = g.op("Unsqueeze", [
    g.op("Cast", ["attention_mask"], { to: 9 }),
    g.i64("ax12", [2], [1, 2]),
  ]);
  const allowed = g.op("And", [causal, padOk]);
  const heads = g.i64("heads_shape", [4], [0, 0, NH, hs]);
  const merged = g.i64("merged_shape", [3], [0, 0, C]);
  const split3 = g.i64("split3", [3], [C, C, C]);
  const scale = g.scalar(Math.fround(1 / Math.sqrt(hs)));
  const masked = g.scalar(-3.4028234663852886e38);

  const ln = (inp: string, wName: string, bName: string) =>
    g.op("LayerNormalization", [inp, P(wName), P(bName)], { axis: -1, epsilon: LAYERNORM_EPS });
  const linear = (inp: string, wName: string, bName: string) =>
    g.op("Add", [g.op("MatMul", [inp, P(wName)]), P(bName)]);
  const splitHeads = (t: string) =>
    g.op("Transpose", [g.op("Reshape", [t, heads])], { perm: [0, 2, 1, 3] });

  for (let l = 0; l < L; l++) {
    const h = `h${l}.`;
    const qkv = linear(ln(x, h + "ln1w", h + "ln1b"), h + "qkvw", h + "qkvb");
    const parts = ["q", "k", "v"].map((p) => `${qkv}_${p}`);
    g.nodes.push(onnx.NodeProto.create({
      opType: "Split",
      name: `${qkv}_split`,
      input: [qkv, split3],
      output: parts,
      attribute: [attr("axis", 2)],
    }));
    const q = splitHeads(parts[0]!);
    const k = g.op(
      "Concat",
      [`past_key_values.${l}.key`, splitHeads(parts[1]!)],
      { axis: 2 },
      `present.${l}.key`,
    );
    const v = g.op(
      "Concat",
      [`past_key_values.${l}.value`, splitHeads(parts[2]!)],
      { axis: 2 },
      `present.${l}.value`,
    );
    const kT = g.op("Transpose", [k], { perm: [0, 1, 3, 2] });
    const scores = g.op("Mul", [g.op("MatMul", [q, kT]), scale]);
    const att = g.op("Softmax", [g.op("Where", [allowed, scores, masked])], { axis: -1 });
    const y = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [att, v])], { perm: [0, 2, 1, 3] }),
      merged,
    ]);
    x = g.op("Add", [x, linear(y, h + "projw", h + "projb")]);
    const fc = linear(ln(x, h + "ln2w", h + "ln2b"), h + "fcw", h + "fcb");
    x = g.op("Add", [x, linear(gelu(g, fc), h + "fcprojw", h + "fcprojb")]);
  }
  const lnf = ln(x, "lnfw", "lnfb");
  g.op("MatMul", [lnf, g.op("Transpose", [P("wte")], { perm: [1, 0] })], {}, "logits");

  const F = 1, I64 = 7;
  const inputs = [
    valueInfo("input_ids", I64, ["batch_size", "sequence_length"]),
    valueInfo("attention_mask", I64, ["batch_size", "total_sequence_length"]),
  ];
  const outputs = [valueInfo("logits", F, ["batch_size", "sequence_length", VOCAB])];
  for (let l = 0; l < L; l++) {
    for (const kv of ["key", "value"]) {
      inputs.push(
        valueInfo(`past_key_values.${l}.${kv}`, F, ["batch_size", NH, "past_sequence_length", hs]),
      );
      outputs.push(
        valueInfo(`present.${l}.${kv}`, F, ["batch_size", NH, "total_sequence_length", hs]),
      );
    }
  }
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    producerName: "arthatrain",
    producerVersion: "1",
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    graph: {
      name: "arthatrain_gpt",
      node: g.nodes,
      initializer: g.initializers,
      input: inputs,
      output: outputs,
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
