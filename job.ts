/**
 * The job owner's command: submit and pay for a training job, follow it, download its model.
 *
 *   export ARTHA_PRIVATE_KEY=0x...        # the owner's account: pays the budget and gas
 *   deno task job submit                  # Brown genres, 3 nodes, 3 rounds, 10 ARTH
 *   deno task job submit --data notes.txt --shards 4 --nodes 4 --rounds 5 --budget 20 \
 *     --layers 2 --width 64 --heads 4 --context 64 --codec partition
 *   deno task job status [JOB_ID] [--wait]   # default: the last job submitted from this folder
 *   deno task job model [JOB_ID] [--out .artha/model]
 *   deno task job cancel [JOB_ID]          # ends the job; withdraws what it did not spend
 *   deno task job start [JOB_ID]           # starts again a job whose submit failed after escrow
 *
 * Common flags: --coordinator URL (ARTHA_COORDINATOR, http://127.0.0.1:8787), --rpc
 * (ARTHA_RPC_URL), --chain-id (ARTHA_CHAIN_ID) and --addresses (ARTHA_ADDRESSES: a file or JSON,
 * default .artha/addresses.json); plain http only to this machine unless ARTHA_INSECURE_HTTP=1.
 * Submit, cancel and start sign nothing above --max-gas-price GWEI (ARTHA_MAX_GAS_PRICE, default
 * 1000). Submit: --data brown|FILE, --shards N (at most the task groups, --nodes / --redundancy;
 * default as many, up to 15 genres or 4 pieces of a file), --rounds N,
 * --local-steps N, --nodes N, --layers, --width, --heads, --context, --batch, --lr, --optimizer
 * adamw|sgd, --synchronous (one SGD step a round, Adam on the server at --lr: lib/job/recipe.ts),
 * --codec fp32|int8|int4|topk|topk-int8|partition, --fraction, --parts, --budget ARTH,
 * --deadline SECONDS (a round's deadline, at most 8 h), --target-improvement PERCENT (the
 * accuracy bonus), --seed, --name (ModelRegistry), --store DIR (write the files to a local SVDB the
 * coordinator reads instead of uploading), --wait-nodes SECONDS, the verification policy
 * (--challenge-rate R, default 0.1: that share of commits asked a chunk and a step, and a made-up
 * update then loses half the node's stake; --redundancy N nodes a task; --sample-rate R in
 * 0.01-0.05, gradient samples; --committee; --challenge-rate 0 alone turns checking off).
 * Status: --wait, --timeout SECONDS; a job's status is checked against the chain (--rpc, --addresses). Cancel: an Open
 * job is cancelled whole; a running one only once its coordinator stopped closing rounds (it is
 * cut to the rounds it ran); run it again after the settlement delay for the rest. The steps are lib/job/submit.ts, job_status.ts, job_model.ts and
 * job_cancel.ts. Submit records the job in .artha/last-job.json before its escrow is sent (its id,
 * then the transaction's hash), so a submit cut short after paying is still found by status,
 * start and cancel without an id; a new submit is refused while that job is open or its start
 * unconfirmed (start or cancel it first).
 */
import { formatEther, type Hex, parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type ArthaClient, createArthaClient } from "./lib/chain/client.ts";
import { JobStatus } from "./lib/chain/contracts.ts";
import { readJob } from "./lib/chain/read_job.ts";
import { type JobSettings, readJobSettings } from "./lib/config.ts";
import {
  chainFacts,
  describeJob,
  disagreements,
  jobStatusName,
  type JobView,
  parseJobView,
  watchJob,
} from "./lib/job/job_status.ts";
import { cancelOwnJob, CancelRefusedError } from "./lib/job/job_cancel.ts";
import {
  downloadModel,
  expectedModel,
  ModelNotReadyError,
  OutputExistsError,
} from "./lib/job/job_model.ts";
import {
  escrowedJobId,
  type JobRecord,
  JobRecordError,
  readJobRecord,
  refuseUnresolved,
  restoreJobRecord,
  writeJobRecord,
} from "./lib/job/job_record.ts";
import { loadShards, ShardDataError } from "./lib/job/shards.ts";
import {
  JobNotStartedError,
  startSubmittedJob,
  submitJob,
  type SubmitJobParameters,
  SubmitRefusedError,
} from "./lib/job/submit.ts";
import { PrivacyBudgetError } from "./lib/job/privacy_plan.ts";
import { runCli, UsageError } from "./lib/network/cli.ts";
import { synchronousRecipe } from "./lib/job/recipe.ts";
import { checkChain } from "./lib/network/preflight.ts";
import { printable } from "./lib/network/printable.ts";
import { openFsStore } from "./lib/store/store.ts";
import { CoordinatorClient, httpCoordinator } from "./lib/worker/client.ts";
import { Gateway } from "./lib/worker/gateway.ts";

