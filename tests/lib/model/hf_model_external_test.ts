/**
 * The model folder past 2 GB: the export picks the external-data graph and chunked files by size
 * (thresholds passed small here, so no test needs 2 GB of memory), and the external-data folder
 * loads in transformers.js, onnxruntime-node and onnxruntime-web with the embedded folder's
 * output. `ARTHA_LARGE=1` also exports a real 2.4 GB folder and loads it in onnxruntime-node.
 */
import assert from "node:assert/strict";
import { exportOnnx, exportOnnxExternal } from "../../../kernel/onnx_export.ts";
import { initWeights, type ModelConfig, paramLayout } from "../../../kernel/params.ts";
import { loadKernel } from "../../../kernel/wasm_module.ts";
import { createBackend, generate } from "../../../kernel/inference/runtime.ts";
import {
  ARTHA_FILE,
  type ArthaModelInfo,
  exportHfModel,
  exportHfModelChunks,
  type FileContent,
  ONNX_DATA_FILE,
  ONNX_FILE,
  ONNX_PROTOBUF_LIMIT,
  readHfModel,
  readHfModelDir,
  WEIGHTS_FILE,
  writeModelFiles,
} from "../../../lib/model/hf_model.ts";
import { SafetensorsError } from "../../../lib/model/tensors.ts";

const CONFIG: ModelConfig = { kind: "gpt", maxT: 32, layers: 2, heads: 4, width: 64 };
// Scaled-up initial weights: sharp distributions, so greedy tokens differ from prompt to prompt.
const weights = initWeights(loadKernel(), paramLayout(CONFIG), 7).map((x) => 4 * x);
const PROMPT = new TextEncoder().encode("The jury said");
const NEW_TOKENS = 12;

const join = (c: FileContent) => {
  if (!Array.isArray(c)) return c;
  const out = new Uint8Array(c.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of c) {
    out.set(x, at);
    at += x.length;
  }
  return out;
};
const text = (c: FileContent | undefined) => JSON.parse(new TextDecoder().decode(join(c!)));

Deno.test("exportHfModelChunks: the graph goes external only past maxOnnxBytes", () => {
  // Prepare: the bound the export compares, and what the embedded graph really weighs.
  const embedded = exportOnnx(CONFIG, weights);
  const bound = exportOnnxExternal(CONFIG, weights, "model.onnx_data").model.length +
    weights.byteLength;
  assert.ok(bound >= embedded.length && bound - embedded.length < 4096, `${bound}`);
  // Execute
  const fits = exportHfModelChunks(CONFIG, weights, {}, { maxOnnxBytes: bound });
  const past = exportHfModelChunks(CONFIG, weights, {}, { maxOnnxBytes: bound - 1 });
  // Assert: at the limit, today's folder; one byte less, the external layout.
  assert.deepEqual(Object.keys(fits), Object.keys(exportHfModel(CONFIG, weights)));
  assert.deepEqual(fits[ONNX_FILE], embedded);
  assert.equal(fits[ONNX_DATA_FILE], undefined);
  assert.equal(text(fits["config.json"])["transformers.js_config"].use_external_data_format, false);
  assert.equal((text(fits[ARTHA_FILE]) as ArthaModelInfo).onnxData, undefined);
  const ext = exportOnnxExternal(CONFIG, weights, "model.onnx_data");
  assert.deepEqual(past[ONNX_FILE], ext.model);
  assert.deepEqual(past[ONNX_DATA_FILE], join(ext.data));
  assert.equal(text(past["config.json"])["transformers.js_config"].use_external_data_format, true);
  assert.equal((text(past[ARTHA_FILE]) as ArthaModelInfo).onnxData, ONNX_DATA_FILE);
  assert.deepEqual(past[WEIGHTS_FILE], fits[WEIGHTS_FILE], "safetensors unchanged");
  assert.ok(ONNX_PROTOBUF_LIMIT > bound, "the default keeps small models embedded");
});

