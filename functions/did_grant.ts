/**
 * /did — the coordinator's help for data owners sharing encrypted datasets with DIDs. The data
 * key never reaches the coordinator: the owner wraps it client-side.
 *
 * GET  /did/resolve?did=did:artha:<hash>  W3C DID resolution (document from SVDB, checked
 *                                         against the on-chain keys; deactivated when revoked).
 * POST /did/grant/prepare {datasetId, granteeDid}  -> {encKey, context}: the grantee's current
 *                                         X25519 key and the wrap context, after checking the
 *                                         dataset exists and the grantee is an active DID.
 * POST /did/grant {datasetId, granteeDid, wrappedKey}  -> {wrappedKeyCid}: stores the wrapped data
 *                                         key in SVDB for the owner's grantDataAccess transaction.
 * GET  /did/access?dataset=&grantee=      whether the grantee may use the dataset now, its grant,
 *                                         and the audit trail (DataAccessed events).
 */
import { bytesToHex, type Hex, hexToBytes } from "../lib/digest.ts";
import { abis } from "../lib/chain/contracts.ts";
import { getDataset, getGrant, hasAccess } from "../lib/did/data_access.ts";
import { getDid } from "../lib/did/registry.ts";
import { DidNotFoundError, resolveDid } from "../lib/did/resolve.ts";
import { InvalidDidError, parseDid } from "../lib/did/did.ts";
import { grantContext } from "../lib/did/dataset_share.ts";
import { WRAPPED_KEY_VERSION } from "../lib/crypto/key_wrap.ts";
import { type Context, contextFromEnv } from "./_context.ts";
import { field, handler, HttpError, json, readJson } from "./_http.ts";

/** Size of a version-1 wrapped key: version, ephemeral X25519 key, nonce, key, tag. */
export const WRAPPED_KEY_BYTES = 1 + 32 + 24 + 32 + 16;

function didHashOf(text: string, name: string): Hex {
  try {
    return /^0x[0-9a-fA-F]{64}$/.test(text) ? text.toLowerCase() as Hex : parseDid(text);
  } catch (e) {
    if (e instanceof InvalidDidError) {
      throw new HttpError(400, `Invalid field "${name}": ${e.message}`);
    }
    throw e;
  }
}

async function requireActiveGrantee(ctx: Context, granteeDid: Hex) {
  const { client, addresses } = ctx.chain;
  const grantee = await getDid(client, { addresses, didHash: granteeDid });
  if (!grantee) throw new HttpError(404, "Cannot grant: the grantee DID is not registered");
  if (grantee.revoked) throw new HttpError(409, "Cannot grant: the grantee DID is revoked");
  const dataset = async (datasetId: Hex) => {
    const d = await getDataset(client, { addresses, datasetId });
    if (!d || BigInt(d.ownerDid) === 0n) throw new HttpError(404, "Cannot grant: unknown dataset");
    return d;
  };
  return { grantee, dataset };
}

/** Creates the DID handler over a context. */
export function createDidGrant(ctx: Context) {
  return handler(async (req) => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/\/+$/, "");
    const { client, addresses } = ctx.chain;
    if (req.method === "GET" && path.endsWith("/did/resolve")) {
      const did = url.searchParams.get("did") ?? "";
      const didHash = didHashOf(did, "did");
      try {
        const r = await resolveDid(client, {
          addresses,
          store: ctx.store,
          did: `did:artha:${didHash.slice(2)}`,
        });
        return json({ didDocument: r.didDocument, didDocumentMetadata: r.didDocumentMetadata });
      } catch (e) {
        if (e instanceof DidNotFoundError) throw new HttpError(404, e.message);
        throw e;
      }
    }
    if (req.method === "GET" && path.endsWith("/did/access")) {
      const datasetId = didHashOf(url.searchParams.get("dataset") ?? "", "dataset");
      const granteeDid = didHashOf(url.searchParams.get("grantee") ?? "", "grantee");
      const [allowed, grant, events] = await Promise.all([
        hasAccess(client, { addresses, datasetId, granteeDid }),
        getGrant(client, { addresses, datasetId, granteeDid }),
        client.getContractEvents({
          address: addresses.dids,
          abi: abis.dids,
          eventName: "DataAccessed",
          args: { datasetId, granteeDid },
          fromBlock: 0n,
        }),
      ]);
      return json({
        hasAccess: allowed,
        grant,
        audit: events.map((e) => ({
          accessor: e.args.accessor,
          purposeHash: e.args.purposeHash,
          block: e.blockNumber,
          tx: e.transactionHash,
        })),
      });
    }
    if (req.method !== "POST") {
      throw new HttpError(405, "Cannot use /did: see the routes in functions/did_grant.ts");
    }
    const body = await readJson(req);
    const datasetId = field.hex32(body, "datasetId");
    const granteeDid = didHashOf(field.string(body, "granteeDid", { max: 100 }), "granteeDid");
    const { grantee, dataset } = await requireActiveGrantee(ctx, granteeDid);
    await dataset(datasetId);
    if (path.endsWith("/did/grant/prepare")) {
      return json({
        encKey: grantee.encKey,
        context: bytesToHex(grantContext(datasetId, granteeDid)),
      });
    }
    if (path.endsWith("/did/grant")) {
      const wrappedKey = field.hex(body, "wrappedKey", WRAPPED_KEY_BYTES);
      const bytes = hexToBytes(wrappedKey);
      if (bytes[0] !== WRAPPED_KEY_VERSION) {
        throw new HttpError(
          400,
          `Invalid field "wrappedKey": not a version ${WRAPPED_KEY_VERSION} wrapped key`,
        );
      }
      const wrappedKeyCid = (await ctx.store.put(bytes)).toString();
      return json({
        wrappedKeyCid,
        next: "call ArthaDIDRegistry.grantDataAccess from the dataset owner's account",
      }, 201);
    }
    throw new HttpError(404, `Cannot route ${path}`);
  });
}

export default {
  fetch: async (req: Request) => createDidGrant(await contextFromEnv())(req),
};
