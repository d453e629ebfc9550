import assert from "node:assert/strict";
import { createPublicClient, type Hex, http } from "viem";
import type { ArthaClient } from "../../../lib/chain/client.ts";
import type { Context } from "../../../lib/coordinator/context.ts";
import { advanceJob, type Closed } from "../../../lib/coordinator/round_close.ts";
import { copiesPerRound } from "../../../lib/coordinator/privacy.ts";
import {
  type CopyRun,
  getJob,
  getLarge,
  type JobHead,
  jobKey,
  missingKey,
  moveNode,
  type RoundMetric,
  setAssignment,
  setJob,
  setLarge,
  withAssignment,
} from "../../../lib/coordinator/state.ts";

const NODES = 10_000;
const IDLE = 2_000;
const ROUNDS = 12;
const node = (i: number) => `0x${(i + 1).toString(16).padStart(64, "0")}` as Hex;

/** A JSON-RPC endpoint that answers every eth_call `true`: every node is live (registered, idle). */
function liveChain(): { client: ArthaClient; close: () => Promise<void> } {
  const TRUE = `0x${"0".repeat(63)}1`;
  const answer = (r: { id: number }) => ({ jsonrpc: "2.0", id: r.id, result: TRUE });
  const server = Deno.serve({ port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json();
    return Response.json(Array.isArray(body) ? body.map(answer) : answer(body));
  });
  const client = createPublicClient({ transport: http(`http://127.0.0.1:${server.addr.port}`) });
  return { client: client as unknown as ArthaClient, close: () => server.shutdown() };
}

/** A started 10,000-node job with many rounds to go. */
async function startJob(kv: Deno.Kv): Promise<JobHead> {
  const assigned = Array.from({ length: NODES }, (_, i) => node(i));
  const head = {
    jobId: `0x${"5a".repeat(32)}`,
    rounds: 1_000,
    round: 0,
    status: "running",
    assignedCount: NODES,
    globalCid: "cid-0",
    roundOpenedAt: 0,
    initialValLoss: 5,
    metrics: [],
    reassigned: [],
  } as unknown as JobHead;
  assert.ok(await setAssignment(kv, head.jobId, { assigned, taskOf: {} }));
  assert.ok((await setJob(kv.atomic(), head).commit()).ok);
  return head;
}

/** What a round's close hands its advance: 8,000 of the 10,000 delivered. */
function closed(round: number): Closed {
  const nodes = Array.from({ length: NODES - IDLE }, (_, i) => node(i + IDLE)).sort();
  return {
    closing: { nodes, reason: "deadline" },
    combined: { delta: new Float32Array(0), bytes: 1_000, privacy: undefined },
    ckpt: {
      checkpointCid: `cid-${round + 1}`,
      bytes: 10,
      weightsDigest: `0x${"00".repeat(32)}`,
      evaluation: { loss: 4, shardLoss: [4], stdErr: 0 } as unknown as Closed["ckpt"]["evaluation"],
      valLoss: 4,
    },
  };
}

Deno.test("attacker: 2,000 idle sybils in a 10,000-node job cannot stop the job's head advancing", async () => {
  // Prepare: found in the KV limits audit, each round's metric kept its whole `missing` list in
  // the head, so after 6 such rounds the advance (after the close on chain) threw "Total mutation
  // size too large" on every retry, and the chain stayed a round ahead of KV for good.
  const kv = await Deno.openKv(":memory:");
  const chain = liveChain();
  try {
    const head = await startJob(kv);
    const ctx = {
      kv,
      now: () => 1_000,
      chain: { client: chain.client, addresses: { registry: `0x${"11".repeat(20)}` } },
    } as unknown as Context;

    // Execute: the real advance of round after round.
    for (let round = 0; round < ROUNDS; round++) {
      const entry = await getJob(kv, head.jobId);
      const job = await withAssignment(kv, entry.value!, entry.versionstamp);
      const advanced = await advanceJob(ctx, entry, job, closed(round));
      assert.equal(advanced?.missing.length, IDLE, `round ${round} advanced`);
    }

    // Assert: every round advanced, the stored head stays small, and each round's list is kept.
    const after = (await getJob(kv, head.jobId)).value!;
    assert.equal(after.round, ROUNDS);
    assert.deepEqual(after.metrics.map((m) => m.missingCount), Array(ROUNDS).fill(IDLE));
    const stored = await kv.get<{ json: string }>(jobKey(head.jobId));
    assert.ok(stored.value!.json.length < 2_000, `head is ${stored.value!.json.length} chars`);
    const id = after.metrics.at(-1)!.missingId!;
    const listed = (await getLarge<string[]>(kv, [...missingKey(head.jobId, ROUNDS - 1), id]))
      .value!;
    assert.deepEqual(listed, Array.from({ length: IDLE }, (_, i) => node(i).toLowerCase()));
  } finally {
    await chain.close();
    kv.close();
  }
});

