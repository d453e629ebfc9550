/**
 * Model serving, what /ai/infer, /rpc and /v1/completions share: one inference service per
 * context, which checks that a CID is a model this coordinator may serve (published in
 * ModelRegistry, or a checkpoint or exported folder of one of its jobs), keeps a few loaded
 * (lib/coordinator/_model_cache.ts), bounds what each client may ask (model_limits.ts),
 * generates, and scores when asked. The listing is model_listing.ts, the OpenAI shapes
 * model_openai.ts.
 *
 * The backend is chosen by kernel/inference/runtime.ts (onnxruntime-node here; override with
 * ARTHA_INFER_BACKEND=ort-web|kernel).
 */
import { decodeBytes, encodeText } from "../../kernel/data.ts";
import { VOCAB } from "../../kernel/params.ts";
import { generate } from "../../kernel/inference/runtime.ts";
import type { Context } from "./context.ts";
import { reject, RejectedError } from "./result.ts";
import { type PrivateFile, privateKey } from "./svdb_private.ts";
import {
  acquireServed,
  checkBounded,
  createServing,
  MAX_GENERATIONS,
  releaseServed,
  type ServedModel,
  type Serving,
  throwIfUnservable,
} from "./_model_cache.ts";
import { DEFAULT_INFER_LIMITS, type InferLimits, RetryLaterError } from "./model_limits.ts";
import { getListedModel, listModels, type ListPage, type ModelListing } from "./model_listing.ts";

export {
  KEPT_NOT_MODELS,
  MAX_ATTENTION_BYTES,
  MAX_GENERATIONS,
  MAX_MODEL_CHECKS,
  MAX_RESIDENT_MODELS,
  MAX_SERVED_MODELS,
  type ServedModel,
  servingContext,
} from "./_model_cache.ts";

/** Largest input accepted, in bytes. */
export const MAX_INPUT_BYTES = 16_384;
/** Most tokens (bytes) one request may generate. */
export const MAX_NEW_TOKENS = 1_024;
/** Bytes generated when a request does not say (maxTokens 0 scores the input instead). */
export const DEFAULT_NEW_TOKENS = 32;
/** Largest request body of the inference endpoints. */
export const MAX_INFER_BODY = 64 * 1024;
/** What an empty prompt starts from: a byte-level model has no start token, and a document
 * most often starts after a newline. */
const EMPTY_PROMPT = new Uint8Array([10]);

export interface InferParams {
  /** The model's CID, as CIDv1 (base32): one spelling a model, for caching and lookups. */
  modelCid: string;
  /**
   * The CID as the caller spelled it, when another spelling: ModelRegistry keys a model by the
   * text its publisher gave, so the registry is asked under it too.
   */
  spelledAs?: string;
  /** The prompt; empty only where a route allows it (OpenAI's completions do). */
  input: string;
  /** 0: only score the input (mean loss per byte). */
  maxTokens: number;
  temperature: number;
  topK: number;
  seed: number;
  /** Score the input too (always when maxTokens is 0). */
  score?: boolean;
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
  /** Scoring of the input, when asked: tokens scored, nats and bits per byte. */
  tokens?: number;
  lossNats?: number;
  bitsPerByte?: number;
  perplexity?: number;
}

/** Who asks, and until when: the request's signal, and its client (model_limits.ts clientKeyOf). */
export interface InferCaller {
  signal?: AbortSignal;
  /** The client's key; undefined: only the global limits apply. */
  client?: string;
}

/** The inference service of one context. */
export interface Models {
  /** Streams the generated text in UTF-8-safe pieces, then returns the summary. */
  stream(p: InferParams, signal?: AbortSignal, client?: string): AsyncGenerator<string, Generation>;
  /** The whole generation; `signal` (the request's) ends it when the caller goes away. */
  run(p: InferParams, signal?: AbortSignal, client?: string): Promise<Generation>;
  /** A page of the servable models (model_listing.ts listModels). */
  list(page?: ListPage): Promise<ModelListing[]>;
  /** The listed model of `cid`, if any. */
  get(cid: string): Promise<ModelListing | undefined>;
  /** The CIDs kept loaded, least recently used first (at most {@link MAX_SERVED_MODELS}). */
  loaded(): string[];
  /** The limits in force; change them in place (tests, a deployment's settings). */
  limits: InferLimits;
}

const services = new WeakMap<Context, Models>();

/** The (memoised) inference service of a context. */
export function modelsOf(ctx: Context): Models {
  let m = services.get(ctx);
  if (!m) services.set(ctx, m = createModels(ctx));
  return m;
}

