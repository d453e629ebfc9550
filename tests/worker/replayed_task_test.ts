/**
 * Tasks replayed from the attacker's side (found in the worker audit): a coordinator, hostile or
 * buggy, offers again a round the node already delivered, a target it already attested, or a
 * cluster it already posted. Each was done again in full, in a loop with no pause between (the
 * tick said "trained", "validated" or "aggregated", which the loop does not wait after). The
 * worker refuses them and waits; a round committed but not delivered before a crash is still
 * retrained and posted.
 */
import assert from "node:assert/strict";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import type { CoordinatorFetch } from "../../lib/worker/client.ts";
import { clustersOf } from "../../lib/coordinator/clusters.ts";
import {
  type Coordinator,
  type Scenario,
  setupCoordinator,
  spotCheckedJob,
  type TestNode,
} from "../functions/_coordinator.ts";
import { workerThrough } from "./_worker.ts";

/**
 * A coordinator that forwards to `s` and records the first answer to /assign; once `replay()` is
 * called it answers every /assign with that first task again and counts the posts it takes.
 */
function replaying(s: Scenario) {
  let first: unknown;
  let on = false;
  const posts: string[] = [];
  const fetch: CoordinatorFetch = async (path, init) => {
    if (on && path.startsWith("/assign?")) return Response.json(first);
    if (on && (path === "/aggregate/update" || path.startsWith("/aggregate/cluster"))) {
      posts.push(path);
      return Response.json({ accepted: true });
    }
    const res = await s.call(path, init);
    if (first === undefined && path.startsWith("/assign?")) first = await res.clone().json();
    return res;
  };
  return { fetch, posts, replay: () => on = true };
}

/** The error messages among `events`. */
function errors(events: WorkerEvent[]): string[] {
  return events.flatMap((e) => e.kind === "error" ? [e.message] : []);
}

