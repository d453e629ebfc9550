/**
 * The SecAgg+ communication graph (Bell et al. 2020): a Harary graph H(k, n) on a random
 * cyclic order of the clients. Each client's neighbours are the k/2 clients on either side of
 * it in the order, so every client has exactly k neighbours and the relation is symmetric.
 * Masks and shares are exchanged only along edges, so a client's cost grows with k = O(log n)
 * instead of n.
 *
 * The order is a Fisher-Yates shuffle driven by SHA-256 in counter mode over a public round
 * seed, so every party computes the same graph without a message. The seed must be fixed after
 * the roster and unpredictable before (a block hash after the round's nodes are assigned, say):
 * a server that could pick it would grind for a graph that puts a victim among colluders.
 *
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";

/** Default neighbours per client: this many times log2(n), rounded up to an even number. */
export const DEGREE_PER_LOG2_CLIENTS = 6;
const GRAPH_DOMAIN = new TextEncoder().encode("ArthaTrain:secagg:v1:graph");

/**
 * Default degree for `clients` clients: the complete graph (n - 1) while that is no larger
 * than {@link DEGREE_PER_LOG2_CLIENTS} * log2(n), else that bound rounded up to even.
 *
 * @example
 * ```ts
 * import { defaultDegree } from "./graph.ts";
 * console.assert(defaultDegree(8) === 7); // small rounds: everyone is a neighbour
 * console.assert(defaultDegree(1000) === 60);
 * ```
 */
export function defaultDegree(clients: number): number {
  if (!Number.isInteger(clients) || clients < 2) {
    throw new RangeError(`Cannot size graph: ${clients} clients`);
  }
  const k = 2 * Math.ceil((DEGREE_PER_LOG2_CLIENTS * Math.log2(clients)) / 2);
  return Math.min(clients - 1, k);
}

/**
 * Each client's neighbours (roster order inside each list) in the Harary graph of degree
 * `degree` on the order shuffled by `seed`. A degree of n - 1 or more is the complete graph.
 *
 * @throws {RangeError} on repeated ids, a degree below 1, or an odd degree below n - 1
 * @example
 * ```ts
 * import { neighbourGraph } from "./graph.ts";
 * const ids = ["a", "b", "c", "d", "e", "f"];
 * const graph = neighbourGraph(ids, { seed: new Uint8Array(32), degree: 2 });
 * const [u, v] = graph.get("a")!;
 * console.assert(graph.get(u!)!.includes("a") && graph.get(v!)!.includes("a"));
 * ```
 */
export function neighbourGraph(
  clients: readonly string[],
  parameters: { seed: Uint8Array; degree: number },
): Map<string, string[]> {
  const { seed, degree } = parameters;
  const n = clients.length;
  if (new Set(clients).size !== n) throw new RangeError("Cannot build graph: repeated ids");
  if (!Number.isInteger(degree) || degree < 1 || (degree < n - 1 && degree % 2 !== 0)) {
    throw new RangeError(`Cannot build graph: degree ${degree} must be even below ${n - 1}`);
  }
  const rank = new Map(clients.map((id, i) => [id, i]));
  const order = shuffle(clients, seed);
  const half = degree >= n - 1 ? Math.floor(n / 2) : degree / 2;
  const graph = new Map<string, string[]>();
  order.forEach((id, p) => {
    const set = new Set<string>();
    for (let d = 1; d <= half; d++) {
      set.add(order[(p + d) % n]!);
      set.add(order[(p - d + n) % n]!);
    }
    set.delete(id);
    graph.set(id, [...set].sort((a, b) => rank.get(a)! - rank.get(b)!));
  });
  return graph;
}

/**
 * Removes from `live` (in place) every client with fewer than `threshold` neighbours in it,
 * repeating until none is left to remove: a client with fewer live neighbours than the
 * threshold could never have its secrets rebuilt. Returns the removed clients, in order.
 *
 * @example
 * ```ts
 * import { neighbourGraph, pruneBelowThreshold } from "./graph.ts";
 * const neighbours = neighbourGraph(["a", "b", "c", "d"], { seed: new Uint8Array(32), degree: 3 });
 * const live = new Set(["a", "b", "c"]);
 * const removed = pruneBelowThreshold(live, { neighbours, threshold: 3 });
 * console.assert(removed.length === 3 && live.size === 0);
 * ```
 */
export function pruneBelowThreshold(
  live: Set<string>,
  parameters: { neighbours: ReadonlyMap<string, readonly string[]>; threshold: number },
): string[] {
  const { neighbours, threshold } = parameters;
  const removed: string[] = [];
  for (let changed = true; changed;) {
    changed = false;
    for (const u of live) {
      if (neighbours.get(u)!.filter((v) => live.has(v)).length < threshold) {
        live.delete(u);
        removed.push(u);
        changed = true;
      }
    }
  }
  return removed;
}

/** Fisher-Yates with unbiased indices from SHA-256(domain ++ seed ++ counter). */
function shuffle(items: readonly string[], seed: Uint8Array): string[] {
  const out = [...items];
  const next = wordStream(seed);
  for (let i = out.length - 1; i > 0; i--) {
    // Rejection sampling: accept only words below the largest multiple of (i + 1).
    const bound = 2 ** 32 - (2 ** 32 % (i + 1));
    let w = next();
    while (w >= bound) w = next();
    const j = w % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function wordStream(seed: Uint8Array): () => number {
  let counter = 0;
  let block = new Uint32Array(0);
  let used = 0;
  return () => {
    if (used === block.length) {
      const input = new Uint8Array(GRAPH_DOMAIN.length + seed.length + 4);
      input.set(GRAPH_DOMAIN);
      input.set(seed, GRAPH_DOMAIN.length);
      new DataView(input.buffer).setUint32(input.length - 4, counter++);
      const digest = sha256(input);
      block = new Uint32Array(digest.buffer, digest.byteOffset, 8);
      used = 0;
    }
    return block[used++]!;
  };
}
