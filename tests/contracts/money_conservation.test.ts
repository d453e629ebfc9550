/**
 * Money conservation under a seeded random sequence of operations on the registry, the job
 * manager and ProofOfCompute. After every step:
 *   deposits == totalStaked + slashPool + totalEscrow + totalClaimable + paid out
 *   balance(registry) == totalStaked + slashPool
 *   balance(jobs) == totalEscrow + totalClaimable
 *   slashPool (burned stake) never decreases: nothing pays it out, the owner included
 * and every 50 steps the totals are re-added from the per-node, per-job and per-account records.
 * Set MONEY_SEED to replay another sequence.
 */
import assert from "node:assert/strict";
import {
  BaseError,
  ContractFunctionRevertedError,
  encodeFunctionData,
  type Hash,
  type Hex,
  parseAbi,
  parseEther,
} from "viem";
import {
  abis,
  b32,
  bindingSignatureOf,
  caps,
  DAY,
  event,
  events,
  expectRevert,
  HOUR,
  JobStatus,
  mined,
  nodePubkey,
  NodeRole,
  ROLE_STAKE,
  roundCommit,
  setupFixture,
  SlashReason,
  trainParams,
} from "./_fixture.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";

const OPERATIONS = 1_000;
const MAX_NODES = 40;
const SEED = Number(Deno.env.get("MONEY_SEED") ?? 20_260_701);

