/**
 * What every function shares: an HttpError the router turns into a JSON error response
 * (`{ error: { code, message } }`), JSON helpers, the mapping of a coordinator verb's typed
 * rejection to HTTP, and small validators so a bad body gets a 400 that names the field.
 */
import { RejectedError, type Rejection } from "../lib/coordinator/result.ts";
import { rpcUnavailable } from "../lib/chain/rpc_unavailable.ts";
import { redactUrl } from "../lib/network/preflight.ts";
import { BodyTooLargeError, readBounded } from "../lib/store/bounded_body.ts";
import { parseCid } from "../lib/store/cid.ts";
import { encodeText } from "../kernel/data.ts";
import {
  DEFAULT_NEW_TOKENS,
  type InferParams,
  MAX_INPUT_BYTES,
  MAX_NEW_TOKENS,
} from "../lib/coordinator/models.ts";
import { openAiError } from "../lib/coordinator/model_openai.ts";
import { requestClient, RetryLaterError } from "../lib/coordinator/model_limits.ts";

/** The code of an error whose thrower named none, by HTTP status. */
const CODE_OF_STATUS: Record<number, string> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  422: "UNPROCESSABLE",
};

/**
 * An error with an HTTP status and a stable SCREAMING_SNAKE `code` clients branch on; the
 * message is shown to the client.
 */
export class HttpError extends Error {
  readonly code: string;
  /** Seconds the client should wait before it retries (the Retry-After header), if any. */
  readonly retryAfter?: number;
  constructor(
    readonly status: number,
    message: string,
    options?: ErrorOptions & { code?: string; retryAfter?: number },
  ) {
    super(message, options);
    this.name = "HttpError";
    this.code = options?.code ?? CODE_OF_STATUS[status] ?? "ERROR";
    this.retryAfter = options?.retryAfter;
  }
}

/** The HttpError of a coordinator verb's rejection. */
export function rejected(r: Rejection): HttpError {
  return new HttpError(r.status, r.message, { code: r.code });
}

/** The value of a coordinator verb's result, or its rejection thrown as an HttpError. */
export function unwrap<T extends { ok: true }>(r: T | Rejection): T {
  if (!r.ok) throw rejected(r);
  return r;
}

/** A JSON response (bigints become decimal strings). */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(
    JSON.stringify(body, (_k, v) => typeof v === "bigint" ? v.toString() : v),
    { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } },
  );
}

/** The body of every error response. */
export function errorBody(
  code: string,
  message: string,
): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** The HttpError of a thrown value: itself, a coordinator verb's rejection, else undefined. */
export function asHttpError(e: unknown): HttpError | undefined {
  if (e instanceof HttpError) return e;
  if (e instanceof RetryLaterError) {
    const { status, message, code } = e.rejection;
    return new HttpError(status, message, { code, retryAfter: e.retryAfterSeconds });
  }
  if (e instanceof RejectedError) return rejected(e.rejection);
  return undefined;
}

/** The Retry-After header of an error that says when to retry (429 and 503 of inference). */
function retryHeaders(e: HttpError): Record<string, string> {
  return e.retryAfter === undefined ? {} : { "retry-after": String(e.retryAfter) };
}

/**
 * Turns any thrown value into a response: HttpError as is, the chain not answering as a 503
 * clients retry (the RPC URL is logged by its host only, and not shown: it may hold an API key),
 * anything else as a logged 500.
 */
export function errorResponse(thrown: unknown): Response {
  const e = asHttpError(thrown) ?? thrown;
  if (e instanceof HttpError) return json(errorBody(e.code, e.message), e.status, retryHeaders(e));
  const rpc = rpcUnavailable(e);
  if (rpc) {
    const reason = (e as Error).message?.split("\n")[0]?.replaceAll(rpc.url, redactUrl(rpc.url));
    console.error(`Cannot reach the chain at ${redactUrl(rpc.url)}: ${reason}`);
    const message = "Cannot reach the chain: its RPC endpoint does not answer; try again later";
    return json(errorBody("CHAIN_UNAVAILABLE", message), 503);
  }
  console.error(e);
  return json(errorBody("INTERNAL", "internal error"), 500);
}

/** What Deno.serve tells a handler about a connection (its remote address); absent in tests. */
export type ServeInfo = { remoteAddr?: Deno.Addr };

/**
 * The client a request comes from, for per-client limits: its remote address (IPv6 by /64), or
 * the address a trusted reverse proxy forwarded for (model_limits.ts requestClient).
 */
export function clientOf(
  req: Request,
  info: ServeInfo | undefined,
  trustedProxies: readonly string[],
): string | undefined {
  return requestClient(req.headers, info, trustedProxies);
}

/** Wraps a handler so it never throws; `toResponse` shapes its errors (default: ours). */
export function handler(
  fn: (req: Request, info?: ServeInfo) => Promise<Response> | Response,
  toResponse: (thrown: unknown) => Response = errorResponse,
) {
  return async (req: Request, info?: ServeInfo): Promise<Response> => {
    try {
      return await fn(req, info);
    } catch (e) {
      return toResponse(e);
    }
  };
}

