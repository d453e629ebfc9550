/**
 * Submitting a training job to a running network, as its owner: check the coordinator runs on
 * the owner's chain and deployment and the owner can pay; prepare the job (initial weights,
 * shards, validation bytes and spec, lib/job/job_owner.ts) in memory, so their CIDs and the
 * paramsHash are known before anything is sent; wait until enough workers are bound; escrow the
 * budget with AIJobManager.submitTrain; upload every file through the coordinator's SVDB gateway
 * signed by the owner's account (an account that has submitted a job may upload; the shards and
 * validation bytes private from the upload on, POST /svdb/private) or put them in
 * a local store; register the job's model in ModelRegistry with the coordinator as publisher;
 * and ask the coordinator to assign the job.
 *
 * @example
 * ```ts ignore
 * import { submitJob } from "./submit.ts";
 * const job = await submitJob(owner, { coordinator, addresses, prepare, budget, nodes: 3 });
 * console.log(job.jobId, job.assigned);
 * ```
 */
import { type Address, formatEther, type Hex, isAddress, parseEther } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { isAuthorisedCoordinator } from "../chain/is_authorised.ts";
import { registerModel } from "../chain/register_model.ts";
import { submitTrain } from "../chain/submit_train.ts";
import { formatArthaUri } from "../store/cid.ts";
import { MemoryBlockstore } from "../store/memory_blockstore.ts";
import { type PutOptions, Store } from "../store/store.ts";
import { accountUploadSigner, signJson, uploadDomain } from "../store/upload_signature.ts";
import { CoordinatorClient, httpCoordinator } from "../worker/client.ts";
import { Gateway } from "../worker/gateway.ts";
import {
  checkCoordinator,
  checkFunds,
  type ExpectedDeployment,
  PreflightError,
} from "../network/preflight.ts";
import { type JobSpec, jobSpecHash, workTerms } from "./job_spec.ts";
import { prepareJob, type PrepareJobOptions } from "./job_owner.ts";
import { checkPrivacyBudget } from "./privacy_plan.ts";

/** What to submit, and where. */
export interface SubmitJobParameters {
  /** The coordinator's base URL. */
  coordinator: string;
  deployment: ExpectedDeployment;
  chainIdName: string;
  prepare: PrepareJobOptions;
  /** Wei escrowed. */
  budget: bigint;
  /**
   * Workers wanted (submitTrain's nodesWanted); the job is prepared, and its privacy budget
   * checked, for this many (it replaces `prepare.nodes`).
   */
  nodes: number;
  /** ModelRegistry name (default artha-<job id prefix>). */
  name?: string;
  /** Improvement (bps) that unlocks the accuracy bonus. */
  targetImprovementBps: number;
  /** Wei per GPU-second of the per-batch reward (default 0.001 ARTH). */
  baseRatePerSecond?: bigint;
  /** Put the files in this store (one the coordinator reads) instead of uploading them. */
  store?: Store;
  /** How long to wait for `nodes` bound workers before escrowing (default 10 min). */
  waitNodesMs?: number;
  log?: (line: string) => void;
}

/** The submitted, started job. */
export interface SubmittedJob {
  jobId: Hex;
  specCid: string;
  spec: JobSpec;
  modelId: Hex;
  /** Nodes the coordinator assigned. */
  assigned: number;
  initialValLoss: number;
}

/** A store that also keeps every file it is given, to upload them later. */
class RecordingStore extends Store {
  readonly files: { bytes: Uint8Array; cid: string }[] = [];
  override async put(content: Uint8Array | AsyncIterable<Uint8Array>, options?: PutOptions) {
    const cid = await super.put(content, options);
    if (content instanceof Uint8Array) this.files.push({ bytes: content, cid: cid.toString() });
    return cid;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the coordinator has `nodes` bound workers (or the time is up). */
async function waitForNodes(
  coordinator: CoordinatorClient,
  nodes: number,
  waitMs: number,
  log: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  let seen = -1;
  for (;;) {
    // nodeCount: /status lists a page of nodes (a coordinator before pages: all of them).
    const status = await coordinator.getJson<{ nodes: unknown[]; nodeCount?: number }>("/status");
    const bound = status.nodeCount ?? status.nodes.length;
    if (bound >= nodes) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `only ${bound} of ${nodes} workers are bound to the coordinator after ` +
          `${Math.round(waitMs / 1000)} s; start more workers or ask for fewer --nodes`,
      );
    }
    if (bound !== seen) log(`waiting for ${nodes} bound workers (${bound} so far)`);
    seen = bound;
    await sleep(1000);
  }
}

/**
 * Submits, pays for, uploads, registers and starts a job; see the module doc.
 *
 * @throws {PrivacyBudgetError} before anything is sent, when `nodes` copies per round would
 * overspend the job's privacy budget
 */
export async function submitJob(
  client: ArthaClient,
  params: SubmitJobParameters,
): Promise<SubmittedJob> {
  const log = params.log ?? (() => {});
  const prepare = planFor(params);
  const info = await preflight(client, params);
  const local = new RecordingStore(new MemoryBlockstore());
  const { spec, specCid } = await prepareJob(params.store ?? local, prepare);
  const coordinator = new CoordinatorClient(httpCoordinator(params.coordinator), { retries: 3 });
  await waitForNodes(coordinator, params.nodes, params.waitNodesMs ?? 600_000, log);
  const jobId = await escrow(client, params, spec);
  log(`job ${jobId}: ${formatEther(params.budget)} ARTH escrowed by ${client.account.address}`);
  try {
    if (!params.store) {
      await upload(client, coordinator, {
        addresses: params.deployment.addresses,
        local,
        spec,
        log,
      });
    }
    const rounds = `${spec.rounds} round${spec.rounds === 1 ? "" : "s"}`;
    log(`spec ${formatArthaUri(specCid)}: ${spec.shards.length} shards, ${rounds}`);
    const publisher = info.coordinator as Address;
    return await startJob(client, coordinator, { params, jobId, spec, specCid, publisher });
  } catch (e) {
    // The budget is escrowed: name the job, so its owner can follow it up or cancel it.
    throw new JobNotStartedError(jobId, { cause: e });
  }
}

