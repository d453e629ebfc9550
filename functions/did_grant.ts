/**
 * /did — DID help for data owners sharing encrypted datasets (lib/coordinator/data_grants.ts).
 *
 * GET  /did/resolve?did=did:artha:<hash>  W3C DID resolution (deactivated when revoked).
 * POST /did/grant/prepare {datasetId, granteeDid}  -> {context, next}: the wrap context, once the
 *                                         grantee and dataset are live; the key to wrap to is
 *                                         read from the owner's own RPC, never from here.
 * POST /did/grant {datasetId, granteeDid, wrappedKey}  -> {wrappedKeyCid}: stores the wrapped data
 *                                         key in SVDB for the owner's grantDataAccess transaction;
 *                                         signed like POST /svdb (path /did/grant) by the account
 *                                         that controls the dataset owner's DID.
 * GET  /did/access?dataset=&grantee=      whether the grantee may use the dataset now, its grant,
 *                                         and the audit trail (DataAccessed events).
 */
import { type Hex, hexToBytes } from "../lib/crypto/digest.ts";
import { InvalidDidError, parseDid } from "../lib/did/did.ts";
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import {
  dataAccess,
  prepareGrant,
  resolveDidDocument,
  storeWrappedKey,
  WRAPPED_KEY_BYTES,
} from "../lib/coordinator/data_grants.ts";
import { authorizeUpload } from "../lib/coordinator/svdb_access.ts";
import { field, handler, HttpError, json, readJsonBytes, unwrap } from "./_http.ts";

export { WRAPPED_KEY_BYTES };

function didHashOf(text: string, name: string): Hex {
  try {
    return /^0x[0-9a-fA-F]{64}$/.test(text) ? text.toLowerCase() as Hex : parseDid(text);
  } catch (e) {
    if (!(e instanceof InvalidDidError)) throw e;
    throw new HttpError(400, `Invalid field "${name}": ${e.message}`, { code: "INVALID_FIELD" });
  }
}

/** Creates the DID handler over a context. */
export function createDidGrant(ctx: Context) {
  return handler(async (req) => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/\/+$/, "");
    const query = (name: string) => didHashOf(url.searchParams.get(name) ?? "", name);
    if (req.method === "GET" && path.endsWith("/did/resolve")) {
      const r = unwrap(await resolveDidDocument(ctx, query("did")));
      return json({
        didResolutionMetadata: r.didResolutionMetadata,
        didDocument: r.didDocument,
        didDocumentMetadata: r.metadata,
      });
    }
    if (req.method === "GET" && path.endsWith("/did/access")) {
      return json(await dataAccess(ctx, query("dataset"), query("grantee")));
    }
    const posted = path.endsWith("/did/grant") || path.endsWith("/did/grant/prepare");
    // The route and method first: a POST to /did/resolve (or a GET of /did/grant) was answered
    // with a complaint about a body field it never takes (found in the privacy audit).
    if (req.method !== "POST" || !posted) {
      const routes = "GET /did/resolve, GET /did/access, POST /did/grant/prepare, POST /did/grant";
      if (/\/did\/(resolve|access|grant|grant\/prepare)$/.test(path)) {
        throw new HttpError(405, `Cannot ${req.method} ${path}: the /did routes are ${routes}`);
      }
      throw new HttpError(404, `Cannot route ${path}: the /did routes are ${routes}`, {
        code: "UNKNOWN_ROUTE",
      });
    }
    const { body, bytes } = await readJsonBytes(req);
    const datasetId = field.hex32(body, "datasetId");
    const granteeDid = didHashOf(field.string(body, "granteeDid", { max: 100 }), "granteeDid");
    if (path.endsWith("/did/grant/prepare")) {
      // No key in the answer: found in the DID audit, an owner wrapping to the key a coordinator
      // named handed a coordinator naming its own the data key (the chain refused the grant
      // after, too late).
      const { context } = unwrap(await prepareGrant(ctx, datasetId, granteeDid));
      const next = "wrap the data key to ArthaDIDRegistry.getDID(granteeDid).encKey, read " +
        "from your own RPC, with this context; then POST /did/grant";
      return json({ context, next });
    }
    const wrappedKey = hexToBytes(field.hex(body, "wrappedKey", WRAPPED_KEY_BYTES));
    const signed = unwrap(
      await authorizeUpload(ctx, req.headers, { method: "POST", path: "/did/grant" }),
    );
    const request = { datasetId, granteeDid, wrappedKey };
    const { wrappedKeyCid } = unwrap(await storeWrappedKey(ctx, request, signed, bytes));
    const next = "call ArthaDIDRegistry.grantDataAccess(datasetId, granteeDid, encKey, " +
      "wrappedKeyCid, expiresAt) from the dataset owner's account, with the encKey wrapped to";
    return json({ wrappedKeyCid, next }, 201);
  });
}

export default {
  fetch: async (req: Request) => createDidGrant(await contextFromEnv())(req),
};
