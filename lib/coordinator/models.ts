/**
 * Model serving, what /ai/infer, /rpc and /v1/completions share: the check that a CID is a
 * model this coordinator may serve (published in ModelRegistry, or a checkpoint or exported folder
 * of one of its jobs), one loaded backend per CID (cached), generation and scoring.
 *
 * The backend is chosen by kernel/inference/runtime.ts (onnxruntime-node here; override with
 * ARTHA_INFER_BACKEND=ort-web|kernel).
 */
import { isModelPublished } from "../chain/is_model_published.ts";
import { getPublishedModels, type PublishedModel } from "../chain/get_published_models.ts";
import { loadModel, type ModelSource, UnservableModelError } from "../model/publish.ts";
import { FolderTooLargeError, InvalidFolderError } from "../model/model_folder.ts";
import { BlockNotFoundError } from "../store/blockstore.ts";
import { DagTooLargeError, InvalidDagError } from "../store/store.ts";
import { parseCid } from "../store/cid.ts";
import { SafetensorsError } from "../model/tensors.ts";
import { privateFile } from "./svdb_private.ts";
import { decodeBytes, encodeText } from "../../kernel/data.ts";
import { VOCAB } from "../../kernel/params.ts";
import {
  attentionBytes,
  createBackend,
  type DecoderBackend,
  generate,
} from "../../kernel/inference/runtime.ts";
import type { Context } from "./context.ts";
import { reject, RejectedError } from "./result.ts";
import { jobServing, listJobFolders } from "./state.ts";

/** Largest input accepted, in bytes. */
export const MAX_INPUT_BYTES = 16_384;
/** Most tokens (bytes) one request may generate. */
export const MAX_NEW_TOKENS = 1_024;
/** Bytes generated when a request does not say (maxTokens 0 scores the input instead). */
export const DEFAULT_NEW_TOKENS = 32;
/** Largest request body of the inference endpoints. */
export const MAX_INFER_BODY = 64 * 1024;
/**
 * Most bytes of attention scores one generation may hold ({@link attentionBytes}): a model whose
 * maxT needs more is served over fewer positions. Found in the inference audit: anyone may publish
 * a 2.4 MB model of 16384 positions, and scoring 16 KB under it took ~27 GiB, 16 requests at once
 * past any coordinator's memory. At this figure {@link MAX_GENERATIONS} hold ~8 GiB; 8 heads over
 * 2048 positions fit, as do GPT-2's shapes over 1024.
 */
export const MAX_ATTENTION_BYTES = 2 ** 29;

export interface InferParams {
  modelCid: string;
  input: string;
  /** 0: only score the input (mean loss per byte). */
  maxTokens: number;
  temperature: number;
  topK: number;
  seed: number;
}

/** A model loaded for serving. */
/**
 * A loaded model: its backend, and no more. The weights and graph it was built from are not kept
 * (found in the inference audit: kept, each served model held about three times its weights).
 */
export interface ServedModel {
  cid: string;
  backend: DecoderBackend;
  /** Positions served ({@link servingContext}). */
  context: number;
}

export interface Generation {
  modelCid: string;
  backend: string;
  device: string;
  text: string;
  promptTokens: number;
  generatedTokens: number;
  finishReason: "length" | "none";
  /** Positions the model saw at once: its maxT, or fewer past {@link MAX_ATTENTION_BYTES}. A
   * longer prompt keeps its last contextTokens bytes; scoring uses windows of it. */
  contextTokens: number;
  /** Scoring of the input (inputs of 2+ bytes): tokens scored, nats and bits per byte. */
  tokens?: number;
  lossNats?: number;
  bitsPerByte?: number;
  perplexity?: number;
}

/** A published model as ai_models lists it. */
export interface ModelListing {
  cid: string;
  modelId?: string;
  version?: string;
  weightsDigest?: string;
  jobId?: string;
  kind: "published" | "job-folder";
}

