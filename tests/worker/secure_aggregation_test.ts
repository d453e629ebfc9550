import assert from "node:assert/strict";
import type { Hex } from "viem";
import { runSecureAggregation } from "../../lib/worker/secure_aggregation.ts";
import { CoordinatorClient } from "../../lib/worker/client.ts";
import { Gateway } from "../../lib/worker/gateway.ts";
import { generateNodeKey, signBytes } from "../../lib/crypto/keys.ts";
import { bytesToHex } from "../../lib/crypto/digest.ts";
import { SecAggClient } from "../../lib/privacy/secure_aggregation/client.ts";
import type { AdvertiseKeys } from "../../lib/privacy/secure_aggregation/messages.ts";
import { resolveParams } from "../../lib/privacy/secure_aggregation/params.ts";
import { WorkerState } from "../../lib/worker/state.ts";
import { randomBytes } from "../lib/_helpers.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../lib/chain/contracts.ts";
import type { JobSpec } from "../../lib/job/job_spec.ts";
import { JobStatus } from "../../lib/chain/contracts.ts";
import { paramLayout } from "../../kernel/params.ts";
import {
  secureContext,
  secureRoundConfig,
  secureSeed,
  verifyNodeSignature,
} from "../../lib/round/secure_session.ts";

/**
 * A first attempt of a 5-node secure session, and the node's chain as a scripted client: the job
 * started in block 1, where its five nodes were assigned.
 */
function scriptedSession() {
  const keys = Array.from({ length: 5 }, generateNodeKey);
  const clients = keys.map((k) => k.publicKeyHex.toLowerCase()).sort();
  const jobId = `0x${"11".repeat(32)}` as Hex;
  const hash = `0x${"22".repeat(32)}` as Hex;
  const model = { kind: "gpt", maxT: 8, layers: 1, heads: 2, width: 8 } as const;
  const spec = { model, secureAggregation: {} } as JobSpec;
  const at = { chainId: 31337, jobId, round: 0 };
  const context = secureContext({ ...at, attempt: 0 });
  const seed = secureSeed(at, hash);
  const config = secureRoundConfig(spec, { context, seed, clients, assigned: clients });
  const session = { jobId, round: 0, attempt: 0, anchorBlock: "1", blockHash: hash, config };
  const client = {
    getBlock: () => Promise.resolve({ number: 1n, hash }),
    getContractEvents: ({ eventName }: { eventName: string }) =>
      Promise.resolve(
        eventName === "JobStatusChanged"
          ? [{ args: { status: JobStatus.Running }, blockNumber: 1n, logIndex: 0 }]
          : eventName === "NodeAssigned"
          ? clients.map((nodePubkey, logIndex) => ({
            args: { nodePubkey },
            blockNumber: 1n,
            logIndex,
          }))
          : [],
      ),
  } as unknown as ArthaClient;
  /** Runs the first node's side against `coordinator`. */
  const run = (
    coordinator: CoordinatorClient,
    more: { onWait?: () => Promise<void>; state?: WorkerState },
  ) =>
    runSecureAggregation({
      coordinator,
      gateway: new Gateway(coordinator),
      client,
      addresses: { jobs: `0x${"01".repeat(20)}` } as ArthaAddresses,
      chainId: 31337,
      key: keys[0]!,
      spec,
      jobId,
      round: 0,
      delta: new Float32Array(paramLayout(model).size),
      pollMs: { min: 1, max: 2 },
      ...more,
    });
  return { keys, clients, jobId, model, spec, config, session, run };
}

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

