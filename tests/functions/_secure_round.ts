/**
 * A secure round driven through the real coordinator, workers and chain: every node runs its side
 * concurrently, the test's clock passes a stage's deadline only when the stage waits for nobody
 * still answering. Shared by the secure aggregation tests of this folder.
 */
import assert from "node:assert/strict";
import { DEFAULT_STAGE_MS } from "../../lib/round/secure_session.ts";
import { envelopeToJson } from "../../lib/round/update_envelope.ts";
import { nodeUploadSigner, uploadDomain } from "../../lib/store/upload_signature.ts";
import { CoordinatorClient, type CoordinatorFetch } from "../../lib/worker/client.ts";
import { Gateway } from "../../lib/worker/gateway.ts";
import { runSecureAggregation, sessionId } from "../../lib/worker/secure_aggregation.ts";
import { read, type Scenario, type TestJob, type TestNode } from "./_coordinator.ts";

/** Trains, commits and posts the envelope of each node (sequentially: one chain tx at a time). */
export async function deliverEnvelopes(s: Scenario, job: TestJob, nodes: TestNode[]) {
  const deltas = new Map<string, Float32Array>();
  for (const n of nodes) {
    const u = await s.train(job, n);
    const res = await s.post("/aggregate/update", envelopeToJson(u.envelope));
    assert.equal(res.status, 201, await res.text());
    deltas.set(n.nodePubkey, u.result.delta);
  }
  return deltas;
}

/** How a test round's nodes reach the coordinator, and who is away. */
export interface RoundOptions {
  fetchOf?: (n: TestNode) => CoordinatorFetch;
  /** A node that is still running but not answering (partitioned). */
  away?: (node: string) => boolean;
  /** Called once per failed attempt. */
  onFailed?: () => Promise<void>;
}

/**
 * Every node runs its side of the round concurrently through `fetchOf(node)`; whenever the open
 * stage waits only for nodes that are away or whose run ended (they dropped), the clock passes
 * the stage deadline.
 */
export async function secureRound(
  s: Scenario,
  job: TestJob,
  deltas: Map<string, Float32Array>,
  o: RoundOptions = {},
) {
  const fetchOf = o.fetchOf ?? (() => s.call);
  const { chainId, addresses } = s.ctx.chain;
  const round = (await s.jobRecord(job.jobId)).round;
  const running = new Set<string>(job.nodes.map((n) => n.nodePubkey));
  const runs = job.nodes.map((n) => {
    const coordinator = new CoordinatorClient(fetchOf(n));
    const domain = uploadDomain(chainId, addresses.registry);
    // Signed at the coordinator's clock, which a wait for an absent node moves on.
    const now = () => s.ctx.now();
    const gateway = new Gateway(coordinator, { signer: nodeUploadSigner(n.key), domain, now });
    return runSecureAggregation({
      coordinator,
      gateway,
      client: n.operator,
      addresses,
      chainId,
      key: n.key,
      spec: job.spec,
      jobId: job.jobId,
      round,
      delta: deltas.get(n.nodePubkey)!,
      pollMs: { min: 10, max: 80 },
    }).catch((e) => `dropped: ${(e as Error).message}`)
      .finally(() => running.delete(n.nodePubkey));
  });
  const all = Promise.all(runs);
  const advanced = new Set<string>();
  // A round that can never finish (no session opens) fails the test instead of hanging the suite.
  const giveUp = Date.now() + 120_000;
  while (running.size > 0) {
    if (Date.now() > giveUp) throw new Error(`secure round unfinished: ${[...running].join(", ")}`);
    await new Promise((r) => setTimeout(r, 30));
    const view = (await read(await s.call(`/secagg?jobId=${job.jobId}`))).body;
    const waiting: string[] = view?.waitingFor ?? [];
    // A session is its identity, not its number: a coordinator may reuse an attempt number.
    const stage = `${view?.session ? sessionId(view.session) : ""}:${view?.stage}`;
    if (advanced.has(stage)) continue;
    if (view?.status === "failed") {
      advanced.add(stage);
      await o.onFailed?.();
    } else if (waiting.length > 0 && waiting.every((id) => !running.has(id) || o.away?.(id))) {
      advanced.add(stage);
      // AdvertiseKeys waits until the round's deadline, later stages for their own.
      s.advance(
        view.stage === "AdvertiseKeys" ? job.spec.aggregation.deadlineMs : DEFAULT_STAGE_MS,
      );
    }
  }
  return await all;
}

/** Closes the open round through POST /aggregate. */
export async function aggregate(s: Scenario, job: TestJob) {
  const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(out.status, "closed", JSON.stringify(out));
  return out;
}
