/**
 * Federated-training figures in one run:
 *
 *   deno task bench:federated            # ~5-8 min on 2 cores
 *   deno task bench:federated --quick    # smaller everything, for a smoke run (~15 s)
 *   deno task bench:federated --skip 1   # only the training comparisons (2 and 3)
 *
 * 1. One round with 1,000 nodes through the real coordinator functions (register, assign,
 *    worker tick = 1 local step + SVDB upload + on-chain commit + signed update, aggregate,
 *    finalize) on an anvil devnet: wall time per phase and peak RSS of this process. A single
 *    job's KV record cannot hold 1,000 nodes (Deno KV values are limited to 64 KiB), so the 1,000
 *    nodes are split over 4 coordinator KV shards of 250 nodes, one job each, aggregated in one
 *    pass. Then ProofOfCompute.finalize over one 1,000-node job, chain only, against the block
 *    gas limit.
 * 2. Federated (8 Brown genres, non-IID, R rounds x L local steps x B per node, streaming
 *    FedAvg) vs centralized (8*R*L steps of the same B on the merged shards) validation loss at
 *    equal samples, as a ratio; median over seeds.
 * 3. FedAvg (L local steps) vs FedSGD (1 step per round): rounds to reach the same validation
 *    loss, as a ratio; median over seeds.
 */
import { parseArgs } from "node:util";
import type { Hex } from "viem";
import { parseEther } from "viem";
import { startDevnet } from "../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../lib/chain/client.ts";
import { deployArtha } from "../lib/chain/deploy.ts";
import { abis } from "../lib/chain/contracts.ts";
import { submitTrain } from "../lib/chain/submit_train.ts";
import { assignNodes } from "../lib/chain/assign_nodes.ts";
import { commitRound } from "../lib/chain/commit_round.ts";
import { closeRound, reportAccuracy } from "../lib/chain/close_round.ts";
import { ChainCallError, sendContract } from "../lib/chain/send_contract.ts";
import { generateNodeKey, type NodeKey } from "../lib/crypto/keys.ts";
import { jobSpecHash, workTerms } from "../lib/job/job_spec.ts";
import { prepareJob } from "../lib/job/job_owner.ts";
import { defaultHyper, trainLocal } from "../lib/round/local_training.ts";
import { StreamingFedAvg } from "../lib/strategy/streaming_fed_avg.ts";
import { openFsStore } from "../lib/store/store.ts";
import { concatBytes } from "../lib/crypto/digest.ts";
import { createTrainer, type Hyper } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { initWeights, type ModelConfig, paramLayout } from "../kernel/params.ts";
import { evalBatches, loadBrownShards, mergeShards, type Shard } from "../kernel/data.ts";
import { type Context, DEFAULT_CONFIG } from "../lib/coordinator/context.ts";
import { createRouter } from "../functions/router.ts";
import { Worker } from "../lib/worker/worker.ts";
import { UNCHECKED_DOMAIN } from "../lib/crypto/domain.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean", default: false }, skip: { type: "string", default: "" } },
});
const QUICK = args.quick;
const SKIP = new Set(args.skip.split(",").filter(Boolean));

const trainer = createTrainer(loadKernel());
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Peak RSS of this process, sampled every 50 ms. */
function rssSampler() {
  let peak = Deno.memoryUsage().rss;
  const id = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 50);
  return { peak: () => Math.max(peak, Deno.memoryUsage().rss), stop: () => clearInterval(id) };
}

/** Runs `fn` over `items` in `lanes` sequential lanes (one per operator account: no nonce races). */
async function inLanes<T>(items: T[], lanes: number, fn: (x: T, i: number) => Promise<void>) {
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    for (let i = lane; i < items.length; i += lanes) await fn(items[i]!, i);
  }));
}

// ----------------------------------------------------------------- 1. a 1,000-node round

