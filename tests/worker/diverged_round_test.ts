/**
 * A job driven to NaN with a codec (found in the worker audit): no codec can encode a non-finite
 * update, so the encode threw before the commit, the loop retried, and the node trained the same
 * diverged round again every poll, for as long as the round stayed open. The node now trains it
 * once, says why, and refuses it (saying so) each time it is offered again.
 */
import assert from "node:assert/strict";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import { setupCoordinator, type TestNode } from "../functions/_coordinator.ts";
import { workerThrough } from "./_worker.ts";

Deno.test("victim: a round whose update is not finite is reported once and not trained again", async () => {
  // Prepare: a job with the fp32 codec and a trainer whose steps end in NaN weights.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2, compression: { codec: "fp32" } });
  const [a] = job.nodes as [TestNode, TestNode];
  const real = createTrainer(loadKernel());
  let steps = 0;
  const trainer = {
    ...real,
    trainStep: (...args: Parameters<typeof real.trainStep>) => {
      steps++;
      const r = real.trainStep(...args);
      return { ...r, weights: r.weights.map(() => NaN) };
    },
  };
  const events: WorkerEvent[] = [];
  const worker = workerThrough(fx, a, s.call, events, { trainer });

  // Execute: the round is offered three times.
  const first = await worker.tick();
  const trained = steps;
  const later = [await worker.tick(), await worker.tick()];

  // Assert: trained once, then refused; each time said why, and nothing was posted.
  assert.deepEqual([first, ...later], ["wait", "wait", "wait"]);
  assert.ok(trained > 0);
  assert.equal(steps, trained, "the diverged round was trained again");
  const said = events.flatMap((e) => e.kind === "error" ? [e.message] : []);
  assert.match(said[0]!, /round 0 of job 0x\S+ diverged on this node .*not finite/);
  for (const m of said.slice(1)) assert.match(m, /diverged on this node: not trained again/);
  assert.equal((await s.jobRecord(job.jobId)).round, 0);
});
