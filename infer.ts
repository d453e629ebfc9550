/**
 * Embedded inference: runs a published model on this machine, offline after the first download.
 *
 *   deno task infer --model artha://<cid> "The jury said"
 *   deno task infer --model ./artha-demo/model "The jury said"     # a folder the demo kept
 *   deno task infer --model artha://<cid> --gateway http://127.0.0.1:8787 --max-tokens 200 "..."
 *   deno task infer --model artha://<cid> --store .artha/svdb --backend kernel "..."
 *
 * Options: --gateway URL (coordinator; default $ARTHA_GATEWAY), --store DIR (local SVDB; default
 * $ARTHA_STORE_DIR or .artha/svdb), --cache DIR, --backend auto|ort-node|ort-web|kernel,
 * --max-tokens N (100), --temperature T (0.8), --top-k K (40), --seed S (0).
 * The folder is cached under ~/.cache/arthatrain/models/<cid> (see lib/model/model_cache.ts).
 */
import { parseArgs } from "node:util";
import { createBackend, generate } from "./kernel/inference/runtime.ts";
import type { BackendName } from "./kernel/inference/backend.ts";
import { readHfModelDir } from "./lib/model/hf_model.ts";
import { cachedModelDir } from "./lib/model/model_cache.ts";
import { env, resolvePath } from "./lib/config.ts";

/** A local folder as it is; a CID or artha:// URI through the cache (store, then gateway). */
async function modelDir(
  model: string,
  a: { gateway?: string; store?: string; cache?: string },
): Promise<string> {
  const folder = resolvePath(model); // relative to where `deno task infer` was run
  const local = await Deno.stat(folder).catch(() => undefined);
  if (local?.isDirectory) return folder;
  return await cachedModelDir(model, {
    gateway: a.gateway ?? env.gateway(),
    storeDir: a.store ?? env.storeDir(),
    cacheDir: a.cache,
  });
}

if (import.meta.main) {
  const { values: a, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      model: { type: "string" },
      gateway: { type: "string" },
      store: { type: "string" },
      cache: { type: "string" },
      backend: { type: "string" },
      "max-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      seed: { type: "string" },
    },
  });
  if (!a.model || positionals.length === 0) {
    console.error('usage: deno task infer --model <artha://cid | folder> [options] "prompt"');
    Deno.exit(2);
  }
  const num = (
    name: string,
    value: string | undefined,
    fallback: number,
    min: number,
    max: number,
    int: boolean,
  ) => {
    const n = value === undefined ? fallback : Number(value);
    if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
      console.error(
        `--${name} must be ${int ? "an integer" : "a number"} in [${min}, ${max}], got ${value}`,
      );
      Deno.exit(2);
    }
    return n;
  };
  const maxTokens = num("max-tokens", a["max-tokens"], 100, 1, 4096, true);
  const temperature = num("temperature", a.temperature, 0.8, 0, 10, false);
  const topK = num("top-k", a["top-k"], 40, 0, 256, true);
  const seed = num("seed", a.seed, 0, 0, 2 ** 32 - 1, true);
  const backends = ["auto", "ort-node", "ort-web", "kernel"];
  if (a.backend !== undefined && !backends.includes(a.backend)) {
    console.error(`--backend must be one of ${backends.join(", ")}, got ${a.backend}`);
    Deno.exit(2);
  }
  let dir: string, backend;
  try {
    dir = await modelDir(a.model, a);
    // From disk by path: a graph past 2 GB has its data file mapped by onnxruntime, not read here.
    const model = await readHfModelDir(dir);
    backend = await createBackend(model, {
      backend: (a.backend ?? "auto") as BackendName | "auto",
    });
  } catch (e) {
    // The user's model, gateway or store: one line naming what failed, no stack trace.
    console.error(`Cannot load model ${a.model}: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const prompt = positionals.join(" ");
  const out = Deno.stdout;
  const enc = new TextEncoder();
  await out.write(enc.encode(prompt));
  for await (
    const t of generate(backend, enc.encode(prompt), {
      maxTokens,
      temperature,
      topK,
      seed,
    })
  ) await out.write(new Uint8Array([t]));
  await out.write(enc.encode("\n"));
  console.error(`[${backend.name}/${backend.device}, model cached in ${dir}]`);
  await backend.dispose();
}
