/**
 * The ONNX export with its weights as external data (the form past protobuf's 2 GB): a graph with
 * no weight bytes in it, a data file whose tensors sit where `offset`/`length` say, and logits
 * from onnxruntime-node (loading the file from disk) and onnxruntime-web (given the data file's
 * bytes) equal to the in-memory export's, bit for bit.
 */
import assert from "node:assert/strict";
import onnxProto from "onnx-proto";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import {
  exportOnnx,
  exportOnnxExternal,
  EXTERNAL_DATA_ALIGN,
  hfTensorName,
} from "../../kernel/onnx_export.ts";
import { initWeights, type ModelConfig, paramLayout, paramViews } from "../../kernel/params.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";

const CONFIG: ModelConfig = { kind: "gpt", maxT: 16, layers: 2, heads: 2, width: 16 };
const TOKENS = [72, 101, 108, 108, 111, 32, 119];

type Ort = typeof ortNode | typeof ortWeb;

/** Logits of TOKENS from an empty cache. */
async function logitsOf(ort: Ort, session: ortNode.InferenceSession | ortWeb.InferenceSession) {
  const { layers: L, heads: NH, width: C } = CONFIG;
  const feeds: Record<string, ortNode.Tensor> = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from(TOKENS, BigInt), [1, TOKENS.length]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(TOKENS.length).fill(1n), [
      1,
      TOKENS.length,
    ]),
  };
  for (let l = 0; l < L; l++) {
    for (const kv of ["key", "value"]) {
      feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor("float32", new Float32Array(0), [
        1,
        NH,
        0,
        C / NH,
      ]);
    }
  }
  // deno-lint-ignore no-explicit-any
  const out = await session.run(feeds as any);
  return out.logits!.data as Float32Array;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

Deno.test("exportOnnxExternal: every weight in the data file, where the graph says", () => {
  // Prepare
  const layout = paramLayout(CONFIG);
  const weights = initWeights(loadKernel(), layout, 3);
  // Execute
  const { model, data, dataBytes } = exportOnnxExternal(CONFIG, weights, "model.onnx_data");
  // Assert
  const file = concat(data);
  assert.equal(file.length, dataBytes);
  const graph = onnxProto.onnx.ModelProto.decode(model).graph!;
  const views = paramViews(layout, weights);
  for (const t of layout.tensors) {
    const init = graph.initializer!.find((i) => i.name === hfTensorName(t.name))!;
    assert.equal(init.dataLocation, 1, `${t.name} is external`);
    assert.equal(init.rawData?.length ?? 0, 0, `${t.name} has no bytes in the graph`);
    const ext = Object.fromEntries(init.externalData!.map((e) => [e.key, e.value]));
    assert.equal(ext.location, "model.onnx_data");
    const offset = Number(ext.offset), length = Number(ext.length);
    assert.equal(offset % EXTERNAL_DATA_ALIGN, 0, `${t.name} aligned`);
    const stored = new Float32Array(file.slice(offset, offset + length).buffer);
    assert.deepEqual(stored, views[t.name], t.name);
  }
  const inline = graph.initializer!.reduce((n, i) => n + (i.rawData?.length ?? 0), 0);
  assert.ok(inline < 1024, `only constants stay in the graph (${inline} bytes)`);
  assert.throws(() => exportOnnxExternal(CONFIG, weights, "../x"), TypeError);
});

Deno.test("onnxruntime loads the external-data export and gives the in-memory export's logits", async () => {
  // Prepare
  const weights = initWeights(loadKernel(), paramLayout(CONFIG), 5);
  const inline = exportOnnx(CONFIG, weights);
  const { model, data } = exportOnnxExternal(CONFIG, weights, "model.onnx_data");
  const dir = await Deno.makeTempDir({ prefix: "artha-onnx-external-" });
  try {
    await Deno.writeFile(`${dir}/model.onnx`, model);
    await Deno.writeFile(`${dir}/model.onnx_data`, concat(data));
    // Execute
    const want = await logitsOf(ortNode, await ortNode.InferenceSession.create(inline));
    const fromDisk = await logitsOf(
      ortNode,
      await ortNode.InferenceSession.create(`${dir}/model.onnx`),
    );
    const inBrowser = await logitsOf(
      ortWeb,
      await ortWeb.InferenceSession.create(model, {
        externalData: [{ path: "model.onnx_data", data: concat(data) }],
      }),
    );
    // Assert
    assert.equal(want.length, TOKENS.length * 256);
    assert.deepEqual(fromDisk, want, "onnxruntime-node, data file beside the graph");
    assert.deepEqual(
      inBrowser,
      await logitsOf(ortWeb, await ortWeb.InferenceSession.create(inline)),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
