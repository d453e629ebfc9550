/**
 * A small in-process readers/writer lock: many `put`s may run together, `gc` runs alone.
 *
 * A waiting writer does not hold new readers back: it runs at a moment no reader holds the lock.
 * A put's reader lasts as long as its upload's body, which a client may stall; with writer
 * preference every put, pin and lease queued behind a gc waiting for that one put (found in the
 * storage audit). A gc is never urgent, the puts behind it are.
 *
 * @module
 */
export class RwLock {
  #readers = 0;
  #writer: Promise<void> | null = null;
  #quiet: (() => void)[] = [];

  /** Runs `fn` as a reader (waits only while a writer runs). */
  async read<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#writer) await this.#writer;
    this.#readers++;
    try {
      return await fn();
    } finally {
      this.#readers--;
      if (this.#readers === 0) { for (const wake of this.#quiet.splice(0)) wake(); }
    }
  }

  /** Runs `fn` alone, at the first moment no reader or other writer holds the lock. */
  async write<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      while (this.#writer) await this.#writer;
      if (this.#readers === 0) break;
      await new Promise<void>((r) => this.#quiet.push(r));
    }
    // Nothing awaited since the check: no reader got in.
    let release!: () => void;
    this.#writer = new Promise((r) => (release = r));
    try {
      return await fn();
    } finally {
      this.#writer = null;
      release();
    }
  }
}
