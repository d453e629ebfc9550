/**
 * POST /v1/completions — the OpenAI completions shape over the same service as /ai/infer:
 * {model: <cid>, prompt, max_tokens? (16), temperature? (1), top_k?, seed?, stream?} ->
 * (other OpenAI fields only at their defaults: n, best_of, stop, echo, logprobs, ... are a 400)
 * {id, object: "text_completion", created, model, choices: [{text, index, finish_reason}], usage}.
 * With `stream: true`, OpenAI-style `data: {...}` chunks and a final `data: [DONE]`. Errors come
 * in OpenAI's shape, `{error: {message, type, param, code}}`. An empty prompt is accepted, as
 * OpenAI does (generation starts after a newline byte). GET /v1/models lists the models a page
 * at a time, GET /v1/models/{id} one of them. Per-client limits (lib/coordinator/model_limits.ts)
 * answer 429 with Retry-After.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import {
  clientOf,
  field,
  handler,
  HttpError,
  json,
  openAiErrorResponse,
  parseInferParams,
  readJson,
  sseResponse,
  wantsStream,
} from "./_http.ts";
import {
  type Generation,
  MAX_INFER_BODY,
  MAX_INPUT_BYTES,
  MAX_NEW_TOKENS,
  modelsOf,
} from "../lib/coordinator/models.ts";
import {
  openAiChoice,
  openAiModel,
  openAiModelList,
  openAiStreamFrames,
  openAiUsage,
} from "../lib/coordinator/model_openai.ts";
import {
  DEFAULT_PAGE_ROWS,
  MAX_PAGE_ROWS,
  UnknownCursorError,
} from "../lib/coordinator/model_listing.ts";
import { parseCid } from "../lib/store/cid.ts";

/**
 * OpenAI completion fields this server does not implement, each with the value that asks for
 * nothing (its default). Any other value is a 400 naming the field: found in the inference audit,
 * they were dropped without a word (`n: 3` gave one choice, `stop` ran on to max_tokens).
 */
const UNSUPPORTED: Record<string, (v: unknown) => boolean> = {
  n: (v) => v === 1,
  best_of: (v) => v === 1,
  echo: (v) => v === false,
  logprobs: (v) => v === null,
  suffix: (v) => v === null,
  stop: (v) => v === null || (Array.isArray(v) && v.length === 0),
  top_p: (v) => v === 1,
  logit_bias: (v) => v === null || (typeof v === "object" && Object.keys(v!).length === 0),
  presence_penalty: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
};

function refuseUnsupported(body: Record<string, unknown>): void {
  for (const [name, isDefault] of Object.entries(UNSUPPORTED)) {
    if (body[name] === undefined || isDefault(body[name])) continue;
    throw new HttpError(
      400,
      `Invalid field "${name}": not supported by this server (leave it out, or send its ` +
        "default); supported: model, prompt, max_tokens, temperature, top_k, seed, stream",
      { code: "UNSUPPORTED_FIELD" },
    );
  }
}

/**
 * A 400 naming `model` for a model that is no CID: parseInferParams names its own field
 * (`modelCid`), which OpenAI's clients show as the request's `param` (found in the inference audit).
 */
