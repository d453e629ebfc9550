/**
 * Who may store bytes in the coordinator's SVDB gateway, and how much.
 *
 * An upload must be signed (see lib/store/upload_signature.ts) within
 * `uploadSignatureWindowMs` of the coordinator's clock, with a nonce never seen before, by:
 * - a registered node: an Ed25519 key NodeCertRegistry records as active (workers upload
 *   their updates and cluster means), or
 * - an owner: an EVM account that has submitted a job to AIJobManager (its first job id,
 *   keccak256(jobs, chainId, owner, 0), names it as owner), or that controls a live DID in
 *   ArthaDIDRegistry named in `x-artha-did`, or that is listed in `uploadWriters`, or the
 *   coordinator's own account. Owners upload data and models before their first job exists,
 *   so before that the DID (one transaction) is their credential.
 *
 * Each signer may upload `uploadQuotaBytes` per `uploadQuotaWindowMs`, counted in KV with atomic
 * check-and-set, so concurrent uploads never pass it together. Nodes have stake and job owners an
 * escrow at risk, but a DID costs one transaction: signers whose only credential is a DID also
 * draw on one pool, `uploadDidPoolBytes` per window for all of them, so creating DIDs does not
 * buy storage beyond it (a data owner that needs more is listed in `uploadWriters`). One upload may hold
 * `maxBlobBytes`, or more for a signer bound to a job whose model needs it: a node holding one of
 * its tasks, or its owner, may upload that job's largest update ({@link jobUploadBytes}). A
 * 124M-parameter job's updates are ~500 MB; a node of a small job stays at `maxBlobBytes`.
 */
import { type Address, encodeAbiParameters, type Hex, keccak256 } from "viem";
import { getNodeCert } from "../chain/get_node_cert.ts";
import { readJob } from "../chain/read_job.ts";
import { getDid } from "../did/registry.ts";
import type { SignedUpload } from "../store/upload_signature.ts";
import { paramLayout } from "../../kernel/params.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { Context } from "./context.ts";
import { loadSpec } from "./job.ts";
import { reject, type Rejection } from "./result.ts";
import { verifySignedRequest } from "./signed_request.ts";
import { getJobNode, holdsTask, listLiveJobHeads } from "./state.ts";

/** An authorised upload: its signer and the bytes it may still store in this window. */
export interface UploadGrant {
  ok: true;
  upload: SignedUpload;
  /** "node", "owner" (of a job), "did" (controls a DID, owns no job) or "writer" (configured or
   * the coordinator). */
  role: "node" | "owner" | "did" | "writer";
  remaining: number;
  /** Whose quota `remaining` is: the signer's own, or the pool DID-only signers share. */
  quotaOf: QuotaAccount["of"];
  /** Largest body this upload may have: `maxBlobBytes`, or its jobs' largest update. */
  maxBytes: number;
}

/** Room for a checkpoint's safetensors header or a codec's header beyond the values. */
export const UPLOAD_HEADER_BYTES = 1 << 20;

/**
 * The largest update a job's node uploads: every codec writes at most an index and a value (4
 * bytes each) per parameter, an uncompressed update is the f32 delta as a checkpoint, and either
 * has a header under {@link UPLOAD_HEADER_BYTES}.
 *
 * @example
 * ```ts
 * import { jobUploadBytes } from "./svdb_access.ts";
 * import type { JobSpec } from "../job/job_spec.ts";
 * const model = { kind: "gpt" as const, maxT: 64, layers: 12, heads: 12, width: 768 };
 * console.assert(jobUploadBytes({ model } as JobSpec) > 500e6);
 * ```
 */
export function jobUploadBytes(spec: Pick<JobSpec, "model">): number {
  return 8 * paramLayout(spec.model).size + UPLOAD_HEADER_BYTES;
}

const ZERO_ADDRESS = /^0x0{40}$/;

/**
 * Checks an upload's signature, freshness, signer and quota from its headers, before its body is
 * read, and records its nonce. 401: unsigned, bad, stale or replayed signature; 403: a signer
 * who may not store; 413: quota used up.
 */
export async function authorizeUpload(
  ctx: Context,
  headers: Headers,
  request: { method: string; path: string },
): Promise<UploadGrant | Rejection> {
  const signed = await verifySignedRequest(ctx, headers, request);
  if (!signed.ok) return signed;
  const { upload } = signed;
  // The nonce first, before any chain read: found auditing the HTTP surface, a signer with no
  // role (or no quota left) was never charged one, so one signature replayed for the window made
  // the coordinator read the chain on every copy.
  const nonce = await recordNonce(ctx, upload);
  if (!nonce) {
    return reject(401, "SIGNATURE_REPLAYED", "Cannot store: this signed request was already used");
  }
  try {
    return await grantUpload(ctx, upload);
  } catch (e) {
    // Not decided (the chain or KV failed: a 503 its client retries with the same headers): the
    // nonce is given back, or the retry of an upload the coordinator never judged is a replay
    // (found reviewing the change).
    await ctx.kv.atomic().check(nonce).delete(nonce.key).commit();
    throw e;
  }
}