/**
 * An error in OpenAI's shape, `{ error: { message, type, param, code } }`, which OpenAI's clients
 * read (`type` is invalid_request_error for 4xx, server_error otherwise; `code` is ours).
 */
export function openAiErrorResponse(thrown: unknown): Response {
  const e = knownOrInternal(thrown);
  return json(openAiError(e.status, e.code, e.message), e.status, retryHeaders(e));
}

/** The HttpError of a thrown value, or (logged) a 500 INTERNAL that shows nothing of it. */
function knownOrInternal(thrown: unknown): HttpError {
  const known = asHttpError(thrown);
  if (known) return known;
  console.error(thrown);
  return new HttpError(500, "internal error", { code: "INTERNAL" });
}

/** Default and hard limit for request bodies. */
export const MAX_BODY_BYTES = 1 << 20;

/**
 * The request body, refused with 413 as soon as it passes `maxBytes`: a declared
 * Content-Length is checked first, and a body without one (chunked) is counted while it streams,
 * so nobody can make the coordinator buffer more than the limit.
 */
export async function readBody(req: Request, maxBytes = MAX_BODY_BYTES): Promise<Uint8Array> {
  try {
    return await readBounded(req.body, maxBytes, Number(req.headers.get("content-length") ?? 0));
  } catch (e) {
    if (!(e instanceof BodyTooLargeError)) throw e;
    throw new HttpError(413, `Cannot read body: ${e.message}`);
  }
}

/** Reads a JSON object body, with a size limit and clear 4xx errors. */
export async function readJson(
  req: Request,
  maxBytes = MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  return (await readJsonBytes(req, maxBytes)).body;
}

/**
 * Whether the body is declared application/json: its media type exactly, not a header holding
 * the words. Found reviewing the /rpc fix: `text/plain; x=application/json` passed a substring
 * check, and browsers send that cross-site without a preflight (text/plain is safelisted).
 */
export function isJsonRequest(req: Request): boolean {
  const type = req.headers.get("content-type") ?? "";
  return type.split(";")[0]!.trim().toLowerCase() === "application/json";
}

/** {@link readJson}, with the bytes it was parsed from (for a signature over the body). */
export async function readJsonBytes(
  req: Request,
  maxBytes = MAX_BODY_BYTES,
): Promise<{ body: Record<string, unknown>; bytes: Uint8Array }> {
  if (!isJsonRequest(req)) {
    throw new HttpError(415, "Cannot read body: content-type must be application/json");
  }
  const bytes = await readBody(req, maxBytes);
  const text = new TextDecoder().decode(bytes);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, "Cannot read body: not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "Cannot read body: expected a JSON object");
  }
  return { body: body as Record<string, unknown>, bytes };
}

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

function bad(field: string, what: string): never {
  throw new HttpError(400, `Invalid field "${field}": ${what}`, { code: "INVALID_FIELD" });
}

/** Field readers: each throws a 400 naming the field when the value is missing or malformed. */
export const field = {
  string(
    o: Record<string, unknown>,
    name: string,
    opts: { max?: number; optional?: boolean } = {},
  ): string {
    const v = o[name];
    if (v === undefined && opts.optional) return "";
    if (typeof v !== "string" || v.length === 0) bad(name, "expected a non-empty string");
    if (v.length > (opts.max ?? 4096)) bad(name, `longer than ${opts.max ?? 4096} characters`);
    return v;
  },
  hex32(o: Record<string, unknown>, name: string): `0x${string}` {
    const v = o[name];
    if (typeof v !== "string" || !HEX32.test(v)) bad(name, "expected 0x-prefixed 32-byte hex");
    return v.toLowerCase() as `0x${string}`;
  },
  hex(o: Record<string, unknown>, name: string, bytes: number): `0x${string}` {
    const v = o[name];
    if (typeof v !== "string" || !new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(v)) {
      bad(name, `expected 0x-prefixed ${bytes}-byte hex`);
    }
    return v.toLowerCase() as `0x${string}`;
  },
  address(o: Record<string, unknown>, name: string): `0x${string}` {
    const v = o[name];
    if (typeof v !== "string" || !ADDRESS.test(v)) bad(name, "expected a 0x-prefixed address");
    return v as `0x${string}`;
  },
  int(
    o: Record<string, unknown>,
    name: string,
    min: number,
    max: number,
    fallback?: number,
  ): number {
    const v = o[name] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v)) bad(name, "expected an integer");
    if (v < min || v > max) bad(name, `expected an integer in [${min}, ${max}]`);
    return v;
  },
  number(
    o: Record<string, unknown>,
    name: string,
    min: number,
    max: number,
    fallback?: number,
  ): number {
    const v = o[name] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) bad(name, "expected a finite number");
    if (v < min || v > max) bad(name, `expected a number in [${min}, ${max}]`);
    return v;
  },
  /**
   * A CID spelled as the store spells it (`parseCid(v).toString()`), or one of `allow`. Found in
   * the storage audit: pins are per CID, whatever its spelling, while records compare strings, so
   * an update naming another job's checkpoint in base58 was unpinned at its own job's finalize,
   * and the checkpoint, pinned under its base32 name, went at the next collection.
   */
  cid(o: Record<string, unknown>, name: string, allow: string[] = []): string {
    const v = field.string(o, name, { max: 200 });
    if (allow.includes(v)) return v;
    let canonical: string;
    try {
      canonical = parseCid(v).toString();
    } catch {
      bad(name, "expected a CID");
    }
    if (canonical !== v) bad(name, `expected the CID spelled as the store names it: ${canonical}`);
    return v;
  },
  bool(o: Record<string, unknown>, name: string, fallback?: boolean): boolean {
    const v = o[name] ?? fallback;
    if (typeof v !== "boolean") bad(name, "expected a boolean");
    return v;
  },
};

