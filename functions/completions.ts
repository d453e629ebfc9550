/**
 * POST /v1/completions — the OpenAI completions shape over the same service as /ai/infer:
 * {model: <cid>, prompt, max_tokens? (16), temperature? (1), top_k?, seed?, stream?} ->
 * (other OpenAI fields only at their defaults: n, best_of, stop, echo, logprobs, ... are a 400)
 * {id, object: "text_completion", created, model, choices: [{text, index, finish_reason}], usage}.
 * With `stream: true`, OpenAI-style `data: {...}` chunks and a final `data: [DONE]`. Errors come
 * in OpenAI's shape, `{error: {message, type, param, code}}`. GET /v1/models lists the models.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import {
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
  openAiChoice,
  openAiModelList,
  openAiStreamFrames,
  openAiUsage,
} from "../lib/coordinator/models.ts";
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
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot complete: use POST");
    const body = await readJson(req, MAX_INFER_BODY);
    // OpenAI takes null as "the default" for every optional field, and some clients send it:
    // found in the inference audit, `stream: null` or `top_p: null` was a 400.
    for (const [k, v] of Object.entries(body)) if (v === null) delete body[k];
    if (Array.isArray(body.prompt)) {
      throw new HttpError(400, 'Invalid field "prompt": one string per request');
    }
    refuseUnsupported(body);
    // Checked under their OpenAI names first, so a 400 names the field the client sent.
    field.string(body, "prompt", { max: MAX_INPUT_BYTES });
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
    }, { maxTokens: 16 });
    const at = {
      id: `cmpl-${crypto.randomUUID()}`,
      created: Math.floor(ctx.now() / 1000),
      model: params.modelCid,
    };
    if (!wantsStream(req, body)) {
      const g = await models.run(params, req.signal);
      return json({ ...openAiChoice(at, g.text, g.finishReason), usage: openAiUsage(g) });
    }
    const frames = openAiStreamFrames(at);
    return sseResponse<Generation>(models.stream(params, req.signal), frames, openAiErrorResponse);
  }, openAiErrorResponse);
}

/**
 * GET /v1/models — OpenAI's model list over the servable models (published and job folders), so
 * OpenAI clients' `models.list()` works: {object: "list", data: [{id, object, created, owned_by}]}.
 */
export function createModelList(ctx: Context) {
  const models = modelsOf(ctx);
  return handler(async (req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot list models: use GET");
    return json(openAiModelList(await models.list(), Math.floor(ctx.now() / 1000)));
  }, openAiErrorResponse);
}

export default {
  fetch: async (req: Request) => createCompletions(await contextFromEnv())(req),
};
