/**
 * A job's training data is private to it. Its shards and held-out validation bytes are what data
 * owners contributed; anyone reading them could also recompute every node's clean update from the
 * public checkpoints and seeds, and so the central DP noise. From a job's start, GET /svdb of
 * those CIDs (whole files and raw blocks) needs a signed request (signed like an upload, method
 * GET, path `/svdb/<cid>`) by the job's owner, a node holding one of its tasks, or the
 * coordinator: 401 unsigned, 403 anyone else.
 *
 * Who may put a job on which data: the account that uploaded a CID through the gateway owns it;
 * a job starts on a CID only if its owner uploaded it, or nobody did (the coordinator's own
 * store), and not if another owner's job has it already. Otherwise any owner could start a job
 * naming somebody else's shards and have its own nodes read them, or make a public model or
 * another job's spec unreadable by calling it data.
 *
 * An owner's data can be private from its upload on: POST /svdb/private (signed for that path,
 * declaring the CID in `x-artha-cid`) makes the CID private to its uploader and the coordinator
 * before a byte is stored, so the shard a job escrows under a public `datasetCid` is not readable
 * in the minutes between its upload and the job's start. Bytes already stored are refused (409):
 * whoever uploads the bytes of a public file privately would make it unreadable to the rest.
 */
import type { Hex } from "viem";
import type { JobSpec } from "../job/job_spec.ts";
import type { Context } from "./context.ts";
import { isModelPublished } from "../chain/is_model_published.ts";
import { reject, type Rejection } from "./result.ts";
import { verifySignedRequest } from "./signed_request.ts";
import type { UploadGrant } from "./svdb_access.ts";
import { gatewayCid, type StoredUpload, storeUpload } from "./svdb_gateway.ts";
import { PRIVATE_CID_HEADER } from "../store/upload_signature.ts";
import { getJob, getJobNode, holdsTask, listJobHeads } from "./state.ts";

/** A private CID: the owner of the jobs whose data it is, and those jobs. */
export interface PrivateFile {
  owner: string;
  jobs: string[];
}

const privateKey = (cid: string): Deno.KvKey => ["svdb_private", cid];
const uploaderKey = (cid: string, signer: string): Deno.KvKey => [
  "svdb_uploader",
  cid,
  signer.toLowerCase(),
];

/** Records that `signer` (an owner's account) uploaded `cid` through the gateway. */
export async function recordUploader(ctx: Context, cid: string, signer: string): Promise<void> {
  await ctx.kv.set(uploaderKey(cid, signer), true);
}

/**
 * Stores an owner's upload as private data (POST /svdb/private): the declared CID is made private
 * to the signer first, then the body is stored as {@link storeUpload} does; a body that is not
 * the declared CID's is refused (422) and the CID left as it was.
 */
export async function storePrivateUpload(
  ctx: Context,
  grant: UploadGrant,
  headers: Headers,
  body: ReadableStream<Uint8Array> | null,
): Promise<StoredUpload | Rejection> {
  if (grant.role === "node") {
    return reject(403, "NOT_AN_OWNER", "Cannot store privately: nodes upload updates, not data");
  }
  const parsed = gatewayCid(headers.get(PRIVATE_CID_HEADER) ?? "");
  if (!parsed.ok) return { ...parsed, message: `${PRIVATE_CID_HEADER}: ${parsed.message}` };
  const cid = parsed.cid.toString();
  const owner = grant.upload.signer.toLowerCase();
  const reserved = await reservePrivate(ctx, cid, owner);
  if (!reserved.ok) return reserved;
  const declared = Number(headers.get("content-length") ?? "0");
  const stored = await storeUpload(ctx, grant, body, declared);
  if (stored.ok && stored.cid === cid) {
    await recordUploader(ctx, cid, owner);
    return stored;
  }
  if (reserved.created) await ctx.kv.delete(privateKey(cid));
  if (!stored.ok) return stored;
  return reject(
    422,
    "CID_MISMATCH",
    `Cannot store privately: the body is ${stored.cid}, not ${cid}`,
  );
}

/**
 * Makes `cid` private to `owner` unless it is stored already (public) or another owner's; `created`
 * says whether this call made it so (and so may undo it).
 */
