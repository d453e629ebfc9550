/**
 * /svdb — the coordinator's SVDB gateway for workers and owners that have no IPFS peer of their
 * own.
 *
 * POST /svdb (application/octet-stream body, signed: see lib/store/upload_signature.ts) ->
 * {cid, bytes, leaseExpiresAt}: imports the bytes (UnixFS, same CID as IPFS) and leases them for
 * `uploadLeaseMs`; the coordinator pins what it comes to reference. Only registered nodes and
 * owners may store, within their quota (lib/coordinator/svdb_access.ts): 401 for an unsigned,
 * bad, stale or replayed signature, 403 for a signer who may not store, 413 over the quota or
 * `maxBlobBytes`. Nothing of the body is read before the signer is known.
 *
 * GET /svdb/<cid> -> the file's bytes, streamed block by block, each re-hashed on the way out; a
 * DAG declaring more than `maxFileBytes`, or whose sizes do not add up, is refused (422) before
 * the first byte. GET /svdb/<cid>?format=raw -> that one block (how clients walk a model
 * folder's directory).
 */
import {
  type CID,
  CidMismatchError,
  DAG_PB_CODE,
  InvalidCidError,
  parseCid,
  RAW_CODE,
  SHA2_256_CODE,
} from "../lib/store/cid.ts";
import { BlockNotFoundError } from "../lib/store/blockstore.ts";
import { DagTooLargeError, InvalidDagError, type OpenedFile } from "../lib/store/store.ts";
import { sha256Hex } from "../lib/store/upload_signature.ts";
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { authorizeUpload, chargeUpload } from "../lib/coordinator/svdb_access.ts";
import { handler, HttpError, json, readBody, unwrap } from "./_http.ts";

/** Creates the SVDB gateway handler over a context. */
export function createSvdb(ctx: Context) {
  return handler(async (req) => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/\/+$/, "");
    if (req.method === "POST" && path.endsWith("/svdb")) return await upload(ctx, req);
    if (req.method === "GET") {
      const cid = readCid(path.split("/").at(-1) ?? "");
      try {
        // ?format=raw: one verified block (IPFS trustless-gateway style), e.g. a directory node.
        if (url.searchParams.get("format") === "raw") {
          return new Response(await ctx.store.getBlock(cid) as Uint8Array<ArrayBuffer>, {
            headers: { "content-type": "application/vnd.ipld.raw", "x-artha-cid": cid.toString() },
          });
        }
        return await download(ctx, cid);
      } catch (e) {
        throw readError(cid, e) ?? e;
      }
    }
    throw new HttpError(405, "Cannot use SVDB gateway: GET /svdb/<cid> or POST /svdb");
  });
}

/** A signed upload: authorised from its headers, then read, checked against its hash, charged. */
async function upload(ctx: Context, req: Request): Promise<Response> {
  const grant = unwrap(await authorizeUpload(ctx, req.headers, { method: "POST", path: "/svdb" }));
  const byQuota = grant.remaining < ctx.config.maxBlobBytes;
  let bytes: Uint8Array;
  try {
    // Counted while it streams: a chunked body is refused as soon as it passes the limit.
    bytes = await readBody(req, byQuota ? grant.remaining : ctx.config.maxBlobBytes);
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 413 && byQuota)) throw e;
    const why = `larger than the ${grant.remaining} bytes left of this signer's quota`;
    throw new HttpError(413, `Cannot store: ${why}`, { code: "QUOTA_EXCEEDED" });
  }
  if (bytes.length === 0) throw new HttpError(400, "Cannot store: empty body");
  if (await sha256Hex(bytes) !== grant.upload.bodySha256) {
    const why = "the body does not hash to the signed x-artha-content-sha256";
    throw new HttpError(401, `Cannot store: ${why}`, { code: "SIGNATURE_INVALID" });
  }
  unwrap(await chargeUpload(ctx, grant.upload.signer, bytes.length));
  const leaseExpiresAt = ctx.now() + ctx.config.uploadLeaseMs;
  const cid = await ctx.store.put(bytes, { pin: false, leaseUntil: leaseExpiresAt });
  return json({ cid: cid.toString(), bytes: bytes.length, leaseExpiresAt }, 201);
}

/** The file as a stream; errors up to its first bytes are answered as JSON errors. */
async function download(ctx: Context, cid: CID): Promise<Response> {
  const file: OpenedFile = await ctx.store.open(cid, { maxBytes: ctx.config.maxFileBytes });
  let next = await file.chunks.next();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (next.done) return controller.close();
      controller.enqueue(next.value);
      try {
        next = await file.chunks.next();
      } catch (e) {
        // Headers are gone: the body ends short of content-length, and the client sees it.
        console.error(`svdb: ${readError(cid, e)?.message ?? e}`);
        controller.error(e);
      }
    },
    async cancel() {
      await file.chunks.return(undefined);
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(file.size),
      "x-artha-cid": cid.toString(),
    },
  });
}

function readCid(text: string): CID {
  let cid;
  try {
    cid = parseCid(text);
  } catch (e) {
    if (e instanceof InvalidCidError) throw new HttpError(400, e.message);
    throw e;
  }
  // Only what this store writes: sha2-256 blocks, raw or dag-pb. Anything else is the client's.
  if (
    (cid.code !== RAW_CODE && cid.code !== DAG_PB_CODE) || cid.multihash.code !== SHA2_256_CODE
  ) {
    throw new HttpError(
      400,
      `Cannot read ${cid}: unsupported CID (codec 0x${cid.code.toString(16)}, hash 0x${
        cid.multihash.code.toString(16)
      }); this gateway serves sha2-256 raw and dag-pb blocks`,
      { code: "UNSUPPORTED_CID" },
    );
  }
  return cid;
}

/** The HTTP error of a failed read, or undefined for an unexpected one. */
function readError(cid: CID, e: unknown): HttpError | undefined {
  if (e instanceof BlockNotFoundError) {
    return new HttpError(404, `Cannot read ${cid}: not in this store`);
  }
  if (e instanceof DagTooLargeError) return new HttpError(422, e.message, { code: e.code });
  if (e instanceof InvalidDagError) {
    const hint = "(a directory is read block by block with ?format=raw)";
    return new HttpError(422, `${e.message} ${hint}`, { code: e.code });
  }
  // A stored block that no longer hashes to its CID: never served, and said so plainly.
  if (e instanceof CidMismatchError) {
    return new HttpError(500, `Cannot read ${cid}: ${e.message}`, { code: "BLOCK_CORRUPT" });
  }
  return undefined;
}

export default {
  fetch: async (req: Request) => createSvdb(await contextFromEnv())(req),
};
