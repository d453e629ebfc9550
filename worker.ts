/**
 * The ArthaTrain worker: what a laptop runs to earn ARTH by training.
 *
 *   export ARTHA_PRIVATE_KEY=0x...         # the operator's EVM key (pays stake and gas)
 *   deno run -A worker.ts --coordinator http://127.0.0.1:8787 --rpc http://127.0.0.1:8545 \
 *     --chain-id 31337 --addresses addresses.json [--key ~/.artha/node.key] [--state ~/.artha/worker.json]
 *
 * It creates (or loads) its Ed25519 node key (file mode 0600), stakes and registers on chain,
 * binds the key to the operator account with the coordinator, heartbeats, asks for tasks,
 * downloads the model and its data shard by CID (checking every byte against the CID), trains
 * with the WASM kernel, signs proofs every N steps, uploads its update to SVDB, commits the round
 * on chain in one transaction, and posts the signed update. After a crash it resumes: a finished
 * update that was not yet delivered is re-sent as is, never retrained or counted twice.
 */
import { parseArgs } from "node:util";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type ArthaClient, createArthaClient } from "./lib/chain/client.ts";
import { abis, type ArthaAddresses, NodeRole } from "./lib/chain/contracts.ts";
import { registerNode } from "./lib/chain/register_node.ts";
import { sendHeartbeat } from "./lib/chain/heartbeat.ts";
import { commitRound } from "./lib/chain/commit_round.ts";
import { ChainCallError } from "./lib/chain/_send.ts";
import { type Caps, encodeCaps } from "./lib/caps.ts";
import { computeCid } from "./lib/cid.ts";
import { decodeCheckpoint, encodeCheckpoint } from "./lib/checkpoint.ts";
import { type JobSpec, parseJobSpec, roundHyper } from "./lib/job_spec.ts";
import { loadOrCreateNodeKey, type NodeKey, signBinding, signBytes } from "./lib/keys.ts";
import { hexToBytes } from "./lib/digest.ts";
import { type ArthaDomain, arthaDomain } from "./lib/domain.ts";
import { f32Bytes, type LocalResult, trainLocal } from "./lib/local_training.ts";
import { ChallengeResponder, type ResponderMode } from "./lib/verify/responder.ts";
import { DisputeResponder } from "./lib/verify/dispute_responder.ts";
import {
  envelopeDigest,
  envelopeOf,
  envelopeToJson,
  type SignedUpdateEnvelope,
  signEnvelope,
} from "./lib/update_envelope.ts";
import { writeFileAtomic } from "./lib/store/_atomic.ts";
import { clusterMean, type ClusterTask, signClusterSubmission } from "./lib/cluster_task.ts";
import { recomputeTarget, type ValidationTask } from "./lib/verify/validation_task.ts";
import { attestResult } from "./lib/verify/committee_chain.ts";
import { paramLayout } from "./kernel/params.ts";
import { createErrorFeedback, type ErrorFeedbackState } from "./lib/compress/codec.ts";
import { codecFor } from "./lib/strategy/select.ts";
import { createTrainer } from "./kernel/train_step.ts";
import { loadKernel } from "./kernel/wasm_module.ts";

/** How the worker reaches the coordinator: a fetch bound to its base URL. */
export type CoordinatorFetch = (path: string, init?: RequestInit) => Promise<Response>;

/** A coordinator over HTTP at `baseUrl`. */
export function httpCoordinator(baseUrl: string): CoordinatorFetch {
  const base = baseUrl.replace(/\/+$/, "");
  return (path, init) => fetch(`${base}${path}`, init);
}

export interface WorkerOptions {
  coordinator: CoordinatorFetch;
  client: ArthaClient;
  addresses: ArthaAddresses;
  chainId: number;
  key: NodeKey;
  caps?: Caps;
  region?: string;
  /** Where progress survives restarts (omit for none). */
  statePath?: string;
  /** The kernel trainer (several in-process workers may share one). */
  trainer?: ReturnType<typeof createTrainer>;
  /** Minimum ms between on-chain heartbeats (default 10 min; the chain interval is 1 h). */
  heartbeatEveryMs?: number;
  onProgress?: (event: WorkerEvent) => void;
  /** Misbehaviour hooks for adversarial tests; an honest worker leaves this unset. */
  cheat?: WorkerCheat;
}

