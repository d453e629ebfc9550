/**
 * The attacks of issue 12, each written from the attacker's side: raw contract calls from an
 * adversarial account, in the order and at the time that hurt honest nodes and job owners on the
 * contracts before the fix. Every step asserts the attack no longer pays. (The front-run model CID
 * is in model_registry.test.ts, the replayed attestation also in node_cert_registry.test.ts.)
 */
import assert from "node:assert/strict";
import {
  type Abi,
  encodeAbiParameters,
  encodeFunctionData,
  encodePacked,
  type Hex,
  keccak256,
  parseAbi,
  parseEther,
} from "viem";
import {
  abis,
  b32,
  bindingSignatureOf,
  createDidArgs,
  didOf,
  event,
  events,
  expectRevert,
  HOUR,
  mined,
  nodeKeyOf,
  nodePubkey,
  registerNode,
  roundCommit,
  setupFixture,
  SlashReason,
  submitJob,
  trainParams,
} from "./_fixture.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { signBinding } from "../../lib/crypto/keys.ts";
import { arthaDomain, typedDigest } from "../../lib/crypto/domain.ts";
import { stepsProof, stepsRoot } from "../../lib/verify/steps_tree.ts";
import { merkleProof, merkleRoot } from "../../lib/crypto/merkle.ts";
import { bytesToHex } from "../../lib/crypto/digest.ts";
import { STEP_RECORD_BYTES } from "../../lib/round/local_training.ts";
import { CHALLENGE_ROUNDS } from "../../lib/verify/commit_retention.ts";
import { committeeSeed, pickCommittee } from "./_committee.ts";
import { Outcome } from "../../lib/abi/enums.ts";
import { MIN_ATTESTERS } from "../../lib/verify/committee_chain.ts";

const STAKE = parseEther("10");

