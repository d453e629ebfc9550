/**
 * A verification scenario over real in-process Workers: one devnet, a fresh deployment per run,
 * an in-process coordinator (functions/router.ts) and a validator (the coordinator's account)
 * that issues challenges. Shared by the verification tests (through _verify_job.ts, which adds
 * the helpers their assertions use) and by bench/verification.ts, so it is not private.
 */
import { type Hex, parseEther } from "viem";
import type { Devnet } from "../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../lib/chain/client.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { abis, type ArthaAddresses } from "../../lib/chain/contracts.ts";
import { submitTrain } from "../../lib/chain/submit_train.ts";
import { sendContract } from "../../lib/chain/send_contract.ts";
import { type JobSpec, jobSpecHash, workTerms } from "../../lib/job/job_spec.ts";
import { prepareJob } from "../../lib/job/job_owner.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import type { createTrainer } from "../../kernel/train_step.ts";
import type { Context } from "../../lib/coordinator/context.ts";
import { startLocalCoordinator } from "../../functions/local.ts";
import type { Store } from "../../lib/store/store.ts";
import type { JobRecord } from "../../lib/coordinator/state.ts";
import { CheatingWorker, type WorkerCheat } from "./_cheating_worker.ts";
import { issueChallenge } from "../../lib/verify/challenge_chain.ts";

export const TINY = { kind: "gpt" as const, maxT: 16, layers: 1, heads: 2, width: 16 };

const SENTENCES = [
  "The jury said it did find that the election was conducted well. ",
  "She walked down to the harbour where the boats were painted blue. ",
  "In the laboratory the samples were heated to four hundred degrees. ",
  "He argued that the tariff would raise prices for every family. ",
  "Rain fell on the old town while the bells rang for the evening. ",
  "The committee voted to build a new bridge across the river. ",
];

/** Non-IID text shards: shard i repeats sentence i and i + 1. */
export function tinyShards(n: number) {
  const enc = new TextEncoder();
  return Array.from({ length: n }, (_, i) => {
    const text = (SENTENCES[i % SENTENCES.length]! + SENTENCES[(i + 1) % SENTENCES.length]!)
      .repeat(24);
    return { name: `tiny/${i}`, train: enc.encode(text), val: enc.encode(text.slice(0, 512)) };
  });
}

export interface VerifyRun {
  ctx: Context;
  addresses: ArthaAddresses;
  validator: ArthaClient;
  jobId: Hex;
  spec: JobSpec;
  workers: CheatingWorker[];
  /** Each worker's misbehaviour hooks (empty: honest), set by the test. */
  cheats: WorkerCheat[];
  record: JobRecord;
  post(path: string, body: unknown): Promise<Response>;
  advance(ms: number): void;
  close(): Promise<void>;
}

/** What a verification run is asked for. */
interface VerifyRunOptions {
  nodes: number;
  shards: number;
  rounds: number;
  localSteps: number;
  verification?: JobSpec["verification"];
  seed?: number;
}

/** Deploys, registers `nodes` workers and starts a job with `shards` task groups. */
export async function startVerifyRun(
  net: Devnet,
  trainer: ReturnType<typeof createTrainer>,
  o: VerifyRunOptions,
): Promise<VerifyRun> {
  const [coordAcct, ownerAcct, ...workerAccts] = net.accounts;
  const mk = (a: typeof coordAcct) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: a! });
  const validator = mk(coordAcct);
  // The last round is challenged too: its settlement delay is the time to do it in.
  const addresses = await deployArtha(validator, { settlementDelay: 3600 });
  // A one-minute answer window keeps the nodes' hourly heartbeats valid across timeouts.
  await sendContract(validator, {
    address: addresses.verification,
    abi: abis.verification,
    functionName: "setResponseWindow",
    args: [60n],
  });
  const dir = await Deno.makeTempDir({ prefix: "artha-verify-" });
  const local = await startLocalCoordinator({
    dir,
    client: validator,
    addresses,
    chainId: net.chainId,
  });
  const { spec, specCid, jobId } = await escrowJob(local.ctx.store, mk(ownerAcct), addresses, o);
  const cheats: WorkerCheat[] = workerAccts.slice(0, o.nodes).map(() => ({}));
  const workers = cheats.map((cheat, i) =>
    new CheatingWorker({
      coordinator: local.call,
      client: mk(workerAccts[i]),
      addresses,
      chainId: net.chainId,
      key: generateNodeKey(),
      trainer,
      heartbeatEveryMs: Infinity,
      now: local.ctx.now,
    }, cheat)
  );
  for (const w of workers) await w.register();
  const res = await local.postAs(mk(ownerAcct), "/assign", { jobId, specCid });
  if (!res.ok) throw new Error(`assign failed: ${await res.text()}`);
  const record = await res.json() as JobRecord;
  const close = async () => {
    await local.close();
    await Deno.remove(dir, { recursive: true });
  };
  const { ctx, post, advance } = local;
  return { ctx, addresses, validator, jobId, spec, workers, cheats, record, post, advance, close };
}

/** The job owner: prepares the tiny job's spec and escrows it. */
async function escrowJob(
  store: Store,
  owner: ArthaClient,
  addresses: ArthaAddresses,
  o: VerifyRunOptions,
) {
  const { spec, specCid } = await prepareJob(store, {
    model: TINY,
    shards: tinyShards(o.shards),
    rounds: o.rounds,
    localSteps: o.localSteps,
    B: 2,
    T: 16,
    lr: 1e-2,
    seed: o.seed ?? 1337,
    quorum: 1,
    verification: o.verification,
  });
  const { jobId } = await submitTrain(owner, {
    addresses,
    budget: parseEther("10"),
    terms: {
      modelCid: spec.initialWeights,
      datasetCid: spec.shards[0]!.cid,
      paramsHash: jobSpecHash(spec),
      rounds: o.rounds,
      nodesWanted: o.nodes,
      redundancy: o.verification?.redundancy ?? 1,
      baseRatePerSecond: parseEther("0.001"),
      targetImprovementBps: 0,
      ...workTerms(spec),
    },
  });
  return { spec, specCid, jobId };
}

/** Challenges `nodes` on `round`; returns the gas the validator spent. */
export async function challengeAll(run: VerifyRun, round: number, nodes: Hex[]): Promise<bigint> {
  let gas = 0n;
  for (const n of nodes) {
    const c = await issueChallenge(run.validator, {
      addresses: run.addresses,
      jobId: run.jobId,
      round,
      nodePubkey: n,
    });
    gas += c.gasUsed;
  }
  return gas;
}

/** Closes the open round (letting the deadline pass if some update is missing). */
export async function closeRound(
  run: VerifyRun,
): Promise<{ valLoss: number; status: string; missing: string[] }> {
  const aggregate = async () => {
    const body = await (await run.post("/aggregate", { jobId: run.jobId })).json();
    if (!Array.isArray(body)) throw new Error(`aggregate failed: ${JSON.stringify(body)}`);
    return body[0];
  };
  let out = await aggregate();
  if (out.status === "waiting") {
    run.advance(run.spec.aggregation.deadlineMs + 1);
    out = await aggregate();
  }
  if (out.status !== "closed") throw new Error(`round did not close: ${JSON.stringify(out)}`);
  return out;
}
