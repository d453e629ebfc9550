/**
 * The worker's loop from the honest node's side: what it keeps doing while one long thing (a
 * round's local training) holds its thread.
 */
import assert from "node:assert/strict";
import type { ArthaClient } from "../../lib/chain/client.ts";
import { abis, type ArthaAddresses } from "../../lib/chain/contracts.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { Worker } from "../../lib/worker/worker.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { setupCoordinator } from "../functions/_coordinator.ts";
import type { CoordinatorFetch } from "../../lib/worker/client.ts";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import { workerThrough } from "./_worker.ts";
import { createWorkerView } from "../../lib/worker/view.ts";

/** A worker whose off-thread wait is callable from the test. */
class Busy extends Worker {
  busy<T>(work: Promise<T>): Promise<T> {
    return this.whileBusy(work);
  }
}

Deno.test("victim: an honest node whose round outlasts its heartbeat interval heartbeats while it trains", async () => {
  // Prepare: a node whose every local step takes longer than the worker's pause between steps
  // and whose heartbeat and challenge chores are due at every pause (on a laptop: a round of
  // hours against the chain's one-hour heartbeat interval, three misses of which cost 10%).
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 1, rounds: 1, localSteps: 2 });
  const node = job.nodes[0]!;
  const kernel = createTrainer(loadKernel());
  const slow: typeof kernel = {
    ...kernel,
    trainStep: (...args) => {
      const until = performance.now() + 1_100;
      while (performance.now() < until) { /* a slow laptop */ }
      return kernel.trainStep(...args);
    },
  };
  const worker = new Busy({
    coordinator: s.call,
    client: node.operator,
    addresses: fx.addresses,
    chainId: fx.net.chainId,
    key: node.key,
    trainer: slow,
    heartbeatEveryMs: 0,
    choresEveryMs: 0,
  });

  // Execute: one tick trains the round and commits it.
  assert.equal(await worker.tick(), "trained");

  // Assert: besides the tick's own heartbeat before the task, heartbeats went out between the
  // local steps, before the round's commit (before: none until training was over).
  const args = { nodePubkey: node.nodePubkey };
  const [commit] = await fx.coordinator.getContractEvents({
    address: fx.addresses.proofs,
    abi: abis.proofs,
    eventName: "RoundCommitted",
    args,
    fromBlock: 0n,
  });
  const heartbeats = await fx.coordinator.getContractEvents({
    address: fx.addresses.registry,
    abi: abis.registry,
    eventName: "Heartbeat",
    args,
    fromBlock: 0n,
  });
  const before = heartbeats.filter((e) => e.blockNumber < commit!.blockNumber);
  assert.ok(before.length >= 2, `heartbeats before the commit: ${before.length}`);

  // The same for work off the thread (a browser tab trains in a Web Worker): chores run while it
  // is awaited, and its result or error comes back unchanged.
  const slowly = <T>(ms: number, v: () => T) =>
    new Promise<T>((resolve, reject) =>
      setTimeout(() => {
        try {
          resolve(v());
        } catch (e) {
          reject(e);
        }
      }, ms)
    );
  const count = async () =>
    (await fx.coordinator.getContractEvents({
      address: fx.addresses.registry,
      abi: abis.registry,
      eventName: "Heartbeat",
      args,
      fromBlock: 0n,
    })).length;
  const seen = await count();
  assert.equal(await worker.busy(slowly(500, () => 7)), 7);
  assert.ok(await count() >= seen + 1, "a heartbeat while the off-thread work ran");
  await assert.rejects(
    worker.busy(slowly(10, () => {
      throw new Error("the Web Worker failed");
    })),
    /the Web Worker failed/,
  );
});

Deno.test("attacker: a task whose training step does not fit the machine is refused before its weights are fetched", async () => {
  // Prepare: a job whose step needs more than this worker may use. Found in the worker audit: no
  // one compared a task's memory with the machine, so a job owner's batch of 8,192 x 1,024 on a
  // small model (a 271 GB step), or a coordinator's 2.6-billion-parameter checkpoint, was
  // allocated until the laptop ran out of memory, round after round. Here the budget is made
  // small instead of the job large: the same check, in a test's memory.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 1, rounds: 1, localSteps: 2 });
  const node = job.nodes[0]!;
  const fetched: string[] = [];
  const events: WorkerEvent[] = [];
  const fetching: CoordinatorFetch = (path, init) => (fetched.push(path), s.call(path, init));
  const worker = workerThrough(fx, node, fetching, events, { memoryBudget: 64 * 1024 });

  // Execute
  const outcome = await worker.tick();

  // Assert: refused, saying what it needs and the setting; only the spec was read, no weights,
  // no shard, nothing committed.
  assert.equal(outcome, "wait");
  const errors = events.flatMap((e) => e.kind === "error" ? [e.message] : []);
  assert.match(
    errors.join("\n"),
    /task refused: a step of this job needs \d+\.\d [KM]iB \(resident trainer\), more than the 64\.0 KiB this worker may use \(--max-memory\)/,
  );
  const reads = fetched.filter((p) => p.startsWith("/svdb/"));
  assert.equal(reads.length, 1, `only the spec: ${reads.join(", ")}`);
  const commits = await fx.coordinator.getContractEvents({
    address: fx.addresses.proofs,
    abi: abis.proofs,
    eventName: "RoundCommitted",
    fromBlock: 0n,
  });
  assert.equal(commits.length, 0);
});

