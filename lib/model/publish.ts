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
import { exportOnnx } from "../../kernel/onnx_export.ts";
import type { LoadedModel } from "../../kernel/inference/runtime.ts";
import { decodeCheckpoint } from "./checkpoint.ts";
import type { CID } from "../store/cid.ts";
import { exportHfModelChunks, readHfModel } from "./hf_model.ts";
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
 * Loads a model folder CID, or a checkpoint CID (whose ONNX graph is exported on the fly);
 * `checkFile` may refuse a file the folder links (throw) before it is read.
 *
 * @throws {UnservableModelError} for a checkpoint of a kind with no ONNX export
 */
export async function loadModel(
  store: Store,
  cid: CID | string,
  options: { checkFile?: (cid: CID) => Promise<void> } = {},
): Promise<ModelSource> {
  try {
    const { info: _, ...model } = readHfModel(await getModelFolder(store, cid, options));
    return { ...model, source: "folder" };
  } catch (e) {
    if (!(e instanceof NotAFolderError)) throw e;
  }
  const { config, weights } = decodeCheckpoint(await store.get(cid));
  if (config.kind !== "gpt") throw new UnservableModelError(cid.toString(), config.kind);
  return { config, weights, onnx: exportOnnx(config, weights), source: "checkpoint" };
}
