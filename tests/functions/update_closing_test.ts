/**
 * An update that arrives while its round closes (lib/coordinator/intake.ts, closing.ts): it is
 * either in the closing set, combined and checked, or refused, so its node's commit is challenged
 * as undelivered. Found in the round pipeline audit: the job still reads as open until the close
 * ends, and an update stored meanwhile was answered 201, never combined and never challenged.
 */
import assert from "node:assert/strict";
import type { ChallengeRecord } from "../../lib/coordinator/challenges.ts";
import type { Context } from "../../lib/coordinator/context.ts";
import { aggregateJob } from "../../lib/coordinator/round_close.ts";
import { listValues } from "../../lib/coordinator/state.ts";
import { envelopeToJson } from "../../lib/round/update_envelope.ts";
import { type JobOptions, read, type Scenario, setupCoordinator } from "./_coordinator.ts";

/**
 * `kv` whose first atomic commit that sets a key under `prefix` first runs `before`: a request
 * that lands at that moment of the close.
 */
function kvBefore(kv: Deno.Kv, prefix: string, before: () => Promise<void>): Deno.Kv {
  let done = false;
  return new Proxy(kv, {
    get(target, p) {
      const v = Reflect.get(target, p);
      if (p !== "atomic") return typeof v === "function" ? v.bind(target) : v;
      return () => {
        const op = target.atomic();
        let hits = false;
        const set = op.set.bind(op);
        op.set = (k, value, options) => {
          if (k[0] === prefix) hits = true;
          return set(k, value, options);
        };
        const commit = op.commit.bind(op);
        op.commit = async () => {
          if (hits && !done) {
            done = true;
            await before();
          }
          return commit();
        };
        return op;
      };
    },
  });
}

/** Closes `s`'s job with one node's committed update posted when the close writes `prefix`. */
async function closeWithLatePost(s: Scenario, prefix: string, options: JobOptions = {}) {
  const job = await s.job({ nodes: 5, rounds: 2, ...options });
  await s.deliver(job, job.nodes.slice(0, 4));
  const late = job.nodes[4]!;
  const u = await s.train(job, late); // committed on chain before the close
  let posted: { status: number; body: { error?: { code: string } } } | undefined;
  const ctx: Context = {
    ...s.ctx,
    kv: kvBefore(s.ctx.kv, prefix, async () => {
      posted = await read(await s.post("/aggregate/update", envelopeToJson(u.envelope)));
    }),
  };
  await aggregateJob(ctx, job.jobId);
  assert.ok(posted, "the update was posted during the close");
  const challenges = (await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]))
    .filter((c) => c.nodePubkey === late.nodePubkey);
  const metrics = (await s.jobRecord(job.jobId)).metrics[0]!;
  return { job, update: u, posted, challenges, metrics };
}

Deno.test("attacker: an update posted once the round's closing set is recorded is refused and its commit challenged", async () => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  // The job's head moves to the next round last of all: its write is well inside the close.
  const { posted, challenges, metrics } = await closeWithLatePost(s, "job");
  assert.equal(posted.status, 409);
  assert.equal(posted.body.error?.code, "ROUND_NOT_OPEN");
  assert.equal(metrics.updates, 4);
  assert.ok(challenges.length > 0, "the undelivered commit is challenged");
});

Deno.test("an update stored while the closing set is decided is counted in it", async () => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  // Posted after the close listed the updates, before it recorded the set they make.
  const { posted, metrics } = await closeWithLatePost(s, "closing");
  assert.equal(posted.status, 201);
  assert.equal(metrics.updates, 5, "the close decided again with it");
});

Deno.test("an asynchronous job's update that came while its round closed is asked again, and counts in the next", async () => {
  // Found reviewing the closing fix: refused for good (409), the worker dropped it, though once
  // the round closed it counts in the next one as a stale update.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const asynchronous = { maxStaleness: 1 };
  const { job, update, posted, metrics } = await closeWithLatePost(s, "job", { asynchronous });
  assert.equal(posted.status, 503);
  assert.equal(posted.body.error?.code, "ROUND_CLOSING");
  assert.equal(metrics.updates, 4);
  const again = await read(await s.post("/aggregate/update", envelopeToJson(update.envelope)));
  assert.equal(again.status, 201, JSON.stringify(again.body));
  assert.equal((await s.jobRecord(job.jobId)).round, 1);
});
