/**
 * DID lifecycle across chain and SVDB: register an identity (document in the SVDB, keys
 * and document CID on chain), resolve it (and check that the two halves agree), rotate
 * its keys.
 *
 * @module
 */
import type { Hex } from "../crypto/digest.ts";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import type { Store } from "../store/store.ts";
import type { NodeKey } from "../crypto/keys.ts";
import { didHashFromAuthKey, formatDid, parseDid } from "./did.ts";
import {
  buildDidDocument,
  type DidDocument,
  DidDocumentError,
  documentKeys,
  loadDidDocument,
  publishDidDocument,
} from "./did_document.ts";
import { createDid, getDid, type OnChainDid, rotateKeys } from "./registry.ts";

type Addresses = Pick<ArthaAddresses, "dids">;

/** Thrown when a DID is not registered on chain. */
export class DidNotFoundError extends Error {
  /** Stable error code. */
  readonly code = "DID_NOT_FOUND";
  /** @param did the DID */
  constructor(did: string) {
    super(`Cannot resolve ${did}: not registered`);
    this.name = "DidNotFoundError";
  }
}

/** A DID resolution result (W3C DID Resolution shape). */
export interface DidResolution {
  /** How the resolution went (DID Resolution: contentType of the document). */
  didResolutionMetadata: { contentType: "application/did+ld+json" };
  didDocument: DidDocument;
  didDocumentMetadata: {
    /** DID Core dateTime: `YYYY-MM-DDTHH:MM:SSZ`, whole seconds (the chain's block time). */
    created: string;
    updated: string;
    /** True once the DID is revoked. */
    deactivated: boolean;
    /** SVDB CID of the document. */
    metaCid: string;
  };
  /** The raw on-chain record. */
  onChain: OnChainDid;
}

/**
 * Creates a DID for the client's account: the DID hash is `keccak256(authKey)`, the
 * document goes to the SVDB, the keys and its CID on chain.
 *
 * @example
 * ```ts ignore
 * const { did } = await registerIdentity(client, {
 *   addresses, store, authKey: nodeKey, encKey: encKey.publicKeyHex,
 * });
 * ```
 */
export async function registerIdentity(
  client: ArthaClient,
  params: { addresses: Addresses; store: Store; authKey: NodeKey; encKey: Hex },
): Promise<{ did: string; didHash: Hex; metaCid: string }> {
  const authKey = params.authKey.publicKeyHex;
  const didHash = didHashFromAuthKey(authKey);
  const doc = buildDidDocument({ didHash, authKey, encKey: params.encKey });
  const metaCid = (await publishDidDocument(params.store, doc)).toString();
  await createDid(client, {
    addresses: params.addresses,
    didHash,
    authKey: params.authKey,
    encKey: params.encKey,
    metaCid,
  });
  return { did: formatDid(didHash), didHash, metaCid };
}

/**
 * Resolves a DID: reads the chain, loads the document from the SVDB and checks that its
 * keys are the ones on chain.
 *
 * @throws {DidNotFoundError} when the DID was never registered
 * @throws {DidDocumentError} when the stored document disagrees with the chain
 * @example
 * ```ts ignore
 * const { didDocument, didDocumentMetadata } = await resolveDid(client, { addresses, store, did });
 * ```
 */
export async function resolveDid(
  client: ArthaClient,
  params: {
    addresses: Addresses;
    store: Store;
    did: string;
    /**
     * The chain's record of the DID, already read: a caller that checked what the record names
     * (the coordinator refuses a private file as a document) must load that record's document,
     * not one a transaction in between made it name (found in the DID audit).
     */
    onChain?: OnChainDid | null;
  },
): Promise<DidResolution> {
  const didHash = parseDid(params.did);
  const onChain = params.onChain !== undefined
    ? params.onChain
    : await getDid(client, { addresses: params.addresses, didHash });
  if (!onChain) throw new DidNotFoundError(params.did);
  const didDocument = await loadDidDocument(params.store, onChain.metaCid);
  const keys = documentKeys(didDocument);
  if (
    keys.didHash !== didHash || keys.authKey !== onChain.authKey.toLowerCase() ||
    keys.encKey !== onChain.encKey.toLowerCase()
  ) {
    throw new DidDocumentError(
      `Cannot resolve ${params.did}: document ${onChain.metaCid} does not match the on-chain keys`,
    );
  }
  return {
    didResolutionMetadata: { contentType: "application/did+ld+json" },
    didDocument,
    didDocumentMetadata: {
      created: didDateTime(onChain.created),
      updated: didDateTime(onChain.updated),
      deactivated: onChain.revoked,
      metaCid: onChain.metaCid,
    },
    onChain,
  };
}

/**
 * Rotates a DID's keys: publishes the new document, then updates keys and document CID
 * on chain in one transaction (the DID itself does not change, and it resolves at every block).
 *
 * @example
 * ```ts ignore
 * await rotateIdentityKeys(client, { addresses, store, didHash, authKey, encKey, keyVersion: 2 });
 * ```
 */
export async function rotateIdentityKeys(
  client: ArthaClient,
  params: {
    addresses: Addresses;
    store: Store;
    didHash: Hex;
    /** The new Ed25519 auth key pair (it signs its key proof). */
    authKey: NodeKey;
    encKey: Hex;
    /** Version used in key ids (`#auth-<n>`); default 2. */
    keyVersion?: number;
  },
): Promise<{ metaCid: string }> {
  const { addresses, store, didHash, authKey, encKey } = params;
  const doc = buildDidDocument({
    didHash,
    authKey: authKey.publicKeyHex,
    encKey,
    keyVersion: params.keyVersion ?? 2,
  });
  const metaCid = (await publishDidDocument(store, doc)).toString();
  // One transaction: keys and document change together, so the DID resolves at every block.
  await rotateKeys(client, { addresses, didHash, authKey, encKey, metaCid });
  return { metaCid };
}

/** A block time as DID Core's dateTime: UTC, whole seconds, no fraction. */
function didDateTime(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
