/**
 * The public parameters of one secure-aggregation round, which the coordinator publishes and
 * every party resolves identically: roster, round context, graph, threshold, fixed-point scale
 * and noise.
 *
 * Two thresholds, on purpose:
 * - `threshold` (t, per neighbourhood): shares of a client's secrets needed to rebuild them.
 *   It must exceed half the degree, so that the honest neighbours answering "b" and those
 *   answering "s^SK" for one client cannot both reach t (each answers one kind only); with c
 *   colluding neighbours, 2t > k + c is needed.
 * - `minSurvivors` (global): the fewest inputs a released sum may contain. Clients refuse to
 *   unmask a smaller set and size their DP noise by it.
 *
 * @module
 */
import { hexToBytes } from "../../crypto/digest.ts";
import type { Hex } from "../../crypto/digest.ts";
import { fixedPointScale } from "./fixed_point.ts";
import { defaultDegree, neighbourGraph } from "./graph.ts";
import { clientNoiseStd } from "./noise.ts";

/** Default minSurvivors as a fraction of the roster (Bonawitz et al.'s 2n/3). */
export const DEFAULT_MIN_SURVIVOR_FRACTION = 2 / 3;

/** What the coordinator publishes for a round (JSON). */
export interface SecAggConfig {
  /** Unique per job and round (e.g. `artha:31337:<jobId>:round-3`); bound into every key,
   *  signature and ciphertext, so nothing carries over between rounds. */
  context: string;
  /** Public 32-byte seed of the neighbour graph, fixed after the roster (see graph.ts). */
  seed: Hex;
  /** Everyone who may take part, in a fixed order (the order gives Shamir points). */
  clients: readonly string[];
  /**
   * The roster the neighbour graph is drawn over, when `clients` is part of it (a retry without
   * some of the first attempt's clients): each client's neighbours are then its neighbours in
   * that graph who are clients, so leaving clients out can only take neighbours away, never draw
   * another graph (default `clients`).
   */
  graphClients?: readonly string[];
  /** Length of each input vector (the parameter count). */
  vectorLength: number;
  /** Each coordinate is clipped to [-clip, clip] before encoding. */
  clip: number;
  /** Neighbours per client (default {@link defaultDegree}). */
  degree?: number;
  /** Shares needed to rebuild a secret (default floor(degree / 2) + 1). */
  threshold?: number;
  /** Fewest inputs in a released sum (default ceil(2n/3), at least 2). */
  minSurvivors?: number;
  /** Target std sigma of the DP noise on the sum (default 0: no noise). See noise.ts. */
  noiseStd?: number;
  /** Run Bonawitz et al.'s ConsistencyCheck round (needs sign and verify everywhere). */
  consistencyCheck?: boolean;
}

/** A resolved round: the config with defaults filled in and what follows from it. */
export interface SecAggParams {
  readonly context: string;
  readonly seed: Uint8Array;
  readonly clients: readonly string[];
  readonly vectorLength: number;
  readonly clip: number;
  readonly degree: number;
  readonly threshold: number;
  readonly minSurvivors: number;
  readonly noiseStd: number;
  readonly consistencyCheck: boolean;
  /** Roster position of each client (its Shamir point is position + 1). */
  readonly index: ReadonlyMap<string, number>;
  /** Each client's neighbours, roster order. */
  readonly neighbours: ReadonlyMap<string, readonly string[]>;
  /** Fixed-point scale (a power of two). */
  readonly scale: number;
  /** Std of the noise each client adds. */
  readonly clientNoiseStd: number;
}

/**
 * Validates `config` and fills in defaults. Every party calls this on the same config and
 * gets the same parameters; pass the result around instead of recomputing the graph.
 *
 * @throws {RangeError} / {TypeError} on an inconsistent config
 * @example
 * ```ts
 * import { resolveParams } from "./params.ts";
 * const p = resolveParams({
 *   context: "job-1:round-0",
 *   seed: `0x${"00".repeat(32)}`,
 *   clients: ["a", "b", "c", "d"],
 *   vectorLength: 10,
 *   clip: 1,
 * });
 * console.assert(p.degree === 3 && p.threshold === 2 && p.minSurvivors === 3);
 * ```
 */
export function resolveParams(config: SecAggConfig | SecAggParams): SecAggParams {
  if (isParams(config)) return config;
  const { context, clients, vectorLength, clip } = config;
  const n = clients.length;
  if (typeof context !== "string" || context.length === 0) {
    throw new TypeError("Cannot resolve round: context must be a non-empty string");
  }
  if (n < 2 || clients.some((id) => typeof id !== "string" || id.length === 0)) {
    throw new RangeError("Cannot resolve round: need at least 2 clients with non-empty ids");
  }
  const seed = hexToBytes(config.seed);
  if (seed.length !== 32) throw new TypeError("Cannot resolve round: seed must be 32 bytes");
  if (!Number.isInteger(vectorLength) || vectorLength < 1) {
    throw new RangeError(`Cannot resolve round: vector length ${vectorLength}`);
  }
  const graphClients = config.graphClients ?? clients;
  const members = new Set(graphClients);
  if (members.size !== graphClients.length || clients.some((id) => !members.has(id))) {
    throw new RangeError("Cannot resolve round: graphClients must hold every client, once");
  }
  const N = graphClients.length;
  const degree = Math.min(config.degree ?? defaultDegree(N), N - 1);
  const threshold = config.threshold ?? Math.floor(degree / 2) + 1;
  const minSurvivors = config.minSurvivors ??
    Math.max(2, Math.ceil(n * DEFAULT_MIN_SURVIVOR_FRACTION));
  checkThresholds(n, degree, threshold, minSurvivors);
  const noiseStd = config.noiseStd ?? 0;
  const noise = clientNoiseStd(noiseStd, minSurvivors);
  return Object.freeze({
    context,
    seed,
    clients: Object.freeze([...clients]),
    vectorLength,
    clip,
    degree,
    threshold,
    minSurvivors,
    noiseStd,
    consistencyCheck: config.consistencyCheck ?? false,
    index: new Map(clients.map((id, i) => [id, i])),
    neighbours: restrictGraph(neighbourGraph(graphClients, { seed, degree }), clients),
    // The noise of the largest possible sum (all n clients) sets the overflow headroom.
    scale: fixedPointScale({ clip, clients: n, sumNoiseStd: noise * Math.sqrt(n) }),
    clientNoiseStd: noise,
  });
}

/** The graph's lists of `clients`, each without the members that are not clients. */
function restrictGraph(
  graph: ReadonlyMap<string, readonly string[]>,
  clients: readonly string[],
): ReadonlyMap<string, readonly string[]> {
  if (graph.size === clients.length) return graph;
  const kept = new Set(clients);
  return new Map(clients.map((id) => [id, graph.get(id)!.filter((v) => kept.has(v))]));
}

function checkThresholds(n: number, k: number, t: number, minSurvivors: number): void {
  if (!Number.isInteger(t) || 2 * t <= k || t > k) {
    throw new RangeError(
      `Cannot resolve round: threshold ${t} must be in (${k / 2}, ${k}] for degree ${k} ` +
        "(at most half the neighbours could hand over both shares of a client)",
    );
  }
  if (!Number.isInteger(minSurvivors) || minSurvivors < 2 || minSurvivors > n) {
    throw new RangeError(`Cannot resolve round: minSurvivors ${minSurvivors} not in [2, ${n}]`);
  }
}

function isParams(x: SecAggConfig | SecAggParams): x is SecAggParams {
  return (x as SecAggParams).neighbours instanceof Map;
}
