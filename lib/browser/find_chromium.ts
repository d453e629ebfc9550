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

/**
 * Flags for every headless Chromium we start (tabs, tests, benchmarks): no sandbox (CI runs as
 * root in a container), no GPU, no background traffic to Google, and no throttling of a page or
 * its Web Worker that a loaded 2-core machine would otherwise trigger.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];

/** Chromium's path (CHROMIUM_PATH, else Debian's), or undefined when it is not installed. */
export async function findChromium(): Promise<string | undefined> {
  const path = env.chromiumPath();
  return await Deno.stat(path).then(() => path, () => undefined);
}
