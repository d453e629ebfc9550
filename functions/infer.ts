/**
 * POST /ai/infer {modelCid, input, maxTokens?, temperature?, topK?, seed?, stream?}
 *
 * Generates up to `maxTokens` bytes after `input` with a published model (a ModelRegistry CID,
 * or a checkpoint / exported folder of a job this coordinator ran) and returns
 * {text, promptTokens, generatedTokens, backend, ...}; inputs of 2+ bytes are also scored
 * (tokens, lossNats, bitsPerByte, perplexity under the backend that generates). maxTokens
 * defaults to 32; maxTokens 0 only scores. With `stream: true` or `Accept: text/event-stream` the text arrives as
 * server-sent events: `data: {"text": "..."}` per piece, then `event: done` with the summary.
 * The model is loaded once per CID and cached. `contextTokens` says how many positions it is
 * served over: its maxT, or fewer where attention over that many would pass the server's memory
 * bound (lib/coordinator/models.ts MAX_ATTENTION_BYTES); a longer prompt keeps its last bytes.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import {
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
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot infer: use POST");
    const body = await readJson(req, MAX_INFER_BODY);
    const params = parseInferParams(body);
    if (!wantsStream(req, body)) return json(await models.run(params, req.signal));
    return sseResponse<Generation>(models.stream(params, req.signal), {
      piece: (text) => `data: ${JSON.stringify({ text })}\n\n`,
      done: (g) => `event: done\ndata: ${JSON.stringify(g)}\n\n`,
      error: (code, message) =>
        `event: error\ndata: ${JSON.stringify(errorBody(code, message))}\n\n`,
    });
  });
}

export default {
  fetch: async (req: Request) => createInfer(await contextFromEnv())(req),
};
