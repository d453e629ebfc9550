/**
 * loadModel from the side of someone who publishes a model folder: its `onnx/model.onnx` is a
 * program onnxruntime would run natively in the coordinator, so the graph served must be the one
 * exported from the folder's weights (found in the inference audit).
 */
import assert from "node:assert/strict";
import onnxProto from "onnx-proto";
import { exportHfModel, ONNX_FILE } from "../../../lib/model/hf_model.ts";
import { putModelFolder } from "../../../lib/model/model_folder.ts";
import { loadModel } from "../../../lib/model/publish.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { Store } from "../../../lib/store/store.ts";
import { exportOnnx } from "../../../kernel/onnx_export.ts";
import { initWeights, type ModelConfig, paramLayout } from "../../../kernel/params.ts";
import { loadKernel } from "../../../kernel/wasm_module.ts";
import { createBackend, generate } from "../../../kernel/inference/runtime.ts";

const onnx = onnxProto.onnx;
const config: ModelConfig = { kind: "gpt", maxT: 256, layers: 1, heads: 2, width: 8 };

/** What the coordinator's loadChecked does with a published folder, then greedy generation. */
async function serve(files: Record<string, Uint8Array>, prompt: number[], maxTokens: number) {
  const store = new Store(new MemoryBlockstore());
  const cid = await putModelFolder(store, files);
  const backend = await createBackend(await loadModel(store, cid), { backend: "ort-node" });
  try {
    const out: number[] = [];
    for await (const t of generate(backend, prompt, { maxTokens, temperature: 0 })) out.push(t);
    return out;
  } finally {
    await backend.dispose();
  }
}

/**
 * A graph with the decoder's inputs and outputs whose next token is byte L-1 of `location`, a
 * file beside the server's working directory (L: the attention mask's length).
 */
function exfiltratingGraph(location: string, length: number): Uint8Array {
  const vi = (name: string, t: number, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: t,
          shape: {
            dim: dims.map((d) => typeof d === "number" ? { dimValue: d } : { dimParam: d }),
          },
        },
      },
    });
  const op = (opType: string, input: string[], output: string[], attribute: unknown[] = []) =>
    onnx.NodeProto.create({ opType, input, output, attribute: attribute as never });
  const i64 = (name: string, data: number[]) =>
    onnx.TensorProto.create({
      name,
      dims: [data.length],
      dataType: 7,
      rawData: new Uint8Array(new BigInt64Array(data.map(BigInt)).buffer),
    });
  const secret = onnx.TensorProto.create({
    name: "secret",
    dims: [length],
    dataType: 2,
    dataLocation: 1,
    externalData: [
      { key: "location", value: location },
      { key: "offset", value: "0" },
      { key: "length", value: String(length) },
    ],
  });
  const values = onnx.TensorProto.create({
    name: "vals",
    dims: [2],
    dataType: 1,
    rawData: new Uint8Array(Float32Array.from([0, 10]).buffer),
  });
  const graph = onnx.GraphProto.create({
    name: "exfiltrate",
    node: [
      op("Shape", ["attention_mask"], ["shape"]),
      op("Slice", ["shape", "one", "two"], ["L"]),
      op("Sub", ["L", "one"], ["idx"]),
      op("Cast", ["secret"], ["s64"], [onnx.AttributeProto.create({ name: "to", type: 2, i: 7 })]),
      op("Gather", ["s64", "idx"], ["byte"]),
      op("OneHot", ["byte", "depth", "vals"], ["oh"]),
      op("Reshape", ["oh", "shape3"], ["logits"]),
      op("Identity", ["past_key_values.0.key"], ["present.0.key"]),
      op("Identity", ["past_key_values.0.value"], ["present.0.value"]),
    ],
    initializer: [
      secret,
      i64("one", [1]),
      i64("two", [2]),
      i64("depth", [256]),
      values,
      i64("shape3", [1, 1, 256]),
    ],
    input: [
      vi("input_ids", 7, [1, "T"]),
      vi("attention_mask", 7, [1, "L"]),
      vi("past_key_values.0.key", 1, [1, 2, "P", 4]),
      vi("past_key_values.0.value", 1, [1, 2, "P", 4]),
    ],
    output: [
      vi("logits", 1, [1, 1, 256]),
      vi("present.0.key", 1, [1, 2, "P", 4]),
      vi("present.0.value", 1, [1, 2, "P", 4]),
    ],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

Deno.test("attacker: a published folder's graph reading a file beside the server is not run", async () => {
  const canary = await Deno.makeTempFile({ dir: ".", prefix: ".publish-canary-" });
  try {
    const secret = "coordinator secret: 0x" + "5e".repeat(32);
    await Deno.writeTextFile(canary, secret);
    const weights = initWeights(loadKernel(), paramLayout(config), 1);
    const honest = exportHfModel(config, weights);
    const hostile = { ...honest, [ONNX_FILE]: exfiltratingGraph(canary, secret.length) };
    const served = await serve(hostile, [97], secret.length);
    assert.notEqual(new TextDecoder().decode(new Uint8Array(served)), secret);
    assert.deepEqual(served, await serve(honest, [97], secret.length));
  } finally {
    await Deno.remove(canary);
  }
});

Deno.test("attacker: a folder whose graph holds other weights serves its safetensors", async () => {
  const k = loadKernel();
  const published = initWeights(k, paramLayout(config), 1);
  const other = initWeights(k, paramLayout(config), 2).map((x) => x * 40);
  const honest = exportHfModel(config, published);
  const swapped = { ...honest, [ONNX_FILE]: exportOnnx(config, other) };
  const prompt = [...new TextEncoder().encode("hello")];
  const served = await serve(swapped, prompt, 24);
  assert.deepEqual(served, await serve(honest, prompt, 24));
  assert.notDeepEqual(served, await serve(exportHfModel(config, other), prompt, 24));
});

Deno.test("a folder whose graph is not ONNX at all is served from its weights", async () => {
  const weights = initWeights(loadKernel(), paramLayout(config), 3);
  const honest = exportHfModel(config, weights);
  const garbage = { ...honest, [ONNX_FILE]: new TextEncoder().encode("not a protobuf") };
  assert.deepEqual(await serve(garbage, [97, 98], 8), await serve(honest, [97, 98], 8));
});
