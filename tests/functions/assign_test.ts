import assert from "node:assert/strict";
import type { Hex } from "viem";
import { abis, JobStatus } from "../../lib/chain/contracts.ts";
import { registerModel } from "../../lib/chain/register_model.ts";
import { prepareJob } from "../../lib/job/job_owner.ts";
import {
  encodeJobSpec,
  type JobSpec,
  MAX_SPEC_BYTES,
  taskSeed,
  taskShard,
} from "../../lib/job/job_spec.ts";
import { sendContract } from "../../lib/chain/send_contract.ts";
import { assignNodes } from "../../lib/chain/assign_nodes.ts";
import { getJobNodes } from "../../lib/chain/get_job_nodes.ts";
import { computeCid } from "../../lib/store/cid.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { accountUploadSigner, signJson, uploadDomain } from "../../lib/store/upload_signature.ts";
import {
  escrowSpec,
  losingAnswers,
  read,
  setupCoordinator,
  type TestNode,
  TINY_BATCH,
  TINY_MODEL,
  tinyShards,
} from "./_coordinator.ts";

Deno.test("assign", async (t) => {
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, spares: 1 });

  await t.step("POST starts the job: assigned on chain, recorded in KV", async () => {
    assert.equal(job.record.status, "running");
    assert.equal(job.record.round, 0);
    assert.equal(job.record.assigned.length, 2);
    assert.equal(job.record.globalCid, job.spec.initialWeights);
    assert.ok(job.record.initialValLoss > 4 && job.record.initialValLoss < 7);
    const onChain = await fx.coordinator.readContract({
      address: fx.addresses.jobs,
      abi: abis.jobs,
      functionName: "nodesOf",
      args: [job.jobId],
    });
    assert.deepEqual(onChain.map((n) => n.toLowerCase()).sort(), [...job.record.assigned].sort());
    assert.equal((await fx.chainJob(job.jobId)).status, JobStatus.Running);
    // KV keeps `modelId: undefined`, JSON drops it.
    assert.deepEqual(JSON.parse(JSON.stringify(await s.jobRecord(job.jobId))), job.record);
  });

  await t.step("POST again returns the same record without a second assignment", async () => {
    const res = await read(await s.postAs("/assign", { jobId: job.jobId, specCid: job.specCid }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, job.record);
  });

  await t.step("GET gives an assigned node its task", async () => {
    const node = job.nodes[0]!;
    const res = await read(await s.call(`/assign?node=${node.nodePubkey}`));
    assert.equal(res.status, 200);
    const task = job.record.taskOf[node.nodePubkey]!;
    const index = taskShard(job.spec, task);
    assert.deepEqual(res.body, {
      status: "task",
      jobId: job.record.jobId,
      round: 0,
      specCid: job.specCid,
      globalCid: job.spec.initialWeights,
      shard: { index, name: job.spec.shards[index]!.name, cid: job.spec.shards[index]!.cid },
      seed: taskSeed(job.spec, task),
      slot: 0,
    });
    const last = job.nodes.at(-1)!;
    const other = await read(await s.call(`/assign?node=${last.nodePubkey}`));
    assert.equal(other.body.slot, job.record.assigned.indexOf(last.nodePubkey));
  });

  await t.step("GET says wait once the node's update is in, idle for a spare", async () => {
    const node = job.nodes[0]!;
    await s.deliver(job, [node]);
    const wait = await read(await s.call(`/assign?node=${node.nodePubkey.toUpperCase()}`));
    assert.deepEqual(wait.body, { status: "wait" });
    const idle = await read(await s.call(`/assign?node=${job.spares[0]!.nodePubkey}`));
    assert.deepEqual(idle.body, { status: "idle" });
  });

  await t.step("GET refreshes lastSeen from the coordinator's clock", async () => {
    s.advance(60_000);
    const node = job.nodes[1]!;
    await s.call(`/assign?node=${node.nodePubkey}`);
    const rec = (await s.ctx.kv.get<{ lastSeen: number }>(["node", node.nodePubkey])).value!;
    assert.ok(rec.lastSeen >= Date.now() + 59_000);
  });

  await t.step("GET with a bad or unknown node is a 400 / 404", async () => {
    const bad = await read(await s.call("/assign?node=0x1234"));
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /"node"/);
    const none = await read(await s.call("/assign"));
    assert.equal(none.status, 400);
    const unknown = await read(await s.call(`/assign?node=0x${"ab".repeat(32)}`));
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error.message, /register/);
  });

  await t.step("POST of an unknown job is a 404", async () => {
    const res = await read(
      await s.postAs("/assign", { jobId: `0x${"77".repeat(32)}`, specCid: job.specCid }),
    );
    assert.equal(res.status, 404);
    assert.match(res.body.error.message, /unknown job/);
  });

  await t.step("POST with a spec that is not the escrowed paramsHash is a 409", async () => {
    const other = await prepareJob(fx.store, {
      model: TINY_MODEL,
      shards: [{ name: "x", train: new Uint8Array(400).fill(97), val: new Uint8Array(200) }],
      rounds: 2,
      localSteps: 3,
      ...TINY_BATCH,
    });
    const fresh = await escrow(other.spec);
    const res = await read(await s.postAs("/assign", { jobId: fresh, specCid: job.specCid }));
    assert.equal(res.status, 409);
    assert.match(res.body.error.message, /paramsHash/);
  });

  await t.step("POST with a spec CID that is no spec is a 400", async () => {
    const other = await prepareJob(fx.store, {
      model: TINY_MODEL,
      shards: [{ name: "y", train: new Uint8Array(400).fill(98), val: new Uint8Array(200) }],
      rounds: 1,
      localSteps: 1,
      ...TINY_BATCH,
    });
    const open = await escrow(other.spec);
    const bad = await read(await s.postAs("/assign", { jobId: open, specCid: "not-a-cid" }));
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /spec not-a-cid/);
    const missing = await read(
      await s.postAs("/assign", { jobId: open, specCid: other.spec.initialWeights }),
    );
    assert.equal(missing.status, 400);
  });

  await t.step(
    "attacker: a spec CID naming a large file is refused before it is read",
    async () => {
      // Found in the storage audit: the coordinator read a job's spec with the store's 1 GiB file
      // limit, whole into memory and then into a string, before checking it; any open job's owner
      // could name a public checkpoint of hundreds of MB, again and again, to exhaust memory.
      const other = await prepareJob(fx.store, {
        model: TINY_MODEL,
        shards: [{ name: "z", train: new Uint8Array(400).fill(99), val: new Uint8Array(200) }],
        rounds: 1,
        localSteps: 1,
        ...TINY_BATCH,
      });
      const open = await escrow(other.spec);
      const big = await fx.store.put(new TextEncoder().encode(" ".repeat(MAX_SPEC_BYTES + 1)));
      const res = await read(await s.postAs("/assign", { jobId: open, specCid: big.toString() }));
      assert.equal(res.status, 400);
      assert.match(res.body.error.message, new RegExp(`more than the ${MAX_SPEC_BYTES} allowed`));
    },
  );

  await t.step("attacker: a job started with another owner's model id is refused", async () => {
    // Prepare: a victim registers its model (coordinator as publisher); the attacker escrows
    // a job of its own, and a model of its own for a different job.
    const { spec, specCid } = await prepareJob(fx.store, {
      model: TINY_MODEL,
      shards: [{ name: "m", train: new Uint8Array(400).fill(100), val: new Uint8Array(200) }],
      rounds: 1,
      localSteps: 1,
      ...TINY_BATCH,
    });
    const attackerJob = await escrow(spec);
    const publisher = fx.coordinator.account.address;
    const victimModel = await registerModel(fx.clients[2]!, {
      addresses: fx.addresses,
      name: "victim-model",
      jobId: `0x${"66".repeat(32)}`,
      publisher,
    });
    const ownOtherModel = await registerModel(fx.owner, {
      addresses: fx.addresses,
      name: "for-another-job",
      jobId: job.jobId,
      publisher,
    });
    const noPublisher = await registerModel(fx.owner, {
      addresses: fx.addresses,
      name: "no-publisher",
      jobId: attackerJob,
      publisher,
    });
    await fx.owner.writeContract({
      address: fx.addresses.models,
      abi: abis.models,
      functionName: "setPublisher",
      args: [noPublisher, publisher, false],
    });

    // Execute + Assert: each is refused before anything is assigned; the victim's model is
    // untouched.
    const cases: [Hex, number, string, RegExp][] = [
      [victimModel, 403, "FOREIGN_MODEL", /belongs to 0x/],
      [ownOtherModel, 403, "FOREIGN_MODEL", /for job 0x/],
      [`0x${"55".repeat(32)}`, 404, "UNKNOWN_MODEL", /no model/],
      [noPublisher, 409, "NOT_PUBLISHER", /setPublisher/],
    ];
    for (const [modelId, status, code, message] of cases) {
      const res = await read(await s.postAs("/assign", { jobId: attackerJob, specCid, modelId }));
      assert.equal(res.status, status, code);
      assert.equal(res.body.error.code, code);
      assert.match(res.body.error.message, message);
    }
    assert.equal((await fx.chainJob(attackerJob)).status, JobStatus.Open);
    const victim = await fx.coordinator.readContract({
      address: fx.addresses.models,
      abi: abis.models,
      functionName: "getModel",
      args: [victimModel],
    });
    assert.equal(victim.checkpoints, 0);
  });

  await t.step(
    "attacker: nobody but the job's owner starts it (early, when only its own nodes are bound)",
    async () => {
      // Found in the third audit: POST /assign took anyone's request. Who starts a job decides
      // which nodes get it (the bound, live ones then, up to nodesWanted), so an attacker that
      // read a job's spec started it while only its own nodes were bound and took its pools.
      const { spec, specCid } = await oneStepJob();
      const target = await escrow(spec);
      const attacker = fx.clients[2]!;
      const body = { jobId: target, specCid };
      const cases: [Response, number, string][] = [
        [await s.postAs("/assign", body, attacker), 403, "NOT_JOB_OWNER"],
        [await s.post("/assign", body), 401, "SIGNATURE_MISSING"],
      ];
      // The owner's signature on another body does not carry over to this one.
      const domain = uploadDomain(fx.net.chainId, fx.addresses.registry);
      const signed = await signJson(accountUploadSigner(fx.owner), domain, "/assign", {
        jobId: `0x${"99".repeat(32)}`,
        specCid,
      });
      const forged = { ...signed, body: JSON.stringify(body) };
      cases.push([
        await s.call("/assign", { method: "POST", ...forged }),
        401,
        "SIGNATURE_INVALID",
      ]);
      for (const [res, status, code] of cases) {
        const { body: answer } = await read(res);
        assert.equal(res.status, status, code);
        assert.equal(answer.error.code, code);
      }
      assert.equal((await fx.chainJob(target)).status, JobStatus.Open);
      const started = await read(await s.postAs("/assign", body));
      assert.equal(started.status, 200);
      assert.equal((await fx.chainJob(target)).status, JobStatus.Running);
    },
  );

  await t.step(
    "attacker: a job escrowed with more steps a round than its spec trains is not started",
    async () => {
      // Found in the fifth audit: step challenges are drawn below the chain's steps per round.
      // An owner escrowing 1,000 for a 1-step spec had every honest node fail the challenges
      // past its one record (10% of its stake each); start checked the rounds only.
      const { spec, specCid } = await oneStepJob();
      const jobId = await escrow(spec, 1_000);
      const res = await read(await s.postAs("/assign", { jobId, specCid }));
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, "SPEC_MISMATCH");
      assert.match(
        res.body.error.message,
        /localSteps 1 differ from the chain's stepsPerRound 1000/,
      );
      assert.equal((await fx.chainJob(jobId)).status, JobStatus.Open);
    },
  );

  await t.step(
    "owner: a job escrowed for 3 nodes is not started with 2, and can still be cancelled",
    async () => {
      // Found in the job owner audit: the start took whoever fitted, one node of the three
      // escrowed for (perhaps an attacker's), which then split the step, round and accuracy pools
      // alone: the owner paid 2.7x per unit of work, and a Running job cannot be cancelled.
      const few = await fx.scenario();
      await few.node();
      await few.node();
      const { spec, specCid } = await oneStepJob();
      const jobId = await escrowSpec(fx, spec, { nodes: 3, baseRatePerSecond: 1n });

      // Execute
      const res = await read(await few.postAs("/assign", { jobId, specCid }));

      // Assert
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.error.code, "TOO_FEW_NODES");
      assert.match(res.body.error.message, /2 bound, live nodes fit this job, of the 3/);
      assert.equal((await fx.chainJob(jobId)).status, JobStatus.Open);
    },
  );

  await t.step("POST when no bound node fits is a 409", async () => {
    const empty = await fx.scenario();
    const { spec, specCid } = await prepareJob(fx.store, {
      model: TINY_MODEL,
      shards: [{ name: "z", train: new Uint8Array(400).fill(99), val: new Uint8Array(200) }],
      rounds: 1,
      localSteps: 1,
      ...TINY_BATCH,
    });
    const id = await escrow(spec);
    const res = await read(await empty.postAs("/assign", { jobId: id, specCid }));
    assert.equal(res.status, 409);
    assert.match(res.body.error.message, /no bound, live node/);
  });

  await t.step(
    "a partition job with more parts than task groups is refused with a 409",
    async () => {
      const few = await fx.scenario();
      await assert.rejects(
        few.job({ nodes: 3, compression: { codec: "partition", parts: 4 } }),
        /409.*compression\.parts 4 exceeds the 3 task groups of 3 nodes at redundancy 1/,
      );
    },
  );

  await t.step(
    "victim: a job whose data cannot be read is refused before the chain assigns it, so it can still be cancelled",
    async () => {
      // Found in the HTTP audit: nodes were assigned on chain (Open -> Running, which cancelJob
      // refuses) before the initial weights were loaded and the validation evaluated; a spec
      // whose validationShards did not add up, or a shard whose upload lease had run out, left
      // the escrow locked behind a 500 on every retry.
      const { spec } = await oneStepJob();
      const gone = (await computeCid(new TextEncoder().encode("shard never uploaded"))).toString();
      // Found in the data owner audit: a shard shorter than one sequence (T + 2 bytes) was taken,
      // and every node threw at its first batch, every round.
      const tiny = (await fx.store.put(new Uint8Array(spec.batch.T + 1).fill(7))).toString();
      // Found in the browser audit: initial weights holding a NaN were taken, every loss of the
      // job was NaN (null in /status) and the job ran on, paid.
      const weights = decodeCheckpoint(await fx.store.get(spec.initialWeights)).weights;
      weights[3] = NaN;
      const nan = (await fx.store.put(encodeCheckpoint(spec.model, weights))).toString();
      const cases: [typeof spec, number, string][] = [
        [{ ...spec, validationShards: [100, 100] }, 422, "BAD_JOB_DATA"],
        [{ ...spec, initialWeights: nan }, 422, "BAD_JOB_DATA"],
        [
          { ...spec, shards: [{ ...spec.shards[0]!, cid: tiny }, spec.shards[1]!] },
          422,
          "BAD_JOB_DATA",
        ],
        [
          { ...spec, shards: [{ ...spec.shards[0]!, cid: gone }, spec.shards[1]!] },
          409,
          "DATA_MISSING",
        ],
      ];
      for (const [bad, status, code] of cases) {
        const specCid = (await fx.store.put(encodeJobSpec(bad))).toString();
        const jobId = await escrow(bad);
        const res = await read(await s.postAs("/assign", { jobId, specCid }));
        assert.equal(res.status, status, JSON.stringify(res.body));
        assert.equal(res.body.error.code, code);
        assert.equal((await fx.chainJob(jobId)).status, JobStatus.Open);
        await sendContract(fx.owner, {
          address: fx.addresses.jobs,
          abi: abis.jobs,
          functionName: "cancelJob",
          args: [jobId],
        });
        assert.equal((await fx.chainJob(jobId)).status, JobStatus.Cancelled);
      }
    },
  );

  await t.step("bad bodies are 4xx naming the field; other methods 405", async () => {
    const cases: [unknown, number, RegExp][] = [
      ["{", 400, /not valid JSON/],
      [{ specCid: job.specCid }, 400, /"jobId"/],
      [{ jobId: "0x12", specCid: job.specCid }, 400, /"jobId"/],
      [{ jobId: job.jobId }, 400, /"specCid"/],
      [{ jobId: job.jobId, specCid: "x".repeat(201) }, 400, /"specCid"/],
      [{ jobId: job.jobId, specCid: job.specCid, modelId: 7 }, 400, /"modelId"/],
    ];
    for (const [body, status, message] of cases) {
      const res = await read(await s.post("/assign", body));
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(res.body.error.message, message);
    }
    const type = await s.call("/assign", { method: "POST", body: "{}" });
    assert.equal(type.status, 415);
    await type.body?.cancel();
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      assert.equal((await read(await s.call("/assign", { method }))).status, 405);
    }
  });

  /** A one-round, one-step tiny job's spec, stored (not escrowed). */
  function oneStepJob() {
    return prepareJob(fx.store, {
      model: TINY_MODEL,
      shards: tinyShards(2),
      rounds: 1,
      localSteps: 1,
      ...TINY_BATCH,
    });
  }

  /** Escrows a job for `spec` with the owner; returns its id. */
  function escrow(spec: JobSpec, stepsOnChain = spec.localSteps): Promise<Hex> {
    return escrowSpec(fx, spec, { baseRatePerSecond: 1n, stepsPerRound: stepsOnChain });
  }
});

