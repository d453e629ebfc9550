/**
 * The coordinator where Deno Deploy runs it, with no writable filesystem for its SVDB: blocks,
 * pins and leases live in the coordinator's own Deno KV (`store: "kv"`). A two-node, two-round
 * job runs end to end through the functions with real in-process Workers (shards fetched over
 * GET /svdb, updates uploaded over signed POST /svdb), is finalized on chain, and its final
 * checkpoint survives a garbage collection, all without an SVDB directory.
 */
import assert from "node:assert/strict";
import { parseEther } from "viem";
import { startDevnet } from "../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../lib/chain/contracts.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { submitTrain } from "../../lib/chain/submit_train.ts";
import { jobSpecHash, workTerms } from "../../lib/job/job_spec.ts";
import { prepareJob } from "../../lib/job/job_owner.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { Worker } from "../../lib/worker/worker.ts";
import type { JobRecord } from "../../lib/coordinator/state.ts";
import { collectSvdbGarbage } from "../../lib/coordinator/svdb_retention.ts";
import { KvBlockstore } from "../../lib/store/kv_blockstore.ts";
import { type LocalCoordinator, startLocalCoordinator } from "../../functions/local.ts";
import { TINY_BATCH, TINY_MODEL } from "./_coordinator.ts";

const ROUNDS = 2;
const NODES = 2;

function shards(n: number) {
  const enc = new TextEncoder();
  const lines = [
    "The jury said it did find that the election was conducted well. ",
    "She walked down to the harbour where the boats were painted blue. ",
  ];
  return Array.from({ length: n }, (_, i) => {
    const text = lines[i % lines.length]!.repeat(40);
    return { name: `kv/${i}`, train: enc.encode(text), val: enc.encode(text.slice(0, 256)) };
  });
}

/** The owner prepares a tiny job in the coordinator's store and escrows it; returns its ids. */
async function escrowJob(local: LocalCoordinator, owner: ArthaClient, addresses: ArthaAddresses) {
  const { spec, specCid } = await prepareJob(local.ctx.store, {
    model: TINY_MODEL,
    shards: shards(NODES),
    rounds: ROUNDS,
    localSteps: 2,
    ...TINY_BATCH,
    quorum: 1,
  });
  const { jobId } = await submitTrain(owner, {
    addresses,
    budget: parseEther("10"),
    terms: {
      modelCid: spec.initialWeights,
      datasetCid: spec.shards[0]!.cid,
      paramsHash: jobSpecHash(spec),
      rounds: ROUNDS,
      nodesWanted: NODES,
      redundancy: 1,
      baseRatePerSecond: parseEther("0.001"),
      targetImprovementBps: 0,
      ...workTerms(spec),
    },
  });
  return { jobId, specCid };
}

/** Settled, the checkpoint kept by gc and served from KV, and no SVDB directory anywhere. */
async function assertOnKv(local: LocalCoordinator, dir: string, finalized: JobRecord) {
  const { ctx } = local;
  assert.equal(finalized.status, "finalized");
  assert.ok(ctx.store.blockstore instanceof KvBlockstore);
  assert.equal((ctx.store.blockstore as KvBlockstore).kv, ctx.kv, "one database");
  await assert.rejects(Deno.stat(`${dir}/svdb`), Deno.errors.NotFound);
  const checkpoint = finalized.globalCid;
  const before = await ctx.store.get(checkpoint);
  const gc = await collectSvdbGarbage(ctx);
  assert.ok(gc.kept > 0);
  assert.deepEqual(await ctx.store.get(checkpoint), before, "pinned: kept by gc");
  const served = await local.call(`/svdb/${checkpoint}`);
  assert.equal(served.status, 200);
  assert.deepEqual(new Uint8Array(await served.arrayBuffer()), before);
  const blocks = await Array.fromAsync(ctx.kv.list({ prefix: ["svdb", "block"] }));
  assert.ok(blocks.length >= 5, "spec, weights, shards, updates, checkpoints in KV");
}

Deno.test({
  name: "a job runs end to end with the SVDB in the coordinator's Deno KV",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Prepare: chain, contracts, and the coordinator over one KV file and nothing else
    await using net = await startDevnet({ accounts: 2 + NODES });
    const [coordAcct, ownerAcct, ...nodeAccts] = net.accounts;
    const client = (account: typeof coordAcct) =>
      createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: account! });
    const coordinator = client(coordAcct);
    const addresses = await deployArtha(coordinator, { settlementDelay: 0 });
    const dir = await Deno.makeTempDir({ prefix: "artha-kv-job-" });
    try {
      await using local = await startLocalCoordinator({
        dir,
        client: coordinator,
        addresses,
        chainId: net.chainId,
        store: "kv",
      });
      const { jobId, specCid } = await escrowJob(local, client(ownerAcct), addresses);
      const trainer = createTrainer(loadKernel());
      const workers = nodeAccts.map((account) =>
        new Worker({
          coordinator: local.call,
          client: client(account),
          addresses,
          chainId: net.chainId,
          key: generateNodeKey(),
          trainer,
          heartbeatEveryMs: Infinity,
        })
      );
      for (const w of workers) await w.register();
      const assigned = await local.postAs(client(ownerAcct), "/assign", { jobId, specCid });
      assert.equal(assigned.status, 200, await assigned.clone().text());
      // Execute: every round, each node trains and delivers, then the round closes
      for (let round = 0; round < ROUNDS; round++) {
        for (const w of workers) assert.equal(await w.tick(), "trained", `round ${round}`);
        const [closed] = await (await local.post("/aggregate", { jobId })).json();
        assert.equal(closed.status, "closed", JSON.stringify(closed));
        assert.equal(closed.updates, NODES);
      }
      const [finalized] = await (await local.post("/finalize", { jobId })).json() as JobRecord[];
      await assertOnKv(local, dir, finalized!);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
