/** lib/worker/follow.ts: a node following the jobs it trained for, from the coordinator's side. */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import type { ArthaClient } from "../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../lib/chain/contracts.ts";
import { CoordinatorClient, httpCoordinator } from "../../lib/worker/client.ts";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import { JobFollower } from "../../lib/worker/follow.ts";

const JOB = `0x${"0a".repeat(32)}` as Hex;

for (const status of ["running", "finalized"] as const) {
  Deno.test(`victim: a node follows a ${status} job longer than the coordinator's page of rounds`, async () => {
    // Prepare: a job with 5 closed rounds behind a coordinator that answers at most 2
    // rounds a page from ?from= (as GET /status?job= pages at 1,000). Before, each tick read the
    // whole history, and rounds past the page were never reported.
    const metrics = Array.from(
      { length: 5 },
      (_, round) => ({ round, valLoss: 5 - round, updates: 2 }),
    );
    const asked: number[] = [];
    await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const from = Number(new URL(req.url).searchParams.get("from") ?? 0);
      asked.push(from);
      return Response.json({
        jobId: JOB,
        status,
        round: 5,
        rounds: 9,
        assigned: [],
        initialValLoss: 6,
        metrics: metrics.filter((m) => m.round >= from).slice(0, 2),
        metricCount: 5,
      });
    });
    const coordinator = new CoordinatorClient(
      httpCoordinator(`http://127.0.0.1:${server.addr.port}`),
    );
    const events: WorkerEvent[] = [];
    const chain = { client: {} as ArthaClient, addresses: {} as ArthaAddresses, nodePubkey: JOB };
    const follower = new JobFollower(coordinator, chain, (e) => void events.push(e));
    follower.add(JOB);

    // Execute: four ticks.
    for (let i = 0; i < 4; i++) await follower.follow("busy");

    // Assert: each round reported once, in order, with the loss before it.
    const closed = events.filter((e) => e.kind === "roundClosed");
    assert.deepEqual(
      closed.map((e) => e.kind === "roundClosed" && [e.round, e.previousLoss, e.valLoss]),
      [[0, 6, 5], [1, 5, 4], [2, 4, 3], [3, 3, 2], [4, 2, 1]],
    );
    // Each page starts at the last round reported: its loss is the next one's previous.
    assert.deepEqual(asked, [0, 1, 2, 3]);
  });
}
