/**
 * The typed outcome of a coordinator verb: `{ ok: true, ... }` or a {@link Rejection} with a
 * stable SCREAMING_SNAKE `code` clients branch on (never the message text), and the HTTP-like
 * status a handler answers with.
 *
 * @example
 * ```ts
 * import { reject } from "./result.ts";
 * const r = reject(404, "UNKNOWN_JOB", "Cannot accept update: unknown job");
 * console.assert(!r.ok && r.code === "UNKNOWN_JOB");
 * ```
 */

/** Why a coordinator verb refused. */
export interface Rejection {
  ok: false;
  /** Stable machine-readable reason, e.g. "ROUND_NOT_OPEN". */
  code: string;
  /** The status a handler answers with (4xx). */
  status: number;
  /** Human-readable, "Cannot <action>: <state>". */
  message: string;
}

/** A rejection. */
export function reject(status: number, code: string, message: string): Rejection {
  return { ok: false, code, status, message };
}

/**
 * A rejection thrown from deep inside a verb's steps (a budget exhausted mid-aggregation);
 * the verb's caller catches it with {@link rejectionOf}.
 */
export class RejectedError extends Error {
  constructor(readonly rejection: Rejection, options?: ErrorOptions) {
    super(rejection.message, options);
    this.name = "RejectedError";
  }
}

/** The rejection carried by `e`, or rethrows anything else. */
export function rejectionOf(e: unknown): Rejection {
  if (e instanceof RejectedError) return e.rejection;
  throw e;
}
