/**
 * One run at a time per key: a caller that finds a run of the same key under way waits for it and
 * gets its result instead of starting another. What the coordinator does once per round (a
 * round's close reads every update and writes a checkpoint) must not be multiplied by callers
 * racing for it: anyone may POST /aggregate.
 *
 * @example
 * ```ts
 * import { singleFlight } from "./single_flight.ts";
 * const scope = {};
 * let runs = 0;
 * const work = () => singleFlight(scope, "job:0", async () => ++runs);
 * const [a, b] = await Promise.all([work(), work()]);
 * console.assert(a === 1 && b === 1 && runs === 1);
 * ```
 */

/** The runs under way, per scope (a coordinator's state) and key. */
const running = new WeakMap<object, Map<string, Promise<unknown>>>();

/**
 * Runs `run` unless a run of `key` in `scope` is under way, then answers that run's result (or
 * its error). The key is free again once the run settles.
 */
export function singleFlight<T>(scope: object, key: string, run: () => Promise<T>): Promise<T> {
  const runs = running.get(scope) ?? new Map<string, Promise<unknown>>();
  running.set(scope, runs);
  const current = runs.get(key);
  if (current) return current as Promise<T>;
  const started = run().finally(() => runs.delete(key));
  runs.set(key, started);
  return started;
}
