/**
 * Span-level precision and recall of findPii on a labelled set (used by pii_eval_test.ts).
 * A labelled span is found when a detection of the same kind overlaps it; a detection is
 * correct when it overlaps a labelled span of its kind, so false positives on the hard
 * negatives count against precision. `coverage` is the share of labelled letters and digits
 * covered by any detection: what is left of it leaked.
 */
import { findPii, PII_KINDS, type PiiKind } from "../../../lib/privacy/pii.ts";

/** One labelled sentence: its text and its personal-data spans as `[kind, exact text]`. */
export interface Labelled {
  text: string;
  pii: [PiiKind, string][];
}

/** Counts and rates of one kind (or of all kinds together). */
export interface Score {
  labelled: number;
  detected: number;
  found: number;
  correct: number;
  recall: number;
  precision: number;
}

/** The scores of a run, plus what was missed and what was wrongly detected. */
export interface Evaluation {
  perKind: Record<PiiKind, Score>;
  overall: Score;
  coverage: number;
  misses: string[];
  falsePositives: string[];
}

type Span = { kind: PiiKind; start: number; end: number };

/** Locates each labelled substring (repeats take the next unused occurrence). */
export function labelledSpans(item: Labelled): Span[] {
  const spans: Span[] = [];
  for (const [kind, text] of item.pii) {
    let from = 0;
    for (;;) {
      const start = item.text.indexOf(text, from);
      if (start < 0) throw new Error(`label "${text}" not in "${item.text}"`);
      if (!spans.some((s) => s.start === start)) {
        spans.push({ kind, start, end: start + text.length });
        break;
      }
      from = start + 1;
    }
  }
  return spans;
}

const overlaps = (a: Span, b: Span) => a.kind === b.kind && a.start < b.end && b.start < a.end;

function score(labelled: number, detected: number, found: number, correct: number): Score {
  return {
    labelled,
    detected,
    found,
    correct,
    recall: labelled === 0 ? 1 : found / labelled,
    precision: detected === 0 ? 1 : correct / detected,
  };
}

/** Runs findPii on every item and scores it. */
export function evaluate(items: Labelled[]): Evaluation {
  const tally = Object.fromEntries(PII_KINDS.map((k) => [k, [0, 0, 0, 0]])) as Record<
    PiiKind,
    number[]
  >;
  let letters = 0;
  let covered = 0;
  const misses: string[] = [];
  const falsePositives: string[] = [];
  for (const item of items) {
    const gold = labelledSpans(item);
    const predicted: Span[] = findPii(item.text);
    for (const g of gold) {
      const t = tally[g.kind];
      t[0]!++;
      if (predicted.some((p) => overlaps(p, g))) t[2]!++;
      else misses.push(`${g.kind}: ${item.text.slice(g.start, g.end)} | ${item.text}`);
      for (let i = g.start; i < g.end; i++) {
        if (!/[\p{L}\p{N}]/u.test(item.text[i]!)) continue;
        letters++;
        if (predicted.some((p) => p.start <= i && i < p.end)) covered++;
      }
    }
    for (const p of predicted) {
      const t = tally[p.kind];
      t[1]!++;
      if (gold.some((g) => overlaps(p, g))) t[3]!++;
      else falsePositives.push(`${p.kind}: ${item.text.slice(p.start, p.end)} | ${item.text}`);
    }
  }
  const perKind = Object.fromEntries(
    PII_KINDS.map((k) => [k, score(...(tally[k] as [number, number, number, number]))]),
  ) as Record<PiiKind, Score>;
  const sum = (i: number) => PII_KINDS.reduce((a, k) => a + tally[k][i]!, 0);
  return {
    perKind,
    overall: score(sum(0), sum(1), sum(2), sum(3)),
    coverage: letters === 0 ? 1 : covered / letters,
    misses,
    falsePositives,
  };
}

/** A table of the scores, for the test's output. */
export function formatEvaluation(e: Evaluation): string {
  const row = (name: string, s: Score) =>
    `${name.padEnd(8)} ${String(s.labelled).padStart(4)} ${String(s.detected).padStart(4)}  ` +
    `recall ${s.recall.toFixed(3)}  precision ${s.precision.toFixed(3)}`;
  return [
    "kind     gold pred",
    ...PII_KINDS.map((k) => row(k, e.perKind[k])),
    row("overall", e.overall),
    `coverage of labelled letters and digits: ${e.coverage.toFixed(4)}`,
  ].join("\n");
}
