/**
 * Submitting a training job to a running network, as its owner: check the coordinator runs on
 * the owner's chain and deployment and the owner can pay; prepare the job (initial weights,
 * shards, validation bytes and spec, lib/job/job_owner.ts) in memory, so their CIDs and the
 * paramsHash are known before anything is sent; wait until enough workers are bound; escrow the
 * budget with AIJobManager.submitTrain; upload every file through the coordinator's SVDB gateway
 * signed by the owner's account (an account that has submitted a job may upload; the shards and
 * validation bytes private from the upload on, POST /svdb/private) or put them in
 * a local store; register the job's model in ModelRegistry with the coordinator as publisher;
 * and ask the coordinator to assign the job. What is known of the job (its id, derived as the
 * contract derives it, then the escrow's transaction hash) is handed to `record` before the
 * escrow is sent, so an owner whose submit fails after signing can still find, start or cancel
 * the job (found in the job owner audit: a lost receipt left a funded job nobody could name).
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
import { type ArthaAddresses, JobStatus } from "../chain/contracts.ts";
import { getModel } from "../chain/get_model.ts";
import { isAuthorisedCoordinator } from "../chain/is_authorised.ts";
import { readJob } from "../chain/read_job.ts";
import { registerModel } from "../chain/register_model.ts";
import { submitTrain, type TrainJobTerms } from "../chain/submit_train.ts";
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
import { waitForNodes } from "./_ready_nodes.ts";
import { minedJobId, modelIdOf, nextJobId, watchSends } from "./_job_ids.ts";
import { ChainCallError, SentUnconfirmedError } from "../chain/send_contract.ts";

export { minedJobId };
import { checkPrivacyBudget } from "./privacy_plan.ts";

/** Wei per GPU-second of the per-batch reward unless told otherwise (0.001 ARTH). */
export const DEFAULT_BASE_RATE_PER_SECOND = parseEther("0.001");

/** What to submit, and where. */
export interface SubmitJobParameters {
  /** The coordinator's base URL. */
  coordinator: string;
  deployment: ExpectedDeployment;
  chainIdName: string;
  prepare: PrepareJobOptions;
  /** Wei escrowed; at least `baseRatePerSecond` (the contract's bound). */
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
  /** Wei per GPU-second of the per-batch reward (default {@link DEFAULT_BASE_RATE_PER_SECOND}). */
  baseRatePerSecond?: bigint;
  /** Put the files in this store (one the coordinator reads) instead of uploading them. */
  store?: Store;
  /** How long to wait for `nodes` live, eligible workers before escrowing (default 10 min). */
  waitNodesMs?: number;
  /**
   * Called with what is known of the job before its escrow is sent and each time more is known
   * (the transaction's hash once signed, the mined id, the model): awaited, so a record written
   * here exists before the money moves.
   */
  record?: (job: PendingJob) => Promise<void> | void;
  log?: (line: string) => void;
}

