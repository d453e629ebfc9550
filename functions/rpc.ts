/**
 * POST /rpc — JSON-RPC 2.0 over the inference service (single calls and batches):
 *
 *   ai_infer  {modelCid, input, maxTokens?, temperature?, topK?, seed?} -> the /ai/infer result
 *   ai_models {} -> [{cid, modelId?, version?, weightsDigest?, jobId?, kind}]
 *
 * Errors: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid
 * params (data.status 400/413), -32004 model not found (data.status 404), -32603 internal.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { asHttpError, handler, HttpError, json, parseInferParams, readBody } from "./_http.ts";
import { MAX_INFER_BODY, modelsOf } from "../lib/coordinator/models.ts";

export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_INTERNAL_ERROR = -32603;
export const RPC_MODEL_NOT_FOUND = -32004;
/** Most calls in one batch. */
export const MAX_BATCH = 16;

type Id = string | number | null;
interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

const failure = (id: Id, error: RpcError) => ({ jsonrpc: "2.0", id, error });

function toRpcError(thrown: unknown): RpcError {
  const e = asHttpError(thrown);
  if (e) {
    const code = e.status === 404 ? RPC_MODEL_NOT_FOUND : RPC_INVALID_PARAMS;
    return { code, message: e.message, data: { status: e.status, code: e.code } };
  }
  console.error(thrown);
  return { code: RPC_INTERNAL_ERROR, message: "internal error" };
}

/** The methods of a context, by name. */
type Methods = Record<string, (params: Record<string, unknown>) => Promise<unknown>>;

function methodsOf(ctx: Context): Methods {
  const models = modelsOf(ctx);
  return {
    ai_infer: (p) => models.run(parseInferParams(p)),
    ai_models: () => models.list(),
  };
}

/** Answers one call: a response, or undefined for a notification (no id member), which per
 * JSON-RPC 2.0 is never answered, not even with an error. */
async function call(methods: Methods, msg: unknown): Promise<unknown | undefined> {
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    return failure(null, { code: RPC_INVALID_REQUEST, message: "expected a request object" });
  }
  const m = msg as Record<string, unknown>;
  const notification = !("id" in m);
  if (!notification && !isId(m.id)) {
    return failure(null, {
      code: RPC_INVALID_REQUEST,
      message: "id must be a string, number or null",
    });
  }
  const id = (notification ? null : m.id) as Id;
  if (m.jsonrpc !== "2.0" || typeof m.method !== "string") {
    return failure(id, { code: RPC_INVALID_REQUEST, message: 'need jsonrpc "2.0" and a method' });
  }
  const answer = (r: unknown) => (notification ? undefined : r);
  // Own methods only: a name such as "toString" or "constructor" is no method of ours.
  const fn = Object.hasOwn(methods, m.method) ? methods[m.method] : undefined;
  if (!fn) {
    return answer(failure(id, { code: RPC_METHOD_NOT_FOUND, message: `no method ${m.method}` }));
  }
  const params = m.params ?? {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    return answer(failure(id, { code: RPC_INVALID_PARAMS, message: "params must be an object" }));
  }
  try {
    return answer({ jsonrpc: "2.0", id, result: await fn(params as Record<string, unknown>) });
  } catch (e) {
    return answer(failure(id, toRpcError(e)));
  }
}

const isId = (v: unknown) => typeof v === "string" || typeof v === "number" || v === null;

/** Answers a batch in order; 204 when it held only notifications. */
async function callBatch(methods: Methods, body: unknown[]): Promise<Response> {
  if (body.length === 0 || body.length > MAX_BATCH) {
    return json(failure(null, {
      code: RPC_INVALID_REQUEST,
      message: `a batch holds 1..${MAX_BATCH} calls`,
    }));
  }
  const out = [];
  for (const msg of body) {
    const r = await call(methods, msg);
    if (r !== undefined) out.push(r);
  }
  return out.length ? json(out) : new Response(null, { status: 204 });
}

/** Creates the JSON-RPC handler over a context. */
export function createRpc(ctx: Context) {
  const methods = methodsOf(ctx);
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot call RPC: use POST");
    const text = new TextDecoder().decode(await readBody(req, MAX_INFER_BODY));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return json(failure(null, { code: RPC_PARSE_ERROR, message: "parse error" }));
    }
    if (Array.isArray(body)) return await callBatch(methods, body);
    const r = await call(methods, body);
    return r === undefined ? new Response(null, { status: 204 }) : json(r);
  });
}

export default {
  fetch: async (req: Request) => createRpc(await contextFromEnv())(req),
};
