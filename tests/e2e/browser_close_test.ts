/**
 * Closing a worker's tab is a laptop dropping out (tests/e2e/federated_job_test.ts kills laptop
 * processes the same way): a 3-node, 3-round job with a 60% quorum, trained by a Chromium tab
 * and two Deno laptops, a third laptop joining later as a spare. After round 0 the tab is closed
 * (its Web Worker with it) and an hour passes on chain, so only the laptops are live: round 1
 * closes at quorum with the two laptops, the tab's task moves to the spare, and round 2 is
 * trained by the spare in the tab's place. Skipped without Chromium (CI sets
 * ARTHA_REQUIRE_CHROMIUM).
 */
import assert from "node:assert/strict";
import { bytesToHex } from "viem";
import type { Hex } from "viem";
import { abis } from "../../lib/chain/contracts.ts";
import type { JobRecord } from "../../lib/coordinator/state.ts";
import { findChromium, joinTabs } from "../../lib/browser/join_tabs.ts";
import { until } from "./_until.ts";
import {
  type BrowserRun,
  escrowJob,
  openBrowserRun,
  roundUpdates,
  startLaptop,
} from "./browser_fixture.ts";

const CHROMIUM = await findChromium();

/** Calls POST /aggregate until round `round` closes. */
function closeRound(run: BrowserRun, jobId: Hex, round: number) {
  return until(`round ${round} closed`, async () => {
    const [out] = await run.api("/aggregate", { jobId });
    return out.status === "closed" && out.round === round && out;
  }, 120_000);
}

/** An hour passes on chain; resolves once every node in `live` heartbeated again. */
async function anHourPasses(run: BrowserRun, live: Hex[]): Promise<void> {
  await run.chain.request({ method: "evm_increaseTime" as never, params: [3700] as never });
  await run.chain.request({ method: "evm_mine" as never, params: [] as never });
  const { address, abi } = { address: run.addresses.registry, abi: abis.registry };
  await until("the laptops live again", async () => {
    const alive = await Promise.all(
      live.map((n) => run.chain.readContract({ address, abi, functionName: "isLive", args: [n] })),
    );
    return alive.every(Boolean);
  });
}

Deno.test({
  name: "browser close: a closed tab leaves its round to quorum and its task to a spare",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    await using run = await openBrowserRun(4);
    const [a, b, spareAcct, tabAcct] = run.accounts;
    const { jobId, specCid } = await escrowJob(run, { nodes: 3, rounds: 3, quorum: 0.6 });
    await using laptopA = await startLaptop(run, a!);
    await using laptopB = await startLaptop(run, b!);
    const operatorKey = bytesToHex(tabAcct!.getHdKey().privateKey!);
    await using tabs = await joinTabs(run.url, [operatorKey], { executablePath: CHROMIUM! });
    const [tabNode] = tabs.nodes as [Hex];
    const page = tabs.pages[0]!;
    const started = await run.api("/assign", { jobId, specCid }) as JobRecord;
    assert.ok(started.assigned.includes(tabNode), "the tab is assigned");
    // The spare binds after assignment, so it holds no task yet.
    await using spare = await startLaptop(run, spareAcct!);

    // Round 0 with the tab; then the tab is closed before round 1 opens.
    await roundUpdates(run, { jobId, round: 0, updates: 3 }, () => tabs.describe(page));
    await page.close();
    assert.equal((await closeRound(run, jobId, 0)).updates, 3);
    const laptops = [laptopA.worker.nodePubkey, laptopB.worker.nodePubkey];
    await anHourPasses(run, [...laptops, spare.worker.nodePubkey]);

    // Round 1 closes at quorum without the tab; its place goes to the spare.
    const r1 = await closeRound(run, jobId, 1);
    assert.equal(r1.reason, "quorum");
    assert.equal(r1.updates, 2);
    const after = await run.api(`/status?job=${jobId}`) as JobRecord;
    assert.deepEqual(after.reassigned, [{ round: 2, from: tabNode, to: spare.worker.nodePubkey }]);
    assert.ok(!after.assigned.includes(tabNode));

    // Round 2 is trained by the spare in the tab's place (waited for: 2 of 3 make the quorum).
    await roundUpdates(run, { jobId, round: 2, updates: 3 }, () => Promise.resolve("round 2"));
    const r2 = await closeRound(run, jobId, 2);
    assert.equal(r2.updates, 3);
    const nodes = await run.api(`/status?job=${jobId}`) as JobRecord;
    assert.equal(nodes.status, "completed");
    assert.deepEqual(tabs.errors, []);
  },
});