/** The inference service of one context. */
export interface Models {
  /** Streams the generated text in UTF-8-safe pieces, then returns the summary. */
  stream(p: InferParams, signal?: AbortSignal): AsyncGenerator<string, Generation>;
  /** The whole generation; `signal` (the request's) ends it when the caller goes away. */
  run(p: InferParams, signal?: AbortSignal): Promise<Generation>;
  list(): Promise<ModelListing[]>;
  /** The CIDs kept loaded, least recently used first (at most {@link MAX_SERVED_MODELS}). */
  loaded(): string[];
}

/** One completion's fixed fields in OpenAI's shape: its id, creation second and model. */
export interface OpenAiCompletionAt {
  id: string;
  created: number;
  model: string;
}

/** An OpenAI `text_completion` object (or stream chunk) carrying `text`. */
export function openAiChoice(at: OpenAiCompletionAt, text: string, finish: string | null) {
  return {
    ...at,
    object: "text_completion",
    choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
  };
}

/** OpenAI's `usage` of a generation (tokens are bytes here). */
export function openAiUsage(g: Generation) {
  return {
    prompt_tokens: g.promptTokens,
    completion_tokens: g.generatedTokens,
    total_tokens: g.promptTokens + g.generatedTokens,
  };
}

/**
 * An error in OpenAI's shape, `{ error: { message, type, param, code } }`, which OpenAI's clients
 * read: `type` is invalid_request_error for a 4xx, server_error otherwise; `code` is ours.
 *
 * @example
 * ```ts
 * import { openAiError } from "./models.ts";
 * const e = openAiError(404, "UNKNOWN_MODEL", "Cannot infer: unknown model");
 * console.assert(e.error.type === "invalid_request_error" && e.error.param === null);
 * ```
 */
export function openAiError(status: number, code: string, message: string) {
  const type = status < 500 ? "invalid_request_error" : "server_error";
  // OpenAI's clients show `param`: the field a 400 names (`Invalid field "top_k": ...`).
  const param = /^Invalid field "([^"]+)"/.exec(message)?.[1] ?? null;
  return { error: { message, type, param, code } };
}

/** OpenAI's model list (`models.list()` of its clients) over the servable models. */
export function openAiModelList(models: ModelListing[], created: number) {
  const data = models.map((m) => ({
    id: m.cid,
    object: "model",
    created,
    owned_by: m.modelId ?? m.jobId ?? "arthatrain",
  }));
  return { object: "list", data };
}

/** The server-sent events of a streamed completion: chunks, the usage and `[DONE]`, an error. */
export function openAiStreamFrames(at: OpenAiCompletionAt) {
  const data = (body: unknown) => `data: ${JSON.stringify(body)}\n\n`;
  return {
    piece: (text: string) => data(openAiChoice(at, text, null)),
    done: (g: Generation) =>
      data({ ...openAiChoice(at, "", g.finishReason), usage: openAiUsage(g) }) + "data: [DONE]\n\n",
    // OpenAI's clients raise on a chunk carrying `error`, in the same shape as a non-2xx body.
    error: (code: string, message: string, status: number) =>
      data(openAiError(status, code, message)),
  };
}

const services = new WeakMap<Context, Models>();

/** The (memoised) inference service of a context. */
export function modelsOf(ctx: Context): Models {
  let m = services.get(ctx);
  if (!m) services.set(ctx, m = createModels(ctx));
  return m;
}

async function isKnownModel(ctx: Context, cid: string): Promise<boolean> {
  // This coordinator's own checkpoints first: a KV read, not a chain call.
  if (await jobServing(ctx.kv, cid) !== undefined) return true;
  const { client, addresses } = ctx.chain;
  return await isModelPublished(client, { addresses, cid });
}

/**
 * Positions `backend` is served over: its maxT, or the most whose attention fits in
 * {@link MAX_ATTENTION_BYTES}, so what one request holds does not grow with a publisher's maxT.
 *
 * @example
 * ```ts
 * import { servingContext } from "./models.ts";
 * const config = { kind: "gpt" as const, maxT: 16384, layers: 1, heads: 8, width: 32 };
 * console.assert(servingContext({ name: "ort-node", config }) === 2048);
 * ```
 */
