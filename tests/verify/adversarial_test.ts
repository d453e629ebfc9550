/**
 * Adversarial verification with real Workers: in every run, 18 in-process workers train a tiny
 * job in 6 task groups of 3 (redundancy 3) over 2 rounds, and 8 of them cheat:
 *
 * - lazy (sends the starting weights: a zero update), noise (random update), scaled (10x update):
 *   redundancy outliers, slashed 50% (fake gradients);
 * - copycat (commits another group's result): outlier 50%, then copycat 100% and deactivated;
 * - replayed proof (answers a round-1 challenge with its round-0 openings), wrong Merkle proof,
 *   silent after challenge: the answer reverts or never comes, the timeout slashes 10% (failed
 *   verification); the silent node is challenged three times and its third offence takes the
 *   rest of its stake and deactivates it;
 * - forged signature (envelope signed by another key): rejected by the coordinator (401) and not
 *   aggregated; NOT slashed, because anyone can post a forged envelope in a node's name, so a
 *   slash on it would let a stranger burn an honest node's stake.
 *
 * Every honest node is challenged too and must never be slashed; revealed chunks of honest nodes
 * must equal the validator's recomputation; the model must still train. Prints detection rate
 * and false positives over the runs.
 */
import { UNCHECKED_DOMAIN } from "../../lib/crypto/domain.ts";
import assert from "node:assert/strict";
import { type Hex, parseEther } from "viem";
import { startDevnet } from "../../lib/chain/devnet.ts";
import { abis } from "../../lib/chain/contracts.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { f32Bytes, type LocalResult } from "../../lib/round/local_training.ts";
import { merkleRoot } from "../../lib/crypto/merkle.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { roundHyper, taskSeed, taskShard } from "../../lib/job/job_spec.ts";
import { decodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { recomputeRound, wrongChunks } from "../../lib/verify/recompute.ts";
import { CoordinatorError } from "../../lib/worker/client.ts";
import {
  challengeAll,
  closeRound,
  expireChallenges,
  nodeState,
  slashesOf,
  startVerifyRun,
  type VerifyRun,
} from "./_verify_job.ts";

const RUNS = 5;
const ROLES = [
  "lazy",
  "noise",
  "scaled",
  "copycat",
  "replay",
  "wrong-proof",
  "silent",
  "forged",
] as const;
type Role = typeof ROLES[number] | "honest";
const STAKE = parseEther("10");
const pct = (bps: bigint, of: bigint) => of * bps / 10_000n;
const Reason = { FailedVerification: 1, FakeGradients: 2, Cheating: 3 };

function withDelta(r: LocalResult, global: Float32Array, delta: Float32Array): LocalResult {
  const weights = new Float32Array(global.length);
  for (let i = 0; i < weights.length; i++) weights[i] = global[i]! + delta[i]!;
  return {
    ...r,
    delta,
    weights,
    payload: undefined,
    gradientDigest: merkleRoot(f32Bytes(delta)),
    weightsDigest: merkleRoot(f32Bytes(weights)),
  };
}

/** Gives each task group's members their roles; returns role by node. */
function cast(run: VerifyRun): Map<Hex, Role> {
  const groups = new Map<number, Hex[]>();
  for (const [n, g] of Object.entries(run.record.taskOf)) {
    groups.set(g, [...(groups.get(g) ?? []), n as Hex].sort());
  }
  const g = (i: number) => groups.get(i)!;
  const roles = new Map<Hex, Role>();
  for (const n of Object.keys(run.record.taskOf)) roles.set(n as Hex, "honest");
  // One update-cheater per group (groups 0-3), challenge cheaters with honest results in 4-5.
  roles.set(g(0)[0]!, "lazy");
  roles.set(g(1)[0]!, "noise");
  roles.set(g(2)[0]!, "scaled");
  roles.set(g(3)[0]!, "copycat");
  roles.set(g(4)[0]!, "replay");
  roles.set(g(4)[1]!, "wrong-proof");
  roles.set(g(5)[0]!, "silent");
  roles.set(g(5)[1]!, "forged");
  return roles;
}

Deno.test({
  name: "adversarial workers are caught and slashed as the design says; honest ones never",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using net = await startDevnet({ accounts: 20, balanceArth: 1000 });
    const trainer = createTrainer(loadKernel());
    const caught = new Map<Role, number>(ROLES.map((r) => [r, 0]));
    let honestChecks = 0;
    let falsePositives = 0;
    for (let run_ = 0; run_ < RUNS; run_++) {
      const run = await startVerifyRun(net, trainer, {
        nodes: 18,
        shards: 6,
        rounds: 2,
        localSteps: 3,
        seed: 100 + run_,
        // The test issues every challenge itself (challengeAll), so the coordinator's own
        // policy-driven challenges are off here; functions/_verification.ts has its own test.
        verification: { redundancy: 3, challengeRate: 0, sampleRate: 0 },
      });
      try {
        const roles = cast(run);
        const byKey = new Map(run.workers.map((w, i) => [w.nodePubkey, i]));
        const nodeOf = (role: Role) => [...roles].find(([, r]) => r === role)![0];
        const original = [...roles.keys()].find((n) => run.record.taskOf[n] === 4)!;
        let originalResult: LocalResult | undefined;
        for (const [node, role] of roles) {
          const cheat = run.cheats[byKey.get(node)!]!;
          if (node === original) {
            cheat.tamper = (r) => (originalResult = r);
          }
          if (role === "lazy") {
            cheat.tamper = (r, t) =>
              t.round === 0 ? withDelta(r, t.global, new Float32Array(t.global.length)) : r;
          } else if (role === "noise") {
            cheat.tamper = (r, t) =>
              t.round === 0
                ? withDelta(r, t.global, r.delta.map(() => (Math.random() - 0.5) * 0.02))
                : r;
          } else if (role === "scaled") {
            cheat.tamper = (r, t) =>
              t.round === 0 ? withDelta(r, t.global, r.delta.map((x) => x * 10)) : r;
          } else if (role === "copycat") {
            cheat.tamper = (r, t) => {
              if (t.round !== 0 || !originalResult) return r;
              const o = originalResult;
              const { delta, weights, lossDigest, gradientDigest, weightsDigest } = o;
              return { ...r, delta, weights, lossDigest, gradientDigest, weightsDigest };
            };
          } else if (role === "replay") cheat.challenges = "replay";
          else if (role === "wrong-proof") cheat.challenges = "wrong-proof";
          else if (role === "silent") cheat.challenges = "silent";
          else if (role === "forged") cheat.signWith = generateNodeKey();
        }
        // The copycat needs its original's result: train group 4 first.
        const order = [...run.workers].sort((a, b) =>
          (run.record.taskOf[b.nodePubkey] === 4 ? 1 : 0) -
          (run.record.taskOf[a.nodePubkey] === 4 ? 1 : 0)
        );
        const all = [...roles.keys()];
        const initialLoss = run.record.initialValLoss;
        let lastLoss = initialLoss;
        let forgedRejected = false;
        for (let round = 0; round < 2; round++) {
          const refused = new Set<string>();
          for (const w of order) {
            try {
              await w.tick();
            } catch (e) {
              assert.ok(e instanceof CoordinatorError, String(e));
              if (e.status === 403 && e.code === "SIGNER_UNKNOWN") {
                // Deactivated in round 0 (slashed to the floor): it may not even store any more.
                assert.notEqual(roles.get(w.nodePubkey), "honest", String(e));
                refused.add(w.nodePubkey);
                continue;
              }
              assert.equal(e.status, 401, String(e));
              assert.equal(w.nodePubkey, nodeOf("forged"));
              forgedRejected = true;
            }
          }
          // The validator challenges every commit of the round (silent: three times in round 0).
          await challengeAll(run, round, all.filter((n) => !refused.has(n)));
          if (round === 0) await challengeAll(run, 0, [nodeOf("silent"), nodeOf("silent")]);
          for (const w of run.workers) await w.answerChallenges();
          if (round === 0) await checkRevealed(run, roles, trainer);
          const failed = await expireChallenges(run, all);
          for (const n of failed) assert.notEqual(roles.get(n), "honest", "honest node timed out");
          const closed = await closeRound(run);
          // A redundant copy that agreed is delivered, not missing: its task must not move.
          for (const n of closed.missing) {
            assert.notEqual(roles.get(n as Hex), "honest", `honest ${n} listed as missing`);
          }
          lastLoss = closed.valLoss;
        }

        // Assert: slashes per role, exactly as the design says.
        const expect: Record<Role, (s: [bigint, number][]) => boolean> = {
          lazy: (s) => eq(s, [[pct(5000n, STAKE), Reason.FakeGradients]]),
          noise: (s) => eq(s, [[pct(5000n, STAKE), Reason.FakeGradients]]),
          scaled: (s) => eq(s, [[pct(5000n, STAKE), Reason.FakeGradients]]),
          copycat: (s) =>
            eq(s, [[pct(5000n, STAKE), Reason.FakeGradients], [
              pct(5000n, STAKE),
              Reason.Cheating,
            ]]),
          replay: (s) => eq(s, [[pct(1000n, STAKE), Reason.FailedVerification]]),
          // Challenged and wrong in both rounds: 10%, then 10% of the rest.
          "wrong-proof": (s) =>
            eq(s, [[pct(1000n, STAKE), Reason.FailedVerification], [
              pct(1000n, STAKE - pct(1000n, STAKE)),
              Reason.FailedVerification,
            ]]),
          silent: (s) => {
            const a = pct(1000n, STAKE), b = pct(1000n, STAKE - a), c = pct(1000n, STAKE - a - b);
            return eq(s.slice(0, 4), [
              [a, Reason.FailedVerification],
              [b, Reason.FailedVerification],
              [c, Reason.FailedVerification],
              [STAKE - a - b - c, Reason.FailedVerification],
            ]);
          },
          forged: (s) => s.length === 0 && forgedRejected,
          honest: (s) => s.length === 0,
        };
        for (const [node, role] of roles) {
          const s = await slashesOf(run, node);
          if (role === "honest") {
            honestChecks++;
            if (!expect.honest(s)) falsePositives++;
            assert.deepEqual(s, [], `honest node ${node} was slashed`);
            continue;
          }
          assert.ok(expect[role](s), `${role}: unexpected slashes ${JSON.stringify(s, big)}`);
          caught.set(role, caught.get(role)! + 1);
        }
        for (const role of ["copycat", "silent"] as const) {
          const st = await nodeState(run, nodeOf(role));
          assert.equal(st.stake, 0n, `${role} keeps stake`);
          assert.equal(st.active, false, `${role} still active`);
        }
        assert.ok(lastLoss < initialLoss, `model did not train: ${initialLoss} -> ${lastLoss}`);
        const pool = await run.validator.readContract({
          address: run.addresses.registry,
          abi: abis.registry,
          functionName: "slashPool",
        });
        assert.ok(pool > 0n);
      } finally {
        await run.close();
      }
    }
    console.log(`\nadversarial runs: ${RUNS}`);
    for (const [role, n] of caught) {
      console.log(`  ${role.padEnd(12)} detected ${n}/${RUNS} (${(100 * n / RUNS).toFixed(0)}%)`);
    }
    console.log(
      `  honest       false positives ${falsePositives}/${honestChecks} (${
        (100 * falsePositives / honestChecks).toFixed(1)
      }%)`,
    );
  },
});

