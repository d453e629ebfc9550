/**
 * `deno task demo --synchronous`, small: the synchronous recipe (one SGD step a round, Adam on the
 * server) through the chain, the coordinator, the laptops and SVDB, which carries the server's
 * moments from round to round.
 */
import assert from "node:assert/strict";
import { DEFAULT_DEMO, runDemo } from "../demo.ts";

Deno.test({
  name: "demo --synchronous: six one-step rounds with Adam on the server lower the loss",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await runDemo({
      ...DEFAULT_DEMO,
      nodes: 4,
      spares: 1,
      width: 16,
      layers: 1,
      rounds: 6,
      localSteps: 1,
      synchronous: true,
      quiet: true,
      out: undefined,
    });
    assert.equal(r.job.status, "finalized");
    assert.equal(r.job.metrics.length, 6);
    const losses = r.job.metrics.map((m) => m.valLoss);
    assert.ok(losses.at(-1)! < r.job.initialValLoss - 0.1, `${r.job.initialValLoss} -> ${losses}`);
    // The moments went through SVDB every round (their step count: round_apply_test.ts).
    assert.match(r.job.outerVelocityCid ?? "", /^baf/);
  },
});
