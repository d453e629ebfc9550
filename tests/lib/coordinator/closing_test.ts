import assert from "node:assert/strict";
import {
  closingKey,
  countedUpdates,
  drawnFrom,
  fixClosingSet,
  SECURE_FAILED_REASON,
} from "../../../lib/coordinator/closing.ts";
import type { Context } from "../../../lib/coordinator/context.ts";
import {
  commitLarge,
  getLarge,
  type JobRecord,
  updateKey,
  type UpdateRecord,
} from "../../../lib/coordinator/state.ts";
import type { JobSpec } from "../../../lib/job/job_spec.ts";

const key = (tag: string) => `0x${tag.repeat(32)}` as const;

Deno.test("victim: a task group's agreeing majority counts after one of its members was replaced", () => {
  // Prepare: a redundancy-3 group whose first member went silent and was replaced; of the three
  // members holding the task now, two deliver the same update and one a different one. Found in
  // the job owner audit: the group's size counted every node ever given the task (four), so two
  // agreeing were no majority and the task's work was dropped from every later round, while the
  // chain (which counts the round's members) settled the group and paid it.
  const [gone, b, c, d] = ["aa", "bb", "cc", "dd"].map(key);
  const job = {
    assigned: [d, b, c],
    taskOf: { [gone!]: 0, [b!]: 0, [c!]: 0, [d!]: 0 },
  } as unknown as JobRecord;
  const spec = { verification: { redundancy: 3, challengeRate: 0, sampleRate: 0 } } as JobSpec;
  const update = (nodePubkey: string, digest: string) =>
    ({
      nodePubkey,
      lossDigest: key(digest),
      gradientDigest: key(digest),
      weightsDigest: key(digest),
    }) as UpdateRecord;

  // Execute
  const counted = countedUpdates(job, spec, [update(d!, "01"), update(b!, "01"), update(c!, "02")]);

  // Assert: one copy of the majority's update counts; both agreeing members delivered.
  assert.deepEqual(counted.nodes, [b]);
  assert.deepEqual(counted.delivered, [b, d]);
});

