import assert from "node:assert/strict";
import { type Hex, stringToHex } from "viem";
import { abis, event, expectRevert, mined, nodePubkey, setupFixture } from "./_fixture.ts";

/** The counters of ReputationRegistry.Record. */
interface Record {
  totalDeals: number;
  successfulDeals: number;
  violationCount: number;
  slashCount: number;
  proofsChecked: number;
  proofsPassed: number;
  bandwidthBps: number;
  lineageContribs: number;
  slashFreeEpochs: number;
  jobsCompleted: number;
  jobsFailed: number;
}

const BPS = 10_000n;
const ratio = (part: number, whole: number) =>
  whole === 0 ? 0n : BigInt(part) * BPS / BigInt(whole);
const capped = (bps: bigint) => bps > BPS ? BPS : bps;

/** TypeScript re-implementation of ReputationRegistry.reputationOf (design doc, "Reputation Score"). */
function reputationOf(r: Record): bigint {
  const weighted = 3_000n * ratio(r.successfulDeals, r.totalDeals) +
    2_500n * ratio(r.proofsPassed, r.proofsChecked) +
    1_500n * BigInt(r.bandwidthBps) +
    1_000n * capped(BigInt(r.lineageContribs) * 500n) +
    1_000n * capped(BigInt(r.slashFreeEpochs) * 200n) +
    1_000n * ratio(r.jobsCompleted, r.jobsCompleted + r.jobsFailed);
  const penalty = capped(BigInt(r.violationCount) * 1_000n + BigInt(r.slashCount) * 2_500n);
  const score = weighted * (BPS - penalty) / BPS / BPS * 100n;
  return score > 1_000_000n ? 1_000_000n : score;
}

const empty = (): Record => ({
  totalDeals: 0,
  successfulDeals: 0,
  violationCount: 0,
  slashCount: 0,
  proofsChecked: 0,
  proofsPassed: 0,
  bandwidthBps: 0,
  lineageContribs: 0,
  slashFreeEpochs: 0,
  jobsCompleted: 0,
  jobsFailed: 0,
});

