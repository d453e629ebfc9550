import assert from "node:assert/strict";
import { envelopeToJson } from "../../lib/round/update_envelope.ts";
import { read, setupCoordinator } from "./_coordinator.ts";
import { listValues } from "../../lib/coordinator/state.ts";
import type { ChallengeRecord } from "../../lib/coordinator/challenges.ts";

Deno.test("asynchronous (FedBuff) jobs count a slow node's stale update in the next round", async (t) => {
  await using fx = await setupCoordinator({ operators: 2 });

  await t.step("an update one round old is accepted, down-weighted, and counted once", async () => {
    // Prepare: 4 nodes, quorum 75%; node 3 trains round 0 but is too slow to deliver it.
    const s = await fx.scenario();
    const job = await s.job({
      nodes: 4,
      rounds: 3,
      quorum: 0.75,
      asynchronous: { maxStaleness: 1 },
    });
    const slow = await s.train(job, job.nodes[3]!);
    await s.deliver(job, job.nodes.slice(0, 3));
    const [r0] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
    assert.equal(r0.status, "closed");
    assert.equal(r0.updates, 3);

    // Execute: the slow update arrives during round 1, then the others deliver round 1.
    const late = await read(await s.post("/aggregate/update", envelopeToJson(slow.envelope)));
    await s.deliver(job, job.nodes.slice(0, 3));
    const [r1] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

    // Assert: accepted into round 1 with its base round, and round 1 closed with all four.
    assert.equal(late.status, 201);
    assert.equal(late.body.round, 1);
    assert.equal(late.body.baseRound, 0);
    assert.equal(r1.status, "closed");
    assert.equal(r1.updates, 4);
    const again = await read(await s.post("/aggregate/update", envelopeToJson(slow.envelope)));
    assert.equal(again.status, 409, "the round it counted in is closed");
  });

  await t.step("attacker: a counted update re-posted in the next round is refused", async () => {
    // Prepare: both nodes deliver round 0, which closes with both.
    const s = await fx.scenario();
    const job = await s.job({ nodes: 2, rounds: 3, asynchronous: { maxStaleness: 1 } });
    const [n0, n1] = job.nodes as [typeof job.nodes[0], typeof job.nodes[0]];
    const u0 = await s.train(job, n0);
    assert.equal((await s.post("/aggregate/update", envelopeToJson(u0.envelope))).status, 201);
    await s.deliver(job, [n1]);
    const [r0] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
    assert.equal(r0.updates, 2);

    // Execute: anyone re-posts n0's public round-0 envelope during round 1.
    const replay = await read(await s.post("/aggregate/update", envelopeToJson(u0.envelope)));

    // Assert: refused as already counted; n0 still gets its round-1 task and both count once.
    assert.equal(replay.status, 409);
    assert.equal(replay.body.error.code, "UPDATE_COUNTED");
    assert.match(replay.body.error.message, /already counted in round 0/);
    await s.deliver(job, [n0, n1]);
    const [r1] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
    assert.equal(r1.status, "closed");
    assert.equal(r1.updates, 2);
  });

  await t.step("a synchronous job refuses the same stale update with 409", async () => {
    const s = await fx.scenario();
    const job = await s.job({ nodes: 4, rounds: 2, quorum: 0.75 });
    const slow = await s.train(job, job.nodes[3]!);
    await s.deliver(job, job.nodes.slice(0, 3));
    await s.post("/aggregate", { jobId: job.jobId });
    const late = await read(await s.post("/aggregate/update", envelopeToJson(slow.envelope)));
    assert.equal(late.status, 409);
    assert.match(late.body.error.message, /not the open round/);
    assert.equal(late.body.error.code, "ROUND_NOT_OPEN");
  });
});

Deno.test("attacker: an update posted a round late is challenged for the round it was committed in, so it cannot void the round's challenges", async () => {
  // Prepare: an asynchronous job whose every update is sampled; one node commits round 0 and
  // holds its envelope back.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 4,
    rounds: 3,
    quorum: 0.75,
    asynchronous: { maxStaleness: 1 },
    verification: { redundancy: 1, challengeRate: 0, sampleRate: 0.02 },
  });
  const late = job.nodes[3]!;
  const held = await s.train(job, late);
  await s.deliver(job, job.nodes.slice(0, 3));
  assert.equal(
    (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0].status,
    "closed",
  );

  // Execute: the held envelope arrives in round 1 and counts there; round 1 closes.
  const posted = await read(await s.post("/aggregate/update", envelopeToJson(held.envelope)));
  assert.equal(posted.status, 201);
  await s.deliver(job, job.nodes.slice(0, 3));
  const closed = await read(await s.post("/aggregate", { jobId: job.jobId }));

  // Assert: the close went through and every counted update was sampled, the late one for
  // round 0 (where its commit is).
  assert.equal(closed.status, 200, JSON.stringify(closed.body));
  assert.equal(closed.body[0].status, "closed");
  const sampled = (await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]))
    .filter((c) => c.kind === "sample");
  const of = (node: string) =>
    sampled.filter((c) => c.nodePubkey === node).map((c) => c.round).sort();
  assert.deepEqual(of(late.nodePubkey), [0]);
  for (const n of job.nodes.slice(0, 3)) assert.deepEqual(of(n.nodePubkey), [0, 1]);
});
