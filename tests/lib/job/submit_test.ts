import assert from "node:assert/strict";
import { BaseError, type Hex, parseEther, parseTransaction } from "viem";
import { type ArthaClient, createArthaClient } from "../../../lib/chain/client.ts";
import { type ArthaAddresses, JobStatus } from "../../../lib/chain/contracts.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { type Devnet, startDevnet } from "../../../lib/chain/devnet.ts";
import { readJob } from "../../../lib/chain/read_job.ts";
import { registerModel } from "../../../lib/chain/register_model.ts";
import { cancelOwnJob } from "../../../lib/job/job_cancel.ts";
import { plannedEpsilon, PrivacyBudgetError } from "../../../lib/job/privacy_plan.ts";
import {
  JobNotStartedError,
  type PendingJob,
  startSubmittedJob,
  submitJob,
  type SubmitJobParameters,
  SubmitRefusedError,
} from "../../../lib/job/submit.ts";
import { getModel } from "../../../lib/chain/get_model.ts";
import { sendContract } from "../../../lib/chain/send_contract.ts";
import { abis } from "../../../lib/chain/contracts.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { Store } from "../../../lib/store/store.ts";
import { LAPTOP_CAPS } from "../../../lib/worker/register.ts";
import { b32, devnetJobTerms, registerDevnetNode } from "../chain/_devnet_job.ts";
import { submitTrain } from "../../../lib/chain/submit_train.ts";

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
    budget: parseEther("1"),
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
  const params = tinyJob(coordinator.addr.port, addresses);

  // Execute
  const refused = submitJob(owner, params);

  // Assert: refused before anything is escrowed, naming the account.
  await assert.rejects(
    refused,
    new RegExp(`its account ${stranger} is not an authorised coordinator of the deployment's jobs`),
  );
  assert.equal(await owner.getTransactionCount({ address: owner.account.address }), 0);
});

/** A one-round, one-node job of a tiny model on one shard of `text`, for the coordinator at `port`. */
function tinyJob(port: number, addresses: ArthaAddresses): SubmitJobParameters {
  return {
    coordinator: `http://127.0.0.1:${port}`,
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
    budget: parseEther("1"),
    nodes: 1,
    targetImprovementBps: 100,
  };
}

/**
 * A deployment with one bound node, a coordinator answering /info and /status (listing `listed`
 * nodes) and 500 to /assign, and an owner whose RPC goes through `rpc` (a proxy, or the chain).
 */
async function ownerSide(
  net: Devnet,
  o: { listed?: (node: Hex) => Hex[]; rpc?: (upstream: string) => string } = {},
) {
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const co = createArthaClient({ ...at, account: net.accounts[0]! });
  const addresses = await deployArtha(co, { settlementDelay: 0 });
  const node = await registerDevnetNode(
    createArthaClient({ ...at, account: net.accounts[2]! }),
    addresses,
  );
  const nodes = (o.listed?.(node) ?? [node]).map((nodePubkey) => ({
    nodePubkey,
    caps: LAPTOP_CAPS,
  }));
  const info = { chainId: net.chainId, addresses, coordinator: co.account.address };
  const coordinator = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/info") return Response.json(info);
    if (path === "/status") return Response.json({ jobs: [], nodes, nodeCount: nodes.length });
    return new Response("down", { status: 500 });
  });
  const rpcUrl = o.rpc?.(net.rpcUrl) ?? net.rpcUrl;
  const owner = createArthaClient({ rpcUrl, chainId: net.chainId, account: net.accounts[1]! });
  const direct = createArthaClient({ ...at, account: net.accounts[1]! });
  const params: SubmitJobParameters = {
    ...tinyJob(coordinator.addr.port, addresses),
    store: new Store(new MemoryBlockstore()),
    waitNodesMs: 0,
  };
  return { addresses, owner, direct, params, coordinator };
}

/** A JSON-RPC proxy to `upstream` answering 502 to every receipt asked after a raw send. */
function losingReceipts(upstream: string) {
  let sent = false;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const { method } = JSON.parse(body) as { method: string };
    if (method === "eth_getTransactionReceipt" && sent) {
      return new Response("Bad Gateway", { status: 502 });
    }
    if (method === "eth_sendRawTransaction") sent = true;
    const headers = { "content-type": "application/json" };
    return await fetch(upstream, { method: "POST", body, headers });
  });
  return { server, url: `http://127.0.0.1:${server.addr.port}` };
}

