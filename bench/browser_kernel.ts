/**
 * Kernel tokens/s in headless Chromium (a Web Worker on GET /join's kernel.wasm) against Deno, in
 * one run on the same machine, same task, same bytes (the digests are checked equal too):
 *
 *   deno run -A bench/browser_kernel.ts [--steps 8] [--layers 2] [--width 64] [--T 64] [--B 4]
 *
 * Needs Chromium (CHROMIUM_PATH, default /usr/bin/chromium); serves on 127.0.0.1 only.
 */
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, findChromium } from "../lib/browser/find_chromium.ts";
import { createJoin } from "../functions/join.ts";
import { createKernel } from "../kernel/wasm_module.ts";
import { runKernelTask } from "../lib/browser/kernel_task.ts";
import { taskFromQuery } from "../lib/browser/tiny_task.ts";

const CHROMIUM = await findChromium();
if (!CHROMIUM) {
  console.error("bench:browser-kernel needs Chromium: install it or set CHROMIUM_PATH");
  Deno.exit(1);
}

const params = new URLSearchParams({
  check: "",
  steps: "8",
  layers: "2",
  width: "64",
  T: "64",
  B: "4",
  heads: "4",
});
for (let i = 0; i + 1 < Deno.args.length; i += 2) {
  params.set(Deno.args[i]!.replace(/^--/, ""), Deno.args[i + 1]!);
}
const task = taskFromQuery(params);

const bytes = await Deno.readFile(new URL("../kernel/wasm/build/kernel.wasm", import.meta.url));
const deno = runKernelTask(createKernel(bytes), task);

await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, createJoin());
const profile = await Deno.makeTempDir({ prefix: "artha-chromium-" });
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", ...CHROMIUM_ARGS],
});
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.addr.port}/join/?${params}`);
  await page.locator("body[data-kernel-done='1']").waitFor({ state: "attached", timeout: 600_000 });
  const inBrowser = JSON.parse(await page.locator("#kernel-result").innerText());
  const same = inBrowser.proofsRoot === deno.proofsRoot &&
    inBrowser.weightsDigest === deno.weightsDigest;
  const m = task.model;
  console.log(
    `kernel ${m.layers}x${m.width} B=${task.B} T=${task.T}, ${task.localSteps} steps: ` +
      `deno ${deno.tokensPerSecond.toFixed(0)} tokens/s, chromium ` +
      `${inBrowser.tokensPerSecond.toFixed(0)} tokens/s, ratio chromium/deno ` +
      `${(inBrowser.tokensPerSecond / deno.tokensPerSecond).toFixed(3)}; digests ` +
      (same ? "identical" : "DIFFER"),
  );
  if (!same) Deno.exitCode = 1;
} finally {
  await browser.close();
  await server.shutdown();
  await Deno.remove(profile, { recursive: true });
}
