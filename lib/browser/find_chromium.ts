/**
 * Where Chromium is, without loading playwright-core (which reads /proc paths that only
 * `--allow-all` may): the demo asks this before it starts any tab.
 *
 * @example
 * ```ts
 * import { findChromium } from "./find_chromium.ts";
 * const path = await findChromium();
 * console.log(path ?? "no Chromium: browser tabs are skipped");
 * ```
 */
import { env } from "../config.ts";

/** Chromium's path (CHROMIUM_PATH, else Debian's), or undefined when it is not installed. */
export async function findChromium(): Promise<string | undefined> {
  const path = env.chromiumPath();
  return await Deno.stat(path).then(() => path, () => undefined);
}