Deno.test("attacker: a node's poll reads nothing of finalized jobs", async () => {
  // Found in the node routes audit: GET /assign read the node's place in every job the
  // coordinator ever ran, so each poll (any registered key's, every few seconds) cost a KV read
  // per finalized job, for ever.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  await s.deliver(job, job.nodes);
  await s.post("/aggregate", { jobId: job.jobId });
  const fin = await read(await s.post("/finalize", { jobId: job.jobId }));
  assert.equal(fin.body[0].status, "finalized", JSON.stringify(fin.body));
  const reads: string[] = [];
  const get = s.ctx.kv.get.bind(s.ctx.kv);
  s.ctx.kv.get = ((key: Deno.KvKey, o?: { consistency?: Deno.KvConsistencyLevel }) => (
    reads.push(JSON.stringify(key)), get(key, o)
  )) as typeof s.ctx.kv.get;
  try {
    // Execute
    const task = await read(await s.call(`/assign?node=${job.nodes[0]!.nodePubkey}`));

    // Assert: idle, without a read of the job's places or its head (the heads of every job the
    // coordinator ever ran were read on each poll until a live-jobs index).
    assert.equal(task.body.status, "idle");
    assert.deepEqual(reads.filter((k) => k.startsWith('["job_node"')), []);
    assert.deepEqual(reads.filter((k) => k.startsWith('["job",')), []);
  } finally {
    s.ctx.kv.get = get;
  }
});