/** How a dishonest worker deviates (tests/verify/adversarial_test.ts). */
export interface WorkerCheat {
  /** Replaces the honest result before it is committed (lazy, noise, scaled, copycat). */
  tamper?: (
    result: LocalResult,
    task: { jobId: Hex; round: number; global: Float32Array },
  ) => LocalResult;
  /** Signs the envelope with this key instead of the node's (a forged signature). */
  signWith?: NodeKey;
  /** How challenges are answered (default honest). */
  challenges?: ResponderMode;
  /** Replaces the cluster mean a cluster aggregator posts (a fake aggregate). */
  clusterMean?: (mean: Float32Array) => Float32Array;
  /** Replaces the result hash a committee member attests (a lying validator). */
  attest?: (honestHash: Hex) => Hex;
}

export type WorkerEvent =
  | { kind: "registered"; stake: bigint }
  | { kind: "step"; jobId: Hex; round: number; step: number; steps: number; loss: number }
  | {
    kind: "submitted";
    jobId: Hex;
    round: number;
    result: Pick<LocalResult, "meanLoss" | "samples">;
    bytes: number;
  };

interface SavedState {
  pending?: { jobId: Hex; round: number; envelope: string };
}

/** Error raised when the coordinator refuses a request. */
export class CoordinatorError extends Error {
  readonly code = "COORDINATOR_REFUSED";
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "CoordinatorError";
  }
}