/**
 * Whether the client asked for server-sent events: its `stream` field, else an Accept header
 * naming text/event-stream. Found in the inference audit: the header overrode an explicit
 * `stream: false`, and OpenAI's clients send that header with every request of theirs.
 */
export function wantsStream(req: Request, body: Record<string, unknown>): boolean {
  if (body.stream !== undefined && typeof body.stream !== "boolean") {
    throw new HttpError(400, 'Invalid field "stream": expected a boolean');
  }
  if (typeof body.stream === "boolean") return body.stream;
  return (req.headers.get("accept") ?? "").includes("text/event-stream");
}

/**
 * A text/event-stream response over a generator of text pieces. Errors before the first piece
 * are a JSON error response made by `toResponse` (the route's error shape); later ones the
 * route's error frame.
 */
export async function sseResponse<T>(
  pieces: AsyncGenerator<string, T>,
  frame: {
    piece(text: string): string;
    done(result: T): string;
    error(code: string, message: string, status: number): string;
  },
  toResponse: (thrown: unknown) => Response = errorResponse,
  idleMs: number = STREAM_IDLE_MS,
): Promise<Response> {
  let first: IteratorResult<string, T>;
  try {
    first = await pieces.next();
  } catch (e) {
    return toResponse(e);
  }
  const enc = new TextEncoder();
  let next = first;
  // Pulled one frame at a time, and never written to once the client went away: a disconnect
  // mid-stream ends the generation instead of raising "cannot enqueue" errors. A reader that
  // stops reading for `idleMs` ends it too: the paused generation holds its model and memory.
  let cancelled = false;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const end = async () => {
    clearTimeout(idle);
    if (cancelled) return;
    cancelled = true;
    await pieces.return(undefined as T);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      clearTimeout(idle);
      if (next.done) {
        controller.enqueue(enc.encode(frame.done(next.value)));
        return controller.close();
      }
      controller.enqueue(enc.encode(frame.piece(next.value)));
      try {
        next = await pieces.next();
      } catch (e) {
        if (cancelled) return;
        const { code, message, status } = knownOrInternal(e);
        controller.enqueue(enc.encode(frame.error(code, message, status)));
        return controller.close();
      }
      if (cancelled) return;
      idle = setTimeout(() => {
        end().then(() => controller.error(new Error("stream reader idle")), () => {});
      }, idleMs);
    },
    cancel: end,
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
  });
}

/** How long a stream waits for its reader before it ends the generation behind it. */
export const STREAM_IDLE_MS = 60_000;

/**
 * Reads and checks the inference fields of a body (400/413 naming the field). `emptyInput`
 * accepts an empty input (OpenAI's completions do); `score` reads the body's `score` flag.
 */
export function parseInferParams(
  body: Record<string, unknown>,
  defaults: { maxTokens?: number; emptyInput?: boolean; score?: boolean } = {},
): InferParams {
  const given = field.string(body, "modelCid", { max: 200 }).replace(/^artha:\/\//, "");
  let modelCid: string;
  try {
    // One spelling per model: found in the inference audit, each spelling of one CID (v0, v1,
    // other bases) was its own cache entry, load and refusal record, and missed the served index.
    modelCid = parseCid(given).toV1().toString();
  } catch (e) {
    const message = `Invalid field "modelCid": ${(e as Error).message}`;
    throw new HttpError(400, message, { code: "INVALID_FIELD" });
  }
  const empty = defaults.emptyInput && body.input === "";
  const input = empty ? "" : field.string(body, "input", { max: MAX_INPUT_BYTES });
  if (encodeText(input).length > MAX_INPUT_BYTES) {
    throw new HttpError(413, `Cannot infer: input above ${MAX_INPUT_BYTES} bytes`);
  }
  return {
    modelCid,
    ...(given === modelCid ? {} : { spelledAs: given }),
    input,
    maxTokens: field.int(
      body,
      "maxTokens",
      0,
      MAX_NEW_TOKENS,
      defaults.maxTokens ?? DEFAULT_NEW_TOKENS,
    ),
    temperature: field.number(body, "temperature", 0, 10, 1),
    topK: field.int(body, "topK", 0, 256, 0),
    seed: field.int(body, "seed", 0, 2 ** 32 - 1, 0),
    score: defaults.score ? field.bool(body, "score", false) : false,
  };
}
