/**
 * The settings of `deno task infer`, read by lib/config.ts readInferSettings. Private to
 * lib/config.ts.
 *
 * @module
 */
import type { BackendName } from "../kernel/inference/backend.ts";
import type { FlagValues, SettingsReader } from "./_config_reader.ts";
import { finish, NETWORK_DIR, parseFlags, refuseOperatorKey, str } from "./_config_shared.ts";

/**
 * The inference backends a user may ask for. The runtime's BACKENDS plus "auto"; a copy, not an
 * import, so reading settings never loads onnxruntime (tests/config_test.ts checks they agree).
 */
export const INFER_BACKENDS = [
  "auto",
  "ort-node",
  "ort-web",
  "kernel",
] as const satisfies readonly (
  | BackendName
  | "auto"
)[];

/** What `deno task infer` runs with. */
export interface InferSettings {
  /** --model as given (a CID, an artha:// URI or a folder) ... */
  model: string;
  /** ... and as a path, in case it is a folder (relative to where `deno task` ran). */
  modelPath: string;
  prompt: string;
  /** The coordinator to download from, if any, and whether it was given explicitly. */
  gateway?: string;
  /** True when --gateway was given: it is tried before the local store. */
  gatewayFirst: boolean;
  /** The local SVDB folder (absolute). */
  storeDir: string;
  /** The model cache root (absolute), undefined for the default. */
  cacheDir?: string;
  backend: (typeof INFER_BACKENDS)[number];
  maxTokens: number;
  temperature: number;
  topK: number;
  seed: number;
}

const INFER_FLAGS = {
  model: str,
  gateway: str,
  store: str,
  cache: str,
  backend: str,
  "max-tokens": str,
  temperature: str,
  "top-k": str,
  seed: str,
};

/** See lib/config.ts readInferSettings. */
export function readInfer(
  args: string[],
  reader: (flags: FlagValues) => SettingsReader,
): InferSettings {
  const { values, positionals } = parseFlags(args, INFER_FLAGS, "deno task infer");
  const r = reader(values);
  refuseOperatorKey(r, positionals);
  const model = r.text({ flag: "model" }, undefined, "a model's artha://CID, CID or folder");
  if (positionals.length === 0) r.fail("<prompt>", 'is missing (deno task infer --model M "text")');
  const gatewaySource = { flag: "gateway", variable: "ARTHA_GATEWAY" };
  const gatewayName = r.raw(gatewaySource);
  const gateway = gatewayName.text === undefined
    ? undefined
    : r.url(gatewaySource, "", "a coordinator whose /svdb serves the model");
  const cache = r.raw({ flag: "cache", variable: "ARTHA_CACHE_DIR" }).text;
  const settings: InferSettings = {
    model: model ?? "",
    modelPath: r.resolve(model ?? "."),
    prompt: positionals.join(" "),
    gateway,
    gatewayFirst: gatewayName.name === "--gateway",
    storeDir: r.path({ flag: "store", variable: "ARTHA_STORE_DIR" }, `${NETWORK_DIR}/svdb`),
    cacheDir: cache === undefined
      ? undefined
      : r.path({ flag: "cache", variable: "ARTHA_CACHE_DIR" }, ""),
    backend: r.choice(
      { flag: "backend", variable: "ARTHA_INFER_BACKEND" },
      INFER_BACKENDS,
      "auto",
    )!,
    maxTokens: r.int({ flag: "max-tokens" }, 100, 1, 4096)!,
    temperature: r.number({ flag: "temperature" }, 0.8, 0, 10)!,
    topK: r.int({ flag: "top-k" }, 40, 0, 256)!,
    seed: r.int({ flag: "seed" }, 0, 0, 2 ** 32 - 1)!,
  };
  finish(r);
  return settings;
}
