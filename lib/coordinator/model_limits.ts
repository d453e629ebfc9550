/**
 * Per-client limits of the inference service (/ai/infer, /rpc ai_infer, /v1/completions): how
 * many generations one client runs at once, and how many "cold" requests (a model not loaded:
 * a chain lookup and a load) it may make per minute. Found in the inference audit: only global
 * limits existed, so 16 concurrent anonymous requests took every generation slot, and cycling
 * five published checkpoints forced a 1-2 s reload of a whole model per request.
 *
 * A client is its remote address ({@link clientKeyOf}); IPv6 clients are grouped by /64, the
 * block one host is usually given, or each of its addresses would be a client of its own.
 *
 * @example
 * ```ts
 * import { ClientLimits, DEFAULT_INFER_LIMITS } from "./model_limits.ts";
 * const limits = new ClientLimits(DEFAULT_INFER_LIMITS, () => 0);
 * const done = [limits.enter("10.0.0.1"), limits.enter("10.0.0.1")];
 * let refused = false;
 * try {
 *   limits.enter("10.0.0.1");
 * } catch {
 *   refused = true;
 * }
 * console.assert(refused);
 * for (const end of done) end();
 * ```
 *
 * @module
 */
import { reject, RejectedError } from "./result.ts";

/** The inference service's limits; the defaults are {@link DEFAULT_INFER_LIMITS}. */
export interface InferLimits {
  /** Generations one client may run at once (then 429 CLIENT_BUSY). */
  clientGenerations: number;
  /** Requests for a model not loaded (a chain lookup and a load) one client may make per
   * minute, in bursts of as many (then 429 COLD_LOADS_LIMITED). */
  clientColdPerMinute: number;
  /** How long a loaded model stays before another client's load may evict it (then that load
   * is a 503 MODELS_BUSY): a reload costs 1-2 s of CPU for a 75 MB model. */
  minResidenceMs: number;
  /** How long a CID found not servable (unknown, not stored, private) is answered from memory,
   * without a chain read or a store read. */
  unservableTtlMs: number;
}

/** The limits a coordinator runs with unless told otherwise. */
export const DEFAULT_INFER_LIMITS: InferLimits = {
  clientGenerations: 2,
  clientColdPerMinute: 6,
  minResidenceMs: 60_000,
  unservableTtlMs: 30_000,
};

/** Most clients whose cold-request budget is remembered: the least recently seen are forgotten
 * first (a forgotten client starts again with a full budget, what a minute's wait gives it). */
const KEPT_BUCKETS = 10_000;

/** A refusal a client should retry after `retryAfterSeconds` (the Retry-After header). */
export class RetryLaterError extends RejectedError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(reject(status, code, message));
    this.name = "RetryLaterError";
  }
}

/**
 * The client a request comes from: its remote address (an IPv6 one cut to its /64), or
 * undefined where the server gave none (then only the global limits apply).
 *
 * @example
 * ```ts
 * import { clientKeyOf } from "./model_limits.ts";
 * const at = (hostname: string) => ({ remoteAddr: { transport: "tcp", hostname, port: 1 } });
 * console.assert(clientKeyOf(at("2001:db8::1")) === clientKeyOf(at("2001:db8:0:0:ffff::2")));
 * console.assert(clientKeyOf(at("192.0.2.1")) === "192.0.2.1");
 * ```
 */
export function clientKeyOf(
  info?: { remoteAddr?: { transport: string; hostname?: string } },
): string | undefined {
  const addr = info?.remoteAddr;
  if (!addr) return undefined;
  if (addr.hostname === undefined) return addr.transport; // a unix socket: one local client
  if (!addr.hostname.includes(":") || addr.hostname.includes(".")) return addr.hostname;
  const [head = "", tail = ""] = addr.hostname.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const full = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return full.slice(0, 4).map((h) => h.replace(/^0+(?=.)/, "")).join(":") + "::/64";
}

