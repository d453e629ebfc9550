/**
 * Values of any size in Deno KV, which refuses a value over 64 KiB and a commit over 800 KiB: a
 * head holding the first part and the part count, and the rest under the key.
 *
 * @module
 */

/** Characters per KV part: Deno KV refuses values above 64 KiB, large jobs exceed that. */
const PART_CHARS = 50_000;

interface LargeHead {
  parts: number;
  json: string;
  /** Where the parts are (`[...key, "part", id, i]`); absent: `[...key, "part", i]`. */
  id?: string;
}

/** The key of part `i` of a large value with head `head`. */
const partKey = (key: Deno.KvKey, head: LargeHead, i: number): Deno.KvKey =>
  head.id === undefined ? [...key, "part", i] : [...key, "part", head.id, i];

/**
 * Reads a value written by {@link setLarge}; `versionstamp` is the head's, so
 * `atomic().check(entry)` guards the whole value.
 */
export async function getLarge<T>(
  kv: Deno.Kv,
  key: Deno.KvKey,
): Promise<{ key: Deno.KvKey; value: T | null; versionstamp: string | null }> {
  const head = await kv.get<LargeHead>(key);
  if (!head.value) return { key, value: null, versionstamp: null };
  let json = head.value.json;
  for (let i = 1; i < head.value.parts; i++) {
    const part = await kv.get<string>(partKey(key, head.value, i));
    if (typeof part.value !== "string") {
      throw new Error(`Cannot read ${String(key)}: part ${i} missing`);
    }
    json += part.value;
  }
  return { key, value: JSON.parse(json) as T, versionstamp: head.versionstamp };
}

/** Adds the writes of a value of any size to an atomic operation (head + parts). */
export function setLarge(
  op: Deno.AtomicOperation,
  key: Deno.KvKey,
  value: unknown,
): Deno.AtomicOperation {
  const json = JSON.stringify(value);
  const parts = Math.max(1, Math.ceil(json.length / PART_CHARS));
  op.set(key, { parts, json: json.slice(0, PART_CHARS) } satisfies LargeHead);
  for (let i = 1; i < parts; i++) {
    op.set([...key, "part", i], json.slice(i * PART_CHARS, (i + 1) * PART_CHARS));
  }
  return op;
}

/** Parts {@link commitLarge} writes per commit: 6 x 50,000 characters, under KV's 800 KiB. */
const PARTS_PER_COMMIT = 6;

/**
 * A short id of a value's content (its JSON's SHA-256, 16 hex digits): where commitLarge files its
 * parts, and which of several recorded values a record names.
 *
 * @example
 * ```ts
 * import { contentId } from "./large_value.ts";
 * console.assert((await contentId(["a"])) === (await contentId(["a"])));
 * console.assert((await contentId(["a"])).length === 16);
 * ```
 */
export async function contentId(value: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Records a value of any size where none is, and returns the value recorded (this one, or a
 * racer's that landed first). Its parts are written in commits of their own, under an id taken
 * from the content (a retry rewrites the same entries, a racer's never mix in), then the head,
 * which marks the value complete: a crash between parts leaves no value, and the retry writes it.
 * One commit of the whole could not exceed 800 KiB (a verified 10,000-node closing set did).
 *
 * @example
 * ```ts
 * import { commitLarge } from "./state.ts";
 * const kv = await Deno.openKv(":memory:");
 * console.assert((await commitLarge(kv, ["k"], "a".repeat(1e6))).length === 1e6);
 * console.assert((await commitLarge(kv, ["k"], "b")).length === 1e6, "the first one stays");
 * kv.close();
 * ```
 */
export async function commitLarge<T>(kv: Deno.Kv, key: Deno.KvKey, value: T): Promise<T>;
/**
 * As above, recording the value only while every one of `guards` holds (the entries the value was
 * derived from are unchanged): undefined when one changed and no value is recorded, so the caller
 * derives it again and records that (which deletes this attempt's parts).
 */
export async function commitLarge<T>(
  kv: Deno.Kv,
  key: Deno.KvKey,
  value: T,
  guards: Deno.AtomicCheck[],
): Promise<T | undefined>;
export async function commitLarge<T>(
  kv: Deno.Kv,
  key: Deno.KvKey,
  value: T,
  guards: Deno.AtomicCheck[] = [],
): Promise<T | undefined> {
  const json = JSON.stringify(value);
  const id = await contentId(value);
  const head: LargeHead = { parts: Math.max(1, Math.ceil(json.length / PART_CHARS)), json, id };
  const absent = { key, versionstamp: null };
  for (let i = 1; i < head.parts; i += PARTS_PER_COMMIT) {
    const op = kv.atomic().check(absent);
    for (let j = i; j < Math.min(head.parts, i + PARTS_PER_COMMIT); j++) {
      op.set(partKey(key, head, j), json.slice(j * PART_CHARS, (j + 1) * PART_CHARS));
    }
    if (!(await op.commit()).ok) break; // a racer's value is recorded
  }
  await kv.atomic().check(absent, ...guards).set(key, { ...head, json: json.slice(0, PART_CHARS) })
    .commit();
  const recorded = await kv.get<LargeHead>(key);
  // No value recorded (a guard failed): its parts stay for the record that follows to delete, as
  // a racer may be writing the same parts for its own head right now.
  if (!recorded.value) return undefined;
  if (recorded.value.id !== undefined) await deleteOtherParts(kv, key, recorded.value.id);
  return (await getLarge<T>(kv, key)).value!;
}

/**
 * Deletes the parts under `key` of every value but the recorded one: a racer's that lost, and a
 * crashed attempt's whose retry wrote another value (found reviewing this: a closing set retried
 * after more updates arrived left the first attempt's parts for good). A racer still writing
 * fails its own head commit afterwards, its parts already gone.
 */
function deleteOtherParts(kv: Deno.Kv, key: Deno.KvKey, recordedId: string): Promise<void> {
  return deleteListed(kv, [...key, "part"], (k) => k[key.length + 1] !== recordedId);
}

/**
 * Deletes every entry under `prefix` whose key `which` selects, in operations of 500 (KV takes
 * 1,000 mutations an operation).
 *
 * @example
 * ```ts
 * import { deleteListed } from "./large_value.ts";
 * const kv = await Deno.openKv(":memory:");
 * await kv.set(["a", 1], 1);
 * await kv.set(["a", 2], 2);
 * await deleteListed(kv, ["a"], (key) => key[1] === 1);
 * console.assert((await kv.get(["a", 1])).value === null && (await kv.get(["a", 2])).value === 2);
 * kv.close();
 * ```
 */
export async function deleteListed(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  which: (key: Deno.KvKey) => boolean,
): Promise<void> {
  let op = kv.atomic(), pending = 0;
  for await (const e of kv.list({ prefix })) {
    if (!which(e.key)) continue;
    op.delete(e.key);
    if (++pending < 500) continue;
    await op.commit();
    op = kv.atomic();
    pending = 0;
  }
  if (pending > 0) await op.commit();
}