function createModels(ctx: Context): Models {
  const serving = createServing(ctx, { ...DEFAULT_INFER_LIMITS, ...ctx.config.inferLimits });
  return {
    stream: (p, signal, client) => streamGeneration(serving, p, { signal, client }),
    run: (p, signal, client) => runGeneration(serving, p, { signal, client }),
    list: (page) => listModels(ctx, page),
    get: (cid) => getListedModel(ctx, cid),
    loaded: () => [...serving.cache.keys()],
    limits: serving.limits,
  };
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

/** Whether `p` asks for its input's score: maxTokens 0 does, else the `score` flag. */
function wantsScore(p: InferParams): boolean {
  return p.maxTokens === 0 || p.score === true;
}

async function* streamGeneration(
  serving: Serving,
  p: InferParams,
  caller: InferCaller,
): AsyncGenerator<string, Generation> {
  const bytes = encodeText(p.input);
  if (wantsScore(p) && bytes.length < 2) {
    const why = "Cannot infer: input needs at least 2 bytes to score (or maxTokens > 0)";
    throw new RejectedError(reject(400, "INPUT_TOO_SHORT", why));
  }
  throwIfUnservable(serving, p.modelCid, p.spelledAs);
  // Per client before the global caps, so one client cannot take every slot.
  const leave = serving.clients.enter(caller.client);
  // Checked before it is loaded: a CID nobody may serve must not take a resident model's place.
  const cold = !serving.cache.has(p.modelCid) && !serving.loading.has(p.modelCid);
  try {
    if (cold) {
      serving.clients.spendCold(caller.client);
      await checkBounded(serving, p.modelCid, p.spelledAs);
    }
    return yield* generateCounted(serving, p, bytes, caller);
  } catch (e) {
    // Our own 503 (busy: nothing was loaded) costs the client nothing: found reviewing the
    // limits, a client retrying as its Retry-After said spent its budget on them, then got 429.
    const busy = e instanceof RetryLaterError && e.rejection.status === 503;
    if (cold && busy) serving.clients.refundCold(caller.client);
    throw e;
  } finally {
    leave();
  }
}

/**
 * Refuses a served model that is private data now, or links a file that is. Checked at its load
 * only, a model made private since (a job's data uploaded privately over its bytes or its folder's
 * weights) was served until evicted (found in the inference audit).
 */
async function refusePrivate(ctx: Context, model: ServedModel): Promise<void> {
  // Ten records a read (KV's most): a published folder may link thousands of files.
  const cids = [model.cid, ...model.files];
  for (let i = 0; i < cids.length; i += 10) {
    const batch = cids.slice(i, i + 10);
    const found = await ctx.kv.getMany<PrivateFile[]>(batch.map(privateKey));
    const at = found.findIndex((e) => e.value !== null);
    if (at < 0) continue;
    const cid = batch[at]!;
    const why = cid === model.cid
      ? `Cannot infer: ${cid} is private data`
      : `Cannot infer: ${model.cid} links private data ${cid}`;
    throw new RejectedError(reject(403, "PRIVATE_FILE", why));
  }
}

/** The generation, counted among the {@link MAX_GENERATIONS} under way. */
async function* generateCounted(
  serving: Serving,
  p: InferParams,
  bytes: Uint8Array,
  caller: InferCaller,
): AsyncGenerator<string, Generation> {
  if (serving.active >= MAX_GENERATIONS) {
    const why = `Cannot infer: ${MAX_GENERATIONS} generations are under way; retry shortly`;
    throw new RetryLaterError(503, "GENERATIONS_BUSY", why, 1);
  }
  serving.active++;
  try {
    const entry = acquireServed(serving, p.modelCid, caller.client);
    try {
      const model = await entry.model;
      await refusePrivate(serving.ctx, model);
      return yield* generateWith(model, p, bytes, caller.signal);
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
  // Only when asked: found in the inference audit, every request scored its whole prompt (a
  // 16 KB one ran ~16 times the prefill it needed) and a stream sent nothing until it ended.
  const scored = wantsScore(p) ? await score(model, bytes, signal) : {};
  const out: number[] = [];
  const decoder = new TextDecoder();
  if (p.maxTokens > 0) {
    const prompt = bytes.length > 0 ? bytes : EMPTY_PROMPT;
    for await (
      const t of generate(model.backend, prompt, { ...p, context: model.context, signal })
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
  caller: InferCaller,
): Promise<Generation> {
  const it = streamGeneration(serving, p, caller);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
  }
}