/** What is known of a job being submitted: enough to find, start or cancel it. */
export interface PendingJob {
  /** Derived before the escrow is sent (the owner's next nonce); the receipt's once mined. */
  jobId: Hex;
  specCid: string;
  /** Its ModelRegistry name. */
  name: string;
  /** The escrow's transaction, once signed, and its nonce. */
  txHash?: Hex;
  txNonce?: number;
  /** Set once the escrow is mined and `jobId` is its receipt's. */
  escrowed?: boolean;
  /** The spec's hash, as the escrow records it (tells this job from another at a derived id). */
  paramsHash?: Hex;
  modelId?: Hex;
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

/**
 * Submits, pays for, uploads, registers and starts a job; see the module doc.
 *
 * @throws {SubmitRefusedError} before anything is sent: a budget below the base rate, a model
 * name the owner has used
 * @throws {PrivacyBudgetError} before anything is sent, when `nodes` copies per round would
 * overspend the job's privacy budget
 * @throws {JobNotStartedError} after the escrow was signed: names the job, its status on chain
 * and the escrow's transaction
 */
export async function submitJob(
  client: ArthaClient,
  params: SubmitJobParameters,
): Promise<SubmittedJob> {
  const log = params.log ?? (() => {});
  checkBudget(params);
  const prepare = planFor(params);
  const info = await preflight(client, params);
  if (params.name !== undefined) await checkModelName(client, params, params.name);
  const local = new RecordingStore(new MemoryBlockstore());
  const { spec, specCid } = await prepareJob(params.store ?? local, prepare);
  const coordinator = new CoordinatorClient(httpCoordinator(params.coordinator), { retries: 3 });
  await waitForNodes(client, coordinator, { params, spec, log });
  const predicted = await nextJobId(client, params.deployment.addresses);
  const name = params.name ?? defaultModelName(predicted);
  if (params.name === undefined) await checkModelName(client, params, name);
  const job: PendingJob = { jobId: predicted, specCid, name, paramsHash: jobSpecHash(spec) };
  const record = async (more: Partial<PendingJob>) =>
    await params.record?.(Object.assign(job, more));
  await record({});
  try {
    const signed = watchSends(client, (txHash, txNonce) => record({ txHash, txNonce }));
    const { jobId } = await submitTrain(signed, escrowOf(params, spec));
    await record({ jobId, escrowed: true });
    log(`job ${jobId}: ${formatEther(params.budget)} ARTH escrowed by ${client.account.address}`);
    if (!params.store) {
      const addresses = params.deployment.addresses;
      await upload(client, coordinator, { addresses, local, spec, log });
    }
    const rounds = `${spec.rounds} round${spec.rounds === 1 ? "" : "s"}`;
    log(`spec ${formatArthaUri(specCid)}: ${spec.shards.length} shards, ${rounds}`);
    const publisher = info.coordinator as Address;
    const modelId = await registerJobModel(client, { params, job, publisher });
    await record({ modelId });
    const started = await postAssign(client, coordinator, { params, job: { ...job, modelId } });
    return { ...started, spec };
  } catch (e) {
    throw await notStarted(client, params, job, e);
  }
}

/**
 * The failure of a submit after its escrow was prepared: a JobNotStartedError naming the job and
 * its status on chain once the escrow was signed, else the failure as it is. The id is the
 * receipt's once the escrow is mined: found reviewing this, the id derived before the send named
 * whatever job took that number (another submit of the same account), and its owner was told to
 * cancel it.
 */
async function notStarted(
  client: ArthaClient,
  params: SubmitJobParameters,
  job: PendingJob,
  e: unknown,
): Promise<unknown> {
  if (job.txHash === undefined) return e; // nothing signed: nothing escrowed
  // The escrow's own send refused or reverted (a ChainCallError says the call did not run; one
  // whose fate is unknown is a SentUnconfirmedError): nothing escrowed, and the folder's record
  // goes back to the last job (found reviewing the record: it named a transaction that would
  // never be mined, and refused every later submit, cancel and start).
  if (!job.escrowed && e instanceof ChainCallError && !(e instanceof SentUnconfirmedError)) {
    return e;
  }
  const mined = job.escrowed ? job.jobId : await minedJobId(client, job.txHash, job.txNonce);
  if (mined === null) return e; // the escrow reverted: nothing escrowed
  const addresses = params.deployment.addresses;
  if (mined === undefined) {
    // No receipt to read (it is what was lost): the derived id is this job only if the job there
    // holds this spec and budget.
    const there = await readJob(client, { addresses, jobId: job.jobId }).catch(() => undefined);
    const ours = there !== undefined && there.status !== JobStatus.None &&
      there.paramsHash === job.paramsHash && there.budget === params.budget;
    const status = ours ? there.status as number : undefined;
    return new JobNotStartedError(job.jobId, { cause: e, status, txHash: job.txHash });
  }
  const status = await readJob(client, { addresses, jobId: mined })
    .then((j) => j.status as number, () => undefined);
  return new JobNotStartedError(mined, { cause: e, status, txHash: job.txHash });
}

/**
 * Thrown when the budget may be escrowed but the job could not be started; `jobId` names it,
 * `status` is its status on chain (undefined when it could not be read; None while the escrow's
 * transaction `txHash` is not mined), so the owner knows whether to start it again or cancel it.
 */
export class JobNotStartedError extends Error {
  readonly code = "JOB_NOT_STARTED";
  readonly status: number | undefined;
  readonly txHash: Hex | undefined;
  constructor(
    readonly jobId: Hex,
    options: { cause: unknown; status?: number; txHash?: Hex },
  ) {
    const why = (options.cause as Error)?.message ?? String(options.cause);
    const state = options.status === JobStatus.Running
      ? `job ${jobId} is running on chain (its nodes are assigned) but its start was not confirmed`
      : options.status === JobStatus.Open
      ? `job ${jobId} is escrowed but not started`
      : `the job may be escrowed (as ${jobId}, unless another submit of this account came ` +
        `first): its transaction ${options.txHash ?? "(unknown)"} was sent but not confirmed`;
    super(`${state}: ${why}`, { cause: options.cause });
    this.name = "JobNotStartedError";
    this.status = options.status;
    this.txHash = options.txHash;
  }
}

/** Thrown before anything is sent when the submit would revert on chain after waiting for nodes. */
export class SubmitRefusedError extends Error {
  constructor(readonly code: "BUDGET_BELOW_RATE" | "MODEL_NAME_TAKEN", message: string) {
    super(message);
    this.name = "SubmitRefusedError";
  }
}

/**
 * The contract refuses a base rate above the budget (JobManager__InvalidParams), but only in the
 * escrow's gas estimate, after the job was prepared and its nodes waited for: refused first.
 */
function checkBudget(params: SubmitJobParameters): void {
  const rate = params.baseRatePerSecond ?? DEFAULT_BASE_RATE_PER_SECOND;
  if (params.budget >= rate) return;
  throw new SubmitRefusedError(
    "BUDGET_BELOW_RATE",
    `Cannot submit the job: its budget of ${formatEther(params.budget)} ARTH is below the base ` +
      `rate of ${formatEther(rate)} ARTH for one GPU-second; escrow at least that (--budget)`,
  );
}

/** The name a job's model is registered under unless the owner names it. */
function defaultModelName(jobId: Hex): string {
  return `artha-${jobId.slice(2, 10)}`;
}

/** Refuses a model name the owner has registered (registerModel would revert after the escrow). */
async function checkModelName(
  client: ArthaClient,
  params: SubmitJobParameters,
  name: string,
): Promise<void> {
  const modelId = modelIdOf(client.account.address, name);
  const addresses = params.deployment.addresses;
  const model = await getModel(client, { addresses, modelId, publisher: client.account.address });
  if (BigInt(model.owner) === 0n) return;
  throw new SubmitRefusedError(
    "MODEL_NAME_TAKEN",
    `Cannot submit the job: ${client.account.address} already registered a model named ` +
      `"${name}" (${modelId}, job ${model.jobId}); choose another --name`,
  );
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
  const info = await checkPublisher(client, params);
  const address = client.account.address;
  await checkFunds(client, { address, need: params.budget, action: "submit the job" });
  return info;
}

/** The coordinator runs on the owner's chain and deployment, its account authorised. */
async function checkPublisher(
  client: ArthaClient,
  params: Pick<SubmitJobParameters, "coordinator" | "deployment" | "chainIdName">,
) {
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
  return info;
}

/** AIJobManager.submitTrain of `params.budget` for `params.nodes` workers. */
function escrowOf(params: SubmitJobParameters, spec: JobSpec) {
  const terms: TrainJobTerms = {
    modelCid: spec.initialWeights,
    datasetCid: spec.shards[0]!.cid,
    paramsHash: jobSpecHash(spec),
    rounds: spec.rounds,
    nodesWanted: params.nodes,
    redundancy: spec.verification?.redundancy ?? 1,
    baseRatePerSecond: params.baseRatePerSecond ?? DEFAULT_BASE_RATE_PER_SECOND,
    targetImprovementBps: params.targetImprovementBps,
    ...workTerms(spec),
  };
  return { addresses: params.deployment.addresses, budget: params.budget, terms };
}

/** What {@link startSubmittedJob} needs: the job and where it runs. */
export interface StartSubmittedJobParameters {
  coordinator: string;
  deployment: ExpectedDeployment;
  chainIdName: string;
  /** The job, as {@link SubmitJobParameters.record} left it. */
  job: PendingJob;
}

/**
 * Starts a job whose submit failed after its escrow (`deno task job start`): registers its model
 * unless it is, and posts /assign again, signed. The coordinator's start is idempotent over the
 * chain's state: a job Running on chain keeps the nodes assigned to it.
 */
export async function startSubmittedJob(
  client: ArthaClient,
  params: StartSubmittedJobParameters,
): Promise<Omit<SubmittedJob, "spec">> {
  const info = await checkPublisher(client, params);
  const publisher = info.coordinator as Address;
  const job = params.job;
  const modelId = job.modelId ?? await registerJobModel(client, { params, job, publisher });
  const coordinator = new CoordinatorClient(httpCoordinator(params.coordinator), { retries: 3 });
  return await postAssign(client, coordinator, { params, job: { ...job, modelId } });
}

/**
 * Registers the job's model (the coordinator publishes it); what the owner registered for this
 * job before (a submit or start cut short, between the registration and its publisher too) is
 * taken as it is and finished (lib/chain/register_model.ts).
 */
async function registerJobModel(
  client: ArthaClient,
  o: { params: { deployment: ExpectedDeployment }; job: PendingJob; publisher: Address },
): Promise<Hex> {
  const { jobId, name } = o.job;
  const addresses = o.params.deployment.addresses;
  return await registerModel(client, { addresses, name, jobId, publisher: o.publisher });
}

/** Asks the coordinator, signed as the owner, to assign the job. */
async function postAssign(
  client: ArthaClient,
  coordinator: CoordinatorClient,
  o: { params: { deployment: ExpectedDeployment }; job: PendingJob & { modelId: Hex } },
): Promise<Omit<SubmittedJob, "spec">> {
  const { jobId, specCid, modelId } = o.job;
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
  return { jobId, specCid, modelId, assigned: started.assigned.length, initialValLoss };
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
