/**
 * The k-anonymity step: each quasi-identifier column gets a generaliser (numbers to ranges,
 * codes such as ZIPs to masked prefixes, other values to "*"), then the Datafly search of
 * lib/privacy/k_anonymity.ts generalises and suppresses until every combination of
 * quasi-identifier values is shared by at least k rows.
 *
 * @module
 */
import {
  categoryHierarchy,
  equivalenceClasses,
  type Generalizer,
  kAnonymize,
  numericRanges,
  prefixMask,
  type Row,
} from "../privacy/k_anonymity.ts";

/** How a quasi-identifier is generalised. */
export type QuasiKind = "range" | "mask" | "category";

/** Options of {@link anonymiseRecords}. */
export interface AnonymiseOptions {
  /** Minimum class size. */
  k: number;
  /** Quasi-identifier columns; a kind not given is inferred from the values. */
  quasi: { column: string; kind?: QuasiKind }[];
  /** Largest share of rows that may be suppressed (default 0.05). */
  maxSuppression?: number;
}

/** What k-anonymisation did. */
export interface AnonymityStats {
  k: number;
  /** Per quasi-identifier: how it was generalised, the level reached and the top level. */
  quasiIdentifiers: Record<string, { kind: QuasiKind; level: number; levels: number }>;
  rowsIn: number;
  rowsSuppressed: number;
  /** Released rows with at least one quasi-identifier value generalised. */
  rowsGeneralised: number;
  /** Smallest class size of the released rows (0 when none were released). */
  kReached: number;
}

const NUMBER = /^-?\d+(?:\.\d+)?$/;

/**
 * The generaliser of a column: `range` widths grow from about a tenth of the values' span
 * (1, 2, 5, 10, ...), `mask` hides one more trailing character per level, `category` is the
 * value or "*". Without `kind`: integer codes of one length of 4+ digits are `mask` (ZIP,
 * postcode, year), other numbers `range`, anything else `category`.
 *
 * @example
 * ```ts
 * import { generalizerFor } from "./anonymise.ts";
 * const zip = generalizerFor(["94110", "94117", "10001"]);
 * console.assert(zip.kind === "mask" && zip.generalizer.generalize("94110", 2) === "941**");
 * console.assert(generalizerFor([31, 38, 52]).kind === "range");
 * ```
 */
export function generalizerFor(
  values: Row[string][],
  kind?: QuasiKind,
): { kind: QuasiKind; generalizer: Generalizer } {
  const present = values.filter((v) => v !== null).map(String);
  const numeric = present.length > 0 && present.every((v) => NUMBER.test(v));
  const lengths = new Set(present.map((v) => v.length));
  const chosen = kind ??
    (numeric && lengths.size === 1 && present[0]!.length >= 4 && !present[0]!.includes(".")
      ? "mask"
      : numeric
      ? "range"
      : "category");
  if (chosen === "mask") return { kind: chosen, generalizer: prefixMask(Math.max(1, ...lengths)) };
  if (chosen === "category") return { kind: chosen, generalizer: categoryHierarchy({}) };
  const nums = present.map(Number).filter(Number.isFinite);
  // A loop, not Math.max(...nums): spread past ~125k arguments overflowed the stack (a CSV of
  // that many rows with a numeric quasi-identifier; found in the data owner audit).
  let [lo, hi] = [Infinity, -Infinity];
  for (const x of nums) [lo, hi] = [Math.min(lo, x), Math.max(hi, x)];
  const span = nums.length ? hi - lo : 0;
  const base = 10 ** Math.max(0, Math.floor(Math.log10(Math.max(1, span / 10))));
  return {
    kind: chosen,
    generalizer: numericRanges([1, 2, 5, 10, 20, 50, 100].map((m) => m * base)),
  };
}

/**
 * Makes `rows` k-anonymous over the quasi-identifiers and reports what it took.
 *
 * @example
 * ```ts
 * import { anonymiseRecords } from "./anonymise.ts";
 * const rows = [{ age: 31 }, { age: 35 }, { age: 52 }, { age: 58 }];
 * const { rows: out, stats } = anonymiseRecords(rows, { k: 2, quasi: [{ column: "age" }] });
 * console.assert(out.length === 4 && stats.kReached >= 2 && stats.rowsGeneralised === 4);
 * ```
 */
export function anonymiseRecords(
  rows: Row[],
  options: AnonymiseOptions,
): { rows: Row[]; stats: AnonymityStats } {
  const chosen = options.quasi.map((q) => ({
    column: q.column,
    ...generalizerFor(rows.map((r) => r[q.column] ?? null), q.kind),
  }));
  const result = kAnonymize(rows, {
    k: options.k,
    quasiIdentifiers: Object.fromEntries(chosen.map((q) => [q.column, q.generalizer])),
    maxSuppression: options.maxSuppression,
  });
  const columns = chosen.map((q) => q.column);
  const sizes = [...equivalenceClasses(result.rows, columns).values()];
  return {
    rows: result.rows,
    stats: {
      k: options.k,
      quasiIdentifiers: Object.fromEntries(chosen.map((q) => [q.column, {
        kind: q.kind,
        level: result.levels[q.column]!,
        levels: q.generalizer.levels,
      }])),
      rowsIn: rows.length,
      rowsSuppressed: result.suppressed,
      rowsGeneralised: countGeneralised(rows, chosen, result.levels, options.k),
      kReached: sizes.length ? Math.min(...sizes) : 0,
    },
  };
}

/**
 * How many released rows had a quasi-identifier value generalised: the input rows are
 * generalised again at the levels reached, and those in classes of at least k (the released
 * ones) are compared with their originals.
 */
function countGeneralised(
  input: Row[],
  chosen: { column: string; generalizer: Generalizer }[],
  levels: Record<string, number>,
  k: number,
): number {
  const generalised = input.map((row) =>
    chosen.map((q) => q.generalizer.generalize(row[q.column] ?? null, levels[q.column]!))
  );
  const sizes = new Map<string, number>();
  for (const g of generalised) {
    sizes.set(JSON.stringify(g), (sizes.get(JSON.stringify(g)) ?? 0) + 1);
  }
  return input.filter((row, i) => {
    const g = generalised[i]!;
    return sizes.get(JSON.stringify(g))! >= k &&
      chosen.some((q, j) => g[j] !== (row[q.column] ?? null));
  }).length;
}
