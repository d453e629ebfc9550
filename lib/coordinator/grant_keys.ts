/**
 * Wrapped data keys stored through POST /did/grant are read only by their grant's parties: the
 * grantee DID's controller while the chain says its grant stands (not revoked, not expired, the
 * dataset's key version and the grantee's keys unchanged), the dataset owner DID's controller, and
 * the coordinator. Each read by a grantee is counted, for the owner's audit (GET /did/access).
 *
 * Found in the DID audit: revocation and expiry were flags on chain only. A wrapped key's CID is
 * public in its grant and GET /svdb served it to anyone, so a grantee cut off before it ever read
 * its key still read it, unwrapped it and decrypted the (public) ciphertext. Now a grantee must
 * read its key while its grant stands; one that did keeps what it read, which only a rotation of
 * the data key ends (`rotateDataKey`: the old key opens nothing of the new ciphertext).
 *
 * @module
 */
import type { Hex } from "viem";
import { getDataset, getGrant, type Grant, hasAccess } from "../did/data_access.ts";
import { getDid } from "../did/registry.ts";
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import { verifySignedRead } from "./signed_request.ts";
import { canonicalCid } from "./svdb_private.ts";

/** The grant a stored wrapped key belongs to. */
export interface GrantKey {
  datasetId: Hex;
  granteeDid: Hex;
}

/** A grantee's reads of its wrapped key: when first and last, and how many. */
export interface KeyReads {
  reader: Hex;
  first: number;
  last: number;
  count: number;
}

const grantKeyKey = (cid: string): Deno.KvKey => ["grant_key", canonicalCid(cid)];
const readsKey = (g: GrantKey, reader: string): Deno.KvKey => [
  "grant_key_read",
  g.datasetId.toLowerCase(),
  g.granteeDid.toLowerCase(),
  reader.toLowerCase(),
];

/** Records that `cid` is the wrapped key of grant `g`: from now on only its parties read it. */
export async function recordGrantKey(ctx: Context, cid: string, g: GrantKey): Promise<void> {
  const value: GrantKey = {
    datasetId: g.datasetId.toLowerCase() as Hex,
    granteeDid: g.granteeDid.toLowerCase() as Hex,
  };
  await ctx.kv.set(grantKeyKey(cid), value);
}

/**
 * Whether the signed GET may read `cid`: `{ key: false }` when it is no wrapped key stored for a
 * grant (svdb_private.ts decides), else whether its signer is one of the grant's parties (401
 * unsigned, 403 anyone else, a grantee whose grant has ended included).
 */
export async function authorizeKeyRead(
  ctx: Context,
  headers: Headers,
  cid: string,
): Promise<{ key: false } | { key: true; denied?: Rejection }> {
  const grant = (await ctx.kv.get<GrantKey>(grantKeyKey(cid))).value;
  if (!grant) return { key: false };
  const hint = `${cid} is the wrapped data key of a grant: sign the GET as its grantee's DID ` +
    "controller, while the grant stands";
  const signed = await verifySignedRead(ctx, headers, cid, hint);
  if (!signed.ok) return { key: true, denied: signed };
  return { key: true, denied: await refuseKeyReader(ctx, grant, signed.signer, cid) };
}

/**
 * Whether a grant stands now, and the grant. Both read at one block: found in the DID audit, a
 * rotation and re-grant landing between two reads paired the new grant's standing with the key
 * it retired. Expiry by the coordinator's clock too: the latest block keeps the time it was mined
 * at, so on a quiet chain an expired grant stood until the next block.
 */
export async function grantStanding(
  ctx: Context,
  g: { datasetId: Hex; granteeDid: Hex },
  options: { strict?: boolean } = {},
): Promise<{ stands: boolean; onChain: boolean; grant: Grant }> {
  const { client, addresses } = ctx.chain;
  const read = (blockNumber?: bigint) =>
    Promise.all([
      hasAccess(client, { addresses, ...g, blockNumber }),
      getGrant(client, { addresses, ...g, blockNumber }),
    ]);
  let onChain: boolean, grant: Grant;
  const head = await client.getBlockNumber({ cacheTime: 0 });
  try {
    [onChain, grant] = await read(head);
  } catch (e) {
    // `strict` (the key gate): a block back, still both at one (found reviewing this: two reads at
    // the latest may reach two backends at two heights); else the latest, for a view.
    if (options.strict && head === 0n) throw e;
    [onChain, grant] = await read(options.strict ? head - 1n : undefined);
  }
  const expired = grant.expiresAt !== 0n &&
    BigInt(Math.floor(ctx.now() / 1000)) >= grant.expiresAt;
  return { stands: onChain && !expired, onChain, grant };
}

/** Why `who` may not read the wrapped key of `g` (undefined: it may). */
async function refuseKeyReader(
  ctx: Context,
  g: GrantKey,
  who: string,
  cid: string,
): Promise<Rejection | undefined> {
  const { client, addresses } = ctx.chain;
  if (who === client.account.address.toLowerCase()) return undefined;
  const grantee = await getDid(client, { addresses, didHash: g.granteeDid });
  if (grantee?.owner.toLowerCase() === who) {
    const { stands, grant: now } = await grantStanding(ctx, g, { strict: true });
    // The key the grant names now, not any key once stored for the pair: found reviewing the
    // gate, a grantee revoked and granted again after a rotation read its old key, never read,
    // which opens the old ciphertext the rotation retired.
    const current = canonicalCid(now.wrappedKeyCid) === canonicalCid(cid);
    if (stands && current) return await countRead(ctx, g, who);
    const why = stands
      ? "the grant names another wrapped key now"
      : "its grant has ended (revoked, expired, or the dataset's key or the grantee's keys " +
        "rotated since)";
    return reject(403, "GRANT_ENDED", `Cannot read the wrapped key: ${why}`);
  }
  const dataset = await getDataset(client, { addresses, datasetId: g.datasetId });
  const owner = dataset && await getDid(client, { addresses, didHash: dataset.ownerDid });
  if (owner && owner.owner.toLowerCase() === who) return undefined;
  const why = "only the grantee DID's controller (while its grant stands), the dataset owner's " +
    "and the coordinator read a grant's wrapped key";
  return reject(403, "NOT_A_READER", `Cannot read: ${why}`);
}

/** Counts a grantee's read (a lost count under a race is no loss: the last read is kept). */
async function countRead(ctx: Context, g: GrantKey, who: string): Promise<undefined> {
  const key = readsKey(g, who);
  const was = (await ctx.kv.get<KeyReads>(key)).value;
  const now = ctx.now();
  await ctx.kv.set(key, {
    reader: who as Hex,
    first: was?.first ?? now,
    last: now,
    count: (was?.count ?? 0) + 1,
  });
  return undefined;
}

/** The grantee's reads of its wrapped keys of `g`'s dataset, by reader (at most 100). */
export async function keyReads(ctx: Context, g: GrantKey): Promise<KeyReads[]> {
  const prefix = readsKey(g, "").slice(0, 3);
  const entries = ctx.kv.list<KeyReads>({ prefix }, { limit: 100 });
  return (await Array.fromAsync(entries)).map((e) => e.value);
}
