/**
 * Parsed job specs by CID, the least recently used dropped past a byte budget. Content
 * addressing makes a spec immutable, so caching is safe; but anyone may store specs and name them
 * (a job owner submitting jobs, a coordinator serving tasks), so an unbounded cache is memory that
 * a stranger fills: 4 MiB specs, each a little different, one per request.
 *
 * @example
 * ```ts
 * import { SpecCache } from "./spec_cache.ts";
 * const cache = new SpecCache(2 ** 20);
 * const gone = () => Promise.reject(new Error("not stored"));
 * await cache.get("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", gone).catch(() => {});
 * console.assert(cache.size === 0 && cache.bytes === 0); // a failed read caches nothing
 * ```
 *
 * @module
 */
import { type JobSpec, parseJobSpec } from "./job_spec.ts";

/** A bounded cache of parsed specs, keyed by CID (the caller checks the bytes against it). */
export class SpecCache {
  readonly #maxBytes: number;
  /** In order of use, least recent first: each spec with the size of the bytes it came from. */
  readonly #entries = new Map<string, { spec: JobSpec; bytes: number }>();
  #bytes = 0;

  /** @param maxBytes what the cached specs' encodings may add up to */
  constructor(maxBytes: number) {
    if (!(maxBytes >= 0)) throw new RangeError(`Cannot cache specs in ${maxBytes} bytes`);
    this.#maxBytes = maxBytes;
  }

  /** How many specs are cached. */
  get size(): number {
    return this.#entries.size;
  }

  /** The bytes of the cached specs' encodings. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The spec at `cid`: cached, or parsed from `load()` and cached if it fits. */
  async get(cid: string, load: () => Promise<Uint8Array>): Promise<JobSpec> {
    const hit = this.#entries.get(cid);
    if (hit) {
      this.#entries.delete(cid);
      this.#entries.set(cid, hit);
      return hit.spec;
    }
    const bytes = await load();
    const spec = parseJobSpec(bytes);
    if (bytes.length > this.#maxBytes || this.#entries.has(cid)) return spec;
    for (const [key, e] of this.#entries) {
      if (this.#bytes + bytes.length <= this.#maxBytes) break;
      this.#entries.delete(key);
      this.#bytes -= e.bytes;
    }
    this.#entries.set(cid, { spec, bytes: bytes.length });
    this.#bytes += bytes.length;
    return spec;
  }
}
