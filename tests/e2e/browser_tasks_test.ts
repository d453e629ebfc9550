/**
 * A browser tab does a laptop's other tasks, in its Web Worker with the laptop's code: on a
 * hierarchical, committee-verified 4-node job beside three Deno laptops (a committee decides only
 * with 3 eligible members), the tab aggregates its cluster of round 0 (lib/worker/cluster.ts, the
 * coordinator audits it by recomputation), then, round 0 being spot-checked, recomputes a laptop's
 * round as a committee member (lib/worker/validate.ts) and attests on chain the result the laptop
 * committed. Skipped without Chromium (CI sets
 * ARTHA_REQUIRE_CHROMIUM).
 */
import assert from "node:assert/strict";
import { bytesToHex } from "viem";
import type { Hex } from "viem";
import { abis } from "../../lib/chain/contracts.ts";
import { sendContract } from "../../lib/chain/send_contract.ts";
import { AttestationOutcome } from "../../lib/verify/committee_chain.ts";
import { clustersOf } from "../../lib/coordinator/clusters.ts";
import { findChromium, joinTabs } from "../../lib/browser/join_tabs.ts";
import { until } from "./_until.ts";
import {
  type BrowserRun,
  committedResult,
  escrowJob,
  openBrowserRun,
  roundUpdates,
  startLaptop,
} from "./browser_fixture.ts";

const CHROMIUM = await findChromium();

/** Calls POST /aggregate until the round closes (cluster aggregators post meanwhile). */
function closeRound(run: BrowserRun, jobId: Hex, why: () => Promise<string>) {
  return until("the round closed", async () => {
    const [out] = await run.api("/aggregate", { jobId });
    return out.status === "closed" && out;
  }, 120_000).catch(async (e) => {
    throw new Error(await why(), { cause: e });
  });
}

Deno.test({
  name: "browser tasks: a Chromium tab aggregates its cluster and validates a laptop's round",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    // Prepare: every round spot-checked; clusters of one update, each audited.
    await using run = await openBrowserRun(4);
    const { addresses } = run;
    await sendContract(run.chain, {
      address: addresses.verification,
      abi: abis.verification,
      functionName: "setSpotCheckBps",
      args: [10_000n],
    });
    const { jobId, specCid } = await escrowJob(run, {
      nodes: 4,
      rounds: 2,
      hierarchical: true,
      clusterSize: 1,
      clusterAudit: 1,
      verification: { redundancy: 1, challengeRate: 0, sampleRate: 0, committee: true },
    });
    const [laptopAcct, tabAcct, ...others] = run.accounts;
    await using laptop = await startLaptop(run, laptopAcct!);
    await using _second = await startLaptop(run, others[0]!);
    await using _third = await startLaptop(run, others[1]!);
    const operatorKey = bytesToHex(tabAcct!.getHdKey().privateKey!);
    await using tabs = await joinTabs(run.url, [operatorKey], { executablePath: CHROMIUM! });
    const [tabNode] = tabs.nodes as [Hex];
    const laptopNode = laptop.worker.nodePubkey;
    const why = () => tabs.describe(tabs.pages[0]!);
    await run.api("/assign", { jobId, specCid });

    // Execute: round 0 is cut into four clusters, each summed by its node; then round 1 is
    // trained after each node validated the others' round 0.
    await roundUpdates(run, { jobId, round: 0, updates: 4 }, why);
    assert.equal((await closeRound(run, jobId, why)).round, 0);
    await roundUpdates(run, { jobId, round: 1, updates: 4 }, why);
    assert.equal((await closeRound(run, jobId, why)).round, 1);

    // Assert: the tab's cluster mean matched the coordinator's recomputation.
    const clusters = await clustersOf(run.local.ctx, jobId, 0);
    const mine = clusters.filter((c) => c.aggregator === tabNode);
    assert.deepEqual(mine.map((c) => c.status), ["audited"], JSON.stringify(clusters));
    // The tab attested the laptop's committed result, and the committee settled it honest. A tab
    // that polled between round 0's close and its committee's draw trained round 1 first and
    // attests after it (a CI run asserted here before it had): the attestation is waited for.
    const attestations = () =>
      run.chain.getContractEvents({
        address: addresses.verification,
        abi: abis.verification,
        eventName: "Attested",
        args: { jobId, validatorNode: tabNode, targetNode: laptopNode },
        fromBlock: 0n,
      });
    await until("the tab's attestation", async () => (await attestations()).length > 0)
      .catch(async (e) => {
        throw new Error(await why(), { cause: e });
      });
    const attested = await attestations();
    assert.equal(attested.length, 1, "the tab attested the laptop's round once");
    const committed = await committedResult(run, { jobId, round: 0, node: laptopNode });
    assert.equal(attested[0]!.args.recomputedResultHash, committed);
    await until("the laptop's round settled", async () => {
      await run.api("/aggregate", { jobId }).catch(() => undefined);
      const outcome = await run.chain.readContract({
        address: addresses.verification,
        abi: abis.verification,
        functionName: "outcomeOf",
        args: [jobId, 0, laptopNode],
      });
      return outcome === AttestationOutcome.Honest;
    });
    assert.deepEqual(tabs.errors, []);
  },
});