Deno.test("exportHfModelChunks: files past maxBufferBytes are chunk views of the weights", () => {
  // Prepare
  const whole = exportHfModel(CONFIG, weights, {}, { maxOnnxBytes: 0 });
  const safetensorsBytes = whole[WEIGHTS_FILE]!.length;
  // Execute: one byte under the safetensors file, which is larger than the data file.
  const files = exportHfModelChunks(CONFIG, weights, {}, {
    maxOnnxBytes: 0,
    maxBufferBytes: safetensorsBytes - 1,
  });
  // Assert
  const st = files[WEIGHTS_FILE]!;
  assert.ok(Array.isArray(st));
  assert.ok(st.slice(1).every((c) => c.buffer === weights.buffer), "views, not copies");
  assert.deepEqual(join(st), whole[WEIGHTS_FILE]);
  const dataBytes = join(files[ONNX_DATA_FILE]!).length;
  assert.equal(Array.isArray(files[ONNX_DATA_FILE]), dataBytes > safetensorsBytes - 1);
  assert.deepEqual(join(files[ONNX_DATA_FILE]!), whole[ONNX_DATA_FILE]);
  assert.ok(!Array.isArray(files[ONNX_FILE]) && !Array.isArray(files["config.json"]));
  assert.throws(
    () => exportHfModel(CONFIG, weights, {}, { maxBufferBytes: safetensorsBytes - 1 }),
    RangeError,
  );
});

Deno.test("readHfModel: the external layout reads back, and needs its data file", () => {
  // Prepare
  const files = exportHfModel(CONFIG, weights, { round: "2" }, { maxOnnxBytes: 0 });
  // Execute
  const back = readHfModel(files);
  // Assert
  assert.deepEqual(back.weights, weights);
  assert.deepEqual(back.onnxData, [{ path: "model.onnx_data", data: files[ONNX_DATA_FILE] }]);
  const { [ONNX_DATA_FILE]: _, ...without } = files;
  assert.throws(() => readHfModel(without), SafetensorsError, "model.onnx_data is missing");
});

/** Greedy bytes after PROMPT from the folder at `root/name`, through transformers.js. */
async function transformersGreedy(root: string, name: string): Promise<number[]> {
  const tf = await import("@huggingface/transformers");
  tf.env.allowRemoteModels = false;
  tf.env.localModelPath = `${root}/`;
  const tokenizer = await tf.AutoTokenizer.from_pretrained(name);
  const lm = await tf.AutoModelForCausalLM.from_pretrained(name, { dtype: "fp32" });
  try {
    const enc = tokenizer(new TextDecoder().decode(PROMPT));
    const out = await lm.generate({
      ...enc,
      max_new_tokens: NEW_TOKENS,
      do_sample: false,
    }) as { tolist(): bigint[][] };
    return out.tolist()[0]!.slice(PROMPT.length).map(Number);
  } finally {
    await lm.dispose();
  }
}

/** Greedy bytes after PROMPT from a folder on disk, through one runtime backend. */
async function runtimeGreedy(dir: string, backendName: "ort-node" | "ort-web"): Promise<number[]> {
  const backend = await createBackend(await readHfModelDir(dir), { backend: backendName });
  const ids: number[] = [];
  const options = { maxTokens: NEW_TOKENS, temperature: 0 };
  for await (const t of generate(backend, PROMPT, options)) ids.push(t);
  await backend.dispose();
  return ids;
}