Deno.test("attacks on the on-chain economy (issue 12)", async (t) => {
  // Account 11 stands in for ProofOfCompute where a step needs a slash of its own (deployment
  // fixes who may slash).
  await using fx = await setupFixture({ accounts: 12, authorised: { registry: [11] } });
  const co = fx.coordinator;
  const attacker = fx.clients[2]!;
  const accomplice = fx.clients[3]!;
  const honest = [fx.clients[4]!, fx.clients[5]!, fx.clients[6]!];
  const jobOwner = fx.clients[7]!;
  const { jobs, proofs, registry, verification, disputes, dids } = fx.c;

  const stakeOf = async (
    n: Hex,
  ) => (await co.readContract({ ...registry, functionName: "getNode", args: [n] }));
  const commit = (client: ArthaClient, jobId: Hex, node: Hex, round: number, result: string) =>
    mined(
      client,
      client.writeContract({
        ...proofs,
        functionName: "commitRound",
        args: [roundCommit(jobId, node, round, { result })],
      }),
    );
  const closeRound = (jobId: Hex, round: number, digest: Hex = b32(`w-${round}`)) =>
    mined(
      co,
      co.writeContract({
        ...jobs,
        functionName: "closeRound",
        args: [jobId, round, `cp-${round}`, digest],
      }),
    );
  /** Closes `round` with a spot check drawn for it (the rate at 100% for that draw only). */
  const closeSpotChecked = async (jobId: Hex, round: number) => {
    const rate = await co.readContract({ ...verification, functionName: "spotCheckBps" });
    const setRate = (bps: bigint) =>
      mined(
        fx.owner,
        fx.owner.writeContract({ ...verification, functionName: "setSpotCheckBps", args: [bps] }),
      );
    await setRate(10_000n);
    await closeRound(jobId, round);
    const spot = await mined(
      co,
      co.writeContract({ ...verification, functionName: "drawSpotCheck", args: [jobId, round] }),
    );
    await setRate(rate);
    return spot;
  };
  /** Registers `n` under `op` unless an earlier step did. */
  const registerOnce = async (n: Hex, op: ArthaClient) => {
    const known = await co.readContract({ ...registry, functionName: "operatorOf", args: [n] });
    if (BigInt(known) === 0n) await registerNode(fx, op, { pubkey: n });
  };
  /** An hour and more passes; only the `live` nodes heartbeat (the others are reassignable). */
  const onlyLive = async (live: readonly (readonly [Hex, ArthaClient])[]) => {
    await fx.increaseTime(HOUR + 1);
    for (const [n, op] of live) {
      await mined(op, op.writeContract({ ...registry, functionName: "heartbeat", args: [n] }));
    }
  };
  /** Whether the verification contract refuses a call by an entry point's old signature. */
  const oldEntryRefused = (caller: ArthaClient, signature: string, args: readonly unknown[]) =>
    caller.call({
      account: caller.account,
      to: verification.address,
      data: encodeFunctionData({
        abi: parseAbi([`function ${signature}`] as string[]),
        args,
      } as never),
    }).then(() => false, () => true);
  /** A running job of `rounds` over `nodes` (node, operator) with the given task groups. */
  const startJob = async (
    nodes: [Hex, ArthaClient][],
    p: { rounds?: number; groups?: number[]; budget?: bigint; stepsPerRound?: number } = {},
  ) => {
    for (const [n, op] of nodes) await registerOnce(n, op);
    const jobId = await submitJob(fx, jobOwner, p.budget ?? parseEther("10"), {
      rounds: p.rounds ?? 2,
      nodesWanted: nodes.length,
      stepsPerRound: p.stepsPerRound ?? 10,
    });
    await mined(
      co,
      co.writeContract({ ...jobs, functionName: "assign", args: [jobId, nodes.map(([n]) => n)] }),
    );
    if (p.groups) {
      await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "setTaskGroups",
          args: [jobId, nodes.map(([n]) => n), p.groups],
        }),
      );
    }
    return jobId;
  };
  /** Time runs to the job's stall (no round closed in its window); its owner abandons it. */
  const abandonOnceStalled = async (jobId: Hex) => {
    const stalledAt = await co.readContract({ ...jobs, functionName: "stalledAt", args: [jobId] });
    await fx.increaseTime(Number(stalledAt - (await co.getBlock()).timestamp));
    await mined(
      jobOwner,
      jobOwner.writeContract({ ...jobs, functionName: "abandonJob", args: [jobId] }),
    );
  };
  /** A dispute party's ends: its commit's digests and the openings of s_0 and s_N of `steps`. */
  const disputeEnds = (jobId: Hex, round: number, node: Hex, steps: Hex[], tag: string) => {
    const c = roundCommit(jobId, node, round, { result: tag });
    const n = steps.length - 1;
    return {
      lossDigest: c.lossDigest,
      gradientDigest: c.gradientDigest,
      weightsDigest: steps[n]!,
      stepsRoot: stepsRoot(steps),
      startDigest: steps[0]!,
      startProof: stepsProof(steps, 0),
      endProof: stepsProof(steps, n),
    };
  };
  /** Each side commits the round its `steps` end in. */
  const commitSides = async (
    jobId: Hex,
    round: number,
    sides: readonly (readonly [ArthaClient, Hex, Hex[], string])[],
  ) => {
    for (const [client, node, steps, tag] of sides) {
      await mined(
        client,
        client.writeContract({
          ...proofs,
          functionName: "commitRound",
          args: [{
            ...roundCommit(jobId, node, round, { result: tag }),
            weightsDigest: steps.at(-1)!,
          }],
        }),
      );
    }
  };

  await fx.step(t, "1. self-reported work no longer pays: the job's terms do", async () => {
    const [a, h] = [nodePubkey("atk-work"), nodePubkey("honest-work")];
    const jobId = await startJob([[a, attacker], [h, honest[0]!]], { rounds: 1 });
    // The old commit carried steps, samples and gpuSeconds as the node stated them.
    const oldCommitAbi = [{
      type: "function",
      name: "commitRound",
      stateMutability: "nonpayable",
      inputs: [{
        name: "c",
        type: "tuple",
        components: [
          { name: "jobId", type: "bytes32" },
          { name: "round", type: "uint32" },
          { name: "nodePubkey", type: "bytes32" },
          { name: "steps", type: "uint32" },
          { name: "samples", type: "uint32" },
          { name: "gpuSeconds", type: "uint32" },
          { name: "lossDigest", type: "bytes32" },
          { name: "gradientDigest", type: "bytes32" },
          { name: "weightsDigest", type: "bytes32" },
          { name: "proofsRoot", type: "bytes32" },
        ],
      }],
      outputs: [],
    }] as const;
    const max = 2 ** 32 - 1;
    const inflated = { ...roundCommit(jobId, a, 0, { result: "same" }) };
    const data = encodeFunctionData({
      abi: oldCommitAbi,
      functionName: "commitRound",
      args: [{ ...inflated, steps: max, samples: max, gpuSeconds: max }],
    });
    await assert.rejects(attacker.call({ to: proofs.address, data }), "no self-reported work");
    await commit(attacker, jobId, a, 0, "same");
    await commit(honest[0]!, jobId, h, 0, "same");
    await closeRound(jobId, 0);
    const fin = await mined(
      attacker,
      attacker.writeContract({ ...proofs, functionName: "finalize", args: [jobId] }),
    );
    const [ra, rh] = events(fin, abis.proofs, "RewardCredited").map((l) =>
      l.args.batchReward! + l.args.stepReward! + l.args.roundReward! + l.args.accuracyBonus!
    );
    // Same committed work, same pay: before the fix the attacker took 8.5 of the 10 ARTH.
    assert.equal(ra, rh);
  });

  await fx.step(
    t,
    "2. a colluding minority cannot settle redundancy against the honest majority",
    async () => {
      const c1 = nodePubkey("colluder-1");
      const c2 = nodePubkey("colluder-2");
      const hs = [0, 1, 2].map((i) => nodePubkey(`group-honest-${i}`));
      const jobId = await startJob([
        [c1, attacker],
        [c2, accomplice],
        [hs[0]!, honest[0]!],
        [hs[1]!, honest[1]!],
        [hs[2]!, honest[2]!],
      ], { groups: [1, 1, 1, 1, 1] });
      await commit(attacker, jobId, c1, 0, "fake");
      await commit(accomplice, jobId, c2, 0, "fake");
      await commit(honest[0]!, jobId, hs[0]!, 0, "right");
      // Settling now (2 fakes vs 1 honest commit) slashed the honest node before the fix.
      await expectRevert(
        attacker.simulateContract({
          ...verification,
          functionName: "settleRedundancy",
          args: [jobId, 0, 1],
        }),
        "Verification__RoundOpen",
      );
      // Even if the round closed now, two of five is no majority of the group.
      const early = await fx.rpc("evm_snapshot");
      await closeRound(jobId, 0);
      await expectRevert(
        attacker.simulateContract({
          ...verification,
          functionName: "settleRedundancy",
          args: [jobId, 0, 1],
        }),
        "Verification__NoConsensus",
      );
      await fx.rpc("evm_revert", [early]);
      await commit(honest[1]!, jobId, hs[1]!, 0, "right");
      await commit(honest[2]!, jobId, hs[2]!, 0, "right");
      await closeRound(jobId, 0);
      await mined(
        attacker,
        attacker.writeContract({
          ...verification,
          functionName: "settleRedundancy",
          args: [jobId, 0, 1],
        }),
      );
      for (const h of hs) assert.equal((await stakeOf(h)).stake, STAKE);
      for (const c of [c1, c2]) assert.equal((await stakeOf(c)).stake, STAKE / 2n);
    },
  );

  await fx.step(t, "3. spot checks cannot be drawn before the work exists", async () => {
    const n = nodePubkey("spot-node");
    const jobId = await startJob([[n, honest[0]!]], { rounds: 20 });
    for (let round = 0; round < 20; round++) {
      await expectRevert(
        attacker.simulateContract({
          ...verification,
          functionName: "drawSpotCheck",
          args: [jobId, round],
        }),
        "Verification__RoundOpen",
      );
    }
    // After the close, whoever draws gets the draw the closing block's hash fixes.
    await commit(honest[0]!, jobId, n, 0, "r0");
    const closed = await closeRound(jobId, 0);
    const drawn = await mined(
      attacker,
      attacker.writeContract({ ...verification, functionName: "drawSpotCheck", args: [jobId, 0] }),
    );
    const seed = event(drawn, abis.verification, "SpotCheckDrawn").seed;
    const block = await co.getBlock({ blockNumber: closed.blockNumber });
    assert.equal(
      seed,
      keccak256(encodeAbiParameters(
        [{ type: "string" }, { type: "bytes32" }, { type: "bytes32" }, { type: "uint32" }],
        ["spot", block.hash!, jobId, 0],
      )),
    );
  });

  await fx.step(
    t,
    "4. a lone disputer with a made-up tree loses its bond and stake, not the honest node",
    async () => {
      const a = nodePubkey("disputer");
      const h = nodePubkey("defender");
      const jobId = await startJob([[a, attacker], [h, honest[0]!]], {
        groups: [1, 1],
        stepsPerRound: 4,
      });
      const right = [0, 1, 2, 3, 4].map((i) => b32(`right-step-${i}`));
      const madeUp = [right[0]!, right[1]!, b32("lie-2"), b32("lie-3"), b32("lie-4")];
      const commitSteps = (client: ArthaClient, node: Hex, steps: Hex[], tag: string) =>
        mined(
          client,
          client.writeContract({
            ...proofs,
            functionName: "commitRound",
            args: [{
              ...roundCommit(jobId, node, 0, { result: tag }),
              weightsDigest: steps[4]!,
            }],
          }),
        );
      await commitSteps(attacker, a, madeUp, "lie");
      await commitSteps(honest[0]!, h, right, "right");
      const ends = (node: Hex, steps: Hex[], tag: string) =>
        disputeEnds(jobId, 0, node, steps, tag);
      // Before the fix opening cost nothing.
      await expectRevert(
        attacker.simulateContract({
          ...disputes,
          functionName: "open",
          args: [jobId, 0, a, h, ends(a, madeUp, "lie")],
        }),
        "Dispute__WrongBond",
      );
      const opened = await mined(
        attacker,
        attacker.writeContract({
          ...disputes,
          functionName: "open",
          args: [jobId, 0, a, h, ends(a, madeUp, "lie")],
          value: parseEther("1"),
        }),
      );
      const id = event(opened, abis.disputes, "DisputeOpened").disputeId;
      // The honest node defends and bisects (its worker does this by itself).
      await mined(
        honest[0]!,
        honest[0]!.writeContract({
          ...disputes,
          functionName: "defend",
          args: [id, ends(h, right, "right")],
        }),
      );
      const move = async (client: ArthaClient, challengerSide: boolean, steps: Hex[]) => {
        const mid = await co.readContract({ ...disputes, functionName: "midpoint", args: [id] });
        await mined(
          client,
          client.writeContract({
            ...disputes,
            functionName: "reveal",
            args: [id, challengerSide, steps[mid]!, stepsProof(steps, mid)],
          }),
        );
      };
      let phase = 2;
      while (phase === 2) {
        await move(attacker, true, madeUp);
        await move(honest[0]!, false, right);
        phase = (await co.readContract({ ...disputes, functionName: "disputeOf", args: [id] }))
          .phase;
      }
      // Two nodes: no majority, so the arbiter recomputes the single step.
      assert.equal(phase, 4);
      const d = await co.readContract({ ...disputes, functionName: "disputeOf", args: [id] });
      await mined(
        co,
        co.writeContract({ ...disputes, functionName: "arbitrate", args: [id, right[d.hi]!] }),
      );
      assert.equal((await stakeOf(h)).stake, STAKE);
      assert.equal((await stakeOf(a)).stake, STAKE / 2n);
      assert.equal(
        await co.readContract({
          ...disputes,
          functionName: "claimableOf",
          args: [honest[0]!.account.address],
        }),
        parseEther("1"),
      );
      // Before the fix a silent defender lost 10% by default; with a group majority the majority
      // decides even a timeout, and without one the arbiter does.
    },
  );

  await fx.step(t, "5. nobody can squat a DID or point it at their own key", async () => {
    const victimDid = didOf("victim-auth");
    const victimKey = nodeKeyOf("victim-auth");
    // The attacker registers the victim's DID hash and auth key with its own encryption key,
    // signing with its own key: the proof is not the auth key's.
    const forged = createDidArgs(fx, attacker, "attacker-auth", b32("attacker-enc"), "bafy-x");
    await expectRevert(
      attacker.simulateContract({
        ...dids,
        functionName: "createDID",
        args: [victimDid, victimKey.publicKeyHex, b32("attacker-enc"), "bafy-x", forged[4]],
      }),
      "DID__BadKeyProof",
    );
    // Replaying the victim's own proof (made for the victim's account) does not work either.
    const victim = honest[1]!;
    const genuine = createDidArgs(fx, victim, "victim-auth", b32("victim-enc"), "bafy-v");
    await expectRevert(
      attacker.simulateContract({ ...dids, functionName: "createDID", args: genuine }),
      "DID__BadKeyProof",
    );
    // A DID hash that is not keccak256 of the key is refused.
    await expectRevert(
      attacker.simulateContract({
        ...dids,
        functionName: "createDID",
        args: [b32("any"), forged[1], forged[2], forged[3], forged[4]],
      }),
      "DID__HashMismatch",
    );
    await mined(
      victim,
      victim.writeContract({ ...dids, functionName: "createDID", args: genuine }),
    );
    const doc = await co.readContract({ ...dids, functionName: "getDID", args: [victimDid] });
    assert.equal(doc.owner, victim.account.address);
    assert.equal(doc.encKey, b32("victim-enc"));
  });

  await fx.step(
    t,
    "6. offences escalate at 3 or more, and missed heartbeats are not offences",
    async () => {
      const sleepy = nodePubkey("sleepy");
      const repeat = nodePubkey("repeat-offender");
      const jobId = await startJob([[sleepy, honest[0]!], [repeat, attacker]], { rounds: 1 });
      await commit(honest[0]!, jobId, sleepy, 0, "s");
      await commit(attacker, jobId, repeat, 0, "r");
      // Two missed-heartbeat windows (6 hours), reported: stake shrinks, offences stay 0.
      await fx.increaseTime(6 * HOUR + 10);
      await mined(
        attacker,
        attacker.writeContract({
          ...registry,
          functionName: "reportMissedHeartbeats",
          args: [sleepy],
        }),
      );
      assert.equal((await stakeOf(sleepy)).offences, 0);
      const before = (await stakeOf(sleepy)).stake;
      // One failed challenge is one offence: 10%, still active (before: 100% on this one).
      const issued = await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "issueChallenge",
          args: [jobId, 0, sleepy],
        }),
      );
      const c1 = event(issued, abis.verification, "ChallengeIssued").challengeId;
      await fx.increaseTime(HOUR + 1);
      await mined(
        attacker,
        attacker.writeContract({ ...verification, functionName: "timeout", args: [c1] }),
      );
      const s = await stakeOf(sleepy);
      assert.equal(s.stake, before - before / 10n);
      assert.equal(s.active, true);
      assert.equal(s.offences, 1);
      // A node already at 3 offences that fails a challenge loses everything and is deactivated
      // (before: 10% and it stayed active).
      const slasher = fx.clients[11]!;
      for (let i = 0; i < 3; i++) {
        await mined(
          slasher,
          slasher.writeContract({
            ...registry,
            functionName: "slashNode",
            args: [repeat, 1n, SlashReason.FailedVerification, false],
          }),
        );
      }
      assert.equal((await stakeOf(repeat)).offences, 3);
      const second = await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "issueChallenge",
          args: [jobId, 0, repeat],
        }),
      );
      const c2 = event(second, abis.verification, "ChallengeIssued").challengeId;
      await fx.increaseTime(HOUR + 1);
      await mined(
        honest[0]!,
        honest[0]!.writeContract({ ...verification, functionName: "timeout", args: [c2] }),
      );
      const r = await stakeOf(repeat);
      assert.equal(r.stake, 0n);
      assert.equal(r.active, false);
    },
  );

  await fx.step(t, "7. nobody can register (and so block) another node's key", async () => {
    const victimNode = nodePubkey("victim-node");
    const victim = honest[2]!;
    // The attacker has no signature of the key; it tries the victim's own binding, made for the
    // victim's account, and a signature by another key.
    const victimsBinding = await bindingSignatureOf(fx, victim.account.address, victimNode);
    const nonce = BigInt(
      (await co.readContract({
        ...registry,
        functionName: "nodesOf",
        args: [attacker.account.address],
      })).length,
    );
    const otherKeys = signBinding(nodeKeyOf("attacker-key"), {
      chainId: fx.net.chainId,
      registry: registry.address,
      operator: attacker.account.address,
      nonce,
    });
    for (const sig of [victimsBinding, otherKeys, "0x" as Hex]) {
      await expectRevert(
        attacker.simulateContract({
          ...registry,
          functionName: "registerNode",
          args: [victimNode, 1, "eu", b32("caps"), b32("sla"), sig],
          value: STAKE,
        }),
        "NodeCert__BadBinding",
      );
    }
    await registerNode(fx, victim, { pubkey: victimNode });
    assert.equal((await stakeOf(victimNode)).operator, victim.account.address);
  });

  await fx.step(t, "9. an old hardware attestation cannot roll the record back", async () => {
    const n = nodePubkey("hw-node");
    await registerNode(fx, honest[0]!, { pubkey: n });
    const attester = fx.net.accounts[11]!;
    await mined(
      fx.owner,
      fx.owner.writeContract({
        ...registry,
        functionName: "setAttester",
        args: [attester.address, true],
      }),
    );
    const attest = async (hw: Hex) => {
      const digest = await co.readContract({
        ...registry,
        functionName: "hardwareDigest",
        args: [n, hw],
      });
      return await attester.sign!({ hash: digest });
    };
    const oldSig = await attest(b32("old gpu"));
    await mined(
      attacker,
      attacker.writeContract({
        ...registry,
        functionName: "verifyHardware",
        args: [n, b32("old gpu"), oldSig],
      }),
    );
    const newSig = await attest(b32("new gpu"));
    await mined(
      honest[0]!,
      honest[0]!.writeContract({
        ...registry,
        functionName: "verifyHardware",
        args: [n, b32("new gpu"), newSig],
      }),
    );
    await expectRevert(
      attacker.simulateContract({
        ...registry,
        functionName: "verifyHardware",
        args: [n, b32("old gpu"), oldSig],
      }),
      "NodeCert__BadAttestation",
    );
    assert.equal((await stakeOf(n)).hwHash, b32("new gpu"));
    // The digest is EIP-712 in the registry's domain.
    const expected = typedDigest(
      arthaDomain(fx.net.chainId, registry.address),
      "HardwareAttestation",
      [
        { name: "nodePubkey", type: "bytes32" },
        { name: "hwHash", type: "bytes32" },
        { name: "nonce", type: "uint256" },
      ],
      { nodePubkey: n, hwHash: b32("x"), nonce: 2n },
    );
    assert.equal(
      await co.readContract({ ...registry, functionName: "hardwareDigest", args: [n, b32("x")] }),
      expected,
    );
  });

  await fx.step(
    t,
    "10. a node silent for 400 days is slashed at flat gas, and a late heartbeat settles misses",
    async () => {
      const silent = nodePubkey("silent-400");
      const late = nodePubkey("late-beat");
      await registerNode(fx, honest[1]!, { pubkey: silent });
      await registerNode(fx, attacker, { pubkey: late });
      await fx.increaseTime(400 * 24 * HOUR);
      const receipt = await mined(
        honest[2]!,
        honest[2]!.writeContract({
          ...registry,
          functionName: "reportMissedHeartbeats",
          args: [silent],
        }),
      );
      console.log(`  gas reportMissedHeartbeats after 400 days: ${receipt.gasUsed}`);
      assert.ok(receipt.gasUsed < 150_000n, `gas ${receipt.gasUsed}`);
      assert.equal((await stakeOf(silent)).stake, 0n);
      // The late node heartbeats itself instead of being reported: it pays for the misses.
      const beat = await mined(
        attacker,
        attacker.writeContract({ ...registry, functionName: "heartbeat", args: [late] }),
      );
      assert.equal(events(beat, abis.registry, "NodeSlashed").length, 1);
      assert.equal((await stakeOf(late)).stake, 0n);
    },
  );

  await fx.step(t, "11. signatures made for one deployment do not verify for another", async () => {
    const other = await deployArtha(fx.owner, { coordinators: [co.account.address] });
    const n = nodePubkey("two-deployments");
    // A binding signed for the first registry is useless on the second.
    const sig = await bindingSignatureOf(fx, honest[0]!.account.address, n);
    await expectRevert(
      honest[0]!.simulateContract({
        address: other.registry,
        abi: abis.registry,
        functionName: "registerNode",
        args: [n, 1, "eu", b32("caps"), b32("sla"), sig],
        value: STAKE,
      }),
      "NodeCert__BadBinding",
    );
    // The same owner and nonce give different job ids in the two job managers.
    const params = {
      modelCid: "m",
      datasetCid: "d",
      paramsHash: b32("p"),
      rounds: 1,
      nodesWanted: 1,
      redundancy: 1,
      baseRatePerSecond: 0n,
      targetImprovementBps: 0,
      stepsPerRound: 1,
      samplesPerStep: 1,
      secondsPerStep: 1,
    };
    const fresh = fx.clients[10]!;
    const a = await mined(
      fresh,
      fresh.writeContract({ ...jobs, functionName: "submitTrain", args: [params], value: 1n }),
    );
    const b = await mined(
      fresh,
      fresh.writeContract({
        address: other.jobs,
        abi: abis.jobs,
        functionName: "submitTrain",
        args: [params],
        value: 1n,
      }),
    );
    assert.notEqual(
      event(a, abis.jobs, "JobSubmitted").jobId,
      event(b, abis.jobs, "JobSubmitted").jobId,
    );
  });

  await fx.step(
    t,
    "settlement waits out the delay, so a last-round cheater can be caught",
    async () => {
      // Found in the red-team pass: finalize right after the last round paid a cheater whose
      // challenge had not timed out yet.
      await mined(
        fx.owner,
        fx.owner.writeContract({
          ...proofs,
          functionName: "setSettlementDelay",
          args: [BigInt(2 * HOUR)],
        }),
      );
      const cheat = nodePubkey("last-round-cheat");
      const h = nodePubkey("last-round-honest");
      const jobId = await startJob([[cheat, attacker], [h, honest[1]!]], { rounds: 1 });
      await commit(attacker, jobId, cheat, 0, "c");
      await commit(honest[1]!, jobId, h, 0, "h");
      await closeRound(jobId, 0);
      const issued = await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "issueChallenge",
          args: [jobId, 0, cheat],
        }),
      );
      await expectRevert(
        attacker.simulateContract({ ...proofs, functionName: "finalize", args: [jobId] }),
        "PoC__SettlementDelay",
      );
      await fx.increaseTime(HOUR + 1);
      await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "timeout",
          args: [event(issued, abis.verification, "ChallengeIssued").challengeId],
        }),
      );
      await fx.increaseTime(HOUR);
      const fin = await mined(
        attacker,
        attacker.writeContract({ ...proofs, functionName: "finalize", args: [jobId] }),
      );
      const paid = events(fin, abis.proofs, "RewardCredited").map((l) => [
        l.args.nodePubkey,
        l.args.stepReward! + l.args.roundReward!,
      ]);
      assert.deepEqual(paid.find(([n]) => n === cheat)![1], 0n);
      assert.ok((paid.find(([n]) => n === h)![1] as bigint) > 0n);
    },
  );

  await fx.step(
    t,
    "12. a job owner cannot price its job so that settlement overflows and never pays",
    async () => {
      // Found in the second audit: a base rate of 2^250 made finalize revert forever, so the
      // honest node's committed round was never paid and the escrow stayed locked.
      const budget = parseEther("1");
      await expectRevert(
        jobOwner.simulateContract({
          ...jobs,
          functionName: "submitTrain",
          args: [{ ...trainParams({ rounds: 1 }), baseRatePerSecond: 2n ** 250n }],
          value: budget,
        }),
        "JobManager__InvalidParams",
      );
      // The largest rate still accepted (the whole budget a second) settles and pays.
      const h = nodePubkey("rate-honest");
      await registerNode(fx, honest[2]!, { pubkey: h });
      const jobId = await submitJob(fx, jobOwner, budget, {
        rounds: 1,
        nodesWanted: 1,
        baseRatePerSecond: budget,
      });
      await mined(co, co.writeContract({ ...jobs, functionName: "assign", args: [jobId, [h]] }));
      await commit(honest[2]!, jobId, h, 0, "r");
      await closeRound(jobId, 0);
      await fx.increaseTime(2 * HOUR + 1);
      const fin = await mined(
        attacker,
        attacker.writeContract({ ...proofs, functionName: "finalize", args: [jobId] }),
      );
      const paid = event(fin, abis.proofs, "RewardCredited");
      assert.equal(paid.nodePubkey, h);
      assert.ok(paid.batchReward > 0n);
    },
  );

  await fx.step(
    t,
    "13. a job owner cannot assign its own nodes to take the workers' pools back",
    async () => {
      // Found in the second audit: the owner filled the spare slots of nodesWanted x redundancy
      // with its own nodes, outside any task group, and they shared the pools pro rata.
      const own = nodePubkey("owner-sybil");
      await registerNode(fx, accomplice, { pubkey: own });
      const jobId = await submitJob(fx, jobOwner, parseEther("1"), {
        rounds: 1,
        nodesWanted: 1,
        redundancy: 10,
      });
      await expectRevert(
        jobOwner.simulateContract({ ...jobs, functionName: "assign", args: [jobId, [own]] }),
        "Owned__NotAuthorised",
      );
      const h = nodePubkey("owner-sybil-victim");
      await registerNode(fx, honest[0]!, { pubkey: h });
      await mined(co, co.writeContract({ ...jobs, functionName: "assign", args: [jobId, [h]] }));
      await fx.increaseTime(4 * HOUR); // h goes silent: only the coordinator may move its task
      await expectRevert(
        jobOwner.simulateContract({ ...jobs, functionName: "reassign", args: [jobId, h, own] }),
        "Owned__NotAuthorised",
      );
    },
  );

  await fx.step(
    t,
    "14. the coordinator cannot set a node's reward multiplier or penalise it on ProofOfCompute",
    async () => {
      // Found in the second audit: deployment authorised the coordinator on ProofOfCompute, so it
      // could zero an honest node's quality and double a colluder's before settlement. Quality
      // is verification's (VerificationManager) alone.
      const [h, c] = [nodePubkey("quality-honest"), nodePubkey("quality-colluder")];
      const jobId = await startJob([[h, honest[1]!], [c, accomplice]], { rounds: 1 });
      await expectRevert(
        co.simulateContract({ ...proofs, functionName: "setQuality", args: [jobId, h, 0n] }),
        "Owned__NotAuthorised",
      );
      await expectRevert(
        co.simulateContract({ ...proofs, functionName: "setQuality", args: [jobId, c, 20_000n] }),
        "Owned__NotAuthorised",
      );
      await expectRevert(
        co.simulateContract({
          ...proofs,
          functionName: "penalise",
          args: [jobId, h, 10_000n, SlashReason.Cheating, true],
        }),
        "Owned__NotAuthorised",
      );
    },
  );
  await fx.step(
    t,
    "15. nobody can take a data owner's dataset id before it registers",
    async () => {
      // Found in the second audit: the id was the caller's choice, so whoever saw the owner's
      // registration coming could register the same id under its own DID (and its own data).
      const owner = honest[2]!;
      const ownerDid = didOf("dataset-owner-auth");
      const attackerDid = didOf("dataset-squatter-auth");
      await mined(
        owner,
        owner.writeContract({
          ...dids,
          functionName: "createDID",
          args: createDidArgs(fx, owner, "dataset-owner-auth", b32("o-enc"), "bafy-o"),
        }),
      );
      await mined(
        attacker,
        attacker.writeContract({
          ...dids,
          functionName: "createDID",
          args: createDidArgs(fx, attacker, "dataset-squatter-auth", b32("s-enc"), "bafy-s"),
        }),
      );
      const cid = "bafy-owners-ciphertext";
      const datasetId = keccak256(encodePacked(["bytes32", "string"], [ownerDid, cid]));
      for (const [did, c] of [[attackerDid, cid], [attackerDid, "bafy-poison"]] as const) {
        await expectRevert(
          attacker.simulateContract({
            ...dids,
            functionName: "registerDataset",
            args: [datasetId, did, c],
          }),
          "DID__InvalidArgument",
        );
      }
      await mined(
        owner,
        owner.writeContract({
          ...dids,
          functionName: "registerDataset",
          args: [datasetId, ownerDid, cid],
        }),
      );
      const d = await co.readContract({ ...dids, functionName: "getDataset", args: [datasetId] });
      assert.equal(d.ownerDid, ownerDid);
      assert.equal(d.cid, cid);
    },
  );
  /** Settlement as `client` calls it: what each node was credited, all pools together. */
  const finalizeAs = async (client: ArthaClient, jobId: Hex) => {
    const fin = await mined(
      client,
      client.writeContract({ ...proofs, functionName: "finalize", args: [jobId] }),
    );
    return new Map(
      events(fin, abis.proofs, "RewardCredited").map((l) => [
        l.args.nodePubkey!,
        l.args.batchReward! + l.args.stepReward! + l.args.roundReward! + l.args.accuracyBonus!,
      ]),
    );
  };
  /** `client` settles the job: `cheat` is credited nothing, `h` something. */
  const paysHonestOnly = async (client: ArthaClient, jobId: Hex, cheat: Hex, h: Hex) => {
    const paid = await finalizeAs(client, jobId);
    assert.equal(paid.get(cheat), 0n);
    assert.ok(paid.get(h)! > 0n);
  };
  const setDelay = (seconds: number) =>
    mined(
      fx.owner,
      fx.owner.writeContract({
        ...proofs,
        functionName: "setSettlementDelay",
        args: [BigInt(seconds)],
      }),
    );

  /** A job of the attacker's node and `mate`'s honest one, both committed in round 0, closed. */
  const committedPair = async (label: string, mate: ArthaClient, rounds = 1) => {
    const [cheat, h] = [nodePubkey(`${label}-cheat`), nodePubkey(`${label}-honest`)];
    const jobId = await startJob([[cheat, attacker], [h, mate]], { rounds });
    await commit(attacker, jobId, cheat, 0, `${label}-c`);
    await commit(mate, jobId, h, 0, `${label}-h`);
    await closeRound(jobId, 0);
    return { cheat, h, jobId };
  };

  await fx.step(
    t,
    "16. a challenge of the last round that ends after the delay still holds the cheater's pay",
    async () => {
      // Found in the third audit: a challenge issued after the last round closed ends after the
      // settlement delay does (both 1 h), so the challenged node called finalize in between and
      // was paid in full; the timeout then cost it stake only. The coordinator challenges every
      // node that committed without delivering only once the round closes.
      await setDelay(HOUR);
      const { cheat, h, jobId } = await committedPair("late-challenge", honest[1]!);
      await fx.increaseTime(10 * 60);
      const issued = await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "issueChallenge",
          args: [jobId, 0, cheat],
        }),
      );
      const challengeId = event(issued, abis.verification, "ChallengeIssued").challengeId;
      await fx.increaseTime(HOUR - 10 * 60 + 1); // the delay is over, the challenge is not
      await expectRevert(
        attacker.simulateContract({ ...proofs, functionName: "finalize", args: [jobId] }),
        "PoC__CasesOpen",
      );
      // Nor can settlement be held back for ever: no new case opens once it is due.
      await expectRevert(
        co.simulateContract({
          ...verification,
          functionName: "issueChallenge",
          args: [jobId, 0, h],
        }),
        "PoC__VerificationOver",
      );
      await fx.increaseTime(10 * 60);
      await mined(
        attacker,
        attacker.writeContract({ ...verification, functionName: "timeout", args: [challengeId] }),
      );
      await paysHonestOnly(attacker, jobId, cheat, h);
    },
  );

  await fx.step(
    t,
    "17. a defender that drags a last-round dispute past the delay is not paid before the verdict",
    async () => {
      // The same with a dispute: opened while the last round runs, moved at the end of every
      // 30-minute window, it outlasted the 1 h delay and the faking defender was paid.
      await setDelay(HOUR);
      const cheat = nodePubkey("slow-defender");
      const h = nodePubkey("last-round-disputer");
      const jobId = await startJob([[cheat, attacker], [h, honest[2]!]], {
        rounds: 1,
        groups: [1, 1],
        stepsPerRound: 4,
      });
      const right = [0, 1, 2, 3, 4].map((i) => b32(`last-right-${i}`));
      const faked = [
        right[0]!,
        b32("last-fake-1"),
        b32("last-fake-2"),
        b32("last-fake-3"),
        b32(
          "last-fake-4",
        ),
      ];
      const ends = (node: Hex, steps: Hex[], tag: string) =>
        disputeEnds(jobId, 0, node, steps, tag);
      await commitSides(jobId, 0, [[attacker, cheat, faked, "fake"], [
        honest[2]!,
        h,
        right,
        "right",
      ]]);
      const opened = await mined(
        honest[2]!,
        honest[2]!.writeContract({
          ...disputes,
          functionName: "open",
          args: [jobId, 0, h, cheat, ends(h, right, "right")],
          value: parseEther("1"),
        }),
      );
      const id = event(opened, abis.disputes, "DisputeOpened").disputeId;
      await closeRound(jobId, 0);
      const window = Number(await co.readContract({ ...disputes, functionName: "moveWindow" }));
      await fx.increaseTime(window - 60);
      await mined(
        attacker,
        attacker.writeContract({
          ...disputes,
          functionName: "defend",
          args: [id, ends(cheat, faked, "fake")],
        }),
      );
      const phase = async () =>
        (await co.readContract({ ...disputes, functionName: "disputeOf", args: [id] })).phase;
      while (await phase() === 2) {
        const mid = await co.readContract({ ...disputes, functionName: "midpoint", args: [id] });
        await mined(
          honest[2]!,
          honest[2]!.writeContract({
            ...disputes,
            functionName: "reveal",
            args: [id, true, right[mid]!, stepsProof(right, mid)],
          }),
        );
        await fx.increaseTime(window - 60);
        await mined(
          attacker,
          attacker.writeContract({
            ...disputes,
            functionName: "reveal",
            args: [id, false, faked[mid]!, stepsProof(faked, mid)],
          }),
        );
      }
      // The delay has passed; the single step awaits the arbiter.
      assert.equal(await phase(), 4);
      await expectRevert(
        attacker.simulateContract({ ...proofs, functionName: "finalize", args: [jobId] }),
        "PoC__CasesOpen",
      );
      const d = await co.readContract({ ...disputes, functionName: "disputeOf", args: [id] });
      await mined(
        co,
        co.writeContract({ ...disputes, functionName: "arbitrate", args: [id, right[d.hi]!] }),
      );
      await paysHonestOnly(attacker, jobId, cheat, h);
    },
  );
  await fx.step(
    t,
    "18. a node that withdrew its stake commits unbacked rounds and is not paid for them",
    async () => {
      // Found in the third audit: commitRound does not read the registry, so a node could
      // deactivate, wait out the unbonding delay, withdraw its stake and keep committing on a long
      // job it was assigned to: made-up rounds were paid, and nothing was left to slash when they
      // were caught.
      await setDelay(HOUR);
      const { cheat: quitter, h, jobId } = await committedPair("unbonded", honest[0]!, 2);
      const nodeAs = (fn: "deactivateNode" | "withdrawStake") =>
        mined(attacker, attacker.writeContract({ ...registry, functionName: fn, args: [quitter] }));
      await nodeAs("deactivateNode");
      const unbonding = await co.readContract({ ...registry, functionName: "unbondingDelay" });
      await fx.increaseTime(Number(unbonding) + 1);
      await nodeAs("withdrawStake");
      assert.equal((await stakeOf(quitter)).stake, 0n);
      await commit(attacker, jobId, quitter, 1, "made-up");
      await commit(honest[0]!, jobId, h, 1, "h1");
      await closeRound(jobId, 1);
      await fx.increaseTime(HOUR + 1);
      await paysHonestOnly(honest[0]!, jobId, quitter, h);
    },
  );
  await fx.step(
    t,
    "19. an answered challenge holds the cheater's pay until the validator has checked the answer",
    async () => {
      // Found in the third audit: an answer's openings only show it matches the commit; the
      // validator's recomputation decides whether the work was honest and penalises after. A
      // cheater that answered made-up step records just before the delay ended, then called
      // finalize, was paid before the validator's check could zero its share.
      await setDelay(HOUR);
      const cheat = nodePubkey("answers-then-settles");
      const h = nodePubkey("checked-honest");
      const STEPS = 10;
      const records = new Uint8Array(STEPS * STEP_RECORD_BYTES).fill(7); // made-up steps
      const lossDigest = merkleRoot(records, STEP_RECORD_BYTES);
      const jobId = await startJob([[cheat, attacker], [h, honest[1]!]], {
        rounds: 1,
        stepsPerRound: STEPS,
      });
      const made = { ...roundCommit(jobId, cheat, 0, { result: "made-up" }), lossDigest };
      await mined(
        attacker,
        attacker.writeContract({ ...proofs, functionName: "commitRound", args: [made] }),
      );
      await commit(honest[1]!, jobId, h, 0, "h");
      await closeRound(jobId, 0);
      await fx.increaseTime(10 * 60);
      const issued = await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "issueStepChallenge",
          args: [jobId, 0, cheat],
        }),
      );
      const { challengeId, step } = event(issued, abis.verification, "ChallengeIssued");
      await fx.increaseTime(HOUR - 11 * 60);
      const at = Number(step) * STEP_RECORD_BYTES;
      await mined(
        attacker,
        attacker.writeContract({
          ...verification,
          functionName: "respondStep",
          args: [
            challengeId!,
            made.lossDigest,
            made.gradientDigest,
            made.weightsDigest,
            bytesToHex(records.subarray(at, at + STEP_RECORD_BYTES)),
            merkleProof(records, Number(step), STEP_RECORD_BYTES),
          ],
        }),
      );
      await fx.increaseTime(2 * 60); // the delay is over
      await expectRevert(
        attacker.simulateContract({ ...proofs, functionName: "finalize", args: [jobId] }),
        "PoC__CasesOpen",
      );
      // Nor may the cheater release its own answer before the validation window ends.
      await expectRevert(
        attacker.simulateContract({
          ...verification,
          functionName: "release",
          args: [challengeId!],
        }),
        "Verification__WindowOpen",
      );
      // The validator recomputes the step, finds the record made up and rejects the answer
      // (an event of its own: a timeout's ChallengeFailed costs 10%, this 50%).
      const rejected = await mined(
        co,
        co.writeContract({ ...verification, functionName: "rejectAnswer", args: [challengeId!] }),
      );
      assert.equal(
        event(rejected, abis.verification, "ChallengeRejected").challengeId,
        challengeId,
      );
      await paysHonestOnly(attacker, jobId, cheat, h);
    },
  );

  await fx.step(
    t,
    "20. the contracts' owner cannot relink them to take a running job's escrow",
    async () => {
      // Found in the fourth audit: setLinks could be called again, so the owner pointed the job
      // manager's ProofOfCompute at its own account, credited itself any job's escrow and
      // withdrew it (the threat model says the owner never moves escrow).
      const owner = fx.owner;
      const h = nodePubkey("relink-victim");
      const jobId = await startJob([[h, honest[0]!]], { rounds: 2 });
      await commit(honest[0]!, jobId, h, 0, "h");
      const escrow = (await co.readContract({ ...jobs, functionName: "getJob", args: [jobId] }))
        .escrow;
      const relinks = [
        () =>
          owner.simulateContract({
            ...jobs,
            functionName: "setLinks",
            args: [fx.addrs.registry, owner.account.address],
          }),
        () =>
          owner.simulateContract({
            ...proofs,
            functionName: "setLinks",
            args: [owner.account.address, fx.addrs.registry, fx.addrs.reputation],
          }),
        () =>
          owner.simulateContract({
            ...verification,
            functionName: "setLinks",
            args: [fx.addrs.proofs, owner.account.address, fx.addrs.reputation, fx.addrs.disputes],
          }),
        () =>
          owner.simulateContract({
            ...disputes,
            functionName: "setLinks",
            args: [
              fx.addrs.proofs,
              fx.addrs.registry,
              owner.account.address,
              fx.addrs.verification,
            ],
          }),
      ];
      for (const relink of relinks) await expectRevert(relink(), "Owned__AlreadyLinked");
      await expectRevert(
        owner.simulateContract({
          ...jobs,
          functionName: "credit",
          args: [jobId, owner.account.address, escrow],
        }),
        "JobManager__NotProofOfCompute",
      );
      const after = await co.readContract({ ...jobs, functionName: "getJob", args: [jobId] });
      assert.equal(after.escrow, escrow);
    },
  );

  await fx.step(
    t,
    "21. a silent node cannot wipe its unreported missed heartbeats by leaving",
    async () => {
      // Found in the fourth audit: deactivateNode did not settle misses, and neither reporting
      // nor heartbeating works on an inactive node, so a node silent for days left with all its
      // stake.
      const quiet = nodePubkey("quiet-leaver");
      await registerNode(fx, attacker, { pubkey: quiet });
      await fx.increaseTime(10 * HOUR); // 10 intervals missed: 3 windows of 3
      const left = await mined(
        attacker,
        attacker.writeContract({ ...registry, functionName: "deactivateNode", args: [quiet] }),
      );
      const [slash] = events(left, abis.registry, "NodeSlashed");
      assert.equal(slash?.args.reason, SlashReason.MissedHeartbeats);
      assert.equal((await stakeOf(quiet)).stake, STAKE * 729n / 1000n);
    },
  );

  await fx.step(
    t,
    "22. shortening the heartbeat interval does not turn an honest node's past into misses",
    async () => {
      // Found in the fourth audit: misses were the time since the last heartbeat over the
      // current interval, so right after the owner shortened it to a minute anyone could report
      // an honest node that beat 50 minutes before for 50 misses (16 windows: 81% of its stake).
      const punctual = nodePubkey("punctual");
      await registerNode(fx, honest[1]!, { pubkey: punctual });
      await fx.increaseTime(50 * 60);
      await mined(
        fx.owner,
        fx.owner.writeContract({ ...registry, functionName: "setHeartbeatInterval", args: [60n] }),
      );
      await expectRevert(
        attacker.simulateContract({
          ...registry,
          functionName: "reportMissedHeartbeats",
          args: [punctual],
        }),
        "NodeCert__NoMissedHeartbeat",
      );
      assert.ok(await co.readContract({ ...registry, functionName: "isLive", args: [punctual] }));
      // A second change waits out one interval of the first; the node beats in time.
      await expectRevert(
        fx.owner.simulateContract({
          ...registry,
          functionName: "setHeartbeatInterval",
          args: [30n],
        }),
        "NodeCert__InvalidConfig",
      );
      await mined(
        honest[1]!,
        honest[1]!.writeContract({ ...registry, functionName: "heartbeat", args: [punctual] }),
      );
      assert.equal((await stakeOf(punctual)).stake, STAKE);
      await fx.increaseTime(61);
      await mined(
        fx.owner,
        fx.owner.writeContract({
          ...registry,
          functionName: "setHeartbeatInterval",
          args: [BigInt(HOUR)],
        }),
      );
    },
  );

  await fx.step(
    t,
    "23. after round 0 a defender that claims another start loses at once",
    async () => {
      // Found in the fourth audit: a start different from the challenger's was taken as round
      // 0's open question and sent to the group majority; with none the dispute sat unresolved
      // until the arbiter, the honest challenger's bond locked. After round 0 the start is the
      // chain's own checkpoint, so a defender that opens another is simply wrong.
      const h = nodePubkey("anchored-challenger");
      const a = nodePubkey("made-up-start");
      const jobId = await startJob([[h, honest[2]!], [a, attacker]], {
        rounds: 2,
        groups: [1, 1],
        stepsPerRound: 4,
      });
      await commit(honest[2]!, jobId, h, 0, "h0");
      await commit(attacker, jobId, a, 0, "h0");
      const anchored = b32("round-1-start");
      await closeRound(jobId, 0, anchored);
      const right = [anchored, ...[1, 2, 3, 4].map((i) => b32(`r1-right-${i}`))];
      const theirs = [b32("elsewhere"), ...[1, 2, 3, 4].map((i) => b32(`r1-lie-${i}`))];
      const ends = (node: Hex, steps: Hex[], tag: string) =>
        disputeEnds(jobId, 1, node, steps, tag);
      await commitSides(jobId, 1, [[honest[2]!, h, right, "r1-right"], [
        attacker,
        a,
        theirs,
        "r1-lie",
      ]]);
      const opened = await mined(
        honest[2]!,
        honest[2]!.writeContract({
          ...disputes,
          functionName: "open",
          args: [jobId, 1, h, a, ends(h, right, "r1-right")],
          value: parseEther("1"),
        }),
      );
      const id = event(opened, abis.disputes, "DisputeOpened").disputeId;
      await mined(
        attacker,
        attacker.writeContract({
          ...disputes,
          functionName: "defend",
          args: [id, ends(a, theirs, "r1-lie")],
        }),
      );
      const d = await co.readContract({ ...disputes, functionName: "disputeOf", args: [id] });
      assert.equal(d.phase, 3, "settled, not left to an arbiter");
      assert.equal((await stakeOf(a)).stake, STAKE / 2n);
      assert.equal((await stakeOf(h)).stake, STAKE);
      assert.equal(
        await co.readContract({
          ...disputes,
          functionName: "claimableOf",
          args: [honest[2]!.account.address],
        }),
        parseEther("1"),
      );
    },
  );

  await fx.step(t, "24. a verifier cannot draw a step no honest record opens", async () => {
    // Found in the fifth audit: the challenge entry points took the verifier's count of steps and
    // drew the step below it. A verifier (one of several authorised, or a buggy one) naming
    // 1,000,000 steps for a 4-step job drew a padding leaf of the node's steps tree: no record
    // opens it, and the honest node was slashed 10% at the timeout. The chain's own steps per
    // round bound the draw now.
    const h = nodePubkey("challenged-honestly");
    const jobId = await startJob([[h, honest[0]!]], { rounds: 2, stepsPerRound: 4 });
    await commit(honest[0]!, jobId, h, 0, "h0");
    await mined(
      fx.owner,
      fx.owner.writeContract({
        ...verification,
        functionName: "setAuthorised",
        args: [attacker.account.address, true],
      }),
    );
    const named = oldEntryRefused(
      attacker,
      "issueStepChallenge(bytes32 jobId, uint32 round, bytes32 nodePubkey, uint32 steps)",
      [jobId, 0, h, 1_000_000],
    );
    assert.ok(await named, "the verifier's own step count is no longer taken");
    // Three draws, as many as one commit may get (attack 33); under the old draw below 1,000,000
    // each would have been past step 3 but for a chance of 4e-6.
    for (let i = 0; i < 3; i++) {
      const issued = await mined(
        attacker,
        attacker.writeContract({
          ...verification,
          functionName: "issueStepChallenge",
          args: [jobId, 0, h],
        }),
      );
      const { step } = event(issued, abis.verification, "ChallengeIssued");
      assert.ok(step! < 4, `step ${step} is one of the job's 4`);
    }
  });

  await fx.step(
    t,
    "25. the coordinator cannot penalise a node without evidence on chain",
    async () => {
      // Found in the fifth audit: penaliseFor took any authorised caller, and the coordinator is
      // one. With no challenge, dispute or round behind it, it zeroed honest nodes' pay on a job
      // (their pools went to its own node) and stacked offences at 0 bps until a node lost its
      // whole stake. penaliseFor is the dispute game's now; the coordinator's verdicts name an
      // answered challenge (rejectAnswer) or a round the aggregator committed in (once).
      const [sybil, h] = [nodePubkey("coordinators-own"), nodePubkey("penalised-for-nothing")];
      const jobId = await startJob([[sybil, attacker], [h, honest[1]!]], { rounds: 1 });
      await commit(attacker, jobId, sybil, 0, "s0");
      await commit(honest[1]!, jobId, h, 0, "h0");
      await closeRound(jobId, 0);
      for (let i = 0; i < 3; i++) {
        await expectRevert(
          co.simulateContract({
            ...verification,
            functionName: "penaliseFor",
            args: [jobId, h, 0n, SlashReason.FailedVerification, false],
            account: co.account,
          }),
          "Verification__NotDisputeGame",
        );
      }
      await expectRevert(
        co.simulateContract({
          ...verification,
          functionName: "rejectAnswer",
          args: [999_999n],
          account: co.account,
        }),
        "Verification__NotAnswered",
      );
      const aggregator = (round: number) =>
        co.simulateContract({
          ...verification,
          functionName: "penaliseAggregator",
          args: [jobId, round, h],
          account: co.account,
        });
      await expectRevert(aggregator(1), "Verification__NotAggregatorOffence");
      const standing = await stakeOf(h);
      assert.equal(standing.stake, STAKE);
      assert.equal(standing.offences, 0);
      await fx.increaseTime(2 * HOUR);
      const paid = await finalizeAs(attacker, jobId);
      assert.ok(paid.get(h)! > 0n, "the honest node is paid");
    },
  );

  await fx.step(
    t,
    "26. nobody can re-roll a committee by moving reputations once its seed is known",
    async () => {
      // Found in the sixth audit: the committee was weighted by reputation read when the
      // coordinator drew it, while its seed was fixed earlier, by the block that closed the round.
      // Anyone who saw the seed could move weights in between (settleRedundancy is anyone's call
      // and raises every agreeing member's score; a node times its challenge answer the same way)
      // and pick, among the draws that gave, the committee that seats their own nodes. Now a
      // request fixes the weights, and the draw's seed is the request block's hash.
      const pairs = 7;
      const nodes: [Hex, ArthaClient][] = [];
      for (let i = 0; i < 2 * pairs; i++) {
        nodes.push([nodePubkey(`committee-pool-${i}`), i < 2 ? attacker : honest[i % 3]!]);
      }
      const groups = nodes.map((_, i) => 1 + Math.floor(i / 2));
      const jobId = await startJob(nodes, { rounds: 1, groups });
      for (const [i, [n, op]] of nodes.entries()) {
        await commit(op, jobId, n, 0, `pair-${groups[i]}`);
      }
      const spot = await closeSpotChecked(jobId, 0);
      const candidates = nodes.map(([n]) => n);
      // The one-step draw, weighted by the scores of its own block, is gone (the probe itself
      // takes an entry point that exists).
      assert.equal(await oldEntryRefused(co, "CHALLENGE_ROUNDS()", []), false);
      const oneStep = oldEntryRefused(
        co,
        "drawCommittee(bytes32 jobId, uint32 round, bytes32[] candidates, uint256 size)",
        [jobId, 0, candidates, 10n],
      );
      assert.ok(await oneStep, "a committee is no longer drawn in one step");
      const requested = await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "requestCommittee",
          args: [jobId, 0, candidates, 10n],
        }),
      );
      const { weights } = event(requested, abis.verification, "CommitteeRequested");
      // The request's block is mined: the attacker now knows the seed, and settles its own
      // pair's group, which lifts both members' scores from 0 to 250,000.
      const seed = committeeSeed(
        event(spot, abis.verification, "SpotCheckDrawn").seed!,
        requested.blockHash,
      );
      const fixedByRequest = pickCommittee(seed, candidates, weights!, 10);
      await mined(
        attacker,
        attacker.writeContract({
          ...verification,
          functionName: "settleRedundancy",
          args: [jobId, 0, 1],
        }),
      );
      // Every candidate committed and is eligible: its live weight is its reputation + 1.
      const live = await Promise.all(candidates.map(async (n) =>
        1n + await co.readContract({
          ...fx.c.reputation,
          functionName: "reputationOf",
          args: [n],
        })
      ));
      assert.ok(live[0]! > weights![0]!, "the settlement moved the attacker's live weight");
      // Which committee a given seed draws is chance (anvil's block hashes follow the clock), so
      // the premise is checked over this seed and 15 derived from it: moving weights changes the
      // draw for some of them (all 16 unchanged has odds far below 1e-9).
      const seeds = [
        seed,
        ...Array.from(
          { length: 15 },
          (_, i) => keccak256(encodePacked(["bytes32", "uint8"], [seed, i])),
        ),
      ];
      assert.ok(
        seeds.some((x) =>
          JSON.stringify(pickCommittee(x, candidates, live, 10)) !==
            JSON.stringify(pickCommittee(x, candidates, weights!, 10))
        ),
        "live weights would have drawn other committees",
      );
      await expectRevert(
        attacker.simulateContract({
          ...verification,
          functionName: "drawCommittee",
          args: [jobId, 0, candidates, live, 10n],
          account: attacker.account,
        }),
        "Verification__RequestMismatch",
      );
      const drawn = await mined(
        attacker,
        attacker.writeContract({
          ...verification,
          functionName: "drawCommittee",
          args: [jobId, 0, candidates, weights!, 10n],
        }),
      );
      const d = event(drawn, abis.verification, "CommitteeDrawn");
      assert.equal(d.seed, seed);
      assert.deepEqual(d.members, fixedByRequest, "the committee is the one the request fixed");
    },
  );

  await fx.step(
    t,
    "27. a verifier cannot challenge a round older than nodes are told to keep",
    async () => {
      // Found in the worker audit: any committed round could be challenged until settlement, and a
      // worker keeps what the chain can ask (lib/verify/commit_retention.ts). A verifier reaching
      // further back asked for bytes an honest node had dropped, and it lost 10% at the timeout.
      const keep = await co.readContract({ ...verification, functionName: "CHALLENGE_ROUNDS" });
      assert.equal(Number(keep), CHALLENGE_ROUNDS, "the worker keeps what the chain can ask");
      const h = nodePubkey("kept-sixteen-rounds");
      const jobId = await startJob([[h, honest[2]!]], { rounds: CHALLENGE_ROUNDS + 2 });
      for (let r = 0; r <= CHALLENGE_ROUNDS; r++) {
        if (r < 2) await commit(honest[2]!, jobId, h, r, `h${r}`);
        await closeRound(jobId, r);
      }
      const challenge = (round: number, kind: "issueChallenge" | "issueStepChallenge") =>
        co.simulateContract({
          ...verification,
          functionName: kind,
          args: [jobId, round, h],
          account: co.account,
        });
      for (const kind of ["issueChallenge", "issueStepChallenge"] as const) {
        await expectRevert(challenge(0, kind), "Verification__RoundTooOld");
        await challenge(1, kind); // exactly CHALLENGE_ROUNDS behind: still asked
      }
      await expectRevert(
        co.simulateContract({
          ...verification,
          functionName: "requestGradientSample",
          args: [jobId, 0, h, 64n, 100n],
          account: co.account,
        }),
        "Verification__RoundTooOld",
      );
    },
  );

  await fx.step(
    t,
    "28. a node a task is reassigned to is judged by its predecessor's group",
    async () => {
      // Found in the worker audit: a spare that took over a silent node's task sat in no task
      // group (group 0): redundancy never compared its commits, so a fake one was never slashed,
      // nor could it be disputed, while the silent predecessor still counted against every
      // majority. replaceInGroup puts it in the predecessor's place, from the open round on.
      const [h1, h2, silent, spare] = ["judged-1", "judged-2", "goes-silent", "the-spare"].map(
        nodePubkey,
      ) as [Hex, Hex, Hex, Hex];
      const ops: [Hex, ArthaClient][] = [[h1, honest[0]!], [h2, honest[1]!], [silent, honest[2]!]];
      const jobId = await startJob(ops, { rounds: 2, groups: [1, 1, 1] });
      await registerOnce(spare, attacker);
      await onlyLive([[h1, honest[0]!], [h2, honest[1]!], [spare, attacker]]);
      const replace = (from: Hex, to: Hex, by: ArthaClient = co) =>
        by.simulateContract({
          ...verification,
          functionName: "replaceInGroup",
          args: [jobId, from, to],
          account: by.account,
        });
      await expectRevert(replace(silent, spare), "Verification__NotReplacement"); // not moved yet
      await mined(
        co,
        co.writeContract({ ...jobs, functionName: "reassign", args: [jobId, silent, spare] }),
      );
      await expectRevert(replace(silent, spare, attacker), "Owned__NotAuthorised");
      await mined(co, co.writeContract((await replace(silent, spare)).request));
      await expectRevert(replace(silent, spare), "Verification__AlreadyGrouped");
      assert.equal(
        await co.readContract({ ...verification, functionName: "groupOf", args: [jobId, spare] }),
        1,
      );
      // The spare commits a fake round 0; the two honest members agree.
      await commit(honest[0]!, jobId, h1, 0, "right");
      await commit(honest[1]!, jobId, h2, 0, "right");
      await commit(attacker, jobId, spare, 0, "fake");
      await closeRound(jobId, 0);
      const majority = await co.readContract({
        ...verification,
        functionName: "groupMajority",
        args: [jobId, 0, 1],
      });
      assert.equal(
        majority[3],
        true,
        "2 of the 3 counted (the silent node's place is the spare's)",
      );
      const settled = await mined(
        attacker,
        attacker.writeContract({
          ...verification,
          functionName: "settleRedundancy",
          args: [jobId, 0, 1],
        }),
      );
      assert.equal(event(settled, abis.verification, "RedundancySettled").outliers, 1n);
      assert.equal((await stakeOf(spare)).stake, STAKE / 2n, "the fake replacement lost 50%");
    },
  );

  await fx.step(
    t,
    "29. a member replaced in a round it already committed does not vote beside its replacement",
    async () => {
      // Found by the audit of attack 28's fix: a node that stopped heartbeating could still commit
      // the open round, and replaced in it, it kept its vote while its (colluding) replacement
      // got one too: with 2 attackers in a group of 5 that is 4 fake votes of 7, and the honest
      // three were slashed as outliers; in a group of 3 it is 2 against 2, and no fake is slashed.
      const [h1, h2, silent, spare] = ["votes-1", "votes-2", "commits-then-leaves", "its-spare"]
        .map(nodePubkey) as [Hex, Hex, Hex, Hex];
      const jobId = await startJob(
        [[h1, honest[0]!], [h2, honest[1]!], [silent, accomplice]],
        { rounds: 2, groups: [1, 1, 1] },
      );
      await registerOnce(spare, attacker);
      await onlyLive([[h1, honest[0]!], [h2, honest[1]!], [spare, attacker]]);
      await commit(accomplice, jobId, silent, 0, "fake"); // not live, but still assigned
      await mined(
        co,
        co.writeContract({ ...jobs, functionName: "reassign", args: [jobId, silent, spare] }),
      );
      await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "replaceInGroup",
          args: [jobId, silent, spare],
        }),
      );
      await commit(attacker, jobId, spare, 0, "fake");
      await commit(honest[0]!, jobId, h1, 0, "right");
      await commit(honest[1]!, jobId, h2, 0, "right");
      await closeRound(jobId, 0);
      const [, count, committed, consensus] = await co.readContract({
        ...verification,
        functionName: "groupMajority",
        args: [jobId, 0, 1],
      });
      assert.deepEqual([count, committed, consensus], [2n, 3n, true], "one vote per place");
      const settled = await mined(
        honest[0]!,
        honest[0]!.writeContract({
          ...verification,
          functionName: "settleRedundancy",
          args: [jobId, 0, 1],
        }),
      );
      assert.equal(event(settled, abis.verification, "RedundancySettled").outliers, 2n);
      for (const n of [silent, spare]) assert.equal((await stakeOf(n)).stake, STAKE / 2n);
      for (const n of [h1, h2]) assert.equal((await stakeOf(n)).stake, STAKE);
    },
  );

  await fx.step(
    t,
    "30. one member of a committee drawn from a small job cannot slash the other alone",
    async () => {
      // Found in the seventh audit: a committee is drawn from the job's nodes, so a two-node job's
      // committee was both of them, and the target's only eligible validator was the other node:
      // its one attestation of a made-up hash was a strict majority, settled at once, and slashed
      // the honest node 50% (three such rounds took all its stake) and zeroed its pay.
      const [a, h] = [nodePubkey("pair-attester"), nodePubkey("pair-target")];
      const jobId = await startJob([[a, attacker], [h, honest[1]!]], {
        rounds: 2,
        groups: [1, 2],
      });
      await commit(attacker, jobId, a, 0, "a0");
      await commit(honest[1]!, jobId, h, 0, "h0");
      await closeSpotChecked(jobId, 0);
      const requested = await mined(
        co,
        co.writeContract({
          ...verification,
          functionName: "requestCommittee",
          args: [jobId, 0, [a, h], 10n],
        }),
      );
      const { weights } = event(requested, abis.verification, "CommitteeRequested");
      await mined(
        attacker,
        attacker.writeContract({
          ...verification,
          functionName: "drawCommittee",
          args: [jobId, 0, [a, h], weights!, 10n],
        }),
      );
      await mined(
        attacker,
        attacker.writeContract({
          ...verification,
          functionName: "attest",
          args: [jobId, 0, a, h, b32("made-up")],
        }),
      );
      const settle = () =>
        attacker.simulateContract({
          ...verification,
          functionName: "settleAttestations",
          args: [jobId, 0, h],
          account: attacker.account,
        });
      await expectRevert(settle(), "Verification__AttestationOpen");
      const [, deadline] = await co.readContract({
        ...verification,
        functionName: "committeeOf",
        args: [jobId, 0],
      });
      const now = Number((await co.getBlock()).timestamp);
      await fx.increaseTime(Number(deadline) - now + 1);
      const settled = await mined(
        attacker,
        attacker.writeContract({
          ...verification,
          functionName: "settleAttestations",
          args: [jobId, 0, h],
        }),
      );
      const s = event(settled, abis.verification, "AttestationsSettled");
      assert.deepEqual([s.outcome, s.agreeing, s.eligible], [Outcome.Undecided, 1n, 1n]);
      const least = await co.readContract({ ...verification, functionName: "MIN_ATTESTERS" });
      assert.equal(least, BigInt(MIN_ATTESTERS), "the coordinator skips what cannot decide");
      assert.equal((await stakeOf(h)).stake, STAKE, "the honest target keeps its stake");
    },
  );

  await fx.step(
    t,
    "31. the owner key, the coordinator's by default, has no rights where stake and rewards move",
    async () => {
      // Found in the seventh audit: onlyAuthorised let the owner through, and a default
      // deployment's owner is the coordinator's key, so "no rights on ProofOfCompute" (attacks 14)
      // held only when another account coordinated: the owner could close a settlement's open
      // cases, set any node's quality, penalise 100%, slash through the registry, authorise itself
      // anywhere, and repoint the registry's reputation to freeze every slash.
      const owner = fx.owner;
      const h = nodePubkey("owner-cannot-touch");
      const jobId = await startJob([[h, honest[0]!]], { rounds: 2 });
      await commit(honest[0]!, jobId, h, 0, "h0");
      type Target = { address: Hex; abi: Abi };
      const asOwner = (c: Target, functionName: string, args: readonly unknown[]) =>
        owner.simulateContract({ ...c, functionName, args, account: owner.account } as never);
      const { reputation } = fx.c;
      const refusals: [Target, string, readonly unknown[], string][] = [
        [proofs, "setQuality", [jobId, h, 0n], "Owned__NotAuthorised"],
        [
          proofs,
          "penalise",
          [jobId, h, 10_000n, SlashReason.Cheating, true],
          "Owned__NotAuthorised",
        ],
        [proofs, "closeCase", [jobId], "Owned__NotAuthorised"],
        [registry, "slashNode", [h, STAKE, SlashReason.Cheating, true], "Owned__NotAuthorised"],
        ...[proofs, registry, reputation].map((c): [Target, string, unknown[], string] => [
          c,
          "setAuthorised",
          [owner.account.address, true],
          "Owned__AuthorisedFixed",
        ]),
        [registry, "setReputation", [owner.account.address], "Owned__AlreadyLinked"],
      ];
      for (const [c, fn, args, error] of refusals) {
        await expectRevert(asOwner(c, fn, args), error).catch((e) => {
          throw new Error(`${fn}: ${(e as Error).message}`);
        });
      }
      assert.equal((await stakeOf(h)).stake, STAKE);
    },
  );

  await fx.step(
    t,
    "32. the accuracy bonus cannot be switched between settlement batches",
    async () => {
      // Found in the seventh audit: finalizeBatch read the bonus afresh in every batch while
      // reportAccuracy stayed open on a Completed job: nodes paid in the first batch got the
      // bonus, the rest did not (their share went back to the job's owner).
      const nodes: [Hex, ArthaClient][] = [
        [nodePubkey("bonus-first"), honest[0]!],
        [nodePubkey("bonus-later"), honest[1]!],
      ];
      for (const [n, op] of nodes) await registerOnce(n, op);
      const jobId = await submitJob(fx, jobOwner, parseEther("10"), {
        rounds: 1,
        nodesWanted: 2,
        targetImprovementBps: 100,
      });
      await mined(
        co,
        co.writeContract({ ...jobs, functionName: "assign", args: [jobId, nodes.map(([n]) => n)] }),
      );
      for (const [n, op] of nodes) await commit(op, jobId, n, 0, "same");
      const report = (bps: number) =>
        mined(
          co,
          co.writeContract({ ...jobs, functionName: "reportAccuracy", args: [jobId, bps] }),
        );
      await report(500);
      await closeRound(jobId, 0);
      await fx.increaseTime(HOUR + 1);
      const batch = async (max: bigint) => {
        const r = await mined(
          co,
          co.writeContract({ ...proofs, functionName: "finalizeBatch", args: [jobId, max] }),
        );
        return events(r, abis.proofs, "RewardCredited").map((l) => l.args.accuracyBonus!);
      };
      const first = await batch(3n); // tallies both, pays the first
      await report(0);
      const later = await batch(5n);
      assert.equal(first.length + later.length, 2);
      assert.ok(first[0]! > 0n, "the first node's bonus");
      assert.deepEqual(later, first, "the later node gets the same bonus");
    },
  );

  await fx.step(
    t,
    "33. a verifier cannot spend a node's balance on answers by challenging one commit without end",
    async () => {
      // Found in the worker audit: _issue had no bound per commit. Each challenge costs the node
      // an answer's gas (a gradient sample up to 16 chunks of 4 KiB of calldata), and leaving one
      // unanswered costs it 10% of its stake, so an authorised verifier that kept asking drained
      // it either way. A commit now gets at most a chunk, a step and a sample: three.
      const h = nodePubkey("asked-too-often");
      const jobId = await startJob([[h, honest[0]!]], { rounds: 2 });
      await commit(honest[0]!, jobId, h, 0, "h0");
      type Kind = "issueChallenge" | "issueStepChallenge" | "requestGradientSample";
      const args = (kind: Kind) =>
        kind === "requestGradientSample" ? [jobId, 0, h, 64n, 500n] : [jobId, 0, h];
      const ask = (functionName: Kind) =>
        // deno-lint-ignore no-explicit-any
        ({ ...verification, functionName, args: args(functionName) }) as any;
      const kinds: Kind[] = ["issueChallenge", "issueStepChallenge", "requestGradientSample"];
      for (const kind of kinds) await mined(co, co.writeContract(ask(kind)));
      for (const kind of kinds) {
        await expectRevert(
          co.simulateContract({ ...ask(kind), account: co.account }),
          "Verification__ChallengeLimit",
        );
      }
    },
  );

  await fx.step(
    t,
    "34. a coordinator that stops closing rounds cannot lock the job owner's escrow",
    async () => {
      // Found in the job owner audit: cancelJob takes an Open job only, so once nodes were
      // assigned, a coordinator that went silent (or an owner's assignment front-run by one)
      // locked the whole budget for good. The owner may now abandon the job once no round has
      // closed for a day past a round's budgeted compute; the nodes' committed rounds are still
      // paid, and the owner gets the rest.
      const nodes: [Hex, ArthaClient][] = [
        [nodePubkey("stalled-a"), honest[0]!],
        [nodePubkey("stalled-b"), honest[1]!],
      ];
      const budget = parseEther("10");
      const jobId = await startJob(nodes, { rounds: 4, budget });
      const abandon = (by: ArthaClient) =>
        by.simulateContract({
          ...jobs,
          functionName: "abandonJob",
          args: [jobId],
          account: by.account,
        });
      for (const [n, op] of nodes) await commit(op, jobId, n, 0, "r0");
      await closeRound(jobId, 0);
      for (const [n, op] of nodes) await commit(op, jobId, n, 1, "r1");
      // The coordinator stops here. Before the stall window, nobody may end the job.
      const stalledAt = await co.readContract({
        ...jobs,
        functionName: "stalledAt",
        args: [jobId],
      });
      const [, early] = await expectRevert(abandon(jobOwner), "JobManager__NotStalled");
      assert.equal(early, stalledAt);
      const now = (await co.getBlock()).timestamp;
      // A day of grace past the round's 10 steps x 6 s.
      assert.ok(stalledAt >= now + 86_400n && stalledAt <= now + 86_400n + 60n);
      await fx.increaseTime(Number(stalledAt - now));
      await expectRevert(abandon(attacker), "JobManager__NotJobController");
      const r = await mined(jobOwner, jobOwner.writeContract((await abandon(jobOwner)).request));
      // Two of four rounds ran (the open one's commits are paid where a majority confirms them):
      // half the budget comes back now.
      assert.deepEqual(event(r, abis.jobs, "JobAbandoned"), {
        jobId,
        by: jobOwner.account.address,
        rounds: 2,
        budget: budget / 2n,
        refund: budget / 2n,
      });
      const claimable = () =>
        co.readContract({
          ...jobs,
          functionName: "claimableOf",
          args: [jobOwner.account.address],
        });
      assert.equal(await claimable(), budget / 2n);
      // A coordinator waking up cannot close rounds of the ended job.
      await expectRevert(
        co.simulateContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, 1, "cp-1", b32("w-1")],
          account: co.account,
        }),
        "JobManager__WrongStatus",
      );
      // Anyone settles it; both nodes are paid for the round that closed (no task group confirms
      // the open one's commits: attack 38), the owner gets the rest.
      const f = await mined(
        attacker,
        attacker.writeContract({ ...proofs, functionName: "finalize", args: [jobId] }),
      );
      const paid = events(f, abis.proofs, "RewardCredited").map((l) =>
        l.args.batchReward! + l.args.stepReward! + l.args.roundReward! + l.args.accuracyBonus!
      );
      assert.equal(paid.length, 2);
      assert.ok(paid.every((p) => p > 0n), "committed rounds are paid");
      const total = paid.reduce((a, b) => a + b, 0n);
      assert.equal(await claimable(), budget - total, "the owner gets back all that is not paid");
      const job = await co.readContract({ ...jobs, functionName: "getJob", args: [jobId] });
      assert.equal(job.escrow, 0n);
    },
  );

  await fx.step(
    t,
    "35. once the owner abandons a job, nobody commits the round left open",
    async () => {
      // Found in the job owner audit: abandoning cut the job to the rounds run, the open one
      // included because commits to it are paid, but ProofOfCompute kept taking commits of that
      // round: a node that never worked it committed made-up digests after the abandonment,
      // which nothing could judge any more (the round never closes), and was paid its share.
      const nodes: [Hex, ArthaClient][] = [
        [nodePubkey("sealed-a"), honest[0]!],
        [nodePubkey("sealed-b"), honest[1]!],
      ];
      const jobId = await startJob(nodes, { rounds: 4, budget: parseEther("10") });
      for (const [n, op] of nodes) await commit(op, jobId, n, 0, "r0");
      await closeRound(jobId, 0);
      const [[worker, workerOp], [idle, idleOp]] = nodes as [
        [Hex, ArthaClient],
        [Hex, ArthaClient],
      ];
      await commit(workerOp, jobId, worker, 1, "r1");
      await abandonOnceStalled(jobId);

      // Execute + Assert: the idle node's late commit of the round left open is refused (that
      // round is closed by the abandonment, attack 37), and so is one of the round after it.
      await expectRevert(
        idleOp.simulateContract({
          ...proofs,
          functionName: "commitRound",
          args: [roundCommit(jobId, idle, 1, { result: "late" })],
          account: idleOp.account,
        }),
        "PoC__RoundNotOpen",
      );
      await expectRevert(
        idleOp.simulateContract({
          ...proofs,
          functionName: "commitRound",
          args: [roundCommit(jobId, idle, 2, { result: "later" })],
          account: idleOp.account,
        }),
        "PoC__CommitsSealed",
      );
    },
  );

  await fx.step(
    t,
    "37. a made-up commit in the round an abandoned job left open is judged, not paid",
    async () => {
      // Found in the contracts audit: abandoning kept the open round in the paid rounds, but
      // ProofOfCompute never closed it, so settleRedundancy refused it (RoundOpen), no spot check
      // could be drawn and no dispute opened (the job no longer Running): the node that committed
      // a made-up result beside two honest mates was paid its share out of the owner's escrow.
      const [a, h1, h2] = ["left-open-cheat", "left-open-h1", "left-open-h2"].map(nodePubkey) as [
        Hex,
        Hex,
        Hex,
      ];
      const jobId = await startJob([[a, attacker], [h1, honest[0]!], [h2, honest[1]!]], {
        rounds: 4,
        groups: [1, 1, 1],
      });
      await commit(attacker, jobId, a, 0, "r0");
      await commit(honest[0]!, jobId, h1, 0, "r0");
      await commit(honest[1]!, jobId, h2, 0, "r0");
      await closeRound(jobId, 0);
      await commit(attacker, jobId, a, 1, "made-up");
      await commit(honest[0]!, jobId, h1, 1, "r1");
      await commit(honest[1]!, jobId, h2, 1, "r1");
      await abandonOnceStalled(jobId);

      // Execute: anyone settles the round left open.
      await mined(
        honest[0]!,
        honest[0]!.writeContract({
          ...verification,
          functionName: "settleRedundancy",
          args: [jobId, 1, 1],
        }),
      );

      // Assert: the made-up commit is slashed and paid nothing; the honest ones, confirmed by
      // their majority (attack 38), are paid for both rounds.
      assert.equal((await stakeOf(a)).stake, STAKE / 2n);
      for (const [n, op] of [[h1, honest[0]!], [h2, honest[1]!]] as const) {
        const w = () =>
          co.readContract({
            ...proofs,
            functionName: "workOf",
            args: [jobId, n, op.account.address],
          });
        assert.equal((await w()).rounds, 2);
      }
      const delay = await co.readContract({ ...proofs, functionName: "settlementDelay" });
      await fx.increaseTime(Number(delay) + 1);
      const paid = await finalizeAs(jobOwner, jobId);
      assert.equal(paid.get(a), 0n);
      assert.ok(paid.get(h1)! > 0n && paid.get(h2)! > 0n);
    },
  );

  await fx.step(
    t,
    "38. a made-up commit in the round an abandoned job left open, with no majority to confirm it, is not paid",
    async () => {
      // Found in the second contracts audit: attack 37 judged that round where task groups
      // could, but a job without groups (redundancy 1, the CLI's default) has nothing that judges
      // it once its coordinator stopped: no spot check, challenge or committee, no dispute (the
      // job no longer running). A node idle all job committed made-up digests to the open round
      // just before the owner abandoned it, and was paid a share of the honest nodes' pools.
      const [a, h1, h2] = ["unjudged-cheat", "unjudged-h1", "unjudged-h2"].map(nodePubkey) as [
        Hex,
        Hex,
        Hex,
      ];
      const jobId = await startJob([[a, attacker], [h1, honest[0]!], [h2, honest[1]!]], {
        rounds: 4,
      });
      for (const r of [0, 1]) {
        await commit(honest[0]!, jobId, h1, r, `r${r}`);
        await commit(honest[1]!, jobId, h2, r, `r${r}`);
        await closeRound(jobId, r);
      }
      await commit(honest[0]!, jobId, h1, 2, "r2");
      await commit(honest[1]!, jobId, h2, 2, "r2");
      await commit(attacker, jobId, a, 2, "made-up");
      await abandonOnceStalled(jobId);

      // Execute: anyone settles once the delay is over.
      const delay = await co.readContract({ ...proofs, functionName: "settlementDelay" });
      await fx.increaseTime(Number(delay) + 1);
      const fin = await mined(
        jobOwner,
        jobOwner.writeContract({ ...proofs, functionName: "finalize", args: [jobId] }),
      );

      // Assert: no commit of the round left open counts; the honest nodes are paid for the
      // two rounds that closed, the attacker nothing.
      const paid = new Map(
        events(fin, abis.proofs, "RewardCredited").map((l) => [
          l.args.nodePubkey!,
          l.args.batchReward! + l.args.stepReward! + l.args.roundReward! + l.args.accuracyBonus!,
        ]),
      );
      assert.equal(paid.get(a), 0n);
      assert.ok(paid.get(h1)! > 0n && paid.get(h1) === paid.get(h2));
      const unpaid = events(fin, abis.proofs, "SealedCommitUnpaid").map((l) => l.args.nodePubkey);
      assert.deepEqual(new Set(unpaid), new Set([a, h1, h2]));
      for (const [n, op, rounds] of [[a, attacker, 0], [h1, honest[0]!, 2]] as const) {
        const w = await co.readContract({
          ...proofs,
          functionName: "workOf",
          args: [jobId, n, op.account.address],
        });
        assert.equal(w.rounds, rounds);
      }
    },
  );

  await fx.step(
    t,
    "36. nodes that withdrew their stake cannot outvote, or dispute, an honest group mate",
    async () => {
      // Found in the contracts audit: a node kept its task-group seat after it deactivated and
      // withdrew its stake. Two such nodes (one operator's capital, staked once an unbonding)
      // committed a made-up result beside an honest mate's, and anyone's settleRedundancy slashed
      // the honest node 50% with nothing of theirs at stake; a zero-stake node could open
      // disputes that cost it only the bond.
      const [z1, z2, h] = ["unstaked-1", "unstaked-2", "unstaked-honest"].map(nodePubkey) as [
        Hex,
        Hex,
        Hex,
      ];
      const jobId = await startJob([[z1, attacker], [z2, accomplice], [h, honest[0]!]], {
        rounds: 3,
        groups: [1, 1, 1],
        stepsPerRound: 4,
      });
      await commit(attacker, jobId, z1, 0, "made-up");
      await commit(accomplice, jobId, z2, 0, "made-up");
      await commit(honest[0]!, jobId, h, 0, "right");
      await closeRound(jobId, 0);
      const quit = async (n: Hex, op: ArthaClient) => {
        await mined(
          op,
          op.writeContract({ ...registry, functionName: "deactivateNode", args: [n] }),
        );
      };
      await quit(z1, attacker);
      await quit(z2, accomplice);
      const unbonding = await co.readContract({ ...registry, functionName: "unbondingDelay" });
      await fx.increaseTime(Number(unbonding) + 1);
      for (const [n, op] of [[z1, attacker], [z2, accomplice]] as const) {
        await mined(
          op,
          op.writeContract({ ...registry, functionName: "withdrawStake", args: [n] }),
        );
        assert.equal((await stakeOf(n)).stake, 0n);
      }

      // Execute + Assert: their round-0 votes count for nothing, so no majority slashes H.
      await expectRevert(
        attacker.simulateContract({
          ...verification,
          functionName: "settleRedundancy",
          args: [jobId, 0, 1],
          account: attacker.account,
        }),
        "Verification__NoConsensus",
      );
      assert.equal((await stakeOf(h)).stake, STAKE);
      // (Their later commits are taken, as commitRound reads no registry for its gas target, and
      // count for nothing the same way; settlement pays no unstaked node, attack 18.)
      // A node that committed and then deactivated (unbonding, its stake on the way out) cannot
      // open a dispute against its honest mate either.
      const right = [0, 1, 2, 3, 4].map((i) => b32(`unstaked-right-${i}`));
      const lie = [right[0]!, b32("unstaked-lie-1"), b32("unstaked-lie-2"), b32("u-3"), b32("u-4")];
      const d = nodePubkey("unstaked-disputer");
      const h2 = nodePubkey("unstaked-defender");
      const job2 = await startJob([[d, attacker], [h2, honest[1]!]], {
        groups: [1, 1],
        stepsPerRound: 4,
      });
      for (
        const [op, n, steps, tag] of [[attacker, d, lie, "lie"], [
          honest[1]!,
          h2,
          right,
          "r",
        ]] as const
      ) {
        await mined(
          op,
          op.writeContract({
            ...proofs,
            functionName: "commitRound",
            args: [{ ...roundCommit(job2, n, 0, { result: tag }), weightsDigest: steps[4]! }],
          }),
        );
      }
      await quit(d, attacker);
      await expectRevert(
        attacker.simulateContract({
          ...disputes,
          functionName: "open",
          args: [job2, 0, d, h2, disputeEnds(job2, 0, d, lie, "lie")],
          value: parseEther("1"),
          account: attacker.account,
        }),
        "Dispute__ChallengerNotStaked",
      );
    },
  );

  await fx.step(
    t,
    "39. the owner key cannot take the stake it slashes: slashed stake is burned",
    async () => {
      // Found in the contracts audit: VerificationManager's authorised set is the owner's to set
      // (coordinator rotation), penaliseAggregator takes the coordinator's word, and
      // withdrawSlashPool paid every slash to the owner, the coordinator's key by default: the
      // party that could slash an honest node profited from the slash. Slashed stake is burned
      // now: it stays in the registry, and no function pays it to anyone.
      const owner = fx.owner;
      const h = nodePubkey("slashed-for-the-owner");
      const jobId = await startJob([[h, honest[2]!]], { rounds: 3 });
      await commit(honest[2]!, jobId, h, 0, "h0");
      await closeRound(jobId, 0);
      await commit(honest[2]!, jobId, h, 1, "h1");
      await closeRound(jobId, 1);
      await commit(honest[2]!, jobId, h, 2, "h2");
      const balanceOf = (address: Hex) => owner.getBalance({ address });
      const before = await balanceOf(owner.account.address);
      const registryBefore = await balanceOf(registry.address);

      // 1. The owner authorises itself as a verifier on VerificationManager.
      await mined(
        owner,
        owner.writeContract({
          ...verification,
          functionName: "setAuthorised",
          args: [owner.account.address, true],
        }),
      );
      // 2. It penalises the honest node as an aggregator for every round it committed: 50%,
      // 50%, and the third offence takes the rest.
      let slashed = 0n;
      for (const round of [0, 1, 2]) {
        const r = await mined(
          owner,
          owner.writeContract({
            ...verification,
            functionName: "penaliseAggregator",
            args: [jobId, round, h],
          }),
        );
        for (const e of events(r, abis.registry, "NodeSlashed")) slashed += e.args.amount!;
      }
      assert.equal(slashed, STAKE, "the whole stake is slashed");
      assert.equal((await stakeOf(h)).stake, 0n);
      // 3. It asks the registry for the slashed stake, as the old treasury payout did.
      const taken = await owner.sendTransaction({
        to: registry.address,
        data: encodeFunctionData({
          abi: parseAbi(["function withdrawSlashPool(address to)"]),
          args: [owner.account.address],
        }),
      }).then(
        async (hash) => (await owner.waitForTransactionReceipt({ hash })).status === "success",
        () => false,
      );

      // Assert: the owner is poorer by its gas, not richer by the slash; the stake stays burned in
      // the registry (balance == totalStaked + slashPool).
      const after = await balanceOf(owner.account.address);
      assert.ok(after <= before, `the owner gained ${after - before} wei from the slash`);
      assert.equal(taken, false, "no function pays slashed stake out");
      assert.equal(await balanceOf(registry.address), registryBefore);
      const [totalStaked, burned] = await Promise.all([
        co.readContract({ ...registry, functionName: "totalStaked" }),
        co.readContract({ ...registry, functionName: "slashPool" }),
      ]);
      assert.equal(await balanceOf(registry.address), totalStaked + burned);
      assert.ok(burned >= slashed);
    },
  );

  await fx.step(
    t,
    "40. a slasher with a node on the job gains nothing from slashing a job mate: its share goes back to the owner",
    async () => {
      // Found reviewing attacks 39: a zero-quality node's share of the step, round and bonus
      // pools went to the job's other nodes, so whoever could slash (an authorised verifier, a
      // dispute's winner, a committee's majority) gained by slashing the other nodes of a job it
      // had a node on. Two jobs of the same terms and work; in the second the attacker's
      // verifier penalises a job mate.
      const run = async (tag: string, slash: boolean) => {
        const a = nodePubkey(`slasher-${tag}`);
        const [h1, h2] = [nodePubkey(`mate-1-${tag}`), nodePubkey(`mate-2-${tag}`)];
        const jobId = await startJob([[a, attacker], [h1, honest[0]!], [h2, honest[1]!]], {
          rounds: 1,
        });
        await commit(attacker, jobId, a, 0, "r");
        await commit(honest[0]!, jobId, h1, 0, "r");
        await commit(honest[1]!, jobId, h2, 0, "r");
        await closeRound(jobId, 0);
        if (slash) {
          await mined(
            co,
            co.writeContract({
              ...verification,
              functionName: "penaliseAggregator",
              args: [jobId, 0, h2],
            }),
          );
        }
        const ownerBefore = await co.readContract({
          ...jobs,
          functionName: "claimableOf",
          args: [jobOwner.account.address],
        });
        const paid = await finalizeAs(attacker, jobId);
        const ownerAfter = await co.readContract({
          ...jobs,
          functionName: "claimableOf",
          args: [jobOwner.account.address],
        });
        return {
          attacker: paid.get(a)!,
          mate: paid.get(h1)!,
          slashed: paid.get(h2)!,
          refund: ownerAfter - ownerBefore,
        };
      };
      const fair = await run("fair", false);
      const slashed = await run("slashed", true);

      // Assert: the slasher's node and the honest mate are paid what they are without the
      // slash; the slashed node's share is the owner's.
      assert.equal(slashed.slashed, 0n);
      assert.equal(slashed.attacker, fair.attacker, "the slasher's node gained from the slash");
      assert.equal(slashed.mate, fair.mate);
      assert.equal(slashed.refund, fair.refund + fair.slashed);
    },
  );
});