Deno.test("ReputationRegistry", async (t) => {
  // The updater stands in for the contracts that report here, authorised before deployment fixes
  // the set.
  await using fx = await setupFixture({ accounts: 4, authorised: { reputation: [2] } });
  const [owner, , updater, stranger] = fx.clients as [
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
  ];
  const rep = fx.c.reputation;
  const node = nodePubkey("node-rep");
  const score = () => owner.readContract({ ...rep, functionName: "reputationOf", args: [node] });
  const record = () => owner.readContract({ ...rep, functionName: "getRecord", args: [node] });

  type Update =
    | { fn: "recordDeal" | "recordProof" | "recordJob"; ok: boolean }
    | { fn: "recordSlash" | "recordViolation" | "recordEpoch" }
    | { fn: "setBandwidthScore"; bps: number }
    | { fn: "recordLineage"; count: number };

  /** Sends one update from `updater`, applies it to `model`, and checks event and score. */
  async function apply(model: Record, u: Update): Promise<void> {
    let hash;
    let dimension: string;
    switch (u.fn) {
      case "recordDeal":
        hash = updater.writeContract({ ...rep, functionName: u.fn, args: [node, u.ok] });
        model.totalDeals++;
        if (u.ok) model.successfulDeals++;
        dimension = "deal";
        break;
      case "recordProof":
        hash = updater.writeContract({ ...rep, functionName: u.fn, args: [node, u.ok] });
        model.proofsChecked++;
        if (u.ok) model.proofsPassed++;
        dimension = "proof";
        break;
      case "recordJob":
        hash = updater.writeContract({ ...rep, functionName: u.fn, args: [node, u.ok] });
        if (u.ok) model.jobsCompleted++;
        else model.jobsFailed++;
        dimension = "job";
        break;
      case "recordSlash":
        hash = updater.writeContract({ ...rep, functionName: u.fn, args: [node] });
        model.slashCount++;
        model.slashFreeEpochs = 0;
        dimension = "slash";
        break;
      case "recordViolation":
        hash = updater.writeContract({ ...rep, functionName: u.fn, args: [node] });
        model.violationCount++;
        dimension = "violation";
        break;
      case "recordEpoch":
        hash = updater.writeContract({ ...rep, functionName: u.fn, args: [node] });
        model.slashFreeEpochs++;
        dimension = "epoch";
        break;
      case "setBandwidthScore":
        hash = updater.writeContract({ ...rep, functionName: u.fn, args: [node, BigInt(u.bps)] });
        model.bandwidthBps = u.bps;
        dimension = "bandwidth";
        break;
      case "recordLineage":
        hash = updater.writeContract({ ...rep, functionName: u.fn, args: [node, u.count] });
        model.lineageContribs += u.count;
        dimension = "lineage";
        break;
    }
    const receipt = await mined(updater, hash);
    const expected = reputationOf(model);
    assert.deepEqual(event(receipt, abis.reputation, "ReputationUpdated"), {
      nodePubkey: node,
      dimension: stringToHex(dimension, { size: 32 }),
      score: expected,
    });
    assert.equal(await score(), expected, `score after ${u.fn}`);
  }

  await fx.step(
    t,
    "every update changes its counter and emits the score of the formula",
    async () => {
      const model = empty();
      const updates: Update[] = [
        { fn: "recordDeal", ok: true },
        { fn: "recordDeal", ok: true },
        { fn: "recordDeal", ok: false },
        { fn: "recordDeal", ok: true },
        ...Array.from({ length: 9 }, () => ({ fn: "recordProof", ok: true }) as const),
        { fn: "recordProof", ok: false },
        { fn: "setBandwidthScore", bps: 8_000 },
        { fn: "recordLineage", count: 4 },
        ...Array.from({ length: 10 }, () => ({ fn: "recordEpoch" }) as const),
        { fn: "recordJob", ok: true },
        { fn: "recordJob", ok: false },
        { fn: "recordJob", ok: true },
        { fn: "recordViolation" },
      ];
      for (const u of updates) await apply(model, u);
      // Worked by hand: (0.3*7500 + 0.25*9000 + 0.15*8000 + 0.1*2000 + 0.1*2000 + 0.1*6666)
      // x (1 - 0.1) = 6089.94 bps, floored, x 100.
      assert.equal(await score(), 608_900n);
      assert.deepEqual(await record(), model);
    },
  );

  await fx.step(
    t,
    "reputationOf matches the TypeScript formula over a seeded sequence",
    async () => {
      const model = empty();
      let seed = 42;
      const rand = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
      for (let i = 0; i < 60; i++) {
        const k = rand(8);
        const u: Update = k === 0
          ? { fn: "recordDeal", ok: rand(4) > 0 }
          : k === 1
          ? { fn: "recordProof", ok: rand(5) > 0 }
          : k === 2
          ? { fn: "recordJob", ok: rand(3) > 0 }
          : k === 3
          ? { fn: rand(6) === 0 ? "recordSlash" : "recordEpoch" }
          : k === 4
          ? { fn: rand(4) === 0 ? "recordViolation" : "recordEpoch" }
          : k === 5
          ? { fn: "setBandwidthScore", bps: rand(10_001) }
          : k === 6
          ? { fn: "recordLineage", count: rand(4) }
          : { fn: "recordEpoch" };
        await apply(model, u);
      }
      assert.deepEqual(await record(), model);
    },
  );

  await fx.step(t, "a perfect record scores exactly the 1,000,000 cap", async () => {
    const model = empty();
    for (
      const u of [
        { fn: "recordDeal", ok: true },
        { fn: "recordProof", ok: true },
        { fn: "recordJob", ok: true },
        { fn: "setBandwidthScore", bps: 10_000 },
        { fn: "recordLineage", count: 25 },
        ...Array.from({ length: 55 }, () => ({ fn: "recordEpoch" }) as const),
      ] as Update[]
    ) await apply(model, u);
    assert.equal(await score(), 1_000_000n);
    // Four slashes make the penalty 100%: the score drops to zero and stays there.
    for (let i = 0; i < 5; i++) await apply(model, { fn: "recordSlash" });
    assert.equal(await score(), 0n);
    assert.equal((await record()).slashFreeEpochs, 0);
  });

  await fx.step(t, "setBandwidthScore reverts with BpsOutOfRange above 10,000", async () => {
    const args = await expectRevert(
      updater.simulateContract({
        ...rep,
        functionName: "setBandwidthScore",
        args: [node, 10_001n],
      }),
      "Reputation__BpsOutOfRange",
    );
    assert.deepEqual(args, [10_001n]);
  });

  await fx.step(t, "updates revert with NotAuthorised for unauthorised callers", async () => {
    const me = stranger.account.address;
    const calls = [
      () => stranger.simulateContract({ ...rep, functionName: "recordDeal", args: [node, true] }),
      () => stranger.simulateContract({ ...rep, functionName: "recordProof", args: [node, true] }),
      () => stranger.simulateContract({ ...rep, functionName: "recordJob", args: [node, true] }),
      () => stranger.simulateContract({ ...rep, functionName: "recordSlash", args: [node] }),
      () => stranger.simulateContract({ ...rep, functionName: "recordViolation", args: [node] }),
      () => stranger.simulateContract({ ...rep, functionName: "recordEpoch", args: [node] }),
      () => stranger.simulateContract({ ...rep, functionName: "recordLineage", args: [node, 1] }),
      () =>
        stranger.simulateContract({ ...rep, functionName: "setBandwidthScore", args: [node, 1n] }),
    ];
    for (const call of calls) {
      assert.deepEqual(await expectRevert(call(), "Owned__NotAuthorised"), [me]);
    }
    const notOwner = await expectRevert(
      updater.simulateContract({ ...rep, functionName: "setAuthorised", args: [me, true] }),
      "Owned__NotOwner",
    );
    assert.deepEqual(notOwner, [updater.account.address]);
  });

  await fx.step(
    t,
    "deployArtha authorises the registry, ProofOfCompute and job manager, for good",
    async () => {
      const authorised = (account: string) =>
        owner.readContract({ ...rep, functionName: "isAuthorised", args: [account as Hex] });
      for (const account of [fx.addrs.registry, fx.addrs.proofs, fx.addrs.jobs]) {
        assert.equal(await authorised(account), true);
      }
      // The owner is not authorised by being the owner, and cannot authorise anyone now.
      for (const account of [owner.account.address, stranger.account.address]) {
        assert.equal(await authorised(account), false);
      }
      await expectRevert(
        owner.simulateContract({
          ...rep,
          functionName: "setAuthorised",
          args: [stranger.account.address, true],
        }),
        "Owned__AuthorisedFixed",
      );
    },
  );
  await fx.step(t, "the formula constants are the ones the TypeScript model uses", async () => {
    const expected = {
      BPS: 10_000n,
      MAX_REPUTATION: 1_000_000n,
      W_UPTIME: 3_000n,
      W_PROOF: 2_500n,
      W_BANDWIDTH: 1_500n,
      W_LINEAGE: 1_000n,
      W_SLASH_FREE: 1_000n,
      W_JOBS: 1_000n,
      LINEAGE_BPS_EACH: 500n,
      SLASH_FREE_BPS_EACH: 200n,
      VIOLATION_PENALTY_BPS: 1_000n,
      SLASH_PENALTY_BPS: 2_500n,
    } as const;
    for (const [functionName, value] of Object.entries(expected)) {
      assert.equal(
        await owner.readContract({ ...rep, functionName: functionName as keyof typeof expected }),
        value,
        functionName,
      );
    }
  });
});