Deno.test("owner: a receipt lost after the escrow is sent still names the job, and its budget comes back", async () => {
  // Prepare: the owner's RPC answers 502 to the escrow's receipt (a gateway hiccup, a timeout, a
  // Ctrl-C). Found in the job owner audit: the submit said only "HTTP request failed", no job id
  // nor transaction, while the job sat Open on chain with its whole budget.
  await using net = await startDevnet({ accounts: 3 });
  let proxy: ReturnType<typeof losingReceipts> | undefined;
  const side = await ownerSide(net, { rpc: (up) => (proxy = losingReceipts(up)).url });
  await using _c = side.coordinator;
  await using _p = proxy!.server;
  const records: PendingJob[] = [];
  const params = { ...side.params, record: (j: PendingJob) => void records.push({ ...j }) };
  // Two jobs before: the id is derived from the owner's next nonce, not its first.
  for (let i = 0; i < 2; i++) {
    await submitTrain(side.direct, {
      addresses: side.addresses,
      budget: 1n,
      terms: devnetJobTerms(1),
    });
  }

  // Execute
  const failed = await submitJob(side.owner, params).then(() => undefined, (e) => e);

  // Assert: the error names the job that is on chain, Open with the whole budget; the record was
  // made before the send and got the transaction's hash; cancelling that id returns it all.
  assert.ok(failed instanceof JobNotStartedError, String(failed));
  const onChain = await readJob(side.direct, { addresses: side.addresses, jobId: failed.jobId });
  assert.equal(onChain.status, JobStatus.Open);
  assert.equal(onChain.escrow, params.budget);
  assert.equal(failed.status, JobStatus.Open);
  assert.match(failed.message, new RegExp(`job ${failed.jobId} is escrowed but not started`));
  assert.equal(records[0]!.jobId, failed.jobId);
  assert.equal(records[0]!.txHash, undefined, "recorded before anything was signed");
  assert.ok(records.at(-1)!.txHash && records.at(-1)!.txHash === failed.txHash);
  const done = await cancelOwnJob(side.direct, {
    addresses: side.addresses,
    jobId: records.at(-1)!.jobId,
  });
  assert.equal(done.refunded, params.budget);
  assert.equal(done.withdrawn, params.budget);
});

Deno.test("owner: a budget below the base rate is refused before any request", async () => {
  // Prepare: 0.0005 ARTH, below the default 0.001 ARTH a GPU-second. Found in the job owner
  // audit: it failed in the escrow's gas estimate, after preparing the job and waiting for nodes.
  const client = new Proxy({}, {
    get(_, key) {
      throw new Error(`the client was used (${String(key)})`);
    },
  }) as ArthaClient;
  const params = { ...offline(), budget: parseEther("0.0005") };

  // Execute
  const refused = submitJob(client, params);

  // Assert
  await assert.rejects(refused, (e) => {
    assert.ok(e instanceof SubmitRefusedError, String(e));
    assert.equal(e.code, "BUDGET_BELOW_RATE");
    assert.match(e.message, /0\.0005 ARTH is below the base rate of 0\.001 ARTH/);
    return true;
  });
});

Deno.test("owner: a model name used before is refused before the escrow", async () => {
  // Prepare: the owner registered "mine" before. Found in the job owner audit: registerModel
  // reverted AlreadyRegistered after the budget was escrowed.
  await using net = await startDevnet({ accounts: 3 });
  const side = await ownerSide(net);
  await using _c = side.coordinator;
  const { addresses, owner } = side;
  await registerModel(owner, {
    addresses,
    name: "mine",
    jobId: b32("0"),
    publisher: owner.account.address,
  });
  const nonce = await owner.getTransactionCount({ address: owner.account.address });

  // Execute
  const refused = submitJob(owner, { ...side.params, name: "mine" });

  // Assert: refused, nothing sent.
  await assert.rejects(
    refused,
    (e) => e instanceof SubmitRefusedError && e.code === "MODEL_NAME_TAKEN",
  );
  assert.equal(await owner.getTransactionCount({ address: owner.account.address }), nonce);
});

Deno.test("owner: nodes the coordinator lists but the chain does not hold live are not counted", async () => {
  // Prepare: /status lists a node key nobody registered (gone, unstaked). Found in the job owner
  // audit: every KV record counted as a bound worker, and the owner escrowed for absent nodes.
  await using net = await startDevnet({ accounts: 3 });
  const side = await ownerSide(net, { listed: () => [b32("7")] });
  await using _c = side.coordinator;
  const { owner } = side;

  // Execute
  const refused = submitJob(owner, side.params);

  // Assert: refused for want of workers; nothing escrowed.
  await assert.rejects(refused, /only 0 of 1 workers/);
  assert.equal(await owner.getTransactionCount({ address: owner.account.address }), 0);
});

/** Parameters no request is made with. */
function offline(): SubmitJobParameters {
  return { ...tinyJob(9, {} as never), deployment: { addresses: {} as never, name: "test" } };
}

