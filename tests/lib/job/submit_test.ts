import assert from "node:assert/strict";
import type { ArthaClient } from "../../../lib/chain/client.ts";
import { plannedEpsilon, PrivacyBudgetError } from "../../../lib/job/privacy_plan.ts";
import { submitJob, type SubmitJobParameters } from "../../../lib/job/submit.ts";

const text = new TextEncoder().encode("the quick brown fox jumps over the lazy dog. ".repeat(40));
const privacy = { clip: 1, noiseMultiplier: 1.1, delta: 1e-5, maxEpsilon: 0 };
const plan = { rounds: 4, shards: [{}], privacy };

Deno.test("submitJob refuses, before any request, nodes that overspend the privacy budget", async () => {
  // Prepare: a budget that one node per round keeps and four do not; the owner's preparation
  // says one node, but it escrows four.
  const maxEpsilon = (plannedEpsilon(plan, 1) + plannedEpsilon(plan, 4)) / 2;
  const touched: PropertyKey[] = [];
  const client = new Proxy({}, {
    get(_, key) {
      touched.push(key);
      throw new Error(`the client was used (${String(key)})`);
    },
  }) as ArthaClient;
  let requests = 0;
  await using coordinator = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return new Response("no", { status: 500 });
  });
  const params: SubmitJobParameters = {
    coordinator: `http://127.0.0.1:${coordinator.addr.port}`,
    deployment: { addresses: {} as never, name: "test" },
    chainIdName: "ARTHA_CHAIN_ID",
    prepare: {
      model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
      shards: [{ name: "a", train: text, val: text }],
      rounds: plan.rounds,
      localSteps: 2,
      B: 2,
      T: 16,
      privacy: { ...privacy, maxEpsilon },
      nodes: 1,
    },
    budget: 1n,
    nodes: 4,
    targetImprovementBps: 100,
  };

  // Execute
  const refused = submitJob(client, params);

  // Assert: refused with the budget error, and neither the chain nor the coordinator was asked.
  await assert.rejects(refused, (e) => {
    assert.ok(e instanceof PrivacyBudgetError, String(e));
    assert.ok(e.epsilon > maxEpsilon && e.maxEpsilon === maxEpsilon);
    assert.match(e.message, /with 4 nodes/);
    return true;
  });
  assert.deepEqual(touched, []);
  assert.equal(requests, 0);
});