/** The model's layout flags, without the context (the spec's maxT and T). */
function layout({ layers, heads, width }: { layers: number; heads: number; width: number }) {
  return { layers, heads, width };
}

/** What `job submit`'s flags ask of submitJob (the job's store and record aside). */
async function submitParams(s: JobSettings): Promise<Omit<SubmitJobParameters, "store">> {
  const o = s.submit!, endpoint = s.endpoint!, deployment = s.deployment!;
  const shards = await loadShards(o.data, o.shards, o.model.context);
  const parts = o.parts; // the partition codec's default is resolved with the settings
  return {
    coordinator: s.coordinator,
    deployment: { addresses: deployment.addresses!, name: deployment.name },
    chainIdName: endpoint.names.chainId,
    prepare: {
      model: { kind: "gpt", maxT: o.model.context, ...layout(o.model) },
      shards,
      rounds: o.rounds,
      B: o.batch,
      T: o.model.context,
      ...(o.synchronous
        ? synchronousRecipe(o.rounds, o.lr)
        : { localSteps: o.localSteps, lr: o.lr, optimizer: o.optimizer }),
      seed: o.seed,
      deadlineMs: o.deadlineSeconds * 1000,
      nodes: o.nodes,
      compression: o.codec ? { codec: o.codec, fraction: o.fraction, parts } : undefined,
      verification: o.verification,
    },
    budget: parseEther(o.budget),
    nodes: o.nodes,
    name: o.name,
    targetImprovementBps: Math.round(o.targetImprovement * 100),
    waitNodesMs: o.waitNodesSeconds * 1000,
    log: console.log,
  };
}

/** `job submit`: prepares, pays for and starts the job; remembers it in this folder. */
async function submit(s: JobSettings): Promise<void> {
  const o = s.submit!;
  const { client, addresses } = await chainClient(s, privateKeyToAccount(s.privateKey!));
  const before = await readJobRecord(s.lastJobFile);
  // Before anything is prepared or sent: the job that record names would lose its only record.
  await refuseUnresolved(client, { addresses, file: s.lastJobFile, record: before });
  const params = await submitParams(s);
  const store = o.store ? await openFsStore(o.store) : undefined;
  let written: JobRecord | undefined;
  try {
    const job = await submitJob(client, {
      ...params,
      store,
      // Written before the escrow is sent: a submit cut short after paying leaves the job named.
      record: (job) => writeJobRecord(s.lastJobFile, written = { ...job, pending: true }),
    });
    const { spec: _, ...started } = job;
    await writeJobRecord(s.lastJobFile, {
      ...await readJobRecord(s.lastJobFile),
      ...started,
      pending: undefined,
    });
    console.log(
      `job ${job.jobId} started: ${job.assigned} nodes, ${o.rounds} round${
        o.rounds === 1 ? "" : "s"
      }, ` +
        `${formatEther(parseEther(o.budget))} ARTH; initial validation loss ` +
        job.initialValLoss.toFixed(4),
    );
    console.log(`dashboard: ${s.coordinator}/dashboard`);
    console.log("follow it: deno task job status --wait");
  } catch (e) {
    if (e instanceof JobNotStartedError) {
      throw new Error(`${e.message}; ${nextStep(s, e)}`, { cause: e });
    }
    // Nothing was signed (or the escrow reverted): this folder's last job is still the one before,
    // unless the record is no longer this submit's (another submit in this folder wrote its own).
    const now = await readJobRecord(s.lastJobFile).catch(() => undefined);
    const ours = JSON.stringify(now) === JSON.stringify(written);
    if (ours && now?.pending && !now.escrowed) await restoreJobRecord(s.lastJobFile, before);
    throw e;
  } finally {
    await store?.close();
  }
}

