/**
 * /svdb — the coordinator's SVDB gateway for workers that have no IPFS peer of their own.
 *
 * POST /svdb (application/octet-stream body) -> {cid}: imports the bytes (UnixFS, same CID as
 * IPFS) and pins them. GET /svdb/<cid> -> the bytes, re-hashed block by block on the way out;
 * GET /svdb/<cid>?format=raw -> that one block (how clients walk a model folder's directory).
 * Bodies above the configured limit are refused with 413 before anything is written.
 */
import {
  CidMismatchError,
  DAG_PB_CODE,
  InvalidCidError,
  parseCid,
  RAW_CODE,
  SHA2_256_CODE,
} from "../lib/store/cid.ts";
import { BlockNotFoundError } from "../lib/store/blockstore.ts";
import { InvalidDagError } from "../lib/store/store.ts";
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { handler, HttpError, json, readBody } from "./_http.ts";

/** Creates the SVDB gateway handler over a context. */
export function createSvdb(ctx: Context) {
  return handler(async (req) => {
    const path = new URL(req.url).pathname.replace(/\/+$/, "");
    if (req.method === "POST" && path.endsWith("/svdb")) {
      // Counted while it streams: a chunked body is refused as soon as it passes the limit.
      const bytes = await readBody(req, ctx.config.maxBlobBytes);
      if (bytes.length === 0) throw new HttpError(400, "Cannot store: empty body");
      const cid = await ctx.store.put(bytes);
      return json({ cid: cid.toString(), bytes: bytes.length }, 201);
    }
    if (req.method === "GET") {
      const text = path.split("/").at(-1) ?? "";
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
      try {
        // ?format=raw: one verified block (IPFS trustless-gateway style), e.g. a directory node.
        if (new URL(req.url).searchParams.get("format") === "raw") {
          return new Response(await ctx.store.getBlock(cid) as Uint8Array<ArrayBuffer>, {
            headers: { "content-type": "application/vnd.ipld.raw", "x-artha-cid": cid.toString() },
          });
        }
        const bytes = await ctx.store.get(cid);
        return new Response(bytes as Uint8Array<ArrayBuffer>, {
          headers: { "content-type": "application/octet-stream", "x-artha-cid": cid.toString() },
        });
      } catch (e) {
        if (e instanceof BlockNotFoundError) {
          throw new HttpError(404, `Cannot read ${cid}: not in this store`);
        }
        if (e instanceof InvalidDagError) {
          throw new HttpError(422, `${e.message}; read directories with ?format=raw`);
        }
        // A stored block that no longer hashes to its CID: never served, and said so plainly.
        if (e instanceof CidMismatchError) {
          throw new HttpError(500, `Cannot read ${cid}: ${e.message}`, { code: "BLOCK_CORRUPT" });
        }
        throw e;
      }
    }
    throw new HttpError(405, "Cannot use SVDB gateway: GET /svdb/<cid> or POST /svdb");
  });
}

export default {
  fetch: async (req: Request) => createSvdb(await contextFromEnv())(req),
};