export function servingContext(backend: Pick<DecoderBackend, "name" | "config">): number {
  let [fits, over] = [1, backend.config.maxT + 1];
  while (over - fits > 1) {
    const mid = Math.floor((fits + over) / 2);
    if (attentionBytes(backend, mid) <= MAX_ATTENTION_BYTES) fits = mid;
    else over = mid;
  }
  return fits;
}

/**
 * The input's mean next-byte loss under the served model, in non-overlapping windows of its
 * served context, through the backend that generates (its own memory, freed with the model).
 * Not the coordinator's training engine: that one kernel keeps a workspace per batch shape it
 * ever sees, so scoring inputs of many lengths through it (an anonymous caller's choice) filled
 * its 4 GiB and left training, validation and disputes unable to run a new shape.
 */
async function score(model: ServedModel, bytes: Uint8Array, signal?: AbortSignal) {
  const { backend } = model;
  const T = Math.min(model.context, bytes.length - 1);
  const windows = Math.floor((bytes.length - 1) / T);
  let sum = 0;
  for (let w = 0; w < windows; w++) {
    signal?.throwIfAborted();
    const at = w * T;
    const { logits } = await backend.step(Array.from(bytes.subarray(at, at + T)), null);
    for (let i = 0; i < T; i++) {
      sum += crossEntropy(logits.subarray(i * VOCAB, (i + 1) * VOCAB), bytes[at + i + 1]!);
    }
  }
  const nats = sum / (windows * T);
  return {
    tokens: windows * T,
    lossNats: nats,
    bitsPerByte: nats / Math.LN2,
    perplexity: Math.exp(nats),
  };
}

/** -log softmax(row)[target], in f64 with the row's max subtracted. */
function crossEntropy(row: Float32Array, target: number): number {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  return Math.log(sum) + max - row[target]!;
}

/**
 * Most models a coordinator keeps loaded. Anyone may ask for any round's checkpoint of any job,
 * each a whole model in memory (a 124M one is 0.5 GB), so the least recently used beyond this
 * are let go (their sessions freed once no generation uses them).
 */
export const MAX_SERVED_MODELS = 4;

/**
 * Most models in memory at once: the kept ones and those let go while generations still use
 * them. Concurrent generations over ever more models are refused past it (503 MODELS_BUSY), or
 * each request would pin one more whole model.
 */
export const MAX_RESIDENT_MODELS = 2 * MAX_SERVED_MODELS;

/** Most CIDs kept as known not to be models (or too large to load). */
export const KEPT_NOT_MODELS = 256;

/** Refusals of a load that the CID's bytes decide, so they are kept rather than tried again. */
const KEPT_CODES = ["NOT_A_MODEL", "MODEL_TOO_LARGE"];

/**
 * Most generations under way at once, over all models: each holds its model and its cache of
 * past tokens (~75 MB at 124M parameters) for as long as its reader takes. Past it, 503
 * GENERATIONS_BUSY: found in the inference audit, streams opened and never read held memory
 * without bound.
 */
export const MAX_GENERATIONS = 16;

/** A loaded (or loading) model and the generations using it. */
interface Loaded {
  model: Promise<ServedModel>;
  users: number;
  evicted: boolean;
}

/** What the serving functions of one context share: the context and its loaded models, least
 * recently used first. */
interface Serving {
  ctx: Context;
  cache: Map<string, Loaded>;
  /** Being loaded: in the cache only once loaded, so a CID that fails to load evicts nothing. */
  loading: Map<string, Loaded>;
  /** Let go from the cache, still used by a generation: in memory until it ends. */
  draining: Set<Loaded>;
  /** Generations under way (at most {@link MAX_GENERATIONS}). */
  active: number;
  /** CIDs found not to be models, and why (a CID's bytes never change): at most
   * {@link KEPT_NOT_MODELS}, oldest dropped first. */
  notModels: Map<string, RejectedError>;
  /** The ModelPublished events read so far, up to block `toBlock` (-1: none read). */
  published: Promise<{ toBlock: bigint; models: PublishedModel[] }>;
  /** Chain reads of whether a CID is published, under way (at most {@link MAX_MODEL_CHECKS}). */
  checking: number;
}