Deno.test("attacker: a coordinator that holds each request open does not stop the node's chores", async () => {
  // Prepare: a coordinator that answers /assign only after 600 ms, with chores due every 100 ms.
  // Found in the worker audit: chores ran between requests only, so one that answered each call
  // just before the client's 10-minute timeout (and a tick makes several: /assign, one /status
  // per followed job, spec, weights, shard) kept the node from heartbeating and answering
  // challenges for hours (three missed hours cost 10% of the stake).
  const slow = async () => {
    await new Promise((r) => setTimeout(r, 600));
    return Response.json({ status: "idle" });
  };
  const worker = choresCounted(slow);

  // Execute
  assert.equal(await worker.tick(), "idle");

  // Assert: the tick's own chores, then more while /assign was held open.
  const chores = worker.choresRun;
  assert.ok(chores >= 4, `chores ran ${chores} times in a 600 ms request at one per 100 ms`);
});

Deno.test("attacker: a coordinator that trickles an answer's body does not stop the node's chores", async () => {
  // Prepare: /assign's headers at once, then its body a byte every 60 ms for 600 ms, with chores
  // due every 100 ms. Found in the second worker audit: only the wait for the headers ran the
  // chores; the body was read after it (JSON answers, weights, shards, uploads' answers), so a
  // coordinator trickling bodies up to the 10-minute timeout starved the heartbeat and the
  // challenge answers just the same.
  const answer = new TextEncoder().encode(JSON.stringify({ status: "idle" }).padEnd(10));
  const trickled = () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((r) => setTimeout(r, 60));
        controller.enqueue(answer.subarray(sent, sent + 1));
        if (++sent === answer.length) controller.close();
      },
    });
    return Promise.resolve(new Response(body, { headers: { "content-type": "application/json" } }));
  };
  const worker = choresCounted(trickled);

  // Execute
  assert.equal(await worker.tick(), "idle");

  // Assert: the tick's own chores, then more while the body came in.
  const chores = worker.choresRun;
  assert.ok(chores >= 4, `chores ran ${chores} times in a 600 ms body at one per 100 ms`);
});

/** A worker whose chores are counted (and do nothing else), due every 100 ms, on `coordinator`. */
function choresCounted(coordinator: () => Promise<Response>) {
  class Counted extends Worker {
    choresRun = 0;
    override heartbeat(): Promise<void> {
      this.choresRun++;
      return Promise.resolve();
    }
    override answerChallenges(): Promise<number> {
      return Promise.resolve(0);
    }
    override answerDisputes(): Promise<number> {
      return Promise.resolve(0);
    }
  }
  return new Counted({
    coordinator,
    client: {} as ArthaClient,
    addresses: {
      proofs: `0x${"01".repeat(20)}`,
      registry: `0x${"02".repeat(20)}`,
    } as ArthaAddresses,
    chainId: 31337,
    key: generateNodeKey(),
    trainer: createTrainer(loadKernel()),
    choresEveryMs: 100,
  });
}

Deno.test("victim: a round closed with a NaN loss (null in /status) does not stop the node training", async () => {
  // Found in the worker audit: the job follower formatted each closed round's loss before the
  // tick ran its task; a diverged round's NaN, which JSON carries as null, threw at every tick,
  // so the node never trained again. Prepare: a 2-round job whose first round the node trained
  // and the coordinator closed, reported with a null loss; the node's progress is printed.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 1, rounds: 2, localSteps: 1 });
  const node = job.nodes[0]!;
  const events: WorkerEvent[] = [];
  const diverged: CoordinatorFetch = async (path, init) => {
    const res = await s.call(path, init);
    if (!path.startsWith("/status?job=")) return res;
    const view = await res.json();
    for (const m of view.metrics) m.valLoss = null;
    return Response.json(view);
  };
  const view = createWorkerView({ write: () => {}, terminal: false });
  const worker = workerThrough(fx, node, diverged, events, {
    onProgress: (e) => (events.push(e), view(e)),
  });
  assert.equal(await worker.tick(), "trained");
  await s.post("/aggregate", { jobId: job.jobId });

  // Execute: the next ticks, each following the job first.
  const outcomes = [await worker.tick(), await worker.tick()];

  // Assert: round 2 trained; its closed round 1 was reported (loss n/a), with no error.
  assert.ok(outcomes.includes("trained"), JSON.stringify(outcomes));
  const kinds = events.map((e) => e.kind);
  assert.ok(kinds.includes("roundClosed"), kinds.join());
  assert.deepEqual(events.filter((e) => e.kind === "error"), []);
});

