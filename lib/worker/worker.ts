/**
 * The worker: one laptop's loop over the coordinator and the chain. Each tick heartbeats,
 * answers challenges and disputes, re-sends an update a crash left undelivered, or asks for a
 * task and runs it (train, aggregate a cluster, or validate). The steps live in this folder;
 * this class ties them together and keeps what must outlive a tick.
 *
 * @example
 * ```ts ignore
 * import { Worker } from "./worker.ts";
 * import { httpCoordinator } from "./client.ts";
 * const worker = new Worker({ coordinator: httpCoordinator(url), client, addresses, chainId, key });
 * await worker.register();
 * await worker.run(signal);
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { sendHeartbeat } from "../chain/heartbeat.ts";
import { getNodeCert } from "../chain/get_node_cert.ts";
import { heartbeatDue } from "./_heartbeat_due.ts";
import type { Caps } from "../chain/caps.ts";
import type { NodeKey } from "../crypto/keys.ts";
import { type ArthaDomain, arthaDomain } from "../crypto/domain.ts";
import {
  envelopeOf,
  envelopeToJson,
  type SignedUpdateEnvelope,
  signEnvelope,
  type UpdateEnvelope,
} from "../round/update_envelope.ts";
import { ChallengeResponder } from "../verify/responder.ts";
import { DisputeResponder } from "../verify/dispute_responder.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import {
  CoordinatorClient,
  CoordinatorError,
  type CoordinatorFetch,
  isTransient,
} from "./client.ts";
import type { WorkerEvent } from "./events.ts";
import { JobFollower } from "./follow.ts";
import { rpcUnavailable } from "../chain/rpc_unavailable.ts";
import { isVerificationOpen } from "../chain/is_verification_open.ts";
import { getOpenCases } from "../chain/get_open_cases.ts";
import { Gateway } from "./gateway.ts";
import { nodeUploadSigner, uploadDomain } from "../store/upload_signature.ts";
import { type SavedCommit, type StateStorage, WorkerState } from "./state.ts";
import type { LocalResult } from "../round/local_training.ts";
import { sizedTrainer, type TrainedRound, type Trainer, trainTask } from "./train.ts";
import {
  committedUpdateBytes,
  commitTrained,
  keepCommitted,
  postUpdate,
  restoreCommit,
  savedCommitOf,
  updateLoader,
  uploadUpdate,
} from "./deliver.ts";
import { refuseMemory, refuseStepWork, refuseTask, refuseValidation } from "./task_check.ts";
import { checkClusterTask, checkedUpdates } from "./cluster_check.ts";
import { runSecureAggregation } from "./secure_aggregation.ts";
import { Chores } from "./chores.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { isNonFiniteUpdate } from "../compress/codec.ts";
import { registerWorker } from "./register.ts";
import { type ClusterMean, clusterMeanOf, postClusterMean, signedUpdates } from "./cluster.ts";
import { attestTask, recomputeTask } from "./validate.ts";
import { printable } from "../network/printable.ts";
import { redactUrl } from "../network/preflight.ts";
import {
  type ClusterTask,
  type TaskResponse,
  type TrainTask,
  UPDATE_UNREADABLE,
  type ValidationTask,
} from "./task.ts";

export interface WorkerOptions {
  coordinator: CoordinatorFetch;
  client: ArthaClient;
  addresses: ArthaAddresses;
  chainId: number;
  key: NodeKey;
  caps?: Caps;
  region?: string;
  /** The most stake registration may lock, in wei (default 10 ARTH: lib/worker/register.ts). */
  maxStake?: bigint;
  /**
   * The most bytes a training step may take (default: no limit). A train or validation task
   * whose step needs more is refused before its weights are fetched (task_check.ts refuseMemory).
   */
  memoryBudget?: number;
  /**
   * Threads of the trainer's kernel (default 1): each adds its GEMM scratch to a step's workspace,
   * which memoryBudget and the 32-bit WASM memory must hold (found in the kernel audit: planned
   * with one thread, a step of 1.5 GiB took 3.8 GiB on eight).
   */
  kernelThreads?: number;
  /** Where progress survives restarts (omit for none). */
  statePath?: string;
  /** Where progress survives restarts, when not files (a browser tab's IndexedDB). */
  stateStorage?: StateStorage;
  /** The kernel trainer (several in-process workers may share one; default: kernel.wasm from
   * disk, loaded on first use, resident or offloaded by model size: lib/worker/train.ts). */
  trainer?: Trainer;
  /**
   * Minimum ms between looks at whether a heartbeat is due (default 10 min): one goes out when
   * the node's last on chain is half the chain's interval (1 h) old. 0 sends one at every look
   * without reading the chain (tests that count them).
   */
  heartbeatEveryMs?: number;
  /** Minimum ms between heartbeat and challenge checks while training or waiting on a secure
   * round (default 30 s, ./chores.ts CHORES_MS). */
  choresEveryMs?: number;
  /** Retries of a coordinator call that failed to connect or got a 502/503/504 (default 0). */
  retries?: number;
  /** Progress, waits, round results and rewards (lib/worker/events.ts); with a listener the
   * worker also follows the jobs it trained for until they are finalized. */
  onProgress?: (event: WorkerEvent) => void;
  /** The clock of signed requests (default the wall clock; an in-process coordinator's in tests). */
  now?: () => number;
}

