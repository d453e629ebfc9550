/**
 * A finalized job's model on the owner's disk (`deno task job model`): the Hugging Face-style
 * folder the coordinator exported at finalize, downloaded through its SVDB gateway with every
 * block and file checked against its CID, and written to a folder `deno task infer --model`
 * and transformers.js load as it is.
 *
 * @example
 * ```ts ignore
 * import { downloadModel } from "./job_model.ts";
 * const files = await downloadModel("http://127.0.0.1:8787", job.modelFolderCid!, ".artha/model");
 * ```
 */
import type { Hex } from "viem";
import { merkleRoot } from "../crypto/merkle.ts";
import { readHfModel, writeModelFiles } from "../model/hf_model.ts";
import { fetchModelFolder } from "../model/model_folder.ts";
import { f32Bytes } from "../round/local_training.ts";

/** Thrown when a model folder's weights are not the ones the job's last round closed with. */
export class ModelMismatchError extends Error {
  readonly code = "MODEL_MISMATCH";
  constructor(readonly cid: string, readonly got: Hex, readonly want: Hex) {
    super(
      `Cannot trust model folder ${cid}: its weights hash to ${got}, but the job's last round ` +
        `closed on chain with ${want}; nothing was written`,
    );
    this.name = "ModelMismatchError";
  }
}

/** Thrown when `out` exists but does not hold a model folder (nothing is overwritten). */
export class OutputExistsError extends Error {
  readonly code = "OUTPUT_EXISTS";
  constructor(readonly path: string) {
    super(`Cannot write the model to ${path}: it exists and is not a model folder; choose --out`);
    this.name = "OutputExistsError";
  }
}

async function entries(dir: string): Promise<string[] | undefined> {
  try {
    return await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (e instanceof Deno.errors.NotADirectory) return [dir]; // a file: not a model folder
    throw e;
  }
}

/**
 * Downloads the folder `cid` from `gateway` into `out` (replacing an older model folder). With
 * `weightsDigest` (the job's latest on chain), the folder's weights must hash to it before
 * anything is written: the coordinator names the folder, and could name an untrained model.
 *
 * @throws {ModelMismatchError} when they do not
 */
export async function downloadModel(
  gateway: string,
  cid: string,
  out: string,
  expect: { weightsDigest?: Hex } = {},
): Promise<string[]> {
  const files = await fetchModelFolder(gateway, cid);
  if (expect.weightsDigest) {
    const got = merkleRoot(f32Bytes(readHfModel(files).weights));
    const want = expect.weightsDigest.toLowerCase() as Hex;
    if (got.toLowerCase() !== want) throw new ModelMismatchError(cid, got, want);
  }
  const existing = await entries(out);
  if (existing?.length && !existing.includes("config.json")) throw new OutputExistsError(out);
  if (existing) await Deno.remove(out, { recursive: true });
  await writeModelFiles(out, files);
  return Object.keys(files);
}
