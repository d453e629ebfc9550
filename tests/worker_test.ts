/**
 * The worker's error-feedback residual with a lossy codec (top-k + int8): it moves on only once
 * a round's update is saved, so a retry reproduces the digests committed on chain, and it
 * survives a restart beside the state file, as do the commits a restarted worker answers
 * challenges for.
 */
import { arthaDomain } from "../lib/crypto/domain.ts";
import assert from "node:assert/strict";
import { Worker } from "../lib/worker/worker.ts";
import { createTrainer } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { trainLocal } from "../lib/round/local_training.ts";
import { roundTask } from "../lib/round/round_task.ts";
import { codecFor } from "../lib/strategy/select.ts";
import { loadWeights } from "../lib/coordinator/job.ts";
import { read, setupCoordinator, type TestNode } from "./functions/_coordinator.ts";
import { issueChallenge } from "../lib/chain/issue_challenge.ts";
import { issueStepChallenge } from "../lib/chain/issue_step_challenge.ts";
import { getChallenge } from "../lib/chain/get_challenge.ts";
import { ChallengeStatus } from "../lib/chain/contracts.ts";
import type { CoordinatorFetch } from "../lib/worker/client.ts";
import type { WorkerEvent } from "../lib/worker/events.ts";
import { workerThrough } from "./worker/_worker.ts";
import { getCommittedDigests } from "../lib/chain/get_committed_digests.ts";
import { getJobChallenges } from "../lib/chain/get_job_challenges.ts";
import { abis } from "../lib/chain/contracts.ts";
import { type Hex, parseTransaction, toFunctionSelector } from "viem";

/** The selector of ProofOfCompute.commitRound. */
const COMMIT = toFunctionSelector(
  abis.proofs.find((f) => f.type === "function" && f.name === "commitRound")!,
);

const COMPRESSION = { codec: "topk-int8" as const, fraction: 0.05 };

