/**
 * A job's training data is private to it. Its shards and held-out validation bytes are what data
 * owners contributed; anyone reading them could also recompute every node's clean update from the
 * public checkpoints and seeds, and so the central DP noise. From a job's start, GET /svdb of
 * those CIDs (whole files and raw blocks) needs a signed request (signed like an upload, method
 * GET, path `/svdb/<cid>`) by the job's owner, the coordinator, or a node that needs it: 401
 * unsigned, 403 anyone else. A node needs the shard of the task it holds, and what its duties
 * hand it ({@link grantReads}): a committee member the shards of the targets it recomputes, a
 * cluster aggregator its cluster's updates. Holding one task of a job no longer reads the other
 * data owners' shards, nor the other nodes' updates, which gradient inversion turns back into
 * their text.
 *
 * Who may put a job on which data: the account that uploaded a CID through the gateway owns it;
 * a job starts on a CID only if its owner uploaded it, or nobody did (the coordinator's own
 * store), and not if another owner's job has it already. Otherwise any owner could start a job
 * naming somebody else's shards and have its own nodes read them, or make a public model or
 * another job's spec unreadable by calling it data.
 *
 * Bytes can be private from their upload on (POST /svdb/private, lib/coordinator/
 * svdb_private_upload.ts): readable by their uploaders and the coordinator, then by the readers of
 * the jobs that use them. `job submit` uploads shards and validation bytes that way (shard 0's CID
 * is public on chain from the escrow), and workers their updates and cluster means, which become
 * readable by their job's owner when the coordinator accepts them: an update is a gradient of its
 * node's shard. Records are kept under the CIDv1 of a CID, so its CIDv0 spelling
 * reads nothing around them.
 */
import type { Hex } from "viem";
import { type JobSpec, taskShard } from "../job/job_spec.ts";
import type { Context } from "./context.ts";
import { isModelPublished } from "../chain/is_model_published.ts";
import { reject, type Rejection } from "./result.ts";
import { verifySignedRead } from "./signed_request.ts";
import { InvalidCidError, parseCid } from "../store/cid.ts";
import { getJob, getJobNode, holdsTask, listJobHeads } from "./state.ts";
import { loadSpec } from "./job.ts";

/**
 * A private CID. `owner` uploaded it privately first (an owner's account for its data, a node for
 * its update; the job's owner for data the coordinator held), `coOwners` uploaded the same bytes
 * privately after (a redundant task group's mates, owners of the same data): having the bytes,
 * each may read them. The readers of `jobs` read them too.
 */
export interface PrivateFile {
  /** "" while the only private uploads of it are under way. */
  owner: string;
  coOwners?: string[];
  jobs: string[];
  /** Signers of private uploads of it under way: they read nothing until their bytes hash to it. */
  pending?: string[];
}

/**
 * The one spelling a record is kept under: a CIDv0 (`Qm...`) and its CIDv1 name the same blocks,
 * so a record kept under one spelling must not be read around through the other.
 *
 * @example
 * ```ts
 * import { canonicalCid } from "./svdb_private.ts";
 * const v0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n";
 * console.assert(canonicalCid(v0).startsWith("bafy") && canonicalCid(canonicalCid(v0)) === canonicalCid(v0));
 * ```
 */
export function canonicalCid(cid: string): string {
  try {
    return parseCid(cid).toV1().toString();
  } catch (e) {
    if (e instanceof InvalidCidError) return cid;
    throw e;
  }
}

/** Where the private record of `cid` is kept. */
export const privateKey = (cid: string): Deno.KvKey => ["svdb_private", canonicalCid(cid)];
/** A read the coordinator granted `reader` (a node) for a duty: see {@link grantReads}. */
const readerKey = (cid: string, reader: string): Deno.KvKey => [
  "svdb_reader",
  canonicalCid(cid),
  reader.toLowerCase(),
];
const uploaderKey = (cid: string, signer: string): Deno.KvKey => [
  "svdb_uploader",
  canonicalCid(cid),
  signer.toLowerCase(),
];

/** Records that `signer` (an owner's account) uploaded `cid` through the gateway. */
export async function recordUploader(ctx: Context, cid: string, signer: string): Promise<void> {
  await ctx.kv.set(uploaderKey(cid, signer), true);
}

/** Whether `signer` uploaded `cid` through the gateway (recordUploader). */
export async function uploadedBy(ctx: Context, cid: string, signer: string): Promise<boolean> {
  return (await ctx.kv.get(uploaderKey(cid, signer))).value === true;
}

/** Whether `who` uploaded `rec`'s bytes privately (and so may read them and use them). */
export function ownsPrivate(rec: PrivateFile, who: string): boolean {
  return who !== "" && (rec.owner === who || (rec.coOwners ?? []).includes(who));
}

