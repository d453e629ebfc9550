/**
 * Idempotent chain calls: a coordinator restart repeats what it did before the crash, and a
 * revert saying "already done" is then success, not failure.
 *
 * @example
 * ```ts
 * import { revertedWith } from "./once.ts";
 * console.assert(!revertedWith(new Error("x"), ["JobManager__WrongRound"]));
 * ```
 */
import { ChainCallError } from "../chain/send_contract.ts";

/** Whether `e` is a revert with one of `names`. */
export function revertedWith(e: unknown, names: readonly string[]): boolean {
  return e instanceof ChainCallError && e.errorName !== undefined && names.includes(e.errorName);
}

/**
 * Runs `call`; a revert named in `alreadyDone` counts as done. Returns whether the call
 * happened now (false: it had happened before).
 */
export async function once(
  call: () => Promise<unknown>,
  alreadyDone: readonly string[],
): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (e) {
    if (revertedWith(e, alreadyDone)) return false;
    throw e;
  }
}
