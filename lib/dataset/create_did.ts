/**
 * A data owner's (or a grantee's) DID, made from the command line: `deno task dataset did`. The
 * account signing the transaction controls the DID; an Ed25519 key authenticates it and an
 * X25519 key receives the data keys of grants (lib/did). Both keys are written, mode 0600, once the
 * creation passes as a call and before it is sent: a DID whose encryption key was lost can open no
 * dataset granted to it.
 *
 * The DID document (its two keys) goes to the SVDB a coordinator resolves it from: into the local
 * store, or through a gateway once the DID exists on chain, since a gateway takes uploads only
 * from credentialed signers and a new DID is what makes its controller one. The gateway resolves
 * the DID then, which keeps its document there.
 *
 * @example
 * ```ts ignore
 * const made = await createOwnerDid(client, { addresses, keyDir: ".artha/did", store });
 * console.log(made.did, made.encKeyFile);
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { type EncKey, generateEncKey, saveEncKey } from "../crypto/enc_key.ts";
import { generateNodeKey, type NodeKey, saveNodeKey } from "../crypto/keys.ts";
import { didHashFromAuthKey, formatDid } from "../did/did.ts";
import { buildDidDocument } from "../did/did_document.ts";
import { createDid, preflightDid } from "../did/registry.ts";
import { computeCid } from "../store/cid.ts";
import type { Store } from "../store/store.ts";

/** A DID made: its id, its document's CID and where its keys are. */
export interface CreatedDid {
  did: string;
  didHash: Hex;
  metaCid: string;
  authKeyFile: string;
  encKeyFile: string;
  tx: Hex;
}

/**
 * Makes a DID controlled by `client`'s account: keys written to `keyDir`, the document stored
 * (`store`, before the transaction; or `upload` through a gateway, after it), the DID created.
 *
 * @throws {Error} when the gateway stores the document under another CID
 */
export async function createOwnerDid(
  client: ArthaClient,
  params: {
    addresses: Pick<ArthaAddresses, "dids">;
    keyDir: string;
    store?: Store;
    /** Stores the document through a gateway, signed with the DID (which exists by then). */
    upload?: (bytes: Uint8Array, did: string) => Promise<string>;
  },
): Promise<CreatedDid> {
  const authKey = generateNodeKey();
  const encKey = generateEncKey();
  const didHash = didHashFromAuthKey(authKey.publicKeyHex);
  const doc = buildDidDocument({
    didHash,
    authKey: authKey.publicKeyHex,
    encKey: encKey.publicKeyHex,
  });
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  const metaCid = (await computeCid(bytes)).toString();
  const did = formatDid(didHash);
  const create = { addresses: params.addresses, didHash, authKey, encKey: encKey.publicKeyHex };
  // Found in the DID audit: the keys were written before anything was asked of the chain, so an
  // account without gas (the first thing a new user meets) left key files of a DID never made.
  await preflightDid(client, { ...create, metaCid }).catch((e) => {
    const why = `${did} was not created, and nothing was written: ${(e as Error).message}`;
    throw new Error(why, { cause: e });
  });
  const { authKeyFile, encKeyFile } = await writeKeys(params.keyDir, didHash, authKey, encKey);
  if (params.store) await params.store.put(bytes);
  const keys = `its keys are ${authKeyFile} and ${encKeyFile}`;
  let tx: Hex;
  try {
    tx = (await createDid(client, { ...create, metaCid })).hash;
  } catch (e) {
    // Found reviewing this command: the failure named neither the DID nor the key files, and
    // a DID whose transaction landed after all could not be found again.
    throw new Error(
      `Cannot create ${did}: ${(e as Error).message}. ${keys}: delete them unless the DID is ` +
        "on chain after all (a retry makes another DID)",
      { cause: e },
    );
  }
  if (params.upload) {
    await uploadDocument(params.upload, bytes, { did, metaCid, tx, keys });
  }
  return { did, didHash, metaCid, authKeyFile, encKeyFile, tx };
}

/** Writes the DID's keys (mode 0600) to `keyDir`, named by the DID; returns their paths. */
async function writeKeys(keyDir: string, didHash: Hex, authKey: NodeKey, encKey: EncKey) {
  await Deno.mkdir(keyDir, { recursive: true, mode: 0o700 });
  const name = `${keyDir}/${didHash.slice(2, 18)}`;
  const authKeyFile = `${name}.auth.key`;
  const encKeyFile = `${name}.enc.key`;
  await saveNodeKey(authKeyFile, authKey);
  await saveEncKey(encKeyFile, encKey);
  return { authKeyFile, encKeyFile };
}

/**
 * Stores the document through a gateway, after the DID exists; a failure says the DID is made and
 * usable (grants use its key on chain), naming its transaction and key files.
 */
async function uploadDocument(
  upload: (bytes: Uint8Array, did: string) => Promise<string>,
  bytes: Uint8Array,
  made: { did: string; metaCid: string; tx: Hex; keys: string },
): Promise<void> {
  let stored: string;
  try {
    stored = await upload(bytes, made.did);
  } catch (e) {
    throw new Error(
      `${made.did} was created (tx ${made.tx}; ${made.keys}) and can be granted datasets, but ` +
        `its document ${made.metaCid} was not stored through the gateway: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (stored !== made.metaCid) {
    throw new Error(
      `Cannot store the DID document: the gateway named it ${stored}, not ${made.metaCid}`,
    );
  }
}
