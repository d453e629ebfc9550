import assert from "node:assert/strict";
import {
  encodeFunctionData,
  type Hex,
  keccak256,
  parseAbi,
  parseEther,
  stringToHex,
  zeroAddress,
} from "viem";
import { arthaDomain, typedDigest } from "../../lib/crypto/domain.ts";
import {
  abis,
  b32,
  caps,
  DAY,
  event,
  events,
  expectRevert,
  HOUR,
  mined,
  nodePubkey,
  NodeRole,
  registerNode,
  ROLE_STAKE,
  setupFixture,
  SlashReason,
} from "./_fixture.ts";

Deno.test("NodeCertRegistry", async (t) => {
  // Deployment fixes who may slash (ProofOfCompute); account 1 and bob stand in for it here.
  await using fx = await setupFixture({ authorised: { registry: [1, 3] } });
  const [owner, slasher, alice, bob, attester, stranger] = fx.clients as [
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
  ];
  const reg = fx.c.registry;
  /** The EIP-712 HardwareAttestation digest (NodeCertRegistry.hardwareDigest) at `nonce`. */
  const hardwareTypedDigest = (nodePubkey: Hex, hwHash: Hex, nonce: bigint) =>
    typedDigest(
      arthaDomain(fx.net.chainId, reg.address),
      "HardwareAttestation",
      [
        { name: "nodePubkey", type: "bytes32" },
        { name: "hwHash", type: "bytes32" },
        { name: "nonce", type: "uint256" },
      ],
      { nodePubkey, hwHash, nonce },
    );
  const node = nodePubkey("node-a");
  const ten = parseEther("10");
  const getNode = (pk = node) =>
    owner.readContract({ ...reg, functionName: "getNode", args: [pk] });
  const read = <N extends "totalStaked" | "slashPool">(functionName: N) =>
    owner.readContract({ ...reg, functionName });

  await fx.step(
    t,
    "registerNode stores the cert, escrows the stake and emits NodeRegistered",
    async () => {
      const word = caps({ gpu: true, diskGB: 512, bandwidthMbps: 100, computeUnits: 7 });
      const receipt = await registerNode(fx, alice, {
        pubkey: node,
        role: NodeRole.GPUProvider,
        stake: parseEther("12"),
        caps: word,
        region: "in-south",
        slaId: b32("sla"),
      });
      const ev = event(receipt, abis.registry, "NodeRegistered");
      assert.deepEqual(ev, {
        nodePubkey: node,
        operator: alice.account.address,
        role: NodeRole.GPUProvider,
        region: "in-south",
        caps: word,
        slaId: b32("sla"),
        stake: parseEther("12"),
      });
      const n = await getNode();
      const block = await owner.getBlock({ blockNumber: receipt.blockNumber });
      assert.equal(n.operator, alice.account.address);
      assert.equal(n.stake, parseEther("12"));
      assert.equal(n.registeredAt, block.timestamp);
      assert.equal(n.lastHeartbeat, block.timestamp);
      assert.equal(n.active, true);
      assert.equal(n.unlocksAt, 0n);
      assert.equal(await read("totalStaked"), parseEther("12"));
      assert.equal(await owner.getBalance({ address: reg.address }), parseEther("12"));
      assert.deepEqual(
        await owner.readContract({
          ...reg,
          functionName: "nodesOf",
          args: [alice.account.address],
        }),
        [node],
      );
      assert.equal(
        await owner.readContract({ ...reg, functionName: "operatorOf", args: [node] }),
        alice.account.address,
      );
      assert.equal(
        await owner.readContract({ ...reg, functionName: "isComputeEligible", args: [node] }),
        true,
      );
      assert.equal(
        await owner.readContract({ ...reg, functionName: "isLive", args: [node] }),
        true,
      );
    },
  );

  await fx.step(
    t,
    "registerNode reverts with StakeTooLow when stake is below the tier",
    async () => {
      for (const role of [NodeRole.Basic, NodeRole.GPUProvider, NodeRole.TEE, NodeRole.Priority]) {
        const min = ROLE_STAKE[role]!;
        assert.equal(
          await owner.readContract({ ...reg, functionName: "requiredStake", args: [role] }),
          min,
        );
        const args = await expectRevert(
          alice.simulateContract({
            ...reg,
            functionName: "registerNode",
            args: [node, role, "eu", caps({ gpu: true, tee: true }), b32("sla"), "0x"],
            value: min - 1n,
          }),
          "NodeCert__StakeTooLow",
        );
        assert.deepEqual(args, [min - 1n, min]);
      }
    },
  );

  await fx.step(
    t,
    "registerNode reverts with CapsMismatch for a TEE node without the TEE bit",
    async () => {
      const noTee = caps({ gpu: true });
      const args = await expectRevert(
        alice.simulateContract({
          ...reg,
          functionName: "registerNode",
          args: [node, NodeRole.TEE, "eu", noTee, b32("sla"), "0x"],
          value: ROLE_STAKE[NodeRole.TEE]!,
        }),
        "NodeCert__CapsMismatch",
      );
      assert.deepEqual(args, [NodeRole.TEE, noTee]);
      await registerNode(fx, alice, {
        pubkey: node,
        role: NodeRole.TEE,
        caps: caps({ tee: true }),
      });
      assert.equal((await getNode()).role, NodeRole.TEE);
    },
  );

  await fx.step(t, "registerNode reverts with AlreadyRegistered for a taken key", async () => {
    await registerNode(fx, alice, { pubkey: node });
    for (const client of [alice, bob]) {
      const args = await expectRevert(
        client.simulateContract({
          ...reg,
          functionName: "registerNode",
          args: [node, NodeRole.GPUProvider, "eu", caps({ gpu: true }), b32("sla"), "0x"],
          value: ten,
        }),
        "NodeCert__AlreadyRegistered",
      );
      assert.deepEqual(args, [node]);
    }
  });

  await fx.step(t, "registerNode reverts with InvalidPubkey for a zero key", async () => {
    await expectRevert(
      alice.simulateContract({
        ...reg,
        functionName: "registerNode",
        args: [`0x${"0".repeat(64)}`, NodeRole.Basic, "eu", caps(), b32("sla"), "0x"],
        value: ten,
      }),
      "NodeCert__InvalidPubkey",
    );
  });

  await fx.step(t, "Basic nodes register with 1 ARTH but are not compute eligible", async () => {
    await registerNode(fx, alice, { pubkey: node, role: NodeRole.Basic, caps: caps() });
    assert.equal(
      await owner.readContract({ ...reg, functionName: "isComputeEligible", args: [node] }),
      false,
    );
  });

  await fx.step(
    t,
    "setMinStake and setRoleStake change requiredStake and emit ConfigChanged",
    async () => {
      let receipt = await mined(
        owner,
        owner.writeContract({ ...reg, functionName: "setMinStake", args: [parseEther("5")] }),
      );
      assert.deepEqual(event(receipt, abis.registry, "ConfigChanged"), {
        key: stringToHex("minStake", { size: 32 }),
        value: parseEther("5"),
      });
      assert.equal(
        await owner.readContract({ ...reg, functionName: "requiredStake", args: [NodeRole.Basic] }),
        parseEther("5"),
      );
      assert.equal(
        await owner.readContract({
          ...reg,
          functionName: "requiredStake",
          args: [NodeRole.GPUProvider],
        }),
        ten,
      );
      await expectRevert(
        alice.simulateContract({
          ...reg,
          functionName: "registerNode",
          args: [node, NodeRole.Basic, "eu", caps(), b32("sla"), "0x"],
          value: parseEther("1"),
        }),
        "NodeCert__StakeTooLow",
      );
      receipt = await mined(
        owner,
        owner.writeContract({
          ...reg,
          functionName: "setRoleStake",
          args: [NodeRole.Priority, parseEther("200")],
        }),
      );
      const key = BigInt(keccak256(stringToHex("roleStake"))) + BigInt(NodeRole.Priority);
      assert.deepEqual(event(receipt, abis.registry, "ConfigChanged"), {
        key: `0x${key.toString(16).padStart(64, "0")}`,
        value: parseEther("200"),
      });
      assert.equal(
        await owner.readContract({
          ...reg,
          functionName: "requiredStake",
          args: [NodeRole.Priority],
        }),
        parseEther("200"),
      );
    },
  );

  await fx.step(
    t,
    "addStake raises the stake and emits StakeAdded; only the operator may add",
    async () => {
      await registerNode(fx, alice, { pubkey: node });
      const receipt = await mined(
        alice,
        alice.writeContract({
          ...reg,
          functionName: "addStake",
          args: [node],
          value: parseEther("3"),
        }),
      );
      assert.deepEqual(event(receipt, abis.registry, "StakeAdded"), {
        nodePubkey: node,
        amount: parseEther("3"),
        stake: parseEther("13"),
      });
      assert.equal(await read("totalStaked"), parseEther("13"));
      const args = await expectRevert(
        bob.simulateContract({ ...reg, functionName: "addStake", args: [node], value: 1n }),
        "NodeCert__NotOperator",
      );
      assert.deepEqual(args, [bob.account.address, node]);
      await expectRevert(
        alice.simulateContract({
          ...reg,
          functionName: "addStake",
          args: [b32("nobody")],
          value: 1n,
        }),
        "NodeCert__UnknownNode",
      );
      await mined(
        alice,
        alice.writeContract({ ...reg, functionName: "deactivateNode", args: [node] }),
      );
      await expectRevert(
        alice.simulateContract({ ...reg, functionName: "addStake", args: [node], value: 1n }),
        "NodeCert__NotActive",
      );
    },
  );

  await fx.step(
    t,
    "heartbeat records the time and emits Heartbeat; only the operator may beat",
    async () => {
      await registerNode(fx, alice, { pubkey: node });
      await fx.increaseTime(HOUR + 1);
      assert.equal(
        await owner.readContract({ ...reg, functionName: "isLive", args: [node] }),
        false,
      );
      const receipt = await mined(
        alice,
        alice.writeContract({ ...reg, functionName: "heartbeat", args: [node] }),
      );
      const ts = (await owner.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
      assert.deepEqual(event(receipt, abis.registry, "Heartbeat"), {
        nodePubkey: node,
        timestamp: ts,
      });
      assert.equal((await getNode()).lastHeartbeat, ts);
      assert.equal(
        await owner.readContract({ ...reg, functionName: "isLive", args: [node] }),
        true,
      );
      await expectRevert(
        bob.simulateContract({ ...reg, functionName: "heartbeat", args: [node] }),
        "NodeCert__NotOperator",
      );
      await mined(
        alice,
        alice.writeContract({ ...reg, functionName: "deactivateNode", args: [node] }),
      );
      await expectRevert(
        alice.simulateContract({ ...reg, functionName: "heartbeat", args: [node] }),
        "NodeCert__NotActive",
      );
    },
  );

  await fx.step(t, "verifyHardware accepts an attester's EIP-712 signature once", async () => {
    await registerNode(fx, alice, { pubkey: node });
    const receipt = await mined(
      owner,
      owner.writeContract({
        ...reg,
        functionName: "setAttester",
        args: [attester.account.address, true],
      }),
    );
    assert.deepEqual(event(receipt, abis.registry, "AttesterSet"), {
      attester: attester.account.address,
      allowed: true,
    });
    assert.equal(
      await owner.readContract({
        ...reg,
        functionName: "isAttester",
        args: [attester.account.address],
      }),
      true,
    );
    const hwHash = b32("rtx-4090, 64GB, 2TB");
    const digest = hardwareTypedDigest(node, hwHash, 0n);
    assert.equal(
      await owner.readContract({ ...reg, functionName: "hardwareDigest", args: [node, hwHash] }),
      digest,
    );
    const signature = await fx.net.accounts[4]!.sign!({ hash: digest });
    // Anyone may submit the attestation; the signer is what counts.
    const verified = await mined(
      stranger,
      stranger.writeContract({
        ...reg,
        functionName: "verifyHardware",
        args: [node, hwHash, signature],
      }),
    );
    assert.deepEqual(event(verified, abis.registry, "HardwareVerified"), {
      nodePubkey: node,
      hwHash,
      attester: attester.account.address,
    });
    assert.equal((await getNode()).hwHash, hwHash);
    assert.equal((await getNode()).hwNonce, 1);
    // The nonce moved on: the same attestation cannot be submitted again.
    await expectRevert(
      stranger.simulateContract({
        ...reg,
        functionName: "verifyHardware",
        args: [node, hwHash, signature],
      }),
      "NodeCert__BadAttestation",
    );
  });

  await fx.step(
    t,
    "verifyHardware reverts with BadAttestation when the signer is no attester",
    async () => {
      await registerNode(fx, alice, { pubkey: node });
      const hwHash = b32("fake gpu");
      const digest = await owner.readContract({
        ...reg,
        functionName: "hardwareDigest",
        args: [node, hwHash],
      });
      const signature = await fx.net.accounts[5]!.sign!({ hash: digest });
      const args = await expectRevert(
        stranger.simulateContract({
          ...reg,
          functionName: "verifyHardware",
          args: [node, hwHash, signature],
        }),
        "NodeCert__BadAttestation",
      );
      assert.deepEqual(args, [stranger.account.address]);
      // A removed attester no longer counts, and a malformed signature recovers nobody.
      await mined(
        owner,
        owner.writeContract({
          ...reg,
          functionName: "setAttester",
          args: [attester.account.address, false],
        }),
      );
      const old = await fx.net.accounts[4]!.sign!({ hash: digest });
      await expectRevert(
        stranger.simulateContract({
          ...reg,
          functionName: "verifyHardware",
          args: [node, hwHash, old],
        }),
        "NodeCert__BadAttestation",
      );
      const short = await expectRevert(
        stranger.simulateContract({
          ...reg,
          functionName: "verifyHardware",
          args: [node, hwHash, "0x1234"],
        }),
        "NodeCert__BadAttestation",
      );
      assert.deepEqual(short, [zeroAddress]);
      await expectRevert(
        stranger.simulateContract({
          ...reg,
          functionName: "verifyHardware",
          args: [b32("nobody"), hwHash, signature],
        }),
        "NodeCert__UnknownNode",
      );
    },
  );

  await fx.step(
    t,
    "reportMissedHeartbeats reverts with NoMissedHeartbeat within the interval",
    async () => {
      await registerNode(fx, alice, { pubkey: node });
      await fx.increaseTime(HOUR - 60);
      const args = await expectRevert(
        stranger.simulateContract({ ...reg, functionName: "reportMissedHeartbeats", args: [node] }),
        "NodeCert__NoMissedHeartbeat",
      );
      assert.deepEqual(args, [node, 0n]);
    },
  );

  await fx.step(t, "reportMissedHeartbeats warns after 1 hour without slashing", async () => {
    await registerNode(fx, alice, { pubkey: node });
    await fx.increaseTime(HOUR + 10);
    const receipt = await mined(
      stranger,
      stranger.writeContract({ ...reg, functionName: "reportMissedHeartbeats", args: [node] }),
    );
    assert.deepEqual(event(receipt, abis.registry, "HeartbeatMissed"), {
      nodePubkey: node,
      missed: 1n,
      reporter: stranger.account.address,
    });
    assert.equal(events(receipt, abis.registry, "NodeSlashed").length, 0);
    assert.equal((await getNode()).stake, ten);
    assert.equal((await getNode()).missesPenalised, 1);
    assert.equal(await read("slashPool"), 0n);
    // The same miss cannot be reported twice.
    const args = await expectRevert(
      stranger.simulateContract({ ...reg, functionName: "reportMissedHeartbeats", args: [node] }),
      "NodeCert__NoMissedHeartbeat",
    );
    assert.deepEqual(args, [node, 1n]);
  });

  await fx.step(t, "reportMissedHeartbeats slashes 10% after 3 consecutive misses", async () => {
    await registerNode(fx, alice, { pubkey: node });
    await fx.increaseTime(HOUR + 10);
    await mined(
      stranger,
      stranger.writeContract({ ...reg, functionName: "reportMissedHeartbeats", args: [node] }),
    );
    await fx.increaseTime(2 * HOUR);
    const receipt = await mined(
      stranger,
      stranger.writeContract({ ...reg, functionName: "reportMissedHeartbeats", args: [node] }),
    );
    assert.equal(event(receipt, abis.registry, "HeartbeatMissed").missed, 3n);
    // Missing heartbeats costs stake but is not a verification offence.
    assert.deepEqual(event(receipt, abis.registry, "NodeSlashed"), {
      nodePubkey: node,
      amount: ten / 10n,
      reason: SlashReason.MissedHeartbeats,
      offences: 0n,
    });
    assert.equal(
      event(receipt, abis.reputation, "ReputationUpdated").dimension,
      stringToHex("slash", { size: 32 }),
    );
    assert.equal((await getNode()).stake, ten - ten / 10n);
    assert.equal(await read("slashPool"), ten / 10n);
    assert.equal(await read("totalStaked"), ten - ten / 10n);
    const record = await owner.readContract({
      ...fx.c.reputation,
      functionName: "getRecord",
      args: [node],
    });
    assert.equal(record.slashCount, 1);
    // A heartbeat resets the count: the next hour is a fresh warning, not a slash.
    await mined(alice, alice.writeContract({ ...reg, functionName: "heartbeat", args: [node] }));
    await expectRevert(
      stranger.simulateContract({ ...reg, functionName: "reportMissedHeartbeats", args: [node] }),
      "NodeCert__NoMissedHeartbeat",
    );
  });

  await fx.step(
    t,
    "reportMissedHeartbeats takes 10% of what is left per 3-miss window when reported late",
    async () => {
      await registerNode(fx, alice, { pubkey: node });
      await fx.increaseTime(6 * HOUR + 10);
      const receipt = await mined(
        stranger,
        stranger.writeContract({ ...reg, functionName: "reportMissedHeartbeats", args: [node] }),
      );
      const slashes = events(receipt, abis.registry, "NodeSlashed").map((l) => l.args.amount);
      const first = ten / 10n;
      // Two windows in one slash: stake x (1 - 0.9^2).
      assert.deepEqual(slashes, [first + (ten - first) / 10n]);
      assert.equal((await getNode()).stake, ten - first - (ten - first) / 10n);
      await mined(
        alice,
        alice.writeContract({ ...reg, functionName: "deactivateNode", args: [node] }),
      );
      await expectRevert(
        stranger.simulateContract({ ...reg, functionName: "reportMissedHeartbeats", args: [node] }),
        "NodeCert__NotActive",
      );
    },
  );

  await fx.step(t, "slashNode burns stake (into slashPool) and may deactivate", async () => {
    await registerNode(fx, alice, { pubkey: node });
    const receipt = await mined(
      slasher,
      slasher.writeContract({
        ...reg,
        functionName: "slashNode",
        args: [node, parseEther("4"), SlashReason.Cheating, true],
      }),
    );
    assert.deepEqual(event(receipt, abis.registry, "NodeSlashed"), {
      nodePubkey: node,
      amount: parseEther("4"),
      reason: SlashReason.Cheating,
      offences: 1n,
    });
    const ts = (await owner.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
    assert.deepEqual(event(receipt, abis.registry, "NodeDeactivated"), {
      nodePubkey: node,
      unlocksAt: ts + BigInt(7 * DAY),
    });
    const n = await getNode();
    assert.equal(n.stake, parseEther("6"));
    assert.equal(n.active, false);
    assert.equal(n.offences, 1);
    assert.equal(await read("slashPool"), parseEther("4"));
    assert.equal(await read("totalStaked"), parseEther("6"));
    assert.equal(
      await owner.readContract({ ...reg, functionName: "isComputeEligible", args: [node] }),
      false,
    );
    // Still slashable while unbonding, without a second NodeDeactivated.
    const again = await mined(
      slasher,
      slasher.writeContract({
        ...reg,
        functionName: "slashNode",
        args: [node, 1n, SlashReason.FailedJob, true],
      }),
    );
    assert.equal(events(again, abis.registry, "NodeDeactivated").length, 0);
  });

  await fx.step(
    t,
    "slashNode reverts with SlashExceedsStake when asked for more than the stake",
    async () => {
      await registerNode(fx, alice, { pubkey: node });
      const args = await expectRevert(
        slasher.simulateContract({
          ...reg,
          functionName: "slashNode",
          args: [node, ten + 1n, SlashReason.Cheating, false],
        }),
        "NodeCert__SlashExceedsStake",
      );
      assert.deepEqual(args, [ten + 1n, ten]);
      const notAuth = await expectRevert(
        stranger.simulateContract({
          ...reg,
          functionName: "slashNode",
          args: [node, 1n, SlashReason.Cheating, false],
        }),
        "Owned__NotAuthorised",
      );
      assert.deepEqual(notAuth, [stranger.account.address]);
      await expectRevert(
        slasher.simulateContract({
          ...reg,
          functionName: "slashNode",
          args: [b32("nobody"), 0n, SlashReason.Cheating, false],
        }),
        "NodeCert__UnknownNode",
      );
    },
  );

  await fx.step(t, "slashBps takes a share of stake for authorised callers", async () => {
    await registerNode(fx, alice, { pubkey: node });
    assert.equal(
      await owner.readContract({
        ...reg,
        functionName: "isAuthorised",
        args: [bob.account.address],
      }),
      true,
    );
    const receipt = await mined(
      bob,
      bob.writeContract({
        ...reg,
        functionName: "slashBps",
        args: [node, 5_000n, SlashReason.FakeGradients, false],
      }),
    );
    assert.equal(event(receipt, abis.registry, "NodeSlashed").amount, parseEther("5"));
    assert.equal((await getNode()).active, true);
    const args = await expectRevert(
      bob.simulateContract({
        ...reg,
        functionName: "slashBps",
        args: [node, 10_001n, SlashReason.FakeGradients, false],
      }),
      "NodeCert__BpsOutOfRange",
    );
    assert.deepEqual(args, [10_001n]);
    // Neither the owner nor an account it names now may slash: the set was fixed at deployment.
    for (const caller of [owner, stranger]) {
      await expectRevert(
        caller.simulateContract({
          ...reg,
          functionName: "slashBps",
          args: [node, 1n, SlashReason.Cheating, false],
        }),
        "Owned__NotAuthorised",
      );
    }
    await expectRevert(
      owner.simulateContract({
        ...reg,
        functionName: "setAuthorised",
        args: [stranger.account.address, true],
      }),
      "Owned__AuthorisedFixed",
    );
  });

  await fx.step(
    t,
    "slashed stake is burned: it stays in the registry and nobody, the owner included, withdraws it",
    async () => {
      await registerNode(fx, alice, { pubkey: node });
      await mined(
        slasher,
        slasher.writeContract({
          ...reg,
          functionName: "slashNode",
          args: [node, parseEther("2"), SlashReason.Cheating, true],
        }),
      );
      assert.equal(await read("slashPool"), parseEther("2"));
      // No payout of slashed stake is left in the ABI, nor in the bytecode for a raw call.
      assert.ok(
        !abis.registry.some((x) =>
          x.type === "function" && /slash.*withdraw|withdrawSlash/i.test(x.name)
        ),
      );
      const withdrawSlashPool = encodeFunctionData({
        abi: parseAbi(["function withdrawSlashPool(address to)"]),
        args: [owner.account.address],
      });
      for (const caller of [owner, slasher, stranger]) {
        const paid = await caller.call({
          account: caller.account,
          to: reg.address,
          data: withdrawSlashPool,
        })
          .then(() => true, () => false);
        assert.equal(paid, false, `${caller.account.address} took slashed stake`);
      }
      // The operator takes back the rest after unbonding; the burned 2 stay for good.
      await fx.increaseTime(7 * DAY + 1);
      await mined(
        alice,
        alice.writeContract({ ...reg, functionName: "withdrawStake", args: [node] }),
      );
      assert.equal(await read("totalStaked"), 0n);
      assert.equal(await read("slashPool"), parseEther("2"));
      assert.equal(await owner.getBalance({ address: reg.address }), parseEther("2"));
    },
  );

  await fx.step(
    t,
    "withdrawStake reverts with StillUnbonding then pays the operator after the delay",
    async () => {
      await registerNode(fx, alice, { pubkey: node });
      await expectRevert(
        alice.simulateContract({ ...reg, functionName: "withdrawStake", args: [node] }),
        "NodeCert__NotUnbonding",
      );
      const deact = await mined(
        alice,
        alice.writeContract({ ...reg, functionName: "deactivateNode", args: [node] }),
      );
      const unlocksAt = event(deact, abis.registry, "NodeDeactivated").unlocksAt;
      assert.equal((await getNode()).unlocksAt, unlocksAt);
      await expectRevert(
        alice.simulateContract({ ...reg, functionName: "deactivateNode", args: [node] }),
        "NodeCert__NotActive",
      );
      await fx.increaseTime(7 * DAY - 120);
      const args = await expectRevert(
        alice.simulateContract({ ...reg, functionName: "withdrawStake", args: [node] }),
        "NodeCert__StillUnbonding",
      );
      assert.equal(args[1], unlocksAt);
      await expectRevert(
        bob.simulateContract({ ...reg, functionName: "withdrawStake", args: [node] }),
        "NodeCert__NotOperator",
      );
      await fx.increaseTime(120);
      const before = await owner.getBalance({ address: alice.account.address });
      const receipt = await mined(
        alice,
        alice.writeContract({ ...reg, functionName: "withdrawStake", args: [node] }),
      );
      assert.deepEqual(event(receipt, abis.registry, "StakeWithdrawn"), {
        nodePubkey: node,
        operator: alice.account.address,
        amount: ten,
      });
      const gas = receipt.gasUsed * receipt.effectiveGasPrice;
      assert.equal(await owner.getBalance({ address: alice.account.address }), before + ten - gas);
      assert.equal(await read("totalStaked"), 0n);
      assert.equal(await owner.getBalance({ address: reg.address }), 0n);
      await expectRevert(
        alice.simulateContract({ ...reg, functionName: "withdrawStake", args: [node] }),
        "NodeCert__NothingToWithdraw",
      );
    },
  );

  /** The owner sets the heartbeat interval to `seconds`. */
  const setInterval = (seconds: number) =>
    mined(
      owner,
      owner.writeContract({
        ...reg,
        functionName: "setHeartbeatInterval",
        args: [BigInt(seconds)],
      }),
    );
  /** A stranger reports the node's misses; the receipt. */
  const report = () =>
    mined(
      stranger,
      stranger.writeContract({ ...reg, functionName: "reportMissedHeartbeats", args: [node] }),
    );
  /** What `stake` keeps after `windows` 3-miss windows: NodeCertRegistry._keptWad, truncating. */
  const keptAfter = (stake: bigint, windows: number) => {
    const wad = 10n ** 18n;
    let [base, kept, k] = [9_000n * wad / 10_000n, wad, windows];
    while (k > 0) {
      if (k & 1) kept = kept * base / wad;
      base = base * base / wad;
      k >>= 1;
    }
    return stake * kept / wad;
  };

  await fx.step(
    t,
    "attacker: an interval flashed short and back does not count a punctual node's hour at the short one",
    async () => {
      // Found in the contracts audit: the registry remembered one previous interval, so time
      // before a change was counted at whatever interval that change replaced. A node beat; 59
      // minutes later the owner set 60 s and, 61 s later, 3600 s again: the node's hour before
      // the first change then counted at 60 s, and anyone reported 60 misses (10 -> 1.216 ARTH).
      // Now each stretch counts in its own interval: the node missed the flash's one 60 s beat
      // (a warning), and flashes repeated each time the rule allows never add up to a slash.
      await registerNode(fx, alice, { pubkey: node });
      for (let flash = 0; flash < 3; flash++) {
        // The node beats a minute into the restored hour, then punctually.
        await fx.increaseTime(60);
        await mined(
          alice,
          alice.writeContract({ ...reg, functionName: "heartbeat", args: [node] }),
        );
        await fx.increaseTime(59 * 60);
        await setInterval(60);
        await fx.increaseTime(61);
        await setInterval(HOUR);
        const receipt = await report();
        assert.equal(event(receipt, abis.registry, "HeartbeatMissed").missed, 1n);
        assert.equal(events(receipt, abis.registry, "NodeSlashed").length, 0);
      }
      assert.equal((await getNode()).stake, ten);
      assert.equal(await read("slashPool"), 0n);
    },
  );

  await fx.step(
    t,
    "attacker: a lasting shortening charges a silent node from the change on, never before it",
    async () => {
      // Found in the contracts audit, beside the flash above: once a shortened interval had been
      // in force for a whole previous interval, the next change counted a node silent since before
      // the shortening at the short interval from its last beat, 58 minutes of the old hour
      // included (118 misses instead of 60). A shortening that lasts still applies going forward.
      await registerNode(fx, alice, { pubkey: node });
      await fx.increaseTime(58 * 60);
      await setInterval(60);
      // Three minutes of the short interval without a beat: three misses, 10%.
      await fx.increaseTime(3 * 60);
      const first = await report();
      assert.equal(event(first, abis.registry, "HeartbeatMissed").missed, 3n);
      assert.equal((await getNode()).stake, keptAfter(ten, 1));
      // The short interval lasts an hour; the owner then changes it twice more.
      await fx.increaseTime(57 * 60);
      await setInterval(600);
      const second = await report();
      // 0 misses in the 58 minutes of the first hour + 60 of the short hour.
      assert.equal(event(second, abis.registry, "HeartbeatMissed").missed, 60n);
      assert.equal((await getNode()).stake, keptAfter(keptAfter(ten, 1), 19));
      await fx.increaseTime(600);
      await setInterval(HOUR);
      // Silent across three changes: each stretch still counts in its own interval (+1 at 600 s).
      const third = await report();
      assert.equal(event(third, abis.registry, "HeartbeatMissed").missed, 61n);
      assert.equal(events(third, abis.registry, "NodeSlashed").length, 0);
      assert.equal(
        await owner.readContract({ ...reg, functionName: "isLive", args: [node] }),
        false,
      );
      // Its next beat settles nothing more and it is live again.
      await mined(alice, alice.writeContract({ ...reg, functionName: "heartbeat", args: [node] }));
      assert.equal((await getNode()).stake, keptAfter(keptAfter(ten, 1), 19));
      assert.equal(
        await owner.readContract({ ...reg, functionName: "isLive", args: [node] }),
        true,
      );
    },
  );

  await fx.step(
    t,
    "configuration setters revert with InvalidConfig or ZeroAddress for unusable values",
    async () => {
      for (
        const [functionName, value] of [
          ["setHeartbeatInterval", 0n],
          ["setHeartbeatInterval", 86_401n],
          ["setUnbondingDelay", 365n * 86_400n + 1n],
          ["setMinStake", 0n],
        ] as const
      ) {
        await expectRevert(
          owner.simulateContract({ ...reg, functionName, args: [value] }),
          "NodeCert__InvalidConfig",
        );
      }
      await expectRevert(
        owner.simulateContract({
          ...reg,
          functionName: "setAttester",
          args: ["0x0000000000000000000000000000000000000000", true],
        }),
        "Owned__ZeroAddress",
      );
    },
  );

  await fx.step(
    t,
    "setHeartbeatInterval and setUnbondingDelay take effect; setReputation only once",
    async () => {
      for (
        const [functionName, value] of [
          ["setHeartbeatInterval", 600n],
          ["setUnbondingDelay", 60n],
        ] as const
      ) {
        const receipt = await mined(
          owner,
          owner.writeContract({ ...reg, functionName, args: [value] }),
        );
        assert.equal(event(receipt, abis.registry, "ConfigChanged").value, value);
      }
      assert.equal(await owner.readContract({ ...reg, functionName: "heartbeatInterval" }), 600n);
      assert.equal(await owner.readContract({ ...reg, functionName: "unbondingDelay" }), 60n);
      await registerNode(fx, alice, { pubkey: node });
      await fx.increaseTime(601);
      assert.equal(
        await owner.readContract({ ...reg, functionName: "isLive", args: [node] }),
        false,
      );
      const deact = await mined(
        alice,
        alice.writeContract({ ...reg, functionName: "deactivateNode", args: [node] }),
      );
      const ts = (await owner.getBlock({ blockNumber: deact.blockNumber })).timestamp;
      assert.equal(event(deact, abis.registry, "NodeDeactivated").unlocksAt, ts + 60n);
      // The reputation registry is set once: no later account can swallow (or revert) slashes.
      const linked = await owner.readContract({ ...reg, functionName: "reputation" });
      for (const value of [zeroAddress, stranger.account.address]) {
        await expectRevert(
          owner.simulateContract({ ...reg, functionName: "setReputation", args: [value] }),
          "Owned__AlreadyLinked",
        );
      }
      assert.equal(linked.toLowerCase(), fx.c.reputation.address.toLowerCase());
      const slash = await mined(
        slasher,
        slasher.writeContract({
          ...reg,
          functionName: "slashNode",
          args: [node, 1n, SlashReason.Cheating, false],
        }),
      );
      assert.equal(events(slash, abis.reputation, "ReputationUpdated").length, 1);
    },
  );

  await fx.step(t, "owner-only functions revert with NotOwner for other accounts", async () => {
    const me = stranger.account.address;
    const calls = [
      () => stranger.simulateContract({ ...reg, functionName: "setMinStake", args: [1n] }),
      () =>
        stranger.simulateContract({
          ...reg,
          functionName: "setRoleStake",
          args: [NodeRole.Basic, 1n],
        }),
      () => stranger.simulateContract({ ...reg, functionName: "setHeartbeatInterval", args: [1n] }),
      () => stranger.simulateContract({ ...reg, functionName: "setUnbondingDelay", args: [1n] }),
      () => stranger.simulateContract({ ...reg, functionName: "setReputation", args: [me] }),
      () => stranger.simulateContract({ ...reg, functionName: "setAttester", args: [me, true] }),
      () => stranger.simulateContract({ ...reg, functionName: "setAuthorised", args: [me, true] }),
      () => stranger.simulateContract({ ...reg, functionName: "transferOwnership", args: [me] }),
    ];
    for (const call of calls) assert.deepEqual(await expectRevert(call(), "Owned__NotOwner"), [me]);
  });

  await fx.step(t, "transferOwnership hands over control; zero addresses revert", async () => {
    await expectRevert(
      owner.simulateContract({ ...reg, functionName: "transferOwnership", args: [zeroAddress] }),
      "Owned__ZeroAddress",
    );
    await expectRevert(
      owner.simulateContract({
        ...fx.c.jobs,
        functionName: "setAuthorised",
        args: [zeroAddress, true],
      }),
      "Owned__ZeroAddress",
    );
    const receipt = await mined(
      owner,
      owner.writeContract({
        ...reg,
        functionName: "transferOwnership",
        args: [bob.account.address],
      }),
    );
    assert.deepEqual(event(receipt, abis.registry, "OwnershipTransferred"), {
      previousOwner: owner.account.address,
      newOwner: bob.account.address,
    });
    assert.equal(await owner.readContract({ ...reg, functionName: "owner" }), bob.account.address);
    await expectRevert(
      owner.simulateContract({ ...reg, functionName: "setMinStake", args: [1n] }),
      "Owned__NotOwner",
    );
    await mined(bob, bob.writeContract({ ...reg, functionName: "setMinStake", args: [2n] }));
  });
  await fx.step(t, "constants and defaults match the design's staking policy", async () => {
    const rd = <
      N extends
        | "BPS"
        | "MISSED_HEARTBEAT_SLASH_BPS"
        | "MISSES_PER_SLASH"
        | "minStake"
        | "heartbeatInterval"
        | "unbondingDelay",
    >(
      functionName: N,
    ) => owner.readContract({ ...reg, functionName });
    assert.equal(await rd("BPS"), 10_000n);
    assert.equal(await rd("MISSED_HEARTBEAT_SLASH_BPS"), 1_000n);
    assert.equal(await rd("MISSES_PER_SLASH"), 3n);
    assert.equal(await rd("minStake"), parseEther("1"));
    assert.equal(await rd("heartbeatInterval"), BigInt(HOUR));
    assert.equal(await rd("unbondingDelay"), BigInt(7 * DAY));
    assert.equal(
      await owner.readContract({ ...reg, functionName: "reputation" }),
      fx.addrs.reputation,
    );
    assert.equal(
      await owner.readContract({ ...reg, functionName: "isAuthorised", args: [fx.addrs.proofs] }),
      true,
    );
  });
});
