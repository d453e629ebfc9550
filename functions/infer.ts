/**
 * POST /ai/infer {modelCid, input, maxTokens?, temperature?, topK?, seed?, stream?, score?}
 *
 * Generates up to `maxTokens` bytes after `input` with a published model (a ModelRegistry CID,
 * or a checkpoint / exported folder of a job this coordinator ran) and returns
 * {text, promptTokens, generatedTokens, backend, ...}. With `score: true` (or maxTokens 0, which
 * only scores) the input of 2+ bytes is also scored (tokens, lossNats, bitsPerByte, perplexity
 * under the backend that generates). maxTokens defaults to 32. With `stream: true` (or, when the
 * body has no `stream`, `Accept: text/event-stream`) the text arrives as server-sent events:
 * `data: {"text": "..."}` per piece, then `event: done` with the summary. Per-client limits
 * (lib/coordinator/model_limits.ts) answer 429 with Retry-After.
 * The model is loaded once per CID and cached. `contextTokens` says how many positions it is
 * served over: its maxT, or fewer where attention over that many would pass the server's memory
 * bound (lib/coordinator/models.ts MAX_ATTENTION_BYTES); a longer prompt keeps its last bytes.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import {
  clientOf,
  errorBody,
  handler,
  HttpError,
  json,
  parseInferParams,
  readJson,
  sseResponse,
  wantsStream,
} from "./_http.ts";
import {
  type Generation,
  MAX_INFER_BODY,
  MAX_INPUT_BYTES,
  modelsOf,
} from "../lib/coordinator/models.ts";

export { MAX_INPUT_BYTES };

/** Creates the infer handler over a context. */
export function createInfer(ctx: Context) {
  const models = modelsOf(ctx);
  return handler(async (req, info) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot infer: use POST");
    const body = await readJson(req, MAX_INFER_BODY);
    const params = parseInferParams(body, { score: true });
    const client = clientOf(req, info, ctx.config.trustedProxies);
    if (!wantsStream(req, body)) return json(await models.run(params, req.signal, client));
    return sseResponse<Generation>(models.stream(params, req.signal, client), {
      piece: (text) => `data: ${JSON.stringify({ text })}\n\n`,
      done: (g) => `event: done\ndata: ${JSON.stringify(g)}\n\n`,
      error: (code, message) =>
        `event: error\ndata: ${JSON.stringify(errorBody(code, message))}\n\n`,
    });
  });
}

export default {
  fetch: async (req: Request, info?: Deno.ServeHandlerInfo) =>
    createInfer(await contextFromEnv())(req, info),
};