/** The grant of a signed upload whose nonce is recorded: its role, quota and size limit. */
async function grantUpload(ctx: Context, upload: SignedUpload): Promise<UploadGrant | Rejection> {
  const role = await roleOf(ctx, upload);
  if (!role) {
    const why = upload.kind === "node"
      ? "this node key is not registered and active in NodeCertRegistry"
      : "this account owns no job and controls no DID named in x-artha-did";
    return reject(403, "SIGNER_UNKNOWN", `Cannot store: ${why}`);
  }
  const accounts = quotaAccounts(ctx, upload.signer, role);
  const used = await Promise.all(accounts.map(async (a) => await usedOf(ctx, a)));
  const full = accounts.findIndex((a, i) => used[i]! >= a.limit);
  if (full >= 0) return overQuota(ctx, accounts[full]!);
  const left = accounts.map((a, i) => a.limit - used[i]!);
  const binding = left.indexOf(Math.min(...left));
  return {
    ok: true,
    upload,
    role,
    remaining: left[binding]!,
    quotaOf: accounts[binding]!.of,
    maxBytes: await uploadLimit(ctx, upload, role),
  };
}

/**
 * `maxBlobBytes`, raised to the largest update of a running job the signer is bound to: as an
 * assigned node, or as the job's owner. Writers are not bound to a job and keep the default.
 */
async function uploadLimit(
  ctx: Context,
  u: SignedUpload,
  role: UploadGrant["role"],
): Promise<number> {
  let limit = ctx.config.maxBlobBytes;
  if (role === "writer") return limit;
  for (const job of await listLiveJobHeads(ctx.kv, { metrics: false })) {
    // One read per job: the node's own entry, never the whole assignment.
    const bound = role === "node"
      ? holdsTask(await getJobNode(ctx.kv, job.jobId, u.signer.toLowerCase()))
      : job.owner.toLowerCase() === u.signer.toLowerCase();
    if (bound) limit = Math.max(limit, jobUploadBytes(await loadSpec(ctx.store, job.specCid)));
  }
  return limit;
}

async function roleOf(ctx: Context, u: SignedUpload): Promise<UploadGrant["role"] | undefined> {
  const { client, addresses, chainId } = ctx.chain;
  if (u.kind === "node") {
    const cert = await getNodeCert(client, { addresses, nodePubkey: u.signer });
    return !ZERO_ADDRESS.test(cert.operator) && cert.active ? "node" : undefined;
  }
  const writers = [client.account.address, ...ctx.config.uploadWriters];
  if (writers.some((w) => w.toLowerCase() === u.signer)) return "writer";
  const firstJob = keccak256(encodeAbiParameters(
    [{ type: "address" }, { type: "uint256" }, { type: "address" }, { type: "uint256" }],
    [addresses.jobs, BigInt(chainId), u.signer as Address, 0n],
  ));
  const job = await readJob(client, { addresses, jobId: firstJob });
  if (job.owner.toLowerCase() === u.signer) return "owner";
  if (!u.didHash) return undefined;
  const did = await getDid(client, { addresses, didHash: u.didHash });
  return did && !did.revoked && did.owner.toLowerCase() === u.signer ? "did" : undefined;
}

/** Nonces are kept as long as their signature could still be fresh. */
/** Records the upload's nonce unless seen; what to check to give it back, or undefined: a replay. */
async function recordNonce(
  ctx: Context,
  u: SignedUpload,
): Promise<{ key: Deno.KvKey; versionstamp: string } | undefined> {
  const key = ["svdb_nonce", u.signer, u.nonce];
  const res = await ctx.kv.atomic().check({ key, versionstamp: null })
    .set(key, u.timestamp, { expireIn: 2 * ctx.config.uploadSignatureWindowMs }).commit();
  return res.ok ? { key, versionstamp: res.versionstamp } : undefined;
}

/** A count of uploaded bytes per window, and its limit. */
export interface QuotaAccount {
  key: Deno.KvKey;
  limit: number;
  /** Whose: "this signer" or the DID pool. */
  of: "signer" | "did pool";
}

/** The counts an upload by `signer` in `role` is charged to: its own, and the DID pool's. */
function quotaAccounts(ctx: Context, signer: Hex, role: UploadGrant["role"]): QuotaAccount[] {
  const { uploadQuotaBytes, uploadDidPoolBytes, uploadQuotaWindowMs } = ctx.config;
  const window = Math.floor(ctx.now() / uploadQuotaWindowMs);
  const own: QuotaAccount = {
    key: ["svdb_quota", signer.toLowerCase(), window],
    limit: uploadQuotaBytes,
    of: "signer",
  };
  if (role !== "did") return [own];
  return [own, {
    key: ["svdb_quota_pool", "did", window],
    limit: uploadDidPoolBytes,
    of: "did pool",
  }];
}

async function usedOf(ctx: Context, a: QuotaAccount): Promise<number> {
  return (await ctx.kv.get<number>(a.key)).value ?? 0;
}