/** A KV whose atomic commits fail (a crash) once `commits` of them went through. */
function crashingKv(kv: Deno.Kv, commits: number): Deno.Kv {
  return new Proxy(kv, {
    get(target, name) {
      if (name !== "atomic") {
        const value = Reflect.get(target, name);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return () => {
        const op = target.atomic();
        const commit = op.commit.bind(op);
        op.commit = () => commits-- > 0 ? commit() : Promise.reject(new Error("crash"));
        return op;
      };
    },
  });
}

/** A verified round of 10,000 nodes in redundant pairs, every pair agreeing, all delivered. */
async function verifiedRound(kv: Deno.Kv) {
  const nodes = Array.from(
    { length: 10_000 },
    (_, i) => `0x${(i + 1).toString(16).padStart(64, "0")}`,
  );
  const job = {
    jobId: key("c1"),
    round: 0,
    roundOpenedAt: 0,
    assigned: nodes,
    taskOf: Object.fromEntries(nodes.map((n, i) => [n, i >> 1])),
  } as unknown as JobRecord;
  for (let i = 0; i < nodes.length; i += 500) {
    const op = kv.atomic();
    nodes.slice(i, i + 500).forEach((n, k) => {
      const digest = `0x${((i + k) >> 1).toString(16).padStart(64, "0")}`;
      const u = {
        nodePubkey: n,
        lossDigest: digest,
        gradientDigest: digest,
        weightsDigest: digest,
      };
      op.set(updateKey(job.jobId, 0, n), u);
    });
    await op.commit();
  }
  const spec = {
    verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
    aggregation: { quorum: 1, deadlineMs: 60_000 },
  } as unknown as JobSpec;
  return { job, spec, nodes };
}

Deno.test("attacker: a verified 10,000-node round in pairs closes, after a crash mid-write too", async () => {
  // Prepare: found in the KV limits audit, the closing set's `nodes` and `delivered` (~1 MB)
  // went in one commit, over KV's 800 KiB: it threw before any side effect, at every retry.
  const kv = await Deno.openKv(":memory:");
  try {
    const { job, spec, nodes } = await verifiedRound(kv);
    const ctx = (kv: Deno.Kv) => ({ kv, now: () => 1_000 }) as unknown as Context;

    // Execute: a close that crashes after the first part is written, then the retry.
    await assert.rejects(() => fixClosingSet(ctx(crashingKv(kv, 1)), job, spec));
    const step = await fixClosingSet(ctx(kv), job, spec);
    const again = await fixClosingSet(ctx(kv), job, spec);

    // Assert: one update per pair counts, every node delivered, and a retried close agrees.
    assert.ok(step.fixed && again.fixed);
    assert.equal(step.closing.nodes.length, 5_000);
    assert.deepEqual(step.closing.delivered, [...nodes].sort());
    assert.deepEqual(again.closing, step.closing);
    assert.deepEqual((await getLarge(kv, closingKey(job.jobId, 0))).value, step.closing);
  } finally {
    kv.close();
  }
});

Deno.test("victim: of two closes racing with different sets, the first recorded is every one's", async () => {
  // Prepare: two values for one key, written at once in parts.
  const kv = await Deno.openKv(":memory:");
  try {
    const big = (tag: string) => ({ nodes: Array(20_000).fill(key(tag)) });

    // Execute
    const [a, b] = await Promise.all([
      commitLarge(kv, ["closing", "j", 0], big("aa")),
      commitLarge(kv, ["closing", "j", 0], big("bb")),
    ]);

    // Assert: both answer the one recorded, whole (no racer's part mixed in), the loser's parts gone.
    assert.deepEqual(a, b);
    assert.deepEqual((await getLarge(kv, ["closing", "j", 0])).value, a);
    let parts = 0;
    for await (const _ of kv.list({ prefix: ["closing", "j", 0, "part"] })) parts++;
    assert.equal(parts, Math.ceil(JSON.stringify(a).length / 50_000) - 1);
  } finally {
    kv.close();
  }
});

Deno.test("a write cut short, retried with another value, leaves only the recorded value's parts", async () => {
  // Found reviewing commitLarge: a closing set whose write crashed after some parts, retried with
  // the set grown by the updates that arrived meanwhile, left the first attempt's parts for good.
  const kv = await Deno.openKv(":memory:");
  try {
    const big = (tag: string) => ({ nodes: Array(20_000).fill(key(tag)) });
    await assert.rejects(() => commitLarge(crashingKv(kv, 1), ["closing", "j", 1], big("aa")));

    // Execute
    const recorded = await commitLarge(kv, ["closing", "j", 1], big("bb"));

    // Assert
    assert.deepEqual(recorded, big("bb"));
    let parts = 0;
    for await (const _ of kv.list({ prefix: ["closing", "j", 1, "part"] })) parts++;
    assert.equal(parts, Math.ceil(JSON.stringify(recorded).length / 50_000) - 1);
  } finally {
    kv.close();
  }
});

Deno.test("a guarded record is not made once what it was derived from changed", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const big = (tag: string) => ({ nodes: Array(20_000).fill(key(tag)) });
    await kv.set(["count"], 1);
    const read = await kv.get(["count"]);
    await kv.set(["count"], 2); // an update stored after the listing

    // Execute
    const refused = await commitLarge(kv, ["closing", "j", 2], big("aa"), [read]);
    const unset = await getLarge(kv, ["closing", "j", 2]);
    const fresh = await commitLarge(kv, ["closing", "j", 2], big("bb"), [await kv.get(["count"])]);

    // Assert: nothing recorded the first time; the record that follows leaves only its parts.
    assert.equal(refused, undefined);
    assert.equal(unset.value, null);
    assert.deepEqual(fresh, big("bb"));
    let parts = 0;
    for await (const _ of kv.list({ prefix: ["closing", "j", 2, "part"] })) parts++;
    assert.equal(parts, Math.ceil(JSON.stringify(fresh).length / 50_000) - 1);
  } finally {
    kv.close();
  }
});

Deno.test("a secure round closed empty after a named dealer draws its spot checks from those who delivered", () => {
  // Found reviewing the empty close: it drew from the counted updates, none, so the round's
  // commits were paid with nobody of it ever checked.
  const failed = { nodes: [], delivered: ["0xa", "0xb"], reason: SECURE_FAILED_REASON };
  assert.deepEqual(drawnFrom(failed), ["0xa", "0xb"]);
  const counted = { nodes: ["0xa"], delivered: ["0xa", "0xb"], reason: "quorum" };
  assert.deepEqual(drawnFrom(counted), ["0xa"], "a counted round draws from its counted updates");
});