/**
 * Whether `cid` is a private file `node` did not upload: what no route may take as that node's
 * own work (an update, a cluster mean) or serve on its behalf, since using it publishes it.
 */
export async function foreignPrivate(ctx: Context, cid: string, node: string): Promise<boolean> {
  const rec = await privateFile(ctx, cid);
  return rec !== null && !ownsPrivate(rec, node.toLowerCase());
}

/**
 * The private record of `cid`, if it is a job's data. A string that is no CID names no file (and
 * one of any length, a DID's metaCid say, would not fit a KV key).
 */
export async function privateFile(ctx: Context, cid: string): Promise<PrivateFile | null> {
  try {
    parseCid(cid);
  } catch (e) {
    if (e instanceof InvalidCidError) return null;
    throw e;
  }
  return (await ctx.kv.get<PrivateFile>(privateKey(cid))).value;
}

/**
 * Ends the privacy of `cid` when somebody uploads its bytes through plain POST /svdb: having the
 * bytes, the uploader could publish them anywhere. Otherwise whoever guessed the bytes of a file
 * about to be used (a job's deterministic initial weights, whose CID the escrow makes public)
 * could upload them privately first and hide them from the job's nodes.
 */
export async function liftPrivate(ctx: Context, cid: string): Promise<void> {
  await ctx.kv.delete(privateKey(cid));
}

/**
 * Why `owner` may not start a job on `spec`'s data (undefined: it may): a CID another owner
 * uploaded or whose jobs it is, a known model or checkpoint, or another job's spec or weights.
 */
export async function refuseJobData(
  ctx: Context,
  owner: Hex,
  spec: JobSpec,
): Promise<Rejection | undefined> {
  const who = owner.toLowerCase();
  const heads = await listJobHeads(ctx.kv);
  // Every job's spec, weights, checkpoints and model folder, read once for all the data.
  const other = new Set(
    heads.flatMap((j) => [
      j.specCid,
      j.globalCid,
      ...(j.modelFolderCid ? [j.modelFolderCid] : []),
      ...j.metrics.map((m) => m.checkpointCid),
    ]).map(canonicalCid),
  );
  const { client, addresses } = ctx.chain;
  for (const cid of jobData(spec)) {
    const why = (what: string) =>
      reject(409, "DATA_NOT_YOURS", `Cannot start job: data ${cid} is ${what}`);
    const rec = await privateFile(ctx, cid);
    if (rec) {
      if (!ownsPrivate(rec, who)) return why("another owner's private data");
      continue;
    }
    const uploaders = [];
    for await (const e of ctx.kv.list({ prefix: ["svdb_uploader", canonicalCid(cid)] })) {
      uploaders.push(e.key[2] as string);
    }
    if (uploaders.length > 0 && !uploaders.includes(who)) return why("another owner's upload");
    const canonical = canonicalCid(cid);
    if (other.has(canonical) || await isModelPublished(client, { addresses, cid: canonical })) {
      return why("a model or a job's file");
    }
  }
  // Every node reads the initial weights with a plain GET: private ones would stop the job.
  if (await privateFile(ctx, spec.initialWeights)) {
    const why = `initial weights ${spec.initialWeights} are private: upload them with POST /svdb`;
    return reject(409, "DATA_NOT_YOURS", `Cannot start job: ${why}`);
  }
  return undefined;
}

/** Makes `spec`'s data private to the job (after {@link refuseJobData} let it start). */
export async function keepJobDataPrivate(
  ctx: Context,
  jobId: Hex,
  owner: Hex,
  spec: JobSpec,
): Promise<void> {
  for (const cid of jobData(spec)) await addPrivate(ctx, cid, { jobId, owner });
}

/**
 * Makes a node's update (or a cluster aggregator's mean) private to its job, if the node uploaded
 * it privately (POST /svdb/private, as workers do): the job's owner and nodes then read it too.
 * Outside secure aggregation an update is a gradient of the node's shard, which gradient inversion
 * turns back into text. A CID the node did not upload privately is left as it is: naming a public
 * checkpoint, or another job's update, as one's own must neither hide it nor open it.
 */
export async function keepUpdatePrivate(
  ctx: Context,
  job: { jobId: Hex },
  cid: string,
  node: Hex,
): Promise<void> {
  const id = job.jobId.toLowerCase();
  await changePrivate(ctx, cid, (rec) => {
    if (!rec || !ownsPrivate(rec, node.toLowerCase()) || rec.jobs.includes(id)) return undefined;
    return { ...rec, jobs: [...rec.jobs, id] };
  });
}

/** Adds `jobId` to `cid`'s private record, creating it for `owner`. */
function addPrivate(ctx: Context, cid: string, o: { jobId: Hex; owner: Hex }): Promise<void> {
  const id = o.jobId.toLowerCase();
  return changePrivate(ctx, cid, (found) => {
    const rec = found ?? { owner: o.owner.toLowerCase(), jobs: [] };
    return rec.jobs.includes(id) ? undefined : { ...rec, jobs: [...rec.jobs, id] };
  });
}

