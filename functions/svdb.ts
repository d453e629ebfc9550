/**
 * /svdb — the coordinator's SVDB gateway for workers and owners that have no IPFS peer of their
 * own.
 *
 * POST /svdb/private: the same for private bytes (an owner's data, a node's update), signed for
 * that path and declaring their CID in `x-artha-cid`: readable from the upload on by their
 * uploader and the coordinator only, then by the readers of the jobs that use them; 409 for bytes
 * already stored (lib/coordinator/svdb_private_upload.ts). A plain POST /svdb of private bytes
 * makes them public: its signer has them.
 *
 * POST /svdb (application/octet-stream body, signed: see lib/store/upload_signature.ts) ->
 * {cid, bytes, leaseExpiresAt}: imports the bytes (UnixFS, same CID as IPFS) and leases them for
 * `uploadLeaseMs`; the coordinator pins what it comes to reference. Only registered nodes and
 * owners may store, within their quota (lib/coordinator/svdb_access.ts): 401 for an unsigned,
 * bad, stale or replayed signature, 403 for a signer who may not store, 413 over the quota or
 * the upload limit (`maxBlobBytes`, or a bound job's largest update). Nothing of the body is read
 * before the signer is known, and it is never held whole: it is imported as it arrives.
 *
 * GET /svdb/<cid> -> the file's bytes, streamed block by block, each re-hashed on the way out (a
 * started job's shards, validation bytes, updates and cluster means only to a request signed by
 * its owner, the coordinator or a node whose task or duty needs them:
 * lib/coordinator/svdb_private.ts); a
 * DAG declaring more than `maxFileBytes`, or whose sizes do not add up, is refused (422) before
 * the first byte. GET /svdb/<cid>?format=raw -> that one block (how clients walk a model
 * folder's directory).
 */
import type { CID } from "../lib/store/cid.ts";
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { authorizeUpload } from "../lib/coordinator/svdb_access.ts";
import { authorizeRead, liftPrivate, recordUploader } from "../lib/coordinator/svdb_private.ts";
import { authorizeKeyRead } from "../lib/coordinator/grant_keys.ts";
import { storePrivateUpload } from "../lib/coordinator/svdb_private_upload.ts";
import {
  fileStream,
  gatewayCid,
  readFailure,
  storeUpload,
} from "../lib/coordinator/svdb_gateway.ts";
import { UPLOAD_HEADERS } from "../lib/store/upload_signature.ts";
import { handler, HttpError, json, rejected, unwrap } from "./_http.ts";

/** Creates the SVDB gateway handler over a context. */
export function createSvdb(ctx: Context) {
  return handler(async (req) => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/\/+$/, "");
    if (req.method === "POST" && path.endsWith("/svdb")) return await upload(ctx, req);
    if (req.method === "POST" && path.endsWith("/svdb/private")) {
      return await uploadPrivate(ctx, req);
    }
    if (req.method !== "GET") {
      throw new HttpError(405, "Cannot use SVDB gateway: GET /svdb/<cid> or POST /svdb");
    }
    const { cid } = unwrap(gatewayCid(path.split("/").at(-1) ?? ""));
    const keyRead = await authorizeKeyRead(ctx, req.headers, cid.toString());
    const denied = keyRead.key
      ? keyRead.denied
      : await authorizeRead(ctx, req.headers, cid.toString());
    if (denied) throw rejected(denied);
    // A signed read is how private bytes and grant keys are read. Found auditing the HTTP
    // surface: their answers went out without a cache policy, and content-addressed URLs are
    // what a CDN in front of a gateway is set to cache whole; its copy of an owner's signed read
    // would then answer anyone. The signature is in custom headers, which caches do not treat as
    // credentials the way they do Authorization.
    const signed = keyRead.key || req.headers.has(UPLOAD_HEADERS.signature);
    const headers = { ...INERT, ...(signed ? NOT_STORED : {}) };
    try {
      // ?format=raw: one verified block (IPFS trustless-gateway style), e.g. a directory node.
      if (url.searchParams.get("format") === "raw") {
        return new Response(await ctx.store.getBlock(cid) as Uint8Array<ArrayBuffer>, {
          headers: {
            "content-type": "application/vnd.ipld.raw",
            "x-artha-cid": cid.toString(),
            ...headers,
          },
        });
      }
      return await download(ctx, cid, headers);
    } catch (e) {
      const failure = readFailure(cid, e);
      throw failure ? rejected(failure) : e;
    }
  });
}

/**
 * A signed upload: authorised from its headers before a byte of the body is read, then stored as
 * it streams (counted, so a chunked body is refused as soon as it passes the limit).
 */
async function upload(ctx: Context, req: Request): Promise<Response> {
  const grant = unwrap(await authorizeUpload(ctx, req.headers, { method: "POST", path: "/svdb" }));
  const declared = Number(req.headers.get("content-length") ?? "0");
  const { ok: _, ...stored } = unwrap(await storeUpload(ctx, grant, req.body, declared));
  // What an owner uploads is its to put a job on (and so make private): svdb_private.ts.
  if (grant.role !== "node") await recordUploader(ctx, stored.cid, grant.upload.signer);
  // Uploaded in the open by someone who has the bytes: they are private no longer.
  await liftPrivate(ctx, stored.cid);
  return json(stored, 201);
}

/** An owner's data, private from the upload on (svdb_private.ts storePrivateUpload). */
async function uploadPrivate(ctx: Context, req: Request): Promise<Response> {
  const at = { method: "POST", path: "/svdb/private" };
  const grant = unwrap(await authorizeUpload(ctx, req.headers, at));
  const { ok: _, ...stored } = unwrap(await storePrivateUpload(ctx, grant, req.headers, req.body));
  return json({ ...stored, private: true }, 201);
}

/**
 * Anyone's uploaded bytes, served from the origin that holds the browser node's key: never sniffed
 * as a script or page, and sandboxed should a browser render one (found in the browser audit: a
 * `<script src=/svdb/<cid>>` would have passed the join page's `script-src 'self'`).
 */
const INERT = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "sandbox; default-src 'none'",
};

/** What no shared cache may keep: the answer to one signer's read. */
const NOT_STORED = { "cache-control": "private, no-store" };

/** The file streamed block by block; once headers are sent a failure ends the body short. */
async function download(
  ctx: Context,
  cid: CID,
  headers: Record<string, string>,
): Promise<Response> {
  const log = (e: unknown) => console.error(`svdb: ${readFailure(cid, e)?.message ?? e}`);
  const { size, body } = await fileStream(ctx, cid, log);
  return new Response(body, {
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(size),
      "x-artha-cid": cid.toString(),
      ...headers,
    },
  });
}

export default {
  fetch: async (req: Request) => createSvdb(await contextFromEnv())(req),
};
