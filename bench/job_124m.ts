/**
 * A GPT-2-small-shaped job (124M parameters at GPT-2's 50257-token vocabulary; 85M with the
 * kernel's 256 bytes, 12 layers, width 768, 12 heads) through the real protocol end to end: a
 * local anvil chain with the contracts, the coordinator's functions in-process over an SVDB
 * directory, two in-process laptop Workers, one round of two local steps, finalize, and the ONNX
 * export with its weights as external data. Slow (minutes, ~10 GiB):
 *
 *   deno task bench:job-124m                 # the GPT-2 small shape, T 64
 *   deno task bench:job-124m --size mid      # the test suite's mid size, seconds
 *   deno task bench:job-124m --budget 0      # force the offload trainer
 *
 * Prints a phase table (seconds and this process's peak RSS in each phase, the peak mark reset at
 * every phase boundary) and the planner's predicted step memory beside the measured training
 * peak. The phases of the workers are cut from the requests they make to the coordinator and
 * their step events, so the Workers run unmodified.
 */
import { parseEther } from "viem";
import { startDevnet } from "../lib/chain/devnet.ts";
import { createArthaClient } from "../lib/chain/client.ts";
import { deployArtha } from "../lib/chain/deploy.ts";
import { submitTrain } from "../lib/chain/submit_train.ts";
import { type JobSpec, jobSpecHash, roundHyper, workTerms } from "../lib/job/job_spec.ts";
import { prepareJob } from "../lib/job/job_owner.ts";
import { chooseTrainer, type TrainerChoice } from "../lib/job/planner.ts";
import { generateNodeKey } from "../lib/crypto/keys.ts";
import { loadThreadedKernel } from "../kernel/threads.ts";
import type { ModelConfig } from "../kernel/params.ts";
import { loadBrownShards } from "../kernel/data.ts";
import { kernelThreads, Worker } from "../lib/worker/worker.ts";
import { sizedTrainer } from "../lib/worker/train.ts";
import type { JobRecord } from "../lib/coordinator/state.ts";
import type { CoordinatorConfig } from "../lib/coordinator/context.ts";
import { decodeCheckpoint } from "../lib/model/checkpoint.ts";
import { exportOnnxExternal } from "../kernel/onnx_export.ts";
import { type LocalCoordinator, startLocalCoordinator } from "../functions/local.ts";
import { formatPhaseTable, type PhaseRow, PhaseTimeline } from "./_phases.ts";

/** The shapes this bench runs: the GPT-2 small shape, and the test suite's mid size. */
export const SIZES: Record<string, { model: ModelConfig; B: number; T: number }> = {
  // 127.7M parameters: GPT-2 small's width and heads, 18 layers standing in for the 38.6M
  // parameters of its 50257-token embedding that the byte vocabulary does not have.
  "124m": { model: { kind: "gpt", maxT: 64, layers: 18, heads: 12, width: 768 }, B: 1, T: 64 },
  // GPT-2 small's shape exactly (85.3M parameters with 256 byte tokens).
  "gpt2-small": {
    model: { kind: "gpt", maxT: 64, layers: 12, heads: 12, width: 768 },
    B: 1,
    T: 64,
  },
  mid: { model: { kind: "gpt", maxT: 32, layers: 2, heads: 4, width: 256 }, B: 2, T: 32 },
};

export interface LargeJobOptions {
  model: ModelConfig;
  B: number;
  T: number;
  localSteps: number;
  /** Resident-step budget of the workers' trainer (lib/job/planner.ts chooseTrainer). */
  budget?: number;
  /** Where the coordinator's KV, SVDB and the ONNX files go (removed by the caller). */
  dir: string;
  log?: (line: string) => void;
  /** Coordinator settings over the defaults (a test lowers `maxBlobBytes` below an update). */
  config?: Partial<CoordinatorConfig>;
  /** Called with the coordinator before it closes (a test reads its store here). */
  inspect?: (local: LocalCoordinator, result: LargeJobResult) => Promise<void>;
}