async function reservePrivate(
  ctx: Context,
  cid: string,
  owner: string,
): Promise<{ ok: true; created: boolean } | Rejection> {
  const entry = await ctx.kv.get<PrivateFile>(privateKey(cid));
  if (entry.value) {
    if (entry.value.owner === owner) return { ok: true, created: false };
    return reject(409, "DATA_NOT_YOURS", `Cannot store privately: ${cid} is another owner's`);
  }
  if (await ctx.store.has(cid)) {
    const why = `${cid} is stored already, readable by anyone who knows its CID`;
    return reject(409, "ALREADY_PUBLIC", `Cannot store privately: ${why}`);
  }
  const rec: PrivateFile = { owner, jobs: [] };
  const done = await ctx.kv.atomic().check(entry).set(privateKey(cid), rec).commit();
  if (!done.ok) return await reservePrivate(ctx, cid, owner); // a racing upload: look again
  return { ok: true, created: true };
}

/** The private record of `cid`, if it is a job's data. */
export async function privateFile(ctx: Context, cid: string): Promise<PrivateFile | null> {
  return (await ctx.kv.get<PrivateFile>(privateKey(cid))).value;
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
  const other = new Set(heads.flatMap((j) => [
    j.specCid,
    j.globalCid,
    ...(j.modelFolderCid ? [j.modelFolderCid] : []),
    ...j.metrics.map((m) => m.checkpointCid),
  ]));
  const { client, addresses } = ctx.chain;
  for (const cid of jobData(spec)) {
    const why = (what: string) =>
      reject(409, "DATA_NOT_YOURS", `Cannot start job: data ${cid} is ${what}`);
    const rec = await privateFile(ctx, cid);
    if (rec) {
      if (rec.owner !== who) return why("another owner's jobs' private data");
      continue;
    }
    const uploaders = [];
    for await (const e of ctx.kv.list({ prefix: ["svdb_uploader", cid] })) {
      uploaders.push(e.key[2] as string);
    }
    if (uploaders.length > 0 && !uploaders.includes(who)) return why("another owner's upload");
    if (other.has(cid) || await isModelPublished(client, { addresses, cid })) {
      return why("a model or a job's file");
    }
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
  const id = jobId.toLowerCase();
  for (const cid of jobData(spec)) {
    for (;;) {
      const entry = await ctx.kv.get<PrivateFile>(privateKey(cid));
      const rec = entry.value ?? { owner: owner.toLowerCase(), jobs: [] };
      if (rec.jobs.includes(id)) break;
      const next = { ...rec, jobs: [...rec.jobs, id] };
      if ((await ctx.kv.atomic().check(entry).set(privateKey(cid), next).commit()).ok) break;
    }
  }
}

/** A job's private data: its training shards and held-out validation bytes. */
function jobData(spec: JobSpec): string[] {
  return [...new Set([spec.validation, ...spec.shards.map((s) => s.cid)])];
}

/**
 * Whether the request may read `cid`: anyone when it is not a job's data; else a fresh signature
 * (no nonce: a replay reads only what its signer could) by the job's owner, a node holding one of
 * its tasks, or the coordinator.
 */
export async function authorizeRead(
  ctx: Context,
  headers: Headers,
  cid: string,
): Promise<Rejection | undefined> {
  const rec = await privateFile(ctx, cid);
  if (!rec) return undefined;
  const path = `/svdb/${cid}`;
  const signed = await verifySignedRequest(ctx, headers, { method: "GET", path }, "read");
  if (!signed.ok) {
    const why = `; ${cid} is a job's private data: sign the GET as its owner, one of its ` +
      "nodes or the coordinator";
    return { ...signed, message: signed.message + why };
  }
  const who = signed.upload.signer.toLowerCase();
  if (who === ctx.chain.client.account.address.toLowerCase() || who === rec.owner) return;
  for (const jobId of rec.jobs) {
    if ((await getJob(ctx.kv, jobId)).value?.owner.toLowerCase() === who) return;
    if (holdsTask(await getJobNode(ctx.kv, jobId, who))) return;
  }
  const why =
    `${cid} is a job's private data; only its owner, its nodes and the coordinator read it`;
  return reject(403, "NOT_A_READER", `Cannot read: ${why}`);
}