/**
 * Most publication checks (a chain read each) under way at once: found in the inference audit,
 * a flood of made-up CIDs made one RPC call each, before any other limit, and spent the
 * coordinator's RPC quota that its round closes and challenges need.
 */
export const MAX_MODEL_CHECKS = 8;

function createModels(ctx: Context): Models {
  const serving: Serving = {
    ctx,
    cache: new Map(),
    loading: new Map(),
    draining: new Set(),
    active: 0,
    notModels: new Map(),
    published: Promise.resolve({ toBlock: -1n, models: [] }),
    checking: 0,
  };
  return {
    stream: (p, signal) => streamGeneration(serving, p, signal),
    run: (p, signal) => runGeneration(serving, p, signal),
    list: () => listModels(serving),
    loaded: () => [...serving.cache.keys()],
  };
}

/**
 * The served model of `cid` for one generation, loaded once while it stays among the
 * {@link MAX_SERVED_MODELS} most recently used (a failed load is retried next time); give it
 * back with {@link releaseServed}.
 */
function acquireServed(serving: Serving, cid: string): Loaded {
  const { cache, loading } = serving;
  const entry = cache.get(cid) ?? loading.get(cid) ?? startLoad(serving, cid);
  if (cache.delete(cid)) cache.set(cid, entry); // now the most recently used
  entry.users++;
  return entry;
}

/**
 * Loads `cid` into the cache. Found in the inference audit: an entry took its place before its
 * load, so requests for published CIDs missing from the store (a 404 each) evicted loaded models.
 */
function startLoad(serving: Serving, cid: string): Loaded {
  const { cache, draining, loading } = serving;
  // Loads take the room above the kept models, never a kept model's place: found reviewing the
  // cache fix, enough concurrent requests for published CIDs missing from the store filled the
  // resident cap with loads, and each one past it evicted a loaded model before failing.
  if (loading.size >= MAX_RESIDENT_MODELS - MAX_SERVED_MODELS) {
    const why = `Cannot infer: ${loading.size} models are being loaded; retry shortly, or ask ` +
      "for a loaded model";
    throw new RejectedError(reject(503, "MODELS_BUSY", why));
  }
  if (draining.size + cache.size + loading.size >= MAX_RESIDENT_MODELS) {
    const idle = [...cache].find(([, e]) => e.users === 0);
    if (!idle) {
      const why = `Cannot infer: ${MAX_RESIDENT_MODELS} models are loaded and in use; ` +
        "retry when a generation has ended, or ask for a loaded model";
      throw new RejectedError(reject(503, "MODELS_BUSY", why));
    }
    evictServed(serving, idle[0]); // else the load would pass the resident cap
  }
  const loaded: Loaded = { model: loadChecked(serving.ctx, cid), users: 0, evicted: false };
  loading.set(cid, loaded);
  loaded.model.then(() => {
    loading.delete(cid);
    cache.set(cid, loaded);
    while (cache.size > MAX_SERVED_MODELS) {
      // The least recently used idle one goes first: it is freed at once.
      const idle = [...cache].find(([, e]) => e.users === 0);
      evictServed(serving, (idle ?? cache.entries().next().value!)[0]);
    }
  }, (e) => {
    loading.delete(cid);
    if (e instanceof RejectedError && KEPT_CODES.includes(e.rejection.code)) {
      serving.notModels.set(cid, e);
      if (serving.notModels.size > KEPT_NOT_MODELS) {
        serving.notModels.delete(serving.notModels.keys().next().value!);
      }
    }
  });
  return loaded;
}

function evictServed(serving: Serving, cid: string): void {
  const e = serving.cache.get(cid)!;
  serving.cache.delete(cid);
  e.evicted = true;
  if (e.users === 0) disposeServed(e);
  else serving.draining.add(e);
}

function releaseServed(serving: Serving, entry: Loaded): void {
  if (--entry.users === 0 && entry.evicted) {
    serving.draining.delete(entry);
    disposeServed(entry);
  }
}