Deno.test("attacker: a coordinator that never counts the node's message as answered does not stop its chores", async () => {
  // Found in the worker audit: the loop went straight back to the view after each post, so a
  // view that always asked for the same message again kept the node re-posting forever, with no
  // heartbeat or challenge answer in between (three missed hours cost 10% of its stake).
  const { session, run } = scriptedSession();
  const view = { status: "open", session, stage: "AdvertiseKeys", invited: true, answered: false };
  let posts = 0;
  const coordinator = new CoordinatorClient((_path, init) => {
    if (init?.method !== "POST") {
      if (posts < 30) return Promise.resolve(Response.json(view));
      const error = { code: "ROUND_NOT_OPEN", message: "closed" };
      return Promise.resolve(Response.json({ error }, { status: 409 }));
    }
    posts++;
    return Promise.resolve(new Response(null, { status: 201 }));
  });
  let chores = 0;

  // Execute
  const outcome = await run(coordinator, { onWait: () => Promise.resolve(void chores++) });

  // Assert: 30 identical posts, and the chores had a turn after each of them.
  assert.equal(outcome, "closed");
  assert.equal(posts, 30);
  assert.ok(chores >= posts, `chores ran ${chores} times over ${posts} posts`);
});

Deno.test("attacker: a neighbour's unopenable share puts the node out of the attempt, not out of the round", async () => {
  // Prepare: a 5-node session run by a scripted coordinator; four neighbours are real clients,
  // and one of them seals garbage for the node. Found in the node routes audit: the node wrote
  // "masked input sent" before opening its shares, so it refused every later attempt of the
  // round, and one such neighbour per attempt froze a secure job for good.
  const { keys, jobId, config, session, run } = scriptedSession();
  const idOf = (k: (typeof keys)[number]) => k.publicKeyHex.toLowerCase();
  const me = idOf(keys[0]!);
  const peers = new Map<string, SecAggClient>();
  for (const k of keys.slice(1)) {
    const sign = (m: Uint8Array) => signBytes(k, m);
    peers.set(
      idOf(k),
      await SecAggClient.create(config, idOf(k), { sign, verify: verifyNodeSignature }),
    );
  }
  const advertised = new Map<string, AdvertiseKeys>();
  for (const [id, c] of peers) advertised.set(id, await c.advertiseKeys());
  const neighbours = (id: string) => resolveParams(config).neighbours.get(id)!;
  const keysFor = (id: string) => neighbours(id).map((v) => advertised.get(v)!);
  const attacker = neighbours(me)[0]!;
  let view: Record<string, unknown> = {
    status: "open",
    session,
    stage: "AdvertiseKeys",
    invited: true,
    answered: false,
  };
  const coordinator = new CoordinatorClient(async (_path, init) => {
    if (init?.method !== "POST") return Response.json(view);
    const msg = JSON.parse(JSON.parse(String(init.body)).message);
    if (msg.stage === "AdvertiseKeys") {
      advertised.set(me, msg);
      view = { ...view, stage: "ShareKeys", request: { stage: "ShareKeys", keys: keysFor(me) } };
    } else if (msg.stage === "ShareKeys") {
      const inbox = [];
      for (const v of neighbours(me)) {
        const sent = await peers.get(v)!.shareKeys({ stage: "ShareKeys", keys: keysFor(v) });
        const share = sent.shares.find((s) => s.to === me)!;
        inbox.push(
          v === attacker
            ? { ...share, ciphertext: bytesToHex(randomBytes(share.ciphertext.length / 2 - 1, 5)) }
            : share,
        );
      }
      view = {
        ...view,
        stage: "MaskedInputCollection",
        request: { stage: "MaskedInputCollection", shares: inbox },
      };
    } else if (msg.stage === "Accuse") {
      // The node waits for the next attempt; this script ends the session without it.
      accused = msg.accused;
      view = { ...view, status: "done", included: false };
    }
    return new Response(null, { status: 201 });
  });
  let accused: string | undefined;
  const state = new WorkerState();

  // Execute
  const outcome = await run(coordinator, { state });

  // Assert: out of this attempt, with nothing recorded as sent, so it joins the next one; it
  // named the neighbour whose share did not open (the coordinator leaves it out of the next).
  assert.equal(outcome, "excluded");
  assert.equal(view.stage, "MaskedInputCollection");
  assert.equal(await state.maskedInputSent(jobId), undefined);
  assert.equal(accused, attacker);
});
