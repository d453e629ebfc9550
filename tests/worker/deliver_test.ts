/**
 * Delivering a round from the attacker's side: a coordinator the worker does not trust sends a
 * round the node already committed again, with other inputs. The worker must keep what it
 * committed (to answer challenges on it), sign nothing for the new result, and still answer.
 */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import { issueChallenge } from "../../lib/chain/issue_challenge.ts";
import { getNodeCert } from "../../lib/chain/get_node_cert.ts";
import { setupCoordinator, type TestNode } from "../functions/_coordinator.ts";
import { workerThrough } from "./_worker.ts";

Deno.test("attacker: a committed round sent again with another seed does not replace what the node answers challenges with", async () => {
  // Prepare: the node trains and commits round 0 honestly through a coordinator that fails its
  // update's post (503), then serves the same job and round again with another seed, and takes
  // any update. Undelivered, the round is trained again when offered (a delivered one is refused
  // before training: replayed_task_test.ts).
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [a] = job.nodes as [TestNode, TestNode];
  let first: Record<string, unknown> | undefined;
  let replaying = false;
  const posted: string[] = [];
  const events: WorkerEvent[] = [];
  const worker = workerThrough(fx, a, async (path, init) => {
    if (replaying && first && path.startsWith("/assign?")) {
      return Response.json({ ...first, seed: (first.seed as number) + 1 });
    }
    if (replaying && path === "/aggregate/update") {
      posted.push(String(init?.body));
      return Response.json({ accepted: true });
    }
    if (path === "/aggregate/update") return new Response("unavailable", { status: 503 });
    const res = await s.call(path, init);
    if (!first && path.startsWith("/assign?")) first = await res.clone().json();
    return res;
  }, events);
  await assert.rejects(worker.tick(), /503/);
  replaying = true;

  // Execute: the replayed task, then a challenge on the round the node committed.
  assert.equal(await worker.tick(), "wait");
  const nodePubkey = a.nodePubkey as Hex;
  await issueChallenge(fx.coordinator, {
    addresses: fx.addresses,
    jobId: job.jobId,
    round: 0,
    nodePubkey,
  });
  const answered = await worker.answerChallenges();

  // Assert: nothing signed or posted for the replayed result, the operator told why, and the
  // challenge answered from what the node committed: its stake is whole.
  assert.deepEqual(posted, []);
  assert.ok(
    events.some((e) => e.kind === "error" && /again with other inputs/.test(e.message)),
    JSON.stringify(events.map((e) => e.kind)),
  );
  assert.equal(answered, 1);
  const cert = await getNodeCert(fx.coordinator, { addresses: fx.addresses, nodePubkey });
  assert.equal(cert.stake, 10n * 10n ** 18n);
});