export type { WorkerEvent } from "./events.ts";

/** What one tick did. */
export type TickOutcome = "trained" | "resent" | "aggregated" | "validated" | "wait" | "idle";

const DEFAULT_HEARTBEAT_MS = 10 * 60_000;
/**
 * Kernel threads for a node that declares `computeUnits` cores: what it declares, at most this
 * machine's (the threaded step is byte-identical to the one-thread step for any count).
 *
 * @example
 * ```ts
 * import { kernelThreads } from "./worker.ts";
 * console.assert(kernelThreads(1) === 1 && kernelThreads(10_000) === navigator.hardwareConcurrency);
 * ```
 */
export function kernelThreads(computeUnits: number = navigator.hardwareConcurrency): number {
  return Math.max(1, Math.min(Math.floor(computeUnits), navigator.hardwareConcurrency));
}
/** Whether `e` is the coordinator's refusal of a request as such (4xx), not a passing failure. */
function isFinalRefusal(e: unknown): boolean {
  return e instanceof CoordinatorError && e.status >= 400 && e.status < 500 &&
    ![408, 425, 429].includes(e.status);
}

/**
 * Refusals of an update that pass with time: the coordinator could not read it back (collected
 * meanwhile), or its chain reads lag the node's commit or the job's start (found reviewing the
 * refused-round mark: an honest node marked such a round delivered and never posted it again).
 */
const PASSING_REFUSALS = [UPDATE_UNREADABLE, "NOT_COMMITTED", "JOB_NOT_RUNNING"];

/** How many posted clusters a worker remembers, to refuse an offer of one again. */
const CLUSTERS_REMEMBERED = 64;
/** How many diverged rounds a process remembers (a restart trains each once more). */
const DIVERGED_REMEMBERED = 64;

/** The key of a cluster task among those posted: job, round and cluster. */
function clusterKey(task: ClusterTask): string {
  return `${task.jobId.toLowerCase()}:${task.round}:${task.cluster}`;
}

/** Longest wait between tries while the coordinator or the chain is away. */
const MAX_BACKOFF_MS = 30_000;
/** How often the worker asks the chain which of its kept jobs can no longer be challenged. */
const FORGET_SETTLED_EVERY_MS = 10 * 60_000;

/**
 * One laptop's worker. Call `run()` to loop, or `tick()` for one iteration. The protected
 * methods are the steps a task is made of; a subclass may override one to change a step.
 */
export class Worker {
  readonly nodePubkey: Hex;
  /** Where this node's signatures count: the deployment's ProofOfCompute on its chain. */
  readonly domain: ArthaDomain;
  protected readonly options: WorkerOptions;
  protected readonly coordinator: CoordinatorClient;
  protected readonly gateway: Gateway;
  protected readonly state: WorkerState;
  #trainer?: Trainer;
  /** Commits kept to answer challenges on them. */
  protected challenges: ChallengeResponder;
  /** Step digests of commits kept to play disputes on them (jobs with redundancy). */
  protected disputes: DisputeResponder;
  /** Follows the jobs this node trained for (only when someone listens to the progress). */
  protected follower?: JobFollower;
  /** When the worker last sent a heartbeat, or saw that none was due. */
  #lastHeartbeatLook = 0;
  /** The heartbeat and answers that may not wait for long work (./chores.ts). */
  readonly #upkeep: Chores;
  #lastForget = 0;
  /** The clusters this process posted a mean of, newest last (`clusterKey`). */
  #clustersPosted: string[] = [];
  /** Rounds whose update this process found not finite, newest last (`jobId:round`). */
  #diverged: string[] = [];
  #restored?: Promise<void>;
  /** While challenges are answered: a kept update read from SVDB runs the chores, which must not
   * answer again inside the answer. */
  #answering = false;