/**
 * Changes `cid`'s private record as `change` says from the record as read (undefined: leave it,
 * null: drop it), in one atomic write, read again and retried when another request wrote first.
 */
export async function changePrivate(
  ctx: Context,
  cid: string,
  change: (
    rec: PrivateFile | null,
  ) => PrivateFile | null | undefined | Promise<PrivateFile | null | undefined>,
): Promise<void> {
  const key = privateKey(cid);
  for (;;) {
    const entry = await ctx.kv.get<PrivateFile>(key);
    const next = await change(entry.value);
    if (next === undefined) return;
    const op = ctx.kv.atomic().check(entry);
    if (next === null) op.delete(key);
    else op.set(key, next);
    if ((await op.commit()).ok) return;
  }
}

/** A job's private data: its training shards and held-out validation bytes. */
function jobData(spec: JobSpec): string[] {
  return [...new Set([spec.validation, ...spec.shards.map((s) => s.cid)])];
}

/**
 * Lets each of `readers` (nodes) read `cid`, a job's shard or update, for a duty the coordinator
 * handed it in `jobId`: recomputing a target's round on a committee, summing a cluster's updates.
 * Written before the duty is handed out, so the node never asks for bytes it may not yet read. The
 * read lasts while that job can still need it, as a task's does ({@link authorizeRead}).
 */
export async function grantReads(
  ctx: Context,
  jobId: Hex,
  cid: string,
  readers: readonly string[],
) {
  for (const reader of new Set(readers.map((r) => r.toLowerCase()))) {
    await ctx.kv.set(readerKey(cid, reader), jobId.toLowerCase());
  }
}

/**
 * Whether a duty's read (the job id {@link grantReads} wrote) still stands: its job is not
 * finalized. Grants written before they named their job (`true`) stand while any job of `rec` does.
 */
async function dutyStands(ctx: Context, grant: string | true, rec: PrivateFile) {
  for (const jobId of grant === true ? rec.jobs : [grant]) {
    const job = (await getJob(ctx.kv, jobId, { metrics: false })).value;
    if (job && job.status !== "finalized") return true;
  }
  return false;
}

/**
 * Whether `cid` is the shard of `task` in the job of `specCid`: the only data of the job its
 * node trains on (never the held-out validation set, unless the owner made it a shard too: a
 * node that trained on it would fake the improvement the accuracy bonus is paid on).
 */
async function taskData(ctx: Context, specCid: string, task: number, cid: string) {
  const spec = await loadSpec(ctx.store, specCid);
  return canonicalCid(spec.shards[taskShard(spec, task)]!.cid) === canonicalCid(cid);
}

/**
 * Whether the request may read `cid`: anyone when it is not a job's data; else a fresh signature
 * (no nonce: a replay reads only what its signer could) by its uploader, the job's owner, the
 * coordinator, a node whose task trains on it, or a node granted it for a duty.
 */
export async function authorizeRead(
  ctx: Context,
  headers: Headers,
  cid: string,
): Promise<Rejection | undefined> {
  const rec = await privateFile(ctx, cid);
  if (!rec) return undefined;
  const hint = `${cid} is a job's private data: sign the GET as its owner, one of its nodes ` +
    "or the coordinator";
  const signed = await verifySignedRead(ctx, headers, cid, hint);
  if (!signed.ok) return signed;
  const who = signed.signer;
  if (who === ctx.chain.client.account.address.toLowerCase() || ownsPrivate(rec, who)) return;
  for (const jobId of rec.jobs) {
    // Its owner, status and spec only: with every round's metric, any signer's read of a job's
    // shard listed 5,000 entries at 5,000 rounds (found in the coordinator DoS audit).
    const job = (await getJob(ctx.kv, jobId, { metrics: false })).value;
    if (!job) continue;
    if (job.owner.toLowerCase() === who) return;
    // A node reads its task's data while the job can still need it: once finalized no round,
    // challenge or dispute is left (found in the data owner audit: a node of a finished job kept
    // reading the owner's shard for ever).
    if (job.status === "finalized") continue;
    const place = await getJobNode(ctx.kv, jobId, who);
    if (holdsTask(place) && await taskData(ctx, job.specCid, place.task, cid)) return;
  }
  // Found in the privacy audit: a duty's read never ended, so a committee member or a cluster
  // aggregator of a finished job kept reading the shards and updates it once checked.
  const grant = (await ctx.kv.get<string | true>(readerKey(cid, who))).value;
  if (grant && await dutyStands(ctx, grant, rec)) return;
  const why = `${cid} is a job's private data; only its owner, the coordinator and the nodes ` +
    "whose task or duty needs it read it";
  return reject(403, "NOT_A_READER", `Cannot read: ${why}`);
}
