/**
 * The loaded models of one inference service: the check that a CID may be served, one load per
 * CID, the least recently used let go past {@link MAX_SERVED_MODELS}, and the answers kept for
 * CIDs that are no servable model. Private to lib/coordinator/models.ts.
 *
 * @module
 */
import { InferenceLane, inLane } from "./_inference_lane.ts";
import { isModelPublished } from "../chain/is_model_published.ts";
import { loadModel, type ModelSource, UnservableModelError } from "../model/publish.ts";
import { FolderTooLargeError, InvalidFolderError } from "../model/model_folder.ts";
import { BlockNotFoundError } from "../store/blockstore.ts";
import { DagTooLargeError, InvalidDagError } from "../store/store.ts";
import { SafetensorsError } from "../model/tensors.ts";
import { canonicalCid, privateFile } from "./svdb_private.ts";
import {
  attentionBytes,
  createBackend,
  type DecoderBackend,
} from "../../kernel/inference/runtime.ts";
import type { Context } from "./context.ts";
import { reject, RejectedError } from "./result.ts";
import { jobServing } from "./state.ts";
import { ClientLimits, type InferLimits, RetryLaterError } from "./model_limits.ts";

/**
 * Most bytes of attention scores one generation may hold ({@link attentionBytes}): a model whose
 * maxT needs more is served over fewer positions. Found in the inference audit: anyone may publish
 * a 2.4 MB model of 16384 positions, and scoring 16 KB under it took ~27 GiB, 16 requests at once
 * past any coordinator's memory. At this figure {@link MAX_GENERATIONS} hold ~8 GiB; 8 heads over
 * 2048 positions fit, as do GPT-2's shapes over 1024.
 */
export const MAX_ATTENTION_BYTES = 2 ** 29;

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

/** Most CIDs kept for a while as not servable (unknown, not stored, private). */
const KEPT_UNSERVABLE = 4_096;

/** Refusals of a load that the CID's bytes decide, so they are kept rather than tried again. */
const KEPT_CODES = ["NOT_A_MODEL", "MODEL_TOO_LARGE"];

/** Refusals that may change (a publication, an upload, a grant), so kept only for a while. */
const BRIEF_CODES = ["UNKNOWN_MODEL", "MODEL_NOT_STORED", "PRIVATE_FILE"];

/**
 * Most generations under way at once, over all models: each holds its model and its cache of
 * past tokens (~75 MB at 124M parameters) for as long as its reader takes. Past it, 503
 * GENERATIONS_BUSY: found in the inference audit, streams opened and never read held memory
 * without bound.
 */
export const MAX_GENERATIONS = 16;

/**
 * Most publication checks (a chain read each) under way at once: found in the inference audit,
 * a flood of made-up CIDs made one RPC call each, before any other limit, and spent the
 * coordinator's RPC quota that its round closes and challenges need.
 */
export const MAX_MODEL_CHECKS = 8;

/**
 * A loaded model: its backend, and no more. The weights and graph it was built from are not kept
 * (found in the inference audit: kept, each served model held about three times its weights).
 */
export interface ServedModel {
  cid: string;
  backend: DecoderBackend;
  /** Positions served ({@link servingContext}). */
  context: number;
  /** The files its folder links (checked for a private record at load, and at each use). */
  files: string[];
}

/** A loaded (or loading) model and the generations using it. */
export interface Loaded {
  model: Promise<ServedModel>;
  users: number;
  evicted: boolean;
  /** The client whose request loaded it, and when it was loaded (ms; the request's time until
   * the load ends). */
  client?: string;
  since: number;
}

/** What the serving functions of one context share: the context and its loaded models, least
 * recently used first. */
export interface Serving {
  ctx: Context;
  limits: InferLimits;
  clients: ClientLimits;
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
  /** CIDs found not servable for now, and until when (ms) that answer is given again. */
  unservable: Map<string, { error: RejectedError; until: number }>;
  /** Chain reads of whether a CID is published, under way (at most {@link MAX_MODEL_CHECKS}). */
  checking: number;
  /** Every served model's forward passes, one at a time, with a turn of the loop between. */
  lane: InferenceLane;
}