async function thousandNodeRound(nodes: number, kvShards: number, operators: number) {
  const rss = rssSampler();
  const t0 = performance.now();
  const phases: [string, number][] = [];
  let mark = t0;
  const phase = (name: string) => {
    const now = performance.now();
    phases.push([name, now - mark]);
    mark = now;
  };
  await using net = await startDevnet({ accounts: 2 + operators });
  const client = (i: number) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const coordinator = client(0);
  const owner = client(1);
  const ops = Array.from({ length: operators }, (_, k) => client(2 + k));
  const addresses = await deployArtha(coordinator, { settlementDelay: 0 });
  const dir = await Deno.makeTempDir({ prefix: "artha-bench-fed-" });
  const store = await openFsStore(`${dir}/svdb`);
  const kvs: Deno.Kv[] = [];
  try {
    const model: ModelConfig = { kind: "gpt", maxT: 32, layers: 1, heads: 4, width: 16 };
    const shards = loadBrownShards().map((s) => ({ ...s, train: s.train.subarray(0, 65_536) }));
    const { spec, specCid } = await prepareJob(store, {
      model,
      shards,
      rounds: 1,
      localSteps: 1,
      B: 8,
      T: 32,
    });
    const perShard = Math.ceil(nodes / kvShards);
    const coordinators: {
      ctx: Context;
      jobId: Hex;
      route: (req: Request) => Promise<Response>;
      updateMs: number;
    }[] = [];
    for (let c = 0; c < kvShards; c++) {
      const kv = await Deno.openKv(`${dir}/coordinator-${c}.kv`);
      kvs.push(kv);
      const ctx: Context = {
        kv,
        store,
        chain: { client: coordinator, addresses, chainId: net.chainId },
        config: DEFAULT_CONFIG,
        now: Date.now,
      };
      const route = createRouter(ctx);
      const { jobId } = await submitTrain(owner, {
        addresses,
        budget: parseEther(String(perShard)),
        terms: {
          modelCid: spec.initialWeights,
          datasetCid: spec.shards[0]!.cid,
          paramsHash: jobSpecHash(spec),
          rounds: 1,
          nodesWanted: perShard,
          redundancy: 1,
          baseRatePerSecond: parseEther("0.001"),
          targetImprovementBps: 100,
          ...workTerms(spec),
        },
      });
      coordinators.push({ ctx, jobId, route, updateMs: 0 });
    }
    const post = (c: number, path: string, body: unknown) =>
      coordinators[c]!.route(
        new Request(`http://coordinator${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
      ).then(async (r) => {
        const b = await r.json();
        if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(b)}`);
        return b;
      });
    const workers = Array.from({ length: nodes }, (_, i) => {
      const c = Math.floor(i / perShard);
      const co = coordinators[c]!;
      return new Worker({
        coordinator: async (path, init) => {
          const started = performance.now();
          const res = await co.route(new Request(`http://coordinator${path}`, init));
          if (path === "/aggregate/update") co.updateMs += performance.now() - started;
          return res;
        },
        client: ops[i % operators]!,
        addresses,
        chainId: net.chainId,
        key: generateNodeKey(),
        trainer,
        heartbeatEveryMs: Infinity,
      });
    });
    phase("devnet, contracts, spec, 4 jobs escrowed");
    await inLanes(workers, operators, (w) => w.register());
    phase(`${nodes} nodes staked on chain and bound (POST /register)`);
    for (let c = 0; c < kvShards; c++) {
      await post(c, "/assign", { jobId: coordinators[c]!.jobId, specCid });
    }
    phase("POST /assign (eligibility reads + assign txs)");
    const outcomes: string[] = [];
    await inLanes(workers, operators, async (w) => {
      const r = await w.tick();
      if (r !== "trained") outcomes.push(r);
    });
    if (outcomes.length) {
      throw new Error(`Cannot run round: ${outcomes.length} workers got no task`);
    }
    phase(`${nodes} worker ticks (1 step, upload, commitRound tx, POST update)`);
    const aggStart = performance.now();
    let updates = 0;
    for (let c = 0; c < kvShards; c++) {
      const [out] = await post(c, "/aggregate", { jobId: coordinators[c]!.jobId });
      if (out.status !== "closed") throw new Error(`round did not close: ${JSON.stringify(out)}`);
      updates += out.updates;
    }
    const aggregateMs = performance.now() - aggStart;
    phase(`POST /aggregate: ${updates} updates, FedAvg, checkpoint, closeRound`);
    const finalizeGas: bigint[] = [];
    for (let c = 0; c < kvShards; c++) {
      const [fin] = await post(c, "/finalize", { jobId: coordinators[c]!.jobId });
      const receipt = await coordinator.getTransactionReceipt({ hash: fin.finalize.txHash });
      finalizeGas.push(receipt.gasUsed);
    }
    phase(`POST /finalize x${kvShards}`);
    const roundMs = phases.slice(1).reduce((s, [, ms]) => s + ms, 0);
    const updateMs = coordinators.reduce((s, c) => s + c.updateMs, 0);

    // ProofOfCompute.finalize over one job of all `nodes` nodes, chain only.
    const big = await finalizeAtScale(coordinator, owner, ops, addresses, workers, specCid);
    phase(`chain-only ${nodes}-node job: assign, ${nodes} commits, close, finalize`);
    rss.stop();
    return { phases, roundMs, aggregateMs, updateMs, finalizeGas, big, peakRss: rss.peak() };
  } finally {
    rss.stop();
    for (const kv of kvs) kv.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }

  async function finalizeAtScale(
    coordinator: ArthaClient,
    owner: ArthaClient,
    ops: ArthaClient[],
    addresses: Awaited<ReturnType<typeof deployArtha>>,
    workers: Worker[],
    specCid: string,
  ) {
    const keys = workers.map((w) => w.nodePubkey);
    const { jobId } = await submitTrain(owner, {
      addresses,
      budget: parseEther(String(keys.length)),
      terms: {
        modelCid: specCid,
        datasetCid: specCid,
        paramsHash: `0x${"ab".repeat(32)}`,
        rounds: 1,
        nodesWanted: keys.length,
        redundancy: 1,
        baseRatePerSecond: parseEther("0.001"),
        targetImprovementBps: 100,
        ...workTerms({ localSteps: 1, batch: { B: 8, T: 1, accumSteps: 1 } }),
      },
    });
    for (let i = 0; i < keys.length; i += 100) {
      await assignNodes(coordinator, { addresses, jobId, nodes: keys.slice(i, i + 100) });
    }
    const digest = (i: number, tag: number) =>
      `0x${((i * 4 + tag) >>> 0).toString(16).padStart(64, "0")}` as Hex;
    await inLanes(keys, ops.length, async (node, i) => {
      await commitRound(ops[i % ops.length]!, {
        addresses,
        commit: {
          jobId,
          round: 0,
          nodePubkey: node,
          lossDigest: digest(i, 1),
          gradientDigest: digest(i, 2),
          weightsDigest: digest(i, 3),
          proofsRoot: digest(i, 0),
        },
      });
    });
    await closeRound(coordinator, {
      addresses,
      jobId,
      round: 0,
      checkpointCid: specCid,
      weightsDigest: digest(0, 0),
    });
    await reportAccuracy(coordinator, { addresses, jobId, improvementBps: 500 });
    const block = await coordinator.getBlock();
    let estimate: bigint | string;
    try {
      estimate = await coordinator.estimateContractGas({
        address: addresses.proofs,
        abi: abis.proofs,
        functionName: "finalize",
        args: [jobId],
        gas: block.gasLimit,
      });
    } catch (e) {
      estimate = `estimate failed: ${(e as Error).message.split("\n")[0]}`;
    }
    let sent: bigint | string;
    try {
      sent = (await sendContract(coordinator, {
        address: addresses.proofs,
        abi: abis.proofs,
        functionName: "finalize",
        args: [jobId],
      })).gasUsed;
    } catch (e) {
      sent = e instanceof ChainCallError ? e.message : (e as Error).message.split("\n")[0]!;
    }
    return { nodes: keys.length, blockGasLimit: block.gasLimit, estimate, sent };
  }
}

