/**
 * The coordinator's help for data owners sharing encrypted datasets with DIDs (the data key
 * never reaches the coordinator: the owner wraps it client-side): DID resolution, a grant's
 * state and audit trail, the grantee's wrap key, and storing a wrapped key in SVDB for the
 * account that controls the dataset owner's DID (signed like an upload, charged to its quota).
 */
import { accessTrail } from "./access_log.ts";
import { WRAPPED_KEY_VERSION } from "../crypto/key_wrap.ts";
import { getDataset, getGrant } from "../did/data_access.ts";
import { grantContext } from "../did/dataset_share.ts";
import { getDid } from "../did/registry.ts";
import { DidNotFoundError, resolveDid } from "../did/resolve.ts";
import { DidDocumentError } from "../did/did_document.ts";
import { BlockNotFoundError } from "../store/blockstore.ts";
import { bytesToHex, type Hex } from "../crypto/digest.ts";
import { sha256Hex } from "../store/upload_signature.ts";
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import { chargeUpload, UPLOAD_MIN_CHARGE, type UploadGrant } from "./svdb_access.ts";
import { canonicalCid, privateFile, recordUploader, uploadedBy } from "./svdb_private.ts";
import { grantStanding, keyReads, recordGrantKey } from "./grant_keys.ts";

/** Size of a version-1 wrapped key: version, ephemeral X25519 key, nonce, key, tag. */
export const WRAPPED_KEY_BYTES = 1 + 32 + 24 + 32 + 16;

/** The W3C DID resolution of a did:artha (document from SVDB, checked against the chain). */
export async function resolveDidDocument(ctx: Context, didHash: Hex) {
  const { client, addresses } = ctx.chain;
  // A DID may name any CID as its document, a private file too: reading that one for the
  // caller answered what it is (JSON or not, its id, its size) about a file no route serves.
  const onChain = await getDid(client, { addresses, didHash });
  if (onChain && await privateFile(ctx, onChain.metaCid)) {
    const why = `Cannot resolve ${didHash}: its document ${onChain.metaCid} is a private file`;
    return reject(403, "PRIVATE_FILE", why);
  }
  try {
    const did = `did:artha:${didHash.slice(2)}`;
    const r = await resolveDid(client, { addresses, store: ctx.store, did, onChain });
    const size = new TextEncoder().encode(JSON.stringify(r.didDocument)).length;
    if (!r.onChain.revoked && size <= DID_DOCUMENT_KEPT_BYTES) {
      await keepDidDocument(ctx, r.onChain.metaCid);
    }
    return {
      ok: true as const,
      didResolutionMetadata: r.didResolutionMetadata,
      didDocument: r.didDocument,
      metadata: r.didDocumentMetadata,
    };
  } catch (e) {
    if (e instanceof DidNotFoundError) return reject(404, "UNKNOWN_DID", e.message);
    // Anyone's DID may name a document this store lacks or one that is not a valid document.
    if (e instanceof BlockNotFoundError) {
      const why = `Cannot resolve ${didHash}: its document is not in this coordinator's SVDB`;
      return reject(404, "DID_DOCUMENT_MISSING", why);
    }
    if (e instanceof DidDocumentError) return reject(422, e.code, e.message);
    throw e;
  }
}

/**
 * Largest DID document kept for good: what `buildDidDocument` makes is ~1 KiB. Found reviewing
 * the pin: a document may carry any extra fields up to 64 KiB, and each DID or rotation kept that
 * much of its controller's bytes outside any quota.
 */
export const DID_DOCUMENT_KEPT_BYTES = 2048;

/**
 * Pins the document of a live DID once it resolves here. Uploaded through the gateway (as
 * `deno task dataset did --gateway` does, once the DID exists), it was only leased: a day later
 * the DID resolved to 404 here, and owners could no longer grant to it through this coordinator
 * (found in the DID audit). Only a document the chain names and whose keys match its DID is kept,
 * at most {@link DID_DOCUMENT_KEPT_BYTES} for each DID or key rotation, each a transaction.
 */
async function keepDidDocument(ctx: Context, metaCid: string): Promise<void> {
  await ctx.store.pin(metaCid).catch((e) => {
    if (!(e instanceof BlockNotFoundError)) throw e; // read a moment ago; a collection raced it
  });
}

/**
 * Whether the grantee may use the dataset now, its grant, the DataAccessed audit trail (what the
 * grantee chose to record on chain, from access_log.ts's index: `auditComplete` false while it
 * has not yet read the chain to its head) and `keyReads`: its reads of the wrapped keys stored here,
 * which this coordinator saw (a grantee cannot leave these out).
 */