Deno.test("a head written before keeps its inline metrics and moves; new ones go beside it", async () => {
  // Prepare: a head as older code stored it, its round's missing list and a move inline.
  const kv = await Deno.openKv(":memory:");
  try {
    const [a, b, c, d] = [0, 1, 2, 3].map(node) as [Hex, Hex, Hex, Hex];
    const old = { round: 0, valLoss: 4, updates: 1, missing: [b], reason: "deadline" };
    const legacy = { jobId: `0x${"6b".repeat(32)}`, round: 1, metrics: [old] };
    const head = { ...legacy, reassigned: [{ round: 1, from: b, to: c }] } as unknown as JobHead;
    await setAssignment(kv, head.jobId, { assigned: [a, b], taskOf: { [a]: 0, [b]: 1 } });
    await setLarge(kv.atomic(), jobKey(head.jobId), head).commit();
    const first = await getJob(kv, head.jobId);
    await moveNode(kv.atomic(), head.jobId, { from: b, to: c, place: { task: 1, index: 1 } })
      .commit();

    // Execute: a close with a new-format metric and a move of a's task to d.
    const job = await withAssignment(kv, first.value!, first.versionstamp);
    const metric = { ...old, round: 1, missing: undefined, missingCount: 1, checkpointCid: "x" };
    const next = { ...job, round: 2, metrics: [...job.metrics, metric] as RoundMetric[] };
    next.reassigned = [...next.reassigned, { round: 2, from: a, to: d }];
    const op = setJob(kv.atomic().check(first), next);
    const moved = { round: 2, seq: 1 };
    await moveNode(op, head.jobId, { from: a, to: d, place: { task: 0, index: 0 }, moved })
      .commit();

    // Assert: both rounds' metrics and both moves, in order; the stored head did not grow.
    const after = (await getJob(kv, head.jobId)).value!;
    assert.deepEqual(after.metrics.map((m) => m.round), [0, 1]);
    assert.deepEqual((await withAssignment(kv, after)).reassigned, [
      { round: 1, from: b, to: c },
      { round: 2, from: a, to: d },
    ]);
    const stored = await getLarge<JobHead>(kv, jobKey(head.jobId));
    assert.equal(stored.value!.metrics.length, 1);
    assert.equal(stored.value!.reassigned.length, 1);
  } finally {
    kv.close();
  }
});