Deno.test("victim: a heartbeat the chain refuses does not keep the node's challenges unanswered", async () => {
  // Found in the worker audit: a node deactivated while it unbonds is still slashable, and its
  // heartbeat reverts (NotActive) at every tick; the heartbeat threw before the challenge and
  // dispute answers, and each challenge left unanswered cost 10% of the stake.
  // Prepare: a worker whose heartbeat always fails.
  class Refused extends Worker {
    answered: string[] = [];
    override heartbeat(): Promise<void> {
      return Promise.reject(new Error("Cannot heartbeat: NodeCert__NotActive"));
    }
    override answerChallenges(): Promise<number> {
      this.answered.push("challenges");
      return Promise.resolve(0);
    }
    override answerDisputes(): Promise<number> {
      this.answered.push("disputes");
      return Promise.resolve(0);
    }
  }
  const worker = new Refused({
    coordinator: () => Promise.resolve(Response.json({ status: "idle" })),
    client: {} as ArthaClient,
    addresses: {
      proofs: `0x${"01".repeat(20)}`,
      registry: `0x${"02".repeat(20)}`,
    } as ArthaAddresses,
    chainId: 31337,
    key: generateNodeKey(),
    trainer: createTrainer(loadKernel()),
  });

  // Execute: a tick; it reports the heartbeat's failure.
  await assert.rejects(worker.tick(), /NotActive/);

  // Assert: the challenges and disputes were answered all the same.
  assert.deepEqual(worker.answered, ["challenges", "disputes"]);
});

Deno.test("victim: a staked node restarted while its coordinator is away heartbeats until it can register", async () => {
  // Found in the worker audit: the worker waited for the coordinator before anything else, and a
  // refused binding (a coordinator whose RPC was behind the stake's block: 409 NOT_STAKED) made it
  // exit; a staked node sent no heartbeat the whole time, and three silent hours cost 10%.
  // Prepare: a staked node whose coordinator is away for 600 ms, then refuses its first binding.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const node = (await s.job({ nodes: 1, rounds: 1 })).nodes[0]!;
  let refusals = 1;
  const coordinator: CoordinatorFetch = (path, init) => {
    if (path === "/register" && refusals-- > 0) {
      const error = { code: "NOT_STAKED", message: "not staked at this coordinator's block" };
      return Promise.resolve(Response.json({ error }, { status: 409 }));
    }
    return s.call(path, init);
  };
  const events: WorkerEvent[] = [];
  const worker = workerThrough(fx, node, coordinator, events, {
    heartbeatEveryMs: 0,
    choresEveryMs: 100,
  });
  const args = { nodePubkey: node.nodePubkey };
  const at = { address: fx.addresses.registry, abi: abis.registry, args, fromBlock: 0n } as const;
  const heartbeats = async () =>
    (await fx.coordinator.getContractEvents({ ...at, eventName: "Heartbeat" })).length;
  const before = await heartbeats();

  // Execute: the worker starts; the coordinator answers after 600 ms.
  await worker.start(() => new Promise((r) => setTimeout(r, 600)), undefined, 50);

  // Assert: heartbeats went out while it waited; the refusal was retried and the node registered.
  assert.ok(await heartbeats() >= before + 2, "heartbeats while the coordinator was away");
  const kinds = events.map((e) => e.kind);
  assert.ok(kinds.includes("retrying") && kinds.at(-1) === "registered", kinds.join());
});

Deno.test("victim: a node staked by its first start heartbeats while a lagging coordinator refuses its binding", async () => {
  // Found reviewing Worker.start: the stake was read once, before registering, so a first run's
  // node (staked by that registration, then refused 409 NOT_STAKED by a coordinator whose RPC was
  // behind) waited between its tries with no heartbeat.
  // Prepare: an operator's new key; the coordinator refuses its first binding; heartbeats are
  // recorded with what the coordinator had answered by then.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const operator = (await s.job({ nodes: 1, rounds: 1 })).nodes[0]!;
  let phase = "before";
  const coordinator: CoordinatorFetch = (path, init) => {
    if (path !== "/register") return s.call(path, init);
    if (phase === "before") {
      phase = "refused";
      const error = { code: "NOT_STAKED", message: "not staked at this coordinator's block" };
      return Promise.resolve(Response.json({ error }, { status: 409 }));
    }
    phase = "retried";
    return s.call(path, init);
  };
  class Recorded extends Worker {
    beats: string[] = [];
    override async heartbeat(force?: boolean): Promise<void> {
      await super.heartbeat(force);
      this.beats.push(phase);
    }
  }
  const worker = new Recorded({
    coordinator,
    client: operator.operator,
    addresses: fx.addresses,
    chainId: fx.net.chainId,
    key: generateNodeKey(),
    trainer: createTrainer(loadKernel()),
    heartbeatEveryMs: 0,
    choresEveryMs: 100,
  });

  // Execute
  await worker.start(() => Promise.resolve(), undefined, 500);

  // Assert: heartbeats went out while it waited to try its binding again.
  assert.ok(worker.beats.includes("refused"), worker.beats.join());
});
