/**
 * A timeline of named phases with the process's peak RSS in each: a phase ends when the next one
 * begins, and Linux's peak-RSS mark (VmHWM) is reset at every boundary (`/proc/self/clear_refs`
 * 5), so each phase's peak is its own, not the run's so far. Phases may nest (`during`): the outer
 * one resumes when the inner one ends. Phases of the same name add their seconds and keep the
 * largest peak.
 */

/** One row of the table: total seconds and the largest peak RSS over a phase's segments. */
export interface PhaseRow {
  name: string;
  seconds: number;
  peakRss: number;
  segments: number;
}

/** Resident and peak-resident bytes of this process (Linux /proc). */
export function rss(): { now: number; peak: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = (key: string) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? 0);
  return { now: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
}

function resetPeak(): void {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
  } catch {
    // Not Linux, or not permitted: peaks then run from the process start.
  }
}

/** Times a sequence of named phases. */
export class PhaseTimeline {
  readonly rows = new Map<string, PhaseRow>();
  #stack: string[] = [];
  #current = "idle";
  #since = performance.now();

  /** The phase running now. */
  get current(): string {
    return this.#current;
  }

  constructor() {
    resetPeak();
  }

  /** Ends the current phase and starts `name`. */
  enter(name: string): void {
    const at = performance.now();
    const row = this.rows.get(this.#current) ??
      { name: this.#current, seconds: 0, peakRss: 0, segments: 0 };
    row.seconds += (at - this.#since) / 1000;
    row.peakRss = Math.max(row.peakRss, rss().peak);
    row.segments++;
    this.rows.set(this.#current, row);
    resetPeak();
    this.#current = name;
    this.#since = performance.now();
  }

  /** Runs `fn` as phase `name`, then resumes the phase it interrupted. */
  async during<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.#stack.push(this.#current);
    this.enter(name);
    try {
      return await fn();
    } finally {
      this.enter(this.#stack.pop()!);
    }
  }

  /** The rows in first-seen order, without the idle time between phases. */
  table(): PhaseRow[] {
    this.enter(this.#current);
    return [...this.rows.values()].filter((r) => r.name !== "idle" && r.seconds > 0);
  }
}

/** The table as aligned text. */
export function formatPhaseTable(rows: PhaseRow[]): string {
  const width = Math.max(...rows.map((r) => r.name.length), 5);
  const head = `${"phase".padEnd(width)}  ${"seconds".padStart(9)}  ${"peak RSS".padStart(10)}`;
  const lines = rows.map((r) =>
    `${r.name.padEnd(width)}  ${r.seconds.toFixed(2).padStart(9)}  ${
      (r.peakRss / 2 ** 30).toFixed(2).padStart(6)
    } GiB`
  );
  return [head, ...lines].join("\n");
}
