/**
 * POST /rpc — JSON-RPC 2.0 over the inference service (single calls and batches; dispatch in
 * lib/coordinator/json_rpc.ts):
 *
 *   ai_infer  {modelCid, input, maxTokens?, temperature?, topK?, seed?} -> the /ai/infer result
 *   ai_models {} -> [{cid, modelId?, version?, weightsDigest?, jobId?, kind}]
 *
 * Errors: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid
 * params (data.status 400/413), -32004 model not found (data.status 404), -32603 internal.
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
  asHttpError,
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
      : e.status === 503
      ? RPC_SERVER_BUSY
      : RPC_INVALID_PARAMS;
    return { code, message: e.message, data: { status: e.status, code: e.code } };
  }
  console.error(thrown);
  return { code: RPC_INTERNAL_ERROR, message: "internal error" };
}

function methodsOf(ctx: Context): RpcMethods {
  const models = modelsOf(ctx);
  return {
    ai_infer: (p, signal) => models.run(parseInferParams(p), signal),
    ai_models: () => models.list(),
  };
}

/** Creates the JSON-RPC handler over a context. */
export function createRpc(ctx: Context) {
  const methods = methodsOf(ctx);
  return handler(async (req) => {
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
  fetch: async (req: Request) => createRpc(await contextFromEnv())(req),
};
