/**
 * k-anonymity for tabular records: generalise quasi-identifiers (age to ranges, ZIP codes
 * to prefixes, categories to parents) and suppress the few rows that still stand out, until
 * every combination of quasi-identifier values is shared by at least `k` rows.
 *
 * The search is the Datafly heuristic (Sweeney 2002): while too many rows sit in classes
 * smaller than `k`, generalise the quasi-identifier with the most distinct values one more
 * level; then suppress the rest (at most `maxSuppression` of the rows). It is greedy, not
 * optimal, and k-anonymity alone does not stop attribute disclosure (a class where every
 * row has the same sensitive value); pair it with DP for training.
 *
 * @module
 */

/** A record; values are strings, numbers or null. */
export type Row = Record<string, string | number | null>;

/**
 * Generalises one value; level 0 is the value itself, `levels` is full suppression ("*").
 */
export interface Generalizer {
  /** Highest level (always "*"). */
  readonly levels: number;
  /** The value at `level` (0..levels). */
  generalize(value: string | number | null, level: number): string | number | null;
}

/** Options of {@link kAnonymize}. */
export interface KAnonymizeOptions {
  /** Minimum class size. */
  k: number;
  /** Quasi-identifier columns and how to generalise each. */
  quasiIdentifiers: Record<string, Generalizer>;
  /** Columns removed outright (names, e-mails, ids). */
  dropColumns?: string[];
  /** Largest share of rows that may be suppressed instead of generalising further. Default 0.05. */
  maxSuppression?: number;
}

/** Result of {@link kAnonymize}. */
export interface KAnonymizeResult {
  /** The released rows (generalised, identifying columns dropped, outliers removed). */
  rows: Row[];
  /** Generalisation level chosen per quasi-identifier. */
  levels: Record<string, number>;
  /** How many input rows were suppressed. */
  suppressed: number;
}

/**
 * Numeric ranges: level `i` buckets values into ranges `widths[i-1]` wide ("30-39"); the
 * level after the last width is "*".
 *
 * @example
 * ```ts
 * import { numericRanges } from "./k_anonymity.ts";
 * console.assert(numericRanges([10, 20]).generalize(34, 1) === "30-39");
 * ```
 */
export function numericRanges(widths: number[]): Generalizer {
  if (!widths.every((w) => Number.isInteger(w) && w > 0)) {
    throw new RangeError("Cannot build numeric ranges: widths must be positive integers");
  }
  return {
    levels: widths.length + 1,
    generalize(value, level) {
      if (level === 0 || value === null) return value;
      if (level > widths.length) return "*";
      const n = Number(value);
      if (!Number.isFinite(n)) return "*";
      const w = widths[level - 1]!;
      const lo = Math.floor(n / w) * w;
      return `${lo}-${lo + w - 1}`;
    },
  };
}

/**
 * Masks the last characters of a code (ZIP, postcode): level `i` replaces `i` characters
 * with "*"; the top level is "*".
 *
 * @example
 * ```ts
 * import { prefixMask } from "./k_anonymity.ts";
 * console.assert(prefixMask(5).generalize("94110", 2) === "941**");
 * ```
 */
export function prefixMask(length: number): Generalizer {
  return {
    levels: length,
    generalize(value, level) {
      if (level === 0 || value === null) return value;
      if (level >= length) return "*";
      const s = String(value);
      const keep = Math.max(0, s.length - level);
      return s.slice(0, keep) + "*".repeat(s.length - keep);
    },
  };
}

/**
 * A category hierarchy: `parents[value]` lists the value's ancestors from nearest up
 * (e.g. `{ nurse: ["health", "employed"] }`); past the last ancestor the value is "*".
 *
 * @example
 * ```ts
 * import { categoryHierarchy } from "./k_anonymity.ts";
 * const job = categoryHierarchy({ nurse: ["health"], surgeon: ["health"] });
 * console.assert(job.generalize("nurse", 1) === "health");
 * ```
 */
export function categoryHierarchy(parents: Record<string, string[]>): Generalizer {
  const depth = Math.max(0, ...Object.values(parents).map((p) => p.length));
  return {
    levels: depth + 1,
    generalize(value, level) {
      if (level === 0 || value === null) return value;
      return parents[String(value)]?.[level - 1] ?? "*";
    },
  };
}

