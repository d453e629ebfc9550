/**
 * POST /svdb/private: bytes private from their upload on. The uploader (an owner's account for
 * its data, a node for its update) declares the CID it computed in `x-artha-cid`; the gateway
 * marks the upload under way before it stores a byte, so nobody but the coordinator reads the
 * CID meanwhile, and makes the signer an owner of the bytes once they hash to it. Owners read
 * their bytes; a job started on them, or taking them as a node's update, adds its readers
 * (lib/coordinator/svdb_private.ts).
 *
 * Only proof counts: a signer whose upload is under way or failed reads nothing, so naming a CID
 * (shard 0's is public on chain from the escrow) and dripping a body, or dropping it, neither
 * reads the file nor keeps its real owner out. Bytes already stored without a record are public
 * and refused (409 ALREADY_PUBLIC): making a public file private would hide it from its readers.
 */
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import type { UploadGrant } from "./svdb_access.ts";
import { gatewayCid, type StoredUpload, storeUpload } from "./svdb_gateway.ts";
import { PRIVATE_CID_HEADER } from "../store/upload_signature.ts";
import { changePrivate, type PrivateFile, recordUploader } from "./svdb_private.ts";

/**
 * Stores a signed upload as private bytes: the declared CID is marked under way for the signer,
 * the body stored as {@link storeUpload} does, and the signer made an owner once the body is the
 * declared CID's (422 CID_MISMATCH otherwise). A failed or refused upload leaves the record as
 * it found it.
 */
export async function storePrivateUpload(
  ctx: Context,
  grant: UploadGrant,
  headers: Headers,
  body: ReadableStream<Uint8Array> | null,
): Promise<StoredUpload | Rejection> {
  const parsed = gatewayCid(headers.get(PRIVATE_CID_HEADER) ?? "");
  if (!parsed.ok) return { ...parsed, message: `${PRIVATE_CID_HEADER}: ${parsed.message}` };
  const cid = parsed.cid.toV1().toString(); // as stored, whatever base or version it was named in
  const signer = grant.upload.signer.toLowerCase();
  const begun = await beginUpload(ctx, cid, signer);
  if (begun) return begun;
  let stored: StoredUpload | Rejection | undefined;
  try {
    const declared = Number(headers.get("content-length") ?? "0");
    stored = await storeUpload(ctx, grant, body, declared, cid);
  } finally {
    // A dropped connection throws here: the signer proved nothing, so it owns nothing.
    const proved = stored?.ok === true && stored.cid === cid;
    await endUpload(ctx, cid, signer, proved);
  }
  if (!stored.ok) return stored;
  if (stored.cid !== cid) {
    const why = `the body is ${stored.cid}, not ${cid}`;
    return reject(422, "CID_MISMATCH", `Cannot store privately: ${why}`);
  }
  // What an owner uploads is its to start a job on; a node's bytes are its update.
  if (grant.role !== "node") await recordUploader(ctx, cid, signer);
  return stored;
}

/** Marks `signer`'s upload of `cid` under way; refuses bytes stored already without a record. */
async function beginUpload(ctx: Context, cid: string, signer: string): Promise<Rejection | void> {
  let refused: Rejection | undefined;
  await changePrivate(ctx, cid, async (found) => {
    if (!found && await ctx.store.has(cid)) {
      const why = `${cid} is stored already, readable by anyone who knows its CID`;
      refused = reject(409, "ALREADY_PUBLIC", `Cannot store privately: ${why}`);
      return undefined;
    }
    const rec = found ?? { owner: "", jobs: [] };
    const pending = rec.pending ?? [];
    return pending.includes(signer) ? undefined : { ...rec, pending: [...pending, signer] };
  });
  return refused;
}

/**
 * Ends `signer`'s upload of `cid`: an owner if it `proved` the bytes, else as before it began (a
 * record nobody owns, no job uses and no upload is under way for is dropped).
 */
function endUpload(ctx: Context, cid: string, signer: string, proved: boolean): Promise<void> {
  return changePrivate(ctx, cid, (found) => {
    if (!found) return undefined;
    const pending = (found.pending ?? []).filter((p) => p !== signer);
    const rec: PrivateFile = { ...found, pending, ...(proved ? withOwner(found, signer) : {}) };
    const unused = rec.owner === "" && rec.jobs.length === 0 && pending.length === 0;
    return unused ? null : rec;
  });
}

/** `rec`'s owners with `who` among them. */
function withOwner(rec: PrivateFile, who: string): Pick<PrivateFile, "owner" | "coOwners"> {
  const co = rec.coOwners ?? [];
  if (rec.owner === "") return { owner: who, coOwners: co };
  if (rec.owner === who || co.includes(who)) return { owner: rec.owner, coOwners: co };
  return { owner: rec.owner, coOwners: [...co, who] };
}
