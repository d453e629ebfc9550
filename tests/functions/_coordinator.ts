/**
 * Shared set-up of the coordinator-function tests: ONE anvil devnet per test file with the eight
 * contracts deployed, one filesystem SVDB store, and a fresh coordinator state per test
 * (`fx.scenario()`: its own Deno KV file and its own injectable clock) so tests in a file do not
 * see each other's nodes or jobs. Handlers are called with `new Request(...)`, no port.
 *
 * Accounts: 0 is the coordinator (deployer, authorised everywhere), 1 the job owner, 2.. node
 * operators (several node keys per operator; the binding nonce is the key's index).
 */
import { type ArthaDomain, arthaDomain } from "../../lib/crypto/domain.ts";
import { type Hex, HttpRequestError, parseEther, parseTransaction } from "viem";
import { type Devnet, startDevnet } from "../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../lib/chain/client.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { abis, type ArthaAddresses, NodeRole } from "../../lib/chain/contracts.ts";
import { sendContract } from "../../lib/chain/send_contract.ts";
import { submitTrain } from "../../lib/chain/submit_train.ts";
import { registerModel } from "../../lib/chain/register_model.ts";
import { commitRound } from "../../lib/chain/commit_round.ts";
import { bindingNonce, registerNode } from "../../lib/chain/register_node.ts";
import { encodeCaps } from "../../lib/chain/caps.ts";
import { encodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { codecFor } from "../../lib/strategy/select.ts";
import { type JobSpec, jobSpecHash, workTerms } from "../../lib/job/job_spec.ts";
import type { ServerOptimizerConfig } from "../../lib/strategy/server_optimizer.ts";
import { roundTask } from "../../lib/round/round_task.ts";
import { prepareJob } from "../../lib/job/job_owner.ts";
import { generateNodeKey, type NodeKey, signBinding } from "../../lib/crypto/keys.ts";
import { didHashFromAuthKey, formatDid } from "../../lib/did/did.ts";
import { createDid } from "../../lib/did/registry.ts";
import { type LocalResult, trainLocal } from "../../lib/round/local_training.ts";
import {
  envelopeOf,
  envelopeToJson,
  type SignedUpdateEnvelope,
  signEnvelope,
} from "../../lib/round/update_envelope.ts";
import type { Store } from "../../lib/store/store.ts";
import { isStoreKind, openStore, type StoreKind } from "../../lib/store/open_store.ts";
import type { ModelConfig } from "../../kernel/params.ts";
import { SECURE_UPDATE_CID } from "../../lib/round/secure_session.ts";
import { type Context, DEFAULT_CONFIG } from "../../lib/coordinator/context.ts";
import { getJob, type JobRecord, withAssignment } from "../../lib/coordinator/state.ts";
import { loadWeights, processTrainer } from "../../lib/coordinator/job.ts";
import { taskFor } from "../../lib/coordinator/tasks.ts";
import { createRouter } from "../../functions/router.ts";
import { CheatingWorker, type WorkerCheat } from "../verify/_cheating_worker.ts";
import {
  accountUploadSigner,
  signJson,
  signUpload,
  type SignUploadOptions,
  uploadDomain,
  type UploadSigner,
} from "../../lib/store/upload_signature.ts";

/** The model every test trains: ~10k parameters, a step takes well under a millisecond. */
export const TINY_MODEL: ModelConfig = { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 };
export const TINY_BATCH = { B: 2, T: 16 };
export const ZERO32: Hex = `0x${"00".repeat(32)}`;
const LAPTOP = { hasGPU: false, hasTEE: false, diskGB: 100, bandwidthMbps: 100, computeUnits: 2 };

const SENTENCES = [
  "The jury said it did find that the election was conducted well. ",
  "She walked down to the harbour where the boats were painted blue. ",
  "In the laboratory the samples were heated to four hundred degrees. ",
  "He argued that the tariff would raise prices for every family. ",
];

/** Small non-IID text shards: shard i repeats sentence i (plus a shared tail). */
export function tinyShards(n: number) {
  const enc = new TextEncoder();
  return Array.from({ length: n }, (_, i) => {
    const text = (SENTENCES[i % SENTENCES.length]! + SENTENCES[(i + 1) % SENTENCES.length]!)
      .repeat(24);
    return { name: `tiny/${i}`, train: enc.encode(text), val: enc.encode(text.slice(0, 512)) };
  });
}

/** A node: its Ed25519 key, its operator's client and the Worker that runs it. */
export interface TestNode {
  key: NodeKey;
  nodePubkey: Hex;
  operator: ArthaClient;
  worker: CheatingWorker;
  /** Misbehaviour hooks of the node's worker (empty: honest). */
  cheat: WorkerCheat;
}

/** A job started through POST /assign. */
export interface TestJob {
  jobId: Hex;
  spec: JobSpec;
  specCid: string;
  modelId?: Hex;
  /** The nodes assigned (in the record's order), then the spares. */
  nodes: TestNode[];
  spares: TestNode[];
  record: JobRecord;
}

/** A trained, uploaded (and by default chain-committed) update, not yet posted. */
export interface TrainedUpdate {
  envelope: SignedUpdateEnvelope;
  result: LocalResult;
  updateCid: string;
}

/** One coordinator state over the file's chain and store. */
export interface Scenario {
  ctx: Context;
  /** Moves the coordinator's clock (ctx.now) forward. */
  advance(ms: number): void;
  route: (req: Request) => Promise<Response>;
  /** A request to the router, path relative to the coordinator. */
  call(path: string, init?: RequestInit): Promise<Response>;
  /** POSTs a JSON body (object or raw text). */
  post(path: string, body: unknown): Promise<Response>;
  /** POSTs a JSON body signed by `signer`'s account (default the job owner), as POST /assign
   * must be. */
  postAs(path: string, body: unknown, signer?: ArthaClient): Promise<Response>;
  /** A staked node, bound with POST /register unless `bind: false`. */
  node(options?: { bind?: boolean; operator?: number; stake?: bigint }): Promise<TestNode>;
  /** Prepares, escrows and starts a tiny job with `nodes` bound nodes (+ `spares`). */
  job(options?: JobOptions): Promise<TestJob>;
  /** Trains node's task of the open round, uploads it and commits it on chain. */
  train(
    job: TestJob,
    node: TestNode,
    options?: { commit?: boolean; slot?: number },
  ): Promise<TrainedUpdate>;
  /** Trains and posts updates of `nodes` for the open round (all must succeed). */
  deliver(job: TestJob, nodes: TestNode[]): Promise<void>;
  /** The job as KV records it now, with its whole assignment. */
  jobRecord(jobId: Hex): Promise<JobRecord>;
}

export interface JobOptions {
  nodes?: number;
  spares?: number;
  rounds?: number;
  localSteps?: number;
  quorum?: number;
  deadlineMs?: number;
  /** A verification policy (challenges, samples, redundancy 1). */
  verification?: JobSpec["verification"];
  /** Hierarchical aggregation by worker clusters. */
  hierarchical?: boolean;
  clusterSize?: number;
  clusterAudit?: number;
  layers?: Record<string, { weight?: number; freeze?: boolean }>;
  /** FedBuff-style asynchronous aggregation. */
  asynchronous?: { maxStaleness: number };
  /** Register a ModelRegistry model the coordinator may add checkpoints to. */
  model?: boolean;
  /** How workers encode updates (default fp32 safetensors). */
  compression?: JobSpec["compression"];
  /** A Byzantine-robust rule instead of FedAvg. */
  robust?: JobSpec["robust"];
  /** A differential-privacy policy (DP-FedAvg). */
  privacy?: JobSpec["privacy"];
  /** Training shards (default: one per node, at least 2). */
  shards?: number;
  /** Secure aggregation (the coordinator sees only the round's sum). */
  secureAggregation?: JobSpec["secureAggregation"];
  /** A server optimizer instead of plain FedAvg, and its fields. */
  strategy?: JobSpec["aggregation"]["strategy"];
  outer?: Omit<ServerOptimizerConfig, "strategy">;
  /** Runs once the job is escrowed and its nodes registered, before POST /assign starts it. */
  beforeStart?: (jobId: Hex, nodes: TestNode[]) => Promise<void>;
}

export interface Coordinator extends AsyncDisposable {
  net: Devnet;
  addresses: ArthaAddresses;
  /** Where signatures count: the deployment's ProofOfCompute on the devnet's chain. */
  domain: ArthaDomain;
  store: Store;
  clients: ArthaClient[];
  coordinator: ArthaClient;
  owner: ArthaClient;
  /** A fresh KV and clock over the shared chain and store. */
  scenario(options?: { config?: Partial<Context["config"]> }): Promise<Scenario>;
  /** Reads AIJobManager.getJob. */
  chainJob(
    jobId: Hex,
  ): Promise<{ currentRound: number; status: number; latestCheckpointCid: string }>;
}

/** JSON body of a response plus its status. */
// deno-lint-ignore no-explicit-any
export async function read(res: Response): Promise<{ status: number; body: any }> {
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/**
 * POST /svdb signed by `signer` (a node key or an EVM account), as workers and owners upload;
 * `headers` are added after the signature (to tamper with it).
 */
export async function postSigned(
  s: Scenario,
  signer: UploadSigner,
  body: Uint8Array,
  options: SignUploadOptions & { headers?: Record<string, string> } = {},
): Promise<Response> {
  const { chainId, addresses } = s.ctx.chain;
  const signed = await signUpload(signer, uploadDomain(chainId, addresses.registry), body, {
    now: s.ctx.now(),
    ...options,
  });
  return await s.call(options.path ?? "/svdb", {
    method: "POST",
    headers: { "content-type": "application/octet-stream", ...signed, ...options.headers },
    body: body as Uint8Array<ArrayBuffer>,
  });
}

/** What every scenario of one fixture shares: the chain, its accounts, the store, the trainer. */
interface Shared {
  net: Devnet;
  dir: string;
  clients: ArthaClient[];
  coordinator: ArthaClient;
  owner: ArthaClient;
  addresses: ArthaAddresses;
  store: Store;
  trainer: ReturnType<typeof processTrainer>;
  operators: number;
  kvs: Deno.Kv[];
  turn: { kv: number; operator: number };
}

/** A scenario's coordinator before its helpers: context and the two ways to call it. */
interface Base {
  ctx: Context;
  call(path: string, init?: RequestInit): Promise<Response>;
  post(path: string, body: unknown): Promise<Response>;
  postAs(path: string, body: unknown, signer?: ArthaClient): Promise<Response>;
}

/**
 * Starts anvil, deploys the contracts (ProofOfCompute's settlement delay 0 unless given) and opens
 * the store in a temp dir: `store` picks its backend (default ARTHA_TEST_STORE, else fs; kv opens a
 * KV file of its own).
 */
export async function setupCoordinator(
  options: { operators?: number; store?: StoreKind; settlementDelay?: number } = {},
): Promise<Coordinator> {
  const operators = options.operators ?? 3;
  const kind = options.store ?? Deno.env.get("ARTHA_TEST_STORE") ?? "fs";
  if (!isStoreKind(kind)) throw new RangeError(`Cannot set up coordinator: no store kind ${kind}`);
  const net = await startDevnet({ accounts: 2 + operators });
  const dir = await Deno.makeTempDir({ prefix: "artha-fn-test-" });
  const kvs: Deno.Kv[] = [];
  let store: Store | undefined;
  const dispose = async () => {
    for (const kv of kvs) kv.close();
    await store?.close();
    await net.stop();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    const clients = net.accounts.map((account) =>
      createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account })
    );
    const [coordinator, owner] = [clients[0]!, clients[1]!];
    const settlementDelay = options.settlementDelay ?? 0;
    const addresses = await deployArtha(coordinator, { settlementDelay });
    store = await openStore({ kind, dir: `${dir}/svdb`, kv: `${dir}/svdb.kv` });
    const sh: Shared = {
      net,
      dir,
      clients,
      coordinator,
      owner,
      addresses,
      store,
      trainer: processTrainer(),
      operators,
      kvs,
      turn: { kv: 0, operator: 0 },
    };
    return {
      net,
      addresses,
      domain: arthaDomain(net.chainId, addresses.proofs),
      store,
      clients,
      coordinator,
      owner,
      scenario: (o) => openScenario(sh, o),
      chainJob: (jobId) => chainJobOf(sh, jobId),
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** A fresh coordinator state (KV file, clock) over the fixture's chain and store. */
async function openScenario(
  sh: Shared,
  o: { config?: Partial<Context["config"]> } = {},
): Promise<Scenario> {
  const kv = await Deno.openKv(`${sh.dir}/coordinator-${sh.turn.kv++}.kv`);
  sh.kvs.push(kv);
  let offset = 0;
  const ctx: Context = {
    kv,
    store: sh.store,
    chain: { client: sh.coordinator, addresses: sh.addresses, chainId: sh.net.chainId },
    config: { ...DEFAULT_CONFIG, ...o.config },
    now: () => Date.now() + offset,
  };
  const route = createRouter(ctx);
  const call = (path: string, init?: RequestInit) =>
    route(new Request(`http://coordinator${path}`, init));
  const post = (path: string, body: unknown) =>
    call(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const postAs = async (path: string, body: unknown, signer: ArthaClient = sh.owner) => {
    const domain = uploadDomain(sh.net.chainId, sh.addresses.registry);
    const signed = await signJson(accountUploadSigner(signer), domain, path, body, ctx.now());
    return await call(path, { method: "POST", ...signed });
  };
  const base: Base = { ctx, call, post, postAs };
  const train = (job: TestJob, n: TestNode, t?: { commit?: boolean; slot?: number }) =>
    trainUpdate(sh, base, job, n, t);
  return {
    ctx,
    advance: (ms) => void (offset += ms),
    route,
    call,
    post,
    postAs,
    node: (n) => addNode(sh, base, n),
    job: (j) => startTestJob(sh, base, j),
    train,
    deliver: async (job, list) => {
      for (const n of list) {
        const u = await train(job, n);
        const res = await post("/aggregate/update", envelopeToJson(u.envelope));
        if (res.status !== 201) throw new Error(`update: ${res.status} ${await res.text()}`);
      }
    },
    jobRecord: async (jobId) => await withAssignment(kv, (await getJob(kv, jobId)).value!),
  };
}

/**
 * A laptop worker of the next operator: registered (with `stake`, default the GPUProvider tier's)
 * and bound, or registered unbound.
 */
async function addNode(
  sh: Shared,
  b: Base,
  n: { bind?: boolean; operator?: number; stake?: bigint } = {},
): Promise<TestNode> {
  const operator = sh.clients[2 + (n.operator ?? sh.turn.operator++ % sh.operators)]!;
  const key = generateNodeKey();
  const cheat: WorkerCheat = {};
  const { addresses, net } = sh;
  const worker = new CheatingWorker({
    coordinator: b.call,
    client: operator,
    addresses,
    chainId: net.chainId,
    key,
    trainer: sh.trainer,
    heartbeatEveryMs: Infinity,
    now: b.ctx.now,
  }, cheat);
  if ((n.bind ?? true) && n.stake === undefined) {
    await worker.register();
    return { key, nodePubkey: worker.nodePubkey, operator, worker, cheat };
  }
  const nonce = await bindingNonce(operator, { addresses, operator: operator.account.address });
  await registerNode(operator, {
    addresses,
    nodePubkey: key.publicKeyHex,
    role: NodeRole.GPUProvider,
    region: "test",
    caps: encodeCaps(LAPTOP),
    slaId: ZERO32,
    stake: n.stake,
    bindingSignature: signBinding(key, {
      chainId: net.chainId,
      registry: addresses.registry,
      operator: operator.account.address,
      nonce,
    }),
  });
  if (n.bind ?? true) await worker.register(); // registered already: only binds
  return { key, nodePubkey: worker.nodePubkey, operator, worker, cheat };
}

/** Prepares, escrows and assigns a tiny job; its nodes are registered on the way. */
async function startTestJob(sh: Shared, b: Base, j: JobOptions = {}): Promise<TestJob> {
  const nodes = j.nodes ?? 2;
  const { spec, specCid } = await prepareJob(sh.store, {
    model: TINY_MODEL,
    shards: tinyShards(j.shards ?? Math.max(2, nodes)),
    rounds: j.rounds ?? 2,
    localSteps: j.localSteps ?? 2,
    ...TINY_BATCH,
    ...specOptions(j),
    nodes,
    valBytesPerShard: 256,
  });
  const jobId = await escrowTestJob(sh, spec, nodes);
  let modelId: Hex | undefined;
  if (j.model) {
    modelId = await registerModel(sh.owner, {
      addresses: sh.addresses,
      name: `model-${jobId.slice(2, 10)}`,
      jobId,
      publisher: sh.coordinator.account.address,
    });
  }
  const all: TestNode[] = [];
  for (let i = 0; i < nodes + (j.spares ?? 0); i++) all.push(await addNode(sh, b));
  await j.beforeStart?.(jobId, all);
  let res = await read(await b.postAs("/assign", { jobId, specCid, modelId }));
  // As the owner's client does: a 503 (the chain unavailable or a send unconfirmed) is retried.
  if (res.status === 503) res = await read(await b.postAs("/assign", { jobId, specCid, modelId }));
  if (res.status !== 200) throw new Error(`assign: ${res.status} ${JSON.stringify(res.body)}`);
  const record = res.body as JobRecord;
  const byKey = new Map(all.map((n) => [n.nodePubkey, n]));
  const assigned = record.assigned.map((k) => byKey.get(k)!);
  const spares = all.filter((n) => !record.assigned.includes(n.nodePubkey));
  return { jobId, spec, specCid, modelId, nodes: assigned, spares, record };
}

/** The job options that go into the spec as they are. */
function specOptions(j: JobOptions) {
  const { quorum, deadlineMs, asynchronous, hierarchical, clusterSize, clusterAudit } = j;
  const { layers, verification, compression, robust, privacy, secureAggregation } = j;
  return {
    strategy: j.strategy,
    outer: j.outer,
    quorum,
    deadlineMs,
    asynchronous,
    hierarchical,
    clusterSize,
    clusterAudit,
    layers,
    verification,
    compression,
    robust,
    privacy,
    secureAggregation,
  };
}

/** The owner escrows 10 ARTH for `spec` with `nodes` nodes; returns the job id. */
function escrowTestJob(sh: Shared, spec: JobSpec, nodes: number): Promise<Hex> {
  return escrowSpec(sh, spec, { nodes, budget: parseEther("10"), targetImprovementBps: 100 });
}

/**
 * `owner` (the fixture's unless given) escrows `spec` with AIJobManager.submitTrain: by default
 * 1 ARTH, one node, redundancy 1, at 0.001 ARTH a second; returns the job id.
 */
export async function escrowSpec(
  fx: { owner: ArthaClient; addresses: ArthaAddresses },
  spec: JobSpec,
  o: {
    owner?: ArthaClient;
    nodes?: number;
    budget?: bigint;
    baseRatePerSecond?: bigint;
    targetImprovementBps?: number;
    stepsPerRound?: number;
  } = {},
): Promise<Hex> {
  const { jobId } = await submitTrain(o.owner ?? fx.owner, {
    addresses: fx.addresses,
    budget: o.budget ?? parseEther("1"),
    terms: {
      modelCid: spec.initialWeights,
      datasetCid: spec.shards[0]!.cid,
      paramsHash: jobSpecHash(spec),
      rounds: spec.rounds,
      nodesWanted: o.nodes ?? 1,
      redundancy: 1,
      baseRatePerSecond: o.baseRatePerSecond ?? parseEther("0.001"),
      targetImprovementBps: o.targetImprovementBps ?? 0,
      ...workTerms(spec),
      ...(o.stepsPerRound === undefined ? {} : { stepsPerRound: o.stepsPerRound }),
    },
  });
  return jobId;
}

/** Trains a node's task of the open round, uploads it and (by default) commits it on chain. */
async function trainUpdate(
  sh: Shared,
  b: Base,
  job: TestJob,
  n: TestNode,
  t: { commit?: boolean; slot?: number } = {},
): Promise<TrainedUpdate> {
  const task = await taskFor(b.ctx, n.nodePubkey);
  if (task.status !== "task") throw new Error(`node has no task: ${task.status}`);
  const c = job.spec.compression;
  const codec = c
    ? codecFor(c, { jobSeed: job.spec.seed, round: task.round, slot: t.slot ?? task.slot })
    : undefined;
  const domain = arthaDomain(sh.net.chainId, sh.addresses.proofs);
  const result = trainLocal(
    sh.trainer,
    await loadWeights(sh.store, task.globalCid),
    roundTask(job.spec, task, domain, await sh.store.get(task.shard.cid)),
    n.key,
    { encode: codec && ((d) => codec.encode(d).bytes) },
  );
  // A secure job's update is never uploaded (lib/worker/deliver.ts uploadUpdate).
  const updateCid = job.spec.secureAggregation ? SECURE_UPDATE_CID : (await sh.store.put(
    result.payload ?? encodeCheckpoint(job.spec.model, result.delta, { kind: "delta" }),
  )).toString();
  const at = { jobId: task.jobId, round: task.round, nodePubkey: n.key.publicKeyHex };
  if (t.commit ?? true) {
    const { lossDigest, gradientDigest, weightsDigest, proofsRoot } = result;
    const commit = { ...at, lossDigest, gradientDigest, weightsDigest, proofsRoot };
    await commitRound(n.operator, { addresses: sh.addresses, commit });
  }
  const envelope = signEnvelope(n.key, envelopeOf(result, { ...at, updateCid }), domain);
  return { envelope, result, updateCid };
}

/** AIJobManager.getJob as the tests read it. */
async function chainJobOf(sh: Shared, jobId: Hex) {
  const j = await sh.coordinator.readContract({
    address: sh.addresses.jobs,
    abi: abis.jobs,
    functionName: "getJob",
    args: [jobId],
  });
  return {
    currentRound: Number(j.currentRound),
    status: Number(j.status),
    latestCheckpointCid: j.latestCheckpointCid,
  };
}

/** Creates a fresh DID controlled by `account`; returns it as `did:artha:...` (x-artha-did). */
export async function createTestDid(fx: Coordinator, account: ArthaClient): Promise<string> {
  const authKey = generateNodeKey();
  const didHash = didHashFromAuthKey(authKey.publicKey);
  await createDid(account, {
    addresses: fx.addresses,
    didHash,
    authKey,
    encKey: didHash,
    metaCid: "x",
  });
  return formatDid(didHash);
}

/** A 4-node, 2-round committee job whose every round is spot-checked (setSpotCheckBps 100%). */
export async function spotCheckedJob(fx: Coordinator, compression?: JobOptions["compression"]) {
  await sendContract(fx.coordinator, {
    address: fx.addresses.verification,
    abi: abis.verification,
    functionName: "setSpotCheckBps",
    args: [10_000n],
  });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 4,
    rounds: 2,
    verification: { redundancy: 1, challengeRate: 0, sampleRate: 0, committee: true },
    compression,
  });
  return { s, job };
}

/** A 2-round job with one task group of two nodes (redundancy 2, no challenges) and a spare. */
export async function pairWithSpare(fx: Coordinator) {
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 2,
    spares: 1,
    rounds: 2,
    verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
  });
  const [first, second] = job.nodes as [TestNode, TestNode];
  return { s, job, first, second, spare: job.spares[0]! };
}

