import assert from "node:assert/strict";
import type { Hex } from "viem";
import { runSecureAggregation } from "../../lib/worker/secure_aggregation.ts";
import { CoordinatorClient } from "../../lib/worker/client.ts";
import { Gateway } from "../../lib/worker/gateway.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../lib/chain/contracts.ts";
import type { JobSpec } from "../../lib/job/job_spec.ts";

Deno.test("attacker: while a coordinator keeps a secure round waiting, the node's chores still run", async () => {
  // Prepare: a coordinator that says "no session yet" 20 times, then that the round closed. A
  // malicious one could say it for hours, during which a node that only heartbeats between tasks
  // would miss its heartbeats and be slashed.
  let polls = 0;
  const coordinator = new CoordinatorClient(() => {
    const code = ++polls <= 20 ? "NO_SESSION" : "ROUND_NOT_OPEN";
    return Promise.resolve(Response.json({ error: { code, message: code } }, { status: 409 }));
  });
  let chores = 0;

  // Execute
  const outcome = await runSecureAggregation({
    coordinator,
    gateway: new Gateway(coordinator),
    client: {} as ArthaClient, // never reached: no session is ever joined
    addresses: {} as ArthaAddresses,
    chainId: 31337,
    key: generateNodeKey(),
    spec: { secureAggregation: {} } as JobSpec,
    jobId: `0x${"ab".repeat(32)}` as Hex,
    round: 0,
    delta: new Float32Array(4),
    pollMs: { min: 1, max: 2 },
    onWait: () => Promise.resolve(void chores++),
  });

  // Assert: the round ended as closed, and the chores ran at every wait.
  assert.equal(outcome, "closed");
  assert.equal(chores, 20);
});
