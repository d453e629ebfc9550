/**
 * The phases of the demo job that go through the coordinator and lib/chain verbs (demo.ts runs
 * them in order, with the phases that read the contracts directly): deploy the contracts, prepare
 * and submit the job, start the laptops, assign, run the rounds, publish and sample.
 */
import { bytesToHex, formatEther, parseEther } from "viem";
import type { Hex } from "viem";
import type { Devnet } from "./lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "./lib/chain/client.ts";
import { deployArtha } from "./lib/chain/deploy.ts";
import type { ArthaAddresses } from "./lib/chain/contracts.ts";
import { submitTrain } from "./lib/chain/submit_train.ts";
import { registerModel } from "./lib/chain/register_model.ts";
import { publishModel } from "./lib/chain/publish_model.ts";
import { readJob } from "./lib/chain/read_job.ts";
import { generateNodeKey } from "./lib/crypto/keys.ts";
import { type JobSpec, jobSpecHash, workTerms } from "./lib/job/job_spec.ts";
import { prepareJob } from "./lib/job/job_owner.ts";
import { DEFAULT_ROUND_DEADLINE_MS } from "./lib/job/round_policy.ts";
import { getModelFolder } from "./lib/model/model_folder.ts";
import type { DemoSettings } from "./lib/config.ts";
import { formatArthaUri } from "./lib/store/cid.ts";
import { createTrainer } from "./kernel/train_step.ts";
import { loadKernel } from "./kernel/wasm_module.ts";
import { loadBrownShards } from "./kernel/data.ts";
import type { ModelConfig } from "./kernel/params.ts";
import type { LocalCoordinator } from "./functions/local.ts";
import { createRouter } from "./functions/router.ts";
import { findChromium } from "./lib/browser/find_chromium.ts";
import type { JobRecord } from "./lib/coordinator/state.ts";
import { Worker } from "./lib/worker/worker.ts";
import { synchronousRecipe } from "./lib/job/recipe.ts";
import { DEFAULT_STAGE_MS, type SecureRoundView } from "./lib/round/secure_session.ts";

/** The switches a caller of runDemo may leave out (the CLI always sets them). */
type DemoSwitches = "hierarchical" | "synchronous" | "browsers";

/**
 * What runDemo takes: the demo's settings (lib/_config_demo.ts, where each field is described)
 * with the sequence shape, its switches optional, and any value the job spec allows where the CLI
 * builds a narrower one.
 */
export interface DemoOptions
  extends
    Omit<DemoSettings, DemoSwitches | "compression" | "robust" | "privacy" | "verification">,
    Partial<Pick<DemoSettings, DemoSwitches>> {
  /** Sequence length and the laptops' local batch. */
  T: number;
  B: number;
  compression?: JobSpec["compression"];
  robust?: JobSpec["robust"];
  privacy?: JobSpec["privacy"];
  verification?: JobSpec["verification"];
}

export interface DemoResult {
  job: JobRecord;
  rewards: { node: Hex; total: bigint }[];
  gasByRound: bigint[];
  publishedCid: string;
  seconds: number;
  /** Bytes of one raw fp32 delta of the model (4 per parameter): the compression baseline. */
  fp32UpdateBytes: number;
  /** Wall seconds of each phase of the run, in the order they ran (see {@link timed}). */
  phases: Record<string, number>;
}

/** Runs `fn` and adds its wall time in seconds to `phases[name]`. */
export async function timed<T>(
  phases: Record<string, number>,
  name: string,
  fn: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    phases[name] = (phases[name] ?? 0) + (performance.now() - started) / 1000;
  }
}

/** One line: each phase's seconds, e.g. `deploy 1.0 s | register 12.3 s`. */
export function formatPhases(phases: Record<string, number>): string {
  return Object.entries(phases).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(" | ");
}

type Account = Devnet["accounts"][number];

