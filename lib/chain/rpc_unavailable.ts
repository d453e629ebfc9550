/**
 * Whether a failure was the chain's JSON-RPC endpoint not answering (connection refused, HTTP
 * error, timeout) rather than a revert or a bug: a coordinator answers those with 503, which
 * clients retry, instead of a 500.
 *
 * @example
 * ```ts
 * import { HttpRequestError } from "viem";
 * import { rpcUnavailable } from "./rpc_unavailable.ts";
 * const cause = new HttpRequestError({ url: "http://127.0.0.1:9" });
 * const e = new Error("Cannot readJob", { cause });
 * console.assert(rpcUnavailable(e)?.url === "http://127.0.0.1:9");
 * ```
 */
import { HttpRequestError, TimeoutError } from "viem";

/** The endpoint that did not answer, if that is what `e` (or one of its causes) is. */
export function rpcUnavailable(e: unknown): { url: string } | undefined {
  for (let c = e, depth = 0; c && depth < 8; c = (c as Error).cause, depth++) {
    if (c instanceof HttpRequestError || c instanceof TimeoutError) return { url: c.url };
  }
  return undefined;
}