Deno.test("a DP job of 1,000 shards keeps a head of constant size in rounds; an old head's copies read back as runs", async () => {
  // The privacy record kept each shard's copies round by round in the head: a number per shard a
  // round, past KV's 800 KiB a write within ~400 rounds at 1,000 shards (found reviewing the KV
  // limits fix). Prepare: a head as coordinators wrote it before (200 rounds: more did not fit),
  // one copy a round, one shard with a round of two.
  const kv = await Deno.openKv(":memory:");
  try {
    const shards = 1_000, rounds = 200;
    const shardCopies = Array.from({ length: shards }, () => Array(rounds).fill(1));
    shardCopies[7]![150] = 2;
    const privacy = {
      clip: 1,
      epsilon: 3,
      delta: 1e-5,
      maxEpsilon: 8,
      shardRounds: Array(shards).fill(rounds),
      shardEpsilon: Array(shards).fill(3),
    };
    const jobId = `0x${"6b".repeat(32)}`;
    const old = {
      jobId,
      rounds: 1_000,
      round: rounds,
      status: "running",
      globalCid: "cid",
      roundOpenedAt: 0,
      initialValLoss: 5,
      metrics: [],
      reassigned: [],
      privacy: { ...privacy, shardCopies },
    };
    await setLarge(kv.atomic(), jobKey(jobId), old).commit();

    // Execute: read, written back.
    const head = await getJob(kv, jobId);
    const res = await setJob(kv.atomic().check(head), head.value!).commit();

    // Assert
    assert.ok(res.ok);
    const stored = JSON.stringify((await getLarge(kv, jobKey(jobId))).value);
    assert.ok(stored.length < 100_000, `${stored.length} characters stored`);
    const runs: CopyRun[][] = Array.from({ length: shards }, () => [[1, rounds]]);
    runs[7] = [[1, 150], [2, 1], [1, 49]];
    assert.deepEqual((await getJob(kv, jobId)).value!.privacy, { ...privacy, shardCopyRuns: runs });
    assert.deepEqual(copiesPerRound(runs[7]!), shardCopies[7]);
  } finally {
    kv.close();
  }
});

Deno.test("a head read without its metrics (a poll's read) cannot be written back", async () => {
  // Polls, uploads and intake read heads without the rounds' metrics (found reviewing the KV
  // limits fix: each listed every closed round's); written back, such a head would drop an older
  // head's inline metrics.
  const kv = await Deno.openKv(":memory:");
  try {
    const metric = { round: 0, valLoss: 3, updates: 2, missing: [], reason: "quorum" };
    const head = {
      jobId: `0x${"7c".repeat(32)}`,
      rounds: 3,
      round: 1,
      status: "running",
      globalCid: "cid",
      roundOpenedAt: 0,
      initialValLoss: 5,
      metrics: [{ ...metric, bytes: 1, checkpointCid: "ckpt-0" }],
      reassigned: [],
    } as unknown as JobHead;
    assert.ok((await setJob(kv.atomic(), head).commit()).ok);

    // Execute
    const light = (await getJob(kv, head.jobId, { metrics: false })).value!;
    const whole = (await getJob(kv, head.jobId)).value!;

    // Assert
    assert.throws(() => setJob(kv.atomic(), light), /read without its metrics/);
    assert.equal(whole.metrics.length, 1);
    assert.ok(setJob(kv.atomic(), whole));
  } finally {
    kv.close();
  }
});

Deno.test("attacker: naming a DP job of 1,000 shards x 5,000 rounds costs a read of its stored head, not 5 million copies", async () => {
  // Found in the coordinator DoS audit: every read of the head rebuilt each shard's copies round
  // by round from the runs it stores, so an unsigned 500-byte POST /aggregate/cluster naming the
  // job (its head is read before the signature is checked) cost 0.5 s, and GET /status 10 MB.
  // Prepare: the head as the coordinator stores it, 18 KB.
  const kv = await Deno.openKv(":memory:");
  try {
    const shards = 1_000, rounds = 5_000;
    const jobId = `0x${"cd".repeat(32)}`;
    const privacy = {
      clip: 1,
      epsilon: 1,
      delta: 1e-5,
      maxEpsilon: 8,
      shardRounds: Array(shards).fill(rounds),
      shardEpsilon: Array(shards).fill(1),
      shardCopyRuns: Array.from({ length: shards }, () => [[1, rounds]]),
    };
    const head = {
      jobId,
      rounds: rounds + 1,
      round: rounds,
      status: "running",
      globalCid: "cid",
      roundOpenedAt: 0,
      initialValLoss: 5,
      metrics: [],
      reassigned: [],
      privacy,
    };
    await setLarge(kv.atomic(), jobKey(jobId), head).commit();
    const stored = JSON.stringify(head).length;

    // Execute: the read every such request makes.
    const read = (await getJob(kv, jobId, { metrics: false })).value!;

    // Assert: what it holds is what was stored.
    const held = JSON.stringify(read).length;
    assert.ok(held < 2 * stored, `${held} characters read from a head of ${stored}`);
    assert.deepEqual(read.privacy, privacy);
  } finally {
    kv.close();
  }
});
