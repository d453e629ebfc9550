/**
 * A self-contained HTML report of a training job: the validation-loss curves (mean over genres and
 * worst genre) as inline SVG, the per-round table, every genre's loss before and after, and the
 * rewards per node. No scripts, no external assets.
 */
import { formatEther } from "viem";
import { shardSpread } from "./lib/coordinator/state.ts";

interface RoundRow {
  round: number;
  valLoss: number;
  shardLoss?: number[];
  valStdErr?: number;
  updates: number;
  /** How many assigned nodes delivered nothing (`missing`, the list, in older records). */
  missingCount?: number;
  missing?: string[];
  bytes: number;
  checkpointCid: string;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * SVG polyline chart of `values` (index on x), with optional `extra` series on the same axes
 * (dashed, e.g. the worst genre beside the mean).
 */
export function lossChart(
  values: number[],
  width = 640,
  height = 260,
  extra: { label: string; values: number[] }[] = [],
): string {
  const pad = 40;
  const all = [...values, ...extra.flatMap((e) => e.values)];
  const max = Math.max(...all), min = Math.min(...all);
  const span = max - min || 1;
  const x = (i: number) => pad + (i * (width - 2 * pad)) / Math.max(1, values.length - 1);
  const y = (v: number) => height - pad - ((v - min) * (height - 2 * pad)) / span;
  const pts = (vs: number[]) => vs.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const dots = values.map((v, i) =>
    `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3"/>`
  ).join("");
  const lines = extra.map((e) =>
    `<polyline fill="none" stroke="#c33" stroke-width="1.5" stroke-dasharray="5 3" points="${
      pts(e.values)
    }"><title>${esc(e.label)}</title></polyline>`
  ).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="validation loss per round">` +
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${
      height - pad
    }" stroke="#888"/>` +
    `<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${height - pad}" stroke="#888"/>` +
    `<text x="${pad}" y="${pad - 8}" font-size="12">${max.toFixed(3)}</text>` +
    `<text x="${pad}" y="${height - pad + 16}" font-size="12">${min.toFixed(3)}</text>` +
    `<text x="${width - pad}" y="${height - 8}" font-size="12" text-anchor="end">round</text>` +
    `<polyline fill="none" stroke="#2a6" stroke-width="2" points="${
      pts(values)
    }"/><g fill="#2a6">${dots}</g>${lines}</svg>`;
}

/** Every genre's loss before training and after the last round, worst last-round loss first. */
function genreTable(
  job: { initialShardLoss?: number[]; metrics: RoundRow[] },
  shardNames: readonly string[],
): string {
  const last = job.metrics.at(-1)?.shardLoss;
  if (!last) return "<p>Per-genre loss not recorded for this job.</p>";
  const rows = last.map((loss, i) => ({ i, loss })).sort((a, b) => b.loss - a.loss).map((r) =>
    `<tr><td>${esc(shardNames[r.i] ?? `shard ${r.i}`)}</td><td>${
      job.initialShardLoss?.[r.i]?.toFixed(4) ?? ""
    }</td><td>${r.loss.toFixed(4)}</td></tr>`
  ).join("");
  return `<table><tr><th>genre</th><th>before</th><th>after</th></tr>${rows}</table>`;
}

/** Writes the report of a job to `path`; `shardNames` label the per-genre losses. */
export async function writeReport(
  path: string,
  job: {
    jobId: string;
    initialValLoss: number;
    initialShardLoss?: number[];
    metrics: RoundRow[];
  },
  rewards: { node: string; total: bigint }[],
  options: { shardNames?: readonly string[] } = {},
): Promise<void> {
  const losses = [job.initialValLoss, ...job.metrics.map((m) => m.valLoss)];
  const worst = [
    job.initialShardLoss ? Math.max(...job.initialShardLoss) : job.initialValLoss,
    ...job.metrics.map((m) => shardSpread(m).worst),
  ];
  const rows = job.metrics.map((m) =>
    `<tr><td>${m.round + 1}</td><td>${m.valLoss.toFixed(4)}</td><td>${
      (m.valStdErr ?? 0).toFixed(4)
    }</td><td>${shardSpread(m).worst.toFixed(4)}</td><td>${m.updates}</td><td>${
      m.missingCount ?? m.missing?.length ?? 0
    }</td><td>${m.bytes}</td><td><code>${esc(m.checkpointCid)}</code></td></tr>`
  ).join("");
  const rewardRows = rewards.map((r) =>
    `<tr><td><code>${esc(r.node)}</code></td><td>${formatEther(r.total)}</td></tr>`
  ).join("");
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>ArthaTrain job ${
    esc(job.jobId)
  }</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}td,th{padding:.2em .6em;text-align:right}table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}</style></head>
<body><h1>ArthaTrain job</h1><p><code>${esc(job.jobId)}</code></p>
<h2>Validation loss (nats/byte), before training and after each round</h2>
<p>Solid: mean over genres (each data owner's held-out bytes count the same); dashed: worst genre.</p>
${lossChart(losses, 640, 260, [{ label: "worst genre", values: worst }])}
<h2>Rounds</h2><table><tr><th>round</th><th>val loss</th><th>± s.e.</th><th>worst genre</th><th>updates</th><th>missing</th><th>bytes moved</th><th>checkpoint</th></tr>${rows}</table>
<h2>Validation loss per genre</h2>${genreTable(job, options.shardNames ?? [])}
<h2>Rewards</h2><table><tr><th>node</th><th>ARTH</th></tr>${rewardRows}</table></body></html>`;
  await Deno.writeTextFile(path, html);
}
