import assert from "node:assert/strict";
import { type ArthaClient, createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { startDevnet } from "../../../lib/chain/devnet.ts";
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

Deno.test("attacker: a coordinator whose /info names an account the jobs contract does not authorise gets no job", async () => {
  // Prepare: a real deployment, and a coordinator on its chain and registry whose /info names a
  // stranger's account. Found in the job owner audit: submit made that account the publisher of
  // the owner's model (setPublisher), and it could then add checkpoints to it at any round
  // (2^256 - 1 froze its latest checkpoint for good).
  await using net = await startDevnet({ accounts: 3 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const addresses = await deployArtha(createArthaClient({ ...at, account: net.accounts[0]! }), {
    settlementDelay: 0,
  });
  const owner = createArthaClient({ ...at, account: net.accounts[1]! });
  const stranger = net.accounts[2]!.address;
  const info = { chainId: net.chainId, addresses, coordinator: stranger };
  await using coordinator = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/info"
        ? Response.json(info)
        : new Response(null, { status: 404 }),
  );
  const params: SubmitJobParameters = {
    coordinator: `http://127.0.0.1:${coordinator.addr.port}`,
    deployment: { addresses, name: "the deployment" },
    chainIdName: "ARTHA_CHAIN_ID",
    prepare: {
      model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
      shards: [{ name: "a", train: text, val: text }],
      rounds: 1,
      localSteps: 2,
      B: 2,
      T: 16,
      nodes: 1,
    },
    budget: 1n,
    nodes: 1,
    targetImprovementBps: 100,
  };

  // Execute
  const refused = submitJob(owner, params);

  // Assert: refused before anything is escrowed, naming the account.
  await assert.rejects(
    refused,
    new RegExp(`its account ${stranger} is not an authorised coordinator of the deployment's jobs`),
  );
  assert.equal(await owner.getTransactionCount({ address: owner.account.address }), 0);
});