/** The devnet with the contracts deployed: who acts, and where. */
export interface DemoChain {
  chainId: number;
  /** A client acting as `account` on the devnet. */
  client: (account: Account | undefined) => ArthaClient;
  coordinator: ArthaClient;
  owner: ArthaClient;
  workerAccts: Account[];
  addresses: ArthaAddresses;
}

/** What every phase after deployment shares. */
export interface DemoRun extends DemoChain {
  o: DemoOptions;
  log: (s: string) => void;
  local: LocalCoordinator;
  /** Wall seconds per phase, filled as the run goes (DemoResult.phases). */
  phases: Record<string, number>;
}

/** The submitted job, as the later phases need it. */
export interface DemoJob {
  jobId: Hex;
  specCid: string;
  spec: JobSpec;
  modelId: Hex;
  model: ModelConfig;
}

/**
 * How many laptops act at once. Each has its own account, so their transactions never race for
 * a nonce; the bound keeps this process and anvil (two cores between them) busy without queueing
 * thousands of requests.
 */
export const LAPTOP_CONCURRENCY = 16;

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first error. */
export async function eachConcurrently<T>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<unknown>,
  limit = LAPTOP_CONCURRENCY,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

export async function jsonOf(res: Response) {
  const body = await res.json();
  if (!res.ok) throw new Error(`coordinator: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function gasSince(client: ArthaClient, from: bigint): Promise<[bigint, bigint]> {
  const to = await client.getBlockNumber({ cacheTime: 0 }); // viem caches it for 4 s otherwise
  let gas = 0n;
  for (let b = from + 1n; b <= to; b++) gas += (await client.getBlock({ blockNumber: b })).gasUsed;
  return [gas, to];
}

/** Deploys the eight contracts from the first account; the second is the job owner. */
export async function deployChain(net: Devnet, log: (s: string) => void): Promise<DemoChain> {
  const [coordinatorAcct, ownerAcct, ...workerAccts] = net.accounts;
  const client = (account: typeof coordinatorAcct) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: account! });
  const coordinator = client(coordinatorAcct);
  const owner = client(ownerAcct);
  const addresses = await deployArtha(coordinator);
  log(`chain ${net.rpcUrl}: contracts deployed (registry ${addresses.registry})`);
  return { chainId: net.chainId, client, coordinator, owner, workerAccts, addresses };
}

/** The job owner: non-IID shards (one Brown genre each), spec, escrow, model registration. */
export async function submitJob(run: DemoRun): Promise<DemoJob> {
  const { o, owner, addresses } = run;
  const model = { kind: "gpt" as const, maxT: o.T, layers: o.layers, heads: 4, width: o.width };
  const { spec, specCid } = await prepareJob(run.local.ctx.store, {
    model,
    shards: loadBrownShards(),
    rounds: o.rounds,
    B: o.B,
    T: o.T,
    deadlineMs: DEFAULT_ROUND_DEADLINE_MS,
    compression: o.compression,
    robust: o.robust,
    privacy: o.privacy,
    nodes: o.nodes + (o.browsers ?? 0),
    verification: o.verification,
    hierarchical: o.hierarchical,
    secureAggregation: o.secureAggregation,
    ...(o.synchronous ? synchronousRecipe(o.rounds, o.lr) : {
      localSteps: o.localSteps,
      strategy: o.strategy,
      optimizer: o.optimizer,
      lr: o.lr,
    }),
  });
  const budget = parseEther(String(Math.max(10, o.nodes + (o.browsers ?? 0))));
  const job = await submitTrain(owner, {
    addresses,
    budget,
    terms: {
      modelCid: spec.initialWeights,
      datasetCid: spec.shards[0]!.cid,
      paramsHash: jobSpecHash(spec),
      rounds: o.rounds,
      nodesWanted: o.nodes + (o.browsers ?? 0),
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
    publisher: run.coordinator.account.address,
  });
  run.log(
    `job ${job.jobId}: ${formatEther(budget)} ARTH escrowed; spec ${
      formatArthaUri(specCid)
    }; ${spec.shards.length} genre shards`,
  );
  return { jobId: job.jobId, specCid, spec, modelId, model };
}

/** The laptops: each stakes and binds a fresh Ed25519 key. */
export async function startWorkers(run: DemoRun): Promise<Worker[]> {
  const trainer = createTrainer(loadKernel());
  const workers = run.workerAccts.slice(0, run.o.nodes + run.o.spares).map((acct) =>
    new Worker({
      coordinator: run.local.call,
      client: run.client(acct),
      addresses: run.addresses,
      chainId: run.chainId,
      key: generateNodeKey(),
      trainer,
      heartbeatEveryMs: Infinity,
      // The coordinator's clock moves past deadlines in the demo; signatures follow it.
      now: run.local.ctx.now,
    })
  );
  await eachConcurrently(workers, (w) => w.register());
  run.log(`${workers.length} laptops staked 10 ARTH each and bound their Ed25519 keys`);
  return workers;
}

/** --browsers: how many tabs can join (0, said in one line, when Chromium is not installed). */
export async function browsersAvailable(o: DemoOptions, log: (s: string) => void) {
  if (!o.browsers) return 0;
  if (await findChromium()) return o.browsers;
  log(`--browsers ${o.browsers}: skipped, no Chromium installed (set CHROMIUM_PATH to one)`);
  return 0;
}

/**
 * --browsers: the coordinator served on a port and one headless Chromium tab per account after
 * the laptops', each joining through GET /join as any browser would. The tabs run in a child
 * process (lib/browser/join_tabs.ts): playwright-core needs permissions the demo does not take.
 */
export async function startTabs(run: DemoRun): Promise<AsyncDisposable | undefined> {
  const n = run.o.browsers ?? 0;
  if (n === 0) return undefined;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createRouter(run.local.ctx),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const first = run.o.nodes + run.o.spares;
  const keys = run.workerAccts.slice(first, first + n)
    .map((a) => bytesToHex(a.getHdKey().privateKey!));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./lib/browser/join_tabs.ts", import.meta.url).pathname,
      url,
      ...keys,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const close = async () => {
    await child.stdin.close().catch(() => undefined);
    await child.status;
    await server.shutdown();
  };
  try {
    const { nodes } = JSON.parse(await firstLine(child.stdout)) as { nodes: string[] };
    run.log(`${nodes.length} browser tabs staked and joined through ${url}/join/`);
  } catch (e) {
    await close();
    throw new Error("Cannot start the browser tabs (lib/browser/join_tabs.ts)", { cause: e });
  }
  return { [Symbol.asyncDispose]: close };
}

/** The first line a child prints (it prints nothing after); the rest of the stream is dropped. */
async function firstLine(stdout: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const lines = stdout.pipeThrough(new TextDecoderStream());
  for await (const chunk of lines) {
    text += chunk;
    if (text.includes("\n")) break;
  }
  if (!text.includes("\n")) throw new Error("the tabs exited before joining");
  return text.slice(0, text.indexOf("\n"));
}

/** The tabs train on their own clock: waits (at most 5 min) until the round's updates are in. */
async function waitForTabs(run: DemoRun, job: DemoJob, dropped: Set<string>): Promise<void> {
  const deadline = Date.now() + 5 * 60_000;
  while (Date.now() < deadline) {
    const j = await jsonOf(await run.local.call(`/status?job=${job.jobId}`));
    const expected = (j.assigned as string[]).filter((n) => !dropped.has(n)).length;
    if (j.roundUpdates >= expected) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  run.log("the browser tabs did not deliver within 5 minutes; the round's deadline closes it");
}

/** Asks the coordinator to assign the job's tasks; returns the nodes that hold one. */
export async function assignTasks(run: DemoRun, job: DemoJob): Promise<string[]> {
  const { jobId, specCid, modelId } = job;
  const assigned = await jsonOf(
    await run.local.postAs(run.owner, "/assign", { jobId, specCid, modelId }),
  ) as JobRecord;
  run.log(
    `assigned ${assigned.assigned.length} nodes; initial validation loss ${
      assigned.initialValLoss.toFixed(4)
    } nats/byte\n`,
  );
  return assigned.assigned;
}

/** Every round, closed on chain; returns the gas each round cost and the laptops that dropped. */
export async function runRounds(
  run: DemoRun,
  job: DemoJob,
  workers: Worker[],
  assigned: string[],
): Promise<{ gasByRound: bigint[]; dropped: Set<string> }> {
  const dropped = new Set<string>();
  const gasByRound: bigint[] = [];
  let block = await run.coordinator.getBlockNumber({ cacheTime: 0 });
  for (let round = 0; round < run.o.rounds; round++) {
    if (round === 1 && run.o.drop > 0) await dropLaptops(run, workers, assigned, dropped);
    const active = workers.filter((w) => !dropped.has(w.nodePubkey));
    await timed(run.phases, "round: train+deliver", () => tickActive(run, job, active));
    if (run.o.browsers) {
      await timed(run.phases, "round: tabs", () => waitForTabs(run, job, dropped));
    }
    const outcome = await timed(
      run.phases,
      "round: aggregate+close",
      () => closeRound(run, job, active, round),
    );
    const [gas, to] = await gasSince(run.coordinator, block);
    block = to;
    gasByRound.push(gas);
    run.log(
      `round ${
        round + 1
      }/${job.spec.rounds}: ${outcome.updates} updates (${outcome.reason}), validation loss ${
        outcome.valLoss.toFixed(4)
      }, gas ${gas}`,
    );
  }
  return { gasByRound, dropped };
}

/** Silences a share of the laptops holding tasks; an hour passes and the rest heartbeat. */
async function dropLaptops(
  run: DemoRun,
  workers: Worker[],
  assigned: string[],
  dropped: Set<string>,
): Promise<void> {
  // Laptops holding tasks go silent (spares that never got one would drop nothing).
  const holding = workers.filter((w) => assigned.includes(w.nodePubkey));
  for (const w of holding.slice(0, Math.round(run.o.nodes * run.o.drop))) {
    dropped.add(w.nodePubkey);
  }
  // An hour and a bit passes: silent laptops miss their heartbeat, the rest send one.
  await run.coordinator.request({ method: "evm_increaseTime" as never, params: [3700] as never });
  await eachConcurrently(workers, async (w) => {
    if (!dropped.has(w.nodePubkey)) await w.heartbeat(true);
  });
  run.log(`${dropped.size} ${dropped.size === 1 ? "laptop" : "laptops"} went silent`);
}

/**
 * A tick does one thing; validating a spot-checked round comes before training, so a laptop keeps
 * ticking until it has trained or has nothing left to do.
 */
async function tickActive(run: DemoRun, job: DemoJob, active: Worker[]): Promise<void> {
  if (job.spec.secureAggregation) return await tickSecure(run, job, active);
  // Cluster and committee tasks depend on which laptops have delivered: those jobs keep the
  // order of one laptop after another, so what each laptop is given does not change.
  const sequential = job.spec.aggregation.hierarchical === true ||
    job.spec.verification !== undefined;
  await eachConcurrently(active, tickUntilTrained, sequential ? 1 : LAPTOP_CONCURRENCY);
}

async function tickUntilTrained(w: Worker): Promise<void> {
  for (let i = 0; i < 4; i++) {
    const did = await w.tick();
    if (did !== "validated" && did !== "aggregated") break;
  }
}

/**
 * A secure round: the laptops run SecAgg+ together, so they tick at once (a tick returns when the
 * laptop's part of the protocol is over). When the open stage waits only for laptops that are no
 * longer taking part (gone silent, or spares without a tick), the stage's deadline passes on the
 * coordinator's clock; a failed attempt is handed to /aggregate, which extends the round.
 */
async function tickSecure(run: DemoRun, job: DemoJob, active: Worker[]): Promise<void> {
  const running = new Set<string>(active.map((w) => w.nodePubkey));
  const ticks = Promise.all(
    active.map((w) => tickUntilTrained(w).finally(() => running.delete(w.nodePubkey))),
  );
  const handled = new Set<string>();
  const wait = Math.max(
    job.spec.aggregation.deadlineMs,
    job.spec.secureAggregation!.stageMs ?? DEFAULT_STAGE_MS,
  );
  while (running.size > 0) {
    await new Promise((r) => setTimeout(r, 200));
    const res = await run.local.call(`/secagg?jobId=${job.jobId}`);
    if (!res.ok) {
      await res.body?.cancel(); // no session before the first laptop delivered
      continue;
    }
    const view = await res.json() as SecureRoundView;
    const stage = `${view.session.attempt}:${view.stage}`;
    if (handled.has(stage)) continue;
    const waiting = view.waitingFor ?? [];
    if (view.status === "failed") {
      handled.add(stage);
      await jsonOf(await run.local.post("/aggregate", { jobId: job.jobId }));
    } else if (waiting.length > 0 && waiting.every((id) => !running.has(id))) {
      handled.add(stage);
      run.local.advance(wait);
    }
  }
  await ticks;
}

/** What /aggregate answers for a job, as far as the demo reads it. */
interface RoundOutcome {
  status: string;
  reason: string;
  updates: number;
  valLoss: number;
}

/** Aggregates the round, letting cluster aggregators or the deadline finish it if need be. */
async function closeRound(
  run: DemoRun,
  job: DemoJob,
  active: Worker[],
  round: number,
): Promise<RoundOutcome> {
  const aggregate = async (): Promise<RoundOutcome> =>
    (await jsonOf(await run.local.post("/aggregate", { jobId: job.jobId })))[0];
  let outcome = await aggregate();
  if (outcome.status === "waiting" && outcome.reason === "clusters") {
    // Hierarchical: the cluster aggregators among the laptops sum their clusters.
    for (const w of active) await w.tick();
    outcome = await aggregate();
  }
  if (outcome.status === "waiting") {
    run.local.advance(job.spec.aggregation.deadlineMs); // nothing more will come: let the deadline pass
    outcome = await aggregate();
  }
  if (outcome.status !== "closed") {
    throw new Error(`round ${round + 1} did not close: ${JSON.stringify(outcome)}`);
  }
  return outcome;
}

/** Publishes the exported model in ModelRegistry and samples it through /ai/infer. */
export async function publishAndSample(
  run: DemoRun,
  job: DemoJob,
  fin: JobRecord,
): Promise<string> {
  const { coordinator, addresses } = run;
  const { latestWeightsDigest } = await readJob(coordinator, { addresses, jobId: job.jobId });
  // The exported Hugging Face-style folder (finalize wrote it), servable by /ai/infer.
  const cid = fin.modelFolderCid ?? fin.globalCid;
  await publishModel(run.owner, {
    addresses,
    modelId: job.modelId,
    cid,
    weightsDigest: latestWeightsDigest,
  });
  const sample = await jsonOf(
    await run.local.post("/ai/infer", {
      modelCid: cid,
      input: "The jury said ",
      maxTokens: 60,
      temperature: 0.8,
      topK: 40,
      seed: 1,
    }),
  );
  run.log(`sample (${sample.backend}): ${JSON.stringify("The jury said " + sample.text)}`);
  return cid;
}

/**
 * Keeps what the run made in `out`: the published Hugging Face folder (`model/`, loadable by
 * `deno task infer --model <out>/model` and transformers.js) and the job summary (`job.json`).
 */
export async function keepOutputs(run: DemoRun, result: DemoResult, out: string): Promise<void> {
  const files = await getModelFolder(run.local.ctx.store, result.publishedCid);
  await Deno.remove(`${out}/model`, { recursive: true }).catch(() => {});
  for (const [name, bytes] of Object.entries(files)) {
    const path = `${out}/model/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, bytes);
  }
  const summary = JSON.stringify(
    result,
    (_, v) => typeof v === "bigint" ? v.toString() : v,
    2,
  );
  await Deno.writeTextFile(`${out}/job.json`, summary + "\n");
}
