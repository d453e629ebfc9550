/**
 * Chromium tabs as workers, for tests and the demo: opens `GET /join` of a coordinator served on a
 * port in headless Chromium (driven by playwright-core), one tab per operator key, pastes the key
 * and joins; resolves once every tab is registered and running its worker loop.
 *
 * @example
 * ```ts ignore
 * import { findChromium, joinTabs } from "./join_tabs.ts";
 * const chromium = await findChromium();
 * if (chromium) {
 *   await using tabs = await joinTabs(url, [operatorKey], { executablePath: chromium });
 *   console.log(tabs.nodes); // the tabs' node keys
 * }
 * ```
 */
import type { Hex } from "viem";
import { chromium, type Page } from "playwright-core";
import { env } from "../config.ts";

/** Chromium's path (CHROMIUM_PATH, else Debian's), or undefined when it is not installed. */
export async function findChromium(): Promise<string | undefined> {
  const path = env.chromiumPath();
  return await Deno.stat(path).then(() => path, () => undefined);
}

/** Tabs that joined: their node keys, pages and what went wrong in them. */
export interface JoinedTabs extends AsyncDisposable {
  nodes: Hex[];
  pages: Page[];
  /** Uncaught page errors, every tab's. */
  errors: string[];
  /** A tab's status line and log, for failure messages. */
  describe(page: Page): Promise<string>;
  /** Closes the browser. */
  close(): Promise<void>;
}

/** Opens one tab per operator key on `${url}/join/` and joins; throws with the tab's log. */
export async function joinTabs(
  url: string,
  operatorKeys: Hex[],
  options: { executablePath: string; timeoutMs?: number },
): Promise<JoinedTabs> {
  const browser = await chromium.launch({
    executablePath: options.executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  const close = () => browser.close();
  const errors: string[] = [];
  const describe = async (page: Page) =>
    `${await page.locator("#join-status").innerText()}\n${await page.locator("#join-log")
      .innerText()}\n${errors.join("\n")}`;
  try {
    const pages: Page[] = [];
    const nodes: Hex[] = [];
    for (const operatorKey of operatorKeys) {
      // A context of its own per tab: its own IndexedDB, so its own node key.
      const page = await (await browser.newContext()).newPage();
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${url}/join/`);
      const key = page.locator("#node-key", { hasText: /^0x[0-9a-f]{64}/ });
      await key.waitFor({ timeout: options.timeoutMs ?? 60_000 });
      nodes.push((await key.innerText()).slice(0, 66) as Hex);
      await page.fill("#operator-key", operatorKey);
      await page.click("#join-run");
      await page.locator("body[data-join=running]")
        .waitFor({ state: "attached", timeout: options.timeoutMs ?? 60_000 })
        .catch(async (e) => {
          throw new Error(await describe(page), { cause: e });
        });
      pages.push(page);
    }
    return { nodes, pages, errors, describe, close, [Symbol.asyncDispose]: close };
  } catch (e) {
    await close();
    throw e;
  }
}