/** What the owner of a job whose submit failed after signing its escrow can do, by its status. */
function nextStep(s: JobSettings, e: JobNotStartedError): string {
  if (e.status === JobStatus.Running) {
    return "its nodes may be training it already: start it again (the coordinator resumes a " +
      `started job), deno task job start ${e.jobId}`;
  }
  if (e.status === JobStatus.Open) {
    return "its budget is escrowed: start it again, deno task job start " +
      `${e.jobId}, or get the budget back, deno task job cancel ${e.jobId}`;
  }
  return `once the transaction is mined, its budget is escrowed; ${s.lastJobFile} names it: ` +
    "get it back with deno task job cancel (no id needed), or start it with deno task job start";
}

/** The job to show: the one named, else the last one submitted from this folder. */
async function jobIdOf(s: JobSettings): Promise<Hex | undefined> {
  return s.jobId ?? (await readJobRecord(s.lastJobFile))?.jobId;
}

/** The job a signing command acts on: the one named, else the recorded one (as mined). */
async function ownJob(
  s: JobSettings,
  client: ArthaClient,
): Promise<{ jobId: Hex; record?: JobRecord } | undefined> {
  const record = await readJobRecord(s.lastJobFile);
  if (!s.jobId) return record && { jobId: await escrowedJobId(client, record), record };
  const mined = record && await escrowedJobId(client, record).catch(() => record.jobId);
  const same = mined?.toLowerCase() === s.jobId.toLowerCase();
  return { jobId: s.jobId, record: same ? record : undefined };
}

/** `job status`: the job's state and rounds (or every job), waiting for its end with --wait. */
async function status(s: JobSettings, coordinator: CoordinatorClient): Promise<void> {
  const jobId = await jobIdOf(s);
  if (!jobId) {
    if (s.wait) throw new UsageError("Cannot wait: name the job (deno task job status <id>)");
    const { jobs } = await coordinator.getJson<{ jobs?: unknown }>("/status");
    if (!Array.isArray(jobs)) throw new TypeError("Cannot read the coordinator's jobs: not a list");
    if (jobs.length === 0) console.log(`no jobs yet at ${s.coordinator}`);
    for (const job of jobs) console.log(describeJob(parseJobView(job))[0]);
    return;
  }
  const chain = await chainClient(s);
  if (!s.wait) {
    const view = parseJobView(await coordinator.getJson<unknown>(`/status?job=${jobId}`));
    await checkView(s, chain, jobId, view);
    for (const line of describeJob(view)) console.log(line);
    return;
  }
  // Every poll is checked against the chain before anything of it is printed.
  const check = (view: JobView) => checkView(s, chain, jobId, view);
  await watchJob(coordinator, jobId, {
    timeoutMs: s.timeoutSeconds * 1000,
    log: console.log,
    check,
  });
  console.log("download the model: deno task job model");
}

/** Refuses a coordinator's view of the job that the chain contradicts. */
async function checkView(
  s: JobSettings,
  chain: Awaited<ReturnType<typeof chainClient>>,
  jobId: Hex,
  view: JobView,
): Promise<void> {
  const { client: reader, addresses } = chain;
  const wrong = view.jobId.toLowerCase() === jobId.toLowerCase()
    ? disagreements(view, await chainFacts(reader, { addresses, jobId }))
    : [`it answered with job ${view.jobId}`];
  if (wrong.length === 0) return;
  throw new Error(
    `Cannot trust the coordinator's status of job ${jobId} (${s.coordinator}): ${wrong.join("; ")}`,
  );
}

/**
 * A client of the owner's chain, after checking it is the deployment's: signing as `account`, or
 * by default as a throwaway key for reads only.
 */
async function chainClient(
  s: JobSettings,
  account = privateKeyToAccount(generatePrivateKey()),
) {
  const { endpoint, deployment } = s;
  const addresses = deployment!.addresses!;
  await checkChain(endpoint!, { deployment: { addresses, name: deployment!.name } });
  const client = createArthaClient({
    rpcUrl: endpoint!.rpcUrl,
    chainId: endpoint!.chainId,
    account,
    maxFeePerGas: s.maxFeePerGas,
  });
  return { client, addresses };
}

