/**
 * JSON-RPC 2.0 dispatch to the letter of the spec, over any table of methods: single calls and
 * batches, notifications (no `id` member) never answered, only own methods dispatched (so
 * `toString` or `constructor` are no methods), object ids refused. Transport-free: the caller
 * parses the body and maps errors its methods throw to {@link RpcError}s.
 *
 * @example
 * ```ts
 * import { dispatchRpc } from "./json_rpc.ts";
 * const methods = { echo: (p: Record<string, unknown>) => Promise.resolve(p) };
 * const toError = () => ({ code: -32603, message: "internal error" });
 * const r = await dispatchRpc(methods, { jsonrpc: "2.0", id: 1, method: "echo", params: { a: 1 } }, toError);
 * console.assert(JSON.stringify(r) === '{"jsonrpc":"2.0","id":1,"result":{"a":1}}');
 * console.assert(await dispatchRpc(methods, { jsonrpc: "2.0", method: "echo" }, toError) === undefined);
 * ```
 *
 * @module
 */

export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_INTERNAL_ERROR = -32603;
export const RPC_MODEL_NOT_FOUND = -32004;
/** The server cannot take the call now (e.g. 503 MODELS_BUSY, GENERATIONS_BUSY): retry later. */
export const RPC_SERVER_BUSY = -32005;
/** Most calls in one batch. */
export const MAX_BATCH = 16;

/** A request id. */
export type RpcId = string | number | null;

/** The error member of a failed response. */
export interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

/** Methods by name; `signal` is the request's (aborted when its client hangs up). */
export type RpcMethods = Record<
  string,
  (params: Record<string, unknown>, signal?: AbortSignal) => Promise<unknown>
>;

/** How {@link dispatchRpc} runs the calls. */
export interface DispatchOptions {
  /** The request's signal, handed to every method. */
  signal?: AbortSignal;
  /**
   * Every method only answers (no effect of its own), so a notification, whose answer nobody
   * wants, is not run at all. Run, a batch of 16 generation notifications held every generation
   * slot for minutes after its client had gone, answered nothing (found in the inference audit).
   */
  answerOnly?: boolean;
}

/** A failure response. */
export const rpcFailure = (id: RpcId, error: RpcError) => ({ jsonrpc: "2.0", id, error });

const isId = (v: unknown) => typeof v === "string" || typeof v === "number" || v === null;

/**
 * Answers one parsed request, or a batch (an array) in order: the response(s), or undefined when
 * nothing is to be answered (a notification, or a batch of them).
 */
export async function dispatchRpc(
  methods: RpcMethods,
  body: unknown,
  toError: (thrown: unknown) => RpcError,
  options: DispatchOptions = {},
): Promise<unknown | undefined> {
  if (!Array.isArray(body)) return await callOne(methods, body, toError, options);
  if (body.length === 0 || body.length > MAX_BATCH) {
    const message = `a batch holds 1..${MAX_BATCH} calls`;
    return rpcFailure(null, { code: RPC_INVALID_REQUEST, message });
  }
  const out = [];
  for (const msg of body) {
    options.signal?.throwIfAborted();
    const r = await callOne(methods, msg, toError, options);
    if (r !== undefined) out.push(r);
  }
  return out.length ? out : undefined;
}

async function callOne(
  methods: RpcMethods,
  msg: unknown,
  toError: (thrown: unknown) => RpcError,
  options: DispatchOptions,
): Promise<unknown | undefined> {
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    return rpcFailure(null, { code: RPC_INVALID_REQUEST, message: "expected a request object" });
  }
  const m = msg as Record<string, unknown>;
  const notification = !("id" in m);
  if (!notification && !isId(m.id)) {
    const message = "id must be a string, number or null";
    return rpcFailure(null, { code: RPC_INVALID_REQUEST, message });
  }
  const id = (notification ? null : m.id) as RpcId;
  if (m.jsonrpc !== "2.0" || typeof m.method !== "string") {
    const message = 'need jsonrpc "2.0" and a method';
    return rpcFailure(id, { code: RPC_INVALID_REQUEST, message });
  }
  const answer = (r: unknown) => (notification ? undefined : r);
  const fn = Object.hasOwn(methods, m.method) ? methods[m.method] : undefined;
  if (!fn) {
    return answer(rpcFailure(id, { code: RPC_METHOD_NOT_FOUND, message: `no method ${m.method}` }));
  }
  const params = m.params ?? {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    const message = "params must be an object";
    return answer(rpcFailure(id, { code: RPC_INVALID_PARAMS, message }));
  }
  if (notification && options.answerOnly) return undefined;
  try {
    const result = await fn(params as Record<string, unknown>, options.signal);
    return answer({ jsonrpc: "2.0", id, result });
  } catch (e) {
    return answer(rpcFailure(id, toError(e)));
  }
}