/** The serving state of a context, with no model loaded. */
export function createServing(ctx: Context, limits: InferLimits): Serving {
  return {
    ctx,
    limits,
    clients: new ClientLimits(limits, () => ctx.now()),
    cache: new Map(),
    loading: new Map(),
    draining: new Set(),
    active: 0,
    notModels: new Map(),
    unservable: new Map(),
    checking: 0,
    lane: new InferenceLane(),
  };
}

/**
 * Positions `backend` is served over: its maxT, or the most whose attention fits in
 * {@link MAX_ATTENTION_BYTES}, so what one request holds does not grow with a publisher's maxT.
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
 * Throws the answer kept for `cid` if it is known not to be servable. Found in the inference
 * audit: a published file that is no model was read in full on every request, and every request
 * naming an unknown CID made a chain read, at any rate; the first kind is kept for good (a CID's
 * bytes never change), the second for {@link InferLimits.unservableTtlMs}.
 */
export function throwIfUnservable(serving: Serving, cid: string, spelledAs?: string): void {
  const kept = serving.notModels.get(cid);
  if (kept) throw kept;
  for (const key of spelledAs ? [spelledAs, cid] : [cid]) {
    const brief = serving.unservable.get(key);
    if (!brief) continue;
    if (brief.until <= serving.ctx.now()) {
      serving.unservable.delete(key);
      continue;
    }
    // Whether a CID is published depends on the spelling the registry was given: found reviewing
    // the spelling change, a 404 kept for base32 answered a base36 request for 30 s.
    if (key !== (spelledAs ?? cid) && brief.error.rejection.code === "UNKNOWN_MODEL") continue;
    throw brief.error;
  }
}

/** Keeps a refusal of `cid` (an unknown model's under the spelling it was asked in). */
function keepRefusal(serving: Serving, cid: string, e: unknown, spelledAs?: string): void {
  if (!(e instanceof RejectedError)) return;
  if (KEPT_CODES.includes(e.rejection.code)) {
    serving.notModels.set(cid, e);
    if (serving.notModels.size > KEPT_NOT_MODELS) {
      serving.notModels.delete(serving.notModels.keys().next().value!);
    }
  } else if (BRIEF_CODES.includes(e.rejection.code)) {
    const until = serving.ctx.now() + serving.limits.unservableTtlMs;
    const key = e.rejection.code === "UNKNOWN_MODEL" ? spelledAs ?? cid : cid;
    serving.unservable.set(key, { error: e, until });
    if (serving.unservable.size > KEPT_UNSERVABLE) {
      serving.unservable.delete(serving.unservable.keys().next().value!);
    }
  }
}

/**
 * The served model of `cid` for one generation of `client`, loaded once while it stays among the
 * {@link MAX_SERVED_MODELS} most recently used (a failed load is retried next time); give it
 * back with {@link releaseServed}.
 */
export function acquireServed(serving: Serving, cid: string, client?: string): Loaded {
  const { cache, loading } = serving;
  const entry = cache.get(cid) ?? loading.get(cid) ?? startLoad(serving, cid, client);
  if (cache.delete(cid)) cache.set(cid, entry); // now the most recently used
  entry.users++;
  return entry;
}

/**
 * Milliseconds until `client`'s load may evict `e`: a model stays {@link
 * InferLimits.minResidenceMs} before another client's load takes its place. Found in the
 * inference audit: cycling five checkpoints reloaded a whole model per request (1-2 s of CPU and
 * event-loop stalls each), and made every other user of those models reload them too.
 */
function evictableIn(serving: Serving, e: Loaded, client: string | undefined): number {
  if (e.client === client || !protectedEntries(serving).has(e)) return 0;
  return Math.max(0, e.since + serving.limits.minResidenceMs - serving.ctx.now());
}

/**
 * The kept models a load may not evict yet: each client's newest while it is younger than
 * {@link InferLimits.minResidenceMs}, at most all kept models but one, the newest first. Found
 * reviewing the residence rule: every load was protected, so four clients (four /64s, one /48)
 * loading a model each every 50 s, evicting their own, kept every slot young and every other
 * client out for good; now one slot can always be taken, and a client cycling models protects
 * only its newest.
 */
