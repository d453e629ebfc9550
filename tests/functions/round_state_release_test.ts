/**
 * What a closed round leaves pinned (found in the storage audit): the server optimizer's state of
 * every round and every secure round's unmasked sum were pinned for good, a model's size (twice
 * that for Adam's moments) more each round. Once the job moves past a round, they are unpinned.
 */
import assert from "node:assert/strict";
import { currentSession } from "../../lib/coordinator/secure_round.ts";
import { canonicalCid } from "../../lib/coordinator/svdb_private.ts";
import { SUM_HEADER_BYTES } from "../../lib/coordinator/_secure_store.ts";
import { read, setupCoordinator } from "./_coordinator.ts";
import { aggregate, deliverEnvelopes, secureRound } from "./_secure_round.ts";

Deno.test("a replaced server optimizer state and a closed secure round's sum are unpinned", async (t) => {
  await using fx = await setupCoordinator({ operators: 3 });
  const pinned = async () => new Set((await fx.store.pins()).map((c) => canonicalCid(`${c}`)));

  await t.step("server optimizer state", async () => {
    const s = await fx.scenario();
    const job = await s.job({ nodes: 2, rounds: 3, strategy: "fedavgm", outer: { outerLr: 1 } });
    const states: string[] = [];
    for (let round = 0; round < 3; round++) {
      await s.deliver(job, job.nodes);
      const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
      assert.equal(out.status, "closed", JSON.stringify(out));
      states.push(canonicalCid((await s.jobRecord(job.jobId)).outerVelocityCid!));
    }
    assert.equal(new Set(states).size, 3, "each round stored a state of its own");
    const pins = await pinned();
    assert.ok(pins.has(states[2]!), "the job's current state stays");
    assert.ok(!pins.has(states[0]!) && !pins.has(states[1]!), "replaced states are released");
  });

  await t.step("a secure round's sum", async () => {
    const s = await fx.scenario();
    const job = await s.job({ nodes: 3, rounds: 2, secureAggregation: {} });
    await secureRound(s, job, await deliverEnvelopes(s, job, job.nodes));
    const result = (await currentSession(s.ctx, await s.jobRecord(job.jobId)))!.value.result!;
    const sum = result.sumCid;
    assert.ok((await pinned()).has(canonicalCid(sum)), "pinned while the round reads it");
    // The nodes choose the sum's words (a masked input's range is not checked): a pinned file of
    // anyone's with those bytes must not lose its pin with the sum (found reviewing the release).
    const raw = await fx.store.get(sum);
    const words = result.sumHeader ? raw.slice(SUM_HEADER_BYTES) : raw;
    const victim = canonicalCid((await fx.store.put(words)).toString());
    assert.equal((await aggregate(s, job)).updates, 3);
    const pins = await pinned();
    assert.ok(!pins.has(canonicalCid(sum)));
    assert.ok(pins.has(victim), "a file with the sum's words kept its pin");
  });
});