/**
 * The client of a request: its remote address, or, when that is one of `trustedProxies` (a
 * reverse proxy in front of the coordinator: ARTHA_TRUSTED_PROXIES), the address the proxy
 * forwarded for: the rightmost X-Forwarded-For entry that is no trusted proxy itself. Found
 * reviewing the limits: behind a proxy every user was the proxy's one address, and the whole
 * service got one client's share. Nobody else's header is read: anyone may send one.
 *
 * @example
 * ```ts
 * import { requestClient } from "./model_limits.ts";
 * const proxy = { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } };
 * const headers = new Headers({ "x-forwarded-for": "203.0.113.9, 198.51.100.7" });
 * console.assert(requestClient(headers, proxy, ["127.0.0.1"]) === "198.51.100.7");
 * console.assert(requestClient(headers, proxy, []) === "127.0.0.1");
 * ```
 */
export function requestClient(
  headers: Headers,
  info?: { remoteAddr?: { transport: string; hostname?: string } },
  trustedProxies: readonly string[] = [],
): string | undefined {
  const addr = info?.remoteAddr;
  const from = addr && (addr.hostname?.toLowerCase() ?? addr.transport);
  if (from === undefined || !trustedProxies.includes(from)) return clientKeyOf(info);
  const hops = (headers.get("x-forwarded-for") ?? "").split(",").map((h) => hostOf(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (hop && !trustedProxies.includes(hop)) {
      return clientKeyOf({ remoteAddr: { transport: "tcp", hostname: hop } });
    }
  }
  return clientKeyOf(info);
}

/** An X-Forwarded-For entry's address: `[v6]:port` and `v4:port` without the port. */
function hostOf(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed) return bracketed[1]!.toLowerCase();
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.exec(entry);
  return (v4 ? v4[1]! : entry).toLowerCase();
}

/** The per-client counts of one inference service. */
export class ClientLimits {
  #active = new Map<string, number>();
  #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(readonly limits: InferLimits, readonly now: () => number) {}

  /** Counts a generation of `client` until the returned function is called; throws 429 past
   * {@link InferLimits.clientGenerations}. */
  enter(client: string | undefined): () => void {
    if (client === undefined) return () => {};
    const n = this.#active.get(client) ?? 0;
    if (n >= this.limits.clientGenerations) {
      const why = `Cannot infer: ${n} generations of this client are under way; retry when ` +
        "one has ended";
      throw new RetryLaterError(429, "CLIENT_BUSY", why, 2);
    }
    this.#active.set(client, n + 1);
    return () => {
      const left = (this.#active.get(client) ?? 1) - 1;
      if (left > 0) this.#active.set(client, left);
      else this.#active.delete(client);
    };
  }

  /** Gives back a cold request the service refused itself (a 503: nothing was loaded). */
  refundCold(client: string | undefined): void {
    const b = client === undefined ? undefined : this.#buckets.get(client);
    if (b) b.tokens = Math.min(this.limits.clientColdPerMinute, b.tokens + 1);
  }

  /** Spends one of `client`'s cold requests; throws 429 when its budget is empty. */
  spendCold(client: string | undefined): void {
    if (client === undefined) return;
    const { clientColdPerMinute: rate } = this.limits;
    const now = this.now();
    const b = this.#buckets.get(client) ?? { tokens: rate, at: now };
    b.tokens = Math.min(rate, b.tokens + (now - b.at) * rate / 60_000);
    b.at = now;
    if (b.tokens < 1) {
      const wait = Math.ceil((1 - b.tokens) * 60 / rate);
      const why = `Cannot infer: this client asked for ${rate} models not loaded in the last ` +
        `minute; retry in ${wait} s, or ask for a loaded model`;
      throw new RetryLaterError(429, "COLD_LOADS_LIMITED", why, wait);
    }
    b.tokens--;
    this.#buckets.delete(client); // re-inserted last: the oldest are forgotten first
    this.#buckets.set(client, b);
    if (this.#buckets.size > KEPT_BUCKETS) this.#forgetOldest();
  }

  #forgetOldest(): void {
    for (const key of this.#buckets.keys()) {
      this.#buckets.delete(key);
      if (this.#buckets.size <= KEPT_BUCKETS / 2) return;
    }
  }
}