export async function dataAccess(ctx: Context, datasetId: Hex, granteeDid: Hex) {
  // What the key gate reads (grant_keys.ts): a grant past its expiry by the clock is shown as
  // ended, as the gate refuses it, whatever a quiet chain's last block says.
  const [standing, trail, reads] = await Promise.all([
    grantStanding(ctx, { datasetId, granteeDid }),
    accessTrail(ctx, datasetId, granteeDid),
    keyReads(ctx, { datasetId, granteeDid }),
  ]);
  const grant = standing.grant;
  return {
    hasAccess: standing.stands,
    grant,
    audit: trail.audit,
    auditTruncated: trail.truncated,
    auditScannedTo: trail.scannedTo,
    auditComplete: trail.complete,
    keyReads: reads,
  };
}

/** The grantee's current X25519 key and the wrap context, for an active grantee and dataset. */
export async function prepareGrant(
  ctx: Context,
  datasetId: Hex,
  granteeDid: Hex,
): Promise<{ ok: true; encKey: Hex; context: Hex } | Rejection> {
  const { client, addresses } = ctx.chain;
  const grantee = await getDid(client, { addresses, didHash: granteeDid });
  if (!grantee) {
    return reject(404, "UNKNOWN_DID", "Cannot grant: the grantee DID is not registered");
  }
  if (grantee.revoked) {
    return reject(409, "DID_REVOKED", "Cannot grant: the grantee DID is revoked");
  }
  const d = await getDataset(client, { addresses, datasetId });
  if (!d || BigInt(d.ownerDid) === 0n) {
    return reject(404, "UNKNOWN_DATASET", "Cannot grant: unknown dataset");
  }
  return {
    ok: true,
    encKey: grantee.encKey,
    context: bytesToHex(grantContext(datasetId, granteeDid)),
  };
}

/**
 * Stores a data key wrapped to the grantee, after the same checks as {@link prepareGrant}, for
 * the account that controls the dataset owner's DID only: the request (`body`, authorised by
 * svdb_access.ts's authorizeUpload) is signed by it, and the stored key, pinned because the
 * grant will name it, is charged to its quota. Anyone else could otherwise fill the store with
 * pinned bytes no quota counts.
 */
export async function storeWrappedKey(
  ctx: Context,
  request: { datasetId: Hex; granteeDid: Hex; wrappedKey: Uint8Array },
  grant: UploadGrant,
  body: Uint8Array,
): Promise<{ ok: true; wrappedKeyCid: string } | Rejection> {
  if (await sha256Hex(body) !== grant.upload.bodySha256) {
    const why = "Cannot grant: the body does not hash to the signed x-artha-content-sha256";
    return reject(401, "SIGNATURE_INVALID", why);
  }
  const { datasetId, granteeDid, wrappedKey } = request;
  const prepared = await prepareGrant(ctx, datasetId, granteeDid);
  if (!prepared.ok) return prepared;
  if (wrappedKey[0] !== WRAPPED_KEY_VERSION) {
    const why = `Invalid field "wrappedKey": not a version ${WRAPPED_KEY_VERSION} wrapped key`;
    return reject(400, "INVALID_FIELD", why);
  }
  const { client, addresses } = ctx.chain;
  const dataset = (await getDataset(client, { addresses, datasetId }))!;
  const owner = await getDid(client, { addresses, didHash: dataset.ownerDid });
  if (owner?.owner.toLowerCase() !== grant.upload.signer.toLowerCase()) {
    const why = `Cannot grant: ${grant.upload.signer} does not control the dataset owner's DID`;
    return reject(403, "NOT_DATASET_OWNER", why);
  }
  const signer = grant.upload.signer.toLowerCase();
  const crowded = await tooManyPending(ctx, signer);
  if (crowded) return crowded;
  const charged = await chargeUpload(ctx, grant, Math.max(wrappedKey.length, UPLOAD_MIN_CHARGE));
  if (!charged.ok) return charged;
  // Leased until the grant lands on chain, then pinned (confirmGrants, at each collection).
  const until = ctx.now() + ctx.config.uploadLeaseMs;
  const wrappedKeyCid = (await ctx.store.put(wrappedKey, { pin: false, leaseUntil: until }))
    .toString();
  // Its uploader on record, as for POST /svdb: with none, any job owner could name the grant's
  // public CID as its job's data, which made it private to that job and the grantee's read of
  // its key was refused (found in the storage audit).
  await recordUploader(ctx, wrappedKeyCid, grant.upload.signer);
  await recordGrantKey(ctx, wrappedKeyCid, { datasetId, granteeDid });
  await awaitGrant(ctx, signer, { datasetId, granteeDid, datasetCid: dataset.cid, until }, {
    wrappedKeyCid,
  });
  return { ok: true, wrappedKeyCid };
}

