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
import { isDeepStrictEqual } from "node:util";
import type { Hex } from "viem";
import type { ModelConfig } from "../../kernel/params.ts";
import { JobStatus } from "../chain/contracts.ts";
import { jobStatusName } from "./job_status.ts";
import { merkleRoot } from "../crypto/merkle.ts";
import {
  exportHfModelChunks,
  type FileContent,
  type ModelFiles,
  readHfModel,
  writeModelFiles,
} from "../model/hf_model.ts";
import { fetchModelFolder } from "../model/model_folder.ts";
import { f32Bytes } from "../round/local_training.ts";
import type { Gateway } from "../worker/gateway.ts";
import { jobSpecHash } from "./job_spec.ts";

/**
 * Thrown when a model folder is not the job's: its weights are not the ones the job's last round
 * closed with, its model is not the spec's, or a file is not what those weights export to.
 */
export class ModelMismatchError extends Error {
  readonly code = "MODEL_MISMATCH";
  constructor(readonly cid: string, readonly why: string) {
    super(`Cannot trust model folder ${cid}: ${why}; nothing was written`);
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
 * Thrown when the job has no final model on chain yet: it is not completed (a running job's last
 * closed round is a checkpoint, not its model), or it was abandoned before any round closed.
 */
export class ModelNotReadyError extends Error {
  readonly code = "MODEL_NOT_READY";
  constructor(message: string) {
    super(message);
    this.name = "ModelNotReadyError";
  }
}

/** What the owner knows of its job's model: the chain's last weights digest, the spec's model. */
export interface ExpectedModel {
  /** The digest the job's last round closed with on chain. */
  weightsDigest?: Hex;
  /** The model of the job's spec (whose hash is the job's paramsHash on chain). */
  model?: ModelConfig;
  /** Set when the job was abandoned: the rounds it closed and the rounds its spec planned. */
  cut?: { closed: number; planned: number };
}

/** What the chain records of a job that says which model is its own. */
export interface JobModelFacts {
  /** A JobStatus value. */
  status: number;
  /** Rounds closed on chain. */
  currentRound: number;
  /** Rounds the job runs (cut to the rounds it ran once abandoned). */
  rounds: number;
  paramsHash: Hex;
  latestWeightsDigest: Hex;
}

/**
 * What the chain says the job's model is: its last weights digest, once the job is completed or
 * finalized, and the model of the spec at `specCid` (as the coordinator names it), once that spec
 * hashes to the job's paramsHash. Found in the job owner audit: the status was not read, so while
 * a job ran, a coordinator could hand over an early round's checkpoint, which matched the chain's
 * digest of that round, and the owner got it as the trained model.
 *
 * @throws {ModelNotReadyError} when the job is not completed, or closed no round
 * @throws {ModelMismatchError} when the spec is not the one the job escrowed
 */
export async function expectedModel(
  gateway: Pick<Gateway, "spec">,
  onChain: JobModelFacts,
  specCid: string,
): Promise<ExpectedModel> {
  const done = onChain.status === JobStatus.Completed || onChain.status === JobStatus.Finalized;
  if (!done) {
    throw new ModelNotReadyError(
      `Cannot download the model: the job is ${jobStatusName(onChain.status)} on ` +
        `chain (${onChain.currentRound} of ${onChain.rounds} rounds closed); its model is the ` +
        "last round's, once the job is completed (deno task job status --wait)",
    );
  }
  if (onChain.currentRound === 0) {
    throw new ModelNotReadyError(
      "Cannot download the model: the job was abandoned before any round closed, so it " +
        "trained none",
    );
  }
  const spec = await gateway.spec(specCid);
  if (jobSpecHash(spec).toLowerCase() !== onChain.paramsHash.toLowerCase()) {
    throw new ModelMismatchError(
      specCid,
      `the coordinator names spec ${specCid}, whose hash is not the job's paramsHash on chain`,
    );
  }
  // Abandoned (AIJobManager._abandon): completed with its rounds cut to those it ran, the last
  // one never closed; its weights are those of the last round that closed.
  const cut = onChain.currentRound < onChain.rounds
    ? { cut: { closed: onChain.currentRound, planned: spec.rounds } }
    : {};
  return { weightsDigest: onChain.latestWeightsDigest, model: spec.model, ...cut };
}

/**
 * Downloads the folder `cid` from `gateway` into `out` (replacing an older model folder). With
 * `expect`, before anything is written: the folder's weights must hash to `weightsDigest`, its
 * model must be `model`, and every file must be the one those weights export to. The coordinator
 * names the folder: it could name an untrained model, or ship the trained weights beside a graph
 * (what `deno task infer` and transformers.js run) or a config of its own.
 *
 * @throws {ModelMismatchError} when any of that does not hold
 */
export async function downloadModel(
  gateway: string,
  cid: string,
  out: string,
  expect: ExpectedModel = {},
): Promise<string[]> {
  const files = await fetchModelFolder(gateway, cid);
  if (expect.weightsDigest || expect.model) checkFolder(cid, files, expect);
  const existing = await entries(out);
  if (existing?.length && !existing.includes("config.json")) throw new OutputExistsError(out);
  if (existing) await Deno.remove(out, { recursive: true });
  await writeModelFiles(out, files);
  return Object.keys(files);
}

/** Refuses a folder that is not the export of the expected weights and model (see downloadModel). */
function checkFolder(cid: string, files: ModelFiles, expect: ExpectedModel): void {
  const model = readHfModel(files);
  if (expect.model && !isDeepStrictEqual(model.config, expect.model)) {
    const [got, want] = [model.config, expect.model].map((c) => JSON.stringify(c));
    throw new ModelMismatchError(cid, `its model is ${got}, but the job's spec trains ${want}`);
  }
  if (expect.weightsDigest) {
    const got = merkleRoot(f32Bytes(model.weights));
    const want = expect.weightsDigest.toLowerCase() as Hex;
    if (got.toLowerCase() !== want) {
      throw new ModelMismatchError(
        cid,
        `its weights hash to ${got}, but the job's last round closed on chain with ${want}`,
      );
    }
  }
  // The export is a function of the model, the weights, the provenance and the graph's layout:
  // anything else in the folder (another graph, a tokenizer of its own) is not the job's model.
  const layout = model.info.onnxData ? { maxOnnxBytes: 0 } : { maxOnnxBytes: Infinity };
  const want = exportHfModelChunks(model.config, model.weights, model.info.metadata, layout);
  const names = (o: object) => Object.keys(o).sort().join(", ");
  if (names(files) !== names(want)) {
    throw new ModelMismatchError(cid, `it holds ${names(files)}, not ${names(want)}`);
  }
  for (const [name, content] of Object.entries(want)) {
    if (!sameBytes(files[name]!, content)) {
      throw new ModelMismatchError(cid, `its ${name} is not what the job's weights export to`);
    }
  }
}

/** Whether `bytes` is `content` (one buffer or its chunks back to back). */
function sameBytes(bytes: Uint8Array, content: FileContent): boolean {
  const chunks = Array.isArray(content) ? content : [content];
  if (bytes.length !== chunks.reduce((n, c) => n + c.length, 0)) return false;
  let at = 0;
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) if (bytes[at + i] !== chunk[i]) return false;
    at += chunk.length;
  }
  return true;
}