Deno.test("owner: a submit that fails before signing names no job, not even the one that took its number", async () => {
  // Found reviewing the lost-receipt fix: the id derived before the send was reported as this
  // submit's job whenever a job held it, so a submit that failed before signing, raced by another
  // submit of the same account, told its owner to cancel that other job. Prepare: once the id is
  // derived, another submit of the account takes its number; the escrow's gas estimate fails.
  await using net = await startDevnet({ accounts: 3 });
  const side = await ownerSide(net);
  await using _c = side.coordinator;
  const owner = Object.create(side.owner) as ArthaClient;
  owner.prepareTransactionRequest = ((request: { to?: string }) => {
    if (request.to?.toLowerCase() === side.addresses.jobs.toLowerCase()) {
      throw new Error("insufficient funds for gas * price + value");
    }
    return side.owner.prepareTransactionRequest(request as never);
  }) as ArthaClient["prepareTransactionRequest"];
  let raced = false;
  const record = async () => {
    if (raced) return;
    raced = true;
    await submitTrain(side.direct, {
      addresses: side.addresses,
      budget: 1n,
      terms: devnetJobTerms(1),
    });
  };

  // Execute
  const failed = await submitJob(owner, { ...side.params, record }).then(() => undefined, (e) => e);

  // Assert: the failure as it is; nothing names the other job.
  assert.ok(raced);
  assert.ok(failed instanceof Error && !(failed instanceof JobNotStartedError), String(failed));
  assert.match(failed.message, /Cannot submitTrain/);
  assert.match(String((failed as Error).cause), /insufficient funds/);
});

Deno.test("owner: an escrow the node refused names no job, so the folder's record goes back", async () => {
  // Found reviewing the folder's record: an escrow signed and refused outright by the node (not
  // lost: refused) ended as "escrowed but not started", so job submit kept a record naming a
  // transaction that would never be mined, and refused every later submit, cancel and start.
  await using net = await startDevnet({ accounts: 3 });
  const side = await ownerSide(net);
  await using _c = side.coordinator;
  const owner = Object.create(side.owner) as ArthaClient;
  owner.sendRawTransaction = ((args: { serializedTransaction: Hex }) => {
    const to = parseTransaction(args.serializedTransaction).to?.toLowerCase();
    if (to !== side.addresses.jobs.toLowerCase()) return side.owner.sendRawTransaction(args);
    const details = "transaction underpriced: gas tip cap 1, minimum needed 2";
    return Promise.reject(new BaseError("Transaction creation failed", { details }));
  }) as ArthaClient["sendRawTransaction"];
  const records: PendingJob[] = [];
  const record = (j: PendingJob) => void records.push({ ...j });

  // Execute
  const failed = await submitJob(owner, { ...side.params, record }).then(() => undefined, (e) => e);

  // Assert: signed (its hash recorded), refused, and the failure is the refusal, naming no job.
  assert.ok(records.at(-1)!.txHash, "the escrow was signed");
  assert.ok(failed instanceof Error && !(failed instanceof JobNotStartedError), String(failed));
  assert.match(failed.message, /Cannot submitTrain/);
});

Deno.test("owner: job start finishes a model registration cut before its publisher was set", async () => {
  // Prepare: a submit escrowed its job and registered its model, then died before setPublisher.
  // Found in the job owner audit: `job start` sent registerModel again, which reverted
  // ModelRegistry__AlreadyRegistered every time, and the job was never started.
  await using net = await startDevnet({ accounts: 3 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const co = createArthaClient({ ...at, account: net.accounts[0]! });
  const addresses = await deployArtha(co, { settlementDelay: 0 });
  const owner = createArthaClient({ ...at, account: net.accounts[1]! });
  const terms = devnetJobTerms(1);
  const { jobId } = await submitTrain(owner, { addresses, budget: parseEther("1"), terms });
  const models = { address: addresses.models, abi: abis.models } as const;
  await sendContract(owner, { ...models, functionName: "registerModel", args: ["m1", jobId] });
  const info = { chainId: net.chainId, addresses, coordinator: co.account.address };
  const assigns: unknown[] = [];
  await using coordinator = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/info") return Response.json(info);
      if (path !== "/assign") return new Response("no", { status: 404 });
      assigns.push(await req.json());
      return Response.json({ assigned: ["0x1"], initialValLoss: 5 });
    },
  );

  // Execute
  const started = await startSubmittedJob(owner, {
    coordinator: `http://127.0.0.1:${coordinator.addr.port}`,
    deployment: { addresses, name: "the deployment" },
    chainIdName: "ARTHA_CHAIN_ID",
    job: { jobId, specCid: "bafy-spec", name: "m1" },
  });

  // Assert: the coordinator became the model's publisher and the job's start was posted, once.
  const publisher = co.account.address;
  const model = await getModel(owner, { addresses, modelId: started.modelId, publisher });
  assert.equal(model.jobId, jobId);
  assert.ok(model.publisher);
  assert.equal(assigns.length, 1);
  assert.equal(started.assigned, 1);
});