function checkModel(model: string): void {
  try {
    parseCid(model.replace(/^artha:\/\//, ""));
  } catch (e) {
    const message = `Invalid field "model": ${(e as Error).message}`;
    throw new HttpError(400, message, { code: "INVALID_FIELD" });
  }
}

/** Creates the completions handler over a context. */
export function createCompletions(ctx: Context) {
  const models = modelsOf(ctx);
  return handler(async (req, info) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot complete: use POST");
    const body = await readJson(req, MAX_INFER_BODY);
    // OpenAI takes null as "the default" for every optional field, and some clients send it:
    // found in the inference audit, `stream: null` or `top_p: null` was a 400.
    for (const [k, v] of Object.entries(body)) if (v === null) delete body[k];
    if (Array.isArray(body.prompt)) {
      throw new HttpError(400, 'Invalid field "prompt": one string per request');
    }
    refuseUnsupported(body);
    // Checked under their OpenAI names first, so a 400 names the field the client sent. An empty
    // prompt is OpenAI's to accept (found in the inference audit: it was a 400 here).
    if (body.prompt !== "") field.string(body, "prompt", { max: MAX_INPUT_BYTES });
    field.int(body, "max_tokens", 1, MAX_NEW_TOKENS, 16);
    field.number(body, "temperature", 0, 10, 1);
    field.int(body, "top_k", 0, 256, 0);
    field.int(body, "seed", 0, 2 ** 32 - 1, 0);
    checkModel(field.string(body, "model", { max: 200 }));
    const params = parseInferParams({
      modelCid: field.string(body, "model", { max: 200 }),
      input: body.prompt,
      maxTokens: body.max_tokens,
      temperature: body.temperature,
      topK: body.top_k,
      seed: body.seed,
    }, { maxTokens: 16, emptyInput: true });
    const client = clientOf(req, info, ctx.config.trustedProxies);
    const at = {
      id: `cmpl-${crypto.randomUUID()}`,
      created: Math.floor(ctx.now() / 1000),
      model: params.modelCid,
    };
    if (!wantsStream(req, body)) {
      const g = await models.run(params, req.signal, client);
      return json({ ...openAiChoice(at, g.text, g.finishReason), usage: openAiUsage(g) });
    }
    const frames = openAiStreamFrames(at);
    const pieces = models.stream(params, req.signal, client);
    return sseResponse<Generation>(pieces, frames, openAiErrorResponse);
  }, openAiErrorResponse);
}

/** `text` URL-decoded, or as it is where it is no valid encoding. */
function decodedOr(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The page a GET /v1/models asks for: `limit` (1-1000, default 100) rows `after` a model id. */
function pageOf(url: URL): { limit: number; after?: string } {
  const query = Object.fromEntries(url.searchParams);
  const limit = query.limit === undefined ? DEFAULT_PAGE_ROWS : Number(query.limit);
  field.int({ limit }, "limit", 1, MAX_PAGE_ROWS);
  const after = query.after === undefined ? undefined : field.string(query, "after", { max: 200 });
  return { limit, after };
}

/**
 * GET /v1/models[?limit=&after=] — OpenAI's model list over the servable models (job folders,
 * then published CIDs in order of first publication), so OpenAI clients' `models.list()` works:
 * {object: "list", data: [{id, object, created, owned_by, publishers}], first_id, last_id,
 * has_more}; the next page is `after=<last_id>`. GET /v1/models/{id}: one model, or a 404.
 * Found in the inference audit: the list was every publication at once (17.8 MB for 100k).
 */
export function createModelList(ctx: Context) {
  const models = modelsOf(ctx);
  return handler(async (req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot list models: use GET");
    const url = new URL(req.url);
    const created = Math.floor(ctx.now() / 1000);
    const id = /^\/v1\/models\/([^/]+)\/?$/.exec(url.pathname)?.[1];
    if (id !== undefined) {
      const cid = decodedOr(id);
      const model = cid.length <= 200 ? await models.get(cid) : undefined;
      if (model) return json(openAiModel(model, created));
      const why = `Cannot find model: ${cid.slice(0, 200)} is not listed here`;
      throw new HttpError(404, why, { code: "MODEL_NOT_FOUND" });
    }
    const { limit, after } = pageOf(url);
    try {
      const rows = await models.list({ limit: limit + 1, after });
      return json(openAiModelList(rows.slice(0, limit), created, rows.length > limit));
    } catch (e) {
      if (!(e instanceof UnknownCursorError)) throw e;
      throw new HttpError(400, `Invalid field "after": ${e.message}`, { code: "INVALID_FIELD" });
    }
  }, openAiErrorResponse);
}

export default {
  fetch: async (req: Request, info?: Deno.ServeHandlerInfo) =>
    createCompletions(await contextFromEnv())(req, info),
};