  constructor(options: WorkerOptions) {
    this.options = options;
    this.nodePubkey = options.key.publicKeyHex.toLowerCase() as Hex;
    this.domain = arthaDomain(options.chainId, options.addresses.proofs);
    // Every request the coordinator holds open runs the node's chores meanwhile, its body's reads
    // too: one that answers each call, or trickles each body, up to the client's timeout would
    // otherwise keep the node from heartbeating and answering challenges for that long each time
    // (both slashed when missed).
    this.#upkeep = new Chores({
      everyMs: options.choresEveryMs,
      // A kept update read from SVDB for an answer runs the chores while the coordinator holds
      // it; answering again inside would read it again, and so on (found in the worker audit, a
      // restore doing that read froze the node for good). The answer under way goes on once the
      // read is done.
      run: () => this.#everyChore(this.#answering),
      report: (message) => this.#report({ kind: "error", message: `while busy: ${message}` }),
    });
    const fetch = options.coordinator;
    const patient: CoordinatorFetch = Object.assign(
      async (path: string, init?: RequestInit) =>
        this.#upkeep.patientBody(await this.#upkeep.during(fetch(path, init))),
      { origin: fetch.origin },
    );
    this.coordinator = new CoordinatorClient(patient, { retries: options.retries });
    this.gateway = new Gateway(this.coordinator, {
      signer: nodeUploadSigner(options.key),
      domain: uploadDomain(options.chainId, options.addresses.registry),
      now: options.now,
    });
    this.state = new WorkerState(options.stateStorage ?? options.statePath);
    this.#trainer = options.trainer;
    this.challenges = new ChallengeResponder(this.nodePubkey);
    this.disputes = new DisputeResponder(this.nodePubkey);
    if (options.onProgress) {
      const chain = { client: options.client, addresses: options.addresses };
      this.follower = new JobFollower(
        this.coordinator,
        { ...chain, nodePubkey: this.nodePubkey },
        options.onProgress,
      );
    }
  }

  /** The kernel trainer, loaded on first use (a subclass that trains elsewhere never loads it). */
  protected get trainer(): Trainer {
    return this.#trainer ??= sizedTrainer(loadKernel());
  }

  /** Bytes of a CID from the coordinator's SVDB gateway, verified against the CID. */
  fetchCid(cid: string): Promise<Uint8Array> {
    return this.gateway.get(cid);
  }

  /** Uploads bytes to SVDB through the gateway; returns the CID. */
  putBytes(bytes: Uint8Array): Promise<string> {
    return this.gateway.put(bytes);
  }

  /** Stakes and registers on chain if needed, then binds the key with the coordinator. */
  async register(role?: number): Promise<void> {
    const { client, addresses, chainId, key, caps, region, maxStake } = this.options;
    const r = await registerWorker(client, this.coordinator, {
      addresses,
      chainId,
      key,
      role,
      caps,
      region,
      maxStake,
    });
    if (r.registered) this.#lastHeartbeatLook = Date.now();
    const { nodePubkey } = this;
    const operator = client.account.address;
    this.options.onProgress?.({ ...r, kind: "registered", nodePubkey, operator });
  }

  /**
   * Waits for `ready` (the coordinator answering as it should), then {@link register}s, a
   * coordinator's absence or refusal tried again (backing off up to 30 s) until `signal` aborts;
   * all the while a node the chain already stakes heartbeats and answers its challenges and
   * disputes. Found in the worker audit: a staked node restarted while its coordinator was away
   * sent no heartbeat until it came back, and one whose coordinator refused the binding (its RPC
   * behind the block of the stake: 409 NOT_STAKED) exited; three silent hours cost 10% of the
   * stake, compounding.
   */
  async start(ready: () => Promise<unknown>, signal?: AbortSignal, pollMs = 1000): Promise<void> {
    const { client, addresses } = this.options;
    const stakedNow = async () =>
      (await getNodeCert(client, { addresses, nodePubkey: this.nodePubkey })).active;
    let staked = await stakedNow();
    const live = <T>(work: Promise<T>) => staked ? this.#upkeep.during(work) : work;
    await live(ready());
    for (let failures = 0;; failures++) {
      try {
        return await live(this.register());
      } catch (e) {
        // Staked by this very registration (found reviewing this: the first run's node, staked,
        // then refused by a lagging coordinator, retried with no heartbeat), a node keeps its
        // chores and keeps trying whatever the coordinator answers: leaving would cost its stake.
        staked ||= await stakedNow().catch(() => false);
        const retry = isTransient(e) || (staked && e instanceof CoordinatorError);
        if (signal?.aborted || !retry) throw e;
        const inMs = Math.min(MAX_BACKOFF_MS, pollMs * 2 ** failures);
        const message = `Cannot register with the coordinator: ${(e as Error).message}`;
        this.#report({ kind: "retrying", message: message.split("\n")[0]!, inMs });
        await live(new Promise((r) => setTimeout(r, inMs)));
      }
    }
  }

  /**
   * Sends an on-chain heartbeat when it is due ({@link heartbeatDue}), looking at most every
   * heartbeatEveryMs; `force` sends one now.
   */
  async heartbeat(force = false): Promise<void> {
    const every = this.options.heartbeatEveryMs ?? DEFAULT_HEARTBEAT_MS;
    if (!force && Date.now() - this.#lastHeartbeatLook < every) return;
    const { client, addresses, now } = this.options;
    const nodePubkey = this.options.key.publicKeyHex;
    const look = { addresses, nodePubkey, lookEveryMs: every, now };
    if (!force && every > 0 && !await heartbeatDue(client, look)) {
      this.#lastHeartbeatLook = Date.now(); // looked: the next look is `every` from now
      return;
    }
    await sendHeartbeat(client, { addresses, nodePubkey });
    this.#lastHeartbeatLook = Date.now();
  }

  /** Answers every open on-chain challenge of this node from its kept commits. */
  async answerChallenges(): Promise<number> {
    if (!this.options.addresses.verification) return 0;
    await this.#restoreCommits();
    this.#answering = true;
    let answered: number;
    try {
      answered = await this.challenges.answer(this.options.client, this.options.addresses);
    } finally {
      this.#answering = false;
    }
    await this.#forgetSettledJobs();
    return answered;
  }

  /**
   * Forgets the commits of jobs the chain opens no case on any more (settled, or past their
   * settlement delay) and has none open (a dispute may outlive the delay, and a challenge may
   * have been issued since the last look), in memory and in the state. At most every
   * FORGET_SETTLED_EVERY_MS: two chain reads per kept job.
   */
  async #forgetSettledJobs(): Promise<void> {
    if (Date.now() - this.#lastForget < FORGET_SETTLED_EVERY_MS) return;
    this.#lastForget = Date.now();
    const { client, addresses } = this.options;
    for (const jobId of this.challenges.jobs()) {
      if (await isVerificationOpen(client, { addresses, jobId })) continue;
      if (await getOpenCases(client, { addresses, jobId }) > 0) continue;
      if (!this.challenges.forgetJob(jobId)) continue;
      this.disputes.forgetJob(jobId);
      await this.state.forgetJob(jobId);
    }
  }

  /** Defends and bisects every open dispute this node is a party to, from its kept commits. */
  async answerDisputes(): Promise<number> {
    await this.#restoreCommits();
    return await this.disputes.answer(this.options.client, this.options.addresses);
  }

  /**
   * Once per process, the commits the state kept (a restart would otherwise leave the rounds
   * committed before it unanswerable, and the node slashed for each challenge of them).
   */
  #restoreCommits(): Promise<void> {
    // A failed restore (a kept file unreadable for a moment) is tried again at the next chore:
    // kept, its rejection failed every answer until the process restarted.
    return this.#restored ??= this.#restoreOnce().catch((e) => {
      this.#restored = undefined;
      throw e;
    });
  }

  /** Gives the responders every kept commit: digests and step records, the update bytes only as
   * a loader (read when a challenge needs them). */
  async #restoreOnce(): Promise<void> {
    const responders = { challenges: this.challenges, disputes: this.disputes };
    for (const saved of await this.state.commits()) {
      const steps = await this.state.committedSteps(saved.jobId, saved.round);
      restoreCommit(
        responders,
        { ...saved, ...steps },
        updateLoader(this.state, this.gateway, saved),
      );
    }
  }

  /** One iteration: heartbeat, deliver a pending update, or fetch and run a task. */
  async tick(): Promise<TickOutcome> {
    await this.#everyChore();
    this.#upkeep.done();
    const pending = await this.state.pending();
    if (pending) {
      try {
        await postUpdate(this.coordinator, pending.envelope);
      } catch (e) {
        // The coordinator judged the update (a 4xx that is no rate limit): re-sent every tick,
        // it would stop the node from ever training again. Its commit is on chain either way.
        if (!isFinalRefusal(e)) throw e;
        const why = `round ${pending.round} of job ${pending.jobId}: update refused, dropped: ` +
          (e as Error).message.split("\n")[0];
        this.#report({ kind: "error", message: why });
        // Judged, so done: found reviewing the delivered-round refusal, a coordinator answering
        // every post with a 4xx had the round offered, retrained and refused again in a loop.
        // Except refusals that pass (an update it could not read back, a commit or a job start
        // its chain reads have not seen yet): that round is trained and posted again if offered.
        if (!PASSING_REFUSALS.includes((e as CoordinatorError).code)) {
          await this.state.markDelivered(pending.jobId, pending.round);
        }
      }
      await this.state.adoptResidual(pending.jobId);
      await this.state.savePending(undefined);
      return "resent";
    }
    const task = await this.coordinator.getJson<TaskResponse>(`/assign?node=${this.nodePubkey}`);
    const waiting = task.status === "wait" || task.status === "idle";
    await this.follower?.follow(waiting ? task.status : "busy");
    if (task.status === "task") return await this.#runTrain(task);
    if (task.status === "cluster") return await this.#runCluster(task);
    if (task.status === "validate") return await this.#runValidation(task);
    return task.status;
  }

  /**
   * Loops until the signal aborts; waits `pollMs` when there is nothing to do. While the
   * coordinator or the chain is away it backs off (doubling up to 30 s) and says so once per try.
   */
  async run(signal?: AbortSignal, pollMs = 1000): Promise<void> {
    let failures = 0;
    while (!signal?.aborted) {
      let outcome: TickOutcome | "error";
      let waitMs = pollMs;
      try {
        outcome = await this.tick();
        failures = 0;
      } catch (e) {
        outcome = "error";
        const message = (e as Error).message.split("\n")[0]!;
        const rpc = rpcUnavailable(e);
        if (isTransient(e) || rpc) {
          waitMs = Math.min(MAX_BACKOFF_MS, pollMs * 2 ** failures++);
          const why = rpc ? `Cannot reach the chain at ${redactUrl(rpc.url)}: ${message}` : message;
          this.#report({ kind: "retrying", message: why, inMs: waitMs });
        } else {
          this.#report({ kind: "error", message });
        }
      }
      if (!["trained", "resent", "aggregated", "validated"].includes(outcome)) {
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }

  #report(event: Extract<WorkerEvent, { kind: "retrying" | "error" }>): void {
    if (this.options.onProgress) return this.options.onProgress(event);
    const retry = event.kind === "retrying" ? `; retrying in ${event.inMs / 1000} s` : "";
    // The message may be a coordinator's error text: no escape sequence reaches the terminal.
    console.error(printable(`worker ${this.nodePubkey.slice(0, 10)}: ${event.message}${retry}`));
  }

  /** Why this machine cannot train a step of `spec` (its memory budget, its chores), if so. */
  #refuseMemory(spec: JobSpec, round: number): string | undefined {
    const budget = this.options.memoryBudget;
    const threads = this.options.kernelThreads;
    return refuseStepWork(spec) ??
      refuseMemory(spec, round, { budget: budget ?? Infinity, threads });
  }

  /** Trains, commits and delivers the node's task of the open round, if the chain backs it. */
  async #runTrain(task: TrainTask): Promise<"trained" | "wait"> {
    const { client: chain, addresses: at } = this.options;
    const asked = { addresses: at, nodePubkey: this.nodePubkey, task };
    const offered = await this.gateway.spec(task.specCid);
    const refused = await this.#refuseDelivered(task) ?? this.#refuseMemory(offered, task.round) ??
      await refuseTask(chain, { ...asked, spec: offered });
    if (refused) {
      this.#report({ kind: "error", message: `task refused: ${refused}` });
      return "wait";
    }
    const trained = await this.#trainOrDiverge(task);
    if (!trained) return "wait";
    const { result, spec, residual } = trained;
    const { updateCid, bytes } = await uploadUpdate(this.gateway, spec, task.round, result);
    const { client, addresses } = this.options;
    const { jobId, round } = task;
    this.follower?.add(jobId);
    const params = { addresses, nodePubkey: this.options.key.publicKeyHex, jobId, round, result };
    const saved = savedCommitOf(jobId, round, result, updateCid);
    // Kept before it is sent: a crash, or an RPC answer lost once the commit landed, must not
    // leave a commit on chain the node cannot answer for after a restart. A commit that throws
    // may have landed, so its record stays.
    const intended = await this.state.saveIntendedCommit(saved, committedUpdateBytes(result));
    const committed = await commitTrained(client, params);
    if (committed === "different") {
      const why = `the coordinator sent round ${round} of job ${jobId} again with other inputs; ` +
        "this node committed another result for it, which it keeps (nothing sent)";
      this.#report({ kind: "error", message: why });
    }
    if (committed !== "committed") {
      if (intended) await this.state.dropCommit(jobId, round);
      return "wait";
    }
    // Keeping this commit drops the job's rounds the chain can no longer challenge: answer what
    // is open first, so a challenge issued just before on such a round still gets its answer
    // (a chain that is briefly away must not keep the commit from being kept).
    await this.answerChallenges().catch((e) => {
      const message = `while keeping round ${round}: ${(e as Error).message.split("\n")[0]}`;
      this.#report({ kind: "error", message });
    });
    this.#keepCommitted(saved, result);
    const pinned = new Set([...this.challenges.pinned(), ...this.disputes.pinned()]);
    if (intended) await this.state.commitLanded(jobId, pinned);
    else await this.state.saveCommit(saved, committedUpdateBytes(result), pinned);
    const envelope = envelopeOf(result, { jobId, round, nodePubkey: params.nodePubkey, updateCid });
    const json = envelopeToJson(this.signUpdate(envelope));
    // Saved as pending before it is posted: after a crash it is re-sent as is, never retrained.
    if (residual) await this.state.stageResidual(jobId, residual);
    await this.state.savePending({ jobId, round, envelope: json });
    const delivered = await postUpdate(this.coordinator, json);
    if (residual) await this.state.adoptResidual(jobId, residual);
    await this.state.savePending(undefined);
    if (spec.secureAggregation && delivered) await this.secureAggregate(task, spec, result.delta);
    // Marked only now: a crash before this retrains the round when it is offered again, which
    // re-posts it (and rejoins a secure round); after this, an offer of it is refused.
    await this.state.markDelivered(jobId, round);
    this.options.onProgress?.({ kind: "submitted", jobId, round, result, bytes });
    return "trained";
  }

  /**
   * Trains `task`; undefined when its update is not finite (a job driven to NaN with a codec that
   * cannot encode it), reported once and remembered so the round is not trained again. Found in
   * the worker audit: the encode threw before the commit, the loop retried, and the node trained
   * the same diverged round again every poll.
   */
  async #trainOrDiverge(task: TrainTask): Promise<TrainedRound | undefined> {
    try {
      return await this.train(task);
    } catch (e) {
      if (!isNonFiniteUpdate(e)) throw e;
      const key = `${task.jobId.toLowerCase()}:${task.round}`;
      this.#diverged = [...this.#diverged.slice(1 - DIVERGED_REMEMBERED), key];
      const why = `round ${task.round} of job ${task.jobId} diverged on this node (its update is ` +
        "not finite, which the job's codec cannot encode): not delivered";
      this.#report({ kind: "error", message: why });
      return undefined;
    }
  }

  /**
   * Gives the responders a landed commit. With a state, its update bytes are read from it when a
   * challenge needs them: found in the worker audit, every challengeable round's held in memory
   * (17 a job) were many times a memory budget the job passed.
   */
  #keepCommitted(saved: SavedCommit, result: LocalResult): void {
    const load = this.state.storage ? updateLoader(this.state, this.gateway, saved) : undefined;
    const responders = { challenges: this.challenges, disputes: this.disputes };
    keepCommitted(responders, saved.jobId, saved.round, result, load);
  }

  /**
   * Why a train task is one this node already delivered, if it is. Found in the worker audit: a
   * coordinator (hostile or buggy) offering a delivered round again had the node retrain,
   * re-upload and re-post it in a loop with no pause between. The chain cannot tell (a commit on
   * chain may be a crash's, whose round must be retrained to be posted): the state says.
   */
  async #refuseDelivered(task: TrainTask): Promise<string | undefined> {
    if (this.#diverged.includes(`${task.jobId.toLowerCase()}:${task.round}`)) {
      return `round ${task.round} of job ${task.jobId} diverged on this node: not trained again`;
    }
    if (!await this.state.delivered(task.jobId, task.round)) return undefined;
    return `round ${task.round} of job ${task.jobId} was delivered by this node already`;
  }

  /** Aggregates a cluster of the round and posts its mean, if the chain backs the task. */
  async #runCluster(task: ClusterTask): Promise<"aggregated" | "wait"> {
    const posted = clusterKey(task);
    if (this.#clustersPosted.includes(posted)) {
      const why = `cluster ${task.cluster} of round ${task.round} of job ${task.jobId} was ` +
        "posted by this node already";
      this.#report({ kind: "error", message: `cluster task refused: ${why}` });
      return "wait";
    }
    const spec = await this.gateway.spec(task.specCid);
    const { client: chain, addresses: at } = this.options;
    const checked = await checkClusterTask(chain, {
      addresses: at,
      nodePubkey: this.nodePubkey,
      task,
      spec,
    });
    if ("refused" in checked) {
      this.#report({ kind: "error", message: `cluster task refused: ${checked.refused}` });
      return "wait";
    }
    const mean = await this.clusterMean(task, checked.digests);
    const { coordinator, gateway, domain } = this;
    await postClusterMean(
      { coordinator, gateway, domain, key: this.options.key },
      task,
      spec,
      mean,
    );
    // Found in the worker audit: a cluster offered again was fetched, summed and posted again in
    // a loop with no pause; the last few posted are remembered (a process's worth is enough:
    // after a restart one more post of each is all a coordinator gets).
    this.#clustersPosted = [...this.#clustersPosted.slice(1 - CLUSTERS_REMEMBERED), posted];
    return "aggregated";
  }

  /** Recomputes a committee target's round and attests the result on chain. */
  async #runValidation(task: ValidationTask): Promise<"validated" | "wait"> {
    const { client: chain, addresses: at } = this.options;
    const spec = await this.gateway.spec(task.specCid);
    const refused = this.#refuseMemory(spec, task.round) ??
      await refuseValidation(chain, { addresses: at, nodePubkey: this.nodePubkey, task, spec });
    if (refused) {
      this.#report({ kind: "error", message: `validation task refused: ${refused}` });
      return "wait";
    }
    const resultHash = await this.recompute(task);
    const { client, addresses } = this.options;
    await attestTask(client, { addresses, validatorNode: this.nodePubkey, task, resultHash });
    return "validated";
  }

  /** Fetches what the task needs and trains it (the update is encoded, not yet sent). */
  protected async train(task: TrainTask): Promise<TrainedRound> {
    const { onProgress, key } = this.options;
    const { jobId, round } = task;
    // A round may take hours on a laptop: the node stays live and answers challenges meanwhile.
    this.#upkeep.done();
    return await trainTask({
      gateway: this.gateway,
      state: this.state,
      trainer: this.trainer,
      key,
      domain: this.domain,
      between: () => this.#upkeep.due(),
      onStep: onProgress &&
        stepReporter(
          await this.gateway.spec(task.specCid),
          (p) => onProgress({ kind: "step", jobId, round, ...p }),
        ),
    }, task);
  }

  /**
   * A secure job's round: the node's side of SecAgg+, its secrets in memory only; the attempt its
   * masked input went out in is kept in the crash state, so a restart never sends a second one.
   */
  protected secureAggregate(task: TrainTask, spec: JobSpec, delta: Float32Array) {
    const { client, addresses, chainId, key } = this.options;
    const { coordinator, gateway, state } = this;
    const { jobId, round } = task;
    // A coordinator may keep the session open for hours: the node stays live and answers
    // challenges meanwhile.
    this.#upkeep.done();
    const onWait = () => this.#upkeep.due();
    const at = {
      ...{ coordinator, gateway, client, addresses, chainId, key },
      ...{ spec, jobId, round, delta, state, onWait },
    };
    return runSecureAggregation(at);
  }

  /**
   * The heartbeat, then the challenge and dispute answers (unless `heartbeatOnly`), each whatever
   * the others did; throws the first failure once all ran. Found in the worker audit: a heartbeat
   * the chain refused (a node deactivated while it unbonds, slashable all the same) threw before
   * the answers, and each challenge it left unanswered cost 10% of the stake.
   */
  async #everyChore(heartbeatOnly = false): Promise<void> {
    const failures: unknown[] = [];
    const chores: (() => Promise<unknown>)[] = [() => this.heartbeat()];
    if (!heartbeatOnly) chores.push(() => this.answerChallenges(), () => this.answerDisputes());
    for (const chore of chores) await chore().catch((e) => failures.push(e));
    if (failures.length) throw failures[0];
  }

  /**
   * Awaits `work` that runs off this thread (a browser tab's Web Worker) and runs the chores every
   * `choresEveryMs` until it settles.
   */
  protected whileBusy<T>(work: Promise<T>): Promise<T> {
    this.#upkeep.done();
    return this.#upkeep.during(work);
  }

  /** Signs an update envelope with the node key. */
  protected signUpdate(update: UpdateEnvelope): SignedUpdateEnvelope {
    return signEnvelope(this.options.key, update, this.domain);
  }

  /**
   * The mean a cluster aggregator posts, of updates checked against their commits. Each fetch may
   * take minutes: the node heartbeats and answers challenges between them.
   */
  protected async clusterMean(
    task: ClusterTask,
    digests: ReadonlyMap<string, Hex>,
  ): Promise<ClusterMean> {
    const checked = checkedUpdates(signedUpdates(this.gateway), digests);
    this.#upkeep.done();
    const updates = {
      get: async (cid: string) => {
        await this.#upkeep.due();
        return await checked.get(cid);
      },
    };
    return clusterMeanOf(updates, task, await this.gateway.spec(task.specCid));
  }

  /** Heartbeats and answers challenges and disputes if they are due (between long waits). */
  protected chores(): Promise<void> {
    return this.#upkeep.due();
  }

  /** The result hash a committee member attests for its target (as long as a round's training:
   * the node stays live meanwhile). */
  protected recompute(task: ValidationTask): Promise<Hex> {
    this.#upkeep.done();
    return recomputeTask(this.trainer, this.gateway, task, () => this.#upkeep.due());
  }
}

/**
 * An onStep that adds the speed in tokens/s, measured from the round's first step.
 *
 * @example
 * ```ts
 * import { stepReporter } from "./worker.ts";
 * const seen: number[] = [];
 * const onStep = stepReporter({ batch: { B: 2, T: 16, accumSteps: 1 } }, (p) => seen.push(p.step));
 * onStep({ step: 0, steps: 2, loss: 5 });
 * console.assert(seen[0] === 0);
 * ```
 */
export function stepReporter(
  spec: { batch: { B: number; T: number; accumSteps: number } },
  report: (p: { step: number; steps: number; loss: number; tokensPerSecond: number }) => void,
): (p: { step: number; steps: number; loss: number }) => void {
  const tokensPerStep = spec.batch.B * spec.batch.T * spec.batch.accumSteps;
  let first: { step: number; at: number } | undefined;
  return (p) => {
    const at = performance.now();
    first ??= { step: p.step, at };
    const seconds = (at - first.at) / 1000;
    const tokensPerSecond = seconds > 0 ? ((p.step - first.step) * tokensPerStep) / seconds : 0;
    report({ ...p, tokensPerSecond });
  };
}
