/**
 * The worker's HTTP client to the coordinator: JSON calls, retries of transient failures, and
 * refusals parsed into a `CoordinatorError` with the HTTP status and a stable `code`.
 *
 * @example
 * ```ts
 * import { CoordinatorClient, CoordinatorError } from "./client.ts";
 * const refuse = () =>
 *   Promise.resolve(Response.json({ error: { code: "ROUND_NOT_OPEN", message: "closed" } }, {
 *     status: 409,
 *   }));
 * const coordinator = new CoordinatorClient(refuse);
 * const e = await coordinator.postJson("/aggregate/update", {}).catch((e) => e);
 * console.assert(e instanceof CoordinatorError && e.code === "ROUND_NOT_OPEN" && e.status === 409);
 * ```
 */
import { coordinatorHint, reasonOf } from "../network/preflight.ts";
import { BodyTooLargeError, readBounded, readPrefix } from "../store/bounded_body.ts";

/**
 * How the worker reaches the coordinator: a fetch bound to its base URL, and that URL's origin
 * when it is one (reads of private data are signed for it).
 */
export type CoordinatorFetch = ((path: string, init?: RequestInit) => Promise<Response>) & {
  origin?: string;
};

/**
 * A coordinator over HTTP at `baseUrl`. A request that cannot connect throws a TypeError (as
 * fetch does, so it is retried) whose message names the URL.
 */
export function httpCoordinator(baseUrl: string): CoordinatorFetch {
  const base = baseUrl.replace(/\/+$/, "");
  const call: CoordinatorFetch = async (path, init) => {
    try {
      return await fetch(`${base}${path}`, init);
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
      const why = reasonOf(e);
      const url = `${base}${path.split("?")[0]}`;
      const what = `Cannot reach the coordinator at ${url}: ${why}; ${coordinatorHint(base)}`;
      throw new TypeError(what, { cause: e });
    }
  };
  return Object.assign(call, { origin: new URL(base).origin });
}

/** True for a failure worth retrying later: no connection, or a 502/503/504 answer. */

export function isTransient(e: unknown): boolean {
  return e instanceof TypeError || (e instanceof CoordinatorError && TRANSIENT.has(e.status)) ||
    (e instanceof DOMException && e.name === "TimeoutError");
}

/** The code of a refusal to take an update for a round that is no longer open. */
export { ROUND_NOT_OPEN, UPDATE_COUNTED } from "./task.ts";
/** The code of an error response that carried none (a proxy's page, an old coordinator). */
export const UNKNOWN = "UNKNOWN";

/** Error raised when the coordinator answers a request with an error status. */
export class CoordinatorError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "CoordinatorError";
  }
}

/** The code and message of an error body (`{ "error": { "code", "message" } }`); a body in
 * another shape gets the code UNKNOWN, never a guess from its text. */
export function parseErrorBody(text: string): { code: string; message: string } {
  let error: unknown;
  try {
    error = (JSON.parse(text) as { error?: unknown })?.error;
  } catch {
    return { code: UNKNOWN, message: text };
  }
  if (typeof error === "string") return { code: UNKNOWN, message: error };
  if (typeof error === "object" && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === "string") return { code, message: String(message ?? "") };
  }
  return { code: UNKNOWN, message: text };
}

/** Statuses worth another try: the coordinator or a proxy in front of it is briefly away. */
const TRANSIENT = new Set([502, 503, 504]);

/** Options of a CoordinatorClient. */
export interface CoordinatorClientOptions {
  /** How many times a failed connection or a 502/503/504 is retried (default 0). */
  retries?: number;
  /** Wait before the first retry, doubled before each next one (default 500 ms). */
  retryDelayMs?: number;
  /** Longest one request may take, its body included ({@link REQUEST_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/**
 * Default {@link CoordinatorClientOptions.timeoutMs}: 10 minutes, room for a 124M model's
 * checkpoint on a slow link. A coordinator that holds a request open for ever would otherwise
 * stop the worker's heartbeats and challenge answers, which only run between requests, and have
 * an honest node slashed for silence.
 */
export const REQUEST_TIMEOUT_MS = 10 * 60_000;

/** JSON and byte calls to the coordinator; every error status throws a CoordinatorError. */
export class CoordinatorClient {
  readonly #fetch: CoordinatorFetch;
  /** The coordinator's origin, when its fetch is bound to a URL. */
  readonly origin?: string;
  readonly #retries: number;
  readonly #delayMs: number;
  readonly #timeoutMs: number;