function disposeServed(entry: Loaded): void {
  entry.model.then((m) => m.backend.dispose(), () => {});
}

/** Loads `cid` and its backend (a CID {@link checkServable} let through). */
async function loadChecked(ctx: Context, cid: string): Promise<ServedModel> {
  let source: ModelSource;
  try {
    // A folder is anyone's to publish, and may link a job's private file as its weights.
    const checkFile = async (file: { toString(): string }) => {
      if (await privateFile(ctx, file.toString())) {
        const why = `Cannot infer: ${cid} links private data ${file}`;
        throw new RejectedError(reject(403, "PRIVATE_FILE", why));
      }
    };
    source = await loadModel(ctx.store, cid, { checkFile });
  } catch (e) {
    if (e instanceof BlockNotFoundError) {
      const why = `Cannot infer: model ${cid} is not in this store`;
      throw new RejectedError(reject(404, "MODEL_NOT_STORED", why));
    }
    // Anyone may publish any CID: what is not a model is the asker's error, not the server's.
    // Each of these is what the CID's bytes are, so the answer is kept (startLoad); found in
    // the inference audit: all but the first were a 500 and the whole read again each request.
    const notModel = e instanceof SafetensorsError || e instanceof InvalidFolderError ||
      e instanceof InvalidDagError || e instanceof UnservableModelError;
    if (notModel) {
      const why = `Cannot infer: ${cid} is not a model this coordinator serves: ${e.message}`;
      throw new RejectedError(reject(422, "NOT_A_MODEL", why));
    }
    if (e instanceof FolderTooLargeError || e instanceof DagTooLargeError) {
      const why = `Cannot infer: ${cid} is larger than this coordinator loads: ${e.message}`;
      throw new RejectedError(reject(413, "MODEL_TOO_LARGE", why));
    }
    throw e;
  }
  const backend = await createBackend(source, { backend: ctx.config.inferBackend });
  return { cid, backend, context: servingContext(backend) };
}

/**
 * Throws unless `cid` is a model this coordinator may serve: published, or a checkpoint or model
 * folder of one of its jobs, and no private file.
 */
/** {@link checkServable}, at most {@link MAX_MODEL_CHECKS} at once (then 503). */
async function checkBounded(serving: Serving, cid: string): Promise<void> {
  if (serving.checking >= MAX_MODEL_CHECKS) {
    const why = `Cannot infer: ${MAX_MODEL_CHECKS} model lookups are under way; retry shortly`;
    throw new RejectedError(reject(503, "LOOKUPS_BUSY", why));
  }
  serving.checking++;
  try {
    await checkServable(serving.ctx, cid);
  } finally {
    serving.checking--;
  }
}

async function checkServable(ctx: Context, cid: string): Promise<void> {
  if (!await isKnownModel(ctx, cid)) {
    const why = "Cannot infer: CID is not a published model or a known checkpoint";
    throw new RejectedError(reject(404, "UNKNOWN_MODEL", why));
  }
  // Anyone may publish any CID, a job's private update or shard among them: serving one (or a
  // decoder's complaint about its first bytes) would publish it.
  if (await privateFile(ctx, cid)) {
    throw new RejectedError(reject(403, "PRIVATE_FILE", `Cannot infer: ${cid} is private data`));
  }
}

