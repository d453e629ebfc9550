/**
 * A readers/writer lock kept in Deno KV: what flock is to the fs store, for every isolate or
 * process that opens the same database (Deno Deploy runs several isolates over one). Writers of
 * blocks and pins hold it shared, gc exclusive, so a gc never deletes the blocks of a put still
 * running in another isolate.
 *
 * Each holder's entry carries an expiry that it renews while it runs, so a crashed isolate holds
 * the lock for at most `ttlMs`. An exclusive holder first claims the lock (a new shared holder
 * checks the claim in the same commit that records it, so none gets in after), then waits for
 * the shared holders already in to leave.
 *
 * @module
 */

/** A holder's entry: valid until `expiresAt` (ms since the epoch) unless renewed. */
interface Hold {
  expiresAt: number;
}

/** One acquired entry; `lost` when another holder took it over after it expired. */
interface Held {
  key: Deno.KvKey;
  versionstamp: string;
  lost: boolean;
}

/** Options of {@link KvRwLock}. */
export interface KvLockOptions {
  /** How long a holder's entry stays valid without renewal. Default 30 000 ms. */
  ttlMs?: number;
  /** Longest wait between two looks at a held lock. Default 200 ms. */
  maxPollMs?: number;
}

/** First wait between two looks at a held lock; doubled up to `maxPollMs`. */
const MIN_POLL_MS = 5;

/** A readers/writer lock under `prefix` of a Deno KV database. */
export class KvRwLock {
  readonly #kv: Deno.Kv;
  readonly #claim: Deno.KvKey;
  readonly #shared: Deno.KvKey;
  readonly #ttlMs: number;
  readonly #maxPollMs: number;

  /** @param kv the database @param prefix where the lock's entries live */
  constructor(kv: Deno.Kv, prefix: Deno.KvKey, options: KvLockOptions = {}) {
    this.#kv = kv;
    this.#claim = [...prefix, "exclusive"];
    this.#shared = [...prefix, "shared"];
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#maxPollMs = options.maxPollMs ?? 200;
  }

  /**
   * Runs `fn` holding the lock, shared or exclusive.
   *
   * @throws {Error} after `fn` when the entry expired while held and another holder took over
   */
  async with<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    const held = await this.#acquire(exclusive ? this.#claim : [...this.#shared, uuid()]);
    const renewal = this.#renew(held);
    let out: T;
    try {
      if (exclusive) await this.#drainShared();
      out = await fn();
    } finally {
      await renewal.stop();
      await this.#kv.atomic().check(held).delete(held.key).commit().catch(() => {});
    }
    if (held.lost) {
      throw new Error(
        `Cannot trust the store lock: it expired while held (more than ${this.#ttlMs} ms without renewal)`,
      );
    }
    return out;
  }

  /** Records `key` once no live exclusive claim stands (for the claim itself too). */
  async #acquire(key: Deno.KvKey): Promise<Held> {
    for (let wait = MIN_POLL_MS;; wait = Math.min(2 * wait, this.#maxPollMs)) {
      const claim = await this.#kv.get<Hold>(this.#claim);
      if (!this.#live(claim.value)) {
        const res = await this.#kv.atomic().check(claim).set(key, this.#hold()).commit();
        if (res.ok) return { key, versionstamp: res.versionstamp, lost: false };
      }
      await sleep(wait);
    }
  }

  /** Waits until no live shared holder is left, deleting the entries of crashed ones. */
  async #drainShared(): Promise<void> {
    for (let wait = MIN_POLL_MS;; wait = Math.min(2 * wait, this.#maxPollMs)) {
      let busy = false;
      for await (const entry of this.#kv.list<Hold>({ prefix: this.#shared })) {
        if (this.#live(entry.value)) busy = true;
        else await this.#kv.atomic().check(entry).delete(entry.key).commit();
      }
      if (!busy) return;
      await sleep(wait);
    }
  }

  /** Pushes the entry's expiry forward every third of the TTL until stopped. */
  #renew(held: Held): { stop(): Promise<void> } {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let inFlight: Promise<void> = Promise.resolve();
    let stopped = false;
    const tick = () => {
      inFlight = (async () => {
        try {
          const res = await this.#kv.atomic().check(held).set(held.key, this.#hold()).commit();
          if (res.ok) held.versionstamp = res.versionstamp;
          else held.lost = true; // expired and taken over: nothing left to renew
        } catch {
          // A failed round trip: try again at the next tick, the entry is still ours.
        }
        if (!stopped && !held.lost) timer = setTimeout(tick, this.#ttlMs / 3);
      })();
    };
    timer = setTimeout(tick, this.#ttlMs / 3);
    return {
      stop: async () => {
        stopped = true;
        clearTimeout(timer);
        await inFlight;
      },
    };
  }

  #hold(): Hold {
    return { expiresAt: Date.now() + this.#ttlMs };
  }

  #live(hold: Hold | null): boolean {
    return hold !== null && hold.expiresAt > Date.now();
  }
}

function uuid(): string {
  return crypto.randomUUID();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