/**
 * Group sizes of each combination of the quasi-identifier values.
 *
 * @example
 * ```ts
 * import { equivalenceClasses } from "./k_anonymity.ts";
 * const sizes = equivalenceClasses([{ a: 1 }, { a: 1 }, { a: 2 }], ["a"]);
 * console.assert(Math.min(...sizes.values()) === 1);
 * ```
 */
export function equivalenceClasses(rows: Row[], quasiIdentifiers: string[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const row of rows) {
    const key = classKey(row, quasiIdentifiers);
    sizes.set(key, (sizes.get(key) ?? 0) + 1);
  }
  return sizes;
}

/**
 * Whether every combination of quasi-identifier values occurs in at least `k` rows.
 *
 * @example
 * ```ts
 * import { isKAnonymous } from "./k_anonymity.ts";
 * console.assert(isKAnonymous([{ a: 1 }, { a: 1 }], ["a"], 2));
 * console.assert(!isKAnonymous([{ a: 1 }, { a: 2 }], ["a"], 2));
 * ```
 */
export function isKAnonymous(rows: Row[], quasiIdentifiers: string[], k: number): boolean {
  for (const size of equivalenceClasses(rows, quasiIdentifiers).values()) {
    if (size < k) return false;
  }
  return true;
}

/**
 * Makes `rows` k-anonymous over the given quasi-identifiers (Datafly: generalise, then
 * suppress). Rows are copied; input is not changed.
 *
 * @example
 * ```ts
 * import { isKAnonymous, kAnonymize, numericRanges, prefixMask } from "./k_anonymity.ts";
 * const rows = [
 *   { age: 31, zip: "94110" }, { age: 35, zip: "94112" },
 *   { age: 52, zip: "10001" }, { age: 58, zip: "10003" },
 * ];
 * const out = kAnonymize(rows, {
 *   k: 2,
 *   quasiIdentifiers: { age: numericRanges([10]), zip: prefixMask(5) },
 * });
 * console.assert(isKAnonymous(out.rows, ["age", "zip"], 2));
 * ```
 */
export function kAnonymize(rows: Row[], options: KAnonymizeOptions): KAnonymizeResult {
  const { k } = options;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`Cannot k-anonymise: k must be a positive integer, got ${k}`);
  }
  const qis = Object.keys(options.quasiIdentifiers);
  const maxSuppressed = Math.floor((options.maxSuppression ?? 0.05) * rows.length);
  const drop = new Set(options.dropColumns ?? []);
  const levels: Record<string, number> = Object.fromEntries(qis.map((q) => [q, 0]));
  for (;;) {
    const generalised = rows.map((row) => {
      const out: Row = {};
      for (const [col, value] of Object.entries(row)) {
        if (drop.has(col)) continue;
        const g = options.quasiIdentifiers[col];
        out[col] = g ? g.generalize(value, levels[col]!) : value;
      }
      return out;
    });
    const sizes = equivalenceClasses(generalised, qis);
    const outliers = generalised.filter((r) => sizes.get(classKey(r, qis))! < k);
    const canGeneralise = qis.filter((q) => levels[q]! < options.quasiIdentifiers[q]!.levels);
    if (outliers.length <= maxSuppressed || canGeneralise.length === 0) {
      const kept = generalised.filter((r) => sizes.get(classKey(r, qis))! >= k);
      return { rows: kept, levels, suppressed: rows.length - kept.length };
    }
    // Datafly: generalise the attribute with the most distinct values.
    let best = canGeneralise[0]!;
    let bestDistinct = -1;
    for (const q of canGeneralise) {
      const distinct = new Set(generalised.map((r) => String(r[q]))).size;
      if (distinct > bestDistinct) {
        best = q;
        bestDistinct = distinct;
      }
    }
    levels[best]!++;
  }
}

function classKey(row: Row, quasiIdentifiers: string[]): string {
  return JSON.stringify(quasiIdentifiers.map((q) => row[q] ?? null));
}
