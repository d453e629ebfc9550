/**
 * Counts the entries a KV's listings hand out: the work a request does in KV, measured without a
 * clock (tests assert counts, never wall-clock times).
 */

/** Wraps `kv.list` in place; `listed` grows by one per entry any listing yields. */
export function countListed(kv: Deno.Kv): { listed: number } {
  const count = { listed: 0 };
  const list = kv.list.bind(kv);
  async function* counting<T>(entries: AsyncIterable<Deno.KvEntry<T>>) {
    for await (const e of entries) {
      count.listed++;
      yield e;
    }
  }
  // Iteration only (no `cursor`): what the coordinator's listings use.
  kv.list =
    ((selector: Deno.KvListSelector, options?: Deno.KvListOptions) =>
      counting(list(selector, options))) as unknown as typeof kv.list;
  return count;
}
