/**
 * Exporting a trained checkpoint as the published model: the Hugging Face-style folder
 * (lib/model/hf_model.ts) stored in SVDB as one UnixFS directory, and loading any model CID back for
 * inference, whether it names such a folder or a bare checkpoint (exported in memory).
 *
 * @example
 * ```ts
 * import { exportModelFolder, loadModel } from "./publish.ts";
 * import { MemoryBlockstore } from "../store/memory_blockstore.ts";
 * import { Store } from "../store/store.ts";
 * import { paramLayout } from "../../kernel/params.ts";
 * const store = new Store(new MemoryBlockstore());
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const cid = await exportModelFolder(store, config, new Float32Array(paramLayout(config).size));
 * console.assert((await loadModel(store, cid)).source === "folder");
 * ```
 */
import type { ModelConfig } from "../../kernel/params.ts";
import { exportOnnx, exportOnnxExternal } from "../../kernel/onnx_export.ts";
import { concatBytes } from "../crypto/digest.ts";
import type { LoadedModel } from "../../kernel/inference/runtime.ts";
import { decodeCheckpoint } from "./checkpoint.ts";
import type { CID } from "../store/cid.ts";
import { exportHfModelChunks, ONNX_PROTOBUF_LIMIT, readHfModel } from "./hf_model.ts";
import { getModelFolder, NotAFolderError, putModelFolder } from "./model_folder.ts";
import type { Store } from "../store/store.ts";

/**
 * Exports weights as the HF folder, stores it in SVDB, and returns the folder's CID. Past 2 GB
 * the graph's weights are external data (hf_model.ts); files past 2 GiB are refused here until
 * putModelFolder takes chunk lists.
 */
export async function exportModelFolder(
  store: Store,
  config: ModelConfig,
  weights: Float32Array,
  metadata: Record<string, string> = {},
): Promise<CID> {
  return await putModelFolder(store, exportHfModelChunks(config, weights, metadata));
}

/** Thrown when a CID holds a model of a kind inference cannot run (no ONNX export). */
export class UnservableModelError extends Error {
  readonly code = "UNSERVABLE_MODEL";
  constructor(readonly cid: string, readonly kind: string) {
    super(`Cannot load ${cid}: a ${kind} model has no ONNX export; only "gpt" models are served`);
    this.name = "UnservableModelError";
  }
}

/** A model ready for a backend, and what the CID named. */
export interface ModelSource extends LoadedModel {
  source: "folder" | "checkpoint";
}

/**
 * Loads a model folder CID, or a checkpoint CID; `checkFile` may refuse a file the folder links
 * (throw) before it is read. Either way the ONNX graph served is exported here from the weights,
 * never the folder's own `onnx/model.onnx`: anyone may publish a folder, and its graph is a
 * program onnxruntime runs natively. Found in the inference audit: a graph whose initializer was
 * "external data" named a file under the coordinator's working directory (its KV, its SVDB
 * blocks, key files), and greedy generation returned that file's bytes as text; a graph exported
 * from other weights than the folder's safetensors (which its published digest names) was served
 * as the model.
 *
 * @throws {UnservableModelError} for a checkpoint of a kind with no ONNX export
 */
export async function loadModel(
  store: Store,
  cid: CID | string,
  options: { checkFile?: (cid: CID) => Promise<void> } = {},
): Promise<ModelSource> {
  try {
    const { config, weights } = readHfModel(await getModelFolder(store, cid, options));
    return { config, weights, ...graphOf(config, weights), source: "folder" };
  } catch (e) {
    if (!(e instanceof NotAFolderError)) throw e;
  }
  const { config, weights } = decodeCheckpoint(await store.get(cid));
  if (config.kind !== "gpt") throw new UnservableModelError(cid.toString(), config.kind);
  return { config, weights, ...graphOf(config, weights), source: "checkpoint" };
}

/**
 * The graph of `weights`: embedded, or with its weights as external data held in memory when the
 * embedded graph would pass protobuf's limit (the rule exportHfModelChunks writes folders by).
 */
function graphOf(
  config: ModelConfig,
  weights: Float32Array,
): Pick<ModelSource, "onnx" | "onnxData"> {
  const path = "model.onnx_data";
  const external = exportOnnxExternal(config, weights, path); // views of the weights: cheap
  if (external.model.length + weights.byteLength <= ONNX_PROTOBUF_LIMIT) {
    return { onnx: exportOnnx(config, weights) };
  }
  return { onnx: external.model, onnxData: [{ path, data: concatBytes(...external.data) }] };
}