Deno.test("worker: error-feedback residual across failures and restarts", async (t) => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 4, compression: COMPRESSION });
  const [a, b] = job.nodes as [TestNode, TestNode];
  const trainer = createTrainer(loadKernel());
  const dir = await Deno.makeTempDir({ prefix: "artha-worker-test-" });
  const statePath = `${dir}/state.json`;
  const residualPath = `${statePath}.${job.jobId.toLowerCase()}.residual`;
  let failUpdates = 0;
  // A worker process for node `a`: same key and operator, its own coordinator connection that
  // can fail the next update posts with a 503.
  const restart = (state?: string) =>
    new Worker({
      coordinator: (path, init) => {
        if (path === "/aggregate/update" && failUpdates > 0) {
          failUpdates--;
          return Promise.resolve(new Response("unavailable", { status: 503 }));
        }
        return s.call(path, init);
      },
      client: a.operator,
      addresses: fx.addresses,
      chainId: fx.net.chainId,
      key: a.key,
      trainer,
      heartbeatEveryMs: Infinity,
      statePath: state,
    });
  const closeRound = async () => {
    const out = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0];
    assert.equal(out.status, "closed");
  };
  /** The residual node `a` holds after encoding its task of the open round from `from`. */
  const expectedResidual = async (from?: Float32Array) => {
    const task = (await read(await s.call(`/assign?node=${a.nodePubkey}`))).body;
    const global = await loadWeights(fx.store, task.globalCid);
    const domain = arthaDomain(fx.net.chainId, fx.addresses.proofs);
    const data = await fx.store.get(task.shard.cid);
    const r = trainLocal(trainer, global, roundTask(job.spec, task, domain, data), a.key);
    const state = { residual: from?.slice() ?? new Float32Array(global.length) };
    codecFor(COMPRESSION).encode(r.delta, state);
    assert.ok(state.residual.some((x) => x !== 0), "top-k leaves a residual");
    return state.residual;
  };
  const residualOnDisk = async () => new Float32Array((await Deno.readFile(residualPath)).buffer);

  await t.step("a failed post is retried by training again: same digests, accepted", async () => {
    const w = restart();
    failUpdates = 1;
    await assert.rejects(w.tick(), /503/);
    // Committed on chain already; the retry must reproduce those digests exactly.
    assert.equal(await w.tick(), "trained");
    assert.equal(await b.worker.tick(), "trained");
    await closeRound();
  });

  await t.step(
    "a crash after the update is staged: the restart resends and adopts it",
    async () => {
      const expected = await expectedResidual();
      failUpdates = 1;
      await assert.rejects(restart(statePath).tick(), /503/);
      assert.ok(JSON.parse(await Deno.readTextFile(statePath)).pending, "pending saved");
      await Deno.stat(`${residualPath}.next`);
      await assert.rejects(Deno.stat(residualPath), Deno.errors.NotFound);
      assert.equal(await restart(statePath).tick(), "resent");
      await assert.rejects(Deno.stat(`${residualPath}.next`), Deno.errors.NotFound);
      assert.deepEqual(await residualOnDisk(), expected);
      assert.equal(await b.worker.tick(), "trained");
      await closeRound();
    },
  );

  await t.step(
    "the next process trains from the saved residual; a stale staged one is dropped",
    async () => {
      const expected = await expectedResidual(await residualOnDisk());
      await Deno.writeFile(`${residualPath}.next`, new Uint8Array(12)); // crash before pending
      assert.equal(await restart(statePath).tick(), "trained");
      assert.deepEqual(await residualOnDisk(), expected);
      await assert.rejects(Deno.stat(`${residualPath}.next`), Deno.errors.NotFound);
      assert.equal(await b.worker.tick(), "trained");
      await closeRound();
    },
  );

  await t.step("a residual file of the wrong size is refused, naming the file", async () => {
    await Deno.writeFile(residualPath, new Uint8Array(10));
    await assert.rejects(
      restart(statePath).tick(),
      /Cannot read residual .*10 bytes, the model has \d+ parameters; delete it to start over/,
    );
  });

  await Deno.remove(dir, { recursive: true });
});

