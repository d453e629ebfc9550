/**
 * The worker's terminal view: one line per thing that happened (registration, each submitted and
 * each closed round, the job's result and this node's reward with the hint to withdraw, retries),
 * a waiting line only when what it waits for changes, and a live progress bar with loss and
 * tokens/s while it trains (on a terminal; elsewhere one line per trained round).
 *
 * @example
 * ```ts
 * import { createWorkerView } from "./view.ts";
 * const lines: string[] = [];
 * const view = createWorkerView({ write: (s) => lines.push(s), terminal: false });
 * view({ kind: "waiting", reason: "job" });
 * view({ kind: "waiting", reason: "job" });
 * console.assert(lines.length === 1 && lines[0]!.startsWith("waiting for a job"));
 * ```
 */
import { formatEther } from "viem";
import type { WorkerEvent } from "./events.ts";
import { printable } from "../network/printable.ts";

export { printable };

/** Where and how the view writes. */
export interface WorkerViewOptions {
  /** Writes text as is (lines end with "\n"; the progress bar redraws with "\r"). */
  write: (text: string) => void;
  /** A terminal redraws the progress bar in place; elsewhere a line per round is printed. */
  terminal: boolean;
}

/** The short form of a job id or key: 0x1234abcd…. */
export function short(hex: string): string {
  return hex.length > 14 ? `${hex.slice(0, 10)}…` : hex;
}

function bar(done: number, total: number, width = 20): string {
  const n = Math.round((done / total) * width);
  return `[${"#".repeat(n)}${".".repeat(width - n)}]`;
}

const arth = (wei: bigint) => `${formatEther(wei)} ARTH`;
/** A loss as the coordinator sent it: a diverged round's is NaN, which JSON carries as null. */
const loss = (x: unknown) => typeof x === "number" && Number.isFinite(x) ? x.toFixed(4) : "n/a";
const rate = (tps?: number) => tps ? `, ${Math.round(tps).toLocaleString("en")} tokens/s` : "";

/** The line of an event, or undefined for events drawn otherwise (steps). */
export function describeEvent(e: WorkerEvent): string | undefined {
  switch (e.kind) {
    case "registered":
      return e.registered
        ? `node ${e.nodePubkey} registered: ${arth(e.stake)} staked by operator ${e.operator}`
        : `node ${e.nodePubkey} registered already (${arth(e.stake)} staked)`;
    case "submitted":
      return `round ${e.round + 1} of job ${short(e.jobId)} submitted: mean loss ${
        e.result.meanLoss.toFixed(4)
      }, update ${e.bytes.toLocaleString("en")} bytes`;
    case "waiting":
      if (e.reason === "job") return "waiting for a job (no task for this node yet)";
      if (e.reason === "settlement") {
        return `waiting for job ${short(e.jobId!)} to settle (rewards follow its settlement delay)`;
      }
      return `waiting for round ${e.round! + 1}/${e.rounds} of job ${short(e.jobId!)} to close (${
        e.updates ?? "?"
      }/${e.expected ?? "?"} updates in)`;
    case "roundClosed":
      return `round ${e.round + 1}/${e.rounds} of job ${short(e.jobId)} closed: validation loss ${
        loss(e.previousLoss)
      } -> ${loss(e.valLoss)} (${e.updates} updates)`;
    case "finalized":
      return `job ${short(e.jobId)} finalized: validation loss ${loss(e.initialValLoss)} -> ${
        loss(e.finalValLoss)
      } (improved ${(e.improvementBps / 100).toFixed(2)}%); ` +
        `your reward ${arth(e.reward)}; ${arth(e.claimable)} to withdraw with ` +
        "`deno task worker withdraw`";
    case "retrying":
      return `${e.message}; retrying in ${Math.round(e.inMs / 100) / 10} s`;
    case "error":
      return `error: ${e.message}`;
    case "step":
      return undefined;
  }
}

/** A progress listener for the worker that writes the view. */
export function createWorkerView(options: WorkerViewOptions): (e: WorkerEvent) => void {
  let lastWaiting = "";
  let barOpen = false;
  const line = (text: string) => {
    options.write(`${barOpen ? "\n" : ""}${text}\n`);
    barOpen = false;
  };
  return (e) => {
    if (e.kind === "step") {
      const done = e.step + 1;
      const text = `round ${e.round + 1} of job ${short(e.jobId)} ${
        bar(done, e.steps)
      } step ${done}/${e.steps} loss ${e.loss.toFixed(4)}${rate(e.tokensPerSecond)}`;
      if (options.terminal) {
        options.write(`\r${printable(text)}\x1b[K`);
        barOpen = true;
      } else if (done === e.steps) line(printable(`trained ${text}`));
      return;
    }
    const text = printable(describeEvent(e)!);
    if (e.kind === "waiting") {
      if (text === lastWaiting) return;
      lastWaiting = text;
    } else lastWaiting = "";
    line(text);
  };
}