export interface LargeJobResult {
  phases: PhaseRow[];
  spec: JobSpec;
  specCid: string;
  job: JobRecord;
  choice: TrainerChoice;
  /** The SVDB requests the workers made: method, path and body or response bytes. */
  requests: { method: string; path: string; status: number }[];
  /** The ONNX graph file and its external weights file. */
  onnx: { model: string; data: string };
}

const NODES = 2;

/** Runs the job; the workers' phases are read off their coordinator requests and step events. */
export async function runLargeJob(o: LargeJobOptions): Promise<LargeJobResult> {
  const log = o.log ?? (() => {});
  const t = new PhaseTimeline();
  t.enter("chain + coordinator start");
  await using net = await startDevnet({ accounts: 2 + NODES });
  const [coordAcct, ownerAcct, ...nodeAccts] = net.accounts;
  const client = (account: typeof coordAcct) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: account! });
  const coordinator = client(coordAcct);
  const addresses = await deployArtha(coordinator, { settlementDelay: 0 });
  await using local = await startLocalCoordinator({
    dir: o.dir,
    client: coordinator,
    addresses,
    chainId: net.chainId,
    config: o.config,
  });
  const store = local.ctx.store;
  const put = store.put.bind(store);
  store.put = (content, options) =>
    t.during(`SVDB put, in ${t.current}`, () => put(content, options));

  t.enter("spec + initial checkpoint (SVDB)");
  const shards = loadBrownShards().slice(0, NODES);
  const { spec, specCid } = await prepareJob(store, {
    model: o.model,
    shards,
    rounds: 1,
    localSteps: o.localSteps,
    B: o.B,
    T: o.T,
    quorum: 1,
    valBytesPerShard: 1024,
  });
  t.enter("escrow (chain)");
  const { jobId } = await submitTrain(client(ownerAcct), {
    addresses,
    budget: parseEther("10"),
    terms: {
      modelCid: spec.initialWeights,
      datasetCid: spec.shards[0]!.cid,
      paramsHash: jobSpecHash(spec),
      rounds: 1,
      nodesWanted: NODES,
      redundancy: 1,
      baseRatePerSecond: parseEther("0.001"),
      targetImprovementBps: 0,
      ...workTerms(spec),
    },
  });

  const requests: LargeJobResult["requests"] = [];
  const call = timedCall(local.call, t, requests);
  const choice = chooseTrainer(roundHyper(spec, 0), { budget: o.budget, threads: kernelThreads() });
  // The node's cores train one step together, as worker.ts runs it.
  await using kernel = disposable(await loadThreadedKernel({ threads: kernelThreads() }));
  const trainer = sizedTrainer(kernel.value, { budget: o.budget });
  let steps = 0;
  const workers = nodeAccts.map((account) =>
    new Worker({
      coordinator: call,
      client: client(account),
      addresses,
      chainId: net.chainId,
      key: generateNodeKey(),
      trainer,
      heartbeatEveryMs: Infinity,
      now: local.ctx.now,
      onProgress: (e) => {
        if (e.kind !== "step") return;
        log(`  step ${e.step + 1}/${e.steps}: loss ${e.loss.toFixed(4)}`);
        t.enter(e.step + 1 < e.steps ? `train step ${e.step + 2}` : "encode + digest update");
        steps++;
      },
    })
  );
  for (const w of workers) await w.register();
  t.enter("assign (coordinator evaluates the initial weights)");
  const assigned = await local.postAs(client(ownerAcct), "/assign", { jobId, specCid });
  if (assigned.status !== 200) throw new Error(`assign: ${await assigned.text()}`);
  log(`job ${jobId}: ${choice.kind} trainer; ${NODES} nodes assigned`);

  for (const w of workers) {
    const outcome = await w.tick();
    if (outcome !== "trained") throw new Error(`a worker's tick: ${outcome}`);
    t.enter("between ticks");
  }
  if (steps !== NODES * o.localSteps) throw new Error(`${steps} steps trained`);

  t.enter("aggregation (read updates, combine, evaluate)");
  const closed = await (await local.post("/aggregate", { jobId })).json();
  if (closed[0]?.status !== "closed") throw new Error(`aggregate: ${JSON.stringify(closed)}`);
  t.enter("finalize (chain + model folder)");
  const [job] = await (await local.post("/finalize", { jobId })).json() as JobRecord[];
  if (job?.status !== "finalized") throw new Error(`finalize: ${JSON.stringify(job)}`);

  t.enter("ONNX export (external data)");
  const onnx = await writeOnnx(store, spec, job.globalCid, o.dir);
  t.enter("idle");
  store.put = put;
  const result = { phases: t.table(), spec, specCid, job, choice, requests, onnx };
  await o.inspect?.(local, result);
  return result;
}