/** Thrown when the budget was escrowed but the job could not be started; `jobId` names it. */
export class JobNotStartedError extends Error {
  readonly code = "JOB_NOT_STARTED";
  constructor(readonly jobId: Hex, options: { cause: unknown }) {
    super(`job ${jobId} is escrowed but not started: ${(options.cause as Error).message}`, options);
    this.name = "JobNotStartedError";
  }
}

/**
 * The job's preparation with the nodes the owner escrows for, refused when their copies per
 * round overspend the privacy budget: checked before any request, so no money moves.
 */
function planFor(params: SubmitJobParameters): PrepareJobOptions {
  const prepare = { ...params.prepare, nodes: params.nodes };
  checkPrivacyBudget(prepare, params.nodes);
  return prepare;
}

/** The coordinator runs on the owner's chain and deployment, and the owner can pay. */
async function preflight(client: ArthaClient, params: SubmitJobParameters) {
  const info = await checkCoordinator(params.coordinator, {
    chainId: client.chain.id,
    chainIdName: params.chainIdName,
    deployment: params.deployment,
  });
  // The account /info names becomes the publisher of the job's model (setPublisher): one the
  // jobs contract does not authorise could add checkpoints to the owner's model at any round
  // (round 2^256 - 1 froze its latest checkpoint for good).
  const publisher = info.coordinator;
  const addresses = params.deployment.addresses;
  if (
    !isAddress(publisher) ||
    !await isAuthorisedCoordinator(client, { addresses, account: publisher })
  ) {
    throw new PreflightError(
      "COORDINATOR_MISMATCH",
      `Cannot use the coordinator at ${params.coordinator}: its account ${String(publisher)} is ` +
        `not an authorised coordinator of ${params.deployment.name}'s jobs contract ` +
        `${addresses.jobs}; use the deployment's own coordinator`,
    );
  }
  const address = client.account.address;
  await checkFunds(client, { address, need: params.budget, action: "submit the job" });
  return info;
}

/** Escrows the budget with AIJobManager.submitTrain for `params.nodes` workers. */
async function escrow(client: ArthaClient, params: SubmitJobParameters, spec: JobSpec) {
  const { jobId } = await submitTrain(client, {
    addresses: params.deployment.addresses,
    budget: params.budget,
    terms: {
      modelCid: spec.initialWeights,
      datasetCid: spec.shards[0]!.cid,
      paramsHash: jobSpecHash(spec),
      rounds: spec.rounds,
      nodesWanted: params.nodes,
      redundancy: spec.verification?.redundancy ?? 1,
      baseRatePerSecond: params.baseRatePerSecond ?? parseEther("0.001"),
      targetImprovementBps: params.targetImprovementBps,
      ...workTerms(spec),
    },
  });
  return jobId;
}

/** Registers the job's model (the coordinator publishes it) and asks the coordinator to assign. */
async function startJob(
  client: ArthaClient,
  coordinator: CoordinatorClient,
  o: {
    params: SubmitJobParameters;
    jobId: Hex;
    spec: JobSpec;
    specCid: string;
    publisher: Address;
  },
): Promise<SubmittedJob> {
  const { jobId, spec, specCid } = o;
  const modelId = await registerModel(client, {
    addresses: o.params.deployment.addresses,
    name: o.params.name ?? `artha-${jobId.slice(2, 10)}`,
    jobId,
    publisher: o.publisher,
  });
  // Signed: only the job's owner starts it (who starts it decides which nodes get it).
  const signer = accountUploadSigner(client);
  const domain = uploadDomain(client.chain.id, o.params.deployment.addresses.registry);
  const request = await signJson(signer, domain, "/assign", { jobId, specCid, modelId });
  const started = await coordinator.postJson<{ assigned: string[]; initialValLoss: number }>(
    "/assign",
    request.body,
    request.headers,
  );
  const { initialValLoss } = started;
  return { jobId, specCid, spec, modelId, assigned: started.assigned.length, initialValLoss };
}

/**
 * Uploads the job's files through the gateway, signed by the owner; checks every CID. The
 * shards and validation bytes go up private (POST /svdb/private): shard 0's CID is public on
 * chain from the escrow, and only the owner and the coordinator read them until the job starts.
 */
async function upload(
  client: ArthaClient,
  coordinator: CoordinatorClient,
  o: { addresses: ArthaAddresses; local: RecordingStore; spec: JobSpec; log: (l: string) => void },
): Promise<void> {
  const gateway = new Gateway(coordinator, {
    signer: accountUploadSigner(client),
    domain: uploadDomain(client.chain.id, o.addresses.registry),
  });
  const data = new Set([o.spec.validation, ...o.spec.shards.map((s) => s.cid)]);
  const put = async (bytes: Uint8Array, cid: string) => {
    if (!data.has(cid)) return await gateway.put(bytes);
    const stored = await gateway.putPrivate(bytes);
    // Bytes somebody stored before are readable by CID whatever we do now: say so, go on.
    if (!stored.private) o.log(`data ${cid} was on the coordinator before, readable by its CID`);
    return stored.cid;
  };
  for (const { bytes, cid } of o.local.files) {
    const stored = await put(bytes, cid);
    if (stored !== cid) throw new Error(`the gateway stored ${cid} as ${stored}`);
  }
}
