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
import { until } from "./_until.ts";
import { bytesToHex, parseEther } from "viem";
import type { Hex } from "viem";
import { startDevnet } from "../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../lib/chain/client.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { abis, type ArthaAddresses } from "../../lib/chain/contracts.ts";
import { submitTrain } from "../../lib/chain/submit_train.ts";
import { jobSpecHash, workTerms } from "../../lib/job/job_spec.ts";
import { prepareJob } from "../../lib/job/job_owner.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { loadBrownShards } from "../../kernel/data.ts";
import { httpCoordinator } from "../../lib/worker/client.ts";
import { Worker } from "../../lib/worker/worker.ts";
import { type LocalCoordinator, startLocalCoordinator } from "../../functions/local.ts";
import { createRouter } from "../../functions/router.ts";
import { findChromium, joinTabs } from "../../lib/browser/join_tabs.ts";

const CHROMIUM = await findChromium();
const ZERO32 = `0x${"00".repeat(32)}`;

/** The owner prepares a 2-node, 1-round job of a tiny model and escrows it. */
async function escrowJob(local: LocalCoordinator, owner: ArthaClient, addresses: ArthaAddresses) {
  const { spec, specCid } = await prepareJob(local.ctx.store, {
    model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
    shards: loadBrownShards().slice(0, 2),
    rounds: 1,
    localSteps: 3,
    B: 2,
    T: 16,
  });
  const { jobId } = await submitTrain(owner, {
    addresses,
    budget: parseEther("5"),
    terms: {
      modelCid: spec.initialWeights,
      datasetCid: spec.shards[0]!.cid,
      paramsHash: jobSpecHash(spec),
      rounds: 1,
      nodesWanted: 2,
      redundancy: 1,
      baseRatePerSecond: parseEther("0.001"),
      targetImprovementBps: 100,
      ...workTerms(spec),
    },
  });
  return { jobId, specCid };
}

/** JSON calls to the in-process coordinator; a non-2xx answer throws with its body. */
function apiOf(local: LocalCoordinator) {
  return async (path: string, body?: unknown) => {
    const res = await (body === undefined ? local.call(path) : local.post(path, body));
    const json = await res.json();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
}

/** The tab's round: both updates in, the round closed with two, the tab's commit on chain. */
async function tabRoundCounts(
  o: { api: ReturnType<typeof apiOf>; chain: ArthaClient; addresses: ArthaAddresses },
  jobId: Hex,
  tabNode: Hex,
  why: () => Promise<string>,
): Promise<void> {
  await until("both round-0 updates", async () => {
    const j = await o.api(`/status?job=${jobId}`);
    return j.round === 0 && j.roundUpdates === 2;
  }, 120_000).catch(async (e) => {
    throw new Error(await why(), { cause: e });
  });
  const [closed] = await o.api("/aggregate", { jobId });
  assert.equal(closed.status, "closed");
  assert.equal(closed.updates, 2, "the tab's update is counted");
  const committed = await o.chain.readContract({
    address: o.addresses.proofs,
    abi: abis.proofs,
    functionName: "resultOf",
    args: [jobId, 0, tabNode],
  });
  assert.notEqual(committed, ZERO32, "the tab committed its round on chain");
}

Deno.test({
  name: "browser join: a Chromium tab and a Deno worker train a round; the tab's update counts",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "artha-join-" });
    await using net = await startDevnet({ accounts: 4, balanceArth: 1000 });
    const [coordAcct, ownerAcct, denoAcct, tabAcct] = net.accounts;
    const clientOf = (account: typeof coordAcct) =>
      createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: account! });
    const chain = clientOf(coordAcct);
    const addresses = await deployArtha(chain, { settlementDelay: 0 });
    const local = await startLocalCoordinator({
      dir,
      client: chain,
      addresses,
      chainId: net.chainId,
    });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createRouter(local.ctx),
    );
    const url = `http://127.0.0.1:${server.addr.port}`;
    const api = apiOf(local);
    const { jobId, specCid } = await escrowJob(local, clientOf(ownerAcct), addresses);
    const stop = new AbortController();
    const denoWorker = new Worker({
      coordinator: httpCoordinator(url),
      client: clientOf(denoAcct),
      addresses,
      chainId: net.chainId,
      key: generateNodeKey(),
      onProgress: () => {},
    });
    let running: Promise<void> | undefined;
    try {
      await denoWorker.register();
      running = denoWorker.run(stop.signal, 200);
      const operatorKey = bytesToHex(tabAcct!.getHdKey().privateKey!);
      await using tabs = await joinTabs(url, [operatorKey], { executablePath: CHROMIUM! });
      const [tabNode] = tabs.nodes as [Hex];
      const page = tabs.pages[0]!;
      const nodes = (await api("/status")).nodes as { nodePubkey: Hex }[];
      const both = [denoWorker.nodePubkey, tabNode].sort();
      assert.deepEqual(nodes.map((n) => n.nodePubkey).sort(), both);
      const started = await api("/assign", { jobId, specCid });
      assert.ok(started.assigned.includes(tabNode), "the tab is assigned");
      await tabRoundCounts({ api, chain, addresses }, jobId, tabNode, () => tabs.describe(page));
      await page.locator("body[data-join-rounds='1']").waitFor({ state: "attached" });
      assert.match(await page.locator("#join-live").innerText(), /rounds submitted/);
      assert.deepEqual(tabs.errors, []);
    } finally {
      stop.abort();
      await running;
      await server.shutdown();
      await local.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
