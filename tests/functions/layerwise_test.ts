import assert from "node:assert/strict";
import { decodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { StreamingFedAvg } from "../../lib/strategy/streaming_fed_avg.ts";
import { decodeUpdateBytes } from "../../lib/round/update_envelope.ts";
import { listValues, type UpdateRecord } from "../../lib/coordinator/state.ts";
import { paramLayout } from "../../kernel/params.ts";
import { read, setupCoordinator } from "./_coordinator.ts";

Deno.test("layer-wise merging: a frozen tensor keeps its weights, a damped one moves half", async () => {
  // Prepare: a job that freezes the token embedding and damps the first block.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 2,
    rounds: 1,
    layers: { wte: { freeze: true }, "h0.*": { weight: 0.5 } },
  });

  // Execute: one round.
  await s.deliver(job, job.nodes);
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: against plain FedAvg of the same updates, per tensor.
  assert.equal(closed.status, "closed");
  const initial = decodeCheckpoint(await fx.store.get(job.spec.initialWeights)).weights;
  const after = decodeCheckpoint(await fx.store.get(closed.checkpointCid)).weights;
  const acc = new StreamingFedAvg(initial.length);
  for (const u of await listValues<UpdateRecord>(s.ctx.kv, ["update", job.jobId, 0])) {
    const { delta } = decodeUpdateBytes(await fx.store.get(u.updateCid), initial.length);
    acc.add({ nodeId: u.nodePubkey, delta, numSamples: u.samples });
  }
  const fedavg = acc.finish().delta;
  for (const tensor of paramLayout(job.spec.model).tensors) {
    const factor = tensor.name === "wte" ? 0 : tensor.name.startsWith("h0.") ? 0.5 : 1;
    for (let i = tensor.offset; i < tensor.offset + tensor.size; i++) {
      const want = Math.fround(initial[i]! + Math.fround(fedavg[i]! * factor));
      assert.equal(after[i], want, `${tensor.name}[${i - tensor.offset}]`);
    }
  }
});
