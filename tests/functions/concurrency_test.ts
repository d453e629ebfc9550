/**
 * Concurrent calls that happen in normal use (the cron and a manual call closing the same round,
 * several finalize requests) and that anyone can make (/aggregate needs no auth): every caller
 * gets the one close's outcome, the close runs once (one checkpoint written), the chain moves
 * once, and transactions of the coordinator's one account never race for a nonce.
 */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import { abis } from "../../lib/chain/contracts.ts";
import type { Context } from "../../lib/coordinator/context.ts";
import { Store } from "../../lib/store/store.ts";
import { createRouter } from "../../functions/router.ts";
import { type Coordinator, read, setupCoordinator } from "./_coordinator.ts";

/** A store over the fixture's blocks that counts what is written through it. */
class CountingStore extends Store {
  puts = 0;
  override put(...args: Parameters<Store["put"]>) {
    this.puts++;
    return super.put(...args);
  }
}

/** A coordinator process over `ctx`'s KV and chain: its own context, writing through `store`. */
function processOver(ctx: Context, store: Store) {
  const route = createRouter({ ...ctx, store });
  return async (jobId: Hex) =>
    read(
      await route(
        new Request("http://coordinator/aggregate", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jobId }),
        }),
      ),
    );
}

async function roundsClosed(fx: Coordinator, jobId: Hex) {
  const events = await fx.coordinator.getContractEvents({
    address: fx.addresses.jobs,
    abi: abis.jobs,
    eventName: "RoundClosed",
    args: { jobId },
    fromBlock: 0n,
  });
  return events.length;
}

Deno.test("concurrent aggregate and finalize calls: one close, every caller gets its outcome", async () => {
  // Prepare
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 4, rounds: 1 });
  await s.deliver(job, job.nodes);
  const store = new CountingStore(fx.store.blockstore);
  const aggregate = processOver(s.ctx, store);

  // Execute: four closers at once, as an attacker would send them (before: every one combined
  // the updates and wrote the checkpoint, and three answered "idle").
  const closes = await Promise.all([0, 1, 2, 3].map(() => aggregate(job.jobId)));

  // Assert
  for (const c of closes) assert.equal(c.status, 200, JSON.stringify(c.body));
  assert.equal(closes[0]!.body[0].status, "closed", JSON.stringify(closes[0]!.body));
  for (const c of closes.slice(1)) assert.deepEqual(c.body, closes[0]!.body);
  assert.equal(store.puts, 1, "the checkpoint is written once");
  assert.equal(await roundsClosed(fx, job.jobId), 1);

  // Execute: three finalizers at once (before: one success and two 500s, "nonce too low").
  const fins = await Promise.all(
    [0, 1, 2].map(async () => read(await s.post("/finalize", { jobId: job.jobId }))),
  );
  for (const f of fins) assert.ok(f.status < 500, JSON.stringify(f.body));
  const finalized = await fx.coordinator.getContractEvents({
    address: fx.addresses.proofs,
    abi: abis.proofs,
    eventName: "JobFinalized",
    args: { jobId: job.jobId },
    fromBlock: 0n,
  });
  assert.equal(finalized.length, 1);
});

Deno.test("a close racing another process's close answers that close's outcome", async () => {
  // Prepare: two coordinator processes over one KV and one chain.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  await s.deliver(job, job.nodes);
  const a = processOver(s.ctx, new CountingStore(fx.store.blockstore));
  const b = processOver(s.ctx, new CountingStore(fx.store.blockstore));

  // Execute
  const closes = await Promise.all([a, b, a, b].map((p) => p(job.jobId)));

  // Assert: whoever lost the KV check answers the winner's close, not "idle".
  for (const c of closes) assert.equal(c.status, 200, JSON.stringify(c.body));
  assert.equal(closes[0]!.body[0].status, "closed", JSON.stringify(closes[0]!.body));
  for (const c of closes.slice(1)) assert.deepEqual(c.body, closes[0]!.body);
  assert.equal(await roundsClosed(fx, job.jobId), 1);
  const record = await s.jobRecord(job.jobId);
  assert.equal(record.metrics.length, 1);
  assert.equal(record.metrics[0]!.checkpointCid, closes[0]!.body[0].checkpointCid);
});
