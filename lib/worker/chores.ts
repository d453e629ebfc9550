/**
 * The chores a worker may not put off while it is busy with one long thing (a local round, a
 * secure round's wait, a request the coordinator holds open, a body it trickles): the heartbeat
 * (three missed hours cost 10% of the stake) and the challenge and dispute answers (their windows
 * are 30-60 min). They run at most every `everyMs`, counted from the last run, whoever ran them.
 */

/** Least ms between the chores a worker runs while it is busy (`WorkerOptions.choresEveryMs`). */
export const CHORES_MS = 30_000;

/** Least ms between two looks at whether the chores are due while a request is open. */
const MIN_CHORES_WAIT_MS = 10;

/** What the chores are, and where a failed run is reported. */
export interface ChoresOptions {
  /** Least ms between two runs (default {@link CHORES_MS}). */
  everyMs?: number;
  /** Runs every chore; throws the first failure once all ran. */
  run: () => Promise<void>;
  /** Told a failed run's first line; the next due run tries again. */
  report: (message: string) => void;
}

/**
 * When a worker's chores are due, and the awaits that run them meanwhile.
 *
 * @example
 * ```ts
 * import { Chores } from "./chores.ts";
 * let runs = 0;
 * const chores = new Chores({ everyMs: 0, run: () => Promise.resolve(void runs++), report: () => {} });
 * await chores.during(new Promise((r) => setTimeout(r, 30)));
 * console.assert(runs > 0);
 * ```
 */
export class Chores {
  readonly #o: ChoresOptions;
  #last = Date.now();

  constructor(options: ChoresOptions) {
    this.#o = options;
  }

  get #every(): number {
    return this.#o.everyMs ?? CHORES_MS;
  }

  /** The chores were just done (or need not be before `everyMs` from now). */
  done(): void {
    this.#last = Date.now();
  }

  /** Runs the chores if they are due; a failure is reported, not thrown. */
  async due(): Promise<void> {
    if (Date.now() - this.#last < this.#every) return;
    this.#last = Date.now();
    try {
      await this.#o.run();
    } catch (e) {
      // A chain that is briefly away must not cost the work under way: the next run tries again.
      this.#o.report((e as Error).message.split("\n")[0]!);
    }
  }

  /**
   * Awaits `work`, running the chores whenever they fall due (`everyMs` after the last) until it
   * settles. Not from its start: a run of requests each a little shorter than the interval must
   * not put the chores off for the whole run.
   */
  async during<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(() => true, () => true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      while (true) {
        const wait = Math.max(MIN_CHORES_WAIT_MS, this.#last + this.#every - Date.now());
        const due = new Promise<false>((r) => timer = setTimeout(() => r(false), wait));
        if (await Promise.race([settled, due])) return await work;
        await this.due();
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** `res` with each read of its body awaited as {@link during} awaits a request. */
  patientBody(res: Response): Response {
    if (!res.body) return res;
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const { done, value } = await this.during(reader.read());
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    const { status, statusText, headers } = res;
    return new Response(body, { status, statusText, headers });
  }
}
