/**
 * Finalize releases the job's updates: they were pinned when accepted (a close reads them), and
 * nothing reads them once the job is finalized, so they are unpinned and collected; checkpoints,
 * the model folder and the job's data stay. An update that names a blob pinned for another reason
 * (an attacker posting the job's initial weights as its update) does not get that blob unpinned.
 */
import assert from "node:assert/strict";
import { commitRound } from "../../lib/chain/commit_round.ts";
import { arthaDomain } from "../../lib/crypto/domain.ts";
import { envelopeOf, envelopeToJson, signEnvelope } from "../../lib/round/update_envelope.ts";
import { decodeUpdateBytes } from "../../lib/round/update_envelope.ts";
import { loadWeights } from "../../lib/coordinator/job.ts";
import { updateKey, type UpdateRecord } from "../../lib/coordinator/state.ts";
import { parseCid } from "../../lib/store/cid.ts";
import { base58btc } from "multiformats/bases/base58";
import {
  type Coordinator,
  read,
  type Scenario,
  setupCoordinator,
  type TestNode,
} from "./_coordinator.ts";

/**
 * A 2-node, 1-round job with the honest node's update posted, and an attacker that committed the
 * job's initial weights as its update: `envelope(cid)` signs its envelope naming `cid`.
 */
async function initialWeightsPoster(fx: Coordinator, s: Scenario) {
  const job = await s.job({ nodes: 2, rounds: 1 });
  const [honest, attacker] = job.nodes as [TestNode, TestNode];
  const mine = await s.train(job, honest);
  assert.equal((await s.post("/aggregate/update", envelopeToJson(mine.envelope))).status, 201);
  const initial = job.spec.initialWeights;
  const length = (await loadWeights(fx.store, initial)).length;
  const { digest } = decodeUpdateBytes(await fx.store.get(initial), length);
  const forged = await s.train(job, attacker, { commit: false });
  const at = { jobId: job.jobId, round: 0, nodePubkey: attacker.nodePubkey };
  const env = {
    ...envelopeOf(forged.result, { ...at, updateCid: initial }),
    gradientDigest: digest,
  };
  const { lossDigest, weightsDigest, proofsRoot } = env;
  await commitRound(attacker.operator, {
    addresses: fx.addresses,
    commit: { ...at, lossDigest, gradientDigest: digest, weightsDigest, proofsRoot },
  });
  const domain = arthaDomain(fx.net.chainId, fx.addresses.proofs);
  const envelope = (updateCid: string) =>
    envelopeToJson(signEnvelope(attacker.key, { ...env, updateCid }, domain));
  return { job, mine, initial, attacker, envelope };
}

Deno.test("finalize unpins the job's updates, and only them", async () => {
  // Prepare: an honest node's update, and a node posting the job's initial weights as its own.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const { job, mine, initial, envelope } = await initialWeightsPoster(fx, s);
  const posted = await read(await s.post("/aggregate/update", envelope(initial)));
  assert.equal(posted.status, 201, JSON.stringify(posted.body));
  const closed = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0];
  assert.equal(closed.status, "closed", JSON.stringify(closed));
  const pinned = async () => new Set((await fx.store.pins()).map(String));
  assert.ok((await pinned()).has(mine.updateCid), "an accepted update is pinned");

  // Execute
  const fin = await read(await s.post("/finalize", { jobId: job.jobId }));
  assert.equal(fin.status, 200, JSON.stringify(fin.body));
  await fx.store.gc();

  // Assert: the honest update is gone; what the job and its model need stays.
  const pins = await pinned();
  assert.ok(!pins.has(mine.updateCid), "the update is unpinned");
  assert.equal(await fx.store.has(mine.updateCid), false, "and collected");
  const record = fin.body[0];
  const kept = [initial, job.specCid, record.globalCid, record.modelFolderCid];
  for (const cid of [...kept, ...job.spec.shards.map((x) => x.cid)]) {
    assert.ok(pins.has(cid), `${cid} stays pinned`);
    assert.ok(await fx.store.has(cid), `${cid} stays stored`);
  }
  // A finalize call repeated is answered the same and releases nothing more.
  const again = await read(await s.post("/finalize", { jobId: job.jobId }));
  assert.deepEqual(again.body, fin.body);
  assert.ok((await pinned()).has(initial));
});

Deno.test("attacker: another spelling of a kept CID neither gets in nor unpins it at finalize", async () => {
  // Found in the storage audit: pins are per CID whatever its spelling, while finalize compared
  // record strings. A node that posted the job's initial weights (or another job's checkpoint,
  // public to read) spelled in base58btc had it pinned under its base32 name, and at its own
  // job's finalize the update was "not referenced", so the kept blob was unpinned and collected.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const { job, mine, initial, attacker, envelope } = await initialWeightsPoster(fx, s);
  const base58 = parseCid(initial).toString(base58btc);
  assert.notEqual(base58, initial);

  // Execute: the base58 spelling posted.
  const refused = await read(await s.post("/aggregate/update", envelope(base58)));

  // Assert: refused, naming the spelling the store uses.
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, "INVALID_FIELD");
  assert.match(refused.body.error.message, new RegExp(`"updateCid".*${initial}`));

  // Execute: a record of that spelling made before intake refused it (written as intake did),
  // with the canonical spelling posted so the round closes, then finalize and a collection.
  assert.equal((await s.post("/aggregate/update", envelope(initial))).status, 201);
  const key = updateKey(job.jobId, 0, attacker.nodePubkey);
  const record = (await s.ctx.kv.get<UpdateRecord>(key)).value!;
  await s.ctx.kv.set(key, { ...record, updateCid: base58 });
  const closed = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0];
  assert.equal(closed.status, "closed", JSON.stringify(closed));
  const fin = await read(await s.post("/finalize", { jobId: job.jobId }));
  assert.equal(fin.status, 200, JSON.stringify(fin.body));
  await fx.store.gc();

  // Assert: the initial weights stay pinned and stored; the honest update went.
  assert.ok((await fx.store.pins()).map(String).includes(initial), "still pinned");
  assert.ok(await fx.store.has(initial), "still stored");
  assert.equal(await fx.store.has(mine.updateCid), false);
});