/** `job model`: downloads the finalized job's model folder. */
async function model(s: JobSettings, coordinator: CoordinatorClient): Promise<void> {
  const jobId = await jobIdOf(s);
  if (!jobId) {
    throw new UsageError("Cannot download a model: name the job (deno task job model <id>)");
  }
  const job = parseJobView(await coordinator.getJson<unknown>(`/status?job=${jobId}`));
  // The coordinator names the folder; the chain says whether the job has a model yet (it is
  // completed), which weights its last round closed on and (by the spec's hash) which model.
  const { client: reader, addresses } = await chainClient(s);
  const onChain = await readJob(reader, { addresses, jobId });
  const expect = await expectedModel(new Gateway(coordinator), onChain, job.specCid);
  if (!job.modelFolderCid) {
    throw new UsageError(
      `Cannot download the model of job ${jobId}: it is ${job.status}; its model is exported ` +
        "when it is finalized (deno task job status --wait)",
    );
  }
  if (expect.cut) {
    const { closed, planned } = expect.cut;
    console.log(
      `job ${jobId} was abandoned after ${closed} of its ${planned} rounds: this model is the ` +
        `one round ${closed} closed on`,
    );
  }
  const files = await downloadModel(s.coordinator, job.modelFolderCid, s.out, expect);
  const folder = printable(job.modelFolderCid);
  console.log(`model artha://${folder} (${files.length} files) written to ${s.out}`);
  console.log(`sample it: deno task infer --model ${s.out} "The jury said"`);
}

/** `job cancel`: ends the job as far as the chain allows now; withdraws what came back. */
async function cancel(s: JobSettings): Promise<void> {
  const { client, addresses } = await chainClient(s, privateKeyToAccount(s.privateKey!));
  const jobId = (await ownJob(s, client))?.jobId;
  if (!jobId) throw new UsageError("Cannot cancel a job: name it (deno task job cancel <id>)");
  const done = await cancelOwnJob(client, { addresses, jobId, log: console.log });
  if (done.refunded === 0n && done.withdrawn === 0n && done.settlesAt === undefined) {
    console.log(`job ${jobId} is ${jobStatusName(done.status)}: nothing is left to get back`);
  }
}

/**
 * `job start`: starts again a job whose submit failed after its escrow (its model registered
 * unless it is, /assign posted again); its spec and model name come from this folder's record.
 */
async function start(s: JobSettings): Promise<void> {
  const { client } = await chainClient(s, privateKeyToAccount(s.privateKey!));
  const own = await ownJob(s, client);
  const job = own?.record;
  if (!own || !job?.specCid || !job.name) {
    const which = own ? `job ${own.jobId} is not the one ${s.lastJobFile} records` : "no job";
    throw new UsageError(
      `Cannot start a job: ${which}; start one submitted from this folder (its spec is known here)`,
    );
  }
  const deployment = s.deployment!;
  const started = await startSubmittedJob(client, {
    coordinator: s.coordinator,
    deployment: { addresses: deployment.addresses!, name: deployment.name },
    chainIdName: s.endpoint!.names.chainId,
    job: { jobId: own.jobId, specCid: job.specCid, name: job.name, modelId: job.modelId },
  });
  await writeJobRecord(s.lastJobFile, { ...job, ...started, pending: undefined });
  console.log(`job ${started.jobId} started: ${started.assigned} nodes`);
  console.log("follow it: deno task job status --wait");
}

/** Errors that are the owner's to fix (exit 2), as a UsageError. */
function asUsage(e: unknown): unknown {
  const own = e instanceof ShardDataError || e instanceof PrivacyBudgetError ||
    e instanceof OutputExistsError || e instanceof CancelRefusedError ||
    e instanceof SubmitRefusedError || e instanceof ModelNotReadyError ||
    e instanceof JobRecordError ||
    (e instanceof TypeError && e.message.startsWith("Cannot read job spec"));
  return own ? new UsageError((e as Error).message) : e;
}

async function main(args: string[]): Promise<void> {
  const s = readJobSettings(args);
  const coordinator = new CoordinatorClient(httpCoordinator(s.coordinator), { retries: 3 });
  try {
    if (s.command === "submit") await submit(s);
    if (s.command === "status") await status(s, coordinator);
    if (s.command === "model") await model(s, coordinator);
    if (s.command === "cancel") await cancel(s);
    if (s.command === "start") await start(s);
  } catch (e) {
    throw asUsage(e);
  }
}

if (import.meta.main) {
  const action = {
    submit: "submit the job",
    status: "read the job",
    model: "download the model",
    cancel: "cancel the job",
    start: "start the job",
  };
  const command = Deno.args[0] as keyof typeof action;
  await runCli(action[command] ?? "run the job command", () => main(Deno.args));
}
