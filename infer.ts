/**
 * Embedded inference: runs a published model on this machine, offline after the first download.
 *
 *   deno task infer --model artha://<cid> "The jury said"
 *   deno task infer --model ./artha-demo/model "The jury said"     # a folder the demo kept
 *   deno task infer --model artha://<cid> --gateway http://127.0.0.1:8787 --max-tokens 200 "..."
 *   deno task infer --model artha://<cid> --store .artha/svdb --backend kernel "..."
 *
 * Options (lib/config.ts readInferSettings): --gateway URL (coordinator; ARTHA_GATEWAY; given as
 * a flag it is tried before the local store), --store DIR (local SVDB; ARTHA_STORE_DIR or
 * .artha/svdb), --cache DIR (ARTHA_CACHE_DIR), --backend auto|ort-node|ort-web|kernel
 * (ARTHA_INFER_BACKEND), --max-tokens N (100), --temperature T (0.8), --top-k K (40), --seed S (0).
 * Bad settings are one line and exit status 2, as a model that cannot be found or loaded is.
 * The folder is cached under ~/.cache/arthatrain/models/<cid> (see lib/model/model_cache.ts).
 */
import { createBackend, type DecoderBackend, generate } from "./kernel/inference/runtime.ts";
import { readHfModelDir } from "./lib/model/hf_model.ts";
import { cachedModelDir } from "./lib/model/model_cache.ts";
import { parseCid } from "./lib/store/cid.ts";
import { type InferSettings, readInferSettings } from "./lib/config.ts";
import { runCli, UsageError } from "./lib/network/cli.ts";
import { terminalText } from "./lib/network/printable.ts";

/** A local folder as it is; a CID or artha:// URI through the cache (store and gateway). */
async function modelDir(s: InferSettings): Promise<string> {
  const local = await Deno.stat(s.modelPath).catch(() => undefined);
  if (local?.isDirectory) return s.modelPath;
  if (!looksLikeCid(s.model)) {
    // Found walking through the README as a new user: a mistyped folder was "Cannot parse CID".
    const what = local ? "is a file, not a model folder" : "is no folder here";
    throw new Error(`${s.modelPath} ${what}, and not an artha://CID or CID either`);
  }
  return await cachedModelDir(s.model, {
    gateway: s.gateway,
    gatewayFirst: s.gatewayFirst,
    storeDir: s.storeDir,
    cacheDir: s.cacheDir,
    onRetry: (why, ms) => console.error(`${why}; retrying in ${ms / 1000} s`),
  });
}

/** Whether `text` is spelled as a CID (`artha://` optional), not a path. */
function looksLikeCid(text: string): boolean {
  try {
    parseCid(text.replace(/^artha:\/\//, ""));
    return true;
  } catch {
    return false;
  }
}

/** The model's folder and a backend over it; the user's model, gateway or store in one line. */
async function load(s: InferSettings): Promise<{ dir: string; backend: DecoderBackend }> {
  try {
    const dir = await modelDir(s);
    // From disk by path: a graph past 2 GB has its data file mapped by onnxruntime, not read here.
    const model = await readHfModelDir(dir);
    return { dir, backend: await createBackend(model, { backend: s.backend }) };
  } catch (e) {
    throw new UsageError(`Cannot load model ${s.model}: ${(e as Error).message.split("\n")[0]}`);
  }
}

async function main(args: string[]): Promise<void> {
  const s = readInferSettings(args);
  const { dir, backend } = await load(s);
  const out = Deno.stdout;
  const enc = new TextEncoder();
  await out.write(enc.encode(s.prompt));
  const { maxTokens, temperature, topK, seed } = s;
  // To a terminal, a model's bytes go through terminalText: they may be any byte (escapes
  // included); piped to a file or program, they are written as generated.
  const shown = out.isTerminal() ? terminalText() : undefined;
  for await (
    const t of generate(backend, enc.encode(s.prompt), { maxTokens, temperature, topK, seed })
  ) {
    const byte = new Uint8Array([t]);
    await out.write(shown ? enc.encode(shown(byte)) : byte);
  }
  if (shown) await out.write(enc.encode(shown(new Uint8Array(), true)));
  await out.write(enc.encode("\n"));
  console.error(`[${backend.name}/${backend.device}, model cached in ${dir}]`);
  await backend.dispose();
}

if (import.meta.main) await runCli("run inference", () => main(Deno.args));
