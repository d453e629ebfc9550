/**
 * Chromium tabs as workers, for tests and the demo: opens `GET /join` of a coordinator served on a
 * port in headless Chromium (driven by playwright-core), one tab per operator, pastes its key (or
 * injects its wallet and pastes nothing) and joins; resolves once every tab is registered and
 * running its worker loop. As a command (playwright-core needs `-A`), for `deno task demo
 * --browsers N` or any running coordinator:
 *
 *   deno run -A lib/browser/join_tabs.ts http://127.0.0.1:8787 0xOPERATOR_KEY...
 *
 * prints `{"nodes":[...]}` once every tab runs, and closes them when its stdin closes.
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
import { CHROMIUM_ARGS, findChromium } from "./find_chromium.ts";

export { findChromium };

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

/**
 * A tab's operator: a private key to paste, or a wallet: the source of a script run before the
 * page's own that sets `window.ethereum` (an EIP-1193 provider; lib/browser/injected_wallet.ts).
 */
export type TabOperator = Hex | { wallet: string };

/** Opens one tab per operator on `${url}/join/` and joins; throws with the tab's log. */
export async function joinTabs(
  url: string,
  operators: TabOperator[],
  options: { executablePath: string; timeoutMs?: number },
): Promise<JoinedTabs> {
  const browser = await chromium.launch({
    executablePath: options.executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS],
  });
  const close = () => browser.close();
  const errors: string[] = [];
  const describe = async (page: Page) =>
    `${await page.locator("#join-status").innerText()}\n${await page.locator("#join-log")
      .innerText()}\n${errors.join("\n")}`;
  try {
    const pages: Page[] = [];
    const nodes: Hex[] = [];
    for (const operator of operators) {
      // A context of its own per tab: its own IndexedDB, so its own node key.
      const page = await (await browser.newContext()).newPage();
      page.on("pageerror", (e) => errors.push(String(e)));
      if (typeof operator !== "string") await page.addInitScript(operator.wallet);
      await page.goto(`${url}/join/`);
      const key = page.locator("#node-key", { hasText: /^0x[0-9a-f]{64}/ });
      await key.waitFor({ timeout: options.timeoutMs ?? 60_000 });
      nodes.push((await key.innerText()).slice(0, 66) as Hex);
      if (typeof operator === "string") await page.fill("#operator-key", operator);
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

if (import.meta.main) {
  const [url, ...keys] = Deno.args;
  const executablePath = await findChromium();
  if (!url || !executablePath) {
    console.error(
      executablePath ? "usage: join_tabs.ts COORDINATOR_URL OPERATOR_KEY..." : "no Chromium",
    );
    Deno.exit(2);
  }
  await using tabs = await joinTabs(url, keys as Hex[], { executablePath });
  console.log(JSON.stringify({ nodes: tabs.nodes }));
  // The tabs work until whoever started this closes its stdin.
  for await (const _ of Deno.stdin.readable) { /* nothing is read: only the end matters */ }
  if (tabs.errors.length) console.error(tabs.errors.join("\n"));
}