async function* streamGeneration(
  serving: Serving,
  p: InferParams,
  signal?: AbortSignal,
): AsyncGenerator<string, Generation> {
  const bytes = encodeText(p.input);
  if (p.maxTokens === 0 && bytes.length < 2) {
    const why = "Cannot infer: input needs at least 2 bytes to score (or maxTokens > 0)";
    throw new RejectedError(reject(400, "INPUT_TOO_SHORT", why));
  }
  // Found in the inference audit: a published file that is no model was read in full on every
  // request. What a CID's bytes are never changes, so the answer is kept.
  const notModel = serving.notModels.get(p.modelCid);
  if (notModel) throw notModel;
  // Checked before it is loaded: a CID nobody may serve must not take a resident model's place.
  const held = serving.cache.has(p.modelCid) || serving.loading.has(p.modelCid);
  if (!held) await checkBounded(serving, p.modelCid);
  if (serving.active >= MAX_GENERATIONS) {
    const why = `Cannot infer: ${MAX_GENERATIONS} generations are under way; retry shortly`;
    throw new RejectedError(reject(503, "GENERATIONS_BUSY", why));
  }
  serving.active++;
  try {
    const entry = acquireServed(serving, p.modelCid);
    try {
      return yield* generateWith(await entry.model, p, bytes, signal);
    } finally {
      releaseServed(serving, entry);
    }
  } finally {
    serving.active--;
  }
}

async function* generateWith(
  model: ServedModel,
  p: InferParams,
  bytes: Uint8Array,
  signal?: AbortSignal,
): AsyncGenerator<string, Generation> {
  const scored = bytes.length >= 2 ? await score(model, bytes, signal) : {};
  const out: number[] = [];
  const decoder = new TextDecoder();
  if (p.maxTokens > 0) {
    for await (
      const t of generate(model.backend, bytes, { ...p, context: model.context, signal })
    ) {
      out.push(t);
      const piece = decoder.decode(new Uint8Array([t]), { stream: true });
      if (piece) yield piece;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  }
  return {
    modelCid: p.modelCid,
    backend: model.backend.name,
    device: model.backend.device,
    text: decodeBytes(new Uint8Array(out)),
    promptTokens: bytes.length,
    generatedTokens: out.length,
    finishReason: p.maxTokens > 0 ? "length" : "none",
    contextTokens: model.context,
    ...scored,
  };
}

async function runGeneration(
  serving: Serving,
  p: InferParams,
  signal?: AbortSignal,
): Promise<Generation> {
  const it = streamGeneration(serving, p, signal);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
  }
}

/**
 * Every published model: the events of the blocks mined since the last call added to those read
 * before, one call at a time. Found in the node routes audit: every GET /v1/models (and each of
 * 16 `ai_models` calls in one /rpc batch) scanned all ModelPublished events from block 0, which
 * anyone may add to for a transaction each.
 */
async function publishedModels(serving: Serving): Promise<PublishedModel[]> {
  const { client, addresses } = serving.ctx.chain;
  let failure: unknown;
  const next = serving.published.then(async (known) => {
    try {
      const head = await client.getBlockNumber({ cacheTime: 0 });
      if (head <= known.toBlock) return known;
      const range = { fromBlock: known.toBlock + 1n, toBlock: head };
      const more = await getPublishedModels(client, { addresses, ...range });
      return { toBlock: head, models: [...known.models, ...more] };
    } catch (e) {
      failure = e;
      return known;
    }
  });
  serving.published = next;
  const { models } = await next;
  if (failure) throw failure;
  return models;
}

async function listModels(serving: Serving): Promise<ModelListing[]> {
  const { ctx } = serving;
  // This coordinator's own job folders first, each once: found in the inference audit, anyone's
  // model (publishing is open, and a model's jobId is not checked) listing a job's folder CID
  // replaced the job's row, which then showed the stranger's model as its owner.
  const out: ModelListing[] = [];
  const listed = new Set<string>();
  for (const j of await listJobFolders(ctx.kv)) {
    if (listed.has(j.cid)) continue;
    listed.add(j.cid);
    out.push({ cid: j.cid, jobId: j.jobId, kind: "job-folder" });
  }
  for (const m of await publishedModels(serving)) {
    // A published string that is no CID (anyone may publish one) names nothing to serve.
    if (listed.has(m.cid) || !isCid(m.cid)) continue;
    listed.add(m.cid);
    const version = m.version?.toString();
    out.push({
      cid: m.cid,
      modelId: m.modelId,
      version,
      weightsDigest: m.weightsDigest,
      kind: "published",
    });
  }
  return out;
}

function isCid(text: string): boolean {
  try {
    parseCid(text);
    return true;
  } catch {
    return false;
  }
}