/** One laptop's worker. Call `run()` to loop, or `tick()` for one iteration. */
export class Worker {
  readonly nodePubkey: Hex;
  #o: WorkerOptions;
  #trainer: ReturnType<typeof createTrainer>;
  #lastHeartbeat = 0;
  #cache = new Map<string, Uint8Array>();
  #specs = new Map<string, JobSpec>();
  /** Error-feedback residual per job: what compression left out, added to the next update. */
  #residuals = new Map<string, ErrorFeedbackState>();
  /** Commits kept to answer challenges on them. */
  #responder: ChallengeResponder;
  /** Step digests of commits kept to play disputes on them (jobs with redundancy). */
  #disputes: DisputeResponder;

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.nodePubkey = options.key.publicKeyHex.toLowerCase() as Hex;
    this.#trainer = options.trainer ?? createTrainer(loadKernel());
    this.#responder = new ChallengeResponder(this.nodePubkey);
    this.#disputes = new DisputeResponder(this.nodePubkey);
  }

  /** Where this node's signatures count: the deployment's ProofOfCompute on its chain. */
  get #domain(): ArthaDomain {
    return arthaDomain(this.#o.chainId, this.#o.addresses.proofs);
  }

  /** Answers every open on-chain challenge of this node from its kept commits. */
  answerChallenges(): Promise<number> {
    if (!this.#o.addresses.verification) return Promise.resolve(0);
    return this.#responder.answer(this.#o.client, this.#o.addresses, this.#o.cheat?.challenges);
  }

  /** Defends and bisects every open dispute this node is a party to, from its kept commits. */
  answerDisputes(): Promise<number> {
    return this.#disputes.answer(this.#o.client, this.#o.addresses);
  }

  async #call(path: string, init?: RequestInit): Promise<unknown> {
    const res = await this.#o.coordinator(path, init);
    const text = await res.text();
    if (!res.ok) throw new CoordinatorError(res.status, `${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /** Bytes of a CID from the coordinator's SVDB gateway, verified against the CID. */
  async fetchCid(cid: string): Promise<Uint8Array> {
    const hit = this.#cache.get(cid);
    if (hit) return hit;
    const res = await this.#o.coordinator(`/svdb/${cid}`);
    if (!res.ok) {
      throw new CoordinatorError(
        res.status,
        `Cannot fetch ${cid}: ${res.status} ${await res.text()}`,
      );
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    const parsedVersion = cid.startsWith("Qm") ? 0 : 1;
    const actual = (await computeCid(bytes, { cidVersion: parsedVersion })).toString();
    if (actual !== cid) {
      throw new Error(`Cannot trust ${cid}: the gateway returned bytes of ${actual}`);
    }
    this.#cache.set(cid, bytes);
    return bytes;
  }

  /** A job spec by CID (cached: content addressing makes it immutable). */
  async #spec(cid: string): Promise<JobSpec> {
    let spec = this.#specs.get(cid);
    if (!spec) {
      spec = parseJobSpec(await this.fetchCid(cid));
      this.#specs.set(cid, spec);
    }
    return spec;
  }

  /** Uploads bytes to SVDB through the gateway; returns the CID. */
  async putBytes(bytes: Uint8Array): Promise<string> {
    const { cid } = await this.#call("/svdb", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: bytes as Uint8Array<ArrayBuffer>,
    }) as { cid: string };
    return cid;
  }

  /** Stakes and registers on chain if needed, then binds the key with the coordinator. */
  async register(role: number = NodeRole.GPUProvider): Promise<void> {
    const { client, addresses, chainId, key } = this.#o;
    const operator = client.account.address;
    const cert = await client.readContract({
      address: addresses.registry,
      abi: abis.registry,
      functionName: "getNode",
      args: [key.publicKeyHex],
    });
    const nodes = await client.readContract({
      address: addresses.registry,
      abi: abis.registry,
      functionName: "nodesOf",
      args: [operator],
    });
    let stake = cert.stake;
    let nonce = nodes.findIndex((n) => n.toLowerCase() === this.nodePubkey);
    const bind = () =>
      signBinding(key, { chainId, registry: addresses.registry, operator, nonce: BigInt(nonce) });
    if (cert.operator === "0x0000000000000000000000000000000000000000") {
      const caps = encodeCaps(
        this.#o.caps ??
          { hasGPU: false, hasTEE: false, diskGB: 100, bandwidthMbps: 100, computeUnits: 2 },
      );
      // The key signs its binding to this operator; the registry checks it on chain, so nobody
      // else can register (and so block) this key.
      nonce = nodes.length;
      const r = await registerNode(client, {
        addresses,
        nodePubkey: key.publicKeyHex,
        role,
        region: this.#o.region ?? "unknown",
        caps,
        slaId: `0x${"00".repeat(32)}`,
        bindingSignature: bind(),
      });
      stake = r.stake;
      this.#lastHeartbeat = Date.now();
    } else if (cert.operator.toLowerCase() !== operator.toLowerCase()) {
      throw new Error(`Cannot register: node key belongs to operator ${cert.operator}`);
    }
    const signature = bind();
    await this.#call("/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ nodePubkey: key.publicKeyHex, operator, nonce, signature }),
    });
    this.#o.onProgress?.({ kind: "registered", stake });
  }

  /** Sends an on-chain heartbeat when the last one is older than heartbeatEveryMs. */
  async heartbeat(force = false): Promise<void> {
    const every = this.#o.heartbeatEveryMs ?? 10 * 60_000;
    if (!force && Date.now() - this.#lastHeartbeat < every) return;
    await sendHeartbeat(this.#o.client, {
      addresses: this.#o.addresses,
      nodePubkey: this.#o.key.publicKeyHex,
    });
    this.#lastHeartbeat = Date.now();
  }

  async #loadState(): Promise<SavedState> {
    if (!this.#o.statePath) return {};
    try {
      return JSON.parse(await Deno.readTextFile(this.#o.statePath));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return {};
      throw new Error(`Cannot read worker state ${this.#o.statePath}: delete it to start over`, {
        cause: e,
      });
    }
  }

  /**
   * Residual files sit beside the state file: `<state>.<jobId>.residual` is the input of the
   * next round, `.next` the one staged with a pending update (raw f32, one per parameter).
   */
  #residualPath(jobId: string, staged = false): string | undefined {
    const base = this.#o.statePath;
    return base && `${base}.${jobId.toLowerCase()}.residual${staged ? ".next" : ""}`;
  }

  /** The job's error-feedback residual: in memory, else from disk, else zeros. */
  async #residualFor(jobId: Hex, length: number): Promise<ErrorFeedbackState> {
    const known = this.#residuals.get(jobId);
    if (known) return known;
    let state = createErrorFeedback(length);
    const path = this.#residualPath(jobId);
    if (path) {
      // A staged residual without a pending update is from a crash before the update was
      // saved: the round is trained again from the current residual, so drop it.
      await Deno.remove(this.#residualPath(jobId, true)!).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      try {
        const bytes = await Deno.readFile(path);
        if (bytes.length !== 4 * length) {
          throw new Error(
            `Cannot read residual ${path}: ${bytes.length} bytes, the model has ${length} ` +
              `parameters; delete it to start over`,
          );
        }
        state = { residual: new Float32Array(bytes.buffer, bytes.byteOffset, length) };
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    this.#residuals.set(jobId, state);
    return state;
  }

  async #stageResidual(jobId: Hex, state: ErrorFeedbackState): Promise<void> {
    const path = this.#residualPath(jobId, true);
    if (!path) return;
    const r = state.residual;
    await writeFileAtomic(path, new Uint8Array(r.buffer, r.byteOffset, r.byteLength), {
      mode: 0o600,
    });
  }

  /** The update went out: its residual becomes the next round's input (memory and disk). */
  async #adoptStagedResidual(jobId: Hex, state?: ErrorFeedbackState): Promise<void> {
    const staged = this.#residualPath(jobId, true);
    if (staged) {
      try {
        await Deno.rename(staged, this.#residualPath(jobId)!);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    if (state) this.#residuals.set(jobId, state);
    else this.#residuals.delete(jobId); // reloaded from disk on next use
  }

  async #saveState(state: SavedState): Promise<void> {
    if (this.#o.statePath) {
      await writeFileAtomic(this.#o.statePath, new TextEncoder().encode(JSON.stringify(state)), {
        mode: 0o600,
      });
    }
  }

  async #submit(envelopeJson: string): Promise<void> {
    try {
      await this.#call("/aggregate/update", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: envelopeJson,
      });
    } catch (e) {
      // The round closed without us (we were too slow): the work is committed on chain and
      // counts for rewards; the update itself is no longer useful.
      if (
        !(e instanceof CoordinatorError && e.status === 409 && /not the open round/.test(e.message))
      ) throw e;
    }
  }

  /** One iteration: heartbeat, deliver a pending update, or fetch and run a task. */
  async tick(): Promise<"trained" | "resent" | "aggregated" | "validated" | "wait" | "idle"> {
    await this.heartbeat();
    await this.answerChallenges();
    await this.answerDisputes();
    const saved = await this.#loadState();
    if (saved.pending) {
      await this.#submit(saved.pending.envelope);
      await this.#adoptStagedResidual(saved.pending.jobId);
      await this.#saveState({});
      return "resent";
    }
    const task = await this.#call(`/assign?node=${this.nodePubkey}`) as
      | { status: "wait" | "idle" }
      | ClusterTask
      | ValidationTask
      | {
        status: "task";
        jobId: Hex;
        round: number;
        specCid: string;
        globalCid: string;
        shard: { cid: string };
        seed: number;
        slot?: number;
      };
    if (task.status === "cluster") return await this.#aggregateCluster(task);
    if (task.status === "validate") return await this.#validate(task);
    if (task.status !== "task") return task.status;

    const spec = await this.#spec(task.specCid);
    const global = decodeCheckpoint(await this.fetchCid(task.globalCid)).weights;
    const data = await this.fetchCid(task.shard.cid);
    const s = spec;
    const codec = s.compression
      ? codecFor(s.compression, { jobSeed: s.seed, round: task.round, slot: task.slot ?? 0 })
      : undefined;
    // Encode into a copy: the residual moves on only once this round's update is saved as
    // pending, so a retry after a failure re-encodes from the same residual and reproduces the
    // digests already committed on chain.
    const keeps = codec !== undefined && !codec.stateless;
    const working = keeps
      ? { residual: (await this.#residualFor(task.jobId, global.length)).residual.slice() }
      : undefined;
    const honest = trainLocal(
      this.#trainer,
      global,
      {
        jobId: task.jobId,
        round: task.round,
        seed: task.seed,
        localSteps: s.localSteps,
        proofEvery: s.proofEvery,
        domain: this.#domain,
        data,
        hyper: roundHyper(s, task.round),
      },
      this.#o.key,
      {
        encode: codec ? (delta) => codec.encode(delta, working).bytes : undefined,
        // A node of a task group may be disputed by another: keep s_0..s_N to bisect over.
        recordSteps: (s.verification?.redundancy ?? 1) > 1,
        onStep: (step, loss) =>
          this.#o.onProgress?.({
            kind: "step",
            jobId: task.jobId,
            round: task.round,
            step,
            steps: s.localSteps,
            loss,
          }),
      },
    );
    const result =
      this.#o.cheat?.tamper?.(honest, { jobId: task.jobId, round: task.round, global }) ??
        honest;
    const updateBytes = result.payload ??
      encodeCheckpoint(s.model, result.delta, { kind: "delta", round: String(task.round) });
    const updateCid = await this.putBytes(updateBytes);
    const { client, addresses } = this.#o;
    try {
      await commitRound(client, {
        addresses,
        commit: {
          jobId: task.jobId,
          round: task.round,
          nodePubkey: this.#o.key.publicKeyHex,
          lossDigest: result.lossDigest,
          gradientDigest: result.gradientDigest,
          weightsDigest: result.weightsDigest,
          proofsRoot: result.proofsRoot,
        },
      });
    } catch (e) {
      // The round closed while we trained: a closed round takes no more commits, and its update
      // would be refused too. Wait for the next task.
      if (e instanceof ChainCallError && e.errorName === "PoC__RoundNotOpen") return "wait";
      // Committed before a crash: the kernel is deterministic, so the digests are the same.
      if (!(e instanceof ChainCallError && e.errorName === "PoC__AlreadyCommitted")) throw e;
    }
    const committed = {
      jobId: task.jobId.toLowerCase() as Hex,
      round: task.round,
      lossDigest: result.lossDigest,
      gradientDigest: result.gradientDigest,
      weightsDigest: result.weightsDigest,
    };
    this.#responder.remember({
      ...committed,
      updateBytes: result.payload ?? f32Bytes(result.delta),
      stepRecords: result.stepRecords,
    });
    if (result.stepDigests) {
      this.#disputes.remember({ ...committed, stepDigests: result.stepDigests });
    }
    const envelope: SignedUpdateEnvelope = signEnvelope(
      this.#o.key,
      envelopeOf(result, {
        jobId: task.jobId,
        round: task.round,
        nodePubkey: this.#o.key.publicKeyHex,
        updateCid,
      }),
      this.#domain,
    );
    if (this.#o.cheat?.signWith) {
      const { signature: _, ...unsigned } = envelope;
      envelope.signature = signBytes(
        this.#o.cheat.signWith,
        hexToBytes(envelopeDigest(unsigned, this.#domain)),
      );
    }
    const json = envelopeToJson(envelope);
    if (working) await this.#stageResidual(task.jobId, working);
    await this.#saveState({ pending: { jobId: task.jobId, round: task.round, envelope: json } });
    await this.#submit(json);
    if (working) await this.#adoptStagedResidual(task.jobId, working);
    await this.#saveState({});
    this.#o.onProgress?.({
      kind: "submitted",
      jobId: task.jobId,
      round: task.round,
      result,
      bytes: updateBytes.length,
    });
    return "trained";
  }

  /**
   * A cluster aggregator's job: sum the cluster's updates (each fetched by CID and checked), post
   * the mean signed. The coordinator may recompute it; the exact sum makes an honest one match.
   */
  async #aggregateCluster(task: ClusterTask): Promise<"aggregated"> {
    const spec = await this.#spec(task.specCid);
    const length = paramLayout(spec.model).size;
    const mean = await clusterMean(task.members, (cid) => this.fetchCid(cid), length);
    const delta = this.#o.cheat?.clusterMean?.(mean.delta) ?? mean.delta;
    const aggregateCid = await this.putBytes(
      encodeCheckpoint(spec.model, delta, { kind: "cluster-mean" }),
    );
    const submission = {
      jobId: task.jobId,
      round: task.round,
      cluster: task.cluster,
      nodePubkey: this.nodePubkey,
      aggregateCid,
      totalSamples: mean.totalSamples,
    };
    const signature = signClusterSubmission(this.#o.key, submission, this.#domain);
    await this.#call("/aggregate/cluster", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...submission, signature }),
    });
    return "aggregated";
  }

  /**
   * A committee member's job on a spot-checked round: recompute the target's round from the
   * round's starting checkpoint with the kernel and attest the result hash on chain. The chain
   * compares it with the target's commit by committee majority.
   */
  async #validate(task: ValidationTask): Promise<"validated"> {
    const spec = await this.#spec(task.specCid);
    const honest = recomputeTarget(this.#trainer, {
      global: decodeCheckpoint(await this.fetchCid(task.checkpointCid)).weights,
      spec,
      task,
      data: await this.fetchCid(task.shard.cid),
    });
    try {
      await attestResult(this.#o.client, {
        addresses: this.#o.addresses,
        jobId: task.jobId,
        round: task.round,
        validatorNode: this.nodePubkey,
        targetNode: task.target,
        resultHash: this.#o.cheat?.attest?.(honest) ?? honest,
      });
    } catch (e) {
      // Attested before a crash, or the target was settled or the window closed meanwhile.
      const done = [
        "Verification__AlreadyAttested",
        "Verification__AttestationsSettled",
        "Verification__AttestationClosed",
      ];
      if (!(e instanceof ChainCallError && e.errorName && done.includes(e.errorName))) throw e;
    }
    return "validated";
  }

  /** Loops until the signal aborts; waits `pollMs` when there is nothing to do. */
  async run(signal?: AbortSignal, pollMs = 1000): Promise<void> {
    while (!signal?.aborted) {
      let outcome: string;
      try {
        outcome = await this.tick();
      } catch (e) {
        console.error(`worker ${this.nodePubkey.slice(0, 10)}: ${(e as Error).message}`);
        outcome = "error";
      }
      if (!["trained", "resent", "aggregated", "validated"].includes(outcome)) {
        await new Promise((r) => setTimeout(r, pollMs));
      }
    }
  }
}