Deno.test("attacker: a node a half-done start assigned keeps its place when the start is retried", async () => {
  // Found in the coordinator audit: a start whose later assign batch reverted left the job
  // Running with its first batches assigned on chain; the retry chose afresh from the nodes
  // eligible then, so an assigned node that had deactivated in between got no place in the job's
  // record: authorised to commit made-up digests every round, never challenged, and paid at
  // finalize. Prepare: a first start's batch that landed (two of three nodes), then the first
  // of them deactivates.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  let ghost = "";

  // Execute: the start, retried.
  const job = await s.job({
    nodes: 3,
    beforeStart: async (jobId, nodes) => {
      const [a, b] = nodes as [TestNode, TestNode];
      ghost = a.nodePubkey;
      await assignNodes(fx.coordinator, {
        addresses: fx.addresses,
        jobId,
        nodes: [a.nodePubkey, b.nodePubkey],
      });
      await sendContract(a.operator, {
        address: fx.addresses.registry,
        abi: abis.registry,
        functionName: "deactivateNode",
        args: [a.nodePubkey],
      });
    },
  });

  // Assert: every node the chain assigned has its place, the deactivated one too.
  const onChain = await getJobNodes(fx.coordinator, { addresses: fx.addresses, jobId: job.jobId });
  assert.equal(onChain.length, 3);
  assert.deepEqual([...job.record.assigned].sort(), [...onChain].sort());
  assert.ok(job.record.assigned.includes(ghost as Hex), "the deactivated node is in the record");
});