/** The validator recomputes each group's task once and compares every revealed chunk. */
async function checkRevealed(
  run: VerifyRun,
  roles: Map<Hex, Role>,
  trainer: ReturnType<typeof createTrainer>,
): Promise<void> {
  const global = decodeCheckpoint(await run.ctx.store.get(run.record.globalCid)).weights;
  const logs = await run.validator.getContractEvents({
    address: run.addresses.verification,
    abi: abis.verification,
    eventName: "ChunkRevealed",
    fromBlock: 0n,
  });
  const issued = await run.validator.getContractEvents({
    address: run.addresses.verification,
    abi: abis.verification,
    eventName: "ChallengeIssued",
    fromBlock: 0n,
  });
  const nodeOfChallenge = new Map(issued.map((l) => [l.args.challengeId!, l.args.nodePubkey!]));
  const expected = new Map<number, Uint8Array>();
  for (const l of logs) {
    const node = nodeOfChallenge.get(l.args.challengeId!)!.toLowerCase() as Hex;
    const task = run.record.taskOf[node]!;
    if (!expected.has(task)) {
      const data = await run.ctx.store.get(run.spec.shards[taskShard(run.spec, task)]!.cid);
      expected.set(
        task,
        recomputeRound(trainer, global, {
          jobId: run.jobId,
          round: 0,
          seed: taskSeed(run.spec, task),
          localSteps: run.spec.localSteps,
          proofEvery: run.spec.proofEvery,
          domain: UNCHECKED_DOMAIN,
          data,
          hyper: roundHyper(run.spec, 0),
        }).updateBytes,
      );
    }
    const wrong = wrongChunks(expected.get(task)!, [{
      chunkIndex: Number(l.args.chunkIndex!),
      chunk: l.args.chunk!,
    }]);
    const role = roles.get(node)!;
    if (["lazy", "noise", "scaled", "copycat"].includes(role)) {
      // Fake updates open fine against their own commitment but differ from the recomputation
      // (a zero-update chunk can only match where the honest chunk is zero, which it never is).
      assert.equal(wrong.length, 1, `${role}: revealed chunk matches the honest update`);
    } else {
      assert.deepEqual(wrong, [], `${role} node revealed a chunk that differs from recomputation`);
    }
  }
}

function eq(a: [bigint, number][], b: [bigint, number][]): boolean {
  return a.length === b.length && a.every(([x, r], i) => x === b[i]![0] && r === b[i]![1]);
}

function big(_k: string, v: unknown) {
  return typeof v === "bigint" ? v.toString() : v;
}