// ---------------------------------------------- 2-3. federated vs central, FedAvg vs FedSGD

interface Setup {
  shards: Shard[];
  central: Uint8Array;
  evals: ReturnType<typeof evalBatches>;
  hyper: Hyper;
  key: NodeKey;
}

function setup(B: number, T: number): Setup {
  const all = loadBrownShards();
  // 8 genres, each a different writing style: the non-IID split.
  const pick = [
    "adventure",
    "editorial",
    "government",
    "hobbies",
    "learned",
    "news",
    "religion",
    "romance",
  ];
  const shards = pick.map((g) => all.find((s) => s.name === `brown/${g}`)!);
  const val = concatBytes(...shards.map((s) => s.val.subarray(0, 4096)));
  const model: ModelConfig = { kind: "gpt", maxT: T, layers: 1, heads: 2, width: 32 };
  return {
    shards,
    central: mergeShards("brown/8", shards).train,
    evals: evalBatches(val, B, T, 16),
    hyper: defaultHyper(model, { B, T, lr: 3e-3 }),
    key: generateNodeKey(),
  };
}

function valLoss(s: Setup, weights: Float32Array): number {
  let sum = 0;
  for (const b of s.evals) sum += trainer.evalLoss(weights, b, s.hyper);
  return sum / s.evals.length;
}

const ZERO: Hex = `0x${"00".repeat(32)}`;