/** mulberry32: a small seeded PRNG, enough to replay a failing sequence. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}

Deno.test("money is conserved over 1,000 random registry and job operations", async () => {
  // The coordinator's account stands in for ProofOfCompute's slashes (deployment fixes who may
  // slash).
  await using fx = await setupFixture({ accounts: 6, authorised: { registry: [1] } });
  const [owner, coordinator, ...actors] = fx.clients as [
    ArthaClient,
    ArthaClient,
    ...ArthaClient[],
  ];
  const { registry: reg, jobs, proofs: poc } = fx.c;
  const rnd = prng(SEED);
  const nodes: { pubkey: Hex; operator: ArthaClient }[] = [];
  const jobIds: Hex[] = [];
  /** Job statuses as the JobStatusChanged events report them, to steer the random choices. */
  const statusOf = new Map<Hex, number>();
  /** A job whose status is in `wanted` most of the time, any job otherwise. */
  const pickJob = (...wanted: number[]) => {
    const fitting = jobIds.filter((id) => wanted.includes(statusOf.get(id)!));
    return fitting.length > 0 && rnd.chance(0.85) ? rnd.pick(fitting) : rnd.pick(jobIds);
  };
  const ledger = { deposits: 0n, paidOut: 0n, burned: 0n };
  const counts = new Map<string, number>();
  const timing = new Map<string, number>();
  const count = (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);

  const read = {
    node: (pk: Hex) => owner.readContract({ ...reg, functionName: "getNode", args: [pk] }),
    job: (id: Hex) => owner.readContract({ ...jobs, functionName: "getJob", args: [id] }),
    claimable: (a: Hex) => owner.readContract({ ...jobs, functionName: "claimableOf", args: [a] }),
  };

  /** Sends a transaction that may legitimately revert with one of `allowed`; returns null then. */
  async function attempt(
    op: string,
    client: ArthaClient,
    send: () => Promise<Hash>,
    allowed: string[],
  ) {
    try {
      const receipt = await mined(client, send());
      count(`${op} ok`);
      for (const l of events(receipt, abis.jobs, "JobStatusChanged")) {
        statusOf.set(l.args.jobId, l.args.status);
      }
      return receipt;
    } catch (e) {
      const reverted = e instanceof BaseError
        ? e.walk((x) => x instanceof ContractFunctionRevertedError)
        : null;
      const name = reverted instanceof ContractFunctionRevertedError
        ? reverted.data?.errorName
        : undefined;
      if (name === undefined || !allowed.includes(name)) throw e;
      count(`${op} reverted ${name}`);
      return null;
    }
  }

  async function checkTotals(step: number, deep: boolean) {
    const [staked, pool, escrow, claimable, regBal, jobsBal] = await Promise.all([
      owner.readContract({ ...reg, functionName: "totalStaked" }),
      owner.readContract({ ...reg, functionName: "slashPool" }),
      owner.readContract({ ...jobs, functionName: "totalEscrow" }),
      owner.readContract({ ...jobs, functionName: "totalClaimable" }),
      owner.getBalance({ address: reg.address }),
      owner.getBalance({ address: jobs.address }),
    ]);
    const where = `after step ${step} (seed ${SEED})`;
    assert.equal(
      ledger.deposits,
      staked + pool + escrow + claimable + ledger.paidOut,
      `conservation ${where}`,
    );
    assert.equal(regBal, staked + pool, `registry balance ${where}`);
    assert.ok(pool >= ledger.burned, `burned stake decreased ${where}`);
    ledger.burned = pool;
    assert.equal(jobsBal, escrow + claimable, `job manager balance ${where}`);
    if (!deep) return;
    const stakes = await Promise.all(nodes.map((n) => read.node(n.pubkey)));
    assert.equal(stakes.reduce((s, n) => s + n.stake, 0n), staked, `sum of node stakes ${where}`);
    const escrows = await Promise.all(jobIds.map((id) => read.job(id)));
    assert.equal(escrows.reduce((s, j) => s + j.escrow, 0n), escrow, `sum of job escrows ${where}`);
    const accounts = await Promise.all(fx.clients.map((c) => read.claimable(c.account.address)));
    assert.equal(accounts.reduce((s, a) => s + a, 0n), claimable, `sum of claimables ${where}`);
  }

  // ------------------------------------------------------------------------- operations

  async function register() {
    const operator = rnd.pick(actors);
    const role = rnd.pick([
      NodeRole.Basic,
      NodeRole.GPUProvider,
      NodeRole.GPUProvider,
      NodeRole.TEE,
      NodeRole.Priority,
    ]);
    const tier = ROLE_STAKE[role]!;
    const teeBit = role === NodeRole.TEE && rnd.chance(0.8);
    const word = caps({ gpu: true, tee: teeBit });
    const args = (pk: Hex, sig: Hex = "0x") =>
      [pk, role, "in-west", word, b32("sla"), sig] as const;
    if (nodes.length > 0 && rnd.chance(0.08)) {
      const taken = rnd.pick(nodes).pubkey;
      await expectRevert(
        operator.simulateContract({
          ...reg,
          functionName: "registerNode",
          args: args(taken),
          value: tier,
        }),
        "NodeCert__AlreadyRegistered",
      );
      return count("register reverted AlreadyRegistered");
    }
    if (nodes.length >= MAX_NODES) return count("register skipped");
    const pubkey = nodePubkey(`money-node-${nodes.length}-${rnd.next()}`);
    if (rnd.chance(0.12)) {
      await expectRevert(
        operator.simulateContract({
          ...reg,
          functionName: "registerNode",
          args: args(pubkey),
          value: tier - 1n,
        }),
        "NodeCert__StakeTooLow",
      );
      return count("register reverted StakeTooLow");
    }
    const value = tier + parseEther(String(rnd.int(7) / 2));
    if (role === NodeRole.TEE && !teeBit) {
      await expectRevert(
        operator.simulateContract({
          ...reg,
          functionName: "registerNode",
          args: args(pubkey),
          value,
        }),
        "NodeCert__CapsMismatch",
      );
      return count("register reverted CapsMismatch");
    }
    const sig = await bindingSignatureOf(fx, operator.account.address, pubkey);
    await mined(
      operator,
      operator.writeContract({
        ...reg,
        functionName: "registerNode",
        args: args(pubkey, sig),
        value,
      }),
    );
    count("register ok");
    ledger.deposits += value;
    nodes.push({ pubkey, operator });
  }

  async function addStake() {
    const n = rnd.pick(nodes);
    const value = parseEther(String(1 + rnd.int(4)));
    const receipt = await attempt(
      "addStake",
      n.operator,
      () => n.operator.writeContract({ ...reg, functionName: "addStake", args: [n.pubkey], value }),
      ["NodeCert__NotActive"],
    );
    if (receipt) ledger.deposits += value;
  }

  async function heartbeatSome() {
    for (let i = 0; i < 3; i++) {
      const n = rnd.pick(nodes);
      await attempt(
        "heartbeat",
        n.operator,
        () => n.operator.writeContract({ ...reg, functionName: "heartbeat", args: [n.pubkey] }),
        ["NodeCert__NotActive"],
      );
    }
  }

  async function reportMissed() {
    const n = rnd.pick(nodes);
    const receipt = await attempt(
      "reportMissedHeartbeats",
      owner,
      () =>
        owner.writeContract({ ...reg, functionName: "reportMissedHeartbeats", args: [n.pubkey] }),
      ["NodeCert__NoMissedHeartbeat", "NodeCert__NotActive"],
    );
    if (receipt) event(receipt, abis.registry, "HeartbeatMissed");
  }

  async function slash() {
    const n = rnd.pick(nodes);
    const stake = (await read.node(n.pubkey)).stake;
    if (rnd.chance(0.3)) {
      await expectRevert(
        coordinator.simulateContract({
          ...reg,
          functionName: "slashNode",
          args: [n.pubkey, stake + 1n, SlashReason.Cheating, false],
        }),
        "NodeCert__SlashExceedsStake",
      );
      return count("slashNode reverted SlashExceedsStake");
    }
    const amount = stake * BigInt(rnd.int(60)) / 100n;
    await mined(
      coordinator,
      coordinator.writeContract({
        ...reg,
        functionName: "slashNode",
        args: [n.pubkey, amount, rnd.pick(Object.values(SlashReason)), rnd.chance(0.15)],
      }),
    );
    count("slashNode ok");
  }

  async function deactivate() {
    const n = rnd.pick(nodes);
    await attempt(
      "deactivateNode",
      n.operator,
      () => n.operator.writeContract({ ...reg, functionName: "deactivateNode", args: [n.pubkey] }),
      ["NodeCert__NotActive"],
    );
  }

  async function withdrawStake() {
    const n = rnd.pick(nodes);
    const before = (await read.node(n.pubkey)).stake;
    const receipt = await attempt(
      "withdrawStake",
      n.operator,
      () => n.operator.writeContract({ ...reg, functionName: "withdrawStake", args: [n.pubkey] }),
      ["NodeCert__NotUnbonding", "NodeCert__StillUnbonding", "NodeCert__NothingToWithdraw"],
    );
    if (!receipt) return;
    const amount = event(receipt, abis.registry, "StakeWithdrawn").amount;
    assert.equal(amount, before);
    ledger.paidOut += amount;
  }

  /** The owner asks for the burned stake by the old treasury payout's selector: refused. */
  async function withdrawBurned() {
    const data = encodeFunctionData({
      abi: parseAbi(["function withdrawSlashPool(address to)"]),
      args: [owner.account.address],
    });
    const paid = await owner.call({ account: owner.account, to: reg.address, data })
      .then(() => true, () => false);
    assert.equal(paid, false, "the owner withdrew burned stake");
    count("withdrawBurned refused");
  }

  async function submit() {
    const client = rnd.pick(actors);
    if (rnd.chance(0.05)) {
      await expectRevert(
        client.simulateContract({
          ...jobs,
          functionName: "submitTrain",
          args: [trainParams()],
          value: 0n,
        }),
        "JobManager__BudgetZero",
      );
      return count("submitTrain reverted BudgetZero");
    }
    const value = parseEther(String(1 + rnd.int(20)));
    const p = trainParams({
      rounds: 1 + rnd.int(3),
      baseRatePerSecond: rnd.pick([0n, parseEther("0.0001"), parseEther("0.05")]),
      targetImprovementBps: rnd.pick([0, 100, 500]),
    });
    const receipt = await mined(
      client,
      client.writeContract({ ...jobs, functionName: "submitTrain", args: [p], value }),
    );
    ledger.deposits += value;
    const jobId = event(receipt, abis.jobs, "JobSubmitted").jobId;
    jobIds.push(jobId);
    statusOf.set(jobId, JobStatus.Open);
    count("submitTrain ok");
  }

  async function assign() {
    const jobId = pickJob(JobStatus.Open, JobStatus.Running);
    const chosen: Hex[] = [];
    for (const n of nodes.filter(() => rnd.chance(0.3)).slice(0, 4)) {
      const [eligible, operator] = await Promise.all([
        owner.readContract({ ...reg, functionName: "isComputeEligible", args: [n.pubkey] }),
        owner.readContract({ ...jobs, functionName: "assignedOperator", args: [jobId, n.pubkey] }),
      ]);
      if (!eligible || BigInt(operator) !== 0n) continue;
      // Operators beat right before taking work, as the worker does.
      await mined(
        n.operator,
        n.operator.writeContract({ ...reg, functionName: "heartbeat", args: [n.pubkey] }),
      );
      chosen.push(n.pubkey);
    }
    if (chosen.length === 0) return count("assign skipped");
    // Only the coordinator assigns (the job's owner is refused: attacks 13).
    await attempt(
      "assign",
      coordinator,
      () => coordinator.writeContract({ ...jobs, functionName: "assign", args: [jobId, chosen] }),
      ["JobManager__WrongStatus", "JobManager__TooManyNodes"],
    );
  }

  async function commitAll() {
    const jobId = pickJob(JobStatus.Running);
    const job = await read.job(jobId);
    const assigned = await owner.readContract({ ...jobs, functionName: "nodesOf", args: [jobId] });
    for (const pk of assigned) {
      const operator = nodes.find((n) => n.pubkey === pk)!.operator;
      const round = rnd.chance(0.9) ? job.currentRound : rnd.int(4);
      const work = { result: `r${rnd.int(3)}` };
      await attempt(
        "commitRound",
        operator,
        () =>
          operator.writeContract({
            ...poc,
            functionName: "commitRound",
            args: [roundCommit(jobId, pk, round, work)],
          }),
        [
          "PoC__AlreadyCommitted",
          "PoC__AlreadySettled",
          "PoC__NotAssigned",
          "PoC__RoundNotOpen",
        ],
      );
    }
  }

  async function closeRound() {
    const jobId = pickJob(JobStatus.Running);
    const job = await read.job(jobId);
    await attempt(
      "closeRound",
      coordinator,
      () =>
        coordinator.writeContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, job.currentRound, `cp-${job.currentRound}`, b32(jobId)],
        }),
      ["JobManager__WrongStatus"],
    );
    if (
      rnd.chance(0.5) && (job.status === JobStatus.Running || job.status === JobStatus.Completed)
    ) {
      await mined(
        coordinator,
        coordinator.writeContract({
          ...jobs,
          functionName: "reportAccuracy",
          args: [jobId, rnd.int(800)],
        }),
      );
    }
  }

  async function finalize() {
    const jobId = pickJob(JobStatus.Completed);
    const client = rnd.pick(actors);
    await attempt(
      "finalize",
      client,
      () => client.writeContract({ ...poc, functionName: "finalize", args: [jobId] }),
      ["PoC__AlreadyFinalized", "PoC__JobNotCompleted"],
    );
  }

  async function withdraw() {
    const client = rnd.pick(actors);
    const before = await read.claimable(client.account.address);
    const receipt = await attempt(
      "withdraw",
      client,
      () => client.writeContract({ ...jobs, functionName: "withdraw" }),
      ["JobManager__NothingToWithdraw"],
    );
    if (!receipt) return assert.equal(before, 0n);
    const amount = event(receipt, abis.jobs, "Withdrawn").amount;
    assert.equal(amount, before);
    ledger.paidOut += amount;
  }

  async function cancel() {
    const jobId = pickJob(JobStatus.Open);
    const job = await read.job(jobId);
    const client = rnd.chance(0.8)
      ? actors.find((a) => a.account.address === job.owner)!
      : rnd.pick(actors);
    await attempt(
      "cancelJob",
      client,
      () => client.writeContract({ ...jobs, functionName: "cancelJob", args: [jobId] }),
      ["JobManager__WrongStatus", "JobManager__NotJobController"],
    );
  }

  /** The coordinator penalises an aggregate of a node in a round it may have committed in. */
  async function penalise() {
    const jobId = pickJob(JobStatus.Running, JobStatus.Completed);
    const assigned = await owner.readContract({ ...jobs, functionName: "nodesOf", args: [jobId] });
    if (assigned.length === 0) return count("penalise skipped");
    const args = [jobId, rnd.int(2), rnd.pick(assigned)] as const;
    await attempt(
      "penaliseAggregator",
      coordinator,
      () =>
        coordinator.writeContract({
          ...fx.c.verification,
          functionName: "penaliseAggregator",
          args,
        }),
      ["Verification__NotAggregatorOffence", "PoC__AlreadySettled"],
    );
  }

  async function timeJump() {
    const r = rnd.next();
    const seconds = r < 0.08
      ? 7 * DAY + rnd.int(DAY)
      : r < 0.4
      ? HOUR + rnd.int(4 * HOUR)
      : 60 + rnd.int(1_800);
    await fx.increaseTime(seconds);
    count("timeJump");
  }

  const table: [number, () => Promise<void>][] = [
    [8, register],
    [4, addStake],
    [6, heartbeatSome],
    [6, timeJump],
    [6, reportMissed],
    [4, slash],
    [2, deactivate],
    [5, withdrawStake],
    [2, withdrawBurned],
    [7, submit],
    [8, assign],
    [10, commitAll],
    [10, closeRound],
    [6, finalize],
    [6, withdraw],
    [3, cancel],
    [2, penalise],
  ];
  const weight = table.reduce((s, [w]) => s + w, 0);
  const choose = () => {
    let r = rnd.int(weight);
    for (const [w, op] of table) {
      if ((r -= w) < 0) return op;
    }
    throw new Error("unreachable");
  };

  // Every random operation needs at least one node and one job to act on.
  await register();
  await submit();
  await checkTotals(0, true);
  for (let step = 1; step <= OPERATIONS; step++) {
    let op = choose();
    if (nodes.length === 0 && ![register, submit, timeJump, withdrawBurned].includes(op)) {
      op = register;
    }
    const t0 = performance.now();
    await op();
    const t1 = performance.now();
    timing.set(op.name, (timing.get(op.name) ?? 0) + t1 - t0);
    await checkTotals(step, step % 50 === 0);
    timing.set("checkTotals", (timing.get("checkTotals") ?? 0) + performance.now() - t1);
  }
  await checkTotals(OPERATIONS, true);

  // The sequence reached the interesting paths, not just reverts.
  const seen = (key: string) => counts.get(key) ?? 0;
  for (
    const key of [
      "finalize ok",
      "withdraw ok",
      "withdrawStake ok",
      "withdrawBurned refused",
      "cancelJob ok",
      "commitRound ok",
      "reportMissedHeartbeats ok",
      "finalize reverted PoC__AlreadyFinalized",
      "withdrawStake reverted NodeCert__StillUnbonding",
    ]
  ) assert.ok(seen(key) > 0, `no "${key}" in ${JSON.stringify(Object.fromEntries(counts))}`);
  if (Deno.env.get("MONEY_VERBOSE")) {
    console.log(Object.fromEntries([...counts].sort()));
    console.log(Object.fromEntries([...timing].map(([k, v]) => [k, Math.round(v)])));
  }
});
