import assert from "node:assert/strict";
import { abis, SlashReason } from "../../lib/chain/contracts.ts";
import { f32Bytes, type LocalResult } from "../../lib/local_training.ts";
import { merkleRoot } from "../../lib/merkle.ts";
import { listValues } from "../../functions/_state.ts";
import type { ChallengeRecord } from "../../functions/_verification.ts";
import { read, setupCoordinator } from "./_coordinator.ts";

/** A result whose update is noise: committed and revealed consistently, but not the training. */
function noisy(r: LocalResult, global: Float32Array): LocalResult {
  const delta = r.delta.map((_, i) => Math.sin(i) * 0.01);
  const weights = global.map((w, i) => w + delta[i]!);
  return {
    ...r,
    delta,
    weights,
    payload: undefined,
    gradientDigest: merkleRoot(f32Bytes(delta)),
    weightsDigest: merkleRoot(f32Bytes(weights)),
  };
}

Deno.test("the coordinator challenges every commit at rate 1 and acts on the answers", async (t) => {
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 3,
    rounds: 2,
    verification: { redundancy: 1, challengeRate: 1, sampleRate: 0 },
  });
  const [honest, faker, silent] = job.nodes as [
    typeof job.nodes[0],
    typeof job.nodes[0],
    typeof job.nodes[0],
  ];
  faker.cheat.tamper = (r, task) => task.round === 0 ? noisy(r, task.global) : r;
  silent.cheat.challenges = "silent";
  const slashes = async (node: string) =>
    (await fx.coordinator.getContractEvents({
      address: fx.addresses.registry,
      abi: abis.registry,
      eventName: "NodeSlashed",
      args: { nodePubkey: node as `0x${string}` },
      fromBlock: 0n,
    })).map((e) => [e.args.reason, e.args.amount]);

  await t.step("closing a round issues one challenge per committed node", async () => {
    for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
    const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
    assert.equal(out.status, "closed");
    assert.equal(out.challenges, 3);
    const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
    assert.deepEqual(recs.map((r) => r.status), ["open", "open", "open"]);
  });

  await t.step(
    "answers are recomputed; a fake update is slashed 50%, silence 10%, honesty 0",
    async () => {
      for (const n of job.nodes) await n.worker.answerChallenges();
      await fx.coordinator.request({
        method: "evm_increaseTime" as never,
        params: [3601] as never,
      });
      await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
      await s.post("/aggregate", { jobId: job.jobId });
      const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
      const status = Object.fromEntries(recs.map((r) => [r.nodePubkey, r.status]));
      assert.equal(status[honest.nodePubkey], "verified");
      assert.equal(status[faker.nodePubkey], "penalised");
      assert.equal(status[silent.nodePubkey], "timed-out");
      assert.deepEqual(await slashes(honest.nodePubkey), []);
      const [fake] = await slashes(faker.nodePubkey);
      assert.equal(fake![0], SlashReason.FakeGradients);
      assert.equal(fake![1], 5n * 10n ** 18n, "50% of the 10 ARTH stake");
      const [timeout] = await slashes(silent.nodePubkey);
      assert.equal(timeout![0], SlashReason.FailedVerification);
      assert.equal(timeout![1], 10n ** 18n, "10% of the stake");
    },
  );
});
