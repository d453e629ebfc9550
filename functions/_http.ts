/**
 * What every function shares: an HttpError the router turns into a JSON error response, JSON
 * helpers, and small validators so a bad body gets a 400 that names the field.
 */

/** An error with an HTTP status; the message is shown to the client. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HttpError";
  }
}

/** A JSON response (bigints become decimal strings). */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(
    JSON.stringify(body, (_k, v) => typeof v === "bigint" ? v.toString() : v),
    { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } },
  );
}

/** Turns any thrown value into a response: HttpError as is, anything else as a logged 500. */
export function errorResponse(e: unknown): Response {
  if (e instanceof HttpError) return json({ error: e.message }, e.status);
  console.error(e);
  return json({ error: "internal error" }, 500);
}

/** Wraps a handler so it never throws. */
export function handler(fn: (req: Request) => Promise<Response> | Response) {
  return async (req: Request): Promise<Response> => {
    try {
      return await fn(req);
    } catch (e) {
      return errorResponse(e);
    }
  };
}

/** Default and hard limit for request bodies. */
export const MAX_BODY_BYTES = 1 << 20;

/** Reads a JSON object body, with a size limit and clear 4xx errors. */
export async function readJson(
  req: Request,
  maxBytes = MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  const type = req.headers.get("content-type") ?? "";
  if (!type.includes("application/json")) {
    throw new HttpError(415, "Cannot read body: content-type must be application/json");
  }
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    throw new HttpError(413, `Cannot read body: larger than ${maxBytes} bytes`);
  }
  const text = await req.text();
  if (text.length > maxBytes) {
    throw new HttpError(413, `Cannot read body: larger than ${maxBytes} bytes`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, "Cannot read body: not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "Cannot read body: expected a JSON object");
  }
  return body as Record<string, unknown>;
}

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

function bad(field: string, what: string): never {
  throw new HttpError(400, `Invalid field "${field}": ${what}`);
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
  bool(o: Record<string, unknown>, name: string, fallback?: boolean): boolean {
    const v = o[name] ?? fallback;
    if (typeof v !== "boolean") bad(name, "expected a boolean");
    return v;
  },
};