function protectedEntries(serving: Serving): Set<Loaded> {
  const now = serving.ctx.now();
  const young = [...serving.cache.values()]
    .filter((e) => now - e.since < serving.limits.minResidenceMs)
    .sort((a, b) => b.since - a.since);
  const out = new Set<Loaded>();
  const clients = new Set<string | undefined>();
  for (const e of young) {
    if (out.size >= MAX_SERVED_MODELS - 1) break;
    if (clients.has(e.client)) continue;
    clients.add(e.client);
    out.add(e);
  }
  return out;
}

/** The kept model a load of `client` lets go: the least recently used that may go, idle first. */
function victimOf(serving: Serving, client: string | undefined, except?: string) {
  const entries = [...serving.cache].filter(([cid]) => cid !== except);
  const free = entries.filter(([, e]) => evictableIn(serving, e, client) === 0);
  return (free.find(([, e]) => e.users === 0) ?? free[0])?.[0];
}

/** Throws 503 MODELS_BUSY, to retry once the first kept model may be let go. */
function refuseLoad(serving: Serving, client: string | undefined, why: string): never {
  const waits = [...serving.cache.values()].map((e) => evictableIn(serving, e, client));
  const seconds = Math.max(1, Math.ceil(Math.min(60_000, ...waits) / 1000));
  throw new RetryLaterError(503, "MODELS_BUSY", `Cannot infer: ${why}`, seconds);
}

/** Makes room for one more load of `client`, or throws 503 MODELS_BUSY. */
function roomForLoad(serving: Serving, client: string | undefined): void {
  const { cache, draining, loading } = serving;
  // Loads take the room above the kept models, never a kept model's place: found reviewing the
  // cache fix, enough concurrent requests for published CIDs missing from the store filled the
  // resident cap with loads, and each one past it evicted a loaded model before failing.
  if (loading.size >= MAX_RESIDENT_MODELS - MAX_SERVED_MODELS) {
    refuseLoad(serving, client, `${loading.size} models are being loaded; retry shortly`);
  }
  if (cache.size + loading.size >= MAX_SERVED_MODELS && victimOf(serving, client) === undefined) {
    refuseLoad(serving, client, "every loaded model was loaded recently for another client");
  }
  if (draining.size + cache.size + loading.size >= MAX_RESIDENT_MODELS) {
    const idle = [...cache].find(([, e]) => e.users === 0 && !evictableIn(serving, e, client));
    if (!idle) {
      const why = `${MAX_RESIDENT_MODELS} models are loaded and in use; retry when a ` +
        "generation has ended, or ask for a loaded model";
      refuseLoad(serving, client, why);
    }
    evictServed(serving, idle[0]); // else the load would pass the resident cap
  }
}

/**
 * Loads `cid` into the cache. Found in the inference audit: an entry took its place before its
 * load, so requests for published CIDs missing from the store (a 404 each) evicted loaded models.
 */