Deno.test("victim: a start cut short after its first batch finishes when a node not yet assigned leaves", async () => {
  // Found reviewing TOO_FEW_NODES: the job Running after its first batch (no longer cancellable),
  // a chosen node that left before its own batch made every retry refuse (2 fitting of 3
  // escrowed for), and the assigned nodes waited for a job that never opened.
  // Prepare: two of three nodes assigned on chain, then the third deactivates.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();

  // Execute: the start, retried.
  const job = await s.job({
    nodes: 3,
    beforeStart: async (jobId, nodes) => {
      const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
      await assignNodes(fx.coordinator, {
        addresses: fx.addresses,
        jobId,
        nodes: [a.nodePubkey, b.nodePubkey],
      });
      await sendContract(c.operator, {
        address: fx.addresses.registry,
        abi: abis.registry,
        functionName: "deactivateNode",
        args: [c.nodePubkey],
      });
    },
  });

  // Assert: started with the two the chain assigned.
  const onChain = await getJobNodes(fx.coordinator, { addresses: fx.addresses, jobId: job.jobId });
  assert.equal(onChain.length, 2);
  assert.deepEqual([...job.record.assigned].sort(), [...onChain].sort());
});

Deno.test("victim: a start whose assign the node took but whose answer was lost is retried, not refused", async () => {
  // Found in the chain audit: an assign handed to the node with its answer lost failed the start
  // with a 409, and the owner's CLI gave up on a job the chain may well have started. Now a 503
  // the client retries; the retry reads back what the chain assigned. Prepare: the first assign
  // send's answer is lost after the node took it.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const chain = s.ctx.chain;
  const losing = losingAnswers(chain, fx.addresses.jobs, 1);

  // Execute: the start (the fixture retries a 503 once, as the owner's client does).
  const job = await s.job({
    nodes: 2,
    beforeStart: () => {
      s.ctx.chain = losing.chain;
      return Promise.resolve();
    },
  });
  s.ctx.chain = chain;

  // Assert: started, each node assigned once.
  assert.equal(losing.sent(), 1, "one assign sent: the retry read the nodes back from the chain");
  const onChain = await getJobNodes(fx.coordinator, { addresses: fx.addresses, jobId: job.jobId });
  assert.deepEqual([...onChain].sort(), [...job.record.assigned].sort());
  assert.equal(onChain.length, 2);
});