/** Each pending grant is a chain read at every collection until it lands or its lease ends. */
async function tooManyPending(ctx: Context, signer: string): Promise<Rejection | undefined> {
  const prefix = ["grant_pending", signer];
  const waiting = await Array.fromAsync(ctx.kv.list({ prefix }, { limit: MAX_PENDING_GRANTS }));
  if (waiting.length < MAX_PENDING_GRANTS) return undefined;
  const why = `${MAX_PENDING_GRANTS} grants of this signer await their transaction; send ` +
    "those (or wait for their day to pass) first";
  return reject(429, "TOO_MANY_PENDING_GRANTS", `Cannot grant: ${why}`);
}

/**
 * Records what the grant keeps once it lands (confirmGrants): the wrapped key, and the dataset if
 * its owner uploaded it here. The dataset the chain registered, granted by its owner, is then
 * kept, not left to its upload lease: uploaded through the gateway it was only leased (24 h by
 * default), and a dataset published that way vanished a day later with every grant of it (found
 * in the data owner audit). Only bytes the owner uploaded itself (charged to its quota then): a
 * dataset naming someone else's upload would keep that for ever. Not before the grant: found in
 * the DID audit, a registered dataset and a made-up wrapped key pinned any upload for ever. Its
 * lease is not extended either: a made-up key posted once a day kept a dataset of any size for
 * 4 KiB a day (found reviewing this); a grant lands minutes after its upload.
 */
async function awaitGrant(
  ctx: Context,
  signer: string,
  g: { datasetId: Hex; granteeDid: Hex; datasetCid: string; until: number },
  o: { wrappedKeyCid: string },
): Promise<void> {
  const keep = await uploadedBy(ctx, g.datasetCid, signer) ? [g.datasetCid] : [];
  const { datasetId, granteeDid, until } = g;
  const pending: PendingGrant = { datasetId, granteeDid, keep: [o.wrappedKeyCid, ...keep], until };
  // Keyed by who asked and for what: found reviewing this, keyed by the key's CID alone (public
  // once its grant is sent), another owner posting the same bytes for its own dataset replaced
  // the record, and the victim's grant was never confirmed.
  await ctx.kv.set(["grant_pending", signer, o.wrappedKeyCid, datasetId, granteeDid], pending);
}

/** Most grants one signer may have awaiting their transaction at a time. */
export const MAX_PENDING_GRANTS = 256;

/** A wrapped key stored for a grant the chain has not shown yet, and what it keeps then. */
interface PendingGrant {
  datasetId: Hex;
  granteeDid: Hex;
  /** The wrapped key and (if its owner uploaded it here) the dataset. */
  keep: string[];
  /** When its lease, and this wait, ends (the coordinator's clock). */
  until: number;
}

/**
 * Pins what the grants stored through POST /did/grant keep, once the chain's grant names their
 * wrapped key; drops those whose wait is over without one (their leases end with it). Run before
 * each collection.
 */
export async function confirmGrants(ctx: Context): Promise<void> {
  const { client, addresses } = ctx.chain;
  for await (const e of ctx.kv.list<PendingGrant>({ prefix: ["grant_pending"] })) {
    const { datasetId, granteeDid, keep, until } = e.value;
    try {
      const granted = await getGrant(client, { addresses, datasetId, granteeDid });
      const named = canonicalCid(granted.wrappedKeyCid) === canonicalCid(String(e.key[2]));
      if (granted.active && named) {
        for (const cid of keep) {
          await ctx.store.pin(cid).catch((err) => {
            if (!(err instanceof BlockNotFoundError)) throw err; // gone: nothing here to keep
          });
        }
      } else if (ctx.now() <= until) {
        continue; // its owner's transaction may still come
      }
      await ctx.kv.delete(e.key);
    } catch (err) {
      // The chain could not say: the grant keeps its bytes an hour more, and is asked again.
      console.error(`svdb: grant ${String(e.key[2])} not confirmed:`, err);
      for (const cid of keep) await ctx.store.lease(cid, ctx.now() + 3600_000).catch(() => {});
    }
  }
}
