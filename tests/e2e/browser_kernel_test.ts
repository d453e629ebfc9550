/**
 * Same bytes in Chromium: GET /join's page trains the tiny task of lib/browser/tiny_task.ts in a
 * Web Worker on the kernel.wasm the coordinator serves, and Deno trains it from the committed file;
 * losses, update, gradient, weights and proofs (root and every signature) must be equal byte for
 * byte. Chromium is Debian's /usr/bin/chromium driven by playwright-core, as in
 * dashboard_test.ts; skipped when it is not installed (CI sets ARTHA_REQUIRE_CHROMIUM).
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, findChromium } from "../../lib/browser/find_chromium.ts";
import { createJoin } from "../../functions/join.ts";
import { createKernel } from "../../kernel/wasm_module.ts";
import { digestHex } from "../../lib/crypto/digest.ts";
import { runKernelTask, tinyKernelTask } from "../../lib/browser/kernel_task.ts";
import { bundleBrowser, BUNDLES } from "../../scripts/build_browser.ts";

const CHROMIUM = await findChromium();
const KERNEL_WASM = new URL("../../kernel/wasm/build/kernel.wasm", import.meta.url);

Deno.test("browser kernel: /join serves the committed wasm bytes and the bundles", async () => {
  const join = createJoin();
  const wasm = await join(new Request("http://127.0.0.1/join/kernel.wasm"));
  assert.equal(wasm.headers.get("content-type"), "application/wasm");
  assert.deepEqual(new Uint8Array(await wasm.arrayBuffer()), await Deno.readFile(KERNEL_WASM));
  const aggregate = await join(new Request("http://127.0.0.1/join/aggregate.wasm"));
  assert.equal(aggregate.headers.get("content-type"), "application/wasm");
  assert.deepEqual(
    new Uint8Array(await aggregate.arrayBuffer()),
    await Deno.readFile(new URL("../../lib/strategy/wasm/aggregate.wasm", import.meta.url)),
  );
  const page = await join(new Request("http://127.0.0.1/join/"));
  assert.match(await page.text(), /src="\/join\/join\.js"/);
  const redirect = await join(new Request("http://127.0.0.1/join"));
  assert.equal(redirect.status, 308);
  const missing = await join(new Request("http://127.0.0.1/join/secret.txt"));
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const etag = (await join(new Request("http://127.0.0.1/join/worker.js"))).headers.get("etag");
  const again = await join(
    new Request("http://127.0.0.1/join/worker.js", { headers: { "if-none-match": etag! } }),
  );
  assert.equal(again.status, 304);
});

Deno.test("browser kernel: committed bundles match lib/browser (deno task check:browser)", async () => {
  for (const [entry, output] of Object.entries(BUNDLES)) {
    const committed = await Deno.readTextFile(new URL(`../../${output}`, import.meta.url));
    assert.ok(committed === await bundleBrowser(entry), `${output} is stale: build:browser`);
  }
});

Deno.test({
  name: "browser kernel: a Chromium Web Worker trains the same bytes as Deno",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    const bytes = await Deno.readFile(KERNEL_WASM);
    const expected = runKernelTask(createKernel(bytes), tinyKernelTask());

    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createJoin(),
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM!,
      headless: true,
      args: [...CHROMIUM_ARGS],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      // No retry: the page posts the task only after the Web Worker said it is ready
      // (lib/browser/open_kernel_worker.ts), which ended the stall of about one load in six.
      await page.goto(`http://127.0.0.1:${server.addr.port}/join/?check`);
      await page.locator("body[data-kernel-done]:not([data-kernel-done=''])")
        .waitFor({ state: "attached", timeout: 90_000 })
        .catch(async (e) => {
          const status = await page.locator("#kernel-status").innerText();
          throw new Error(`${status}; ${errors.join("; ")}`, { cause: e });
        });
      assert.equal(
        await page.getAttribute("body", "data-kernel-done"),
        "1",
        await page.locator("#kernel-status").innerText(),
      );
      const got = JSON.parse(await page.locator("#kernel-result").innerText());
      assert.equal(got.wasmDigest, digestHex(bytes), "the page ran the committed kernel.wasm");
      const { tokensPerSecond: _browser, wasmDigest: _, ...inBrowser } = got;
      const { tokensPerSecond: _deno, ...inDeno } = expected;
      assert.deepEqual(inBrowser, inDeno);
      assert.equal(expected.steps, 4);
      assert.equal(expected.signatures.length, 2);
      assert.match(await page.locator("#kernel-status").innerText(), /^done: \d+ tokens\/s/);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "attacker: a link to the kernel check asking a huge task is refused on the page",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    // Found in the browser audit: `?check` trained whatever the link asked at once. The kernel
    // refuses a model too large to build, but not a billion steps of the tiny one: the tab trained
    // until closed (and a huge B or T exhausted its memory first).
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createJoin(),
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM!,
      headless: true,
      args: [...CHROMIUM_ARGS],
    });
    try {
      const page = await browser.newPage();
      const q = "check&steps=1000000000";
      await page.goto(`http://127.0.0.1:${server.addr.port}/join/?${q}`);
      await page.locator("body[data-kernel-done=error]").waitFor({
        state: "attached",
        timeout: 30_000,
      });
      assert.match(
        await page.locator("#kernel-status").innerText(),
        /^failed: Cannot run the kernel check: steps=1000000000 is not an integer from 1 to 100/,
      );
      assert.equal(await page.locator("#kernel-result").innerText(), "");
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