Deno.test("the external-data folder generates in transformers.js, ort-node and ort-web as the embedded one", async () => {
  // Prepare: the same weights in both layouts; the data file written as a chunk list.
  const root = await Deno.makeTempDir({ prefix: "artha-hf-external-" });
  try {
    await writeModelFiles(`${root}/embedded`, exportHfModelChunks(CONFIG, weights));
    await writeModelFiles(
      `${root}/external`,
      exportHfModelChunks(CONFIG, weights, {}, { maxOnnxBytes: 0, maxBufferBytes: 1024 }),
    );
    const graph = await Deno.stat(`${root}/external/${ONNX_FILE}`);
    assert.ok(graph.size < weights.byteLength / 10, `the graph holds no weights (${graph.size})`);
    // Execute
    const want = await transformersGreedy(root, "embedded");
    const viaTransformers = await transformersGreedy(root, "external");
    const viaNode = await runtimeGreedy(`${root}/external`, "ort-node");
    const viaWeb = await runtimeGreedy(`${root}/external`, "ort-web");
    // Assert
    assert.equal(want.length, NEW_TOKENS);
    assert.ok(new Set(want).size > 1, `greedy output is not one repeated byte: ${want}`);
    assert.deepEqual(viaTransformers, want, "transformers.js");
    assert.deepEqual(viaNode, want, "onnxruntime-node, graph by path");
    assert.deepEqual(viaWeb, want, "onnxruntime-web, data file in memory");
    await Deno.remove(`${root}/external/${ONNX_DATA_FILE}`);
    await assert.rejects(() => readHfModelDir(`${root}/external`), SafetensorsError);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** A 600M-parameter GPT: 24 layers of width 1440 (12 * 24 * 1440^2 = 597M) and 1024 positions. */
const LARGE: ModelConfig = { kind: "gpt", maxT: 1024, layers: 24, heads: 12, width: 1440 };

Deno.test({
  name: "a 600M-parameter folder passes 2 GB and loads in onnxruntime-node (ARTHA_LARGE=1)",
  ignore: Deno.env.get("ARTHA_LARGE") !== "1",
  async fn() {
    // Prepare: zero weights (2.4 GB), so the logits are exactly zero.
    const t0 = performance.now();
    const params = paramLayout(LARGE).size;
    const zeros = new Float32Array(params);
    const dir = await Deno.makeTempDir({ prefix: "artha-hf-large-" });
    try {
      // Execute
      await writeModelFiles(dir, exportHfModelChunks(LARGE, zeros));
      const tWrite = performance.now();
      const graph = await Deno.readFile(`${dir}/${ONNX_FILE}`);
      const backend = await createBackend(
        {
          config: LARGE,
          weights: new Float32Array(0),
          onnx: graph,
          onnxPath: `${dir}/${ONNX_FILE}`,
        },
        { backend: "ort-node" },
      );
      const { logits } = await backend.step(Array.from(PROMPT), null);
      await backend.dispose();
      const tLoad = performance.now();
      // Assert
      const sizes = Object.fromEntries(
        await Promise.all(
          [WEIGHTS_FILE, ONNX_FILE, ONNX_DATA_FILE].map(async (f) =>
            [f, (await Deno.stat(`${dir}/${f}`)).size] as const
          ),
        ),
      );
      // Linux reports the peak; zero pages the export only reads are never resident.
      const peak = (await Deno.readTextFile("/proc/self/status").catch(() => ""))
        .match(/VmHWM:\s*(\d+)/)?.[1];
      console.log(
        `${(params / 1e6).toFixed(0)}M params, files ${JSON.stringify(sizes)}; write ${
          ((tWrite - t0) / 1000).toFixed(1)
        } s, ort-node load + step ${((tLoad - tWrite) / 1000).toFixed(1)} s, peak RSS ${
          peak ? `${(Number(peak) / 1024).toFixed(0)} MB` : "unknown"
        }`,
      );
      assert.ok(params > 590e6 && zeros.byteLength > ONNX_PROTOBUF_LIMIT);
      assert.ok(
        sizes[WEIGHTS_FILE]! > zeros.byteLength && sizes[ONNX_DATA_FILE]! >= zeros.byteLength,
      );
      assert.ok(sizes[ONNX_FILE]! < 1 << 20, "the graph is small");
      assert.equal(logits.length, PROMPT.length * 256);
      assert.ok(logits.every((x) => x === 0), "zero weights give zero logits");
      const info = JSON.parse(await Deno.readTextFile(`${dir}/${ARTHA_FILE}`)) as ArthaModelInfo;
      assert.equal(info.onnxData, ONNX_DATA_FILE);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