Deno.test("attacker: a round the node delivered, offered again, is refused and not retrained, also after a restart", async () => {
  // Prepare: node a delivers round 0 through a coordinator that then replays the same task.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [a] = job.nodes as [TestNode, TestNode];
  const dir = await Deno.makeTempDir({ prefix: "artha-replay-" });
  const statePath = `${dir}/state.json`;
  const coordinator = replaying(s);
  const events: WorkerEvent[] = [];
  try {
    const worker = workerThrough(fx, a, coordinator.fetch, events, { statePath });
    assert.equal(await worker.tick(), "trained");
    coordinator.replay();
    const steps = () => events.filter((e) => e.kind === "step").length;
    const trainedSteps = steps();

    // Execute: the same task offered three times, then once more to a restarted process.
    const outcomes = [await worker.tick(), await worker.tick(), await worker.tick()];
    const restarted = workerThrough(fx, a, coordinator.fetch, events, { statePath });
    outcomes.push(await restarted.tick());

    // Assert: each offer refused (the loop waits after "wait"), nothing trained or posted again.
    assert.deepEqual(outcomes, ["wait", "wait", "wait", "wait"]);
    assert.equal(steps(), trainedSteps);
    assert.deepEqual(coordinator.posts, []);
    const said = errors(events);
    assert.equal(said.length, 4, JSON.stringify(said));
    for (const m of said) {
      assert.match(m, /round 0 of job 0x\S+ was delivered by this node already/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("victim: a round committed but not delivered before a crash is still retrained and posted when offered again", async () => {
  // Prepare: the update's post fails (503) after the commit landed; the crash is taken to come
  // before the pending update was saved (its state file gone), so only the commit record is left.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [a] = job.nodes as [TestNode, TestNode];
  const dir = await Deno.makeTempDir({ prefix: "artha-replay-crash-" });
  const statePath = `${dir}/state.json`;
  let fail = true;
  let posted = 0;
  const flaky: CoordinatorFetch = (path, init) => {
    if (path === "/aggregate/update") {
      posted++;
      if (fail) return Promise.resolve(new Response("unavailable", { status: 503 }));
    }
    return s.call(path, init);
  };
  try {
    await assert.rejects(workerThrough(fx, a, flaky, [], { statePath }).tick(), /503/);
    await Deno.remove(statePath);
    fail = false;

    // Execute: a new process is offered the round again.
    const outcome = await workerThrough(fx, a, flaky, [], { statePath }).tick();

    // Assert: retrained (the same digests as committed) and posted.
    assert.equal(outcome, "trained");
    assert.equal(posted, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attacker: a target the committee member attested, offered again, is not recomputed", async () => {
  // Prepare: a spot-checked job whose round 0 closed; a member validates its target.
  await using fx = await setupCoordinator({ operators: 4 });
  const { s, job } = await spotCheckedJob(fx);
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  await s.post("/aggregate", { jobId: job.jobId });
  const coordinator = replaying(s);
  const events: WorkerEvent[] = [];
  const worker = workerThrough(fx, job.nodes[0]!, coordinator.fetch, events);
  assert.equal(await worker.tick(), "validated");
  coordinator.replay();

  // Execute
  const outcome = await worker.tick();

  // Assert: refused from the chain's record of its attestation.
  assert.equal(outcome, "wait");
  assert.match(errors(events).join("\n"), /this node attested target 0x\S+ of round 0 already/);
});

/** A one-round hierarchical job of 4 nodes in clusters of 2 whose round closed into clusters. */
async function openClusters(fx: Coordinator) {
  const s = await fx.scenario();
  const job = await s.job({ nodes: 4, rounds: 1, hierarchical: true, clusterSize: 2 });
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  await s.post("/aggregate", { jobId: job.jobId });
  return { s, job, clusters: await clustersOf(s.ctx, job.jobId, 0) };
}

Deno.test("attacker: a cluster the node posted, offered again, is not summed and posted again", async () => {
  // Prepare: a cluster's aggregator posts its mean through a coordinator that then replays it.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters } = await openClusters(fx);
  const aggregator = job.nodes.find((n) => n.nodePubkey === clusters[0]!.aggregator)!;
  const coordinator = replaying(s);
  const events: WorkerEvent[] = [];
  const worker = workerThrough(fx, aggregator, coordinator.fetch, events);
  assert.equal(await worker.tick(), "aggregated");
  coordinator.replay();

  // Execute
  const outcome = await worker.tick();

  // Assert
  assert.equal(outcome, "wait");
  assert.deepEqual(coordinator.posts, []);
  assert.match(errors(events).join("\n"), /cluster \d+ of round 0 of job 0x\S+ was posted/);
});

Deno.test("attacker: a round whose every post is refused is not retrained when offered again", async () => {
  // Found reviewing the delivered-round refusal: only a post that succeeded marked the round, so
  // a coordinator answering every post with a 4xx had it offered, retrained and refused again,
  // one round of CPU a poll (an honest coordinator's refusal of a diverged update did the same).
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [a] = job.nodes as [TestNode, TestNode];
  const dir = await Deno.makeTempDir({ prefix: "artha-refused-" });
  let first: unknown;
  const refusing: CoordinatorFetch = async (path, init) => {
    if (path === "/aggregate/update") {
      const error = { code: "BAD_UPDATE", message: "Cannot aggregate: refused" };
      return Response.json({ error }, { status: 422 });
    }
    if (first !== undefined && path.startsWith("/assign?")) return Response.json(first);
    const res = await s.call(path, init);
    if (first === undefined && path.startsWith("/assign?")) first = await res.clone().json();
    return res;
  };
  const events: WorkerEvent[] = [];
  try {
    const worker = workerThrough(fx, a, refusing, events, { statePath: `${dir}/state.json` });
    await assert.rejects(worker.tick(), /refused/);
    const steps = () => events.filter((e) => e.kind === "step").length;
    const trained = steps();

    // Execute: the pending update is posted again (refused, dropped), then the round offered.
    const outcomes = [await worker.tick(), await worker.tick(), await worker.tick()];

    // Assert: dropped once, then refused as delivered; not trained again.
    assert.deepEqual(outcomes, ["resent", "wait", "wait"]);
    assert.equal(steps(), trained);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("victim: a round refused because the coordinator's chain reads lag its commit is trained and posted again", async () => {
  // Found reviewing the refused-round mark: 409 NOT_COMMITTED (the coordinator has not seen the
  // commit yet) marked the round delivered, and the node's committed update never counted.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [a] = job.nodes as [TestNode, TestNode];
  const dir = await Deno.makeTempDir({ prefix: "artha-lagging-" });
  let lagging = 2; // the first post and its resend
  const behind: CoordinatorFetch = (path, init) => {
    if (path === "/aggregate/update" && lagging-- > 0) {
      const error = { code: "NOT_COMMITTED", message: "Cannot aggregate: no commit seen yet" };
      return Promise.resolve(Response.json({ error }, { status: 409 }));
    }
    return s.call(path, init);
  };
  try {
    const worker = workerThrough(fx, a, behind, [], { statePath: `${dir}/state.json` });
    await assert.rejects(worker.tick(), /no commit seen yet/);
    assert.equal(await worker.tick(), "resent"); // refused again, dropped
    assert.equal(await worker.tick(), "trained"); // offered again: trained and posted
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