  constructor(fetch: CoordinatorFetch, options: CoordinatorClientOptions = {}) {
    this.#fetch = fetch;
    this.origin = fetch.origin;
    this.#retries = options.retries ?? 0;
    this.#delayMs = options.retryDelayMs ?? 500;
    this.#timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  /** The response to `path` once it is ok; throws a CoordinatorError otherwise. */
  async request(path: string, init?: RequestInit): Promise<Response> {
    for (let attempt = 0;; attempt++) {
      const last = attempt >= this.#retries;
      let res: Response;
      try {
        res = await this.#fetch(path, {
          ...init,
          signal: init?.signal ?? AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (e) {
        if (last || !(e instanceof TypeError)) throw e; // fetch throws TypeError on no connection
        await this.#pause(attempt);
        continue;
      }
      if (res.ok) return res;
      if (last || !TRANSIENT.has(res.status)) throw await errorOf(res, init?.method ?? "GET", path);
      await res.body?.cancel();
      await this.#pause(attempt);
    }
  }

  /** GETs `path` and parses its JSON body (undefined when empty). */
  getJson<T>(path: string): Promise<T> {
    return this.#json(path);
  }

  /** POSTs `body` as JSON (a string is sent as is) and parses the JSON answer. */
  postJson<T>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
    return this.#json(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  /** POSTs raw bytes and parses the JSON answer. */
  postBytes<T>(path: string, bytes: Uint8Array): Promise<T> {
    return this.#json(path, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
  }

  /** GETs `path` as bytes, at most `maxBytes` of them ({@link MAX_DOWNLOAD_BYTES}). */
  async getBytes(
    path: string,
    maxBytes = MAX_DOWNLOAD_BYTES,
    init?: RequestInit,
  ): Promise<Uint8Array> {
    return await readLimited(await this.request(path, init), maxBytes, `GET ${path}`);
  }

  async #json<T>(path: string, init?: RequestInit): Promise<T> {
    const res = await this.request(path, init);
    const bytes = await readLimited(res, MAX_JSON_BYTES, `${init?.method ?? "GET"} ${path}`);
    const text = new TextDecoder().decode(bytes);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  #pause(attempt: number): Promise<void> {
    return new Promise((r) => setTimeout(r, this.#delayMs * 2 ** attempt));
  }
}

/**
 * Most bytes one download holds in memory (a shard, a spec, a checkpoint read whole): the
 * coordinator's own file limit. The worker does not trust the coordinator; an endless body
 * would otherwise take all the laptop's memory before its CID check could fail.
 */
export const MAX_DOWNLOAD_BYTES = 2 ** 30;
/** Most bytes of a JSON answer (tasks, status, session views). */
export const MAX_JSON_BYTES = 16 * 2 ** 20;

/** `res`'s body, refused as soon as it passes `maxBytes` (declared or streamed). */
export async function readLimited(
  res: Response,
  maxBytes: number,
  what: string,
): Promise<Uint8Array> {
  try {
    return await readBounded(res.body, maxBytes, Number(res.headers.get("content-length") ?? 0));
  } catch (e) {
    if (!(e instanceof BodyTooLargeError)) throw e;
    throw new RangeError(`Cannot read ${what}: ${e.message}`);
  }
}

/**
 * Most bytes of an error body read (a coordinator's `{ error: { code, message } }` is far
 * smaller). Found in the worker audit: read up to MAX_JSON_BYTES, a 500 of one 16 MiB line went
 * into the error's message and, retried every poll, into the log each time.
 */
export const MAX_ERROR_BODY_BYTES = 4 * 1024;

async function errorOf(res: Response, method: string, path: string): Promise<CoordinatorError> {
  const body = await readPrefix(res.body, MAX_ERROR_BODY_BYTES).catch(() => "");
  const { code, message } = parseErrorBody(body);
  return new CoordinatorError(
    res.status,
    code,
    `Cannot ${method} ${path}: ${res.status} ${message}`,
  );
}
