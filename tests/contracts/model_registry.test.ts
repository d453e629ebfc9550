import assert from "node:assert/strict";
import { encodeAbiParameters, type Hex, keccak256 } from "viem";
import { abis, b32, event, expectRevert, mined, setupFixture, ZERO32 } from "./_fixture.ts";

Deno.test("ModelRegistry", async (t) => {
  await using fx = await setupFixture({ accounts: 4 });
  const [owner, aggregator, alice, stranger] = fx.clients as [
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
  ];
  const models = fx.c.models;
  const jobId = b32("job-1");
  const getModel = (id: Hex) =>
    owner.readContract({ ...models, functionName: "getModel", args: [id] });
  const checkpoint = (client: typeof owner, id: Hex, round: bigint, cid: string) =>
    client.writeContract({
      ...models,
      functionName: "addCheckpoint",
      args: [id, round, cid, b32(cid)],
    });
  const register = async (client: typeof owner, name: string) => {
    const receipt = await mined(
      client,
      client.writeContract({ ...models, functionName: "registerModel", args: [name, jobId] }),
    );
    return event(receipt, abis.models, "ModelRegistered").modelId;
  };

  await fx.step(
    t,
    "registerModel derives the id from owner and name and emits ModelRegistered",
    async () => {
      const receipt = await mined(
        alice,
        alice.writeContract({
          ...models,
          functionName: "registerModel",
          args: ["artha-500m", jobId],
        }),
      );
      const modelId = keccak256(encodeAbiParameters(
        [{ type: "address" }, { type: "string" }],
        [alice.account.address, "artha-500m"],
      ));
      assert.deepEqual(event(receipt, abis.models, "ModelRegistered"), {
        modelId,
        owner: alice.account.address,
        name: "artha-500m",
        jobId,
      });
      const m = await getModel(modelId);
      assert.equal(m.owner, alice.account.address);
      assert.equal(m.jobId, jobId);
      assert.equal(m.name, "artha-500m");
      assert.equal(m.checkpoints, 0);
      assert.equal(m.versions, 0);
      assert.equal(
        m.registeredAt,
        (await owner.getBlock({ blockNumber: receipt.blockNumber })).timestamp,
      );
      // The same name is free for another owner, but not twice for one owner.
      await register(stranger, "artha-500m");
      const args = await expectRevert(
        alice.simulateContract({
          ...models,
          functionName: "registerModel",
          args: ["artha-500m", ZERO32],
        }),
        "ModelRegistry__AlreadyRegistered",
      );
      assert.deepEqual(args, [modelId]);
    },
  );

  await fx.step(
    t,
    "addCheckpoint needs increasing rounds and reverts with StaleRound otherwise",
    async () => {
      const id = await register(alice, "m");
      // The first checkpoint may be round 0.
      const r0 = await mined(alice, checkpoint(alice, id, 0n, "cp-0"));
      assert.deepEqual(event(r0, abis.models, "CheckpointAdded"), {
        modelId: id,
        round: 0n,
        cid: "cp-0",
        weightsDigest: b32("cp-0"),
      });
      await mined(alice, checkpoint(alice, id, 3n, "cp-3"));
      for (const round of [3n, 2n, 0n]) {
        const args = await expectRevert(
          alice.simulateContract({
            ...models,
            functionName: "addCheckpoint",
            args: [id, round, "cp", ZERO32],
          }),
          "ModelRegistry__StaleRound",
        );
        assert.deepEqual(args, [round, 3n]);
      }
      const m = await getModel(id);
      assert.equal(m.checkpoints, 2);
      assert.equal(m.latestRound, 3n);
      assert.equal(m.latestCheckpointCid, "cp-3");
      await expectRevert(
        alice.simulateContract({
          ...models,
          functionName: "addCheckpoint",
          args: [id, 4n, "", ZERO32],
        }),
        "ModelRegistry__EmptyCid",
      );
      await expectRevert(
        alice.simulateContract({
          ...models,
          functionName: "addCheckpoint",
          args: [b32("x"), 4n, "c", ZERO32],
        }),
        "ModelRegistry__UnknownModel",
      );
    },
  );

  await fx.step(
    t,
    "setPublisher lets an aggregator add checkpoints; others revert with NotPublisher",
    async () => {
      const id = await register(alice, "m");
      const notPub = await expectRevert(
        aggregator.simulateContract({
          ...models,
          functionName: "addCheckpoint",
          args: [id, 1n, "cp", ZERO32],
        }),
        "ModelRegistry__NotPublisher",
      );
      assert.deepEqual(notPub, [aggregator.account.address, id]);
      const notOwner = await expectRevert(
        stranger.simulateContract({
          ...models,
          functionName: "setPublisher",
          args: [id, stranger.account.address, true],
        }),
        "ModelRegistry__NotModelOwner",
      );
      assert.deepEqual(notOwner, [stranger.account.address, id]);
      const receipt = await mined(
        alice,
        alice.writeContract({
          ...models,
          functionName: "setPublisher",
          args: [id, aggregator.account.address, true],
        }),
      );
      assert.deepEqual(event(receipt, abis.models, "PublisherSet"), {
        modelId: id,
        publisher: aggregator.account.address,
        allowed: true,
      });
      assert.equal(
        await owner.readContract({
          ...models,
          functionName: "isPublisher",
          args: [id, aggregator.account.address],
        }),
        true,
      );
      await mined(aggregator, checkpoint(aggregator, id, 1n, "cp-1"));
      assert.equal((await getModel(id)).latestCheckpointCid, "cp-1");
      await mined(
        alice,
        alice.writeContract({
          ...models,
          functionName: "setPublisher",
          args: [id, aggregator.account.address, false],
        }),
      );
      await expectRevert(
        aggregator.simulateContract({
          ...models,
          functionName: "addCheckpoint",
          args: [id, 2n, "cp", ZERO32],
        }),
        "ModelRegistry__NotPublisher",
      );
      await expectRevert(
        alice.simulateContract({
          ...models,
          functionName: "setPublisher",
          args: [b32("x"), aggregator.account.address, true],
        }),
        "ModelRegistry__UnknownModel",
      );
    },
  );

  await fx.step(
    t,
    "publishModel numbers versions; isPublished and isPublishedBy find a CID",
    async () => {
      const id = await register(alice, "m");
      assert.equal(
        await owner.readContract({ ...models, functionName: "isPublished", args: ["bafy-v1"] }),
        false,
      );
      const v1 = await mined(
        alice,
        alice.writeContract({
          ...models,
          functionName: "publishModel",
          args: [id, "bafy-v1", b32("d1")],
        }),
      );
      assert.deepEqual(event(v1, abis.models, "ModelPublished"), {
        modelId: id,
        version: 1n,
        cid: "bafy-v1",
        weightsDigest: b32("d1"),
      });
      const v2 = await mined(
        alice,
        alice.writeContract({
          ...models,
          functionName: "publishModel",
          args: [id, "bafy-v2", b32("d2")],
        }),
      );
      assert.equal(event(v2, abis.models, "ModelPublished").version, 2n);
      const m = await getModel(id);
      assert.equal(m.versions, 2);
      assert.equal(m.publishedCid, "bafy-v2");
      assert.equal(m.publishedDigest, b32("d2"));
      // Earlier versions stay published; unknown CIDs are not.
      for (const [cid, published] of [["bafy-v1", true], ["bafy-v2", true], ["bafy-v3", false]]) {
        assert.equal(
          await owner.readContract({
            ...models,
            functionName: "isPublished",
            args: [cid as string],
          }),
          published,
        );
        assert.equal(
          await owner.readContract({
            ...models,
            functionName: "isPublishedBy",
            args: [id, cid as string],
          }),
          published,
        );
      }
    },
  );

  await fx.step(
    t,
    "publishModel reverts with NotModelOwner for publishers and strangers",
    async () => {
      const id = await register(alice, "m");
      await mined(
        alice,
        alice.writeContract({
          ...models,
          functionName: "setPublisher",
          args: [id, aggregator.account.address, true],
        }),
      );
      for (const client of [aggregator, stranger]) {
        const args = await expectRevert(
          client.simulateContract({
            ...models,
            functionName: "publishModel",
            args: [id, "bafy", ZERO32],
          }),
          "ModelRegistry__NotModelOwner",
        );
        assert.deepEqual(args, [client.account.address, id]);
      }
      await expectRevert(
        alice.simulateContract({ ...models, functionName: "publishModel", args: [id, "", ZERO32] }),
        "ModelRegistry__EmptyCid",
      );
      await expectRevert(
        alice.simulateContract({
          ...models,
          functionName: "publishModel",
          args: [b32("x"), "bafy", ZERO32],
        }),
        "ModelRegistry__UnknownModel",
      );
    },
  );
  await fx.step(
    t,
    "attack: a front-runner publishing the owner's CID first neither blocks nor claims it",
    async () => {
      // The attacker saw the owner's publishModel in the mempool and published the same CID
      // under its own model first. Before the fix the owner's call reverted with CidTaken and
      // modelOfCid pointed at the attacker's model.
      const id = await register(alice, "m");
      const squatter = await register(stranger, "copy");
      await mined(
        stranger,
        stranger.writeContract({
          ...models,
          functionName: "publishModel",
          args: [squatter, "bafy-v1", ZERO32],
        }),
      );
      await mined(
        alice,
        alice.writeContract({
          ...models,
          functionName: "publishModel",
          args: [id, "bafy-v1", b32("d1")],
        }),
      );
      assert.equal(
        (await owner.readContract({ ...models, functionName: "getModel", args: [id] }))
          .publishedCid,
        "bafy-v1",
      );
      assert.equal(
        await owner.readContract({
          ...models,
          functionName: "isPublishedBy",
          args: [id, "bafy-v1"],
        }),
        true,
      );
    },
  );
});
