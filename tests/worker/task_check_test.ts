/**
 * Tasks from the attacker's side: a coordinator the worker does not trust hands out tasks the
 * chain does not back. The worker trains none of them, commits nothing and says why.
 */
import assert from "node:assert/strict";
import { encodeEventTopics, type Hex, parseEther } from "viem";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import { abis } from "../../lib/chain/contracts.ts";
import { assignNodes, reassignNode } from "../../lib/chain/assign_nodes.ts";
import { submitTrain } from "../../lib/chain/submit_train.ts";
import { encodeJobSpec, type JobSpec, jobSpecHash, workTerms } from "../../lib/job/job_spec.ts";
import { refuseMemory, refuseStepWork } from "../../lib/worker/task_check.ts";
import {
  onlyLive,
  pairWithSpare,
  read,
  setupCoordinator,
  spotCheckedJob,
  type TestNode,
} from "../functions/_coordinator.ts";
import { workerThrough } from "./_worker.ts";

Deno.test("attacker: tasks the chain does not back are refused before any training", async () => {
  // Prepare: a real job; its honest task; a spec the owner never escrowed (100x the steps).
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [a] = job.nodes as [TestNode, TestNode];
  const honest = (await read(await s.call(`/assign?node=${a.nodePubkey}`))).body;
  const heavier = { ...job.spec, localSteps: job.spec.localSteps * 100 };
  const heavierCid = (await fx.store.put(encodeJobSpec(heavier))).toString();
  const tasks = [
    [{ ...honest, jobId: `0x${"42".repeat(32)}` }, /job 0x4242\S* is not running on chain/],
    [{ ...honest, specCid: heavierCid }, /is not the one job 0x\S+ escrowed \(paramsHash\)/],
    [{ ...honest, round: 1 }, /round 1 is not job 0x\S+'s open round 0/],
    [{ ...honest, globalCid: heavierCid }, /are not the checkpoint round 0 starts from/],
    [{ ...honest, shard: { ...honest.shard, cid: heavierCid } }, /is not shard 0 of the spec/],
  ] as const;
  let served: unknown;
  const events: WorkerEvent[] = [];
  const worker = workerThrough(
    fx,
    a,
    (path, init) =>
      path.startsWith("/assign?") ? Promise.resolve(Response.json(served)) : s.call(path, init),
    events,
  );

  for (const [task, why] of tasks) {
    // Execute
    served = task;
    events.length = 0;
    const outcome = await worker.tick();

    // Assert: no training step, a refusal naming the reason.
    assert.equal(outcome, "wait");
    assert.ok(!events.some((e) => e.kind === "step"), "trained a refused task");
    const refusal = events.find((e) => e.kind === "error");
    assert.ok(refusal && refusal.kind === "error", JSON.stringify(events));
    assert.match(refusal.message, why);
  }
  // In a task group, a seed other than the group's (what would make this node the outlier).
  const g = await fx.scenario(); // its own KV: only its own nodes are eligible
  const grouped = await g.job({
    nodes: 2,
    rounds: 2,
    verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
  });
  const member = grouped.nodes[0]!;
  const own = (await read(await g.call(`/assign?node=${member.nodePubkey}`))).body;
  const other = workerThrough(
    fx,
    member,
    (path, init) =>
      path.startsWith("/assign?")
        ? Promise.resolve(Response.json({ ...own, seed: own.seed + 1 }))
        : g.call(path, init),
    events,
  );
  events.length = 0;
  assert.equal(await other.tick(), "wait");
  const refusal = events.find((e) => e.kind === "error");
  assert.ok(refusal?.kind === "error");
  assert.match(refusal.message, /are not task group 1's/);
  // Nor another slot than the group's (the partition codec's part it sends).
  const slotted = workerThrough(
    fx,
    member,
    (path, init) =>
      path.startsWith("/assign?")
        ? Promise.resolve(Response.json({ ...own, slot: own.slot + 1 }))
        : g.call(path, init),
    events,
  );
  events.length = 0;
  assert.equal(await slotted.tick(), "wait");
  const wrongSlot = events.find((e) => e.kind === "error");
  assert.ok(wrongSlot?.kind === "error");
  assert.match(wrongSlot.message, /slot 1 is not task group 1's \(0\)/);

  const commits = await fx.coordinator.getContractEvents({
    address: fx.addresses.proofs,
    abi: abis.proofs,
    eventName: "RoundCommitted",
    args: { nodePubkey: a.nodePubkey as Hex },
    fromBlock: 0n,
  });
  assert.deepEqual(commits, []);
});

Deno.test("attacker: a node a verified job's task was moved to, left in no task group, refuses inputs nothing binds", async () => {
  // Prepare: a verified job (task groups of two); its second node goes silent and a hostile
  // coordinator moves the task to a spare on chain, but never puts the spare in the group.
  // Found in the worker audit: with no group the worker checked no seed, and a seed + 1 had the
  // spare slashed by the honest validator's recomputation.
  await using fx = await setupCoordinator({ operators: 2 });
  const { s, job, first: member, second: silent, spare } = await pairWithSpare(fx);
  await onlyLive(fx, [member, spare]);
  await reassignNode(fx.coordinator, {
    addresses: fx.addresses,
    jobId: job.jobId,
    fromNode: silent.nodePubkey,
    toNode: spare.nodePubkey,
  });
  const own = (await read(await s.call(`/assign?node=${member.nodePubkey}`))).body;
  const events: WorkerEvent[] = [];
  const steered = workerThrough(
    fx,
    spare,
    (path, init) =>
      path.startsWith("/assign?")
        ? Promise.resolve(Response.json({ ...own, seed: own.seed + 1 }))
        : s.call(path, init),
    events,
  );

  // Execute
  const outcome = await steered.tick();

  // Assert: refused, nothing trained or committed.
  assert.equal(outcome, "wait");
  const refusal = events.find((e) => e.kind === "error");
  assert.ok(refusal?.kind === "error", JSON.stringify(events));
  assert.match(refusal.message, /is in no task group of job/);
  assert.ok(!events.some((e) => e.kind === "step"), "trained a refused task");
});

Deno.test("attacker: a job escrowed with more steps a round than its spec trains is refused", async () => {
  // Prepare: the owner escrows a real job's spec with 1,000 steps a round on chain and a hostile
  // coordinator assigns the node on chain itself. Step challenges are drawn below the chain's
  // count, so every one past the spec's 2 steps would find no record and slash the node.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const a = job.nodes[0]!;
  const honest = (await read(await s.call(`/assign?node=${a.nodePubkey}`))).body;
  const { jobId } = await submitTrain(fx.owner, {
    addresses: fx.addresses,
    budget: parseEther("1"),
    terms: {
      modelCid: job.spec.initialWeights,
      datasetCid: job.spec.shards[0]!.cid,
      paramsHash: jobSpecHash(job.spec),
      rounds: job.spec.rounds,
      nodesWanted: 1,
      redundancy: 1,
      baseRatePerSecond: 1n,
      targetImprovementBps: 0,
      ...workTerms(job.spec),
      stepsPerRound: 1_000,
    },
  });
  await assignNodes(fx.coordinator, { addresses: fx.addresses, jobId, nodes: [a.nodePubkey] });
  const events: WorkerEvent[] = [];
  const worker = workerThrough(
    fx,
    a,
    (path, init) =>
      path.startsWith("/assign?")
        ? Promise.resolve(Response.json({ ...honest, jobId }))
        : s.call(path, init),
    events,
  );

  // Execute
  const outcome = await worker.tick();

  // Assert: no training, no commit; the refusal names the two counts.
  assert.equal(outcome, "wait");
  assert.ok(!events.some((e) => e.kind === "step"), "trained a refused task");
  const refusal = events.find((e) => e.kind === "error");
  assert.ok(refusal?.kind === "error", JSON.stringify(events));
  assert.match(refusal.message, /escrowed 1000 steps a round, its spec trains 2/);
});

Deno.test("attacker: a committee member refuses a validation task the chain does not back, so it never attests a lie about an honest target", async () => {
  // Prepare: a committee job whose every round is spot-checked; round 0 trained and closed.
  await using fx = await setupCoordinator({ operators: 4 });
  // A chain with blocks seconds older than the job's, as a public chain has.
  await fx.coordinator.request({ method: "evm_increaseTime" as never, params: [10] as never });
  await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
  const { s, job } = await spotCheckedJob(fx);
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  await s.post("/aggregate", { jobId: job.jobId });
  const member = job.nodes[0]!;
  const honest = (await read(await s.call(`/assign?node=${member.nodePubkey}`))).body;
  assert.equal(honest.status, "validate");
  const lies = [
    [{ ...honest, seed: honest.seed + 1 }, /seed, shard or slot is not target/],
    [{ ...honest, checkpointCid: job.specCid }, /is not the one round 0 started from/],
    [{ ...honest, slot: honest.slot + 1 }, /seed, shard or slot is not target/],
    // Found in the second worker audit: a task the chain refuses the attestation of was recomputed
    // all the same (a round's compute for nothing, as often as the coordinator liked).
    [{ ...honest, round: 1 }, /this node is not on round 1's committee/],
  ] as const;
  let served: unknown;
  const events: WorkerEvent[] = [];
  const worker = workerThrough(
    fx,
    member,
    (path, init) =>
      path.startsWith("/assign?") ? Promise.resolve(Response.json(served)) : s.call(path, init),
    events,
  );

  const scans: { fromBlock?: string; address?: string }[] = [];
  const original = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    for (const call of [body].flat()) {
      if (call?.method === "eth_getLogs") scans.push(call.params[0]);
    }
    return original(input, init);
  };
  try {
    for (const [task, why] of lies) {
      // Execute
      served = task;
      events.length = 0;
      const outcome = await worker.tick();

      // Assert: nothing recomputed or attested; the refusal names why.
      assert.equal(outcome, "wait");
      const refusal = events.find((e) => e.kind === "error");
      assert.ok(refusal?.kind === "error", JSON.stringify(events));
      assert.match(refusal.message, why);
    }
  } finally {
    globalThis.fetch = original;
  }
  // The round's starting checkpoint is read from the job's first block on (found in the
  // coordinator audit: from block 0, a long chain's scan was thousands of capped log queries).
  const [roundClosed] = encodeEventTopics({ abi: abis.jobs, eventName: "RoundClosed" });
  const checkpointScans = scans.filter((q) =>
    (q as { topics?: string[] }).topics?.[0] === roundClosed
  );
  assert.ok(checkpointScans.length > 0, "the round 1 task's checkpoint was read");
  for (const q of checkpointScans) assert.ok(BigInt(q.fromBlock!) > 0n, JSON.stringify(q));
  // The honest task once its window is over: refused too, before any recomputation.
  await fx.coordinator.request({ method: "evm_increaseTime" as never, params: [3700] as never });
  await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
  served = honest;
  events.length = 0;
  assert.equal(await worker.tick(), "wait");
  const late = events.find((e) => e.kind === "error");
  assert.ok(late?.kind === "error", JSON.stringify(events));
  assert.match(late.message, /committee window ended/);
  const attested = await fx.coordinator.getContractEvents({
    address: fx.addresses.verification,
    abi: abis.verification,
    eventName: "Attested",
    fromBlock: 0n,
  });
  assert.deepEqual(attested, []);
});

Deno.test("refuseMemory: a job owner's batch of 8,192 x 1,024 on a small model does not fit a laptop", () => {
  // The worker audit's job: a width-64 model whose step's activations alone are ~270 GB.
  const spec = {
    model: { kind: "gpt", maxT: 1024, layers: 2, heads: 4, width: 64 },
    batch: { B: 8192, T: 1024, accumSteps: 1 },
    optimizer: { lr: 3e-3, minLrRatio: 0.1, weightDecay: 0.01, gradClip: 1 },
    rounds: 3,
    localSteps: 10,
  } as Pick<JobSpec, "optimizer" | "model" | "batch" | "rounds" | "localSteps">;
  const laptop = { budget: 12 * 2 ** 30 };
  assert.match(
    refuseMemory(spec, 0, laptop)!,
    /^a step of this job needs \d+\.\d (GiB|TiB) \((resident|offload) trainer\), more than the 12\.0 GiB this worker may use \(--max-memory\)$/,
  );
  const demo = {
    ...spec,
    model: { ...spec.model, maxT: 64 },
    batch: { B: 2, T: 64, accumSteps: 1 },
  };
  assert.equal(refuseMemory(demo, 0, laptop), undefined, "the demo's job fits");
});

Deno.test("attacker: a job whose accumSteps makes one step hours long, or its batch too big to sample, is refused", () => {
  // Found in the worker audit: refuseMemory sized one micro-batch only. A job escrowed with
  // accumSteps 200,000 on a tiny model was accepted; its step sampled 8 bytes a position for all
  // micro-batches at once and ran ~5 hours in one go, with no heartbeat or challenge answer
  // between (three missed heartbeat hours cost 10% of the stake).
  const spec = {
    model: { kind: "gpt", maxT: 64, layers: 2, heads: 4, width: 64 },
    batch: { B: 2, T: 64, accumSteps: 10_000_000 },
    optimizer: { lr: 3e-3, minLrRatio: 0.1, weightDecay: 0.01, gradClip: 1 },
    rounds: 3,
    localSteps: 10,
  } as Pick<JobSpec, "optimizer" | "model" | "batch" | "rounds" | "localSteps">;
  const laptop = { budget: 2 ** 30 };

  // Assert: refused for its memory and for its work; the demo's batch passes both.
  assert.match(refuseMemory(spec, 0, laptop)!, /needs \d+\.\d GiB/);
  assert.match(
    refuseStepWork(spec)!,
    /^a step of this job is ~\d+\.\d TFLOP \(1280000000 tokens\)/,
  );
  const demo = { ...spec, batch: { B: 2, T: 64, accumSteps: 1 } };
  assert.equal(refuseMemory(demo, 0, laptop), undefined);
  assert.equal(refuseStepWork(demo), undefined);
});
