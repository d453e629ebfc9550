/**
 * Where a federated round's time goes: every JSON-RPC call (by method), coordinator request (by
 * route), KV and SVDB store call is timed and charged to the bench's current phase and to the
 * caller it ran inside (a laptop, or the coordinator handler serving it), so a handler's own time
 * (signature checks, parsing, hashing) is what is left after its chain, KV and store calls.
 * Times are summed over concurrent lanes, so a row can exceed its phase's wall time.
 */
import { AsyncLocalStorage } from "node:async_hooks";

interface Total {
  ms: number;
  n: number;
}

/** The laptop side: what runs outside any coordinator handler. */
export const LAPTOP = "laptop";

export class RoundProfile {
  #where = new AsyncLocalStorage<string>();
  #totals = new Map<string, Map<string, Total>>();
  /** The phase new timings are charged to. */
  phase = "setup";

  /** Charges `ms` to `what` inside the current caller and phase. */
  add(what: string, ms: number): void {
    const rows = this.#totals.get(this.phase) ?? new Map<string, Total>();
    this.#totals.set(this.phase, rows);
    const key = `${this.#where.getStore() ?? LAPTOP}\t${what}`;
    const t = rows.get(key) ?? { ms: 0, n: 0 };
    t.ms += ms;
    t.n++;
    rows.set(key, t);
  }

  /** Times `fn` as `what`. */
  async time<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(what, performance.now() - t0);
    }
  }

  /** Runs `fn` as the caller `where` (a coordinator route), timed as `http <where>`. */
  serve<T>(where: string, fn: () => Promise<T>): Promise<T> {
    return this.time(`http ${where}`, () => this.#where.run(where, fn));
  }

  /** The rows of a phase: [caller, what, total] by total time, largest first. */
  rows(phase: string): [string, string, Total][] {
    return [...(this.#totals.get(phase) ?? new Map<string, Total>())]
      .map(([k, t]) => [...k.split("\t") as [string, string], t] as [string, string, Total])
      .sort((a, b) => b[2].ms - a[2].ms);
  }

  /** Summed ms of the rows matching `pred` in a phase. */
  sum(phase: string, pred: (where: string, what: string) => boolean): number {
    return this.rows(phase).reduce((s, [w, x, t]) => s + (pred(w, x) ? t.ms : 0), 0);
  }

  /** Times every JSON-RPC call to `rpcUrl` made through fetch; returns the undo. */
  timeRpc(rpcUrl: string): () => void {
    const original = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (!url.startsWith(rpcUrl)) return original(input, init);
      let what = "rpc";
      try {
        const body = JSON.parse(String(init?.body));
        what = Array.isArray(body) ? `rpc batch of ${body.length}` : `rpc ${body.method}`;
      } catch { /* not JSON: leave it as "rpc" */ }
      return this.time(what, () => original(input, init));
    };
    return () => globalThis.fetch = original;
  }

  /** `kv` with every call timed as `kv <method>` (atomic commits and list pages included). */
  timeKv(kv: Deno.Kv): Deno.Kv {
    const timeIter = <I extends AsyncIterableIterator<unknown>>(it: I): I => {
      const proxy: I = new Proxy(it, {
        get: (t, p) => {
          if (p === Symbol.asyncIterator) return () => proxy;
          if (p === "next") return () => this.time("kv list", () => t.next());
          const v = Reflect.get(t, p, t);
          return typeof v === "function" ? v.bind(t) : v;
        },
      });
      return proxy;
    };
    const timeAtomic = (op: Deno.AtomicOperation): Deno.AtomicOperation => {
      const proxy: Deno.AtomicOperation = new Proxy(op, {
        get: (t, p) => {
          const v = Reflect.get(t, p, t);
          if (p === "commit") return () => this.time("kv atomic commit", () => t.commit());
          if (typeof v !== "function") return v;
          return (...a: unknown[]) => {
            const r = v.apply(t, a);
            return r === t ? proxy : r;
          };
        },
      });
      return proxy;
    };
    return new Proxy(kv, {
      get: (t, p) => {
        const v = Reflect.get(t, p, t);
        if (typeof v !== "function") return v;
        if (p === "atomic") return () => timeAtomic(t.atomic());
        if (p === "list") {
          return (...a: Parameters<Deno.Kv["list"]>) => timeIter(t.list(...a));
        }
        if (["get", "getMany", "set", "delete", "enqueue"].includes(String(p))) {
          return (...a: unknown[]) => this.time(`kv ${String(p)}`, () => v.apply(t, a));
        }
        return v.bind(t);
      },
    });
  }

  /** `obj` with its async methods timed as `<label> <method>`. */
  timeMethods<T extends object>(obj: T, label: string): T {
    return new Proxy(obj, {
      get: (t, p) => {
        const v = Reflect.get(t, p, t);
        if (typeof v !== "function") return v;
        return (...a: unknown[]) => {
          const r = v.apply(t, a);
          if (!(r instanceof Promise)) return r;
          const t0 = performance.now();
          return r.finally(() => this.add(`${label} ${String(p)}`, performance.now() - t0));
        };
      },
    });
  }
}

/** A coordinator route as a caller label: method and path without ids or queries. */
export function routeLabel(path: string, method = "GET"): string {
  const p = path.split("?")[0]!.replace(/\/(bafy|baf|Qm)[^/]*$/, "/:cid");
  return `${method} ${p}`;
}