function startLoad(serving: Serving, cid: string, client: string | undefined): Loaded {
  const { cache, loading } = serving;
  roomForLoad(serving, client);
  const model = loadChecked(serving.ctx, cid, serving.lane);
  const loaded: Loaded = { model, users: 0, evicted: false, client, since: serving.ctx.now() };
  loading.set(cid, loaded);
  loaded.model.then(() => {
    loading.delete(cid);
    loaded.since = serving.ctx.now();
    cache.set(cid, loaded);
    while (cache.size > MAX_SERVED_MODELS) {
      // Another client's model loaded since roomForLoad may be young: the oldest then goes.
      evictServed(serving, victimOf(serving, client, cid) ?? cache.keys().next().value!);
    }
  }, (e) => {
    loading.delete(cid);
    keepRefusal(serving, cid, e);
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

/** Gives back a model {@link acquireServed} lent. */
export function releaseServed(serving: Serving, entry: Loaded): void {
  if (--entry.users === 0 && entry.evicted) {
    serving.draining.delete(entry);
    disposeServed(entry);
  }
}

function disposeServed(entry: Loaded): void {
  entry.model.then((m) => m.backend.dispose(), () => {});
}

/** Loads `cid` and its backend (a CID {@link checkServable} let through). */
async function loadChecked(ctx: Context, cid: string, lane: InferenceLane): Promise<ServedModel> {
  let source: ModelSource;
  const files = new Set<string>();
  try {
    // A folder is anyone's to publish, and may link a job's private file as its weights.
    const checkFile = async (file: { toString(): string }) => {
      files.add(canonicalCid(file.toString())); // one spelling, once: a file may be linked twice
      if (await privateFile(ctx, file.toString())) {
        const why = `Cannot infer: ${cid} links private data ${file}`;
        throw new RejectedError(reject(403, "PRIVATE_FILE", why));
      }
    };
    source = await loadModel(ctx.store, cid, { checkFile });
  } catch (e) {
    throw refusalOfLoad(cid, e);
  }
  const backend = inLane(await createBackend(source, { backend: ctx.config.inferBackend }), lane);
  return { cid, backend, context: servingContext(backend), files: [...files] };
}

/** What a failed load of `cid` answers: the asker's error where the CID's bytes decide. */
function refusalOfLoad(cid: string, e: unknown): unknown {
  if (e instanceof BlockNotFoundError) {
    const why = `Cannot infer: model ${cid} is not in this store`;
    return new RejectedError(reject(404, "MODEL_NOT_STORED", why));
  }
  // Anyone may publish any CID: what is not a model is the asker's error, not the server's.
  // Each of these is what the CID's bytes are, so the answer is kept (keepRefusal); found in
  // the inference audit: all but the first were a 500 and the whole read again each request.
  const notModel = e instanceof SafetensorsError || e instanceof InvalidFolderError ||
    e instanceof InvalidDagError || e instanceof UnservableModelError;
  if (notModel) {
    const why = `Cannot infer: ${cid} is not a model this coordinator serves: ${e.message}`;
    return new RejectedError(reject(422, "NOT_A_MODEL", why));
  }
  if (e instanceof FolderTooLargeError || e instanceof DagTooLargeError) {
    const why = `Cannot infer: ${cid} is larger than this coordinator loads: ${e.message}`;
    return new RejectedError(reject(413, "MODEL_TOO_LARGE", why));
  }
  return e;
}

/** {@link checkServable}, at most {@link MAX_MODEL_CHECKS} at once (then 503); a refusal is
 * kept for a while. */
export async function checkBounded(
  serving: Serving,
  cid: string,
  spelledAs?: string,
): Promise<void> {
  if (serving.checking >= MAX_MODEL_CHECKS) {
    const why = `Cannot infer: ${MAX_MODEL_CHECKS} model lookups are under way; retry shortly`;
    throw new RetryLaterError(503, "LOOKUPS_BUSY", why, 1);
  }
  serving.checking++;
  try {
    await checkServable(serving.ctx, cid, spelledAs);
  } catch (e) {
    keepRefusal(serving, cid, e, spelledAs);
    throw e;
  } finally {
    serving.checking--;
  }
}

/**
 * Throws unless `cid` is a model this coordinator may serve: published, or a checkpoint or model
 * folder of one of its jobs, and no private file.
 */
async function checkServable(ctx: Context, cid: string, spelledAs?: string): Promise<void> {
  // This coordinator's own checkpoints first: a KV read, not a chain call. The registry is asked
  // under the caller's spelling too (and each usual one: isModelPublished).
  const { client, addresses } = ctx.chain;
  const known = await jobServing(ctx.kv, cid) !== undefined ||
    await isModelPublished(client, { addresses, cid: spelledAs ?? cid });
  if (!known) {
    const why = "Cannot infer: CID is not a published model or a known checkpoint";
    throw new RejectedError(reject(404, "UNKNOWN_MODEL", why));
  }
  // Anyone may publish any CID, a job's private update or shard among them: serving one (or a
  // decoder's complaint about its first bytes) would publish it.
  if (await privateFile(ctx, cid)) {
    throw new RejectedError(reject(403, "PRIVATE_FILE", `Cannot infer: ${cid} is private data`));
  }
}