/** R rounds of L local steps on every shard, streaming FedAvg; loss after every round. */
function federated(s: Setup, seed: number, rounds: number, L: number, target?: number) {
  let global = initWeights(loadKernel(), paramLayout(s.hyper.model), seed);
  const curve = [valLoss(s, global)];
  for (let r = 0; r < rounds; r++) {
    const acc = new StreamingFedAvg(global.length);
    s.shards.forEach((shard, i) => {
      const res = trainLocal(trainer, global, {
        jobId: ZERO,
        round: r,
        seed: (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0,
        localSteps: L,
        proofEvery: L,
        domain: UNCHECKED_DOMAIN,
        data: shard.train,
        hyper: s.hyper,
      }, s.key);
      acc.add({ nodeId: String(i), delta: res.delta, numSamples: res.samples });
    });
    const { delta } = acc.finish();
    const next = global.slice();
    for (let j = 0; j < next.length; j++) next[j] = next[j]! + delta[j]!;
    global = next;
    curve.push(valLoss(s, global));
    if (target !== undefined && curve.at(-1)! <= target) break;
  }
  return curve;
}

/** One run of `steps` steps on the merged shards (one optimizer state throughout). */
function centralized(s: Setup, seed: number, steps: number): number {
  const w = initWeights(loadKernel(), paramLayout(s.hyper.model), seed);
  const res = trainLocal(trainer, w, {
    jobId: ZERO,
    round: 0,
    seed,
    localSteps: steps,
    proofEvery: steps,
    domain: UNCHECKED_DOMAIN,
    data: s.central,
    hyper: s.hyper,
  }, s.key);
  return valLoss(s, res.weights);
}

/** First round index whose loss is <= target (Infinity if never). */
const roundsTo = (curve: number[], target: number) => {
  const i = curve.findIndex((l) => l <= target);
  return i < 0 ? Infinity : i;
};

// ------------------------------------------------------------------------------- main

const started = performance.now();
const SEEDS = QUICK ? [1] : [1, 2, 3];
console.log(`bench:federated  seeds ${SEEDS.join(",")}  ${QUICK ? "(quick)" : ""}`);

if (!SKIP.has("1")) {
  const nodes = QUICK ? 100 : 1000;
  console.log(`\n1. one round with ${nodes} nodes through the coordinator functions`);
  const r = await thousandNodeRound(nodes, 4, 10);
  for (const [name, ms] of r.phases) console.log(`   ${secs(ms).padStart(8)}  ${name}`);
  console.log(`   round wall time (register -> finalize): ${secs(r.roundMs)}`);
  console.log(
    `   aggregation: ${secs(r.updateMs)} handler time validating ${nodes} updates ` +
      `(POST /aggregate/update, summed over 10 concurrent lanes), ` +
      `${secs(r.aggregateMs)} closing 4 rounds (FedAvg + checkpoint + closeRound)`,
  );
  console.log(`   peak RSS of this process: ${mib(r.peakRss)} (anvil not included)`);
  console.log(
    `   finalize gas per ${nodes / 4}-node job: ${r.finalizeGas.join(", ")}`,
  );
  console.log(
    `   ProofOfCompute.finalize over ${r.big.nodes} nodes: block gas limit ${r.big.blockGasLimit}, ` +
      `estimate ${r.big.estimate}, sent ${r.big.sent}`,
  );
}

if (!SKIP.has("2")) {
  const B = 8, T = 32, R = QUICK ? 3 : 15, L = QUICK ? 5 : 10;
  const s = setup(B, T);
  console.log(
    `\n2. federated vs centralized at equal samples: gpt w32 l1, B ${B} T ${T}, 8 Brown genres`,
  );
  console.log(`   federated ${R} rounds x ${L} local steps x 8 nodes; central ${8 * R * L} steps`);
  const ratios: number[] = [];
  for (const seed of SEEDS) {
    const fed = federated(s, seed, R, L).at(-1)!;
    const cen = centralized(s, seed, 8 * R * L);
    ratios.push(fed / cen);
    console.log(
      `   seed ${seed}: federated ${fed.toFixed(4)}  central ${cen.toFixed(4)}  ratio ${
        (fed / cen).toFixed(4)
      }`,
    );
  }
  console.log(`   median federated/central val-loss ratio: ${median(ratios).toFixed(4)}`);
}

if (!SKIP.has("3")) {
  const B = 8, T = 32, L = QUICK ? 5 : 10;
  const capAvg = QUICK ? 10 : 40, capSgd = QUICK ? 40 : 400;
  const s = setup(B, T);
  console.log(`\n3. FedAvg (${L} local steps) vs FedSGD (1 step) rounds to a target loss`);
  const ratios: number[] = [];
  for (const seed of SEEDS) {
    const avg = federated(s, seed, capAvg, L);
    const sgd = federated(s, seed, capSgd, 1);
    // 90% of the improvement the weaker method achieves within its cap: both reach it.
    const initial = avg[0]!;
    const target = initial - 0.9 * (initial - Math.max(Math.min(...avg), Math.min(...sgd)));
    const ra = roundsTo(avg, target), rs = roundsTo(sgd, target);
    ratios.push(rs / ra);
    console.log(
      `   seed ${seed}: target ${target.toFixed(4)} (from ${initial.toFixed(4)}): FedAvg ${ra} ` +
        `rounds, FedSGD ${rs} rounds (caps ${capAvg}/${capSgd}); ratio ${(rs / ra).toFixed(1)}`,
    );
  }
  console.log(`   median FedSGD/FedAvg rounds ratio: ${median(ratios).toFixed(1)}`);
}

console.log(`\ntotal ${secs(performance.now() - started)}`);
