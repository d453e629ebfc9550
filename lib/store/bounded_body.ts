/**
 * A body read whole, but never past a limit: a declared length over it is refused before a byte
 * is read, and a body without one (chunked, or a peer that lies) is counted as it streams and
 * cancelled the moment it passes. The coordinator reads request bodies this way, the worker the
 * coordinator's answers: neither trusts the other's sizes.
 *
 * @example
 * ```ts
 * import { BodyTooLargeError, readBounded } from "./bounded_body.ts";
 * const body = new Response(new Uint8Array(10)).body;
 * console.assert((await readBounded(body, 10)).length === 10);
 * const big = new Response(new Uint8Array(11)).body;
 * const refused = await readBounded(big, 10)
 *   .then(() => false, (e) => e instanceof BodyTooLargeError);
 * console.assert(refused);
 * ```
 */
import { concatBytes } from "../crypto/digest.ts";

/** Thrown when a body passes its limit. */
export class BodyTooLargeError extends RangeError {
  /** @param maxBytes the limit it passed */
  constructor(readonly maxBytes: number) {
    super(`larger than ${maxBytes} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * All of `body`'s bytes, at most `maxBytes` (`declared`: a length the sender stated).
 *
 * @throws {BodyTooLargeError} past the limit, declared or streamed (the stream is cancelled)
 */
export async function readBounded(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  declared = 0,
): Promise<Uint8Array> {
  if (declared > maxBytes) {
    await body?.cancel();
    throw new BodyTooLargeError(maxBytes);
  }
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    size += r.value.length;
    if (size > maxBytes) {
      await reader.cancel();
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(r.value);
  }
  return chunks.length === 1 ? chunks[0]! : concatBytes(...chunks);
}

/**
 * The first `maxBytes` of `body` as text (less if it ends first), the rest cancelled unread: what
 * an error answer is quoted by. Read with `res.text()`, an endless error body from a hostile
 * gateway or RPC took the reader's memory.
 *
 * @example
 * ```ts
 * import { readPrefix } from "./bounded_body.ts";
 * console.assert(await readPrefix(new Response("x".repeat(1_000)).body, 3) === "xxx");
 * ```
 */
export async function readPrefix(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<string> {
  if (!body) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const r = await reader.read();
      if (r.done) break;
      chunks.push(r.value);
      size += r.value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(concatBytes(...chunks).subarray(0, maxBytes));
}