/** Bytes `signer` may still upload in the current window under its own quota. */
export async function quotaLeft(ctx: Context, signer: Hex): Promise<number> {
  const [own] = quotaAccounts(ctx, signer, "node");
  return own!.limit - await usedOf(ctx, own!);
}

function overQuota(ctx: Context, a: QuotaAccount): Rejection {
  const window = ctx.config.uploadQuotaWindowMs;
  const why = a.of === "signer"
    ? `over the quota of ${a.limit} bytes per ${window} ms for this signer`
    : `over the ${a.limit} bytes per ${window} ms that signers with only a DID share; ` +
      "a job owner, registered node or configured writer may still store";
  return reject(413, "QUOTA_EXCEEDED", `Cannot store: ${why}`);
}

/**
 * Counts `bytes` against the quotas of `grant`'s signer (its own, and the DID pool for a
 * DID-only signer), atomically: refused (413) if they do not fit in every one, unless `saturate`
 * (bytes already on disk for a refused body), which charges each up to its limit instead.
 */
export async function chargeUpload(
  ctx: Context,
  grant: Pick<UploadGrant, "upload" | "role">,
  bytes: number,
  options: { saturate?: boolean } = {},
): Promise<{ ok: true; remaining: number } | Rejection> {
  const r = await chargeQuotas(ctx, grant, () => bytes, options.saturate ?? false);
  return r.ok ? { ok: true, remaining: r.remaining } : r;
}

/**
 * Reserves, before an upload's body is read, the most it may store: `declared` bytes when its
 * length is known, else all that is left (up to `grant.maxBytes`). Settle it with
 * {@link settleUpload}. Checked before the body and charged after it, racing uploads each
 * passed the check and all stored their bodies (found in the storage audit: twenty 1 MiB
 * uploads stored 20 MiB on a 1 MiB quota).
 */
export async function reserveUpload(
  ctx: Context,
  grant: UploadGrant,
  declared: number,
): Promise<{ ok: true; reserved: number } | Rejection> {
  const want = declared > 0 ? declared : grant.maxBytes;
  const r = await chargeQuotas(ctx, grant, (left) => Math.min(want, grant.maxBytes, left), false);
  if (!r.ok) return r;
  if (r.bytes > 0 && (declared === 0 || r.bytes >= declared)) {
    return { ok: true, reserved: r.bytes };
  }
  await chargeQuotas(ctx, grant, () => -r.bytes, false);
  const accounts = quotaAccounts(ctx, grant.upload.signer, grant.role);
  return overQuota(ctx, accounts[grant.quotaOf === "signer" ? 0 : accounts.length - 1]!);
}

/**
 * The least an upload that stored anything is charged: a filesystem block (its block file and its
 * lease file take at least that each). Found in the storage audit: charged by its body alone, a
 * day's 2 GiB quota paid for ~500 million 4-byte uploads, each a block, a lease and a root every
 * collection walks under the store's lock.
 */
export const UPLOAD_MIN_CHARGE = 4096;

/**
 * Settles a reservation: charges `used` bytes of the `reserved` (at least
 * {@link UPLOAD_MIN_CHARGE} when any), giving the rest back; a charge past the quota stops at it.
 */
export async function settleUpload(
  ctx: Context,
  grant: Pick<UploadGrant, "upload" | "role">,
  reserved: number,
  used: number,
): Promise<void> {
  const charged = used > 0 ? Math.max(used, UPLOAD_MIN_CHARGE) : 0;
  if (charged !== reserved) await chargeQuotas(ctx, grant, () => charged - reserved, true);
}

/**
 * One atomic change of every quota account of the signer by `bytes(left)` (left: the least any
 * account has left): refused past a limit unless `saturate`, which stops each at its limit; a
 * count never goes below 0.
 */
async function chargeQuotas(
  ctx: Context,
  grant: Pick<UploadGrant, "upload" | "role">,
  bytesOf: (left: number) => number,
  saturate: boolean,
): Promise<{ ok: true; remaining: number; bytes: number } | Rejection> {
  const accounts = quotaAccounts(ctx, grant.upload.signer, grant.role);
  const expireIn = 2 * ctx.config.uploadQuotaWindowMs;
  for (;;) {
    const entries = await Promise.all(accounts.map((a) => ctx.kv.get<number>(a.key)));
    const left = Math.min(...accounts.map((a, i) => a.limit - (entries[i]!.value ?? 0)));
    const bytes = bytesOf(Math.max(0, left));
    const used = entries.map((e) => Math.max(0, (e.value ?? 0) + bytes));
    const over = accounts.findIndex((a, i) => used[i]! > a.limit);
    if (over >= 0 && !saturate) return overQuota(ctx, accounts[over]!);
    let op = ctx.kv.atomic();
    accounts.forEach((a, i) => {
      used[i] = Math.min(used[i]!, a.limit);
      op = op.check(entries[i]!).set(a.key, used[i], { expireIn });
    });
    const res = await op.commit();
    if (res.ok) {
      return {
        ok: true,
        remaining: Math.min(...accounts.map((a, i) => a.limit - used[i]!)),
        bytes,
      };
    }
  }
}