Deno.test("worker: a restart still answers the challenges of rounds committed before it", async () => {
  // Prepare: node a's worker, with a state folder, trains round 0 (top-k + int8: the uploaded
  // payload is what the digest covers) and stops; a verifier then challenges that round, a chunk
  // and a step.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2, compression: COMPRESSION });
  const [a] = job.nodes as [TestNode, TestNode];
  const dir = await Deno.makeTempDir({ prefix: "artha-worker-restart-" });
  const laptop = () => workerThrough(fx, a, s.call, [], { statePath: `${dir}/state.json` });
  try {
    assert.equal(await laptop().tick(), "trained");
    const at = { addresses: fx.addresses, jobId: job.jobId, round: 0, nodePubkey: a.nodePubkey };
    const chunk = await issueChallenge(fx.coordinator, at);
    const step = await issueStepChallenge(fx.coordinator, at);

    // Execute: the laptop restarts (a new process: nothing in memory) and answers.
    const answered = await laptop().answerChallenges();

    // Assert: both answered from what the state kept (step records) and SVDB (the update).
    assert.equal(answered, 2);
    for (const { challengeId } of [chunk, step]) {
      const c = await getChallenge(fx.coordinator, { addresses: fx.addresses, challengeId });
      assert.equal(c.status, ChallengeStatus.Answered);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "victim: a node answers a challenge of any round the chain can still challenge, after a restart, with its own bytes",
  async () => {
    // Found in the worker audit: a worker kept its last 8 commits, across all its jobs, and after
    // a restart read the update bytes back from the coordinator's SVDB. The chain challenges a
    // commit until it is CHALLENGE_ROUNDS (16) behind the open round, so a challenge of the 9th
    // last commit (a long job, or a slow job beside a fast one) timed out at 10% of the node's
    // stake, and a coordinator that withheld the bytes after a restart did the same to every
    // chunk challenge.
    await using fx = await setupCoordinator({ operators: 2 });
    const s = await fx.scenario();
    const rounds = 11;
    const job = await s.job({ nodes: 2, rounds: rounds + 1, localSteps: 1 });
    const [a, b] = job.nodes as [TestNode, TestNode];
    const dir = await Deno.makeTempDir({ prefix: "artha-worker-keep-" });
    let withhold = false;
    // A coordinator that, after the restart, refuses to give the node its own update back.
    const withholding: CoordinatorFetch = (path, init) =>
      withhold && path.startsWith("/svdb/")
        ? Promise.resolve(new Response("gone", { status: 404 }))
        : s.call(path, init);
    const laptop = () => workerThrough(fx, a, withholding, [], { statePath: `${dir}/state.json` });
    try {
      const first = laptop();
      for (let r = 0; r < rounds; r++) {
        assert.equal(await first.tick(), "trained");
        assert.equal(await b.worker.tick(), "trained");
        const closed = await read(await s.post("/aggregate", { jobId: job.jobId }));
        assert.equal(closed.body[0].status, "closed", JSON.stringify(closed.body));
      }
      const at = { addresses: fx.addresses, jobId: job.jobId, round: 0, nodePubkey: a.nodePubkey };
      const challenges = [
        await issueChallenge(fx.coordinator, at),
        await issueStepChallenge(fx.coordinator, at),
      ];
      withhold = true;
      assert.equal(await laptop().answerChallenges(), 2, "both answered after the restart");
      for (const { challengeId } of challenges) {
        const c = await getChallenge(fx.coordinator, { addresses: fx.addresses, challengeId });
        assert.equal(c.status, ChallengeStatus.Answered);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("victim: an update the coordinator refuses for good is dropped, so the node trains again", async () => {
  // Found in the worker audit: a pending update the coordinator refused with anything but
  // ROUND_NOT_OPEN or UPDATE_COUNTED made every later tick throw before asking for a task, until
  // someone deleted the state file. The commit stays on chain; the update is dropped and said.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [a] = job.nodes as [TestNode, TestNode];
  const dir = await Deno.makeTempDir({ prefix: "artha-worker-refused-" });
  let posted = 0;
  const events: WorkerEvent[] = [];
  const refusing: CoordinatorFetch = (path, init) => {
    if (path === "/aggregate/update") {
      posted++;
      return Promise.resolve(
        Response.json({ error: { code: "BAD_UPDATE", message: "not taken" } }, { status: 422 }),
      );
    }
    if (path.startsWith("/assign?") && posted > 0) {
      return Promise.resolve(Response.json({ status: "idle" }));
    }
    return s.call(path, init);
  };
  const worker = workerThrough(fx, a, refusing, events, { statePath: `${dir}/state.json` });
  try {
    await assert.rejects(worker.tick(), /not taken/); // trained, committed, refused
    assert.equal(await worker.tick(), "resent"); // the pending update, refused again: dropped
    const said = events.map((e) => e.kind === "error" ? e.message : "").join("\n");
    assert.match(said, /update refused, dropped: .*not taken/);
    assert.equal(await worker.tick(), "idle", "the node asks for work again");
    assert.equal(posted, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("victim: a worker whose commit landed as it crashed answers that round's challenges after a restart", async () => {
  // Found in the worker audit: the commit was kept only after it landed and the open challenges
  // were looked at. A crash or a lost RPC answer in between (here: the receipt's request fails),
  // with the round closed by the time the laptop came back, left a commit on chain that the
  // node could answer no challenge of: 10% of its stake for each.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2, compression: COMPRESSION });
  const [a, b] = job.nodes as [TestNode, TestNode];
  const dir = await Deno.makeTempDir({ prefix: "artha-worker-crash-" });
  const statePath = `${dir}/state.json`;
  let sent = false;
  // The laptop's RPC: the commit goes out and lands, then the receipt's request fails.
  const flaky = new Proxy(a.operator, {
    get(target, p, receiver) {
      if (p === "sendRawTransaction") {
        return async (args: { serializedTransaction: Hex }) => {
          const hash = await target.sendRawTransaction(args);
          sent = parseTransaction(args.serializedTransaction).data?.startsWith(COMMIT) ?? false;
          return hash;
        };
      }
      if (p === "getTransactionReceipt" && sent) {
        return () => Promise.reject(new Error("simulated crash: connection reset"));
      }
      return Reflect.get(target, p, receiver);
    },
  });
  try {
    // The send is reported as possibly landed (SentUnconfirmedError), its cause the crash.
    await assert.rejects(
      workerThrough(fx, a, s.call, [], { statePath, client: flaky }).tick(),
      (e) =>
        e instanceof Error && /Cannot confirm commitRound/.test(e.message) &&
        /simulated crash/.test(String(e.cause)),
    );
    const at = { addresses: fx.addresses, jobId: job.jobId, round: 0, nodePubkey: a.nodePubkey };
    assert.ok(await getCommittedDigests(fx.coordinator, at), "the commit landed");
    // The round closes at its deadline without the laptop's update, which challenges its commit.
    assert.equal(await b.worker.tick(), "trained");
    s.advance(job.spec.aggregation.deadlineMs);
    const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
    assert.equal(closed.status, "closed");
    const ids = (await getJobChallenges(fx.coordinator, at))
      .filter((c) => c.nodePubkey === a.nodePubkey.toLowerCase())
      .map((c) => c.challengeId);

    // Execute: the laptop restarts (a new process) and answers.
    const answered = await workerThrough(fx, a, s.call, [], { statePath }).answerChallenges();

    // Assert: both challenges on the commit answered from what the state kept.
    assert.equal(ids.length, 2);
    assert.equal(answered, 2);
    for (const challengeId of ids) {
      const c = await getChallenge(fx.coordinator, { addresses: fx.addresses, challengeId });
      assert.equal(c.status, ChallengeStatus.Answered);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attacker: a coordinator that holds the read of a kept commit's update does not freeze the worker", async () => {
  // Prepare: a laptop trained round 0 and its commit is challenged; the state kept no update
  // bytes (written by an older worker, or the file lost), so the restart reads them from SVDB,
  // which the coordinator holds past the chores' interval. Found in the worker audit: the read
  // ran the chores, the chores answered challenges, which awaited the restore under way, which
  // awaited the read: nothing ever moved again (no heartbeat, no answer: both slashed).
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2, compression: COMPRESSION });
  const [a] = job.nodes as [TestNode, TestNode];
  const dir = await Deno.makeTempDir({ prefix: "artha-worker-restore-" });
  const statePath = `${dir}/state.json`;
  const holding: CoordinatorFetch = async (path, init) => {
    if (path.startsWith("/svdb/")) await new Promise((r) => setTimeout(r, 300));
    return s.call(path, init);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    assert.equal(await workerThrough(fx, a, s.call, [], { statePath }).tick(), "trained");
    await Deno.remove(`${statePath}.update.${job.jobId.toLowerCase()}.0`);
    const at = { addresses: fx.addresses, jobId: job.jobId, round: 0, nodePubkey: a.nodePubkey };
    const { challengeId } = await issueChallenge(fx.coordinator, at);

    // Execute: the restarted laptop answers, chores due every 50 ms.
    const laptop = workerThrough(fx, a, holding, [], { statePath, choresEveryMs: 50 });
    const stuck = new Promise<"stuck">((r) => timer = setTimeout(() => r("stuck"), 10_000));
    const answered = await Promise.race([laptop.answerChallenges(), stuck]);

    // Assert: answered from the bytes read back, within the wait.
    assert.equal(answered, 1);
    const c = await getChallenge(fx.coordinator, { addresses: fx.addresses, challengeId });
    assert.equal(c.status, ChallengeStatus.Answered);
  } finally {
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true });
  }
});