/** A threaded kernel closed when its scope ends. */
function disposable<K extends { close(): void }>(value: K): { value: K } & AsyncDisposable {
  return { value, [Symbol.asyncDispose]: () => Promise.resolve(value.close()) };
}

/**
 * The coordinator's router with each worker request as a phase: `assign`, `download`, `update
 * upload` and `deliver`, timed until the response body is consumed.
 */
function timedCall(
  call: (path: string, init?: RequestInit) => Promise<Response>,
  t: PhaseTimeline,
  requests: LargeJobResult["requests"],
) {
  const phaseOf = (method: string, path: string) =>
    path.startsWith("/svdb")
      ? (method === "POST" ? "update upload (SVDB)" : "download (SVDB)")
      : path.startsWith("/aggregate/update")
      ? "deliver (POST /aggregate/update)"
      : `coordinator ${path.split("?")[0]}`;
  return async (path: string, init?: RequestInit): Promise<Response> => {
    const method = init?.method ?? "GET";
    t.enter(phaseOf(method, path));
    const res = await call(path, init);
    requests.push({ method, path, status: res.status });
    // After a read the worker decodes and trains; the first step event ends that phase.
    const ended = () =>
      t.enter(path.startsWith("/svdb") ? "decode + train step 1" : "worker compute");
    if (!res.body) {
      ended();
      return res;
    }
    const body = res.body.pipeThrough(new TransformStream({ flush: ended }));
    return new Response(body, { status: res.status, headers: res.headers });
  };
}

/** The final checkpoint as ONNX: the graph file and its weights file, written as streamed. */
async function writeOnnx(
  store: { get(cid: string): Promise<Uint8Array> },
  spec: JobSpec,
  cid: string,
  dir: string,
): Promise<{ model: string; data: string }> {
  const { weights } = decodeCheckpoint(await store.get(cid));
  const files = { model: `${dir}/model.onnx`, data: `${dir}/model.onnx_data` };
  const { model, data } = exportOnnxExternal(spec.model, weights, "model.onnx_data");
  await Deno.writeFile(files.model, model);
  const file = await Deno.open(files.data, { write: true, create: true, truncate: true });
  try {
    for (const chunk of data) {
      for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
    }
  } finally {
    file.close();
  }
  return files;
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

if (import.meta.main) {
  const size = flag(Deno.args, "--size") ?? "124m";
  const shape = SIZES[size];
  if (!shape) throw new Error(`Cannot run: --size ${size} is not one of ${Object.keys(SIZES)}`);
  const budget = flag(Deno.args, "--budget");
  const dir = await Deno.makeTempDir({ prefix: "artha-job-124m-" });
  try {
    const r = await runLargeJob({
      ...shape,
      localSteps: 2,
      budget: budget === undefined ? undefined : Number(budget),
      dir,
      log: console.log,
    });
    const P = r.choice.resident.params;
    console.log(`\n${(P / 1e6).toFixed(1)}M parameters, ${r.choice.kind} trainer\n`);
    console.log(formatPhaseTable(r.phases));
    const planned = r.choice[r.choice.kind];
    const measured = Math.max(
      ...r.phases.filter((p) => p.name.includes("train step")).map((p) => p.peakRss),
    );
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
    console.log(
      `\nplanner (kernel/memory_plan.ts, ${r.choice.kind}): linear ${gib(planned.linearBytes)} + ` +
        `host ${gib(planned.hostBytes)} = ${gib(planned.total)}; ` +
        `measured peak RSS in a train step: ${gib(measured)} (whole process)`,
    );
    const onnxBytes = (await Deno.stat(r.onnx.model)).size;
    const dataBytes = (await Deno.stat(r.onnx.data)).size;
    console.log(`ONNX: graph ${onnxBytes} bytes, external data ${gib(dataBytes)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
