/**
 * The SVDB gateway's verbs behind functions/svdb.ts: which CIDs it serves, what a failed read
 * answers, storing a signed and authorised upload under a lease, and a verified file as a stream
 * of blocks. HTTP stays in the handler; refusals are {@link Rejection}s with stable codes.
 */
import {
  type CID,
  CidMismatchError,
  computeCid,
  DAG_PB_CODE,
  InvalidCidError,
  parseCid,
  RAW_CODE,
  SHA2_256_CODE,
} from "../store/cid.ts";
import { BlockNotFoundError } from "../store/blockstore.ts";
import { DagTooLargeError, InvalidDagError, type OpenedFile } from "../store/store.ts";
import type { Spool } from "../store/spool.ts";
import { createSHA256 } from "hash-wasm";
import type { Hex } from "viem";
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import { reserveUpload, settleUpload, type UploadGrant } from "./svdb_access.ts";

/** A CID this gateway serves: sha2-256 blocks, raw or dag-pb (what this store writes). */
export function gatewayCid(text: string): { ok: true; cid: CID } | Rejection {
  let cid: CID;
  try {
    cid = parseCid(text);
  } catch (e) {
    if (e instanceof InvalidCidError) return reject(400, "INVALID_CID", e.message);
    throw e;
  }
  // A digest of another length names no block this store can hold: found in the storage audit, a
  // 2,100-byte one reached KV as a key too large to read, a 500.
  if (
    (cid.code !== RAW_CODE && cid.code !== DAG_PB_CODE) || cid.multihash.code !== SHA2_256_CODE ||
    cid.multihash.size !== 32
  ) {
    const kind = `codec 0x${cid.code.toString(16)}, hash 0x${cid.multihash.code.toString(16)}`;
    const why = `unsupported CID (${kind}); this gateway serves sha2-256 raw and dag-pb blocks`;
    return reject(400, "UNSUPPORTED_CID", `Cannot read ${cid}: ${why}`);
  }
  return { ok: true, cid };
}

/** What a failed read of `cid` answers, or undefined for an unexpected error. */
export function readFailure(cid: CID, e: unknown): Rejection | undefined {
  if (e instanceof BlockNotFoundError) {
    return reject(404, "NOT_FOUND", `Cannot read ${cid}: not in this store`);
  }
  if (e instanceof DagTooLargeError) return reject(422, e.code, e.message);
  if (e instanceof InvalidDagError) {
    const hint = "(a directory is read block by block with ?format=raw)";
    return reject(422, e.code, `${e.message} ${hint}`);
  }
  // A stored block that no longer hashes to its CID: never served, and said so plainly.
  if (e instanceof CidMismatchError) {
    return reject(500, "BLOCK_CORRUPT", `Cannot read ${cid}: ${e.message}`);
  }
  return undefined;
}

/** What {@link storeUpload} answers. */
export interface StoredUpload {
  ok: true;
  cid: string;
  bytes: number;
  leaseExpiresAt: number;
}

/**
 * Stores an authorised upload's body, never whole in memory on a store with a folder (a 124M
 * model's update is ~500 MB): chunks are counted against the grant's limit and hashed as they
 * arrive into a spool outside the blockstore (lib/store/spool.ts), and only a body that hashes
 * to what was signed is imported from it, then charged to the signer's quota and leased (the
 * coordinator pins what it comes to reference). A client that sends slowly holds a spool file,
 * not the store's lock: a trickled upload held its put's share of it for as long as it liked,
 * and the collection, which waits for every put in flight, never ran again (found in the storage
 * audit). A refused body never reaches the blockstore; its bytes are charged all the same (the
 * quota was reserved before the body), or bodies refused for their hash or size would be a
 * spool's disk that no quota bounds.
 */
export async function storeUpload(
  ctx: Context,
  grant: UploadGrant,
  body: ReadableStream<Uint8Array> | Uint8Array | null,
  declaredBytes = 0,
  /** The CID the body must have (CIDv1): checked before anything is stored. */
  expectedCid?: string,
): Promise<StoredUpload | Rejection> {
  const tooLarge = (limit: number) =>
    limit < grant.maxBytes
      ? reject(
        413,
        "QUOTA_EXCEEDED",
        `Cannot store: larger than the ${limit} bytes left of ${quotaName(grant)}`,
      )
      : reject(413, "PAYLOAD_TOO_LARGE", `Cannot store: larger than ${limit} bytes`);
  if (declaredBytes > Math.min(grant.remaining, grant.maxBytes)) {
    return tooLarge(Math.min(grant.remaining, grant.maxBytes));
  }
  // The quota is taken before the body is read and given back after it, as far as unused.
  const reservation = await reserveUpload(ctx, grant, declaredBytes);
  if (!reservation.ok) return reservation;
  const limit = reservation.reserved;
  // A spool that cannot be opened (a full disk) gives the whole reservation back.
  await using spool = await ctx.store.openSpool().catch(async (e) => {
    await settleUpload(ctx, grant, limit, 0);
    throw e;
  });
  const { chunks, seen } = countedChunks(body, limit, ctx.config.uploadIdleMs);
  try {
    for await (const chunk of chunks) await spool.write(chunk);
  } catch (e) {
    // Whatever ended the body (its size, a pause, a dropped connection), what arrived was
    // spooled: uncharged, a signer could fill the spool folder without end.
    await settleUpload(ctx, grant, limit, Math.min(seen.bytes, limit));
    if (e instanceof BodyStalledError) return reject(408, "UPLOAD_STALLED", e.message);
    if (!(e instanceof BodyTooLargeError)) throw e;
    return tooLarge(limit);
  }
  const refused = refusedBody(grant, seen) ?? await otherCid(spool, expectedCid);
  if (refused) {
    await settleUpload(ctx, grant, limit, seen.bytes);
    return refused;
  }
  try {
    return await importSpooled(ctx, spool, seen.bytes);
  } finally {
    // Settled once the bytes are in: the reservation holds the quota until then.
    await settleUpload(ctx, grant, limit, seen.bytes);
  }
}