/**
 * `chain` with a client whose sends to `to` reach the node but whose answers are lost, the first
 * `lose` of them (all by default): the send's fate unknown, as behind a dropped connection.
 * `sent()` counts the sends to `to`.
 */
export function losingAnswers(
  chain: Context["chain"],
  to: Hex,
  lose = Infinity,
): { chain: Context["chain"]; sent: () => number } {
  let sent = 0;
  const client = new Proxy(chain.client, {
    get(target, key) {
      if (key !== "sendRawTransaction") return Reflect.get(target, key);
      return async (request: { serializedTransaction: Hex }) => {
        const hash = await target.sendRawTransaction(request);
        const dest = parseTransaction(request.serializedTransaction).to?.toLowerCase();
        if (dest !== to.toLowerCase() || sent++ >= lose) return hash;
        throw new HttpRequestError({ url: "http://127.0.0.1:1", details: "the answer was lost" });
      };
    },
  });
  return { chain: { ...chain, client }, sent: () => sent };
}

/** An hour and more passes on chain (every node misses a heartbeat); the `live` ones send one. */
export async function onlyLive(fx: Coordinator, live: TestNode[]): Promise<void> {
  await fx.coordinator.request({ method: "evm_increaseTime" as never, params: [3700] as never });
  for (const n of live) await n.worker.heartbeat(true);
}
