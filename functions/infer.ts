/**
 * POST /ai/infer {modelCid, input, maxTokens?, temperature?, topK?, seed?, stream?}
 *
 * Generates up to `maxTokens` bytes after `input` with a published model (a ModelRegistry CID,
 * or a checkpoint / exported folder of a job this coordinator ran) and returns
 * {text, promptTokens, generatedTokens, backend, ...}; inputs of 2+ bytes are also scored
 * (tokens, lossNats, bitsPerByte, perplexity under the kernel's forward pass). maxTokens
 * defaults to 32; maxTokens 0 only scores. With `stream: true` or `Accept: text/event-stream` the text arrives as
 * server-sent events: `data: {"text": "..."}` per piece, then `event: done` with the summary.
 * The model is loaded once per CID and cached.
 */
import { type Context, contextFromEnv } from "./_context.ts";
import { errorResponse, handler, HttpError, json, readJson } from "./_http.ts";
import {
  type Generation,
  MAX_INFER_BODY,
  MAX_INPUT_BYTES,
  modelsOf,
  parseInferParams,
} from "./_models.ts";

export { MAX_INPUT_BYTES };

/** Whether the client asked for server-sent events. */
export function wantsStream(req: Request, body: Record<string, unknown>): boolean {
  if (body.stream !== undefined && typeof body.stream !== "boolean") {
    throw new HttpError(400, 'Invalid field "stream": expected a boolean');
  }
  return body.stream === true || (req.headers.get("accept") ?? "").includes("text/event-stream");
}

/**
 * A text/event-stream response over a generator of text pieces. Errors before the first piece
 * are a normal JSON error response; later ones an `event: error`.
 */
export async function sseResponse<T>(
  pieces: AsyncGenerator<string, T>,
  frame: { piece(text: string): string; done(result: T): string; error(message: string): string },
): Promise<Response> {
  let first: IteratorResult<string, T>;
  try {
    first = await pieces.next();
  } catch (e) {
    return errorResponse(e);
  }
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        let r = first;
        while (!r.done) {
          controller.enqueue(enc.encode(frame.piece(r.value)));
          r = await pieces.next();
        }
        controller.enqueue(enc.encode(frame.done(r.value)));
      } catch (e) {
        if (!(e instanceof HttpError)) console.error(e);
        const message = e instanceof HttpError ? e.message : "internal error";
        controller.enqueue(enc.encode(frame.error(message)));
      }
      controller.close();
    },
    async cancel() {
      await pieces.return(undefined as T);
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
  });
}

/** Creates the infer handler over a context. */
export function createInfer(ctx: Context) {
  const models = modelsOf(ctx);
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot infer: use POST");
    const body = await readJson(req, MAX_INFER_BODY);
    const params = parseInferParams(body);
    if (!wantsStream(req, body)) return json(await models.run(params));
    return sseResponse<Generation>(models.stream(params), {
      piece: (text) => `data: ${JSON.stringify({ text })}\n\n`,
      done: (g) => `event: done\ndata: ${JSON.stringify(g)}\n\n`,
      error: (message) => `event: error\ndata: ${JSON.stringify({ error: message })}\n\n`,
    });
  });
}

export default {
  fetch: async (req: Request) => createInfer(await contextFromEnv())(req),
};
