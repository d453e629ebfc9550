/**
 * POST /rpc — JSON-RPC 2.0 over the inference service (single calls and batches; dispatch in
 * lib/coordinator/json_rpc.ts):
 *
 *   ai_infer  {modelCid, input, maxTokens?, temperature?, topK?, seed?, score?} -> the /ai/infer
 *             result
 *   ai_models {limit?, after?} -> [{cid, modelId?, version?, weightsDigest?, jobId?, kind,
 *             publishers}]: a page of GET /v1/models' rows (100 by default, at most 1000); the
 *             next page is `after` the last row's cid, and a page shorter than `limit` is the last
 *
 * Errors: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid
 * params (data.status 400/413), -32004 model not found (data.status 404), server busy (data.status
 * 429 or 503, data.retryAfter seconds), -32603 internal.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import {
  dispatchRpc,
  RPC_INTERNAL_ERROR,
  RPC_INVALID_PARAMS,
  RPC_MODEL_NOT_FOUND,
  RPC_PARSE_ERROR,
  RPC_SERVER_BUSY,
  type RpcError,
  rpcFailure,
  type RpcMethods,
} from "../lib/coordinator/json_rpc.ts";
import { MAX_INFER_BODY, modelsOf } from "../lib/coordinator/models.ts";
import {
  DEFAULT_PAGE_ROWS,
  type ListPage,
  MAX_PAGE_ROWS,
  UnknownCursorError,
} from "../lib/coordinator/model_listing.ts";
import {
  asHttpError,
  clientOf,
  field,
  handler,
  HttpError,
  isJsonRequest,
  json,
  parseInferParams,
  readBody,
} from "./_http.ts";

function toRpcError(thrown: unknown): RpcError {
  const e = asHttpError(thrown);
  if (e) {
    const code = e.status === 404
      ? RPC_MODEL_NOT_FOUND
      : e.status === 503 || e.status === 429
      ? RPC_SERVER_BUSY
      : RPC_INVALID_PARAMS;
    const data = { status: e.status, code: e.code, retryAfter: e.retryAfter };
    return { code, message: e.message, data };
  }
  console.error(thrown);
  return { code: RPC_INTERNAL_ERROR, message: "internal error" };
}

/** The page ai_models asks for: `limit` (1-1000, default 100) rows `after` a CID. */
function pageOf(p: Record<string, unknown>): ListPage {
  const limit = field.int(p, "limit", 1, MAX_PAGE_ROWS, DEFAULT_PAGE_ROWS);
  const after = p.after === undefined ? undefined : field.string(p, "after", { max: 200 });
  return { limit, after };
}

function methodsOf(ctx: Context, client?: string): RpcMethods {
  const models = modelsOf(ctx);
  return {
    ai_infer: (p, signal) => models.run(parseInferParams(p, { score: true }), signal, client),
    // A page, not every publication: found in the inference audit, 16 ai_models calls in one
    // batch each built and sent the whole listing.
    ai_models: async (p) => {
      try {
        return await models.list(pageOf(p));
      } catch (e) {
        if (!(e instanceof UnknownCursorError)) throw e;
        throw new HttpError(400, `Invalid field "after": ${e.message}`, { code: "INVALID_FIELD" });
      }
    },
  };
}

/** Creates the JSON-RPC handler over a context. */
export function createRpc(ctx: Context) {
  return handler(async (req, info) => {
    const methods = methodsOf(ctx, clientOf(req, info, ctx.config.trustedProxies));
    if (req.method !== "POST") throw new HttpError(405, "Cannot call RPC: use POST");
    // Found in the browser audit: any page a visitor opened could POST a batch of inferences
    // here as text/plain (a no-cors fetch, no preflight) and spend a local coordinator's CPU;
    // application/json forces a preflight, which this route does not answer.
    if (!isJsonRequest(req)) {
      throw new HttpError(415, "Cannot call RPC: content-type must be application/json");
    }
    const text = new TextDecoder().decode(await readBody(req, MAX_INFER_BODY));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return json(rpcFailure(null, { code: RPC_PARSE_ERROR, message: "parse error" }));
    }
    const answer = await dispatchRpc(methods, body, toRpcError, {
      signal: req.signal,
      answerOnly: true,
    });
    // Nothing to answer (notifications only): 204, per JSON-RPC 2.0 over HTTP.
    return answer === undefined ? new Response(null, { status: 204 }) : json(answer);
  });
}

export default {
  fetch: async (req: Request, info?: Deno.ServeHandlerInfo) =>
    createRpc(await contextFromEnv())(req, info),
};
