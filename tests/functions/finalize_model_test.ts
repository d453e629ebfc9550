/**
 * The published model folder from the attacker's side (found in the storage audit): its files'
 * bytes follow from the public final checkpoint, so anyone could upload them through POST
 * /svdb/private before finalize; the export then skipped the stored blocks and kept their private
 * records, and the model was refused to everyone, its owner included.
 */
import assert from "node:assert/strict";
import { createTestDid, postSigned, read, setupCoordinator } from "./_coordinator.ts";
import { accountUploadSigner } from "../../lib/store/upload_signature.ts";
import { computeCid } from "../../lib/store/cid.ts";
import { loadWeights } from "../../lib/coordinator/job.ts";
import { exportHfModelChunks } from "../../lib/model/hf_model.ts";
import { directoryLinks, fetchModelFolder } from "../../lib/model/model_folder.ts";
import { CID } from "multiformats/cid";

Deno.test("attacker: private copies of the future model folder's files do not hide the published model", async () => {
  // Prepare: a finished job; an attacker (any DID controller) computes the folder's files from
  // the public final checkpoint and uploads each privately before finalize.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1, model: true });
  await s.deliver(job, job.nodes);
  await s.post("/aggregate", { jobId: job.jobId });
  const rec = await s.jobRecord(job.jobId);
  const attacker = fx.clients[3]!;
  const did = await createTestDid(fx, attacker);
  const files = exportHfModelChunks(job.spec.model, await loadWeights(fx.store, rec.globalCid), {
    jobId: rec.jobId,
    rounds: String(rec.rounds),
    checkpointCid: rec.globalCid,
  });
  const hidden: string[] = [];
  for (const name of ["artha.json", "config.json", "tokenizer.json", "model.safetensors"]) {
    const bytes = files[name] as Uint8Array;
    const cid = (await computeCid(bytes)).toString();
    const res = await postSigned(s, accountUploadSigner(attacker), bytes, {
      did,
      path: "/svdb/private",
      headers: { "x-artha-cid": cid },
    });
    assert.equal(res.status, 201, await res.text());
    hidden.push(cid);
  }

  // Execute: finalize exports and publishes the folder.
  const fin = await read(await s.post("/finalize", { jobId: job.jobId }));
  assert.equal(fin.status, 200, JSON.stringify(fin.body));
  const folder: string = fin.body[0].modelFolderCid;

  // Assert: anyone reads the folder and each file, and the model serves.
  const viaGateway: typeof fetch = (input, init) => {
    const url = new URL(String(input));
    return s.call(url.pathname + url.search, init);
  };
  await fetchModelFolder("http://coordinator", folder, { fetch: viaGateway });
  const root = CID.parse(folder);
  const links = [...directoryLinks(root, await fx.store.getBlock(root))!.values()].map(String);
  const inFolder = hidden.filter((cid) => links.includes(cid));
  assert.ok(inFolder.length >= 2, "the attacker's files are the folder's (config, tokenizer)");
  for (const cid of inFolder) {
    const res = await s.call(`/svdb/${cid}`);
    const body = await res.text();
    assert.equal(res.status, 200, `${cid}: ${body}`);
  }
  const infer = await read(
    await s.post("/ai/infer", { modelCid: folder, input: "The jury", maxTokens: 4 }),
  );
  assert.equal(infer.status, 200, JSON.stringify(infer.body));
});