/**
 * Why a spooled body is refused for not being `expected` (422 CID_MISMATCH), or undefined. Found
 * in the storage audit: a private upload's CID was compared once the bytes were stored, so a
 * mismatch (a CIDv0 as `ipfs add` prints it) left a shard stored public, and a retry was then
 * refused as ALREADY_PUBLIC.
 */
async function otherCid(spool: Spool, expected?: string): Promise<Rejection | undefined> {
  if (expected === undefined) return undefined;
  const actual = (await computeCid(spool.chunks())).toString();
  if (actual === expected) return undefined;
  return reject(
    422,
    "CID_MISMATCH",
    `Cannot store privately: the body is ${actual}, not ${expected}`,
  );
}

/** Why a whole body is refused (empty, or not what was signed), or undefined. */
function refusedBody(
  grant: UploadGrant,
  seen: { bytes: number; sha256?: Hex },
): Rejection | undefined {
  if (seen.bytes === 0) return reject(400, "EMPTY_BODY", "Cannot store: empty body");
  if (seen.sha256 === grant.upload.bodySha256) return undefined;
  const why = "the body does not hash to the signed x-artha-content-sha256";
  return reject(401, "SIGNATURE_INVALID", `Cannot store: ${why}`);
}

/**
 * Imports a spooled body, leased from the moment the import is in, under the store's lock: a gc
 * waiting for the put runs after the lease is written, so an upload answered 201 is never
 * collected first.
 */
async function importSpooled(ctx: Context, spool: Spool, bytes: number): Promise<StoredUpload> {
  let leaseExpiresAt = 0;
  const leaseUntil = () => (leaseExpiresAt = ctx.now() + ctx.config.uploadLeaseMs);
  const cid = await ctx.store.put(spool.chunks(), { pin: false, leaseUntil });
  return { ok: true, cid: cid.toString(), bytes, leaseExpiresAt };
}

class BodyTooLargeError extends Error {}

class BodyStalledError extends Error {}

function quotaName(grant: UploadGrant): string {
  return grant.quotaOf === "signer"
    ? "this signer's quota"
    : "the pool that signers with only a DID share (a job owner, registered node or configured writer is not held by it)";
}

/**
 * The body's chunks, counted (throwing past `limit`) and hashed as they pass; a pause of more
 * than `idleMs` between two ends the body (the store's collection waits for every put).
 */
function countedChunks(
  body: ReadableStream<Uint8Array> | Uint8Array | null,
  limit: number,
  idleMs: number,
) {
  const seen = { bytes: 0, sha256: undefined as Hex | undefined };
  async function* chunks(): AsyncGenerator<Uint8Array> {
    const sha = await createSHA256();
    for await (const chunk of body instanceof ReadableStream ? paced(body, idleMs) : [body]) {
      if (!chunk) continue;
      seen.bytes += chunk.length;
      if (seen.bytes > limit) throw new BodyTooLargeError();
      sha.update(chunk);
      yield chunk;
    }
    seen.sha256 = `0x${sha.digest("hex")}`;
  }
  return { chunks: chunks(), seen };
}

/** The stream's chunks; a pause of more than `idleMs` cancels it and throws. */
async function* paced(body: ReadableStream<Uint8Array>, idleMs: number) {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    for (;;) {
      const stalled = new Promise<never>((_, fail) => {
        timer = setTimeout(() => {
          const why = `Cannot store: the body paused for more than ${idleMs / 1000} s`;
          fail(new BodyStalledError(why));
        }, idleMs);
      });
      const next = await Promise.race([reader.read(), stalled]);
      clearTimeout(timer);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
}

/**
 * A verified file as a stream, its first chunk already read (so errors up to the first byte are
 * answered as errors); later failures end the stream short and are reported to `onError`.
 */
export async function fileStream(
  ctx: Context,
  cid: CID,
  onError: (e: unknown) => void,
): Promise<{ size: number; body: ReadableStream<Uint8Array> }> {
  const file: OpenedFile = await ctx.store.open(cid, { maxBytes: ctx.config.maxFileBytes });
  let next = await file.chunks.next();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (next.done) return controller.close();
      controller.enqueue(next.value);
      try {
        next = await file.chunks.next();
      } catch (e) {
        onError(e);
        controller.error(e);
      }
    },
    async cancel() {
      await file.chunks.return(undefined);
    },
  });
  return { size: file.size, body };
}