function bar(done: number, total: number, width = 24): string {
  const n = Math.round((done / total) * width);
  return `[${"#".repeat(n)}${".".repeat(width - n)}]`;
}

if (import.meta.main) {
  const { values: a } = parseArgs({
    args: Deno.args,
    options: {
      coordinator: { type: "string" },
      rpc: {
        type: "string",
        default: Deno.env.get("ARTHA_RPC_URL") ?? Deno.env.get("ARTH_RPC_URL"),
      },
      "chain-id": { type: "string", default: Deno.env.get("ARTHA_CHAIN_ID") ?? "31337" },
      addresses: { type: "string", default: Deno.env.get("ARTHA_ADDRESSES_FILE") },
      key: { type: "string", default: `${Deno.env.get("HOME") ?? "."}/.artha/node.key` },
      state: { type: "string", default: `${Deno.env.get("HOME") ?? "."}/.artha/worker.json` },
      poll: { type: "string", default: "1000" },
      "heartbeat-ms": { type: "string", default: String(10 * 60_000) },
      quiet: { type: "boolean", default: false },
    },
  });
  const pk = Deno.env.get("ARTHA_PRIVATE_KEY");
  if (!a.coordinator || !a.rpc || !a.addresses || !pk) {
    console.error(
      "usage: ARTHA_PRIVATE_KEY=0x.. deno run -A worker.ts --coordinator URL --rpc URL --addresses FILE",
    );
    Deno.exit(2);
  }
  const int = (name: string, value: string | undefined, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name} must be an integer >= ${min}, got ${value}`);
      Deno.exit(2);
    }
    return n;
  };
  const chainId = int("chain-id", a["chain-id"], 1);
  const pollMs = int("poll", a.poll, 10);
  const heartbeatMs = int("heartbeat-ms", a["heartbeat-ms"], 0);
  if (!/^0x[0-9a-fA-F]{64}$/.test(pk)) {
    console.error("ARTHA_PRIVATE_KEY must be a 0x-prefixed 32-byte hex key");
    Deno.exit(2);
  }
  let addresses: ArthaAddresses;
  try {
    addresses = JSON.parse(await Deno.readTextFile(a.addresses)) as ArthaAddresses;
    for (const k of ["registry", "jobs", "proofs"] as const) {
      if (!/^0x[0-9a-fA-F]{40}$/.test(addresses[k] ?? "")) throw new Error(`no address for ${k}`);
    }
  } catch (e) {
    console.error(`Cannot read --addresses ${a.addresses}: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const client = createArthaClient({
    rpcUrl: a.rpc,
    chainId,
    account: privateKeyToAccount(pk as Hex),
  });
  const key = await loadOrCreateNodeKey(a.key);
  const worker = new Worker({
    coordinator: httpCoordinator(a.coordinator),
    client,
    addresses,
    chainId,
    key,
    statePath: a.state,
    heartbeatEveryMs: heartbeatMs,
    onProgress: (e) => {
      if (a.quiet) return;
      if (e.kind === "registered") {
        console.log(`registered ${key.publicKeyHex} (stake ${e.stake} wei)`);
      }
      if (e.kind === "step") {
        Deno.stdout.writeSync(
          new TextEncoder().encode(
            `\rround ${e.round} ${bar(e.step + 1, e.steps)} ${e.step + 1}/${e.steps} loss ${
              e.loss.toFixed(3)
            }`,
          ),
        );
      }
      if (e.kind === "submitted") {
        console.log(
          `\nround ${e.round} submitted: mean loss ${
            e.result.meanLoss.toFixed(3)
          }, ${e.bytes} bytes`,
        );
      }
    },
  });
  await worker.register();
  const stop = new AbortController();
  Deno.addSignalListener("SIGTERM", () => stop.abort());
  Deno.addSignalListener("SIGINT", () => stop.abort());
  await worker.run(stop.signal, pollMs);
}
