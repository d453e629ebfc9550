/**
 * Concurrent calls that happen in normal use (the cron and a manual call closing the same round,
 * several finalize requests): every caller gets an answer without a 5xx, the chain moves once,
 * and transactions of the coordinator's one account never race for a nonce.
 */
import assert from "node:assert/strict";
import { abis } from "../../lib/chain/contracts.ts";
import { read, setupCoordinator } from "./_coordinator.ts";

Deno.test("concurrent aggregate and finalize calls: no 5xx, the chain moves once", async () => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 4, rounds: 1 });
  await s.deliver(job, job.nodes);

  // Execute: four closers at once (before: one "closed" and three 500s).
  const closes = await Promise.all(
    [0, 1, 2, 3].map(async () => read(await s.post("/aggregate", { jobId: job.jobId }))),
  );
  // Assert
  for (const c of closes) assert.equal(c.status, 200, JSON.stringify(c.body));
  const outcomes = closes.map((c) => c.body[0].status);
  assert.ok(outcomes.includes("closed"), JSON.stringify(outcomes));
  const closed = await fx.coordinator.getContractEvents({
    address: fx.addresses.jobs,
    abi: abis.jobs,
    eventName: "RoundClosed",
    args: { jobId: job.jobId },
    fromBlock: 0n,
  });
  assert.equal(closed.length, 1);

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
