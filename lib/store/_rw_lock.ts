/**
 * A small in-process readers/writer lock: many `put`s may run together, `gc` runs alone.
 *
 * @module
 */
export class RwLock {
  #readers = 0;
  #writer: Promise<void> | null = null;
  #drained: (() => void) | null = null;

  /** Runs `fn` as a reader (waits while a writer holds the lock). */
  async read<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#writer) await this.#writer;
    this.#readers++;
    try {
      return await fn();
    } finally {
      this.#readers--;
      if (this.#readers === 0) this.#drained?.();
    }
  }

  /** Runs `fn` alone, after the readers in flight finish. */
  async write<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#writer) await this.#writer;
    let release!: () => void;
    this.#writer = new Promise((r) => (release = r));
    try {
      if (this.#readers > 0) {
        await new Promise<void>((r) => (this.#drained = r));
        this.#drained = null;
      }
      return await fn();
    } finally {
      this.#writer = null;
      release();
    }
  }
}
