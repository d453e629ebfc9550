/**
 * A round closes as soon as its last update is in, without waiting for the minute cron: the
 * completing update enqueues the close on the KV queue and the listener closes the round.
 */
import assert from "node:assert/strict";
import { onQueueMessage } from "../../lib/coordinator/close_trigger.ts";
import { setupCoordinator } from "./_coordinator.ts";

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("the update that completes a round closes it", async () => {
  let listening: Promise<void>;
  {
    await using fx = await setupCoordinator();
    const s = await fx.scenario();
    // Resolves once the fixture closes the scenario's KV at the end of this block.
    listening = s.ctx.kv.listenQueue((m) => onQueueMessage(s.ctx, m));
    const job = await s.job({ nodes: 2, rounds: 2 });
    await s.deliver(job, [job.nodes[0]!]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await s.jobRecord(job.jobId)).round, 0, "one of two updates closes nothing");
    await s.deliver(job, [job.nodes[1]!]);
    await until("round 0 to close", async () => (await s.jobRecord(job.jobId)).round === 1);
    const rec = await s.jobRecord(job.jobId);
    assert.equal(rec.metrics[0]!.updates, 2);
    assert.equal((await fx.chainJob(job.jobId)).currentRound, 1, "closed on chain too");
  }
  await listening;
});
