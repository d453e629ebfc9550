/**
 * lib/coordinator/follow_up.ts from an attacker's side: POST /aggregate needs no auth and runs a
 * job's follow-up on every call, so what one call reads from the chain must not grow with the
 * job's age. Found auditing it: each call read the job's DisputeOpened logs from its start block
 * twice and each pending committee's Attested logs from block 0, a log query per 2,000 blocks.
 */
import assert from "node:assert/strict";
import { LOG_QUERY_BLOCKS } from "../../../lib/chain/log_ranges.ts";
import { type CommitteeRecord } from "../../../lib/coordinator/committees.ts";
import { listValues } from "../../../lib/coordinator/state.ts";
import { read, setupCoordinator, spotCheckedJob } from "../../functions/_coordinator.ts";
import { logQueries } from "../chain/_log_queries.ts";

Deno.test("attacker: repeated POST /aggregate reads only the blocks since the last call", async () => {
  // Prepare: a spot-checked round leaves a committee pending, then the chain grows by 5 log
  // queries' worth of blocks.
  await using fx = await setupCoordinator({ operators: 4 });
  const { s, job } = await spotCheckedJob(fx);
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(closed.status, "closed");
  const mine = (blocks: bigint) =>
    fx.coordinator.request({
      method: "anvil_mine" as never,
      params: [`0x${blocks.toString(16)}`] as never,
    });
  await mine(5n * LOG_QUERY_BLOCKS);

  // Execute: an attacker's calls in a loop, after a first one that catches up; the chain goes
  // on growing between them.
  const post = async () => {
    await mine(10n);
    await s.post("/aggregate", { jobId: job.jobId });
  };
  await logQueries(post);
  const calls = [];
  for (let i = 0; i < 3; i++) calls.push((await logQueries(post)).queries);

  // Assert: a handful of queries a call (each scan reads its few new blocks), not a query per
  // 2,000 blocks of the chain for each scan; the committee is still pending and tracked.
  for (const q of calls) assert.ok(q <= 4, `${q} log queries in one call`);
  const [rec] = await listValues<CommitteeRecord>(s.ctx.kv, ["committee", job.jobId]);
  assert.equal(rec!.round, 0);
  assert.ok(rec!.next !== undefined);
});
