/**
 * A browser tab as a real worker: on a local anvil chain, the coordinator served on a port, one
 * Deno worker (lib/worker/worker.ts) and one Chromium tab on GET /join (the same Worker bundled,
 * training in a Web Worker, its node key in IndexedDB, its operator a pasted devnet key) join a
 * 2-node, 1-round job of a tiny model. The round closes with both updates: the tab's envelope
 * accepted by the coordinator and its commit on chain. The tab is opened by lib/browser/join_tabs.ts
 * (what `deno task demo --browsers N` uses); skipped when Chromium is not installed (CI sets
 * ARTHA_REQUIRE_CHROMIUM).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { bytesToHex } from "viem";
import type { Hex } from "viem";
import { chromium } from "playwright-core";
import { findChromium, joinTabs } from "../../lib/browser/join_tabs.ts";
import { CHROMIUM_ARGS } from "../../lib/browser/find_chromium.ts";
import { nodeKeyFile } from "../../lib/browser/node_key_store.ts";
import { getOperatorNodes } from "../../lib/chain/get_operator_nodes.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { CoordinatorClient, httpCoordinator } from "../../lib/worker/client.ts";
import { registerWorker } from "../../lib/worker/register.ts";
import {
  committedResult,
  escrowJob,
  openBrowserRun,
  roundUpdates,
  startLaptop,
} from "./browser_fixture.ts";

const CHROMIUM = await findChromium();
const ZERO32 = `0x${"00".repeat(32)}`;

Deno.test({
  name: "browser join: a Chromium tab and a Deno worker train a round; the tab's update counts",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    await using run = await openBrowserRun(2);
    const [laptopAcct, tabAcct] = run.accounts;
    const { jobId, specCid } = await escrowJob(run, { nodes: 2, rounds: 1 });
    await using laptop = await startLaptop(run, laptopAcct!);
    const operatorKey = bytesToHex(tabAcct!.getHdKey().privateKey!);
    await using tabs = await joinTabs(run.url, [operatorKey], { executablePath: CHROMIUM! });
    const [tabNode] = tabs.nodes as [Hex];
    const page = tabs.pages[0]!;
    const nodes = (await run.api("/status")).nodes as { nodePubkey: Hex }[];
    const both = [laptop.worker.nodePubkey, tabNode].sort();
    assert.deepEqual(nodes.map((n) => n.nodePubkey).sort(), both);
    const started = await run.api("/assign", { jobId, specCid });
    assert.ok(started.assigned.includes(tabNode), "the tab is assigned");
    await roundUpdates(run, { jobId, round: 0, updates: 2 }, () => tabs.describe(page));
    const [closed] = await run.api("/aggregate", { jobId });
    assert.equal(closed.status, "closed");
    assert.equal(closed.updates, 2, "the tab's update is counted");
    const committed = await committedResult(run, { jobId, round: 0, node: tabNode });
    assert.notEqual(committed, ZERO32, "the tab committed its round on chain");
    await page.locator("body[data-join-rounds='1']").waitFor({ state: "attached" });
    assert.match(await page.locator("#join-live").innerText(), /rounds submitted/);
    assert.equal(await page.getAttribute("body", "data-wallet"), null, "no wallet: the key");
    assert.deepEqual(tabs.errors, []);
  },
});

Deno.test({
  name:
    "attacker: the join page served over plain http to another host refuses to join, before any key",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    // Found in the browser audit: the page joined from http://<coordinator>/join/ on any host,
    // where anyone on the network could rewrite it and read the node key and the pasted operator
    // key, or send transactions through the wallet trusting that origin. The coordinator listens
    // on 127.0.0.1; Chromium reaches it by a name that is not loopback, as a LAN address is.
    await using run = await openBrowserRun(1);
    const port = new URL(run.url).port;
    const browser = await chromium.launch({
      executablePath: CHROMIUM!,
      headless: true,
      args: [...CHROMIUM_ARGS, "--host-resolver-rules=MAP artha.test 127.0.0.1"],
    });
    try {
      const page = await browser.newPage();

      // Execute
      await page.goto(`http://artha.test:${port}/join/`);

      // Assert: refused, saying why and what to open instead; no key made, Join disabled.
      await page.locator("body[data-join=error]").waitFor({ state: "attached", timeout: 30_000 });
      const status = await page.locator("#join-status").innerText();
      assert.match(status, /plain http from another machine .* Open the coordinator's https/);
      assert.ok(await page.locator("#join-run").isDisabled());
      assert.doesNotMatch(await page.locator("#node-key").innerText(), /0x[0-9a-f]{64}/);
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name: "victim: a second tab of the same browser does not run the node the first one runs",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    // Found in the browser audit: every tab of a profile reads the same node key and state, and
    // two tabs ran one node: double heartbeats, and each wrote the kept-commits record over the
    // other's, so a commit one kept could go unanswered after a restart.
    await using run = await openBrowserRun(1);
    const operatorKey = bytesToHex(run.accounts[0]!.getHdKey().privateKey!);
    const browser = await chromium.launch({
      executablePath: CHROMIUM!,
      headless: true,
      args: [...CHROMIUM_ARGS],
    });
    try {
      const context = await browser.newContext(); // one profile: one IndexedDB, one key
      const open = async () => {
        const page = await context.newPage();
        await page.goto(`${run.url}/join/`);
        await page.locator("#node-key", { hasText: /^0x[0-9a-f]{64}/ }).waitFor();
        await page.fill("#operator-key", operatorKey);
        await page.click("#join-run");
        return page;
      };
      const first = await open();
      await first.locator("body[data-join=running]").waitFor({
        state: "attached",
        timeout: 60_000,
      });

      // Execute: the same node joined from a second tab.
      const second = await open();

      // Assert: refused, naming the other tab; the first keeps running.
      await second.locator("body[data-join=error]").waitFor({ state: "attached", timeout: 30_000 });
      assert.match(await second.locator("#join-status").innerText(), /runs in another tab/);
      assert.equal(await first.getAttribute("body", "data-join"), "running");
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name: "victim: a browser that lost its storage resumes its staked node from the key file",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    // Found in the browser audit: a browser short of disk evicts a site's storage whole (the
    // node key with it), and the page then made a new key and staked a second node on Join,
    // while the first one's stake stayed locked under a key nobody had and its missed heartbeats
    // and unanswered challenges were slashed. Prepare: the operator's node, staked from this
    // browser before its storage went (here: registered from Deno, its key file exported).
    await using run = await openBrowserRun(1);
    const account = run.accounts[0]!;
    const operator = run.clientOf(account);
    const lost = generateNodeKey();
    await registerWorker(operator, new CoordinatorClient(httpCoordinator(run.url)), {
      addresses: run.addresses,
      chainId: run.chainId,
      key: lost,
    });
    const staked = () =>
      getOperatorNodes(operator, { addresses: run.addresses, operator: account.address });
    const browser = await chromium.launch({
      executablePath: CHROMIUM!,
      headless: true,
      args: [...CHROMIUM_ARGS],
    });
    try {
      const page = await browser.newPage(); // a fresh profile: the storage is gone
      await page.goto(`${run.url}/join/`);
      await page.locator("#node-key", { hasText: /created now/ }).waitFor();
      assert.match(await page.getAttribute("body", "data-persisted") ?? "", /^[01]$/);
      assert.match(await page.locator("#node-storage").innerText(), /export/);

      // Execute: Join with the new key, as the page offers it.
      await page.fill("#operator-key", bytesToHex(account.getHdKey().privateKey!));
      await page.click("#join-run");

      // Assert: nothing staked; the page names the operator's node and the way back.
      await page.locator("body[data-join=error]").waitFor({ state: "attached", timeout: 30_000 });
      const status = await page.locator("#join-status").innerText();
      assert.match(status, new RegExp(`already stakes node ${lost.publicKeyHex}`));
      assert.match(status, /import its key file/);
      assert.deepEqual(await staked(), [lost.publicKeyHex], "no second node staked");

      // Execute: the key file imported, then Join.
      await page.setInputFiles("#node-import", {
        name: "node.key",
        mimeType: "application/json",
        buffer: Buffer.from(nodeKeyFile(lost)),
      });
      await page.locator("#node-key", { hasText: /imported from node\.key/ }).waitFor();
      await page.fill("#operator-key", bytesToHex(account.getHdKey().privateKey!));
      await page.click("#join-run");

      // Assert: the old node runs again, still the operator's only one.
      await page.locator("body[data-join=running]").waitFor({ state: "attached", timeout: 60_000 });
      assert.match(await page.locator("#node-key").innerText(), new RegExp(lost.publicKeyHex));
      assert.deepEqual(await staked(), [lost.publicKeyHex], "the old node resumed");
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name: "victim: a tab still showing a key another tab replaced refuses to stake or export it",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    // Found in the browser audit: a tab read the node key once when it opened; another tab then
    // imported a key file over it (the one-tab lock covers a running join or import, not an open
    // tab), and Join in the first tab staked the old key, which then lived only in its memory:
    // closing it locked the stake under a key nobody had and its missed heartbeats were slashed.
    await using run = await openBrowserRun(1);
    const account = run.accounts[0]!;
    const operator = run.clientOf(account);
    const browser = await chromium.launch({
      executablePath: CHROMIUM!,
      headless: true,
      args: [...CHROMIUM_ARGS],
    });
    try {
      const context = await browser.newContext(); // one profile: one IndexedDB, one key
      const open = async (missesMessages: boolean) => {
        const page = await context.newPage();
        // A tab that misses the other tabs' word (frozen in the background, or a browser without
        // BroadcastChannel): only the check at Join stands between it and the old key.
        if (missesMessages) await page.addInitScript("delete globalThis.BroadcastChannel;");
        await page.goto(`${run.url}/join/`);
        const key = page.locator("#node-key", { hasText: /^0x[0-9a-f]{64}/ });
        await key.waitFor();
        return { page, key: (await key.innerText()).slice(0, 66) };
      };
      const stale = await open(true);
      const listening = await open(false);
      const importer = await open(false);
      assert.deepEqual([listening.key, importer.key], [stale.key, stale.key], "one browser key");

      // Execute: another tab imports a key file over the browser's key; then the stale tab joins
      // and exports with the key it still shows.
      const imported = generateNodeKey();
      await importer.page.setInputFiles("#node-import", {
        name: "node.key",
        mimeType: "application/json",
        buffer: Buffer.from(nodeKeyFile(imported)),
      });
      await importer.page.locator("#node-key", { hasText: /imported from node\.key/ }).waitFor();
      const page = stale.page;
      await page.fill("#operator-key", bytesToHex(account.getHdKey().privateKey!));
      await page.click("#join-run");
      await page.locator("body[data-join=error], body[data-join=running]")
        .waitFor({ state: "attached", timeout: 60_000 });
      const status = page.locator("#join-status");
      const why = await status.innerText();
      await page.click("#node-export");

      // Assert: both refused, naming both keys; nothing sent; a tab that heard shows the new key.
      assert.match(why, /Cannot join: this browser's node key changed in another tab: reload/);
      assert.match(why, new RegExp(`shows ${stale.key}; .* keeps ${imported.publicKeyHex}`));
      assert.equal(await operator.getTransactionCount({ address: account.address }), 0);
      const nodes = { addresses: run.addresses, operator: account.address };
      assert.deepEqual(await getOperatorNodes(operator, nodes), [], "no node staked");
      await status.filter({ hasText: /Cannot export/ }).waitFor({ timeout: 10_000 });
      assert.match(await status.innerText(), /node key changed in another tab: reload/);
      await listening.page.locator("#node-key", { hasText: imported.publicKeyHex })
        .waitFor({ timeout: 10_000 });
      assert.match(await listening.page.locator("#node-key").innerText(), /changed in another tab/);
    } finally {
      await browser.close();
    }
  },
});
